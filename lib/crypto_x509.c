/*
 * crypto_x509.c - certificates: PEM chain parsing, the facts autocert needs
 * about a leaf (struct crypto_cert_info), key/certificate matching and the ARI
 * certificate identifier (RFC 9773 §4.1). Everything here reads data a CA sent
 * or a file on disk, so every size is bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "crypto.h"
#include "crypto_priv.h"

#define CHAIN_MAX_CERTS 16
#define CHAIN_MAX_INPUT (1024 * 1024)
#define CERT_MAX_SANS 4096
#define CERT_MAX_FIELD 4096 /* longest CN / SAN value we accept */
#define CERT_MAX_SERIAL 39  /* bytes; serial_hex[80] holds 79 hex digits */

enum crypto_key_type crypto_pubkey_type(gnutls_pubkey_t pub)
{
    unsigned int bits = 0;
    int pk = gnutls_pubkey_get_pk_algorithm(pub, &bits);

    if (pk == GNUTLS_PK_RSA) {
        switch (bits) {
        case 2048:
            return CRYPTO_KEY_RSA2048;
        case 3072:
            return CRYPTO_KEY_RSA3072;
        case 4096:
            return CRYPTO_KEY_RSA4096;
        case 8192:
            return CRYPTO_KEY_RSA8192;
        default:
            return CRYPTO_KEY_NONE;
        }
    }
    if (pk == GNUTLS_PK_ECDSA) {
        gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
        gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
        enum crypto_key_type t = CRYPTO_KEY_NONE;

        if (gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, &y, 0) >= 0) {
            if (curve == GNUTLS_ECC_CURVE_SECP256R1)
                t = CRYPTO_KEY_EC256;
            else if (curve == GNUTLS_ECC_CURVE_SECP384R1)
                t = CRYPTO_KEY_EC384;
        }
        gnutls_free(x.data);
        gnutls_free(y.data);
        return t;
    }
    return CRYPTO_KEY_NONE;
}

void crypto_chain_free(struct crypto_chain *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++) {
        if (c->crts[i] != NULL)
            gnutls_x509_crt_deinit(c->crts[i]);
        if (c->der != NULL)
            gnutls_free(c->der[i].data);
    }
    free(c->crts);
    free(c->der);
    free(c);
}

gnutls_x509_crt_t crypto_chain_crt(struct crypto_chain *c, size_t i, struct ac_error *e)
{
    gnutls_x509_crt_t crt = NULL;
    int ret;

    if (c == NULL || i >= c->count) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_chain_crt: no certificate #%zu", i + 1);
        return NULL;
    }
    if (c->crts[i] != NULL)
        return c->crts[i];
    if ((ret = gnutls_x509_crt_init(&crt)) < 0 ||
        (ret = gnutls_x509_crt_import(crt, &c->der[i], GNUTLS_X509_FMT_DER)) < 0) {
        if (crt != NULL)
            gnutls_x509_crt_deinit(crt);
        ac_error_set(e, AC_ERR_CRYPTO,
                     "cannot parse PEM certificate chain: certificate #%zu of %zu: %s", i + 1,
                     c->count, gnutls_strerror(ret));
        return NULL;
    }
    c->crts[i] = crt;
    return crt;
}

/* The start of the next PEM certificate block at or after p, or NULL. */
static const char *next_cert_block(const char *p, const char *end)
{
    static const char m1[] = "-----BEGIN CERTIFICATE-----";
    static const char m2[] = "-----BEGIN X509 CERTIFICATE-----";
    const char *a = memmem(p, (size_t)(end - p), m1, sizeof m1 - 1);
    const char *b = memmem(p, (size_t)(end - p), m2, sizeof m2 - 1);

    if (a == NULL)
        return b;
    return b != NULL && b < a ? b : a;
}

