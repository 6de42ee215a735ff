/*
 * manager_load.c - reading the sets' files into the manager: the load at
 * start-up, the reload (SIGHUP, autocert_manager_reload: only the sets whose
 * files changed), one set's re-read (the file watcher, a finished order) and
 * the install of a certificate the engine obtained. Above
 * REFRESH_PARALLEL_MIN sets a load or reload runs on several threads. The
 * snapshot these publish and the lookups are in manager.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert.h"
#include "certset.h"
#include "crypto.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "standin.h"
#include "store.h"
#include "timeutil.h"

/* A NotBefore this far in the future still counts as valid (clock skew). */
#define MANAGER_CLOCK_SKEW 300

/* ---- loading ------------------------------------------------------------ */

static void log_cert(const char *set, const autocert_cert *c, bool verbose)
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
    if (verbose)
        ac_info(set, "certificate loaded: %s; expires %s", names, exp);
    else
        ac_debug(set, "certificate loaded: %s; expires %s", names, exp);
}

/* Sets s's certificate and load error (write_lock held; snap_lock taken for
 * the readers). c is taken. */
static void set_cert(autocert_manager *m, struct acset *s, autocert_cert *c,
                     const struct ac_error *le)
{
    autocert_cert *old;

    pthread_mutex_lock(&m->snap_lock);
    old = s->cert;
    s->cert = c;
    acset_error_put(&s->load_error, le);
    s->loaded_at = ac_now();
    pthread_mutex_unlock(&m->snap_lock);
    standin_set_has_cert(s, c != NULL);
    if (old != c)
        autocert_cert_release(old);
}

static void set_load_error(autocert_manager *m, struct acset *s, const struct ac_error *le)
{
    pthread_mutex_lock(&m->snap_lock);
    acset_error_put(&s->load_error, le);
    s->loaded_at = ac_now();
    pthread_mutex_unlock(&m->snap_lock);
}

/* The warning (a kind of its own: the certificate stays in service) that the
 * certificate in service is expired or not yet valid, into w; kind "" when it
 * is within its dates. Logged when the certificate is new or the finding
 * changed (`prev_kind`: the kind recorded before). */
static void note_validity(const struct acset *s, const autocert_cert *c, bool fresh,
                          const char *prev_kind, struct ac_error *w)
{
    int64_t now = ac_now();
    char ts[32];

    ac_error_clear(w);
    if (c == NULL)
        return;
    if (autocert_cert_not_after(c) <= now) {
        ac_time_format_rfc3339(autocert_cert_not_after(c), ts, sizeof ts);
        ac_error_set(w, AC_ERR_CERT_EXPIRED,
                     "certificate in %s expired at %s (NotAfter); it is still served",
                     s->cfg.cert_path, ts);
    } else if (autocert_cert_not_before(c) > now + MANAGER_CLOCK_SKEW) {
        ac_time_format_rfc3339(autocert_cert_not_before(c), ts, sizeof ts);
        ac_error_set(w, AC_ERR_CERT_NOT_YET_VALID,
                     "certificate in %s is not valid before %s (NotBefore); it is still "
                     "served",
                     s->cfg.cert_path, ts);
    } else {
        return;
    }
    if (fresh || strcmp(prev_kind, w->kind) != 0)
        ac_warn(s->cfg.name, "%s", w->message);
}

/* True when s's commit journal exists (a commit past its commit point, or
 * an interrupted one: the staged files stand in for the final ones). */
static bool journal_exists(const struct acset *s)
{
    char j[STORE_PATH_MAX];
    struct stat st;

    if (store_journal_path(s->cfg.cert_path, s->cfg.key_path, j, sizeof j) != 0)
        return true; /* cannot tell: read the files */
    return lstat(j, &st) == 0;
}

/* manager_refresh_locked with a batch's directory listings (scan, may be
 * NULL) and the per-set info lines at debug level when !verbose. */
static int refresh_set(autocert_manager *m, struct acset *s, bool drop_absent,
                       struct store_scan *scan, bool verbose, bool recover, bool defer_key_check,
                       struct ac_error *e)
{
    const char *name = s->cfg.name;
    autocert_cert *c = NULL;
    struct ac_error le, w;
    char prev_kind[sizeof le.kind];
    struct lc_filestamp st[2];
    struct store_pair_seen seen;
    int rc;

