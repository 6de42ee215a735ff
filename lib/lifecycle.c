/*
 * lifecycle.c - the renewal side of a running manager (lifecycle.h): one
 * scheduler thread that sleeps until the earliest due time (one timed wait on
 * a CLOCK_MONOTONIC condition variable, capped at an hour against wall-clock
 * jumps; no polling), two worker threads that run orders (different sets in
 * parallel, never two orders for one set), forced renewals that join each
 * other, ARI fetches, local-file checks and the persisted per-set state. The
 * decisions are in lifecycle_plan.c, event delivery in lifecycle_events.c, the
 * requests (status, forced renewal, revocation, metrics) in lifecycle_api.c.
 *
 * Stopping (lifecycle_stop) cancels running orders through their
 * issuer_request.cancel token, or (a configuration reload) lets them finish
 * while the new lifecycle already serves: every live lifecycle of the process
 * is in one registry, and a worker never starts an order for files whose order
 * runs in another lifecycle; it hands the set over (running, no thread) and
 * re-reads the files once that order has ended.
 *
 * Lock order: reg_mu, then lc->mu (of any lifecycle), then lc->progress_mu,
 * then the manager's own lock (manager_* calls). Orders, reloads, ARI fetches,
 * state writes and local-file checks run without lc->mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "acme.h"
#include "certset.h"
#include "crypto.h"
#include "issuer.h"
#include "lifecycle.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "schedule.h"
#include "store.h"
#include "timeutil.h"

#define LC_MAX_WAIT_S 3600
#define LC_LOCAL_CHECK_S 2
#define LC_ARI_FAIL_RETRY_S 600
#define LC_ARI_TIMEOUT_MS 10000 /* per renewalInfo request */

/* Every live lifecycle of the process (lifecycle_new adds, lifecycle_free
 * removes). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lifecycle *reg_head;

static uint64_t rand64(void)
{
    uint64_t r = 0;

    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint64_t)ac_mono_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
    return r;
}

/* Certificate facts of set idx, from the handle the manager serves. */
static void cert_facts(struct lifecycle *lc, size_t idx, struct lc_cert_facts *cf)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    autocert_cert *c = manager_set_cert(lc->m, idx);
    gnutls_x509_crt_t crt = NULL;
    size_t n;
    const char *names[256];
    unsigned char serial[64];
    size_t slen = sizeof serial;

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
    cf->names_differ = schedule_names_differ((const char *const *)cfg->domains,
                                             cfg->domains_count, names, n);
    if (lc_leaf_crt(c, &crt) == 0) {
        if (gnutls_x509_crt_get_serial(crt, serial, &slen) == 0) {
            static const char hex[] = "0123456789abcdef";
            size_t k = 0;
            for (size_t i = 0; i < slen && k + 2 < sizeof cf->serial_hex; i++) {
                cf->serial_hex[k++] = hex[serial[i] >> 4];
                cf->serial_hex[k++] = hex[serial[i] & 15];
            }
            cf->serial_hex[k] = '\0';
        }
        gnutls_x509_crt_deinit(crt);
    }
    autocert_cert_release(c);
}

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

/* lc_plan_update plus what the plan does not know: an unmanaged set whose
 * served certificate has expired is `expired`. lc->mu held. */
static void plan_update(struct lifecycle *lc, size_t idx, const struct lc_cert_facts *cf,
                        int64_t now)
{
    struct lc_set *s = &lc->sets[idx];

    lc_plan_update(s, manager_set_config(lc->m, idx), cf, now);
    if (!s->managed && cf->present && now >= cf->not_after)
        s->state = LC_EXPIRED;
}

void lc_replan(struct lifecycle *lc, size_t idx, int64_t now)
{
    struct lc_cert_facts cf;

    cert_facts(lc, idx, &cf);
    plan_update(lc, idx, &cf, now);
}

static bool same_files(const struct config_set *a, const struct config_set *b)
{
    return strcmp(a->cert_path, b->cert_path) == 0 && strcmp(a->key_path, b->key_path) == 0;
}

