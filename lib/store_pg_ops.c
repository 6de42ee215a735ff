/*
 * store_pg_ops.c - the PostgreSQL store's operations on sets, account keys
 * and budgets. Every write of a set passes the lease: the statement itself
 * checks that the lease row still carries the writer's token (the lease row
 * locked FOR SHARE, so a grant to another node and the write serialise), and
 * a write that carries a private key also checks the key-check value the
 * node verified (a rekey meanwhile refuses it). A write of a pair or state
 * NOTIFYs "p:<id>" in the same statement: it is delivered at commit.
 */
#include "store_pg_priv.h"

#include <gnutls/gnutls.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ref's names as a SQL text[] from the JSON array parameter $n (canonical,
 * sorted, without duplicates). */
#define NAMES_SQL(n)                                                                               \
    "ARRAY(SELECT x FROM json_array_elements_text($" #n "::json) WITH ORDINALITY AS t(x, i) "      \
    "ORDER BY i)"

/* Lease row locked for the statement; holds when the writer's token is
 * current. */
#define FENCE_SQL(id, tok)                                                                         \
    "EXISTS (SELECT 1 FROM autocert_leases WHERE id = $" #id " AND token = $" #tok                 \
    "::bigint FOR SHARE)"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The JSON text of ref's canonical names (malloc'd). */
static char *names_json(const struct storage_ref *ref, struct ac_error *e)
{
    char **c = calloc(ref->names_count + 1, sizeof *c);
    json_object *arr = json_object_new_array();
    char *out = NULL;

    if (c == NULL || arr == NULL)
        goto nomem;
    for (size_t i = 0; i < ref->names_count; i++) {
        char buf[1024];
        storage_name_canon(ref->names[i], buf, sizeof buf);
        c[i] = strdup(buf);
        if (c[i] == NULL)
            goto nomem;
    }
    qsort(c, ref->names_count, sizeof *c, cmp_str);
    for (size_t i = 0; i < ref->names_count; i++)
        if (i == 0 || strcmp(c[i], c[i - 1]) != 0)
            json_object_array_add(arr, json_object_new_string(c[i]));
    out = strdup(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
    if (out == NULL)
        goto nomem;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    for (size_t i = 0; c != NULL && i < ref->names_count; i++)
        free(c[i]);
    free(c);
    json_object_put(arr);
    return out;
}

/* Why a fenced write wrote nothing: AC_ERR_FENCED naming the holder. */
static void fenced_error(PGconn *c, const char *id, const char *name, int64_t token,
                         struct ac_error *e)
{
    struct pg_params p = {0};
    PGresult *r;

    pg_p_text(&p, id);
    r = pg_exec(c, "lease", "SELECT holder, token FROM autocert_leases WHERE id = $1", &p, false,
                e);
    if (r == NULL)
        return;
    if (PQntuples(r) == 1)
        ac_error_set(e, AC_ERR_FENCED,
                     "the lease of %s was granted to %s (token %s); this write (token %lld) is "
                     "refused",
                     name, PQgetvalue(r, 0, 0)[0] != '\0' ? PQgetvalue(r, 0, 0) : "nobody",
                     PQgetvalue(r, 0, 1), (long long)token);
    else
        ac_error_set(e, AC_ERR_FENCED, "%s has no lease; this write (token %lld) is refused", name,
                     (long long)token);
    PQclear(r);
}

/* A write of a key wrote nothing: the key check changed (rekey) or fenced. */
static void key_or_fenced_error(struct store_pg *s, PGconn *c, const char *id, const char *name,
                                int64_t token, struct ac_error *e)
{
    struct pg_params p = {0};
    PGresult *r;

    pg_p_text(&p, s->key_check);
    r = pg_exec(c, "key check", "SELECT 1 FROM autocert_meta WHERE k = 'key_check' AND v = $1", &p,
                false, e);
    if (r == NULL)
        return;
    if (PQntuples(r) == 0)
        ac_error_set(e, AC_ERR_STORE_KEY,
                     "the database's encryption key was changed (autocert store rekey); "
                     "nothing was written: restart this node with the new encryption_key");
    else
        fenced_error(c, id, name, token, e);
    PQclear(r);
}

static bool lease_matches(const struct storage_lease *lease, const struct storage_ref *ref,
                          struct ac_error *e)
{
    if (lease == NULL || strcmp(lease->id, ref->id) != 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "%s: written without its lease", ref->name);
        return false;
    }
    return true;
}

