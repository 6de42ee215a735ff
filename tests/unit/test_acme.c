/*
 * test_acme.c - the pure half of the ACME client: problem documents and the
 * URN table, directory / account / order / authorization / renewalInfo
 * parsers on good, malformed, truncated, mistyped and huge input, and the
 * polling schedule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_problem_subproblems(void **state)
{
    /* RFC 8555 §6.7.1 example */
    static const char doc[] = "{\"type\":\"urn:ietf:params:acme:error:malformed\","
                              "\"detail\":\"Some of the identifiers requested were rejected\","
                              "\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:malformed\","
                              "\"detail\":\"Invalid underscore in DNS name \\\"_example.org\\\"\","
                              "\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},"
                              "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
                              "\"detail\":\"This CA will not issue for \\\"example.net\\\"\","
                              "\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}]}";
    struct ac_error e;

    acme_problem_parse(S(doc), 400, -1, "newOrder", &e);
    assert_string_equal(e.kind, AC_ERR_CA_REJECTED);
    assert_string_equal(e.acme_type, "urn:ietf:params:acme:error:malformed");
    assert_int_equal(e.http_status, 400);
    assert_int_equal(e.retry_after, -1);
    assert_non_null(strstr(e.message, "newOrder: Some of the identifiers requested were rejected"));
    assert_non_null(strstr(e.message, "_example.org: Invalid underscore"));
    assert_non_null(strstr(e.message, "example.net: This CA will not issue"));
    assert_non_null(strstr(e.message, "rejectedIdentifier"));
}

static void test_problem_rate_limited(void **state)
{
    static const char doc[] = "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
                              "\"detail\":\"too many certificates\"}";
    struct ac_error e;

    acme_problem_parse(S(doc), 429, 3600, "newOrder", &e);
    assert_string_equal(e.kind, AC_ERR_CA_RATE_LIMITED);
    assert_int_equal(e.retry_after, 3600);
    assert_int_equal(e.http_status, 429);
    assert_non_null(strstr(e.message, "too many certificates"));
}

static void test_problem_not_json(void **state)
{
    struct ac_error e;

    acme_problem_parse(S("<html>Bad Gateway</html>"), 502, 10, "order", &e);
    assert_string_equal(e.kind, AC_ERR_CA_SERVER);
    assert_int_equal(e.http_status, 502);
    assert_int_equal(e.retry_after, 10);
    acme_problem_parse(S("[1,2]"), 400, -1, "order", &e);
    assert_string_equal(e.kind, AC_ERR_CA_BAD_RESPONSE);
    acme_problem_parse(NULL, 0, 404, -1, "order", &e);
    assert_string_equal(e.kind, AC_ERR_CA_BAD_RESPONSE);
    /* wrong member types: still an error, defaults for the text */
    acme_problem_parse(S("{\"type\":5,\"detail\":[],\"subproblems\":{}}"), 400, -1, "x", &e);
    assert_string_equal(e.kind, AC_ERR_CA_REJECTED);
    assert_string_equal(e.acme_type, "");
}

static void test_problem_compound_and_long(void **state)
{
    char *doc;
    size_t n = 0, cap = 200000;
    struct ac_error e;

    acme_problem_parse(S("{\"type\":\"urn:ietf:params:acme:error:compound\",\"subproblems\":"
                         "[{\"type\":\"urn:ietf:params:acme:error:caa\",\"identifier\":"
                         "{\"type\":\"dns\",\"value\":\"a.test\"}}]}"),
                       403, -1, "finalize", &e);
    assert_string_equal(e.kind, AC_ERR_CA_REJECTED);
    assert_non_null(strstr(e.message, "a.test"));

    /* many long subproblems: message stays bounded and NUL-terminated */
    doc = malloc(cap);
    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, cap - n,
                          "{\"type\":\"urn:ietf:params:acme:error:dns\","
                          "\"detail\":\"d\",\"subproblems\":[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "%s{\"detail\":\"%0500d\",\"identifier\":{\"value\":\"x%d.test\"}}",
                              i ? "," : "", 0, i);
    n += (size_t)snprintf(doc + n, cap - n, "]}");
    acme_problem_parse(doc, n, 400, -1, "authz", &e);
    assert_string_equal(e.kind, AC_ERR_CA_CHALLENGE);
    assert_true(strlen(e.message) < sizeof e.message);
    free(doc);
}

