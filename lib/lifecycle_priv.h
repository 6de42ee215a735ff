/*
 * lifecycle_priv.h - internals shared by lib/lifecycle*.c and their unit tests:
 * the per-set scheduling record and the pure decisions taken on it
 * (lifecycle_plan.c), the persisted state JSON, the event sinks
 * (lifecycle_events.c), and the running lifecycle shared by its threads
 * (lifecycle.c) and the requests made to it (lifecycle_api.c). Not for other
 * modules.
 *
 * Every lc_plan_* function is pure: it reads and writes only the record it is
 * given and the times passed in (Unix seconds), so tests drive it with an
 * injected clock and no threads.
 */
#ifndef AUTOCERT_LIFECYCLE_PRIV_H
#define AUTOCERT_LIFECYCLE_PRIV_H

#include <gnutls/x509.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "autocert/autocert.h"
#include "budget.h"
#include "config.h"
#include "dueheap.h"
#include "error.h"
#include "lifecycle.h"
#include "storage.h"

#include "set.h"

/* Copies src (NULL = "") into dst of size n (> 0), truncating. */
void lc_copy_str(char *dst, size_t n, const char *src);

/* Recomputes state, renews_at and next_attempt of s at `now` from the
 * certificate facts and the set's configuration. */
void lc_plan_update(struct lc_set *s, const struct config_set *cfg, const struct lc_cert_facts *cf,
                    int64_t now);

/* Records a failed attempt at `now` (failure counted, backoff re-armed with
 * jitter from `random`, cooldown from the failure marker time). A lock held by
 * another process (AC_ERR_LOCKED) is not counted: retried after retry_min. */
void lc_plan_failure(struct lc_set *s, const struct config_set *cfg, const struct ac_error *e,
                     bool first_obtain, int64_t now, uint64_t random);

/* Records a successful issuance at `now` (failures reset, ARI forgotten).
 * cf: the facts of the certificate now served (after the reload), or NULL
 * when nothing was issued. When that certificate is due again at once (its
 * renewal moment is not after `now` - a host clock far ahead, renew_before
 * over the lifetime, names that differ - or it did not load), the success is
 * recorded as a failure of kind AC_ERR_DUE_AT_ONCE instead (the failure count
 * goes on from before the success, so the backoff grows) and false is
 * returned; otherwise true. */
bool lc_plan_success(struct lc_set *s, const struct config_set *cfg, const struct lc_cert_facts *cf,
                     int64_t now, uint64_t random);

/* The spread of certificates obtained together (issue 12): how many seconds
 * before the configured renewal moment `moment` the certificate in cf
 * renews, in [0, (NotAfter - moment) / LC_SPREAD_DIVISOR]. Drawn once per
 * certificate (its serial; a hash of it and the set's files, so the same
 * after a restart) and kept in s (persisted with the state). The spread only
 * brings a renewal forward. */
#define LC_SPREAD_DIVISOR 10
int64_t lc_plan_spread(struct lc_set *s, const struct config_set *cfg,
                       const struct lc_cert_facts *cf, int64_t moment);

/* Caps s->retry_at (lc_plan_update does this first): at most retry_max after
 * `now`, and not past the "expiring soon" point of the certificate in cf
 * (when present and that point is still ahead). Applies to a retry_at read
 * back from a state file too. */
void lc_plan_cap_retry(struct lc_set *s, const struct config_set *cfg,
                       const struct lc_cert_facts *cf, int64_t now);

/* Applies a renewalInfo answer for the certificate with serial `serial`: the
 * point is drawn (from `random`) only when the window is new or changed, and
 * the next fetch is at now + retry_after (default 6 h, bounded 60 s .. 24 h). */
void lc_plan_ari(struct lc_set *s, const char *serial, int64_t start, int64_t end, long retry_after,
                 int64_t now, uint64_t random);

/* Persisted state: builds a new object (json_object_put it) / applies one
 * read back (unknown or mistyped fields are ignored). */
