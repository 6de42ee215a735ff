/* test_renewal_scale.c - renewal at scale (issue 12) with an injected clock
 * and a fake ordering function (no network, no thread): the engine's timer
 * structure and admission (lifecycle_sched.c) driving thousands of sets
 * against per-account budgets (budget.c) and a concurrency bound; the
 * spread of renewal moments; budgets kept across a restart; forced renewals
 * passing the budget; registered domains; the due-time heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "budget.h"
#include "dueheap.h"
#include "lifecycle_priv.h"
#include "schedule.h"
#include "store.h"

#define DAY 86400
#define T0 1700000000LL
#define LIFETIME (90 * DAY)
#define ORDER_S 60 /* how long a fake order takes */

/* ---- the simulation ---------------------------------------------------------- */

struct sim {
    struct lc_sched q;
    struct lc_ca_account *acct;
    struct acset *sets;
    char (*names)[64];
    char **name_ptr;
    char (*paths)[64];
    struct lc_cert_facts *cf;
    size_t n;
    size_t conc; /* max_concurrent_orders */
    int64_t now;
    /* what happened */
    size_t running, max_running, done, starts, facts_calls, ticks, expiring;
    int64_t *finish;            /* per set: its order's end, 0 = not running */
    size_t run[LC_WORKERS_CAP]; /* the sets running now */
    int64_t *na0;               /* per set: the NotAfter it started with */
    int64_t *start_at;          /* per set: when its (first) order started, -1 none */
    int *order_count;           /* per set */
    bool *bypass;               /* per set: its order passed the budget */
    size_t *log;                /* sets in start order */
    int64_t *log_t;
    bool *log_bypass;
};

static size_t idx_of(struct sim *sm, const struct acset *s)
{
    return (size_t)(s - sm->sets);
}

static void sim_facts(void *arg, struct acset *s, struct lc_cert_facts *cf)
{
    struct sim *sm = arg;

    sm->facts_calls++;
    *cf = sm->cf[idx_of(sm, s)];
}

static void sim_expiring(void *arg, struct acset *s, const struct lc_cert_facts *cf)
{
    struct sim *sm = arg;

    (void)s;
    (void)cf;
    sm->expiring++;
}

/* What the engine's worker does: the order runs (charged when the scheduler
 * did not), for ORDER_S seconds. */
static void sim_start(void *arg, struct acset *s)
{
    struct sim *sm = arg;
    size_t i = idx_of(sm, s);
    const struct lc_cert_facts *cf = &sm->cf[i];

    assert_false(s->rec.running);
    s->rec.running = true;
    lc_sched_charge(&sm->q, s, !(cf->present && !cf->names_differ), sm->now);
    sm->finish[i] = sm->now + ORDER_S;
    if (sm->start_at[i] < 0)
        sm->start_at[i] = sm->now;
    sm->order_count[i]++;
    sm->bypass[i] = s->rec.bypassed;
    sm->log[sm->starts] = i;
    sm->log_t[sm->starts] = sm->now;
    sm->log_bypass[sm->starts] = s->rec.bypassed && !s->rec.force_pending;
    sm->starts++;
    s->rec.force_pending = false;
    s->rec.bypassed = false;
    assert_true(sm->running < LC_WORKERS_CAP);
    sm->run[sm->running++] = i;
    if (sm->running > sm->max_running)
        sm->max_running = sm->running;
}

static const struct lc_sched_ops sim_ops = {sim_facts, sim_expiring, sim_start, NULL};

/* n sets, one name each, under `domains` registered domains, each holding a
 * certificate issued at nb (present) or none. */
static void sim_init(struct sim *sm, size_t n, size_t domains, bool present, int64_t nb,
                     const struct budget_limits *lim, size_t conc)
{
    memset(sm, 0, sizeof *sm);
    sm->n = n;
    sm->conc = conc;
    sm->sets = calloc(n, sizeof *sm->sets);
    sm->names = calloc(n, sizeof *sm->names);
    sm->name_ptr = calloc(n, sizeof *sm->name_ptr);
    sm->paths = calloc(n, sizeof *sm->paths);
    sm->cf = calloc(n, sizeof *sm->cf);
    sm->finish = calloc(n, sizeof *sm->finish);
    sm->na0 = calloc(n, sizeof *sm->na0);
    sm->start_at = calloc(n, sizeof *sm->start_at);
    sm->order_count = calloc(n, sizeof *sm->order_count);
    sm->bypass = calloc(n, sizeof *sm->bypass);
    sm->log = calloc(4 * n, sizeof *sm->log);
    sm->log_t = calloc(4 * n, sizeof *sm->log_t);
    sm->log_bypass = calloc(4 * n, sizeof *sm->log_bypass);
    assert_non_null(sm->log_bypass);
    sm->acct = lc_sched_account(&sm->q, "https://ca.test/dir|key:/x/acme.key", lim, NULL);
    assert_non_null(sm->acct);
    for (size_t i = 0; i < n; i++) {
        struct acset *s = &sm->sets[i];

        snprintf(sm->names[i], sizeof sm->names[i], "h%zu.dom%zu.com", i, i % domains);
        sm->name_ptr[i] = sm->names[i];
        snprintf(sm->paths[i], sizeof sm->paths[i], "/x/%zu/cert.pem", i);
        s->cfg.name = sm->names[i];
        s->cfg.domains = &sm->name_ptr[i];
        s->cfg.domains_count = 1;
        s->cfg.cert_path = sm->paths[i];
        s->cfg.key_path = sm->paths[i];
        s->cfg.retry_min = 60;
        s->cfg.retry_max = 21600;
        s->cfg.failure_cooldown = 3600;
        s->managed = true;
        s->rec.managed = true;
        s->rec.acct = sm->acct;
        sm->start_at[i] = -1;
        if (present) {
            sm->cf[i].present = true;
            sm->cf[i].not_before = nb;
            sm->cf[i].not_after = nb + LIFETIME;
            snprintf(sm->cf[i].serial_hex, sizeof sm->cf[i].serial_hex, "%08zx", i);
        }
    }
}

