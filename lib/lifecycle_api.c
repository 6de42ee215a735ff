/*
 * lifecycle_api.c - the requests made to a running lifecycle (lifecycle.h):
 * status snapshots, forced renewals (callers asking for the same sets join one
 * renewal, and each of them gets its progress notes), revocation and the
 * metrics counters. The threads that do the work are in lifecycle.c.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "issuer.h"
#include "lifecycle.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "timeutil.h"

static const char *const state_names[] = {"pending",  "valid",   "due",      "renewing",
                                          "backoff",  "expired", "unmanaged"};

const char *lifecycle_state_name(enum lifecycle_state s)
{
    if ((int)s < 0 || (size_t)s >= sizeof state_names / sizeof state_names[0])
        return "unknown";
    return state_names[s];
}

size_t lifecycle_set_count(const struct lifecycle *lc)
{
    return lc != NULL ? lc->n : 0;
}

void lc_observer(void *arg, const char *endpoint, const char *outcome)
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
        lc_copy_str(mt->acme[i].endpoint, sizeof mt->acme[i].endpoint, endpoint);
        lc_copy_str(mt->acme[i].outcome, sizeof mt->acme[i].outcome, outcome);
        mt->acme_count++;
    }
    if (i < mt->acme_count)
        mt->acme[i].count++;
    pthread_mutex_unlock(&lc->metrics_mu);
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

static void fill_cert(struct lifecycle *lc, size_t idx, struct lifecycle_status *st)
{
    autocert_cert *c = manager_set_cert(lc->m, idx);
    gnutls_x509_crt_t crt = NULL;
    struct crypto_cert_info info;
    struct ac_error e;

    memset(&info, 0, sizeof info);
    if (lc_leaf_crt(c, &crt) == 0 && crypto_cert_info_get(crt, &info, &e) == 0) {
        st->has_cert = true;
        lc_copy_str(st->subject, sizeof st->subject, info.subject_cn);
        lc_copy_str(st->issuer, sizeof st->issuer, info.issuer_cn);
        st->not_before = info.not_before;
        st->not_after = info.not_after;
        lc_copy_str(st->serial_hex, sizeof st->serial_hex, info.serial_hex);
        lc_copy_str(st->key_type, sizeof st->key_type, crypto_key_type_name(info.key_type));
        st->dns_names = dup_list(info.dns_names, info.dns_count);
        st->dns_count = st->dns_names != NULL ? info.dns_count : 0;
        st->email_addresses = dup_list(info.email_addresses, info.email_count);
        st->email_count = st->email_addresses != NULL ? info.email_count : 0;
        crypto_cert_info_free(&info);
    }
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    autocert_cert_release(c);
}

/* Why the set's files did not load (or a warning about the certificate
 * served, e.g. cert.expired), from the manager: shown as last_error unless the
 * lifecycle has a newer one (an order's error since the files were read). */
static void load_error(struct lifecycle *lc, size_t idx, struct lifecycle_status *out)
{
    struct ac_error le;

    manager_set_last_error(lc->m, idx, &le);
    if (le.kind[0] == '\0')
        return;
    if (out->has_last_error && out->last_error_at >= lc->created_at)
        return;
    out->has_last_error = true;
    out->last_error = le;
    out->last_error_at = lc->created_at;
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
    lc_copy_str(out->name, sizeof out->name, cfg->name);
    lc_copy_str(out->provider, sizeof out->provider, cfg->provider);
    fill_cert(lc, idx, out);
    pthread_mutex_lock(&lc->mu);
    s = &lc->sets[idx];
    if (!s->running)
        lc_replan(lc, idx, ac_now());
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
    load_error(lc, idx, out);
    return 0;
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

/* Asks for (or joins) a forced renewal of every selected managed set and links
 * w (whose target array is filled here). lc->mu held. */
static void force_request(struct lifecycle *lc, const bool *selected, struct lc_waiter *w,
                          uint64_t *target, struct lifecycle_result *results)
{
    pthread_mutex_lock(&lc->progress_mu);
    for (size_t i = 0; i < lc->n; i++) {
        struct lc_set *s = &lc->sets[i];
        if (selected != NULL && !selected[i])
            continue;
        lc_copy_str(results[i].name, sizeof results[i].name, manager_set_name(lc->m, i));
        if (!s->managed || lc->stopping)
            continue;
        if (s->force_pending || (s->running && s->running_forced)) {
            target[i] = s->force_req_gen; /* join the renewal already asked for */
        } else {
            target[i] = ++s->force_req_gen;
            s->force_pending = true;
        }
        /* Queued here too: a one-shot lifecycle has no scheduler to do it. */
        lc->queued[i] = true;
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

/* The result of a forced renewal that the stop overtook. lc->mu held. */
static void stopped_result(struct lifecycle *lc, const struct lc_set *s, struct lifecycle_result *r)
{
    r->ok = false;
    if (lc->cancelling)
        ac_error_set(&r->error, AC_ERR_CANCELLED, "shutting down");
    else if (s->ordering)
        ac_error_set(&r->error, AC_ERR_CANCELLED,
                     "configuration reloaded; the running order continues in the "
                     "background (see the status)");
    else
        ac_error_set(&r->error, AC_ERR_CANCELLED,
                     "configuration reloaded before the renewal started; ask again");
}

int lifecycle_force_renew(struct lifecycle *lc, const bool *selected, lifecycle_progress_fn fn,
                          void *arg, struct lifecycle_result *results)
{
    struct lc_waiter w = {fn, arg, NULL, NULL};
    uint64_t *target = NULL;
    int rc = 0;

    if (lc == NULL || results == NULL)
        return -1;
    target = calloc(lc->n + 1, sizeof *target);
    if (target == NULL)
        return -1;
    w.target = target;
    for (size_t i = 0; i < lc->n; i++) {
        results[i].name[0] = '\0';
        results[i].ok = false;
        ac_error_clear(&results[i].error);
    }
    pthread_mutex_lock(&lc->mu);
    lc->waiters++;
    force_request(lc, selected, &w, target, results);
    pthread_cond_signal(&lc->sched_cond);
    pthread_cond_broadcast(&lc->work_cond);
    pthread_mutex_unlock(&lc->mu);

    for (size_t i = 0; i < lc->n; i++)
        if (results[i].name[0] != '\0' && !lc->sets[i].managed &&
            force_unmanaged(lc, i, &results[i]) != 0)
            rc = -1;

    pthread_mutex_lock(&lc->mu);
    for (size_t i = 0; i < lc->n; i++) {
        struct lc_set *s = &lc->sets[i];
        if (target[i] == 0) {
            if (results[i].name[0] != '\0' && s->managed) { /* asked while stopping */
                stopped_result(lc, s, &results[i]);
                rc = -1;
            }
            continue;
        }
        while (s->force_done_gen < target[i] && !lc->stopping)
            pthread_cond_wait(&lc->done_cond, &lc->mu);
        if (s->force_done_gen < target[i]) {
            stopped_result(lc, s, &results[i]);
        } else {
            results[i].ok = s->force_ok;
            results[i].error = s->force_err;
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
    if (lc_issuer_request(lc, cfg, &req, &key, e) != 0)
        goto out;
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
