/*
 * challenge.h - the http-01 and tls-alpn-01 challenges a manager is answering
 * right now (RFC 8555 §8.3, RFC 8737), shared by the issuer (which adds an
 * entry before telling the CA to validate and removes it afterwards) and the
 * places that answer the CA's validation requests: an HTTP responder
 * (`GET /.well-known/acme-challenge/<token>`) and the TLS adapters (a
 * ClientHello that offers `acme-tls/1` for a name with a pending challenge).
 *
 * Lookups are cheap when nothing is pending (an atomic count, no lock), so the
 * handshake path may ask on every ClientHello that offers acme-tls/1. The
 * tls-alpn-01 certificate is built when the entry is added (never in a
 * handshake) with a fresh EC P-256 key.
 *
 * Identifiers: a DNS name (compared case-insensitively, one trailing dot
 * ignored) or an IPv4/IPv6 address (compared as an address). For IP
 * identifiers the CA sends the reverse name as SNI (RFC 8738 §6:
 * "1.0.0.127.in-addr.arpa", the ip6.arpa nibble form); challenge_alpn_cert maps
 * it back.
 *
 * Thread-safe: every function may be called from any thread.
 */
#ifndef AUTOCERT_CHALLENGE_H
#define AUTOCERT_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "autocert/autocert.h"
#include "error.h"

/* Longest token and key authorization accepted (RFC 8555 tokens are 43
 * base64url characters; the key authorization adds '.' and a 43-character
 * thumbprint). */
#define CHALLENGE_TOKEN_MIN 22
#define CHALLENGE_TOKEN_MAX 128
#define CHALLENGE_KEYAUTH_MAX 256

struct challenge_table;

/* Returns 0 and a new, empty table (challenge_table_free), or -1 (ENOMEM). */
int challenge_table_new(struct challenge_table **out);
/* Frees t and every entry (NULL is fine). Certificate handles handed out stay
 * valid until released. */
void challenge_table_free(struct challenge_table *t);

/* True when token has the form the responder answers: [A-Za-z0-9_-]{22,128}. */
bool challenge_token_valid(const char *token, size_t len);

/* ---- http-01 ---- */

/* Adds (or replaces) the answer for token: the key authorization
 * "token.thumbprint" (copied). Errors: a malformed token or key authorization
 * (AC_ERR_INTERNAL), ENOMEM. */
int challenge_http01_add(struct challenge_table *t, const char *token, const char *key_auth,
                         struct ac_error *e);
/* Removes token's answer (absent: nothing happens). */
void challenge_http01_remove(struct challenge_table *t, const char *token);
/* Copies the key authorization of a pending token (len bytes, need not be
 * NUL-terminated) into buf (n bytes, NUL-terminated). Returns its length, or -1
 * when token is not pending, is malformed, or buf is too small. */
ssize_t challenge_http01_get(struct challenge_table *t, const char *token, size_t len, char *buf,
                             size_t n);

/* ---- tls-alpn-01 ---- */

/* Adds (or replaces) the challenge of identifier (a DNS name or an IP
 * address) with key authorization key_auth: builds its RFC 8737 certificate
 * now. Errors: a malformed identifier, a crypto failure, ENOMEM. */
int challenge_alpn_add(struct challenge_table *t, const char *identifier, const char *key_auth,
                       struct ac_error *e);
/* Removes identifier's challenge (absent: nothing happens). */
void challenge_alpn_remove(struct challenge_table *t, const char *identifier);
/* True when a tls-alpn-01 challenge is pending for the TLS server name sni
 * (len bytes, need not be NUL-terminated; a reverse name maps to its IP).
 * No lock and no allocation when nothing is pending. */
bool challenge_alpn_pending(struct challenge_table *t, const char *sni, size_t len);
/* The challenge certificate for sni: a new reference (autocert_cert_release),
 * or NULL when none is pending. Its set name is "acme-tls/1". */
autocert_cert *challenge_alpn_cert(struct challenge_table *t, const char *sni, size_t len);

/* Maps a reverse-DNS name ("4.3.2.1.in-addr.arpa", the 32-nibble ip6.arpa
 * form; case-insensitive, one trailing dot ignored) to the address text it
 * stands for ("1.2.3.4", "2001:db8::1") in out (n bytes). Returns 0, or -1 when
 * name is not such a name. */
int challenge_reverse_to_ip(const char *name, size_t len, char *out, size_t n);

#endif
