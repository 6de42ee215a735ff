/* test_dns_api.c - the HTTP-API provider toolkit (providers/dns_api.h): the
 * zone walk-up order and its "no zone" error, relative names and zone
 * membership by labels, quoted TXT comparison, option checks (secrets never in
 * messages, base URL rule, dns_resolvers/follow_cname), init/auth/free, and
 * dns_api_target with follow_cname=false and with an unreachable resolver
 * (falls back to the name itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "dns_api.h"
#include "dns_common.h"
#include "error.h"

#define SECRET "tok-SECRET-value-123"

struct walk {
    const char *seen[8];
    size_t n;
    const char *yes; /* answer 1 for this candidate */
    bool fail;
};

static int walk_probe(void *arg, const char *cand, struct ac_error *e)
{
    struct walk *w = arg;

    if (w->n < 8)
        w->seen[w->n++] = cand;
    if (w->fail) {
        ac_error_set(e, AC_ERR_DNS_AUTH, "probe failed");
        return -1;
    }
    return w->yes && strcmp(cand, w->yes) == 0;
}

static void test_find_zone(void **state)
{
    struct dns_api a = {.name = "t", .what = "DNS provider t"};
    struct walk w = {.yes = "example.com"};
    struct ac_error e = {0};
    const char *fqdn = "_acme-challenge.a.b.example.com", *zone = NULL;

    (void)state;
    assert_int_equal(dns_api_find_zone(&a, fqdn, walk_probe, &w, &zone, &e), 0);
    assert_ptr_equal(zone, fqdn + strlen("_acme-challenge.a.b."));
    assert_int_equal(w.n, 3);
    assert_string_equal(w.seen[0], "a.b.example.com");
    assert_string_equal(w.seen[1], "b.example.com");
    assert_string_equal(w.seen[2], "example.com");

    memset(&w, 0, sizeof w);
    assert_int_equal(dns_api_find_zone(&a, fqdn, walk_probe, &w, &zone, &e), -1);
    assert_int_equal(w.n, 3); /* never asks for "com" alone */
    assert_true(ac_error_is(&e, AC_ERR_DNS_PROVIDER));
    assert_non_null(strstr(e.message, "DNS provider t"));

    memset(&w, 0, sizeof w);
    w.fail = true;
    assert_int_equal(dns_api_find_zone(&a, fqdn, walk_probe, &w, &zone, &e), -1);
    assert_int_equal(w.n, 1);
    assert_true(ac_error_is(&e, AC_ERR_DNS_AUTH));
}

static void test_relative(void **state)
{
    struct dns_api a = {.name = "t", .what = "DNS provider t"};
    struct ac_error e = {0};
    char *rel = NULL;

    (void)state;
    assert_int_equal(dns_api_relative(&a, "_acme-challenge.a.Example.COM", "example.com", "@",
                                      &rel, &e), 0);
    assert_string_equal(rel, "_acme-challenge.a");
    free(rel);
    assert_int_equal(dns_api_relative(&a, "example.com", "example.com", "@", &rel, &e), 0);
    assert_string_equal(rel, "@");
    free(rel);
    assert_int_equal(dns_api_relative(&a, "_acme-challenge.notexample.com", "example.com", "@",
                                      &rel, &e), -1);
    assert_null(rel);
    assert_true(dns_api_in_zone("x.example.com", "EXAMPLE.com"));
    assert_false(dns_api_in_zone("xexample.com", "example.com"));
    assert_false(dns_api_in_zone("example.com", "x.example.com"));
    assert_false(dns_api_in_zone("example.com", ""));
}

static void test_txt_is(void **state)
{
    (void)state;
    assert_true(dns_api_txt_is("abc", "abc"));
    assert_true(dns_api_txt_is("\"abc\"", "abc"));
    assert_false(dns_api_txt_is("\"abc", "abc"));
    assert_false(dns_api_txt_is("abcd", "abc"));
    assert_false(dns_api_txt_is(NULL, "abc"));
}

