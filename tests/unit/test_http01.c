/*
 * test_http01.c - the plain-HTTP side of a manager: the http-01 answer from
 * the challenge table (autocert_http01_answer), the redirect decision
 * (autocert_http_redirect: covered hosts only, port rules, malformed input),
 * the Host split and the responder's start/stop. The responder on the wire
 * is tests/integration/test_http01.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include "autocert/autocert.h"
#include "challenge.h"
#include "config.h"
#include "http01.h"
#include "manager.h"

#define TOKEN "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"
#define KEYAUTH TOKEN ".ThUmBpRiNt0123456789012345678901234567890"

static char dir[128], path[200];

static autocert_manager *manager_with(const char *serve_yaml)
{
    char err[512];
    FILE *f;
    autocert_manager *m = NULL;

    snprintf(dir, sizeof dir, "/tmp/test_http01_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.yml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: local\n"
            "  domains: [a.example.com, '*.w.example.com', 127.0.0.1, '2001:db8::1']\n"
            "  cert_path: %s/c.crt\n  key_path: %s/c.key\n"
            "  extra:\n    - domains: [b.example.org]\n"
            "      cert_path: %s/e.crt\n      key_path: %s/e.key\n%s",
            dir, dir, dir, dir, serve_yaml);
    fclose(f);
    if (autocert_manager_new(path, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    return m;
}

static void manager_done(autocert_manager *m)
{
    autocert_manager_free(m);
    unlink(path);
    rmdir(dir);
}

static void test_host_split(void **state)
{
    char u[300], n[300];

    (void)state;
    assert_int_equal(http01_host_split("a.example.com", u, sizeof u, n, sizeof n), 0);
    assert_string_equal(u, "a.example.com");
    assert_string_equal(n, "a.example.com");
    assert_int_equal(http01_host_split("A.Example.com:8080", u, sizeof u, n, sizeof n), 0);
    assert_string_equal(u, "A.Example.com");
    assert_string_equal(n, "A.Example.com");
    assert_int_equal(http01_host_split("[2001:db8::1]:80", u, sizeof u, n, sizeof n), 0);
    assert_string_equal(u, "[2001:db8::1]");
    assert_string_equal(n, "2001:db8::1");
    assert_int_equal(http01_host_split("[::1]", u, sizeof u, n, sizeof n), 0);
    assert_string_equal(u, "[::1]");
    assert_int_equal(http01_host_split("127.0.0.1:80", u, sizeof u, n, sizeof n), 0);
    assert_string_equal(u, "127.0.0.1");
    /* refused */
    const char *bad[] = {"",
                         ":80",
                         "a.example.com:",
                         "a.example.com:99999",
                         "a.example.com:8o",
                         "a.example.com@evil.test",
                         "a.example.com/x",
                         "a b",
                         "a.example.com:80:80",
                         "[::1",
                         "[::1]x",
                         "[]",
                         "[a.example.com]",
                         "2001:db8::1",
                         "\xc3\xa9.example.com",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        if (http01_host_split(bad[i], u, sizeof u, n, sizeof n) != -1)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(http01_host_split(NULL, u, sizeof u, n, sizeof n), -1);
    char long_host[400];
    memset(long_host, 'a', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = '\0';
    assert_int_equal(http01_host_split(long_host, u, sizeof u, n, sizeof n), -1);
    /* too small for the output */
    assert_int_equal(http01_host_split("a.example.com", u, 5, n, sizeof n), -1);
}

static void test_redirect_port(void **state)
{
    struct config c;

    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(http01_redirect_port(&c), 0);
    c.serve.listen = "0.0.0.0:443";
    assert_int_equal(http01_redirect_port(&c), 0);
    c.serve.listen = "[::]:8443";
    assert_int_equal(http01_redirect_port(&c), 8443);
    c.serve.https_port = 9443; /* wins over serve.listen */
    assert_int_equal(http01_redirect_port(&c), 9443);
    c.serve.https_port = 443;
    assert_int_equal(http01_redirect_port(&c), 0);
    assert_int_equal(http01_redirect_port(NULL), 0);
}

static void expect_redirect(autocert_manager *m, const char *host, const char *target, int status,
                            const char *location)
{
    char buf[512];
    int got = autocert_http_redirect(m, host, target, buf, sizeof buf);

    if (got != status)
        fail_msg("Host '%s' %s: %d, want %d", host ? host : "(none)", target, got, status);
    if (location != NULL)
        assert_string_equal(buf, location);
    else
        assert_string_equal(buf, "");
}

static void test_redirect(void **state)
{
    autocert_manager *m = manager_with("serve:\n  listen: 127.0.0.1:8443\n");
    char small[16];

    (void)state;
    expect_redirect(m, "a.example.com", "/p?q=1", 308, "https://a.example.com:8443/p?q=1");
    expect_redirect(m, "A.EXAMPLE.com:80", "/", 308, "https://A.EXAMPLE.com:8443/");
    expect_redirect(m, "a.example.com.", "/", 308, "https://a.example.com.:8443/");
    expect_redirect(m, "x.w.example.com", "//evil.test/", 308,
                    "https://x.w.example.com:8443//evil.test/");
    expect_redirect(m, "b.example.org", "/", 308, "https://b.example.org:8443/");
    expect_redirect(m, "127.0.0.1:80", "/x", 308, "https://127.0.0.1:8443/x");
    expect_redirect(m, "[2001:db8::1]:80", "/", 308, "https://[2001:db8::1]:8443/");
    expect_redirect(m, "[2001:db8:0:0::1]", "/", 308, "https://[2001:db8:0:0::1]:8443/");
    /* not covered: never redirected */
    expect_redirect(m, "evil.test", "/", 404, NULL);
    expect_redirect(m, "w.example.com", "/", 404, NULL);
    expect_redirect(m, "y.x.w.example.com", "/", 404, NULL);
    expect_redirect(m, "example.com", "/", 404, NULL);
    expect_redirect(m, "127.0.0.2", "/", 404, NULL);
    expect_redirect(m, "[::1]", "/", 404, NULL);
    /* malformed */
    expect_redirect(m, NULL, "/", 400, NULL);
    expect_redirect(m, "", "/", 400, NULL);
    expect_redirect(m, "a.example.com@evil.test", "/", 400, NULL);
    expect_redirect(m, "a.example.com", "http://evil.test/", 400, NULL);
    expect_redirect(m, "a.example.com", "", 400, NULL);
    expect_redirect(m, "a.example.com", NULL, 400, NULL);
    expect_redirect(m, "a.example.com", "/a b", 400, NULL);
    expect_redirect(m, "a.example.com", "/a\r\nSet-Cookie: x", 400, NULL);
    assert_int_equal(autocert_http_redirect(m, "a.example.com", "/", small, sizeof small), 400);
    assert_int_equal(autocert_http_redirect(NULL, "a.example.com", "/", small, sizeof small), 400);
    manager_done(m);

    /* serve.listen on 443: no port; https_port wins */
    m = manager_with("serve:\n  listen: 0.0.0.0:443\n");
    expect_redirect(m, "a.example.com", "/", 308, "https://a.example.com/");
    manager_done(m);
    m = manager_with("serve:\n  listen: 0.0.0.0:8443\n  https_port: 443\n");
    expect_redirect(m, "a.example.com", "/", 308, "https://a.example.com/");
    manager_done(m);
    m = manager_with("");
    expect_redirect(m, "a.example.com", "/", 308, "https://a.example.com/");
    manager_done(m);
}

static void test_answer(void **state)
{
    autocert_manager *m = manager_with("");
    struct ac_error e;
    char buf[AUTOCERT_HTTP01_ANSWER_MAX];
    const char *p = AUTOCERT_HTTP01_PREFIX TOKEN;

    (void)state;
    assert_int_equal(autocert_http01_answer(m, p, buf, sizeof buf), -1); /* not pending */
    assert_int_equal(challenge_http01_add(manager_challenges(m), TOKEN, KEYAUTH, &e), 0);
    assert_int_equal(autocert_http01_answer(m, p, buf, sizeof buf), (int)strlen(KEYAUTH));
    assert_string_equal(buf, KEYAUTH);
    /* only the exact path */
    assert_int_equal(
        autocert_http01_answer(m, "/.well-known/acme-challenge" TOKEN, buf, sizeof buf), -1);
    assert_int_equal(autocert_http01_answer(m, "/x" AUTOCERT_HTTP01_PREFIX TOKEN, buf, sizeof buf),
                     -1);
    assert_int_equal(autocert_http01_answer(m, AUTOCERT_HTTP01_PREFIX TOKEN "/", buf, sizeof buf),
                     -1);
    assert_int_equal(autocert_http01_answer(m, AUTOCERT_HTTP01_PREFIX TOKEN "?x", buf, sizeof buf),
                     -1);
    assert_int_equal(autocert_http01_answer(m, AUTOCERT_HTTP01_PREFIX, buf, sizeof buf), -1);
    assert_int_equal(autocert_http01_answer(m, AUTOCERT_HTTP01_PREFIX "short", buf, sizeof buf),
                     -1);
    assert_int_equal(
        autocert_http01_answer(m, AUTOCERT_HTTP01_PREFIX "../../../../etc/passwd", buf, sizeof buf),
        -1);
    /* a buffer too small, no buffer, no manager */
    assert_int_equal(autocert_http01_answer(m, p, buf, 10), -1);
    assert_int_equal(autocert_http01_answer(m, p, NULL, 0), -1);
    assert_int_equal(autocert_http01_answer(NULL, p, buf, sizeof buf), -1);
    assert_int_equal(autocert_http01_answer(m, NULL, buf, sizeof buf), -1);
    challenge_http01_remove(manager_challenges(m), TOKEN);
    assert_int_equal(autocert_http01_answer(m, p, buf, sizeof buf), -1);
    manager_done(m);
}

static void test_responder_start(void **state)
{
    autocert_manager *m = manager_with("");
    autocert_http *h = NULL, *h2 = NULL;
    autocert_error err;
    char where[64];

    (void)state;
    /* no serve.http_listen and no address */
    assert_int_equal(autocert_http_start(m, NULL, &h, &err), -1);
    assert_null(h);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_non_null(strstr(err.message, "serve.http_listen is not set"));
    assert_int_equal(autocert_http_start(m, "localhost:0", &h, &err), -1);
    assert_non_null(strstr(err.message, "the host must be an IP address"));
    assert_int_equal(autocert_http_start(m, "127.0.0.1:0", &h, &err), 0);
    assert_true(autocert_http_port(h) > 0);
    /* the same port again: taken */
    snprintf(where, sizeof where, "127.0.0.1:%d", autocert_http_port(h));
    assert_int_equal(autocert_http_start(m, where, &h2, &err), -1);
    assert_non_null(strstr(err.message, "address already in use"));
    autocert_http_stop(h);
    autocert_http_stop(NULL);
    assert_int_equal(autocert_http_port(NULL), 0);
    manager_done(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_split),      cmocka_unit_test(test_redirect_port),
        cmocka_unit_test(test_redirect),        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_responder_start),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
