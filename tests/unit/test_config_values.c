/*
 * test_config_values.c - ${VAR} expansion, durations, redaction in
 * config_print, secrets kept out of messages, the shared helpers:
 * host:port (config_parse_listen, ac_hostport_parse, the resolvers rule of
 * validation), booleans and did-you-mean (lib/words.h), preferred_chain
 * (inherited from main, overridden per set, checked, printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "hostport.h"
#include "test_config_util.h"
#include "words.h"

static void test_env_expansion(void **state)
{
    struct config *cfg;

    setenv("TC_HOST", "127.0.0.1", 1);
    setenv("TC_PORT", "8055", 1);
    setenv("TC_BOTH", "plain", 1);
    setenv("AUTOCERT_TC_BOTH", "prefixed", 1);
    unsetenv("TC_UNSET_VAR");
    cfg = tc_expect_ok("autocert:\n  provider: challtestsrv\n  email: ${TC_BOTH}@b.test\n"
                       "  domains: [a.test]\n  options:\n"
                       "    url: http://${TC_HOST}:${TC_PORT}/x\n"
                       "  resolvers: ['${TC_HOST}']\n");
    assert_string_equal(cfg->sets[0].email, "prefixed@b.test");
    assert_string_equal(cfg->sets[0].options[0].value, "http://127.0.0.1:8055/x");
    assert_string_equal(cfg->sets[0].resolvers[0], "127.0.0.1");
    config_free(cfg);
    /* $${ is a literal ${ (checked where no validation interferes). */
    cfg = tc_expect_ok("hooks:\n  deploy: echo $${HOME} $$HOME ${TC_HOST}\n");
    assert_string_equal(cfg->hooks.deploy, "echo ${HOME} $$HOME 127.0.0.1");
    config_free(cfg);
    tc_expect_error("autocert:\n  provider: local\n  cert_path: /x/${TC_UNSET_VAR}/c.pem\n",
                    "autocert.cert_path", 3, 3, "TC_UNSET_VAR is not set");
    tc_expect_error("notify:\n  headers:\n    - 'A: ${TC_UNSET_VAR}'\n", "notify.headers[1]", 3, 7,
                    "TC_UNSET_VAR");
    tc_expect_error("hooks:\n  deploy: echo ${TC_HOST\n", "hooks.deploy", 2, 3, "unterminated");
    tc_expect_error("hooks:\n  deploy: echo ${A-B}\n", "hooks.deploy", 2, 3, "bad variable name");
}

static void test_durations(void **state)
{
    struct config *cfg = tc_expect_ok("autocert:\n  renew_before: 30d\n  order_timeout: 90s\n"
                                      "  retry_min: 15m\n  retry_max: 1h30m\n"
                                      "  failure_cooldown: 2h\n");

    assert_int_equal(cfg->sets[0].renew_before, 30 * 86400);
    assert_int_equal(cfg->sets[0].order_timeout, 90);
    assert_int_equal(cfg->sets[0].retry_min, 900);
    assert_int_equal(cfg->sets[0].retry_max, 5400);
    assert_int_equal(cfg->sets[0].failure_cooldown, 7200);
    config_free(cfg);
    tc_expect_error("autocert:\n  retry_min: -5m\n", "autocert.retry_min", 2, 3, "not a duration");
    tc_expect_error("autocert:\n  retry_max: 1x\n", NULL, 0, 0, "not a duration");
    tc_expect_error("autocert:\n  retry_min: 2h\n  retry_max: 1h\n", "autocert.retry_max", 3, 3,
                    "not be less than retry_min");
}

