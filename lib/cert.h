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
 * (its certificates' DER as read; a chain certificate already interned is
 * not parsed: chain may be lazily parsed, crypto_chain_parse_pem_lazy);
 * takes ownership of key (also on
 * failure). The key must already be known to match the leaf. Returns 0 and the
 * handle, or -1 with e filled. */
int cert_new(const char *set_name, int set_id, struct crypto_chain *chain, struct crypto_key *key,
             autocert_cert **out, struct ac_error *e);
/* cert_new with the leaf's SubjectPublicKeyInfo DER already exported
 * (crypto_cert_spki, to check the key against it): *leaf_spki is taken (its
 * data gnutls_free'd or kept, and cleared), also on failure. NULL or empty:
 * exported here. */
int cert_new_spki(const char *set_name, int set_id, struct crypto_chain *chain,
                  struct crypto_key *key, gnutls_datum_t *leaf_spki, autocert_cert **out,
                  struct ac_error *e);

/* A handle whose key was loaded without its consistency check
 * (crypto_key_load_unchecked; the caller compared its public part with the
 * leaf's): marked so (before the handle is shared), checked later with
 * cert_key_check. cert_key_check: 0 when the key holds together or was
 * checked before (then it is never checked again), -1 with e when it does
 * not ("private key does not hold together: ..."). Thread-safe. */
void cert_set_key_unchecked(autocert_cert *c);
bool cert_key_unchecked(const autocert_cert *c);
int cert_key_check(autocert_cert *c, struct ac_error *e);

/* Index of the set (0 = main). */
int cert_set_id(const autocert_cert *c);
/* The leaf's facts (subject, issuer, dates, serial, key type, SANs), parsed
 * once when the handle was made: borrowed from c, valid while a reference is
 * held. */
const struct crypto_cert_info *cert_info(const autocert_cert *c);
/* The parsed private key; borrowed, valid while a reference is held. Parsed
 * from the PKCS#8 DER on the first call (a handle keeps only the DER until a
 * handshake signs with it) and kept; thread-safe. NULL when that first
 * parse runs out of memory or finds a key that does not hold together (a key
 * not checked yet, cert_key_unchecked, is checked by that parse). */
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
/* ---- OCSP staple (ocsp.h) -------------------------------------------------
 * A handle's staple and the fetcher's findings are the one mutable part of
 * a handle, behind a short striped lock: written by the OCSP fetcher,
 * copied by handshakes. A new handle has none. */
enum cert_ocsp_track {
    CERT_OCSP_IDLE = 0, /* no fetcher looks after it (engine not started) */
    CERT_OCSP_TRACKED,  /* the fetcher keeps it stapled */
    CERT_OCSP_OFF,      /* its set has ocsp_stapling: false */
};
struct cert_staple {
    unsigned char *der; /* the response as received, or NULL */
    size_t len;
    int64_t this_update, next_update;
    char *error; /* the last fetch's failure, NULL after a success */
    enum cert_ocsp_track track;
};
/* What status shows. state: "none" (no OCSP URL), "off", "pending" (not
 * fetched yet), "idle" (no fetcher), "good", "error" (no valid staple, the
 * last fetch failed), "expired" (the staple passed its nextUpdate). */
struct cert_staple_view {
    const char *state;                /* static */
    int64_t this_update, next_update; /* of the staple kept, 0 when none */
    char error[256];
};
/* The leaf's OCSP responder URL (borrowed), or NULL: then no request. */
const char *cert_ocsp_url(const autocert_cert *c);
/* The leaf's and its issuer's DER (borrowed). -1 when the chain holds only
 * the leaf (no issuer to ask about). */
int cert_ocsp_pair(const autocert_cert *c, gnutls_datum_t *leaf, gnutls_datum_t *issuer);
/* Replaces the staple (copies der) and clears the error. -1 on ENOMEM. */
int cert_staple_set(const autocert_cert *c, const unsigned char *der, size_t len,
                    int64_t this_update, int64_t next_update);
/* The fetcher lets go of c: TRACKED becomes IDLE (OFF stays OFF). */
void cert_staple_untrack(const autocert_cert *c);
/* Drops the staple (a response said the certificate is revoked). */
void cert_staple_drop(const autocert_cert *c);
/* Records the fetcher's view: who tracks it and the last failure (copied;
 * NULL clears it). The staple kept is left alone. */
void cert_staple_note(const autocert_cert *c, enum cert_ocsp_track track, const char *error);
/* Copies the staple into a new buffer from alloc when there is one whose
 * nextUpdate is after now (and stapling is not off); *next_update (may be
 * NULL) gets that nextUpdate. Returns 1 (copied), 0
 * (none: *der NULL) or -1 (alloc failed). Thread-safe, no I/O. */
int cert_staple_copy(const autocert_cert *c, int64_t now, void *(*alloc)(size_t),
                     unsigned char **der, size_t *len, int64_t *next_update);
void cert_staple_state(const autocert_cert *c, int64_t now, struct cert_staple_view *out);

/* True when a and b carry the same chain and key bytes. */
bool cert_same(const autocert_cert *a, const autocert_cert *b);

#endif
