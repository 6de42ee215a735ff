/*
 * lifecycle.c - the renewal side of a running manager (lifecycle.h): one
 * scheduler thread that sleeps until the earliest due time (one timed wait on
 * a CLOCK_MONOTONIC condition variable, capped at an hour against wall-clock
 * jumps; no polling), two worker threads that run orders (different sets in
 * parallel, never two orders for one set), forced renewals that join each
 * other, ARI fetches, and the persisted per-set state. The decisions are in
 * lifecycle_plan.c; event delivery in lifecycle_events.c.
 *
 * Lock order: lc->mu, then the manager's own lock (manager_* calls). Orders,
 * reloads, ARI fetches, state writes and local-file checks run without lc->mu.
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

#define LC_WORKERS 2
#define LC_MAX_WAIT_S 3600
#define LC_LOCAL_CHECK_S 2
#define LC_ARI_FAIL_RETRY_S 600

struct lc_filestamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct lifecycle {
    autocert_manager *m;        /* borrowed */
    const struct config *cfg;   /* borrowed from m */
    size_t n;
    struct lc_set *sets;
    bool *queued;
    struct lc_filestamp (*stamps)[2]; /* local sets: cert, key */
    int ari_supported;          /* -1 unknown, 0 no, 1 yes */
    pthread_mutex_t mu;
    pthread_cond_t sched_cond;  /* CLOCK_MONOTONIC */
    pthread_cond_t work_cond;
    pthread_cond_t done_cond;
    pthread_mutex_t key_mu;     /* account key creation */
    pthread_t sched;
    pthread_t workers[LC_WORKERS];
    size_t nworkers;
    bool sched_started;
    bool stopping;
    int waiters;                /* callers inside lifecycle_force_renew */
    int64_t next_local_check;
    bool has_local;
    lifecycle_progress_fn *progress_fn; /* per set, for forced renewals */
    void **progress_arg;
    struct lc_events *events;
    pthread_mutex_t metrics_mu;
    struct lifecycle_metrics metrics;
};

static const char *const state_names[] = {"pending",  "valid",   "due",      "renewing",
                                          "backoff",  "expired", "unmanaged"};

const char *lifecycle_state_name(enum lifecycle_state s)
{
    if ((int)s < 0 || (size_t)s >= sizeof state_names / sizeof state_names[0])
        return "unknown";
    return state_names[s];
}

static uint64_t rand64(void)
{
    uint64_t r = 0;

    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint64_t)ac_mono_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
    return r;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = src != NULL ? strlen(src) : 0;

    if (l >= n)
        l = n - 1;
    if (l > 0)
        memcpy(dst, src, l);
    dst[l] = '\0';
}

