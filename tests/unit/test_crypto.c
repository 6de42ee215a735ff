/* test_crypto.c - keys (generate, load every format, export, garbage), CSRs
 * parsed back with GnuTLS, certificate chains and facts, key/cert matching and
 * the ARI certificate id (RFC 9773 §4.1 example and a certtool-made leaf).
 *
 * Fixtures in tests/data/crypto/ come from gen.sh (openssl keys, certtool CA and
 * leaf with fixed dates and serials). RSA 8192 generation takes 15+ s even
 * without sanitizers, so it only runs with AUTOCERT_SLOW_TESTS=1; the RSA 8192
 * type is otherwise covered by loading rsa8192.pkcs8.pem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include <arpa/inet.h>
#include <gnutls/crypto.h>

#include "b64.h"
#include "crypto.h"

static unsigned char *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("AUTOCERT_TEST_DATA");
    char path[1024];
    unsigned char *buf;
    FILE *f;
    long n;

    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/crypto/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static struct crypto_key *load_fixture(const char *name)
{
    struct ac_error e;
    struct crypto_key *k = NULL;
    size_t len;
    unsigned char *data = read_fixture(name, &len);

    if (crypto_key_load(data, len, &k, &e) != 0)
        fail_msg("%s: %s", name, e.message);
    free(data);
    return k;
}

/* PKCS#8 DER of k (fails the test on error); free with gnutls_free. */
static unsigned char *pkcs8_der(const struct crypto_key *k, size_t *len)
{
    struct ac_error e;
    unsigned char *der = NULL;

    assert_int_equal(crypto_key_export_pkcs8_der(k, &der, len, &e), 0);
    return der;
}

/* Same key: same type, same public key, same private value (d or k). The
 * PKCS#8 bytes can differ: GnuTLS keeps the form a key was read in. */
static void assert_same_key(const struct crypto_key *a, const struct crypto_key *b)
{
    gnutls_pubkey_t pa, pb;
    gnutls_datum_t da, db, sa = {NULL, 0}, sb = {NULL, 0};
    gnutls_ecc_curve_t curve;

    assert_int_equal(crypto_key_get_type(a), crypto_key_get_type(b));
    assert_int_equal(gnutls_pubkey_init(&pa), 0);
    assert_int_equal(gnutls_pubkey_init(&pb), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(pa, crypto_key_privkey(a), 0, 0), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(pb, crypto_key_privkey(b), 0, 0), 0);
    assert_int_equal(gnutls_pubkey_export2(pa, GNUTLS_X509_FMT_DER, &da), 0);
    assert_int_equal(gnutls_pubkey_export2(pb, GNUTLS_X509_FMT_DER, &db), 0);
    assert_int_equal(da.size, db.size);
    assert_memory_equal(da.data, db.data, da.size);
    if (gnutls_privkey_get_pk_algorithm(crypto_key_privkey(a), NULL) == GNUTLS_PK_ECDSA) {
        assert_int_equal(gnutls_privkey_export_ecc_raw2(crypto_key_privkey(a), &curve, NULL, NULL,
                                                        &sa, GNUTLS_EXPORT_FLAG_NO_LZ),
                         0);
        assert_int_equal(gnutls_privkey_export_ecc_raw2(crypto_key_privkey(b), &curve, NULL, NULL,
                                                        &sb, GNUTLS_EXPORT_FLAG_NO_LZ),
                         0);
    } else {
        assert_int_equal(gnutls_privkey_export_rsa_raw2(crypto_key_privkey(a), NULL, NULL, &sa,
                                                        NULL, NULL, NULL, NULL, NULL,
                                                        GNUTLS_EXPORT_FLAG_NO_LZ),
                         0);
        assert_int_equal(gnutls_privkey_export_rsa_raw2(crypto_key_privkey(b), NULL, NULL, &sb,
                                                        NULL, NULL, NULL, NULL, NULL,
                                                        GNUTLS_EXPORT_FLAG_NO_LZ),
                         0);
    }
    assert_true(sa.size > 0);
    assert_int_equal(sa.size, sb.size);
    assert_memory_equal(sa.data, sb.data, sa.size);
    gnutls_free(da.data);
    gnutls_free(db.data);
    gnutls_free(sa.data);
    gnutls_free(sb.data);
    gnutls_pubkey_deinit(pa);
    gnutls_pubkey_deinit(pb);
}

static void test_key_type_names(void **state)
{
    enum crypto_key_type t = CRYPTO_KEY_NONE;

    (void)state;
    assert_int_equal(crypto_key_type_parse("ec256", &t), 0);
    assert_int_equal(t, CRYPTO_KEY_EC256);
    assert_int_equal(crypto_key_type_parse("P384", &t), 0);
    assert_int_equal(t, CRYPTO_KEY_EC384);
    assert_int_equal(crypto_key_type_parse("rsa3072", &t), 0);
    assert_int_equal(t, CRYPTO_KEY_RSA3072);
    assert_int_equal(crypto_key_type_parse("8192", &t), 0);
    assert_int_equal(t, CRYPTO_KEY_RSA8192);
    assert_int_equal(crypto_key_type_parse("RSA1024", &t), -1);
    assert_int_equal(crypto_key_type_parse("", &t), -1);
    assert_int_equal(crypto_key_type_parse(NULL, &t), -1);
    assert_string_equal(crypto_key_type_name(CRYPTO_KEY_RSA4096), "RSA4096");
    assert_string_equal(crypto_key_type_name(CRYPTO_KEY_EC384), "EC384");
    assert_string_equal(crypto_key_type_name(CRYPTO_KEY_NONE), "unknown");
}

