/* test_challenge.c - pending http-01 / tls-alpn-01 challenges (challenge.h):
 * token rules, reverse names (RFC 8738), and the RFC 8737 certificate checked
 * field by field with GnuTLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the four headers above first */
#include <cmocka.h>

#include <gnutls/x509.h>

#include "challenge.h"
#include "crypto.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

static void test_http01(void **state)
{
    struct challenge_table *t = NULL;
    struct ac_error e;
    char buf[300];

    (void)state;
    assert_int_equal(challenge_table_new(&t), 0);
    assert_int_equal(challenge_http01_get(t, TOKEN, strlen(TOKEN), buf, sizeof buf), -1);
    assert_int_equal(challenge_http01_add(t, TOKEN, KEYAUTH, &e), 0);
    assert_int_equal(challenge_http01_get(t, TOKEN, strlen(TOKEN), buf, sizeof buf),
                     (ssize_t)strlen(KEYAUTH));
    assert_string_equal(buf, KEYAUTH);
    /* a prefix of the token, a buffer too small, malformed tokens */
    assert_int_equal(challenge_http01_get(t, TOKEN, strlen(TOKEN) - 1, buf, sizeof buf), -1);
    assert_int_equal(challenge_http01_get(t, TOKEN, strlen(TOKEN), buf, 10), -1);
    assert_false(challenge_token_valid("short", 5));
    assert_false(challenge_token_valid("evaGxfADs6pSRb2LAv9IZf17Dt3/../x", 32));
    assert_true(challenge_token_valid(TOKEN, strlen(TOKEN)));
    assert_int_equal(challenge_http01_add(t, "bad token with spaces and more", KEYAUTH, &e), -1);
    assert_int_equal(challenge_http01_add(t, TOKEN, "other.thumbprint", &e), -1);
    challenge_http01_remove(t, TOKEN);
    assert_int_equal(challenge_http01_get(t, TOKEN, strlen(TOKEN), buf, sizeof buf), -1);
    challenge_table_free(t);
}

static void test_reverse_names(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(challenge_reverse_to_ip("1.0.0.127.in-addr.arpa", 22, out, sizeof out), 0);
    assert_string_equal(out, "127.0.0.1");
    assert_int_equal(challenge_reverse_to_ip("4.3.2.1.IN-ADDR.ARPA.", 21, out, sizeof out), 0);
    assert_string_equal(out, "1.2.3.4");
    const char *v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    assert_int_equal(challenge_reverse_to_ip(v6, strlen(v6), out, sizeof out), 0);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(challenge_reverse_to_ip("1.0.0.in-addr.arpa", 18, out, sizeof out), -1);
    assert_int_equal(challenge_reverse_to_ip("256.0.0.1.in-addr.arpa", 22, out, sizeof out), -1);
    assert_int_equal(challenge_reverse_to_ip("01.0.0.1.in-addr.arpa", 21, out, sizeof out), -1);
    assert_int_equal(challenge_reverse_to_ip("example.com", 11, out, sizeof out), -1);
}

/* The challenge certificate carries exactly the identifier and the critical
 * acmeIdentifier extension with SHA-256 of the key authorization. */
static void check_alpn_cert(autocert_cert *c, const char *ident, bool ip)
{
    const unsigned char *der;
    size_t len;
    gnutls_x509_crt_t crt;
    gnutls_datum_t d, ext = {NULL, 0};
    unsigned char want[34] = {0x04, 0x20}, san[64], serial[32];
    size_t san_len = sizeof san, slen = sizeof serial;
    unsigned int critical = 0;
    int type;

    assert_non_null(c);
    assert_string_equal(autocert_cert_set_name(c), "acme-tls/1");
    assert_int_equal(autocert_cert_chain_count(c), 1);
    assert_int_equal(autocert_cert_chain_der(c, 0, &der, &len), 0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    d.data = (unsigned char *)der;
    d.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER), 0);
    type = gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &san_len, NULL);
    assert_int_equal(type, ip ? GNUTLS_SAN_IPADDRESS : GNUTLS_SAN_DNSNAME);
    if (!ip)
        assert_memory_equal(san, ident, strlen(ident));
    san_len = sizeof san;
    assert_true(gnutls_x509_crt_get_subject_alt_name(crt, 1, san, &san_len, NULL) < 0);
    assert_int_equal(
        gnutls_x509_crt_get_extension_by_oid2(crt, "1.3.6.1.5.5.7.1.31", 0, &ext, &critical), 0);
    assert_int_equal(critical, 1);
    crypto_sha256(KEYAUTH, strlen(KEYAUTH), want + 2);
    assert_int_equal(ext.size, sizeof want);
    assert_memory_equal(ext.data, want, sizeof want);
    gnutls_free(ext.data);
    assert_int_equal(gnutls_x509_crt_get_serial(crt, serial, &slen), 0);
    assert_true((serial[0] & 0x80) == 0); /* positive */
    gnutls_x509_crt_deinit(crt);
}

static void test_alpn(void **state)
{
    struct challenge_table *t = NULL;
    struct ac_error e;
    autocert_cert *c;

    (void)state;
    assert_int_equal(crypto_init(), 0);
    assert_int_equal(challenge_table_new(&t), 0);
    assert_false(challenge_alpn_pending(t, "a.example.com", 13));
    assert_int_equal(challenge_alpn_add(t, "A.Example.com.", KEYAUTH, &e), 0);
    assert_true(challenge_alpn_pending(t, "a.example.COM", 13));
    assert_false(challenge_alpn_pending(t, "b.example.com", 13));
    c = challenge_alpn_cert(t, "a.example.com.", 14);
    check_alpn_cert(c, "a.example.com", false);

    /* an IP identifier, asked for by its reverse name */
    assert_int_equal(challenge_alpn_add(t, "127.0.0.1", KEYAUTH, &e), 0);
    assert_true(challenge_alpn_pending(t, "1.0.0.127.in-addr.arpa", 22));
    autocert_cert *ipc = challenge_alpn_cert(t, "1.0.0.127.in-addr.arpa", 22);
    check_alpn_cert(ipc, "127.0.0.1", true);
    autocert_cert_release(ipc);

    challenge_alpn_remove(t, "a.example.com");
    assert_false(challenge_alpn_pending(t, "a.example.com", 13));
    /* a handle taken before the removal stays valid */
    check_alpn_cert(c, "a.example.com", false);
    autocert_cert_release(c);
    assert_int_equal(challenge_alpn_add(t, "bad name", KEYAUTH, &e), -1);
    challenge_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http01),
        cmocka_unit_test(test_reverse_names),
        cmocka_unit_test(test_alpn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
