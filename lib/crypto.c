/*
 * crypto.c - private keys (generate, load, export), CSRs and SHA-256 on GnuTLS.
 *
 * A struct crypto_key holds the key twice: as a gnutls_x509_privkey_t (import
 * and export in PKCS#8, PKCS#1, SEC1) and as a gnutls_privkey_t (signing),
 * the latter referencing the former. Certificates live in crypto_x509.c.
 */
#include "crypto.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto_priv.h"

/* The largest key file we read: an RSA 8192 PEM is about 6.5 KiB. */
#define CRYPTO_KEY_MAX_INPUT (256 * 1024)
/* Limits on CSR names (RFC 1035 name length; ACME CAs allow 100 names). */
#define CRYPTO_NAME_MAX 253
#define CRYPTO_CSR_MAX_NAMES 1000
#define CRYPTO_CN_MAX 64

struct crypto_key {
    gnutls_x509_privkey_t x509; /* owned */
    gnutls_privkey_t priv;      /* owned; references x509 */
    enum crypto_key_type type;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_global_init(void)
{
    init_result = gnutls_global_init();
}

int crypto_init(void)
{
    if (pthread_once(&init_once, do_global_init) != 0)
        return -1;
    return init_result < 0 ? -1 : 0;
}

static const struct {
    const char *spell;
    enum crypto_key_type type;
} key_type_spellings[] = {
    {"EC256", CRYPTO_KEY_EC256},     {"P256", CRYPTO_KEY_EC256},
    {"EC384", CRYPTO_KEY_EC384},     {"P384", CRYPTO_KEY_EC384},
    {"RSA2048", CRYPTO_KEY_RSA2048}, {"2048", CRYPTO_KEY_RSA2048},
    {"RSA3072", CRYPTO_KEY_RSA3072}, {"3072", CRYPTO_KEY_RSA3072},
    {"RSA4096", CRYPTO_KEY_RSA4096}, {"4096", CRYPTO_KEY_RSA4096},
    {"RSA8192", CRYPTO_KEY_RSA8192}, {"8192", CRYPTO_KEY_RSA8192},
};

int crypto_key_type_parse(const char *s, enum crypto_key_type *out)
{
    if (s == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < sizeof key_type_spellings / sizeof key_type_spellings[0]; i++) {
        if (strcasecmp(s, key_type_spellings[i].spell) == 0) {
            *out = key_type_spellings[i].type;
            return 0;
        }
    }
    return -1;
}

const char *crypto_key_type_name(enum crypto_key_type t)
{
    switch (t) {
    case CRYPTO_KEY_EC256:
        return "EC256";
    case CRYPTO_KEY_EC384:
        return "EC384";
    case CRYPTO_KEY_RSA2048:
        return "RSA2048";
    case CRYPTO_KEY_RSA3072:
        return "RSA3072";
    case CRYPTO_KEY_RSA4096:
        return "RSA4096";
    case CRYPTO_KEY_RSA8192:
        return "RSA8192";
    case CRYPTO_KEY_NONE:
        break;
    }
    return "unknown";
}

unsigned char *crypto_datum_dup(const gnutls_datum_t *d, size_t *len)
{
    unsigned char *p = malloc((size_t)d->size + 1);

    if (p == NULL)
        return NULL;
    if (d->size > 0)
        memcpy(p, d->data, d->size);
    p[d->size] = '\0';
    if (len != NULL)
        *len = d->size;
    return p;
}

void crypto_key_free(struct crypto_key *k)
{
    if (k == NULL)
        return;
    if (k->priv != NULL)
        gnutls_privkey_deinit(k->priv);
    if (k->x509 != NULL)
        gnutls_x509_privkey_deinit(k->x509);
    free(k);
}

/* Wraps an x509 key (takes ownership, also on failure) into a crypto_key. */
static int key_wrap(gnutls_x509_privkey_t x509, struct crypto_key **out, struct ac_error *e)
{
    struct crypto_key *k = NULL;
    gnutls_pubkey_t pub = NULL;
    int rc = -1, ret;

    k = calloc(1, sizeof *k);
    if (k == NULL) {
        gnutls_x509_privkey_deinit(x509);
        ac_error_set(e, AC_ERR_NOMEM, "crypto: out of memory");
        goto out;
    }
    k->x509 = x509;
    if ((ret = gnutls_privkey_init(&k->priv)) < 0 ||
        (ret = gnutls_privkey_import_x509(k->priv, k->x509, 0)) < 0 ||
        (ret = gnutls_pubkey_init(&pub)) < 0 ||
        (ret = gnutls_pubkey_import_privkey(pub, k->priv, 0, 0)) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "crypto: cannot use key: %s", gnutls_strerror(ret));
        goto out;
    }
    k->type = crypto_pubkey_type(pub);
    *out = k;
    k = NULL;
    rc = 0;
out:
    if (pub != NULL)
        gnutls_pubkey_deinit(pub);
    crypto_key_free(k);
    return rc;
}