/* Adds lc to the registry; a set whose files another lifecycle is ordering
 * for right now (a reload during an order) starts handed. */
static void reg_add(struct lifecycle *lc)
{
    pthread_mutex_lock(&reg_mu);
    for (struct lifecycle *o = reg_head; o != NULL; o = o->reg_next) {
        pthread_mutex_lock(&o->mu);
        for (size_t k = 0; k < o->nordering; k++) {
            const struct config_set *busy = manager_set_config(o->m, o->ordering[k]);
            for (size_t j = 0; j < lc->n; j++) {
                if (!same_files(busy, manager_set_config(lc->m, j)))
                    continue;
                lc->sets[j].running = true;
                lc->sets[j].handed = true;
                lc->sets[j].state = LC_RENEWING;
            }
        }
        pthread_mutex_unlock(&o->mu);
    }
    lc->reg_next = reg_head;
    reg_head = lc;
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(struct lifecycle *lc)
{
    pthread_mutex_lock(&reg_mu);
    for (struct lifecycle **p = &reg_head; *p != NULL; p = &(*p)->reg_next)
        if (*p == lc) {
            *p = lc->reg_next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
}

/* Claims the right to order for set idx: true (s->ordering set) unless
 * another lifecycle of the process runs an order for the same files (then the
 * set is handed: s->handed, still running, no worker) or lc is stopping (false,
 * nothing handed). Called without lc->mu. */
static bool reg_claim(struct lifecycle *lc, size_t idx, bool forced)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    struct lc_set *s = &lc->sets[idx];
    bool busy = false;

    pthread_mutex_lock(&reg_mu);
    for (struct lifecycle *o = reg_head; o != NULL && !busy; o = o->reg_next) {
        if (o == lc)
            continue;
        pthread_mutex_lock(&o->mu);
        for (size_t k = 0; k < o->nordering && !busy; k++)
            busy = same_files(cfg, manager_set_config(o->m, o->ordering[k]));
        pthread_mutex_unlock(&o->mu);
    }
    pthread_mutex_lock(&lc->mu);
    if (lc->stopping) { /* nothing new starts once stopping */
        pthread_mutex_unlock(&lc->mu);
        pthread_mutex_unlock(&reg_mu);
        return false;
    }
    if (busy) {
        s->handed = true;
        s->state = LC_RENEWING;
        if (forced)
            s->force_pending = true; /* runs once the other order has ended */
    } else if (lc->nordering < LC_WORKERS) { /* one order per worker */
        s->ordering = true;
        lc->ordering[lc->nordering++] = idx;
    }
    pthread_mutex_unlock(&lc->mu);
    pthread_mutex_unlock(&reg_mu);
    if (busy)
        ac_info(cfg->name, "an order for these files still runs (configuration reloaded "
                           "meanwhile): waiting for its outcome");
    return !busy;
}

/* The order of set idx has ended: every other lifecycle with a set on the same
 * files re-reads them (a handed set is given back to its workers). Called
 * without lc->mu. */
static void reg_order_done(struct lifecycle *lc, size_t idx)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);

    pthread_mutex_lock(&reg_mu);
    pthread_mutex_lock(&lc->mu);
    lc->sets[idx].ordering = false;
    for (size_t k = 0; k < lc->nordering; k++)
        if (lc->ordering[k] == idx) {
            lc->ordering[k] = lc->ordering[--lc->nordering];
            break;
        }
    pthread_mutex_unlock(&lc->mu);
    for (struct lifecycle *o = reg_head; o != NULL; o = o->reg_next) {
        bool any = false;
        if (o == lc)
            continue;
        pthread_mutex_lock(&o->mu);
        for (size_t j = 0; j < o->n; j++) {
            struct lc_set *t = &o->sets[j];
            if (!same_files(cfg, manager_set_config(o->m, j)))
                continue;
            if (t->handed) {
                t->handed = false;
                t->running = false;
            }
            t->reread = true;
            o->queued[j] = true;
            any = true;
        }
        if (any) {
            pthread_cond_broadcast(&o->work_cond);
            pthread_cond_signal(&o->sched_cond);
        }
        pthread_mutex_unlock(&o->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static void persist(struct lifecycle *lc, size_t idx)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    json_object *o;
    struct ac_error e;

    pthread_mutex_lock(&lc->mu);
    o = lc_state_to_json(&lc->sets[idx]);
    pthread_mutex_unlock(&lc->mu);
    if (o == NULL)
        return;
    if (store_state_write(cfg->cert_path, cfg->key_path, o, &e) != 0)
        ac_warn(cfg->name, "state file not written: %s", e.message);
    json_object_put(o);
}

static void post_event(struct lifecycle *lc, size_t idx, const char *event, int64_t not_after,
                       const struct ac_error *err, bool files_changed)
{
    struct lc_event ev;

    if (lc->events == NULL)
        return;
    if (lc_event_init(&ev, event, manager_set_config(lc->m, idx), not_after, err, ac_now()) != 0)
        return;
    ev.files_changed = files_changed;
    lc_events_post(lc->events, &ev);
    lc_event_clear(&ev);
}

/* The order of one set; forced renewals have a generation (> 0). */
struct progress_ctx {
    struct lifecycle *lc;
    size_t idx;
    uint64_t gen;
};

/* Forwards a progress note to every caller waiting for this renewal. */
static void progress(void *arg, const char *set_name, const char *message)
{
    struct progress_ctx *p = arg;

    ac_debug(set_name, "%s", message);
    if (p->gen == 0)
        return;
    pthread_mutex_lock(&p->lc->progress_mu);
    for (struct lc_waiter *w = p->lc->waiter_list; w != NULL; w = w->next)
        if (w->fn != NULL && w->target[p->idx] == p->gen)
            w->fn(w->arg, set_name, message);
    pthread_mutex_unlock(&p->lc->progress_mu);
}

/* ARI certificate id of the set's current leaf, or NULL. */
static char *current_ari_id(struct lifecycle *lc, size_t idx)
{
    autocert_cert *c = manager_set_cert(lc->m, idx);
    gnutls_x509_crt_t crt = NULL;
    char *id = NULL;
    struct ac_error e;

    if (lc_leaf_crt(c, &crt) == 0) {
        if (crypto_ari_cert_id(crt, &id, &e) != 0)
            id = NULL;
        gnutls_x509_crt_deinit(crt);
    }
    autocert_cert_release(c);
    return id;
}

static int account_key(struct lifecycle *lc, const struct config_set *cfg,
                       struct crypto_key **key, struct ac_error *e)
{
    int rc;

    pthread_mutex_lock(&lc->key_mu);
    rc = issuer_account_key(cfg, key, e);
    pthread_mutex_unlock(&lc->key_mu);
    return rc;
}

int lc_issuer_request(struct lifecycle *lc, const struct config_set *cfg,
                      struct issuer_request *req, struct crypto_key **key, struct ac_error *e)
{
    memset(req, 0, sizeof *req);
    if (account_key(lc, cfg, key, e) != 0)
        return -1;
    req->set = cfg;
    req->account_key = *key;
    req->observer = lc_observer;
    req->observer_arg = lc;
    return 0;
}

/* Fetches renewalInfo for set idx (no account needed) and applies it. */
static void fetch_ari(struct lifecycle *lc, size_t idx)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    struct acme_client_opts o = {0};
    struct acme_client *c = NULL;
    struct crypto_key *key = NULL;
    struct acme_renewal_info ri = {0};
    struct lc_cert_facts cf;
    struct ac_error e;
    char *id = current_ari_id(lc, idx);
    int64_t now = ac_now();

    cert_facts(lc, idx, &cf);
    if (id == NULL || !cf.present) {
        pthread_mutex_lock(&lc->mu);
        lc->sets[idx].ari_fetch_at = 0;
        pthread_mutex_unlock(&lc->mu);
        goto out;
    }
    o.directory_url = cfg->ca_dir_url;
    o.ca_files = (const char *const *)cfg->ca_certs;
    o.ca_count = cfg->ca_certs_count;
    o.timeout_ms = LC_ARI_TIMEOUT_MS;
    if (account_key(lc, cfg, &key, &e) != 0 || acme_client_new(&o, key, &c, &e) != 0)
        goto fail;
    acme_client_set_observer(c, lc_observer, lc);
    if (acme_directory_load(c, &e) != 0)
        goto fail;
    if (!acme_has_renewal_info(c)) {
        pthread_mutex_lock(&lc->mu);
        lc->sets[idx].ari_support = 0;
        lc->sets[idx].ari_fetch_at = 0;
        pthread_mutex_unlock(&lc->mu);
        goto out;
    }
    if (acme_renewal_info_get(c, id, &ri, &e) != 0)
        goto fail;
    pthread_mutex_lock(&lc->mu);
    lc->sets[idx].ari_support = 1;
    lc_plan_ari(&lc->sets[idx], cf.serial_hex, ri.start, ri.end, ri.retry_after, now, rand64());
    pthread_mutex_unlock(&lc->mu);
    ac_info(cfg->name, "renewal info: suggested window %lld..%lld",
            (long long)ri.start, (long long)ri.end);
    persist(lc, idx);
    goto out;
fail:
    ac_warn(cfg->name, "renewal info not fetched: %s", e.message);
    pthread_mutex_lock(&lc->mu);
    lc->sets[idx].ari_fetch_at = now + LC_ARI_FAIL_RETRY_S;
    pthread_mutex_unlock(&lc->mu);
out:
    acme_renewal_info_free(&ri);
    acme_client_free(c);
    crypto_key_free(key);
    free(id);
}

