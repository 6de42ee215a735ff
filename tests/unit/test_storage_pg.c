/* test_storage_pg.c - the PostgreSQL store's own cases of the storage suite
 * (test_storage.c has those of both backends). They need AUTOCERT_TEST_PG_URL
 * (integration.test_storage_pg, whose wrapper starts a cluster of its own; a
 * fresh database per case) and are skipped without it (unit.test_storage_pg),
 * but for the parameter checks, which need no database: fencing (a paused
 * holder's writes and renewal refused after its lease went to another node),
 * events reaching another instance and acknowledgements (wait_acks), no clear
 * key in the database, a wrong key refused with the rows unchanged, rekey, a
 * newer schema refused, a missing schema without migrate, three stores
 * creating the schema at once, and (with AUTOCERT_TEST_PG_STOP/START from the
 * wrapper) the database going away and coming back. */
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
#include "test_storage_util.h"

/* ---- events ---- */

struct evlog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pair, resync, down, chal_add, chal_del;
    char id[13];
    char key_auth[256];
};

static void evlog_init(struct evlog *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
}

static void on_event(void *arg, enum storage_event ev, const char *id,
                     enum storage_challenge_kind kind, const char *key, const char *key_auth)
{
    struct evlog *l = arg;

    (void)kind, (void)key;
    pthread_mutex_lock(&l->mu);
    if (ev == STORAGE_EV_PAIR) {
        l->pair++;
        snprintf(l->id, sizeof l->id, "%s", id);
    } else if (ev == STORAGE_EV_RESYNC) {
        l->resync++;
    } else if (ev == STORAGE_EV_DOWN) {
        l->down++;
    } else if (ev == STORAGE_EV_CHALLENGE && key_auth != NULL) {
        l->chal_add++;
        snprintf(l->key_auth, sizeof l->key_auth, "%s", key_auth);
    } else if (ev == STORAGE_EV_CHALLENGE) {
        l->chal_del++;
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Waits (bounded) until *counter >= n; returns its value. */
static int ev_wait(struct evlog *l, const int *counter, int n)
{
    struct timespec ts;
    int v;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&l->mu);
    while (*counter < n && pthread_cond_timedwait(&l->cv, &l->mu, &ts) == 0) {
    }
    v = *counter;
    pthread_mutex_unlock(&l->mu);
    return v;
}
/* ---- PostgreSQL only ---- */

#define PG_ONLY()                                                                                  \
    do {                                                                                           \
        if (pg_url == NULL)                                                                        \
            skip();                                                                                \
    } while (0)

static void test_pg_fencing(void **state)
{
#ifdef AUTOCERT_TEST_HOOKS
    struct storage *a = NULL, *b = NULL;
    struct storage_lease *la = NULL, *lb = NULL;
    struct storage_ref ref;
    struct storage_pair got;
    struct pair pa, pb;
    json_object *j = NULL;
    struct ac_error e;

    (void)state;
    PG_ONLY();
    j = json_object_new_object();
    a = open_store("node-a");
    b = open_store("node-b");
    ref_for(&ref, names_ab, 2);
    make_pair(&pa, names_ab, 2);
    make_pair(&pb, names_ab, 2);
    assert_int_equal(storage_call(a, lease_acquire, &ref, &la, &e), 0);
    /* A pauses past its lease: it expires and B takes it */
    assert_int_equal(storage_call(b, lease_acquire, &ref, &lb, &e), -1);
    assert_int_equal(store_pg_test_expire_lease(a, ref.id), 0);
    assert_int_equal(storage_call(b, lease_acquire, &ref, &lb, &e), 0);
    assert_true(lb->token > la->token);
    assert_int_equal(storage_call(b, pair_put, lb, &ref, pb.chain, pb.chain_len, pb.key, pb.key_len,
                                  pb.not_after, &e),
                     0);
    /* A wakes up: every write refused, nothing changed */
    assert_int_equal(storage_call(a, pair_put, la, &ref, pa.chain, pa.chain_len, pa.key, pa.key_len,
                                  pa.not_after, &e),
                     -1);
    assert_string_equal(e.kind, AC_ERR_FENCED);
    assert_non_null(strstr(e.message, "node-b"));
    assert_non_null(strstr(e.message, "refused"));
    assert_int_equal(storage_call(a, state_put, la, &ref, j, &e), -1);
    assert_string_equal(e.kind, AC_ERR_FENCED);
    assert_int_equal(storage_call(a, state_put, NULL, &ref, j, &e), -1);
    assert_string_equal(e.kind, AC_ERR_FENCED);
    assert_int_equal(storage_call(a, failure_put, la, &ref, 1700000000, &e), -1);
    assert_string_equal(e.kind, AC_ERR_FENCED);
    assert_int_equal(storage_call(a, failure_clear, la, &ref, &e), -1);
    assert_string_equal(e.kind, AC_ERR_FENCED);
    assert_int_equal(storage_call(a, lease_renew, la, &e), -1);
    assert_string_equal(e.kind, AC_ERR_FENCED);
    assert_int_equal(storage_call(a, pair_get, &ref, &got, &e), 0);
    assert_string_equal(got.chain, pb.chain);
    assert_string_equal(got.key, pb.key);
    assert_int_equal(got.token, lb->token);
    storage_pair_clear(&got);
    /* A's release does not free B's lease */
    storage_call(a, lease_release, la);
    assert_int_equal(storage_call(b, lease_renew, lb, &e), 0);
    assert_int_equal(storage_call(b, state_put, lb, &ref, j, &e), 0);
    /* an expired lease not granted again is still renewed */
    assert_int_equal(store_pg_test_expire_lease(b, ref.id), 0);
    assert_int_equal(storage_call(b, lease_renew, lb, &e), 0);
    storage_call(b, lease_release, lb);
    json_object_put(j);
    free_pair(&pa);
    free_pair(&pb);
    a->ops->free(a);
    b->ops->free(b);
#else
    (void)state;
    skip();
#endif
}

static void test_pg_events_acks(void **state)
{
    struct storage *a = NULL, *b = NULL;
    struct storage_lease *l = NULL;
    struct storage_ref ref;
    struct pair p;
    struct evlog ev;
    const char *keys[] = {"tok-2"};
    struct ac_error e;
    char sql[256];
    int64_t exp = (int64_t)time(NULL) + 600;

    (void)state;
    PG_ONLY();
    evlog_init(&ev);
    a = open_store("node-a");
    b = open_store("node-b");
    storage_call(b, set_listener, on_event, &ev);
    ref_for(&ref, names_ab, 2);
    make_pair(&p, names_ab, 2);
    assert_int_equal(storage_call(a, lease_acquire, &ref, &l, &e), 0);
    assert_int_equal(
        storage_call(a, pair_put, l, &ref, p.chain, p.chain_len, p.key, p.key_len, p.not_after, &e),
        0);
    assert_true(ev_wait(&ev, &ev.pair, 1) >= 1);
    pthread_mutex_lock(&ev.mu);
    assert_string_equal(ev.id, ref.id);
    pthread_mutex_unlock(&ev.mu);
    storage_call(a, lease_release, l);

    /* a challenge reaches B, B acknowledges, A's wait ends with 0 */
    assert_int_equal(
        storage_call(a, challenge_put, STORAGE_CH_HTTP01, "tok-2", "tok-2.thumb", exp, &e), 0);
    assert_true(ev_wait(&ev, &ev.chal_add, 1) >= 1);
    pthread_mutex_lock(&ev.mu);
    assert_string_equal(ev.key_auth, "tok-2.thumb");
    pthread_mutex_unlock(&ev.mu);
    assert_int_equal(storage_call(a, challenge_wait_acks, STORAGE_CH_HTTP01, keys, 1, WAIT_MS), 0);
    /* a node seen now that never acknowledges: the wait ends at its timeout, > 0 */
    snprintf(sql, sizeof sql,
             "INSERT INTO autocert_nodes (node, seen_at) VALUES ('ghost', now() + interval '1 "
             "hour')");
    pg_sql(C.db, sql);
    assert_true(storage_call(a, challenge_wait_acks, STORAGE_CH_HTTP01, keys, 1, 300) > 0);
    /* removal reaches B too */
    assert_int_equal(storage_call(a, challenge_del, STORAGE_CH_HTTP01, "tok-2", &e), 0);
    assert_true(ev_wait(&ev, &ev.chal_del, 1) >= 1);
    free_pair(&p);
    a->ops->free(a);
    b->ops->free(b);
}

/* The bytes of one column of one row as text (hex for bytea). */
static char *pg_value(const char *sql)
{
    PGconn *c = pg_raw(C.db);
    PGresult *r = PQexec(c, sql);
    char *v;

    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static void put_one_pair(struct storage *st, struct pair *p)
{
    struct storage_lease *l = NULL;
    struct storage_ref ref;
    struct ac_error e;

    ref_for(&ref, names_ab, 2);
    make_pair(p, names_ab, 2);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
    assert_int_equal(storage_call(st, pair_put, l, &ref, p->chain, p->chain_len, p->key, p->key_len,
                                  p->not_after, &e),
                     0);
    storage_call(st, lease_release, l);
}

static void test_pg_encrypted(void **state)
{
    struct storage *st;
    struct crypto_key *k = NULL;
    struct pair p;
    struct ac_error e;
    char *v, path[600];
    bool created = false;

    (void)state;
    PG_ONLY();
    st = open_store("node-a");
    put_one_pair(st, &p);
    snprintf(path, sizeof path, "%s/acme/account.key", C.dir);
    assert_int_equal(storage_call(st, account_key_load, path, &k, &created, &e), 0);
    assert_true(created);
    /* the chain is there in clear; the keys are not (checked as text too) */
    v = pg_value("SELECT convert_from(chain, 'UTF8') FROM autocert_sets");
    assert_non_null(strstr(v, "BEGIN CERTIFICATE"));
    free(v);
    v = pg_value("SELECT position('PRIVATE KEY'::bytea IN key_ct) || '/' || "
                 "position('-----'::bytea IN key_ct) || '/' || length(key_ct) "
                 "FROM autocert_sets");
    assert_int_equal(strncmp(v, "0/0/", 4), 0);
    assert_true(strtol(v + 4, NULL, 10) == (long)p.key_len + 12 + 16);
    free(v);
    v = pg_value("SELECT position('PRIVATE KEY'::bytea IN key_ct) FROM autocert_accounts");
    assert_string_equal(v, "0");
    free(v);
    crypto_key_free(k);
    free_pair(&p);
    st->ops->free(st);
}

static void test_pg_wrong_key_rekey(void **state)
{
    struct storage *st = NULL;
    struct store_pg_params prm;
    unsigned char other[STORE_PG_KEY_LEN], newkey[STORE_PG_KEY_LEN];
    struct storage_ref ref;
    struct storage_pair got;
    struct pair p;
    struct ac_error e;
    char *before, *after;
    const char *q = "SELECT encode(key_ct, 'hex') || (SELECT v FROM autocert_meta WHERE k = "
                    "'key_check') FROM autocert_sets";

    (void)state;
    PG_ONLY();
    st = open_store("node-a");
    put_one_pair(st, &p);
    st->ops->free(st);
    before = pg_value(q);
    gnutls_rnd(GNUTLS_RND_RANDOM, other, sizeof other);
    pg_params_for(&prm, "node-x", other);
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_KEY);
    assert_non_null(strstr(e.message, "encryption_key"));
    after = pg_value(q);
    assert_string_equal(before, after);
    free(after);
    /* rekey with a wrong old key changes nothing */
    gnutls_rnd(GNUTLS_RND_RANDOM, newkey, sizeof newkey);
    assert_int_equal(store_pg_rekey(&prm, newkey, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_KEY);
    after = pg_value(q);
    assert_string_equal(before, after);
    free(after);
    /* rekey: the new key opens it, the old does not */
    pg_params_for(&prm, "node-x", C.enc_key);
    if (store_pg_rekey(&prm, newkey, &e) != 0)
        fail_msg("rekey: %s", e.message);
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_KEY);
    pg_params_for(&prm, "node-x", newkey);
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), 0);
    ref_for(&ref, names_ab, 2);
    assert_int_equal(storage_call(st, pair_get, &ref, &got, &e), 0);
    assert_string_equal(got.key, p.key);
    storage_pair_clear(&got);
    st->ops->free(st);
    free(before);
    free_pair(&p);
}