    ac_error_clear(&le);
    /* the key's own check can wait only when no certificate is in service
     * (nothing to lose if the new key turns out not to hold together) */
    rc = recover ? certset_load(&s->cfg, 0, scan, &seen,
                                defer_key_check && s->cert == NULL ? CERTSET_DEFER_KEY_CHECK : 0,
                                &c, &le)
                 : certset_read(&s->cfg, 0, &seen, &c, &le);
    atomic_store(&s->read_ms, ac_mono_ms());
    /* the stamps of what was read, taken on the open files before reading:
     * a change while it reads is seen next time */
    for (int f = 0; f < 2; f++)
        acset_stamp_from(&st[f], seen.exists[f] ? &seen.st[f] : NULL);
    s->read_stamps[0] = st[0];
    s->read_stamps[1] = st[1];
    s->read_journal = seen.journal;
    if (!s->read_once && s->local) {
        /* the file watcher's starting point (it takes the set over once the
         * set is shared: this first read comes before) */
        s->stamps[0] = st[0];
        s->stamps[1] = st[1];
    }
    s->read_once = true;
    if (rc < 0) {
        ac_err(name, "cannot load the certificate: %s%s", le.message,
               s->cert != NULL ? " (keeping the certificate in memory)" : "");
        set_load_error(m, s, &le);
        if (e != NULL)
            *e = le;
        return -1;
    }
    snprintf(prev_kind, sizeof prev_kind, "%s", s->load_error != NULL ? s->load_error->kind : "");
    if (rc == 1) {
        if (s->cert == NULL) {
            ac_error_clear(&w);
            set_load_error(m, s, &w);
            if (verbose)
                ac_info(name, "no certificate yet (%s absent)", s->cfg.cert_path);
            else
                ac_debug(name, "no certificate yet (%s absent)", s->cfg.cert_path);
            return 0;
        }
        if (!drop_absent) {
            ac_warn(name, "certificate files vanished; keeping the one in memory");
            note_validity(s, s->cert, false, prev_kind, &w);
            set_load_error(m, s, &w);
            return 0;
        }
        ac_warn(name, "certificate files vanished; the set holds no certificate");
        ac_error_clear(&w);
        set_cert(m, s, NULL, &w);
        return 1;
    }
    if (cert_same(c, s->cert)) {
        autocert_cert_release(c);
        note_validity(s, s->cert, false, prev_kind, &w);
        set_load_error(m, s, &w);
        return 0;
    }
    log_cert(name, c, verbose);
    note_validity(s, c, true, prev_kind, &w);
    set_cert(m, s, c, &w);
    return 1;
}

int manager_refresh_locked(autocert_manager *m, struct acset *s, bool drop_absent,
                           struct ac_error *e)
{
    return refresh_set(m, s, drop_absent, NULL, true, true, false, e);
}

int manager_refresh_batch_locked(autocert_manager *m, struct acset *s, struct store_scan *scan,
                                 bool verbose)
{
    return refresh_set(m, s, true, scan, verbose, true, false, NULL);
}

/* True when s's files were read before, no commit was under way then or is
 * now, and both files still carry the stamps they had then (write_lock
 * held). */
static bool files_unchanged(const struct acset *s, struct store_scan *scan)
{
    struct lc_filestamp st[2];
    int journal;

    if (!s->read_once || s->read_journal)
        return false;
    acset_stamp(s, st);
    if (acset_stamp_differs(&st[0], &s->read_stamps[0]) ||
        acset_stamp_differs(&st[1], &s->read_stamps[1]))
        return false;
    /* the batch's listing of the directory (one read for its sets) */
    journal = store_pair_journal_listed(s->cfg.cert_path, s->cfg.key_path, scan);
    return journal < 0 ? !journal_exists(s) : journal == 0;
}