/* Runs one order for set idx; gen > 0 for a forced renewal. Returns 0 or -1
 * with e. */
static int run_order(struct lifecycle *lc, size_t idx, uint64_t gen, struct ac_error *e)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    struct issuer_request req = {0};
    struct issuer_result res;
    struct crypto_key *key = NULL;
    struct progress_ctx pc = {lc, idx, gen};
    struct lc_cert_facts before, after;
    struct ac_error e2;
    char *replaces = NULL;
    int rc = -1;

    cert_facts(lc, idx, &before);
    pthread_mutex_lock(&lc->mu);
    if (lc->sets[idx].ari_support == 1)
        replaces = current_ari_id(lc, idx);
    pthread_mutex_unlock(&lc->mu);
    memset(&res, 0, sizeof res);
    ac_info(cfg->name, "%s: starting an order", gen != 0 ? "forced renewal" : "renewal");
    if (lc_issuer_request(lc, cfg, &req, &key, e) != 0)
        goto failed;
    req.replaces = replaces;
    req.progress = progress;
    req.progress_arg = &pc;
    req.cancel = &lc->cancel;
    if (issuer_obtain(&req, &res, e) != 0)
        goto failed;
    if (res.issued && manager_set_reload(lc->m, idx, &e2) < 0)
        ac_err(cfg->name, "new certificate committed but not loaded: %s", e2.message);
    cert_facts(lc, idx, &after);
    pthread_mutex_lock(&lc->mu);
    if (!lc_plan_success(&lc->sets[idx], cfg, res.issued ? &after : NULL, ac_now(), rand64()))
        ac_err(cfg->name, "%s", lc->sets[idx].last_error.message);
    /* The CA may have gained ARI since it was last asked: the renewalInfo
     * fetch lc_plan_success scheduled loads its directory again. */
    if (lc->sets[idx].ari_support == 0)
        lc->sets[idx].ari_support = -1;
    pthread_mutex_unlock(&lc->mu);
    pthread_mutex_lock(&lc->metrics_mu);
    lc->metrics.orders_ok++;
    pthread_mutex_unlock(&lc->metrics_mu);
    ac_info(cfg->name, "in service: %s certificate (serial %s)",
            before.present ? "renewed" : "obtained", res.serial_hex);
    post_event(lc, idx, before.present ? "renewed" : "obtained", res.not_after, NULL,
               res.issued);
    rc = 0;
    goto out;