static void sim_free(struct sim *sm)
{
    for (size_t i = 0; i < sm->n; i++)
        free(sm->sets[i].rec.last_error);
    lc_sched_free(&sm->q);
    free(sm->sets);
    free(sm->names);
    free(sm->name_ptr);
    free(sm->paths);
    free(sm->cf);
    free(sm->finish);
    free(sm->na0);
    free(sm->start_at);
    free(sm->order_count);
    free(sm->bypass);
    free(sm->log);
    free(sm->log_t);
    free(sm->log_bypass);
}

/* Plans and arms every set at now (the engine's resync). */
static void sim_arm_all(struct sim *sm)
{
    for (size_t i = 0; i < sm->n; i++) {
        sm->na0[i] = sm->cf[i].not_after;
        lc_plan_update(&sm->sets[i].rec, &sm->sets[i].cfg, &sm->cf[i], sm->now);
        lc_sched_arm(&sm->q, &sm->sets[i], &sm->cf[i], sm->now);
    }
}

/* Orders that end at or before now succeed: a new certificate from now. */
static void sim_finish(struct sim *sm)
{
    for (size_t k = 0; k < sm->running;) {
        size_t i = sm->run[k];
        struct acset *s = &sm->sets[i];
        if (sm->finish[i] > sm->now) {
            k++;
            continue;
        }
        sm->finish[i] = 0;
        sm->run[k] = sm->run[--sm->running];
        sm->done++;
        s->rec.running = false;
        sm->cf[i].present = true;
        sm->cf[i].names_differ = false;
        sm->cf[i].not_before = sm->now;
        sm->cf[i].not_after = sm->now + LIFETIME;
        snprintf(sm->cf[i].serial_hex, sizeof sm->cf[i].serial_hex, "%08zx-%d", i,
                 sm->order_count[i]);
        assert_true(lc_plan_success(&s->rec, &s->cfg, &sm->cf[i], sm->now, 7));
        lc_plan_update(&s->rec, &s->cfg, &sm->cf[i], sm->now);
        lc_sched_arm(&sm->q, s, &sm->cf[i], sm->now);
    }
}

/* Runs until every set renewed once (or `until`). */
static void sim_run(struct sim *sm, int64_t until)
{
    struct lc_sched_ops ops = sim_ops;

    ops.arg = sm;
    while (sm->done < sm->n && sm->now < until) {
        size_t free_slots = sm->conc - sm->running;
        int64_t next = lc_sched_tick(&sm->q, &ops, sm->now, &free_slots);

        sm->ticks++;
        for (size_t k = 0; k < sm->running; k++)
            if (sm->finish[sm->run[k]] < next)
                next = sm->finish[sm->run[k]];
        assert_true(next > sm->now); /* the engine never spins */
        if (next == INT64_MAX)
            break;
        sm->now = next;
        sim_finish(sm);
    }
}

/* The token bucket the CA keeps (capacity cap per window, refilling
 * continuously), replayed over the start log: every start that did not pass
 * the budget found a token. */
static void check_bucket(const struct sim *sm, double cap, double window)
{
    double tokens = cap;
    int64_t last = sm->starts > 0 ? sm->log_t[0] : 0;

    for (size_t k = 0; k < sm->starts; k++) {
        tokens += (double)(sm->log_t[k] - last) * cap / window;
        if (tokens > cap)
            tokens = cap;
        last = sm->log_t[k];
        if (!sm->log_bypass[k])
            assert_true(tokens >= 1.0 - 1e-6);
        tokens -= 1.0;
    }
}

/* ---- the tests ---------------------------------------------------------------- */

/* 5,000 certificates obtained together at Let's Encrypt's limits: spread
 * over the last tenth of the renewal window, renewed once each within the
 * budget and the concurrency bound, none past "expiring soon", each set
 * looked at a bounded number of times (no per-tick scan). */
static void test_5000_spread_budget_concurrency(void **state)
{
    struct budget_limits lim = {300, 50};
    struct sim sm;
    int64_t moment = T0 + LIFETIME - 30 * DAY, lo = INT64_MAX, hi = 0;
    size_t n = 5000, distinct = 0;
    (void)state;

    int64_t *r0 = calloc(n, sizeof *r0);

    sim_init(&sm, n, 100, true, T0, &lim, 8);
    sm.now = T0 + DAY;
    sim_arm_all(&sm);
    for (size_t i = 0; i < n; i++) {
        int64_t r = r0[i] = sm.sets[i].rec.renews_at;

        assert_true(r <= moment && r >= moment - 3 * DAY); /* only earlier, <= 10 % */
        lo = r < lo ? r : lo;
        hi = r > hi ? r : hi;
        if (i == 0 || r != sm.sets[i - 1].rec.renews_at)
            distinct++;
    }
    assert_true(hi - lo > 5 * DAY / 2); /* spread over the window */
    assert_true(distinct > n * 9 / 10);
    /* nothing due yet: the idle engine looks at nobody */
    {
        size_t before = sm.facts_calls;
        size_t slots = 8;
        struct lc_sched_ops ops = sim_ops;
        int64_t next;

        ops.arg = &sm;
        next = lc_sched_tick(&sm.q, &ops, sm.now, &slots);
        assert_int_equal(sm.facts_calls, before);
        assert_int_equal(next, lo);
    }
    sim_run(&sm, T0 + LIFETIME);
    assert_int_equal(sm.done, n);
    assert_true(sm.max_running <= 8);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sm.order_count[i], 1);
        /* at its own (spread) moment, give or take a wait for a slot */
        assert_true(sm.start_at[i] >= r0[i] && sm.start_at[i] <= r0[i] + 8 * ORDER_S);
        assert_true(sm.start_at[i] < schedule_expiring_at(T0, T0 + LIFETIME));
    }
    free(r0);
    check_bucket(&sm, 300, BUDGET_ORDERS_WINDOW_S);
    /* a bounded amount of work per set: no loop over all sets per wake-up */
    assert_true(sm.facts_calls < 6 * n);
    print_message("5000 sets: %zu wake-ups, %zu looks at a set, max %zu orders at once\n", sm.ticks,
                  sm.facts_calls, sm.max_running);
    sim_free(&sm);
}

