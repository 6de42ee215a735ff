/*
 * lifecycle_order.c - the engine's orders (lifecycle_priv.h): one order or
 * ARI fetch of a set, with its progress notes fanned out to every caller
 * waiting for it, its outcome planned, persisted and announced; and the cache
 * that makes many orders cheap: each account key is loaded once, and the
 * directory and account of one (CA, account) pair are looked up once for all
 * the orders of the process that start within LC_SESSION_MAX_AGE_MS (a CA
 * that no longer knows the account still gets a new registration: the ACME
 * client registers again when the CA answers accountDoesNotExist, and a
 * session whose order failed is not used again).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acme.h"
#include "crypto.h"
#include "issuer.h"
#include "lifecycle.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "schedule.h"
#include "store.h"
#include "timeutil.h"

#define LC_ARI_FAIL_RETRY_S 600
#define LC_ARI_TIMEOUT_MS 10000      /* per renewalInfo request */
#define LC_SESSION_MAX_AGE_MS 300000 /* a shared directory/account lookup */
#define LC_ACCOUNT_MAX_AGE_MS 300000 /* an account key read from its file */

/* ---- the cache --------------------------------------------------------------- */

struct lc_account {
    char *path; /* acme_key_path */
    struct crypto_key *key;
    int64_t loaded_ms;
    int users; /* requests and sessions using key */
};

struct lc_session {
    struct config_set ident;  /* the set it was made for (config_set_dup) */
    struct lc_account *acct;  /* one user of it */
    struct issuer_session *s; /* NULL while making or after a failure */
    int64_t made_ms;
    bool making, stale;
    int users;
};

struct lc_cache {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct lc_account **acc;
    size_t nacc;
    struct lc_session **ses;
    size_t nses;
};

int lc_cache_new(struct lc_cache **out)
{
    struct lc_cache *c = calloc(1, sizeof *c);

    *out = c;
    if (c == NULL)
        return -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    return 0;
}

static void account_free(struct lc_account *a)
{
    crypto_key_free(a->key);
    free(a->path);
    free(a);
}

static void session_free(struct lc_session *s)
{
    issuer_session_free(s->s);
    config_set_dup_free(&s->ident);
    free(s);
}

void lc_cache_free(struct lc_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nses; i++)
        session_free(c->ses[i]);
    for (size_t i = 0; i < c->nacc; i++)
        account_free(c->acc[i]);
    free(c->ses);
    free(c->acc);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* Drops unused stale sessions and unused old account keys. c->mu held. */
static void cache_prune(struct lc_cache *c, int64_t now)
{
    for (size_t i = 0; i < c->nses;) {
        struct lc_session *s = c->ses[i];
        if ((s->stale || now - s->made_ms > LC_SESSION_MAX_AGE_MS) && !s->making && s->users == 0) {
            s->acct->users--;
            session_free(s);
            c->ses[i] = c->ses[--c->nses];
            continue;
        }
        i++;
    }
    for (size_t i = 0; i < c->nacc;) {
        struct lc_account *a = c->acc[i];
        if (a->users == 0 && now - a->loaded_ms > LC_ACCOUNT_MAX_AGE_MS) {
            account_free(a);
            c->acc[i] = c->acc[--c->nacc];
            continue;
        }
        i++;
    }
}

static int push(void *arrp, size_t *n, void *item)
{
    void ***arr = arrp;
    void **v = realloc(*arr, (*n + 1) * sizeof *v);

    if (v == NULL)
        return -1;
    v[(*n)++] = item;
    *arr = v;
    return 0;
}

/* The account key of set (loaded or created the first time; one user taken).
 * c->mu held: creation of a key file is never raced. */