json_object *lc_state_to_json(const struct lc_set *s);
void lc_state_from_json(struct lc_set *s, json_object *o);

/* ---- events (lifecycle_events.c) ---- */

/* The summary event of a queue that overflowed (lifecycle_events.c). */
#define LC_EVENT_DROPPED "dropped"

struct lc_event {
    char event[16]; /* "obtained", "renewed", "failed", "expiring", "dropped" */
    char set[72];
    char **domains; /* owned copies */
    size_t domains_count;
    int64_t not_after; /* 0 = unknown (null in JSON) */
    int64_t time;
    bool has_error;
    struct ac_error error;
    char *cert_path, *key_path; /* owned copies */
    bool files_changed;         /* run the deploy hook */
    /* "dropped" only: how many events were not queued, by kind (obtained,
     * renewed, failed, expiring, other) */
    size_t dropped;
    size_t dropped_by[5];
};

/* The webhook body: a new string (free). */
char *lc_event_json(const struct lc_event *ev);
/* The deploy hook environment entries "NAME=value" (5 of them) into a NULL-
 * terminated array of new strings; lc_env_free releases it. NULL on ENOMEM. */
char **lc_event_env(const struct lc_event *ev);
void lc_env_free(char **env);

struct lc_events;
/* What a queue's thread does with each event, in order (ev borrowed). */
typedef void (*lc_deliver_fn)(void *arg, struct lc_events *q, const struct lc_event *ev);
/* Starts a queue and its thread. Returns 0 or -1 with e. */
int lc_events_new(lc_deliver_fn fn, void *arg, struct lc_events **out, struct ac_error *e);
/* Queues an event (copied). When LC_EVENT_QUEUE (64) events wait already it
 * is counted instead, and one "dropped" summary is delivered once the queue
 * drained. Returns its sequence number (> 0), or 0 when it was not queued.
 * NULL q: 0. */
uint64_t lc_events_post(struct lc_events *q, const struct lc_event *ev);
/* Waits until event seq (and every earlier one) has been delivered, at most
 * ms. Returns true when it has. */
bool lc_events_wait(struct lc_events *q, uint64_t seq, int64_t ms);
/* Delivers what is queued within drain_ms in all (the rest is dropped with a
 * warning; a hook still running then is killed), stops, frees. */
void lc_events_free(struct lc_events *q, int64_t drain_ms);
/* The sinks of cfg for one event: the webhook POST and (when the event says
 * files changed) the deploy hook; bounded by q's drain deadline. */
void lc_events_to_sinks(struct lc_events *q, const struct config *cfg, const struct lc_event *ev);
/* Fills an event for set cfg (copies). Returns 0 or -1 on ENOMEM. */
int lc_event_init(struct lc_event *ev, const char *event, const struct config_set *cfg,
                  int64_t not_after, const struct ac_error *err, int64_t now);
void lc_event_clear(struct lc_event *ev);

/* ---- the timer structure and the budgets (lifecycle_sched.c) ---- */

/* One CA account as the scheduler sees it: its budget (budget.h), the state
 * file the budget is kept in, and the sets whose orders wait for a slot or
 * for the budget, earliest NotAfter first. */
/* A charge to an account's budget not yet written to its state. */
struct lc_charge {
    int64_t now;
    bool new_names;
    char **names;
    size_t n;
};

struct lc_ca_account {
    char *id;               /* "ca_dir_url|eab_kid" or "ca_dir_url|acme_key_path" */
    struct lc_charge *pend; /* charges not written to the stored state yet */
    size_t npend;
    char *state_path;    /* NULL: not persisted */
    struct budget *b;    /* owned */
    struct dueheap wait; /* key: NotAfter (0 without a certificate) */
    int64_t wake;        /* the budget's next token for the head, 0 none */
    bool dirty;          /* charged since the state was last merged: merge soon */
    bool loaded;         /* the state file was read */
    bool synced;         /* merged with the stored state (file or row) at least once */
    bool syncing;        /* a thread is merging it (lc_sched_save) */
};