void manager_notify(autocert_manager *m, const bool *changed, size_t n)
{
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        if (!changed[i])
            continue;
        any = true;
        if (m->hook != NULL) {
            autocert_cert *c = manager_set_cert(m, i);
            m->hook(m, i, c, m->hook_arg);
            autocert_cert_release(c);
        }
    }
    if (any) {
        /* the changed sets' renewal timers follow their new certificates */
        struct snapshot *snap = manager_snap_get(m);

        for (size_t i = 0; i < n && i < snap->count; i++)
            if (changed[i])
                lc_rearm(m->engine, snap->sets[i]);
        manager_snap_put(snap);
        lc_changed(m->engine);
    }
}

/* ---- the deferred key check ----------------------------------------------- */

static long position_locked(const autocert_manager *m, const struct acset *s);
static bool *changed_for(autocert_manager *m, const struct acset *s, size_t *n, bool mark);

/* c, s's certificate, has a key that does not hold together (e): s serves
 * no certificate from now on and reports why, as if the load had failed. */
static void keycheck_failed(autocert_manager *m, struct acset *s, autocert_cert *c,
                            const struct ac_error *e)
{
    struct ac_error le;
    bool *changed = NULL;
    size_t n = 0;

    ac_error_set(&le, e->kind, "private key in %s: %s", s->cfg.key_path, e->message);
    pthread_mutex_lock(&m->write_lock);
    if (s->cert == c && position_locked(m, s) >= 0) {
        ac_err(s->cfg.name, "cannot load the certificate: %s (it is no longer served)", le.message);
        set_cert(m, s, NULL, &le);
        if (manager_snap_publish(m) == 0)
            changed = changed_for(m, s, &n, true);
    }
    pthread_mutex_unlock(&m->write_lock);
    if (changed != NULL)
        manager_notify(m, changed, n);
    free(changed);
}

/* Checks the key of every certificate a start-up load left unchecked, one
 * after the other, while the sets are served. */
static void *keycheck_run(void *arg)
{
    autocert_manager *m = arg;
    struct snapshot *snap = manager_snap_get(m);
    size_t checked = 0, bad = 0;

    for (size_t i = 0; i < snap->count && !atomic_load(&m->keycheck_stop); i++) {
        struct acset *s = snap->sets[i];
        autocert_cert *c;
        struct ac_error e;

        pthread_mutex_lock(&m->snap_lock);
        c = autocert_cert_acquire(s->cert);
        pthread_mutex_unlock(&m->snap_lock);
        if (c != NULL && cert_key_unchecked(c)) {
            checked++;
            ac_error_clear(&e);
            if (cert_key_check(c, &e) != 0) {
                bad++;
                keycheck_failed(m, s, c, &e);
            }
        }
        autocert_cert_release(c);
    }
    manager_snap_put(snap);
    ac_debug(NULL, "keys checked after start-up: %zu, %zu did not hold together", checked, bad);
    return NULL;
}

void manager_keycheck_stop(autocert_manager *m)
{
    pthread_mutex_lock(&m->keycheck_mu);
    if (m->keycheck_running) {
        atomic_store(&m->keycheck_stop, true);
        pthread_join(m->keycheck_thread, NULL);
        m->keycheck_running = false;
    }
    pthread_mutex_unlock(&m->keycheck_mu);
}

/* Starts the check after a load (a check still running from an earlier
 * load is stopped first: this one goes through every set). When no thread
 * can be started the keys are checked here. */
static void keycheck_start(autocert_manager *m)
{
    bool started;

    manager_keycheck_stop(m);
    pthread_mutex_lock(&m->keycheck_mu);
    atomic_store(&m->keycheck_stop, false);
    started = pthread_create(&m->keycheck_thread, NULL, keycheck_run, m) == 0;
    m->keycheck_running = started;
    pthread_mutex_unlock(&m->keycheck_mu);
    if (!started)
        (void)keycheck_run(m);
}

/* Sets above which a load or reload reads the sets' files on several
 * threads (below it, one thread keeps the per-set log lines in order). */
#define REFRESH_PARALLEL_MIN ACSET_LOG_EACH_MAX
/* Threads of a parallel load at most (and never more than online CPUs). */
#define REFRESH_THREADS_MAX 8

/* One load or reload over m->sets (write_lock held by the caller, which
 * waits for the workers): each worker takes the next set until none is left. */
