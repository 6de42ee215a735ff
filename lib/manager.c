/*
 * manager.c - certificate sets, the published snapshot and the SNI lookup.
 *
 * Writers (load, reload, replace) hold `write_lock` while they read files and
 * build a new snapshot: the SNI index over every set that holds a certificate
 * (main first, then extras; set id = config index) plus one reference to each
 * set's certificate. They then publish it by swapping `m->snap`.
 *
 * Why readers are safe (PITFALLS: a bare atomic pointer swap is not):
 *
 *     reader                              writer
 *     lock(snap_lock)                     build new snapshot (I/O, allocation)
 *       s = m->snap; s->refs++            lock(snap_lock)
 *     unlock(snap_lock)                     old = m->snap; m->snap = new
 *     sni lookup in s, acquire cert       unlock(snap_lock)
 *     snap_put(s)  -- last one frees      snap_put(old) -- last one frees
 *
 * `snap_lock` covers only "load the pointer + take a reference" (a few
 * nanoseconds, no I/O, no allocation), so a reader can never hold a pointer to
 * a snapshot whose count already reached zero: the writer's own reference is
 * dropped only after the pointer is unpublished under the same lock. Whoever
 * drops the last reference frees the snapshot. The SNI lookup itself runs
 * outside any lock on immutable data; certificate handles carry their own
 * counts, so a handle returned to a caller outlives every snapshot.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "certset.h"
#include "crypto.h"
#include "log.h"
#include "manager.h"
#include "sni.h"
#include "timeutil.h"

/* A NotBefore this far in the future still counts as valid (clock skew). */
#define MANAGER_CLOCK_SKEW 300

struct snapshot {
    atomic_uint refs;
    struct sni_index *ix;   /* owned; NULL when no set holds a certificate */
    size_t count;
    autocert_cert *certs[]; /* one reference per set, or NULL */
};

struct mset {
    autocert_cert *cert;         /* current certificate (reference) or NULL */
    struct ac_error last_error;  /* of the last load from disk, or the warning that
                                    the certificate in service is out of its dates */
};

struct autocert_manager {
    struct config *cfg;          /* owned */
    struct mset *sets;           /* cfg->sets_count entries; guarded by write_lock */
    size_t count;
    pthread_mutex_t write_lock;  /* serialises writers; may be held across I/O */
    pthread_mutex_t snap_lock;   /* only around "load m->snap + refs++" and the swap */
    struct snapshot *snap;       /* never NULL */
    manager_change_fn hook;
    void *hook_arg;
};

/* ---- snapshots ---------------------------------------------------------- */

static void snap_put(struct snapshot *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        autocert_cert_release(s->certs[i]);
    sni_index_free(s->ix);
    free(s);
}

static struct snapshot *snap_get(autocert_manager *m)
{
    struct snapshot *s;

    pthread_mutex_lock(&m->snap_lock);
    s = m->snap;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&m->snap_lock);
    return s;
}

/* Builds a snapshot of the sets' current certificates. Caller holds write_lock. */
static struct snapshot *snap_build(autocert_manager *m)
{
    struct snapshot *s = NULL;
    struct sni_builder *b = NULL;

    s = calloc(1, sizeof(*s) + m->count * sizeof(s->certs[0]));
    if (s == NULL)
        goto fail;
    atomic_init(&s->refs, 1);
    s->count = m->count;
    b = sni_builder_new();
    if (b == NULL)
        goto fail;
    for (size_t i = 0; i < m->count; i++) {
        autocert_cert *c = m->sets[i].cert;
        if (c == NULL)
            continue;
        s->certs[i] = autocert_cert_acquire(c);
        for (size_t n = 0; n < autocert_cert_name_count(c); n++) {
            const char *name = autocert_cert_name(c, n);
            /* -1: a name that can never be an SNI value (or ENOMEM); skip it. */
            if (sni_builder_add(b, name, strlen(name), (int)i) != 0)
                ac_debug(m->cfg->sets[i].name, "name not indexed: %s", name);
        }
    }
    s->ix = sni_builder_finish(b);
    if (s->ix == NULL)
        goto fail;
    return s;
fail:
    ac_err(NULL, "manager: cannot build the SNI snapshot: out of memory");
    snap_put(s);
    return NULL;
}

