/*
 * set.h - one certificate set, in one place: its own copy of its
 * configuration, its name and store id, the certificate the manager serves
 * for it and why its files last failed to load, and the renewal engine's
 * record (state, renewal moment, backoff, ARI, running/forced/queued flags,
 * local-file stamps).
 *
 * A set is reference-counted. The manager's array holds one reference per set;
 * every published snapshot, every running order, every caller waiting for a
 * forced renewal and every status copy being made hold their own. A set that
 * a configuration reload removed therefore stays alive (and keeps its
 * configuration, including its secrets' registration) until the last of them
 * lets go.
 *
 *     manager (write_lock)          snapshot (immutable)        engine (lc->mu)
 *     sets[0..n) ----------+        sets[i], certs[i], ix        queue, waiters
 *                          v                 |                     |
 *                     struct acset <---------+---------------------+
 *                     cfg (immutable copy)  cert/load_error (write_lock)
 *                     rec/queued/stamps (lc->mu)
 *
 * Which lock guards which part is written next to each field. cfg, id and
 * managed never change after acset_new.
 */
#ifndef AUTOCERT_SET_H
#define AUTOCERT_SET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"
#include "lifecycle.h"

/* The store id: 12 lowercase hex digits of SHA-256("cert_path|key_path"), as
 * in the failure marker's and the lock file's names (store.h). Two sets with
 * the same id are the same files. */
#define ACSET_ID_LEN 12

/* Facts of the certificate a set holds, as the planner needs them. */
struct lc_cert_facts {
    bool present;
    int64_t not_before, not_after;
    bool names_differ; /* certificate names != configured domains */
    char serial_hex[80];
};

struct lc_ca_account;

/* The renewal engine's record of one set (lifecycle_plan.c decides on it).
 * Guarded by the engine mutex. */
struct lc_set {
    bool managed; /* custom or a DNS provider */
    enum lifecycle_state state;
    int64_t renews_at;    /* 0 when unknown */
    int64_t next_attempt; /* 0 when nothing is scheduled */
    int failures;         /* consecutive */
    bool has_last_error;
    /* the last failure's error, NULL when none (acset_error_put/_get: an
     * ac_error is 1.2 KiB, which most sets never hold) */
    struct ac_error *last_error;
    int64_t last_error_at;
    int64_t last_failure; /* failure marker time, 0 when none */
    int64_t last_success;
    int64_t retry_at; /* after a failure: backoff end, 0 when none */
    /* ARI (RFC 9773) */
    bool ari_valid; /* window known for serial ari_serial */
    char ari_serial[80];
    int64_t ari_start, ari_end, ari_point;
    int64_t ari_fetch_at; /* next renewalInfo fetch, 0 = not scheduled */
    int ari_support;      /* the set's CA: -1 unknown, 0 no ARI, 1 ARI */
    /* events */
    int64_t expiring_notified; /* not_after already announced as expiring */
    /* work */
    bool running; /* a worker has it (order or ARI fetch), or handed */
    bool running_forced;
    bool ordering; /* running: an order (not an ARI fetch) */
    /* running without a worker: an order for the same files runs for the set
     * this one replaced at a configuration reload; when that order ends,
     * running is cleared and reread set */
    bool handed;
    bool reread;               /* re-read the files before planning */
    bool store_pull;           /* compare with the shared store first (lifecycle_store.c) */
    int64_t store_down_since;  /* first attempt postponed for the store (0: none) */
    int64_t store_down_logged; /* last hourly "store down, expiring" error */
    bool force_pending;
    uint64_t force_req_gen, force_done_gen;
    bool force_ok;
    struct ac_error *force_err; /* NULL: none (acset_error_put/_get) */
    /* the spread (issue 12): how far before the configured moment this
     * certificate renews, drawn once per certificate (serial) */
    char spread_serial[80];
    int64_t spread_s;
    /* the one timer structure (lifecycle_sched.c); not persisted */
    size_t timer_slot;          /* in the timer heap (index + 1), 0 = not */
    size_t wait_slot;           /* in its account's wait heap (index + 1), 0 = not */
    struct lc_ca_account *acct; /* its CA account (budget); NULL until planned */
    int64_t budget_at;          /* held by a budget until then (0 = not held) */
    int64_t wait_expiring_at;   /* while waiting: its "expiring soon" point, 0 none */
    bool wait_new_names;        /* while waiting: its order is for new names */
    bool charged;               /* its order was charged to the budget already */
    bool bypassed;              /* its last admission bypassed the budget */
};

struct lc_filestamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
};

