/*
 * store_pair.c - the certificate chain + private key committed as one unit.
 *
 *   stage  key.new, cert.new      (each atomic + fsync; no journal: roll back)
 *   commit .commit-<h> journal    (atomic + fsync; from here on: roll forward)
 *   promote rename key.new -> key, cert.new -> cert, fsync dirs
 *   finish unlink journal, fsync dir
 *
 * Only the holder of the set's lock (store_lock_acquire) stages, commits or
 * recovers. A reader without the lock never deletes or renames anything: it
 * recovers only when it can take the lock itself (store_pair_recover_if_idle)
 * and otherwise reads the pair as committed (store_pair_read: while a journal
 * exists, the staged files stand in for the final ones).
 *
 * Recovery decides by the journal: absent means the commit point was never
 * reached, so the staged files are discarded; present means the staged files
 * were complete when it was written. The journal records the SHA-256 of both
 * staged files, so recovery can tell "already promoted" (the final file has the
 * staged content) from "vanished" (neither has it) and never completes half a
 * pair: a vanished staged file discards the new pair while the old one is intact.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonu.h"
#include "log.h"

#define JOURNAL_MAX 16384
/* Largest staged file recovery hashes (chains are capped at 1 MiB by certset). */
#define PAIR_FILE_MAX (4 * 1024 * 1024)
/* State files are written without the set's lock: only older temps are stale. */
#define STATE_TMP_STALE_SECONDS 3600

#ifdef AUTOCERT_TEST_HOOKS
static int crash_point;

void store_test_set_crash_point(int n)
{
    crash_point = n;
}

/* AUTOCERT_TEST_COMMIT_PAUSE=<step>:<dir>: after step <step>, create
 * <dir>/paused and wait until <dir>/resume exists. */
