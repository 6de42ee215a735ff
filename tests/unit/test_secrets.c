/*
 * test_secrets.c - the secret registry and scrubber (secrets.h): every
 * encoding a request may carry a value in, what is registered (and what is
 * not), registration by config_load / removal by config_free, and the
 * scrubbing and escaping done by ac_error_set, ac_error_prefix and ac_log.
 * Concurrent use is in test_secrets_concurrency.c.
 */
#include "test_config_util.h"

#include <json-c/json.h>

#include "b64.h"
#include "error.h"
#include "log.h"
#include "secrets.h"
#include "textsafe.h"

#define TOK "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define ODD "p@ss w/rd+\"q\\\xc3\xa9x" /* space, '/', '+', '"', '\\', U+00E9 */

static int owner_a, owner_b;

static char *scrub(const char *in)
{
    static char out[4096];

    secrets_scrub(out, sizeof out, in, strlen(in));
    return out;
}

/* in must come out as want. */
static void expect(const char *in, const char *want)
{
    const char *got = scrub(in);

    if (strcmp(got, want) != 0)
        fprintf(stderr, "in:   %s\ngot:  %s\nwant: %s\n", in, got, want);
    assert_string_equal(got, want);
}

static int reg_two(void **state)
{
    const char *v[] = {TOK, ODD};

    (void)state;
    return secrets_register(&owner_a, v, 2);
}

static int unreg_all(void **state)
{
    (void)state;
    secrets_unregister(&owner_a);
    secrets_unregister(&owner_b);
    return 0;
}

static void test_raw_and_url(void **state)
{
    char pct[256], lower[256];
    size_t o = 0;

    (void)state;
    expect("GET /update?token=" TOK "&txt=x", "GET /update?token=[redacted]&txt=x");
    expect(TOK, "[redacted]");
    expect("a " TOK " b " TOK, "a [redacted] b [redacted]");
    /* every byte %XX, upper and lower case hex */
    for (const char *p = TOK; *p; p++)
        o += (size_t)snprintf(pct + o, sizeof pct - o, "%%%02X", (unsigned char)*p);
    snprintf(lower, sizeof lower, "%s", pct);
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    assert_string_equal(scrub(pct), "[redacted]");
    assert_string_equal(scrub(lower), "[redacted]");
    /* the odd value: form encoding ('+' for space), curl-style, mixed */
    expect("pw=p%40ss+w%2Frd%2B%22q%5C%C3%A9x&x=1", "pw=[redacted]&x=1");
    expect("pw=p%40ss%20w%2frd%2b%22q%5c%c3%a9x", "pw=[redacted]");
    expect("pw=p@ss%20w/rd+\"q\\%C3%A9x.", "pw=[redacted].");
    expect("raw " ODD " end", "raw [redacted] end");
    /* a near miss stays */
    expect("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1");
}

static void test_json_and_textsafe(void **state)
{
    json_object *o = json_object_new_object();
    char safe[256];

    (void)state;
    /* json-c's own escaping (slash escaped, quote and backslash, UTF-8 kept) */
    json_object_object_add(o, "pw", json_object_new_string(ODD));
    expect(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"pw\":\"[redacted]\"}");
    json_object_put(o);
    /* \u escapes, including a non-ASCII character */
    expect("\"p\\u0040ss w\\/rd\\u002b\\\"q\\\\\\u00e9x\"", "\"[redacted]\"");
    /* a value holding a newline, after ac_text_sanitize ("\n" as two chars) */
    {
        const char *nl[] = {"line1\nline2-secret"};

        assert_int_equal(secrets_register(&owner_b, nl, 1), 0);
        ac_text_sanitize(safe, sizeof safe, "x line1\nline2-secret y", 22);
        expect(safe, "x [redacted] y");
        expect("x line1\\u000aline2-secret y", "x [redacted] y");
        expect("x line1%0Aline2-secret y", "x [redacted] y");
    }
}

static void test_base64(void **state)
{
    char enc[256], blob[128], text[300];

    (void)state;
    b64_encode(TOK, strlen(TOK), enc);
    snprintf(text, sizeof text, "auth %s.", enc);
    assert_null(strstr(scrub(text), enc));
    assert_non_null(strstr(scrub(text), "[redacted]"));
    b64url_encode(ODD, strlen(ODD), enc);
    snprintf(text, sizeof text, "x=%s", enc);
    assert_string_equal(scrub(text), "x=[redacted]");
    /* inside a longer blob, at each alignment: HTTP Basic "user:password" */
    for (int ulen = 0; ulen < 3; ulen++) {
        size_t n;

        n = (size_t)snprintf(blob, sizeof blob, "%.*s:%s", ulen, "usr", TOK);
        b64_encode(blob, n, enc);
        snprintf(text, sizeof text, "Authorization: Basic %s", enc);
        /* only the characters that mix in a byte of the user name (a
         * whole group at most), the last partial group and the padding
         * remain */
        assert_non_null(strstr(scrub(text), "[redacted]"));
        assert_true(strlen(scrub(text)) <= strlen("Authorization: Basic [redacted]") + 4 + 4);
    }
}