/* Certificate facts of set idx, from the handle the manager serves. */
static void cert_facts(struct lifecycle *lc, size_t idx, struct lc_cert_facts *cf)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    autocert_cert *c = manager_set_cert(lc->m, idx);
    gnutls_x509_crt_t crt = NULL;
    const unsigned char *der = NULL;
    size_t len = 0, n;
    const char *names[256];
    gnutls_datum_t d;
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
    if (autocert_cert_chain_der(c, 0, &der, &len) == 0 && gnutls_x509_crt_init(&crt) == 0) {
        d.data = (unsigned char *)der;
        d.size = (unsigned int)len;
        if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == 0 &&
            gnutls_x509_crt_get_serial(crt, serial, &slen) == 0) {
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

/* Called with lc->mu held. */
static void replan(struct lifecycle *lc, size_t idx, int64_t now)
{
    struct lc_cert_facts cf;

    cert_facts(lc, idx, &cf);
    lc_plan_update(&lc->sets[idx], manager_set_config(lc->m, idx), &cf, now);
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

static void observer(void *arg, const char *endpoint, const char *outcome)
{
    struct lifecycle *lc = arg;
    struct lifecycle_metrics *mt = &lc->metrics;
    size_t i;

    pthread_mutex_lock(&lc->metrics_mu);
    for (i = 0; i < mt->acme_count; i++)
        if (strcmp(mt->acme[i].endpoint, endpoint) == 0 &&
            strcmp(mt->acme[i].outcome, outcome) == 0)
            break;
    if (i == mt->acme_count && i < LIFECYCLE_MAX_COUNTERS) {
        copy_str(mt->acme[i].endpoint, sizeof mt->acme[i].endpoint, endpoint);
        copy_str(mt->acme[i].outcome, sizeof mt->acme[i].outcome, outcome);
        mt->acme_count++;
    }
    if (i < mt->acme_count)
        mt->acme[i].count++;
    pthread_mutex_unlock(&lc->metrics_mu);
}

struct progress_ctx {
    lifecycle_progress_fn fn;
    void *arg;
};

static void progress(void *arg, const char *set_name, const char *message)
{
    struct progress_ctx *p = arg;

    ac_debug(set_name, "%s", message);
    if (p->fn != NULL)
        p->fn(p->arg, set_name, message);
}

/* ARI certificate id of the set's current leaf, or NULL. */
static char *current_ari_id(struct lifecycle *lc, size_t idx)
{
    autocert_cert *c = manager_set_cert(lc->m, idx);
    gnutls_x509_crt_t crt = NULL;
    const unsigned char *der = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    char *id = NULL;
    struct ac_error e;

    if (c == NULL)
        return NULL;
    if (autocert_cert_chain_der(c, 0, &der, &len) != 0 || gnutls_x509_crt_init(&crt) != 0)
        goto out;
    d.data = (unsigned char *)der;
    d.size = (unsigned int)len;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == 0 &&
        crypto_ari_cert_id(crt, &id, &e) != 0)
        id = NULL;
    gnutls_x509_crt_deinit(crt);
out:
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
    if (account_key(lc, cfg, &key, &e) != 0 || acme_client_new(&o, key, &c, &e) != 0)
        goto fail;
    acme_client_set_observer(c, observer, lc);
    if (acme_directory_load(c, &e) != 0)
        goto fail;
    if (!acme_has_renewal_info(c)) {
        pthread_mutex_lock(&lc->mu);
        lc->ari_supported = 0;
        lc->sets[idx].ari_fetch_at = 0;
        pthread_mutex_unlock(&lc->mu);
        goto out;
    }
    if (acme_renewal_info_get(c, id, &ri, &e) != 0)
        goto fail;
    pthread_mutex_lock(&lc->mu);
    lc->ari_supported = 1;
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

/* Runs one order for set idx. Returns 0 or -1 with e. */
static int run_order(struct lifecycle *lc, size_t idx, bool forced, struct ac_error *e)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);
    struct issuer_request req = {0};
    struct issuer_result res;
    struct crypto_key *key = NULL;
    struct progress_ctx pc = {0};
    struct lc_cert_facts before;
    struct ac_error e2;
    char *replaces = NULL;
    int rc = -1;

    cert_facts(lc, idx, &before);
    pthread_mutex_lock(&lc->mu);
    if (forced) {
        pc.fn = lc->progress_fn[idx];
        pc.arg = lc->progress_arg[idx];
    }
    if (lc->ari_supported == 1)
        replaces = current_ari_id(lc, idx);
    pthread_mutex_unlock(&lc->mu);
    memset(&res, 0, sizeof res);
    ac_info(cfg->name, "%s: starting an order", forced ? "forced renewal" : "renewal");
    if (account_key(lc, cfg, &key, e) != 0)
        goto failed;
    req.set = cfg;
    req.account_key = key;
    req.replaces = replaces;
    req.progress = progress;
    req.progress_arg = &pc;
    req.observer = observer;
    req.observer_arg = lc;
    if (issuer_obtain(&req, &res, e) != 0)
        goto failed;
    if (res.issued && manager_set_reload(lc->m, idx, &e2) < 0)
        ac_err(cfg->name, "new certificate committed but not loaded: %s", e2.message);
    pthread_mutex_lock(&lc->mu);
    lc_plan_success(&lc->sets[idx], ac_now());
    if (lc->ari_supported == 0)
        lc->sets[idx].ari_fetch_at = 0;
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

static void *worker(void *arg)
{
    struct lifecycle *lc = arg;
    struct ac_error e;
    size_t i;
    bool forced, do_ari, do_order;
    uint64_t gen;
    int rc;

    pthread_mutex_lock(&lc->mu);
    while (!lc->stopping) {
        for (i = 0; i < lc->n; i++)
            if (lc->queued[i] && !lc->sets[i].running)
                break;
        if (i == lc->n) {
            pthread_cond_wait(&lc->work_cond, &lc->mu);
            continue;
        }
        struct lc_set *s = &lc->sets[i];
        lc->queued[i] = false;
        s->running = true;
        forced = s->force_pending;
        gen = s->force_req_gen;
        s->force_pending = false;
        s->running_forced = forced;
        do_ari = !forced && s->ari_fetch_at != 0 && s->ari_fetch_at <= ac_now() &&
                 lc->ari_supported != 0;
        pthread_mutex_unlock(&lc->mu);

        if (do_ari)
            fetch_ari(lc, i);
        pthread_mutex_lock(&lc->mu);
        replan(lc, i, ac_now());
        do_order = forced || (s->next_attempt != 0 && s->next_attempt <= ac_now());
        s->state = do_order ? LC_RENEWING : s->state;
        pthread_mutex_unlock(&lc->mu);
        ac_error_clear(&e);
        rc = do_order ? run_order(lc, i, forced, &e) : 0;

        pthread_mutex_lock(&lc->mu);
        s->running = false;
        s->running_forced = false;
        if (forced) {
            s->force_done_gen = gen;
            s->force_ok = rc == 0;
            s->force_err = e;
            lc->progress_fn[i] = NULL;
            lc->progress_arg[i] = NULL;
            pthread_cond_broadcast(&lc->done_cond);
        }
        replan(lc, i, ac_now());
        pthread_cond_signal(&lc->sched_cond);
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
        lc_plan_update(s, cfg, &cf, now);
        if (cf.present && s->expiring_notified != cf.not_after) {
            int64_t life = cf.not_after - cf.not_before;
            int64_t soon = cf.not_after - (life / 5 < 7 * 86400 ? life / 5 : 7 * 86400);
            if (schedule_expiring_soon(now, cf.not_before, cf.not_after)) {
                s->expiring_notified = cf.not_after;
                ac_warn(cfg->name, "certificate expires soon");
                post_event(lc, i, "expiring", cf.not_after, NULL, false);
            } else if (soon < earliest) {
                earliest = soon;
            }
        }
        if (s->running || lc->queued[i])
            continue;
        bool ari_due = s->ari_fetch_at != 0 && lc->ari_supported != 0 && cf.present;
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
    lc->ari_supported = -1;
    lc->sets = calloc(lc->n + 1, sizeof *lc->sets);
    lc->queued = calloc(lc->n + 1, sizeof *lc->queued);
    lc->stamps = calloc(lc->n + 1, sizeof *lc->stamps);
    lc->progress_fn = calloc(lc->n + 1, sizeof *lc->progress_fn);
    lc->progress_arg = calloc(lc->n + 1, sizeof *lc->progress_arg);
    if (lc->sets == NULL || lc->queued == NULL || lc->stamps == NULL ||
        lc->progress_fn == NULL || lc->progress_arg == NULL)
        goto nomem;
    pthread_mutex_init(&lc->mu, NULL);
    pthread_mutex_init(&lc->key_mu, NULL);
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
        replan(lc, i, now);
    }
    lc->next_local_check = now + LC_LOCAL_CHECK_S;
    *out = lc;
    return 0;
nomem:
    if (lc != NULL) {
        free(lc->sets);
        free(lc->queued);
        free(lc->stamps);
        free(lc->progress_fn);
        free(lc->progress_arg);
        free(lc);
    }
    ac_error_set(e, AC_ERR_NOMEM, "lifecycle_new: out of memory");
    return -1;
}

int lifecycle_start(struct lifecycle *lc, struct ac_error *e)
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
    rc = pthread_create(&lc->sched, NULL, scheduler, lc);
    if (rc != 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "lifecycle_start: pthread_create: %s", strerror(rc));
        return -1;
    }
    lc->sched_started = true;
    return 0;
}