static void test_checks(void **state)
{
    struct dns_option ok[] = {{"token", SECRET}, {"dns_resolvers", "127.0.0.1:53, [::1]:5353"},
                              {"follow_cname", "false"}};
    struct dns_option bad_nl[] = {{"token", "abc\r\nX-Evil: 1" SECRET}};
    struct dns_option bad_res[] = {{"dns_resolvers", "127.0.0.1:99999"}};
    struct dns_option bad_bool[] = {{"follow_cname", "maybe"}};
    struct ac_error e = {0};

    (void)state;
    assert_int_equal(dns_api_check_secret("t", ok, 3, "token", NULL, &e), 0);
    assert_int_equal(dns_api_validate("t", ok, 3, &e), 0);
    assert_int_equal(dns_api_check_secret("t", bad_nl, 1, "token", "an API token", &e), -1);
    assert_true(ac_error_is(&e, AC_ERR_CONFIG));
    assert_non_null(strstr(e.message, "option token"));
    assert_null(strstr(e.message, SECRET));
    assert_int_equal(dns_api_check_secret("t", ok, 3, "missing", NULL, &e), -1);
    assert_int_equal(dns_api_validate("t", bad_res, 1, &e), -1);
    assert_non_null(strstr(e.message, "dns_resolvers"));
    assert_int_equal(dns_api_validate("t", bad_bool, 1, &e), -1);
    assert_non_null(strstr(e.message, "follow_cname"));
    /* the one boolean rule (lib/words.h) reaches every provider option */
    {
        static const char *const spellings[] = {"on", "OFF", "yes", "No", "1", "0"};
        struct dns_option one[1];
        bool b;

        for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
            one[0] = (struct dns_option){"follow_cname", spellings[i]};
            assert_int_equal(dns_api_validate("t", one, 1, &e), 0);
            one[0] = (struct dns_option){"allow_private_zone", spellings[i]};
            assert_int_equal(dns_opt_bool("gcloud", one, 1, "allow_private_zone", false, &b, &e),
                             0);
            assert_true(b == (i % 2 == 0));
        }
        one[0] = (struct dns_option){"private_zone", "enabled"};
        assert_int_equal(dns_opt_bool("azuredns", one, 1, "private_zone", false, &b, &e), -1);
        assert_non_null(strstr(e.message, "azuredns: option private_zone: expected true or false"));
        assert_null(strstr(e.message, "enabled"));
    }
    assert_int_equal(dns_api_check_base("t", "option base_url", "http://example.net/", &e), -1);
    assert_int_equal(dns_api_check_base("t", "option base_url", "http://127.0.0.1:8/x", &e), 0);
    assert_int_equal(dns_api_check_base("t", "option base_url", "https://api.example/", &e), 0);
    assert_int_equal(dns_api_check_base("t", "option base_url", NULL, &e), 0);
}

static void test_init_and_target(void **state)
{
    struct dns_option off[] = {{"ttl", "300"}, {"follow_cname", "false"}};
    /* a loopback port with nothing listening: the look-up fails at once */
    struct dns_option dead[] = {{"dns_resolvers", "127.0.0.1:9"}};
    struct dns_api *a = NULL, b;
    struct ac_error e = {0};
    char *t = NULL;

    (void)state;
    assert_int_equal(dns_api_create("t", off, 2, "https://api.example/v1///", "option base_url",
                                    "https://default.example", "Bearer", "ttl", &a, &e), 0);
    assert_string_equal(a->base, "https://api.example/v1");
    assert_int_equal(a->ttl, 300);
    assert_false(a->follow_cname);
    assert_string_equal(a->auth, "Bearer 300");
    assert_int_equal(dns_api_target(a, "_acme-challenge.x.example", &t, &e), 0);
    assert_string_equal(t, "_acme-challenge.x.example");
    free(t);
    dns_api_destroy(a);

    assert_int_equal(dns_api_init(&b, "t", dead, 1, NULL, "option base_url",
                                  "https://default.example/", &e), 0);
    assert_string_equal(b.base, "https://default.example");
    assert_true(b.follow_cname);
    assert_int_equal(b.resolver_count, 1);
    assert_int_equal(dns_api_target(&b, "_acme-challenge.x.example", &t, &e), 0);
    assert_string_equal(t, "_acme-challenge.x.example");
    free(t);
    dns_api_free(&b);

    assert_int_equal(dns_api_init(&b, "t", dead, 1, "http://example.net", "AUTOCERT_T_BASE_URL",
                                  "https://default.example/", &e), -1);
    assert_non_null(strstr(e.message, "AUTOCERT_T_BASE_URL"));
    assert_null(b.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_zone),
        cmocka_unit_test(test_relative),
        cmocka_unit_test(test_txt_is),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_init_and_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
