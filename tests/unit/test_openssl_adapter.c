/*
 * test_openssl_adapter.c - libautocert_openssl with local sets (self-signed
 * certificates made here) and in-memory handshakes: selection by SNI (exact
 * beats a wildcard of an earlier set, one label under a wildcard, no SNI and
 * unknown names get main, normalisation), the host's ALPN callback is called
 * for a normal handshake and its choice reaches the client, a client offering
 * acme-tls/1 with no challenge pending gets a normal handshake in which the
 * host never sees acme-tls/1 (test_openssl_alpn.c has the rest), a renewed certificate is served
 * on the next handshake while a connection made before keeps its own, and
 * uninstall / reinstall / main without a certificate fail or serve as
 * autocert_openssl.h says; sets removed by reload_config leave the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "autocert/autocert_openssl.h"
#include "test_openssl_util.h"

struct fx {
    char dir[64];
    char cfg[128];
    autocert_manager *m;
    SSL_CTX *sctx, *cctx;
};

/* main: main.test; extra[1]: *.w.test (CN wild); extra[2]: x.w.test (CN
 * exact). */
static void write_config(const struct fx *f)
{
    FILE *c = fopen(f->cfg, "w");

    assert_non_null(c);
    fprintf(c,
            "autocert:\n"
            "  provider: local\n"
            "  cert_path: %s/main.crt\n"
            "  key_path: %s/main.key\n"
            "  extra:\n"
            "    - cert_path: %s/wild.crt\n"
            "      key_path: %s/wild.key\n"
            "    - cert_path: %s/exact.crt\n"
            "      key_path: %s/exact.key\n",
            f->dir, f->dir, f->dir, f->dir, f->dir, f->dir);
    fclose(c);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    autocert_error err;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ac-ossl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cfg, sizeof f->cfg, "%s/autocert.yml", f->dir);
    assert_int_equal(tos_make(f->dir, "main", "main", "main.test"), 0);
    assert_int_equal(tos_make(f->dir, "wild", "wild", "*.w.test"), 0);
    assert_int_equal(tos_make(f->dir, "exact", "exact", "x.w.test"), 0);
    write_config(f);
    if (autocert_manager_open(f->cfg, NULL, NULL, &f->m, &err) != 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(autocert_manager_load(f->m), 3);
    f->sctx = SSL_CTX_new(TLS_server_method());
    f->cctx = tos_client_ctx();
    assert_non_null(f->sctx);
    assert_non_null(f->cctx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    SSL_CTX_free(f->sctx); /* frees the binding and its cache */
    SSL_CTX_free(f->cctx);
    autocert_manager_free(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void expect_cn(struct fx *f, const char *sni, const char *want)
{
    char cn[128];

    tos_cn_for(f->sctx, f->cctx, sni, cn, sizeof cn);
    if (strcmp(cn, want) != 0)
        fail_msg("SNI %s: served %s, expected %s", sni ? sni : "(none)", cn, want);
}

static void test_selection(void **state)
{
    struct fx *f = *state;

    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    for (int round = 0; round < 2; round++) { /* the second round from the cache */
        expect_cn(f, NULL, "main");
        expect_cn(f, "main.test", "main");
        expect_cn(f, "y.w.test", "wild");
        expect_cn(f, "x.w.test", "exact");  /* exact beats the earlier wildcard */
        expect_cn(f, "X.W.Test.", "exact"); /* normalised */
        expect_cn(f, "a.y.w.test", "main"); /* one label only */
        expect_cn(f, "w.test", "main");
        expect_cn(f, "unknown.example", "main");
        expect_cn(f, "foo_bar.w.test", "wild"); /* an underscore is fine here */
    }
}

/* The host's ALPN callback: counts calls, picks http/1.1. */
static int host_calls;
static int host_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel = NULL;

    assert_ptr_equal(arg, &host_calls);
    host_calls++;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void test_alpn(void **state)
{
    struct fx *f = *state;
    static const char offer[] = "\x02h2\x08http/1.1";
    static const char acme[] = "\x0a"
                               "acme-tls/1";
    static const char mixed[] = "\x08http/1.1\x0a"
                                "acme-tls/1";
    const unsigned char *sel = NULL;
    unsigned int sellen = 0;
    struct tos_conn c;
    char cn[64];

    assert_int_equal(autocert_openssl_install(f->m, f->sctx, host_alpn, &host_calls, NULL), 0);
    host_calls = 0;
    assert_true(tos_handshake(f->sctx, f->cctx, "y.w.test", offer, sizeof offer - 1, &c));
    assert_int_equal(host_calls, 1);
    SSL_get0_alpn_selected(c.client, &sel, &sellen);
    assert_int_equal(sellen, 8);
    assert_memory_equal(sel, "http/1.1", 8);
    tos_peer_cn(&c, cn, sizeof cn);
    assert_string_equal(cn, "wild");
    tos_close(&c);

    /* acme-tls/1 without a pending challenge: the set's certificate, no
     * protocol, and the host's callback never sees acme-tls/1 */
    assert_true(tos_handshake(f->sctx, f->cctx, "y.w.test", acme, sizeof acme - 1, &c));
    SSL_get0_alpn_selected(c.client, &sel, &sellen);
    assert_int_equal(sellen, 0);
    assert_false(autocert_openssl_is_acme(c.server));
    tos_peer_cn(&c, cn, sizeof cn);
    assert_string_equal(cn, "wild");
    tos_close(&c);
    assert_int_equal(host_calls, 1);
    assert_true(tos_handshake(f->sctx, f->cctx, "y.w.test", mixed, sizeof mixed - 1, &c));
    assert_int_equal(host_calls, 2);
    SSL_get0_alpn_selected(c.client, &sel, &sellen);
    assert_int_equal(sellen, 8);
    assert_memory_equal(sel, "http/1.1", 8);
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);

    /* without a host callback no protocol is chosen, the handshake works */
    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    assert_true(tos_handshake(f->sctx, f->cctx, "main.test", offer, sizeof offer - 1, &c));
    SSL_get0_alpn_selected(c.client, &sel, &sellen);
    assert_int_equal(sellen, 0);
    tos_close(&c);
    assert_int_equal(host_calls, 2);
}

static void test_renewal_and_lifetime(void **state)
{
    struct fx *f = *state;
    struct tos_conn old;
    char cn[64], buf[8];

    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    assert_true(tos_handshake(f->sctx, f->cctx, "main.test", NULL, 0, &old));
    tos_peer_cn(&old, cn, sizeof cn);
    assert_string_equal(cn, "main");

    /* main is replaced on disk and re-read: the next handshake gets the new
     * one (the cache entry of main's previous certificate is replaced) */
    assert_int_equal(tos_make(f->dir, "main", "main2", "main.test"), 0);
    assert_int_equal(autocert_manager_reload(f->m), 1);
    expect_cn(f, "main.test", "main2");
    expect_cn(f, NULL, "main2");
    expect_cn(f, "y.w.test", "wild");

    /* the connection made before keeps its certificate and still works */
    {
        X509 *x = SSL_get_certificate(old.server);
        assert_non_null(x);
        assert_true(
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0);
        assert_string_equal(cn, "main");
    }
    assert_int_equal(SSL_write(old.server, "ping", 4), 4);
    assert_int_equal(SSL_read(old.client, buf, sizeof buf), 4);
    assert_memory_equal(buf, "ping", 4);
    tos_close(&old);
}

static void test_uninstall(void **state)
{
    struct fx *f = *state;

    /* never installed: nothing happens */
    {
        SSL_CTX *other = SSL_CTX_new(TLS_server_method());
        autocert_openssl_uninstall(other);
        SSL_CTX_free(other);
    }
    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    expect_cn(f, "x.w.test", "exact");
    autocert_openssl_uninstall(f->sctx);
    expect_cn(f, "x.w.test", "FAILED");
    expect_cn(f, NULL, "FAILED");
    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    expect_cn(f, "x.w.test", "exact");
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    autocert_error err;

    assert_int_equal(autocert_openssl_install(NULL, f->sctx, NULL, NULL, &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_int_equal(autocert_openssl_install(f->m, NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.message, "SSL_CTX"));
    autocert_openssl_uninstall(NULL);
}

/* main's files are missing: every handshake fails, even one an extra covers. */
static void test_main_without_certificate(void **state)
{
    struct fx *f = *state;
    autocert_manager *m = NULL;
    autocert_error err;
    char path[128];
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    char cn[64];

    snprintf(path, sizeof path, "%s/main.crt", f->dir);
    assert_int_equal(unlink(path), 0);
    if (autocert_manager_open(f->cfg, NULL, NULL, &m, &err) != 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(autocert_manager_load(m), 2);
    assert_int_equal(autocert_openssl_install(m, sctx, NULL, NULL, NULL), 0);
    tos_cn_for(sctx, f->cctx, NULL, cn, sizeof cn);
    assert_string_equal(cn, "FAILED");
    tos_cn_for(sctx, f->cctx, "x.w.test", cn, sizeof cn);
    assert_string_equal(cn, "FAILED");
    autocert_openssl_uninstall(sctx);
    SSL_CTX_free(sctx);
    autocert_manager_free(m);
}

/* Two SSL_CTXs on one manager, then the manager swapped on one of them. */
static void test_two_contexts(void **state)
{
    struct fx *f = *state;
    SSL_CTX *second = SSL_CTX_new(TLS_server_method());
    char cn[64];

    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    assert_int_equal(autocert_openssl_install(f->m, second, host_alpn, &host_calls, NULL), 0);
    expect_cn(f, "y.w.test", "wild");
    tos_cn_for(second, f->cctx, "x.w.test", cn, sizeof cn);
    assert_string_equal(cn, "exact");
    autocert_openssl_uninstall(f->sctx);
    tos_cn_for(second, f->cctx, "main.test", cn, sizeof cn);
    assert_string_equal(cn, "main");
    SSL_CTX_free(second); /* while installed: the binding goes with it */
}

/* 20 extras served (20 cache entries), then removed by reload_config: the
 * next insert trims the stale entries (LeakSanitizer checks they are freed),
 * and the names of the removed sets now get main. */
static void test_removed_sets(void **state)
{
    struct fx *f = *state;
    char name[32], san[32], cn[64];
    autocert_error err;
    FILE *c;

    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n",
            f->dir, f->dir);
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "e%d", i);
        snprintf(san, sizeof san, "e%d.test", i);
        assert_int_equal(tos_make(f->dir, name, name, san), 0);
        fprintf(c, "    - cert_path: %s/%s.crt\n      key_path: %s/%s.key\n", f->dir, name, f->dir,
                name);
    }
    fclose(c);
    if (autocert_manager_reload_config(f->m, NULL, NULL, NULL, &err) != 0)
        fail_msg("reload_config: %s", err.message);
    assert_int_equal(autocert_manager_set_count(f->m), 21);
    assert_int_equal(autocert_openssl_install(f->m, f->sctx, NULL, NULL, NULL), 0);
    for (int i = 0; i < 20; i++) {
        snprintf(san, sizeof san, "e%d.test", i);
        snprintf(name, sizeof name, "e%d", i);
        expect_cn(f, san, name);
    }
    expect_cn(f, NULL, "main");

    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c, "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n",
            f->dir, f->dir);
    fclose(c);
    if (autocert_manager_reload_config(f->m, NULL, NULL, NULL, &err) != 0)
        fail_msg("reload_config: %s", err.message);
    assert_int_equal(autocert_manager_set_count(f->m), 1);
    assert_int_equal(tos_make(f->dir, "main", "main3", "main.test"), 0);
    assert_int_equal(autocert_manager_reload(f->m), 1);
    expect_cn(f, "e3.test", "main3");
    expect_cn(f, "main.test", "main3");
    tos_cn_for(f->sctx, f->cctx, "e7.test", cn, sizeof cn);
    assert_string_equal(cn, "main3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alpn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_and_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uninstall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_main_without_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_contexts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_sets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
