/* test_lifecycle.c - the scheduler's decisions (lifecycle_plan.c) at injected
 * times: the state machine, ARI point drawn once / persisted / only bringing a
 * renewal forward, backoff re-armed after every failure, cooldown minimums,
 * the rateLimited Retry-After floor, "locked" not counted, names differing
 * making a set due; the persisted state round trip; the webhook payload
 * (parsed back with json-c) and the deploy hook environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "lifecycle_priv.h"
#include "schedule.h"
#include "timeutil.h"

#define DAY 86400
#define NB 1700000000LL    /* not_before */
#define NA (NB + 90 * DAY) /* not_after: 90-day certificate */
/* default rule: lifetime/3 = 30 d < 1 month, brought forward by the spread */
#define MOMENT (NA - 30 * DAY - spread(30 * DAY))

static struct config_set mkcfg(void)
{
    static char *doms[] = {"example.test", "*.example.test"};
    struct config_set c;

    memset(&c, 0, sizeof c);
    c.name = "main";
    c.provider = "challtestsrv";
    c.domains = doms;
    c.domains_count = 2;
    c.cert_path = "certs/cert.crt";
    c.key_path = "certs/priv.key";
    c.retry_min = 60;
    c.retry_max = 21600;
    c.failure_cooldown = 3600;
    return c;
}

static struct lc_set mkset(bool managed)
{
    struct lc_set s;

    memset(&s, 0, sizeof s);
    s.managed = managed;
    s.last_error = NULL;
    return s;
}

static struct lc_cert_facts facts(void)
{
    struct lc_cert_facts f;

    memset(&f, 0, sizeof f);
    f.present = true;
    f.not_before = NB;
    f.not_after = NA;
    snprintf(f.serial_hex, sizeof f.serial_hex, "%s", "0a0b0c");
    return f;
}

/* The spread drawn for the facts() certificate (once, from its serial and the
 * set's files) with a renewal window of `window` seconds. */
static int64_t spread(int64_t window)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    int64_t v = lc_plan_spread(&s, &cfg, &f, f.not_after - window);

    assert_true(v >= 0 && v <= window / LC_SPREAD_DIVISOR);
    free(s.last_error);
    return v;
}

static void test_states(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true), u = mkset(false);
    struct lc_cert_facts none = {0}, f = facts();
    (void)state;

    lc_plan_update(&u, &cfg, &f, NB);
    assert_int_equal(u.state, LC_UNMANAGED);
    assert_int_equal(u.next_attempt, 0);

    lc_plan_update(&s, &cfg, &none, NB);
    assert_int_equal(s.state, LC_PENDING);
    assert_int_equal(s.next_attempt, NB); /* obtain at once */

    lc_plan_update(&s, &cfg, &f, NB + DAY);
    assert_int_equal(s.state, LC_VALID);
    assert_int_equal(s.renews_at, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT);

    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.state, LC_DUE);
    s.running = true;
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.state, LC_RENEWING);
    s.running = false;
    lc_plan_update(&s, &cfg, &f, NA);
    assert_int_equal(s.state, LC_EXPIRED);
    assert_string_equal(lifecycle_state_name(LC_BACKOFF), "backoff");
    assert_string_equal(lifecycle_state_name(LC_UNMANAGED), "unmanaged");

    /* renew_before overrides the default rule */
    cfg.renew_before = 10 * DAY;
    lc_plan_update(&s, &cfg, &f, NB + DAY);
    /* (the spread drawn for this certificate, capped at a tenth of the
     * shorter window) */
    assert_int_equal(s.renews_at,
                     NA - 10 * DAY - (spread(30 * DAY) < DAY ? spread(30 * DAY) : DAY));

    /* names differ: due at once */
    cfg.renew_before = 0;
    f.names_differ = true;
    lc_plan_update(&s, &cfg, &f, NB + DAY);
    assert_int_equal(s.state, LC_DUE);
    assert_true(s.next_attempt <= NB + DAY);
    free(s.last_error);
    free(u.last_error);
}

