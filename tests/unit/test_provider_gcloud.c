/* test_provider_gcloud.c - the gcloud provider's service-account pieces: the
 * RS256 JWT assertion (header, claims, signature verified with GnuTLS against
 * the key's public half; a changed claim no longer verifies) and the key-file
 * loader (accepted file; refused files named by option without their
 * content). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "b64.h"
#include "crypto.h"
#include "gcloud_auth.h"
#include "jsonu.h"

#define EMAIL "sa@proj.iam.gserviceaccount.com"
#define AUD "https://oauth2.googleapis.com/token"

static json_object *decode_part(const char *p, size_t n)
{
    size_t len = 0;
    unsigned char *raw = b64url_decode_alloc(p, n, &len);
    struct ac_error e = {0};
    json_object *o;

    assert_non_null(raw);
    o = jsonu_parse((const char *)raw, len, "jwt part", AC_ERR_INTERNAL, &e);
    free(raw);
    assert_non_null(o);
    return o;
}

static int verify(struct crypto_key *k, const char *input, size_t il, const char *sig64)
{
    gnutls_pubkey_t pub;
    size_t sl = 0;
    unsigned char *sig = b64url_decode_alloc(sig64, strlen(sig64), &sl);
    gnutls_datum_t d = {(unsigned char *)input, (unsigned)il}, s = {sig, (unsigned)sl};
    int rc;

    assert_non_null(sig);
    assert_int_equal(gnutls_pubkey_init(&pub), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(pub, crypto_key_privkey(k), 0, 0), 0);
    rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_RSA_SHA256, 0, &d, &s);
    gnutls_pubkey_deinit(pub);
    free(sig);
    return rc;
}

static void test_jwt_signed_rs256(void **st)
{
    struct crypto_key *k = NULL;
    struct ac_error e = {0};
    char *jwt = NULL, *d1, *d2;
    json_object *h, *c;
    int64_t v;

    (void)st;
    assert_int_equal(crypto_key_generate(CRYPTO_KEY_RSA2048, &k, &e), 0);
    assert_int_equal(gcloud_jwt_make(k, EMAIL, GCLOUD_SCOPE_DNS, AUD, 1700000000, &jwt, &e), 0);
    d1 = strchr(jwt, '.');
    assert_non_null(d1);
    d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    h = decode_part(jwt, (size_t)(d1 - jwt));
    assert_string_equal(jsonu_string(h), "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_int_equal(json_object_object_length(c), 5);
    assert_string_equal(jsonu_str(c, "iss"), EMAIL);
    assert_string_equal(jsonu_str(c, "scope"), GCLOUD_SCOPE_DNS);
    assert_string_equal(jsonu_str(c, "aud"), AUD);
    assert_int_equal(jsonu_int(c, "iat", &v), 0);
    assert_int_equal(v, 1700000000);
    assert_int_equal(jsonu_int(c, "exp", &v), 0);
    assert_int_equal(v, 1700000000 + 3600);
    assert_true(verify(k, jwt, (size_t)(d2 - jwt), d2 + 1) >= 0);
    /* one changed byte of the claims must not verify */
    d1[3] = d1[3] == 'A' ? 'B' : 'A';
    assert_true(verify(k, jwt, (size_t)(d2 - jwt), d2 + 1) < 0);
    json_object_put(h);
    json_object_put(c);
    free(jwt);
    crypto_key_free(k);
}

/* Writes a key file; type/uri NULL leave the member out. */
static void write_sa(const char *path, const char *type, const char *pem, const char *uri)
{
    json_object *o = json_object_new_object();
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    if (type)
        jsonu_add_str(o, "type", type);
    jsonu_add_str(o, "client_email", EMAIL);
    jsonu_add_str(o, "private_key", pem);
    if (uri)
        jsonu_add_str(o, "token_uri", uri);
    fputs(jsonu_string(o), f);
    fclose(f);
    json_object_put(o);
}

static char *key_pem(enum crypto_key_type t)
{
    struct crypto_key *k = NULL;
    struct ac_error e = {0};
    char *pem = NULL, *copy;
    size_t len;

    assert_int_equal(crypto_key_generate(t, &k, &e), 0);
    assert_int_equal(crypto_key_export_pkcs8_pem(k, &pem, &len, &e), 0);
    copy = strdup(pem);
    gnutls_free(pem);
    crypto_key_free(k);
    return copy;
}

static void expect_refused(const char *path, const char *what)
{
    struct gcloud_sa *sa = NULL;
    struct ac_error e = {0};

    assert_int_equal(gcloud_sa_load(path, &sa, &e), -1);
    assert_null(sa);
    assert_string_equal(e.kind, AC_ERR_CONFIG);
    assert_non_null(strstr(e.message, "service_account_file"));
    assert_non_null(strstr(e.message, what));
    assert_null(strstr(e.message, "PRIVATE KEY"));
}

static void test_key_file(void **st)
{
    char path[] = "/tmp/ac-gcloud-unit-XXXXXX";
    int fd = mkstemp(path);
    char *rsa = key_pem(CRYPTO_KEY_RSA2048), *ec = key_pem(CRYPTO_KEY_EC256);
    struct gcloud_sa *sa = NULL;
    struct ac_error e = {0};

    (void)st;
    assert_true(fd >= 0);
    close(fd);
    write_sa(path, "service_account", rsa, NULL);
    assert_int_equal(gcloud_sa_load(path, &sa, &e), 0);
    assert_string_equal(sa->client_email, EMAIL);
    assert_string_equal(sa->token_uri, GCLOUD_DEFAULT_TOKEN_URI);
    gcloud_sa_free(sa);
    write_sa(path, "authorized_user", rsa, NULL);
    expect_refused(path, "type");
    write_sa(path, "service_account", ec, NULL);
    expect_refused(path, "RSA");
    write_sa(path, "service_account", rsa, "http://oauth2.example.com/token");
    expect_refused(path, "token_uri");
    write_sa(path, "service_account",
             "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", NULL);
    expect_refused(path, "private_key");
    unlink(path);
    expect_refused(path, "cannot open");
    free(rsa);
    free(ec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_signed_rs256),
        cmocka_unit_test(test_key_file),
    };

    crypto_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
