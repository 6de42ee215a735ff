/* test_storage.c - one storage suite, two backends (storage.h). Without
 * AUTOCERT_TEST_PG_URL the cases run against the file store in a mkdtemp
 * directory (unit.test_storage); with it (integration.test_storage_pg, whose
 * wrapper starts a cluster of its own) against the PostgreSQL store, a fresh
 * database per case. Both: the pair round-trip with not_after and names,
 * names_differ, a held lease refused naming its holder, state and failure
 * marker round-trips, one account key when two stores create it at once,
 * budget updates from 4 threads losing none, challenge put/get/del. The
 * PostgreSQL store's own cases: test_storage_pg.c. */
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

/* ---- cases, both backends ---- */

static void test_pair_roundtrip(void **state)
{
    struct storage *st = open_store("node-a");
    struct storage_lease *l = NULL;
    struct storage_ref ref;
    struct storage_pair got;
    struct pair p;
    struct ac_error e;

    (void)state;
    ref_for(&ref, names_ab, 2);
    assert_int_equal(strlen(ref.id), 12);
    assert_int_equal(storage_call(st, pair_get, &ref, &got, &e), 0);
    assert_null(got.chain);
    make_pair(&p, names_ab, 2);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
    if (storage_call(st, pair_put, l, &ref, p.chain, p.chain_len, p.key, p.key_len, p.not_after,
                     &e) != 0)
        fail_msg("pair_put: %s", e.message);
    assert_int_equal(storage_call(st, pair_get, &ref, &got, &e), 0);
    assert_non_null(got.chain);
    assert_int_equal(got.chain_len, p.chain_len);
    assert_memory_equal(got.chain, p.chain, p.chain_len);
    assert_int_equal(got.key_len, p.key_len);
    assert_string_equal(got.key, p.key);
    assert_int_equal(got.not_after, p.not_after);
    assert_false(got.names_differ);
    if (pg_url != NULL)
        assert_int_equal(got.token, l->token);
    storage_pair_clear(&got);
    storage_call(st, lease_release, l);
    free_pair(&p);
    st->ops->free(st);
}

static void test_names_differ(void **state)
{
    static const char *same[] = {"B.Example.Test.", "a.example.test"};
    static const char *other[] = {"a.example.test", "c.example.test"};
    static const char *fewer[] = {"a.example.test"};
    struct storage *st = open_store("node-a");
    struct storage_lease *l = NULL;
    struct storage_ref ref, r2;
    struct storage_pair got;
    struct pair p;
    struct ac_error e;

    (void)state;
    ref_for(&ref, names_ab, 2);
    make_pair(&p, names_ab, 2);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
    assert_int_equal(storage_call(st, pair_put, l, &ref, p.chain, p.chain_len, p.key, p.key_len,
                                  p.not_after, &e),
                     0);
    ref_for(&r2, same, 2);
    assert_int_equal(storage_call(st, pair_get, &r2, &got, &e), 0);
    assert_false(got.names_differ);
    storage_pair_clear(&got);
    ref_for(&r2, other, 2);
    assert_int_equal(storage_call(st, pair_get, &r2, &got, &e), 0);
    assert_non_null(got.chain);
    assert_true(got.names_differ);
    storage_pair_clear(&got);
    ref_for(&r2, fewer, 1);
    assert_int_equal(storage_call(st, pair_get, &r2, &got, &e), 0);
    assert_true(got.names_differ);
    storage_pair_clear(&got);
    storage_call(st, lease_release, l);
    free_pair(&p);
    st->ops->free(st);
}

static void test_lease_held(void **state)
{
    struct storage *st = open_store("node-a");
    struct storage_lease *l = NULL, *l2 = NULL;
    struct storage_ref ref;
    struct ac_error e;
    char holder[128];

    (void)state;
    ref_for(&ref, names_ab, 2);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l2, &e), -1);
    assert_string_equal(e.kind, AC_ERR_LOCKED);
    assert_string_equal(e.kind, AUTOCERT_E_LOCKED);
    assert_non_null(strstr(e.message, pg_url != NULL ? "node-a" : "pid"));
    assert_int_equal(storage_call(st, lease_holder, &ref, holder, sizeof holder, &e), 0);
    assert_string_equal(holder, pg_url != NULL ? "node-a" : "");
    assert_int_equal(storage_call(st, lease_renew, l, &e), 0);
    storage_call(st, lease_release, l);
    assert_int_equal(storage_call(st, lease_holder, &ref, holder, sizeof holder, &e), 0);
    assert_string_equal(holder, "");
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l2, &e), 0);
    storage_call(st, lease_release, l2);
    storage_call(st, lease_release, NULL);
    st->ops->free(st);
}

