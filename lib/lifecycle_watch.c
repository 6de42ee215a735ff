/*
 * lifecycle_watch.c - noticing changes to `local` sets' files: one thread
 * (between autocert_manager_start and _stop) with one inotify watch per
 * directory that holds a local set's cert_path or key_path, not one per file
 * and no stat of every file every 2 s. An event names a file: the sets whose
 * cert_path or key_path it is are stamped and, when the stamps changed,
 * re-read (manager_acset_reload). A directory that cannot be watched (the
 * kernel's limit fs.inotify.max_user_watches, a directory that does not exist
 * yet, no inotify at all) is logged once with the reason, and its sets are
 * polled by stamp every LC_WATCH_POLL_S seconds, as before. This thread alone
 * uses the sets' stamps once the engine runs.
 *
 *     dirs  (sorted by wd)      paths (hash: full path -> set)
 *     wd 1 "certs/0"  ------>   "certs/0/s0.crt" -> main
 *     wd 2 "certs/1"            "certs/0/s0.key" -> main ...
 *
 * The index is rebuilt from the manager's sets when a configuration reload
 * changes which local sets there are, or while some set is polled
 * (lc_watch_kick from lc_sets_replaced); a reload that keeps the same local
 * sets keeps the index (its watches were in place all along: nothing to
 * catch up on, no set to stamp).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "store.h"

#define LC_WATCH_POLL_S 2
#define LC_WATCH_MASK                                                                              \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |            \
     IN_DELETE_SELF | IN_MOVE_SELF)

struct watch_dir {
    int wd;
    char *dir;
};

struct watch_path {
    char *path;      /* owned */
    struct acset *s; /* a reference */
    bool is_cert;    /* s's cert_path (else its key_path) */
};

struct watch_index {
    struct watch_dir *dirs; /* wd order (the kernel hands them out increasing) */
    size_t ndirs, capdirs;
    struct watch_path *paths; /* open addressing; path NULL = empty */
    size_t cap;
    struct acset **polled; /* references: sets in unwatched directories */
    size_t npolled;
};

static size_t path_hash(const char *s)
{
    size_t h = 14695981039346656037u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void index_free(struct watch_index *ix)
{
    for (size_t i = 0; i < ix->ndirs; i++)
        free(ix->dirs[i].dir);
    free(ix->dirs);
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->paths[i].path != NULL) {
            free(ix->paths[i].path);
            acset_unref(ix->paths[i].s);
        }
    free(ix->paths);
    manager_sets_free(ix->polled, ix->npolled);
    memset(ix, 0, sizeof *ix);
}

