/*
 * test_config.c - config_load: defaults, the extra merge, validation rules and
 * the positions of reported mistakes. Values, env expansion, printing and
 * small parsers are in test_config_values.c.
 */
#include "test_config_util.h"

#include "crypto.h"

#define CTS "  provider: challtestsrv\n  options:\n    url: http://127.0.0.1:8055\n"

static void test_defaults(void **state)
{
    struct config *cfg = tc_expect_ok("autocert:\n  provider: local\n");
    const struct config_set *m = &cfg->sets[0];

    assert_int_equal(cfg->sets_count, 1);
    assert_string_equal(m->name, "main");
    assert_string_equal(m->provider, "local");
    assert_null(m->email);
    assert_string_equal(m->cert_path, "certs/cert.crt");
    assert_string_equal(m->key_path, "certs/priv.key");
    assert_string_equal(m->acme_key_path, "certs/acme.key");
    assert_string_equal(m->ca_dir_url, CONFIG_DEFAULT_CA);
    assert_int_equal(m->key_type, CRYPTO_KEY_EC256);
    assert_int_equal(m->order_timeout, 600);
    assert_int_equal(m->retry_min, 60);
    assert_int_equal(m->retry_max, 21600);
    assert_int_equal(m->failure_cooldown, 3600);
    assert_int_equal(m->renew_before, 0);
    assert_string_equal(m->challenge, "dns-01");
    assert_string_equal(cfg->admin.listen, "127.0.0.1:8555");
    assert_null(cfg->admin.token);
    assert_null(cfg->serve.listen);
    assert_false(config_set_is_managed(m));
    config_free(cfg);

    /* No autocert section at all: provider local. */
    cfg = tc_expect_ok("admin:\n  listen: 127.0.0.1:9999\n");
    assert_string_equal(cfg->sets[0].provider, "local");
    assert_string_equal(cfg->admin.listen, "127.0.0.1:9999");
    config_free(cfg);
    cfg = tc_expect_ok("");
    assert_string_equal(cfg->sets[0].provider, "local");
    config_free(cfg);
}

static void test_acme_key_path_from_ca(void **state)
{
    const char *url = "https://127.0.0.1:14000/dir";
    unsigned char h[32];
    char want[64];
    struct config *cfg = tc_expect_ok("autocert:\n  provider: pseudo\n"
                                      "  ca_dir_url: https://127.0.0.1:14000/dir\n");

    crypto_sha256(url, strlen(url), h);
    snprintf(want, sizeof want, "certs/acme_%02x%02x%02x%02x%02x%02x%02x%02x.key", h[0], h[1], h[2],
             h[3], h[4], h[5], h[6], h[7]);
    assert_string_equal(cfg->sets[0].acme_key_path, want);
    config_free(cfg);
    cfg = tc_expect_ok("autocert:\n  acme_key_path: k/a.key\n  ca_dir_url: https://x.test/d\n");
    assert_string_equal(cfg->sets[0].acme_key_path, "k/a.key");
    config_free(cfg);
}

