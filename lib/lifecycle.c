/*
 * lifecycle.c - the renewal engine inside a manager (lifecycle.h): one
 * scheduler thread, running between autocert_manager_start and _stop, that
 * sleeps until the top of one timer heap (lifecycle_sched.c: one timed wait
 * on a CLOCK_REALTIME condition variable until that wall-clock time, which
 * follows clock steps and suspends; no polling, no per-set work and no
 * wake-up between due times) and
 * queues due sets, earliest NotAfter first within each CA account's budget
 * (budget.c); worker threads, created on demand up to
 * autocert.max_concurrent_orders, that take sets from the queue and run their ARI fetches
 * and orders (different sets in parallel, never two orders for one set) for
 * the scheduler and for one-off requests alike (lifecycle_api.c), so that
 * obtain, renew and revoke work whether or not the engine was started; the
 * local-file checks; the hand-over of a set a configuration reload replaced
 * while its order runs. The decisions are in lifecycle_plan.c, orders in
 * lifecycle_order.c, event delivery in lifecycle_events.c.
 *
 * Stopping cancels running orders through their issuer_request.cancel token,
 * answers every waiting caller AC_ERR_CANCELLED, joins the threads and
 * leaves the engine ready for one-off requests or another start.
 *
 * Lock order: the manager's write_lock, then ctl_mu, then lc->mu, then
 * lc->progress_mu, then the manager's snap_lock. Orders, reloads, ARI
 * fetches, state writes and local-file checks run without lc->mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "certset.h"
#include "issuer.h"
#include "issuer_fleet.h"
#include "lifecycle.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "schedule.h"
#include "store.h"
#include "timeutil.h"

/* The longest single wait (a due time further away is waited for in steps
 * of a year: no overflow of the deadline) */
#define LC_MAX_WAIT_S (366 * 86400)
#define LC_LOCAL_CHECK_S 2

uint64_t lc_rand64(void)
{
    uint64_t r = 0;

    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint64_t)ac_mono_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
    return r;
}

/* ---- certificate facts and the plan --------------------------------------- */