/* Every fixture format loads, to the same key as its PKCS#8 PEM sibling; the
 * account export equals openssl's SEC1 / PKCS#1 DER byte for byte. */
static void test_key_load_fixtures(void **state)
{
    static const struct {
        const char *base;
        enum crypto_key_type type;
        const char *forms[4];
        const char *account; /* openssl's SEC1 / PKCS#1 DER */
    } cases[] = {
        {"ec256", CRYPTO_KEY_EC256, {"pkcs8.der", "sec1.pem", "sec1.der", NULL}, "sec1.der"},
        {"ec384", CRYPTO_KEY_EC384, {"pkcs8.der", "sec1.pem", "sec1.der", NULL}, "sec1.der"},
        {"rsa2048", CRYPTO_KEY_RSA2048, {"pkcs8.der", "pkcs1.pem", "pkcs1.der", NULL}, "pkcs1.der"},
    };
    char name[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct crypto_key *ref, *k, *again;
        struct ac_error e;
        unsigned char *acct = NULL, *want;
        size_t acct_len, want_len;

        snprintf(name, sizeof name, "%s.pkcs8.pem", cases[i].base);
        ref = load_fixture(name);
        assert_int_equal(crypto_key_get_type(ref), cases[i].type);
        assert_non_null(crypto_key_privkey(ref));
        assert_non_null(crypto_key_x509(ref));
        for (size_t j = 0; cases[i].forms[j] != NULL; j++) {
            snprintf(name, sizeof name, "%s.%s", cases[i].base, cases[i].forms[j]);
            k = load_fixture(name);
            assert_same_key(ref, k);
            crypto_key_free(k);
        }
        assert_int_equal(crypto_key_export_account_der(ref, &acct, &acct_len, &e), 0);
        snprintf(name, sizeof name, "%s.%s", cases[i].base, cases[i].account);
        want = read_fixture(name, &want_len);
        assert_int_equal(acct_len, want_len);
        assert_memory_equal(acct, want, want_len);
        assert_int_equal(crypto_key_load(acct, acct_len, &again, &e), 0);
        assert_same_key(ref, again);
        crypto_key_free(again);
        free(want);
        gnutls_free(acct);
        crypto_key_free(ref);
    }
    /* RSA 8192: type detection and round trip without the slow generation */
    struct crypto_key *big = load_fixture("rsa8192.pkcs8.pem");
    assert_int_equal(crypto_key_get_type(big), CRYPTO_KEY_RSA8192);
    crypto_key_free(big);
}

/* generate -> every export -> load -> same key, for one type */
static void roundtrip_type(enum crypto_key_type t)
{
    struct crypto_key *k = NULL, *r = NULL;
    struct ac_error e;
    char *pem = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    gnutls_datum_t legacy = {NULL, 0};

    assert_int_equal(crypto_key_generate(t, &k, &e), 0);
    assert_int_equal(crypto_key_get_type(k), t);

    assert_int_equal(crypto_key_export_pkcs8_pem(k, &pem, &len, &e), 0);
    assert_int_equal(strlen(pem), len); /* NUL-terminated */
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    assert_int_equal(crypto_key_load(pem, len, &r, &e), 0);
    assert_same_key(k, r);
    crypto_key_free(r);
    gnutls_free(pem);

    der = pkcs8_der(k, &len);
    assert_int_equal(crypto_key_load(der, len, &r, &e), 0);
    assert_same_key(k, r);
    crypto_key_free(r);
    gnutls_free(der);

    assert_int_equal(crypto_key_export_account_der(k, &der, &len, &e), 0);
    assert_int_equal(crypto_key_load(der, len, &r, &e), 0);
    assert_same_key(k, r);
    crypto_key_free(r);
    gnutls_free(der);

    /* PKCS#1 / SEC1 PEM ("RSA PRIVATE KEY" / "EC PRIVATE KEY") */
    assert_int_equal(gnutls_x509_privkey_export2(crypto_key_x509(k), GNUTLS_X509_FMT_PEM, &legacy),
                     0);
    assert_non_null(memmem(
        legacy.data, legacy.size,
        t == CRYPTO_KEY_EC256 || t == CRYPTO_KEY_EC384 ? "EC PRIVATE KEY" : "RSA PRIVATE KEY", 14));
    assert_int_equal(crypto_key_load(legacy.data, legacy.size, &r, &e), 0);
    assert_same_key(k, r);
    crypto_key_free(r);
    gnutls_free(legacy.data);
    crypto_key_free(k);
}