static void test_truncated_and_short(void **state)
{
    const char *shorty[] = {"abc", "true"};

    (void)state;
    /* a snippet cut inside the value (body snippets are capped) */
    expect("HTTP 500: token=0f1e2d3c-4b5a", "HTTP 500: token=[redacted]");
    expect("HTTP 500: token=0f1e%32d3c%2D4b%3", "HTTP 500: token=[redacted]");
    /* fewer than SECRETS_MIN_LEN bytes of it: kept */
    expect("HTTP 500: token=0f1", "HTTP 500: token=0f1");
    /* values under the minimum are not registered */
    assert_int_equal(secrets_register(&owner_b, shorty, 2), 0);
    assert_int_equal(secrets_count(), 3); /* TOK, ODD, "true" */
    expect("abc is true", "abc is [redacted]");
    secrets_unregister(&owner_b);
    assert_int_equal(secrets_count(), 2);
    expect("abc is true", "abc is true");
}

static void test_worth(void **state)
{
    (void)state;
    assert_true(secrets_worth("token", TOK));
    assert_true(secrets_worth(NULL, "abcd"));
    assert_false(secrets_worth(NULL, "abc"));
    assert_false(secrets_worth("token", NULL));
    assert_false(secrets_worth("ttl", "3600"));
    assert_false(secrets_worth("api_token", "3600"));
    assert_false(secrets_worth("x", "12.50"));
    assert_false(secrets_worth("x", "TRUE"));
    assert_false(secrets_worth("x", "false"));
    assert_false(secrets_worth("x", "1h30m"));
    assert_false(secrets_worth("propagation_timeout", "something"));
    assert_false(secrets_worth("dns_resolvers", "127.0.0.1:53"));
    assert_false(secrets_worth("service_account_file", "/etc/gcloud/sa.json"));
    assert_true(secrets_worth("password", "s3cret"));
    assert_true(secrets_worth("endpoint", "https://user:pw@example.test/"));
}

static void test_owners(void **state)
{
    const char *one[] = {"shared-value-1"}, *two[] = {"shared-value-1", "other-value-2"};

    (void)state;
    assert_int_equal(secrets_count(), 0);
    expect("no secret " TOK, "no secret " TOK); /* empty registry: a copy */
    assert_int_equal(secrets_register(&owner_a, one, 1), 0);
    assert_int_equal(secrets_register(&owner_b, two, 2), 0);
    assert_int_equal(secrets_count(), 2);
    /* re-registering an owner replaces its group (reloads do not pile up) */
    for (int i = 0; i < 5; i++)
        assert_int_equal(secrets_register(&owner_b, two, 2), 0);
    assert_int_equal(secrets_count(), 2);
    secrets_unregister(&owner_b);
    expect("shared-value-1 other-value-2", "[redacted] other-value-2");
    secrets_unregister(&owner_a);
    assert_int_equal(secrets_count(), 0);
    expect("shared-value-1", "shared-value-1");
}

static void test_inplace_and_overflow(void **state)
{
    char buf[64];
    char small[8];

    (void)state;
    snprintf(buf, sizeof buf, "t=" TOK);
    assert_true(secrets_scrub_inplace(buf, sizeof buf));
    assert_string_equal(buf, "t=[redacted]");
    assert_false(secrets_scrub_inplace(buf, sizeof buf));
    /* output cut to the buffer, always terminated, never the value */
    assert_int_equal(secrets_scrub(small, sizeof small, TOK, strlen(TOK)), 7);
    assert_string_equal(small, "[redact");
}

/* --- config_load registers, config_free removes --- */

