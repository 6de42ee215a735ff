/*
 * manager.c - the sets' certificates, the published snapshot and the SNI
 * lookup.
 *
 * Writers (load, reload, replace, reload_config) hold `write_lock` while they
 * read files and build a new snapshot: the SNI index over every set that holds
 * a certificate (main first, then extras; id = position in the array), the
 * selector index, and one reference to each set and to each set's
 * certificate. They then publish it by swapping `m->snap`. Creation, the
 * configuration reload and the selector are in manager_config.c.
 *
 * Why readers are safe (PITFALLS: a bare atomic pointer swap is not):
 *
 *     reader                              writer
 *     lock(snap_lock)                     build new snapshot (I/O, allocation)
 *       s = m->snap; s->refs++            lock(snap_lock)
 *     unlock(snap_lock)                     old = m->snap; m->snap = new
 *     sni lookup in s, acquire cert       unlock(snap_lock)
 *     snap_put(s)  -- last one frees      snap_put(old) -- last one frees
 *
 * `snap_lock` covers only "load the pointer + take a reference" (a few
 * nanoseconds, no I/O, no allocation), so a reader can never hold a pointer to
 * a snapshot whose count already reached zero: the writer's own reference is
 * dropped only after the pointer is unpublished under the same lock. Whoever
 * drops the last reference frees the snapshot. The SNI lookup itself runs
 * outside any lock on immutable data; certificate handles carry their own
 * counts, so a handle returned to a caller outlives every snapshot.
 *
 * Reading the sets' files (load, reload, re-read, install) is in
 * manager_load.c.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "ocsp.h"
#include "sni.h"
#include "standin.h"

/* ---- snapshots ---------------------------------------------------------- */

void manager_snap_put(struct snapshot *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++) {
        autocert_cert_release(s->certs[i]);
        acset_unref(s->sets[i]);
    }
    sni_index_free(s->ix);
    sni_index_free(s->sel);
    sni_addrs_free(&s->addrs);
    free(s);
}

struct snapshot *manager_snap_get(autocert_manager *m)
{
    struct snapshot *s;

    pthread_mutex_lock(&m->snap_lock);
    s = m->snap;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&m->snap_lock);
    return s;
}

/* Adds the names of certificate c as set i to b. */
static void index_cert(struct sni_builder *b, const autocert_cert *c, size_t i, const char *set)
{
    for (size_t n = 0; n < autocert_cert_name_count(c); n++) {
        const char *name = autocert_cert_name(c, n);
        /* -1: a name that can never be an SNI value (or ENOMEM); skip it. */
        if (sni_builder_add(b, name, strlen(name), (int)i) != 0)
            ac_debug(set, "name not indexed: %s", name);
    }
}

/* Adds the names of set i's stand-in (its configured domains: names to b,
 * IP literals to a) as set i. Returns 0, or -1 on ENOMEM. */
static int index_standin(struct sni_builder *b, struct sni_addrs *a, const struct acset *set,
                         size_t i)
{
    const struct config_set *c = &set->cfg;
    unsigned char ip[16];

    for (size_t d = 0; d < c->domains_count; d++) {
        const char *name = c->domains[d];
        if (inet_pton(AF_INET, name, ip) == 1) {
            if (sni_addrs_add(a, ip, 4, (int)i) != 0)
                return -1;
        } else if (inet_pton(AF_INET6, name, ip) == 1) {
            if (sni_addrs_add(a, ip, 16, (int)i) != 0)
                return -1;
        } else if (sni_builder_add(b, name, strlen(name), (int)i) != 0) {
            ac_debug(c->name, "name not indexed: %s", name);
        }
    }
    return 0;
}

/* The selector index: every set's configured domains, then the certificate
 * names of the sets that have no configured domain. */
static struct sni_index *build_selector(const struct snapshot *s)
{
    struct sni_builder *b = sni_builder_new();

    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < s->count; i++) {
        const struct config_set *c = &s->sets[i]->cfg;
        for (size_t d = 0; d < c->domains_count; d++)
            (void)sni_builder_add(b, c->domains[d], strlen(c->domains[d]), (int)i);
    }
    for (size_t i = 0; i < s->count; i++)
        if (s->sets[i]->cfg.domains_count == 0 && s->certs[i] != NULL)
            index_cert(b, s->certs[i], i, s->sets[i]->cfg.name);
    return sni_builder_finish(b);
}