static void test_merge(void **state)
{
    struct config *cfg = tc_expect_ok(
        "autocert:\n" CTS "  email: a@example.com\n  domains: [example.com, '*.example.com']\n"
        "  ca_dir_url: https://ca.test/dir\n  resolvers: [127.0.0.1:53]\n"
        "  certificate_key_type: EC384\n  retry_min: 2m\n"
        "  extra:\n"
        "    - cert_path: e1.crt\n      key_path: e1.key\n"
        "    - domains: [other.test]\n      email: b@example.com\n"
        "      cert_path: e2.crt\n      key_path: e2.key\n"
        "      ca_dir_url: https://ca2.test/dir\n      certificate_key_type: RSA2048\n"
        "      acme_key_path: ignored.key\n      retry_min: 5m\n"
        "      options:\n        url: http://127.0.0.1:9999\n        ttl: 30\n");
    const struct config_set *m = config_find_set(cfg, "main");
    const struct config_set *e1 = config_find_set(cfg, "extra[1]");
    const struct config_set *e2 = config_find_set(cfg, "extra2");

    assert_int_equal(cfg->sets_count, 3);
    assert_non_null(m);
    assert_non_null(e1);
    assert_non_null(e2);
    assert_null(config_find_set(cfg, "extra[3]"));
    assert_null(config_find_set(cfg, "extra[0]"));
    /* e1 inherits everything but its paths; no domains = main's names. */
    assert_string_equal(e1->name, "extra[1]");
    assert_string_equal(e1->provider, "challtestsrv");
    assert_string_equal(e1->email, "a@example.com");
    assert_int_equal(e1->domains_count, 2);
    assert_string_equal(e1->domains[1], "*.example.com");
    assert_string_equal(e1->ca_dir_url, "https://ca.test/dir");
    assert_int_equal(e1->key_type, CRYPTO_KEY_EC384);
    assert_int_equal(e1->resolvers_count, 1);
    assert_int_equal(e1->options_count, 1);
    assert_string_equal(e1->options[0].value, "http://127.0.0.1:8055");
    assert_int_equal(e1->retry_min, 120);
    assert_string_equal(e1->cert_path, "e1.crt");
    assert_string_equal(e1->key_path, "e1.key");
    /* e2 overrides scalars, replaces lists and maps wholesale. */
    assert_string_equal(e2->email, "b@example.com");
    assert_int_equal(e2->domains_count, 1);
    assert_string_equal(e2->domains[0], "other.test");
    assert_string_equal(e2->ca_dir_url, "https://ca2.test/dir");
    assert_int_equal(e2->key_type, CRYPTO_KEY_RSA2048);
    assert_int_equal(e2->retry_min, 300);
    assert_int_equal(e2->options_count, 2);
    assert_int_equal(e2->resolvers_count, 1);
    /* The account key is always main's. */
    assert_string_equal(e1->acme_key_path, m->acme_key_path);
    assert_string_equal(e2->acme_key_path, m->acme_key_path);
    assert_true(config_set_is_managed(e2));
    config_free(cfg);
}

static void test_paths_distinct(void **state)
{
    /* An extra that keeps the default paths collides with main's defaults. */
    tc_expect_error("autocert:\n  provider: local\n  extra:\n    - provider: pseudo\n",
                    "autocert.extra[1].cert_path", 4, 7, "distinct");
    tc_expect_error("autocert:\n  cert_path: same.pem\n  key_path: same.pem\n", "autocert.key_path",
                    3, 3, "is also the cert_path of main");
    tc_expect_error("autocert:\n  extra:\n    - cert_path: a.crt\n      key_path: b.key\n"
                    "    - cert_path: c.crt\n      key_path: a.crt\n",
                    "autocert.extra[2].key_path", 6, 7, "cert_path of extra[1]");
}

static void test_key_types(void **state)
{
    static const struct {
        const char *s;
        enum crypto_key_type t;
    } cases[] = {
        {"EC256", CRYPTO_KEY_EC256},     {"p256", CRYPTO_KEY_EC256},
        {"ec384", CRYPTO_KEY_EC384},     {"P384", CRYPTO_KEY_EC384},
        {"RSA2048", CRYPTO_KEY_RSA2048}, {"2048", CRYPTO_KEY_RSA2048},
        {"rsa3072", CRYPTO_KEY_RSA3072}, {"3072", CRYPTO_KEY_RSA3072},
        {"RSA4096", CRYPTO_KEY_RSA4096}, {"4096", CRYPTO_KEY_RSA4096},
        {"Rsa8192", CRYPTO_KEY_RSA8192}, {"8192", CRYPTO_KEY_RSA8192},
    };
    char yaml[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config *cfg;

        snprintf(yaml, sizeof yaml, "autocert:\n  certificate_key_type: %s\n", cases[i].s);
        cfg = tc_expect_ok(yaml);
        assert_int_equal(cfg->sets[0].key_type, cases[i].t);
        config_free(cfg);
    }
    tc_expect_error("autocert:\n  certificate_key_type: ed25519\n", "autocert.certificate_key_type",
                    2, 3, "not a supported key type");
    tc_expect_error("autocert:\n  certificate_key_type: RSA1024\n", NULL, 0, 0,
                    "not a supported key type");
}