failed:
    pthread_mutex_lock(&lc->mu);
    lc_plan_failure(&lc->sets[idx], cfg, e, !before.present, ac_now(), rand64());
    pthread_mutex_unlock(&lc->mu);
    if (!ac_error_is(e, AC_ERR_LOCKED) && !ac_error_is(e, AC_ERR_CANCELLED)) {
        pthread_mutex_lock(&lc->metrics_mu);
        lc->metrics.orders_failed++;
        pthread_mutex_unlock(&lc->metrics_mu);
        ac_err(cfg->name, "renewal failed (%s): %s", e->kind, e->message);
        post_event(lc, idx, "failed", before.present ? before.not_after : 0, e, false);
    } else {
        ac_info(cfg->name, "renewal postponed: %s", e->message);
    }
out:
    persist(lc, idx);
    crypto_key_free(key);
    free(replaces);
    return rc;
}

/* Re-reads set idx's files (another lifecycle or process may have committed a
 * new pair meanwhile) and replans. Called without lc->mu. */
static void reread(struct lifecycle *lc, size_t idx)
{
    struct ac_error e;

    ac_error_clear(&e);
    if (manager_set_reload(lc->m, idx, &e) == 1)
        ac_info(manager_set_name(lc->m, idx), "certificate on disk changed: loaded");
    else if (e.kind[0] != '\0')
        ac_debug(manager_set_name(lc->m, idx), "files not re-read: %s", e.message);
}