/* The engine's one timer structure: every managed set is in exactly one of
 * the timer heap (keyed by the next moment it needs a look: attempt, ARI
 * fetch, "expiring soon" point, the end of a budget hold), its account's wait
 * heap (its order is due and waits for a worker slot or the budget; it stays
 * in the timer heap at its "expiring soon" point), or neither (queued or
 * running: re-armed when its turn ends). So idle sets cost nothing between
 * their due times. Guarded by the engine mutex. */
struct lc_sched {
    struct dueheap timers;
    struct lc_ca_account **acct;
    size_t nacct;
    /* a shared store: an account with a budget admits nothing until its
     * state was merged with the store's row (what the fleet spent) */
    bool hold_unsynced;
};

/* What lc_sched_tick calls (all with the engine mutex held). */
struct lc_sched_ops {
    /* the facts of the certificate s holds */
    void (*facts)(void *arg, struct acset *s, struct lc_cert_facts *cf);
    /* s's certificate reached its "expiring soon" point (announce it) */
    void (*expiring)(void *arg, struct acset *s, const struct lc_cert_facts *cf);
    /* hand s to a worker (its order or ARI fetch runs) */
    void (*start)(void *arg, struct acset *s);
    void *arg;
};

/* The account of a set (created on first use with limits lim; the limits of
 * an existing one are replaced). state_path (copied, may be NULL) is where
 * its budget is kept: read on creation. NULL on ENOMEM (the set then runs
 * without a budget). */
struct lc_ca_account *lc_sched_account(struct lc_sched *q, const char *id,
                                       const struct budget_limits *lim, const char *state_path);
/* Places s in the timer heap at its next moment after `now` (from its plan
 * and cf), or takes it out when nothing is ahead (an unmanaged set). A set
 * waiting for its account stays there. */
void lc_sched_arm(struct lc_sched *q, struct acset *s, const struct lc_cert_facts *cf, int64_t now);
/* Takes s out of both heaps (a removed set; one handed to a worker). */
void lc_sched_forget(struct lc_sched *q, struct acset *s);
/* Runs what is due at now: plans each set whose timer came, announces
 * "expiring soon", starts ARI fetches and forced renewals at once, puts due
 * orders in their account's wait heap; then starts waiting orders, earliest
 * NotAfter first, while *free_slots > 0 (each start takes one) and their
 * budget allows (charged when started; an order at its "expiring soon" point
 * passes the budget). Returns the next moment anything is due (INT64_MAX
 * when nothing is). */
int64_t lc_sched_tick(struct lc_sched *q, const struct lc_sched_ops *ops, int64_t now,
                      size_t *free_slots);
/* Charges s's order (new_names: not the names of the certificate it holds)
 * to its account when the scheduler did not (a forced or one-off order), and
 * clears the mark of one it did. */
void lc_sched_charge(struct lc_sched *q, struct acset *s, bool new_names, int64_t now);
/* Merges the accounts' budgets with their stored state, both ways, under the
 * store's lock (st->ops->budget_update: the state file's flock with the file
 * store, the row's lock with a shared one): the charges made here since the
 * last write are applied again on the stored state and written, and the
 * budget here takes what others (processes on the same files, fleet nodes)
 * charged. all: every account with a budget (a periodic read back);
 * otherwise the ones charged since their last write. st NULL: the file store.
 * Call without the engine mutex (it takes `mu` around each account's
 * merge); one merge of an account at a time (another thread's save skips an
 * account being merged and leaves it dirty). Blocks on file/store I/O. */
void lc_sched_save(struct lc_sched *q, pthread_mutex_t *mu, int64_t now, struct storage *st,
                   bool all);