/* Reads one DER tag + length at p[*off] (tag must match); returns the content
 * length and moves *off to the content. */
static size_t der_enter(const unsigned char *p, size_t n, size_t *off, unsigned char tag)
{
    size_t len;

    assert_true(*off + 2 <= n);
    assert_int_equal(p[*off], tag);
    len = p[*off + 1];
    *off += 2;
    if (len & 0x80) {
        size_t k = len & 0x7f;
        assert_true(k >= 1 && k <= 2 && *off + k <= n);
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | p[(*off)++];
    }
    assert_true(*off + len <= n);
    return len;
}

/* The privateKey OCTET STRING of the ECPrivateKey inside a PKCS#8 DER. */
static size_t pkcs8_ec_scalar_len(const unsigned char *der, size_t n)
{
    size_t off = 0, len;

    der_enter(der, n, &off, 0x30);       /* PrivateKeyInfo */
    len = der_enter(der, n, &off, 0x02); /* version 0 */
    assert_int_equal(len, 1);
    assert_int_equal(der[off], 0);
    off += len;
    len = der_enter(der, n, &off, 0x30); /* AlgorithmIdentifier */
    off += len;
    der_enter(der, n, &off, 0x04);       /* privateKey */
    der_enter(der, n, &off, 0x30);       /* ECPrivateKey */
    len = der_enter(der, n, &off, 0x02); /* version 1 */
    assert_int_equal(len, 1);
    assert_int_equal(der[off], 1);
    off += len;
    return der_enter(der, n, &off, 0x04); /* privateKey: the scalar */
}

/* Runs python-cryptography's loader over every *.pem in dir; returns how many
 * it accepted (it stops at the first refusal). */
static int python_strict_count(const char *dir)
{
    char script[512], cmd[1200], out[64] = "";
    FILE *f, *p;

    snprintf(script, sizeof script, "%s/strict.py", dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fputs("import sys, glob\n"
          "from cryptography.hazmat.primitives.serialization import load_pem_private_key\n"
          "n = 0\n"
          "for name in sorted(glob.glob(sys.argv[1] + '/*.pem')):\n"
          "    try:\n"
          "        load_pem_private_key(open(name, 'rb').read(), None)\n"
          "    except Exception as ex:\n"
          "        print('refused', name, ex, file=sys.stderr)\n"
          "        continue\n"
          "    n += 1\n"
          "print(n)\n",
          f);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s'", script, dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, sizeof out, p) == NULL)
        out[0] = '\0';
    assert_int_equal(pclose(p), 0);
    return (int)strtol(out, NULL, 10);
}

/* Issue 10 item 5: certificate keys (key_path, PKCS#8 PEM) keep the EC scalar
 * at exactly the field size, so strict parsers accept every one of them (with
 * GnuTLS's own export about half of the keys had a 33- or 49-byte scalar). */
static void test_pkcs8_ec_fixed_scalar(void **state)
{
    static const struct {
        enum crypto_key_type t;
        size_t fs;
        int count;
    } types[] = {
        {CRYPTO_KEY_EC256, 32, 64}, {CRYPTO_KEY_EC384, 48, 64}, {CRYPTO_KEY_RSA2048, 0, 1}};
    char dir[] = "/tmp/test_crypto_pkcs8.XXXXXX", path[256], cmd[300];
    int written = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int i = 0; i < types[t].count; i++) {
            struct crypto_key *k = NULL, *r = NULL;
            struct ac_error e;
            char *pem = NULL;
            unsigned char *der = NULL;
            size_t len = 0, dlen = 0;
            gnutls_datum_t d = {NULL, 0}, b64;
            FILE *f;

            assert_int_equal(crypto_key_generate(types[t].t, &k, &e), 0);
            assert_int_equal(crypto_key_export_pkcs8_pem(k, &pem, &len, &e), 0);
            assert_int_equal(strlen(pem), len);
            assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\n"));
            /* the PEM is the DER export, and GnuTLS reads both back to the same key */
            der = pkcs8_der(k, &dlen);
            b64.data = (unsigned char *)pem;
            b64.size = (unsigned int)len;
            assert_int_equal(gnutls_pem_base64_decode2("PRIVATE KEY", &b64, &d), 0);
            assert_int_equal(d.size, dlen);
            assert_memory_equal(d.data, der, dlen);
            if (types[t].fs != 0)
                assert_int_equal(pkcs8_ec_scalar_len(der, dlen), types[t].fs);
            assert_int_equal(crypto_key_load(pem, len, &r, &e), 0);
            assert_same_key(k, r);
            crypto_key_free(r);
            r = NULL;
            assert_int_equal(crypto_key_load(der, dlen, &r, &e), 0);
            assert_same_key(k, r);
            crypto_key_free(r);

            snprintf(path, sizeof path, "%s/%zu-%02d.pem", dir, t, i);
            f = fopen(path, "w");
            assert_non_null(f);
            assert_int_equal(fwrite(pem, 1, len, f), len);
            assert_int_equal(fclose(f), 0);
            written++;
            gnutls_free(d.data);
            gnutls_free(der);
            gnutls_free(pem);
            crypto_key_free(k);
        }
    }
    assert_int_equal(python_strict_count(dir), written);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_key_generate_roundtrip(void **state)
{
    (void)state;
    roundtrip_type(CRYPTO_KEY_EC256);
    roundtrip_type(CRYPTO_KEY_EC384);
    roundtrip_type(CRYPTO_KEY_RSA2048);
    roundtrip_type(CRYPTO_KEY_RSA3072);
    roundtrip_type(CRYPTO_KEY_RSA4096);
    if (getenv("AUTOCERT_SLOW_TESTS") != NULL)
        roundtrip_type(CRYPTO_KEY_RSA8192);

    struct crypto_key *k = (struct crypto_key *)1;
    struct ac_error e;
    assert_int_equal(crypto_key_generate(CRYPTO_KEY_NONE, &k, &e), -1);
    assert_int_equal(crypto_key_generate((enum crypto_key_type)99, &k, &e), -1);
    assert_ptr_equal(k, (struct crypto_key *)1);
}

