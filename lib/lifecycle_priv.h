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
#include "config.h"
#include "error.h"
#include "lifecycle.h"

/* Facts of the certificate a set holds, as the planner needs them. */
struct lc_cert_facts {
    bool present;
    int64_t not_before, not_after;
    bool names_differ; /* certificate names != configured domains */
    char serial_hex[80];
};

/* One set's scheduling record. Guarded by the lifecycle mutex. */
struct lc_set {
    size_t idx;
    bool managed;               /* custom or a DNS provider */
    enum lifecycle_state state;
    int64_t renews_at;          /* 0 when unknown */
    int64_t next_attempt;       /* 0 when nothing is scheduled */
    int failures;               /* consecutive */
    bool has_last_error;
    struct ac_error last_error;
    int64_t last_error_at;
    int64_t last_failure;       /* failure marker time, 0 when none */
    int64_t last_success;
    int64_t retry_at;           /* after a failure: backoff end, 0 when none */
    /* ARI (RFC 9773) */
    bool ari_valid;             /* window known for serial ari_serial */
    char ari_serial[80];
    int64_t ari_start, ari_end, ari_point;
    int64_t ari_fetch_at;       /* next renewalInfo fetch, 0 = not scheduled */
    int ari_support;            /* the set's CA: -1 unknown, 0 no ARI, 1 ARI */
    /* events */
    int64_t expiring_notified;  /* not_after already announced as expiring */
    /* work */
    bool running;               /* an order (or ARI fetch) runs, or is handed */
    bool running_forced;
    bool ordering;              /* running: an order (not an ARI fetch) */
    /* running without a worker: an order for the same files runs in another
     * lifecycle of this process (the one a reload retired); when it ends,
     * running is cleared and reread set (reg_order_done) */
    bool handed;
    bool reread;                /* re-read the files before planning */
    bool force_pending;
    uint64_t force_req_gen, force_done_gen;
    bool force_ok;
    struct ac_error force_err;
};

/* Copies src (NULL = "") into dst of size n (> 0), truncating. */
void lc_copy_str(char *dst, size_t n, const char *src);

/* Recomputes state, renews_at and next_attempt of s at `now` from the
 * certificate facts and the set's configuration. */
void lc_plan_update(struct lc_set *s, const struct config_set *cfg,
                    const struct lc_cert_facts *cf, int64_t now);

/* Records a failed attempt at `now` (failure counted, backoff re-armed with
 * jitter from `random`, cooldown from the failure marker time). A lock held by
 * another process (AC_ERR_LOCKED) is not counted: retried after retry_min. */
void lc_plan_failure(struct lc_set *s, const struct config_set *cfg,
                     const struct ac_error *e, bool first_obtain, int64_t now, uint64_t random);

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

/* Caps s->retry_at (lc_plan_update does this first): at most retry_max after
 * `now`, and not past the "expiring soon" point of the certificate in cf
 * (when present and that point is still ahead). Applies to a retry_at read
 * back from a state file too. */
void lc_plan_cap_retry(struct lc_set *s, const struct config_set *cfg,
                       const struct lc_cert_facts *cf, int64_t now);

/* Applies a renewalInfo answer for the certificate with serial `serial`: the
 * point is drawn (from `random`) only when the window is new or changed, and
 * the next fetch is at now + retry_after (default 6 h, bounded 60 s .. 24 h). */
void lc_plan_ari(struct lc_set *s, const char *serial, int64_t start, int64_t end,
                 long retry_after, int64_t now, uint64_t random);

/* Persisted state: builds a new object (json_object_put it) / applies one
 * read back (unknown or mistyped fields are ignored). */
json_object *lc_state_to_json(const struct lc_set *s);
void lc_state_from_json(struct lc_set *s, json_object *o);

/* ---- events (lifecycle_events.c) ---- */

struct lc_event {
    char event[16];             /* "obtained", "renewed", "failed", "expiring" */
    char set[32];
    char **domains;             /* owned copies */
    size_t domains_count;
    int64_t not_after;          /* 0 = unknown (null in JSON) */
    int64_t time;
    bool has_error;
    struct ac_error error;
    char *cert_path, *key_path; /* owned copies */
    bool files_changed;         /* run the deploy hook */
};