struct refresh_batch {
    autocert_manager *m;
    size_t n;
    bool drop_absent, verbose;
    bool defer_key_check; /* a start-up load of many sets: keys checked after */
    struct store_scan *scan;
    bool *changed; /* [i]: set i got another certificate; each written by one worker */
    atomic_size_t next, reread, nchanged;
};

static void refresh_range(struct refresh_batch *b)
{
    size_t i;

    while ((i = atomic_fetch_add(&b->next, 1)) < b->n) {
        struct acset *s = b->m->sets[i];

        if (!b->drop_absent && files_unchanged(s, b->scan))
            continue;
        atomic_fetch_add(&b->reread, 1);
        if (refresh_set(b->m, s, b->drop_absent, b->scan, b->verbose, true, b->defer_key_check,
                        NULL) == 1) {
            b->changed[i] = true;
            atomic_fetch_add(&b->nchanged, 1);
        }
    }
}

static void *refresh_worker(void *arg)
{
    refresh_range(arg);
    return NULL;
}

/* Runs the batch on this thread and up to REFRESH_THREADS_MAX - 1 others
 * (CPUs online permitting; a thread that cannot be started leaves its share
 * to the others). Every set is independent: its fields are written by the
 * one worker that took it, the snapshot fields under snap_lock, the
 * directory listings and interned chain certificates under their own locks. */
static void refresh_run(struct refresh_batch *b)
{
    pthread_t tid[REFRESH_THREADS_MAX - 1];
    size_t started = 0, want = 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (b->n >= REFRESH_PARALLEL_MIN && cpus > 1)
        want = cpus < REFRESH_THREADS_MAX ? (size_t)cpus : REFRESH_THREADS_MAX;
    while (started + 1 < want && pthread_create(&tid[started], NULL, refresh_worker, b) == 0)
        started++;
    refresh_range(b);
    for (size_t t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}

/* Load (drop_absent) or reload of every set. A reload re-reads only the
 * sets whose files changed since they were last read (a stat of each file);
 * a load reads them all. Each directory is listed once for the batch. */
static int refresh_all(autocert_manager *m, bool drop_absent, int *holding)
{
    struct refresh_batch b = {.m = m, .drop_absent = drop_absent};
    int nchanged, rc;

    pthread_mutex_lock(&m->write_lock);
    b.n = m->count;
    b.verbose = b.n <= ACSET_LOG_EACH_MAX;
    b.defer_key_check = drop_absent && b.n >= REFRESH_PARALLEL_MIN;
    b.changed = calloc(b.n + 1, sizeof(*b.changed));
    b.scan = store_scan_new(); /* NULL: each set lists its directories itself */
    if (b.changed == NULL) {
        pthread_mutex_unlock(&m->write_lock);
        store_scan_free(b.scan);
        return -1;
    }
    atomic_init(&b.next, 0);
    atomic_init(&b.reread, 0);
    atomic_init(&b.nchanged, 0);
    refresh_run(&b);
    store_scan_free(b.scan);
    nchanged = (int)atomic_load(&b.nchanged);
    *holding = 0;
    for (size_t i = 0; i < b.n; i++)
        if (m->sets[i]->cert != NULL)
            (*holding)++;
    if (m->sets[0]->cert == NULL && !m->sets[0]->standin_ok && !m->sets[0]->selfsigned)
        ac_warn("main", "main holds no certificate: every handshake will fail");
    if (!drop_absent)
        ac_info(NULL, "reload: %zu of %zu set(s) had changed files: re-read; %d changed",
                atomic_load(&b.reread), b.n, nchanged);
    rc = nchanged > 0 ? manager_snap_publish(m) : 0;
    pthread_mutex_unlock(&m->write_lock);
    if (rc == 0)
        manager_notify(m, b.changed, b.n);
    free(b.changed);
    if (b.defer_key_check)
        keycheck_start(m);
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

/* Position of s in m->sets, or -1 (removed). write_lock held. */
static long position_locked(const autocert_manager *m, const struct acset *s)
{
    for (size_t i = 0; i < m->count; i++)
        if (m->sets[i] == s)
            return (long)i;
    return -1;
}

/* The "which sets changed" array for a change of s (write_lock held): new,
 * zeroed, with s's position marked when it is in the array. */
static bool *changed_for(autocert_manager *m, const struct acset *s, size_t *n, bool mark)
{
    bool *changed = calloc(m->count + 1, sizeof(*changed));
    long pos = position_locked(m, s);

    *n = m->count;
    if (changed != NULL && pos >= 0 && mark)
        changed[pos] = true;
    return changed;
}

/* manager_acset_reload; recover: run the store's recovery first. */
static int acset_reload(autocert_manager *m, struct acset *s, bool recover, struct ac_error *e)
{
    bool *changed = NULL;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&m->write_lock);
    rc = refresh_set(m, s, false, NULL, true, recover, false, e);
    if (rc == 1 && position_locked(m, s) >= 0 && manager_snap_publish(m) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "manager_set_reload: cannot publish");
        rc = -1;
    }
    if (rc == 1)
        changed = changed_for(m, s, &n, true);
    pthread_mutex_unlock(&m->write_lock);
    if (changed != NULL)
        manager_notify(m, changed, n);
    free(changed);
    return rc;
}