/* Publishes a snapshot of the current sets. Caller holds write_lock. */
static int snap_publish(autocert_manager *m)
{
    struct snapshot *s = snap_build(m), *old;

    if (s == NULL)
        return -1;
    pthread_mutex_lock(&m->snap_lock);
    old = m->snap;
    m->snap = s;
    pthread_mutex_unlock(&m->snap_lock);
    snap_put(old);
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

int autocert_manager_new_from_config(struct config *cfg, autocert_manager **out,
                                     char *err, size_t errlen)
{
    autocert_manager *m = NULL;
    int rc = -1;

    if (cfg == NULL || cfg->sets_count == 0) {
        if (err != NULL)
            snprintf(err, errlen, "configuration has no certificate set");
        goto out;
    }
    if (crypto_init() != 0) {
        if (err != NULL)
            snprintf(err, errlen, "cannot initialise GnuTLS");
        goto out;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto nomem;
    m->count = cfg->sets_count;
    m->sets = calloc(m->count, sizeof(*m->sets));
    m->snap = calloc(1, sizeof(*m->snap) + m->count * sizeof(m->snap->certs[0]));
    if (m->sets == NULL || m->snap == NULL)
        goto nomem;
    atomic_init(&m->snap->refs, 1);
    m->snap->count = m->count;
    for (size_t i = 0; i < m->count; i++)
        ac_error_clear(&m->sets[i].last_error);
    pthread_mutex_init(&m->write_lock, NULL);
    pthread_mutex_init(&m->snap_lock, NULL);
    m->cfg = cfg;
    cfg = NULL;
    *out = m;
    m = NULL;
    rc = 0;
    goto out;
nomem:
    if (err != NULL)
        snprintf(err, errlen, "out of memory");
out:
    if (m != NULL) {
        free(m->sets);
        free(m->snap);
        free(m);
    }
    config_free(cfg);
    return rc;
}

int autocert_manager_new(const char *config_path, autocert_manager **out, char *err,
                         size_t errlen)
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
        if (err != NULL && first != NULL)
            snprintf(err, errlen, "%s:%d:%d: %s%s%s%s", first->file ? first->file : config_path,
                     first->line, first->column, first->key_path ? first->key_path : "",
                     first->key_path ? ": " : "", first->message ? first->message : "invalid",
                     nerr > 1 ? " (and more errors)" : "");
        else if (err != NULL)
            snprintf(err, errlen, "%s: cannot load the configuration", config_path);
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
    for (size_t i = 0; i < m->count; i++)
        autocert_cert_release(m->sets[i].cert);
    snap_put(m->snap);
    pthread_mutex_destroy(&m->write_lock);
    pthread_mutex_destroy(&m->snap_lock);
    free(m->sets);
    config_free(m->cfg);
    free(m);
}

/* ---- loading ------------------------------------------------------------ */

static void log_cert(const char *set, const autocert_cert *c)
{
    char exp[32];
    char names[512] = "";
    size_t used = 0;

    ac_time_format_rfc3339(autocert_cert_not_after(c), exp, sizeof(exp));
    for (size_t i = 0; i < autocert_cert_name_count(c) && used < sizeof(names); i++) {
        int n = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                         autocert_cert_name(c, i));
        if (n < 0)
            break;
        used += (size_t)n;
    }
    ac_info(set, "certificate loaded: %s; expires %s", names, exp);
}

/* Records in the set's last_error (a warning kind: the certificate stays in
 * service) that the certificate in service is expired or not yet valid, and
 * logs it when the certificate is new or the finding changed. `prev_kind` is
 * the kind recorded before. Caller holds write_lock. */
static void note_validity(autocert_manager *m, size_t i, bool fresh, const char *prev_kind)
{
    struct mset *ms = &m->sets[i];
    const struct config_set *cs = &m->cfg->sets[i];
    int64_t now = ac_now();
    char ts[32];

    if (ms->cert == NULL)
        return;
    if (autocert_cert_not_after(ms->cert) <= now) {
        ac_time_format_rfc3339(autocert_cert_not_after(ms->cert), ts, sizeof ts);
        ac_error_set(&ms->last_error, AC_ERR_CERT_EXPIRED,
                     "certificate in %s expired at %s (NotAfter); it is still served",
                     cs->cert_path, ts);
    } else if (autocert_cert_not_before(ms->cert) > now + MANAGER_CLOCK_SKEW) {
        ac_time_format_rfc3339(autocert_cert_not_before(ms->cert), ts, sizeof ts);
        ac_error_set(&ms->last_error, AC_ERR_CERT_NOT_YET_VALID,
                     "certificate in %s is not valid before %s (NotBefore); it is still "
                     "served",
                     cs->cert_path, ts);
    } else {
        return;
    }
    if (fresh || strcmp(prev_kind, ms->last_error.kind) != 0)
        ac_warn(cs->name, "%s", ms->last_error.message);
}