void lifecycle_free(struct lifecycle *lc)
{
    if (lc == NULL)
        return;
    pthread_mutex_lock(&lc->mu);
    lc->stopping = true;
    pthread_cond_broadcast(&lc->sched_cond);
    pthread_cond_broadcast(&lc->work_cond);
    pthread_cond_broadcast(&lc->done_cond);
    pthread_mutex_unlock(&lc->mu);
    if (lc->sched_started)
        pthread_join(lc->sched, NULL);
    for (size_t i = 0; i < lc->nworkers; i++)
        pthread_join(lc->workers[i], NULL);
    pthread_mutex_lock(&lc->mu);
    while (lc->waiters > 0)
        pthread_cond_wait(&lc->done_cond, &lc->mu);
    pthread_mutex_unlock(&lc->mu);
    lc_events_free(lc->events);
    pthread_mutex_destroy(&lc->mu);
    pthread_mutex_destroy(&lc->key_mu);
    pthread_mutex_destroy(&lc->metrics_mu);
    pthread_cond_destroy(&lc->sched_cond);
    pthread_cond_destroy(&lc->work_cond);
    pthread_cond_destroy(&lc->done_cond);
    free(lc->sets);
    free(lc->queued);
    free(lc->stamps);
    free(lc->progress_fn);
    free(lc->progress_arg);
    free(lc);
}

