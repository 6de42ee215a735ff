/* test_provider_dnsupdate.c - the RFC 2136 provider against a real Knot
 * server started here (TSIG keys hmac-sha256/384/512, update ACL): two values
 * at one name coexist, cleanup removes exactly one, a CNAME on the challenge
 * name is followed into another zone, a wrong TSIG secret is refused with an
 * error naming the provider and the option (never the secret), also for
 * hmac-sha384 (signed by tsig.c), tsig_file,
 * option validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns_provider.h"
#include "test_provider_knot.h"

static struct knot k;
static struct knot_key keys[3] = {
    {"acme256.", "hmac-sha256", ""},
    {"acme384.", "hmac-sha384", ""},
    {"acme512.", "hmac-sha512", ""},
};

static const struct knot_zone zones[] = {
    {"example.test", "@ NS ns1\nns1 A 127.0.0.1\n"
                     "_acme-challenge.alias CNAME _acme-challenge.target.other.test.\n"},
    {"other.test", "@ NS ns1\nns1 A 127.0.0.1\n"},
};

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++)
        if (knot_random_secret(keys[i].secret, sizeof(keys[i].secret)) != 0)
            return -1;
    return knot_start(&k, "127.0.0.1", 0, zones, 2, keys, 3);
}

static int teardown(void **state)
{
    (void)state;
    knot_stop(&k);
    return 0;
}

static struct dns_provider *make(const char *name, const char *key, const char *secret,
                                 const char *alg, struct ac_error *e)
{
    struct dns_option o[4] = {{"nameserver", k.server}};
    size_t n = 1;
    struct dns_provider *p = NULL;

    if (key) {
        o[n++] = (struct dns_option){"tsig_key", key};
        o[n++] = (struct dns_option){"tsig_secret", secret};
    }
    if (alg)
        o[n++] = (struct dns_option){"tsig_algorithm", alg};
    if (dns_provider_new(name, o, n, &p, e) != 0)
        return NULL;
    return p;
}

static void challenge(struct dns_challenge *ch, const char *fqdn, const char *value)
{
    memset(ch, 0, sizeof(*ch));
    ch->domain = fqdn + strlen("_acme-challenge.");
    ch->fqdn = fqdn;
    ch->value = value;
}

static void test_two_values_coexist_cleanup_one(void **state)
{
    struct ac_error e;
    struct dns_challenge a, b;
    char txt[512];
    const char *fq = "_acme-challenge.example.test";
    struct dns_provider *p = make("rfc2136", keys[0].name, keys[0].secret, NULL, &e);

    (void)state;
    assert_non_null(p);
    challenge(&a, fq, "valueAAAA_apex-0123456789abcdefghijklmnopqrstu");
    challenge(&b, fq, "valueBBBB_wild-0123456789abcdefghijklmnopqrstu");
    assert_int_equal(dns_provider_present(p, &a, &e), 0);
    assert_int_equal(dns_provider_present(p, &b, &e), 0);
    assert_int_equal(knot_txt(&k, fq, txt, sizeof(txt)), 0);
    assert_string_equal(txt, "valueAAAA_apex-0123456789abcdefghijklmnopqrstu "
                             "valueBBBB_wild-0123456789abcdefghijklmnopqrstu");
    assert_int_equal(dns_provider_cleanup(p, &a, &e), 0);
    assert_int_equal(knot_txt(&k, fq, txt, sizeof(txt)), 0);
    assert_string_equal(txt, "valueBBBB_wild-0123456789abcdefghijklmnopqrstu");
    /* absent is success */
    assert_int_equal(dns_provider_cleanup(p, &a, &e), 0);
    assert_int_equal(dns_provider_cleanup(p, &b, &e), 0);
    assert_int_equal(knot_txt(&k, fq, txt, sizeof(txt)), 0);
    assert_string_equal(txt, "");
    dns_provider_free(p);
}

static void test_other_algorithms(void **state)
{
    struct ac_error e;
    struct dns_challenge a;
    char txt[512];
    const char *fq = "_acme-challenge.www.example.test";

    (void)state;
    for (size_t i = 1; i < 3; i++) { /* hmac-sha384 and hmac-sha512 (tsig.c) */
        struct dns_provider *p = make("dnsupdate", keys[i].name, keys[i].secret,
                                      keys[i].algorithm, &e);
        assert_non_null(p);
        challenge(&a, fq, "algvalue");
        if (dns_provider_present(p, &a, &e) != 0)
            fail_msg("%s: %s", keys[i].algorithm, e.message);
        assert_int_equal(knot_txt(&k, fq, txt, sizeof(txt)), 0);
        assert_string_equal(txt, "algvalue");
        assert_int_equal(dns_provider_cleanup(p, &a, &e), 0);
        assert_int_equal(knot_txt(&k, fq, txt, sizeof(txt)), 0);
        assert_string_equal(txt, "");
        dns_provider_free(p);
    }
}

static void test_cname_followed(void **state)
{
    struct ac_error e;
    struct dns_challenge a;
    char txt[512];
    struct dns_provider *p = make("dnsupdate", keys[0].name, keys[0].secret, NULL, &e);

    (void)state;
    assert_non_null(p);
    challenge(&a, "_acme-challenge.alias.example.test", "viacname");
    assert_int_equal(dns_provider_present(p, &a, &e), 0);
    assert_int_equal(knot_txt(&k, "_acme-challenge.target.other.test", txt, sizeof(txt)), 0);
    assert_string_equal(txt, "viacname");
    assert_int_equal(dns_provider_cleanup(p, &a, &e), 0);
    assert_int_equal(knot_txt(&k, "_acme-challenge.target.other.test", txt, sizeof(txt)), 0);
    assert_string_equal(txt, "");
    dns_provider_free(p);
}

