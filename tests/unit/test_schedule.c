/* test_schedule.c - renewal arithmetic: calendar-month rule (day overflow, leap
 * years), lifetime/3 rule, renew_before, ARI point and its effect, backoff with
 * jitter bounds, callers' fault and Retry-After, cooldowns, name-set comparison
 * and the expiring-soon threshold. Dates are checked through RFC 3339. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "schedule.h"
#include "timeutil.h"

#define DAY 86400
#define HOUR 3600

static int64_t t(const char *s)
{
    int64_t v = 0;
    assert_int_equal(ac_time_parse_rfc3339(s, &v), 0);
    return v;
}

static void test_calendar_month(void **state)
{
    (void)state;
    /* long certificates: the month rule applies; the time of day is kept */
    int64_t nb = t("2022-01-01T00:00:00Z");
    assert_int_equal(schedule_renewal_moment(nb, t("2023-03-31T12:34:56Z"), 0),
                     t("2023-03-03T12:34:56Z")); /* 31 Feb 2023 overflows to 3 Mar */
    assert_int_equal(schedule_renewal_moment(nb, t("2024-03-31T00:00:00Z"), 0),
                     t("2024-03-02T00:00:00Z")); /* leap year: 2 Mar */
    assert_int_equal(schedule_renewal_moment(nb, t("2024-03-29T08:00:00Z"), 0),
                     t("2024-02-29T08:00:00Z"));
    assert_int_equal(schedule_renewal_moment(nb, t("2024-02-29T08:00:00Z"), 0),
                     t("2024-01-29T08:00:00Z"));
    assert_int_equal(schedule_renewal_moment(nb, t("2023-03-29T08:00:00Z"), 0),
                     t("2023-03-01T08:00:00Z")); /* 29 Feb 2023 -> 1 Mar */
    assert_int_equal(schedule_renewal_moment(nb, t("2023-05-31T00:00:00Z"), 0),
                     t("2023-05-01T00:00:00Z")); /* 31 Apr -> 1 May */
    assert_int_equal(schedule_renewal_moment(nb, t("2023-01-15T00:00:00Z"), 0),
                     t("2022-12-15T00:00:00Z")); /* across the year */
    assert_int_equal(schedule_renewal_moment(nb, t("2023-07-31T00:00:00Z"), 0),
                     t("2023-07-01T00:00:00Z")); /* 31 Jun -> 1 Jul */
    /* before 1970 too */
    assert_int_equal(schedule_renewal_moment(t("1960-01-01T00:00:00Z"),
                                             t("1969-03-31T06:00:00Z"), 0),
                     t("1969-03-03T06:00:00Z"));
}

static void test_ninety_days(void **state)
{
    (void)state;
    /* 90-day certificate: lifetime/3 = 30 days; a calendar month is 28..31 days */
    int64_t nb = t("2025-01-01T00:00:00Z"), na = nb + 90 * DAY; /* 1 Apr 2025 */
    assert_int_equal(schedule_renewal_moment(nb, na, 0), na - 30 * DAY); /* 31 days > 30 */
    nb = t("2025-02-01T00:00:00Z");
    na = nb + 90 * DAY; /* 2 May 2025: month = 30 days */
    assert_int_equal(schedule_renewal_moment(nb, na, 0), na - 30 * DAY);
    nb = t("2024-12-01T00:00:00Z");
    na = nb + 90 * DAY; /* 1 Mar 2025: month = 28 days (Feb) */
    assert_int_equal(schedule_renewal_moment(nb, na, 0), na - 28 * DAY);
    /* 160-hour certificate: lifetime/3 */
    nb = t("2025-06-01T00:00:00Z");
    na = nb + 160 * HOUR;
    assert_int_equal(schedule_renewal_moment(nb, na, 0), na - 160 * HOUR / 3);
    /* override */
    assert_int_equal(schedule_renewal_moment(nb, na, 5 * HOUR), na - 5 * HOUR);
    assert_int_equal(schedule_renewal_moment(nb, na, -1), na - 160 * HOUR / 3);
    /* nonsense lifetime renews at not_after, never later */
    assert_int_equal(schedule_renewal_moment(na, nb, 0), nb);
}