/* The webhook body: a new string (free). */
char *lc_event_json(const struct lc_event *ev);
/* The deploy hook environment entries "NAME=value" (5 of them) into a NULL-
 * terminated array of new strings; lc_env_free releases it. NULL on ENOMEM. */
char **lc_event_env(const struct lc_event *ev);
void lc_env_free(char **env);

struct lc_events;
/* Starts the event thread for the config's sinks (borrowed cfg). */
int lc_events_new(const struct config *cfg, struct lc_events **out, struct ac_error *e);
/* Queues an event (copied; dropped with a warning when the queue is full). */
void lc_events_post(struct lc_events *q, const struct lc_event *ev);
/* Delivers what is queued within drain_ms in all (the rest is dropped with a
 * warning; a hook still running then is killed), stops, frees. */
void lc_events_free(struct lc_events *q, int64_t drain_ms);
/* Fills an event for set cfg (copies). Returns 0 or -1 on ENOMEM. */
int lc_event_init(struct lc_event *ev, const char *event, const struct config_set *cfg,
                  int64_t not_after, const struct ac_error *err, int64_t now);
void lc_event_clear(struct lc_event *ev);

/* ---- the running lifecycle (lifecycle.c threads, lifecycle_api.c requests) ---- */

#define LC_WORKERS 2

struct crypto_key;
struct issuer_request;

struct lc_filestamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* A caller inside lifecycle_force_renew: it gets the progress notes of the
 * forced renewal generation target[idx] of every set idx it waits for. */
struct lc_waiter {
    lifecycle_progress_fn fn;   /* may be NULL */
    void *arg;
    const uint64_t *target;     /* lc->n entries; 0 = not waiting for that set */
    struct lc_waiter *next;
};

struct lifecycle {
    autocert_manager *m;        /* borrowed */
    const struct config *cfg;   /* borrowed from m */
    size_t n;
    struct lc_set *sets;
    bool *queued;
    struct lc_filestamp (*stamps)[2]; /* local sets: cert, key */
    pthread_mutex_t mu;
    pthread_cond_t sched_cond;  /* CLOCK_MONOTONIC */
    pthread_cond_t work_cond;
    pthread_cond_t done_cond;
    pthread_mutex_t key_mu;     /* account key creation */
    pthread_t sched;
    pthread_t workers[LC_WORKERS];
    size_t nworkers;
    bool sched_started;
    bool oneshot;               /* lifecycle_start_oneshot: no scheduler thread */
    bool stopping;              /* lifecycle_stop called */
    bool cancelling;            /* ... with cancel */
    bool joined;                /* lifecycle_join done */
    atomic_bool cancel;         /* issuer_request.cancel of every order */
    int64_t created_at;         /* lifecycle_new time: when load errors were read */
    struct lifecycle *reg_next; /* the process-wide list (reg_* in lifecycle.c) */
    size_t ordering[LC_WORKERS]; /* the sets with an order running (lc_set.ordering) */
    size_t nordering;
    int waiters;                /* callers inside lifecycle_force_renew */
    /* Waiters' progress callbacks: linked with mu and progress_mu held, walked
     * (and called) with progress_mu alone. Lock order: mu, then progress_mu. */
    pthread_mutex_t progress_mu;
    struct lc_waiter *waiter_list;
    int64_t next_local_check;
    bool has_local;
    struct lc_events *events;
    pthread_mutex_t metrics_mu;
    struct lifecycle_metrics metrics;
};

/* The leaf of certificate c (borrowed) as a new GnuTLS certificate
 * (gnutls_x509_crt_deinit it). Returns 0, or -1 (*out NULL) when c is NULL or
 * its leaf does not parse. */
int lc_leaf_crt(autocert_cert *c, gnutls_x509_crt_t *out);
/* Recomputes set idx's plan from the certificate served now. lc->mu held. */
void lc_replan(struct lifecycle *lc, size_t idx, int64_t now);
/* Fills *req (zeroed first) for set cfg: its account key (loaded, or created
 * under lc->key_mu the first time; a new key in *key, crypto_key_free it) and
 * the metrics observer. Returns 0 or -1 with e. */
int lc_issuer_request(struct lifecycle *lc, const struct config_set *cfg,
                      struct issuer_request *req, struct crypto_key **key, struct ac_error *e);
/* ACME request observer counting into lc->metrics (arg is the lifecycle). */
void lc_observer(void *arg, const char *endpoint, const char *outcome);

#endif
