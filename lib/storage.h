/*
 * storage.h - where a set's durable data lives (issue 14): the file store
 * (store.h's files, the default) or PostgreSQL (store_pg.c, `store.url`).
 *
 * One interface, two backends, one test suite (tests/unit/test_storage.c runs
 * the same cases against both). What a backend keeps, per set (a set's
 * identity is its 12-hex id, store_failure_marker_path's <h>: the first 6
 * bytes of SHA-256 over "cert_path|key_path" as written, never its position):
 *
 *   - the pair: PEM chain (leaf first) and PKCS#8 PEM key, with the names the
 *     set had when it was written and the leaf's NotAfter;
 *   - the scheduler state (a JSON object owned by the lifecycle);
 *   - the failure marker (GoDoxy's .last_failure-<h>, a Unix time);
 *   - the set's lease: who may order and write for it.
 *
 * and per store: ACME account keys (by acme_key_path as written), CA budgets
 * (by budget id, budget.h), and pending http-01 / tls-alpn-01 key
 * authorizations (so that any node of a fleet answers a challenge).
 *
 * Leases and fencing. storage_lease_acquire gives the caller the set for a
 * while: in the file store an flock on .lock-<h> (token 0, held until
 * released), in PostgreSQL a row whose expiry comes from the database's clock
 * (lease_ttl) and whose token grows with every grant. Every write of a set's
 * pair, state or marker passes the lease; the PostgreSQL store accepts it only
 * when the lease row still carries that token, checked in the same statement,
 * so a holder paused past its lease (SIGSTOP, GC, partition) whose lease was
 * granted to another node can no longer overwrite what the newer holder wrote:
 * the write fails with AC_ERR_FENCED and changes nothing.
 *
 * Thread-safety: every operation may be called from any thread at once; a
 * backend serialises what it must. Blocking: the file store does file I/O;
 * the PostgreSQL store does network I/O bounded by its timeouts (statement
 * timeout, connect timeout) and never waits for a connection: while the
 * database is unreachable operations fail at once with AC_ERR_STORE_DOWN.
 * Nothing here is called on the TLS handshake path.
 *
 * Errors: 0 on success, -1 with e filled (e may be NULL). Secrets (keys, the
 * connection URL's password, the encryption key) never appear in messages.
 */
#ifndef AUTOCERT_STORAGE_H
#define AUTOCERT_STORAGE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "error.h"

/* Kinds of error particular to storage (others: AC_ERR_IO, AC_ERR_NOT_FOUND,
 * AUTOCERT_E_LOCKED "store.locked" when another process/node holds a lease). */
#define AC_ERR_FENCED "store.fenced"         /* the lease was granted to another holder */
#define AC_ERR_STORE_DOWN "store.down"       /* the database cannot be reached now */
#define AC_ERR_STORE_KEY "store.key"         /* wrong encryption_key for this database */
#define AC_ERR_STORE_SCHEMA "store.schema"   /* schema newer than this build, or missing */
#define AC_ERR_STORE_CORRUPT "store.corrupt" /* a row that cannot be decrypted or parsed */
#define AC_ERR_STORE_DENIED "store.denied"   /* the database role lacks a privilege (grants) */

/* One set as the store sees it. All pointers borrowed. */
struct storage_ref {
    char id[13];           /* 12 lowercase hex + NUL: storage_ref_init fills it */
    const char *name;      /* "main", "extra3", a run-time name (logs only) */
    const char *cert_path; /* as written in the configuration */
    const char *key_path;
    const char *const *names; /* the set's domains as configured */
    size_t names_count;
};

/* Fills ref (id computed from cert_path and key_path). */
void storage_ref_init(struct storage_ref *ref, const char *name, const char *cert_path,
                      const char *key_path, const char *const *names, size_t names_count);

/* A configured name in the form both stores compare names in: lowercase,
 * no trailing dot, an IP literal as inet_ntop writes it; into out (n bytes,
 * truncated to fit). */
