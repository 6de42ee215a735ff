/*
 * lifecycle.h - the renewal side of a running manager: per-set state, the
 * scheduler thread (one timed wake-up for the earliest due time), ARI, backoff,
 * forced renewal, events (deploy hook, webhook), and the counters behind the
 * metrics. The admin API and the `serve` command sit on top of this.
 *
 * Thread-safety: every function may be called from any thread once
 * lifecycle_start has returned; status snapshots are copies.
 */
#ifndef AUTOCERT_LIFECYCLE_H
#define AUTOCERT_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"

enum lifecycle_state {
    LC_PENDING = 0, /* no certificate yet */
    LC_VALID,
    LC_DUE,         /* past its renewal moment, attempt imminent */
    LC_RENEWING,    /* an order is running */
    LC_BACKOFF,     /* last attempt failed; next attempt scheduled */
    LC_EXPIRED,     /* also an unmanaged set whose served certificate expired */
    LC_UNMANAGED,   /* local, pseudo */
};

/* "pending", "valid", "due", "renewing", "backoff", "expired", "unmanaged". */
const char *lifecycle_state_name(enum lifecycle_state s);

struct lifecycle;

/* Creates the lifecycle of manager m (borrowed; must outlive it). Reads each
 * set's persisted state (state file, failure marker). No network, no thread. */
int lifecycle_new(autocert_manager *m, struct lifecycle **out, struct ac_error *e);
/* Starts the event thread, the workers and the scheduler thread (the daemon:
 * timed renewals, ARI, local-file checks, forced renewals). */
int lifecycle_start(struct lifecycle *lc, struct ac_error *e);
/* Starts the event thread and the workers but no scheduler (the one-shot CLI
 * forms of `renew` and `revoke`): only forced renewals and revocations run;
 * nothing is timed, no ARI fetch, no local-file watch. */
int lifecycle_start_oneshot(struct lifecycle *lc, struct ac_error *e);
/* Begins the stop and returns at once: nothing new starts (no timed order,
 * no queued forced renewal); every caller waiting in lifecycle_force_renew for
 * a set whose order is not running returns at once with AC_ERR_CANCELLED.
 * With `cancel`, running orders are cancelled too (issuer_request.cancel: they
 * end within about a second, a commit already under way is finished, DNS
 * records are removed) and their waiters get AC_ERR_CANCELLED "shutting
 * down"; without it (a configuration reload) running orders finish and their
 * waiters get AC_ERR_CANCELLED "configuration reloaded". May be called again
 * (cancel = true upgrades an earlier stop). NULL is a no-op. */
void lifecycle_stop(struct lifecycle *lc, bool cancel);
/* After lifecycle_stop: waits (at most ms) until every caller inside
 * lifecycle_force_renew has returned. Returns how many callers were inside
 * when it was called (0: it returned at once). */
int lifecycle_wait_callers(struct lifecycle *lc, int64_t ms);
/* Waits until the threads have ended: after lifecycle_stop(lc, false), until
 * the orders that were running have finished. Call it from one thread at a
 * time; lifecycle_stop(lc, true) from another thread shortens the wait. */
void lifecycle_join(struct lifecycle *lc);
/* lifecycle_stop(lc, true), lifecycle_join, delivers the events still queued
 * (bounded: LIFECYCLE_EVENTS_DRAIN_MS in all, LIFECYCLE_ONESHOT_DRAIN_MS
 * after lifecycle_start_oneshot) and frees everything. NULL is a no-op. */
void lifecycle_free(struct lifecycle *lc);

/* Bounds on delivering the events still queued when a lifecycle ends (webhook
 * 10 s, deploy hook 60 s each at most): the daemon's stop, and the one-shot
 * CLI forms (renew, revoke, obtain), which wait for their hook. */
#define LIFECYCLE_EVENTS_DRAIN_MS 10000
#define LIFECYCLE_ONESHOT_DRAIN_MS 75000