/* ---- leases ---- */

static int pg_lease_acquire(struct storage *st, const struct storage_ref *ref,
                            struct storage_lease **out, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct storage_lease *l = NULL;
    struct pg_params p = {0};
    PGresult *r = NULL;
    PGconn *c;
    int rc = -1;

    l = calloc(1, sizeof *l);
    if (l == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if ((c = pg_ops_begin(s, e)) == NULL) {
        free(l);
        return -1;
    }
    pg_p_text(&p, ref->id);
    pg_p_text(&p, s->node_id);
    pg_p_int(&p, s->lease_ttl_s);
    r = pg_exec(c, "lease",
                "INSERT INTO autocert_leases (id, holder, token, expires_at) "
                "VALUES ($1, $2, nextval('autocert_lease_token'), "
                "now() + make_interval(secs => $3::int)) "
                "ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, "
                "token = EXCLUDED.token, expires_at = EXCLUDED.expires_at "
                "WHERE autocert_leases.expires_at <= now() OR autocert_leases.holder = '' "
                "RETURNING token",
                &p, true, e);
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 1) {
        memcpy(l->id, ref->id, sizeof l->id);
        l->token = pg_get_int8(r, 0, 0);
        pg_leases_note(s, ref->id, s->node_id);
        *out = l;
        l = NULL;
        rc = 0;
        goto out;
    }
    PQclear(r);
    struct pg_params q = {0};
    pg_p_text(&q, ref->id);
    r = pg_exec(c, "lease",
                "SELECT holder, token, greatest(0, ceil(extract(epoch FROM expires_at - now())))"
                "::bigint FROM autocert_leases WHERE id = $1",
                &q, false, e);
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 1)
        ac_error_set(e, AC_ERR_LOCKED,
                     "certificate set %s is being renewed by node %s%s (lease token %s, expires "
                     "in %ss)",
                     ref->name, PQgetvalue(r, 0, 0),
                     strcmp(PQgetvalue(r, 0, 0), s->node_id) == 0 ? " (this node)" : "",
                     PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    else
        ac_error_set(e, AC_ERR_LOCKED, "certificate set %s is being renewed by another node",
                     ref->name);
out:
    PQclear(r);
    pg_ops_end(s);
    free(l);
    return rc;
}

static int pg_lease_renew(struct storage *st, struct storage_lease *lease, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGresult *r;
    PGconn *c;
    int rc = -1;

    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_text(&p, lease->id);
    pg_p_int(&p, lease->token);
    pg_p_int(&p, s->lease_ttl_s);
    r = pg_exec(c, "lease renewal",
                "UPDATE autocert_leases SET expires_at = now() + make_interval(secs => $3::int) "
                "WHERE id = $1 AND token = $2::bigint AND holder <> '' RETURNING 1",
                &p, false, e);
    if (r != NULL) {
        if (PQntuples(r) == 1)
            rc = 0;
        else
            fenced_error(c, lease->id, lease->id, lease->token, e);
        PQclear(r);
    }
    pg_ops_end(s);
    return rc;
}

static void pg_lease_release(struct storage *st, struct storage_lease *lease)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGconn *c;

    if (lease == NULL)
        return;
    if ((c = pg_ops_begin(s, NULL)) != NULL) {
        pg_p_text(&p, lease->id);
        pg_p_int(&p, lease->token);
        /* the token stays: the next grant takes a larger one from the sequence */
        (void)pg_cmd(c, "lease release",
                     "UPDATE autocert_leases SET holder = '', expires_at = now() "
                     "WHERE id = $1 AND token = $2::bigint",
                     &p, NULL);
        pg_ops_end(s);
    } /* else: it expires by itself */
    pg_leases_note(s, lease->id, NULL);
    free(lease);
}

/* From the heartbeat's cache (every lease_ttl/3), never a query: status
 * pages ask for every set. */