static void expect_unreadable(const void *data, size_t len, const char *secret)
{
    struct crypto_key *k = NULL;
    struct ac_error e;

    ac_error_clear(&e);
    assert_int_equal(crypto_key_load(data, len, &k, &e), -1);
    assert_null(k);
    assert_string_equal(e.kind, AC_ERR_KEY_UNREADABLE);
    assert_true(strlen(e.message) > 0);
    if (secret != NULL)
        assert_null(strstr(e.message, secret));
}

static void test_key_load_garbage(void **state)
{
    size_t len, dlen;
    unsigned char *pem = read_fixture("ec256.sec1.pem", &len);
    unsigned char *der = read_fixture("rsa2048.pkcs1.der", &dlen);
    unsigned char junk[512];
    char secret_line[40];

    (void)state;
    /* the first base64 line of the key must never show up in a message */
    memcpy(secret_line, pem + 31, 32);
    secret_line[32] = '\0';

    expect_unreadable("", 0, NULL);
    expect_unreadable(NULL, 0, NULL);
    expect_unreadable("not a key", 9, NULL);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    expect_unreadable(junk, sizeof junk, NULL);
    /* truncations of a PEM key (inside the body: a cut END line still has the
     * whole key) and of a DER key */
    size_t end = (size_t)((unsigned char *)strstr((char *)pem, "-----END") - pem);
    for (size_t n = 1; n < end; n += 7)
        expect_unreadable(pem, n, secret_line);
    for (size_t n = 1; n < dlen; n += 13)
        expect_unreadable(der, n, NULL);
    /* a corrupted body inside valid armour */
    pem[40] = pem[40] == 'A' ? 'B' : 'A';
    pem[41] = '!';
    expect_unreadable(pem, len, secret_line);
    /* a certificate is not a key */
    free(pem);
    pem = read_fixture("leaf.pem", &len);
    expect_unreadable(pem, len, NULL);
    /* an encrypted PKCS#8 key is refused (no password prompt) */
    free(pem);
    pem = read_fixture("ec256.encrypted.pem", &len);
    expect_unreadable(pem, len, NULL);
    /* a too-large input */
    unsigned char *big = calloc(1, 300 * 1024);
    assert_non_null(big);
    expect_unreadable(big, 300 * 1024, NULL);
    free(big);
    free(pem);
    free(der);
}

/* Reads SAN i of a CSR: type and value. */
static int crq_san(gnutls_x509_crq_t crq, unsigned i, unsigned char *buf, size_t *size)
{
    unsigned int critical = 0;

    *size = 256;
    return gnutls_x509_crq_get_subject_alt_name(crq, i, buf, size, NULL, &critical);
}

static gnutls_x509_crq_t csr_for(const struct crypto_key *k, const char *const *names, size_t n)
{
    struct ac_error e;
    unsigned char *der = NULL;
    size_t len = 0;
    gnutls_x509_crq_t crq;
    gnutls_datum_t d;

    if (crypto_csr_create(k, names, n, &der, &len, &e) != 0)
        fail_msg("CSR: %s", e.message);
    assert_int_equal(gnutls_x509_crq_init(&crq), 0);
    d.data = der;
    d.size = (unsigned int)len;
    assert_int_equal(gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(gnutls_x509_crq_verify(crq, 0), 0);
    free(der);
    return crq;
}

static void csr_cn(gnutls_x509_crq_t crq, char *cn, size_t cap)
{
    size_t size = cap;
    int ret = gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size);

    if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        cn[0] = '\0';
    else
        assert_int_equal(ret, 0);
}