void storage_name_canon(const char *in, char *out, size_t n);

/* A held lease. */
struct storage_lease {
    char id[13];
    int64_t token; /* fencing token; 0 in the file store */
    void *backend; /* backend's own (the file store's struct store_lock) */
};

/* A stored pair (storage_pair_clear frees it, wiping the key). */
struct storage_pair {
    char *chain; /* PEM, NUL-terminated, or NULL: no pair stored */
    size_t chain_len;
    char *key; /* PKCS#8 PEM, NUL-terminated */
    size_t key_len;
    int64_t not_after; /* the leaf's NotAfter (Unix seconds), 0 when unknown */
    int64_t token;     /* the lease token it was written with (0: files) */
    bool names_differ; /* the row was written for other names than ref's:
                        * never serve it for ref; treat as "names changed" */
};
void storage_pair_clear(struct storage_pair *p);

/* Pending challenge kinds. */
enum storage_challenge_kind {
    STORAGE_CH_HTTP01 = 1, /* key: the token */
    STORAGE_CH_ALPN01 = 2, /* key: the identifier (lowercase name or IP) */
};

/* Events a backend reports (PostgreSQL: LISTEN/NOTIFY; the file store none). */
enum storage_event {
    STORAGE_EV_PAIR = 1,      /* id: a set id whose pair or state another node committed */
    STORAGE_EV_CHALLENGE = 2, /* a challenge was added or removed: kind, key */
    STORAGE_EV_RESYNC = 3,    /* (re)connected: events may have been missed; re-read all */
    STORAGE_EV_DOWN = 4,      /* the connection was lost */
};
/* Called on the backend's own thread; must not call storage_free. For
 * STORAGE_EV_CHALLENGE, key_auth is the key authorization when one was added
 * (NULL when removed). */
typedef void (*storage_event_fn)(void *arg, enum storage_event ev, const char *id,
                                 enum storage_challenge_kind kind, const char *key,
                                 const char *key_auth);

struct storage;

struct storage_ops {
    const char *name; /* "files", "postgresql" */
    void (*free)(struct storage *st);

    /* Leases. acquire: AUTOCERT_E_LOCKED when another process or node holds
     * the set (message names the holder: pid, or node id), *out a new lease
     * otherwise. renew: extends it (PostgreSQL: expiry = now() + lease_ttl);
     * AC_ERR_FENCED when it was granted to someone else meanwhile (a lease
     * that expired but was not granted again is renewed). release: frees the
     * lease (NULL does nothing); the row's token is kept so later tokens grow. */
    int (*lease_acquire)(struct storage *st, const struct storage_ref *ref,
                         struct storage_lease **out, struct ac_error *e);
    int (*lease_renew)(struct storage *st, struct storage_lease *lease, struct ac_error *e);
    void (*lease_release)(struct storage *st, struct storage_lease *lease);
    /* The node id holding a live lease on ref into buf ("" when none),
     * without waiting on the network: PostgreSQL answers from what its
     * heartbeat read (every lease_ttl/3) and this node's own grants. */
    int (*lease_holder)(struct storage *st, const struct storage_ref *ref, char *buf, size_t n,
                        struct ac_error *e);

    /* The set's pair. get: *out zeroed then filled; chain NULL when none is
     * stored. put: fenced by lease (required); stores chain and key (the
     * PostgreSQL store encrypts the key, AES-256-GCM, associated data
     * "<id>|key"), ref's names and not_after; notifies the other nodes. */
    int (*pair_get)(struct storage *st, const struct storage_ref *ref, struct storage_pair *out,
                    struct ac_error *e);
    int (*pair_put)(struct storage *st, const struct storage_lease *lease,
                    const struct storage_ref *ref, const char *chain, size_t chain_len,
                    const char *key, size_t key_len, int64_t not_after, struct ac_error *e);