int crypto_chain_parse_pem_lazy(const void *pem, size_t len, struct crypto_chain **out,
                                struct ac_error *e)
{
    static const char end_marker[] = "-----END ";
    const char *p = pem, *end = (const char *)pem + len, *blk;
    struct crypto_chain *c = NULL;
    int ret;

    if (out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_chain_parse_pem: no output");
        return -1;
    }
    if (pem == NULL || len == 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "certificate chain is empty");
        return -1;
    }
    if (len > CHAIN_MAX_INPUT) {
        ac_error_set(e, AC_ERR_CRYPTO, "certificate chain is too large (%zu bytes, max %d)", len,
                     CHAIN_MAX_INPUT);
        return -1;
    }
    if (next_cert_block(p, end) == NULL) {
        ac_error_set(e, AC_ERR_CRYPTO,
                     "no PEM certificate found (no \"-----BEGIN CERTIFICATE-----\" line)");
        return -1;
    }
    if (crypto_init() != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "crypto_chain_parse_pem: GnuTLS initialisation failed");
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->crts = calloc(CHAIN_MAX_CERTS, sizeof *c->crts)) == NULL ||
        (c->der = calloc(CHAIN_MAX_CERTS, sizeof *c->der)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "certificate chain: out of memory");
        goto fail;
    }
    while ((blk = next_cert_block(p, end)) != NULL) {
        const char *stop = memmem(blk, (size_t)(end - blk), end_marker, sizeof end_marker - 1);
        const char *eol;
        gnutls_datum_t b64;

        if (c->count == CHAIN_MAX_CERTS) {
            ac_error_set(e, AC_ERR_CRYPTO, "certificate chain has more than %d certificates",
                         CHAIN_MAX_CERTS);
            goto fail;
        }
        if (stop == NULL || (eol = memchr(stop + 1, '\n', (size_t)(end - stop - 1))) == NULL)
            eol = end;
        b64.data = (unsigned char *)blk;
        b64.size = (unsigned int)(eol - blk);
        if ((ret = gnutls_pem_base64_decode2(NULL, &b64, &c->der[c->count])) < 0) {
            ac_error_set(e, AC_ERR_CRYPTO,
                         "cannot parse PEM certificate chain: certificate #%zu: %s", c->count + 1,
                         gnutls_strerror(ret));
            goto fail;
        }
        c->count++;
        p = eol;
    }
    if (crypto_chain_crt(c, 0, e) == NULL)
        goto fail;
    *out = c;
    return 0;
fail:
    crypto_chain_free(c);
    return -1;
}

int crypto_chain_parse_pem(const void *pem, size_t len, struct crypto_chain **out,
                           struct ac_error *e)
{
    struct crypto_chain *c = NULL;

    if (crypto_chain_parse_pem_lazy(pem, len, &c, e) != 0)
        return -1;
    for (size_t i = 1; i < c->count; i++)
        if (crypto_chain_crt(c, i, e) == NULL) {
            crypto_chain_free(c);
            return -1;
        }
    *out = c;
    return 0;
}

/* Reads the first CN of the subject or issuer into a new string ("" when
 * there is none). */
static int get_cn(gnutls_x509_crt_t crt, bool issuer, char **out, struct ac_error *e)
{
    char small[256]; /* most CNs: one call (a CN is at most 64 characters) */
    size_t size = sizeof small - 1;
    char *buf = NULL;
    int ret;

    ret = issuer
              ? gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, small,
                                                     &size)
              : gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, small, &size);
    if (ret >= 0 && size > 0 && size < sizeof small && size <= CERT_MAX_FIELD) {
        small[size] = '\0';
        *out = strdup(small);
        goto check;
    }
    /* otherwise the two calls: the size it needs, then the CN */
    size = 0;
    if (ret != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        ret = issuer ? gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
                                                            NULL, &size)
                     : gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, NULL,
                                                     &size);
    if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
        *out = strdup("");
        goto check;
    }
    if (ret != GNUTLS_E_SHORT_MEMORY_BUFFER || size == 0 || size > CERT_MAX_FIELD) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot read %s CN: %s", issuer ? "issuer" : "subject",
                     ret < 0 ? gnutls_strerror(ret) : "bad size");
        return -1;
    }
    buf = malloc(size + 1);
    if (buf == NULL)
        goto check;
    ret = issuer
              ? gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf,
                                                     &size)
              : gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size);
    if (ret < 0) {
        free(buf);
        ac_error_set(e, AC_ERR_CRYPTO, "cannot read %s CN: %s", issuer ? "issuer" : "subject",
                     gnutls_strerror(ret));
        return -1;
    }
    buf[size] = '\0';
    *out = buf;