/* True when an account with a budget was never merged with its stored state. */
bool lc_sched_unsynced(const struct lc_sched *q);
/* Frees every account; the sets' slots are cleared. */
void lc_sched_free(struct lc_sched *q);

/* ---- the engine (lifecycle.c threads, lifecycle_order.c orders, ----
 * ---- lifecycle_api.c requests) ---- */

/* Worker threads run orders (the engine's timed ones and the one-off
 * obtain/renew/revoke). They are created on demand, one more whenever work is
 * queued and no worker is idle, up to the configured bound
 * (autocert.max_concurrent_orders, default LC_MAX_WORKERS; at most
 * LC_WORKERS_CAP), and end at the engine's stop. Each order mostly waits
 * (DNS, the CA), so the bound is about how many orders run against CAs and
 * DNS providers at once. */
#define LC_MAX_WORKERS AUTOCERT_MAX_CONCURRENT_ORDERS
#define LC_WORKERS_CAP CONFIG_MAX_CONCURRENT_ORDERS_MAX

struct crypto_key;
struct issuer_request;
struct lc_cache;

/* A caller inside lifecycle_force_renew: it gets the progress notes of the
 * forced renewal generation target[i] of every set sets[i] it waits for. */
struct lc_waiter {
    lifecycle_progress_fn fn; /* may be NULL */
    void *arg;
    struct acset **sets; /* n references */
    uint64_t *target;    /* 0 = not waiting for that set */
    size_t n;
    struct lc_waiter *next;
};

/* The host's event callback (autocert_manager_on_event). */
typedef void (*lc_event_fn)(void *arg, const autocert_event *ev);

struct lifecycle {
    autocert_manager *m;       /* the owner */
    pthread_mutex_t ctl_mu;    /* serialises start, stop and free */
    pthread_mutex_t mu;        /* the sets' engine records, the queue, the flags */
    pthread_cond_t sched_cond; /* CLOCK_MONOTONIC */
    pthread_cond_t work_cond;
    pthread_cond_t done_cond;
    pthread_t sched;
    bool started; /* the scheduler runs (autocert_manager_start) */
    pthread_t workers[LC_WORKERS_CAP];
    size_t nworkers;    /* created since the last stop */
    size_t max_workers; /* the bound now (max_concurrent_orders) */
    size_t busy;        /* workers running a set now (<= max_workers) */
    struct lc_sched sq; /* the timers, the accounts and their budgets */
    bool resync;        /* the sets changed: plan and arm every one */
    size_t idle;        /* workers waiting for work */
    size_t starting;    /* created, not yet looking for work */
    bool stopping;      /* a stop runs: nothing new starts */
    atomic_bool cancel; /* the stop's token (ARI fetches, revocations) */
    /* sets whose order runs now (their own token, acset.cancel, is what the
     * order watches; a stop sets each of them); at most one per worker */
    struct acset *active[LC_WORKERS_CAP];
    struct acset **queue; /* references; each set at most once (queued) */
    size_t qlen, qcap;
    int waiters; /* callers inside lifecycle_force_renew */
    /* Waiters' progress callbacks: linked with mu and progress_mu held, walked
     * (and called) with progress_mu alone. Lock order: mu, then progress_mu. */
    pthread_mutex_t progress_mu;
    struct lc_waiter *waiter_list;
    int64_t next_local_check;
    /* when the selfsigned sets need looking at (lc_selfsigned_pass): the
     * earliest NotAfter among them; 0 = now (start, sets replaced) */
    int64_t selfsigned_at;
    /* events: the configuration's sinks (webhook, deploy hook) and the
     * host's callback, each delivered by a thread of its own, in order */
    struct lc_events *sinks;
    struct lc_events *host;
    pthread_mutex_t event_mu; /* event_fn/arg; the queues' creation */
    lc_event_fn event_fn;
    void *event_arg;
    int changed_fd; /* eventfd, or -1 */
    /* a shared store away (lc_store_watch): since when, last hourly error */
    int64_t store_down_since, store_down_logged;
    pthread_mutex_t metrics_mu;
    struct lifecycle_metrics metrics;
    struct lc_cache *cache; /* account keys and shared ACME sessions */
    /* the local-file watcher (lifecycle_watch.c) */
    int watch_wake; /* eventfd, or -1 */
    pthread_t watch_thread;
    bool watch_running; /* lc->mu: the watcher thread runs */
    bool watch_stop;    /* lc->mu */
    bool watch_rebuild; /* lc->mu: the sets were replaced */
    bool watch_polling; /* lc->mu: the watcher polls some set (no watch on its
                           directory, or no index): a reload rebuilds it */
};

