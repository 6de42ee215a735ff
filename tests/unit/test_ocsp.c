/* test_ocsp.c - OCSP stapling's pure part: the request (parsed back with
 * GnuTLS), every check a response must pass (good from the issuer and from a
 * delegated responder; wrong certificate, expired, not yet valid, no
 * nextUpdate, a signer nobody delegated, a broken signature, garbage,
 * revoked, an unsuccessful status), and the staple kept with a certificate
 * handle (served until its nextUpdate, never after; no OCSP URL, none).
 *
 * Fixtures are made fresh per run by scripts/ocsp_fixtures.py
 * (python3-cryptography) in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include <gnutls/ocsp.h>
#include <gnutls/x509.h>
#include <unistd.h>

#include "cert.h"
#include "certset.h"
#include "ocsp.h"
#include "timeutil.h"

static char dir[] = "/tmp/autocert-ocsp-XXXXXX";

static const char *script(void)
{
    static char path[1024];
    const char *src = getenv("AUTOCERT_SOURCE_DIR");

    assert_non_null(src);
    snprintf(path, sizeof path, "%s/scripts/ocsp_fixtures.py", src);
    return path;
}

static unsigned char *slurp(const char *name, size_t *len)
{
    char path[1200];
    unsigned char *buf;
    FILE *f;
    long n;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* DER of the PEM certificate DIR/name.crt. */
static void crt_der(const char *name, gnutls_datum_t *out)
{
    char file[64];
    size_t len;
    unsigned char *pem;
    gnutls_datum_t in;
    gnutls_x509_crt_t c;

    snprintf(file, sizeof file, "%s.crt", name);
    pem = slurp(file, &len);
    in.data = pem;
    in.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_init(&c), 0);
    assert_int_equal(gnutls_x509_crt_import(c, &in, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, out), 0);
    gnutls_x509_crt_deinit(c);
    free(pem);
}

/* Makes a response with ocsp_fixtures.py `args` and checks it against the
 * leaf. Returns ocsp_response_check's result; e filled. */
static int check_with(const char *args, const char *leaf, struct ac_error *e, int64_t *tu,
                      int64_t *nu)
{
    char cmd[2048];
    gnutls_datum_t l, i, r;
    size_t len;
    int rc;

    snprintf(cmd, sizeof cmd, "python3 '%s' resp '%s' '%s/r.der' %s", script(), dir, dir, args);
    assert_int_equal(system(cmd), 0);
    crt_der(leaf, &l);
    crt_der("ca", &i);
    r.data = slurp("r.der", &len);
    r.size = (unsigned)len;
    ac_error_clear(e);
    rc = ocsp_response_check(&r, &l, &i, ac_now(), tu, nu, e);
    gnutls_free(l.data);
    gnutls_free(i.data);
    free(r.data);
    return rc;
}