check:
    if (*out == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "certificate: out of memory");
        return -1;
    }
    return 0;
}

static int list_push(char ***list, size_t *count, const char *s, size_t n)
{
    char **grown = realloc(*list, (*count + 1) * sizeof **list);
    char *copy;

    if (grown == NULL)
        return -1;
    *list = grown;
    copy = strndup(s, n);
    if (copy == NULL)
        return -1;
    grown[(*count)++] = copy;
    return 0;
}

/* Collects DNS and RFC 822 SANs. */
static int get_sans(gnutls_x509_crt_t crt, struct crypto_cert_info *info, struct ac_error *e)
{
    char *buf = malloc(CERT_MAX_FIELD + 1);
    int rc = -1;

    if (buf == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "certificate: out of memory");
        return -1;
    }
    for (unsigned int i = 0; i < CERT_MAX_SANS; i++) {
        size_t size = CERT_MAX_FIELD;
        unsigned int critical = 0;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, &critical);

        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
            rc = 0;
            goto out;
        }
        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue; /* an oversized entry is not a name we could use */
        if (type < 0) {
            ac_error_set(e, AC_ERR_CRYPTO, "cannot read subject alternative names: %s",
                         gnutls_strerror(type));
            goto out;
        }
        if (type == GNUTLS_SAN_DNSNAME) {
            if (list_push(&info->dns_names, &info->dns_count, buf, size) != 0)
                goto nomem;
        } else if (type == GNUTLS_SAN_RFC822NAME) {
            if (list_push(&info->email_addresses, &info->email_count, buf, size) != 0)
                goto nomem;
        }
    }
    ac_error_set(e, AC_ERR_CRYPTO, "certificate has more than %d alternative names", CERT_MAX_SANS);
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "certificate: out of memory");
out:
    free(buf);
    return rc;
}

static int get_serial(gnutls_x509_crt_t crt, unsigned char *serial, size_t *size,
                      struct ac_error *e)
{
    int ret;

    *size = CERT_MAX_SERIAL;
    ret = gnutls_x509_crt_get_serial(crt, serial, size);
    if (ret < 0 || *size == 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot read certificate serial: %s",
                     ret < 0 ? gnutls_strerror(ret) : "empty");
        return -1;
    }
    return 0;
}

static enum crypto_key_type cert_key_type(gnutls_x509_crt_t crt)
{
    gnutls_pubkey_t pub = NULL;
    enum crypto_key_type t = CRYPTO_KEY_NONE;

    if (gnutls_pubkey_init(&pub) < 0)
        return t;
    if (gnutls_pubkey_import_x509(pub, crt, 0) >= 0)
        t = crypto_pubkey_type(pub);
    gnutls_pubkey_deinit(pub);
    return t;
}

int crypto_cert_info_get(gnutls_x509_crt_t crt, struct crypto_cert_info *out, struct ac_error *e)
{
    return crypto_cert_info_get_typed(crt, CRYPTO_KEY_NONE, out, e);
}

int crypto_cert_info_get_typed(gnutls_x509_crt_t crt, enum crypto_key_type key_type,
                               struct crypto_cert_info *out, struct ac_error *e)
{
    static const char hex[] = "0123456789abcdef";
    struct crypto_cert_info info;
    unsigned char serial[CERT_MAX_SERIAL];
    size_t serial_len = 0;
    time_t t;