/* The local-file watcher: one thread, one inotify watch per directory of a
 * local set's files, a bounded poll where a watch cannot be added. Start:
 * 0, or -1 (the scheduler's polling of every local set stays). Kick: the
 * sets were replaced (lc->mu held). Stop: joins it (lc->mu not held). */
int lc_watch_start(struct lifecycle *lc);
void lc_watch_kick(struct lifecycle *lc);
void lc_watch_stop(struct lifecycle *lc);

/* Creates the engine of manager m (m's owner calls it once; the engine never
 * outlives m). No thread yet. Returns 0 or -1 with e. */
int lc_engine_new(autocert_manager *m, struct lifecycle **out, struct ac_error *e);
/* Stops the engine (as lifecycle_stop) and frees it, delivering queued
 * events within drain_ms. NULL is fine. */
void lc_engine_free(struct lifecycle *lc, int64_t drain_ms);

/* Reads set s's persisted engine state (state file, failure marker) and its
 * file stamps. s is not shared yet (no lock). */
void lc_set_init(struct acset *s, int64_t now);
/* A configuration reload replaced the manager's sets old[0..nold) by
 * new[0..nnew) (sets in both are unchanged). Removed sets are marked, leave
 * the queue, and their pending forced renewals end (AC_ERR_CANCELLED); a new
 * set on the files of a removed set whose order still runs is handed over
 * until that order ends. */
void lc_sets_replaced(struct lifecycle *lc, struct acset *const *old, size_t nold,
                      struct acset *const *new_sets, size_t nnew);
/* The certificates served changed (after the new snapshot is published):
 * the change fd and the host's CHANGED event. */
void lc_changed(struct lifecycle *lc);

/* Queues s for a worker (a reference is taken; nothing when already queued)
 * and makes sure a worker will take it. lc->mu held. */
void lc_queue(struct lifecycle *lc, struct acset *s);
/* Certificate facts of s, from the certificate the manager serves for it. */
void lc_cert_facts(struct lifecycle *lc, struct acset *s, struct lc_cert_facts *cf);
/* The leaf of certificate c (borrowed) as a new GnuTLS certificate
 * (gnutls_x509_crt_deinit it). Returns 0, or -1 (*out NULL) when c is NULL or
 * its leaf does not parse. */
int lc_leaf_crt(autocert_cert *c, gnutls_x509_crt_t *out);
/* s's certificate changed (a reload of its files): its plan and its timer
 * follow. Takes lc->mu. NULL lc is fine. */
void lc_rearm(struct lifecycle *lc, struct acset *s);
/* Recomputes s's plan from the certificate served now. lc->mu held. */
void lc_replan(struct lifecycle *lc, struct acset *s, int64_t now);
/* Re-reads s's files into the manager (another process, or the order of the
 * set s replaced, may have committed a new pair). Called without lc->mu. */
void lc_reread(struct lifecycle *lc, struct acset *s);
/* A shared store's events (storage_event_fn; arg: the manager) and the
 * pull they queue (lifecycle_store.c). The pull runs on a worker, without
 * lc->mu. */
void lc_store_event(void *arg, enum storage_event ev, const char *id,
                    enum storage_challenge_kind kind, const char *key, const char *key_auth);
