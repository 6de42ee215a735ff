/*
 * autocert.h - the public API of libautocert: the whole certificate manager.
 *
 * A manager holds the certificate sets of one configuration (GoDoxy's
 * `autocert:` block: main first, then the extras in order, then the sets a host
 * adds at run time). It
 *   - loads every set's certificate from its store before touching the network,
 *   - picks the certificate of each TLS handshake by SNI from an immutable
 *     snapshot (autocert_manager_lookup; adapters in autocert_gnutls.h),
 *   - obtains what is missing and renews before expiry with its own threads
 *     (autocert_manager_start / _stop; autocert_manager_obtain / _renew /
 *     _revoke for one-off operations),
 *   - reports status, events and logs, and
 *   - answers the REST admin API (autocert_admin.h).
 *
 * Conventions
 *   - Functions that can fail return 0 on success and -1 on failure, and fill
 *     the caller's autocert_error (when non-NULL) with a stable kind and a
 *     message. Messages never contain secrets.
 *   - "Returns a new X, free with Y" / "borrowed, valid until Z" / "copies" /
 *     "takes ownership" say who owns what.
 *   - "Blocks" names what a call may wait for. Calls that do not say so do not
 *     block on the network or on another thread's I/O.
 *   - Thread-safety: every function may be called from any thread at any time,
 *     except autocert_manager_free (no other call on that manager may run or
 *     follow) and the process-wide settings (autocert_log_set, autocert_init),
 *     which are meant to be set before threads start.
 *   - The library installs no signal handler, never calls exit, and writes to
 *     stderr only when asked (autocert_log_to_stderr).
 *
 * Typical embedding (GoDoxy's NewProvider, ObtainCertIfNotExistsAll,
 * ScheduleRenewalAll, GetCert, and its cert info/renew API):
 *
 *     autocert_manager *m;
 *     autocert_error err;
 *     if (autocert_manager_open("autocert.yml", NULL, NULL, &m, &err) != 0) ...
 *     autocert_manager_load(m);                  // disk first: serve what exists
 *     autocert_gnutls_install(m, cred);          // every handshake picks by SNI
 *     autocert_manager_start(m, &err);           // obtain what is missing, renew forever
 *     autocert_admin_start(m, NULL, &admin, &err); // REST API on admin.listen
 *     ...
 *     autocert_admin_stop(admin);
 *     autocert_manager_stop(m);
 *     autocert_manager_free(m);
 */
#ifndef AUTOCERT_AUTOCERT_H
#define AUTOCERT_AUTOCERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(AUTOCERT_BUILDING) && defined(__GNUC__)
#define AUTOCERT_API __attribute__((visibility("default")))
#else
#define AUTOCERT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct autocert_manager autocert_manager;
typedef struct autocert_cert autocert_cert;
typedef struct autocert_config autocert_config;

/* ==== version, initialisation, errors ================================== */

/* "0.2.0": the library's version (also AUTOCERT_VERSION_STRING at build time). */
AUTOCERT_API const char *autocert_version(void);

/* Process-wide initialisation of the libraries autocert uses (libcurl's
 * global state). Called by autocert_manager_open/new themselves; call it
 * yourself, once, before starting threads, when your program also uses
 * libcurl and wants the order defined. Idempotent. Returns 0 or -1. */
AUTOCERT_API int autocert_init(void);

#define AUTOCERT_ERROR_KIND_MAX 48
#define AUTOCERT_ERROR_MESSAGE_MAX 1024

/* An error: a stable dotted kind ("ca.rate_limited", "dns.propagation_timeout",
 * "provider.auth", "config.invalid", "select.no_match" ...; the full list is in
 * the README) and a one-line human message (no secrets; control characters
 * escaped). Plain data: copy it freely. kind is "" when there is no error. */
typedef struct autocert_error {
    char kind[AUTOCERT_ERROR_KIND_MAX];
    char message[AUTOCERT_ERROR_MESSAGE_MAX];
} autocert_error;

/* Kinds the API itself returns (others come from the CA, DNS, stores). */
#define AUTOCERT_E_CONFIG "config.invalid"    /* bad configuration or argument */
#define AUTOCERT_E_NO_MATCH "select.no_match" /* no set has that name / covers that domain */
#define AUTOCERT_E_LOCKED "store.locked"      /* another process renews the set */
#define AUTOCERT_E_CANCELLED "cancelled"      /* stopped (autocert_manager_stop, free) */
#define AUTOCERT_E_NOMEM "internal.nomem"

/* ==== logging ============================================================ */

enum autocert_log_level {
    AUTOCERT_LOG_DEBUG = 0,
    AUTOCERT_LOG_INFO,
    AUTOCERT_LOG_WARN,
    AUTOCERT_LOG_ERROR,
};

/* A log record: `set` is the set it concerns ("main", "extra[1]", a run-time
 * set's name) or NULL; `message` is one line without a newline, control
 * characters escaped, secrets never included. Both are borrowed for the
 * duration of the call. Called from whatever library thread logs: it must be
 * thread-safe and should not block for long. */
typedef void (*autocert_log_fn)(void *arg, enum autocert_log_level level, const char *set,
                                const char *message);

/* Sends the library's log records at `min_level` and above to fn (fn NULL:
 * the library logs nothing, the default). Process-wide. */