/* Builds a snapshot of the sets' current certificates. Caller holds write_lock. */
static struct snapshot *snap_build(autocert_manager *m)
{
    struct snapshot *s = NULL;
    struct sni_builder *b = NULL;
    size_t n = m->count;

    s = calloc(1, sizeof(*s) + n * sizeof(s->certs[0]) + n * sizeof(s->sets[0]));
    if (s == NULL)
        goto fail;
    atomic_init(&s->refs, 1);
    s->sets = (struct acset **)(void *)&s->certs[n];
    s->count = n;
    pthread_mutex_lock(&m->snap_lock);
    for (size_t i = 0; i < n; i++) {
        s->sets[i] = acset_ref(m->sets[i]);
        s->certs[i] = autocert_cert_acquire(m->sets[i]->cert);
    }
    pthread_mutex_unlock(&m->snap_lock);
    b = sni_builder_new();
    if (b == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (s->certs[i] == NULL) {
            if (s->sets[i]->standin_ok && index_standin(b, &s->addrs, s->sets[i], i) != 0) {
                sni_builder_free(b);
                goto fail;
            }
            continue;
        }
        index_cert(b, s->certs[i], i, s->sets[i]->cfg.name);
        for (size_t k = 0; k < cert_ip_count(s->certs[i]); k++) {
            size_t len = 0;
            const unsigned char *ip = cert_ip(s->certs[i], k, &len);
            if (sni_addrs_add(&s->addrs, ip, len, (int)i) != 0) {
                sni_builder_free(b);
                goto fail;
            }
        }
    }
    sni_addrs_finish(&s->addrs);
    s->ix = sni_builder_finish(b);
    s->sel = build_selector(s);
    if (s->ix == NULL || s->sel == NULL)
        goto fail;
    return s;
fail:
    ac_err(NULL, "manager: cannot build the SNI snapshot: out of memory");
    manager_snap_put(s);
    return NULL;
}

int manager_snap_publish(autocert_manager *m)
{
    struct snapshot *s = snap_build(m), *old;

    if (s == NULL)
        return -1;
    pthread_mutex_lock(&m->snap_lock);
    old = m->snap;
    m->snap = s;
    pthread_mutex_unlock(&m->snap_lock);
    manager_snap_put(old);
    ocsp_fetcher_sync(m->ocsp, s); /* write_lock held: syncs come in order */
    return 0;
}

/* ---- lookups and accessors ---------------------------------------------- */

/* standin_get's "the set's certificate now" (a reader of an older snapshot). */
static autocert_cert *cert_now(void *arg, struct acset *s)
{
    return manager_acset_cert(arg, s);
}

/* True when set i of s has something to serve: its certificate or, lacking
 * one, a stand-in. */
static bool serves(const struct snapshot *s, size_t i)
{
    return s->certs[i] != NULL || s->sets[i]->standin_ok;
}

/* The certificate for set id of s (main when id matches nothing that serves):
 * a new reference, or NULL when main has nothing to serve. */
static autocert_cert *pick(autocert_manager *m, const struct snapshot *s, int id)
{
    if (id < 0 || (size_t)id >= s->count || !serves(s, (size_t)id))
        id = 0;
    if (s->certs[id] != NULL)
        return autocert_cert_acquire(s->certs[id]);
    return standin_get(s->sets[id], cert_now, m); /* NULL: not eligible */
}

autocert_cert *autocert_manager_lookup(autocert_manager *m, const char *server_name, size_t len)
{
    struct snapshot *s = manager_snap_get(m);
    autocert_cert *c = NULL;
    int id;

    if (serves(s, 0)) { /* main with nothing to serve fails every handshake */
        id = server_name != NULL && len > 0 ? sni_index_lookup(s->ix, server_name, len) : -1;
        c = pick(m, s, id);
    }
    manager_snap_put(s);
    return c;
}

autocert_cert *autocert_manager_lookup_addr(autocert_manager *m, const char *server_name,
                                            size_t len, const void *addr, size_t addr_len)
{
    struct snapshot *s;
    autocert_cert *c = NULL;
    int id = -1;

    if (addr == NULL)
        return autocert_manager_lookup(m, server_name, len);
    s = manager_snap_get(m);
    if (serves(s, 0)) { /* main with nothing to serve fails every handshake */
        bool sni = false;
        if (server_name != NULL && len > 0) {
            id = sni_index_lookup(s->ix, server_name, len);
            if (id < 0) { /* no match, or a name that counts as no SNI */
                char norm[SNI_MAX_NAME + 1];
                sni = sni_normalize(server_name, len, norm) >= 0;
            } else {
                sni = true;
            }
        }
        if (!sni)
            id = sni_addrs_lookup(&s->addrs, addr, addr_len);
        c = pick(m, s, id);
    }
    manager_snap_put(s);
    return c;
}