static void test_eab(void **state)
{
    struct config *cfg;

    tc_expect_error("autocert:\n  eab_kid: kid\n", "autocert.eab_kid", 2, 3, "eab_hmac is missing");
    tc_expect_error("autocert:\n  eab_hmac: aGVsbG8\n", "autocert.eab_hmac", 2, 3,
                    "eab_kid is missing");
    tc_expect_error("autocert:\n  eab_kid: k\n  eab_hmac: 'not base64!+/'\n", "autocert.eab_hmac",
                    3, 3, "not base64url");
    cfg = tc_expect_ok("autocert:\n  eab_kid: k\n  eab_hmac: aGVsbG8td29ybGQ\n");
    assert_string_equal(cfg->sets[0].eab_hmac, "aGVsbG8td29ybGQ");
    config_free(cfg);
}

static void test_required_and_domains(void **state)
{
    struct config *cfg;
    struct config_diags d;

    /* local and pseudo need neither email nor domains, and are not checked. */
    cfg = tc_expect_ok("autocert:\n  provider: pseudo\n  domains: [localhost]\n");
    config_free(cfg);
    tc_expect_error("autocert:\n" CTS "  domains: [a.test]\n", "autocert.email", 0, 0,
                    "email is required");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n", "autocert.domains", 0, 0,
                    "domains are required");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [localhost]\n",
                    "autocert.domains[1]", 6, 13, "single-label");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains:\n    - a.test\n"
                    "    - example.com.\n",
                    "autocert.domains[2]", 8, 7, "trailing dot");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [a..test]\n", NULL, 0, 0,
                    "empty label");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: ['a.*.test']\n", NULL, 0, 0,
                    "'*' is only allowed");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [a_b.test]\n", NULL, 0, 0,
                    "invalid character");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: "
                    "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test]\n",
                    NULL, 0, 0, "longer than 63");
    cfg = tc_expect_ok("autocert:\n" CTS "  email: a@b.test\n"
                       "  domains: ['*.Example.com', a-b.example.com, x1.y2.test]\n");
    config_free(cfg);
    /* custom: no domain syntax check, but ca_dir_url is required. */
    tc_expect_error("autocert:\n  provider: custom\n  email: a@b.test\n  domains: [x]\n",
                    "autocert.ca_dir_url", 0, 0, "requires ca_dir_url");
    cfg = tc_expect_ok("autocert:\n  provider: custom\n  email: a@b.test\n  domains: [x]\n"
                       "  ca_dir_url: https://ca.test/dir\n");
    config_free(cfg);
    /* All semantic problems together. */
    assert_int_equal(tc_load("autocert:\n" CTS "  domains: [localhost]\n  eab_kid: x\n"
                             "  challenge: http-01\n",
                             &cfg, &d),
                     -1);
    assert_non_null(tc_find(&d, "email is required"));
    assert_non_null(tc_find(&d, "single-label"));
    assert_non_null(tc_find(&d, "go together"));
    assert_non_null(tc_find(&d, "answered by provider acme"));
    config_diags_free(&d);
}

