/*
 * crypto.h - keys, CSRs and X.509 parsing on GnuTLS.
 *
 * Keys: EC P-256/P-384 and RSA 2048-8192. Read from PEM or DER in PKCS#8, PKCS#1
 * (RSA) or SEC1 (EC) form; written as PKCS#8 PEM (certificate keys) or as GoDoxy
 * writes account keys (SEC1 DER for EC, PKCS#1 DER for RSA).
 * Certificates: PEM chains, leaf first; the facts the rest of autocert needs
 * about a leaf (names, validity, serial, issuer, AKI) in one plain struct.
 *
 * All functions are thread-safe (no shared state after crypto_init()).
 */
#ifndef AUTOCERT_CRYPTO_H
#define AUTOCERT_CRYPTO_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum crypto_key_type {
    CRYPTO_KEY_NONE = 0, /* a key autocert does not generate (e.g. RSA 1024) */
    CRYPTO_KEY_EC256,
    CRYPTO_KEY_EC384,
    CRYPTO_KEY_RSA2048,
    CRYPTO_KEY_RSA3072,
    CRYPTO_KEY_RSA4096,
    CRYPTO_KEY_RSA8192,
};

/* Initialises GnuTLS once per process (idempotent, thread-safe). */
int crypto_init(void);

/* Parses a key type spelling, case-insensitive: EC256/P256, EC384/P384,
 * RSA2048/2048, RSA3072/3072, RSA4096/4096, RSA8192/8192. 0 or -1. */
int crypto_key_type_parse(const char *s, enum crypto_key_type *out);
/* Canonical name: "EC256", "EC384", "RSA2048" ...; "unknown" for NONE. */
const char *crypto_key_type_name(enum crypto_key_type t);

struct crypto_key; /* opaque private key */

/* Generates a new key. Returns 0 and a new key (free with crypto_key_free). */
int crypto_key_generate(enum crypto_key_type t, struct crypto_key **out, struct ac_error *e);
/* Loads a private key from PEM or DER bytes (PKCS#8 unencrypted, PKCS#1, SEC1).
 * Errors have kind AC_ERR_KEY_UNREADABLE. Returns a new key. */
int crypto_key_load(const void *data, size_t len, struct crypto_key **out, struct ac_error *e);
/* crypto_key_load without the check that the key holds together (that its
 * private part gives its public part: a scalar multiplication for an EC key,
 * most of the load's cost): for a batch that checks later (crypto_key_check)
 * and compares the public part with the certificate's now. */
int crypto_key_load_unchecked(const void *data, size_t len, struct crypto_key **out,
                              struct ac_error *e);
/* The check crypto_key_load_unchecked left out: 0, or -1 with e
 * (AC_ERR_KEY_UNREADABLE, "private key does not hold together: ..."). */
int crypto_key_check(const struct crypto_key *k, struct ac_error *e);
void crypto_key_free(struct crypto_key *k);

enum crypto_key_type crypto_key_get_type(const struct crypto_key *k);
/* GnuTLS handles, borrowed, valid while k lives. */
gnutls_privkey_t crypto_key_privkey(const struct crypto_key *k);
gnutls_x509_privkey_t crypto_key_x509(const struct crypto_key *k);

/* Exports. Each returns 0 and a new gnutls_malloc'd buffer in *out (free with
 * gnutls_free) of *len bytes; PEM output is NUL-terminated. */
int crypto_key_export_pkcs8_pem(const struct crypto_key *k, char **out, size_t *len,
                                struct ac_error *e);
int crypto_key_export_pkcs8_der(const struct crypto_key *k, unsigned char **out, size_t *len,
                                struct ac_error *e);
/* Account-key file form, as GoDoxy writes it: SEC1 DER (EC) or PKCS#1 DER (RSA). */
int crypto_key_export_account_der(const struct crypto_key *k, unsigned char **out, size_t *len,
                                  struct ac_error *e);

/* Builds a CSR signed by k for `names` (each a DNS name, a wildcard "*.x.y" or
 * an IPv4/IPv6 literal, which becomes an IP SAN). The CN is the first DNS name
 * when it is at most 64 bytes. Returns 0 and a new malloc'd DER buffer. */
int crypto_csr_create(const struct crypto_key *k, const char *const *names, size_t count,
                      unsigned char **der, size_t *der_len, struct ac_error *e);

/* SHA-256 of data into out. */
void crypto_sha256(const void *data, size_t len, unsigned char out[32]);

/* A parsed certificate chain, leaf first. */
struct crypto_chain {
    gnutls_x509_crt_t *crts; /* owned; NULL past the leaf until crypto_chain_crt
                                (crypto_chain_parse_pem_lazy) */
    gnutls_datum_t *der;     /* each certificate's DER, as read (gnutls_malloc'd) */
    size_t count;            /* >= 1 on success */
};