static void test_backoff_rearmed(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    struct ac_error e;
    int64_t now = MOMENT, prev_delay = 0;
    (void)state;

    cfg.failure_cooldown = 1; /* let the backoff show */
    ac_error_set(&e, AC_ERR_NET, "connect refused");
    for (int i = 1; i <= 12; i++) {
        lc_plan_failure(&s, &cfg, &e, false, now, 0);
        lc_plan_update(&s, &cfg, &f, now);
        assert_int_equal(s.failures, i);
        assert_int_equal(s.state, LC_BACKOFF);
        int64_t delay = s.next_attempt - now;
        /* always re-armed: a next attempt in the future, within [min, max] */
        assert_true(delay >= cfg.retry_min && delay <= cfg.retry_max);
        assert_true(delay >= prev_delay * 17 / 10 || delay * 10 >= cfg.retry_max * 9);
        prev_delay = delay;
        assert_true(s.has_last_error);
        assert_string_equal(s.last_error->kind, AC_ERR_NET);
        assert_int_equal(s.last_error_at, now);
        now = s.next_attempt; /* the scheduler wakes exactly then */
    }
    assert_true(prev_delay * 10 >= cfg.retry_max * 9); /* at the cap, minus jitter */

    /* success (a new certificate from now on) resets everything */
    f.not_before = now - 60;
    f.not_after = now - 60 + 90 * DAY;
    assert_true(lc_plan_success(&s, &cfg, &f, now, 0));
    lc_plan_update(&s, &cfg, &f, now);
    assert_int_equal(s.failures, 0);
    assert_false(s.has_last_error);
    assert_int_equal(s.last_success, now);
    assert_int_equal(s.next_attempt, f.not_after - 30 * DAY - spread(30 * DAY));
    free(s.last_error);
}

static void test_callers_fault_and_rate_limit(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    struct ac_error e;
    (void)state;

    cfg.failure_cooldown = 1;
    ac_error_set(&e, AC_ERR_CA_REJECTED, "bad identifier");
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 12345);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT + cfg.retry_max);

    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    ac_error_set(&e, AC_ERR_CA_RATE_LIMITED, "too many certificates");
    e.retry_after = 5000; /* above the backoff: honoured */
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 0);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT + 5000);

    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    e.retry_after = 50000; /* beyond retry_max: capped there */
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 0);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT + cfg.retry_max);

    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    e.retry_after = 30; /* below retry_min: retry_min wins */
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 0);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_true(s.next_attempt - MOMENT >= cfg.retry_min);
    free(s.last_error);
}

/* Issue 10 item 4: one 429 with a huge Retry-After (here the parser's
 * largest, a year) or a huge retry_at read back from a state file never puts
 * the next attempt past retry_max, nor past the "expiring soon" point. */
static void test_retry_after_capped(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true), r = mkset(true);
    struct lc_cert_facts f = facts(), none = {0};
    struct ac_error e;
    json_object *o;
    int64_t soon = schedule_expiring_at(NB, NA);
    (void)state;

    cfg.failure_cooldown = 1;
    ac_error_set(&e, AC_ERR_CA_RATE_LIMITED, "slow down");
    e.retry_after = AC_RETRY_AFTER_MAX_S;
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 0);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT + cfg.retry_max);
    assert_true(s.retry_at <= MOMENT + cfg.retry_max);

    /* a state file from an older version with retry_at 1,157 days ahead */
    o = json_tokener_parse("{\"version\":1,\"failures\":1,\"retry_at\":1800000000}");
    lc_state_from_json(&r, o);
    json_object_put(o);
    lc_plan_update(&r, &cfg, &f, MOMENT);
    assert_int_equal(r.next_attempt, MOMENT + cfg.retry_max);
    lc_plan_update(&r, &cfg, &none, MOMENT); /* no certificate: retry_max alone */
    assert_int_equal(r.next_attempt, MOMENT + cfg.retry_max);

    /* never past "expiring soon": retry_max of 30 days ends there */
    cfg.retry_max = 30 * DAY;
    free(r.last_error); /* the record is made again below */
    r = mkset(true);
    r.retry_at = soon + 20 * DAY;
    lc_plan_update(&r, &cfg, &f, soon - DAY);
    assert_int_equal(r.next_attempt, soon);
    /* once past that point, retry_max alone bounds it */
    r.retry_at = soon + 40 * DAY;
    lc_plan_update(&r, &cfg, &f, soon + 1);
    assert_int_equal(r.next_attempt, soon + 1 + cfg.retry_max);
    free(s.last_error);
    free(r.last_error);
}

/* Issue 10 item 3: a certificate that is due the moment it is issued (host
 * clock far ahead, renew_before over the lifetime) is a failure with backoff,
 * and the backoff grows over repeated rounds instead of an order storm. */
