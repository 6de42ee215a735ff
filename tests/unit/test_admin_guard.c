/*
 * test_admin_guard.c - the admin API's header policy (admin/admin_guard.c):
 * the Host allow-list on a loopback listen (DNS rebinding), Origin and
 * Sec-Fetch-Site (cross-site requests), the event-stream renewal's
 * same-origin rule, and the bearer compare with surrounding whitespace.
 * Pure functions: no server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../lib/admin_guard.c"

static struct admin_guard lo, lo6, pub;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(admin_guard_init(&lo, "127.0.0.1", true, 8555), 0);
    assert_int_equal(admin_guard_init(&lo6, "::1", true, 9000), 0);
    assert_int_equal(admin_guard_init(&pub, "0.0.0.0", false, 8555), 0);
    return 0;
}

static enum admin_verdict host(const struct admin_guard *g, const char *h)
{
    return admin_guard_check(g, h, h != NULL ? 1 : 0, NULL, NULL);
}

static void test_host_loopback_listen(void **state)
{
    (void)state;
    /* the listen address, loopback names with or without the port */
    assert_int_equal(host(&lo, "127.0.0.1:8555"), ADMIN_ALLOW);
    assert_int_equal(host(&lo, "127.0.0.1"), ADMIN_ALLOW);
    assert_int_equal(host(&lo, "localhost:8555"), ADMIN_ALLOW);
    assert_int_equal(host(&lo, "LocalHost"), ADMIN_ALLOW);
    assert_int_equal(host(&lo, "[::1]:8555"), ADMIN_ALLOW);
    assert_int_equal(host(&lo, "[::1]"), ADMIN_ALLOW);
    assert_int_equal(host(&lo, NULL), ADMIN_ALLOW); /* HTTP/1.0 probe */
    /* DNS rebinding: the attacker's name, whatever the port */
    assert_int_equal(host(&lo, "evil.example:8555"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "evil.example"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "127.0.0.1.nip.io:8555"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "localhost.:8555"), ADMIN_BAD_HOST);
    /* another port, malformed authorities */
    assert_int_equal(host(&lo, "localhost:8556"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "127.0.0.1:08555x"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "127.0.0.1:"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "user@127.0.0.1:8555"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "127.0.0.1:8555/x"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, ""), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "::1"), ADMIN_BAD_HOST);
    assert_int_equal(host(&lo, "local\xffhost"), ADMIN_BAD_HOST);
    /* two Host headers */
    assert_int_equal(admin_guard_check(&lo, "127.0.0.1:8555", 2, NULL, NULL), ADMIN_BAD_HOST);
    /* IPv6 listen */
    assert_int_equal(host(&lo6, "[::1]:9000"), ADMIN_ALLOW);
    assert_int_equal(host(&lo6, "[::1]:8555"), ADMIN_BAD_HOST);
}

static void test_host_public_listen(void **state)
{
    (void)state;
    /* token mandatory there; names are not known: any Host */
    assert_int_equal(host(&pub, "gw.internal:8555"), ADMIN_ALLOW);
    assert_int_equal(host(&pub, "10.1.2.3:8555"), ADMIN_ALLOW);
    assert_int_equal(admin_guard_check(&pub, "gw.internal:8555", 2, NULL, NULL), ADMIN_BAD_HOST);
}