/* Re-reads set i. drop_absent: absent files drop the certificate in memory
 * (load) instead of keeping it (reload). Caller holds write_lock.
 * Returns 1 changed, 0 unchanged, -1 broken files (certificate kept). */
static int set_refresh_locked(autocert_manager *m, size_t i, bool drop_absent,
                              struct ac_error *e)
{
    struct mset *ms = &m->sets[i];
    const char *name = m->cfg->sets[i].name;
    autocert_cert *c = NULL;
    struct ac_error le;
    char prev_kind[sizeof le.kind];
    int rc;

    ac_error_clear(&le);
    rc = certset_load(&m->cfg->sets[i], (int)i, &c, &le);
    if (rc < 0) {
        ac_err(name, "cannot load the certificate: %s%s", le.message,
               ms->cert != NULL ? " (keeping the certificate in memory)" : "");
        ms->last_error = le;
        if (e != NULL)
            *e = le;
        return -1;
    }
    snprintf(prev_kind, sizeof prev_kind, "%s", ms->last_error.kind);
    ac_error_clear(&ms->last_error);
    if (rc == 1) {
        if (ms->cert == NULL) {
            ac_info(name, "no certificate yet (%s absent)", m->cfg->sets[i].cert_path);
            return 0;
        }
        if (!drop_absent) {
            ac_warn(name, "certificate files vanished; keeping the one in memory");
            note_validity(m, i, false, prev_kind);
            return 0;
        }
        ac_warn(name, "certificate files vanished; the set holds no certificate");
        autocert_cert_release(ms->cert);
        ms->cert = NULL;
        return 1;
    }
    if (cert_same(c, ms->cert)) {
        autocert_cert_release(c);
        note_validity(m, i, false, prev_kind);
        return 0;
    }
    log_cert(name, c);
    autocert_cert_release(ms->cert);
    ms->cert = c;
    note_validity(m, i, true, prev_kind);
    return 1;
}

/* Runs the change hook for every set marked in changed[] (no lock held). */
static void notify_changes(autocert_manager *m, const bool *changed)
{
    if (m->hook == NULL)
        return;
    for (size_t i = 0; i < m->count; i++) {
        if (!changed[i])
            continue;
        autocert_cert *c = manager_set_cert(m, i);
        m->hook(m, i, c, m->hook_arg);
        autocert_cert_release(c);
    }
}

static int refresh_all(autocert_manager *m, bool drop_absent, int *holding)
{
    bool *changed = calloc(m->count, sizeof(*changed));
    int nchanged = 0, rc = -1;

    if (changed == NULL)
        return -1;
    pthread_mutex_lock(&m->write_lock);
    *holding = 0;
    for (size_t i = 0; i < m->count; i++) {
        if (set_refresh_locked(m, i, drop_absent, NULL) == 1) {
            changed[i] = true;
            nchanged++;
        }
        if (m->sets[i].cert != NULL)
            (*holding)++;
    }
    if (m->sets[0].cert == NULL)
        ac_warn("main", "main holds no certificate: every handshake will fail");
    rc = nchanged > 0 ? snap_publish(m) : 0;
    pthread_mutex_unlock(&m->write_lock);
    if (rc == 0)
        notify_changes(m, changed);
    free(changed);
    return rc < 0 ? -1 : nchanged;
}

int autocert_manager_load(autocert_manager *m)
{
    int holding = 0;

    (void)refresh_all(m, true, &holding); /* a failed publish is logged */
    return holding;
}

int autocert_manager_reload(autocert_manager *m)
{
    int holding = 0;

    return refresh_all(m, false, &holding);
}

/* The "which sets changed" array for a change of set idx: new, zeroed (free
 * it); NULL with e when idx is out of range or memory is short. */