void lc_store_pull(struct lifecycle *lc, struct acset *s);
/* The scheduler's look at a shared store (lc->mu held): once it has been
 * away a minute, an error every hour naming how many sets are expiring soon
 * or hold no certificate (they get no order until it is back). Returns when
 * to look again (INT64_MAX: the store is up). */
int64_t lc_store_watch(struct lifecycle *lc, int64_t now);
/* lifecycle_status_get for a set object. Returns 0. */
int lifecycle_acset_status(struct lifecycle *lc, struct acset *s, struct lifecycle_status *out);
/* One turn of a worker for s (taken from the queue; lc->mu held on entry and
 * on return): the ARI fetch when due, then the order when due or forced. */
void lc_work_set(struct lifecycle *lc, struct acset *s);

/* ---- orders (lifecycle_order.c) ---- */

/* Fills *req (zeroed first) for set s: its account key and a shared ACME
 * session (both borrowed from the engine's cache, valid while the engine
 * lives) and the metrics observer. Returns 0 or -1 with e. */
int lc_issuer_request(struct lifecycle *lc, const struct acset *s, struct issuer_request *req,
                      struct ac_error *e);
/* Gives back what lc_issuer_request took. After a failure (e non-NULL with a
 * kind) the shared session, which may be stale (the account or the directory
 * changed at the CA), is not used again. */
void lc_issuer_done(struct lifecycle *lc, const struct issuer_request *req,
                    const struct ac_error *e);
/* The account-key and session cache. */
int lc_cache_new(struct lc_cache **out);
void lc_cache_free(struct lc_cache *c);
/* ACME request observer counting into lc->metrics (arg is the engine). */
void lc_observer(void *arg, const char *endpoint, const char *outcome);
/* Runs one order for s; gen > 0 for a forced renewal. Returns 0 or -1 with
 * e. Called without lc->mu. */
int lc_run_order(struct lifecycle *lc, struct acset *s, uint64_t gen, struct ac_error *e);
/* Fetches renewalInfo for s and applies it. Called without lc->mu. */
void lc_fetch_ari(struct lifecycle *lc, struct acset *s);
/* Writes s's engine state file. Called without lc->mu. */
void lc_persist(struct lifecycle *lc, struct acset *s);
/* Provider selfsigned (lifecycle_selfsigned.c): writes a new self-signed
 * pair for every selfsigned set whose certificate is missing, expired or
 * lacks a configured name, loads it, and logs the fingerprints (of every
 * one when boot). Returns when to look again (INT64_MAX: no such set).
 * Called without lc->mu (I/O). */
int64_t lc_selfsigned_pass(struct lifecycle *lc, bool boot);
/* Queues event `event` of s for the sinks and the host (lc_events_emit). */
uint64_t lc_post_event(struct lifecycle *lc, struct acset *s, const char *event, int64_t not_after,
                       const struct ac_error *err, bool files_changed);
uint64_t lc_rand64(void);

/* ---- event routing (lifecycle_events.c) ---- */

/* Queues ev (copied) for the configuration's sinks (when it has a webhook or
 * a deploy hook) and for the host's callback (when one is installed; as
 * AUTOCERT_EVENT_*). Returns the sinks' sequence number of it, 0 when none. */
uint64_t lc_events_emit(struct lifecycle *lc, const struct lc_event *ev);
/* Where both queues stand now (what a caller waits for afterwards). */
struct lc_events_mark {
    uint64_t sinks, host;
};
void lc_events_mark(struct lifecycle *lc, struct lc_events_mark *mk);
/* Waits (at most ms in all) until both queues delivered every event queued
 * since mk. Returns true when they have. */
bool lc_events_wait_since(struct lifecycle *lc, const struct lc_events_mark *mk, int64_t ms);
/* Waits (at most ms in all) until both queues delivered what is queued now. */
void lc_events_drain(struct lifecycle *lc, int64_t ms);

#endif