/* 5,000 certificates due at once under a budget far too small: orders go
 * earliest NotAfter first, within the budget, and a set whose "expiring
 * soon" point comes passes the budget then: none is renewed later. */
static void test_5000_due_at_once_expiring_soon(void **state)
{
    struct budget_limits lim = {4, 0};
    struct sim sm;
    size_t n = 5000, bypassed = 0;
    int64_t last_na = 0;
    (void)state;

    sim_init(&sm, n, 50, true, T0, &lim, 8);
    for (size_t i = 0; i < n; i++) {
        /* NotAfter in a shuffled order (one minute apart) */
        size_t k = (i * 2654435761u) % n;

        sm.cf[i].not_after = T0 + LIFETIME + (int64_t)k * 60;
    }
    sm.now = T0 + LIFETIME - 29 * DAY; /* past every renewal moment */
    sim_arm_all(&sm);
    sim_run(&sm, T0 + 2 * LIFETIME);
    assert_int_equal(sm.done, n);
    assert_true(sm.max_running <= 8);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sm.order_count[i], 1);
        /* never later than its "expiring soon" point */
        assert_true(sm.start_at[i] <= schedule_expiring_at(T0, sm.na0[i]));
    }
    for (size_t k = 0; k < sm.starts; k++) {
        size_t i = sm.log[k];
        int64_t na = sm.na0[i];

        if (sm.log_bypass[k]) {
            bypassed++;
            continue;
        }
        assert_true(na >= last_na); /* earliest NotAfter first */
        last_na = na;
    }
    assert_true(bypassed > 0);
    assert_true(bypassed < n);
    check_bucket(&sm, 4, BUDGET_ORDERS_WINDOW_S);
    print_message("5000 due at once, 4 orders / 3 h: %zu by the budget, %zu at their "
                  "\"expiring soon\" point\n",
                  n - bypassed, bypassed);
    sim_free(&sm);
}

/* Renewals of the same names are exempt from the per-domain budget; new
 * names are held by it (Let's Encrypt's limits). */
static void test_renewals_exempt_from_domain_budget(void **state)
{
    struct budget_limits lim = {300, 50};
    struct sim sm, nw;
    int64_t t0;
    (void)state;

    /* 200 renewals under one registered domain (dom0.com) */
    sim_init(&sm, 200, 1, true, T0, &lim, 8);
    sm.now = t0 = T0 + LIFETIME - 29 * DAY;
    sim_arm_all(&sm);
    sim_run(&sm, t0 + DAY);
    assert_int_equal(sm.done, 200);
    for (size_t i = 0; i < 200; i++)
        assert_true(sm.start_at[i] <= t0 + 200 / 8 * ORDER_S); /* only the slots held it */
    sim_free(&sm);

    /* 60 first obtains under one registered domain: 50 at once, then one per
     * 7 days / 50 */
    sim_init(&nw, 60, 1, false, 0, &lim, 8);
    nw.now = t0;
    sim_arm_all(&nw);
    sim_run(&nw, t0 + 30 * DAY);
    assert_int_equal(nw.done, 60);
    {
        size_t early = 0;
        for (size_t i = 0; i < 60; i++)
            if (nw.start_at[i] < t0 + BUDGET_DOMAIN_WINDOW_S / 50)
                early++;
        assert_int_equal(early, 50);
        for (size_t k = 50; k < 60; k++)
            assert_true(nw.log_t[k] >= t0 + (int64_t)(k - 49) * (BUDGET_DOMAIN_WINDOW_S / 50));
    }
    sim_free(&nw);
}

/* A restart keeps the budget: the state file written and read back gives the
 * same moments. */
static void test_restart_keeps_budget(void **state)
{
    struct budget_limits lim = {300, 50};
    struct lc_sched a = {0}, b = {0};
    struct lc_ca_account *aa, *ba;
    char dir[] = "/tmp/test_budget_XXXXXX", key[128], path[STORE_PATH_MAX];
    const char *names[] = {"new.example.net"}, *other[] = {"x.example.org"};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int64_t now = T0, ro, rd;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof key, "%s/acme.key", dir);
    assert_int_equal(budget_state_path(key, "https://ca.test/dir|key:k", path, sizeof path), 0);
    aa = lc_sched_account(&a, "https://ca.test/dir|key:k", &lim, path);
    assert_non_null(aa);
    for (int i = 0; i < 320; i++) {
        assert_int_equal(budget_charge(aa->b, names, 1, i < 50, now + i), 0);
    }
    aa->dirty = true;
    ro = budget_ready_at(aa->b, other, 1, false, now + 400);
    rd = budget_ready_at(aa->b, names, 1, true, now + 400);
    assert_true(ro > now + 400);
    assert_true(rd > ro);
    lc_sched_save(&a, &mu, now + 400, NULL, false);
    assert_false(aa->dirty);
    lc_sched_free(&a);
    assert_int_equal(access(path, R_OK), 0);

    /* the restarted engine */
    ba = lc_sched_account(&b, "https://ca.test/dir|key:k", &lim, path);
    assert_non_null(ba);
    assert_int_equal(budget_ready_at(ba->b, other, 1, false, now + 400), ro);
    assert_int_equal(budget_ready_at(ba->b, names, 1, true, now + 400), rd);
    /* renewals (same names) are only held by the orders budget */
    assert_int_equal(budget_ready_at(ba->b, names, 1, false, now + 400), ro);
    lc_sched_free(&b);
    unlink(path);
    rmdir(dir);
}