/* An UPDATE with key `key`, `secret` and `alg` is refused as an auth error
 * naming the provider (and `option` when not NULL), never quoting a secret;
 * nothing lands. */
static void expect_refused(const char *key, const char *secret, const char *alg,
                           const char *option)
{
    struct ac_error e;
    struct dns_challenge a;
    char txt[512];
    struct dns_provider *p = make("dnsupdate", key, secret, alg, &e);

    assert_non_null(p);
    challenge(&a, "_acme-challenge.example.test", "shouldnotappear");
    assert_int_equal(dns_provider_present(p, &a, &e), -1);
    assert_string_equal(e.kind, AC_ERR_DNS_AUTH);
    assert_non_null(strstr(e.message, "dnsupdate"));
    if (option != NULL)
        assert_non_null(strstr(e.message, option));
    for (size_t i = 0; i < 3; i++)
        assert_null(strstr(e.message, keys[i].secret));
    if (secret != NULL)
        assert_null(strstr(e.message, secret));
    assert_int_equal(knot_txt(&k, a.fqdn, txt, sizeof(txt)), 0);
    assert_string_equal(txt, "");
    dns_provider_free(p);
}

static void test_wrong_secret_refused(void **state)
{
    char wrong[64];

    (void)state;
    assert_int_equal(knot_random_secret(wrong, sizeof(wrong)), 0);
    expect_refused(keys[0].name, wrong, NULL, "tsig_secret");
    /* hmac-sha384 (signed by tsig.c): wrong secret, then the right secret
     * under the wrong algorithm */
    expect_refused(keys[1].name, wrong, "hmac-sha384", "tsig_secret");
    expect_refused(keys[1].name, keys[1].secret, "hmac-sha256", "tsig_secret");
    /* no key at all: the ACL refuses */
    expect_refused(NULL, NULL, NULL, NULL);
}

static void test_tsig_file(void **state)
{
    struct ac_error e;
    struct dns_challenge a;
    char path[256], body[512], txt[256];
    struct dns_option o[2];
    struct dns_provider *p = NULL;

    (void)state;
    snprintf(path, sizeof(path), "%s/tsig.key", k.dir);
    snprintf(body, sizeof(body),
             "# generated\nkey \"%s\" {\n\talgorithm hmac-sha512;\n\tsecret \"%s\";\n};\n",
             keys[2].name, keys[2].secret);
    assert_int_equal(knot_write(path, body), 0);
    o[0] = (struct dns_option){"nameserver", k.server};
    o[1] = (struct dns_option){"tsig_file", path};
    assert_int_equal(dns_provider_new("dnsupdate", o, 2, &p, &e), 0);
    challenge(&a, "_acme-challenge.file.example.test", "fromfile");
    assert_int_equal(dns_provider_present(p, &a, &e), 0);
    assert_int_equal(knot_txt(&k, a.fqdn, txt, sizeof(txt)), 0);
    assert_string_equal(txt, "fromfile");
    assert_int_equal(dns_provider_cleanup(p, &a, &e), 0);
    dns_provider_free(p);
}

static void test_validation(void **state)
{
    struct ac_error e;
    struct dns_option o[3];

    (void)state;
    o[0] = (struct dns_option){"tsig_key", "k."};
    assert_int_equal(dns_options_validate("dnsupdate", o, 1, &e), -1);
    assert_non_null(strstr(e.message, "nameserver"));

    o[0] = (struct dns_option){"nameserver", "127.0.0.1:53"};
    o[1] = (struct dns_option){"tsig_key", "k."};
    assert_int_equal(dns_options_validate("dnsupdate", o, 2, &e), -1);
    assert_non_null(strstr(e.message, "tsig_secret"));

    o[1] = (struct dns_option){"tsig_algorithm", "hmac-md99"};
    assert_int_equal(dns_options_validate("rfc2136", o, 2, &e), -1);
    assert_non_null(strstr(e.message, "tsig_algorithm"));
    assert_null(strstr(e.message, "md99"));

    /* hmac-sha384 is signed by tsig.c (ldns 1.8.3 cannot) */
    o[1] = (struct dns_option){"tsig_algorithm", "HMAC-SHA384."};
    assert_int_equal(dns_options_validate("rfc2136", o, 2, &e), 0);

    o[1] = (struct dns_option){"tsig_key", "k."};
    o[2] = (struct dns_option){"tsig_secret", "not base64 !!"};
    assert_int_equal(dns_options_validate("dnsupdate", o, 3, &e), -1);
    assert_non_null(strstr(e.message, "tsig_secret"));
    assert_null(strstr(e.message, "base64 !!"));

    o[0] = (struct dns_option){"nameserver", "[::1]:99999"};
    assert_int_equal(dns_options_validate("dnsupdate", o, 1, &e), -1);
    o[0] = (struct dns_option){"nameserver", "[::1]:5353"};
    o[1] = (struct dns_option){"dns_timeout", "15s"};
    assert_int_equal(dns_options_validate("dnsupdate", o, 2, &e), 0);
    o[1] = (struct dns_option){"dns_timeout", "forever"};
    assert_int_equal(dns_options_validate("dnsupdate", o, 2, &e), -1);
    assert_non_null(strstr(e.message, "dns_timeout"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_two_values_coexist_cleanup_one),
        cmocka_unit_test(test_other_algorithms),
        cmocka_unit_test(test_cname_followed),
        cmocka_unit_test(test_wrong_secret_refused),
        cmocka_unit_test(test_tsig_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
