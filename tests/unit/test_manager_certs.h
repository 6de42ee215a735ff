/*
 * test_manager_certs.h - throwaway certificates for the manager tests, made
 * with the GnuTLS x509 API (self-signed ECDSA P-256) and written as PEM files.
 */
#ifndef TEST_MANAGER_CERTS_H
#define TEST_MANAGER_CERTS_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int tmc_write(const char *path, const gnutls_datum_t *d)
{
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f == NULL)
        return -1;
    if (fwrite(d->data, 1, d->size, f) == d->size)
        rc = 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* Writes a self-signed certificate (CN cn, DNS SANs sans[0..n)) to cert_path
 * and its PKCS#8 PEM key to key_path. Returns 0 or -1. */
static int tmc_make(const char *cert_path, const char *key_path, const char *cn,
                    const char *const *sans, size_t n)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t out = {NULL, 0};
    static unsigned char serial_ctr = 1;
    unsigned char serial[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0};
    time_t now = time(NULL);
    int rc = -1;

    serial[7] = serial_ctr++;
    if (gnutls_x509_privkey_init(&key) < 0 ||
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
        goto out;
    if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + 30 * 86400) < 0 ||
        /* as CAs issue TLS server certificates: KeyUsage digitalSignature */
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0)
        goto out;
    if (cn != NULL && gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                    (unsigned)strlen(cn)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, sans[i],
                                                 (unsigned)strlen(sans[i]),
                                                 GNUTLS_FSAN_APPEND) < 0)
            goto out;
    if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
        goto out;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0 || tmc_write(cert_path, &out))
        goto out;
    gnutls_free(out.data);
    out.data = NULL;
    if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                          &out) < 0 ||
        tmc_write(key_path, &out))
        goto out;
    rc = 0;
out:
    gnutls_free(out.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* Reads a whole small file into a malloc'd buffer. */
static __attribute__((unused)) char *tmc_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long sz;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)sz + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)sz, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

#endif
