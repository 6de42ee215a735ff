/*
 * test_config_challenge.c - provider acme and its challenges (issue 13): the
 * challenge goes with the provider (main and extras), IP domains, wildcards,
 * serve.http_listen and serve.https_port; every error at its key and
 * position.
 */
#include "test_config_util.h"

#define ACME "  provider: acme\n  email: a@b.test\n"
#define CTS "  provider: challtestsrv\n  options:\n    url: http://127.0.0.1:8055\n"

static void test_acme_ok(void **state)
{
    struct config *cfg;

    (void)state;
    cfg = tc_expect_ok("autocert:\n" ACME "  challenge: http-01\n"
                       "  domains: [a.example.com, 127.0.0.1, '::1', 2001:db8::7]\n");
    assert_string_equal(cfg->sets[0].provider, CONFIG_PROVIDER_ACME);
    assert_string_equal(cfg->sets[0].challenge, "http-01");
    assert_int_equal(cfg->sets[0].domains_count, 4);
    assert_true(config_set_is_managed(&cfg->sets[0]));
    config_free(cfg);
    cfg = tc_expect_ok("autocert:\n" ACME "  challenge: tls-alpn-01\n  domains: [a.example.com]\n");
    assert_string_equal(cfg->sets[0].challenge, "tls-alpn-01");
    config_free(cfg);
    /* a DNS provider still defaults to dns-01 */
    cfg = tc_expect_ok("autocert:\n" CTS "  email: a@b.test\n  domains: [a.example.com]\n");
    assert_string_equal(cfg->sets[0].challenge, "dns-01");
    config_free(cfg);
}

static void test_acme_needs_challenge(void **state)
{
    (void)state;
    /* the error names challenge, at the provider key */
    tc_expect_error("autocert:\n  provider: acme\n  email: a@b.test\n  domains: [a.example.com]\n",
                    "autocert.provider", 2, 3, "provider acme needs a challenge");
    tc_expect_error("autocert:\n" ACME "  domains: [a.example.com]\n", NULL, 0, 0,
                    "add challenge: http-01");
    tc_expect_error("autocert:\n" ACME "  domains: [a.example.com]\n  challenge: dns-01\n",
                    "autocert.challenge", 5, 3, "challenge dns-01 needs a DNS provider");
    tc_expect_error("autocert:\n" ACME "  domains: [a.example.com]\n  challenge: http-02\n",
                    "autocert.challenge", 5, 3, "unknown challenge 'http-02'");
}

static void test_non_dns_challenge_other_providers(void **state)
{
    (void)state;
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [a.example.com]\n"
                    "  challenge: http-01\n",
                    "autocert.challenge", 7, 3,
                    "challenge http-01 is answered by provider acme, and main uses provider "
                    "challtestsrv");
    tc_expect_error("autocert:\n  provider: custom\n  ca_dir_url: https://ca.test/d\n"
                    "  email: a@b.test\n  domains: [a.example.com]\n  challenge: tls-alpn-01\n",
                    "autocert.challenge", 6, 3,
                    "challenge tls-alpn-01 is answered by provider acme, and main uses "
                    "provider custom");
    tc_expect_error("autocert:\n  provider: local\n  challenge: http-01\n", "autocert.challenge", 3,
                    3, "provider local");
    tc_expect_error("autocert:\n  provider: pseudo\n  challenge: tls-alpn-01\n",
                    "autocert.challenge", 3, 3, "provider pseudo");
    /* selfsigned asks no CA either */
    tc_expect_error("autocert:\n  provider: selfsigned\n  challenge: http-01\n", NULL, 0, 0,
                    "challenge http-01 is answered by provider acme");
}

static void test_wildcard_and_ip(void **state)
{
    (void)state;
    tc_expect_error("autocert:\n" ACME "  challenge: http-01\n"
                    "  domains:\n    - a.example.com\n    - '*.example.com'\n",
                    "autocert.domains[2]", 7, 7, "a CA accepts only dns-01 for a wildcard");
    tc_expect_error("autocert:\n" ACME "  challenge: tls-alpn-01\n  domains: ['*.example.com']\n",
                    "autocert.domains[1]", 0, 0, "is a wildcard");
    /* an IP address needs http-01 or tls-alpn-01 */
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains:\n    - 192.0.2.1\n",
                    "autocert.domains[1]", 7, 7, "'192.0.2.1' is an IP address");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: ['2001:db8::1']\n",
                    "autocert.domains[1]", 0, 0, "cannot prove an IP address");
    /* not an address, not a name */
    tc_expect_error("autocert:\n" ACME "  challenge: http-01\n  domains: ['1:2:3']\n",
                    "autocert.domains[1]", 0, 0, "not a valid domain name");
}

