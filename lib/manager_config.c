/*
 * manager_config.c - a manager's creation and end, applying a reloaded
 * configuration in place (sets matched by their files), and the one set
 * selector (autocert_manager_find) that the library, the CLI and the admin
 * API share.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin_api.h"
#include "challenge.h"
#include "crypto.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "manager_runtime.h"
#include "ocsp.h"
#include "sni.h"
#include "store.h"
#include "timeutil.h"

/* Sets above which make_sets makes them on several threads (each set is
 * made on its own: its copy, its id, its files' stamps, its state file). */
#define MAKE_PARALLEL_MIN ACSET_LOG_EACH_MAX
#define MAKE_THREADS_MAX 8

/* One make_sets over v[0..n): each worker takes the next set until none is
 * left; the first failure is kept (the others stop taking sets). */
struct make_batch {
    const struct config *cfg;
    struct acset **v;
    size_t n;
    int64_t now;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t mu; /* e */
    struct ac_error e;
};

static void *make_range(void *arg)
{
    struct make_batch *b = arg;
    struct ac_error e;
    size_t i;

    while (!atomic_load(&b->failed) && (i = atomic_fetch_add(&b->next, 1)) < b->n) {
        ac_error_clear(&e);
        if (acset_new(&b->cfg->sets[i], &b->v[i], &e) != 0) {
            pthread_mutex_lock(&b->mu);
            if (!atomic_exchange(&b->failed, true))
                b->e = e;
            pthread_mutex_unlock(&b->mu);
            break;
        }
        lc_set_init(b->v[i], b->now);
    }
    return NULL;
}

/* Makes the sets of cfg: a new array of n new sets. Returns 0 or -1 with e. */
static int make_sets(const struct config *cfg, struct acset ***out, struct ac_error *e)
{
    struct acset **v = calloc(cfg->sets_count + 1, sizeof *v);
    struct make_batch b = {.cfg = cfg, .v = v, .n = cfg->sets_count, .now = ac_now()};
    pthread_t tid[MAKE_THREADS_MAX - 1];
    size_t started = 0, want = 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    *out = NULL;
    if (v == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "manager: out of memory");
        return -1;
    }
    atomic_init(&b.next, 0);
    atomic_init(&b.failed, false);
    pthread_mutex_init(&b.mu, NULL);
    if (b.n >= MAKE_PARALLEL_MIN && cpus > 1)
        want = cpus < MAKE_THREADS_MAX ? (size_t)cpus : MAKE_THREADS_MAX;
    while (started + 1 < want && pthread_create(&tid[started], NULL, make_range, &b) == 0)
        started++;
    make_range(&b);
    for (size_t t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&b.mu);
    if (atomic_load(&b.failed)) {
        /* the sets made (not all in order): each freed, the array with them */
        for (size_t i = 0; i < b.n; i++)
            if (v[i] != NULL)
                acset_unref(v[i]);
        free(v);
        if (e != NULL)
            *e = b.e;
        return -1;
    }
    *out = v;
    return 0;
}

