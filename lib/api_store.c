/*
 * api_store.c - administration of the PostgreSQL store through the public
 * API (`autocert store ...`): schema migration, re-encryption under a new
 * key, and copying sets between the files and the database.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "autocert/autocert.h"
#include "config.h"
#include "log.h"
#include "storage.h"
#include "store_pg.h"

#define STORE_ADMIN_WAIT_MS 15000

static int params_of(const struct config *c, struct store_pg_params *p, struct ac_error *e)
{
    memset(p, 0, sizeof *p);
    if (c->store.url == NULL || c->store.url[0] == '\0') {
        ac_error_set(e, AC_ERR_CONFIG, "the configuration has no store.url: nothing to do");
        return -1;
    }
    if (store_pg_parse_key(c->store.encryption_key, "store.encryption_key", p->key, e) != 0)
        return -1;
    p->url = c->store.url;
    p->lease_ttl_s = c->store.lease_ttl;
    p->node_id = c->store.node_id != NULL ? c->store.node_id : "autocert-cli";
    p->migrate = false;
    return 0;
}

static int finish(struct store_pg_params *p, int rc, const struct ac_error *e, autocert_error *err)
{
    explicit_bzero(p->key, sizeof p->key);
    if (err != NULL) {
        if (rc != 0)
            api_error_from(err, e);
        else
            api_error_clear(err);
    }
    return rc;
}

int autocert_store_migrate_schema(const autocert_config *cc, autocert_error *err)
{
    struct store_pg_params p;
    struct ac_error e;
    int rc = -1;

    ac_error_clear(&e);
    if (cc != NULL && params_of(api_config_c(cc), &p, &e) == 0)
        rc = store_pg_migrate_schema(&p, &e);
    else if (cc == NULL)
        ac_error_set(&e, AC_ERR_INTERNAL, "no configuration");
    return finish(&p, rc, &e, err);
}

int autocert_store_rekey(const autocert_config *cc, const char *new_key, autocert_error *err)
{
    struct store_pg_params p;
    unsigned char nk[STORE_PG_KEY_LEN];
    struct ac_error e;
    int rc = -1;

    ac_error_clear(&e);
    memset(&p, 0, sizeof p);
    if (cc == NULL || new_key == NULL) {
        ac_error_set(&e, AC_ERR_INTERNAL, "no configuration or no new key");
        return finish(&p, rc, &e, err);
    }
    if (params_of(api_config_c(cc), &p, &e) == 0 &&
        store_pg_parse_key(new_key, "the new encryption key", nk, &e) == 0) {
        rc = store_pg_rekey(&p, nk, &e);
        explicit_bzero(nk, sizeof nk);
    }
    return finish(&p, rc, &e, err);
}

static void note(const autocert_progress *pr, const char *set, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(const autocert_progress *pr, const char *set, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (pr == NULL || pr->note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pr->note(pr->arg, set, msg);
}

/* One set from src to dst under dst's lease: the pair when dst has none or
 * an older one (the newest NotAfter wins), the state, the failure marker.
 * Returns 1 copied, 0 nothing to copy, -1 error. */
static int copy_set(struct storage *src, struct storage *dst, const struct config_set *s,
                    const autocert_progress *pr, struct ac_error *e)
{
    struct storage_ref ref;
    struct storage_lease *lease = NULL;
    struct storage_pair a, b;
    json_object *state = NULL;
    int64_t t;
    int rc = -1;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    storage_ref_init(&ref, s->name, s->cert_path, s->key_path, (const char *const *)s->domains,
                     s->domains_count);
    if (storage_call(dst, lease_acquire, &ref, &lease, e) != 0)
        return -1;
    if (storage_call(src, pair_get, &ref, &a, e) != 0 ||
        storage_call(dst, pair_get, &ref, &b, e) != 0)
        goto out;
    rc = 0;
    if (a.chain != NULL && !a.names_differ && (b.chain == NULL || b.not_after < a.not_after)) {
        if (storage_call(dst, pair_put, lease, &ref, a.chain, a.chain_len, a.key, a.key_len,
                         a.not_after, e) != 0) {
            rc = -1;
            goto out;
        }
        rc = 1;
    } else if (a.chain != NULL) {
        note(pr, s->name, "%s",
             a.names_differ ? "certificate for other names: not copied"
                            : "the destination holds a newer certificate");
    }
    if (storage_call(src, state_get, &ref, &state, e) == 0 && state != NULL &&
        storage_call(dst, state_put, lease, &ref, state, e) != 0) {
        rc = -1;
        goto out;
    }
    if (storage_call(src, failure_get, &ref, &t) == 0 &&
        storage_call(dst, failure_put, lease, &ref, t, e) != 0) {
        rc = -1;
        goto out;
    }
out:
    json_object_put(state);
    storage_pair_clear(&a);
    storage_pair_clear(&b);
    dst->ops->lease_release(dst, lease);
    return rc;
}

int autocert_store_copy(const autocert_config *cc, bool to_db, const autocert_progress *pr,
                        autocert_error *err)
{
    const struct config *c = api_config_c(cc);
    struct store_pg_params p;
    struct storage *pg = NULL, *files = NULL;
    struct ac_error e;
    size_t copied = 0, failed = 0;
    int rc = -1;

    ac_error_clear(&e);
    memset(&p, 0, sizeof p);
    if (c == NULL) {
        ac_error_set(&e, AC_ERR_INTERNAL, "no configuration");
        return finish(&p, rc, &e, err);
    }
    if (params_of(c, &p, &e) != 0 || storage_files_new(&files, &e) != 0 ||
        store_pg_open_wait(&p, STORE_ADMIN_WAIT_MS, &pg, &e) != 0)
        goto out;
    for (size_t i = 0; i < c->sets_count; i++) {
        const struct config_set *s = &c->sets[i];
        struct ac_error se;
        int r;

        ac_error_clear(&se);
        r = to_db ? copy_set(files, pg, s, pr, &se) : copy_set(pg, files, s, pr, &se);
        if (r < 0) {
            failed++;
            note(pr, s->name, "FAILED: %s", se.message);
        } else if (r > 0) {
            copied++;
            note(pr, s->name, "certificate copied to the %s", to_db ? "database" : "files");
        } else {
            note(pr, s->name, "no certificate to copy");
        }
    }
    if (failed > 0)
        ac_error_set(&e, AC_ERR_IO, "%zu of %zu set(s) not copied", failed, c->sets_count);
    else
        rc = 0;
    note(pr, NULL, "%zu certificate(s) copied, %zu failed", copied, failed);
out:
    if (pg != NULL)
        pg->ops->free(pg);
    if (files != NULL)
        files->ops->free(files);
    return finish(&p, rc, &e, err);
}