static void test_pause(int step)
{
    const char *v = getenv("AUTOCERT_TEST_COMMIT_PAUSE");
    char path[STORE_PATH_MAX];
    char *end = NULL;
    long n;
    int fd;

    if (v == NULL)
        return;
    n = strtol(v, &end, 10);
    if (end == v || *end != ':' || n != step)
        return;
    if (snprintf(path, sizeof path, "%s/paused", end + 1) >= (int)sizeof path)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    snprintf(path, sizeof path, "%s/resume", end + 1);
    for (int i = 0; i < 60000 && access(path, F_OK) != 0; i++) { /* at most 10 minutes */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void step_done(int step)
{
    if (crash_point == step)
        _exit(0);
    test_pause(step);
}
#else
static void step_done(int step)
{
    (void)step;
}
#endif

struct pair_paths {
    char cert_new[STORE_PATH_MAX];
    char key_new[STORE_PATH_MAX];
    char journal[STORE_PATH_MAX];
    char cert_dir[STORE_PATH_MAX];
    char key_dir[STORE_PATH_MAX];
    char cert_tmp_prefix[STORE_PATH_MAX]; /* ".<base>.new.tmp-" */
    char key_tmp_prefix[STORE_PATH_MAX];
    char journal_tmp_prefix[STORE_PATH_MAX];
    char marker_tmp_prefix[STORE_PATH_MAX];
    char state_tmp_prefix[STORE_PATH_MAX];
};

/* What the journal says the staged files hold (lowercase hex SHA-256; ""
 * for a journal written before the hashes were recorded). */
struct journal_facts {
    char key_sha256[65];
    char cert_sha256[65];
};

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s != NULL ? s + 1 : p;
}

static int fill(char *buf, size_t n, const char *a, const char *b, const char *c)
{
    int k = snprintf(buf, n, "%s%s%s", a, b, c);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* ".<base of the companion>.tmp-": the temp-file prefix store_write_atomic uses. */
static int companion_tmp_prefix(char *buf, size_t n, const char *companion)
{
    return fill(buf, n, ".", base_of(companion), ".tmp-");
}

static int pair_paths_init(const char *cert_path, const char *key_path, struct pair_paths *pp,
                           struct ac_error *e)
{
    char marker[STORE_PATH_MAX], state[STORE_PATH_MAX];

    if (cert_path == NULL || key_path == NULL || *cert_path == '\0' || *key_path == '\0' ||
        strcmp(cert_path, key_path) == 0) {
        ac_error_set(e, AC_ERR_IO, "certificate and key paths must be distinct and non-empty");
        return -1;
    }
    if (fill(pp->cert_new, sizeof pp->cert_new, cert_path, ".new", "") != 0 ||
        fill(pp->key_new, sizeof pp->key_new, key_path, ".new", "") != 0 ||
        store_journal_path(cert_path, key_path, pp->journal, sizeof pp->journal) != 0 ||
        store_failure_marker_path(cert_path, key_path, marker, sizeof marker) != 0 ||
        store_state_path(cert_path, key_path, state, sizeof state) != 0 ||
        store_dirname(cert_path, pp->cert_dir, sizeof pp->cert_dir) != 0 ||
        store_dirname(key_path, pp->key_dir, sizeof pp->key_dir) != 0 ||
        fill(pp->cert_tmp_prefix, sizeof pp->cert_tmp_prefix, ".", base_of(cert_path),
             ".new.tmp-") != 0 ||
        fill(pp->key_tmp_prefix, sizeof pp->key_tmp_prefix, ".", base_of(key_path), ".new.tmp-") !=
            0 ||
        companion_tmp_prefix(pp->journal_tmp_prefix, sizeof pp->journal_tmp_prefix, pp->journal) !=
            0 ||
        companion_tmp_prefix(pp->marker_tmp_prefix, sizeof pp->marker_tmp_prefix, marker) != 0 ||
        companion_tmp_prefix(pp->state_tmp_prefix, sizeof pp->state_tmp_prefix, state) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        return -1;
    }
    return 0;
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* ---- leftover temporary files ---- */

struct tmp_kind {
    const char *dir;
    const char *prefix;
    time_t min_age; /* seconds since the last write; 0: any age */
};

/* Visits the entries of `dir` that match a kind of that directory: removes them
 * (remove) or stops at the first. Returns how many were removed or found. */
static int tmp_visit_dir(const char *dir, const struct tmp_kind *k, size_t nk, bool remove)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    time_t now = time(NULL);
    int n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        for (size_t i = 0; i < nk; i++) {
            struct stat st;
            if (strcmp(k[i].dir, dir) != 0 ||
                strncmp(de->d_name, k[i].prefix, strlen(k[i].prefix)) != 0)
                continue;
            if (k[i].min_age > 0 && (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                                     now - st.st_mtime < k[i].min_age))
                break;
            if (!remove) {
                n++;
                goto out;
            }
            if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                n++;
            break;
        }
    }
out:
    closedir(d);
    return n;
}

/* ---- a batch's directory listings (store_scan) ---- */

/* The dot-names of one directory and its names that end in ".new" (the
 * staged files), sorted (temp files, journals all start with '.'). */
struct scan_dir {
    char *dir;
    char **names;
    size_t n;
    bool ok;      /* listed (false: unreadable, callers read it themselves) */
    bool suspect; /* a name a crashed or running write could have left (a
                   * journal, a staged file, a temp file): without one, no set
                   * of the directory has anything to recover (scan_clean) */
};

/* Shared by the threads of a parallel load: the table is guarded by mu; a
 * listing, once inserted, never changes or moves until store_scan_free, so a
 * pointer to it is used without the lock. */
struct store_scan {
    pthread_rwlock_t mu; /* read: a lookup (every set of a batch); write: an insert */
    struct scan_dir **v; /* open addressing on dir; NULL = empty slot */
    size_t cap, n;       /* cap a power of two, > 2 * n */
};

struct store_scan *store_scan_new(void)
{
    struct store_scan *scan = calloc(1, sizeof(struct store_scan));

    if (scan != NULL && pthread_rwlock_init(&scan->mu, NULL) != 0) {
        free(scan);
        return NULL;
    }
    return scan;
}

static void scan_dir_free(struct scan_dir *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->names[i]);
    free(d->names);
    free(d->dir);
    free(d);
}

void store_scan_free(struct store_scan *scan)
{
    if (scan == NULL)
        return;
    for (size_t i = 0; i < scan->cap; i++)
        scan_dir_free(scan->v[i]);
    free(scan->v);
    pthread_rwlock_destroy(&scan->mu);
    free(scan);
}

