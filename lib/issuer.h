/*
 * issuer.h - obtains the certificate of one certificate set, end to end:
 * the per-set lock, GoDoxy's failure marker, the ACME account, one order
 * answered over dns-01 (or "custom": no challenge solving), a fresh certificate
 * key and CSR, and the durable commit of the new pair.
 *
 * Thread-safe for different sets: each call builds its own ACME client and DNS
 * provider. The account key is loaded by the caller (issuer_account_key) once
 * per acme_key_path before any concurrent call, so that two sets sharing an
 * account never race to create its key file.
 */
#ifndef AUTOCERT_ISSUER_H
#define AUTOCERT_ISSUER_H

#include <stdint.h>

#include "config.h"
#include "crypto.h"
#include "error.h"

struct issuer_request {
    const struct config_set *set;   /* borrowed */
    struct crypto_key *account_key; /* borrowed; from issuer_account_key */
    const char *replaces;           /* ARI certificate id of the certificate being
                                     * replaced, or NULL */
    /* Optional progress notes (for logs, the CLI and the SSE stream). */
    void (*progress)(void *arg, const char *set_name, const char *message);
    void *progress_arg;
    /* Optional ACME request observer (metrics). */
    void (*observer)(void *arg, const char *endpoint, const char *outcome);
    void *observer_arg;
};

struct issuer_result {
    int64_t not_before;  /* of the new leaf */
    int64_t not_after;
    char serial_hex[80];
    bool issued;         /* false for "pseudo" (nothing written) */
};

/* Loads (or creates, EC P-256, SEC1 DER, 0600) the account key of `set`.
 * Returns a new key (crypto_key_free). An unreadable key file is an error and
 * is never replaced. */
int issuer_account_key(const struct config_set *set, struct crypto_key **out,
                       struct ac_error *e);

/* Obtains a new certificate for r->set and commits it to cert_path/key_path.
 * "pseudo" sets log each step and write nothing; "local" sets are refused
 * (AC_ERR_CONFIG). Fails with AC_ERR_LOCKED when another process holds the
 * set's lock. On failure the on-disk pair is untouched and the failure marker
 * stays; on success the marker is removed. */
int issuer_obtain(const struct issuer_request *r, struct issuer_result *res,
                  struct ac_error *e);

/* Revokes the certificate currently in r->set's cert_path at its CA (RFC 5280
 * reason code, < 0 to omit). Does not obtain a new one. */
int issuer_revoke(const struct issuer_request *r, int reason, struct ac_error *e);

#endif
