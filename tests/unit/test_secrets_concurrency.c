/*
 * test_secrets_concurrency.c - the secret registry used from many threads
 * (run under TSan with the "concurrency" label): scrubbing threads (directly,
 * through ac_error_set and through ac_log) while another thread registers and
 * removes groups, as a reload does. A value registered for the whole test is
 * never seen in any output.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "log.h"
#include "secrets.h"

#define STEADY "steady-secret-0123456789"
#define THREADS 4
#define ROUNDS 2000

static int owner_steady, owner_churn;
static atomic_bool stop;
static atomic_int leaks;

static void sink(enum ac_log_level level, const char *line, void *arg)
{
    (void)level;
    (void)arg;
    if (strstr(line, "0123456789") != NULL)
        atomic_fetch_add(&leaks, 1);
}

static void *scrubber(void *arg)
{
    char out[512];
    struct ac_error e;
    long id = (long)(intptr_t)arg;

    for (int i = 0; i < ROUNDS; i++) {
        secrets_scrub(out, sizeof out, "x " STEADY " y churn-value-abcdef", 43);
        if (strstr(out, STEADY) != NULL)
            atomic_fetch_add(&leaks, 1);
        ac_error_set(&e, AC_ERR_DNS_PROVIDER, "t%ld token=%s", id, "steady%2Dsecret-0123456789");
        if (strstr(e.message, "0123456789") != NULL)
            atomic_fetch_add(&leaks, 1);
        if (i % 50 == 0)
            ac_warn("main", "thread %ld round %d: %s", id, i, STEADY);
    }
    return NULL;
}

static void *churner(void *arg)
{
    const char *v[] = {"churn-value-abcdef", "another-churned-one"};

    (void)arg;
    while (!atomic_load(&stop)) {
        assert_int_equal(secrets_register(&owner_churn, v, 2), 0);
        secrets_unregister(&owner_churn);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    const char *steady[] = {STEADY};
    pthread_t t[THREADS], c;

    (void)state;
    ac_log_set_sink(sink, NULL);
    assert_int_equal(secrets_register(&owner_steady, steady, 1), 0);
    assert_int_equal(pthread_create(&c, NULL, churner, NULL), 0);
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, scrubber, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, true);
    pthread_join(c, NULL);
    assert_int_equal(atomic_load(&leaks), 0);
    assert_int_equal(secrets_count(), 1);
    secrets_unregister(&owner_steady);
    assert_int_equal(secrets_count(), 0);
    ac_log_set_sink(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
