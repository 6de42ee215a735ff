/*
 * lifecycle.h - the renewal engine inside a manager: per-set state, the
 * scheduler thread (one timed wake-up for the earliest due time), workers
 * created on demand, ARI, backoff, forced renewal, one-off obtain and
 * revocation, events (deploy hook, webhook, the host's callback, the change
 * fd), and the counters behind the metrics. Every manager has exactly one
 * engine (manager_engine); the public API (autocert.h) and the admin API sit
 * on top of this.
 *
 * Thread-safety: every function may be called from any thread; status
 * snapshots are copies.
 */
#ifndef AUTOCERT_LIFECYCLE_H
#define AUTOCERT_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"

/* The same values as enum autocert_state. */
enum lifecycle_state {
    LC_PENDING = AUTOCERT_STATE_PENDING, /* no certificate yet */
    LC_VALID = AUTOCERT_STATE_VALID,
    LC_DUE = AUTOCERT_STATE_DUE,             /* past its renewal moment, attempt imminent */
    LC_RENEWING = AUTOCERT_STATE_RENEWING,   /* an order is running */
    LC_BACKOFF = AUTOCERT_STATE_BACKOFF,     /* last attempt failed; next attempt scheduled */
    LC_EXPIRED = AUTOCERT_STATE_EXPIRED,     /* also an unmanaged set whose certificate expired */
    LC_UNMANAGED = AUTOCERT_STATE_UNMANAGED, /* local, pseudo, selfsigned */
    LC_BOOTSTRAP = AUTOCERT_STATE_BOOTSTRAP, /* no certificate: its stand-in is served */
};
#define LC_STATE_LAST LC_BOOTSTRAP

/* "pending", "valid", "due", "renewing", "backoff", "expired", "unmanaged",
 * "bootstrap". */
const char *lifecycle_state_name(enum lifecycle_state s);

struct lifecycle;

/* The engine of manager m (borrowed from m: valid while m lives). Kept for
 * the callers of the former separate lifecycle: *out is m's engine; always
 * returns 0. */
int lifecycle_new(autocert_manager *m, struct lifecycle **out, struct ac_error *e);
/* Starts the scheduler thread (timed renewals, ARI, local-file checks);
 * workers come on demand. Idempotent. Returns 0 or -1 with e. */
int lifecycle_start(struct lifecycle *lc, struct ac_error *e);
/* Former one-shot start (workers without the scheduler): workers now come on
 * demand, so this does nothing. Returns 0. */
int lifecycle_start_oneshot(struct lifecycle *lc, struct ac_error *e);
/* Stops the engine: nothing new starts; running orders are cancelled
 * (issuer_request.cancel: they end within about a second, a commit already
 * under way is finished, DNS records are removed); every caller waiting in
 * lifecycle_force_renew / _obtain / _revoke returns with AC_ERR_CANCELLED
 * "shutting down"; queued events are delivered within
 * LIFECYCLE_EVENTS_DRAIN_MS; the threads are joined. Afterwards one-off
 * operations work again and lifecycle_start may be called again. `cancel` is
 * ignored (a stop always cancels). NULL is a no-op. Blocks. */
void lifecycle_stop(struct lifecycle *lc, bool cancel);
/* Waits (at most ms) until every caller inside lifecycle_force_renew has
 * returned. Returns how many callers were inside when it was called. */
int lifecycle_wait_callers(struct lifecycle *lc, int64_t ms);
/* Former join of a stopped lifecycle: lifecycle_stop joins. Does nothing. */
void lifecycle_join(struct lifecycle *lc);
/* Former free: the manager owns the engine; this stops it
 * (lifecycle_stop). NULL is a no-op. */
void lifecycle_free(struct lifecycle *lc);

/* Bounds on delivering the events still queued: at a stop (webhook 10 s,
 * deploy hook 60 s each at most), and after a one-off operation of a manager
 * whose engine is not started (the CLI then exits), which waits for its
 * events' hook and webhook. */
#define LIFECYCLE_EVENTS_DRAIN_MS 10000
#define LIFECYCLE_ONESHOT_DRAIN_MS 75000

/* A copy of one set's status. Strings are fixed-size copies. */
struct lifecycle_status {
    char name[72]; /* "main", "extra[1]" */
    char provider[64];
    enum lifecycle_state state;
    bool has_cert;
    /* certificate facts (valid when has_cert) */
    char subject[256]; /* leaf CN */
    char issuer[256];  /* issuer CN */
    int64_t not_before, not_after;
    char serial_hex[80];
    char key_type[16]; /* "EC256" ... */
    char **dns_names;  /* malloc'd copies; lifecycle_status_clear frees */
    size_t dns_count;
    char **email_addresses;
    size_t email_count;
    /* scheduling */
    int64_t renews_at;    /* Unix seconds; 0 when unmanaged or no cert */
    int64_t next_attempt; /* Unix seconds; 0 when nothing is scheduled */
    int failures;         /* consecutive */
    bool has_last_error;
    struct ac_error last_error; /* kind + message (no secrets) */
    int64_t last_error_at;
    int64_t last_success; /* 0 when never */
    /* why a due order has not started: "budget" (its CA account's renewal
     * budget; until waiting_until), "slot" (every worker is busy), or "" */
    char waiting[16];
    int64_t waiting_until; /* 0 when unknown */
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
    char name[72];
    bool ok;
    struct ac_error error; /* when !ok */
};

/* Forced renewal of the sets with selected[i] true (selected NULL = every
 * set); skips cooldowns and backoff; local/pseudo sets complete at once (a
 * local set re-reads its files). Blocks until every selected set is done and
 * fills results[i] for each selected set (results has lifecycle_set_count
 * entries; unselected entries get name "" ). A request made while another
 * forced renewal runs joins it (waits for the same outcome for the sets they
 * share, and gets that renewal's progress notes from then on). Returns 0 when every selected set
 * succeeded, -1 otherwise. */
int lifecycle_force_renew(struct lifecycle *lc, const bool *selected, lifecycle_progress_fn fn,
                          void *arg, struct lifecycle_result *results);

/* Revokes set idx's current certificate at its CA (reason code, < 0 omits)
 * and obtains a new one (like a forced renewal). Returns 0 or -1 with e. */
int lifecycle_revoke(struct lifecycle *lc, size_t idx, int reason, lifecycle_progress_fn fn,
                     void *arg, struct ac_error *e);

/* Obtains the certificate of every set with selected[i] (selected NULL =
 * every set) that has no usable one (present, unexpired, names equal to its
 * configured domains), or every selected one with `force`: forced renewals,
 * several at once. Unmanaged sets are skipped (results[i].ok, name set).
 * results as for lifecycle_force_renew. Returns 0 when every selected set
 * holds a certificate afterwards, -1 otherwise. */
int lifecycle_obtain(struct lifecycle *lc, const bool *selected, bool force,
                     lifecycle_progress_fn fn, void *arg, struct lifecycle_result *results);

/* The host's event callback (autocert_manager_on_event; fn NULL removes). */
void lifecycle_on_event(struct lifecycle *lc, void (*fn)(void *arg, const autocert_event *ev),
                        void *arg);
/* The change eventfd (-1 when none) and its acknowledgement (the count of
 * changes since the last one). */
int lifecycle_changed_fd(struct lifecycle *lc);
uint64_t lifecycle_changed_ack(struct lifecycle *lc);

/* Counters for /metrics. */
struct lifecycle_counter {
    char endpoint[24]; /* ACME endpoint ("newOrder" ...) */
    char outcome[8];   /* "ok" / "error" */
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
