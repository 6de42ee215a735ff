/* test_budget_concurrency.c - a budget state file shared by two engines
 * ("processes": each its own lc_sched and mutex) whose threads charge and
 * write at once, as the workers of a one-off CLI run and a daemon's scheduler
 * do (lc_sched_charge, lc_sched_save): every charge is counted exactly once
 * in the file, whichever thread wrote it, and both engines read the sum
 * back. Run under TSan too (label "concurrency"). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "budget.h"
#include "lifecycle_priv.h"
#include "store.h"

#define T0 1700000000LL
#define ID "https://ca.test/dir|key:conc"
#define THREADS_A 4
#define THREADS_B 2
#define CHARGES 60
/* 10800 orders per 3 h: one token per second, so n charges at T0 put the
 * bucket's arrival time at T0 + n seconds */
#define CAP 10800

struct eng {
    struct lc_sched q;
    pthread_mutex_t mu;
    struct lc_ca_account *a;
    struct acset s;
    char *dom[1];
};

static void eng_open(struct eng *g, const char *path)
{
    struct budget_limits lim = {CAP, 0};

    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    g->a = lc_sched_account(&g->q, ID, &lim, path);
    assert_non_null(g->a);
    g->dom[0] = "a.example.com";
    g->s.cfg.name = "a";
    g->s.cfg.domains = g->dom;
    g->s.cfg.domains_count = 1;
    g->s.managed = true;
    g->s.rec.acct = g->a;
}

static void *charger(void *arg)
{
    struct eng *g = arg;

    for (int i = 0; i < CHARGES; i++) {
        pthread_mutex_lock(&g->mu);
        lc_sched_charge(&g->q, &g->s, false, T0);
        pthread_mutex_unlock(&g->mu);
        lc_sched_save(&g->q, &g->mu, T0, NULL, i % 7 == 0);
    }
    return NULL;
}

static int64_t file_tat_s(const char *path)
{
    struct budget_limits lim = {CAP, 0};
    struct budget *b = budget_new(ID, &lim);
    struct ac_error e;
    json_object *j, *v;
    int64_t t;

    ac_error_clear(&e);
    assert_int_equal(budget_load(b, path, &e), 0);
    j = budget_to_json(b, T0);
    assert_true(json_object_object_get_ex(j, "orders_tat_ms", &v));
    t = json_object_get_int64(v) / 1000;
    json_object_put(j);
    budget_free(b);
    return t;
}

static int64_t eng_tat_s(struct eng *g)
{
    json_object *j, *v;
    int64_t t;

    pthread_mutex_lock(&g->mu);
    j = budget_to_json(g->a->b, T0);
    pthread_mutex_unlock(&g->mu);
    assert_true(json_object_object_get_ex(j, "orders_tat_ms", &v));
    t = json_object_get_int64(v) / 1000;
    json_object_put(j);
    return t;
}

static void test_two_engines_threads_sum(void **state)
{
    struct eng a, b;
    pthread_t th[THREADS_A + THREADS_B];
    char dir[] = "/tmp/test_budget_conc_XXXXXX", key[128], path[STORE_PATH_MAX],
         lock[STORE_PATH_MAX + 8];
    int64_t want = T0 + (int64_t)(THREADS_A + THREADS_B) * CHARGES;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof key, "%s/acme.key", dir);
    assert_int_equal(budget_state_path(key, ID, path, sizeof path), 0);
    eng_open(&a, path);
    eng_open(&b, path);
    for (int i = 0; i < THREADS_A + THREADS_B; i++)
        assert_int_equal(pthread_create(&th[i], NULL, charger, i < THREADS_A ? &a : &b), 0);
    for (int i = 0; i < THREADS_A + THREADS_B; i++)
        pthread_join(th[i], NULL);
    /* the engines' stops: what a skipped save left */
    lc_sched_save(&a.q, &a.mu, T0, NULL, false);
    lc_sched_save(&b.q, &b.mu, T0, NULL, false);
    assert_int_equal(a.a->npend, 0);
    assert_int_equal(b.a->npend, 0);
    assert_int_equal(file_tat_s(path), want);
    /* each reads the other's last charges back */
    lc_sched_save(&a.q, &a.mu, T0, NULL, true);
    lc_sched_save(&b.q, &b.mu, T0, NULL, true);
    assert_int_equal(eng_tat_s(&a), want);
    assert_int_equal(eng_tat_s(&b), want);
    assert_int_equal(file_tat_s(path), want);
    lc_sched_free(&a.q);
    lc_sched_free(&b.q);
    pthread_mutex_destroy(&a.mu);
    pthread_mutex_destroy(&b.mu);
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(path);
    unlink(lock);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_engines_threads_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