int crypto_key_generate(enum crypto_key_type t, struct crypto_key **out, struct ac_error *e)
{
    gnutls_x509_privkey_t x = NULL;
    gnutls_pk_algorithm_t pk = GNUTLS_PK_RSA;
    unsigned int bits = 0;
    int ret;

    if (out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_key_generate: no output");
        return -1;
    }
    switch (t) {
    case CRYPTO_KEY_EC256:
        pk = GNUTLS_PK_ECDSA;
        bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1);
        break;
    case CRYPTO_KEY_EC384:
        pk = GNUTLS_PK_ECDSA;
        bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
        break;
    case CRYPTO_KEY_RSA2048:
        bits = 2048;
        break;
    case CRYPTO_KEY_RSA3072:
        bits = 3072;
        break;
    case CRYPTO_KEY_RSA4096:
        bits = 4096;
        break;
    case CRYPTO_KEY_RSA8192:
        bits = 8192;
        break;
    case CRYPTO_KEY_NONE:
    default:
        ac_error_set(e, AC_ERR_CONFIG, "crypto_key_generate: unsupported key type %d", (int)t);
        return -1;
    }
    if (crypto_init() != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "crypto_key_generate: GnuTLS initialisation failed");
        return -1;
    }
    if ((ret = gnutls_x509_privkey_init(&x)) < 0 ||
        (ret = gnutls_x509_privkey_generate(x, pk, bits, 0)) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "crypto_key_generate: %s key: %s", crypto_key_type_name(t),
                     gnutls_strerror(ret));
        if (x != NULL)
            gnutls_x509_privkey_deinit(x);
        return -1;
    }
    return key_wrap(x, out, e);
}

/* One import attempt on a fresh key object. Returns the key or NULL. */
static gnutls_x509_privkey_t try_import(const gnutls_datum_t *d, gnutls_x509_crt_fmt_t fmt,
                                        bool pkcs8, bool check, int *err)
{
    gnutls_x509_privkey_t x = NULL;
    int ret;

    if ((ret = gnutls_x509_privkey_init(&x)) < 0) {
        *err = ret;
        return NULL;
    }
    if (pkcs8)
        ret = gnutls_x509_privkey_import_pkcs8(x, d, fmt, NULL, GNUTLS_PKCS_PLAIN);
    else
        ret = gnutls_x509_privkey_import(x, d, fmt);
    if (ret >= 0 && check)
        ret = gnutls_x509_privkey_verify_params(x);
    if (ret < 0) {
        *err = ret;
        gnutls_x509_privkey_deinit(x);
        return NULL;
    }
    return x;
}

static bool looks_pem(const unsigned char *p, size_t len)
{
    static const char marker[] = "-----BEGIN ";

    return memmem(p, len, marker, sizeof marker - 1) != NULL;
}

static int key_load(const void *data, size_t len, bool check, struct crypto_key **out,
                    struct ac_error *e);

int crypto_key_load(const void *data, size_t len, struct crypto_key **out, struct ac_error *e)
{
    return key_load(data, len, true, out, e);
}

int crypto_key_load_unchecked(const void *data, size_t len, struct crypto_key **out,
                              struct ac_error *e)
{
    return key_load(data, len, false, out, e);
}