/* autocert.max_concurrent_orders and autocert.acme_limits (issue 12). */
static void test_engine_limits(void **state)
{
    struct config *cfg = tc_expect_ok("autocert:\n  provider: local\n");
    const struct config_acme_limit *l;

    assert_int_equal(cfg->max_concurrent_orders, AUTOCERT_MAX_CONCURRENT_ORDERS);
    assert_int_equal(cfg->acme_limits_count, 0);
    config_free(cfg);
    cfg = tc_expect_ok("autocert:\n  max_concurrent_orders: 3\n  acme_limits:\n"
                       "    - ca_dir_url: https://ca.test/dir\n      orders_per_3h: 100\n"
                       "    - ca_dir_url: https://acme-v02.api.letsencrypt.org/directory\n"
                       "      new_certs_per_domain_week: 0\n");
    assert_int_equal(cfg->max_concurrent_orders, 3);
    assert_int_equal(cfg->acme_limits_count, 2);
    l = config_acme_limit_find(cfg, "https://ca.test/dir/");
    assert_non_null(l);
    assert_int_equal(l->orders_per_3h, 100);
    assert_int_equal(l->new_certs_per_domain_week, -1); /* the CA's default */
    l = config_acme_limit_find(cfg, "https://acme-v02.api.letsencrypt.org/directory");
    assert_non_null(l);
    assert_int_equal(l->orders_per_3h, -1);
    assert_int_equal(l->new_certs_per_domain_week, 0); /* no budget */
    assert_null(config_acme_limit_find(cfg, "https://other.test/dir"));
    config_free(cfg);

    tc_expect_error("autocert:\n  max_concurrent_orders: 0\n", "autocert.max_concurrent_orders", 2,
                    3, "from 1 to 256");
    tc_expect_error("autocert:\n  max_concurrent_orders: 257\n", "autocert.max_concurrent_orders",
                    2, 3, "'257' is not a number of orders");
    tc_expect_error("autocert:\n  max_concurrent_orders: many\n", "autocert.max_concurrent_orders",
                    2, 3, "not a number of orders");
    tc_expect_error("autocert:\n  acme_limits:\n    - orders_per_3h: 10\n",
                    "autocert.acme_limits[1]", 3, 7, "needs ca_dir_url");
    tc_expect_error("autocert:\n  acme_limits:\n    - ca_dir_url: https://a.test/d\n"
                    "      orders_per_3h: -1\n",
                    "autocert.acme_limits[1].orders_per_3h", 4, 7, "not a number of new orders");
    tc_expect_error("autocert:\n  acme_limits:\n    - ca_dir_url: https://a.test/d\n"
                    "      new_certs_per_domain_week: 1e3\n",
                    "autocert.acme_limits[1].new_certs_per_domain_week", 4, 7,
                    "per registered domain");
    tc_expect_error("autocert:\n  acme_limits:\n    - ca_dir_url: https://a.test/d\n"
                    "      orders_per_hour: 5\n",
                    "autocert.acme_limits[1].orders_per_hour", 4, 7,
                    "unknown key 'orders_per_hour'");
    tc_expect_error("autocert:\n  acme_limits:\n    - ca_dir_url: https://a.test/d\n"
                    "    - ca_dir_url: https://a.test/d/\n",
                    "autocert.acme_limits[2].ca_dir_url", 4, 7, "a second acme_limits entry");
    tc_expect_error("autocert:\n  provider: local\n  extra:\n    - max_concurrent_orders: 2\n",
                    "autocert.extra[1].max_concurrent_orders", 4, 7, "engine-wide");
}

static char *print_to_string(const struct config *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    config_print(cfg, f);
    fclose(f);
    return out;
}

/* The store: section (issue 14): defaults, positioned errors, secrets. */
static void test_store_section(void **state)
{
    static const char key[] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; /* 32 bytes */
    char yml[1024];
    struct config *cfg = tc_expect_ok("autocert:\n  provider: local\n");
    (void)state;

    assert_null(cfg->store.url);
    assert_int_equal(cfg->store.lease_ttl, 120);
    config_free(cfg);
    snprintf(yml, sizeof yml,
             "autocert:\n  provider: local\nstore:\n"
             "  url: postgresql://node:pw-Secret-42@db.test:5432/ac?sslmode=verify-full\n"
             "  encryption_key: %s\n  lease_ttl: 30s\n  node_id: gw1\n",
             key);
    cfg = tc_expect_ok(yml);
    assert_int_equal(cfg->store.lease_ttl, 30);
    assert_string_equal(cfg->store.node_id, "gw1");
    assert_string_equal(cfg->store.url_password, "pw-Secret-42");
    {
        char *out = print_to_string(cfg);

        assert_non_null(strstr(out, "store:\n  url: \"po"));
        assert_null(strstr(out, "pw-Secret-42"));
        assert_null(strstr(out, key));
        assert_non_null(strstr(out, "lease_ttl: 30s"));
        free(out);
    }
    config_free(cfg);
    tc_expect_error("autocert:\n  provider: local\nstore:\n  url: postgresql://db.test/ac\n",
                    "store.encryption_key", 3, 1, "store.url is set but store.encryption_key");
    tc_expect_error("autocert:\n  provider: local\nstore:\n  url: postgresql://db.test/ac\n"
                    "  encryption_key: dG9vLXNob3J0\n",
                    "store.encryption_key", 5, 3, "must be 32 bytes in base64");
    snprintf(yml, sizeof yml,
             "autocert:\n  provider: local\nstore:\n  url: postgresql://db.test/ac\n"
             "  encryption_key: %s\n  lease_ttl: 4s\n",
             key);
    tc_expect_error(yml, "store.lease_ttl", 6, 3, "a lease lasts from 5s to 1d");
    snprintf(yml, sizeof yml,
             "autocert:\n  provider: local\nstore:\n  url: postgresql://db.test/ac\n"
             "  encryption_key: %s\n  node_id: 'gw 1'\n",
             key);
    tc_expect_error(yml, "store.node_id", 6, 3, "without spaces");
    tc_expect_error("autocert:\n  provider: local\nstore:\n  uri: postgresql://db.test/ac\n",
                    "store.uri", 4, 3, "unknown key 'uri'");
    tc_expect_error("autocert:\n  provider: local\nstore:\n  url: 'host=db dbname'\n"
                    "  encryption_key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
                    "store.url", 4, 3, "not a PostgreSQL connection URI");
}

