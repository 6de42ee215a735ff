/* test_jws.c - JWK, RFC 7638 thumbprint (the RFC's vector), RFC 8555 key
 * authorization and dns-01 value (known answers), JWS for ES256 / ES384 / RS256
 * verified with GnuTLS, HS256 External Account Binding, coordinate padding.
 *
 * Known answers for tests/data/crypto/ec256.pkcs8.pem were computed once
 * without GnuTLS or autocert:
 *   openssl pkey -in ec256.pkcs8.pem -pubout -outform DER   (last 65 bytes are
 *   04 || x || y), then in Python: canonical JSON
 *   {"crv":"P-256","kty":"EC","x":b64url(x),"y":b64url(y)}, thumbprint =
 *   b64url(sha256(json)), keyAuth = token "." thumbprint, dns-01 value =
 *   b64url(sha256(keyAuth)).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <gnutls/crypto.h>

#include "b64.h"
#include "jsonu.h"
#include "jws.h"

#define KAT_TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KAT_THUMBPRINT "Qy9InkTj4o0LX9FqlB3xJPOMX_7svE9iSbrPj8odK0c"
#define KAT_DNS01 "Y6P8fTWlBjDpaE2ZTkvT7brgfDPoZUYe70eSuOLwcFg"

static struct crypto_key *load_fixture(const char *name)
{
    const char *dir = getenv("AUTOCERT_TEST_DATA");
    char path[1024];
    unsigned char buf[16384];
    struct crypto_key *k = NULL;
    struct ac_error e;
    size_t n;
    FILE *f;

    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/crypto/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (crypto_key_load(buf, n, &k, &e) != 0)
        fail_msg("%s: %s", name, e.message);
    return k;
}

/* Decodes a base64url member of o into a new buffer (test fails if absent). */
static unsigned char *member_b64(json_object *o, const char *key, size_t *len)
{
    const char *s = jsonu_str(o, key);
    unsigned char *d;

    if (s == NULL)
        fail_msg("member %s missing", key);
    d = b64url_decode_alloc(s, strlen(s), len);
    if (d == NULL)
        fail_msg("member %s is not base64url", key);
    return d;
}

static void test_rfc7638_vector(void **state)
{
    static const char n[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
        "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt"
        "-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"
        "gw";
    json_object *jwk = json_object_new_object();
    struct ac_error e;
    char tp[44];

    (void)state;
    /* the RFC's JWK also has alg and kid, which the thumbprint ignores */
    assert_int_equal(jsonu_add_str(jwk, "kty", "RSA"), 0);
    assert_int_equal(jsonu_add_str(jwk, "n", n), 0);
    assert_int_equal(jsonu_add_str(jwk, "e", "AQAB"), 0);
    assert_int_equal(jsonu_add_str(jwk, "alg", "RS256"), 0);
    assert_int_equal(jsonu_add_str(jwk, "kid", "2011-04-29"), 0);
    assert_int_equal(jws_jwk_thumbprint(jwk, tp, &e), 0);
    assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");

    /* a changed exponent changes the thumbprint */
    assert_int_equal(jsonu_add_str(jwk, "e", "AQAC"), 0);
    assert_int_equal(jws_jwk_thumbprint(jwk, tp, &e), 0);
    assert_string_not_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");

    /* members that would need JSON escaping, or missing ones, are refused */
    assert_int_equal(jsonu_add_str(jwk, "e", "AQ\"AB"), 0);
    assert_int_equal(jws_jwk_thumbprint(jwk, tp, &e), -1);
    json_object_object_del(jwk, "e");
    assert_int_equal(jws_jwk_thumbprint(jwk, tp, &e), -1);
    assert_int_equal(jsonu_add_str(jwk, "e", "AQAB"), 0);
    assert_int_equal(jsonu_add_str(jwk, "kty", "oct"), 0);
    assert_int_equal(jws_jwk_thumbprint(jwk, tp, &e), -1);
    json_object_put(jwk);
}

static void test_key_authorization_kat(void **state)
{
    struct crypto_key *k = load_fixture("ec256.pkcs8.pem");
    struct ac_error e;
    char tp[44], dns[44], indep[44], *ka = NULL;
    unsigned char digest[32];

    (void)state;
    assert_int_equal(jws_thumbprint(k, tp, &e), 0);
    assert_string_equal(tp, KAT_THUMBPRINT);
    assert_int_equal(jws_key_authorization(KAT_TOKEN, k, &ka, &e), 0);
    assert_string_equal(ka, KAT_TOKEN "." KAT_THUMBPRINT);
    jws_dns01_value(ka, dns);
    assert_string_equal(dns, KAT_DNS01);
    /* and against a digest computed here with GnuTLS directly */
    assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, ka, strlen(ka), digest), 0);
    b64url_encode(digest, 32, indep);
    assert_string_equal(dns, indep);
    free(ka);

    /* the same key in SEC1 DER (GoDoxy's account key form) gives the same */
    struct crypto_key *k2 = load_fixture("ec256.sec1.der");
    assert_int_equal(jws_thumbprint(k2, tp, &e), 0);
    assert_string_equal(tp, KAT_THUMBPRINT);
    crypto_key_free(k2);

    /* tokens outside the base64url alphabet are refused */
    ka = NULL;
    assert_int_equal(jws_key_authorization("abc.def", k, &ka, &e), -1);
    assert_int_equal(jws_key_authorization("", k, &ka, &e), -1);
    assert_int_equal(jws_key_authorization("a\"b", k, &ka, &e), -1);
    assert_null(ka);
    crypto_key_free(k);
}