static void test_csr(void **state)
{
    static const char *const names[] = {"www.example.test", "*.example.test", "192.0.2.7",
                                        "2001:db8::1", "example.test"};
    struct crypto_key *k = load_fixture("ec384.sec1.pem"), *other = load_fixture("ec256.sec1.der");
    unsigned char buf[256], ip[16];
    size_t size;
    char cn[128];
    gnutls_x509_crq_t crq;
    gnutls_pubkey_t a, b;
    gnutls_datum_t da, db;

    (void)state;
    crq = csr_for(k, names, 5);
    assert_int_equal(crq_san(crq, 0, buf, &size), GNUTLS_SAN_DNSNAME);
    assert_int_equal(size, 16);
    assert_memory_equal(buf, "www.example.test", 16);
    assert_int_equal(crq_san(crq, 1, buf, &size), GNUTLS_SAN_DNSNAME);
    assert_memory_equal(buf, "*.example.test", size);
    assert_int_equal(crq_san(crq, 2, buf, &size), GNUTLS_SAN_IPADDRESS);
    assert_int_equal(size, 4);
    assert_int_equal(inet_pton(AF_INET, "192.0.2.7", ip), 1);
    assert_memory_equal(buf, ip, 4);
    assert_int_equal(crq_san(crq, 3, buf, &size), GNUTLS_SAN_IPADDRESS);
    assert_int_equal(size, 16);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", ip), 1);
    assert_memory_equal(buf, ip, 16);
    assert_int_equal(crq_san(crq, 4, buf, &size), GNUTLS_SAN_DNSNAME);
    assert_memory_equal(buf, "example.test", size);
    assert_int_equal(crq_san(crq, 5, buf, &size), GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
    csr_cn(crq, cn, sizeof cn);
    assert_string_equal(cn, "www.example.test");

    /* the CSR's public key is the key's, not another one */
    assert_int_equal(gnutls_pubkey_init(&a), 0);
    assert_int_equal(gnutls_pubkey_init(&b), 0);
    assert_int_equal(gnutls_pubkey_import_x509_crq(a, crq, 0), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(b, crypto_key_privkey(k), 0, 0), 0);
    assert_int_equal(gnutls_pubkey_export2(a, GNUTLS_X509_FMT_DER, &da), 0);
    assert_int_equal(gnutls_pubkey_export2(b, GNUTLS_X509_FMT_DER, &db), 0);
    assert_int_equal(da.size, db.size);
    assert_memory_equal(da.data, db.data, da.size);
    gnutls_free(db.data);
    gnutls_pubkey_deinit(b);
    assert_int_equal(gnutls_pubkey_init(&b), 0);
    assert_int_equal(gnutls_pubkey_import_privkey(b, crypto_key_privkey(other), 0, 0), 0);
    assert_int_equal(gnutls_pubkey_export2(b, GNUTLS_X509_FMT_DER, &db), 0);
    assert_false(da.size == db.size && memcmp(da.data, db.data, da.size) == 0);
    gnutls_free(da.data);
    gnutls_free(db.data);
    gnutls_pubkey_deinit(a);
    gnutls_pubkey_deinit(b);
    gnutls_x509_crq_deinit(crq);

    /* CN rule: first DNS name, only when <= 64 bytes */
    char n64[65], n65[66];
    memset(n64, 'a', 60);
    memcpy(n64 + 60, ".com", 5); /* 64 bytes */
    memset(n65, 'a', 61);
    memcpy(n65 + 61, ".com", 5); /* 65 bytes */
    const char *ip_first[] = {"10.0.0.1", "b.example.test"};
    crq = csr_for(k, ip_first, 2);
    csr_cn(crq, cn, sizeof cn);
    assert_string_equal(cn, "b.example.test");
    gnutls_x509_crq_deinit(crq);
    const char *long64[] = {n64};
    crq = csr_for(k, long64, 1);
    csr_cn(crq, cn, sizeof cn);
    assert_string_equal(cn, n64);
    gnutls_x509_crq_deinit(crq);
    const char *long65[] = {n65, "short.example"};
    crq = csr_for(k, long65, 2);
    csr_cn(crq, cn, sizeof cn);
    assert_string_equal(cn, "");
    assert_int_equal(crq_san(crq, 0, buf, &size), GNUTLS_SAN_DNSNAME);
    assert_int_equal(size, 65);
    gnutls_x509_crq_deinit(crq);
    const char *ips[] = {"::1"};
    crq = csr_for(other, ips, 1);
    csr_cn(crq, cn, sizeof cn);
    assert_string_equal(cn, "");
    gnutls_x509_crq_deinit(crq);

    /* bad input */
    struct ac_error e;
    unsigned char *der = NULL;
    size_t len;
    const char *empty[] = {""};
    const char *null_name[] = {NULL};
    assert_int_equal(crypto_csr_create(k, names, 0, &der, &len, &e), -1);
    assert_int_equal(crypto_csr_create(k, empty, 1, &der, &len, &e), -1);
    assert_int_equal(crypto_csr_create(k, null_name, 1, &der, &len, &e), -1);
    assert_null(der);
    crypto_key_free(k);
    crypto_key_free(other);
}

static struct crypto_chain *chain_fixture(const char *name)
{
    struct crypto_chain *c = NULL;
    struct ac_error e;
    size_t len;
    unsigned char *pem = read_fixture(name, &len);

    if (crypto_chain_parse_pem(pem, len, &c, &e) != 0)
        fail_msg("%s: %s", name, e.message);
    free(pem);
    return c;
}

static void test_chain_and_info(void **state)
{
    struct crypto_chain *c = chain_fixture("chain.pem");
    struct crypto_cert_info info;
    struct ac_error e;

    (void)state;
    assert_int_equal(c->count, 2);
    assert_int_equal(crypto_cert_info_get(c->crts[0], &info, &e), 0);
    assert_string_equal(info.subject_cn, "www.example.test");
    assert_string_equal(info.issuer_cn, "autocert test CA");
    assert_int_equal(info.not_before, 1748779200); /* 2025-06-01T12:00:00Z */
    assert_int_equal(info.not_after, 2064312000);  /* 2035-06-01T12:00:00Z */
    assert_int_equal(info.dns_count, 3);
    assert_string_equal(info.dns_names[0], "www.example.test");
    assert_string_equal(info.dns_names[1], "*.example.test");
    assert_string_equal(info.dns_names[2], "example.test");
    assert_int_equal(info.email_count, 1);
    assert_string_equal(info.email_addresses[0], "admin@example.test");
    assert_string_equal(info.serial_hex, "00f1e2d3c4b5a69788");
    assert_int_equal(info.key_type, CRYPTO_KEY_EC256);
    crypto_cert_info_free(&info);
    crypto_cert_info_free(&info); /* safe after free */

    assert_int_equal(crypto_cert_info_get(c->crts[1], &info, &e), 0);
    assert_string_equal(info.subject_cn, "autocert test CA");
    assert_string_equal(info.issuer_cn, "autocert test CA");
    assert_null(info.dns_names);
    assert_int_equal(info.dns_count, 0);
    assert_null(info.email_addresses);
    assert_string_equal(info.serial_hex, "01");
    assert_int_equal(info.not_before, 1735689600); /* 2025-01-01T00:00:00Z */
    crypto_cert_info_free(&info);

    /* DER export re-imports to the same certificate */
    unsigned char *der = NULL;
    size_t len = 0;
    gnutls_x509_crt_t crt;
    gnutls_datum_t d;
    assert_int_equal(crypto_cert_der(c->crts[0], &der, &len, &e), 0);
    assert_true(len > 100 && der[0] == 0x30);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    d.data = der;
    d.size = (unsigned int)len;
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER), 0);
    assert_true(gnutls_x509_crt_equals(crt, c->crts[0]));
    assert_false(gnutls_x509_crt_equals(crt, c->crts[1]));
    gnutls_x509_crt_deinit(crt);
    gnutls_free(der);
    crypto_chain_free(c);
    crypto_chain_free(NULL);
}