/* A reload of the same bytes with the same environment needs no parse
 * (config_source_unchanged); any change of either does. */
static void test_source_unchanged(void **state)
{
    char path[] = "/tmp/autocert-src-XXXXXX";
    int fd = mkstemp(path);
    const char *yml = "autocert:\n  provider: local\n  email: ${SRC_TEST_MAIL}\n";
    struct config *cfg = NULL;
    struct config_diags d = {0};
    FILE *f;
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, yml, strlen(yml)), (ssize_t)strlen(yml));
    close(fd);
    setenv("SRC_TEST_MAIL", "a@b.test", 1);
    unsetenv("AUTOCERT_SRC_TEST_MAIL");
    assert_int_equal(config_load(path, &cfg, &d), 0);
    config_diags_free(&d);
    assert_true(config_source_unchanged(cfg, path));
    assert_false(config_source_unchanged(cfg, "/tmp/other.yml"));
    setenv("AUTOCERT_SRC_TEST_MAIL", "c@d.test", 1); /* looked up first */
    assert_false(config_source_unchanged(cfg, path));
    unsetenv("AUTOCERT_SRC_TEST_MAIL");
    assert_true(config_source_unchanged(cfg, path));
    setenv("SRC_TEST_MAIL", "x@b.test", 1);
    assert_false(config_source_unchanged(cfg, path));
    setenv("SRC_TEST_MAIL", "a@b.test", 1);
    f = fopen(path, "a");
    assert_non_null(f);
    fputs("# a comment\n", f);
    fclose(f);
    assert_false(config_source_unchanged(cfg, path));
    config_free(cfg);
    unlink(path);
    unsetenv("SRC_TEST_MAIL");
}

static void test_redaction(void **state)
{
    struct config *cfg =
        tc_expect_ok("autocert:\n  provider: httpreq\n  email: a@b.test\n  domains: [a.test]\n"
                     "  eab_kid: kid-1\n  eab_hmac: aGVsbG8td29ybGQtaG1hYw\n"
                     "  options:\n    endpoint: http://user:pw@127.0.0.1:1/\n    username: "
                     "someone\n    password: short\n"
                     "admin:\n  listen: 0.0.0.0:8555\n  token: tok12345678-0123456\n"
                     "notify:\n  webhook: https://h.test/x\n  headers: ['Authorization: Bearer "
                     "0123456789abc']\n");
    char *out = print_to_string(cfg);

    /* long: first 2, '*' per middle char, last 2; short (< 12): ****. */
    assert_non_null(strstr(out, "eab_hmac: \"aG******************Yw\""));
    assert_non_null(strstr(out, "endpoint: \"ht***********************1/\""));
    assert_non_null(strstr(out, "password: \"****\""));
    assert_non_null(strstr(out, "token: \"to***************56\""));
    assert_non_null(strstr(out, "\"Authorization: Be****************bc\""));
    assert_null(strstr(out, "aGVsbG8td29ybGQtaG1hYw"));
    assert_null(strstr(out, "user:pw"));
    assert_null(strstr(out, "short"));
    assert_null(strstr(out, "tok12345678-0123456"));
    assert_null(strstr(out, "0123456789abc"));
    assert_non_null(strstr(out, "eab_kid: \"kid-1\""));
    assert_string_equal(cfg->admin.listen, "0.0.0.0:8555");
    free(out);
    config_free(cfg);
}