/* A forced renewal passes the budget (and is counted in it). */
static void test_forced_bypasses_budget(void **state)
{
    struct budget_limits lim = {300, 50};
    struct sim sm;
    struct lc_sched_ops ops = sim_ops;
    size_t slots = 8;
    (void)state;

    sim_init(&sm, 3, 1, true, T0, &lim, 8);
    ops.arg = &sm;
    sm.now = T0 + LIFETIME - 29 * DAY; /* every set due */
    for (int i = 0; i < 300; i++)
        assert_int_equal(budget_charge(sm.acct->b, NULL, 0, false, sm.now), 0);
    sm.sets[1].rec.force_pending = true;
    sim_arm_all(&sm);
    (void)lc_sched_tick(&sm.q, &ops, sm.now, &slots);
    assert_int_equal(sm.starts, 1);
    assert_int_equal(sm.log[0], 1); /* only the forced one */
    assert_true(sm.sets[0].rec.wait_slot != 0);
    assert_true(sm.sets[2].rec.wait_slot != 0);
    assert_true(budget_ready_at(sm.acct->b, NULL, 0, false, sm.now) > sm.now + 36);
    sim_free(&sm);
}

/* No budget (a CA that is not Let's Encrypt): only the concurrency bound. */
static void test_no_budget_only_concurrency(void **state)
{
    struct budget_limits none;
    struct sim sm;
    (void)state;

    budget_default_limits("https://127.0.0.1:14000/dir", &none);
    assert_int_equal(none.orders_per_3h, 0);
    assert_int_equal(none.new_certs_per_domain_week, 0);
    sim_init(&sm, 400, 1, false, 0, &none, 3);
    sm.now = T0;
    sim_arm_all(&sm);
    sim_run(&sm, T0 + DAY);
    assert_int_equal(sm.done, 400);
    assert_int_equal(sm.max_running, 3);
    assert_true(sm.log_t[399] <= T0 + (400 / 3 + 1) * ORDER_S);
    sim_free(&sm);
}

static void test_defaults_and_domains(void **state)
{
    struct budget_limits l;
    char rd[300];
    (void)state;

    budget_default_limits("https://acme-v02.api.letsencrypt.org/directory", &l);
    assert_int_equal(l.orders_per_3h, 300);
    assert_int_equal(l.new_certs_per_domain_week, 50);
    budget_default_limits("https://acme-v02.api.letsencrypt.org/directory/", &l);
    assert_int_equal(l.orders_per_3h, 300);
    budget_default_limits("https://acme-staging-v02.api.letsencrypt.org/directory", &l);
    assert_int_equal(l.orders_per_3h, BUDGET_LE_STAGING_ORDERS_PER_3H);
    budget_default_limits("https://acme-v02.api.letsencrypt.org/directory-x", &l);
    assert_int_equal(l.orders_per_3h, 0);

    assert_int_equal(budget_registered_domain("www.Example.CO.UK.", rd, sizeof rd), 0);
    assert_string_equal(rd, "example.co.uk");
    assert_int_equal(budget_registered_domain("*.a.b.example.com", rd, sizeof rd), 0);
    assert_string_equal(rd, "example.com");
    assert_int_equal(budget_registered_domain("192.0.2.7", rd, sizeof rd), 0);
    assert_string_equal(rd, "192.0.2.7");
    assert_int_equal(budget_registered_domain("2001:db8:0:1:2:3:4:5", rd, sizeof rd), 0);
    assert_string_equal(rd, "2001:db8:0:1::/64");
    assert_int_equal(budget_registered_domain("com", rd, sizeof rd), 0);
    assert_string_equal(rd, "com");
    assert_int_equal(budget_registered_domain("x.y.github.io", rd, sizeof rd), 0);
    assert_string_equal(rd, "y.github.io");
    assert_int_equal(budget_registered_domain("example.com", rd, 4), -1);
}

/* Two names of one registered domain in one order count once. */
static void test_domain_counted_once_per_order(void **state)
{
    struct budget_limits lim = {0, 2};
    struct budget *b = budget_new("t", &lim);
    const char *names[] = {"a.example.com", "b.example.com", "example.com"};
    (void)state;

    assert_int_equal(budget_ready_at(b, names, 3, true, T0), T0);
    assert_int_equal(budget_charge(b, names, 3, true, T0), 0);
    assert_int_equal(budget_ready_at(b, names, 3, true, T0), T0); /* one of two used */
    assert_int_equal(budget_charge(b, names, 3, true, T0), 0);
    assert_int_equal(budget_ready_at(b, names, 3, true, T0),
                     T0 + BUDGET_DOMAIN_WINDOW_S / 2);             /* one token back */
    assert_int_equal(budget_ready_at(b, names, 3, false, T0), T0); /* renewal: exempt */
    budget_free(b);
}

/* A fleet's budget row: merging takes each bucket's later arrival time (a
 * node that learns another's state counts what that one spent), an older
 * state changes nothing, and the fleet's charges add up when each node's
 * charges are applied again on the stored state (as lc_sched_save does with
 * a shared store). */