static void test_due_at_once(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    int64_t now = MOMENT + DAY, prev = 0; /* the new certificate's moment is past */
    (void)state;

    cfg.failure_cooldown = 1;
    for (int i = 1; i <= 6; i++) {
        assert_false(lc_plan_success(&s, &cfg, &f, now, 0));
        lc_plan_update(&s, &cfg, &f, now);
        assert_int_equal(s.failures, i);
        assert_int_equal(s.state, LC_BACKOFF);
        assert_string_equal(s.last_error->kind, AC_ERR_DUE_AT_ONCE);
        assert_non_null(strstr(s.last_error->message, "due for renewal at once"));
        assert_true(s.next_attempt - now >= cfg.retry_min);
        assert_true(s.next_attempt - now >= prev);
        prev = s.next_attempt - now;
        now = s.next_attempt;
    }
    assert_true(prev >= 8 * cfg.retry_min);

    /* renew_before longer than the lifetime: the same */
    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    cfg.renew_before = 100 * DAY;
    assert_false(lc_plan_success(&s, &cfg, &f, NB + 60, 0));
    cfg.renew_before = 0;

    /* not loaded after the commit: no certificate in service */
    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    struct lc_cert_facts none = {0};
    assert_false(lc_plan_success(&s, &cfg, &none, NB, 0));
    lc_plan_update(&s, &cfg, &none, NB);
    assert_true(s.next_attempt > NB);

    /* a normal new certificate: a plain success */
    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    s.failures = 3;
    assert_true(lc_plan_success(&s, &cfg, &f, NB + 60, 0));
    lc_plan_update(&s, &cfg, &f, NB + 60);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.state, LC_VALID);
    assert_int_equal(s.next_attempt, MOMENT);
    free(s.last_error);
}

static void test_cooldowns(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts(), none = {0};
    struct ac_error e;
    (void)state;

    /* failure_cooldown (1 h) is a minimum over the 60 s backoff */
    ac_error_set(&e, AC_ERR_DNS_PROPAGATION, "TXT not seen");
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 0);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT + 3600);

    /* first obtain: GoDoxy's 15 s cooldown from the failure marker */
    free(s.last_error); /* the record is made again below */
    s = mkset(true);
    s.last_failure = NB - 5; /* marker read at start-up */
    lc_plan_update(&s, &cfg, &none, NB);
    assert_int_equal(s.next_attempt, NB - 5 + SCHEDULE_FIRST_OBTAIN_COOLDOWN);
    assert_int_equal(s.state, LC_PENDING);

    /* a marker older than the cooldown delays nothing */
    s.last_failure = NB - 100000;
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.next_attempt, MOMENT);
    free(s.last_error);
}

static void test_locked_not_counted(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    struct ac_error e;
    (void)state;

    ac_error_set(&e, AC_ERR_LOCKED, "being renewed by another autocert process (pid 7)");
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 0);
    lc_plan_update(&s, &cfg, &f, MOMENT);
    assert_int_equal(s.failures, 0);
    assert_false(s.has_last_error);
    assert_int_equal(s.last_failure, 0);
    assert_int_equal(s.next_attempt, MOMENT + cfg.retry_min);
    free(s.last_error);
}