/* Parses a flattened JWS, checks the header, verifies the signature with the
 * key's public key. Returns the parsed protected header (json_object_put). */
static json_object *verify_jws(const char *jws, const struct crypto_key *k, const char *kid,
                               const char *nonce, const char *url, const char *payload)
{
    struct ac_error e;
    json_object *o = jsonu_parse(jws, strlen(jws), "JWS", AC_ERR_INTERNAL, &e), *hdr;
    const char *prot_b64, *pay_b64;
    unsigned char *prot, *pay, *sig;
    size_t prot_len, pay_len, sig_len;
    gnutls_sign_algorithm_t sa;
    gnutls_pubkey_t pub;
    gnutls_datum_t data, sigd = {NULL, 0};
    const char *alg = jws_alg(k);
    char *input;

    assert_non_null(o);
    assert_int_equal(json_object_object_length(o), 3);
    prot_b64 = jsonu_str(o, "protected");
    pay_b64 = jsonu_str(o, "payload");
    assert_non_null(prot_b64);
    assert_non_null(pay_b64);
    prot = member_b64(o, "protected", &prot_len);
    pay = member_b64(o, "payload", &pay_len);
    sig = member_b64(o, "signature", &sig_len);

    hdr = jsonu_parse((const char *)prot, prot_len, "header", AC_ERR_INTERNAL, &e);
    assert_non_null(hdr);
    assert_string_equal(jsonu_str(hdr, "alg"), alg);
    assert_string_equal(jsonu_str(hdr, "url"), url);
    if (nonce != NULL)
        assert_string_equal(jsonu_str(hdr, "nonce"), nonce);
    else
        assert_null(jsonu_str(hdr, "nonce"));
    if (kid != NULL) {
        assert_string_equal(jsonu_str(hdr, "kid"), kid);
        assert_null(jsonu_obj(hdr, "jwk"));
    } else {
        char tp_hdr[44], tp_key[44];
        assert_null(jsonu_str(hdr, "kid"));
        assert_non_null(jsonu_obj(hdr, "jwk"));
        assert_int_equal(jws_jwk_thumbprint(jsonu_obj(hdr, "jwk"), tp_hdr, &e), 0);
        assert_int_equal(jws_thumbprint(k, tp_key, &e), 0);
        assert_string_equal(tp_hdr, tp_key);
    }
    assert_int_equal(pay_len, strlen(payload));
    assert_memory_equal(pay, payload, pay_len);

    /* signing input = protected "." payload, exactly as sent */
    input = malloc(strlen(prot_b64) + strlen(pay_b64) + 2);
    assert_non_null(input);
    memcpy(input, prot_b64, strlen(prot_b64));
    input[strlen(prot_b64)] = '.';
    memcpy(input + strlen(prot_b64) + 1, pay_b64, strlen(pay_b64) + 1);
    data.data = (unsigned char *)input;
    data.size = (unsigned int)strlen(input);

    if (strcmp(alg, "RS256") == 0) {
        sa = GNUTLS_SIGN_RSA_SHA256;
        sigd.data = gnutls_malloc(sig_len);
        assert_non_null(sigd.data);
        memcpy(sigd.data, sig, sig_len);
        sigd.size = (unsigned int)sig_len;
    } else {
        size_t half = strcmp(alg, "ES256") == 0 ? 32 : 48;
        gnutls_datum_t r = {sig, (unsigned int)half}, s = {sig + half, (unsigned int)half};
        sa = half == 32 ? GNUTLS_SIGN_ECDSA_SHA256 : GNUTLS_SIGN_ECDSA_SHA384;
        assert_int_equal(sig_len, 2 * half);
        assert_int_equal(gnutls_encode_rs_value(&sigd, &r, &s), 0);
    }
    assert_int_equal(gnutls_pubkey_init(&pub), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(pub, crypto_key_privkey(k), 0, 0), 0);
    assert_int_equal(gnutls_pubkey_verify_data2(pub, sa, 0, &data, &sigd), 0);
    /* a changed input must not verify (the check can fail) */
    input[0] ^= 1;
    assert_true(gnutls_pubkey_verify_data2(pub, sa, 0, &data, &sigd) < 0);

    gnutls_pubkey_deinit(pub);
    gnutls_free(sigd.data);
    free(input);
    free(prot);
    free(pay);
    free(sig);
    json_object_put(o);
    return hdr;
}