static void test_config_registers(void **state)
{
    struct config *cfg, *cfg2;
    const char *yaml =
        "autocert:\n  provider: duckdns\n  email: a@b.test\n"
        "  domains: [x.duckdns.org]\n  eab_kid: kid\n  eab_hmac: c2VjcmV0LWhtYWMta2V5\n"
        "  extra:\n    - provider: azuredns\n      domains: [www.zone.example]\n"
        "      cert_path: e.crt\n      key_path: e.key\n"
        "      options: {subscription_id: sub-1, resource_group: rg, tenant_id: tn,\n"
        "                client_id: cid, client_secret: az-secret-0123456789,\n"
        "                zone_name: zone.example}\n"
        "  options:\n    token: " TOK "\n    ttl: 120\n    propagation_timeout: 2m\n"
        "admin:\n  listen: 127.0.0.1:8555\n  token: admin-token-0123456789\n"
        "notify:\n  webhook: https://hooks.example.test/x\n"
        "  headers: ['Authorization: Bearer hook-bearer-secret', 'X-Plain: v']\n";

    (void)tc_setup(state);
    cfg = tc_expect_ok(yaml);
    /* token, eab_hmac, admin token, header value + its credential, the
     * extra's subscription_id and client_secret (not its zone: public, a
     * domain's parent; rg, tn, cid: too short) */
    assert_int_equal(secrets_count(), 7);
    expect(TOK " c2VjcmV0LWhtYWMta2V5 admin-token-0123456789 hook-bearer-secret ttl 120 2m",
           "[redacted] [redacted] [redacted] [redacted] ttl 120 2m");
    expect("az-secret-0123456789 www.zone.example sub-1", "[redacted] www.zone.example [redacted]");
    /* a reload: two configs alive, then the old one freed */
    cfg2 = tc_expect_ok(yaml);
    assert_int_equal(secrets_count(), 7);
    config_free(cfg);
    expect(TOK, "[redacted]");
    config_free(cfg2);
    assert_int_equal(secrets_count(), 0);
    expect(TOK, TOK);
    /* a failed load registers nothing */
    tc_expect_error("autocert:\n  provider: duckdns\n  options:\n    token: " TOK "\n  bogus: 1\n",
                    "autocert.bogus", 5, 3, "unknown key 'bogus'");
    assert_int_equal(secrets_count(), 0);
    (void)tc_teardown(state);
}

/* --- error messages and log lines --- */

static char captured[8192];

static void sink(enum ac_log_level level, const char *line, void *arg)
{
    (void)level;
    (void)arg;
    snprintf(captured, sizeof captured, "%s", line);
}

static void test_error_and_log(void **state)
{
    struct ac_error e;
    json_object *o;

    (void)state;
    ac_error_set(&e, AC_ERR_DNS_PROVIDER, "HTTP 500: GET /update?token=%s&x=%%41", TOK);
    assert_string_equal(e.message, "HTTP 500: GET /update?token=[redacted]&x=%41");
    ac_error_set(&e, AC_ERR_CA_CHALLENGE, "detail: %s", "bad\n2026-01-01T00:00:00Z error forged");
    assert_string_equal(e.message, "detail: bad\\n2026-01-01T00:00:00Z error forged");
    ac_error_set(&e, AC_ERR_CA_CHALLENGE, "%s", "esc \x1b[31m and \xff\xfe");
    assert_string_equal(e.message, "esc \\x1b[31m and \\xff\\xfe");
    /* prefix: the context may carry a value too */
    ac_error_set(&e, AC_ERR_DNS_PROVIDER, "inner");
    ac_error_prefix(&e, "request with %s", ODD);
    assert_string_equal(e.message, "request with [redacted]: inner");
    /* a value cut by the message limit is still masked */
    {
        char pad[AC_ERROR_MESSAGE_MAX];

        memset(pad, 'x', sizeof pad - 20);
        pad[sizeof pad - 20] = '\0';
        ac_error_set(&e, AC_ERR_DNS_PROVIDER, "%s%s", pad, TOK);
        assert_null(strstr(e.message, "0f1e2d3c"));
        assert_true(ac_text_is_clean(e.message, strlen(e.message)));
    }

    ac_log_set_sink(sink, NULL);
    ac_log_set_format(AC_LOG_TEXT);
    ac_info("main", "answer: %s\n2026-01-01T00:00:00Z error forged \x1b]0;t\x07", TOK);
    assert_null(strchr(captured, '\n'));
    assert_null(strchr(captured, '\x1b'));
    assert_null(strstr(captured, TOK));
    assert_non_null(strstr(captured, "[main] answer: [redacted]\\n2026-01-01T00:00:00Z error"));
    ac_log_set_format(AC_LOG_JSON);
    ac_warn(NULL, "bytes \xff\xfe token %s", TOK);
    o = json_tokener_parse(captured);
    assert_non_null(o);
    assert_true(ac_text_is_clean(captured, strlen(captured)));
    assert_null(strstr(captured, TOK));
    json_object_put(o);
    ac_log_set_format(AC_LOG_TEXT);
    ac_log_set_sink(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_and_url, reg_two, unreg_all),
        cmocka_unit_test_setup_teardown(test_json_and_textsafe, reg_two, unreg_all),
        cmocka_unit_test_setup_teardown(test_base64, reg_two, unreg_all),
        cmocka_unit_test_setup_teardown(test_truncated_and_short, reg_two, unreg_all),
        cmocka_unit_test(test_worth),
        cmocka_unit_test(test_owners),
        cmocka_unit_test_setup_teardown(test_inplace_and_overflow, reg_two, unreg_all),
        cmocka_unit_test(test_config_registers),
        cmocka_unit_test_setup_teardown(test_error_and_log, reg_two, unreg_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