AUTOCERT_API void autocert_log_set(autocert_log_fn fn, void *arg,
                                   enum autocert_log_level min_level);

/* Convenience: log to stderr, one line per record, as text
 * ("2026-12-04T20:14:06.123Z info  [main] message") or JSON lines
 * ({"time","level","set","msg"}). Process-wide. */
enum autocert_log_format { AUTOCERT_LOG_TEXT = 0, AUTOCERT_LOG_JSON };
AUTOCERT_API void autocert_log_to_stderr(enum autocert_log_format format,
                                         enum autocert_log_level min_level);

/* Logs one record of the host's own through the same sink as the library's
 * (the format is printf's; the message is scrubbed of secrets and escaped
 * like the library's own). For hosts that want one log stream, such as the
 * autocert daemon. set may be NULL. Thread-safe. */
AUTOCERT_API void autocert_log(enum autocert_log_level level, const char *set, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ==== configuration ====================================================== */

/* One problem found while loading a configuration. Strings are borrowed for
 * the duration of the callback. line/column are 1-based, 0 when unknown;
 * key_path is "autocert.extra[1].key_path" or NULL. */
typedef struct autocert_diag {
    const char *file;
    int line, column;
    const char *key_path;
    const char *message;
    bool warning; /* reported, but the configuration is accepted */
} autocert_diag;
typedef void (*autocert_diag_fn)(void *arg, const autocert_diag *d);

/* Formats d as "file:line:col: key.path: message" (parts that are unknown are
 * left out; warnings prefixed "warning: ") into buf. Returns the length it
 * needed (snprintf's convention). */
AUTOCERT_API size_t autocert_diag_format(const autocert_diag *d, char *buf, size_t n);

/* Loads and validates the YAML file at path (DESIGN §5.1; every problem is
 * reported through fn, errors and warnings, each once; fn may be NULL).
 * Returns 0 and a new configuration (autocert_config_free, or hand it to
 * autocert_manager_new_config), or -1 (err: the first error and the count). */
AUTOCERT_API int autocert_config_load(const char *path, autocert_diag_fn fn, void *arg,
                                      autocert_config **out, autocert_error *err);
AUTOCERT_API void autocert_config_free(autocert_config *c);

/* Prints the effective configuration (defaults applied, extras merged) as
 * YAML with every secret masked. */
AUTOCERT_API void autocert_config_print(const autocert_config *c, FILE *f);

/* A top-level setting as text, borrowed from c: "admin.listen",
 * "admin.token" (NULL: never returned, it is a secret; use
 * autocert_config_has("admin.token")), "serve.listen", "serve.http_listen",
 * "hooks.deploy", "notify.webhook", "store.url" (NULL: secret). NULL when
 * unset or unknown. The path the configuration was loaded from: "path".
 * autocert_config_has also answers "admin": the file has an admin: section
 * (admin.listen has a default, so its value does not tell), and
 * "challenge.http-01" / "challenge.tls-alpn-01": some set of the file has
 * provider acme with that challenge (the CA then connects to port 80 /
 * 443 of its names: something must answer there, see autocert_http_start
 * and the TLS adapters). */
AUTOCERT_API const char *autocert_config_get(const autocert_config *c, const char *key);
AUTOCERT_API bool autocert_config_has(const autocert_config *c, const char *key);

/* The provider names this build accepts in `provider:` ("local", "pseudo",
 * "selfsigned", "custom", "acme", then the DNS providers and their aliases), one per index from 0;
 * NULL past the last. Borrowed, static. */
AUTOCERT_API const char *autocert_provider_name(size_t i);

/* ==== the manager ======================================================== */

/* Creates a manager from the YAML file at config_path: autocert_config_load
 * (problems through fn, which may be NULL) then autocert_manager_new_config.
 * No certificate is read and no thread started yet. Returns 0 and a new
 * manager (autocert_manager_free), or -1 with err. */
AUTOCERT_API int autocert_manager_open(const char *config_path, autocert_diag_fn fn, void *arg,
                                       autocert_manager **out, autocert_error *err);

/* Creates a manager from a loaded configuration; takes ownership of c (also
 * on failure). Returns 0 and a new manager, or -1 with err. */
AUTOCERT_API int autocert_manager_new_config(autocert_config *c, autocert_manager **out,
                                             autocert_error *err);

/* Kept from 0.1: autocert_manager_open with a one-line message in err
 * ("first configuration error (and N more)"); err may be NULL. */
AUTOCERT_API int autocert_manager_new(const char *config_path, autocert_manager **out, char *err,
                                      size_t errlen);

/* Loads every set's pair from its store (completing or rolling back a commit
 * a crash interrupted, for sets no other process is writing), rebuilds the SNI
 * index and publishes it. A set whose files are missing holds no certificate;
 * a set whose files are unreadable or mismatched logs the reason, shows it in
 * its status and holds no certificate (other sets are unaffected). Returns the
 * number of sets that hold a certificate afterwards. Blocks on file I/O.
 * Above 1,000 sets the files are read on several threads (one per online
 * CPU, at most 8), started and joined within the call; the same holds for
 * autocert_manager_reload. Above 1,000 sets, too, each private key is
 * compared with its certificate's public key within the call, but the key's
 * own check (that its private part gives its public part: about 15 us per
 * EC key, the largest cost of a load) runs after the call returns, on a
 * thread of its own, while the sets are served (about 2 s of one core for
 * 100,000 P-256 keys, each parsed again for it): a set whose key fails it is logged, shows the error in
 * its status and stops being served, as if its load had failed (a managed
 * set then obtains a new certificate). Its handshakes fail until then, as
 * they would with such a key anyway. autocert_manager_free stops that
 * check. Sets that already serve a certificate are always checked before
 * a new pair replaces it. */
AUTOCERT_API int autocert_manager_load(autocert_manager *m);

/* Re-reads every set's files. A set whose files changed and are valid gets
 * the new certificate; a set whose new files are missing or broken keeps
 * serving the certificate already in memory (logged). Publishes a new
 * snapshot only when something changed. Returns the number of sets whose
 * certificate changed, or -1 on an allocation failure. Blocks on file I/O. */
AUTOCERT_API int autocert_manager_reload(autocert_manager *m);

/* Re-reads the configuration file the manager was made from (or `path` when
 * not NULL) and applies it atomically: problems through fn; a file with
 * errors is refused (-1, AUTOCERT_E_CONFIG) and the running configuration
 * stays. Sets are matched by their files (cert_path|key_path): a set whose
 * configuration is unchanged keeps its certificate, state and a running
 * order; changed sets are re-read; removed sets are dropped once their
 * running order (if any) has ended; new sets are loaded. Run-time sets
 * (autocert_manager_add_set) stay. The renewal engine keeps running. A
 * file that holds exactly the bytes the running configuration was loaded
 * from, with the same values of the environment variables its ${...} name,
 * is not parsed again (0, nothing changes, no diagnostic is repeated): call
 * autocert_manager_reload to re-read the sets' files. Blocks on file I/O. */
AUTOCERT_API int autocert_manager_reload_config(autocert_manager *m, const char *path,
                                                autocert_diag_fn fn, void *arg,
                                                autocert_error *err);

/* Stops everything the manager runs (autocert_manager_stop) and frees it
 * (NULL is fine). Certificate handles still referenced stay valid until
 * released. Must not race with any other call on m. */
AUTOCERT_API void autocert_manager_free(autocert_manager *m);

/* The configuration the manager runs with: borrowed, valid until the next
 * autocert_manager_reload_config or autocert_manager_free. */
AUTOCERT_API const autocert_config *autocert_manager_config(const autocert_manager *m);

/* ==== sets and selection ================================================ */

/* Number of sets (main + extras + run-time sets). Indices 0..count-1 are
 * stable until the next reload_config / add_set / remove_set; names are
 * stable for the life of a set. */
AUTOCERT_API size_t autocert_manager_set_count(const autocert_manager *m);

/* The set an operator means by `selector`, the one rule that the CLI, the
 * admin API and the library share: a set name ("main", "extra[1]", "extra1",
 * a run-time set's name) or a domain, selected as a TLS handshake would
 * select it (DESIGN §5.2: normalised; an exact name of any set beats any
 * wildcard; "*.x.y" covers one more label; ties go to the first set; a set
 * without configured domains is matched by its certificate's names), except
 * that a name no set covers is an error (AUTOCERT_E_NO_MATCH, "no set covers
 * a.example.org"), never main. Returns 0 and the index in *idx, or -1. */
AUTOCERT_API int autocert_manager_find(autocert_manager *m, const char *selector, size_t *idx,
                                       autocert_error *err);

/* ==== run-time sets ====================================================== */

/* Adds a certificate set while the manager runs (a gateway that learns a new
 * route adds a set for it), without touching the others.
 *
 * name: the set's name, chosen by the host: 1 to 63 characters of a-z, 0-9,
 * '.', '_', '-', starting with a letter or digit; never "main" nor "extraN";
 * unique among the run-time sets. It names the set everywhere (logs, status,
 * the admin API's ?name=, metrics, events, AUTOCERT_SET of hooks).
 *
 * yaml: the set in the form of one entry of `autocert.extra` of the
 * configuration file, NUL-terminated, at most 64 KiB, for example
 *
 *     "domains: [api.example.com, '*.api.example.com']\n"
 *     "cert_path: certs/api.crt\n"
 *     "key_path: certs/api.key\n"
 *     "provider: cloudflare\n"
 *     "options: {auth_token: ${CF_TOKEN}}\n"
 *
 * (a flow mapping on one line works too). It is read exactly like a YAML
 * extra: ${VAR} expands, keys left out inherit main's effective settings (a
 * configuration reload that changes main changes them too), cert_path and
 * key_path default to main's defaults, the account key is main's, and every
 * check of the file applies. Problems go through fn (may be NULL) with file =
 * name, line and column within yaml, and key_path relative to the entry
 * ("domains[2]"); err gets the first error and their count. A cert_path or
 * key_path that another set uses (YAML or run-time) is an error naming it.
 *
 * The set goes after the YAML sets (run-time sets are kept sorted by name)
 * and follows the same rules as a YAML set: its pair is read from its files
 * at once (what exists is served), its files, state file, lock and failure
 * marker are the same as those of a YAML extra on the same paths; when the
 * engine runs (autocert_manager_start) it obtains the certificate if missing
 * and renews it. The SNI index changes in one step (one new snapshot):
 * handshakes see the set completely or not at all; ties still go to the
 * earlier set (YAML sets before run-time sets). Run-time sets stay until
 * removed: autocert_manager_reload_config keeps them (and refuses a
 * configuration that a run-time set no longer fits, naming it). They live
 * in memory: a host re-adds them after a restart.
 *
 * Returns 0, or -1 with err (AUTOCERT_E_CONFIG for a bad name, spec or
 * clash). Blocks on file I/O (reading the set's files); the handshake path
 * never waits for it. Thread-safe with every other call. */
AUTOCERT_API int autocert_manager_add_set(autocert_manager *m, const char *name, const char *yaml,
                                          autocert_diag_fn fn, void *arg, autocert_error *err);

/* Removes run-time set `name`: it leaves the SNI index in one step (one new
 * snapshot; handshakes under way keep the certificate they took), its queued
 * work and waiting forced renewals end (AUTOCERT_E_CANCELLED), a running
 * order of it is cancelled (DNS records removed; a commit that reached its
 * commit point completes). Its files stay on disk. Certificate handles of it
 * that the host still holds stay valid until released. Returns 0, or -1 with
 * err: AUTOCERT_E_NO_MATCH when no run-time set has that name,
 * AUTOCERT_E_CONFIG for a set of the configuration file (remove it there and
 * reload). Does not block on the network. */
AUTOCERT_API int autocert_manager_remove_set(autocert_manager *m, const char *name,
                                             autocert_error *err);

/* ==== handshakes ========================================================= */

/* Chooses the certificate for a TLS server name (DESIGN §5.2): normalised
 * (trim, one trailing dot dropped, lowercase); an exact name of any set beats
 * any wildcard; "*.x.y" covers exactly one more label; ties go to the first
 * set; no SNI (NULL, len 0, or a name that normalises to nothing) or no
 * match gives main's certificate.
 *
 * Stand-ins: a set that asks a CA (provider acme, custom or a DNS provider)
 * and holds no certificate yet (first start, CA down, issuance failing) is
 * served a self-signed stand-in for its configured domains (subject CN = the
 * first one, IP literals as IP SANs, EC P-256, one key shared by every
 * stand-in of the process, valid 30 days and made again when expired). It
 * counts as the set's certificate here: its domains are matched like a
 * certificate's names (so an extra that matches is served while main has
 * only a stand-in, and a stand-in set wins ties like any set), and main's
 * stand-in answers no SNI and unknown names. It is made on the first lookup
 * that needs it (one P-256 signature, no I/O; concurrent first lookups make
 * one and wait for it), cached, never written to disk, and dropped as soon
 * as the set's real certificate is loaded. Only the lookups
 * (autocert_manager_lookup, _lookup_addr, and the TLS adapters built on
 * them) hand out stand-ins: the set's status (state "bootstrap", has_cert
 * false), /api/v1/cert/info, the metrics, events and the change hook never
 * see them. A stand-in's autocert_cert_set_name is its set's name. local,
 * pseudo and selfsigned sets get none.
 *
 * Returns a new reference (release with autocert_cert_release), or NULL when
 * main has nothing to serve (a local or pseudo main without a certificate,
 * or a stand-in that could not be made, which is logged) - then the
 * handshake must fail, even when an extra matches. Takes no lock across I/O
 * (a stand-in's lock is held only while it is looked at or made); allocates
 * only when it makes a stand-in. server_name need not be NUL-terminated.
 * Thread-safe. */
AUTOCERT_API autocert_cert *autocert_manager_lookup(autocert_manager *m, const char *server_name,
                                                    size_t len);

/* autocert_manager_lookup for a handshake that arrived on the local address
 * addr (the address the client connected to: raw network-order bytes as in
 * sin_addr / sin6_addr, addr_len 4 for IPv4 or 16 for IPv6; an IPv4-mapped
 * IPv6 address such as ::ffff:127.0.0.1 from a dual-stack socket counts as
 * IPv4). With a server name it is autocert_manager_lookup. Without one
 * (NULL, len 0, or a name that normalises to nothing) the certificate of the
 * first set (main, then extras in order) whose leaf has an IP SAN equal to
 * addr (RFC 8738) is chosen, else main's. addr NULL: the same as
 * autocert_manager_lookup. Stand-ins count as their sets' certificates here
 * too (a stand-in's IP literals are matched against addr). Returns a new
 * reference, or NULL when main has nothing to serve. Takes no lock across
 * I/O; allocates only when it makes a stand-in (see
 * autocert_manager_lookup). Thread-safe. */
AUTOCERT_API autocert_cert *autocert_manager_lookup_addr(autocert_manager *m,
                                                         const char *server_name, size_t len,
                                                         const void *addr, size_t addr_len);

/* tls-alpn-01 (RFC 8737) for TLS adapters of other libraries (the GnuTLS and
 * OpenSSL adapters use these; a host with its own TLS stack may too). While
 * the manager's issuer validates a set with challenge: tls-alpn-01, each of
 * its identifiers has a pending challenge whose certificate a ClientHello
 * offering ALPN "acme-tls/1" for that server name must get, with acme-tls/1
 * selected; no other handshake may get it.
 *
 * autocert_manager_alpn_pending: true when a challenge is pending for
 * server_name (len bytes, need not be NUL-terminated; case and one trailing
 * dot ignored; an IP identifier's reverse name, "1.0.0.127.in-addr.arpa" or
 * the ip6.arpa nibble form, stands for its address). No lock and no
 * allocation while nothing is pending.
 *
 * autocert_manager_lookup_alpn: that challenge's certificate (one SAN, the
 * acmeIdentifier extension; its set name is "acme-tls/1"), a new reference
 * (autocert_cert_release), or NULL when none is pending. Its key and chain
 * are read with autocert_cert_key_der / autocert_cert_chain_der as usual.
 * Both are thread-safe and never block. */
AUTOCERT_API bool autocert_manager_alpn_pending(autocert_manager *m, const char *server_name,
                                                size_t len);
AUTOCERT_API autocert_cert *autocert_manager_lookup_alpn(autocert_manager *m,
                                                         const char *server_name, size_t len);

/* Takes one more reference (atomic increment). Returns c. NULL is fine. */
AUTOCERT_API autocert_cert *autocert_cert_acquire(autocert_cert *c);
/* Drops one reference; the last one frees the handle. NULL is fine. */
AUTOCERT_API void autocert_cert_release(autocert_cert *c);

/* Accessors. Everything returned is borrowed from the handle: valid while the
 * caller holds a reference, never to be freed or modified. */
AUTOCERT_API const char *autocert_cert_set_name(const autocert_cert *c);
AUTOCERT_API const char *autocert_cert_subject(const autocert_cert *c);
AUTOCERT_API int64_t autocert_cert_not_before(const autocert_cert *c);
AUTOCERT_API int64_t autocert_cert_not_after(const autocert_cert *c);
AUTOCERT_API size_t autocert_cert_name_count(const autocert_cert *c);
AUTOCERT_API const char *autocert_cert_name(const autocert_cert *c, size_t i);
AUTOCERT_API size_t autocert_cert_chain_count(const autocert_cert *c);
AUTOCERT_API int autocert_cert_chain_der(const autocert_cert *c, size_t i,
                                         const unsigned char **der, size_t *len);
AUTOCERT_API int autocert_cert_key_der(const autocert_cert *c, const unsigned char **der,
                                       size_t *len);

/* OCSP stapling. While the engine runs (autocert_manager_start), every served
 * certificate whose leaf names an OCSP responder (Authority Information
 * Access) and whose issuer is in its chain is kept stapled: a background
 * thread fetches the response, checks it (successful, signed by the issuer
 * or its delegated responder, about this certificate, status good,
 * thisUpdate not in the future, nextUpdate in the future) and refreshes it
 * at half its validity (thisUpdate..nextUpdate), retrying with backoff on
 * failure. A response is served until its nextUpdate and never after. A
 * certificate without an OCSP URL causes no request (Let's Encrypt's since
 * 2025). `ocsp_stapling: false` (top level or per set) turns it off.
 *
 * autocert_cert_ocsp_copy copies c's current staple (the DER OCSPResponse,
 * exactly as the responder sent it) into a new buffer from alloc (e.g. a
 * wrapper of OPENSSL_malloc, or malloc: free it with the matching free) and
 * returns its length, or 0 when there is none now (no OCSP URL, not fetched
 * yet, past its nextUpdate, stapling off, or alloc failed; *der is then
 * NULL). Thread-safe, no I/O: for a handshake. The GnuTLS adapter staples it
 * itself. */
AUTOCERT_API size_t autocert_cert_ocsp_copy(const autocert_cert *c, void *(*alloc)(size_t),
                                            unsigned char **der);

/* ==== the renewal engine and one-off operations ========================== */

/* Orders that run at once, per manager, by default (the configuration's
 * autocert.max_concurrent_orders, 1 .. 256, replaces it): the engine's
 * worker threads are created on demand up to that many, for the engine's
 * renewals and the one-off operations alike (more orders wait for a free
 * worker; due renewals wait in order of NotAfter). */
#define AUTOCERT_MAX_CONCURRENT_ORDERS 8

/* Starts the renewal engine (library threads): obtains what is missing, then
 * keeps every managed set renewed (ARI, backoff, cooldowns, events) until
 * autocert_manager_stop. Call autocert_manager_load first (what is on disk is
 * served at once and not ordered again). Sets of provider selfsigned get a
 * 365-day self-signed pair written to their files before it returns when
 * theirs is missing, expired or lacks a configured name (blocks on key
 * generation and file I/O then), and again when it expires; each one's
 * SHA-256 fingerprint is logged. Idempotent. Returns 0 or -1 with err. */
AUTOCERT_API int autocert_manager_start(autocert_manager *m, autocert_error *err);

/* Stops the engine: running orders are cancelled (a commit that reached its
 * commit point completes, so the pair on disk is always a whole one; TXT
 * records are removed), callers waiting in obtain/renew/revoke return
 * AUTOCERT_E_CANCELLED, queued events are delivered (bounded). Returns within
 * a few seconds. The engine can be started again. Blocks: joins the threads. */
AUTOCERT_API void autocert_manager_stop(autocert_manager *m);

/* Progress of an operation: notes ("order created", "waiting for DNS
 * propagation" ...) and one result per selected set (err NULL: success).
 * Strings and err are borrowed for the duration of the call. Called from
 * library threads, serialised per operation; must not call back into the
 * same operation. Either callback may be NULL. */
typedef struct autocert_progress {
    void (*note)(void *arg, const char *set, const char *message);
    void (*result)(void *arg, const char *set, const autocert_error *err);
    void *arg;
} autocert_progress;

/* Flags for autocert_manager_obtain. */
#define AUTOCERT_OBTAIN_FORCE 1u /* also sets that already hold a valid certificate */

/* One-off operations (obtain, renew, revoke) run on the engine's workers
 * whether or not the engine was started. When it was not (a command-line
 * tool, which exits next), each also waits - at most 75 s - until the events
 * it caused were delivered: hooks.deploy, notify.webhook and the host's
 * callback. */

/* Obtains the certificate of every selected set that has none (or one that
 * is not valid for its domains), several sets at once, and waits
 * (GoDoxy's ObtainCertIfNotExistsAll). selectors: n set names or domains
 * (autocert_manager_find), or n = 0 for every set. local, pseudo and
 * selfsigned sets are skipped (the engine writes a selfsigned set's pair at
 * autocert_manager_start and when it expires) (a selected one is an error naming its provider).
 * Works whether or not the engine runs (it uses the same workers). Returns 0 when every selected
 * set holds a certificate afterwards, -1 otherwise (err: the first failure; a selector that matches
 * nothing fails before anything starts). Blocks until done or autocert_manager_stop. */
AUTOCERT_API int autocert_manager_obtain(autocert_manager *m, const char *const *selectors,
                                         size_t n, unsigned flags, const autocert_progress *p,
                                         autocert_error *err);

/* Forced renewal of the set `selector` selects, or every set (NULL): skips
 * cooldowns and backoff (never the CA's Retry-After); local and selfsigned
 * sets re-read their files, pseudo sets complete at once. A request for a set whose forced
 * renewal already runs joins it (same outcome, progress from then on).
 * Returns 0 when every selected set succeeded, -1 otherwise.
 * Blocks until done or autocert_manager_stop. */
AUTOCERT_API int autocert_manager_renew(autocert_manager *m, const char *selector,
                                        const autocert_progress *p, autocert_error *err);

/* Revokes the certificate of exactly one set at its CA (reason: an RFC 5280
 * code 0..10, or -1 to omit) and obtains a new one. Returns 0 or -1.
 * Blocks until done or autocert_manager_stop. */
AUTOCERT_API int autocert_manager_revoke(autocert_manager *m, const char *selector, int reason,
                                         const autocert_progress *p, autocert_error *err);

/* RFC 5280 revocation reason by number "0".."10" or name ("keyCompromise",
 * "superseded" ...); -1 for NULL or "", -2 when unknown. */
AUTOCERT_API int autocert_revocation_reason(const char *s);

/* ==== status ============================================================= */

enum autocert_state {
    /* no certificate yet; since stand-ins, a set that asks a CA is
     * BOOTSTRAP instead until its first certificate */
    AUTOCERT_STATE_PENDING = 0,
    AUTOCERT_STATE_VALID,
    AUTOCERT_STATE_DUE,      /* past its renewal moment, attempt imminent */
    AUTOCERT_STATE_RENEWING, /* an order is running */
    AUTOCERT_STATE_BACKOFF,  /* the last attempt failed; next attempt scheduled */
    AUTOCERT_STATE_EXPIRED,
    AUTOCERT_STATE_UNMANAGED, /* local, pseudo, selfsigned */
    /* a set that asks a CA and holds no certificate yet (first start, CA
     * down, issuance failing): handshakes for its names get its self-signed
     * stand-in (autocert_manager_lookup). Also after failed attempts
     * (instead of BACKOFF: failures, last_error and next_attempt say how
     * the orders go); RENEWING while an order runs.
     * Added after UNMANAGED so that the other values keep theirs. */
    AUTOCERT_STATE_BOOTSTRAP,
};
/* "pending", "valid", ... as the admin API spells them; "unknown" otherwise. */
AUTOCERT_API const char *autocert_state_name(enum autocert_state s);

/* A copy of one set's status (autocert_manager_status); release with
 * autocert_status_clear. Times are Unix seconds, 0 when none. A stand-in
 * (autocert_manager_lookup) is never the set's certificate here: such a set
 * has has_cert false, no not_after, and the state AUTOCERT_STATE_BOOTSTRAP. */
typedef struct autocert_status {
    char name[72]; /* "main", "extra[1]", a run-time name */
    char provider[64];
    enum autocert_state state;
    char **domains; /* configured domains */
    size_t domain_count;
    bool has_cert;
    /* the certificate served (valid when has_cert) */
    char subject[256]; /* leaf CN */
    char issuer[256];  /* issuer CN */
    int64_t not_before, not_after;
    char serial[80];   /* lowercase hex */
    char key_type[16]; /* "EC256", "RSA2048" ... */
    char **dns_names;
    size_t dns_count;
    char **email_addresses;
    size_t email_count;
    char cert_path[4096];
    /* the engine */
    int64_t renews_at;
    int64_t next_attempt;
    int failures;              /* consecutive */
    autocert_error last_error; /* kind "" when none */
    int64_t last_error_at;
    int64_t last_success;
    /* OCSP stapling of the certificate served (autocert_cert_ocsp_copy):
     * ocsp_state "none" (no OCSP URL: nothing is asked), "off"
     * (ocsp_stapling: false), "idle" (the engine is not running), "pending"
     * (not fetched yet), "good" (a staple is served), "expired" (the staple
     * passed its nextUpdate), "error" (none served; ocsp_error says why);
     * "" without a certificate. ocsp_next_update: the staple's nextUpdate
     * (when it stops being served), 0 when none. ocsp_error: the last
     * fetch's failure ("" after a success; may be set beside "good" when a
     * refresh failed and the older staple is still served). */
    char ocsp_state[16];
    int64_t ocsp_this_update, ocsp_next_update;
    char ocsp_error[256];
    /* Why a due renewal has not started yet: "budget" (the renewal budget of
     * its CA account, autocert.acme_limits; it may start at waiting_until),
     * "slot" (autocert.max_concurrent_orders orders run already), or "". */
    char waiting[16];
    int64_t waiting_until; /* Unix seconds; 0 when unknown */
    /* With a shared store (store.url): the node holding the set's lease now
     * (ordering or importing), as the store last reported it (its heartbeat,
     * every lease_ttl/3; never a wait on the database); "" when none, and
     * always with the file store. */
    char lease_holder[160];
} autocert_status;

/* Fills *out with a copy of set idx's status. Returns 0, or -1 when idx is
 * out of range. */
AUTOCERT_API int autocert_manager_status(autocert_manager *m, size_t idx, autocert_status *out);
AUTOCERT_API void autocert_status_clear(autocert_status *st);

/* ==== the store ============================================================ */

/* Where the sets' certificates, keys, state and leases live: the files
 * (default) or, with `store: url:`, PostgreSQL shared by a fleet of nodes
 * (README "A fleet of gateways"). The manager opens the store when it is made
 * and never waits for the database: while it is unreachable the files (a
 * local cache written after every commit) are served and no order is placed.
 * backend: "files" or "postgresql"; up: the database is reachable and
 * accepted this node (always true for files); node_id: this node's name in
 * the fleet ("" for files); detail: "connected", "connecting: <reason>",
 * "refused: <reason>" (e.g. a wrong encryption_key), never a secret. */
typedef struct autocert_store_info {
    char backend[16];
    bool up;
    char node_id[160];
    char detail[256];
} autocert_store_info;
AUTOCERT_API int autocert_manager_store_info(autocert_manager *m, autocert_store_info *out);

/* Administration of the PostgreSQL store named by c's store: section (the
 * CLI's `autocert store ...`). Each opens its own connection (waiting at most
 * 15 s for it), is synchronous and holds no manager. Errors: AUTOCERT_E_CONFIG
 * without store.url or with a bad encryption_key, "store.down" (unreachable),
 * "store.key" (the key does not open this database), "store.schema".
 *   migrate_schema: creates or migrates the schema and does nothing else (run
 *     it with an owner role; nodes may then run with DML-only grants);
 *   rekey: re-encrypts every encrypted value (certificate keys, account keys,
 *     the key-check value) from store.encryption_key to new_key (base64 of 32
 *     bytes) in one transaction: all or nothing; then put new_key in the
 *     configuration of every node;
 *   copy: every set of c (not run-time sets) from the files to the database
 *     (to_db) or back: the pair when the destination holds none or an older
 *     one (the newest NotAfter wins), the scheduler state, the failure marker,
 *     each under the set's lease. ACME account keys are not copied: the
 *     database creates its own at the first order. p (may be NULL) gets one
 *     note per set. */
AUTOCERT_API int autocert_store_migrate_schema(const autocert_config *c, autocert_error *err);
AUTOCERT_API int autocert_store_rekey(const autocert_config *c, const char *new_key,
                                      autocert_error *err);
AUTOCERT_API int autocert_store_copy(const autocert_config *c, bool to_db,
                                     const autocert_progress *p, autocert_error *err);

/* ==== http-01 challenges and the HTTP-to-HTTPS redirect ================== */

/* Sets with provider: acme and challenge: http-01 are validated by the CA
 * fetching http://<name>/.well-known/acme-challenge/<token> (RFC 8555 §8.3;
 * for an IP address http://<address>/..., RFC 8738). The manager keeps the
 * answers of its pending challenges; they are reachable two ways:
 *   - a host with its own HTTP server on port 80 asks autocert_http01_answer
 *     for every request whose path begins with AUTOCERT_HTTP01_PREFIX, and
 *     may send everything else to autocert_http_redirect (no second listener);
 *   - or the library's own responder, autocert_http_start (what `autocert
 *     serve` runs on serve.http_listen). */

#define AUTOCERT_HTTP01_PREFIX "/.well-known/acme-challenge/"

/* The answer for an http-01 request: path is the request path (without the
 * query), e.g. "/.well-known/acme-challenge/<token>". When the token is
 * pending, copies its key authorization (NUL-terminated) into buf (n bytes)
 * and returns its length: send it as the 200 body (Content-Type:
 * application/octet-stream). Returns -1 when path is not a challenge path,
 * the token is not [A-Za-z0-9_-]{22,128}, or it is not pending (answer 404),
 * also when buf is too small (AUTOCERT_HTTP01_ANSWER_MAX is always enough).
 * Never blocks (a lookup under a short lock); thread-safe. */
#define AUTOCERT_HTTP01_ANSWER_MAX 257
AUTOCERT_API int autocert_http01_answer(autocert_manager *m, const char *path, char *buf, size_t n);

/* What the responder answers a request that is not a challenge: host is the
 * Host header's value (NULL when absent), target the request target as
 * received (path and query, e.g. "/a/b?c=d"). When some set covers the host
 * (its port stripped; exact names and wildcards as in SNI selection, IP
 * addresses compared as addresses), writes the HTTPS URL with the same host
 * (IPv6 brackets kept) and target into buf (n bytes) and returns 308 (send
 * it as Location). The URL's port is serve.https_port when set, else
 * serve.listen's port when that is not 443, else none. Returns 400 (no or a
 * malformed Host, a target that does not begin with '/', or buf too small),
 * or 404 (a host no set covers: never redirected, so the responder is no open
 * redirect). Never blocks; thread-safe. */
AUTOCERT_API int autocert_http_redirect(autocert_manager *m, const char *host, const char *target,
                                        char *buf, size_t n);

typedef struct autocert_http autocert_http;

/* Starts the library's plain-HTTP responder (libmicrohttpd, library threads)
 * on `listen` ("host:port" or "[v6]:port" with an IP host; NULL: the
 * configuration's serve.http_listen; port 0 picks a free one). It answers
 * GET and HEAD of pending challenge paths (autocert_http01_answer; 404
 * otherwise) and redirects every other request as autocert_http_redirect
 * says; it never serves a file. Limits (each answered or closed, never
 * queued without bound): AUTOCERT_HTTP_CONN_MAX connections (beyond: 503),
 * AUTOCERT_HTTP_CONN_PER_IP per client address (beyond: 503), the request
 * line and headers within AUTOCERT_HTTP_HEADER_MAX bytes (beyond: 431) and
 * within AUTOCERT_HTTP_DEADLINE_MS of the connection or of the previous
 * answer (then 408 and closed), AUTOCERT_HTTP_IDLE_S without traffic closes
 * it. m must outlive the responder. Returns 0 and a new responder
 * (autocert_http_stop), or -1 with err ("serve.http_listen 0.0.0.0:80:
 * permission denied"). */
#define AUTOCERT_HTTP_CONN_MAX 512
#define AUTOCERT_HTTP_CONN_PER_IP 32
#define AUTOCERT_HTTP_HEADER_MAX 8192
#define AUTOCERT_HTTP_DEADLINE_MS 10000
#define AUTOCERT_HTTP_IDLE_S 15
AUTOCERT_API int autocert_http_start(autocert_manager *m, const char *listen, autocert_http **out,
                                     autocert_error *err);
/* The bound port (0 for NULL). */
AUTOCERT_API int autocert_http_port(const autocert_http *h);
/* Stops accepting, closes every connection and frees h (NULL is fine).
 * Blocks until the responder's threads are gone (at most about a second). */
AUTOCERT_API void autocert_http_stop(autocert_http *h);

/* ==== events ============================================================= */

enum autocert_event_type {
    AUTOCERT_EVENT_OBTAINED = 0, /* first certificate of a set committed */
    AUTOCERT_EVENT_RENEWED,      /* a set's certificate replaced by a new one */
    AUTOCERT_EVENT_FAILED,       /* an attempt failed (error set) */
    AUTOCERT_EVENT_EXPIRING,     /* less than min(7 days, lifetime/5) left */
    AUTOCERT_EVENT_CHANGED,      /* the certificates served changed (any set) */
};
/* "obtained", "renewed", "failed", "expiring", "changed". */
AUTOCERT_API const char *autocert_event_name(enum autocert_event_type t);

typedef struct autocert_event {
    enum autocert_event_type type;
    const char *set; /* NULL for CHANGED */
    const char *const *domains;
    size_t domain_count;
    int64_t not_after; /* of the new/current certificate, 0 unknown */
    int64_t time;
    const autocert_error *error; /* FAILED only, else NULL */
} autocert_event;

/* Calls fn for every event from now on (fn NULL removes it), from one library
 * thread, in order; everything in *ev is borrowed for the call. fn must not
 * call autocert_manager_stop/free. hooks.deploy and notify.webhook of the
 * configuration are delivered independently of this callback. */
AUTOCERT_API void autocert_manager_on_event(autocert_manager *m,
                                            void (*fn)(void *arg, const autocert_event *ev),
                                            void *arg);

/* A file descriptor that becomes readable when the certificates served
 * changed (for hosts that run an event loop: poll it, then call
 * autocert_manager_changed_ack to read the count and re-arm). Owned by m;
 * -1 when it cannot be made. */
AUTOCERT_API int autocert_manager_changed_fd(autocert_manager *m);
/* Drains the fd; returns how many changes happened since the last ack. */
AUTOCERT_API uint64_t autocert_manager_changed_ack(autocert_manager *m);

#ifdef __cplusplus
}
#endif

#endif