static void test_ari(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    int64_t ws = MOMENT - 10 * DAY, we = MOMENT - 8 * DAY, point;
    (void)state;

    lc_plan_ari(&s, "0a0b0c", ws, we, 3600, NB + DAY, 777);
    point = s.ari_point;
    assert_true(point >= ws && point < we);
    assert_int_equal(s.ari_fetch_at, NB + DAY + 3600);
    lc_plan_update(&s, &cfg, &f, NB + DAY);
    assert_int_equal(s.renews_at, point); /* brought forward */

    /* same window again: the point is not drawn again */
    lc_plan_ari(&s, "0a0b0c", ws, we, -1, NB + 2 * DAY, 999999);
    assert_int_equal(s.ari_point, point);
    assert_int_equal(s.ari_fetch_at, NB + 2 * DAY + 6 * 3600); /* default refetch */

    /* a window after the configured moment never delays the renewal */
    lc_plan_ari(&s, "0a0b0c", NA - 5 * DAY, NA - 4 * DAY, 10, NB + 3 * DAY, 5);
    assert_int_equal(s.ari_fetch_at, NB + 3 * DAY + 60); /* floor 60 s */
    lc_plan_update(&s, &cfg, &f, NB + 3 * DAY);
    assert_int_equal(s.renews_at, MOMENT);

    /* a window for another certificate (old serial) is ignored */
    lc_plan_ari(&s, "ffff", ws, we, 3600, NB + 4 * DAY, 1);
    lc_plan_update(&s, &cfg, &f, NB + 4 * DAY);
    assert_int_equal(s.renews_at, MOMENT);

    /* persisted: the point survives a restart */
    lc_plan_ari(&s, "0a0b0c", ws, we, 3600, NB + 5 * DAY, 4242);
    point = s.ari_point;
    json_object *o = lc_state_to_json(&s);
    const char *txt = json_object_to_json_string(o);
    json_object *back = json_tokener_parse(txt);
    struct lc_set r = mkset(true);
    lc_state_from_json(&r, back);
    assert_true(r.ari_valid);
    assert_string_equal(r.ari_serial, "0a0b0c");
    assert_int_equal(r.ari_point, point);
    assert_int_equal(r.ari_fetch_at, NB + 5 * DAY + 3600);
    lc_plan_ari(&r, "0a0b0c", ws, we, 3600, NB + 6 * DAY, 1);
    assert_int_equal(r.ari_point, point); /* not redrawn after the restart */
    lc_plan_update(&r, &cfg, &f, NB + 6 * DAY);
    assert_int_equal(r.renews_at, point);
    json_object_put(o);
    json_object_put(back);

    /* a new certificate forgets the old window */
    assert_true(lc_plan_success(&s, &cfg, NULL, MOMENT, 0));
    assert_false(s.ari_valid);
    free(s.last_error);
    free(r.last_error);
}

static void test_state_roundtrip(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true), r = mkset(true);
    struct lc_cert_facts f = facts();
    struct ac_error e;
    json_object *o, *junk;
    (void)state;

    ac_error_set(&e, AC_ERR_CA_SERVER, "internal error at the CA");
    lc_plan_failure(&s, &cfg, &e, false, MOMENT, 3);
    lc_plan_failure(&s, &cfg, &e, false, MOMENT + 100, 3);
    s.last_success = NB;
    o = lc_state_to_json(&s);
    lc_state_from_json(&r, o);
    assert_int_equal(r.failures, 2);
    assert_int_equal(r.retry_at, s.retry_at);
    assert_int_equal(r.last_success, NB);
    assert_true(r.has_last_error);
    assert_string_equal(r.last_error->kind, AC_ERR_CA_SERVER);
    assert_string_equal(r.last_error->message, "internal error at the CA");
    assert_int_equal(r.last_error_at, MOMENT + 100);
    r.last_failure = MOMENT + 100; /* from the failure marker */
    lc_plan_update(&r, &cfg, &f, MOMENT + 200);
    assert_int_equal(r.state, LC_BACKOFF);
    assert_true(r.next_attempt >= MOMENT + 100 + cfg.failure_cooldown);
    json_object_put(o);

    /* mistyped fields are ignored */
    junk = json_tokener_parse("{\"failures\":\"x\",\"retry_at\":-5,\"ari\":{\"serial\":1}}");
    free(r.last_error); /* the record is made again below */
    r = mkset(true);
    lc_state_from_json(&r, junk);
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.retry_at, 0);
    assert_false(r.ari_valid);
    json_object_put(junk);
    free(s.last_error);
    free(r.last_error);
}