/* One turn of a worker for set i (picked, running set, lc->mu held on entry
 * and on return): ARI fetch when due, then the order when due or forced. */
static void work_set(struct lifecycle *lc, size_t i)
{
    struct lc_set *s = &lc->sets[i];
    struct ac_error e;
    bool forced, do_ari, do_order, again;
    uint64_t gen;
    int rc = 0;

    lc->queued[i] = false;
    s->running = true;
    forced = s->force_pending;
    gen = s->force_req_gen;
    s->force_pending = false;
    s->running_forced = forced;
    again = s->reread;
    s->reread = false;
    do_ari = !forced && s->ari_fetch_at != 0 && s->ari_fetch_at <= ac_now() && s->ari_support != 0;
    pthread_mutex_unlock(&lc->mu);

    if (again)
        reread(lc, i);
    if (do_ari) {
        struct ac_cancel_scope saved;

        ac_cancel_enter(&lc->cancel, 0, &saved); /* a stop aborts the fetch */
        fetch_ari(lc, i);
        ac_cancel_leave(&saved);
    }
    pthread_mutex_lock(&lc->mu);
    lc_replan(lc, i, ac_now());
    do_order = forced || (s->managed && s->next_attempt != 0 && s->next_attempt <= ac_now());
    pthread_mutex_unlock(&lc->mu);
    ac_error_clear(&e);
    if (do_order && !reg_claim(lc, i, forced)) {
        pthread_mutex_lock(&lc->mu);
        if (s->handed)
            return;       /* stays running, without this worker */
        do_order = false; /* stopping */
        if (forced)
            ac_error_set(&e, AC_ERR_CANCELLED, "shutting down");
        rc = -1;
        pthread_mutex_unlock(&lc->mu);
    }
    if (do_order) {
        /* A pair committed since the plan was made (by the lifecycle a reload
         * retired, or by another process) makes a timed order needless. */
        reread(lc, i);
        pthread_mutex_lock(&lc->mu);
        lc_replan(lc, i, ac_now());
        do_order = forced || (s->next_attempt != 0 && s->next_attempt <= ac_now());
        s->state = do_order ? LC_RENEWING : s->state;
        pthread_mutex_unlock(&lc->mu);
        if (do_order)
            rc = run_order(lc, i, forced ? gen : 0, &e);
        reg_order_done(lc, i);
    }

    pthread_mutex_lock(&lc->mu);
    s->running = false;
    s->running_forced = false;
    if (forced) {
        s->force_done_gen = gen;
        s->force_ok = rc == 0;
        s->force_err = e;
        pthread_cond_broadcast(&lc->done_cond);
    }
    lc_replan(lc, i, ac_now());
    pthread_cond_signal(&lc->sched_cond);
}