int crypto_key_check(const struct crypto_key *k, struct ac_error *e)
{
    int ret = k != NULL ? gnutls_x509_privkey_verify_params(k->x509) : GNUTLS_E_INVALID_REQUEST;

    if (ret < 0) {
        ac_error_set(e, AC_ERR_KEY_UNREADABLE,
                     "private key does not hold together: its private part does not give its "
                     "public part (%s)",
                     gnutls_strerror(ret));
        return -1;
    }
    return 0;
}

static int key_load(const void *data, size_t len, bool check, struct crypto_key **out,
                    struct ac_error *e)
{
    gnutls_x509_privkey_t x = NULL;
    gnutls_x509_crt_fmt_t fmt;
    gnutls_datum_t d;
    int err = 0;

    if (out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_key_load: no output");
        return -1;
    }
    if (data == NULL || len == 0) {
        ac_error_set(e, AC_ERR_KEY_UNREADABLE, "private key is empty");
        return -1;
    }
    if (len > CRYPTO_KEY_MAX_INPUT) {
        ac_error_set(e, AC_ERR_KEY_UNREADABLE, "private key is too large (%zu bytes, max %d)", len,
                     CRYPTO_KEY_MAX_INPUT);
        return -1;
    }
    if (crypto_init() != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "crypto_key_load: GnuTLS initialisation failed");
        return -1;
    }
    d.data = (unsigned char *)data;
    d.size = (unsigned int)len;
    fmt = looks_pem(data, len) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER;
    /* PKCS#8 first (what autocert writes), then PKCS#1 / SEC1 (GoDoxy). */
    x = try_import(&d, fmt, true, check, &err);
    if (x == NULL)
        x = try_import(&d, fmt, false, check, &err);
    if (x == NULL) {
        ac_error_set(e, AC_ERR_KEY_UNREADABLE,
                     "cannot read private key (%s, %zu bytes): tried unencrypted PKCS#8, "
                     "PKCS#1 (RSA) and SEC1 (EC): %s",
                     fmt == GNUTLS_X509_FMT_PEM ? "PEM" : "DER", len, gnutls_strerror(err));
        return -1;
    }
    if (key_wrap(x, out, e) != 0) {
        if (e != NULL)
            memcpy(e->kind, AC_ERR_KEY_UNREADABLE, sizeof AC_ERR_KEY_UNREADABLE);
        return -1;
    }
    return 0;
}

enum crypto_key_type crypto_key_get_type(const struct crypto_key *k)
{
    return k != NULL ? k->type : CRYPTO_KEY_NONE;
}

gnutls_privkey_t crypto_key_privkey(const struct crypto_key *k)
{
    return k != NULL ? k->priv : NULL;
}

gnutls_x509_privkey_t crypto_key_x509(const struct crypto_key *k)
{
    return k != NULL ? k->x509 : NULL;
}

/* Moves a gnutls datum into *out / *len; with `nul`, guarantees a NUL after
 * the data (gnutls_malloc'd either way). */
static int datum_out(gnutls_datum_t *d, bool nul, unsigned char **out, size_t *len,
                     struct ac_error *e)
{
    if (nul) {
        unsigned char *p = gnutls_malloc((size_t)d->size + 1);
        if (p == NULL) {
            gnutls_free(d->data);
            d->data = NULL;
            ac_error_set(e, AC_ERR_NOMEM, "crypto: out of memory");
            return -1;
        }
        memcpy(p, d->data, d->size);
        p[d->size] = '\0';
        gnutls_memset(d->data, 0, d->size);
        gnutls_free(d->data);
        d->data = p;
    }
    *out = d->data;
    *len = d->size;
    d->data = NULL;
    return 0;
}

/* Appends a DER tag and length (short or one/two-byte long form). */
static size_t der_header(unsigned char *p, unsigned char tag, size_t len)
{
    size_t n = 0;

    p[n++] = tag;
    if (len < 0x80) {
        p[n++] = (unsigned char)len;
    } else if (len < 0x100) {
        p[n++] = 0x81;
        p[n++] = (unsigned char)len;
    } else {
        p[n++] = 0x82;
        p[n++] = (unsigned char)(len >> 8);
        p[n++] = (unsigned char)len;
    }
    return n;
}