size_t lifecycle_set_count(const struct lifecycle *lc)
{
    return lc != NULL ? lc->n : 0;
}

static char **dup_list(char *const *src, size_t n)
{
    char **out = calloc(n + 1, sizeof *out);

    for (size_t i = 0; out != NULL && i < n; i++) {
        size_t l = strlen(src[i]);
        out[i] = malloc(l + 1);
        if (out[i] == NULL) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
        memcpy(out[i], src[i], l + 1);
    }
    return out;
}

static void fill_cert(struct lifecycle *lc, size_t idx, struct lifecycle_status *st)
{
    autocert_cert *c = manager_set_cert(lc->m, idx);
    gnutls_x509_crt_t crt = NULL;
    const unsigned char *der = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    struct crypto_cert_info info;
    struct ac_error e;

    if (c == NULL)
        return;
    if (autocert_cert_chain_der(c, 0, &der, &len) != 0 || gnutls_x509_crt_init(&crt) != 0)
        goto out;
    d.data = (unsigned char *)der;
    d.size = (unsigned int)len;
    memset(&info, 0, sizeof info);
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == 0 &&
        crypto_cert_info_get(crt, &info, &e) == 0) {
        st->has_cert = true;
        copy_str(st->subject, sizeof st->subject, info.subject_cn);
        copy_str(st->issuer, sizeof st->issuer, info.issuer_cn);
        st->not_before = info.not_before;
        st->not_after = info.not_after;
        copy_str(st->serial_hex, sizeof st->serial_hex, info.serial_hex);
        copy_str(st->key_type, sizeof st->key_type, crypto_key_type_name(info.key_type));
        st->dns_names = dup_list(info.dns_names, info.dns_count);
        st->dns_count = st->dns_names != NULL ? info.dns_count : 0;
        st->email_addresses = dup_list(info.email_addresses, info.email_count);
        st->email_count = st->email_addresses != NULL ? info.email_count : 0;
        crypto_cert_info_free(&info);
    }
    gnutls_x509_crt_deinit(crt);
out:
    autocert_cert_release(c);
}

int lifecycle_status_get(struct lifecycle *lc, size_t idx, struct lifecycle_status *out)
{
    const struct config_set *cfg;
    struct lc_set *s;

    if (lc == NULL || out == NULL || idx >= lc->n)
        return -1;
    cfg = manager_set_config(lc->m, idx);
    memset(out, 0, sizeof *out);
    ac_error_clear(&out->last_error);
    copy_str(out->name, sizeof out->name, cfg->name);
    copy_str(out->provider, sizeof out->provider, cfg->provider);
    fill_cert(lc, idx, out);
    pthread_mutex_lock(&lc->mu);
    s = &lc->sets[idx];
    if (!s->running)
        replan(lc, idx, ac_now());
    out->state = s->state;
    out->renews_at = s->renews_at;
    out->next_attempt = s->managed ? s->next_attempt : 0;
    out->failures = s->failures;
    out->has_last_error = s->has_last_error;
    if (s->has_last_error)
        out->last_error = s->last_error;
    out->last_error_at = s->last_error_at;
    out->last_success = s->last_success;
    pthread_mutex_unlock(&lc->mu);
    return 0;
}

void lifecycle_status_clear(struct lifecycle_status *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; st->dns_names != NULL && i < st->dns_count; i++)
        free(st->dns_names[i]);
    free(st->dns_names);
    for (size_t i = 0; st->email_addresses != NULL && i < st->email_count; i++)
        free(st->email_addresses[i]);
    free(st->email_addresses);
    st->dns_names = NULL;
    st->email_addresses = NULL;
    st->dns_count = 0;
    st->email_count = 0;
}

/* Forced "renewal" of an unmanaged set: local re-reads its files. */
static int force_unmanaged(struct lifecycle *lc, size_t idx, struct lifecycle_result *r)
{
    const struct config_set *cfg = manager_set_config(lc->m, idx);

    r->ok = true;
    ac_error_clear(&r->error);
    if (strcmp(cfg->provider, CONFIG_PROVIDER_LOCAL) == 0 &&
        manager_set_reload(lc->m, idx, &r->error) < 0) {
        r->ok = false;
        return -1;
    }
    return 0;
}