static void test_budget_merge(void **state)
{
    struct budget_limits lim = {2, 2};
    struct budget *a = budget_new("t", &lim), *b = budget_new("t", &lim);
    struct budget *fresh = budget_new("t", &lim), *row = budget_new("t", &lim);
    const char *names[] = {"x.example.com"};
    json_object *ja, *jf, *jr;
    int64_t before;
    (void)state;

    assert_int_equal(budget_charge(a, names, 1, true, T0), 0); /* node a: two orders */
    assert_int_equal(budget_charge(a, names, 1, true, T0), 0);
    assert_int_equal(budget_ready_at(b, names, 1, true, T0), T0);
    ja = budget_to_json(a, T0);
    budget_merge_json(b, ja); /* b learns of them: none left */
    assert_true(budget_ready_at(b, names, 1, false, T0) > T0);
    assert_true(budget_ready_at(b, names, 1, true, T0) > T0);
    before = budget_ready_at(b, names, 1, true, T0);
    jf = budget_to_json(fresh, T0);
    budget_merge_json(b, jf); /* an older state */
    assert_int_equal(budget_ready_at(b, names, 1, true, T0), before);
    /* the same from the budget itself (budget_merge), both ways */
    budget_merge(fresh, a);
    assert_int_equal(budget_ready_at(fresh, names, 1, true, T0), before);
    assert_int_equal(budget_ready_at(fresh, names, 1, false, T0),
                     budget_ready_at(b, names, 1, false, T0));
    budget_merge(a, row); /* an empty one changes nothing */
    assert_int_equal(budget_ready_at(a, names, 1, true, T0), before);
    /* one order on each of two nodes, applied in turn on the stored row */
    assert_int_equal(budget_charge(row, names, 1, true, T0), 0);
    jr = budget_to_json(row, T0);
    budget_free(row);
    row = budget_new("t", &lim);
    budget_from_json(row, jr);
    assert_int_equal(budget_ready_at(row, names, 1, true, T0), T0); /* one token left */
    assert_int_equal(budget_charge(row, names, 1, true, T0), 0);
    assert_true(budget_ready_at(row, names, 1, true, T0) > T0); /* both counted */
    json_object_put(ja);
    json_object_put(jf);
    json_object_put(jr);
    budget_free(a);
    budget_free(b);
    budget_free(fresh);
    budget_free(row);
}

/* ---- budgets shared through the state file (the file store) ---- */

#define SHARED_ID "https://ca.test/dir|key:shared"

/* One process's engine on the state file at path: its account and one set
 * (name) charged to it. */
struct proc {
    struct lc_sched q;
    struct lc_ca_account *a;
    struct acset s;
    char *dom[1];
};

static void proc_open(struct proc *p, const char *path, const struct budget_limits *lim,
                      const char *name)
{
    memset(p, 0, sizeof *p);
    p->a = lc_sched_account(&p->q, SHARED_ID, lim, path);
    assert_non_null(p->a);
    p->dom[0] = (char *)name;
    p->s.cfg.name = (char *)name;
    p->s.cfg.domains = p->dom;
    p->s.cfg.domains_count = 1;
    p->s.managed = true;
    p->s.rec.acct = p->a;
}

/* k orders of p's set at now (one-off orders: the scheduler did not charge
 * them), new names or renewals. */
static void proc_charge(struct proc *p, int k, bool new_names, int64_t now)
{
    for (int i = 0; i < k; i++)
        lc_sched_charge(&p->q, &p->s, new_names, now);
}

/* The state file read by a new budget: how many orders of `cap` per 3 h are
 * left at now (counting down: ready_at moves past now when none is). */
static int orders_left(const char *path, int64_t cap, int64_t now)
{
    struct budget_limits lim = {cap, 0};
    struct budget *b = budget_new(SHARED_ID, &lim);
    struct ac_error e;
    int left = 0;

    assert_non_null(b);
    ac_error_clear(&e);
    assert_int_equal(budget_load(b, path, &e), 0);
    while (left <= cap && budget_ready_at(b, NULL, 0, false, now) <= now) {
        assert_int_equal(budget_charge(b, NULL, 0, false, now), 0);
        left++;
    }
    budget_free(b);
    return left;
}

static int orders_left_in(const struct budget *b, int64_t cap, int64_t now)
{
    json_object *j = budget_to_json(b, now);
    struct budget_limits lim = {cap, 0};
    struct budget *c = budget_new(SHARED_ID, &lim);
    int left = 0;

    assert_non_null(j);
    assert_non_null(c);
    budget_from_json(c, j);
    while (left <= cap && budget_ready_at(c, NULL, 0, false, now) <= now) {
        assert_int_equal(budget_charge(c, NULL, 0, false, now), 0);
        left++;
    }
    json_object_put(j);
    budget_free(c);
    return left;
}

static void state_file(char *dir, char *path, size_t n)
{
    char key[128];

    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof key, "%s/acme.key", dir);
    assert_int_equal(budget_state_path(key, SHARED_ID, path, n), 0);
}

static void state_file_rm(const char *dir, const char *path)
{
    char lock[STORE_PATH_MAX + 8];

    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(path);
    unlink(lock);
    assert_int_equal(rmdir(dir), 0);
}

/* Two processes on one state file (a daemon and a one-off CLI run, or two
 * daemons), charging in turn: each write applies only the writer's own
 * charges on what the file holds, so the file and both budgets count the
 * sum, whichever wrote last. */