static void test_pg_rekey_while_running(void **state)
{
    struct storage *st = NULL;
    struct store_pg_params prm;
    unsigned char newkey[STORE_PG_KEY_LEN];
    struct storage_lease *l = NULL;
    struct storage_ref ref;
    struct pair p;
    struct ac_error e;

    (void)state;
    PG_ONLY();
    st = open_store("node-a");
    ref_for(&ref, names_ab, 2);
    make_pair(&p, names_ab, 2);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
    gnutls_rnd(GNUTLS_RND_RANDOM, newkey, sizeof newkey);
    pg_params_for(&prm, "admin", C.enc_key);
    assert_int_equal(store_pg_rekey(&prm, newkey, &e), 0);
    /* the running node's key no longer matches: a key write is refused */
    assert_int_equal(storage_call(st, pair_put, l, &ref, p.chain, p.chain_len, p.key, p.key_len,
                                  p.not_after, &e),
                     -1);
    assert_string_equal(e.kind, AC_ERR_STORE_KEY);
    free_pair(&p);
    storage_call(st, lease_release, l);
    st->ops->free(st);
}

static void test_pg_schema_newer(void **state)
{
    struct storage *st = NULL;
    struct store_pg_params prm;
    struct ac_error e;

    (void)state;
    PG_ONLY();
    st = open_store("node-a");
    st->ops->free(st);
    pg_sql(C.db, "UPDATE autocert_meta SET v = '999' WHERE k = 'schema_version'");
    pg_params_for(&prm, "node-a", C.enc_key);
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_SCHEMA);
    assert_non_null(strstr(e.message, "newer"));
    prm.migrate = false;
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_SCHEMA);
    assert_int_equal(store_pg_migrate_schema(&prm, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_SCHEMA);
}