static bool *changed_new(autocert_manager *m, size_t idx, const char *fn, struct ac_error *e)
{
    bool *changed;

    if (idx >= m->count) {
        ac_error_set(e, AC_ERR_INTERNAL, "%s: no set %zu", fn, idx);
        return NULL;
    }
    changed = calloc(m->count, sizeof(*changed));
    if (changed == NULL)
        ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", fn);
    return changed;
}

int manager_set_reload(autocert_manager *m, size_t idx, struct ac_error *e)
{
    bool *changed = NULL;
    int rc;

    changed = changed_new(m, idx, "manager_set_reload", e);
    if (changed == NULL)
        return -1;
    pthread_mutex_lock(&m->write_lock);
    rc = set_refresh_locked(m, idx, false, e);
    if (rc == 1 && snap_publish(m) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "manager_set_reload: cannot publish");
        rc = -1;
    }
    pthread_mutex_unlock(&m->write_lock);
    if (rc == 1) {
        changed[idx] = true;
        notify_changes(m, changed);
    }
    free(changed);
    return rc;
}

int manager_set_replace(autocert_manager *m, size_t idx, const void *chain_pem,
                        size_t chain_len, const void *key, size_t key_len,
                        struct ac_error *e)
{
    autocert_cert *c = NULL, *old;
    bool *changed = NULL;
    int rc = -1;

    changed = changed_new(m, idx, "manager_set_replace", e);
    if (changed == NULL)
        return -1;
    if (certset_from_memory(m->cfg->sets[idx].name, (int)idx, chain_pem, chain_len, key,
                            key_len, &c, e) != 0)
        goto out;
    pthread_mutex_lock(&m->write_lock);
    old = m->sets[idx].cert;
    m->sets[idx].cert = c;
    if (snap_publish(m) != 0) {
        m->sets[idx].cert = old;
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(e, AC_ERR_NOMEM, "manager_set_replace: cannot publish");
        goto out;
    }
    ac_error_clear(&m->sets[idx].last_error);
    note_validity(m, idx, true, "");
    c = NULL;
    pthread_mutex_unlock(&m->write_lock);
    autocert_cert_release(old);
    changed[idx] = true;
    notify_changes(m, changed);
    rc = 0;
out:
    autocert_cert_release(c);
    free(changed);
    return rc;
}

/* ---- lookups and accessors ---------------------------------------------- */

autocert_cert *autocert_manager_lookup(autocert_manager *m, const char *server_name,
                                       size_t len)
{
    struct snapshot *s = snap_get(m);
    autocert_cert *c = NULL;
    int id;

    if (s->certs[0] != NULL) { /* main without a certificate fails every handshake */
        id = server_name != NULL && len > 0 ? sni_index_lookup(s->ix, server_name, len) : -1;
        c = id >= 0 && (size_t)id < s->count && s->certs[id] != NULL ? s->certs[id]
                                                                      : s->certs[0];
        autocert_cert_acquire(c);
    }
    snap_put(s);
    return c;
}

autocert_cert *manager_set_cert(autocert_manager *m, size_t idx)
{
    struct snapshot *s;
    autocert_cert *c = NULL;

    if (idx >= m->count)
        return NULL;
    s = snap_get(m);
    c = autocert_cert_acquire(s->certs[idx]);
    snap_put(s);
    return c;
}

void manager_set_last_error(autocert_manager *m, size_t idx, struct ac_error *e)
{
    ac_error_clear(e);
    if (idx >= m->count || e == NULL)
        return;
    pthread_mutex_lock(&m->write_lock);
    *e = m->sets[idx].last_error;
    pthread_mutex_unlock(&m->write_lock);
}

void manager_set_change_hook(autocert_manager *m, manager_change_fn fn, void *arg)
{
    m->hook = fn;
    m->hook_arg = arg;
}

const struct config *manager_config(const autocert_manager *m)
{
    return m->cfg;
}

size_t manager_set_count(const autocert_manager *m)
{
    return m->count;
}

size_t autocert_manager_set_count(const autocert_manager *m)
{
    return m->count;
}

const char *manager_set_name(const autocert_manager *m, size_t idx)
{
    return idx < m->count ? m->cfg->sets[idx].name : NULL;
}

const struct config_set *manager_set_config(const autocert_manager *m, size_t idx)
{
    return idx < m->count ? &m->cfg->sets[idx] : NULL;
}