static void test_provider_names_and_options(void **state)
{
    struct config *cfg;
    struct config_diags d;
    const struct config_diag *it;

    tc_expect_error("autocert:\n  provider: nosuchdns\n  email: a@b.test\n  domains: [a.test]\n",
                    "autocert.provider", 2, 3,
                    "local, pseudo, selfsigned, custom, acme, challtestsrv");
    tc_expect_error("autocert:\n  provider: ChallTestSrv\n  email: a@b.test\n"
                    "  domains: [a.test]\n",
                    NULL, 0, 0, "unknown provider 'ChallTestSrv'");
    /* Missing required option names the provider. */
    tc_expect_error("autocert:\n  provider: challtestsrv\n  email: a@b.test\n"
                    "  domains: [a.test]\n",
                    NULL, 0, 0, "challtestsrv");
    tc_expect_error("autocert:\n  provider: exec\n  email: a@b.test\n  domains: [a.test]\n"
                    "  options:\n    mode: RAW\n",
                    "autocert.options", 0, 0, "program");
    /* A key of another provider is unknown for this one. */
    assert_int_equal(tc_load("autocert:\n  provider: httpreq\n  email: a@b.test\n"
                             "  domains: [a.test]\n  options:\n    endpoint: http://x.test\n"
                             "    program: /bin/true\n",
                             &cfg, &d),
                     -1);
    it = tc_find(&d, "httpreq");
    assert_non_null(it);
    assert_non_null(strstr(it->message, "program"));
    config_diags_free(&d);
    /* A key no provider takes: did-you-mean, positioned. */
    tc_expect_error("autocert:\n  provider: httpreq\n  options:\n    endpont: http://x.test\n",
                    "autocert.options.endpont", 4, 5, "did you mean 'endpoint'");
    /* The alias resolves; numbers are kept as strings. */
    cfg = tc_expect_ok("autocert:\n  provider: rfc2136\n  email: a@b.test\n  domains: [a.test]\n"
                       "  options:\n    nameserver: 127.0.0.1:53\n    ttl: 60\n");
    assert_int_equal(cfg->sets[0].options_count, 2);
    for (size_t i = 0; i < 2; i++)
        if (strcmp(cfg->sets[0].options[i].key, "ttl") == 0)
            assert_string_equal(cfg->sets[0].options[i].value, "60");
    config_free(cfg);
    /* An extra switching provider needs that provider's options. */
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [a.test]\n"
                    "  extra:\n    - provider: exec\n      cert_path: e.crt\n"
                    "      key_path: e.key\n",
                    "autocert.options", 3, 3, "inherits main's options");
}

static void test_challenge(void **state)
{
    /* http-01 / tls-alpn-01 belong to provider acme (test_config_challenge.c
     * has the rules in full) */
    tc_expect_error("autocert:\n  challenge: tls-alpn-01\n", "autocert.challenge", 2, 3,
                    "challenge tls-alpn-01 is answered by provider acme");
    tc_expect_error("autocert:\n  challenge: http-01\n", "autocert.challenge", 2, 3,
                    "challenge http-01 is answered by provider acme");
    tc_expect_error("autocert:\n  challenge: dns-02\n", NULL, 0, 0, "unknown challenge");
}

static void test_ignored_sections(void **state)
{
    struct config *cfg;
    struct config_diags d;
    size_t warnings = 0;

    assert_int_equal(tc_load("entrypoint:\n  a: 1\nautocert:\n  provider: local\n"
                             "providers:\n  include: [x.yml]\n  docker:\n    local: x\n"
                             "homepage: {a: b}\nmatch_domains: [a.test]\n",
                             &cfg, &d),
                     0);
    for (size_t i = 0; i < d.count; i++)
        warnings += d.items[i].warning;
    assert_int_equal(warnings, 1);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "entrypoint, providers, homepage, match_domains"));
    assert_int_equal(d.items[0].line, 1);
    config_free(cfg);
    config_diags_free(&d);
}

/* Issue 12: the loader's quick pass records no key positions; a file that
 * makes any diag is loaded again with them: a warning keeps its exact place,
 * and is reported once. */
