/* test_provider_propagation.c - authoritative propagation check against two
 * real Knot servers for one zone, on 127.0.0.2:53 and 127.0.0.3:53 (needs
 * root, as CI runs): zone found by SOA, NS + glue discovered, both servers
 * asked; when one lacks the value the verdict names that server and what it
 * answered; when it gets the value late the wait succeeds. Also the zone walk
 * and CNAME following of dns_find_zone and of the check itself. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns_provider.h"
#include "dns_zone.h"
#include "propagation.h"
#include "test_provider_knot.h"

static struct knot k1, k2;
static bool skipped;

static const struct knot_zone zones[] = {
    {"prop.test", "@ NS ns1\n@ NS ns2\nns1 A 127.0.0.2\nns2 A 127.0.0.3\n"
                  "_acme-challenge.alias CNAME _acme-challenge.real\n"},
};

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skipped = true;
        return 0;
    }
    if (knot_start(&k1, "127.0.0.2", 53, zones, 1, NULL, 0) != 0)
        return -1;
    return knot_start(&k2, "127.0.0.3", 53, zones, 1, NULL, 0);
}

static int teardown(void **state)
{
    (void)state;
    knot_stop(&k1);
    knot_stop(&k2);
    return 0;
}

static int update(const struct knot *k, const char *fqdn, const char *value, bool add)
{
    struct dns_option o[1] = {{"nameserver", k->server}};
    struct dns_provider *p = NULL;
    struct dns_challenge ch = {.domain = "prop.test", .fqdn = fqdn, .value = value};
    struct ac_error e;
    int rc;

    if (dns_provider_new("dnsupdate", o, 1, &p, &e) != 0)
        return -1;
    rc = add ? dns_provider_present(p, &ch, &e) : dns_provider_cleanup(p, &ch, &e);
    dns_provider_free(p);
    return rc;
}

static void test_find_zone(void **state)
{
    const char *boot[1] = {"127.0.0.2"};
    char *zone = NULL, *target = NULL, **sv = NULL;
    size_t n = 0;
    struct ac_error e;

    (void)state;
    if (skipped)
        skip();
    assert_int_equal(dns_find_zone("_acme-challenge.a.b.prop.test", boot, 1, 2000, &zone, &target, &e), 0);
    assert_string_equal(zone, "prop.test");
    assert_string_equal(target, "_acme-challenge.a.b.prop.test");
    free(zone);
    free(target);
    assert_int_equal(dns_find_zone("_acme-challenge.alias.prop.test", boot, 1, 2000, &zone, &target, &e), 0);
    assert_string_equal(zone, "prop.test");
    assert_string_equal(target, "_acme-challenge.real.prop.test");
    free(zone);
    free(target);
    assert_int_equal(dns_authoritative_servers("prop.test", boot, 1, 2000, &sv, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_true((strcmp(sv[0], "127.0.0.2") == 0 && strcmp(sv[1], "127.0.0.3") == 0) ||
                (strcmp(sv[0], "127.0.0.3") == 0 && strcmp(sv[1], "127.0.0.2") == 0));
    dns_zone_strv_free(sv, n);
    /* a name outside any served zone */
    assert_int_equal(dns_find_zone("_acme-challenge.nowhere.invalid", boot, 1, 1000, &zone, &target, &e), -1);
    assert_null(zone);
}

static void test_lagging_server_named(void **state)
{
    const char *boot[1] = {"127.0.0.2"};
    const char *fq = "_acme-challenge.www.prop.test";
    struct ac_error e;

    (void)state;
    if (skipped)
        skip();
    assert_int_equal(update(&k1, fq, "lagvalue", true), 0);
    assert_int_equal(update(&k2, fq, "othervalue", true), 0);
    assert_int_equal(dns_propagation_wait_from(fq, "lagvalue", NULL, 0, boot, 1, 1500, 200, &e),
                     -1);
    assert_string_equal(e.kind, AC_ERR_DNS_PROPAGATION);
    assert_non_null(strstr(e.message, "127.0.0.3"));
    assert_non_null(strstr(e.message, "othervalue")); /* what it answered */
    assert_null(strstr(e.message, "127.0.0.2"));      /* the up-to-date one is not blamed */
    assert_non_null(strstr(e.message, "authoritative servers of zone prop.test"));
    assert_int_equal(update(&k1, fq, "lagvalue", false), 0);
    assert_int_equal(update(&k2, fq, "othervalue", false), 0);
}

/* Without resolvers the check follows the CNAME on _acme-challenge and asks
 * the zone's servers for the record at its real name. */
static void test_cname_followed(void **state)
{
    const char *boot[1] = {"127.0.0.2"};
    const char *alias = "_acme-challenge.alias.prop.test";
    const char *real = "_acme-challenge.real.prop.test";
    struct ac_error e;

    (void)state;
    if (skipped)
        skip();
    assert_int_equal(update(&k1, real, "cnamevalue", true), 0);
    assert_int_equal(update(&k2, real, "cnamevalue", true), 0);
    if (dns_propagation_wait_from(alias, "cnamevalue", NULL, 0, boot, 1, 3000, 200, &e) != 0)
        fail_msg("%s", e.message);
    assert_int_equal(update(&k2, real, "cnamevalue", false), 0);
    assert_int_equal(dns_propagation_wait_from(alias, "cnamevalue", NULL, 0, boot, 1, 600, 200, &e),
                     -1);
    assert_non_null(strstr(e.message, real)); /* the verdict names the real name */
    assert_non_null(strstr(e.message, "127.0.0.3"));
    assert_null(strstr(e.message, "127.0.0.2"));
    assert_int_equal(update(&k1, real, "cnamevalue", false), 0);
}

struct late {
    const char *fq;
    const char *value;
    int rc;
};

static void *late_update(void *arg)
{
    struct late *l = arg;

    usleep(1200 * 1000);
    l->rc = update(&k2, l->fq, l->value, true);
    return NULL;
}

static void test_late_value_succeeds(void **state)
{
    const char *boot[1] = {"127.0.0.3"};
    struct late l = {"_acme-challenge.late.prop.test", "latevalue", -1};
    struct ac_error e;
    pthread_t t;
    int64_t t0;

    (void)state;
    if (skipped)
        skip();
    assert_int_equal(update(&k1, l.fq, l.value, true), 0);
    assert_int_equal(pthread_create(&t, NULL, late_update, &l), 0);
    t0 = (int64_t)time(NULL);
    if (dns_propagation_wait_from(l.fq, l.value, NULL, 0, boot, 1, 10000, 200, &e) != 0)
        fail_msg("%s", e.message);
    pthread_join(t, NULL);
    assert_int_equal(l.rc, 0);
    assert_true((int64_t)time(NULL) - t0 >= 1); /* it really waited for the late server */
    assert_int_equal(update(&k1, l.fq, l.value, false), 0);
    assert_int_equal(update(&k2, l.fq, l.value, false), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_zone),
        cmocka_unit_test(test_lagging_server_named),
        cmocka_unit_test(test_cname_followed),
        cmocka_unit_test(test_late_value_succeeds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