static void test_files_budget_two_processes_sum(void **state)
{
    struct budget_limits lim = {10, 0};
    struct proc d, c;
    struct storage *st = NULL;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    char dir[] = "/tmp/test_budget_XXXXXX", path[STORE_PATH_MAX];
    struct ac_error e;
    (void)state;

    state_file(dir, path, sizeof path);
    ac_error_clear(&e);
    assert_int_equal(storage_files_new(&st, &e), 0);
    proc_open(&d, path, &lim, "a.example.com"); /* the daemon: no file yet */
    proc_open(&c, path, &lim, "b.example.com"); /* the CLI run, started before d wrote */

    proc_charge(&d, 2, false, T0);
    lc_sched_save(&d.q, &mu, T0, st, false);
    assert_int_equal(orders_left(path, 10, T0), 8);
    proc_charge(&c, 3, true, T0); /* c read no file: it never saw d's two */
    assert_int_equal(orders_left_in(c.a->b, 10, T0), 7);
    lc_sched_save(&c.q, &mu, T0, st, false);
    assert_int_equal(orders_left(path, 10, T0), 5);
    assert_int_equal(orders_left_in(c.a->b, 10, T0), 5); /* c took d's charges */
    assert_int_equal(c.a->npend, 0);

    proc_charge(&d, 1, false, T0); /* d's next charge: not over c's */
    lc_sched_save(&d.q, &mu, T0, st, false);
    assert_int_equal(orders_left(path, 10, T0), 4);
    assert_int_equal(orders_left_in(d.a->b, 10, T0), 4);
    proc_charge(&c, 1, false, T0);
    lc_sched_save(&c.q, &mu, T0, st, false);
    assert_int_equal(orders_left(path, 10, T0), 3);
    /* d's periodic read back takes c's last charge */
    assert_int_equal(orders_left_in(d.a->b, 10, T0), 4);
    lc_sched_save(&d.q, &mu, T0, st, true);
    assert_int_equal(orders_left_in(d.a->b, 10, T0), 3);
    assert_true(d.a->synced);

    lc_sched_free(&d.q);
    lc_sched_free(&c.q);
    st->ops->free(st);
    state_file_rm(dir, path);
}

/* The daemon's writes between which another process wrote: a merge with
 * nothing of its own to add leaves the file as it is (no write: same inode),
 * a write applies only its charges since its last write; a state file that
 * went away gets the daemon's state again (its charges were in it). */
static void test_files_budget_daemon_keeps_others(void **state)
{
    struct budget_limits lim = {20, 50};
    struct proc d, c;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    char dir[] = "/tmp/test_budget_XXXXXX", path[STORE_PATH_MAX];
    const char *dn[] = {"www.example.org"};
    struct stat a, b;
    int64_t rd;
    (void)state;

    state_file(dir, path, sizeof path);
    proc_open(&d, path, &lim, "www.example.org");
    proc_charge(&d, 5, true, T0);
    lc_sched_save(&d.q, &mu, T0, NULL, false); /* NULL: the file store */
    assert_int_equal(orders_left(path, 20, T0), 15);

    /* the CLI run starts after: it reads the file */
    proc_open(&c, path, &lim, "x.example.org");
    assert_int_equal(orders_left_in(c.a->b, 20, T0), 15);
    proc_charge(&c, 4, true, T0 + 10);
    lc_sched_save(&c.q, &mu, T0 + 10, NULL, false);
    lc_sched_free(&c.q); /* the run exits */
    assert_int_equal(orders_left(path, 20, T0 + 10), 11);

    /* the daemon's read back: nothing to add, the file stays */
    assert_int_equal(stat(path, &a), 0);
    lc_sched_save(&d.q, &mu, T0 + 10, NULL, true);
    assert_int_equal(stat(path, &b), 0);
    assert_true(a.st_ino == b.st_ino);
    assert_int_equal(orders_left_in(d.a->b, 20, T0 + 10), 11);
    /* c's four new-name orders in example.org count in d's domain budget */
    rd = budget_ready_at(d.a->b, dn, 1, true, T0 + 10);
    assert_int_equal(rd, T0 + 10);
    proc_charge(&d, 41, true, T0 + 10); /* 5 + 4 + 41 = 50: none left */
    assert_true(budget_ready_at(d.a->b, dn, 1, true, T0 + 10) > T0 + 10);
    lc_sched_save(&d.q, &mu, T0 + 10, NULL, false);
    assert_int_equal(orders_left(path, 20, T0 + 10), 0);

    /* the file removed: the daemon's next write puts its whole state back */
    assert_int_equal(unlink(path), 0);
    lc_sched_save(&d.q, &mu, T0 + 20, NULL, true);
    assert_int_equal(orders_left(path, 20, T0 + 20), 0);
    lc_sched_free(&d.q);
    state_file_rm(dir, path);
}

/* The daemon-like engine (a sim whose account keeps its state in a file) with
 * one order per 3 h: a one-off run spends it and writes; the daemon's read
 * back before admitting holds its due set in line (waiting for the budget)
 * until a token comes back. */
static void test_files_budget_daemon_waits_for_oneoff(void **state)
{
    struct budget_limits lim = {1, 0};
    struct sim sm;
    struct proc c;
    struct lc_sched_ops ops = sim_ops;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    char dir[] = "/tmp/test_budget_XXXXXX", path[STORE_PATH_MAX];
    size_t slots = 8;
    int64_t wake;
    (void)state;

    state_file(dir, path, sizeof path);
    sim_init(&sm, 1, 1, true, T0, &lim, 8);
    ops.arg = &sm;
    sm.acct->state_path = strdup(path); /* as lc_sched_account with a path */
    assert_non_null(sm.acct->state_path);
    sm.now = T0 + LIFETIME - 29 * DAY; /* due, far from "expiring soon" */
    assert_true(lc_sched_unsynced(&sm.q));
    lc_sched_save(&sm.q, &mu, sm.now, NULL, true); /* the start-up merge */
    assert_false(lc_sched_unsynced(&sm.q));

    proc_open(&c, path, &lim, "other.example.net");
    proc_charge(&c, 1, true, sm.now);
    lc_sched_save(&c.q, &mu, sm.now, NULL, false);
    lc_sched_free(&c.q);

    lc_sched_save(&sm.q, &mu, sm.now, NULL, true); /* the periodic merge */
    sim_arm_all(&sm);
    wake = lc_sched_tick(&sm.q, &ops, sm.now, &slots);
    assert_int_equal(sm.starts, 0);
    assert_true(sm.sets[0].rec.wait_slot != 0); /* waiting.for: budget */
    assert_int_equal(sm.acct->wake, sm.now + BUDGET_ORDERS_WINDOW_S);
    assert_int_equal(wake, sm.now + BUDGET_ORDERS_WINDOW_S);
    (void)lc_sched_tick(&sm.q, &ops, wake, &slots);
    assert_int_equal(sm.starts, 1);
    /* the daemon's charge goes on top of the CLI's */
    lc_sched_save(&sm.q, &mu, wake, NULL, false);
    assert_int_equal(orders_left(path, 1, wake), 0);
    sim_free(&sm);
    state_file_rm(dir, path);
}