static void test_pg_schema_dml_only(void **state)
{
    struct storage *st = NULL;
    struct store_pg_params prm;
    struct ac_error e;

    (void)state;
    PG_ONLY();
    pg_params_for(&prm, "node-a", C.enc_key);
    prm.migrate = false;
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_SCHEMA);
    assert_non_null(strstr(e.message, "migrate-schema"));
    if (store_pg_migrate_schema(&prm, &e) != 0)
        fail_msg("migrate-schema: %s", e.message);
    assert_int_equal(store_pg_migrate_schema(&prm, &e), 0); /* idempotent */
    if (store_pg_open_wait(&prm, WAIT_MS, &st, &e) != 0)
        fail_msg("open after migrate-schema: %s", e.message);
    st->ops->free(st);

    /* a node role with DML grants only (README's grants) runs, migrate on or off */
    char sql[1024], url[1200], role[64];
    const char *at = strchr(pg_url, '@');
    snprintf(role, sizeof role, "node_%s", C.db);
    snprintf(sql, sizeof sql,
             "CREATE ROLE %s LOGIN; GRANT CONNECT ON DATABASE %s TO %s; "
             "GRANT USAGE ON SCHEMA public TO %s; "
             "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s; "
             "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %s",
             role, C.db, role, role, role, role);
    pg_sql(C.db, sql);
    assert_non_null(at);
    snprintf(url, sizeof url, "postgresql://%s%s", role, at);
    snprintf(url + strlen(url) - strlen(strrchr(url, '/')), sizeof url - strlen(url), "/%s", C.db);
    for (int migrate = 0; migrate < 2; migrate++) {
        struct storage_lease *l = NULL;
        struct storage_ref ref;
        json_object *j = json_object_new_object();
        struct pair p;

        pg_params_for(&prm, "node-dml", C.enc_key);
        prm.url = url;
        prm.migrate = migrate == 1;
        if (store_pg_open_wait(&prm, WAIT_MS, &st, &e) != 0)
            fail_msg("open as %s (migrate %d): %s", role, migrate, e.message);
        ref_for(&ref, names_ab, 2);
        make_pair(&p, names_ab, 2);
        assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
        if (storage_call(st, pair_put, l, &ref, p.chain, p.chain_len, p.key, p.key_len, p.not_after,
                         &e) != 0 ||
            storage_call(st, state_put, l, &ref, j, &e) != 0 ||
            storage_call(st, challenge_put, STORAGE_CH_ALPN01, "a.example.test", "x",
                         (int64_t)time(NULL) + 60, &e) != 0)
            fail_msg("as %s: %s", role, e.message);
        storage_call(st, lease_release, l);
        json_object_put(j);
        free_pair(&p);
        st->ops->free(st);
    }
    /* and may not create the schema: a fresh database is refused with the remedy */
    fresh_db();
    snprintf(sql, sizeof sql, "GRANT CONNECT ON DATABASE %s TO %s", C.db, role);
    pg_sql(C.db, sql);
    snprintf(url + strlen(url) - strlen(strrchr(url, '/')), sizeof url - strlen(url), "/%s", C.db);
    pg_params_for(&prm, "node-dml", C.enc_key);
    prm.url = url;
    assert_int_equal(store_pg_open_wait(&prm, WAIT_MS, &st, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_SCHEMA);
    assert_non_null(strstr(e.message, "migrate-schema"));
}