static void test_warning_position(void **state)
{
    struct config *cfg;
    struct config_diags d;

    (void)state;
    assert_int_equal(tc_load("autocert:\n  provider: local\n  extra:\n    - cert_path: a.crt\n"
                             "      key_path: a.key\n      acme_key_path: x.key\n",
                             &cfg, &d),
                     0);
    assert_non_null(cfg);
    if (d.count != 1)
        tc_dump(&d);
    assert_int_equal(d.count, 1);
    assert_true(d.items[0].warning);
    assert_string_equal(d.items[0].key_path, "autocert.extra[1].acme_key_path");
    assert_int_equal(d.items[0].line, 6);
    assert_int_equal(d.items[0].column, 7);
    config_free(cfg);
    config_diags_free(&d);
}

static void test_positions(void **state)
{
    /* 1. unknown key with did-you-mean */
    tc_expect_error("autocert:\n  provider: local\n  cert_pth: x\n", "autocert.cert_pth", 3, 3,
                    "did you mean 'cert_path'");
    /* 2. unknown key in an extra and in admin */
    tc_expect_error("autocert:\n  extra:\n    - cert_path: a\n      key_path: b\n"
                    "      profil: x\n",
                    "autocert.extra[1].profil", 5, 7, "did you mean 'profile'");
    tc_expect_error("admin:\n  listen: 127.0.0.1:1\n  tokn: x\n", "admin.tokn", 3, 3,
                    "did you mean 'token'");
    /* 3. YAML syntax error */
    tc_expect_error("autocert:\n  provider: local\n  domains: [a, b\n", NULL, 0, 0,
                    "YAML syntax error");
    /* 4. schema (type) error from libcyaml, positioned by its backtrace */
    tc_expect_error("autocert:\n  provider: local\n  domains:\n    x: 1\n", "autocert.domains", 4,
                    5, "Expecting SEQUENCE");
    /* 5. bad duration */
    tc_expect_error("autocert:\n  order_timeout: 10x\n", "autocert.order_timeout", 2, 3,
                    "not a duration");
    /* 6. bad listen address */
    tc_expect_error("autocert:\n  provider: local\nadmin:\n  listen: 127.0.0.1:0443x\n",
                    "admin.listen", 4, 3, "not a listen address");
    /* 7. notify header */
    tc_expect_error("notify:\n  headers:\n    - 'X-Ok: 1'\n    - NoColonHere\n",
                    "notify.headers[2]", 4, 7, "Name: value");
    /* 8. nested extra */
    tc_expect_error("autocert:\n  extra:\n    - extra: []\n", "autocert.extra[1].extra", 3, 7,
                    "cannot have its own 'extra'");
}

static void test_refused_inputs(void **state)
{
    FILE *f;
    struct config *cfg = NULL;
    struct config_diags d = {0};

    tc_expect_error("autocert:\n  email: &e a@b.test\n  eab_kid: *e\n", NULL, 2, 10,
                    "anchors and aliases");
    tc_expect_error("autocert:\n  provider: local\n---\nautocert: {}\n", NULL, 0, 0,
                    "more than one YAML document");
    tc_expect_error("- a\n- b\n", NULL, 1, 1, "top level must be a mapping");
    /* Over 64 MiB (sparse: the size is checked before anything is read). */
    f = fopen(tc_file, "w");
    assert_non_null(f);
    fputs("autocert:\n  provider: local\n", f);
    assert_int_equal(ftruncate(fileno(f), (off_t)64 * 1024 * 1024 + 1), 0);
    fclose(f);
    assert_int_equal(config_load(tc_file, &cfg, &d), -1);
    assert_non_null(tc_find(&d, "larger than 64 MiB (the configuration file size cap)"));
    config_diags_free(&d);
    assert_int_equal(config_load("/nonexistent/x.yml", &cfg, NULL), -1);
    assert_null(cfg);
}