static void test_state_marker(void **state)
{
    struct storage *st = open_store("node-a");
    struct storage_lease *l = NULL;
    struct storage_ref ref;
    json_object *j = NULL, *got = NULL;
    struct ac_error e;
    int64_t t = 0;

    (void)state;
    ref_for(&ref, names_ab, 2);
    assert_int_equal(storage_call(st, state_get, &ref, &got, &e), 0);
    assert_null(got);
    j = json_tokener_parse("{\"next\":1234,\"window\":{\"a\":\"b\"}}");
    /* without a lease (the state is also written outside orders) */
    if (storage_call(st, state_put, NULL, &ref, j, &e) != 0)
        fail_msg("state_put: %s", e.message);
    assert_int_equal(storage_call(st, state_get, &ref, &got, &e), 0);
    assert_non_null(got);
    assert_true(json_object_equal(j, got));
    json_object_put(got);
    assert_int_equal(storage_call(st, failure_get, &ref, &t), -1);
    assert_int_equal(storage_call(st, lease_acquire, &ref, &l, &e), 0);
    assert_int_equal(storage_call(st, state_put, l, &ref, j, &e), 0);
    assert_int_equal(storage_call(st, failure_put, l, &ref, 1700000000, &e), 0);
    assert_int_equal(storage_call(st, failure_get, &ref, &t), 0);
    assert_int_equal(t, 1700000000);
    assert_int_equal(storage_call(st, failure_clear, l, &ref, &e), 0);
    assert_int_equal(storage_call(st, failure_get, &ref, &t), -1);
    assert_int_equal(storage_call(st, failure_clear, l, &ref, &e), 0);
    storage_call(st, lease_release, l);
    json_object_put(j);
    st->ops->free(st);
}

struct acct_arg {
    struct storage *st;
    const char *path;
    struct crypto_key *k;
    bool created;
    int rc;
    char msg[AC_ERROR_MESSAGE_MAX];
};

static void *acct_thread(void *arg)
{
    struct acct_arg *a = arg;
    struct ac_error e;

    a->rc = storage_call(a->st, account_key_load, a->path, &a->k, &a->created, &e);
    if (a->rc != 0)
        snprintf(a->msg, sizeof a->msg, "%s", e.message);
    return NULL;
}

static void test_account_key_once(void **state)
{
    struct acct_arg a[2];
    pthread_t th[2];
    char path[600];
    unsigned char *d0 = NULL, *d1 = NULL;
    size_t n0 = 0, n1 = 0;
    struct ac_error e;

    (void)state;
    snprintf(path, sizeof path, "%s/acme/account.key", C.dir);
    for (int i = 0; i < 2; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].st = open_store(i == 0 ? "node-a" : "node-b");
        a[i].path = path;
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, acct_thread, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        if (a[i].rc != 0)
            fail_msg("account_key_load: %s", a[i].msg);
    assert_true(a[0].created != a[1].created);
    assert_int_equal(crypto_key_export_pkcs8_der(a[0].k, &d0, &n0, &e), 0);
    assert_int_equal(crypto_key_export_pkcs8_der(a[1].k, &d1, &n1, &e), 0);
    assert_int_equal(n0, n1);
    assert_memory_equal(d0, d1, n0);
    gnutls_free(d0);
    gnutls_free(d1);
    /* loaded again: the same key, not created */
    crypto_key_free(a[1].k);
    a[1].k = NULL;
    acct_thread(&a[1]);
    assert_int_equal(a[1].rc, 0);
    assert_false(a[1].created);
    for (int i = 0; i < 2; i++) {
        crypto_key_free(a[i].k);
        a[i].st->ops->free(a[i].st);
    }
}