struct open_arg {
    int rc;
    struct storage *st;
    char msg[AC_ERROR_MESSAGE_MAX];
    pthread_barrier_t *bar;
};

static void *open_thread(void *arg)
{
    struct open_arg *o = arg;
    struct store_pg_params prm;
    struct ac_error e;

    pg_params_for(&prm, "racer", C.enc_key);
    pthread_barrier_wait(o->bar);
    o->rc = store_pg_open_wait(&prm, WAIT_MS, &o->st, &e);
    if (o->rc != 0)
        snprintf(o->msg, sizeof o->msg, "%s", e.message);
    return NULL;
}

static void test_pg_schema_race(void **state)
{
    (void)state;
    PG_ONLY();
    for (int round = 0; round < 4; round++) {
        struct open_arg o[3];
        pthread_t th[3];
        pthread_barrier_t bar;

        if (round > 0)
            fresh_db();
        pthread_barrier_init(&bar, NULL, 3);
        for (int i = 0; i < 3; i++) {
            memset(&o[i], 0, sizeof o[i]);
            o[i].bar = &bar;
            assert_int_equal(pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
        }
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        for (int i = 0; i < 3; i++) {
            if (o[i].rc != 0)
                fail_msg("round %d store %d: %s", round, i, o[i].msg);
            o[i].st->ops->free(o[i].st);
        }
    }
}

/* Waits (bounded) until is_up equals want. */
static bool wait_up(struct storage *st, bool want)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        if (st->ops->is_up(st) == want)
            return true;
        usleep(20000);
    }
    return false;
}