/* With a shared store an account admits nothing before its first merge
 * (what the fleet spent is not known), but an order at its "expiring soon"
 * point passes. */
static void test_shared_holds_until_merged(void **state)
{
    struct budget_limits lim = {300, 0};
    struct sim sm;
    struct lc_sched_ops ops = sim_ops;
    size_t slots = 8;
    (void)state;

    sim_init(&sm, 2, 1, true, T0, &lim, 8);
    ops.arg = &sm;
    sm.q.hold_unsynced = true;
    sm.acct->state_path = strdup("/nonexistent/.budget-x.json");
    assert_non_null(sm.acct->state_path);
    sm.now = T0 + LIFETIME - 29 * DAY; /* both due */
    sm.cf[1].not_after = sm.now + DAY; /* set 1: expiring soon */
    sim_arm_all(&sm);
    (void)lc_sched_tick(&sm.q, &ops, sm.now, &slots);
    assert_int_equal(sm.starts, 1);
    assert_int_equal(sm.log[0], 1);
    assert_true(sm.sets[0].rec.wait_slot != 0);
    sm.acct->synced = true; /* merged */
    (void)lc_sched_tick(&sm.q, &ops, sm.now + 1, &slots);
    assert_int_equal(sm.starts, 2);
    sim_free(&sm);
}

/* Pruning: per-domain buckets whose arrival time passed go, live ones stay
 * (with their state), the table keeps working; an engine's merge prunes. */
static void test_budget_prune(void **state)
{
    struct budget_limits lim = {0, 2};
    struct budget *b = budget_new("t", &lim);
    char name[64];
    const char *nm[1] = {name};
    const char *live[] = {"k3.live.org"};
    int64_t later = T0 + BUDGET_DOMAIN_WINDOW_S; /* the T0 buckets are full again */
    (void)state;

    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "h.d%d.com", i);
        assert_int_equal(budget_charge(b, nm, 1, true, T0), 0);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "k%d.live.org", i);
        assert_int_equal(budget_charge(b, nm, 1, true, later - 100), 0);
    }
    assert_int_equal(budget_domains_count(b), 1001); /* live.org: one */
    assert_int_equal(budget_prune(b, T0), 0);        /* nothing expired yet */
    assert_int_equal(budget_domains_count(b), 1001);
    assert_int_equal(budget_ready_at(b, live, 1, true, later),
                     later + BUDGET_DOMAIN_WINDOW_S / 2 * 9 - 100);
    assert_int_equal(budget_prune(b, later), 1000);
    assert_int_equal(budget_domains_count(b), 1);
    assert_int_equal(budget_ready_at(b, live, 1, true, later),
                     later + BUDGET_DOMAIN_WINDOW_S / 2 * 9 - 100);
    /* an expired one charged again: a fresh bucket (one of two used) */
    snprintf(name, sizeof name, "h.d7.com");
    assert_int_equal(budget_charge(b, nm, 1, true, later), 0);
    assert_int_equal(budget_ready_at(b, nm, 1, true, later), later);
    assert_int_equal(budget_domains_count(b), 2);
    for (int i = 0; i < 500; i++) { /* the smaller table grows again */
        snprintf(name, sizeof name, "n.e%d.net", i);
        assert_int_equal(budget_charge(b, nm, 1, true, later), 0);
    }
    assert_int_equal(budget_domains_count(b), 502);
    assert_int_equal(budget_prune(b, later + BUDGET_DOMAIN_WINDOW_S), 501);
    assert_int_equal(budget_domains_count(b), 1);
    assert_int_equal(budget_prune(b, later + 100 * BUDGET_DOMAIN_WINDOW_S), 1);
    assert_int_equal(budget_domains_count(b), 0);
    budget_free(b);

    /* without budget_prune: a table that must grow drops what is full by
     * its latest charge's time (1000 domains a week, week after week, stay
     * 1000 entries) */
    b = budget_new("t", &lim);
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < 1000; i++) {
            snprintf(name, sizeof name, "h.w%d-%d.com", w, i);
            assert_int_equal(budget_charge(b, nm, 1, true, T0 + w * 2 * BUDGET_DOMAIN_WINDOW_S), 0);
        }
    assert_int_equal(budget_domains_count(b), 1000);
    snprintf(name, sizeof name, "h.w2-999.com"); /* the live ones are found */
    assert_int_equal(budget_ready_at(b, nm, 1, true, T0 + 4 * BUDGET_DOMAIN_WINDOW_S),
                     T0 + 4 * BUDGET_DOMAIN_WINDOW_S);
    assert_int_equal(budget_charge(b, nm, 1, true, T0 + 4 * BUDGET_DOMAIN_WINDOW_S), 0);
    assert_true(budget_ready_at(b, nm, 1, true, T0 + 4 * BUDGET_DOMAIN_WINDOW_S) >
                T0 + 4 * BUDGET_DOMAIN_WINDOW_S);
    assert_int_equal(budget_domains_count(b), 1000);
    budget_free(b);

    {
        /* the engine's merge (lc_sched_save) prunes its budget */
        struct proc d;
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        char dir[] = "/tmp/test_budget_XXXXXX", path[STORE_PATH_MAX];

        state_file(dir, path, sizeof path);
        proc_open(&d, path, &lim, "a.old.com");
        proc_charge(&d, 1, true, T0);
        d.dom[0] = "b.new.com";
        proc_charge(&d, 1, true, later - 10);
        assert_int_equal(budget_domains_count(d.a->b), 2);
        lc_sched_save(&d.q, &mu, later, NULL, false);
        assert_int_equal(budget_domains_count(d.a->b), 1);
        lc_sched_free(&d.q);
        state_file_rm(dir, path);
    }
}