autocert_cert *manager_set_cert(autocert_manager *m, size_t idx)
{
    struct snapshot *s = manager_snap_get(m);
    autocert_cert *c = NULL;

    if (idx < s->count)
        c = autocert_cert_acquire(s->certs[idx]);
    manager_snap_put(s);
    return c;
}

autocert_cert *manager_acset_cert(autocert_manager *m, struct acset *s)
{
    autocert_cert *c;

    pthread_mutex_lock(&m->snap_lock);
    c = autocert_cert_acquire(s->cert);
    pthread_mutex_unlock(&m->snap_lock);
    return c;
}

struct acset *manager_set_at(autocert_manager *m, size_t idx)
{
    struct snapshot *s = manager_snap_get(m);
    struct acset *set = idx < s->count ? acset_ref(s->sets[idx]) : NULL;

    manager_snap_put(s);
    return set;
}

int manager_sets(autocert_manager *m, struct acset ***out, size_t *count)
{
    struct snapshot *s = manager_snap_get(m);
    struct acset **v = calloc(s->count + 1, sizeof *v);

    *out = v;
    *count = v != NULL ? s->count : 0;
    for (size_t i = 0; v != NULL && i < s->count; i++)
        v[i] = acset_ref(s->sets[i]);
    manager_snap_put(s);
    return v != NULL ? 0 : -1;
}

void manager_sets_free(struct acset **sets, size_t count)
{
    for (size_t i = 0; sets != NULL && i < count; i++)
        acset_unref(sets[i]);
    free(sets);
}

void manager_acset_last_error(autocert_manager *m, struct acset *s, struct ac_error *e, int64_t *at)
{
    pthread_mutex_lock(&m->snap_lock);
    acset_error_get(s->load_error, e);
    if (at != NULL)
        *at = s->loaded_at;
    pthread_mutex_unlock(&m->snap_lock);
}

void manager_set_last_error(autocert_manager *m, size_t idx, struct ac_error *e)
{
    struct acset *s = manager_set_at(m, idx);

    ac_error_clear(e);
    if (s == NULL || e == NULL) {
        acset_unref(s);
        return;
    }
    manager_acset_last_error(m, s, e, NULL);
    acset_unref(s);
}

void manager_set_change_hook(autocert_manager *m, manager_change_fn fn, void *arg)
{
    m->hook = fn;
    m->hook_arg = arg;
}

const struct config *manager_config(const autocert_manager *m)
{
    return m->cfg;
}

struct config *manager_config_ref(autocert_manager *m)
{
    struct config *c;

    pthread_mutex_lock(&m->snap_lock);
    c = config_ref(m->cfg);
    pthread_mutex_unlock(&m->snap_lock);
    return c;
}

int manager_ocsp_start(autocert_manager *m, struct ac_error *e)
{
    struct snapshot *s;
    int rc;

    pthread_mutex_lock(&m->write_lock); /* no publication in between */
    rc = ocsp_fetcher_start(m->ocsp, e);
    if (rc == 0) {
        s = manager_snap_get(m);
        ocsp_fetcher_sync(m->ocsp, s);
        manager_snap_put(s);
    }
    pthread_mutex_unlock(&m->write_lock);
    return rc;
}

void manager_ocsp_stop(autocert_manager *m)
{
    ocsp_fetcher_stop(m->ocsp);
}

struct lifecycle *manager_engine(autocert_manager *m)
{
    return m->engine;
}

size_t manager_set_count(const autocert_manager *m)
{
    struct snapshot *s = manager_snap_get((autocert_manager *)m);
    size_t n = s->count;

    manager_snap_put(s);
    return n;
}

size_t autocert_manager_set_count(const autocert_manager *m)
{
    return manager_set_count(m);
}

const char *manager_set_name(const autocert_manager *m, size_t idx)
{
    const struct config_set *c = manager_set_config(m, idx);

    return c != NULL ? c->name : NULL;
}

const struct config_set *manager_set_config(const autocert_manager *m, size_t idx)
{
    struct snapshot *s = manager_snap_get((autocert_manager *)m);
    const struct config_set *c = idx < s->count ? &s->sets[idx]->cfg : NULL;

    manager_snap_put(s);
    return c;
}