/* Parses one or more PEM certificates (at most 16), every one of them.
 * Errors: AC_ERR_CRYPTO with a message saying what is wrong. Returns a new
 * chain (crypto_chain_free). */
int crypto_chain_parse_pem(const void *pem, size_t len, struct crypto_chain **out,
                           struct ac_error *e);
/* The same with only the leaf parsed: the others are kept as DER and parsed
 * by crypto_chain_crt when asked for (a loader that already holds an
 * identical intermediate never parses it again). Same errors for the PEM
 * framing and the leaf. */
int crypto_chain_parse_pem_lazy(const void *pem, size_t len, struct crypto_chain **out,
                                struct ac_error *e);
/* Certificate i of c, parsed now if it was not; NULL with e when it cannot
 * be parsed ("certificate #<i+1> of the chain: ..."). */
gnutls_x509_crt_t crypto_chain_crt(struct crypto_chain *c, size_t i, struct ac_error *e);
void crypto_chain_free(struct crypto_chain *c);

/* Facts about one certificate. Strings are malloc'd, freed by
 * crypto_cert_info_free. Lists are NULL when empty. */
struct crypto_cert_info {
    char *subject_cn;   /* "" when the subject has no CN */
    char *issuer_cn;    /* "" when the issuer has no CN */
    int64_t not_before; /* Unix seconds */
    int64_t not_after;
    char **dns_names; /* DNS SANs, as written in the certificate */
    size_t dns_count;
    char **email_addresses; /* RFC 822 SANs */
    size_t email_count;
    char serial_hex[80]; /* lowercase hex, no separators, leading zero bytes kept */
    enum crypto_key_type key_type;
};

int crypto_cert_info_get(gnutls_x509_crt_t crt, struct crypto_cert_info *out, struct ac_error *e);
/* crypto_cert_info_get with the key type already known (the type of a
 * private key that matches crt: its public key is not imported again);
 * CRYPTO_KEY_NONE: read from crt. */
int crypto_cert_info_get_typed(gnutls_x509_crt_t crt, enum crypto_key_type key_type,
                               struct crypto_cert_info *out, struct ac_error *e);
void crypto_cert_info_free(struct crypto_cert_info *info);

/* True when k is the private key of crt's public key. */
bool crypto_key_matches_cert(const struct crypto_key *k, gnutls_x509_crt_t crt);
/* crt's public key as SubjectPublicKeyInfo DER into *spki (gnutls_free its
 * data). 0, or -1 with e filled. */
int crypto_cert_spki(gnutls_x509_crt_t crt, gnutls_datum_t *spki, struct ac_error *e);
/* True when k is the private key of the public key spki (SubjectPublicKeyInfo
 * DER, crypto_cert_spki): the match of crypto_key_matches_cert for a caller
 * that keeps the certificate's SPKI anyway. */
bool crypto_key_matches_spki(const struct crypto_key *k, const gnutls_datum_t *spki);
/* The SubjectPublicKeyInfo of a certificate's DER as it is encoded there,
 * found by walking the DER (no parse, no copy: *spki points into der). 0, or
 * -1 when der does not have the X.509 shape up to that field. The bytes are
 * the certificate's own: a CA that encodes a key unusually (an RSA key
 * without its NULL parameters) gives bytes other than crypto_cert_spki's. */
int crypto_cert_der_spki(const gnutls_datum_t *der, gnutls_datum_t *spki);

/* ARI certificate identifier (RFC 9773 §4.1): base64url(AKI keyIdentifier) "."
 * base64url(serial). Returns a new malloc'd string. */
int crypto_ari_cert_id(gnutls_x509_crt_t crt, char **out, struct ac_error *e);

/* A self-signed certificate for `names` (count >= 1; DNS names, wildcards or
 * IPv4/IPv6 literals, which become IP SANs) and the key k: a random positive
 * 16-byte serial, the validity given (Unix seconds), CN = names[0] when it is
 * at most 64 bytes, digitalSignature + serverAuth, not a CA. With acme_id (the
 * 32-byte SHA-256 of a key authorization) it is the RFC 8737 tls-alpn-01
 * challenge certificate: exactly one name, and the critical
 * id-pe-acmeIdentifier extension holding that digest. Returns 0 and a new
 * malloc'd, NUL-terminated PEM in *pem (*len bytes). */
int crypto_selfsigned_create(const struct crypto_key *k, const char *const *names, size_t count,
                             int64_t not_before, int64_t not_after, const unsigned char *acme_id,
                             char **pem, size_t *len, struct ac_error *e);

/* DER of one certificate, new gnutls_malloc'd buffer (gnutls_free). */
int crypto_cert_der(gnutls_x509_crt_t crt, unsigned char **der, size_t *len, struct ac_error *e);

#endif