static void test_problem_table(void **state)
{
    static const struct {
        const char *urn;
        int status;
        const char *kind;
    } t[] = {
        {"urn:ietf:params:acme:error:rateLimited", 429, AC_ERR_CA_RATE_LIMITED},
        {"urn:ietf:params:acme:error:badNonce", 400, AC_ERR_CA_BAD_NONCE},
        {"urn:ietf:params:acme:error:accountDoesNotExist", 400, AC_ERR_CA_NO_ACCOUNT},
        {"urn:ietf:params:acme:error:unauthorized", 403, AC_ERR_CA_UNAUTHORIZED},
        {"urn:ietf:params:acme:error:externalAccountRequired", 400, AC_ERR_CA_EAB},
        {"urn:ietf:params:acme:error:malformed", 400, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:rejectedIdentifier", 400, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:badCSR", 400, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:caa", 403, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:unsupportedIdentifier", 400, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:badPublicKey", 400, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:serverInternal", 500, AC_ERR_CA_SERVER},
        {"urn:ietf:params:acme:error:dns", 400, AC_ERR_CA_CHALLENGE},
        {"urn:ietf:params:acme:error:connection", 400, AC_ERR_CA_CHALLENGE},
        {"urn:ietf:params:acme:error:incorrectResponse", 400, AC_ERR_CA_CHALLENGE},
        {"urn:ietf:params:acme:error:alreadyReplaced", 409, AC_ERR_CA_ALREADY_REPLACED},
        {"urn:ietf:params:acme:error:invalidProfile", 400, AC_ERR_CA_PROFILE},
        {"urn:ietf:params:acme:error:noSuchThing", 400, AC_ERR_CA_REJECTED},
        {"urn:ietf:params:acme:error:noSuchThing", 503, AC_ERR_CA_SERVER},
        {"about:blank", 429, AC_ERR_CA_RATE_LIMITED},
        {NULL, 500, AC_ERR_CA_SERVER},
        {"urn:ietf:params:acme:error:", 400, AC_ERR_CA_REJECTED},
    };

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_string_equal(acme_problem_kind(t[i].urn, t[i].status), t[i].kind);
}

static const char good_dir[] =
    "{\"newNonce\":\"https://ca/nonce\",\"newAccount\":\"https://ca/acct\","
    "\"newOrder\":\"https://ca/order\",\"revokeCert\":\"https://ca/revoke\","
    "\"keyChange\":\"https://ca/kc\",\"renewalInfo\":\"https://ca/ari\","
    "\"meta\":{\"termsOfService\":\"https://ca/tos\",\"externalAccountRequired\":true,"
    "\"profiles\":{\"classic\":\"The classic profile\",\"shortlived\":\"6 days\"}}}";

static void test_directory_good(void **state)
{
    struct acme_directory d;
    struct ac_error e;

    assert_int_equal(acme_directory_parse(S(good_dir), &d, &e), 0);
    assert_string_equal(d.new_nonce, "https://ca/nonce");
    assert_string_equal(d.new_order, "https://ca/order");
    assert_string_equal(d.renewal_info, "https://ca/ari");
    assert_string_equal(d.terms_of_service, "https://ca/tos");
    assert_true(d.eab_required);
    assert_int_equal(d.profile_count, 2);
    assert_string_equal(d.profile_names[0], "classic");
    assert_string_equal(d.profile_descs[1], "6 days");
    acme_directory_clear(&d);

    /* minimal (Pebble-like, no ARI, no profiles) */
    assert_int_equal(acme_directory_parse(S("{\"newNonce\":\"n\",\"newAccount\":\"a\","
                                            "\"newOrder\":\"o\",\"meta\":{}}"),
                                          &d, &e),
                     0);
    assert_null(d.renewal_info);
    assert_int_equal(d.profile_count, 0);
    assert_false(d.eab_required);
    acme_directory_clear(&d);
}

static void expect_bad(int rc, const struct ac_error *e)
{
    assert_int_equal(rc, -1);
    assert_string_equal(e->kind, AC_ERR_CA_BAD_RESPONSE);
}