static size_t str_hash(const char *s)
{
    size_t h = 14695981039346656037u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists dir's dot-names into d (sorted). -1 when dir cannot be read or on
 * ENOMEM (d left empty). */
static int scan_dir_read(const char *dir, struct scan_dir *d)
{
    DIR *dd = opendir(dir);
    struct dirent *de;
    size_t cap = 0;
    int rc = -1;

    d->names = NULL;
    d->n = 0;
    d->suspect = false;
    if (dd == NULL)
        return -1;
    while ((de = readdir(dd)) != NULL) {
        size_t len = strlen(de->d_name);

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (de->d_name[0] != '.' && (len < 4 || strcmp(de->d_name + len - 4, ".new") != 0)))
            continue;
        if (d->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nv = realloc(d->names, nc * sizeof *nv);
            if (nv == NULL)
                goto out;
            d->names = nv;
            cap = nc;
        }
        if ((d->names[d->n] = strdup(de->d_name)) == NULL)
            goto out;
        d->n++;
        /* what scan_verdict looks for: ".commit-<h>" journals, "<file>.new"
         * staged files, ".<name>.tmp-<x>" temp files */
        if (strncmp(de->d_name, ".commit-", 8) == 0 ||
            (len >= 4 && strcmp(de->d_name + len - 4, ".new") == 0) ||
            strstr(de->d_name, ".tmp-") != NULL)
            d->suspect = true;
    }
    if (d->n > 1)
        qsort(d->names, d->n, sizeof *d->names, name_cmp);
    rc = 0;
out:
    closedir(dd);
    if (rc != 0) {
        for (size_t i = 0; i < d->n; i++)
            free(d->names[i]);
        free(d->names);
        d->names = NULL;
        d->n = 0;
        d->suspect = true;
    }
    return rc;
}

static int scan_grow(struct store_scan *scan)
{
    size_t cap = scan->cap ? scan->cap * 2 : 64;
    struct scan_dir **v = calloc(cap, sizeof *v);

    if (v == NULL)
        return -1;
    for (size_t i = 0; i < scan->cap; i++) {
        size_t k;
        if (scan->v[i] == NULL)
            continue;
        for (k = str_hash(scan->v[i]->dir) & (cap - 1); v[k] != NULL; k = (k + 1) & (cap - 1))
            ;
        v[k] = scan->v[i];
    }
    free(scan->v);
    scan->v = v;
    scan->cap = cap;
    return 0;
}

/* The slot of dir in scan (mu held): its entry, or the empty slot where it
 * goes. The table has room (grown before). */
static size_t scan_slot(const struct store_scan *scan, const char *dir)
{
    size_t k;

    for (k = str_hash(dir) & (scan->cap - 1); scan->v[k] != NULL; k = (k + 1) & (scan->cap - 1))
        if (strcmp(scan->v[k]->dir, dir) == 0)
            break;
    return k;
}

/* The listing of dir in scan (read now when new, outside the lock: two
 * threads may both list a new directory, the second copy is dropped), or
 * NULL (unreadable, or ENOMEM: the caller reads the directory itself). */
static const struct scan_dir *scan_get(struct store_scan *scan, const char *dir)
{
    struct scan_dir *d = NULL, *have;
    size_t k;

    pthread_rwlock_rdlock(&scan->mu);
    have = scan->cap > 0 ? scan->v[scan_slot(scan, dir)] : NULL;
    pthread_rwlock_unlock(&scan->mu);
    if (have != NULL)
        return have->ok ? have : NULL;
    d = calloc(1, sizeof *d);
    if (d == NULL || (d->dir = strdup(dir)) == NULL) {
        free(d);
        return NULL;
    }
    d->ok = scan_dir_read(dir, d) == 0;
    pthread_rwlock_wrlock(&scan->mu);
    if (2 * (scan->n + 1) > scan->cap && scan_grow(scan) != 0) {
        pthread_rwlock_unlock(&scan->mu);
        scan_dir_free(d);
        return NULL;
    }
    k = scan_slot(scan, dir);
    if (scan->v[k] == NULL) {
        scan->v[k] = d;
        scan->n++;
        d = NULL;
    }
    have = scan->v[k];
    pthread_rwlock_unlock(&scan->mu);
    scan_dir_free(d);              /* another thread listed it first */
    return have->ok ? have : NULL; /* not ok: the caller reads it each time */
}