    memset(&info, 0, sizeof info);
    if (crt == NULL || out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_cert_info_get: bad arguments");
        return -1;
    }
    if (get_cn(crt, false, &info.subject_cn, e) != 0 || get_cn(crt, true, &info.issuer_cn, e) != 0)
        goto fail;
    t = gnutls_x509_crt_get_activation_time(crt);
    if (t == (time_t)-1) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot read certificate notBefore");
        goto fail;
    }
    info.not_before = (int64_t)t;
    t = gnutls_x509_crt_get_expiration_time(crt);
    if (t == (time_t)-1) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot read certificate notAfter");
        goto fail;
    }
    info.not_after = (int64_t)t;
    if (get_sans(crt, &info, e) != 0 || get_serial(crt, serial, &serial_len, e) != 0)
        goto fail;
    for (size_t i = 0; i < serial_len; i++) {
        info.serial_hex[2 * i] = hex[serial[i] >> 4];
        info.serial_hex[2 * i + 1] = hex[serial[i] & 15];
    }
    info.serial_hex[2 * serial_len] = '\0';
    info.key_type = key_type != CRYPTO_KEY_NONE ? key_type : cert_key_type(crt);
    *out = info;
    return 0;
fail:
    crypto_cert_info_free(&info);
    return -1;
}

void crypto_cert_info_free(struct crypto_cert_info *info)
{
    if (info == NULL)
        return;
    free(info->subject_cn);
    free(info->issuer_cn);
    for (size_t i = 0; i < info->dns_count; i++)
        free(info->dns_names[i]);
    free(info->dns_names);
    for (size_t i = 0; i < info->email_count; i++)
        free(info->email_addresses[i]);
    free(info->email_addresses);
    memset(info, 0, sizeof *info);
}

int crypto_cert_spki(gnutls_x509_crt_t crt, gnutls_datum_t *spki, struct ac_error *e)
{
    gnutls_pubkey_t pk = NULL;
    int rc = -1;

    spki->data = NULL;
    spki->size = 0;
    if (crt == NULL || gnutls_pubkey_init(&pk) < 0 || gnutls_pubkey_import_x509(pk, crt, 0) < 0 ||
        gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, spki) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export a certificate's public key");
        goto out;
    }
    rc = 0;
out:
    if (pk != NULL)
        gnutls_pubkey_deinit(pk);
    return rc;
}

/* One DER element at p (n bytes there): its tag, and the size of its header
 * and of its contents. -1 when it does not fit in n, has a multi-byte tag
 * (none of the certificate's fields up to its key has one) or an
 * indefinite length (not DER). */
static int der_element(const unsigned char *p, size_t n, unsigned *tag, size_t *hdr, size_t *len)
{
    size_t h = 2, l;

    if (n < 2 || (p[0] & 0x1f) == 0x1f)
        return -1;
    *tag = p[0];
    l = p[1];
    if (l & 0x80) {
        size_t k = l & 0x7f;

        if (k == 0 || k > 4 || n < 2 + k)
            return -1;
        l = 0;
        for (size_t i = 0; i < k; i++)
            l = (l << 8) | p[2 + i];
        h += k;
    }
    if (l > n - h)
        return -1;
    *hdr = h;
    *len = l;
    return 0;
}