static void test_pg_down_and_back(void **state)
{
    const char *stop = getenv("AUTOCERT_TEST_PG_STOP");
    const char *start = getenv("AUTOCERT_TEST_PG_START");
    struct storage *st;
    struct storage_ref ref;
    struct storage_pair got;
    struct storage_lease *l = NULL;
    struct evlog ev;
    struct ac_error e;
    char desc[AC_ERROR_MESSAGE_MAX];
    int resync;

    (void)state;
    PG_ONLY();
    if (stop == NULL || start == NULL)
        skip();
    evlog_init(&ev);
    st = open_store("node-a");
    storage_call(st, set_listener, on_event, &ev);
    ref_for(&ref, names_ab, 2);
    pthread_mutex_lock(&ev.mu);
    resync = ev.resync;
    pthread_mutex_unlock(&ev.mu);
    assert_int_equal(system(stop), 0);
    assert_true(wait_up(st, false));
    assert_true(ev_wait(&ev, &ev.down, 1) >= 1);
    assert_int_equal(storage_call(st, pair_get, &ref, &got, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_DOWN);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_DOWN);
    store_pg_describe(st, desc, sizeof desc);
    assert_int_equal(strncmp(desc, "connecting: ", 12), 0);
    assert_int_equal(system(start), 0);
    assert_true(ev_wait(&ev, &ev.resync, resync + 1) >= resync + 1);
    assert_true(wait_up(st, true));
    assert_int_equal(storage_call(st, pair_get, &ref, &got, &e), 0);
    assert_null(got.chain);
    store_pg_describe(st, desc, sizeof desc);
    assert_string_equal(desc, "connected");
    st->ops->free(st);
}

