/*
 * crypto_selfsigned.c - self-signed certificates: the RFC 8737 tls-alpn-01
 * challenge certificate, and stand-in / development certificates for a set's
 * names (crypto.h: crypto_selfsigned_create).
 */
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

/* One SAN: an IPv4/IPv6 literal becomes an IP SAN, anything else a DNS SAN. */
static int add_san(gnutls_x509_crt_t crt, const char *name)
{
    unsigned char ip[16];

    if (inet_pton(AF_INET, name, ip) == 1)
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                    GNUTLS_FSAN_APPEND);
    if (inet_pton(AF_INET6, name, ip) == 1)
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                    GNUTLS_FSAN_APPEND);
    return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
                                                (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
}

int crypto_selfsigned_create(const struct crypto_key *k, const char *const *names, size_t count,
                             int64_t not_before, int64_t not_after, const unsigned char *acme_id,
                             char **pem, size_t *len, struct ac_error *e)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t out = {NULL, 0};
    unsigned char serial[16], ext[34];
    const char *step = "init";
    int ret;

    *pem = NULL;
    *len = 0;
    if (count == 0 || (acme_id != NULL && count != 1)) {
        ac_error_set(e, AC_ERR_INTERNAL, "crypto_selfsigned_create: %zu names", count);
        return -1;
    }
    if ((ret = gnutls_x509_crt_init(&crt)) < 0)
        goto fail;
    step = "serial";
    if ((ret = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0)
        goto fail;
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive, full length */
    if ((ret = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0)
        goto fail;
    step = "fields";
    if ((ret = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (ret = gnutls_x509_crt_set_activation_time(crt, (time_t)not_before)) < 0 ||
        (ret = gnutls_x509_crt_set_expiration_time(crt, (time_t)not_after)) < 0 ||
        (ret = gnutls_x509_crt_set_key(crt, crypto_key_x509(k))) < 0 ||
        (ret = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (ret = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                      GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0 ||
        (ret = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0)
        goto fail;
    if (strlen(names[0]) <= 64 &&
        (ret = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, names[0],
                                             (unsigned)strlen(names[0]))) < 0)
        goto fail;
    step = "subjectAltName";
    for (size_t i = 0; i < count; i++)
        if ((ret = add_san(crt, names[i])) < 0)
            goto fail;
    if (acme_id != NULL) {
        /* id-pe-acmeIdentifier: critical, OCTET STRING of the SHA-256 digest */
        step = "acmeIdentifier";
        ext[0] = 0x04;
        ext[1] = 0x20;
        memcpy(ext + 2, acme_id, 32);
        if ((ret = gnutls_x509_crt_set_extension_by_oid(crt, ACME_IDENTIFIER_OID, ext, sizeof ext,
                                                        1)) < 0)
            goto fail;
    }
    step = "sign";
    if ((ret = gnutls_x509_crt_privkey_sign(crt, crt, crypto_key_privkey(k), GNUTLS_DIG_SHA256,
                                            0)) < 0)
        goto fail;
    step = "export";
    if ((ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out)) < 0)
        goto fail;
    *pem = malloc(out.size + 1);
    if (*pem == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "crypto_selfsigned_create: out of memory");
        gnutls_free(out.data);
        gnutls_x509_crt_deinit(crt);
        return -1;
    }
    memcpy(*pem, out.data, out.size);
    (*pem)[out.size] = '\0';
    *len = out.size;
    gnutls_free(out.data);
    gnutls_x509_crt_deinit(crt);
    return 0;
fail:
    ac_error_set(e, AC_ERR_CRYPTO, "self-signed certificate (%s): %s", step, gnutls_strerror(ret));
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    return -1;
}