/* Both parsers refuse pem with a crypto error. */
static void expect_chain_error(const void *pem, size_t len)
{
    struct crypto_chain *c = NULL;
    struct ac_error e;

    ac_error_clear(&e);
    assert_int_equal(crypto_chain_parse_pem(pem, len, &c, &e), -1);
    assert_null(c);
    assert_string_equal(e.kind, AC_ERR_CRYPTO);
    ac_error_clear(&e);
    assert_int_equal(crypto_chain_parse_pem_lazy(pem, len, &c, &e), -1);
    assert_null(c);
    assert_string_equal(e.kind, AC_ERR_CRYPTO);
}

/* The lazy parser: the leaf parsed at once, the others on demand, each the
 * same certificate as the eager parser's; an intermediate that is not a
 * certificate is an error only when it is asked for. */
static void test_chain_lazy(void **state)
{
    static const char junk[] = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
    struct crypto_chain *eager = chain_fixture("chain.pem"), *lazy = NULL;
    size_t len, leaf_len;
    unsigned char *pem = read_fixture("chain.pem", &len);
    unsigned char *leaf = read_fixture("leaf.pem", &leaf_len);
    struct ac_error e;
    char *mixed;

    (void)state;
    assert_int_equal(crypto_chain_parse_pem_lazy(pem, len, &lazy, &e), 0);
    assert_int_equal(lazy->count, eager->count);
    assert_non_null(lazy->crts[0]);
    assert_null(lazy->crts[1]); /* not parsed yet */
    for (size_t i = 0; i < lazy->count; i++) {
        gnutls_x509_crt_t crt = crypto_chain_crt(lazy, i, &e);
        assert_non_null(crt);
        assert_true(gnutls_x509_crt_equals(crt, eager->crts[i]));
        assert_ptr_equal(crypto_chain_crt(lazy, i, &e), crt); /* parsed once */
    }
    assert_null(crypto_chain_crt(lazy, lazy->count, &e));
    crypto_chain_free(lazy);

    /* a leaf, then base64 that is no certificate: the leaf reads, #2 does not */
    mixed = malloc(leaf_len + sizeof junk);
    assert_non_null(mixed);
    memcpy(mixed, leaf, leaf_len);
    memcpy(mixed + leaf_len, junk, sizeof junk - 1);
    lazy = NULL;
    assert_int_equal(crypto_chain_parse_pem_lazy(mixed, leaf_len + sizeof junk - 1, &lazy, &e), 0);
    assert_int_equal(lazy->count, 2);
    ac_error_clear(&e);
    assert_null(crypto_chain_crt(lazy, 1, &e));
    assert_string_equal(e.kind, AC_ERR_CRYPTO);
    assert_non_null(strstr(e.message, "certificate #2 of 2"));
    crypto_chain_free(lazy);
    free(mixed);
    free(pem);
    free(leaf);
    crypto_chain_free(eager);
}