static void *worker(void *arg)
{
    struct lifecycle *lc = arg;
    size_t i;

    pthread_mutex_lock(&lc->mu);
    while (!lc->stopping) {
        for (i = 0; i < lc->n; i++)
            if (lc->queued[i] && !lc->sets[i].running)
                break;
        if (i == lc->n) {
            pthread_cond_wait(&lc->work_cond, &lc->mu);
            continue;
        }
        work_set(lc, i);
    }
    pthread_mutex_unlock(&lc->mu);
    return NULL;
}

static void stamp(const char *path, struct lc_filestamp *st)
{
    struct stat sb;

    memset(st, 0, sizeof *st);
    if (stat(path, &sb) != 0)
        return;
    st->exists = true;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
}

static bool stamp_differs(const struct lc_filestamp *a, const struct lc_filestamp *b)
{
    return a->exists != b->exists || a->dev != b->dev || a->ino != b->ino ||
           a->size != b->size || a->mtime.tv_sec != b->mtime.tv_sec ||
           a->mtime.tv_nsec != b->mtime.tv_nsec;
}

/* Re-reads local sets whose files changed. Called without lc->mu. */
static void check_local(struct lifecycle *lc)
{
    struct lc_filestamp now[2];
    struct ac_error e;

    for (size_t i = 0; i < lc->n; i++) {
        const struct config_set *cfg = manager_set_config(lc->m, i);
        if (strcmp(cfg->provider, CONFIG_PROVIDER_LOCAL) != 0)
            continue;
        stamp(cfg->cert_path, &now[0]);
        stamp(cfg->key_path, &now[1]);
        if (!stamp_differs(&now[0], &lc->stamps[i][0]) &&
            !stamp_differs(&now[1], &lc->stamps[i][1]))
            continue;
        lc->stamps[i][0] = now[0];
        lc->stamps[i][1] = now[1];
        if (manager_set_reload(lc->m, i, &e) == 1)
            ac_info(cfg->name, "local certificate files changed: reloaded");
        else if (e.kind[0] != '\0')
            ac_warn(cfg->name, "local certificate files changed but not loaded: %s",
                    e.message);
    }
}

/* Queues due sets; returns the earliest future moment anything is due. */
static int64_t sched_pass(struct lifecycle *lc, int64_t now, bool *queued_any)
{
    int64_t earliest = INT64_MAX;

    for (size_t i = 0; i < lc->n; i++) {
        struct lc_set *s = &lc->sets[i];
        struct lc_cert_facts cf;
        const struct config_set *cfg = manager_set_config(lc->m, i);
        if (!s->managed)
            continue;
        cert_facts(lc, i, &cf);
        plan_update(lc, i, &cf, now);
        if (cf.present && s->expiring_notified != cf.not_after) {
            int64_t soon = schedule_expiring_at(cf.not_before, cf.not_after);
            if (now >= soon) {
                s->expiring_notified = cf.not_after;
                ac_warn(cfg->name, "certificate expires soon");
                post_event(lc, i, "expiring", cf.not_after, NULL, false);
            } else if (soon < earliest) {
                earliest = soon;
            }
        }
        if (s->running || lc->queued[i])
            continue;
        bool ari_due = s->ari_fetch_at != 0 && s->ari_support != 0 && cf.present;
        if (s->force_pending || s->next_attempt <= now || (ari_due && s->ari_fetch_at <= now)) {
            lc->queued[i] = true;
            *queued_any = true;
            continue;
        }
        if (s->next_attempt < earliest)
            earliest = s->next_attempt;
        if (ari_due && s->ari_fetch_at < earliest)
            earliest = s->ari_fetch_at;
    }
    return earliest;
}

