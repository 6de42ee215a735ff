/*
 * acme.h - the ACME protocol client (RFC 8555): directory, nonces, account,
 * orders solved with dns-01, finalize, certificate download, revocation and
 * ACME Renewal Information (RFC 9773).
 *
 * A client belongs to one thread at a time (it owns one HTTP client and the
 * nonce pool). Every request is bounded by a timeout and a 1 MiB response cap;
 * everything the CA sends is parsed with depth/size-bounded JSON, and anything
 * unexpected becomes AC_ERR_CA_BAD_RESPONSE, never a crash.
 *
 * Errors: problem documents become an ac_error with the problem's kind (see
 * acme_problem_kind), acme_type, http_status, retry_after and a message holding
 * the detail and every subproblem with its identifier.
 *
 * The second half of this header declares the pure parsers the client uses, so
 * tests and fuzzers can drive them without a network.
 */
#ifndef AUTOCERT_ACME_H
#define AUTOCERT_ACME_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "dns_provider.h"
#include "error.h"

struct acme_client;

struct acme_client_opts {
    const char *directory_url;   /* required */
    const char *const *ca_files; /* extra PEM roots for the CA's HTTPS API */
    size_t ca_count;
    long timeout_ms;        /* per request; 0 = 30000 */
    const char *user_agent; /* NULL = the HTTP client's default */
};

/* Returns 0 and a new client (acme_client_free). Copies opts. account_key is
 * borrowed and must outlive the client. Does no network I/O. */
int acme_client_new(const struct acme_client_opts *o, struct crypto_key *account_key,
                    struct acme_client **out, struct ac_error *e);
void acme_client_free(struct acme_client *c);

/* Fetches the directory once (later calls return at once). All other calls
 * call it themselves. */
int acme_directory_load(struct acme_client *c, struct ac_error *e);
/* True when the loaded directory has a renewalInfo URL (false before load). */
bool acme_has_renewal_info(struct acme_client *c);
/* Profiles offered by the directory meta (after load): count, and the name /
 * description of entry i (borrowed, valid while c lives). */
size_t acme_profile_count(const struct acme_client *c);
const char *acme_profile_name(const struct acme_client *c, size_t i);
const char *acme_profile_description(const struct acme_client *c, size_t i);

/* Finds the account of the key (onlyReturnExisting) or registers one:
 * contact mailto:email (when non-NULL and non-empty), termsOfServiceAgreed,
 * externalAccountBinding when eab_kid and eab_hmac are given. Remembers
 * email/EAB (copies) to register again with the same key when the CA later
 * answers accountDoesNotExist. */
int acme_account_ensure(struct acme_client *c, const char *email, const char *eab_kid,
                        const char *eab_hmac, struct ac_error *e);
/* Account URL (kid), borrowed; NULL before acme_account_ensure succeeded. */
const char *acme_account_url(const struct acme_client *c);

/* Gives c (no request made yet) the directory, account URL and account
 * details (email, EAB) that `from` loaded with acme_account_ensure, so c makes
 * no directory or account request of its own. Both clients must be for the
 * same directory URL and account key. `from` is only read: any number of
 * threads may adopt from one client that nobody uses for requests meanwhile.
 * Returns 0, or -1 (AC_ERR_INTERNAL when from has no account, AC_ERR_NOMEM). */
int acme_client_adopt(struct acme_client *c, const struct acme_client *from, struct ac_error *e);