static void test_ari(void **state)
{
    (void)state;
    int64_t s = 1000000, e = 1000000 + 2 * DAY;
    for (uint64_t r = 0; r < 5000; r += 7) {
        int64_t p = schedule_ari_point(s, e, r * 0x9E3779B97F4A7C15ULL);
        assert_true(p >= s && p < e);
    }
    assert_int_equal(schedule_ari_point(s, e, 0), s);
    assert_int_equal(schedule_ari_point(s, e, 2 * DAY - 1), e - 1);
    assert_int_equal(schedule_ari_point(s, e, 2 * DAY), s);
    assert_int_equal(schedule_ari_point(e, s, 12345), e); /* empty window */
    assert_int_equal(schedule_ari_point(s, s, 12345), s);
    /* ARI brings forward, never back */
    assert_int_equal(schedule_due(5000, true, 4000), 4000);
    assert_int_equal(schedule_due(5000, true, 6000), 5000);
    assert_int_equal(schedule_due(5000, false, 4000), 5000);
}

static void test_backoff(void **state)
{
    (void)state;
    /* no jitter (random 0 gives -10 %, clamped at retry_min for the first) */
    const int64_t mid[] = {60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600};
    for (int f = 1; f <= 11; f++) {
        int64_t base = mid[f - 1], j = base / 10;
        /* random = j gives offset 0: the exact doubling */
        assert_int_equal(schedule_backoff(f, 60, 21600, false, -1, (uint64_t)j), base);
        for (uint64_t r = 0; r < 200; r++) {
            int64_t d = schedule_backoff(f, 60, 21600, false, -1, r * 0x9E3779B97F4A7C15ULL);
            assert_true(d >= 60 && d <= 21600);
            assert_true(d >= base - j && d <= base + j);
        }
    }
    /* jitter reaches both ends in the middle of the range */
    assert_int_equal(schedule_backoff(3, 60, 21600, false, -1, 0), 240 - 24);
    assert_int_equal(schedule_backoff(3, 60, 21600, false, -1, 48), 240 + 24);
    /* huge failure counts do not overflow */
    assert_int_equal(schedule_backoff(1000000, 60, 21600, false, -1, 2160), 21600);
    assert_true(schedule_backoff(1000000, 60, 21600, false, -1, 0) >= 21600 - 2160);
    assert_int_equal(schedule_backoff(0, 60, 21600, false, -1, 6), 60);
    /* caller's fault: retry_max */
    assert_int_equal(schedule_backoff(1, 60, 21600, true, -1, 0), 21600);
    /* Retry-After is a floor, even above retry_max */
    assert_int_equal(schedule_backoff(1, 60, 21600, false, 3000, 6), 3000);
    assert_int_equal(schedule_backoff(1, 60, 21600, false, 30, 6), 60);
    /* a Retry-After beyond retry_max is capped there (issue 10 item 4) */
    assert_int_equal(schedule_backoff(1, 60, 21600, true, 86400, 0), 21600);
    assert_int_equal(schedule_backoff(1, 60, 21600, false, 99999999, 6), 21600);
    assert_int_equal(schedule_backoff(1, 60, 21600, false, 0, 6), 60);
    /* degenerate configuration */
    assert_int_equal(schedule_backoff(5, 100, 50, false, -1, 0), 100);
}

static void test_cooldowns(void **state)
{
    (void)state;
    int64_t now = 1700000000;
    assert_int_equal(schedule_next_attempt(now, 0, true, 3600, false), now);
    assert_int_equal(schedule_next_attempt(now, now - 5, true, 3600, false), now + 10);
    assert_int_equal(schedule_next_attempt(now, now - 15, true, 3600, false), now);
    assert_int_equal(schedule_next_attempt(now, now - 100, true, 3600, false), now);
    assert_int_equal(schedule_next_attempt(now, now - 100, false, 3600, false), now + 3500);
    assert_int_equal(schedule_next_attempt(now, now - 3600, false, 3600, false), now);
    assert_int_equal(schedule_next_attempt(now, now - 5, false, 3600, true), now);
    assert_int_equal(schedule_next_attempt(now, now - 5, true, 3600, true), now);
    assert_int_equal(schedule_next_attempt(now, now - 5, false, 0, false), now);
}