static void test_chain_errors(void **state)
{
    static const char bad[] = "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n";
    size_t len;
    unsigned char *leaf = read_fixture("leaf.pem", &len);
    struct crypto_chain *c = NULL;
    struct ac_error e;
    char *many;

    (void)state;
    expect_chain_error("", 0);
    expect_chain_error(NULL, 0);
    expect_chain_error("hello", 5);
    expect_chain_error(bad, sizeof bad - 1);
    for (size_t n = 30; n < len - 30; n += 17)
        expect_chain_error(leaf, n);
    /* 16 certificates are fine, 17 are not */
    many = malloc(len * 17);
    assert_non_null(many);
    for (int i = 0; i < 17; i++)
        memcpy(many + (size_t)i * len, leaf, len);
    assert_int_equal(crypto_chain_parse_pem(many, len * 16, &c, &e), 0);
    assert_int_equal(c->count, 16);
    crypto_chain_free(c);
    assert_int_equal(crypto_chain_parse_pem_lazy(many, len * 16, &c, &e), 0);
    assert_int_equal(c->count, 16);
    crypto_chain_free(c);
    expect_chain_error(many, len * 17);
    free(many);
    free(leaf);
}

static void test_key_matches_cert(void **state)
{
    struct crypto_chain *c = chain_fixture("chain.pem");
    struct crypto_key *leaf_key = load_fixture("ec256.pkcs8.der");
    struct crypto_key *ca_key = load_fixture("ca.key.pem");
    struct crypto_key *rsa = load_fixture("rsa2048.pkcs1.pem");

    (void)state;
    assert_true(crypto_key_matches_cert(leaf_key, c->crts[0]));
    assert_false(crypto_key_matches_cert(leaf_key, c->crts[1]));
    assert_true(crypto_key_matches_cert(ca_key, c->crts[1]));
    assert_false(crypto_key_matches_cert(ca_key, c->crts[0]));
    assert_false(crypto_key_matches_cert(rsa, c->crts[0]));
    assert_false(crypto_key_matches_cert(NULL, c->crts[0]));
    crypto_key_free(leaf_key);
    crypto_key_free(ca_key);
    crypto_key_free(rsa);
    crypto_chain_free(c);
}

/* The SPKI walked out of the DER is crypto_cert_spki's for the usual
 * encodings (EC leaf, its CA, an RSA self-signed certificate); a truncated or
 * re-tagged certificate gives -1, never bytes outside the input. */
static void expect_der_spki(gnutls_x509_crt_t crt, const gnutls_datum_t *der)
{
    gnutls_datum_t want = {NULL, 0}, got = {NULL, 0};

    assert_int_equal(crypto_cert_spki(crt, &want, NULL), 0);
    assert_int_equal(crypto_cert_der_spki(der, &got), 0);
    assert_true(got.data > der->data && got.data + got.size <= der->data + der->size);
    assert_int_equal(got.size, want.size);
    assert_memory_equal(got.data, want.data, want.size);
    gnutls_free(want.data);
}

static void test_cert_der_spki(void **state)
{
    struct crypto_chain *c = chain_fixture("chain.pem");
    struct crypto_key *rsa = load_fixture("rsa2048.pkcs1.pem");
    const char *names[] = {"rsa.example"};
    struct crypto_chain *rc = NULL;
    gnutls_datum_t got, cut;
    unsigned char *copy;
    char *pem = NULL;
    size_t len = 0;

    (void)state;
    expect_der_spki(c->crts[0], &c->der[0]);
    expect_der_spki(c->crts[1], &c->der[1]);
    assert_int_equal(
        crypto_selfsigned_create(rsa, names, 1, 1700000000, 1800000000, NULL, &pem, &len, NULL), 0);
    assert_int_equal(crypto_chain_parse_pem(pem, len, &rc, NULL), 0);
    expect_der_spki(rc->crts[0], &rc->der[0]);
    for (unsigned int n = 0; n < c->der[0].size; n++) { /* every truncation */
        cut.data = c->der[0].data;
        cut.size = n;
        assert_int_equal(crypto_cert_der_spki(&cut, &got), -1);
    }
    copy = malloc(c->der[0].size);
    assert_non_null(copy);
    memcpy(copy, c->der[0].data, c->der[0].size);
    copy[0] = 0x31; /* a SET, not a SEQUENCE */
    cut.data = copy;
    cut.size = c->der[0].size;
    assert_int_equal(crypto_cert_der_spki(&cut, &got), -1);
    assert_int_equal(crypto_cert_der_spki(NULL, &got), -1);
    free(copy);
    free(pem);
    crypto_chain_free(rc);
    crypto_key_free(rsa);
    crypto_chain_free(c);
}

