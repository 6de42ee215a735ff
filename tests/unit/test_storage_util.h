/* test_storage_util.h - what the two storage suites share (test_storage.c,
 * both backends; test_storage_pg.c, the PostgreSQL store's own cases): the
 * backend under test (pg_url: NULL is the file store), a mkdtemp directory
 * and, on PostgreSQL, a fresh database per case (setup, teardown), a store
 * of that backend (open_store), refs, and self-signed pairs. */
#ifndef TEST_STORAGE_UTIL_H
#define TEST_STORAGE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <ftw.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "storage.h"
#include "store.h"
#include "store_pg.h"

#define WAIT_MS 20000

static const char *pg_url; /* NULL: the file store */
static int case_no;

struct ctx {
    char dir[256];
    char url[1024];
    char db[64];
    char cert[512], key[512], budget[512];
    unsigned char enc_key[STORE_PG_KEY_LEN];
};
static struct ctx C;

/* ---- helpers ---- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* A connection to database db of the test cluster (NULL: the URL's own). */
static PGconn *pg_raw(const char *db)
{
    char url[1100];
    const char *slash = strrchr(pg_url, '/');

    snprintf(url, sizeof url, "%.*s/%s", (int)(slash - pg_url), pg_url,
             db != NULL ? db : slash + 1);
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static void pg_sql(const char *db, const char *sql)
{
    PGconn *c = pg_raw(db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* A fresh database per case; the URL of a store opened on it. */
static void fresh_db(void)
{
    char sql[128];
    const char *slash = strrchr(pg_url, '/');

    snprintf(C.db, sizeof C.db, "ts_%ld_%d", (long)getpid(), ++case_no);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", C.db);
    pg_sql(NULL, sql);
    snprintf(C.url, sizeof C.url, "%.*s/%s", (int)(slash - pg_url), pg_url, C.db);
}

static int setup(void **state)
{
    (void)state;
    memset(&C, 0, sizeof C);
    snprintf(C.dir, sizeof C.dir, "/tmp/test_storage.XXXXXX");
    if (mkdtemp(C.dir) == NULL)
        return -1;
    snprintf(C.cert, sizeof C.cert, "%s/certs/cert.pem", C.dir);
    snprintf(C.key, sizeof C.key, "%s/certs/key.pem", C.dir);
    snprintf(C.budget, sizeof C.budget, "%s/acme/.budget-0123456789ab.json", C.dir);
    gnutls_rnd(GNUTLS_RND_RANDOM, C.enc_key, sizeof C.enc_key);
    if (pg_url != NULL)
        fresh_db();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(C.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void pg_params_for(struct store_pg_params *p, const char *node, const unsigned char *key)
{
    memset(p, 0, sizeof *p);
    p->url = C.url;
    memcpy(p->key, key, STORE_PG_KEY_LEN);
    p->lease_ttl_s = STORE_PG_LEASE_TTL_MIN;
    p->node_id = node;
    p->statement_timeout_ms = 10000;
    p->connect_timeout_s = 5;
    p->migrate = true;
}

/* A store of the backend under test; node names the PostgreSQL node. */
static struct storage *open_store(const char *node)
{
    struct storage *st = NULL;
    struct ac_error e;

    ac_error_clear(&e);
    if (pg_url == NULL) {
        assert_int_equal(storage_files_new(&st, &e), 0);
    } else {
        struct store_pg_params p;
        pg_params_for(&p, node, C.enc_key);
        if (store_pg_open_wait(&p, WAIT_MS, &st, &e) != 0)
            fail_msg("store_pg_open_wait: %s: %s", e.kind, e.message);
    }
    return st;
}

static const char *names_ab[] = {"a.example.test", "b.example.test"};

static void ref_for(struct storage_ref *ref, const char *const *names, size_t n)
{
    storage_ref_init(ref, "main", C.cert, C.key, names, n);
}

/* A self-signed leaf for names with its key (PEMs, malloc'd) and NotAfter. */
struct pair {
    char *chain, *key;
    size_t chain_len, key_len;
    int64_t not_after;
};

static void make_pair(struct pair *p, const char *const *names, size_t n)
{
    struct crypto_key *k = NULL;
    struct ac_error e;
    int64_t now = (int64_t)time(NULL);

    p->not_after = now + 86400 * 30;
    assert_int_equal(crypto_key_generate(CRYPTO_KEY_EC256, &k, &e), 0);
    assert_int_equal(crypto_selfsigned_create(k, names, n, now - 60, p->not_after, NULL, &p->chain,
                                              &p->chain_len, &e),
                     0);
    assert_int_equal(crypto_key_export_pkcs8_pem(k, &p->key, &p->key_len, &e), 0);
    crypto_key_free(k);
}

static void free_pair(struct pair *p)
{
    free(p->chain);
    free(p->key);
}
#endif