    /* Scheduler state. get: *out NULL when none. put: lease NULL is allowed
     * (the state is also written outside orders); then the PostgreSQL store
     * refuses (AC_ERR_FENCED) only while another holder's lease is live. */
    int (*state_get)(struct storage *st, const struct storage_ref *ref, json_object **out,
                     struct ac_error *e);
    int (*state_put)(struct storage *st, const struct storage_lease *lease,
                     const struct storage_ref *ref, json_object *state, struct ac_error *e);

    /* Failure marker: get returns 0 with *t, or -1 when none (no error).
     * put/clear are fenced by lease (required). */
    int (*failure_get)(struct storage *st, const struct storage_ref *ref, int64_t *t);
    int (*failure_put)(struct storage *st, const struct storage_lease *lease,
                       const struct storage_ref *ref, int64_t t, struct ac_error *e);
    int (*failure_clear)(struct storage *st, const struct storage_lease *lease,
                         const struct storage_ref *ref, struct ac_error *e);

    /* ACME account key named by path (as written in the configuration):
     * loaded, or created once (EC P-256) when the store has none; two nodes
     * creating at once end up with the same key. *created says which. */
    int (*account_key_load)(struct storage *st, const char *path, struct crypto_key **out,
                            bool *created, struct ac_error *e);

    /* Budget state (budget.h's JSON text). path: the budget's state file
     * (budget_state_path); the file store reads and writes that file, the
     * PostgreSQL store keys its row by the file's basename without the
     * ".budget-" prefix and ".json" suffix (".budget-<h>.json" -> "<h>").
     * update: reads the stored text (NULL when none) under a lock that
     * excludes other updaters (files: an flock on "<path>.lock"; PostgreSQL:
     * the row locked in one transaction, all nodes), calls merge(stored, arg)
     * which returns the new text (malloc'd; NULL = leave it), writes it
     * (files: atomic, 0600). merge runs with the store's lock held: it must
     * not call the store. */
    int (*budget_update)(struct storage *st, const char *path,
                         char *(*merge)(const char *stored, void *arg), void *arg,
                         struct ac_error *e);

    /* Pending challenges (the file store keeps none: one node). put: stores
     * the key authorization until expires_at (Unix s) and notifies the other
     * nodes; get: *key_auth new malloc'd string, or AC_ERR_NOT_FOUND; del:
     * removes it. wait_acks: waits until every node seen within the last
     * lease interval has acknowledged (storage_ops.challenge_ack) every
     * challenge in keys, or timeout_ms passed; returns the number of nodes
     * that had not acknowledged (0: all; -1: the store could not be read). */
    int (*challenge_put)(struct storage *st, enum storage_challenge_kind kind, const char *key,
                         const char *key_auth, int64_t expires_at, struct ac_error *e);
    int (*challenge_get)(struct storage *st, enum storage_challenge_kind kind, const char *key,
                         char **key_auth, struct ac_error *e);
    int (*challenge_del)(struct storage *st, enum storage_challenge_kind kind, const char *key,
                         struct ac_error *e);
    int (*challenge_ack)(struct storage *st, enum storage_challenge_kind kind, const char *key,
                         struct ac_error *e);
    int (*challenge_wait_acks)(struct storage *st, enum storage_challenge_kind kind,
                               const char *const *keys, size_t n, int timeout_ms);

    /* Events (NULL fn: none). Set once, before the store is used. */
    void (*set_listener)(struct storage *st, storage_event_fn fn, void *arg);
    /* True while the backend can reach its data (files: always). */
    bool (*is_up)(struct storage *st);
};

struct storage {
    const struct storage_ops *ops;
};

/* The file store (store.h). Never fails but on ENOMEM. */
int storage_files_new(struct storage **out, struct ac_error *e);

/* Shorthands: st->ops->x(st, ...). */
#define storage_call(st, op, ...) ((st)->ops->op((st), __VA_ARGS__))

#endif
