/*
 * error.h - the error object every fallible internal call fills in.
 *
 * A call returns 0 on success and -1 on failure; on failure it fills the
 * caller's `struct ac_error` (when non-NULL) with a stable kind from the taxonomy
 * below, a human message (never a secret), and, for ACME problems, the problem
 * type URN, the HTTP status and the Retry-After the CA sent. The struct is plain
 * data with fixed-size fields: no allocation, safe to copy.
 *
 * Kinds are dotted, stable strings ("ca.rate_limited", "dns.propagation_timeout",
 * "provider.auth" ...). ac_error_kind_info() tells the scheduler whether a kind
 * is worth retrying soon and whether it is the caller's fault (which backs off to
 * retry_max).
 */
#ifndef AUTOCERT_ERROR_H
#define AUTOCERT_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#define AC_ERROR_MESSAGE_MAX 1024

struct ac_error {
    char kind[48];                      /* "" when no error */
    char message[AC_ERROR_MESSAGE_MAX]; /* human text: no secrets, no control chars, UTF-8 */
    char acme_type[96];                 /* ACME problem type URN, or "" */
    int http_status;                    /* 0 when not from HTTP */
    long retry_after;                   /* seconds; -1 when none was given */
};

/* Kinds used across modules. Keep in sync with the table in error.c. */
#define AC_ERR_INTERNAL "internal"
#define AC_ERR_NOMEM "internal.nomem"
#define AC_ERR_CONFIG "config.invalid"
#define AC_ERR_IO "io.error"
#define AC_ERR_CRYPTO "crypto.error"
#define AC_ERR_KEY_UNREADABLE "store.key_unreadable"
#define AC_ERR_LOCKED "store.locked"
#define AC_ERR_NET "net.unreachable"
#define AC_ERR_TIMEOUT "net.timeout"
#define AC_ERR_TLS "net.tls"
#define AC_ERR_HTTP "net.http"
#define AC_ERR_CA_BAD_RESPONSE "ca.bad_response"
#define AC_ERR_CA_RATE_LIMITED "ca.rate_limited"
#define AC_ERR_CA_BAD_NONCE "ca.bad_nonce"
#define AC_ERR_CA_NO_ACCOUNT "ca.account_does_not_exist"
#define AC_ERR_CA_UNAUTHORIZED "ca.unauthorized"
#define AC_ERR_CA_EAB "ca.external_account_required"
#define AC_ERR_CA_REJECTED "ca.rejected"           /* caller's fault: bad CSR, identifier, ... */
#define AC_ERR_CA_SERVER "ca.server_error"
#define AC_ERR_CA_CHALLENGE "ca.challenge_failed"  /* the CA could not validate */
#define AC_ERR_CA_ORDER "ca.order_invalid"
#define AC_ERR_CA_PROFILE "ca.profile_unknown"
#define AC_ERR_CA_ALREADY_REPLACED "ca.already_replaced"
#define AC_ERR_CA_BAD_CERT "ca.bad_certificate"   /* unusable chain: dates, names, key */
#define AC_ERR_DUE_AT_ONCE "schedule.due_at_once" /* a new certificate is due at once */
#define AC_ERR_ORDER_TIMEOUT "ca.order_timeout"
#define AC_ERR_DNS_PROVIDER "dns.provider"
#define AC_ERR_DNS_AUTH "provider.auth"
#define AC_ERR_DNS_RATE_LIMITED "dns.rate_limited"
#define AC_ERR_DNS_PROPAGATION "dns.propagation_timeout"
#define AC_ERR_DNS_QUERY "dns.query"
#define AC_ERR_CANCELLED "cancelled"
#define AC_ERR_CERT_EXPIRED "cert.expired"             /* warning: still served */
#define AC_ERR_CERT_NOT_YET_VALID "cert.not_yet_valid" /* warning: still served */

/* Fills `e` (no-op when NULL). Replaces any earlier content; acme_type is
 * cleared, http_status set to 0 and retry_after to -1. The formatted message
 * (up to 4 KiB before scrubbing) has every registered secret replaced
 * (secrets.h), then control characters and invalid UTF-8 escaped
 * (textsafe.h), and is cut to AC_ERROR_MESSAGE_MAX - 1 bytes. Write
 * e->message only through these functions, so nothing skips that. */
void ac_error_set(struct ac_error *e, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ac_error_vset(struct ac_error *e, const char *kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prepends "<context>: " to the message, keeping everything else (scrubbed
 * and escaped as ac_error_vset does). */
void ac_error_prefix(struct ac_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets to "no error" (kind "", retry_after -1). */
void ac_error_clear(struct ac_error *e);

/* True when `e` is non-NULL and holds exactly `kind`. */
bool ac_error_is(const struct ac_error *e, const char *kind);

struct ac_error_kind_info {
    bool retryable;      /* a later attempt may succeed without a config change */
    bool callers_fault;  /* the request itself is wrong: back off to retry_max */
};

/* Classification of a kind; unknown kinds are retryable, not the caller's fault. */
struct ac_error_kind_info ac_error_kind_info(const char *kind);

#endif
