/*
 * manager.h - internal side of the certificate-set manager (public side:
 * include/autocert/autocert.h).
 *
 * A manager holds an array of set objects (set.h; 0 = main, then extras in
 * configuration order), its current configuration (reference-counted: the
 * top-level settings), the published snapshot that handshakes read, and its
 * renewal engine (lifecycle.h). The snapshot holds, besides the SNI index of
 * the certificates served, a reference to every set and the selector index
 * (autocert_manager_find), so that index-based readers (status, the admin
 * API) see one consistent array.
 *
 * Thread-safety: as in autocert.h. Every write (load, reload, per-set reload,
 * replace, reload_config) is serialised by one internal mutex; readers never
 * wait for a write that does I/O.
 */
#ifndef AUTOCERT_MANAGER_H
#define AUTOCERT_MANAGER_H

#include <stdbool.h>
#include <stddef.h>

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"

struct acset;
struct lifecycle;
struct challenge_table;

/* Like autocert_manager_new but from an already loaded configuration. Takes
 * ownership of cfg (one reference; also on failure). Returns 0 and a new
 * manager, or -1 with a message in err (may be NULL). */
int autocert_manager_new_from_config(struct config *cfg, autocert_manager **out, char *err,
                                     size_t errlen);

/* The configuration: borrowed, valid until the next reload_config (then a
 * caller that keeps using it must hold a reference: manager_config_ref). */
const struct config *manager_config(const autocert_manager *m);
/* A new reference to the current configuration (config_free it). */
struct config *manager_config_ref(autocert_manager *m);
struct challenge_table;
/* The manager's table of pending http-01 / tls-alpn-01 answers (challenge.h;
 * owned by m, lives as long as m). Thread-safe like the table itself. */
struct challenge_table *manager_challenges(struct autocert_manager *m);

/* The store (manager_store.c): opened with the manager from cfg->store (the
 * file store, or PostgreSQL with store.url; never waits for the database),
 * closed before the engine goes. */
struct storage;
int manager_store_open(autocert_manager *m, const struct config *cfg, struct ac_error *e);
void manager_store_close(autocert_manager *m);
/* Borrowed; never NULL once m is made. */
struct storage *manager_store(autocert_manager *m);
int manager_lease_ttl(const autocert_manager *m);
/* "" with the file store. */
const char *manager_node_id(const autocert_manager *m);
/* A reload's new configuration: a changed store: section is logged (it
 * takes effect at the next start). */
void manager_store_check_reload(const struct config *old, const struct config *cfg);
/* The renewal engine (owned by m). */
/* Starts the OCSP fetcher (ocsp.h) on the current snapshot; part of
 * autocert_manager_start. Returns 0 or -1 with e. */
int manager_ocsp_start(autocert_manager *m, struct ac_error *e);
/* Stops it (joins); part of autocert_manager_stop. */
void manager_ocsp_stop(autocert_manager *m);
struct lifecycle *manager_engine(autocert_manager *m);

/* Number of sets; same as autocert_manager_set_count. */
size_t manager_set_count(const autocert_manager *m);
/* Set idx of the current array: a new reference (acset_unref), or NULL when
 * idx is out of range. */
struct acset *manager_set_at(autocert_manager *m, size_t idx);
/* The current sets: a new array of new references in *out (n in *count);
 * release with manager_sets_free. Returns 0, or -1 on ENOMEM. */
int manager_sets(autocert_manager *m, struct acset ***out, size_t *count);
void manager_sets_free(struct acset **sets, size_t count);
/* "main", "extra[1]" ...: borrowed, valid until the next reload_config.
 * NULL if out of range. */
const char *manager_set_name(const autocert_manager *m, size_t idx);
/* The set's configuration; borrowed as manager_set_name. NULL if out of range. */
const struct config_set *manager_set_config(const autocert_manager *m, size_t idx);

/* The set's current certificate: a new reference (autocert_cert_release), or
 * NULL when the set holds none or idx is out of range. */
