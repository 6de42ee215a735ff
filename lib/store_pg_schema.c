/*
 * store_pg_schema.c - the PostgreSQL store's schema (created and migrated in
 * one transaction under an advisory transaction lock, additive migrations, a
 * newer schema refused), its encryption (AES-256-GCM through GnuTLS) and key
 * check, and the administration calls: migrate-schema and rekey.
 */
#include "store_pg_priv.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

/* The known plaintext of the key-check value and its associated data. */
#define KEY_CHECK_TEXT "autocert key check v1"
#define KEY_CHECK_AAD "autocert|key_check"

/* Migration n (1-based) takes the schema from version n-1 to n. Additive
 * only: nodes of two adjacent versions share a database. */
static const char *const migrations[STORE_PG_SCHEMA_VERSION] = {
    /* 1 */
    "CREATE TABLE IF NOT EXISTS autocert_sets ("
    "  id text PRIMARY KEY, names text[], chain bytea, key_ct bytea, not_after bigint,"
    "  token bigint, state jsonb, failure_at bigint,"
    "  updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE SEQUENCE IF NOT EXISTS autocert_lease_token;"
    "CREATE TABLE IF NOT EXISTS autocert_leases ("
    "  id text PRIMARY KEY, holder text NOT NULL, token bigint NOT NULL,"
    "  expires_at timestamptz NOT NULL);"
    "CREATE TABLE IF NOT EXISTS autocert_accounts ("
    "  path text PRIMARY KEY, key_ct bytea NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS autocert_budgets (id text PRIMARY KEY, data text);"
    "CREATE TABLE IF NOT EXISTS autocert_challenges ("
    "  kind int NOT NULL, key text NOT NULL, key_auth text NOT NULL,"
    "  expires_at timestamptz NOT NULL, PRIMARY KEY (kind, key));"
    "CREATE TABLE IF NOT EXISTS autocert_challenge_acks ("
    "  kind int NOT NULL, key text NOT NULL, node text NOT NULL,"
    "  PRIMARY KEY (kind, key, node));"
    "CREATE TABLE IF NOT EXISTS autocert_nodes ("
    "  node text PRIMARY KEY, seen_at timestamptz NOT NULL);",
};

/* ---- AEAD ---- */

int pg_seal(const unsigned char key[STORE_PG_KEY_LEN], const char *aad, const void *in, size_t n,
            unsigned char **out, size_t *out_len, struct ac_error *e)
{
    gnutls_aead_cipher_hd_t h = NULL;
    gnutls_datum_t k = {(unsigned char *)key, STORE_PG_KEY_LEN};
    unsigned char *buf = NULL;
    size_t ct_len = n + STORE_PG_TAG_LEN;
    int rc = -1;

    buf = malloc(STORE_PG_NONCE_LEN + ct_len);
    if (buf == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (gnutls_rnd(GNUTLS_RND_NONCE, buf, STORE_PG_NONCE_LEN) != 0 ||
        gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &k) != 0 ||
        gnutls_aead_cipher_encrypt(h, buf, STORE_PG_NONCE_LEN, aad, strlen(aad), STORE_PG_TAG_LEN,
                                   in, n, buf + STORE_PG_NONCE_LEN, &ct_len) != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "AES-256-GCM encryption failed");
        goto out;
    }
    *out = buf;
    *out_len = STORE_PG_NONCE_LEN + ct_len;
    buf = NULL;
    rc = 0;
out:
    if (h != NULL)
        gnutls_aead_cipher_deinit(h);
    free(buf);
    return rc;
}

int pg_open_sealed(const unsigned char key[STORE_PG_KEY_LEN], const char *aad,
                   const unsigned char *in, size_t n, unsigned char **out, size_t *out_len,
                   struct ac_error *e)
{
    gnutls_aead_cipher_hd_t h = NULL;
    gnutls_datum_t k = {(unsigned char *)key, STORE_PG_KEY_LEN};
    unsigned char *buf = NULL;
    size_t pt_len;
    int rc = -1;

    if (n < STORE_PG_NONCE_LEN + STORE_PG_TAG_LEN) {
        ac_error_set(e, AC_ERR_STORE_CORRUPT, "encrypted value too short (%zu bytes)", n);
        return -1;
    }
    pt_len = n - STORE_PG_NONCE_LEN - STORE_PG_TAG_LEN;
    buf = malloc(pt_len + 1);
    if (buf == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &k) != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "AES-256-GCM unavailable");
        goto out;
    }
    if (gnutls_aead_cipher_decrypt(h, in, STORE_PG_NONCE_LEN, aad, strlen(aad), STORE_PG_TAG_LEN,
                                   in + STORE_PG_NONCE_LEN, n - STORE_PG_NONCE_LEN, buf,
                                   &pt_len) != 0) {
        ac_error_set(e, AC_ERR_STORE_CORRUPT,
                     "encrypted value does not authenticate (wrong key, or the row was "
                     "altered or moved)");
        goto out;
    }
    buf[pt_len] = '\0';
    *out = buf;
    *out_len = pt_len;
    buf = NULL;
    rc = 0;