/* Bytes der_header writes for a content of `len` bytes. */
static size_t der_header_len(size_t len)
{
    return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

/* Copies a big-endian integer right-aligned into `width` bytes. */
static int put_padded(unsigned char *dst, size_t width, const gnutls_datum_t *d)
{
    const unsigned char *p = d->data;
    size_t n = d->size;

    while (n > width && *p == 0) {
        p++;
        n--;
    }
    if (n > width)
        return -1;
    memset(dst, 0, width - n);
    memcpy(dst + (width - n), p, n);
    return 0;
}

/*
 * SEC1 ECPrivateKey (RFC 5915) exactly as Go's x509.MarshalECPrivateKey writes
 * it: version 1, the private scalar padded to the field size, the named curve
 * and the uncompressed public point. GnuTLS's own export keeps whatever form
 * the key was read in (possibly without parameters, which Go cannot read) and
 * adds a sign byte to the scalar, so it is built here.
 *
 *   SEQUENCE { INTEGER 1, OCTET STRING k, [0] { OID curve },
 *              [1] { BIT STRING 00 04 || x || y } }
 */
static int export_sec1(const struct crypto_key *k, unsigned char **out, size_t *len,
                       struct ac_error *e)
{
    static const unsigned char oid256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char oid384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    gnutls_datum_t x = {NULL, 0}, y = {NULL, 0}, priv = {NULL, 0};
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    const unsigned char *oid;
    size_t fs, oid_len, bits_len, inner = 0, n = 0;
    unsigned char *der = NULL;
    int rc = -1, ret;

    ret = gnutls_privkey_export_ecc_raw2(k->priv, &curve, &x, &y, &priv, GNUTLS_EXPORT_FLAG_NO_LZ);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export EC key: %s", gnutls_strerror(ret));
        goto out;
    }
    if (curve == GNUTLS_ECC_CURVE_SECP256R1) {
        fs = 32, oid = oid256, oid_len = sizeof oid256;
    } else if (curve == GNUTLS_ECC_CURVE_SECP384R1) {
        fs = 48, oid = oid384, oid_len = sizeof oid384;
    } else {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export EC key: unsupported curve");
        goto out;
    }
    bits_len = 2 + 2 * fs; /* 00 04 x y */
    inner = 3 + (2 + fs) + (2 + oid_len) + (2 + 2 + bits_len);
    der = gnutls_malloc(inner + 3);
    if (der == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "cannot export EC key: out of memory");
        goto out;
    }
    n += der_header(der + n, 0x30, inner);
    n += der_header(der + n, 0x02, 1);
    der[n++] = 1;
    n += der_header(der + n, 0x04, fs);
    if (put_padded(der + n, fs, &priv) != 0)
        goto bad;
    n += fs;
    n += der_header(der + n, 0xa0, oid_len);
    memcpy(der + n, oid, oid_len);
    n += oid_len;
    n += der_header(der + n, 0xa1, 2 + bits_len);
    n += der_header(der + n, 0x03, bits_len);
    der[n++] = 0x00;
    der[n++] = 0x04;
    if (put_padded(der + n, fs, &x) != 0 || put_padded(der + n + fs, fs, &y) != 0)
        goto bad;
    n += 2 * fs;
    *out = der;
    *len = n;
    der = NULL;
    rc = 0;
    goto out;
bad:
    ac_error_set(e, AC_ERR_CRYPTO, "cannot export EC key: value too long");
out:
    if (der != NULL) {
        gnutls_memset(der, 0, inner + 3);
        gnutls_free(der);
    }
    if (priv.data != NULL) {
        gnutls_memset(priv.data, 0, priv.size);
        gnutls_free(priv.data);
    }
    gnutls_free(x.data);
    gnutls_free(y.data);
    return rc;
}

int crypto_key_export_account_der(const struct crypto_key *k, unsigned char **out, size_t *len,
                                  struct ac_error *e)
{
    gnutls_datum_t d = {NULL, 0};
    int pk, ret;