int autocert_manager_new_from_config(struct config *cfg, autocert_manager **out, char *err,
                                     size_t errlen)
{
    autocert_manager *m = NULL;
    struct ac_error e;
    int rc = -1;

    ac_error_clear(&e);
    if (cfg == NULL || cfg->sets_count == 0) {
        ac_error_set(&e, AC_ERR_CONFIG, "configuration has no certificate set");
        goto out;
    }
    if (autocert_init() != 0) {
        ac_error_set(&e, AC_ERR_CRYPTO, "cannot initialise libcurl or GnuTLS");
        goto out;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        ac_error_set(&e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&m->write_lock, NULL);
    pthread_mutex_init(&m->keycheck_mu, NULL);
    atomic_init(&m->keycheck_stop, false);
    pthread_mutex_init(&m->snap_lock, NULL);
    if (challenge_table_new(&m->challenges) != 0 || (m->ocsp = ocsp_fetcher_new()) == NULL) {
        ac_error_set(&e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (make_sets(cfg, &m->sets, &e) != 0)
        goto out;
    m->count = cfg->sets_count;
    m->cfg = cfg;
    cfg = NULL;
    if (lc_engine_new(m, &m->engine, &e) != 0 || manager_store_open(m, m->cfg, &e) != 0)
        goto out;
    pthread_mutex_lock(&m->write_lock);
    m->snap = NULL;
    if (manager_snap_publish(m) != 0) {
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(&e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_unlock(&m->write_lock);
    *out = m;
    m = NULL;
    rc = 0;
out:
    if (rc != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", e.message);
    if (m != NULL) {
        manager_store_close(m);
        lc_engine_free(m->engine, 0);
        manager_sets_free(m->sets, m->count);
        config_free(m->cfg);
        challenge_table_free(m->challenges);
        ocsp_fetcher_free(m->ocsp);
        pthread_mutex_destroy(&m->write_lock);
        pthread_mutex_destroy(&m->snap_lock);
        free(m);
    }
    config_free(cfg);
    return rc;
}

int autocert_manager_new(const char *config_path, autocert_manager **out, char *err, size_t errlen)
{
    struct config *cfg = NULL;
    struct config_diags d = {0};
    size_t nerr = 0;
    const struct config_diag *first = NULL;

    if (config_load(config_path, &cfg, &d) != 0) {
        for (size_t i = 0; i < d.count; i++) {
            if (d.items[i].warning)
                continue;
            if (first == NULL)
                first = &d.items[i];
            nerr++;
        }
        if (err != NULL && first != NULL && errlen > 0) {
            size_t n = config_diag_format(first, err, errlen);

            if (nerr > 1 && n < errlen)
                snprintf(err + n, errlen - n, " (and %zu more errors)", nerr - 1);
        } else if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: cannot load the configuration", config_path);
        }
        config_diags_free(&d);
        return -1;
    }
    config_diags_free(&d);
    return autocert_manager_new_from_config(cfg, out, err, errlen);
}

void autocert_manager_free(autocert_manager *m)
{
    if (m == NULL)
        return;
    /* Event-stream renewals of the admin API (admin_stream.c) run in threads
     * of their own: none starts any more, the engine's stop ends the running
     * ones, and they are waited for before the engine goes. */
    manager_keycheck_stop(m); /* it may still tell the engine of a key */
    admin_streams_cancel(m);
    lifecycle_stop(m->engine, true);
    ocsp_fetcher_free(m->ocsp); /* joins its thread: no handle is used after */
    m->ocsp = NULL;
    admin_streams_wait(NULL, m);
    manager_store_close(m); /* its thread reports to the engine: stopped first */
    lc_engine_free(m->engine, LIFECYCLE_EVENTS_DRAIN_MS);
    manager_snap_put(m->snap);
    manager_sets_free(m->sets, m->count);
    challenge_table_free(m->challenges);
    pthread_mutex_destroy(&m->write_lock);
    pthread_mutex_destroy(&m->keycheck_mu);
    pthread_mutex_destroy(&m->snap_lock);
    config_free(m->cfg);
    free(m);
}

struct challenge_table *manager_challenges(struct autocert_manager *m)
{
    return m != NULL ? m->challenges : NULL;
}

/* ---- reload_config ------------------------------------------------------- */

/* The old array indexed by store id, so that matching n new sets against
 * the old ones costs O(n), not O(n^2). */
struct id_index {
    size_t *slots; /* position + 1; 0 empty */
    size_t cap;    /* a power of two */
};

static size_t id_hash(const char *id)
{
    size_t h = 14695981039346656037u;

    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211u;
    return h;
}

static int id_index_init(struct id_index *ix, struct acset *const *v, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n + 2)
        cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->cap = ix->slots != NULL ? cap : 0;
    if (ix->slots == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t k = id_hash(v[i]->id) & (cap - 1);
        while (ix->slots[k] != 0)
            k = (k + 1) & (cap - 1);
        ix->slots[k] = i + 1;
    }
    return 0;
}

/* The set of the old array that new configuration c leaves unchanged, or
 * NULL. */
static struct acset *unchanged(const struct id_index *ix, struct acset *const *old,
                               const struct config_set *c)
{
    char id[ACSET_ID_LEN + 1];

    acset_id_of(c->cert_path, c->key_path, id);
    for (size_t k = id_hash(id) & (ix->cap - 1); ix->slots[k] != 0; k = (k + 1) & (ix->cap - 1)) {
        struct acset *o = old[ix->slots[k] - 1];
        if (strcmp(o->id, id) == 0 && config_set_equal(&o->cfg, c))
            return o;
    }
    return NULL;
}

/* Appends the run-time sets rt[0..nrt) (references taken over) to v[0..n)
 * and changed. Returns 0 or -1 (ENOMEM; nothing taken). */
static int append_runtime(struct acset ***v, bool **changed, size_t n, struct acset **rt,
                          const bool *rt_changed, size_t nrt)
{
    struct acset **nv;
    bool *nc;

    if (nrt == 0)
        return 0;
    nv = realloc(*v, (n + nrt + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    *v = nv;
    nc = realloc(*changed, (n + nrt + 1) * sizeof *nc);
    if (nc == NULL)
        return -1;
    *changed = nc;
    memcpy(nv + n, rt, nrt * sizeof *rt);
    memcpy(nc + n, rt_changed, nrt * sizeof *nc);
    return 0;
}

/* True when the published snapshot holds exactly m's sets, in order, each
 * with the certificate it holds now: a reload that kept every set needs no
 * new name index of every set. A set without a certificate (a stand-in may
 * be indexed for it) counts as a change. write_lock held. */
static bool snap_current(autocert_manager *m)
{
    struct snapshot *s = manager_snap_get(m);
    bool same = s->count == m->count;

    pthread_mutex_lock(&m->snap_lock);
    for (size_t i = 0; same && i < m->count; i++)
        same =
            s->sets[i] == m->sets[i] && m->sets[i]->cert != NULL && s->certs[i] == m->sets[i]->cert;
    pthread_mutex_unlock(&m->snap_lock);
    manager_snap_put(s);
    return same;
}

int manager_apply_config(autocert_manager *m, struct config *cfg, struct ac_error *e)
{
    struct acset **v = NULL, **old = NULL, **rt = NULL;
    struct config *old_cfg = NULL;
    size_t n = cfg != NULL ? cfg->sets_count : 0, nold = 0, kept = 0, nrt = 0;
    bool *changed = NULL, *rt_changed = NULL;
    int64_t now = ac_now();
    struct store_scan *scan = NULL;
    struct id_index ix = {NULL, 0};
    struct acset_ptrset ps = {NULL, 0};
    bool have_ps;
    int rc = -1;

    if (n == 0) {
        ac_error_set(e, AC_ERR_CONFIG, "configuration has no certificate set");
        config_free(cfg);
        return -1;
    }
    v = calloc(n + 1, sizeof *v);
    changed = calloc(n + 1, sizeof *changed);
    scan = store_scan_new();
    if (v == NULL || changed == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "reload: out of memory");
        goto out;
    }
    pthread_mutex_lock(&m->write_lock);
    /* run-time sets stay, re-derived under the new main (manager_runtime.h) */
    if (manager_runtime_reapply_locked(m, cfg, &rt, &rt_changed, &nrt, e) != 0) {
        pthread_mutex_unlock(&m->write_lock);
        goto out;
    }
    if (id_index_init(&ix, m->sets, m->count) != 0) {
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(e, AC_ERR_NOMEM, "reload: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct acset *same = unchanged(&ix, m->sets, &cfg->sets[i]);

        if (same != NULL) {
            v[i] = acset_ref(same);
            changed[i] = i >= m->count || m->sets[i] != same; /* moved */
            kept++;
            continue;
        }
        if (acset_new(&cfg->sets[i], &v[i], e) != 0) {
            pthread_mutex_unlock(&m->write_lock);
            manager_sets_free(v, i);
            v = NULL;
            goto out;
        }
        lc_set_init(v[i], now);
        (void)manager_refresh_batch_locked(m, v[i], scan, n <= ACSET_LOG_EACH_MAX); /* logged */
        changed[i] = true;
    }
    if (append_runtime(&v, &changed, n, rt, rt_changed, nrt) != 0) {
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(e, AC_ERR_NOMEM, "reload: out of memory");
        goto out;
    }
    for (size_t i = 0; i < nrt; i++)
        kept += !rt_changed[i];
    free(rt);
    rt = NULL;
    n += nrt;
    nrt = 0;
    old = m->sets;
    nold = m->count;
    m->sets = v;
    m->count = n;
    pthread_mutex_lock(&m->snap_lock);
    old_cfg = m->cfg;
    m->cfg = cfg;
    pthread_mutex_unlock(&m->snap_lock);
    cfg = NULL;
    if (!snap_current(m) && manager_snap_publish(m) != 0) {
        /* back to the old array and configuration: nothing changed */
        m->sets = old;
        m->count = nold;
        pthread_mutex_lock(&m->snap_lock);
        cfg = m->cfg;
        m->cfg = old_cfg;
        pthread_mutex_unlock(&m->snap_lock);
        old_cfg = NULL;
        old = NULL;
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(e, AC_ERR_NOMEM, "reload: out of memory");
        goto out;
    }
    v = NULL;
    manager_store_check_reload(old_cfg, m->cfg);
    /* A removed or replaced set may live on (a running order, a status copy):
     * its secrets stay masked when its configuration goes. */
    have_ps = acset_ptrset_init(&ps, m->sets, n) == 0;
    for (size_t i = 0; i < nold; i++) {
        bool stays = false;
        if (have_ps)
            stays = acset_ptrset_has(&ps, old[i]);
        else /* out of memory for the index: the slow way */
            for (size_t k = 0; k < n && !stays; k++)
                stays = m->sets[k] == old[i];
        if (!stays && !old[i]->runtime && acset_keep_secrets(old[i]) != 0)
            ac_warn(old[i]->cfg.name, "reload: out of memory registering its secrets");
    }
    acset_ptrset_free(&ps);
    lc_sets_replaced(m->engine, old, nold, m->sets, n);
    if (nold != n)
        changed[0] = true; /* sets came or went: the CHANGED event */
    pthread_mutex_unlock(&m->write_lock);
    ac_info(NULL,
            "configuration applied: %zu set(s), %zu unchanged, %zu new or changed, %zu "
            "removed",
            n, kept, n - kept, nold > kept ? nold - kept : 0);
    manager_notify(m, changed, n);
    rc = 0;
out:
    manager_sets_free(rt, nrt);
    free(rt_changed);
    store_scan_free(scan);
    free(ix.slots);
    manager_sets_free(old, nold);
    manager_sets_free(v, n);
    config_free(old_cfg);
    config_free(cfg);
    free(changed);
    return rc;
}

/* ---- the selector --------------------------------------------------------- */

/* Set index of a set name: "main", "extra[N]", "extraN" (any case), or a set's
 * own name. -1 when sel is no name; -2 when it is one of the extra forms but
 * out of range. */
static long find_name(const struct snapshot *s, const char *sel)
{
    const char *p;
    unsigned long k;
    char *end;

    if (strcasecmp(sel, "main") == 0)
        return 0;
    if (strncasecmp(sel, "extra", 5) == 0) {
        p = sel + 5;
        if (*p == '[')
            p++;
        if (isdigit((unsigned char)*p) && *p != '0') {
            errno = 0;
            k = strtoul(p, &end, 10);
            if (errno == 0 && (sel[5] == '[' ? strcmp(end, "]") == 0 : *end == '\0'))
                return k < s->count && !s->sets[k]->runtime ? (long)k : -2;
        }
    }
    /* The YAML sets are named "main" and "extra[N]" (handled above); the
     * run-time sets follow them, sorted by name (lowercase only, so strcmp's
     * order is strcasecmp's): two binary searches, so that neither a name
     * nor a domain walks every set here. */
    size_t lo = 0, hi = s->count;

    while (lo < hi) { /* the first run-time set */
        size_t mid = lo + (hi - lo) / 2;

        if (s->sets[mid]->runtime)
            hi = mid;
        else
            lo = mid + 1;
    }
    hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(s->sets[mid]->cfg.name, sel);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int manager_find(autocert_manager *m, const char *selector, size_t *idx, struct ac_error *e)
{
    struct snapshot *s;
    long found;
    int id;

    if (selector == NULL || selector[0] == '\0') {
        ac_error_set(e, AC_ERR_NO_MATCH, "no set name or domain given");
        return -1;
    }
    s = manager_snap_get(m);
    found = find_name(s, selector);
    if (found == -2) {
        ac_error_set(e, AC_ERR_NO_MATCH, "no set named %s", selector);
        goto out;
    }
    if (found < 0) {
        id = sni_index_lookup(s->sel, selector, strlen(selector));
        if (id >= 0 && (size_t)id < s->count)
            found = id;
    }
    /* Names an SNI index cannot hold (IP addresses): exact, any case. */
    for (size_t i = 0; found < 0 && i < s->count; i++)
        for (size_t d = 0; found < 0 && d < s->sets[i]->cfg.domains_count; d++)
            if (strcasecmp(s->sets[i]->cfg.domains[d], selector) == 0)
                found = (long)i;
    if (found < 0)
        ac_error_set(e, AC_ERR_NO_MATCH, "no set covers %s", selector);
out:
    manager_snap_put(s);
    if (found < 0)
        return -1;
    *idx = (size_t)found;
    return 0;
}