/* True when the listing holds a name that starts with prefix. */
static bool scan_has_prefix(const struct scan_dir *d, const char *prefix)
{
    size_t lo = 0, hi = d->n, len = strlen(prefix);

    while (lo < hi) { /* first name >= prefix */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->names[mid], prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && strncmp(d->names[lo], prefix, len) == 0;
}

/* Temp files a crashed write of this set left: staging, journal, failure
 * marker (all written under the set's lock) and state file (written without
 * it, so only when older than STATE_TMP_STALE_SECONDS). The lock file is
 * never touched. */
static int tmp_visit(const struct pair_paths *pp, bool remove)
{
    const struct tmp_kind k[] = {
        {pp->key_dir, pp->key_tmp_prefix, 0},
        {pp->cert_dir, pp->cert_tmp_prefix, 0},
        {pp->cert_dir, pp->journal_tmp_prefix, 0},
        {pp->cert_dir, pp->marker_tmp_prefix, 0},
        {pp->cert_dir, pp->state_tmp_prefix, STATE_TMP_STALE_SECONDS},
    };
    const size_t nk = sizeof k / sizeof k[0];
    int n = tmp_visit_dir(pp->cert_dir, k, nk, remove);

    if ((remove || n == 0) && strcmp(pp->key_dir, pp->cert_dir) != 0)
        n += tmp_visit_dir(pp->key_dir, k, nk, remove);
    return n;
}

/* ---- promotion ---- */

static int fsync_dirs(const struct pair_paths *pp, struct ac_error *e)
{
    if (store_fsync_dir(pp->key_dir, e) != 0)
        return -1;
    if (strcmp(pp->key_dir, pp->cert_dir) != 0 && store_fsync_dir(pp->cert_dir, e) != 0)
        return -1;
    return 0;
}

/* Renames a staged file into place: 1 renamed, 0 nothing staged (recovery:
 * already promoted), -1 error. */
static int promote(const char *from, const char *to, struct ac_error *e)
{
    if (!exists(from))
        return 0;
    if (rename(from, to) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: rename to %s failed: %s", from, to, strerror(errno));
        return -1;
    }
    return 1;
}

/* The committing writer's rename: its own staged file must still be there. */
static int promote_own(const char *from, const char *to, struct ac_error *e)
{
    int rc = promote(from, to, e);

    if (rc == 0) {
        ac_error_set(e, AC_ERR_IO,
                     "%s: the staged file vanished before it was promoted "
                     "(removed by another process?)",
                     from);
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int remove_file(const char *p, struct ac_error *e)
{
    if (unlink(p) != 0 && errno != ENOENT) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot remove: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    static const char hex[] = "0123456789abcdef";

    crypto_sha256(data, len, md);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* SHA-256 of a file: 0 and out filled, 1 absent, -1 other error (e filled). */
static int file_sha256(const char *path, char out[65], struct ac_error *e)
{
    char *data = NULL;
    size_t len = 0;

    if (store_read_file(path, PAIR_FILE_MAX, &data, &len, e) != 0) {
        if (!ac_error_is(e, AC_ERR_NOT_FOUND))
            return -1;
        ac_error_clear(e);
        return 1;
    }
    sha256_hex(data, len, out);
    memset(data, 0, len);
    free(data);
    return 0;
}

/* The journal must name exactly this set's staging files. */
static int check_journal(const struct pair_paths *pp, struct journal_facts *jf, struct ac_error *e)
{
    char *data = NULL;
    size_t len = 0;
    json_object *j = NULL;
    const char *k, *c, *kh, *ch;
    int rc = -1;

    if (store_read_file(pp->journal, JOURNAL_MAX, &data, &len, e) != 0)
        goto out;
    j = jsonu_parse(data, len, "commit journal", AC_ERR_IO, e);
    if (j == NULL)
        goto out;
    k = jsonu_str(j, "key_new");
    c = jsonu_str(j, "cert_new");
    if (k == NULL || c == NULL || strcmp(k, pp->key_new) != 0 || strcmp(c, pp->cert_new) != 0) {
        ac_error_set(e, AC_ERR_IO,
                     "%s: commit journal names other files; remove it by hand "
                     "after checking the certificate and key",
                     pp->journal);
        goto out;
    }
    kh = jsonu_str(j, "key_sha256");
    ch = jsonu_str(j, "cert_sha256");
    snprintf(jf->key_sha256, sizeof jf->key_sha256, "%s", kh != NULL && strlen(kh) == 64 ? kh : "");
    snprintf(jf->cert_sha256, sizeof jf->cert_sha256, "%s",
             ch != NULL && strlen(ch) == 64 ? ch : "");
    rc = 0;
out:
    json_object_put(j);
    free(data);
    return rc;
}

enum staged_state { STAGED, PROMOTED, LOST };

/* Where the committed content of one file is: still staged, already in place,
 * or nowhere (removed behind the writer's back). Without a recorded hash, a
 * missing staged file counts as promoted (journals of older versions). */
static int staged_state(const char *staged, const char *final, const char *want,
                        enum staged_state *st, struct ac_error *e)
{
    char have[65];
    int r;

    if (want[0] == '\0') {
        *st = exists(staged) ? STAGED : PROMOTED;
        return 0;
    }
    r = file_sha256(staged, have, e);
    if (r < 0)
        return -1;
    if (r == 0) {
        *st = strcmp(have, want) == 0 ? STAGED : LOST;
        return 0;
    }
    r = file_sha256(final, have, e);
    if (r < 0)
        return -1;
    *st = r == 0 && strcmp(have, want) == 0 ? PROMOTED : LOST;
    return 0;
}

/* Journal present: finish the promotion, or, when a staged file vanished,
 * give up the new pair (the old one is intact unless half of it was already
 * promoted, which is logged as an error: a new certificate is needed). */
static int roll_forward(const char *cert_path, const char *key_path, const struct pair_paths *pp,
                        struct ac_error *e)
{
    struct journal_facts jf;
    enum staged_state ks, cs;
    int nk, nc;

    if (check_journal(pp, &jf, e) != 0 ||
        staged_state(pp->key_new, key_path, jf.key_sha256, &ks, e) != 0 ||
        staged_state(pp->cert_new, cert_path, jf.cert_sha256, &cs, e) != 0)
        return -1;
    if (ks == LOST || cs == LOST) {
        if (remove_file(pp->key_new, e) != 0 || remove_file(pp->cert_new, e) != 0 ||
            fsync_dirs(pp, e) != 0 || remove_file(pp->journal, e) != 0 ||
            store_fsync_dir(pp->cert_dir, e) != 0)
            return -1;
        if (ks == PROMOTED || cs == PROMOTED)
            ac_err(NULL,
                   "store: an interrupted commit of %s and %s lost its staged %s after "
                   "the %s was promoted: the pair on disk does not match; a new certificate "
                   "is needed",
                   cert_path, key_path, ks == LOST ? "key" : "chain", ks == LOST ? "chain" : "key");
        else
            ac_warn(NULL,
                    "store: an interrupted commit of %s and %s lost its staged %s: the "
                    "new pair was discarded, kept the old one",
                    cert_path, key_path,
                    ks == LOST && cs == LOST ? "files"
                    : ks == LOST             ? "key"
                                             : "chain");
        return 0;
    }
    nk = promote(pp->key_new, key_path, e);
    if (nk < 0)
        return -1;
    nc = promote(pp->cert_new, cert_path, e);
    if (nc < 0)
        return -1;
    if (fsync_dirs(pp, e) != 0 || remove_file(pp->journal, e) != 0 ||
        store_fsync_dir(pp->cert_dir, e) != 0)
        return -1;
    ac_info(NULL, "store: completed an interrupted commit of %s and %s (%d file(s) promoted)",
            cert_path, key_path, nk + nc);
    return 0;
}

/* Caller holds the set's lock. */
static int recover(const char *cert_path, const char *key_path, const struct pair_paths *pp,
                   struct ac_error *e)
{
    int nt = tmp_visit(pp, true);

    if (nt > 0)
        ac_info(NULL, "store: removed %d leftover temporary file(s) of %s", nt, cert_path);
    if (!exists(pp->journal)) {
        bool had_k = exists(pp->key_new), had_c = exists(pp->cert_new);
        if (!had_k && !had_c)
            return 0;
        if (remove_file(pp->key_new, e) != 0 || remove_file(pp->cert_new, e) != 0 ||
            fsync_dirs(pp, e) != 0)
            return -1;
        ac_info(NULL, "store: discarded an uncommitted staged pair (%s%s%s); kept %s and %s",
                had_k ? pp->key_new : "", had_k && had_c ? ", " : "", had_c ? pp->cert_new : "",
                cert_path, key_path);
        return 0;
    }
    return roll_forward(cert_path, key_path, pp, e);
}

static struct pair_paths *pair_paths_new(const char *cert_path, const char *key_path,
                                         struct ac_error *e)
{
    struct pair_paths *pp = malloc(sizeof *pp);

    if (pp == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (pair_paths_init(cert_path, key_path, pp, e) != 0) {
        free(pp);
        return NULL;
    }
    return pp;
}

int store_pair_recover(const char *cert_path, const char *key_path, struct ac_error *e)
{
    struct pair_paths *pp = pair_paths_new(cert_path, key_path, e);
    int rc = -1;

    if (pp == NULL)
        goto out;
    if (recover(cert_path, key_path, pp, e) != 0) {
        ac_error_prefix(e, "store_pair_recover");
        goto out;
    }
    rc = 0;
out:
    free(pp);
    return rc;
}

/* tmp_visit(pp, false) from the batch's listings: a name a listing shows
 * is looked for on disk again (tmp_visit also knows the state temp's age
 * rule). */
static int tmp_any(const struct pair_paths *pp, struct store_scan *scan)
{
    const struct scan_dir *cd, *kd;

    if (scan == NULL)
        return tmp_visit(pp, false);
    cd = scan_get(scan, pp->cert_dir);
    kd = strcmp(pp->key_dir, pp->cert_dir) == 0 ? cd : scan_get(scan, pp->key_dir);
    if (cd == NULL || kd == NULL)
        return tmp_visit(pp, false);
    if (!scan_has_prefix(kd, pp->key_tmp_prefix) && !scan_has_prefix(cd, pp->cert_tmp_prefix) &&
        !scan_has_prefix(cd, pp->journal_tmp_prefix) &&
        !scan_has_prefix(cd, pp->marker_tmp_prefix) && !scan_has_prefix(cd, pp->state_tmp_prefix))
        return 0;
    return tmp_visit(pp, false);
}

/* True when the listing holds a name that starts with a + b + c (exactly that
 * name with `whole`). A name longer than any directory entry is not there. */
static bool scan_has3(const struct scan_dir *d, const char *a, const char *b, const char *c,
                      bool whole)
{
    char name[1024];
    int k = snprintf(name, sizeof name, "%s%s%s", a, b, c);
    size_t lo = 0, hi = d->n;

    if (k < 0 || (size_t)k >= sizeof name)
        return false;
    while (lo < hi) { /* first name >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->names[mid], name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == d->n)
        return false;
    return whole ? strcmp(d->names[lo], name) == 0 : strncmp(d->names[lo], name, (size_t)k) == 0;
}

/* True when scan lists both directories of the pair and neither holds a
 * name that a write of any of its sets could have left: nothing to recover,
 * no journal (the common case, answered without the companions' names). */
static bool scan_clean(const char *cert_path, const char *key_path, struct store_scan *scan)
{
    char dir[STORE_PATH_MAX], kdir[STORE_PATH_MAX];
    const struct scan_dir *cd, *kd;

    if (scan == NULL || cert_path == NULL || key_path == NULL || *cert_path == '\0' ||
        *key_path == '\0' || strcmp(cert_path, key_path) == 0 ||
        store_dirname(cert_path, dir, sizeof dir) != 0 ||
        store_dirname(key_path, kdir, sizeof kdir) != 0)
        return false;
    cd = scan_get(scan, dir);
    kd = strcmp(kdir, dir) == 0 ? cd : scan_get(scan, kdir);
    return cd != NULL && kd != NULL && !cd->suspect && !kd->suspect;
}

/* What the batch's listings say about the pair, with no file system call:
 * 0 nothing to recover (no journal, no staged file, no temp file of a
 * crashed write: what tmp_any and the lstat of the journal and the staged
 * files look for), 1 something is there, -1 no listing or bad paths (the
 * caller looks on disk). A file that appeared after the listing was taken
 * is left to the next load (store.h). */
static int scan_verdict(const char *cert_path, const char *key_path, struct store_scan *scan)
{
    char dir[STORE_PATH_MAX], kdir[STORE_PATH_MAX], companion[STORE_PATH_MAX];
    char journal[512], marker[512], state[512];
    const struct scan_dir *cd, *kd;
    const char *cb, *kb;

    if (scan_clean(cert_path, key_path, scan))
        return 0;
    if (scan == NULL || cert_path == NULL || key_path == NULL || *cert_path == '\0' ||
        *key_path == '\0' || strcmp(cert_path, key_path) == 0 ||
        store_dirname(cert_path, dir, sizeof dir) != 0 ||
        store_dirname(key_path, kdir, sizeof kdir) != 0)
        return -1;
    cb = base_of(cert_path);
    kb = base_of(key_path);
    if (store_journal_path(cert_path, key_path, companion, sizeof companion) != 0 ||
        fill(journal, sizeof journal, base_of(companion), "", "") != 0 ||
        store_failure_marker_path(cert_path, key_path, companion, sizeof companion) != 0 ||
        fill(marker, sizeof marker, base_of(companion), "", "") != 0 ||
        store_state_path(cert_path, key_path, companion, sizeof companion) != 0 ||
        fill(state, sizeof state, base_of(companion), "", "") != 0)
        return -1;
    cd = scan_get(scan, dir);
    kd = strcmp(kdir, dir) == 0 ? cd : scan_get(scan, kdir);
    if (cd == NULL || kd == NULL)
        return -1;
    if (scan_has3(cd, journal, "", "", true) || scan_has3(kd, kb, ".new", "", true) ||
        scan_has3(cd, cb, ".new", "", true) || scan_has3(kd, ".", kb, ".new.tmp-", false) ||
        scan_has3(cd, ".", cb, ".new.tmp-", false) || scan_has3(cd, ".", journal, ".tmp-", false) ||
        scan_has3(cd, ".", marker, ".tmp-", false) || scan_has3(cd, ".", state, ".tmp-", false))
        return 1;
    return 0;
}

int store_pair_journal_listed(const char *cert_path, const char *key_path, struct store_scan *scan)
{
    char dir[STORE_PATH_MAX], j[STORE_PATH_MAX];
    const struct scan_dir *cd;

    if (scan_clean(cert_path, key_path, scan))
        return 0;
    if (scan == NULL || cert_path == NULL || key_path == NULL ||
        store_dirname(cert_path, dir, sizeof dir) != 0 ||
        store_journal_path(cert_path, key_path, j, sizeof j) != 0 ||
        (cd = scan_get(scan, dir)) == NULL)
        return -1;
    return scan_has3(cd, base_of(j), "", "", true) ? 1 : 0;
}

int store_pair_recover_if_idle(const char *cert_path, const char *key_path, struct ac_error *e)
{
    return store_pair_recover_if_idle_scan(cert_path, key_path, NULL, e);
}

int store_pair_recover_if_idle_scan(const char *cert_path, const char *key_path,
                                    struct store_scan *scan, struct ac_error *e)
{
    struct pair_paths *pp = NULL;
    struct store_lock *lock = NULL;
    struct ac_error le;
    int rc = -1;

    /* a batch: its listings answer for the common case (nothing left over)
     * without the journal's and the staged files' lstat */
    if (scan_verdict(cert_path, key_path, scan) == 0)
        return 0;
    if ((pp = pair_paths_new(cert_path, key_path, e)) == NULL)
        goto out;
    if (!exists(pp->journal) && !exists(pp->key_new) && !exists(pp->cert_new) &&
        tmp_any(pp, scan) == 0) {
        rc = 0; /* nothing to recover: no lock taken */
        goto out;
    }
    ac_error_clear(&le);
    if (store_lock_acquire(cert_path, key_path, &lock, &le) != 0) {
        if (ac_error_is(&le, AC_ERR_LOCKED))
            ac_debug(NULL, "store: %s is being written (%s): recovery left to the writer",
                     cert_path, le.message);
        else
            ac_warn(NULL,
                    "store: cannot lock %s to recover an interrupted write (%s); "
                    "reading the files as they are",
                    cert_path, le.message);
        rc = 0;
        goto out;
    }
    if (recover(cert_path, key_path, pp, e) != 0) {
        ac_error_prefix(e, "store_pair_recover");
        goto out;
    }
    rc = 0;
out:
    store_lock_release(lock);
    free(pp);
    return rc;
}

/* Reads one file of the pair: the staged one first when `staged` is set (a
 * committed pair not yet promoted), else or when it is gone the final one.
 * Absent: 0 with *data NULL. */
static int read_committed(const char *final, const char *staged, size_t max, char **data,
                          size_t *len, struct stat *st, struct ac_error *e)
{
    *data = NULL;
    *len = 0;
    if (staged != NULL) {
        if (store_read_file_stat(staged, max, data, len, st, e) == 0)
            return 0;
        if (!ac_error_is(e, AC_ERR_NOT_FOUND))
            return -1;
    }
    if (store_read_file_stat(final, max, data, len, st, e) == 0)
        return 0;
    if (!ac_error_is(e, AC_ERR_NOT_FOUND))
        return -1;
    ac_error_clear(e);
    return 0;
}

int store_pair_read(const char *cert_path, size_t chain_max, char **chain, size_t *chain_len,
                    const char *key_path, size_t key_max, char **key, size_t *key_len,
                    struct ac_error *e)
{
    return store_pair_read_scan(cert_path, chain_max, chain, chain_len, key_path, key_max, key,
                                key_len, NULL, NULL, e);
}

int store_pair_read_scan(const char *cert_path, size_t chain_max, char **chain, size_t *chain_len,
                         const char *key_path, size_t key_max, char **key, size_t *key_len,
                         struct store_scan *scan, struct store_pair_seen *seen, struct ac_error *e)
{
    struct pair_paths *pp = NULL;
    struct store_pair_seen local;
    char j[STORE_PATH_MAX];
    int rc = -1;

    *chain = NULL;
    *key = NULL;
    if (seen == NULL)
        seen = &local;
    memset(seen, 0, sizeof *seen);
    /* no journal (the common case): the final files, without the paths of a
     * commit (pair_paths_new); the batch's listing answers without a lstat */
    if (cert_path != NULL && key_path != NULL && *cert_path != '\0' && *key_path != '\0' &&
        strcmp(cert_path, key_path) != 0 &&
        (scan_clean(cert_path, key_path, scan) ||
         (store_journal_path(cert_path, key_path, j, sizeof j) == 0 && !exists(j)))) {
        if (read_committed(key_path, NULL, key_max, key, key_len, &seen->st[1], e) != 0 ||
            read_committed(cert_path, NULL, chain_max, chain, chain_len, &seen->st[0], e) != 0)
            goto out;
        rc = 0;
        goto out;
    }
    if ((pp = pair_paths_new(cert_path, key_path, e)) == NULL)
        goto out;
    seen->journal = exists(pp->journal);
    if (read_committed(key_path, seen->journal ? pp->key_new : NULL, key_max, key, key_len,
                       &seen->st[1], e) != 0 ||
        read_committed(cert_path, seen->journal ? pp->cert_new : NULL, chain_max, chain, chain_len,
                       &seen->st[0], e) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && *key != NULL) {
        memset(*key, 0, *key_len);
        free(*key);
        *key = NULL;
    }
    if (rc != 0) {
        free(*chain);
        *chain = NULL;
    }
    seen->exists[0] = *chain != NULL;
    seen->exists[1] = *key != NULL;
    if (!seen->exists[0])
        memset(&seen->st[0], 0, sizeof seen->st[0]);
    if (!seen->exists[1])
        memset(&seen->st[1], 0, sizeof seen->st[1]);
    free(pp);
    return rc;
}

static int write_journal(const struct pair_paths *pp, const void *chain_pem, size_t chain_len,
                         const void *key_pem, size_t key_len, struct ac_error *e)
{
    json_object *j = json_object_new_object();
    char kh[65], ch[65];
    const char *s;
    int rc = -1;

    sha256_hex(key_pem, key_len, kh);
    sha256_hex(chain_pem, chain_len, ch);
    if (j == NULL || jsonu_add_str(j, "key_new", pp->key_new) != 0 ||
        jsonu_add_str(j, "cert_new", pp->cert_new) != 0 ||
        jsonu_add_str(j, "key_sha256", kh) != 0 || jsonu_add_str(j, "cert_sha256", ch) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    s = jsonu_string(j);
    if (store_write_atomic(pp->journal, s, strlen(s), 0600, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(j);
    return rc;
}

int store_pair_commit(const char *cert_path, const void *chain_pem, size_t chain_len,
                      const char *key_path, const void *key_pem, size_t key_len, struct ac_error *e)
{
    struct pair_paths *pp = NULL;
    bool committed = false;
    int rc = -1;

    pp = pair_paths_new(cert_path, key_path, e);
    if (pp == NULL)
        goto out;
    /* Step 0: an earlier half-done commit must be settled before re-staging. */
    if (recover(cert_path, key_path, pp, e) != 0)
        goto out;
    if (store_write_atomic(pp->key_new, key_pem, key_len, 0600, e) != 0)
        goto out;
    step_done(1);
    if (store_write_atomic(pp->cert_new, chain_pem, chain_len, 0644, e) != 0)
        goto out;
    step_done(2);
    if (!exists(pp->key_new) || !exists(pp->cert_new)) {
        ac_error_set(e, AC_ERR_IO,
                     "%s: a staged file vanished before the commit point "
                     "(removed by another process?)",
                     exists(pp->key_new) ? pp->cert_new : pp->key_new);
        goto out;
    }
    if (write_journal(pp, chain_pem, chain_len, key_pem, key_len, e) != 0)
        goto out;
    committed = true;
    step_done(3);
    if (promote_own(pp->key_new, key_path, e) != 0)
        goto out;
    step_done(4);
    if (promote_own(pp->cert_new, cert_path, e) != 0)
        goto out;
    step_done(5);
    if (fsync_dirs(pp, e) != 0)
        goto out;
    step_done(6);
    if (remove_file(pp->journal, e) != 0 || store_fsync_dir(pp->cert_dir, e) != 0)
        goto out;
    step_done(7);
    rc = 0;
out:
    if (rc != 0 && pp != NULL) {
        if (!committed) {
            /* Roll back: the old pair is untouched. */
            unlink(pp->key_new);
            unlink(pp->cert_new);
        } else {
            /* Past the commit point: the journal lets a later recovery settle it. */
            ac_warn(NULL,
                    "store: commit of %s interrupted after the commit point; "
                    "the next recovery will settle it",
                    cert_path);
        }
        ac_error_prefix(e, "store_pair_commit");
    }
    free(pp);
    return rc;
}