static void *scheduler(void *arg)
{
    struct lifecycle *lc = arg;
    struct timespec ts;
    int64_t now, earliest, wait_s;
    bool queued_any;

    pthread_mutex_lock(&lc->mu);
    while (!lc->stopping) {
        now = ac_now();
        if (lc->has_local && now >= lc->next_local_check) {
            pthread_mutex_unlock(&lc->mu);
            check_local(lc);
            pthread_mutex_lock(&lc->mu);
            lc->next_local_check = now + LC_LOCAL_CHECK_S;
            continue;
        }
        queued_any = false;
        earliest = sched_pass(lc, now, &queued_any);
        if (queued_any)
            pthread_cond_broadcast(&lc->work_cond);
        if (lc->has_local && lc->next_local_check < earliest)
            earliest = lc->next_local_check;
        wait_s = earliest == INT64_MAX ? LC_MAX_WAIT_S : earliest - now;
        if (wait_s > LC_MAX_WAIT_S)
            wait_s = LC_MAX_WAIT_S;
        if (wait_s < 1)
            wait_s = 1;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)wait_s;
        pthread_cond_timedwait(&lc->sched_cond, &lc->mu, &ts);
    }
    pthread_mutex_unlock(&lc->mu);
    return NULL;
}

static void log_boot(struct lifecycle *lc, size_t idx)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    autocert_cert *c = manager_set_cert(lc->m, idx);
    char until[32], names[512];
    size_t pos = 0;

    if (c == NULL) {
        struct ac_error le;

        manager_set_last_error(lc->m, idx, &le);
        if (le.kind[0] != '\0')
            ac_warn(cfg->name, "no certificate served: %s", le.message);
        else
            ac_info(cfg->name, "no certificate on disk (%s)", cfg->provider);
        return;
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
    ac_info(cfg->name, "serving %s, valid until %s", names, until);
    autocert_cert_release(c);
}

int lifecycle_new(autocert_manager *m, struct lifecycle **out, struct ac_error *e)
{
    struct lifecycle *lc = calloc(1, sizeof *lc);
    pthread_condattr_t ca;
    json_object *st = NULL;
    struct ac_error se;
    int64_t now = ac_now();

    if (lc == NULL)
        goto nomem;
    lc->m = m;
    lc->cfg = manager_config(m);
    lc->n = manager_set_count(m);
    lc->sets = calloc(lc->n + 1, sizeof *lc->sets);
    lc->queued = calloc(lc->n + 1, sizeof *lc->queued);
    lc->stamps = calloc(lc->n + 1, sizeof *lc->stamps);
    if (lc->sets == NULL || lc->queued == NULL || lc->stamps == NULL)
        goto nomem;
    pthread_mutex_init(&lc->mu, NULL);
    pthread_mutex_init(&lc->key_mu, NULL);
    pthread_mutex_init(&lc->progress_mu, NULL);
    pthread_mutex_init(&lc->metrics_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lc->sched_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&lc->work_cond, NULL);
    pthread_cond_init(&lc->done_cond, NULL);
    for (size_t i = 0; i < lc->n; i++) {
        const struct config_set *cfg = manager_set_config(m, i);
        struct lc_set *s = &lc->sets[i];
        s->idx = i;
        s->managed = config_set_is_managed(cfg);
        s->ari_support = -1;
        ac_error_clear(&s->last_error);
        ac_error_clear(&s->force_err);
        log_boot(lc, i);
        if (strcmp(cfg->provider, CONFIG_PROVIDER_LOCAL) == 0) {
            lc->has_local = true;
            stamp(cfg->cert_path, &lc->stamps[i][0]);
            stamp(cfg->key_path, &lc->stamps[i][1]);
        }
        if (s->managed) {
            s->ari_fetch_at = now;
            if (store_state_read(cfg->cert_path, cfg->key_path, &st, &se) != 0)
                ac_warn(cfg->name, "state file ignored: %s", se.message);
            lc_state_from_json(s, st);
            json_object_put(st);
            st = NULL;
            if (store_failure_marker_read(cfg->cert_path, cfg->key_path, &s->last_failure) != 0)
                s->last_failure = 0;
            if (s->ari_fetch_at == 0 || s->ari_fetch_at > now + 86400)
                s->ari_fetch_at = now;
        }
        lc_replan(lc, i, now);
    }
    lc->next_local_check = now + LC_LOCAL_CHECK_S;
    lc->created_at = now;
    atomic_init(&lc->cancel, false);
    reg_add(lc);
    *out = lc;
    return 0;
nomem:
    if (lc != NULL) {
        free(lc->sets);
        free(lc->queued);
        free(lc->stamps);
        free(lc);
    }
    ac_error_set(e, AC_ERR_NOMEM, "lifecycle_new: out of memory");
    return -1;
}