static void test_names(void **state)
{
    (void)state;
    const char *a[] = {"example.com", "*.example.com", "WWW.example.com."};
    const char *b[] = {"*.EXAMPLE.com", "www.example.com", "example.com", "example.com."};
    const char *c[] = {"example.com", "*.example.com"};
    const char *d[] = {"example.com", "*.example.com", "www.example.org"};
    const char *e[] = {"example.com", NULL, "*.example.com"};
    assert_false(schedule_names_differ(a, 3, b, 4));
    assert_false(schedule_names_differ(b, 4, a, 3));
    assert_true(schedule_names_differ(a, 3, c, 2));
    assert_true(schedule_names_differ(c, 2, a, 3));
    assert_true(schedule_names_differ(a, 3, d, 3));
    assert_false(schedule_names_differ(c, 2, e, 3));
    assert_false(schedule_names_differ(NULL, 0, NULL, 0));
    assert_true(schedule_names_differ(c, 2, NULL, 0));
    const char *f[] = {"example.co"}, *g[] = {"example.com"}, *h[] = {"example.com.."};
    assert_true(schedule_names_differ(f, 1, g, 1));
    assert_true(schedule_names_differ(h, 1, g, 1)); /* only one trailing dot is ignored */
}

static void test_expiring_soon(void **state)
{
    (void)state;
    int64_t nb = 1700000000, na = nb + 90 * DAY;
    assert_false(schedule_expiring_soon(na - 7 * DAY, nb, na));
    assert_true(schedule_expiring_soon(na - 7 * DAY + 1, nb, na));
    assert_true(schedule_expiring_soon(na + 10, nb, na));
    assert_false(schedule_expiring_soon(nb, nb, na));
    /* short lifetime: lifetime/5 */
    na = nb + 10 * DAY;
    assert_false(schedule_expiring_soon(na - 2 * DAY, nb, na));
    assert_true(schedule_expiring_soon(na - 2 * DAY + 1, nb, na));
}

/* Issue 10 item 4: the Retry-After parser takes at most a year, in seconds
 * or as an HTTP-date; beyond that, overlong or garbage = absent (-1). */
static void test_retry_after_bounds(void **state)
{
    const int64_t now = 1700000000;
    (void)state;

    assert_int_equal(ac_time_parse_retry_after("31536000", now), AC_RETRY_AFTER_MAX_S);
    assert_int_equal(ac_time_parse_retry_after("31536001", now), -1);
    assert_int_equal(ac_time_parse_retry_after("99999999", now), -1);
    assert_int_equal(ac_time_parse_retry_after("99999999999999999999999", now), -1);
    /* 2023-11-14T22:13:20Z + 300 s, and + 2 years */
    assert_int_equal(ac_time_parse_retry_after("Tue, 14 Nov 2023 22:18:20 GMT", now), 300);
    assert_int_equal(ac_time_parse_retry_after("Fri, 14 Nov 2025 22:13:20 GMT", now), -1);
    assert_int_equal(ac_time_parse_retry_after("Mon, 14 Nov 2022 22:13:20 GMT", now), 0);
    assert_int_equal(ac_time_parse_retry_after("1.5", now), -1);
    assert_int_equal(ac_time_parse_retry_after("120 s", now), -1);
    char longv[100];
    memset(longv, '0', sizeof longv - 2);
    longv[sizeof longv - 2] = '1';
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(ac_time_parse_retry_after(longv, now), -1); /* over 64 bytes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_month),
        cmocka_unit_test(test_ninety_days),
        cmocka_unit_test(test_ari),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_cooldowns),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_expiring_soon),
        cmocka_unit_test(test_retry_after_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