int lc_leaf_crt(autocert_cert *c, gnutls_x509_crt_t *out)
{
    const unsigned char *der = NULL;
    size_t len = 0;
    gnutls_datum_t d;

    *out = NULL;
    if (c == NULL || autocert_cert_chain_der(c, 0, &der, &len) != 0 ||
        gnutls_x509_crt_init(out) != 0) {
        *out = NULL;
        return -1;
    }
    d.data = (unsigned char *)der;
    d.size = (unsigned int)len;
    if (gnutls_x509_crt_import(*out, &d, GNUTLS_X509_FMT_DER) != 0) {
        gnutls_x509_crt_deinit(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void lc_cert_facts(struct lifecycle *lc, struct acset *s, struct lc_cert_facts *cf)
{
    const struct config_set *cfg = &s->cfg;
    autocert_cert *c = manager_acset_cert(lc->m, s);
    size_t n;
    const char *names[256];

    memset(cf, 0, sizeof *cf);
    if (c == NULL)
        return;
    cf->present = true;
    cf->not_before = autocert_cert_not_before(c);
    cf->not_after = autocert_cert_not_after(c);
    n = autocert_cert_name_count(c);
    if (n > 256)
        n = 256;
    for (size_t i = 0; i < n; i++)
        names[i] = autocert_cert_name(c, i);
    /* The CN is among the names; it is also a SAN for certificates we issue. */
    cf->names_differ =
        schedule_names_differ((const char *const *)cfg->domains, cfg->domains_count, names, n);
    lc_copy_str(cf->serial_hex, sizeof cf->serial_hex, cert_info(c)->serial_hex);
    autocert_cert_release(c);
}

/* lc_plan_update plus what the plan does not know: an unmanaged set whose
 * served certificate has expired is `expired`; a set without a certificate
 * that is served a stand-in (standin.h) is `bootstrap` (also after failed
 * attempts) unless an order runs (`renewing`). lc->mu held. */
static void plan_update(struct acset *s, const struct lc_cert_facts *cf, int64_t now)
{
    lc_plan_update(&s->rec, &s->cfg, cf, now);
    if (!s->managed && cf->present && now >= cf->not_after)
        s->rec.state = LC_EXPIRED;
    if (s->standin_ok && !cf->present && !s->rec.running)
        s->rec.state = LC_BOOTSTRAP;
}

void lc_replan(struct lifecycle *lc, struct acset *s, int64_t now)
{
    struct lc_cert_facts cf;

    lc_cert_facts(lc, s, &cf);
    plan_update(s, &cf, now);
}

void lc_rearm(struct lifecycle *lc, struct acset *s)
{
    struct lc_cert_facts cf;
    int64_t now = ac_now();

    if (lc == NULL || !s->managed)
        return;
    pthread_mutex_lock(&lc->mu);
    if (!s->removed && !s->rec.running && !s->queued && s->rec.wait_slot == 0) {
        lc_cert_facts(lc, s, &cf);
        plan_update(s, &cf, now);
        lc_sched_arm(&lc->sq, s, &cf, now);
        pthread_cond_signal(&lc->sched_cond);
    }
    pthread_mutex_unlock(&lc->mu);
}

void lc_set_init(struct acset *s, int64_t now)
{
    json_object *st = NULL;
    struct ac_error se;
    struct lc_set *r = &s->rec;

    /* a local set's stamps (s->stamps) come from its first read
     * (manager_load.c), which follows at once */
    if (!s->managed)
        return;
    r->ari_fetch_at = now;
    if (store_state_read(s->cfg.cert_path, s->cfg.key_path, &st, &se) != 0)
        ac_warn(s->cfg.name, "state file ignored: %s", se.message);
    lc_state_from_json(r, st);
    json_object_put(st);
    if (store_failure_marker_read(s->cfg.cert_path, s->cfg.key_path, &r->last_failure) != 0)
        r->last_failure = 0;
    if (r->ari_fetch_at == 0 || r->ari_fetch_at > now + 86400)
        r->ari_fetch_at = now;
}

/* ---- the work queue and the workers ------------------------------------------ */

static void *worker(void *arg);

/* Makes sure a worker will look at the queue: one more thread when more sets
 * can run than workers are free. lc->mu held. */
static void kick(struct lifecycle *lc)
{
    int rc;

    /* (a queued set that still runs counts too: at most one worker more) */
    if (!lc->stopping && lc->qlen > lc->idle + lc->starting && lc->nworkers < lc->max_workers &&
        lc->nworkers < LC_WORKERS_CAP) {
        rc = pthread_create(&lc->workers[lc->nworkers], NULL, worker, lc);
        if (rc == 0) {
            lc->nworkers++;
            lc->starting++;
        } else if (lc->nworkers == 0) {
            ac_err(NULL, "engine: cannot start a worker thread: %s", strerror(rc));
        }
    }
    pthread_cond_broadcast(&lc->work_cond);
}

void lc_queue(struct lifecycle *lc, struct acset *s)
{
    lc_sched_forget(&lc->sq, s);
    if (s->queued || s->removed)
        goto out;
    if (lc->qlen == lc->qcap) {
        size_t cap = lc->qcap ? lc->qcap * 2 : 16;
        struct acset **q = realloc(lc->queue, cap * sizeof *q);

        if (q == NULL) {
            ac_err(s->cfg.name, "engine: out of memory; not queued");
            return;
        }
        lc->queue = q;
        lc->qcap = cap;
    }
    if (s->rec.force_pending) {
        /* a forced renewal goes before the timed orders queued */
        memmove(&lc->queue[1], &lc->queue[0], lc->qlen * sizeof lc->queue[0]);
        lc->queue[0] = acset_ref(s);
        lc->qlen++;
    } else {
        lc->queue[lc->qlen++] = acset_ref(s);
    }
    s->queued = true;
out:
    kick(lc);
}

/* Removes entry i of the queue and returns its reference. lc->mu held. */
static struct acset *queue_remove(struct lifecycle *lc, size_t i)
{
    struct acset *s = lc->queue[i];

    memmove(&lc->queue[i], &lc->queue[i + 1], (lc->qlen - i - 1) * sizeof lc->queue[0]);
    lc->qlen--;
    s->queued = false;
    return s;
}

/* A pending forced renewal of s ends without an order. lc->mu held. */
static void force_cancel(struct lifecycle *lc, struct acset *s, const char *why)
{
    struct lc_set *r = &s->rec;

    if (!r->force_pending)
        return;
    r->force_pending = false;
    r->force_done_gen = r->force_req_gen;
    r->force_ok = false;
    {
        struct ac_error fe;

        ac_error_set(&fe, AC_ERR_CANCELLED, "%s", why);
        acset_error_put(&r->force_err, &fe);
    }
    pthread_cond_broadcast(&lc->done_cond);
}

/* The first queued set no worker has, removed from the queue (its reference
 * passes to the caller), or NULL. lc->mu held. */
static struct acset *queue_take(struct lifecycle *lc)
{
    if (lc->busy >= lc->max_workers)
        return NULL; /* the bound was lowered by a reload */
    for (size_t i = 0; i < lc->qlen; i++) {
        struct acset *s = lc->queue[i];

        if (s->rec.running)
            continue;
        s = queue_remove(lc, i);
        if (!s->removed)
            return s;
        force_cancel(
            lc, s,
            "the set was removed or changed (configuration reload or remove_set); ask again");
        acset_unref(s);
        i--;
    }
    return NULL;
}

static void *worker(void *arg)
{
    struct lifecycle *lc = arg;
    struct acset *s;

    pthread_mutex_lock(&lc->mu);
    lc->starting--;
    while (!lc->stopping) {
        s = queue_take(lc);
        if (s == NULL) {
            lc->idle++;
            pthread_cond_wait(&lc->work_cond, &lc->mu);
            lc->idle--;
            continue;
        }
        lc->busy++;
        lc_work_set(lc, s);
        lc->busy--;
        acset_unref(s);
        pthread_cond_signal(&lc->work_cond); /* a slot came free */
    }
    pthread_mutex_unlock(&lc->mu);
    return NULL;
}

void lc_reread(struct lifecycle *lc, struct acset *s)
{
    struct ac_error e;

    ac_error_clear(&e);
    if (manager_acset_reload(lc->m, s, &e) == 1)
        ac_info(s->cfg.name, "certificate on disk changed: loaded");
    else if (e.kind[0] != '\0')
        ac_debug(s->cfg.name, "files not re-read: %s", e.message);
}

/* The order of s has ended. When a reload replaced s meanwhile, the set that
 * took its files over (handed, running without a worker) gets them back and
 * re-reads them. lc->mu held. */
static void order_done(struct lifecycle *lc, struct acset *s)
{
    struct snapshot *snap;

    s->rec.ordering = false;
    if (!s->removed)
        return;
    snap = manager_snap_get(lc->m);
    for (size_t i = 0; i < snap->count; i++) {
        struct acset *t = snap->sets[i];
        if (t == s || !t->rec.handed || !acset_same_files(t, s))
            continue;
        t->rec.handed = false;
        t->rec.running = false;
        t->rec.reread = true;
        lc_queue(lc, t);
    }
    manager_snap_put(snap);
    pthread_cond_signal(&lc->sched_cond);
}

static struct lc_ca_account *account_for(struct lifecycle *lc, const struct config *cfg,
                                         const struct acset *s);

/* The account s is charged to, found (and its budget state read) when the
 * scheduler did not: a one-off order of an engine that does not run (the
 * CLI). lc->mu held. */
static void account_attach(struct lifecycle *lc, struct acset *s)
{
    struct config *cfg;

    if (s->rec.acct != NULL || !s->managed)
        return;
    cfg = manager_config_ref(lc->m);
    if (cfg != NULL)
        s->rec.acct = account_for(lc, cfg, s);
    config_free(cfg);
}

void lc_work_set(struct lifecycle *lc, struct acset *s)
{
    struct lc_set *r = &s->rec;
    struct lc_cert_facts cf;
    struct ac_error e;
    bool forced, do_ari, do_order, again, oneoff;
    uint64_t gen;
    int rc = 0;

    r->running = true;
    forced = r->force_pending;
    gen = r->force_req_gen;
    r->force_pending = false;
    r->running_forced = forced;
    again = r->reread;
    r->reread = false;
    bool pull = r->store_pull;
    r->store_pull = false;
    do_ari = !forced && lc->started && r->ari_fetch_at != 0 && r->ari_fetch_at <= ac_now() &&
             r->ari_support != 0;
    pthread_mutex_unlock(&lc->mu);

    if (again)
        lc_reread(lc, s);
    if (pull)
        lc_store_pull(lc, s);
    if (do_ari) {
        struct ac_cancel_scope saved;

        ac_cancel_enter(&lc->cancel, 0, &saved); /* a stop aborts the fetch */
        lc_fetch_ari(lc, s);
        ac_cancel_leave(&saved);
    }
    pthread_mutex_lock(&lc->mu);
    lc_replan(lc, s, ac_now());
    /* a timed order runs only when the scheduler admitted it (its slot and
     * its account's budget): a set queued for another reason (a pull from
     * the shared store, a re-read) that turns out due goes back to it */
    do_order = forced || (lc->started && s->managed && r->charged && r->next_attempt != 0 &&
                          r->next_attempt <= ac_now());
    ac_error_clear(&e);
    if (do_order && lc->stopping) {
        do_order = false;
        if (forced)
            ac_error_set(&e, AC_ERR_CANCELLED, "shutting down");
        rc = -1;
    }
    pthread_mutex_unlock(&lc->mu);
    if (do_order) {
        /* A pair committed since the plan was made (by another process, or
         * by the order of the set this one replaced) makes a timed order
         * needless. A forced one runs whatever is on disk. */
        if (!forced)
            lc_reread(lc, s);
        pthread_mutex_lock(&lc->mu);
        lc_cert_facts(lc, s, &cf);
        plan_update(s, &cf, ac_now());
        do_order = forced || (r->next_attempt != 0 && r->next_attempt <= ac_now());
        if (do_order) {
            r->ordering = true;
            r->state = LC_RENEWING;
            /* counted in the account's budget (the scheduler's admission
             * did it already for a timed order) */
            account_attach(lc, s);
            lc_sched_charge(&lc->sq, s, !(cf.present && !cf.names_differ), ac_now());
        }
        r->charged = false;
        oneoff = do_order && !lc->started;
        if (do_order && lc->started && r->acct != NULL && r->acct->dirty)
            pthread_cond_signal(&lc->sched_cond); /* it writes the charge now */
        pthread_mutex_unlock(&lc->mu);
        /* Without a scheduler (the CLI) the charge is written before the
         * order runs, where a daemon on the same files reads it; the
         * scheduler writes its own after each admission. */
        if (oneoff)
            lc_sched_save(&lc->sq, &lc->mu, ac_now(), manager_store(lc->m), false);
        if (do_order)
            rc = lc_run_order(lc, s, forced ? gen : 0, &e);
        pthread_mutex_lock(&lc->mu);
        order_done(lc, s);
        pthread_mutex_unlock(&lc->mu);
    }

    pthread_mutex_lock(&lc->mu);
    r->running = false;
    r->running_forced = false;
    if (forced) {
        r->force_done_gen = gen;
        r->force_ok = rc == 0;
        acset_error_put(&r->force_err, &e);
        pthread_cond_broadcast(&lc->done_cond);
    }
    lc_cert_facts(lc, s, &cf);
    plan_update(s, &cf, ac_now());
    lc_sched_arm(&lc->sq, s, &cf, ac_now());
    pthread_cond_signal(&lc->sched_cond);
}

/* ---- the scheduler ------------------------------------------------------------ */

/* Re-reads local sets whose files changed. Called without lc->mu, from the
 * scheduler thread (which alone uses the stamps once the set is shared). */
static void check_local(struct lifecycle *lc, struct snapshot *snap)
{
    struct lc_filestamp now[2];
    struct ac_error e;

    for (size_t i = 0; i < snap->count; i++) {
        struct acset *s = snap->sets[i];
        if (!s->local)
            continue;
        acset_stamp(s, now);
        if (!acset_stamp_differs(&now[0], &s->stamps[0]) &&
            !acset_stamp_differs(&now[1], &s->stamps[1]))
            continue;
        s->stamps[0] = now[0];
        s->stamps[1] = now[1];
        ac_error_clear(&e);
        if (manager_acset_reload(lc->m, s, &e) == 1)
            ac_info(s->cfg.name, "local certificate files changed: reloaded");
        else if (e.kind[0] != '\0')
            ac_warn(s->cfg.name, "local certificate files changed but not loaded: %s", e.message);
    }
}

/* The account of set s under configuration cfg: its CA's directory URL and
 * its account (the EAB key id when it has one, else the account key's path),
 * with the limits of cfg's acme_limits entry for that URL over the CA's
 * defaults. lc->mu held. */
static struct lc_ca_account *account_for(struct lifecycle *lc, const struct config *cfg,
                                         const struct acset *s)
{
    const struct config_set *c = &s->cfg;
    const struct config_acme_limit *l = config_acme_limit_find(cfg, c->ca_dir_url);
    struct budget_limits lim;
    char id[1024], path[STORE_PATH_MAX];
    const char *key = c->acme_key_path != NULL ? c->acme_key_path : "";

    budget_default_limits(c->ca_dir_url, &lim);
    if (l != NULL && l->orders_per_3h >= 0)
        lim.orders_per_3h = l->orders_per_3h;
    if (l != NULL && l->new_certs_per_domain_week >= 0)
        lim.new_certs_per_domain_week = l->new_certs_per_domain_week;
    if (c->eab_kid != NULL && c->eab_kid[0] != '\0')
        snprintf(id, sizeof id, "%s|eab:%s", c->ca_dir_url ? c->ca_dir_url : "", c->eab_kid);
    else
        snprintf(id, sizeof id, "%s|key:%s", c->ca_dir_url ? c->ca_dir_url : "", key);
    if (key[0] == '\0' || budget_state_path(key, id, path, sizeof path) != 0)
        return lc_sched_account(&lc->sq, id, &lim, NULL);
    return lc_sched_account(&lc->sq, id, &lim, path);
}

/* The sets (or the configuration) changed: the worker bound from the
 * configuration, and every managed set of snap planned and armed. lc->mu
 * held. */
static void set_bound(struct lifecycle *lc, const struct config *cfg)
{
    size_t max = cfg != NULL ? (size_t)cfg->max_concurrent_orders : LC_MAX_WORKERS;

    lc->max_workers = max < 1 ? 1 : max > LC_WORKERS_CAP ? LC_WORKERS_CAP : max;
}

static void resync(struct lifecycle *lc, struct snapshot *snap, int64_t now)
{
    struct config *cfg = manager_config_ref(lc->m);

    set_bound(lc, cfg);
    for (size_t i = 0; i < snap->count; i++) {
        struct acset *s = snap->sets[i];
        struct lc_cert_facts cf;

        if (!s->managed)
            continue;
        if (cfg != NULL) {
            struct lc_ca_account *a = account_for(lc, cfg, s);

            if (a != s->rec.acct) {
                lc_sched_forget(&lc->sq, s); /* out of the old account's line */
                s->rec.acct = a;
            }
        }
        lc_cert_facts(lc, s, &cf);
        plan_update(s, &cf, now);
        lc_sched_arm(&lc->sq, s, &cf, now);
    }
    config_free(cfg);
}

static void ops_facts(void *arg, struct acset *s, struct lc_cert_facts *cf)
{
    lc_cert_facts(arg, s, cf);
}

static void ops_expiring(void *arg, struct acset *s, const struct lc_cert_facts *cf)
{
    ac_warn(s->cfg.name, "certificate expires soon");
    lc_post_event(arg, s, "expiring", cf->not_after, NULL, false);
}

static void ops_start(void *arg, struct acset *s)
{
    lc_queue(arg, s);
}

/* How often the budgets are merged with their stored state (the state
 * files, or a shared store's rows) to take what other processes or nodes
 * charged, at most (when the scheduler wakes); at once for an account never
 * merged. */
#define LC_BUDGET_SYNC_S 60

static bool budgets_dirty(const struct lc_sched *q)
{
    for (size_t i = 0; i < q->nacct; i++)
        if (q->acct[i]->dirty && q->acct[i]->state_path != NULL && !q->acct[i]->syncing)
            return true;
    return false;
}

static bool any_local(const struct snapshot *snap)
{
    for (size_t i = 0; i < snap->count; i++)
        if (snap->sets[i]->local)
            return true;
    return false;
}

static void *scheduler(void *arg)
{
    struct lifecycle *lc = arg;
    struct lc_sched_ops ops = {ops_facts, ops_expiring, ops_start, lc};
    struct timespec ts;
    int64_t now, earliest, wait_s;
    struct snapshot *snap;
    size_t free_slots;
    struct storage *store = manager_store(lc->m);
    bool local, shared = fleet_shared(store);
    int64_t budget_synced = 0, store_wake;

    pthread_mutex_lock(&lc->mu);
    lc->resync = true;
    lc->sq.hold_unsynced = shared;
    while (!lc->stopping) {
        now = ac_now();
        snap = manager_snap_get(lc->m);
        local = !lc->watch_running && any_local(snap); /* the watcher has them */
        if (local && now >= lc->next_local_check) {
            pthread_mutex_unlock(&lc->mu);
            check_local(lc, snap);
            manager_snap_put(snap);
            pthread_mutex_lock(&lc->mu);
            lc->next_local_check = now + LC_LOCAL_CHECK_S;
            continue;
        }
        if (lc->selfsigned_at <= now) {
            int64_t next;
            manager_snap_put(snap);
            lc->selfsigned_at = INT64_MAX; /* a replace meanwhile sets 0 again */
            pthread_mutex_unlock(&lc->mu);
            next = lc_selfsigned_pass(lc, false);
            pthread_mutex_lock(&lc->mu);
            if (next < lc->selfsigned_at)
                lc->selfsigned_at = next;
            continue;
        }
        if (lc->resync) {
            lc->resync = false;
            resync(lc, snap, now);
        }
        manager_snap_put(snap);
        free_slots =
            lc->max_workers > lc->busy + lc->qlen ? lc->max_workers - lc->busy - lc->qlen : 0;
        if (now - budget_synced >= LC_BUDGET_SYNC_S ||
            (now > budget_synced && lc_sched_unsynced(&lc->sq))) {
            /* what the other processes on these files, or the other nodes
             * of the fleet, spent: before admitting */
            budget_synced = now;
            pthread_mutex_unlock(&lc->mu);
            lc_sched_save(&lc->sq, &lc->mu, now, manager_store(lc->m), true);
            pthread_mutex_lock(&lc->mu);
            continue;
        }
        if (shared && !store->ops->is_up(store))
            free_slots = 0; /* no order without the store's lease: none admitted
                             * (nor charged to a budget) until it is back */
        store_wake = shared ? lc_store_watch(lc, now) : INT64_MAX;
        earliest = lc_sched_tick(&lc->sq, &ops, now, &free_slots);
        if (store_wake < earliest)
            earliest = store_wake;
        if (shared && earliest > now + 1 && lc_sched_unsynced(&lc->sq))
            earliest = now + 1; /* the merge tried again: orders wait for it */
        if (budgets_dirty(&lc->sq)) {
            pthread_mutex_unlock(&lc->mu);
            lc_sched_save(&lc->sq, &lc->mu, now, manager_store(lc->m), false);
            pthread_mutex_lock(&lc->mu);
            continue;
        }
        if (lc->selfsigned_at < earliest)
            earliest = lc->selfsigned_at;
        if (local && lc->next_local_check < earliest)
            earliest = lc->next_local_check;
        if (earliest == INT64_MAX) {
            /* nothing will ever be due: asleep until something changes */
            pthread_cond_wait(&lc->sched_cond, &lc->mu);
            continue;
        }
        wait_s = earliest - now;
        if (wait_s > LC_MAX_WAIT_S)
            wait_s = LC_MAX_WAIT_S;
        if (wait_s < 1)
            wait_s = 1;
        /* due times are wall-clock times: a CLOCK_REALTIME deadline fires at
         * that wall time across clock steps and a suspend (a monotonic one
         * would not), so the only wake-up is the due time's */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)wait_s;
        pthread_cond_timedwait(&lc->sched_cond, &lc->mu, &ts);
    }
    pthread_mutex_unlock(&lc->mu);
    return NULL;
}

/* ---- a configuration reload ------------------------------------------------------ */

/* v[0..n) holds s: through the index ps when there is one. */
static bool contains(const struct acset_ptrset *ps, struct acset *const *v, size_t n,
                     const struct acset *s)
{
    if (ps->cap > 0)
        return acset_ptrset_has(ps, s);
    for (size_t i = 0; i < n; i++)
        if (v[i] == s)
            return true;
    return false;
}

/* True when old and new_sets hold the same local sets: the watcher's index
 * (built from them) still holds, and needs no rebuild and no stamp of every
 * set. False when it cannot tell (no memory for the indexes). */
static bool same_local_sets(const struct acset_ptrset *in_old, struct acset *const *old,
                            size_t nold, const struct acset_ptrset *in_new,
                            struct acset *const *new_sets, size_t nnew)
{
    if (in_old->cap == 0 || in_new->cap == 0)
        return false;
    for (size_t i = 0; i < nold; i++)
        if (old[i]->local && !acset_ptrset_has(in_new, old[i]))
            return false;
    for (size_t k = 0; k < nnew; k++)
        if (new_sets[k]->local && !acset_ptrset_has(in_old, new_sets[k]))
            return false;
    return true;
}

void lc_sets_replaced(struct lifecycle *lc, struct acset *const *old, size_t nold,
                      struct acset *const *new_sets, size_t nnew)
{
    struct acset_ptrset in_old = {NULL, 0}, in_new = {NULL, 0};
    struct config *cfg = manager_config_ref(lc->m);

    /* without memory for the indexes, contains() walks the arrays */
    (void)acset_ptrset_init(&in_old, old, nold);
    (void)acset_ptrset_init(&in_new, new_sets, nnew);
    pthread_mutex_lock(&lc->mu);
    set_bound(lc, cfg);
    for (size_t i = 0; i < nold; i++) {
        struct acset *o = old[i];
        if (contains(&in_new, new_sets, nnew, o))
            continue;
        o->removed = true;
        lc_sched_forget(&lc->sq, o);
        for (size_t k = 0; k < lc->qlen && !o->rec.running; k++)
            if (lc->queue[k] == o) {
                acset_unref(queue_remove(lc, k));
                break;
            }
        if (!o->rec.running)
            force_cancel(lc, o,
                         "the set was removed or changed (configuration reload or "
                         "remove_set); ask again");
        if (!o->rec.ordering && !o->rec.handed)
            continue;
        /* its order goes on: the set on the same files waits for it */
        for (size_t k = 0; k < nnew; k++) {
            struct acset *n = new_sets[k];
            if (!acset_same_files(n, o) || contains(&in_old, old, nold, n))
                continue;
            n->rec.running = true;
            n->rec.handed = true;
            n->rec.state = LC_RENEWING;
            ac_info(n->cfg.name, "an order for these files still runs (configuration "
                                 "reloaded meanwhile): waiting for its outcome");
        }
    }
    /* a set the watcher polls may now have a directory it can watch */
    if (lc->watch_running &&
        (lc->watch_polling || !same_local_sets(&in_old, old, nold, &in_new, new_sets, nnew)))
        lc_watch_kick(lc);
    lc->resync = true; /* new sets, maybe new limits: plan and arm them all */
    for (size_t k = 0; k < nnew; k++)
        if (new_sets[k]->selfsigned && !contains(&in_old, old, nold, new_sets[k]))
            lc->selfsigned_at = 0; /* a new selfsigned set: look at it now */
    pthread_cond_signal(&lc->sched_cond);
    pthread_mutex_unlock(&lc->mu);
    config_free(cfg);
    acset_ptrset_free(&in_old);
    acset_ptrset_free(&in_new);
}

/* ---- start, stop ------------------------------------------------------------------- */

/* The start-up summary of many sets (above ACSET_LOG_EACH_MAX): counts by
 * state, how many hold no certificate or failed to load, the earliest
 * expiry. */
struct boot_tally {
    size_t by_state[LC_STATE_LAST + 1];
    size_t without, failed;
    int64_t earliest;
    char earliest_set[32];
};

/* Logs s's start-up line (info when verbose, else debug) and counts it in t. */
static void log_boot(struct lifecycle *lc, struct acset *s, bool verbose, struct boot_tally *t)
{
    autocert_cert *c = manager_acset_cert(lc->m, s);
    char until[32], names[512];
    size_t pos = 0;
    enum ac_log_level lvl = verbose ? AC_LOG_INFO : AC_LOG_DEBUG;
    enum lifecycle_state st;

    pthread_mutex_lock(&lc->mu);
    lc_replan(lc, s, ac_now());
    st = s->rec.state;
    pthread_mutex_unlock(&lc->mu);
    if ((size_t)st < sizeof t->by_state / sizeof t->by_state[0])
        t->by_state[st]++;
    if (c == NULL) {
        struct ac_error le;

        t->without++;
        manager_acset_last_error(lc->m, s, &le, NULL);
        if (le.kind[0] != '\0') {
            t->failed++;
            ac_log(verbose ? AC_LOG_WARN : AC_LOG_DEBUG, s->cfg.name, "no certificate served: %s",
                   le.message);
        } else {
            ac_log(lvl, s->cfg.name, "no certificate on disk (%s)", s->cfg.provider);
        }
        return;
    }
    if (t->earliest == 0 || autocert_cert_not_after(c) < t->earliest) {
        t->earliest = autocert_cert_not_after(c);
        snprintf(t->earliest_set, sizeof t->earliest_set, "%s", s->cfg.name);
    }
    names[0] = '\0';
    for (size_t i = 0; i < autocert_cert_name_count(c); i++) {
        const char *nm = autocert_cert_name(c, i);
        size_t l = strlen(nm);
        if (pos + l + 2 >= sizeof names)
            break;
        if (pos > 0)
            names[pos++] = ' ';
        memcpy(names + pos, nm, l);
        pos += l;
        names[pos] = '\0';
    }
    ac_time_format_rfc3339(autocert_cert_not_after(c), until, sizeof until);
    ac_log(lvl, s->cfg.name, "serving %s, valid until %s", names, until);
    autocert_cert_release(c);
}

static void log_boot_summary(const struct boot_tally *t, size_t n)
{
    char counts[256] = "", until[32] = "none";
    size_t used = 0;

    for (int st = 0; st <= LC_STATE_LAST; st++) {
        int k;
        if (t->by_state[st] == 0)
            continue;
        k = snprintf(counts + used, sizeof counts - used, "%s%zu %s", used ? ", " : "",
                     t->by_state[st], lifecycle_state_name((enum lifecycle_state)st));
        if (k < 0 || (size_t)k >= sizeof counts - used)
            break;
        used += (size_t)k;
    }
    if (t->earliest != 0)
        ac_time_format_rfc3339(t->earliest, until, sizeof until);
    ac_info(NULL,
            "start-up: %zu sets (%s); %zu hold a certificate, %zu without one (%zu failed to "
            "load); earliest expiry %s%s%s%s (per-set lines at debug level)",
            n, counts, n - t->without, t->without, t->failed, until, t->earliest ? " (" : "",
            t->earliest_set, t->earliest ? ")" : "");
}

int lc_engine_new(autocert_manager *m, struct lifecycle **out, struct ac_error *e)
{
    struct lifecycle *lc = calloc(1, sizeof *lc);

    *out = NULL;
    if (lc == NULL || lc_cache_new(&lc->cache) != 0) {
        free(lc);
        ac_error_set(e, AC_ERR_NOMEM, "engine: out of memory");
        return -1;
    }
    lc->m = m;
    set_bound(lc, m->cfg); /* m's creation: its configuration is set already */
    pthread_mutex_init(&lc->ctl_mu, NULL);
    pthread_mutex_init(&lc->mu, NULL);
    pthread_mutex_init(&lc->progress_mu, NULL);
    pthread_mutex_init(&lc->metrics_mu, NULL);
    pthread_mutex_init(&lc->event_mu, NULL);
    pthread_cond_init(&lc->sched_cond, NULL); /* CLOCK_REALTIME: see the scheduler's wait */
    pthread_cond_init(&lc->work_cond, NULL);
    pthread_cond_init(&lc->done_cond, NULL);
    atomic_init(&lc->cancel, false);
    lc->changed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    lc->watch_wake = -1;
    *out = lc;
    return 0;
}

int lifecycle_start(struct lifecycle *lc, struct ac_error *e)
{
    struct acset **sets = NULL;
    size_t n = 0;
    int64_t selfsigned_at;
    int rc = 0;

    pthread_mutex_lock(&lc->ctl_mu);
    pthread_mutex_lock(&lc->mu);
    if (lc->started) {
        pthread_mutex_unlock(&lc->mu);
        goto out;
    }
    pthread_mutex_unlock(&lc->mu);
    if (manager_sets(lc->m, &sets, &n) == 0) {
        struct boot_tally t;

        memset(&t, 0, sizeof t);
        for (size_t i = 0; i < n; i++)
            log_boot(lc, sets[i], n <= ACSET_LOG_EACH_MAX, &t);
        if (n > ACSET_LOG_EACH_MAX)
            log_boot_summary(&t, n);
    }
    manager_sets_free(sets, n);
    selfsigned_at = lc_selfsigned_pass(lc, true);
    if (lc_watch_start(lc) != 0)
        ac_warn(NULL, "engine: no local-file watcher thread; local files are checked every %d s",
                LC_LOCAL_CHECK_S);
    pthread_mutex_lock(&lc->mu);
    lc->next_local_check = ac_now() + LC_LOCAL_CHECK_S;
    lc->selfsigned_at = selfsigned_at;
    lc->started = true;
    rc = pthread_create(&lc->sched, NULL, scheduler, lc);
    if (rc != 0) {
        lc->started = false;
        ac_error_set(e, AC_ERR_INTERNAL, "engine: cannot start the scheduler: %s", strerror(rc));
        rc = -1;
    }
    pthread_mutex_unlock(&lc->mu);
out:
    pthread_mutex_unlock(&lc->ctl_mu);
    return rc;
}

int lifecycle_start_oneshot(struct lifecycle *lc, struct ac_error *e)
{
    return 0;
}

/* Clears what a stop leaves: the queue, pending forced renewals, hand-overs.
 * lc->mu held, no worker left. */
static void stop_reset(struct lifecycle *lc)
{
    struct snapshot *snap = manager_snap_get(lc->m);

    while (lc->qlen > 0) {
        struct acset *s = queue_remove(lc, lc->qlen - 1);
        force_cancel(lc, s, "shutting down");
        acset_unref(s);
    }
    for (size_t i = 0; i < snap->count; i++) {
        struct lc_set *r = &snap->sets[i]->rec;
        force_cancel(lc, snap->sets[i], "shutting down");
        if (r->handed) {
            r->handed = false;
            r->running = false;
            r->reread = true;
        }
    }
    manager_snap_put(snap);
}

void lifecycle_stop(struct lifecycle *lc, bool cancel)
{
    bool sched;
    size_t nworkers;

    if (lc == NULL)
        return;
    pthread_mutex_lock(&lc->ctl_mu);
    pthread_mutex_lock(&lc->mu);
    lc->stopping = true;
    atomic_store(&lc->cancel, true);
    for (size_t i = 0; i < LC_WORKERS_CAP; i++)
        if (lc->active[i] != NULL)
            atomic_store(&lc->active[i]->cancel, true);
    sched = lc->started;
    nworkers = lc->nworkers;
    pthread_cond_broadcast(&lc->sched_cond);
    pthread_cond_broadcast(&lc->work_cond);
    pthread_cond_broadcast(&lc->done_cond);
    pthread_mutex_unlock(&lc->mu);
    lc_watch_stop(lc);
    if (sched)
        pthread_join(lc->sched, NULL);
    for (size_t i = 0; i < nworkers; i++)
        pthread_join(lc->workers[i], NULL);
    /* what the last orders charged, before the process may exit */
    lc_sched_save(&lc->sq, &lc->mu, ac_now(), manager_store(lc->m), false);
    pthread_mutex_lock(&lc->mu);
    while (lc->waiters > 0)
        pthread_cond_wait(&lc->done_cond, &lc->mu);
    stop_reset(lc);
    lc->nworkers = 0;
    lc->idle = 0;
    lc->starting = 0;
    lc->started = false;
    lc->stopping = false;
    atomic_store(&lc->cancel, false);
    pthread_mutex_unlock(&lc->mu);
    lc_events_drain(lc, LIFECYCLE_EVENTS_DRAIN_MS);
    pthread_mutex_unlock(&lc->ctl_mu);
}

int lifecycle_wait_callers(struct lifecycle *lc, int64_t ms)
{
    struct timespec dl;
    int n;

    if (lc == NULL)
        return 0;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += (time_t)(ms / 1000);
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lc->mu);
    n = lc->waiters;
    while (lc->waiters > 0)
        if (pthread_cond_timedwait(&lc->done_cond, &lc->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&lc->mu);
    return n;
}

void lifecycle_join(struct lifecycle *lc) {}

void lifecycle_free(struct lifecycle *lc)
{
    lifecycle_stop(lc, true);
}

int lifecycle_new(autocert_manager *m, struct lifecycle **out, struct ac_error *e)
{
    *out = manager_engine(m);
    return 0;
}

void lc_engine_free(struct lifecycle *lc, int64_t drain_ms)
{
    if (lc == NULL)
        return;
    lifecycle_stop(lc, true);
    lc_events_free(lc->sinks, drain_ms);
    lc_events_free(lc->host, drain_ms);
    lc_cache_free(lc->cache);
    if (lc->changed_fd >= 0)
        close(lc->changed_fd);
    if (lc->watch_wake >= 0)
        close(lc->watch_wake);
    pthread_mutex_destroy(&lc->ctl_mu);
    pthread_mutex_destroy(&lc->mu);
    pthread_mutex_destroy(&lc->progress_mu);
    pthread_mutex_destroy(&lc->metrics_mu);
    pthread_mutex_destroy(&lc->event_mu);
    pthread_cond_destroy(&lc->sched_cond);
    pthread_cond_destroy(&lc->work_cond);
    pthread_cond_destroy(&lc->done_cond);
    lc_sched_free(&lc->sq);
    free(lc->queue);
    free(lc);
}