static struct lc_account *account_get(struct lc_cache *c, struct storage *st,
                                      const struct config_set *set, struct ac_error *e)
{
    int64_t now = ac_mono_ms();
    struct lc_account *a = NULL;

    for (size_t i = 0; i < c->nacc; i++) {
        a = c->acc[i];
        if (strcmp(a->path, set->acme_key_path) == 0 &&
            (a->users > 0 || now - a->loaded_ms <= LC_ACCOUNT_MAX_AGE_MS)) {
            a->users++;
            return a;
        }
    }
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(set->acme_key_path)) == NULL) {
        free(a);
        ac_error_set(e, AC_ERR_NOMEM, "engine: out of memory");
        return NULL;
    }
    if (issuer_account_key(set, st, &a->key, e) != 0 || push(&c->acc, &c->nacc, a) != 0) {
        if (a->key != NULL)
            ac_error_set(e, AC_ERR_NOMEM, "engine: out of memory");
        account_free(a);
        return NULL;
    }
    a->loaded_ms = now;
    a->users = 1;
    return a;
}

/* A session for set and account a (one user taken), made now when there is
 * none: the first request makes it (network), the others wait for it. NULL
 * when it cannot be made: the order then makes its own lookup. */
static struct lc_session *session_get(struct lifecycle *lc, const struct config_set *set,
                                      struct lc_account *a)
{
    struct lc_cache *c = lc->cache;
    struct lc_session *s = NULL;
    struct ac_cancel_scope saved;
    struct ac_error e;
    int64_t now = ac_mono_ms();
    int rc;