static int pg_lease_holder(struct storage *st, const struct storage_ref *ref, char *buf, size_t n,
                           struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;

    (void)e;
    if (n > 0)
        buf[0] = '\0';
    pthread_mutex_lock(&s->lease_mu);
    for (size_t i = 0; i < s->nleases; i++)
        if (strcmp(s->leases[i].id, ref->id) == 0) {
            snprintf(buf, n, "%s", s->leases[i].holder);
            break;
        }
    pthread_mutex_unlock(&s->lease_mu);
    return 0;
}

/* ---- pair ---- */

static int pg_pair_get(struct storage *st, const struct storage_ref *ref, struct storage_pair *out,
                       struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    char *names = NULL, aad[STORE_PG_AAD_MAX];
    unsigned char *key = NULL;
    size_t key_len = 0;
    PGresult *r = NULL;
    PGconn *c = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if ((names = names_json(ref, e)) == NULL || pg_aad(aad, sizeof aad, ref->id, "key", e) != 0)
        goto out;
    if ((c = pg_ops_begin(s, e)) == NULL)
        goto out;
    pg_p_text(&p, ref->id);
    pg_p_text(&p, names);
    r = pg_exec(
        c, "pair",
        "SELECT names IS DISTINCT FROM " NAMES_SQL(
            2) ", chain, key_ct, not_after, token "
               "FROM autocert_sets WHERE id = $1 AND chain IS NOT NULL AND key_ct IS NOT NULL",
        &p, true, e);
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 0) {
        rc = 0;
        goto out;
    }
    if (pg_open_sealed(s->key, aad, (const unsigned char *)PQgetvalue(r, 0, 2),
                       (size_t)PQgetlength(r, 0, 2), &key, &key_len, e) != 0) {
        ac_error_prefix(e, "%s: the stored private key", ref->name);
        goto out;
    }
    out->chain_len = (size_t)PQgetlength(r, 0, 1);
    out->chain = malloc(out->chain_len + 1);
    if (out->chain == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(out->chain, PQgetvalue(r, 0, 1), out->chain_len);
    out->chain[out->chain_len] = '\0';
    out->key = (char *)key;
    out->key_len = key_len;
    key = NULL;
    out->names_differ = pg_get_bool(r, 0, 0);
    out->not_after = pg_get_int8(r, 0, 3);
    out->token = pg_get_int8(r, 0, 4);
    rc = 0;
out:
    PQclear(r);
    if (c != NULL)
        pg_ops_end(s);
    if (rc != 0)
        storage_pair_clear(out);
    if (key != NULL) {
        gnutls_memset(key, 0, key_len);
        free(key);
    }
    free(names);
    return rc;
}