/* RFC 9773 §4.1: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
 * and serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". */
static void test_ari_rfc9773(void **state)
{
    static const unsigned char aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    static const unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
    struct crypto_key *k = load_fixture("ec256.sec1.pem");
    gnutls_x509_crt_t crt;
    struct ac_error e;
    char *id = NULL;

    (void)state;
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, 1735689600), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, 1767225600), 0);
    assert_int_equal(
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "ari.test", 8), 0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, crypto_key_x509(k)), 0);
    assert_int_equal(gnutls_x509_crt_set_authority_key_id(crt, aki, sizeof aki), 0);
    assert_int_equal(
        gnutls_x509_crt_privkey_sign(crt, crt, crypto_key_privkey(k), GNUTLS_DIG_SHA256, 0), 0);
    assert_int_equal(crypto_ari_cert_id(crt, &id, &e), 0);
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    free(id);

    /* the same certificate after a DER round trip */
    unsigned char *der = NULL;
    size_t len;
    gnutls_x509_crt_t again;
    gnutls_datum_t d;
    assert_int_equal(crypto_cert_der(crt, &der, &len, &e), 0);
    assert_int_equal(gnutls_x509_crt_init(&again), 0);
    d.data = der;
    d.size = (unsigned int)len;
    assert_int_equal(gnutls_x509_crt_import(again, &d, GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(crypto_ari_cert_id(again, &id, &e), 0);
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    free(id);
    gnutls_x509_crt_deinit(again);
    gnutls_free(der);

    /* no AKI: an error, not a half id */
    gnutls_x509_crt_t noaki;
    assert_int_equal(gnutls_x509_crt_init(&noaki), 0);
    assert_int_equal(gnutls_x509_crt_set_version(noaki, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(noaki, serial, sizeof serial), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(noaki, 1735689600), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(noaki, 1767225600), 0);
    assert_int_equal(gnutls_x509_crt_set_key(noaki, crypto_key_x509(k)), 0);
    assert_int_equal(
        gnutls_x509_crt_privkey_sign(noaki, noaki, crypto_key_privkey(k), GNUTLS_DIG_SHA256, 0), 0);
    id = NULL;
    assert_int_equal(crypto_ari_cert_id(noaki, &id, &e), -1);
    assert_null(id);
    assert_string_equal(e.kind, AC_ERR_CRYPTO);
    gnutls_x509_crt_deinit(noaki);
    gnutls_x509_crt_deinit(crt);
    crypto_key_free(k);
}

/* The certtool-made leaf: AKI as certtool printed it (leaf.aki), serial from
 * the template (00f1e2d3c4b5a69788 -> "APHi08S1ppeI"). */
static void test_ari_fixture(void **state)
{
    struct crypto_chain *c = chain_fixture("chain.pem");
    struct ac_error e;
    size_t len;
    char *hex = (char *)read_fixture("leaf.aki", &len), *id = NULL, want[128];
    unsigned char aki[64];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i + 1 < len && hex[i] != '\n'; i += 2) {
        unsigned int byte;
        assert_int_equal(sscanf(hex + i, "%2x", &byte), 1);
        assert_true(n < sizeof aki);
        aki[n++] = (unsigned char)byte;
    }
    assert_int_equal(n, 20);
    size_t w = b64url_encode(aki, n, want);
    snprintf(want + w, sizeof want - w, ".APHi08S1ppeI");
    assert_int_equal(crypto_ari_cert_id(c->crts[0], &id, &e), 0);
    assert_string_equal(id, want);
    free(id);
    free(hex);
    crypto_chain_free(c);
}

static void test_sha256(void **state)
{
    static const unsigned char abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                          0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                          0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                          0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char out[32];

    (void)state;
    crypto_sha256("abc", 3, out);
    assert_memory_equal(out, abc, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_type_names),
        cmocka_unit_test(test_key_load_fixtures),
        cmocka_unit_test(test_key_generate_roundtrip),
        cmocka_unit_test(test_pkcs8_ec_fixed_scalar),
        cmocka_unit_test(test_key_load_garbage),
        cmocka_unit_test(test_csr),
        cmocka_unit_test(test_chain_and_info),
        cmocka_unit_test(test_chain_errors),
        cmocka_unit_test(test_chain_lazy),
        cmocka_unit_test(test_key_matches_cert),
        cmocka_unit_test(test_cert_der_spki),
        cmocka_unit_test(test_ari_rfc9773),
        cmocka_unit_test(test_ari_fixture),
        cmocka_unit_test(test_sha256),
    };

    if (crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