static int start_threads(struct lifecycle *lc, bool scheduler_too, struct ac_error *e)
{
    int rc;

    if (lc_events_new(lc->cfg, &lc->events, e) != 0)
        return -1;
    for (size_t i = 0; i < LC_WORKERS; i++) {
        rc = pthread_create(&lc->workers[i], NULL, worker, lc);
        if (rc != 0) {
            ac_error_set(e, AC_ERR_INTERNAL, "lifecycle_start: pthread_create: %s",
                         strerror(rc));
            return -1;
        }
        lc->nworkers++;
    }
    if (!scheduler_too)
        return 0;
    rc = pthread_create(&lc->sched, NULL, scheduler, lc);
    if (rc != 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "lifecycle_start: pthread_create: %s", strerror(rc));
        return -1;
    }
    lc->sched_started = true;
    return 0;
}

int lifecycle_start(struct lifecycle *lc, struct ac_error *e)
{
    return start_threads(lc, true, e);
}

int lifecycle_start_oneshot(struct lifecycle *lc, struct ac_error *e)
{
    lc->oneshot = true;
    return start_threads(lc, false, e);
}

void lifecycle_stop(struct lifecycle *lc, bool cancel)
{
    if (lc == NULL)
        return;
    pthread_mutex_lock(&lc->mu);
    lc->stopping = true;
    if (cancel && !lc->cancelling) {
        lc->cancelling = true;
        atomic_store(&lc->cancel, true);
    }
    pthread_cond_broadcast(&lc->sched_cond);
    pthread_cond_broadcast(&lc->work_cond);
    pthread_cond_broadcast(&lc->done_cond);
    pthread_mutex_unlock(&lc->mu);
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

void lifecycle_join(struct lifecycle *lc)
{
    if (lc == NULL || lc->joined)
        return;
    if (lc->sched_started)
        pthread_join(lc->sched, NULL);
    for (size_t i = 0; i < lc->nworkers; i++)
        pthread_join(lc->workers[i], NULL);
    lc->joined = true;
}

void lifecycle_free(struct lifecycle *lc)
{
    if (lc == NULL)
        return;
    lifecycle_stop(lc, true);
    lifecycle_join(lc);
    pthread_mutex_lock(&lc->mu);
    while (lc->waiters > 0)
        pthread_cond_wait(&lc->done_cond, &lc->mu);
    pthread_mutex_unlock(&lc->mu);
    reg_remove(lc);
    lc_events_free(lc->events,
                   lc->oneshot ? LIFECYCLE_ONESHOT_DRAIN_MS : LIFECYCLE_EVENTS_DRAIN_MS);
    pthread_mutex_destroy(&lc->mu);
    pthread_mutex_destroy(&lc->key_mu);
    pthread_mutex_destroy(&lc->progress_mu);
    pthread_mutex_destroy(&lc->metrics_mu);
    pthread_cond_destroy(&lc->sched_cond);
    pthread_cond_destroy(&lc->work_cond);
    pthread_cond_destroy(&lc->done_cond);
    free(lc->sets);
    free(lc->queued);
    free(lc->stamps);
    free(lc);
}