static void test_origin(void **state)
{
    const char *h = "127.0.0.1:8555";

    (void)state;
    assert_int_equal(admin_guard_check(&lo, h, 1, "http://127.0.0.1:8555", NULL), ADMIN_ALLOW);
    assert_int_equal(admin_guard_check(&lo, h, 1, "http://localhost:8555", NULL), ADMIN_ALLOW);
    assert_int_equal(admin_guard_check(&lo, h, 1, "http://evil.example", NULL), ADMIN_BAD_ORIGIN);
    assert_int_equal(admin_guard_check(&lo, h, 1, "http://localhost:3000", NULL),
                     ADMIN_BAD_ORIGIN); /* another local web app */
    assert_int_equal(admin_guard_check(&lo, h, 1, "http://localhost", NULL), ADMIN_BAD_ORIGIN);
    assert_int_equal(admin_guard_check(&lo, h, 1, "https://127.0.0.1:8555", NULL),
                     ADMIN_BAD_ORIGIN);
    assert_int_equal(admin_guard_check(&lo, h, 1, "null", NULL), ADMIN_BAD_ORIGIN);
    assert_int_equal(admin_guard_check(&lo, h, 1, "http://127.0.0.1:8555/path", NULL),
                     ADMIN_BAD_ORIGIN);
    assert_int_equal(admin_guard_check(&lo, h, 1, "", NULL), ADMIN_BAD_ORIGIN);
    /* public listen: same origin as the request's Host */
    assert_int_equal(
        admin_guard_check(&pub, "gw.internal:8555", 1, "http://gw.internal:8555", NULL),
        ADMIN_ALLOW);
    assert_int_equal(
        admin_guard_check(&pub, "gw.internal:8555", 1, "http://evil.example:8555", NULL),
        ADMIN_BAD_ORIGIN);
    assert_int_equal(admin_guard_check(&pub, NULL, 0, "http://gw.internal:8555", NULL),
                     ADMIN_BAD_ORIGIN);
    /* a bad Host is reported before a bad Origin */
    assert_int_equal(admin_guard_check(&lo, "evil.example", 1, "http://evil.example", NULL),
                     ADMIN_BAD_HOST);
}

static void test_fetch_site(void **state)
{
    const char *h = "127.0.0.1:8555";

    (void)state;
    assert_int_equal(admin_guard_check(&lo, h, 1, NULL, "cross-site"), ADMIN_CROSS_SITE);
    assert_int_equal(admin_guard_check(&lo, h, 1, NULL, "Cross-Site"), ADMIN_CROSS_SITE);
    assert_int_equal(admin_guard_check(&lo, h, 1, NULL, "same-site"), ADMIN_ALLOW);
    assert_int_equal(admin_guard_check(&lo, h, 1, NULL, "same-origin"), ADMIN_ALLOW);
    assert_int_equal(admin_guard_check(&lo, h, 1, NULL, "none"), ADMIN_ALLOW);

    /* the event-stream renewal without a token */
    assert_true(admin_guard_same_origin(&lo, h, NULL, NULL));          /* curl -N */
    assert_true(admin_guard_same_origin(&lo, h, NULL, "same-origin")); /* our own page */
    assert_true(admin_guard_same_origin(&lo, h, NULL, "none"));        /* typed URL */
    assert_false(admin_guard_same_origin(&lo, h, NULL, "same-site"));  /* <img> on :3000 */
    assert_false(admin_guard_same_origin(&lo, h, NULL, "cross-site"));
    assert_false(admin_guard_same_origin(&lo, h, NULL, "bogus"));
    assert_true(admin_guard_same_origin(&lo, h, "http://localhost:8555", "same-site"));
    assert_false(admin_guard_same_origin(&lo, h, "http://localhost:3000", "same-site"));
}

static void test_bearer(void **state)
{
    const char *t = "s3cret-admin-token-123";

    (void)state;
    assert_true(admin_guard_bearer_ok("Bearer s3cret-admin-token-123", t));
    assert_true(admin_guard_bearer_ok("Bearer s3cret-admin-token-123  ", t));
    assert_true(admin_guard_bearer_ok("Bearer s3cret-admin-token-123\t", t));
    assert_true(admin_guard_bearer_ok("  bearer \t s3cret-admin-token-123 ", t));
    assert_false(admin_guard_bearer_ok("Bearer s3cret-admin-token-12", t));
    assert_false(admin_guard_bearer_ok("Bearer s3cret-admin-token-1234", t));
    assert_false(admin_guard_bearer_ok("Bearer s3cret-admin-token-124", t));
    assert_false(admin_guard_bearer_ok("Bearer s3cret-admin -token-123", t));
    assert_false(admin_guard_bearer_ok("Bearers3cret-admin-token-123", t));
    assert_false(admin_guard_bearer_ok("Basic s3cret-admin-token-123", t));
    assert_false(admin_guard_bearer_ok("Bearer ", t));
    assert_false(admin_guard_bearer_ok(NULL, t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_loopback_listen),
        cmocka_unit_test(test_host_public_listen),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_fetch_site),
        cmocka_unit_test(test_bearer),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