static void sign_and_verify(const char *fixture, const char *alg)
{
    static const char url[] = "https://ca.test/acme/new-order";
    static const char payload[] = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}";
    struct crypto_key *k = load_fixture(fixture);
    struct ac_error e;
    char *jws = NULL;
    json_object *hdr;

    assert_string_equal(jws_alg(k), alg);
    /* with kid and nonce */
    assert_int_equal(jws_sign(k, "https://ca.test/acct/1", "nonce-1", url, payload,
                              strlen(payload), &jws, &e), 0);
    hdr = verify_jws(jws, k, "https://ca.test/acct/1", "nonce-1", url, payload);
    json_object_put(hdr);
    free(jws);
    /* with jwk (newAccount), no nonce, POST-as-GET */
    assert_int_equal(jws_sign(k, NULL, NULL, url, NULL, 0, &jws, &e), 0);
    assert_non_null(strstr(jws, "\"payload\":\"\""));
    hdr = verify_jws(jws, k, NULL, NULL, url, "");
    json_object_put(hdr);
    free(jws);
    /* no url: refused */
    jws = NULL;
    assert_int_equal(jws_sign(k, NULL, "n", NULL, NULL, 0, &jws, &e), -1);
    assert_null(jws);
    crypto_key_free(k);
}

static void test_jws_algorithms(void **state)
{
    (void)state;
    sign_and_verify("ec256.sec1.der", "ES256");
    sign_and_verify("ec384.pkcs8.der", "ES384");
    sign_and_verify("rsa2048.pkcs1.pem", "RS256");
}

/* ES256 signatures whose r or s has a leading zero byte (1 in 128) must still
 * be 64 bytes and verify; runs until 12 such signatures were seen (with 12,
 * the chance that none had an r or s of 31 bytes or less is 2^-12). */
