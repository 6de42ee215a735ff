/*
 * autocert.h - the public API of libautocert for gateways that embed it.
 *
 * A manager holds the certificate sets of one configuration file (main first,
 * then the extras in config order), loads each set's certificate chain and key
 * from disk, and answers "which certificate for this SNI name?" from an
 * immutable snapshot that is replaced whenever any set's certificate changes.
 *
 * The answer is a reference-counted certificate handle. Taking a reference is
 * an atomic increment (no allocation, no lock); the handle and everything its
 * accessors return stay valid until the last reference is released, even when
 * the set's certificate has been replaced meanwhile.
 *
 * Thread-safety: autocert_manager_lookup, autocert_cert_* are safe from any
 * number of threads at once, also while another thread reloads. Load and reload
 * calls are serialised internally. autocert_manager_free must not race with
 * anything else on the same manager.
 *
 * Typical use with GnuTLS: see autocert_gnutls.h and examples/gateway.c.
 */
#ifndef AUTOCERT_AUTOCERT_H
#define AUTOCERT_AUTOCERT_H

#include <stddef.h>
#include <stdint.h>

/* Marks the library's exported functions (the shared library exports nothing
 * else). */
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

/* Creates a manager from the YAML file at config_path (config_load). No
 * certificate is read yet: call autocert_manager_load. Returns 0 and a new
 * manager in *out (free with autocert_manager_free), or -1 with a one-line
 * message in err (first configuration error and the number of others; err may
 * be NULL). Never puts secrets in err. */
AUTOCERT_API int autocert_manager_new(const char *config_path, autocert_manager **out, char *err,
                         size_t errlen);

/* Loads every set's pair from disk (after recovering a half-done commit),
 * rebuilds the SNI index and publishes it. A set whose files are missing holds
 * no certificate; a set whose files are unreadable or mismatched logs the
 * reason and holds no certificate (other sets are unaffected). Returns the
 * number of sets that hold a certificate afterwards. */
AUTOCERT_API int autocert_manager_load(autocert_manager *m);

/* Re-reads every set's files. A set whose files changed and are valid gets the
 * new certificate; a set whose new files are missing or broken keeps serving
 * the certificate already in memory (logged). Publishes a new snapshot only when
 * something changed. Returns the number of sets whose certificate changed, or
 * -1 on an allocation failure (the previous snapshot stays published). */
AUTOCERT_API int autocert_manager_reload(autocert_manager *m);

/* Frees the manager (NULL is fine). Handles still referenced by callers stay
 * valid until released. */
AUTOCERT_API void autocert_manager_free(autocert_manager *m);

/* Number of sets (main + extras) in the configuration. */
AUTOCERT_API size_t autocert_manager_set_count(const autocert_manager *m);

/* Chooses the certificate for a TLS server name (DESIGN.md §5.2): the name is
 * normalised (trim, one trailing dot dropped, lowercase); an exact name of any
 * set beats any wildcard; "*.x.y" covers exactly one more label; ties go to the
 * first set; no SNI (NULL, len 0, or a name that normalises to nothing) or no
 * match gives main's certificate. Returns a new reference (release with
 * autocert_cert_release), or NULL when main holds no certificate - then the
 * handshake must fail, even when an extra matches. Does not allocate, takes no
 * lock across I/O; server_name need not be NUL-terminated. */
AUTOCERT_API autocert_cert *autocert_manager_lookup(autocert_manager *m, const char *server_name,
                                       size_t len);

/* Takes one more reference (atomic increment). Returns c. NULL is fine. */
AUTOCERT_API autocert_cert *autocert_cert_acquire(autocert_cert *c);
/* Drops one reference; the last one frees the handle. NULL is fine. */
AUTOCERT_API void autocert_cert_release(autocert_cert *c);

/* Accessors. Everything returned is borrowed from the handle: valid while the
 * caller holds a reference, never to be freed or modified. */

/* Name of the set the certificate belongs to: "main", "extra[1]", ... */
AUTOCERT_API const char *autocert_cert_set_name(const autocert_cert *c);
/* Subject CN of the leaf ("" when it has none). */
AUTOCERT_API const char *autocert_cert_subject(const autocert_cert *c);
/* Validity of the leaf, Unix seconds. */
AUTOCERT_API int64_t autocert_cert_not_before(const autocert_cert *c);
AUTOCERT_API int64_t autocert_cert_not_after(const autocert_cert *c);
/* The names the certificate is selected by: the CN (when not empty) followed by
 * the DNS SANs, each once, as written in the certificate. */
AUTOCERT_API size_t autocert_cert_name_count(const autocert_cert *c);
AUTOCERT_API const char *autocert_cert_name(const autocert_cert *c, size_t i); /* NULL if out of range */
/* The chain, leaf first: count, then the DER of certificate i. Returns 0, or -1
 * when i is out of range. */
AUTOCERT_API size_t autocert_cert_chain_count(const autocert_cert *c);
AUTOCERT_API int autocert_cert_chain_der(const autocert_cert *c, size_t i, const unsigned char **der,
                            size_t *len);
/* The private key as unencrypted PKCS#8 DER. Secret: never log it. */
AUTOCERT_API int autocert_cert_key_der(const autocert_cert *c, const unsigned char **der, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