/* How dns-01 challenges are answered. */
struct acme_solver {
    void *arg;
    /* present NULL: "custom" mode - no record is published, the challenges are
     * answered directly (for CAs whose authorizations are valid anyway). */
    int (*present)(void *arg, const struct dns_challenge *ch, struct ac_error *e);
    /* Called for every record present() accepted, also after failures. */
    int (*cleanup)(void *arg, const struct dns_challenge *ch, struct ac_error *e);
    /* Called once after all present() calls of an order, before any challenge
     * is answered (propagation check). May be NULL. deadline on ac_mono_ms. */
    int (*wait)(void *arg, const struct dns_challenge *const *chs, size_t n, int64_t deadline_ms,
                struct ac_error *e);
    /* Optional progress notes ("order created", "authorization x valid" ...). */
    void (*progress)(void *arg, const char *message);
    /* Optional pair for callers running several orders at once: answered() is
     * called once every challenge of the order has been answered, before the
     * first authorization poll, and returns when that poll may go; polled() is
     * called once after that first poll (also when the order fails before it).
     * Lets the caller poll its orders in the order they were answered, as one
     * loop over all orders would, instead of all at the same moment. */
    void (*answered)(void *arg);
    void (*polled)(void *arg);
    /* Optional batch pair (used instead of present/cleanup when set, with
     * present also set): present_all publishes all n records of the order at
     * once, setting published[i] for each one it published (also when it
     * fails); cleanup_all is then called once with exactly those records
     * (also after failures). */
    int (*present_all)(void *arg, const struct dns_challenge *const *chs, size_t n, bool *published,
                       struct ac_error *e);
    int (*cleanup_all)(void *arg, const struct dns_challenge *const *chs, size_t n,
                       struct ac_error *e);
    /* http-01 and tls-alpn-01 (acme_order_params.challenge): arm() makes the
     * answer available (http-01: token -> key_auth; tls-alpn-01: identifier ->
     * key_auth) before the challenge is answered; disarm() withdraws it once
     * the authorization is final (valid or failed) or the order ends (any
     * failure, a cancel). Called for every pending authorization; both
     * required for those challenge types. */
    int (*arm)(void *arg, const char *type, const char *identifier, const char *token,
               const char *key_auth, struct ac_error *e);
    void (*disarm)(void *arg, const char *type, const char *identifier, const char *token);
};

struct acme_order_params {
    const char *const *identifiers; /* DNS names (wildcards allowed) or IP literals */
    size_t count;
    const char *profile;         /* NULL or a profile name; AC_ERR_CA_PROFILE if not offered */
    const char *replaces;        /* ARI cert id or NULL; on rejection retried once without */
    const char *challenge;       /* "dns-01" (NULL: the same), "http-01" or "tls-alpn-01" */
    const char *preferred_chain; /* NULL, or the Issuer CN of the wanted chain's top certificate */
    int64_t timeout_ms;          /* whole order; 0 = 600000 */
    const unsigned char *csr_der;
    size_t csr_len;
};

/* Runs one order to the end. On success returns 0 and the PEM chain (leaf
 * first, checked to parse) as a new malloc'd NUL-terminated string in
 * *chain_pem of *chain_len bytes. Errors: problem kinds, AC_ERR_CA_CHALLENGE
 * (an authorization failed; the message holds the challenge error),
 * AC_ERR_CA_ORDER, AC_ERR_ORDER_TIMEOUT (names the stage), solver errors. */
int acme_order_obtain(struct acme_client *c, const struct acme_order_params *p,
                      const struct acme_solver *s, char **chain_pem, size_t *chain_len,
                      struct ac_error *e);

/* Revokes a certificate (DER), signed with the account key (kid); reason is an
 * RFC 5280 CRLReason code (0 = unspecified; < 0 omits it). */
int acme_revoke(struct acme_client *c, const unsigned char *cert_der, size_t len, int reason,
                struct ac_error *e);

struct acme_renewal_info {
    int64_t start, end;    /* suggestedWindow, Unix seconds */
    long retry_after;      /* seconds, -1 when the CA sent none */
    char *explanation_url; /* malloc'd or NULL */
};

/* GET <renewalInfo>/<cert_id>. Needs a directory with renewalInfo
 * (AC_ERR_CA_BAD_RESPONSE otherwise). Fills *out (acme_renewal_info_free). */
int acme_renewal_info_get(struct acme_client *c, const char *cert_id, struct acme_renewal_info *out,
                          struct ac_error *e);
void acme_renewal_info_free(struct acme_renewal_info *ri);

/* Metrics hook: called once per ACME request with the endpoint ("directory",
 * "newNonce", "newAccount", "newOrder", "authz", "challenge", "finalize",
 * "order", "certificate", "revokeCert", "renewalInfo") and outcome ("ok",
 * "error"). fn may be NULL to remove it. */
void acme_client_set_observer(struct acme_client *c,
                              void (*fn)(void *arg, const char *endpoint, const char *outcome),
                              void *arg);