static void test_secrets_not_in_errors(void **state)
{
    struct config *cfg;
    struct config_diags d;

    assert_int_equal(tc_load("autocert:\n  eab_kid: k\n  eab_hmac: 'S3cr3t!value'\n"
                             "notify:\n  headers: ['Bad Header: Secretvalue42']\n",
                             &cfg, &d),
                     -1);
    assert_true(d.count >= 2);
    for (size_t i = 0; i < d.count; i++) {
        assert_null(strstr(d.items[i].message, "S3cr3t"));
        assert_null(strstr(d.items[i].message, "Secretvalue42"));
    }
    config_diags_free(&d);
}

static void test_parse_listen(void **state)
{
    char host[64];
    int port = 0;

    assert_int_equal(config_parse_listen("127.0.0.1:8555", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8555);
    assert_int_equal(config_parse_listen("[::1]:443", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 443);
    assert_int_equal(config_parse_listen("localhost:65535", host, sizeof host, &port), 0);
    assert_int_equal(config_parse_listen("localhost:65536", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("localhost:0", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("localhost:+80", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("localhost:80x", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("localhost", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen(":80", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("::1:80", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("[::1]80", host, sizeof host, &port), -1);
    /* brackets hold an IP literal (v4 too, as the propagation check always took) */
    assert_int_equal(config_parse_listen("[127.0.0.1]:80", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(config_parse_listen("[localhost]:80", host, sizeof host, &port), -1);
    assert_int_equal(config_parse_listen("[::1]", host, sizeof host, &port), -1); /* no port */
    assert_int_equal(config_parse_listen("a-very-long-host-name.example.com:1", host, 8, &port),
                     -1);
}

/* The optional-port form every resolver list uses (port 53 by default). */
static void test_hostport_optional(void **state)
{
    static const struct {
        const char *in, *host;
        int port;
    } ok[] = {
        {"[::1]", "::1", 53},
        {"::1", "::1", 53},
        {"[::1]:5353", "::1", 5353},
        {"2001:db8::53", "2001:db8::53", 53},
        {"127.0.0.1", "127.0.0.1", 53},
        {"127.0.0.1:1053", "127.0.0.1", 1053},
        {"[127.0.0.1]", "127.0.0.1", 53},
        {"ns1.example.com", "ns1.example.com", 53},
        {"ns1.example.com:65535", "ns1.example.com", 65535},
    };
    static const char *const bad[] = {
        "",         "[::1",       "[::1]x",      "[::1]:",     "[::1]:0",    "host:",   "host:0",
        "host:+53", "host:53x",   "host:123456", ":53",        "[]",         "[ns]:53", "a b",
        "a/b:53",   "[::1]:53:1", "a:b:c:",      "host:65536", "[1.2.3]:53", "[::g]",   "::1::2",
    };
    char host[64];
    int port;

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        port = 0;
        if (ac_hostport_parse(ok[i].in, 53, host, sizeof host, &port) != 0)
            fail_msg("refused \"%s\"", ok[i].in);
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ac_hostport_parse(bad[i], 53, host, sizeof host, &port) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    /* a bare IPv6 literal has no room for a required port */
    assert_int_equal(ac_hostport_parse("::1", 0, host, sizeof host, &port), -1);
    assert_int_equal(ac_hostport_parse("host", 0, host, sizeof host, &port), -1);
    assert_int_equal(ac_hostport_parse(NULL, 53, host, sizeof host, &port), -1);
    assert_int_equal(ac_hostport_parse("abcdefgh", 53, host, 8, &port), -1); /* does not fit */
}

/* Validation applies the runtime rule: what the propagation check takes,
 * `check` takes (issue 11: "[::1]" was refused). */
static void test_resolvers_rule(void **state)
{
    struct config *cfg;

    (void)state;
    cfg = tc_expect_ok("autocert:\n  provider: challtestsrv\n  email: a@b.test\n"
                       "  domains: [a.test]\n  options:\n    url: http://127.0.0.1:8055\n"
                       "  resolvers: ['[::1]', '::1', '[::1]:5353', '127.0.0.1', "
                       "'ns.example:53', '[127.0.0.1]:53']\n");
    assert_int_equal(cfg->sets[0].resolvers_count, 6);
    config_free(cfg);
    tc_expect_error("autocert:\n  provider: challtestsrv\n  email: a@b.test\n"
                    "  domains: [a.test]\n  options:\n    url: http://127.0.0.1:8055\n"
                    "  resolvers: ['127.0.0.1', '[::1']\n",
                    "autocert.resolvers[2]", 7, 28, "is not a resolver");
}

static void test_booleans(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "1"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "0"};
    static const char *const bad[] = {"y", "n", "2", "truee", " true", "enabled", "-1"};
    bool b;

    (void)state;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        b = false;
        assert_int_equal(ac_bool_parse(yes[i], false, &b), 0);
        assert_true(b);
        assert_int_equal(ac_bool_parse(no[i], true, &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = true;
        assert_int_equal(ac_bool_parse(bad[i], false, &b), -1);
        assert_true(b); /* untouched */
    }
    assert_int_equal(ac_bool_parse(NULL, true, &b), 0);
    assert_true(b);
    assert_int_equal(ac_bool_parse("", false, &b), 0);
    assert_false(b);
}

static void test_suggest(void **state)
{
    static const char *const keys[] = {"domains", "cert_path", "key_path", "token", NULL};
    static const char *const two[] = {"alpha", "beta"};

    (void)state;
    assert_string_equal(ac_suggest("domians", keys, 0), "domains");
    assert_string_equal(ac_suggest("Domains", keys, 0), "domains"); /* case-insensitive */
    assert_string_equal(ac_suggest("cert_pth", keys, 0), "cert_path");
    assert_string_equal(ac_suggest("tokn", keys, 0), "token");
    assert_null(ac_suggest("zzzzqqqq", keys, 0));
    assert_null(ac_suggest("ab", keys, 0)); /* too far for a short word */
    assert_null(ac_suggest("x", two, 2));   /* distance must stay under the length */
    assert_string_equal(ac_suggest("alpah", two, 2), "alpha");
    assert_null(ac_suggest("bta", two, 1)); /* only the first n candidates */
}

static void test_preferred_chain(void **state)
{
    struct config *cfg = tc_expect_ok("autocert:\n  preferred_chain: ISRG Root X1\n"
                                      "  extra:\n    - domains: [b.test]\n"
                                      "      cert_path: b.crt\n      key_path: b.key\n"
                                      "    - domains: [c.test]\n"
                                      "      cert_path: c.crt\n      key_path: c.key\n"
                                      "      preferred_chain: \"Pebble Root CA 1a2b3c\"\n");
    char *out;

    (void)state;
    assert_string_equal(cfg->sets[0].preferred_chain, "ISRG Root X1");
    assert_string_equal(cfg->sets[1].preferred_chain, "ISRG Root X1"); /* inherited */
    assert_string_equal(cfg->sets[2].preferred_chain, "Pebble Root CA 1a2b3c");
    out = print_to_string(cfg);
    assert_non_null(strstr(out, "preferred_chain: \"ISRG Root X1\""));
    free(out);
    config_free(cfg);
    cfg = tc_expect_ok("autocert:\n  domains: [a.test]\n");
    assert_null(cfg->sets[0].preferred_chain);
    config_free(cfg);
    {
        char yaml[400] = "autocert:\n  preferred_chain: ";
        size_t n = strlen(yaml);
        memset(yaml + n, 'x', 257); /* one byte over CONFIG_PREFERRED_CHAIN_MAX */
        memcpy(yaml + n + 257, "\n", 2);
        tc_expect_error(yaml, "autocert.preferred_chain", 2, 3,
                        "preferred_chain must be the common name");
    }
    tc_expect_error("autocert:\n  extra:\n    - domains: [b.test]\n"
                    "      cert_path: b.crt\n      key_path: b.key\n"
                    "      preferred_chain: \"a\\tb\"\n",
                    "autocert.extra[1].preferred_chain", 6, 7, "no control characters");
    tc_expect_error("autocert:\n  preferred_chan: X\n", "autocert.preferred_chan", 2, 3,
                    "did you mean 'preferred_chain'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_expansion),  cmocka_unit_test(test_durations),
        cmocka_unit_test(test_redaction),      cmocka_unit_test(test_secrets_not_in_errors),
        cmocka_unit_test(test_parse_listen),   cmocka_unit_test(test_hostport_optional),
        cmocka_unit_test(test_resolvers_rule), cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_suggest),        cmocka_unit_test(test_preferred_chain),
        cmocka_unit_test(test_engine_limits), cmocka_unit_test(test_store_section),
        cmocka_unit_test(test_source_unchanged),
    };

    return cmocka_run_group_tests(tests, tc_setup, tc_teardown);
}
