/*
 * issuer.h - obtains the certificate of one certificate set, end to end:
 * the per-set lock, GoDoxy's failure marker, the ACME account, one order
 * answered over dns-01 (or "custom": no challenge solving; or provider "acme":
 * http-01 / tls-alpn-01 answered from the manager's challenge table), a fresh certificate
 * key and CSR, and the durable commit of the new pair.
 *
 * Thread-safe for different sets: each call builds its own ACME client and DNS
 * provider. The account key is loaded by the caller (issuer_account_key) once
 * per acme_key_path before any concurrent call, so that two sets sharing an
 * account never race to create its key file. Sets of one run that share a CA
 * and an account can also share one issuer_session: the directory and the
 * account are then looked up once instead of once per set.
 */
#ifndef AUTOCERT_ISSUER_H
#define AUTOCERT_ISSUER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <gnutls/x509.h>

#include "autocert/autocert.h"
#include "config.h"
#include "crypto.h"
#include "error.h"

struct issuer_session;
struct storage;
struct challenge_table;

struct issuer_request {
    const struct config_set *set;   /* borrowed */
    struct crypto_key *account_key; /* borrowed; from issuer_account_key */
    /* Optional, borrowed: used when issuer_session_fits(session, set,
     * account_key), ignored otherwise. */
    const struct issuer_session *session;
    const char *replaces; /* ARI certificate id of the certificate being
                           * replaced, or NULL */
    /* Optional progress notes (for logs, the CLI and the SSE stream). */
    void (*progress)(void *arg, const char *set_name, const char *message);
    void *progress_arg;
    /* Optional, borrowed: when *cancel becomes true (any thread may set it),
     * the order stops at its next step or wait (within about a second, also
     * in the middle of a request, a poll or a DNS propagation wait) and
     * issuer_obtain fails with AC_ERR_CANCELLED. DNS records already
     * published are still removed (with short timeouts); a commit that has
     * reached its commit point is finished (the pair on disk is the old one
     * or the new one, never a mix). */
    const atomic_bool *cancel;
    /* Also hand back the new certificate as a handle (issuer_result.cert). */
    bool want_cert;
    /* The manager's challenge table (borrowed; required for provider acme):
     * http-01 / tls-alpn-01 answers are added before the challenge is
     * answered and removed once the authorization is final. */
    struct challenge_table *challenges;
    /* Optional ACME request observer (metrics). */
    void (*observer)(void *arg, const char *endpoint, const char *outcome);
    void *observer_arg;
    /* The store (borrowed; NULL: the files). A shared store (PostgreSQL,
     * issuer_fleet.h): the set's lease is taken before ordering and kept
     * alive every lease_ttl_s/3, every write is fenced by it, challenges are
     * published for the other nodes, and a timed order (forced false) adopts
     * a stored pair that ends after have_not_after instead of ordering. */
    struct storage *store;
    int lease_ttl_s;
    bool forced;
    int64_t have_not_after; /* NotAfter of the certificate served now, 0: none */
};

struct issuer_result {
    int64_t not_before; /* of the new leaf */
    int64_t not_after;
    char serial_hex[80];
    bool issued;  /* false for "pseudo" (nothing written) */
    bool adopted; /* a pair another node committed was written to the files
                   * instead of ordering (cert NULL: load the files) */
    /* With issuer_request.want_cert: the committed pair as a new handle
     * (autocert_cert_release it), built from what was just parsed and
     * checked, or NULL when it could not be made (the files are committed
     * anyway: load them). */
    autocert_cert *cert;
};

/* Loads (or creates, EC P-256, SEC1 DER, 0600) the account key of `set`;
 * with a shared store (st, issuer_fleet.h) the store's key for its
 * acme_key_path instead, created once for the whole fleet.
 * Returns a new key (crypto_key_free). An unreadable key file is an error and
 * is never replaced. */
int issuer_account_key(const struct config_set *set, struct storage *st, struct crypto_key **out,
                       struct ac_error *e);

/* Loads the directory of set's CA and finds or registers the account of
 * account_key once (a CA that does not know the account registers it anew),
 * for the orders that share them (issuer_session_fits). set is copied;
 * account_key is borrowed and must outlive the session. Read-only once made:
 * any number of concurrent issuer_obtain calls may use one session. Returns
 * 0 and a new session (issuer_session_free), or -1 with e set (the same error
 * a set's own account lookup gives). Honours the thread's cancel scope. */
int issuer_session_new(const struct config_set *set, struct crypto_key *account_key,
                       struct issuer_session **out, struct ac_error *e);
void issuer_session_free(struct issuer_session *s);
/* True when s was made for the same CA (directory URL and ca_certs), account
 * key and account details (email, EAB) as set / account_key. */
bool issuer_session_fits(const struct issuer_session *s, const struct config_set *set,
                         const struct crypto_key *account_key);
/* True when sets a and b use the same CA account: the same account key file,
 * directory URL, ca_certs, email and EAB. */
bool issuer_same_account(const struct config_set *a, const struct config_set *b);

/* How far in the future a new leaf's notBefore may lie (host clock behind). */
#define ISSUER_CLOCK_SKEW_S 300
#define ISSUER_MAX_IDS 100  /* identifiers of one order (ACME_MAX_AUTHZ) */
#define ISSUER_NAME_MAX 256 /* bytes of one name, NUL included */

/* The checks a chain from the CA passes before it is committed (public for
 * tests): the leaf's public key is key's (skipped when key is NULL), it is
 * valid at `now` (notBefore at most ISSUER_CLOCK_SKEW_S ahead, notAfter
 * still ahead), and its DNS and IP SANs equal the identifiers ids as a set
 * (case-insensitive, one trailing dot ignored, IP literals compared as
 * addresses). Returns 0, or -1 with e set to AC_ERR_CA_BAD_CERT naming what
 * is wrong (retryable, not the caller's fault). Thread-safe. */
int issuer_check_leaf(gnutls_x509_crt_t leaf, const struct crypto_key *key, const char *const *ids,
                      size_t n_ids, int64_t now, struct ac_error *e);

/* Obtains a new certificate for r->set and commits it to cert_path/key_path.
 * "pseudo" sets log each step and write nothing; "local" sets are refused
 * (AC_ERR_CONFIG). Fails with AC_ERR_LOCKED when another process holds the
 * set's lock, AC_ERR_CANCELLED when r->cancel was set (see there), and
 * AC_ERR_CA_BAD_CERT when the chain fails issuer_check_leaf. On failure the
 * on-disk pair is untouched and the failure marker stays; on success the
 * marker is removed. Installs r->cancel as the thread's cancel scope
 * (timeutil.h) for its duration. */
int issuer_obtain(const struct issuer_request *r, struct issuer_result *res, struct ac_error *e);

/* Revokes the certificate currently in r->set's cert_path at its CA (RFC 5280
 * reason code, < 0 to omit). Does not obtain a new one. */
int issuer_revoke(const struct issuer_request *r, int reason, struct ac_error *e);

#endif