static int setup(void **state)
{
    char cmd[2048];

    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cmd, sizeof cmd, "python3 '%s' pki '%s' http://127.0.0.1:9/ocsp example.test",
             script(), dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[1100];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_request(void **state)
{
    gnutls_datum_t l, i, req, serial_req = {NULL, 0};
    gnutls_ocsp_req_t r;
    gnutls_x509_crt_t lc;
    unsigned char serial[64];
    size_t slen = sizeof serial;
    struct ac_error e;

    (void)state;
    crt_der("leaf", &l);
    crt_der("ca", &i);
    assert_int_equal(ocsp_request_make(&l, &i, &req, &e), 0);
    assert_int_equal(gnutls_ocsp_req_init(&r), 0);
    assert_int_equal(gnutls_ocsp_req_import(r, &req), 0);
    assert_int_equal(gnutls_ocsp_req_get_cert_id(r, 0, NULL, NULL, NULL, &serial_req), 0);
    assert_int_equal(gnutls_x509_crt_init(&lc), 0);
    assert_int_equal(gnutls_x509_crt_import(lc, &l, GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(gnutls_x509_crt_get_serial(lc, serial, &slen), 0);
    assert_int_equal(serial_req.size, slen);
    assert_memory_equal(serial_req.data, serial, slen);
    /* exactly one CertID */
    assert_true(gnutls_ocsp_req_get_cert_id(r, 1, NULL, NULL, NULL, NULL) < 0);
    gnutls_x509_crt_deinit(lc);
    gnutls_ocsp_req_deinit(r);
    gnutls_free(serial_req.data);
    gnutls_free(req.data);
    gnutls_free(l.data);
    gnutls_free(i.data);
}

static void test_good(void **state)
{
    struct ac_error e;
    int64_t tu = 0, nu = 0, t0 = ac_now(), t1;

    (void)state;
    assert_int_equal(check_with("--this -60 --next 600", "leaf", &e, &tu, &nu), 0);
    t1 = ac_now(); /* the script's "now" is between t0 and t1 */
    assert_true(tu >= t0 - 61 && tu <= t1 - 59);
    assert_true(nu >= t0 + 599 && nu <= t1 + 601);
}

static void test_good_delegated(void **state)
{
    struct ac_error e;
    int64_t tu, nu;

    (void)state;
    assert_int_equal(check_with("--signer delegate", "leaf", &e, &tu, &nu), 0);
}

static void expect_bad(const char *args, const char *leaf, const char *kind, const char *words)
{
    struct ac_error e;
    int64_t tu = 0, nu = 0;

    assert_int_equal(check_with(args, leaf, &e, &tu, &nu), -1);
    assert_string_equal(e.kind, kind);
    if (strstr(e.message, words) == NULL)
        fail_msg("'%s' lacks '%s'", e.message, words);
}

static void test_wrong_cert(void **state)
{
    (void)state;
    /* a good response, but about the CA's other certificate */
    expect_bad("--cert other", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "not about this certificate");
}

static void test_expired(void **state)
{
    (void)state;
    expect_bad("--this -7200 --next -10", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "expired at");
}

static void test_not_yet_valid(void **state)
{
    (void)state;
    expect_bad("--this 3600 --next 7200", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "in the future");
}

static void test_skew_ok(void **state)
{
    struct ac_error e;
    int64_t tu, nu;

    (void)state;
    /* a minute ahead is within OCSP_CLOCK_SKEW */
    assert_int_equal(check_with("--this 60 --next 7200", "leaf", &e, &tu, &nu), 0);
}

static void test_no_next_update(void **state)
{
    (void)state;
    expect_bad("--next none", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "no nextUpdate");
}

static void test_rogue_signer(void **state)
{
    (void)state;
    expect_bad("--signer rogue", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "response refused");
}

static void test_bad_signature(void **state)
{
    (void)state;
    expect_bad("--tamper", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "response refused");
}

static void test_revoked(void **state)
{
    (void)state;
    expect_bad("--status revoked", "leaf", AC_ERR_OCSP_REVOKED, "revoked");
}

static void test_unsuccessful(void **state)
{
    (void)state;
    expect_bad("--unsuccessful", "leaf", AC_ERR_OCSP_BAD_RESPONSE, "tryLater");
}

static void test_garbage(void **state)
{
    gnutls_datum_t l, i, r;
    struct ac_error e;
    int64_t tu, nu;
    unsigned char junk[300];

    (void)state;
    crt_der("leaf", &l);
    crt_der("ca", &i);
    for (size_t k = 0; k < sizeof junk; k++)
        junk[k] = (unsigned char)(k * 37 + 11);
    r.data = junk;
    r.size = sizeof junk;
    assert_int_equal(ocsp_response_check(&r, &l, &i, ac_now(), &tu, &nu, &e), -1);
    assert_string_equal(e.kind, AC_ERR_OCSP_BAD_RESPONSE);
    assert_non_null(strstr(e.message, "not an OCSP response"));
    r.size = 0;
    assert_int_equal(ocsp_response_check(&r, &l, &i, ac_now(), &tu, &nu, &e), -1);
    assert_string_equal(e.kind, AC_ERR_OCSP_BAD_RESPONSE);
    /* a valid response cut short */
    {
        size_t len;
        char cmd[2048];

        snprintf(cmd, sizeof cmd, "python3 '%s' resp '%s' '%s/r.der'", script(), dir, dir);
        assert_int_equal(system(cmd), 0);
        r.data = slurp("r.der", &len);
        r.size = (unsigned)(len / 2);
        assert_int_equal(ocsp_response_check(&r, &l, &i, ac_now(), &tu, &nu, &e), -1);
        assert_string_equal(e.kind, AC_ERR_OCSP_BAD_RESPONSE);
        free(r.data);
    }
    gnutls_free(l.data);
    gnutls_free(i.data);
}

static autocert_cert *handle(const char *chain_file)
{
    size_t cl, kl;
    unsigned char *chain = slurp(chain_file, &cl);
    unsigned char *key =
        slurp(strcmp(chain_file, "chain.pem") == 0 ? "leaf.key" : "noocsp.key", &kl);
    autocert_cert *c = NULL;
    struct ac_error e;

    assert_int_equal(certset_from_memory("s", 0, chain, cl, key, kl, &c, &e), 0);
    free(chain);
    free(key);
    return c;
}

static void test_staple_on_handle(void **state)
{
    autocert_cert *c = handle("chain.pem"), *n = handle("noocsp_chain.pem");
    unsigned char *der = NULL;
    size_t len = 0;
    int64_t now = ac_now(), nu = 0;
    const unsigned char staple[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    struct cert_staple_view v;
    gnutls_datum_t l, i;

    (void)state;
    assert_string_equal(cert_ocsp_url(c), "http://127.0.0.1:9/ocsp");
    assert_null(cert_ocsp_url(n));
    assert_int_equal(cert_ocsp_pair(c, &l, &i), 0);
    cert_staple_state(n, now, &v);
    assert_string_equal(v.state, "none");
    cert_staple_state(c, now, &v);
    assert_string_equal(v.state, "idle");
    /* a new handle has no staple */
    assert_int_equal(cert_staple_copy(c, now, malloc, &der, &len, NULL), 0);
    assert_null(der);
    assert_int_equal(autocert_cert_ocsp_copy(c, malloc, &der), 0);
    cert_staple_note(c, CERT_OCSP_TRACKED, NULL);
    cert_staple_state(c, now, &v);
    assert_string_equal(v.state, "pending");
    assert_int_equal(cert_staple_set(c, staple, sizeof staple, now - 10, now + 100), 0);
    assert_int_equal(cert_staple_copy(c, now, malloc, &der, &len, &nu), 1);
    assert_int_equal(len, sizeof staple);
    assert_memory_equal(der, staple, len);
    assert_int_equal(nu, now + 100);
    free(der);
    assert_int_equal(autocert_cert_ocsp_copy(c, malloc, &der), sizeof staple);
    free(der);
    cert_staple_state(c, now, &v);
    assert_string_equal(v.state, "good");
    assert_int_equal(v.next_update, now + 100);
    /* a failed refresh keeps the staple until its nextUpdate */
    cert_staple_note(c, CERT_OCSP_TRACKED, "ocsp: responder down");
    cert_staple_state(c, now, &v);
    assert_string_equal(v.state, "good");
    assert_string_equal(v.error, "ocsp: responder down");
    /* at its nextUpdate it is dropped */
    assert_int_equal(cert_staple_copy(c, now + 100, malloc, &der, &len, NULL), 0);
    assert_null(der);
    cert_staple_state(c, now + 100, &v);
    assert_string_equal(v.state, "error");
    cert_staple_note(c, CERT_OCSP_TRACKED, NULL);
    cert_staple_state(c, now + 100, &v);
    assert_string_equal(v.state, "expired");
    /* a revoked answer drops a staple still within its dates */
    assert_int_equal(cert_staple_set(c, staple, sizeof staple, now - 10, now + 100), 0);
    cert_staple_drop(c);
    assert_int_equal(cert_staple_copy(c, now, malloc, &der, &len, NULL), 0);
    assert_null(der);
    /* stapling off: nothing is served */
    assert_int_equal(cert_staple_set(c, staple, sizeof staple, now - 10, now + 100), 0);
    cert_staple_note(c, CERT_OCSP_OFF, NULL);
    assert_int_equal(cert_staple_copy(c, now, malloc, &der, &len, NULL), 0);
    cert_staple_state(c, now, &v);
    assert_string_equal(v.state, "off");
    autocert_cert_release(c);
    autocert_cert_release(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),        cmocka_unit_test(test_good),
        cmocka_unit_test(test_good_delegated), cmocka_unit_test(test_wrong_cert),
        cmocka_unit_test(test_expired),        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_skew_ok),        cmocka_unit_test(test_no_next_update),
        cmocka_unit_test(test_rogue_signer),   cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_revoked),        cmocka_unit_test(test_unsuccessful),
        cmocka_unit_test(test_garbage),        cmocka_unit_test(test_staple_on_handle),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