static void test_jws_short_rs(void **state)
{
    struct crypto_key *k = load_fixture("ec256.pkcs8.pem");
    struct ac_error e;
    int found = 0;

    (void)state;
    for (int i = 0; i < 20000 && found < 12; i++) {
        char payload[32], *jws = NULL;
        int n = snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        assert_int_equal(jws_sign(k, "kid", "nonce", "https://ca.test/x", payload, (size_t)n,
                                  &jws, &e), 0);
        json_object *o = jsonu_parse(jws, strlen(jws), "JWS", AC_ERR_INTERNAL, &e);
        size_t sig_len;
        unsigned char *sig = member_b64(o, "signature", &sig_len);
        assert_int_equal(sig_len, 64);
        /* verify every one: a short r or s (DER of 31 bytes or less) placed
         * wrongly fails here even when it is not counted below */
        json_object_put(verify_jws(jws, k, "kid", "nonce", "https://ca.test/x", payload));
        if (sig[0] == 0 || sig[32] == 0)
            found++;
        free(sig);
        json_object_put(o);
        free(jws);
    }
    assert_int_equal(found, 12);
    crypto_key_free(k);
}

/* Keys whose x or y is shorter than the field size: JWK coordinates are
 * still 43 (P-256) / 64 (P-384) characters and decode to full width. */
static void short_coordinate(enum crypto_key_type t, size_t width, size_t chars)
{
    struct ac_error e;
    int found = 0;

    for (int i = 0; i < 20000 && !found; i++) {
        struct crypto_key *k = NULL;
        gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
        gnutls_ecc_curve_t curve;

        assert_int_equal(crypto_key_generate(t, &k, &e), 0);
        assert_int_equal(gnutls_privkey_export_ecc_raw2(crypto_key_privkey(k), &curve, &x, &y,
                                                        NULL, GNUTLS_EXPORT_FLAG_NO_LZ), 0);
        if (x.size < width || y.size < width) {
            json_object *jwk = NULL;
            size_t len;
            unsigned char *dx, *dy;

            found = 1;
            assert_int_equal(jws_jwk(k, &jwk, &e), 0);
            assert_int_equal(strlen(jsonu_str(jwk, "x")), chars);
            assert_int_equal(strlen(jsonu_str(jwk, "y")), chars);
            dx = member_b64(jwk, "x", &len);
            assert_int_equal(len, width);
            assert_memory_equal(dx + (width - x.size), x.data, x.size);
            dy = member_b64(jwk, "y", &len);
            assert_int_equal(len, width);
            assert_memory_equal(dy + (width - y.size), y.data, y.size);
            if (x.size < width)
                assert_int_equal(dx[0], 0);
            else
                assert_int_equal(dy[0], 0);
            free(dx);
            free(dy);
            json_object_put(jwk);
            /* and a JWS with this key's jwk still verifies */
            char *jws = NULL;
            assert_int_equal(jws_sign(k, NULL, "n", "https://ca.test/y", "{}", 2, &jws, &e), 0);
            json_object_put(verify_jws(jws, k, NULL, "n", "https://ca.test/y", "{}"));
            free(jws);
        }
        gnutls_free(x.data);
        gnutls_free(y.data);
        crypto_key_free(k);
    }
    assert_true(found);
}

static void test_jwk_short_coordinates(void **state)
{
    (void)state;
    short_coordinate(CRYPTO_KEY_EC256, 32, 43);
    short_coordinate(CRYPTO_KEY_EC384, 48, 64);
}

static void test_jwk_members(void **state)
{
    struct crypto_key *ec = load_fixture("ec384.sec1.pem");
    struct crypto_key *rsa = load_fixture("rsa2048.pkcs8.der");
    struct ac_error e;
    json_object *jwk = NULL;

    (void)state;
    assert_int_equal(jws_jwk(ec, &jwk, &e), 0);
    assert_int_equal(json_object_object_length(jwk), 4);
    assert_string_equal(jsonu_str(jwk, "kty"), "EC");
    assert_string_equal(jsonu_str(jwk, "crv"), "P-384");
    assert_int_equal(strlen(jsonu_str(jwk, "x")), 64);
    json_object_put(jwk);
    assert_int_equal(jws_jwk(rsa, &jwk, &e), 0);
    assert_int_equal(json_object_object_length(jwk), 3);
    assert_string_equal(jsonu_str(jwk, "kty"), "RSA");
    assert_string_equal(jsonu_str(jwk, "e"), "AQAB");
    assert_int_equal(strlen(jsonu_str(jwk, "n")), 342); /* 256 bytes, no leading zero */
    json_object_put(jwk);
    crypto_key_free(ec);
    crypto_key_free(rsa);
}