static void test_directory_bad(void **state)
{
    struct acme_directory d;
    struct ac_error e;
    char *huge, *deep;
    size_t n = 2 * 1024 * 1024;

    expect_bad(acme_directory_parse(S("{\"newAccount\":\"a\",\"newOrder\":\"o\"}"), &d, &e), &e);
    assert_non_null(strstr(e.message, "newNonce"));
    expect_bad(
        acme_directory_parse(S("{\"newNonce\":1,\"newAccount\":\"a\",\"newOrder\":\"o\"}"), &d, &e),
        &e);
    expect_bad(acme_directory_parse(S("{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrd"), &d, &e),
               &e);
    expect_bad(acme_directory_parse(S("[\"newNonce\"]"), &d, &e), &e);
    expect_bad(acme_directory_parse(S(""), &d, &e), &e);
    expect_bad(acme_directory_parse(S("{} trailing"), &d, &e), &e);
    expect_bad(acme_directory_parse(S("{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":\"o\","
                                      "\"renewalInfo\":{}}"),
                                    &d, &e),
               &e);
    /* truncated at every length */
    for (size_t i = 0; i < sizeof good_dir - 1; i++) {
        assert_int_equal(acme_directory_parse(good_dir, i, &d, &e), -1);
    }
    huge = malloc(n);
    assert_non_null(huge);
    memset(huge, ' ', n);
    huge[0] = '{';
    huge[n - 1] = '}';
    expect_bad(acme_directory_parse(huge, n, &d, &e), &e);
    free(huge);
    deep = malloc(20001);
    assert_non_null(deep);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    expect_bad(acme_directory_parse(deep, 20000, &d, &e), &e);
    free(deep);
}