static void test_event_json(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_event ev;
    struct ac_error e;
    json_object *o, *v;
    char *txt;
    (void)state;

    assert_int_equal(lc_event_init(&ev, "renewed", &cfg, NA, NULL, NB), 0);
    txt = lc_event_json(&ev);
    assert_non_null(txt);
    o = json_tokener_parse(txt);
    assert_non_null(o);
    assert_int_equal(json_object_object_length(o), 6);
    assert_true(json_object_object_get_ex(o, "event", &v));
    assert_string_equal(json_object_get_string(v), "renewed");
    assert_true(json_object_object_get_ex(o, "set", &v));
    assert_string_equal(json_object_get_string(v), "main");
    assert_true(json_object_object_get_ex(o, "domains", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), "*.example.test");
    assert_true(json_object_object_get_ex(o, "not_after", &v));
    assert_string_equal(json_object_get_string(v), "2024-02-12T22:13:20Z");
    assert_true(json_object_object_get_ex(o, "time", &v));
    assert_string_equal(json_object_get_string(v), "2023-11-14T22:13:20Z");
    assert_true(json_object_object_get_ex(o, "error", &v));
    assert_null(v);
    json_object_put(o);
    free(txt);
    lc_event_clear(&ev);

    ac_error_set(&e, AC_ERR_DNS_AUTH, "token \"refused\"");
    assert_int_equal(lc_event_init(&ev, "failed", &cfg, 0, &e, NB), 0);
    txt = lc_event_json(&ev);
    o = json_tokener_parse(txt);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "not_after", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "error", &v));
    json_object *k = NULL, *m = NULL;
    assert_true(json_object_object_get_ex(v, "kind", &k));
    assert_true(json_object_object_get_ex(v, "message", &m));
    assert_string_equal(json_object_get_string(k), "provider.auth");
    assert_string_equal(json_object_get_string(m), "token \"refused\""); /* escaped */
    json_object_put(o);
    free(txt);
    lc_event_clear(&ev);
}

static void test_hook_env(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_event ev;
    char **env;
    (void)state;

    assert_int_equal(lc_event_init(&ev, "obtained", &cfg, NA, NULL, NB), 0);
    env = lc_event_env(&ev);
    assert_non_null(env);
    assert_string_equal(env[0], "AUTOCERT_EVENT=obtained");
    assert_string_equal(env[1], "AUTOCERT_SET=main");
    assert_string_equal(env[2], "AUTOCERT_DOMAINS=example.test *.example.test");
    assert_string_equal(env[3], "AUTOCERT_CERT_PATH=certs/cert.crt");
    assert_string_equal(env[4], "AUTOCERT_KEY_PATH=certs/priv.key");
    assert_null(env[5]);
    lc_env_free(env);
    lc_event_clear(&ev);
}

#ifdef AUTOCERT_TEST_HOOKS
static int64_t fake_ms;
static int64_t fake_clock(void)
{
    return fake_ms;
}

/* The planner is fed from the injectable clock the way the scheduler does. */
static void test_injected_clock(void **state)
{
    struct config_set cfg = mkcfg();
    struct lc_set s = mkset(true);
    struct lc_cert_facts f = facts();
    (void)state;

    ac_time_set_clock(fake_clock);
    fake_ms = (MOMENT - 1) * 1000;
    lc_plan_update(&s, &cfg, &f, ac_now());
    assert_int_equal(s.state, LC_VALID);
    fake_ms = MOMENT * 1000;
    lc_plan_update(&s, &cfg, &f, ac_now());
    assert_int_equal(s.state, LC_DUE);
    ac_time_set_clock(NULL);
    free(s.last_error);
}
#endif

/* The scheduler's "expiring" wake-up moment is the first second at which
 * schedule_expiring_soon holds: min(7 d, lifetime / 5) before not_after. */
static void test_expiring_at(void **state)
{
    int64_t at = schedule_expiring_at(NB, NA);
    int64_t short_na = NB + 10 * DAY; /* 10-day certificate: lifetime / 5 = 2 d */
    (void)state;

    assert_int_equal(at, NA - 7 * DAY + 1);
    assert_false(schedule_expiring_soon(at - 1, NB, NA));
    assert_true(schedule_expiring_soon(at, NB, NA));
    at = schedule_expiring_at(NB, short_na);
    assert_int_equal(at, short_na - 2 * DAY + 1);
    assert_false(schedule_expiring_soon(at - 1, NB, short_na));
    assert_true(schedule_expiring_soon(at, NB, short_na));
    /* a lifetime <= 0: only once past not_after */
    assert_int_equal(schedule_expiring_at(NA, NA), NA + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_backoff_rearmed),
        cmocka_unit_test(test_callers_fault_and_rate_limit),
        cmocka_unit_test(test_retry_after_capped),
        cmocka_unit_test(test_due_at_once),
        cmocka_unit_test(test_cooldowns),
        cmocka_unit_test(test_locked_not_counted),
        cmocka_unit_test(test_ari),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_hook_env),
#ifdef AUTOCERT_TEST_HOOKS
        cmocka_unit_test(test_injected_clock),
#endif
        cmocka_unit_test(test_expiring_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
