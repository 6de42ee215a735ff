/*
 * config_store.c - the top-level `store:` section (issue 14): where sets'
 * pairs, state and leases live. Absent (or without url): the file store.
 *
 *   store:
 *     url: postgresql://autocert@db.example/autocert?sslmode=verify-full
 *     encryption_key: ${AUTOCERT_STORE_KEY}   # base64 of 32 random bytes
 *     lease_ttl: 2m                           # >= 5s
 *     node_id: gw1                            # default <hostname>:<pid>
 *
 * url and encryption_key are secrets: masked by `check`, never logged. The
 * password inside url is registered as a secret of its own, so a message that
 * quotes only it is masked too.
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "config_internal.h"
#include "store_pg.h"
#include "timeutil.h"

#define NODE_ID_MAX 128

static bool node_id_ok(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n > NODE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static int dup_into(char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst == NULL ? -1 : 0;
}

int cfg_build_store(struct cfg_loader *L, struct config *cfg, const struct cfg_raw_store *raw)
{
    int64_t ttl = STORE_PG_LEASE_TTL_DEFAULT;
    PQconninfoOption *opts;

    cfg->store.lease_ttl = STORE_PG_LEASE_TTL_DEFAULT;
    if (raw == NULL)
        return 0;
    if (dup_into(&cfg->store.url, raw->url) != 0 ||
        dup_into(&cfg->store.encryption_key, raw->encryption_key) != 0 ||
        dup_into(&cfg->store.node_id, raw->node_id) != 0)
        return -1;
    if (raw->lease_ttl != NULL) {
        if (ac_duration_parse(raw->lease_ttl, &ttl) != 0)
            cfg_diag(L, false, "store.lease_ttl",
                     "'%s' is not a duration: use a number and a unit s, m, h or d (2m, 90s)",
                     raw->lease_ttl);
        else if (ttl < STORE_PG_LEASE_TTL_MIN || ttl > 86400)
            cfg_diag(L, false, "store.lease_ttl",
                     "'%s' is out of range: a lease lasts from %ds to 1d", raw->lease_ttl,
                     STORE_PG_LEASE_TTL_MIN);
        else
            cfg->store.lease_ttl = (int)ttl;
    }
    if (cfg->store.node_id != NULL && !node_id_ok(cfg->store.node_id))
        cfg_diag(L, false, "store.node_id",
                 "store.node_id must be 1 to %d printable characters without spaces", NODE_ID_MAX);
    if (cfg->store.url == NULL || cfg->store.url[0] == '\0') {
        if (cfg->store.encryption_key != NULL)
            cfg_diag(L, true, "store.encryption_key",
                     "store.encryption_key is set but store.url is not: the file store keeps "
                     "keys in files and ignores it");
        return 0;
    }
    opts = PQconninfoParse(cfg->store.url, NULL);
    if (opts == NULL)
        /* libpq's message would quote the URL: say only what is wrong */
        cfg_diag(L, false, "store.url",
                 "store.url is not a PostgreSQL connection URI "
                 "(postgresql://user@host:port/dbname?sslmode=verify-full) or key=value string");
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0' &&
            (cfg->store.url_password = strdup(o->val)) == NULL) {
            PQconninfoFree(opts);
            return -1;
        }
    PQconninfoFree(opts);
    if (cfg->store.encryption_key == NULL || cfg->store.encryption_key[0] == '\0') {
        cfg_diag(L, false, "store.encryption_key",
                 "store.url is set but store.encryption_key is not: give 32 random bytes in "
                 "base64 (e.g. the output of `head -c 32 /dev/urandom | base64`)");
    } else {
        size_t n = 0;
        unsigned char *k =
            b64_decode_alloc(cfg->store.encryption_key, strlen(cfg->store.encryption_key), &n);

        if (k == NULL || n != STORE_PG_KEY_LEN)
            cfg_diag(L, false, "store.encryption_key",
                     "store.encryption_key must be 32 bytes in base64 (44 characters); the value "
                     "given is not");
        if (k != NULL) {
            explicit_bzero(k, n);
            free(k);
        }
    }
    return 0;
}

void cfg_store_clear(struct config *cfg)
{
    free(cfg->store.url);
    if (cfg->store.encryption_key != NULL) {
        explicit_bzero(cfg->store.encryption_key, strlen(cfg->store.encryption_key));
        free(cfg->store.encryption_key);
    }
    if (cfg->store.url_password != NULL) {
        explicit_bzero(cfg->store.url_password, strlen(cfg->store.url_password));
        free(cfg->store.url_password);
    }
    free(cfg->store.node_id);
}