int crypto_cert_der_spki(const gnutls_datum_t *der, gnutls_datum_t *spki)
{
    /* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
     * OPTIONAL, serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE,
     * validity SEQUENCE, subject SEQUENCE, subjectPublicKeyInfo SEQUENCE,
     * ... } ... } (RFC 5280 4.1) */
    static const unsigned char skip[] = {0x02, 0x30, 0x30, 0x30, 0x30};
    const unsigned char *p;
    size_t n, hdr, len;
    unsigned tag;

    if (der == NULL || der->data == NULL)
        return -1;
    p = der->data;
    n = der->size;
    for (int level = 0; level < 2; level++) { /* into Certificate, then tbsCertificate */
        if (der_element(p, n, &tag, &hdr, &len) != 0 || tag != 0x30)
            return -1;
        p += hdr;
        n = len;
    }
    if (der_element(p, n, &tag, &hdr, &len) != 0)
        return -1;
    if (tag == 0xa0) { /* version */
        p += hdr + len;
        n -= hdr + len;
    }
    for (size_t i = 0; i < sizeof skip; i++) {
        if (der_element(p, n, &tag, &hdr, &len) != 0 || tag != skip[i])
            return -1;
        p += hdr + len;
        n -= hdr + len;
    }
    if (der_element(p, n, &tag, &hdr, &len) != 0 || tag != 0x30)
        return -1;
    spki->data = (unsigned char *)p;
    spki->size = (unsigned int)(hdr + len);
    return 0;
}

bool crypto_key_matches_spki(const struct crypto_key *k, const gnutls_datum_t *spki)
{
    gnutls_pubkey_t a = NULL;
    gnutls_datum_t da = {NULL, 0};
    bool match = false;

    if (k == NULL || spki == NULL || spki->data == NULL)
        return false;
    if (gnutls_pubkey_init(&a) < 0)
        return false;
    if (gnutls_pubkey_import_privkey(a, crypto_key_privkey(k), 0, 0) >= 0 &&
        gnutls_pubkey_export2(a, GNUTLS_X509_FMT_DER, &da) >= 0)
        match = da.size == spki->size && memcmp(da.data, spki->data, da.size) == 0;
    gnutls_free(da.data);
    gnutls_pubkey_deinit(a);
    return match;
}

bool crypto_key_matches_cert(const struct crypto_key *k, gnutls_x509_crt_t crt)
{
    gnutls_datum_t db = {NULL, 0};
    bool match;

    if (k == NULL || crt == NULL || crypto_cert_spki(crt, &db, NULL) != 0)
        return false;
    match = crypto_key_matches_spki(k, &db);
    gnutls_free(db.data);
    return match;
}

int crypto_ari_cert_id(gnutls_x509_crt_t crt, char **out, struct ac_error *e)
{
    unsigned char aki[128], serial[CERT_MAX_SERIAL];
    size_t aki_len = sizeof aki, serial_len = 0, alen, slen;
    unsigned int critical = 0;
    char *s;
    int ret;

    if (crt == NULL || out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_ari_cert_id: bad arguments");
        return -1;
    }
    ret = gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_len, &critical);
    if (ret < 0 || aki_len == 0) {
        ac_error_set(e, AC_ERR_CRYPTO,
                     "certificate has no authority key identifier (needed for ARI): %s",
                     ret < 0 ? gnutls_strerror(ret) : "empty");
        return -1;
    }
    if (get_serial(crt, serial, &serial_len, e) != 0)
        return -1;
    alen = b64url_encoded_len(aki_len);
    slen = b64url_encoded_len(serial_len);
    s = malloc(alen + 1 + slen + 1);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "crypto_ari_cert_id: out of memory");
        return -1;
    }
    b64url_encode(aki, aki_len, s);
    s[alen] = '.';
    b64url_encode(serial, serial_len, s + alen + 1);
    *out = s;
    return 0;
}

int crypto_cert_der(gnutls_x509_crt_t crt, unsigned char **der, size_t *len, struct ac_error *e)
{
    gnutls_datum_t d = {NULL, 0};
    int ret;

    if (crt == NULL || der == NULL || len == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_cert_der: bad arguments");
        return -1;
    }
    ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot export certificate: %s", gnutls_strerror(ret));
        return -1;
    }
    *der = d.data;
    *len = d.size;
    return 0;
}