    pthread_mutex_lock(&c->mu);
    cache_prune(c, now);
    for (size_t i = 0; i < c->nses && s == NULL; i++) {
        struct lc_session *t = c->ses[i];
        if (!t->stale && t->acct == a && now - t->made_ms <= LC_SESSION_MAX_AGE_MS &&
            issuer_same_account(&t->ident, set))
            s = t;
    }
    if (s != NULL) {
        s->users++;
        while (s->making)
            pthread_cond_wait(&c->cond, &c->mu);
        if (s->s == NULL) { /* its making failed */
            s->users--;
            s = NULL;
        }
        pthread_mutex_unlock(&c->mu);
        return s;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || config_set_dup(&s->ident, set) != 0 || push(&c->ses, &c->nses, s) != 0) {
        if (s != NULL)
            config_set_dup_free(&s->ident);
        free(s);
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    s->acct = a;
    a->users++;
    s->making = true;
    s->made_ms = now;
    s->users = 1;
    pthread_mutex_unlock(&c->mu);

    ac_error_clear(&e);
    ac_cancel_enter(&lc->cancel, 0, &saved);
    rc = issuer_session_new(&s->ident, a->key, &s->s, &e);
    ac_cancel_leave(&saved);
    if (rc != 0)
        ac_debug(set->name, "shared ACME account lookup failed: %s", e.message);

    pthread_mutex_lock(&c->mu);
    s->making = false;
    if (rc != 0) {
        s->stale = true;
        s->users--;
        s = NULL;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return s;
}

int lc_issuer_request(struct lifecycle *lc, const struct acset *s, struct issuer_request *req,
                      struct ac_error *e)
{
    struct lc_account *a;

    memset(req, 0, sizeof *req);
    pthread_mutex_lock(&lc->cache->mu);
    a = account_get(lc->cache, manager_store(lc->m), &s->cfg, e);
    pthread_mutex_unlock(&lc->cache->mu);
    if (a == NULL)
        return -1;
    req->set = &s->cfg;
    req->account_key = a->key;
    req->challenges = manager_challenges(lc->m);
    req->observer = lc_observer;
    req->observer_arg = lc;
    req->store = manager_store(lc->m);
    req->lease_ttl_s = manager_lease_ttl(lc->m);
    if (s->managed && strcmp(s->cfg.provider, CONFIG_PROVIDER_PSEUDO) != 0) {
        struct lc_session *ses = session_get(lc, &s->cfg, a);
        if (ses != NULL)
            req->session = ses->s;
    }
    return 0;
}

void lc_issuer_done(struct lifecycle *lc, const struct issuer_request *req,
                    const struct ac_error *e)
{
    struct lc_cache *c = lc->cache;

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nses && req->session != NULL; i++)
        if (c->ses[i]->s == req->session) {
            c->ses[i]->users--;
            if (e != NULL && e->kind[0] != '\0')
                c->ses[i]->stale = true;
            break;
        }
    for (size_t i = 0; i < c->nacc; i++)
        if (c->acc[i]->key == req->account_key) {
            c->acc[i]->users--;
            break;
        }
    pthread_mutex_unlock(&c->mu);
}

/* ---- metrics, progress, events, state ------------------------------------------ */

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

/* The order of one set; forced renewals have a generation (> 0). */
struct progress_ctx {
    struct lifecycle *lc;
    struct acset *s;
    uint64_t gen;
};

/* Forwards a progress note to every caller waiting for this renewal. */
static void progress(void *arg, const char *set_name, const char *message)
{
    struct progress_ctx *p = arg;

    /* the issuer has logged it */
    if (p->gen == 0)
        return;
    pthread_mutex_lock(&p->lc->progress_mu);
    for (struct lc_waiter *w = p->lc->waiter_list; w != NULL; w = w->next) {
        if (w->fn == NULL)
            continue;
        for (size_t i = 0; i < w->n; i++)
            if (w->sets[i] == p->s && w->target[i] == p->gen)
                w->fn(w->arg, set_name, message);
    }
    pthread_mutex_unlock(&p->lc->progress_mu);
}

void lc_persist(struct lifecycle *lc, struct acset *s)
{
    json_object *o;
    struct ac_error e;

    pthread_mutex_lock(&lc->mu);
    o = lc_state_to_json(&s->rec);
    pthread_mutex_unlock(&lc->mu);
    if (o == NULL)
        return;
    if (store_state_write(s->cfg.cert_path, s->cfg.key_path, o, &e) != 0)
        ac_warn(s->cfg.name, "state file not written: %s", e.message);
    json_object_put(o);
}

/* ARI certificate id of the set's current leaf, or NULL. */
static char *current_ari_id(struct lifecycle *lc, struct acset *s)
{
    autocert_cert *c = manager_acset_cert(lc->m, s);
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

void lc_fetch_ari(struct lifecycle *lc, struct acset *s)
{
    const struct config_set *cfg = &s->cfg;
    struct acme_client_opts o = {0};
    struct acme_client *c = NULL;
    struct issuer_request req = {0};
    struct acme_renewal_info ri = {0};
    struct lc_account *a;
    struct lc_cert_facts cf;
    struct ac_error e;
    char *id = current_ari_id(lc, s);
    int64_t now = ac_now();
    bool have_req = false;

    ac_error_clear(&e);
    lc_cert_facts(lc, s, &cf);
    if (id == NULL || !cf.present) {
        pthread_mutex_lock(&lc->mu);
        s->rec.ari_fetch_at = 0;
        pthread_mutex_unlock(&lc->mu);
        goto out;
    }
    o.directory_url = cfg->ca_dir_url;
    o.ca_files = (const char *const *)cfg->ca_certs;
    o.ca_count = cfg->ca_certs_count;
    o.timeout_ms = LC_ARI_TIMEOUT_MS;
    pthread_mutex_lock(&lc->cache->mu);
    a = account_get(lc->cache, manager_store(lc->m), cfg, &e);
    pthread_mutex_unlock(&lc->cache->mu);
    if (a == NULL)
        goto fail;
    req.account_key = a->key;
    have_req = true;
    if (acme_client_new(&o, req.account_key, &c, &e) != 0)
        goto fail;
    acme_client_set_observer(c, lc_observer, lc);
    if (acme_directory_load(c, &e) != 0)
        goto fail;
    if (!acme_has_renewal_info(c)) {
        pthread_mutex_lock(&lc->mu);
        s->rec.ari_support = 0;
        s->rec.ari_fetch_at = 0;
        pthread_mutex_unlock(&lc->mu);
        goto out;
    }
    if (acme_renewal_info_get(c, id, &ri, &e) != 0)
        goto fail;
    pthread_mutex_lock(&lc->mu);
    s->rec.ari_support = 1;
    lc_plan_ari(&s->rec, cf.serial_hex, ri.start, ri.end, ri.retry_after, now, lc_rand64());
    pthread_mutex_unlock(&lc->mu);
    ac_info(cfg->name, "renewal info: suggested window %lld..%lld", (long long)ri.start,
            (long long)ri.end);
    lc_persist(lc, s);
    goto out;
fail:
    ac_warn(cfg->name, "renewal info not fetched: %s", e.message);
    pthread_mutex_lock(&lc->mu);
    s->rec.ari_fetch_at = now + LC_ARI_FAIL_RETRY_S;
    pthread_mutex_unlock(&lc->mu);
out:
    acme_renewal_info_free(&ri);
    acme_client_free(c);
    if (have_req)
        lc_issuer_done(lc, &req, NULL);
    free(id);
}

uint64_t lc_post_event(struct lifecycle *lc, struct acset *s, const char *event, int64_t not_after,
                       const struct ac_error *err, bool files_changed)
{
    struct lc_event ev;
    uint64_t seq;

    if (lc_event_init(&ev, event, &s->cfg, not_after, err, ac_now()) != 0) {
        ac_warn(s->cfg.name, "events: out of memory, %s event dropped", event);
        return 0;
    }
    ev.files_changed = files_changed;
    seq = lc_events_emit(lc, &ev);
    lc_event_clear(&ev);
    return seq;
}

static bool file_present(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

/* The cancel token of s's order: enter (s registered as active; its token
 * cleared unless a removal already set it, and set when a stop runs) or
 * leave. lc->mu held. Without a free slot (never: one order per worker) the
 * stop's token. */
static const atomic_bool *order_token(struct lifecycle *lc, struct acset *s, bool enter)
{
    for (size_t i = 0; i < LC_WORKERS_CAP; i++) {
        if (!enter && lc->active[i] == s) {
            lc->active[i] = NULL;
            return NULL;
        }
        if (enter && lc->active[i] == NULL) {
            lc->active[i] = s;
            if (!s->removed)
                atomic_store(&s->cancel, false);
            if (lc->stopping)
                atomic_store(&s->cancel, true);
            return &s->cancel;
        }
    }
    return &lc->cancel;
}

/* No order without the shared store's lease: postponed (retried after
 * retry_min, not counted), and from the certificate's "expiring soon" point
 * on an error once an hour. */
static void store_down(struct lifecycle *lc, struct acset *s, const struct lc_cert_facts *cf,
                       const struct ac_error *e)
{
    int64_t now = ac_now();
    bool loud = false;

    pthread_mutex_lock(&lc->mu);
    if (s->rec.store_down_since == 0)
        s->rec.store_down_since = now;
    /* loud once the store has stayed away for a minute (not while it is
     * being connected at start-up) */
    if ((!cf->present || now >= schedule_expiring_at(cf->not_before, cf->not_after)) &&
        now - s->rec.store_down_since >= 60 && now - s->rec.store_down_logged >= 3600) {
        s->rec.store_down_logged = now;
        loud = true;
    }
    pthread_mutex_unlock(&lc->mu);
    if (loud)
        ac_err(s->cfg.name,
               "renewal failed (%s): %s; the certificate %s and no order is placed until the "
               "store is back",
               e->kind, e->message, cf->present ? "is expiring soon" : "is missing");
    else
        ac_info(s->cfg.name, "renewal postponed (%s): %s", e->kind, e->message);
}

int lc_run_order(struct lifecycle *lc, struct acset *s, uint64_t gen, struct ac_error *e)
{
    const struct config_set *cfg = &s->cfg;
    struct issuer_request req = {0};
    struct issuer_result res;
    struct progress_ctx pc = {lc, s, gen};
    struct lc_cert_facts before, after;
    struct ac_error e2;
    char *replaces = NULL;
    bool have_req = false, had_cert;
    int rc = -1;

    lc_cert_facts(lc, s, &before);
    /* "renewed" when a certificate was there before: in memory, or on disk
     * for a forced order of files never read */
    had_cert = before.present || (atomic_load(&s->read_ms) == 0 && file_present(cfg->cert_path));
    pthread_mutex_lock(&lc->mu);
    bool ari = s->rec.ari_support == 1;
    const atomic_bool *token = order_token(lc, s, true);
    pthread_mutex_unlock(&lc->mu);
    if (ari)
        replaces = current_ari_id(lc, s);
    memset(&res, 0, sizeof res);
    ac_info(cfg->name, "%s: starting an order", gen != 0 ? "forced renewal" : "renewal");
    if (lc_issuer_request(lc, s, &req, e) != 0)
        goto failed;
    have_req = true;
    req.replaces = replaces;
    req.progress = progress;
    req.progress_arg = &pc;
    req.cancel = token;
    req.want_cert = true;
    req.forced = gen != 0;
    req.have_not_after = before.present && !before.names_differ ? before.not_after : 0;
    if (issuer_obtain(&req, &res, e) != 0)
        goto failed;
    /* serve what was just committed: the handle the issuer built from the
     * chain and key it checked, or (when it could not) the files */
    if (res.cert != NULL ? manager_acset_install(lc->m, s, res.cert, &e2) < 0
                         : res.issued && manager_acset_reload(lc->m, s, &e2) < 0)
        ac_err(cfg->name, "new certificate committed but not loaded: %s", e2.message);
    res.cert = NULL;
    lc_cert_facts(lc, s, &after);
    pthread_mutex_lock(&lc->mu);
    s->rec.store_down_since = 0;
    if (!lc_plan_success(&s->rec, cfg, res.issued ? &after : NULL, ac_now(), lc_rand64()))
        ac_err(cfg->name, "%s", s->rec.last_error != NULL ? s->rec.last_error->message : "");
    /* The CA may have gained ARI since it was last asked: the renewalInfo
     * fetch lc_plan_success scheduled loads its directory again. */
    if (s->rec.ari_support == 0)
        s->rec.ari_support = -1;
    pthread_mutex_unlock(&lc->mu);
    pthread_mutex_lock(&lc->metrics_mu);
    if (!res.adopted)
        lc->metrics.orders_ok++;
    pthread_mutex_unlock(&lc->metrics_mu);
    if (res.adopted)
        ac_info(cfg->name, "in service: certificate committed by another node (serial %s)",
                res.serial_hex);
    else
        ac_info(cfg->name, "in service: %s certificate (serial %s)",
                had_cert ? "renewed" : "obtained", res.serial_hex);
    lc_post_event(lc, s, had_cert ? "renewed" : "obtained", res.not_after, NULL, res.issued);
    rc = 0;
    goto out;
failed:
    pthread_mutex_lock(&lc->mu);
    lc_plan_failure(&s->rec, cfg, e, !had_cert, ac_now(), lc_rand64());
    pthread_mutex_unlock(&lc->mu);
    if (ac_error_is(e, AC_ERR_STORE_DOWN)) {
        store_down(lc, s, &before, e);
    } else if (!ac_error_is(e, AC_ERR_LOCKED) && !ac_error_is(e, AC_ERR_CANCELLED)) {
        pthread_mutex_lock(&lc->metrics_mu);
        lc->metrics.orders_failed++;
        pthread_mutex_unlock(&lc->metrics_mu);
        ac_err(cfg->name, "renewal failed (%s): %s", e->kind, e->message);
        lc_post_event(lc, s, "failed", before.present ? before.not_after : 0, e, false);
    } else {
        ac_info(cfg->name, "renewal postponed: %s", e->message);
    }
out:
    if (have_req)
        lc_issuer_done(lc, &req, rc == 0 ? NULL : e);
    pthread_mutex_lock(&lc->mu);
    (void)order_token(lc, s, false);
    pthread_mutex_unlock(&lc->mu);
    lc_persist(lc, s);
    free(replaces);
    return rc;
}