static char *merge_inc(const char *stored, void *arg)
{
    char *out = malloc(32);
    (void)arg;
    snprintf(out, 32, "%ld", stored != NULL ? strtol(stored, NULL, 10) + 1 : 1L);
    return out;
}

static char *merge_keep(const char *stored, void *arg)
{
    (void)stored;
    *(int *)arg += 1;
    return NULL;
}

struct budget_arg {
    struct storage *st;
    int fails;
};

static void *budget_thread(void *arg)
{
    struct budget_arg *b = arg;
    struct ac_error e;

    for (int i = 0; i < 50; i++)
        if (storage_call(b->st, budget_update, C.budget, merge_inc, NULL, &e) != 0)
            b->fails++;
    return NULL;
}

static char *merge_read(const char *stored, void *arg)
{
    snprintf(arg, 32, "%s", stored != NULL ? stored : "(none)");
    return NULL;
}

static void test_budget_threads(void **state)
{
    struct storage *st[2] = {open_store("node-a"), open_store("node-b")};
    struct budget_arg b[4];
    pthread_t th[4];
    struct ac_error e;
    char seen[32];
    int calls = 0;

    (void)state;
    for (int i = 0; i < 4; i++) {
        b[i].st = st[i % 2];
        b[i].fails = 0;
        assert_int_equal(pthread_create(&th[i], NULL, budget_thread, &b[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(b[i].fails, 0);
    }
    assert_int_equal(storage_call(st[0], budget_update, C.budget, merge_read, seen, &e), 0);
    assert_string_equal(seen, "200");
    /* merge returning NULL leaves it */
    assert_int_equal(storage_call(st[0], budget_update, C.budget, merge_keep, &calls, &e), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(storage_call(st[1], budget_update, C.budget, merge_read, seen, &e), 0);
    assert_string_equal(seen, "200");
    for (int i = 0; i < 2; i++)
        st[i]->ops->free(st[i]);
}

static void test_challenges(void **state)
{
    struct storage *st = open_store("node-a");
    const char *keys[] = {"tok-1"};
    struct ac_error e;
    char *ka = NULL;
    int64_t exp = (int64_t)time(NULL) + 600;

    (void)state;
    assert_int_equal(
        storage_call(st, challenge_put, STORAGE_CH_HTTP01, "tok-1", "tok-1.thumb", exp, &e), 0);
    assert_int_equal(storage_call(st, challenge_ack, STORAGE_CH_HTTP01, "tok-1", &e), 0);
    assert_int_equal(storage_call(st, challenge_wait_acks, STORAGE_CH_HTTP01, keys, 1, 1000), 0);
    if (pg_url != NULL) {
        assert_int_equal(storage_call(st, challenge_get, STORAGE_CH_HTTP01, "tok-1", &ka, &e), 0);
        assert_string_equal(ka, "tok-1.thumb");
        free(ka);
        ka = NULL;
        /* kinds are apart */
        assert_int_equal(storage_call(st, challenge_get, STORAGE_CH_ALPN01, "tok-1", &ka, &e), -1);
        assert_string_equal(e.kind, AC_ERR_NOT_FOUND);
    }
    assert_int_equal(storage_call(st, challenge_del, STORAGE_CH_HTTP01, "tok-1", &e), 0);
    assert_int_equal(storage_call(st, challenge_get, STORAGE_CH_HTTP01, "tok-1", &ka, &e), -1);
    assert_string_equal(e.kind, AC_ERR_NOT_FOUND);
    assert_null(ka);
    assert_true(st->ops->is_up(st));
    st->ops->free(st);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pair_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_key_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_challenges, setup, teardown),
    };

    pg_url = getenv("AUTOCERT_TEST_PG_URL");
    if (pg_url != NULL && (pg_url[0] == '\0' || strrchr(pg_url, '/') == NULL))
        pg_url = NULL;
    crypto_init();
    ac_log_set_level(AC_LOG_ERROR);
    return cmocka_run_group_tests_name(pg_url != NULL ? "storage (postgresql)" : "storage (files)",
                                       tests, NULL, NULL);
}