    if (k == NULL || out == NULL || len == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_key_export_account_der: bad arguments");
        return -1;
    }
    pk = gnutls_x509_privkey_get_pk_algorithm(k->x509);
    if (pk != GNUTLS_PK_RSA && pk != GNUTLS_PK_ECDSA) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export a %s key as an account key",
                     gnutls_pk_get_name((gnutls_pk_algorithm_t)pk));
        return -1;
    }
    if (pk == GNUTLS_PK_ECDSA)
        return export_sec1(k, out, len, e);
    /* The legacy export writes PKCS#1 RSAPrivateKey for RSA. */
    ret = gnutls_x509_privkey_export2(k->x509, GNUTLS_X509_FMT_DER, &d);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export account key: %s", gnutls_strerror(ret));
        return -1;
    }
    return datum_out(&d, false, out, len, e);
}

/*
 * PKCS#8 PrivateKeyInfo (RFC 5208, RFC 5915 §2) around the SEC1 ECPrivateKey
 * above, so the private scalar is exactly the field size (32 bytes for P-256,
 * 48 for P-384). GnuTLS's own PKCS#8 export writes it as a signed integer (a
 * 33-byte scalar with a leading zero for about half of the keys), which strict
 * parsers such as python-cryptography refuse.
 *
 *   SEQUENCE { INTEGER 0, SEQUENCE { OID id-ecPublicKey, OID curve },
 *              OCTET STRING { ECPrivateKey } }
 */
static int export_ec_pkcs8_der(const struct crypto_key *k, unsigned char **out, size_t *len,
                               struct ac_error *e)
{
    static const unsigned char ec_pub[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
    static const unsigned char oid256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char oid384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    unsigned char *sec1 = NULL, *der = NULL;
    size_t sec1_len = 0, alg_len, inner, cap = 0, n = 0;
    const unsigned char *oid;
    size_t oid_len;
    int rc = -1;

    if (gnutls_privkey_export_ecc_raw2(k->priv, &curve, NULL, NULL, NULL, 0) < 0 ||
        (curve != GNUTLS_ECC_CURVE_SECP256R1 && curve != GNUTLS_ECC_CURVE_SECP384R1)) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export EC key: unsupported curve");
        goto out;
    }
    oid = curve == GNUTLS_ECC_CURVE_SECP256R1 ? oid256 : oid384;
    oid_len = curve == GNUTLS_ECC_CURVE_SECP256R1 ? sizeof oid256 : sizeof oid384;
    if (export_sec1(k, &sec1, &sec1_len, e) != 0)
        goto out;
    alg_len = sizeof ec_pub + oid_len;
    inner = 3 + (2 + alg_len) + (der_header_len(sec1_len) + sec1_len);
    cap = der_header_len(inner) + inner;
    der = gnutls_malloc(cap);
    if (der == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "cannot export EC key: out of memory");
        goto out;
    }
    n += der_header(der + n, 0x30, inner);
    n += der_header(der + n, 0x02, 1);
    der[n++] = 0;
    n += der_header(der + n, 0x30, alg_len);
    memcpy(der + n, ec_pub, sizeof ec_pub);
    n += sizeof ec_pub;
    memcpy(der + n, oid, oid_len);
    n += oid_len;
    n += der_header(der + n, 0x04, sec1_len);
    memcpy(der + n, sec1, sec1_len);
    n += sec1_len;
    *out = der;
    *len = n;
    der = NULL;
    rc = 0;
out:
    if (der != NULL) {
        gnutls_memset(der, 0, cap);
        gnutls_free(der);
    }
    if (sec1 != NULL) {
        gnutls_memset(sec1, 0, sec1_len);
        gnutls_free(sec1);
    }
    return rc;
}

int crypto_key_export_pkcs8_der(const struct crypto_key *k, unsigned char **out, size_t *len,
                                struct ac_error *e)
{
    gnutls_datum_t d = {NULL, 0};
    int ret;

    if (k == NULL || out == NULL || len == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_key_export_pkcs8_der: bad arguments");
        return -1;
    }
    if (gnutls_x509_privkey_get_pk_algorithm(k->x509) == GNUTLS_PK_ECDSA)
        return export_ec_pkcs8_der(k, out, len, e);
    ret = gnutls_x509_privkey_export2_pkcs8(k->x509, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN,
                                            &d);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export key as PKCS#8 DER: %s", gnutls_strerror(ret));
        return -1;
    }
    return datum_out(&d, false, out, len, e);
}