static const char *dir_of_wd(const struct watch_index *ix, int wd)
{
    size_t lo = 0, hi = ix->ndirs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->dirs[mid].wd == wd)
            return ix->dirs[mid].dir;
        if (ix->dirs[mid].wd < wd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The watch of dir: its wd (added now or before), or -1 with errno. */
static int watch_dir(int fd, struct watch_index *ix, const char *dir)
{
    int wd = inotify_add_watch(fd, dir, LC_WATCH_MASK);
    size_t i;

    if (wd < 0)
        return -1;
    if (dir_of_wd(ix, wd) != NULL)
        return wd;
    if (ix->ndirs == ix->capdirs) {
        size_t cap = ix->capdirs ? ix->capdirs * 2 : 64;
        struct watch_dir *v = realloc(ix->dirs, cap * sizeof *v);
        if (v == NULL) {
            errno = ENOMEM;
            return -1;
        }
        ix->dirs = v;
        ix->capdirs = cap;
    }
    for (i = ix->ndirs; i > 0 && ix->dirs[i - 1].wd > wd; i--)
        ix->dirs[i] = ix->dirs[i - 1];
    ix->dirs[i].wd = wd;
    ix->dirs[i].dir = strdup(dir);
    if (ix->dirs[i].dir == NULL) {
        memmove(&ix->dirs[i], &ix->dirs[i + 1], (ix->ndirs - i) * sizeof ix->dirs[0]);
        errno = ENOMEM;
        return -1;
    }
    ix->ndirs++;
    return wd;
}

static int add_path(struct watch_index *ix, const char *path, struct acset *s, bool is_cert)
{
    size_t k = path_hash(path) & (ix->cap - 1);

    while (ix->paths[k].path != NULL)
        k = (k + 1) & (ix->cap - 1);
    if ((ix->paths[k].path = strdup(path)) == NULL)
        return -1;
    ix->paths[k].s = acset_ref(s);
    ix->paths[k].is_cert = is_cert;
    return 0;
}

/* Rebuilds the index from the manager's sets; watches their directories.
 * Returns 0 or -1 (ENOMEM: the caller polls every set). */
static int index_build(struct lifecycle *lc, int fd, struct watch_index *ix)
{
    struct acset **sets = NULL;
    size_t n = 0, cap = 16, nlocal = 0;
    bool warned = false;
    int rc = -1;
    /* the directory watched last: sets that follow each other in the
     * configuration mostly share it (one inotify_add_watch for them) */
    char *last = malloc(STORE_PATH_MAX);

    index_free(ix);
    if (manager_sets(lc->m, &sets, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        nlocal += sets[i]->local;
    while (cap < 4 * nlocal + 2)
        cap *= 2;
    ix->paths = calloc(cap, sizeof *ix->paths);
    ix->polled = calloc(nlocal + 1, sizeof *ix->polled);
    if (ix->paths == NULL || ix->polled == NULL || last == NULL)
        goto out;
    last[0] = '\0';
    ix->cap = cap;
    for (size_t i = 0; i < n; i++) {
        struct acset *s = sets[i];
        char d[2][STORE_PATH_MAX];
        bool ok = fd >= 0;

        if (!s->local)
            continue;
        for (int f = 0; f < 2 && ok; f++) {
            const char *p = f == 0 ? s->cfg.cert_path : s->cfg.key_path;
            if (store_dirname(p, d[f], sizeof d[f]) != 0)
                ok = false;
            else if (f == 1 && strcmp(d[1], d[0]) == 0)
                break; /* the key beside the certificate: one watch */
            if (ok && last[0] != '\0' && strcmp(d[f], last) == 0)
                continue; /* watched already */
            if (!ok || watch_dir(fd, ix, d[f]) < 0) {
                if (!warned) {
                    int err = errno;
                    warned = true;
                    ac_warn(s->cfg.name,
                            "cannot watch %s for changes (%s%s); its sets and any other "
                            "unwatched ones are checked every %d s",
                            d[f], strerror(err),
                            err == ENOSPC ? ": the limit fs.inotify.max_user_watches was hit" : "",
                            LC_WATCH_POLL_S);
                }
                ok = false;
                last[0] = '\0';
            } else {
                memcpy(last, d[f], strlen(d[f]) + 1);
            }
        }
        if (ok && (add_path(ix, s->cfg.cert_path, s, true) != 0 ||
                   add_path(ix, s->cfg.key_path, s, false) != 0))
            goto out;
        if (!ok)
            ix->polled[ix->npolled++] = acset_ref(s);
    }
    if (nlocal > 0)
        ac_debug(NULL, "local files: %zu director%s watched, %zu set(s) polled", ix->ndirs,
                 ix->ndirs == 1 ? "y" : "ies", ix->npolled);
    rc = 0;
out:
    free(last);
    manager_sets_free(sets, n);
    return rc;
}

/* Stamps s and re-reads it when its files changed. */
static void check_set(struct lifecycle *lc, struct acset *s)
{
    struct lc_filestamp now[2];
    struct ac_error e;

    if (s->removed)
        return;
    acset_stamp(s, now);
    if (!acset_stamp_differs(&now[0], &s->stamps[0]) &&
        !acset_stamp_differs(&now[1], &s->stamps[1]))
        return;
    s->stamps[0] = now[0];
    s->stamps[1] = now[1];
    ac_error_clear(&e);
    if (manager_acset_reread(lc->m, s, &e) == 1)
        ac_info(s->cfg.name, "local certificate files changed: reloaded");
    else if (e.kind[0] != '\0')
        ac_warn(s->cfg.name, "local certificate files changed but not loaded: %s", e.message);
}

static void check_path(struct lifecycle *lc, const struct watch_index *ix, const char *path)
{
    if (ix->cap == 0)
        return;
    for (size_t k = path_hash(path) & (ix->cap - 1); ix->paths[k].path != NULL;
         k = (k + 1) & (ix->cap - 1))
        if (strcmp(ix->paths[k].path, path) == 0)
            check_set(lc, ix->paths[k].s);
}

/* Every watched set once (each has two entries: its cert_path's one). */
static void check_all(struct lifecycle *lc, const struct watch_index *ix)
{
    for (size_t k = 0; k < ix->cap; k++)
        if (ix->paths[k].path != NULL && ix->paths[k].is_cert)
            check_set(lc, ix->paths[k].s);
}

/* Reads the pending events; returns true when the watches need rebuilding
 * (a watched directory went away, or the queue overflowed). */
static bool drain_events(struct lifecycle *lc, int fd, const struct watch_index *ix)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    char path[STORE_PATH_MAX];
    bool rebuild = false;
    ssize_t n;

    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            const char *dir = dir_of_wd(ix, ev->wd);

            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                check_all(lc, ix);
                continue;
            }
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                rebuild = true;
            if (dir == NULL || ev->len == 0)
                continue;
            if (snprintf(path, sizeof path, "%s/%s", strcmp(dir, ".") == 0 ? "" : dir, ev->name) >=
                (int)sizeof path)
                continue;
            check_path(lc, ix, strcmp(dir, ".") == 0 ? path + 1 : path);
        }
    }
    return rebuild;
}