/* ------------------------------------------------------------------------ */
/* Pure parts (no I/O), used by the client and exposed for tests / fuzzers.  */

#define ACME_MAX_PROFILES 32
#define ACME_MAX_AUTHZ 100

/* Kind for an ACME problem type URN ("urn:ietf:params:acme:error:rateLimited"
 * ...); unknown or non-ACME types give AC_ERR_CA_SERVER for 5xx statuses and
 * AC_ERR_CA_REJECTED otherwise. Never NULL. */
const char *acme_problem_kind(const char *type, int http_status);

/* Fills e from a problem document (already parsed): kind, acme_type,
 * http_status, retry_after, and "detail [; subproblem identifier: detail]...".
 * `what` names the request ("newOrder"). Always sets e. */
void acme_problem_from_json(json_object *doc, int http_status, long retry_after, const char *what,
                            struct ac_error *e);
/* Same from raw bytes; bytes that are not a problem object still give an
 * error describing the HTTP status. */
void acme_problem_parse(const char *data, size_t len, int http_status, long retry_after,
                        const char *what, struct ac_error *e);

struct acme_directory {
    char *new_nonce, *new_account, *new_order, *revoke_cert, *key_change;
    char *renewal_info;     /* NULL when absent */
    char *terms_of_service; /* NULL when absent */
    bool eab_required;
    char *profile_names[ACME_MAX_PROFILES];
    char *profile_descs[ACME_MAX_PROFILES];
    size_t profile_count;
};

/* Parses a directory document; newNonce, newAccount and newOrder are required.
 * Returns 0 (free with acme_directory_clear) or -1 (AC_ERR_CA_BAD_RESPONSE). */
int acme_directory_parse(const char *data, size_t len, struct acme_directory *out,
                         struct ac_error *e);
void acme_directory_clear(struct acme_directory *d);

struct acme_order_doc {
    char *status; /* pending ready processing valid invalid */
    char *authz[ACME_MAX_AUTHZ];
    size_t authz_count;
    char *finalize;
    char *certificate; /* NULL until valid */
    bool has_error;
    struct ac_error error; /* the order's "error" problem when has_error */
};

int acme_order_parse(const char *data, size_t len, struct acme_order_doc *out, struct ac_error *e);
void acme_order_doc_clear(struct acme_order_doc *o);

struct acme_authz_doc {
    char *status;  /* pending valid invalid deactivated expired revoked */
    char *id_type; /* "dns" / "ip" */
    char *id_value;
    bool wildcard;
    /* Set before parsing (acme_authz_parse_type): the challenge type looked
     * for, NULL = "dns-01". Borrowed. */
    const char *want;
    /* That challenge (NULL fields when the authz offers none). */
    char *chal_url;
    char *chal_token;
    char *chal_status;
    bool has_chal_error;
    struct ac_error chal_error; /* the first challenge error found */
};

int acme_authz_parse(const char *data, size_t len, struct acme_authz_doc *out, struct ac_error *e);
/* The same, looking for the challenge of type `type` ("http-01" ...; NULL =
 * "dns-01"; borrowed, must outlive out). */
int acme_authz_parse_type(const char *data, size_t len, const char *type,
                          struct acme_authz_doc *out, struct ac_error *e);
void acme_authz_doc_clear(struct acme_authz_doc *a);

/* Account response: "status" must be a string; "valid" required. 0 or -1. */
int acme_account_parse(const char *data, size_t len, struct ac_error *e);

/* renewalInfo body (suggestedWindow start/end RFC 3339, optional
 * explanationURL). retry_after is left -1 (the header is the caller's). */
int acme_renewal_info_parse(const char *data, size_t len, struct acme_renewal_info *out,
                            struct ac_error *e);

/* Polling schedule: the delay before poll number `attempt` (0-based) when the
 * CA sent no Retry-After: 250 ms doubling to at most 8000 ms. With
 * retry_after_s > 0 that value (in ms) is used, capped at 60 s; 0 or -1 (none)
 * follow the schedule. */
int64_t acme_poll_delay_ms(unsigned attempt, long retry_after_s);

#endif