static void test_pg_params(void **state)
{
    struct store_pg_params prm;
    unsigned char key[STORE_PG_KEY_LEN];
    struct storage *st = NULL;
    struct ac_error e;

    (void)state;
    assert_int_equal(store_pg_parse_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                                        "store.encryption_key", key, &e),
                     0);
    assert_int_equal(key[31], 31);
    assert_int_equal(store_pg_parse_key("c2hvcnQ=", "store.encryption_key", key, &e), -1);
    assert_non_null(strstr(e.message, "store.encryption_key"));
    assert_null(strstr(e.message, "c2hvcnQ"));
    assert_int_equal(store_pg_parse_key("!!!", "store.encryption_key", key, &e), -1);
    /* a bad URL is refused without quoting it (it may hold a password) */
    pg_params_for(&prm, "n", key);
    prm.url = "postgresql://u:s3cret@h:notaport/x?bogus=1";
    assert_int_equal(store_pg_open(&prm, &st, &e), -1);
    assert_null(strstr(e.message, "s3cret"));
    prm.url = "postgresql://u:s3cret@127.0.0.1:1/x";
    prm.lease_ttl_s = 2;
    assert_int_equal(store_pg_open(&prm, &st, &e), -1);
    assert_non_null(strstr(e.message, "lease_ttl"));
    /* an unreachable database: open returns at once, operations fail at once */
    prm.lease_ttl_s = 0;
    assert_int_equal(store_pg_open(&prm, &st, &e), 0);
    assert_false(st->ops->is_up(st));
    struct storage_ref ref;
    struct storage_pair got;
    ref_for(&ref, names_ab, 2);
    assert_int_equal(storage_call(st, pair_get, &ref, &got, &e), -1);
    assert_string_equal(e.kind, AC_ERR_STORE_DOWN);
    assert_null(strstr(e.message, "s3cret"));
    st->ops->free(st);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_fencing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_events_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_encrypted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_wrong_key_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_rekey_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_schema_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_schema_dml_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_schema_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_down_and_back, setup, teardown),
    };

    pg_url = getenv("AUTOCERT_TEST_PG_URL");
    if (pg_url != NULL && (pg_url[0] == '\0' || strrchr(pg_url, '/') == NULL))
        pg_url = NULL;
    crypto_init();
    ac_log_set_level(AC_LOG_ERROR);
    return cmocka_run_group_tests_name(
        pg_url != NULL ? "storage_pg (postgresql)" : "storage_pg (files)", tests, NULL, NULL);
}
