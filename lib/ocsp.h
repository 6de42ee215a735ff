/*
 * ocsp.h - OCSP stapling (RFC 6960, RFC 6066 status_request): the pure part
 * (request building and response checking, ocsp.c) and the background
 * fetcher that keeps one staple per served certificate (ocsp_fetch.c).
 *
 * The staple itself lives with the certificate handle (cert.h:
 * cert_staple_set / cert_staple_copy), so a new certificate (renewal,
 * reload) starts with none and a handshake reads it without the fetcher.
 */
#ifndef AUTOCERT_OCSP_H
#define AUTOCERT_OCSP_H

#include <gnutls/gnutls.h>
#include <stdint.h>

#include "error.h"

/* Error kinds of the OCSP fetcher (not in error.h's scheduler table: they
 * never touch a renewal). */
#define AC_ERR_OCSP_BAD_RESPONSE "ocsp.bad_response"
#define AC_ERR_OCSP_REVOKED "ocsp.revoked"
#define AC_ERR_OCSP_NO_ISSUER "ocsp.no_issuer"

/* A thisUpdate up to this far in the future is accepted (clock skew). */
#define OCSP_CLOCK_SKEW 300
/* The largest response body read from a responder (a real one is 1-4 KiB). */
#define OCSP_MAX_RESPONSE (64 * 1024)

/* The DER OCSP request for leaf (DER) issued by issuer (DER): one
 * CertID with SHA-1 hashes (what responders index by), no nonce (a staple
 * is shared by every client). Returns 0 with *out gnutls_malloc'd
 * (gnutls_free it), or -1 with e set. */
int ocsp_request_make(const gnutls_datum_t *leaf, const gnutls_datum_t *issuer, gnutls_datum_t *out,
                      struct ac_error *e);

/* Checks a DER OCSP response for leaf issued by issuer at time now: it
 * parses, its status is successful, it is signed by the issuer or by a
 * responder certificate the issuer delegated (id-kp-OCSPSigning), one of its
 * SingleResponses names leaf's CertID, that status is good, its thisUpdate
 * is not more than OCSP_CLOCK_SKEW in the future and its nextUpdate is
 * present and in the future. Returns 0 with *this_update and *next_update
 * (Unix seconds), or -1 with e set (kind AC_ERR_OCSP_REVOKED for a revoked
 * certificate, else AC_ERR_OCSP_BAD_RESPONSE) and a message saying which
 * check failed. Pure: no I/O. */
int ocsp_response_check(const gnutls_datum_t *resp, const gnutls_datum_t *leaf,
                        const gnutls_datum_t *issuer, int64_t now, int64_t *this_update,
                        int64_t *next_update, struct ac_error *e);

/* ---- the fetcher (ocsp_fetch.c) ---------------------------------------- */

struct ocsp_fetcher;
struct snapshot;

/* A new fetcher, not running (no thread). NULL on ENOMEM. */
struct ocsp_fetcher *ocsp_fetcher_new(void);
/* Stops it and frees it. NULL is fine. */
void ocsp_fetcher_free(struct ocsp_fetcher *f);
/* Starts the fetcher thread (idempotent). The caller then hands it the
 * current snapshot (ocsp_fetcher_sync). Returns 0 or -1 with e set. */
int ocsp_fetcher_start(struct ocsp_fetcher *f, struct ac_error *e);
/* Stops the thread: an HTTP request in flight is cancelled within about a
 * second; the staples already kept stay with their certificates. Blocks
 * (joins). The fetcher can be started again. */
void ocsp_fetcher_stop(struct ocsp_fetcher *f);
/* Makes the served certificates those of snapshot s whose set has stapling
 * on and whose leaf names an OCSP responder: new ones are fetched at once,
 * kept ones keep their schedule, gone ones are dropped. No-op when the
 * fetcher is not running. O(number of sets), no I/O; callers serialise
 * (the manager's write_lock). */
void ocsp_fetcher_sync(struct ocsp_fetcher *f, const struct snapshot *s);

#endif