int lifecycle_force_renew(struct lifecycle *lc, const bool *selected,
                          lifecycle_progress_fn fn, void *arg,
                          struct lifecycle_result *results)
{
    uint64_t *target = NULL;
    int rc = 0;

    if (lc == NULL || results == NULL)
        return -1;
    target = calloc(lc->n + 1, sizeof *target);
    if (target == NULL)
        return -1;
    for (size_t i = 0; i < lc->n; i++) {
        results[i].name[0] = '\0';
        results[i].ok = false;
        ac_error_clear(&results[i].error);
    }
    pthread_mutex_lock(&lc->mu);
    lc->waiters++;
    for (size_t i = 0; i < lc->n; i++) {
        struct lc_set *s = &lc->sets[i];
        if (selected != NULL && !selected[i])
            continue;
        copy_str(results[i].name, sizeof results[i].name, manager_set_name(lc->m, i));
        if (!s->managed)
            continue;
        if (s->force_pending || (s->running && s->running_forced)) {
            target[i] = s->force_req_gen; /* join the renewal already asked for */
        } else {
            target[i] = ++s->force_req_gen;
            s->force_pending = true;
            lc->progress_fn[i] = fn;
            lc->progress_arg[i] = arg;
        }
    }
    pthread_cond_signal(&lc->sched_cond);
    pthread_mutex_unlock(&lc->mu);

    for (size_t i = 0; i < lc->n; i++)
        if (results[i].name[0] != '\0' && !lc->sets[i].managed &&
            force_unmanaged(lc, i, &results[i]) != 0)
            rc = -1;

    pthread_mutex_lock(&lc->mu);
    for (size_t i = 0; i < lc->n; i++) {
        struct lc_set *s = &lc->sets[i];
        if (target[i] == 0)
            continue;
        while (s->force_done_gen < target[i] && !lc->stopping)
            pthread_cond_wait(&lc->done_cond, &lc->mu);
        if (s->force_done_gen < target[i]) {
            ac_error_set(&results[i].error, AC_ERR_CANCELLED, "shutting down");
            results[i].ok = false;
        } else {
            results[i].ok = s->force_ok;
            results[i].error = s->force_err;
        }
        if (!results[i].ok)
            rc = -1;
    }
    lc->waiters--;
    pthread_cond_broadcast(&lc->done_cond);
    pthread_mutex_unlock(&lc->mu);
    free(target);
    return rc;
}

int lifecycle_revoke(struct lifecycle *lc, size_t idx, int reason, lifecycle_progress_fn fn,
                     void *arg, struct ac_error *e)
{
    const struct config_set *cfg;
    struct issuer_request req = {0};
    struct crypto_key *key = NULL;
    struct lifecycle_result *res = NULL;
    bool *sel = NULL;
    int rc = -1;

    if (lc == NULL || idx >= lc->n) {
        ac_error_set(e, AC_ERR_CONFIG, "lifecycle_revoke: no such set");
        return -1;
    }
    cfg = manager_set_config(lc->m, idx);
    if (!lc->sets[idx].managed) {
        ac_error_set(e, AC_ERR_CONFIG, "%s: provider %s does not obtain certificates",
                     cfg->name, cfg->provider);
        return -1;
    }
    if (account_key(lc, cfg, &key, e) != 0)
        goto out;
    req.set = cfg;
    req.account_key = key;
    req.observer = observer;
    req.observer_arg = lc;
    if (issuer_revoke(&req, reason, e) != 0)
        goto out;
    ac_info(cfg->name, "certificate revoked; obtaining a new one");
    res = calloc(lc->n + 1, sizeof *res);
    sel = calloc(lc->n + 1, sizeof *sel);
    if (res == NULL || sel == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "lifecycle_revoke: out of memory");
        goto out;
    }
    sel[idx] = true;
    if (lifecycle_force_renew(lc, sel, fn, arg, res) != 0) {
        if (e != NULL)
            *e = res[idx].error;
        goto out;
    }
    rc = 0;
out:
    crypto_key_free(key);
    free(res);
    free(sel);
    return rc;
}

void lifecycle_metrics_get(struct lifecycle *lc, struct lifecycle_metrics *out)
{
    if (lc == NULL || out == NULL)
        return;
    pthread_mutex_lock(&lc->metrics_mu);
    *out = lc->metrics;
    pthread_mutex_unlock(&lc->metrics_mu);
}