/* Issue 10 item 16: the whole LDH rule per label, IDN names get a hint. */
static void test_domain_rules(void **state)
{
    struct config *cfg;
    char yaml[1024], label63[64], long_name[300];

    memset(label63, 'a', 63);
    label63[63] = '\0';
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [ok.test, -a.test]\n",
                    "autocert.domains[2]", 6, 22, "a label starts with '-'");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: [www.a-.test]\n",
                    "autocert.domains[1]", 6, 13, "a label ends with '-'");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains: ['*.-x.test']\n",
                    "autocert.domains[1]", 6, 13, "starts with '-'");
    tc_expect_error("autocert:\n" CTS "  email: a@b.test\n  domains:\n    - b\xc3\xbc"
                    "cher.example\n",
                    "autocert.domains[1]", 7, 7, "use its punycode (xn--");
    /* 63 bytes per label is fine, the total is at most 253 */
    snprintf(yaml, sizeof yaml, "autocert:\n" CTS "  email: a@b.test\n  domains: [%s.test]\n",
             label63);
    cfg = tc_expect_ok(yaml);
    config_free(cfg);
    snprintf(long_name, sizeof long_name, "%s.%s.%s.%s.test", label63, label63, label63,
             label63); /* 4 * 64 + 4 = 260 */
    snprintf(yaml, sizeof yaml, "autocert:\n" CTS "  email: a@b.test\n  domains: ['%s']\n",
             long_name);
    tc_expect_error(yaml, "autocert.domains[1]", 0, 0, "longer than 253");
    cfg = tc_expect_ok("autocert:\n" CTS "  email: a@b.test\n"
                       "  domains: [xn--bcher-kva.example, a-1.b--c.test, 1.2.test]\n");
    config_free(cfg);
}

/* Issue 10 item 15: check applies serve's admin rules. */
static void test_admin_rules(void **state)
{
    struct config *cfg;

    tc_expect_error("admin:\n  listen: 0.0.0.0:8555\n", "admin.listen", 2, 3,
                    "not a loopback address and admin.token is not set");
    tc_expect_error("admin:\n  listen: '[::]:8555'\n", "admin.listen", 2, 3,
                    "not a loopback address");
    tc_expect_error("admin:\n  listen: 0.0.0.0:8555\n  token: '   '\n", "admin.token", 3, 3,
                    "begins or ends with whitespace");
    tc_expect_error("admin:\n  listen: 0.0.0.0:8555\n  token: ' 0123456789abcdef'\n", "admin.token",
                    3, 3, "begins or ends with whitespace");
    tc_expect_error("admin:\n  listen: 0.0.0.0:8555\n  token: x\n", "admin.token", 3, 3,
                    "too short (1 characters): use at least 16");
    /* the length rule holds on loopback too */
    tc_expect_error("admin:\n  token: 0123456789abcde\n", "admin.token", 2, 3, "too short");
    tc_expect_error("admin:\n  listen: admin.example:8555\n", "admin.listen", 2, 3,
                    "must be an IP address");
    tc_expect_error("serve:\n  listen: localhost:8443\n", "serve.listen", 2, 3,
                    "must be an IP address");
    tc_expect_error("serve:\n  listen: '127.0.0.1'\n", "serve.listen", 2, 3,
                    "not a listen address");
    cfg = tc_expect_ok("admin:\n  listen: 0.0.0.0:8555\n  token: 0123456789abcdef\n"
                       "serve:\n  listen: '[::]:8443'\n");
    config_free(cfg);
    cfg = tc_expect_ok("admin:\n  listen: localhost:8555\n");
    config_free(cfg);
    cfg = tc_expect_ok("admin:\n  listen: '[::1]:8555'\n");
    config_free(cfg);
}

/* Issue 10 item 16: a duplicate key is reported where it is written again. */
static void test_duplicate_key(void **state)
{
    tc_expect_error("autocert:\n  provider: local\n  email: a@b.test\n  provider: pseudo\n",
                    "autocert.provider", 4, 3,
                    "duplicate key 'provider' (first at line 2, column 3)");
    tc_expect_error("autocert:\n  extra:\n    - cert_path: a\n      key_path: b\n"
                    "    - cert_path: c\n      key_path: d\n      cert_path: e\n",
                    "autocert.extra[2].cert_path", 7, 7, "first at line 5, column 7");
    tc_expect_error("autocert:\n  provider: local\nadmin:\n  listen: 127.0.0.1:1\n"
                    "autocert:\n  provider: pseudo\n",
                    "autocert", 5, 1, "duplicate key 'autocert'");
}