static int pg_pair_put(struct storage *st, const struct storage_lease *lease,
                       const struct storage_ref *ref, const char *chain, size_t chain_len,
                       const char *key, size_t key_len, int64_t not_after, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    char *names = NULL, aad[STORE_PG_AAD_MAX];
    unsigned char *ct = NULL;
    size_t ct_len = 0;
    PGresult *r = NULL;
    PGconn *c = NULL;
    int rc = -1;

    if (!lease_matches(lease, ref, e) || (names = names_json(ref, e)) == NULL ||
        pg_aad(aad, sizeof aad, ref->id, "key", e) != 0 ||
        pg_seal(s->key, aad, key, key_len, &ct, &ct_len, e) != 0)
        goto out;
    if ((c = pg_ops_begin(s, e)) == NULL)
        goto out;
    pg_p_text(&p, ref->id);
    pg_p_text(&p, names);
    pg_p_bin(&p, chain, chain_len);
    pg_p_bin(&p, ct, ct_len);
    pg_p_int(&p, not_after);
    pg_p_int(&p, lease->token);
    pg_p_text(&p, s->key_check);
    r = pg_exec(c, "pair write",
                "WITH w AS (INSERT INTO autocert_sets "
                "(id, names, chain, key_ct, not_after, token, updated_at) "
                "SELECT $1::text, " NAMES_SQL(
                    2) ", $3::bytea, $4::bytea, $5::bigint, "
                       "$6::bigint, now() WHERE " FENCE_SQL(
                           1, 6) " AND EXISTS (SELECT 1 FROM "
                                 "autocert_meta WHERE k = 'key_check' AND v = $7) "
                                 "ON CONFLICT (id) DO UPDATE SET names = EXCLUDED.names, chain = "
                                 "EXCLUDED.chain, "
                                 "key_ct = EXCLUDED.key_ct, not_after = EXCLUDED.not_after, "
                                 "token = EXCLUDED.token, updated_at = now() RETURNING id) "
                                 "SELECT pg_notify('" STORE_PG_CHANNEL "', 'p:' || id) FROM w",
                &p, false, e);
    if (r == NULL)
        goto out;
    if (PQntuples(r) != 1) {
        key_or_fenced_error(s, c, ref->id, ref->name, lease->token, e);
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    if (c != NULL)
        pg_ops_end(s);
    free(ct);
    free(names);
    return rc;
}

/* ---- state ---- */

static int pg_state_get(struct storage *st, const struct storage_ref *ref, json_object **out,
                        struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGresult *r;
    PGconn *c;
    int rc = -1;

    *out = NULL;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_text(&p, ref->id);
    r = pg_exec(c, "state",
                "SELECT state::text FROM autocert_sets WHERE id = $1 AND state IS NOT NULL", &p,
                false, e);
    if (r != NULL) {
        rc = 0;
        if (PQntuples(r) == 1) {
            *out = json_tokener_parse(PQgetvalue(r, 0, 0));
            if (*out == NULL || !json_object_is_type(*out, json_type_object)) {
                json_object_put(*out);
                *out = NULL;
                ac_error_set(e, AC_ERR_STORE_CORRUPT,
                             "%s: the stored state is not a JSON "
                             "object",
                             ref->name);
                rc = -1;
            }
        }
        PQclear(r);
    }
    pg_ops_end(s);
    return rc;
}

static int pg_state_put(struct storage *st, const struct storage_lease *lease,
                        const struct storage_ref *ref, json_object *state, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    const char *txt = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN);
    PGresult *r;
    PGconn *c;
    int rc = -1;

    if (lease != NULL && !lease_matches(lease, ref, e))
        return -1;
    if (strlen(txt) > STORE_PG_STATE_MAX) {
        ac_error_set(e, AC_ERR_IO, "%s: state of %zu bytes exceeds %d", ref->name, strlen(txt),
                     STORE_PG_STATE_MAX);
        return -1;
    }
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_text(&p, ref->id);
    pg_p_text(&p, txt);
    if (lease != NULL)
        pg_p_int(&p, lease->token);
    else
        pg_p_text(&p, s->node_id);
    r = pg_exec(
        c, "state write",
        lease != NULL
            ? "WITH w AS (INSERT INTO autocert_sets (id, state, updated_at) "
              "SELECT $1::text, $2::jsonb, now() WHERE " FENCE_SQL(
                  1, 3) " "
                        "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = now() "
                        "RETURNING id) SELECT pg_notify('" STORE_PG_CHANNEL "', 'p:' || id) FROM w"
            : "WITH w AS (INSERT INTO autocert_sets (id, state, updated_at) "
              "SELECT $1::text, $2::jsonb, now() WHERE NOT EXISTS (SELECT 1 FROM "
              "autocert_leases WHERE id = $1 AND holder <> '' AND holder <> $3 "
              "AND expires_at > now() FOR SHARE) "
              "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = now() "
              "RETURNING id) SELECT pg_notify('" STORE_PG_CHANNEL "', 'p:' || id) FROM w",
        &p, false, e);
    if (r != NULL) {
        if (PQntuples(r) == 1)
            rc = 0;
        else
            fenced_error(c, ref->id, ref->name, lease != NULL ? lease->token : 0, e);
        PQclear(r);
    }
    pg_ops_end(s);
    return rc;
}

/* ---- failure marker ---- */

static int pg_failure_get(struct storage *st, const struct storage_ref *ref, int64_t *t)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGresult *r;
    PGconn *c;
    int rc = -1;

    if ((c = pg_ops_begin(s, NULL)) == NULL)
        return -1;
    pg_p_text(&p, ref->id);
    r = pg_exec(c, "failure marker",
                "SELECT failure_at FROM autocert_sets WHERE id = $1 AND failure_at IS NOT NULL", &p,
                true, NULL);
    if (r != NULL && PQntuples(r) == 1) {
        *t = pg_get_int8(r, 0, 0);
        rc = 0;
    }
    PQclear(r);
    pg_ops_end(s);
    return rc;
}