out:
    if (h != NULL)
        gnutls_aead_cipher_deinit(h);
    if (buf != NULL) {
        gnutls_memset(buf, 0, pt_len + 1);
        free(buf);
    }
    return rc;
}

int store_pg_parse_key(const char *b64, const char *what, unsigned char key[STORE_PG_KEY_LEN],
                       struct ac_error *e)
{
    unsigned char *raw = NULL;
    size_t n = b64 != NULL ? strlen(b64) : 0, len = 0;

    while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' '))
        n--;
    if (n > 0)
        raw = b64_decode_alloc(b64, n, &len);
    if (raw == NULL || len != STORE_PG_KEY_LEN) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "%s: must be %d random bytes in base64 (e.g. `openssl rand -base64 32`)%s",
                     what, STORE_PG_KEY_LEN, raw == NULL ? ": not valid base64" : ": wrong length");
        if (raw != NULL) {
            gnutls_memset(raw, 0, len);
            free(raw);
        }
        return -1;
    }
    memcpy(key, raw, STORE_PG_KEY_LEN);
    gnutls_memset(raw, 0, len);
    free(raw);
    return 0;
}

/* ---- schema ---- */

/* The schema version stored (0: none). -1 with e on error. */
static int schema_version(PGconn *conn, int *ver, struct ac_error *e)
{
    PGresult *r = pg_exec(conn, "schema version",
                          "SELECT v FROM autocert_meta WHERE k = 'schema_version'", NULL, false, e);

    if (r == NULL)
        return -1;
    *ver = PQntuples(r) == 1 ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

static void newer_error(int ver, struct ac_error *e)
{
    ac_error_set(e, AC_ERR_STORE_SCHEMA,
                 "the database's autocert schema is version %d, newer than this autocert "
                 "knows (%d): upgrade this node",
                 ver, STORE_PG_SCHEMA_VERSION);
}

/* In a transaction: takes the advisory lock, creates or migrates. */
static int schema_migrate(PGconn *conn, struct ac_error *e)
{
    struct pg_params p = {0};
    int ver = 0;

    pg_p_int(&p, STORE_PG_LOCK_ID);
    if (pg_cmd(conn, "schema lock", "SELECT pg_advisory_xact_lock($1::bigint)", &p, e) != 0 ||
        pg_cmd(conn, "schema",
               "CREATE TABLE IF NOT EXISTS autocert_meta (k text PRIMARY KEY, v text NOT NULL)",
               NULL, e) != 0 ||
        schema_version(conn, &ver, e) != 0)
        return -1;
    if (ver > STORE_PG_SCHEMA_VERSION) {
        newer_error(ver, e);
        return -1;
    }
    for (int m = ver + 1; m <= STORE_PG_SCHEMA_VERSION; m++) {
        char what[48];
        snprintf(what, sizeof what, "schema migration %d", m);
        /* constant DDL, no parameters: several statements in one PQexec */
        if (pg_script(conn, what, migrations[m - 1], e) != 0)
            return -1;
    }
    if (ver < STORE_PG_SCHEMA_VERSION) {
        struct pg_params q = {0};
        pg_p_int(&q, STORE_PG_SCHEMA_VERSION);
        if (pg_cmd(conn, "schema version",
                   "INSERT INTO autocert_meta (k, v) VALUES ('schema_version', $1) "
                   "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                   &q, e) != 0)
            return -1;
    }
    return 0;
}

static void key_error(struct ac_error *e)
{
    ac_error_set(e, AC_ERR_STORE_KEY,
                 "encryption_key does not match the key this database was encrypted with (its "
                 "key check fails); nothing was read or written: use the fleet's key (or "
                 "`autocert store rekey` to change it)");
}

/* True when key_check (base64 text) was sealed with key. */
static bool key_check_ok(const unsigned char key[STORE_PG_KEY_LEN], const char *key_check)
{
    size_t n = 0, pt_len = 0;
    unsigned char *raw = b64_decode_alloc(key_check, strlen(key_check), &n), *pt = NULL;
    bool ok = false;

    if (raw != NULL && pg_open_sealed(key, KEY_CHECK_AAD, raw, n, &pt, &pt_len, NULL) == 0)
        ok = pt_len == strlen(KEY_CHECK_TEXT) && memcmp(pt, KEY_CHECK_TEXT, pt_len) == 0;
    free(raw);
    free(pt);
    return ok;
}

/* A new key-check value for key (malloc'd base64). */
static char *key_check_new(const unsigned char key[STORE_PG_KEY_LEN], struct ac_error *e)
{
    unsigned char *ct = NULL;
    size_t n = 0;
    char *txt;

    if (pg_seal(key, KEY_CHECK_AAD, KEY_CHECK_TEXT, strlen(KEY_CHECK_TEXT), &ct, &n, e) != 0)
        return NULL;
    txt = malloc(b64_encoded_len(n) + 1);
    if (txt != NULL)
        b64_encode(ct, n, txt);
    else
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    free(ct);
    return txt;
}

/* Reads the key-check value (setting it on a fresh database) and verifies
 * it; *out the value verified. */
static int key_check(PGconn *conn, const unsigned char key[STORE_PG_KEY_LEN], char **out,
                     struct ac_error *e)
{
    PGresult *r = NULL;
    char *fresh = NULL;
    int rc = -1;

    fresh = key_check_new(key, e);
    if (fresh == NULL)
        goto out;
    struct pg_params p = {0};
    pg_p_text(&p, fresh);
    if (pg_cmd(conn, "key check",
               "INSERT INTO autocert_meta (k, v) VALUES ('key_check', $1) "
               "ON CONFLICT (k) DO NOTHING",
               &p, e) != 0)
        goto out;
    r = pg_exec(conn, "key check", "SELECT v FROM autocert_meta WHERE k = 'key_check'", NULL, false,
                e);
    if (r == NULL)
        goto out;
    if (PQntuples(r) != 1 || !key_check_ok(key, PQgetvalue(r, 0, 0))) {
        key_error(e);
        goto out;
    }
    *out = strdup(PQgetvalue(r, 0, 0));
    if (*out == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    free(fresh);
    return rc;
}

static void rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

int pg_schema_setup(PGconn *conn, bool migrate, const unsigned char key[STORE_PG_KEY_LEN],
                    char **kc, struct ac_error *e)
{
    int ver = 0;

    /* the version first, without a lock: a current schema needs no DDL (a
     * node whose role may not create tables starts even with migrate on) */
    if (schema_version(conn, &ver, e) != 0) {
        if (!ac_error_is(e, AC_ERR_STORE_SCHEMA))
            return -1;
        ver = 0; /* no autocert_meta: a fresh database */
        ac_error_clear(e);
    }
    if (ver > STORE_PG_SCHEMA_VERSION) {
        newer_error(ver, e);
        return -1;
    }
    if (ver == STORE_PG_SCHEMA_VERSION)
        return key_check(conn, key, kc, e);
    if (!migrate) {
        if (ver == 0)
            ac_error_set(e, AC_ERR_STORE_SCHEMA,
                         "the database has no autocert schema and this node may not create it "
                         "(store.migrate is off): run `autocert store migrate-schema` with the "
                         "owner role");
        else
            ac_error_set(e, AC_ERR_STORE_SCHEMA,
                         "the database's autocert schema is version %d, this node needs %d and "
                         "may not migrate it (store.migrate is off): run `autocert store "
                         "migrate-schema` with the owner role",
                         ver, STORE_PG_SCHEMA_VERSION);
        return -1;
    }
    if (pg_cmd(conn, "begin", "BEGIN", NULL, e) != 0)
        return -1;
    if (schema_migrate(conn, e) != 0 || key_check(conn, key, kc, e) != 0 ||
        pg_cmd(conn, "commit", "COMMIT", NULL, e) != 0) {
        rollback(conn);
        if (ac_error_is(e, AC_ERR_STORE_DENIED)) {
            char why[AC_ERROR_MESSAGE_MAX];
            snprintf(why, sizeof why, "%s", e->message);
            ac_error_set(e, AC_ERR_STORE_SCHEMA,
                         "the autocert schema must be created or migrated (version %d to %d) and "
                         "this node's role may not: run `autocert store migrate-schema` with the "
                         "owner role (%s)",
                         ver, STORE_PG_SCHEMA_VERSION, why);
        }
        return -1;
    }
    return 0;
}

/* ---- administration ---- */

static PGconn *admin_connect(const struct store_pg_params *p, struct pg_conninfo *ci,
                             struct ac_error *e)
{
    int ct = p->connect_timeout_s > 0 ? p->connect_timeout_s : 5;

    if (pg_conninfo_build(ci, p->url, ct,
                          p->statement_timeout_ms > 0 ? p->statement_timeout_ms : 10000, e) != 0)
        return NULL;
    return pg_connect(ci, pg_now_ms() + (int64_t)ct * 1000, -1, e);
}

int store_pg_migrate_schema(const struct store_pg_params *p, struct ac_error *e)
{
    struct pg_conninfo ci;
    PGconn *conn = admin_connect(p, &ci, e);
    int rc = -1;

    if (conn == NULL)
        goto out;
    if (pg_cmd(conn, "begin", "BEGIN", NULL, e) != 0)
        goto out;
    if (schema_migrate(conn, e) != 0 || pg_cmd(conn, "commit", "COMMIT", NULL, e) != 0) {
        rollback(conn);
        goto out;
    }
    rc = 0;
out:
    if (conn != NULL)
        PQfinish(conn);
    pg_conninfo_free(&ci);
    return rc;
}

/* Re-encrypts column col of every row of table (key column keycol, AAD
 * "<key>|<kind>") from old to new. */
static int rekey_table(PGconn *conn, const char *select, const char *update, const char *kind,
                       const unsigned char old_key[STORE_PG_KEY_LEN],
                       const unsigned char new_key[STORE_PG_KEY_LEN], struct ac_error *e)
{
    PGresult *r = pg_exec(conn, "rekey", select, NULL, true, e);
    int rc = -1;

    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        char aad[STORE_PG_AAD_MAX];
        unsigned char *pt = NULL, *ct = NULL;
        size_t pt_len = 0, ct_len = 0;
        struct pg_params p = {0};
        int k;

        if (pg_aad(aad, sizeof aad, id, kind, e) != 0)
            goto out;
        if (pg_open_sealed(old_key, aad, (const unsigned char *)PQgetvalue(r, i, 1),
                           (size_t)PQgetlength(r, i, 1), &pt, &pt_len, e) != 0) {
            ac_error_prefix(e, "rekey: %s %s", kind, id);
            goto out;
        }
        k = pg_seal(new_key, aad, pt, pt_len, &ct, &ct_len, e);
        gnutls_memset(pt, 0, pt_len);
        free(pt);
        if (k != 0)
            goto out;
        pg_p_text(&p, id);
        pg_p_bin(&p, ct, ct_len);
        k = pg_cmd(conn, "rekey", update, &p, e);
        free(ct);
        if (k != 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

int store_pg_rekey(const struct store_pg_params *p, const unsigned char new_key[STORE_PG_KEY_LEN],
                   struct ac_error *e)
{
    struct pg_conninfo ci;
    PGconn *conn = admin_connect(p, &ci, e);
    PGresult *r = NULL;
    char *kc = NULL;
    int rc = -1, ver = 0;

    if (conn == NULL)
        goto out;
    if (pg_cmd(conn, "begin", "BEGIN", NULL, e) != 0)
        goto out;
    if (schema_version(conn, &ver, e) != 0)
        goto fail;
    if (ver != STORE_PG_SCHEMA_VERSION) {
        if (ver > STORE_PG_SCHEMA_VERSION)
            newer_error(ver, e);
        else
            ac_error_set(e, AC_ERR_STORE_SCHEMA,
                         "the database's autocert schema is version "
                         "%d: run `autocert store migrate-schema` first",
                         ver);
        goto fail;
    }
    r = pg_exec(conn, "rekey", "SELECT v FROM autocert_meta WHERE k = 'key_check' FOR UPDATE", NULL,
                false, e);
    if (r == NULL)
        goto fail;
    if (PQntuples(r) != 1 || !key_check_ok(p->key, PQgetvalue(r, 0, 0))) {
        key_error(e);
        goto fail;
    }
    if (rekey_table(
            conn, "SELECT id, key_ct FROM autocert_sets WHERE key_ct IS NOT NULL FOR UPDATE",
            "UPDATE autocert_sets SET key_ct = $2 WHERE id = $1", "key", p->key, new_key, e) != 0 ||
        rekey_table(conn, "SELECT path, key_ct FROM autocert_accounts FOR UPDATE",
                    "UPDATE autocert_accounts SET key_ct = $2 WHERE path = $1", "account", p->key,
                    new_key, e) != 0)
        goto fail;
    kc = key_check_new(new_key, e);
    if (kc == NULL)
        goto fail;
    struct pg_params q = {0};
    pg_p_text(&q, kc);
    if (pg_cmd(conn, "rekey", "UPDATE autocert_meta SET v = $1 WHERE k = 'key_check'", &q, e) !=
            0 ||
        pg_cmd(conn, "rekey", "SELECT pg_notify('" STORE_PG_CHANNEL "', 'k:')", NULL, e) != 0 ||
        pg_cmd(conn, "commit", "COMMIT", NULL, e) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    rollback(conn);
out:
    PQclear(r);
    free(kc);
    if (conn != NULL)
        PQfinish(conn);
    pg_conninfo_free(&ci);
    return rc;
}