autocert_cert *manager_set_cert(autocert_manager *m, size_t idx);
/* The same for a set object (also one a reload removed). */
autocert_cert *manager_acset_cert(autocert_manager *m, struct acset *s);

/* Copies the set's last error into e: why its last load from disk failed
 * (the certificate in memory, if any, is kept), or a warning while the
 * certificate in service is outside its validity period and still served:
 * kind AC_ERR_CERT_EXPIRED ("cert.expired") or AC_ERR_CERT_NOT_YET_VALID
 * ("cert.not_yet_valid", NotBefore more than 5 minutes ahead), the message
 * naming the path and the date. Kind "" when the last load succeeded with a
 * certificate in its dates, or the files were simply absent. The warning is
 * re-evaluated at every load, reload and replace of the set. *at (may be
 * NULL) gets when it was recorded. */
void manager_set_last_error(autocert_manager *m, size_t idx, struct ac_error *e);
void manager_acset_last_error(autocert_manager *m, struct acset *s, struct ac_error *e,
                              int64_t *at);

/* Re-reads one set's pair from disk (store_pair_recover first). Valid new files
 * that differ from the certificate in memory replace it and a new snapshot is
 * published. Returns 1 when the certificate changed, 0 when unchanged (same
 * files, or files absent while a certificate is held), -1 when the files are
 * broken or idx is bad (e filled; the certificate in memory is kept). */
int manager_set_reload(autocert_manager *m, size_t idx, struct ac_error *e);
/* The same for a set object; a set a reload removed is re-read but nothing is
 * published. */
int manager_acset_reload(autocert_manager *m, struct acset *s, struct ac_error *e);
/* manager_acset_reload without the store's recovery (certset_read): for a
 * local set whose files a watch saw change. */
int manager_acset_reread(autocert_manager *m, struct acset *s, struct ac_error *e);

/* Publishes a pair held in memory (e.g. just issued and committed to disk) for
 * set idx: chain_pem is a PEM chain, leaf first; key is PEM or DER (PKCS#8,
 * PKCS#1, SEC1). The key must match the leaf. Copies the data. Returns 0, or -1
 * with e filled (nothing changes). */
int manager_set_replace(autocert_manager *m, size_t idx, const void *chain_pem, size_t chain_len,
                        const void *key, size_t key_len, struct ac_error *e);

/* Serves certificate c (a reference, taken) for set s from now on: the pair
 * just committed to its files. Returns 0, or -1 with e (c released; nothing
 * changes). */
int manager_acset_install(autocert_manager *m, struct acset *s, autocert_cert *c,
                          struct ac_error *e);

/* Called after a set's certificate changed and the new snapshot is published
 * (load, reload, replace). `cert` is borrowed for the duration of the call (NULL
 * when the set no longer holds one). Called with no manager lock held, from the
 * thread that made the change; it may call lookups but must not free m. */
typedef void (*manager_change_fn)(autocert_manager *m, size_t idx, const autocert_cert *cert,
                                  void *arg);
/* Installs (fn NULL removes) the hook. Set it before sharing m with threads. */
void manager_set_change_hook(autocert_manager *m, manager_change_fn fn, void *arg);

/* The selector of autocert_manager_find: the index of the set `selector`
 * names or covers, or -1 with e (AC_ERR_NO_MATCH "no set covers ..."). */
int manager_find(autocert_manager *m, const char *selector, size_t *idx, struct ac_error *e);

/* Applies configuration cfg (takes one reference, also on failure) in place:
 * sets matched by id (cert_path|key_path); an unchanged set is kept as it
 * is; a changed or new one is made and loaded from disk; removed ones leave
 * the array (the engine lets their running orders end). Returns 0, or -1
 * with e (nothing changed). */
int manager_apply_config(autocert_manager *m, struct config *cfg, struct ac_error *e);

/* Kind of "no set has that name / covers that domain". */
#define AC_ERR_NO_MATCH "select.no_match"

#endif