static int failure_write(struct store_pg *s, const struct storage_lease *lease,
                         const struct storage_ref *ref, const int64_t *t, struct ac_error *e)
{
    struct pg_params p = {0};
    PGresult *r;
    PGconn *c;
    int rc = -1;

    if (!lease_matches(lease, ref, e))
        return -1;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_text(&p, ref->id);
    pg_p_int(&p, lease->token);
    if (t != NULL)
        pg_p_int(&p, *t);
    else
        pg_p_text(&p, NULL);
    r = pg_exec(c, "failure marker",
                "INSERT INTO autocert_sets (id, failure_at, updated_at) "
                "SELECT $1::text, $3::bigint, now() WHERE " FENCE_SQL(
                    1, 2) " "
                          "ON CONFLICT (id) DO UPDATE SET failure_at = EXCLUDED.failure_at, "
                          "updated_at = now() RETURNING 1",
                &p, false, e);
    if (r != NULL) {
        if (PQntuples(r) == 1)
            rc = 0;
        else
            fenced_error(c, ref->id, ref->name, lease->token, e);
        PQclear(r);
    }
    pg_ops_end(s);
    return rc;
}

static int pg_failure_put(struct storage *st, const struct storage_lease *lease,
                          const struct storage_ref *ref, int64_t t, struct ac_error *e)
{
    return failure_write((struct store_pg *)st, lease, ref, &t, e);
}

static int pg_failure_clear(struct storage *st, const struct storage_lease *lease,
                            const struct storage_ref *ref, struct ac_error *e)
{
    return failure_write((struct store_pg *)st, lease, ref, NULL, e);
}

/* ---- account keys ---- */

/* The stored account key of path: 1 loaded, 0 none stored, -1 error. */
static int account_read(struct store_pg *s, PGconn *c, const char *path, const char *aad,
                        struct crypto_key **out, struct ac_error *e)
{
    struct pg_params p = {0};
    unsigned char *pt = NULL;
    size_t pt_len = 0;
    PGresult *r;
    int rc = -1;

    pg_p_text(&p, path);
    r = pg_exec(c, "account key", "SELECT key_ct FROM autocert_accounts WHERE path = $1", &p, true,
                e);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        rc = 0;
    } else if (pg_open_sealed(s->key, aad, (const unsigned char *)PQgetvalue(r, 0, 0),
                              (size_t)PQgetlength(r, 0, 0), &pt, &pt_len, e) != 0) {
        ac_error_prefix(e, "account key %s", path);
    } else if (crypto_key_load(pt, pt_len, out, e) != 0) {
        ac_error_set(e, AC_ERR_KEY_UNREADABLE, "account key %s in the store is unreadable", path);
    } else {
        rc = 1;
    }
    if (pt != NULL) {
        gnutls_memset(pt, 0, pt_len);
        free(pt);
    }
    PQclear(r);
    return rc;
}

static int pg_account_key_load(struct storage *st, const char *path, struct crypto_key **out,
                               bool *created, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct crypto_key *k = NULL;
    struct pg_params p = {0};
    char aad[STORE_PG_AAD_MAX], *pem = NULL;
    unsigned char *ct = NULL;
    size_t pem_len = 0, ct_len = 0;
    PGresult *r = NULL;
    PGconn *c = NULL;
    int rc = -1, got;

    if (created != NULL)
        *created = false;
    if (pg_aad(aad, sizeof aad, path, "account", e) != 0)
        return -1;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    got = account_read(s, c, path, aad, out, e);
    pg_ops_end(s);
    c = NULL;
    if (got != 0)
        return got > 0 ? 0 : -1;
    /* none stored: generated without holding the connection */
    if (crypto_key_generate(CRYPTO_KEY_EC256, &k, e) != 0 ||
        crypto_key_export_pkcs8_pem(k, &pem, &pem_len, e) != 0 ||
        pg_seal(s->key, aad, pem, pem_len, &ct, &ct_len, e) != 0)
        goto out;
    if ((c = pg_ops_begin(s, e)) == NULL)
        goto out;
    pg_p_text(&p, path);
    pg_p_bin(&p, ct, ct_len);
    pg_p_text(&p, s->key_check);
    r = pg_exec(c, "account key",
                "INSERT INTO autocert_accounts (path, key_ct) SELECT $1::text, $2::bytea "
                "WHERE EXISTS (SELECT 1 FROM autocert_meta WHERE k = 'key_check' AND v = $3) "
                "ON CONFLICT (path) DO NOTHING RETURNING 1",
                &p, false, e);
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 1) {
        *out = k;
        k = NULL;
        if (created != NULL)
            *created = true;
        rc = 0;
        goto out;
    }
    /* another node created it first (or the key changed) */
    got = account_read(s, c, path, aad, out, e);
    if (got == 0)
        key_or_fenced_error(s, c, path, path, 0, e);
    rc = got > 0 ? 0 : -1;