static void test_eab(void **state)
{
    /* 32-byte HMAC key as a CA hands it out (base64url, no padding) */
    static const char hmac_b64[] = "cGFzc3dvcmQtcGFzc3dvcmQtcGFzc3dvcmQtcGFzcyE";
    static const char url[] = "https://ca.test/acme/new-account";
    struct crypto_key *k = load_fixture("ec256.sec1.pem");
    struct ac_error e;
    json_object *eab = NULL, *hdr, *jwk = NULL, *payload_jwk;
    unsigned char *key, *prot, *pay, *sig, mac[32];
    size_t key_len, prot_len, pay_len, sig_len;
    char *input;

    (void)state;
    assert_int_equal(jws_eab("kid-123", hmac_b64, k, url, &eab, &e), 0);
    assert_int_equal(json_object_object_length(eab), 3);
    prot = member_b64(eab, "protected", &prot_len);
    pay = member_b64(eab, "payload", &pay_len);
    sig = member_b64(eab, "signature", &sig_len);
    hdr = jsonu_parse((const char *)prot, prot_len, "header", AC_ERR_INTERNAL, &e);
    assert_non_null(hdr);
    assert_int_equal(json_object_object_length(hdr), 3);
    assert_string_equal(jsonu_str(hdr, "alg"), "HS256");
    assert_string_equal(jsonu_str(hdr, "kid"), "kid-123");
    assert_string_equal(jsonu_str(hdr, "url"), url);
    /* the payload is the account key's JWK */
    payload_jwk = jsonu_parse((const char *)pay, pay_len, "payload", AC_ERR_INTERNAL, &e);
    assert_non_null(payload_jwk);
    assert_int_equal(jws_jwk(k, &jwk, &e), 0);
    assert_true(json_object_equal(jwk, payload_jwk));
    /* HMAC recomputed with GnuTLS over protected "." payload */
    key = b64url_decode_alloc(hmac_b64, strlen(hmac_b64), &key_len);
    assert_non_null(key);
    assert_int_equal(key_len, 32);
    const char *p64 = jsonu_str(eab, "protected"), *q64 = jsonu_str(eab, "payload");
    input = malloc(strlen(p64) + strlen(q64) + 2);
    assert_non_null(input);
    memcpy(input, p64, strlen(p64));
    input[strlen(p64)] = '.';
    memcpy(input + strlen(p64) + 1, q64, strlen(q64) + 1);
    assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, input, strlen(input), mac),
                     0);
    assert_int_equal(sig_len, 32);
    assert_memory_equal(sig, mac, 32);
    /* a different key gives a different MAC */
    key[0] ^= 1;
    assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, input, strlen(input), mac),
                     0);
    assert_memory_not_equal(sig, mac, 32);
    free(input);
    free(key);
    free(prot);
    free(pay);
    free(sig);
    json_object_put(hdr);
    json_object_put(jwk);
    json_object_put(payload_jwk);
    json_object_put(eab);

    /* a bad HMAC key: error, and the message never contains the key */
    static const char bad[] = "c2VjcmV0LXNlY3JldA!!";
    eab = NULL;
    assert_int_equal(jws_eab("kid-123", bad, k, url, &eab, &e), -1);
    assert_null(eab);
    assert_null(strstr(e.message, "c2VjcmV0"));
    assert_null(strstr(e.message, bad));
    assert_int_equal(jws_eab("kid-123", "", k, url, &eab, &e), -1);
    assert_int_equal(jws_eab("", hmac_b64, k, url, &eab, &e), -1);
    assert_null(eab);
    crypto_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7638_vector),
        cmocka_unit_test(test_key_authorization_kat),
        cmocka_unit_test(test_jws_algorithms),
        cmocka_unit_test(test_jws_short_rs),
        cmocka_unit_test(test_jwk_short_coordinates),
        cmocka_unit_test(test_jwk_members),
        cmocka_unit_test(test_eab),
    };

    if (crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