struct acset {
    atomic_uint refs;
    /* immutable after acset_new */
    struct config_set cfg; /* own deep copy (config_set_dup) */
    char id[ACSET_ID_LEN + 1];
    bool managed;    /* config_set_is_managed(&cfg) */
    bool local;      /* provider "local" */
    bool selfsigned; /* provider "selfsigned" */
    bool standin_ok; /* standin_eligible(&cfg) */
    /* a run-time set (autocert_manager_add_set): spec is the YAML it was
     * added with (owned; may hold secrets: never logged), re-applied against
     * main at every configuration reload. Set by the manager before the set
     * is shared, never changed after. */
    bool runtime;
    char *spec;
    size_t spec_len;
    /* the cancel token of this set's orders (issuer_request.cancel): set by
     * autocert_manager_remove_set and by the engine's stop */
    atomic_bool cancel;
    /* manager side: written with the manager's write_lock held and read
     * either with it or (cert) through a snapshot */
    autocert_cert *cert;         /* the certificate served (a reference) or NULL */
    struct ac_error *load_error; /* last load from disk, or the warning that the
                                  * certificate in service is outside its dates;
                                  * NULL when none (acset_error_put/_get: an
                                  * ac_error is 1.2 KiB, 100,000 sets rarely
                                  * hold one) */
    int64_t loaded_at;           /* when load_error was last set (Unix s) */
    _Atomic int64_t read_ms;     /* when the files were last read (ac_mono_ms), 0 never */
    /* the files' stamps taken just before they were last read (write_lock):
     * a reload skips a set whose files still have them */
    struct lc_filestamp read_stamps[2];
    bool read_once;
    bool read_journal; /* the commit journal existed when they were read */
    /* engine side: guarded by the engine mutex (struct lifecycle.mu) */
    struct lc_set rec;
    bool queued;                   /* in the engine's work queue */
    atomic_bool removed;           /* no longer in the manager's array (written
                                    * under the engine mutex, also read by the
                                    * file watcher without it) */
    struct lc_filestamp stamps[2]; /* local sets: cert, key */
    /* the stand-in served while cert is NULL (standin.c: its striped lock) */
    autocert_cert *standin; /* a reference, or NULL */
    bool standin_off;       /* cert is set: no stand-in is made */
    int64_t standin_failed; /* when making one last failed (Unix s), 0 never */
};

/* Makes a set from cfg (deep-copied). The copy's secrets stay masked through
 * the registration of the configuration the manager runs, which holds the
 * same values; a set that leaves the manager's array while something still
 * uses it gets its own registration (acset_keep_secrets). Returns 0 and a
 * set with one reference, or -1 with e. */
int acset_new(const struct config_set *cfg, struct acset **out, struct ac_error *e);
/* Registers s's secrets under s (until its last reference goes): for a set
 * that outlives the configuration it came from. Returns 0 or -1 (ENOMEM). */
int acset_keep_secrets(struct acset *s);
/* Takes one more reference. Returns s. NULL is fine. */
struct acset *acset_ref(struct acset *s);
/* Drops one reference; the last one frees the set (its certificate reference
 * released, its configuration copy and secrets' registration dropped). */
void acset_unref(struct acset *s);

/* Stores e in *slot: a clear e (kind "") frees it and leaves NULL; otherwise
 * *slot is allocated when needed and e copied. On ENOMEM the slot holds a
 * short internal.nomem error if it held one, else stays NULL. */
void acset_error_put(struct ac_error **slot, const struct ac_error *e);
/* Copies *slot into out (cleared when NULL). */
void acset_error_get(const struct ac_error *slot, struct ac_error *out);

/* True when a and b describe the same files (same id). */
bool acset_same_files(const struct acset *a, const struct acset *b);
/* The store id of cert_path|key_path into id (ACSET_ID_LEN + 1 bytes). */
void acset_id_of(const char *cert_path, const char *key_path, char *id);

/* Above this many sets, start-up and reload log one summary line and the
 * per-set lines ("certificate loaded", "serving ...") at debug level. */
#define ACSET_LOG_EACH_MAX 1000

/* A set of set pointers (open addressing): membership in O(1), for the
 * reload's "is this set still in the array" questions over 100,000 sets. */
struct acset_ptrset {
    const struct acset **slots;
    size_t cap; /* a power of two */
};
/* Fills ps with v[0..n). Returns 0 or -1 (ENOMEM; ps empty). Free with
 * acset_ptrset_free. */
int acset_ptrset_init(struct acset_ptrset *ps, struct acset *const *v, size_t n);
bool acset_ptrset_has(const struct acset_ptrset *ps, const struct acset *s);
void acset_ptrset_free(struct acset_ptrset *ps);

/* Reads the file stamps of a local set (cert, key) into st[2]. */
void acset_stamp(const struct acset *s, struct lc_filestamp st[2]);
/* The stamp of a file from its stat (NULL: the file is absent). */
void acset_stamp_from(struct lc_filestamp *st, const struct stat *sb);
/* True when two stamps differ. */
bool acset_stamp_differs(const struct lc_filestamp *a, const struct lc_filestamp *b);

#endif