out:
    PQclear(r);
    if (c != NULL)
        pg_ops_end(s);
    crypto_key_free(k);
    if (pem != NULL) {
        gnutls_memset(pem, 0, pem_len);
        free(pem);
    }
    free(ct);
    return rc;
}

/* ---- budgets ---- */

/* ".../.budget-<h>.json" -> "<h>"; another basename as it is. */
static void budget_id_of(const char *path, char *id, size_t n)
{
    const char *b = strrchr(path, '/');
    size_t len;

    b = b != NULL ? b + 1 : path;
    if (strncmp(b, ".budget-", 8) == 0)
        b += 8;
    len = strlen(b);
    if (len > 5 && strcmp(b + len - 5, ".json") == 0)
        len -= 5;
    snprintf(id, n, "%.*s", (int)len, b);
}

static int pg_budget_update(struct storage *st, const char *path,
                            char *(*merge)(const char *stored, void *arg), void *arg,
                            struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    char id[256], *next = NULL;
    PGresult *r = NULL;
    PGconn *c;
    int rc = -1;

    budget_id_of(path, id, sizeof id);
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_text(&p, id);
    if (pg_cmd(c, "budget", "BEGIN", NULL, e) != 0)
        goto out;
    if (pg_cmd(c, "budget",
               "INSERT INTO autocert_budgets (id, data) VALUES ($1, NULL) "
               "ON CONFLICT (id) DO NOTHING",
               &p, e) != 0)
        goto fail;
    r = pg_exec(c, "budget", "SELECT data FROM autocert_budgets WHERE id = $1 FOR UPDATE", &p,
                false, e);
    if (r == NULL)
        goto fail;
    if (PQntuples(r) == 1 && PQgetlength(r, 0, 0) > STORE_PG_BUDGET_MAX) {
        ac_error_set(e, AC_ERR_STORE_CORRUPT, "budget %s: stored state exceeds %d bytes", id,
                     STORE_PG_BUDGET_MAX);
        goto fail;
    }
    next = merge(PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL, arg);
    if (next != NULL) {
        pg_p_text(&p, next);
        if (pg_cmd(c, "budget", "UPDATE autocert_budgets SET data = $2 WHERE id = $1", &p, e) != 0)
            goto fail;
    }
    if (pg_cmd(c, "budget", "COMMIT", NULL, e) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
out:
    PQclear(r);
    free(next);
    pg_ops_end(s);
    return rc;
}

const struct storage_ops store_pg_ops = {
    .name = "postgresql",
    .free = pg_free,
    .lease_acquire = pg_lease_acquire,
    .lease_renew = pg_lease_renew,
    .lease_release = pg_lease_release,
    .lease_holder = pg_lease_holder,
    .pair_get = pg_pair_get,
    .pair_put = pg_pair_put,
    .state_get = pg_state_get,
    .state_put = pg_state_put,
    .failure_get = pg_failure_get,
    .failure_put = pg_failure_put,
    .failure_clear = pg_failure_clear,
    .account_key_load = pg_account_key_load,
    .budget_update = pg_budget_update,
    .challenge_put = pg_challenge_put,
    .challenge_get = pg_challenge_get,
    .challenge_del = pg_challenge_del,
    .challenge_ack = pg_challenge_ack,
    .challenge_wait_acks = pg_challenge_wait_acks,
    .set_listener = pg_set_listener,
    .is_up = pg_is_up,
};