int manager_acset_reload(autocert_manager *m, struct acset *s, struct ac_error *e)
{
    return acset_reload(m, s, true, e);
}

int manager_acset_reread(autocert_manager *m, struct acset *s, struct ac_error *e)
{
    return acset_reload(m, s, false, e);
}

int manager_set_reload(autocert_manager *m, size_t idx, struct ac_error *e)
{
    struct acset *s = manager_set_at(m, idx);
    int rc;

    if (s == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "manager_set_reload: no set %zu", idx);
        return -1;
    }
    rc = manager_acset_reload(m, s, e);
    acset_unref(s);
    return rc;
}

int manager_acset_install(autocert_manager *m, struct acset *s, autocert_cert *c,
                          struct ac_error *e)
{
    autocert_cert *old;
    struct ac_error w, prev;
    bool *changed = NULL;
    size_t n = 0;

    pthread_mutex_lock(&m->write_lock);
    old = autocert_cert_acquire(s->cert);
    acset_error_get(s->load_error, &prev);
    log_cert(s->cfg.name, c, true);
    note_validity(s, c, true, "", &w);
    set_cert(m, s, c, &w);
    atomic_store(&s->read_ms, ac_mono_ms());
    if (position_locked(m, s) >= 0 && manager_snap_publish(m) != 0) {
        set_cert(m, s, old, &prev);
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(e, AC_ERR_NOMEM, "manager: cannot publish");
        return -1;
    }
    changed = changed_for(m, s, &n, true);
    pthread_mutex_unlock(&m->write_lock);
    autocert_cert_release(old);
    if (changed != NULL)
        manager_notify(m, changed, n);
    free(changed);
    return 0;
}

int manager_set_replace(autocert_manager *m, size_t idx, const void *chain_pem, size_t chain_len,
                        const void *key, size_t key_len, struct ac_error *e)
{
    struct acset *s = manager_set_at(m, idx);
    autocert_cert *c = NULL, *old = NULL;
    struct ac_error w, prev;
    bool *changed = NULL;
    size_t n = 0;
    int rc = -1;

    if (s == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "manager_set_replace: no set %zu", idx);
        return -1;
    }
    if (certset_from_memory(s->cfg.name, 0, chain_pem, chain_len, key, key_len, &c, e) != 0)
        goto out;
    pthread_mutex_lock(&m->write_lock);
    old = autocert_cert_acquire(s->cert);
    acset_error_get(s->load_error, &prev);
    note_validity(s, c, true, "", &w);
    set_cert(m, s, c, &w);
    c = NULL;
    if (position_locked(m, s) >= 0 && manager_snap_publish(m) != 0) {
        set_cert(m, s, old, &prev);
        old = NULL;
        pthread_mutex_unlock(&m->write_lock);
        ac_error_set(e, AC_ERR_NOMEM, "manager_set_replace: cannot publish");
        goto out;
    }
    changed = changed_for(m, s, &n, true);
    pthread_mutex_unlock(&m->write_lock);
    if (changed != NULL)
        manager_notify(m, changed, n);
    rc = 0;
out:
    autocert_cert_release(old);
    autocert_cert_release(c);
    free(changed);
    acset_unref(s);
    return rc;
}