int crypto_key_export_pkcs8_pem(const struct crypto_key *k, char **out, size_t *len,
                                struct ac_error *e)
{
    gnutls_datum_t der = {NULL, 0}, pem = {NULL, 0};
    unsigned char *p = NULL;
    size_t n = 0;
    int ret, rc = -1;

    if (k == NULL || out == NULL || len == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_key_export_pkcs8_pem: bad arguments");
        return -1;
    }
    if (crypto_key_export_pkcs8_der(k, &p, &n, e) != 0)
        goto out;
    der.data = p;
    der.size = (unsigned int)n;
    ret = gnutls_pem_base64_encode2("PRIVATE KEY", &der, &pem);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export key as PKCS#8 PEM: %s", gnutls_strerror(ret));
        goto out;
    }
    rc = datum_out(&pem, true, (unsigned char **)out, len, e);
out:
    if (p != NULL) {
        gnutls_memset(p, 0, n);
        gnutls_free(p);
    }
    return rc;
}

/* Adds one CSR name: an IP SAN for an address literal, else a DNS SAN. Sets
 * *is_dns. */
static int csr_add_name(gnutls_x509_crq_t crq, const char *name, bool *is_dns, struct ac_error *e)
{
    unsigned char ip[16];
    size_t n = name != NULL ? strnlen(name, CRYPTO_NAME_MAX + 1) : 0;
    int ret;

    *is_dns = false;
    if (n == 0 || n > CRYPTO_NAME_MAX) {
        ac_error_set(e, AC_ERR_CONFIG, "CSR: name %s", n == 0 ? "is empty" : "is too long");
        return -1;
    }
    if (inet_pton(AF_INET, name, ip) == 1)
        ret = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                   GNUTLS_FSAN_APPEND);
    else if (inet_pton(AF_INET6, name, ip) == 1)
        ret = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                   GNUTLS_FSAN_APPEND);
    else {
        *is_dns = true;
        ret = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, name, (unsigned int)n,
                                                   GNUTLS_FSAN_APPEND);
    }
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "CSR: cannot add name \"%s\": %s", name,
                     gnutls_strerror(ret));
        return -1;
    }
    return 0;
}

int crypto_csr_create(const struct crypto_key *k, const char *const *names, size_t count,
                      unsigned char **der, size_t *der_len, struct ac_error *e)
{
    gnutls_x509_crq_t crq = NULL;
    gnutls_datum_t d = {NULL, 0};
    gnutls_digest_algorithm_t dig;
    const char *cn = NULL;
    int rc = -1, ret;

    if (k == NULL || der == NULL || der_len == NULL || (names == NULL && count > 0)) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_csr_create: bad arguments");
        goto out;
    }
    if (count == 0 || count > CRYPTO_CSR_MAX_NAMES) {
        ac_error_set(e, AC_ERR_CONFIG, "CSR: %zu names (need 1 to %d)", count,
                     CRYPTO_CSR_MAX_NAMES);
        goto out;
    }
    if ((ret = gnutls_x509_crq_init(&crq)) < 0 || (ret = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
        (ret = gnutls_x509_crq_set_key(crq, k->x509)) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "CSR: %s", gnutls_strerror(ret));
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        bool is_dns;
        if (csr_add_name(crq, names[i], &is_dns, e) != 0)
            goto out;
        if (is_dns && cn == NULL)
            cn = names[i];
    }
    if (cn != NULL && strlen(cn) <= CRYPTO_CN_MAX) {
        ret = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                            (unsigned int)strlen(cn));
        if (ret < 0) {
            ac_error_set(e, AC_ERR_CRYPTO, "CSR: cannot set CN: %s", gnutls_strerror(ret));
            goto out;
        }
    }
    dig = k->type == CRYPTO_KEY_EC384 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA256;
    if ((ret = gnutls_x509_crq_privkey_sign(crq, k->priv, dig, 0)) < 0 ||
        (ret = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &d)) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "CSR: cannot sign: %s", gnutls_strerror(ret));
        goto out;
    }
    *der = crypto_datum_dup(&d, der_len);
    if (*der == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "CSR: out of memory");
        goto out;
    }
    rc = 0;
out:
    gnutls_free(d.data);
    if (crq != NULL)
        gnutls_x509_crq_deinit(crq);
    return rc;
}

void crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0)
        memset(out, 0, 32);
}