static void *watcher(void *arg)
{
    struct lifecycle *lc = arg;
    struct watch_index ix;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    uint64_t v;

    memset(&ix, 0, sizeof ix);
    if (fd < 0)
        ac_warn(NULL, "inotify unavailable (%s): local sets' files are checked every %d s",
                strerror(errno), LC_WATCH_POLL_S);
    for (bool build = true;;) {
        struct pollfd pf[2] = {{lc->watch_wake, POLLIN, 0}, {fd, POLLIN, 0}};
        int r;

        if (build) {
            bool polling = false;

            if (index_build(lc, fd, &ix) != 0) {
                ac_err(NULL, "local files: out of memory for the watch index");
                polling = true;
            }
            pthread_mutex_lock(&lc->mu);
            lc->watch_polling = polling || ix.npolled > 0;
            pthread_mutex_unlock(&lc->mu);
            check_all(lc, &ix); /* what changed before the watches were in place */
            for (size_t i = 0; i < ix.npolled; i++)
                check_set(lc, ix.polled[i]);
            build = false;
        }
        r = poll(pf, fd >= 0 ? 2 : 1, ix.npolled > 0 ? LC_WATCH_POLL_S * 1000 : -1);
        if (r < 0 && errno != EINTR)
            break;
        if (pf[0].revents & POLLIN) {
            bool stop;
            if (read(lc->watch_wake, &v, sizeof v) < 0) {
                /* nothing: the flags below decide */
            }
            pthread_mutex_lock(&lc->mu);
            stop = lc->watch_stop;
            build = lc->watch_rebuild;
            lc->watch_rebuild = false;
            pthread_mutex_unlock(&lc->mu);
            if (stop)
                break;
        }
        if (fd >= 0 && (pf[1].revents & POLLIN) && drain_events(lc, fd, &ix))
            build = true;
        if (r == 0)
            for (size_t i = 0; i < ix.npolled; i++)
                check_set(lc, ix.polled[i]);
    }
    index_free(&ix);
    if (fd >= 0)
        close(fd);
    return NULL;
}

int lc_watch_start(struct lifecycle *lc)
{
    int rc;

    if (lc->watch_wake < 0)
        lc->watch_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (lc->watch_wake < 0)
        return -1;
    pthread_mutex_lock(&lc->mu);
    lc->watch_stop = false;
    lc->watch_rebuild = false;
    rc = pthread_create(&lc->watch_thread, NULL, watcher, lc);
    lc->watch_running = rc == 0;
    pthread_mutex_unlock(&lc->mu);
    return rc == 0 ? 0 : -1;
}

static void wake(struct lifecycle *lc)
{
    uint64_t one = 1;

    if (lc->watch_wake >= 0 && write(lc->watch_wake, &one, sizeof one) < 0) {
        /* a full counter already wakes the thread */
    }
}

void lc_watch_kick(struct lifecycle *lc)
{
    lc->watch_rebuild = true; /* lc->mu held by the caller */
    wake(lc);
}

void lc_watch_stop(struct lifecycle *lc)
{
    bool running;

    pthread_mutex_lock(&lc->mu);
    running = lc->watch_running;
    lc->watch_stop = true;
    pthread_mutex_unlock(&lc->mu);
    if (!running)
        return;
    wake(lc);
    pthread_join(lc->watch_thread, NULL);
    pthread_mutex_lock(&lc->mu);
    lc->watch_running = false;
    pthread_mutex_unlock(&lc->mu);
}