static void test_extra_inheritance(void **state)
{
    struct config *cfg;

    (void)state;
    /* an extra inheriting main's provider inherits its challenge */
    cfg = tc_expect_ok("autocert:\n" ACME "  challenge: http-01\n  domains: [a.example.com]\n"
                       "  extra:\n    - domains: [b.example.com, 10.0.0.1]\n"
                       "      cert_path: e.crt\n      key_path: e.key\n");
    assert_string_equal(cfg->sets[1].provider, "acme");
    assert_string_equal(cfg->sets[1].challenge, "http-01");
    config_free(cfg);
    /* an extra naming its own DNS provider gets dns-01 */
    cfg = tc_expect_ok("autocert:\n" ACME "  challenge: http-01\n  domains: [a.example.com]\n"
                       "  extra:\n    - provider: challtestsrv\n      options:\n"
                       "        url: http://127.0.0.1:8055\n"
                       "      domains: ['*.b.example.com']\n"
                       "      cert_path: e.crt\n      key_path: e.key\n");
    assert_string_equal(cfg->sets[1].challenge, "dns-01");
    config_free(cfg);
    /* ... and the reverse: main dns-01, an extra with provider acme */
    cfg = tc_expect_ok("autocert:\n" CTS "  email: a@b.test\n  domains: [a.example.com]\n"
                       "  extra:\n    - provider: acme\n      challenge: tls-alpn-01\n"
                       "      domains: [b.example.com]\n"
                       "      cert_path: e.crt\n      key_path: e.key\n");
    assert_string_equal(cfg->sets[0].challenge, "dns-01");
    assert_string_equal(cfg->sets[1].challenge, "tls-alpn-01");
    config_free(cfg);
    /* an extra naming provider acme does not inherit main's dns-01 */
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [a.example.com]\n"
                    "  extra:\n    - provider: acme\n      domains: [b.example.com]\n"
                    "      cert_path: e.crt\n      key_path: e.key\n",
                    "autocert.extra[1].provider", 8, 7,
                    "provider acme needs a challenge (extra[1])");
    /* an extra's own http-01 under main's DNS provider */
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [a.example.com]\n"
                    "  extra:\n    - challenge: http-01\n      domains: [b.example.com]\n"
                    "      cert_path: e.crt\n      key_path: e.key\n",
                    "autocert.extra[1].challenge", 8, 7, "and extra[1] uses provider challtestsrv");
    /* an extra inheriting acme with its own dns-01 */
    tc_expect_error("autocert:\n" ACME "  challenge: http-01\n  domains: [a.example.com]\n"
                    "  extra:\n    - challenge: dns-01\n      domains: [b.example.com]\n"
                    "      cert_path: e.crt\n      key_path: e.key\n",
                    "autocert.extra[1].challenge", 7, 7, "challenge dns-01 needs a DNS provider");
    /* an inherited wildcard checked against the extra's own challenge */
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: ['*.example.com']\n"
                    "  extra:\n    - provider: acme\n      challenge: http-01\n"
                    "      cert_path: e.crt\n      key_path: e.key\n",
                    "autocert.domains[1]", 0, 0, "is a wildcard: extra[1] validates with http-01");
}

static void test_serve_http(void **state)
{
    struct config *cfg;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    cfg = tc_expect_ok("serve:\n  listen: 127.0.0.1:8443\n  http_listen: '[::]:8080'\n"
                       "  https_port: 443\n");
    assert_string_equal(cfg->serve.http_listen, "[::]:8080");
    assert_int_equal(cfg->serve.https_port, 443);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(buf, "  http_listen: "));
    assert_non_null(strstr(buf, "  https_port: 443\n"));
    free(buf);
    config_free(cfg);
    cfg = tc_expect_ok("serve:\n  http_listen: 0.0.0.0:80\n");
    assert_int_equal(cfg->serve.https_port, 0);
    assert_null(cfg->serve.listen);
    config_free(cfg);
    tc_expect_error("serve:\n  http_listen: localhost:80\n", "serve.http_listen", 2, 3,
                    "the host must be an IP address");
    tc_expect_error("serve:\n  http_listen: 127.0.0.1\n", "serve.http_listen", 2, 3,
                    "is not a listen address");
    tc_expect_error("serve:\n  https_port: 0\n", "serve.https_port", 2, 3,
                    "'0' is not a port number (1-65535)");
    tc_expect_error("serve:\n  https_port: 65536\n", "serve.https_port", 2, 3, "not a port number");
    tc_expect_error("serve:\n  https_port: 44x\n", "serve.https_port", 2, 3, "not a port number");
    tc_expect_error("serve:\n  http_lisen: 0.0.0.0:80\n", NULL, 0, 0, "http_listen");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acme_ok),
        cmocka_unit_test(test_acme_needs_challenge),
        cmocka_unit_test(test_non_dns_challenge_other_providers),
        cmocka_unit_test(test_wildcard_and_ip),
        cmocka_unit_test(test_extra_inheritance),
        cmocka_unit_test(test_serve_http),
    };

    return cmocka_run_group_tests(tests, tc_setup, tc_teardown);
}