/* The heap against a plain array, under random sets/moves/removals. */
static void test_dueheap(void **state)
{
    struct dueheap h = {0};
    size_t slot[300] = {0};
    int64_t due[300];
    bool in[300] = {0};
    uint64_t r = 88172645463325252ULL;
    (void)state;

    for (int step = 0; step < 20000; step++) {
        size_t i;
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        i = (size_t)(r % 300);
        if ((r >> 20) % 4 == 0) {
            dueheap_remove(&h, &slot[i]);
            in[i] = false;
        } else {
            due[i] = (int64_t)((r >> 24) % 1000);
            assert_int_equal(dueheap_set(&h, &due[i], &slot[i], due[i]), 0);
            in[i] = true;
        }
        if (step % 97 == 0) {
            int64_t min = INT64_MAX;
            size_t count = 0;
            for (size_t k = 0; k < 300; k++) {
                assert_int_equal(slot[k] != 0, in[k]);
                if (in[k]) {
                    count++;
                    min = due[k] < min ? due[k] : min;
                    assert_ptr_equal(h.v[slot[k] - 1].item, &due[k]);
                }
            }
            assert_int_equal(h.n, count);
            if (count > 0)
                assert_int_equal(dueheap_top(&h)->due, min);
        }
    }
    {
        int64_t last = -1;
        void *it;
        while ((it = dueheap_pop_due(&h, INT64_MAX)) != NULL) {
            assert_true(*(int64_t *)it >= last);
            last = *(int64_t *)it;
        }
    }
    dueheap_free(&h);
}

/* Hook events are queued (bounded), delivered one at a time, and an overflow
 * becomes one "dropped" summary: 201 events while the sink is stuck are at
 * most LC_EVENT_QUEUE + 2 deliveries. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool open;
    size_t normal, summaries, dropped, in_flight, max_in_flight;
    bool files;
    char *json;
};

static void gate_deliver(void *arg, struct lc_events *q, const struct lc_event *ev)
{
    struct gate *g = arg;

    (void)q;
    pthread_mutex_lock(&g->mu);
    g->in_flight++;
    if (g->in_flight > g->max_in_flight)
        g->max_in_flight = g->in_flight;
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->mu);
    if (strcmp(ev->event, LC_EVENT_DROPPED) == 0) {
        g->summaries++;
        g->dropped += ev->dropped;
        g->files = ev->files_changed;
        free(g->json);
        g->json = lc_event_json(ev);
    } else {
        g->normal++;
    }
    g->in_flight--;
    pthread_mutex_unlock(&g->mu);
}

static void test_hook_events_bounded(void **state)
{
    struct gate g = {
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, 0, 0, 0, false, NULL};
    struct lc_events *q = NULL;
    struct ac_error e;
    struct config_set cfg;
    char *doms[] = {"a.example.com"};
    size_t accepted = 0;
    json_object *o, *v;
    (void)state;

    memset(&cfg, 0, sizeof cfg);
    cfg.name = "s";
    cfg.domains = doms;
    cfg.domains_count = 1;
    cfg.cert_path = "/x/c";
    cfg.key_path = "/x/k";
    assert_int_equal(lc_events_new(gate_deliver, &g, &q, &e), 0);
    for (int i = 0; i < 201; i++) {
        struct lc_event ev;

        assert_int_equal(lc_event_init(&ev, i == 150 ? "renewed" : "failed", &cfg, 0, NULL, T0), 0);
        ev.files_changed = i == 150;
        if (lc_events_post(q, &ev) != 0)
            accepted++;
        lc_event_clear(&ev);
    }
    assert_true(accepted <= 64 + 1);
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.mu);
    lc_events_free(q, 10000);
    assert_int_equal(g.normal, accepted);
    assert_int_equal(g.summaries, 1);
    assert_int_equal(g.dropped, 201 - accepted);
    assert_true(g.files); /* the dropped "renewed" changed files: the hook runs once */
    assert_int_equal(g.max_in_flight, 1);
    o = json_tokener_parse(g.json);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "event", &v));
    assert_string_equal(json_object_get_string(v), "dropped");
    assert_true(json_object_object_get_ex(o, "dropped", &v));
    assert_int_equal(json_object_get_int64(v), (int64_t)(201 - accepted));
    assert_true(json_object_object_get_ex(o, "dropped_events", &v));
    assert_true(json_object_object_get_ex(v, "renewed", &v));
    assert_int_equal(json_object_get_int64(v), 1);
    json_object_put(o);
    free(g.json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5000_spread_budget_concurrency),
        cmocka_unit_test(test_5000_due_at_once_expiring_soon),
        cmocka_unit_test(test_renewals_exempt_from_domain_budget),
        cmocka_unit_test(test_restart_keeps_budget),
        cmocka_unit_test(test_forced_bypasses_budget),
        cmocka_unit_test(test_no_budget_only_concurrency),
        cmocka_unit_test(test_defaults_and_domains),
        cmocka_unit_test(test_domain_counted_once_per_order),
        cmocka_unit_test(test_budget_merge),
        cmocka_unit_test(test_files_budget_two_processes_sum),
        cmocka_unit_test(test_files_budget_daemon_keeps_others),
        cmocka_unit_test(test_files_budget_daemon_waits_for_oneoff),
        cmocka_unit_test(test_shared_holds_until_merged),
        cmocka_unit_test(test_budget_prune),
        cmocka_unit_test(test_dueheap),
        cmocka_unit_test(test_hook_events_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