static void test_account(void **state)
{
    struct ac_error e;

    assert_int_equal(acme_account_parse(S("{\"status\":\"valid\",\"contact\":[]}"), &e), 0);
    assert_int_equal(acme_account_parse(S("{\"status\":\"deactivated\"}"), &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_UNAUTHORIZED);
    expect_bad(acme_account_parse(S("{\"status\":true}"), &e), &e);
    expect_bad(acme_account_parse(S("{\"status\":\"val"), &e), &e);
    expect_bad(acme_account_parse(S("\"valid\""), &e), &e);
}

static void test_order(void **state)
{
    static const char good[] = "{\"status\":\"pending\",\"expires\":\"2030-01-01T00:00:00Z\","
                               "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
                               "\"authorizations\":[\"https://ca/authz/1\",\"https://ca/authz/2\"],"
                               "\"finalize\":\"https://ca/finalize/1\"}";
    static const char invalid[] =
        "{\"status\":\"invalid\",\"authorizations\":[],\"finalize\":\"f\","
        "\"error\":{\"type\":\"urn:ietf:params:acme:error:badCSR\",\"detail\":\"bad key\"}}";
    struct acme_order_doc o;
    struct ac_error e;
    char buf[8192];
    size_t n = 0;

    assert_int_equal(acme_order_parse(S(good), &o, &e), 0);
    assert_string_equal(o.status, "pending");
    assert_int_equal(o.authz_count, 2);
    assert_string_equal(o.authz[1], "https://ca/authz/2");
    assert_string_equal(o.finalize, "https://ca/finalize/1");
    assert_null(o.certificate);
    assert_false(o.has_error);
    acme_order_doc_clear(&o);

    assert_int_equal(acme_order_parse(S(invalid), &o, &e), 0);
    assert_true(o.has_error);
    assert_string_equal(o.error.kind, AC_ERR_CA_REJECTED);
    assert_non_null(strstr(o.error.message, "bad key"));
    acme_order_doc_clear(&o);

    expect_bad(acme_order_parse(S("{\"status\":\"valid\",\"finalize\":\"f\"}"), &o, &e), &e);
    expect_bad(acme_order_parse(S("{\"status\":\"valid\",\"finalize\":\"f\",\"authorizations\":"
                                  "[\"a\",7]}"),
                                &o, &e),
               &e);
    expect_bad(acme_order_parse(S("{\"status\":\"valid\",\"finalize\":\"f\",\"authorizations\":[],"
                                  "\"certificate\":{}}"),
                                &o, &e),
               &e);
    for (size_t i = 0; i < sizeof good - 1; i++)
        assert_int_equal(acme_order_parse(good, i, &o, &e), -1);
    /* more authorizations than the limit */
    n += (size_t)snprintf(buf + n, sizeof buf - n,
                          "{\"status\":\"pending\",\"finalize\":\"f\",\"authorizations\":[");
    for (int i = 0; i <= ACME_MAX_AUTHZ; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"u%d\"", i ? "," : "", i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "]}");
    expect_bad(acme_order_parse(buf, n, &o, &e), &e);
}

static void test_authz(void **state)
{
    static const char good[] =
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.test\"},"
        "\"wildcard\":true,\"challenges\":["
        "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":\"t1\",\"status\":\"pending\"},"
        "{\"type\":\"dns-01\",\"url\":\"https://ca/c/2\",\"token\":\"DGyRejmCefe7v4NfDGDKfA\","
        "\"status\":\"pending\"}]}";
    static const char failed[] =
        "{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"x.test\"},"
        "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"u\",\"token\":\"tok\",\"status\":"
        "\"invalid\","
        "\"error\":{\"type\":\"urn:ietf:params:acme:error:unauthorized\",\"detail\":"
        "\"Incorrect TXT record\"}}]}";
    struct acme_authz_doc a;
    struct ac_error e;

    assert_int_equal(acme_authz_parse(S(good), &a, &e), 0);
    assert_string_equal(a.status, "pending");
    assert_string_equal(a.id_value, "example.test");
    assert_true(a.wildcard);
    assert_string_equal(a.chal_url, "https://ca/c/2");
    assert_string_equal(a.chal_token, "DGyRejmCefe7v4NfDGDKfA");
    assert_false(a.has_chal_error);
    acme_authz_doc_clear(&a);

    assert_int_equal(acme_authz_parse(S(failed), &a, &e), 0);
    assert_true(a.has_chal_error);
    assert_string_equal(a.chal_error.kind, AC_ERR_CA_UNAUTHORIZED);
    assert_non_null(strstr(a.chal_error.message, "Incorrect TXT record"));
    acme_authz_doc_clear(&a);

    /* no dns-01 offered: parses, chal_url NULL */
    assert_int_equal(acme_authz_parse(S("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
                                        "\"value\":\"v\"},\"challenges\":[]}"),
                                      &a, &e),
                     0);
    assert_null(a.chal_url);
    acme_authz_doc_clear(&a);

    expect_bad(acme_authz_parse(S("{\"status\":\"pending\",\"challenges\":[]}"), &a, &e), &e);
    expect_bad(acme_authz_parse(S("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
                                  "\"value\":\"v\"},\"challenges\":[{\"type\":\"dns-01\","
                                  "\"url\":\"u\",\"token\":\"a.b; rm\",\"status\":\"pending\"}]}"),
                                &a, &e),
               &e);
    expect_bad(acme_authz_parse(S("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
                                  "\"value\":\"v\"},\"challenges\":[7]}"),
                                &a, &e),
               &e);
    expect_bad(acme_authz_parse(S("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
                                  "\"value\":\"v\"},\"challenges\":[{\"type\":\"dns-01\","
                                  "\"url\":5,\"token\":\"t\",\"status\":\"pending\"}]}"),
                                &a, &e),
               &e);
    for (size_t i = 0; i < sizeof good - 1; i++)
        assert_int_equal(acme_authz_parse(good, i, &a, &e), -1);
}

static void test_renewal_info(void **state)
{
    /* RFC 9773 §4.2 example */
    static const char good[] = "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
                               "\"end\":\"2025-01-03T04:00:00Z\"},"
                               "\"explanationURL\":\"https://acme.example.com/docs/ari\"}";
    struct acme_renewal_info ri;
    struct ac_error e;

    assert_int_equal(acme_renewal_info_parse(S(good), &ri, &e), 0);
    assert_int_equal(ri.start, 1735790400);
    assert_int_equal(ri.end, 1735790400 + 86400);
    assert_int_equal(ri.retry_after, -1);
    assert_string_equal(ri.explanation_url, "https://acme.example.com/docs/ari");
    acme_renewal_info_free(&ri);

    expect_bad(acme_renewal_info_parse(S("{\"suggestedWindow\":{\"start\":\"yesterday\","
                                         "\"end\":\"2025-01-03T04:00:00Z\"}}"),
                                       &ri, &e),
               &e);
    expect_bad(acme_renewal_info_parse(S("{\"suggestedWindow\":{\"start\":\"2025-01-04T04:00:00Z\","
                                         "\"end\":\"2025-01-03T04:00:00Z\"}}"),
                                       &ri, &e),
               &e);
    expect_bad(acme_renewal_info_parse(S("{\"suggestedWindow\":[]}"), &ri, &e), &e);
    for (size_t i = 0; i < sizeof good - 1; i++)
        assert_int_equal(acme_renewal_info_parse(good, i, &ri, &e), -1);
}

static void test_poll_schedule(void **state)
{
    static const int64_t want[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};

    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(acme_poll_delay_ms(i, -1), want[i]);
    assert_int_equal(acme_poll_delay_ms(1000000, -1), 8000);
    assert_int_equal(acme_poll_delay_ms(0, 3), 3000);
    assert_int_equal(acme_poll_delay_ms(6, 1), 1000);
    assert_int_equal(acme_poll_delay_ms(0, 0), 250);
    assert_int_equal(acme_poll_delay_ms(0, 100000), 60000);
}

/* The challenge of the set's type: http-01 / tls-alpn-01 (RFC 8555 8.3,
 * RFC 8737), its own error preferred; IP identifiers (RFC 8738). */
static void test_authz_types(void **state)
{
    static const char three[] =
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"ip\",\"value\":\"127.0.0.1\"},"
        "\"challenges\":["
        "{\"type\":\"dns-01\",\"url\":\"https://ca/c/1\",\"token\":\"dnsTOKENdnsTOKENdnsTOKEN\","
        "\"status\":\"pending\"},"
        "{\"type\":\"http-01\",\"url\":\"https://ca/c/"
        "2\",\"token\":\"httpTOKENhttpTOKENhttpTOKEN\","
        "\"status\":\"pending\",\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\","
        "\"detail\":\"Connection refused\"}},"
        "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/c/3\",\"token\":\"alpnTOKENalpnTOKENalpn\","
        "\"status\":\"pending\"}]}";
    struct acme_authz_doc a;
    struct ac_error e;

    (void)state;
    assert_int_equal(acme_authz_parse_type(S(three), "http-01", &a, &e), 0);
    assert_string_equal(a.id_type, "ip");
    assert_string_equal(a.id_value, "127.0.0.1");
    assert_string_equal(a.chal_url, "https://ca/c/2");
    assert_string_equal(a.chal_token, "httpTOKENhttpTOKENhttpTOKEN");
    assert_true(a.has_chal_error);
    assert_non_null(strstr(a.chal_error.message, "Connection refused"));
    acme_authz_doc_clear(&a);
    assert_int_equal(acme_authz_parse_type(S(three), "tls-alpn-01", &a, &e), 0);
    assert_string_equal(a.chal_url, "https://ca/c/3");
    assert_string_equal(a.chal_token, "alpnTOKENalpnTOKENalpn");
    acme_authz_doc_clear(&a);
    assert_int_equal(acme_authz_parse_type(S(three), NULL, &a, &e), 0);
    assert_string_equal(a.chal_url, "https://ca/c/1");
    acme_authz_doc_clear(&a);
    assert_int_equal(acme_authz_parse(S(three), &a, &e), 0);
    assert_string_equal(a.chal_token, "dnsTOKENdnsTOKENdnsTOKEN");
    acme_authz_doc_clear(&a);
    /* a type the CA does not offer */
    assert_int_equal(acme_authz_parse_type(S(three), "dns-account-01", &a, &e), 0);
    assert_null(a.chal_url);
    acme_authz_doc_clear(&a);
    /* a token that is not base64url names the type */
    expect_bad(acme_authz_parse_type(S("{\"status\":\"pending\",\"identifier\":{\"type\":"
                                       "\"dns\",\"value\":\"v\"},\"challenges\":[{\"type\":"
                                       "\"http-01\",\"url\":\"u\",\"token\":\"../x\","
                                       "\"status\":\"pending\"}]}"),
                                     "http-01", &a, &e),
               &e);
    assert_non_null(strstr(e.message, "http-01 token is not base64url"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_subproblems),
        cmocka_unit_test(test_problem_rate_limited),
        cmocka_unit_test(test_problem_not_json),
        cmocka_unit_test(test_problem_compound_and_long),
        cmocka_unit_test(test_problem_table),
        cmocka_unit_test(test_directory_good),
        cmocka_unit_test(test_directory_bad),
        cmocka_unit_test(test_account),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_authz),
        cmocka_unit_test(test_authz_types),
        cmocka_unit_test(test_renewal_info),
        cmocka_unit_test(test_poll_schedule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
