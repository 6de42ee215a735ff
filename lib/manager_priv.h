/*
 * manager_priv.h - the manager's structure, shared by manager.c (snapshots,
 * loading, accessors) and manager_config.c (creation, configuration reload,
 * the selector). Not for other modules.
 */
#ifndef AUTOCERT_MANAGER_PRIV_H
#define AUTOCERT_MANAGER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "manager.h"
#include "set.h"
#include "sni.h"

struct challenge_table;

/* What readers see: immutable once published. */
struct snapshot {
    atomic_uint refs;
    struct sni_index *ix;   /* certificates' names -> position; NULL when none */
    struct sni_index *sel;  /* the selector: configured domains (certificate
                             * names for sets without any) -> position */
    struct sni_addrs addrs; /* certificates' IP SANs -> position (no SNI) */
    size_t count;
    struct acset **sets;    /* count references (into the same allocation) */
    autocert_cert *certs[]; /* one reference per set, or NULL */
};

struct autocert_manager {
    struct config *cfg;  /* a reference; replaced by reload_config */
    struct acset **sets; /* count references; guarded by write_lock */
    size_t count;
    pthread_mutex_t write_lock; /* serialises writers; may be held across I/O */
    /* only around "load m->snap + refs++", the swap, and reads/writes of
     * m->cfg and of each set's cert and load_error (never across I/O) */
    pthread_mutex_t snap_lock;
    struct snapshot *snap; /* never NULL */
    manager_change_fn hook;
    void *hook_arg;
    struct lifecycle *engine; /* owned */
    /* The http-01 / tls-alpn-01 answers pending now (owned; made with m,
     * freed with it): the issuer adds, the responder and the TLS adapters
     * read (manager_challenges). */
    struct challenge_table *challenges;
    /* The OCSP fetcher (owned; its thread runs between start and stop):
     * told of every published snapshot (manager_snap_publish). */
    struct ocsp_fetcher *ocsp;
    /* The store (owned; manager_store.c): made with m from cfg->store, kept
     * for m's life. node_id and lease_ttl_s: a shared store's. */
    struct storage *store;
    char node_id[160];
    int lease_ttl_s;
    /* The check of the keys a start-up load left unchecked
     * (manager_load.c, CERTSET_DEFER_KEY_CHECK): its thread runs from the
     * end of that load until it has been through every set, or until
     * stopped (a new load, autocert_manager_free). keycheck_mu guards
     * keycheck_running and the thread's start and join. */
    pthread_mutex_t keycheck_mu;
    pthread_t keycheck_thread;
    bool keycheck_running;
    atomic_bool keycheck_stop;
};

struct snapshot *manager_snap_get(autocert_manager *m);
void manager_snap_put(struct snapshot *s);
/* Builds and publishes a snapshot of m->sets. Caller holds write_lock.
 * Returns 0, or -1 on ENOMEM (the old one stays). */
int manager_snap_publish(autocert_manager *m);
/* Re-reads set s (manager_acset_reload's core). drop_absent: absent files
 * drop the certificate in memory (load) instead of keeping it (reload).
 * Caller holds write_lock. Returns 1 changed, 0 unchanged, -1 broken files
 * (certificate kept, e filled). */
int manager_refresh_locked(autocert_manager *m, struct acset *s, bool drop_absent,
                           struct ac_error *e);
/* A set's load within a batch (start-up, a reload's new sets): drops an
 * absent certificate, lists directories through scan (NULL: per set), logs
 * the per-set info lines at debug level unless verbose. write_lock held.
 * Returns as manager_refresh_locked (failures are logged). */
struct store_scan;
int manager_refresh_batch_locked(autocert_manager *m, struct acset *s, struct store_scan *scan,
                                 bool verbose);
/* After a change was published: the change hook for each set marked in
 * changed[0..n) (positions of the array then), and the engine's change
 * notification. No lock held. */
void manager_notify(autocert_manager *m, const bool *changed, size_t n);
/* Stops and joins the deferred key check, if it runs. No lock held. */
void manager_keycheck_stop(autocert_manager *m);

#endif
