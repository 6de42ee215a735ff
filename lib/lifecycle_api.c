/*
 * lifecycle_api.c - the requests made to the engine (lifecycle.h): status
 * snapshots, forced renewals (callers asking for the same sets join one
 * renewal, and each of them gets its progress notes), obtaining what is
 * missing, revocation and the metrics counters. The threads that do the work
 * are in lifecycle.c; they run these requests whether or not the engine was
 * started.
 */
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "crypto.h"
#include "issuer.h"
#include "lifecycle.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "schedule.h"
#include "timeutil.h"

static const char *const state_names[] = {"pending", "valid",   "due",       "renewing",
                                          "backoff", "expired", "unmanaged", "bootstrap"};

const char *lifecycle_state_name(enum lifecycle_state s)
{
    if ((int)s < 0 || (size_t)s >= sizeof state_names / sizeof state_names[0])
        return "unknown";
    return state_names[s];
}

size_t lifecycle_set_count(const struct lifecycle *lc)
{
    return lc != NULL ? manager_set_count(lc->m) : 0;
}

void lifecycle_metrics_get(struct lifecycle *lc, struct lifecycle_metrics *out)
{
    if (lc == NULL || out == NULL)
        return;
    pthread_mutex_lock(&lc->metrics_mu);
    *out = lc->metrics;
    pthread_mutex_unlock(&lc->metrics_mu);
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

static void fill_cert(struct lifecycle *lc, struct acset *s, struct lifecycle_status *st)
{
    autocert_cert *c = manager_acset_cert(lc->m, s);
    const struct crypto_cert_info *info;

    if (c == NULL)
        return;
    info = cert_info(c); /* parsed once, when the certificate was loaded */
    st->has_cert = true;
    lc_copy_str(st->subject, sizeof st->subject, info->subject_cn);
    lc_copy_str(st->issuer, sizeof st->issuer, info->issuer_cn);
    st->not_before = info->not_before;
    st->not_after = info->not_after;
    lc_copy_str(st->serial_hex, sizeof st->serial_hex, info->serial_hex);
    lc_copy_str(st->key_type, sizeof st->key_type, crypto_key_type_name(info->key_type));
    st->dns_names = dup_list(info->dns_names, info->dns_count);
    st->dns_count = st->dns_names != NULL ? info->dns_count : 0;
    st->email_addresses = dup_list(info->email_addresses, info->email_count);
    st->email_count = st->email_addresses != NULL ? info->email_count : 0;
    autocert_cert_release(c);
}

/* Why the set's files did not load (or a warning about the certificate
 * served, e.g. cert.expired), from the manager: shown as last_error unless
 * the engine has a newer one (an order's error since the files were read). */
static void load_error(struct lifecycle *lc, struct acset *s, struct lifecycle_status *out)
{
    struct ac_error le;
    int64_t at = 0;

    manager_acset_last_error(lc->m, s, &le, &at);
    if (le.kind[0] == '\0')
        return;
    if (out->has_last_error && out->last_error_at >= at)
        return;
    out->has_last_error = true;
    out->last_error = le;
    out->last_error_at = at;
}

int lifecycle_acset_status(struct lifecycle *lc, struct acset *s, struct lifecycle_status *out)
{
    struct lc_set *r = &s->rec;

    memset(out, 0, sizeof *out);
    ac_error_clear(&out->last_error);
    lc_copy_str(out->name, sizeof out->name, s->cfg.name);
    lc_copy_str(out->provider, sizeof out->provider, s->cfg.provider);
    fill_cert(lc, s, out);
    pthread_mutex_lock(&lc->mu);
    if (!r->running)
        lc_replan(lc, s, ac_now());
    out->state = r->state;
    if (s->standin_ok && !out->has_cert && out->state != LC_RENEWING)
        out->state = LC_BOOTSTRAP; /* also after failed attempts */
    out->renews_at = r->renews_at;
    out->next_attempt = s->managed ? r->next_attempt : 0;
    out->failures = r->failures;
    out->has_last_error = r->has_last_error;
    if (r->has_last_error)
        acset_error_get(r->last_error, &out->last_error);
    out->last_error_at = r->last_error_at;
    out->last_success = r->last_success;
    if (r->wait_slot != 0 && r->acct != NULL && r->acct->wake > ac_now()) {
        lc_copy_str(out->waiting, sizeof out->waiting, "budget");
        out->waiting_until = r->acct->wake;
    } else if (r->wait_slot != 0) {
        lc_copy_str(out->waiting, sizeof out->waiting, "slot");
    } else if (r->budget_at > ac_now()) {
        lc_copy_str(out->waiting, sizeof out->waiting, "budget");
        out->waiting_until = r->budget_at;
    }
    pthread_mutex_unlock(&lc->mu);
    load_error(lc, s, out);
    return 0;
}

int lifecycle_status_get(struct lifecycle *lc, size_t idx, struct lifecycle_status *out)
{
    struct acset *s;
    int rc;

    if (lc == NULL || out == NULL || (s = manager_set_at(lc->m, idx)) == NULL)
        return -1;
    rc = lifecycle_acset_status(lc, s, out);
    acset_unref(s);
    return rc;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

void lifecycle_status_clear(struct lifecycle_status *st)
{
    if (st == NULL)
        return;
    free_list(st->dns_names, st->dns_count);
    free_list(st->email_addresses, st->email_count);
    st->dns_names = NULL;
    st->email_addresses = NULL;
    st->dns_count = 0;
    st->email_count = 0;
}

/* Forced "renewal" of an unmanaged set: local re-reads its files. */
static int force_unmanaged(struct lifecycle *lc, struct acset *s, struct lifecycle_result *r)
{
    r->ok = true;
    ac_error_clear(&r->error);
    if (s->local && manager_acset_reload(lc->m, s, &r->error) < 0) {
        r->ok = false;
        return -1;
    }
    return 0;
}

/* Asks for (or joins) a forced renewal of every selected managed set and links
 * w. lc->mu held. */
static void force_request(struct lifecycle *lc, struct lc_waiter *w, const bool *want,
                          struct lifecycle_result *results)
{
    pthread_mutex_lock(&lc->progress_mu);
    for (size_t i = 0; i < w->n; i++) {
        struct acset *s = w->sets[i];
        struct lc_set *r = &s->rec;
        if (!want[i])
            continue;
        lc_copy_str(results[i].name, sizeof results[i].name, s->cfg.name);
        if (!s->managed || lc->stopping || s->removed)
            continue;
        if (r->force_pending || (r->running && r->running_forced)) {
            w->target[i] = r->force_req_gen; /* join the renewal already asked for */
        } else {
            w->target[i] = ++r->force_req_gen;
            r->force_pending = true;
        }
        lc_queue(lc, s);
    }
    w->next = lc->waiter_list;
    lc->waiter_list = w;
    pthread_mutex_unlock(&lc->progress_mu);
}

/* Unlinks w: its callback is not called any more. lc->mu held. */
static void force_unlink(struct lifecycle *lc, struct lc_waiter *w)
{
    pthread_mutex_lock(&lc->progress_mu);
    for (struct lc_waiter **p = &lc->waiter_list; *p != NULL; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&lc->progress_mu);
}

/* Forced renewal of want[i] of sets[0..n): the core of lifecycle_force_renew
 * and lifecycle_obtain. */
static int force_sets(struct lifecycle *lc, struct acset **sets, size_t n, const bool *want,
                      lifecycle_progress_fn fn, void *arg, struct lifecycle_result *results)
{
    struct lc_waiter w = {fn, arg, sets, NULL, n, NULL};
    uint64_t *target = calloc(n + 1, sizeof *target);
    int rc = 0;

    if (target == NULL)
        return -1;
    w.target = target;
    pthread_mutex_lock(&lc->mu);
    lc->waiters++;
    force_request(lc, &w, want, results);
    pthread_cond_signal(&lc->sched_cond);
    pthread_mutex_unlock(&lc->mu);

    for (size_t i = 0; i < n; i++)
        if (want[i] && !sets[i]->managed && force_unmanaged(lc, sets[i], &results[i]) != 0)
            rc = -1;

    pthread_mutex_lock(&lc->mu);
    for (size_t i = 0; i < n; i++) {
        struct lc_set *r = &sets[i]->rec;
        if (!want[i] || !sets[i]->managed)
            continue;
        if (target[i] == 0) { /* asked while stopping (or the set was just removed) */
            results[i].ok = false;
            ac_error_set(&results[i].error, AC_ERR_CANCELLED, "%s",
                         sets[i]->removed ? "configuration reloaded: the set was removed"
                                          : "shutting down");
            rc = -1;
            continue;
        }
        while (r->force_done_gen < target[i] && !lc->stopping)
            pthread_cond_wait(&lc->done_cond, &lc->mu);
        if (r->force_done_gen < target[i]) {
            results[i].ok = false;
            ac_error_set(&results[i].error, AC_ERR_CANCELLED, "shutting down");
        } else {
            results[i].ok = r->force_ok;
            acset_error_get(r->force_err, &results[i].error);
        }
        if (!results[i].ok)
            rc = -1;
    }
    force_unlink(lc, &w);
    lc->waiters--;
    pthread_cond_broadcast(&lc->done_cond);
    pthread_mutex_unlock(&lc->mu);
    free(target);
    return rc;
}

/* One-off requests of a manager whose engine does not run (the CLI, which
 * exits next) wait until the events they caused were delivered: the hook,
 * the webhook and the host's callback. */
static void wait_own_events(struct lifecycle *lc, const struct lc_events_mark *before)
{
    bool started;

    pthread_mutex_lock(&lc->mu);
    started = lc->started;
    pthread_mutex_unlock(&lc->mu);
    if (started)
        return;
    if (!lc_events_wait_since(lc, before, LIFECYCLE_ONESHOT_DRAIN_MS))
        ac_warn(NULL, "events: not delivered within %d s", LIFECYCLE_ONESHOT_DRAIN_MS / 1000);
}

/* The sets and a results/want layout for a request over selected[] (NULL =
 * every set). Returns 0 or -1 (ENOMEM). */
static int request_sets(struct lifecycle *lc, const bool *selected, struct acset ***sets, size_t *n,
                        bool **want)
{
    if (manager_sets(lc->m, sets, n) != 0)
        return -1;
    *want = calloc(*n + 1, sizeof **want);
    if (*want == NULL) {
        manager_sets_free(*sets, *n);
        return -1;
    }
    for (size_t i = 0; i < *n; i++)
        (*want)[i] = selected == NULL || selected[i];
    return 0;
}

static void results_clear(struct lifecycle_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        results[i].name[0] = '\0';
        results[i].ok = false;
        ac_error_clear(&results[i].error);
    }
}

int lifecycle_force_renew(struct lifecycle *lc, const bool *selected, lifecycle_progress_fn fn,
                          void *arg, struct lifecycle_result *results)
{
    struct acset **sets = NULL;
    bool *want = NULL;
    size_t n = 0;
    struct lc_events_mark before;
    int rc;

    if (lc == NULL || results == NULL)
        return -1;
    lc_events_mark(lc, &before);
    if (request_sets(lc, selected, &sets, &n, &want) != 0)
        return -1;
    results_clear(results, n);
    rc = force_sets(lc, sets, n, want, fn, arg, results);
    wait_own_events(lc, &before);
    manager_sets_free(sets, n);
    free(want);
    return rc;
}

/* True when s holds a usable certificate: present, unexpired, names equal to
 * its configured domains. */
static bool usable(struct lifecycle *lc, struct acset *s)
{
    struct lc_cert_facts cf;

    lc_cert_facts(lc, s, &cf);
    return cf.present && cf.not_after > ac_now() && !cf.names_differ;
}

int lifecycle_obtain(struct lifecycle *lc, const bool *selected, bool force,
                     lifecycle_progress_fn fn, void *arg, struct lifecycle_result *results)
{
    struct acset **sets = NULL;
    bool *want = NULL;
    size_t n = 0;
    struct lc_events_mark before;
    int rc = 0;

    if (lc == NULL || results == NULL)
        return -1;
    lc_events_mark(lc, &before);
    if (request_sets(lc, selected, &sets, &n, &want) != 0)
        return -1;
    results_clear(results, n);
    for (size_t i = 0; i < n; i++) {
        if (!want[i])
            continue;
        lc_copy_str(results[i].name, sizeof results[i].name, sets[i]->cfg.name);
        results[i].ok = true;
        if (!sets[i]->managed) {
            want[i] = false;
            continue;
        }
        if (force)
            continue;
        lc_reread(lc, sets[i]); /* decide on what is on disk now */
        if (usable(lc, sets[i]))
            want[i] = false;
    }
    rc = force_sets(lc, sets, n, want, fn, arg, results);
    for (size_t i = 0; i < n; i++)
        if (results[i].name[0] != '\0' && !results[i].ok)
            rc = -1;
    wait_own_events(lc, &before);
    manager_sets_free(sets, n);
    free(want);
    return rc;
}

int lifecycle_revoke(struct lifecycle *lc, size_t idx, int reason, lifecycle_progress_fn fn,
                     void *arg, struct ac_error *e)
{
    struct acset *s = NULL, **one = NULL;
    struct issuer_request req = {0};
    struct lifecycle_result res;
    struct ac_cancel_scope saved;
    struct lc_events_mark before;
    bool want = true, have_req = false;
    int rc = -1;

    if (lc != NULL)
        lc_events_mark(lc, &before);
    if (lc == NULL || (s = manager_set_at(lc->m, idx)) == NULL) {
        ac_error_set(e, AC_ERR_CONFIG, "lifecycle_revoke: no such set");
        return -1;
    }
    if (!s->managed) {
        ac_error_set(e, AC_ERR_CONFIG, "%s: provider %s does not obtain certificates", s->cfg.name,
                     s->cfg.provider);
        goto out;
    }
    if (lc_issuer_request(lc, s, &req, e) != 0)
        goto out;
    have_req = true;
    req.cancel = &lc->cancel;
    ac_cancel_enter(&lc->cancel, 0, &saved);
    rc = issuer_revoke(&req, reason, e);
    ac_cancel_leave(&saved);
    if (rc != 0)
        goto out;
    rc = -1;
    ac_info(s->cfg.name, "certificate revoked; obtaining a new one");
    one = &s;
    results_clear(&res, 1);
    if (force_sets(lc, one, 1, &want, fn, arg, &res) != 0) {
        if (e != NULL)
            *e = res.error;
        goto out;
    }
    rc = 0;
out:
    if (have_req)
        lc_issuer_done(lc, &req, rc == 0 ? NULL : e);
    wait_own_events(lc, &before);
    acset_unref(s);
    return rc;
}
