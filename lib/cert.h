/*
 * cert.h - internal side of the refcounted certificate handle (autocert_cert).
 *
 * A handle is immutable after cert_new: the chain (DER, leaf first), the
 * private key (parsed, and as PKCS#8 DER), the leaf's facts and the names the
 * SNI index is built from. Only the reference count changes.
 */
#ifndef AUTOCERT_CERT_H
#define AUTOCERT_CERT_H

#include <gnutls/abstract.h>
#include <stdbool.h>
#include <stddef.h>

#include "autocert/autocert.h"
#include "crypto.h"
#include "error.h"

/* Builds a handle with one reference. set_name is copied; chain is borrowed
 * (its certificates are exported to DER, or their DER taken when the chain
 * kept it; a chain certificate already interned is not parsed: chain may be
 * lazily parsed, crypto_chain_parse_pem_lazy); takes ownership of key (also on
 * failure). The key must already be known to match the leaf. Returns 0 and the
 * handle, or -1 with e filled. */
int cert_new(const char *set_name, int set_id, struct crypto_chain *chain, struct crypto_key *key,
             autocert_cert **out, struct ac_error *e);

/* Index of the set (0 = main). */
int cert_set_id(const autocert_cert *c);
/* The leaf's facts (subject, issuer, dates, serial, key type, SANs), parsed
 * once when the handle was made: borrowed from c, valid while a reference is
 * held. */
const struct crypto_cert_info *cert_info(const autocert_cert *c);
/* The parsed private key; borrowed, valid while a reference is held. Parsed
 * from the PKCS#8 DER on the first call (a handle keeps only the DER until a
 * handshake signs with it) and kept; thread-safe. NULL only when that first
 * parse runs out of memory. */
gnutls_privkey_t cert_privkey(const autocert_cert *c);
/* Fills *out with a fresh pcert of chain certificate i: a gnutls_malloc'd copy
 * of its DER and a new public key imported from the kept SubjectPublicKeyInfo
 * (with the certificate's KeyUsage), so GnuTLS may own it and free it with
 * gnutls_pcert_deinit. No certificate parsing: ~2 us instead of ~24 us for
 * gnutls_pcert_import_x509_raw. Returns 0 or a negative GnuTLS error (*out
 * then holds nothing). */
int cert_pcert_copy(const autocert_cert *c, size_t i, gnutls_pcert_st *out);
/* The leaf's IP SANs (RFC 8738), each once: raw network-order bytes, *len 4
 * (IPv4; an IPv4-mapped IPv6 SAN is given as IPv4) or 16 (IPv6). Borrowed
 * from c; NULL when i >= cert_ip_count(c). */
size_t cert_ip_count(const autocert_cert *c);
const unsigned char *cert_ip(const autocert_cert *c, size_t i, size_t *len);
/* How many distinct chain certificates (beyond the leaves) are interned:
 * identical intermediates of many handles are held once. Thread-safe. */
size_t cert_interned_count(void);
/* True when a and b carry the same chain and key bytes. */
bool cert_same(const autocert_cert *a, const autocert_cert *b);

#endif