/* Issue 10 item 16: no "0:0" for errors without a position. */
static void test_diag_format(void **state)
{
    struct config_diag with = {
        .file = "f.yml", .line = 3, .column = 5, .key_path = "a.b", .message = "bad"};
    struct config_diag without = {.file = "f.yml", .message = "cannot open: x"};
    struct config_diag warn = {
        .file = "f.yml", .line = 1, .column = 1, .message = "w", .warning = true};
    char out[128];

    (void)state;
    config_diag_format(&with, out, sizeof out);
    assert_string_equal(out, "f.yml:3:5: a.b: bad");
    config_diag_format(&without, out, sizeof out);
    assert_string_equal(out, "f.yml: cannot open: x");
    config_diag_format(&warn, out, sizeof out);
    assert_string_equal(out, "warning: f.yml:1:1: w");
    assert_int_equal(config_diag_format(&with, out, 8), 7);
    assert_string_equal(out, "f.yml:3");
}

/* No cap on extra: (the former one was 100); a repeated path among many
 * sets is reported once, against its first use, with its position. */
static void test_many_extras(void **state)
{
    struct config *cfg = NULL;
    struct config_diags d = {0};
    const struct config_diag *dg;
    FILE *f;

    (void)state;
    f = fopen(tc_file, "w");
    assert_non_null(f);
    fputs("autocert:\n  provider: local\n  cert_path: c/0.crt\n  key_path: c/0.key\n  extra:\n", f);
    for (int i = 1; i <= 2500; i++)
        fprintf(f, "    - cert_path: c/%d.crt\n      key_path: c/%d.key\n", i, i);
    fclose(f);
    assert_int_equal(config_load(tc_file, &cfg, &d), 0);
    assert_int_equal(cfg->sets_count, 2501);
    assert_string_equal(cfg->sets[2500].name, "extra[2500]");
    assert_string_equal(cfg->sets[2500].key_path, "c/2500.key");
    config_free(cfg);
    config_diags_free(&d);

    /* extra[2000]'s key_path repeats extra[7]'s cert_path */
    f = fopen(tc_file, "w");
    assert_non_null(f);
    fputs("autocert:\n  provider: local\n  cert_path: c/0.crt\n  key_path: c/0.key\n  extra:\n", f);
    for (int i = 1; i <= 2500; i++)
        fprintf(f, "    - cert_path: c/%d.crt\n      key_path: %s\n", i,
                i == 2000 ? "c/7.crt" : "c/x.key");
    fclose(f);
    cfg = NULL;
    assert_int_equal(config_load(tc_file, &cfg, &d), -1);
    dg = tc_find(&d, "c/7.crt (extra[2000]) is also the cert_path of extra[7]");
    assert_non_null(dg);
    assert_string_equal(dg->key_path, "autocert.extra[2000].key_path");
    assert_int_equal(dg->line, 5 + 2 * 1999 + 2);
    /* c/x.key: extra[2] .. extra[2500] (not extra[2000]) repeat extra[1]'s */
    dg = tc_find(&d, "c/x.key (extra[2500]) is also the key_path of extra[1]");
    assert_non_null(dg);
    config_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_acme_key_path_from_ca),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_paths_distinct),
        cmocka_unit_test(test_key_types),
        cmocka_unit_test(test_eab),
        cmocka_unit_test(test_required_and_domains),
        cmocka_unit_test(test_provider_names_and_options),
        cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_ignored_sections),
        cmocka_unit_test(test_warning_position),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_refused_inputs),
        cmocka_unit_test(test_domain_rules),
        cmocka_unit_test(test_admin_rules),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_diag_format),
        cmocka_unit_test(test_many_extras),
    };

    return cmocka_run_group_tests(tests, tc_setup, tc_teardown);
}