/* A copy of one set's status. Strings are fixed-size copies. */
struct lifecycle_status {
    char name[32];              /* "main", "extra[1]" */
    char provider[64];
    enum lifecycle_state state;
    bool has_cert;
    /* certificate facts (valid when has_cert) */
    char subject[256];          /* leaf CN */
    char issuer[256];           /* issuer CN */
    int64_t not_before, not_after;
    char serial_hex[80];
    char key_type[16];          /* "EC256" ... */
    char **dns_names;           /* malloc'd copies; lifecycle_status_clear frees */
    size_t dns_count;
    char **email_addresses;
    size_t email_count;
    /* scheduling */
    int64_t renews_at;          /* Unix seconds; 0 when unmanaged or no cert */
    int64_t next_attempt;       /* Unix seconds; 0 when nothing is scheduled */
    int failures;               /* consecutive */
    bool has_last_error;
    struct ac_error last_error; /* kind + message (no secrets) */
    int64_t last_error_at;
    int64_t last_success;       /* 0 when never */
};

size_t lifecycle_set_count(const struct lifecycle *lc);
/* Fills *out for set idx (0 = main). Returns 0 or -1 (bad idx). */
int lifecycle_status_get(struct lifecycle *lc, size_t idx, struct lifecycle_status *out);
void lifecycle_status_clear(struct lifecycle_status *st);

/* Progress notes of a forced renewal ("order created", ...), called from the
 * renewing thread with a lifecycle lock held: must not block for long and must
 * not call lifecycle functions. */
typedef void (*lifecycle_progress_fn)(void *arg, const char *set_name, const char *message);

struct lifecycle_result {
    char name[32];
    bool ok;
    struct ac_error error;      /* when !ok */
};

/* Forced renewal of the sets with selected[i] true (selected NULL = every
 * set); skips cooldowns and backoff; local/pseudo sets complete at once (a
 * local set re-reads its files). Blocks until every selected set is done and
 * fills results[i] for each selected set (results has lifecycle_set_count
 * entries; unselected entries get name "" ). A request made while another
 * forced renewal runs joins it (waits for the same outcome for the sets they
 * share, and gets that renewal's progress notes from then on). Returns 0 when every selected set succeeded, -1 otherwise. */
int lifecycle_force_renew(struct lifecycle *lc, const bool *selected,
                          lifecycle_progress_fn fn, void *arg,
                          struct lifecycle_result *results);

/* Revokes set idx's current certificate at its CA (reason code, < 0 omits)
 * and obtains a new one (like a forced renewal). Returns 0 or -1 with e. */
int lifecycle_revoke(struct lifecycle *lc, size_t idx, int reason, lifecycle_progress_fn fn,
                     void *arg, struct ac_error *e);

/* Event delivery without a lifecycle (the one-shot `obtain`): the same
 * webhook and deploy hook as the daemon (same event names, body and
 * environment, DESIGN.md §5.7). */
struct lifecycle_notifier;
/* Starts the delivery thread for cfg's sinks (borrowed; must outlive it).
 * Returns 0 and a new notifier (NULL when cfg has neither a webhook nor a
 * deploy hook: then lifecycle_notify does nothing), or -1 with e. */
int lifecycle_notifier_new(const struct config *cfg, struct lifecycle_notifier **out,
                           struct ac_error *e);
/* Queues event `event` ("obtained", "renewed", "failed") of set (copied);
 * err (copied, may be NULL) for "failed"; files_changed runs the deploy hook. */
void lifecycle_notify(struct lifecycle_notifier *n, const struct config_set *set, const char *event,
                      int64_t not_after, const struct ac_error *err, bool files_changed);
/* Delivers what is queued, within drain_ms in all (what is left is dropped
 * with a warning; a running hook is killed), and frees. NULL is a no-op. */
void lifecycle_notifier_free(struct lifecycle_notifier *n, int64_t drain_ms);

/* Counters for /metrics. */
struct lifecycle_counter {
    char endpoint[24];          /* ACME endpoint ("newOrder" ...) */
    char outcome[8];            /* "ok" / "error" */
    uint64_t count;
};
#define LIFECYCLE_MAX_COUNTERS 64
struct lifecycle_metrics {
    struct lifecycle_counter acme[LIFECYCLE_MAX_COUNTERS];
    size_t acme_count;
    uint64_t orders_ok, orders_failed;
};
void lifecycle_metrics_get(struct lifecycle *lc, struct lifecycle_metrics *out);

#endif
