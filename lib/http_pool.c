/*
 * http_pool.c - the process-wide pool of curl easy handles behind http_do,
 * and the CA files shared by clients with the same extra roots (see
 * http_priv.h).
 *
 * A handle carries its cached connections, so borrowing handles from one pool
 * lets every client and thread reuse the same keep-alive connections; libcurl
 * only reuses a connection whose TLS settings (CA file, verification) match the
 * request's. Handles are given most recently used first. Idle handles are kept
 * only while some client is alive: when the last client is freed they and
 * their connections are closed, so a long-running process holds no connection
 * (nor the ~4 MiB trust store GnuTLS keeps per TLS connection) between
 * issuances.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_priv.h"

/* Handles kept idle in the pool. When HTTP_POOL_BUSY_SOFT handles are busy, a
 * request waits for one to come back (see http_pool_take) before it opens
 * one more: fast servers (milliseconds a request) are then served over one
 * connection - one TLS trust store of ~4 MiB, parsed once - while slow ones
 * still get parallel connections. */
#define HTTP_POOL_IDLE_MAX 8
#define HTTP_POOL_BUSY_SOFT 1
#define HTTP_POOL_WAIT_MS 100
#define HTTP_POOL_WAIT_MAX_MS 1000

struct http_ca_file {
    struct http_ca_file *next;
    char *extra; /* the extra roots it was made for */
    size_t extra_len;
    char *path;
    unsigned refs;
};

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;
static struct http_ca_file *ca_files; /* guarded by ca_lock */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static CURL *pool_idle[HTTP_POOL_IDLE_MAX]; /* guarded by pool_lock */
static size_t pool_nidle, pool_busy;        /* guarded by pool_lock */
static size_t pool_clients;                 /* live clients; guarded by pool_lock */
static unsigned long pool_returns;          /* handles given back; guarded by pool_lock */

static void deadline_in(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* Borrows an easy handle (most recently used first: its connections are the
 * warmest). When HTTP_POOL_BUSY_SOFT are busy it waits while they keep coming
 * back; only when none came back for HTTP_POOL_WAIT_MS (a slow server), or
 * after HTTP_POOL_WAIT_MAX_MS in all, it opens one more. NULL when out of
 * memory. */
CURL *http_pool_take(void)
{
    CURL *h = NULL;
    struct timespec until, limit;
    unsigned long seen;

    deadline_in(&until, HTTP_POOL_WAIT_MS);
    deadline_in(&limit, HTTP_POOL_WAIT_MAX_MS);
    pthread_mutex_lock(&pool_lock);
    seen = pool_returns;
    while (pool_nidle == 0 && pool_busy >= HTTP_POOL_BUSY_SOFT) {
        if (pthread_cond_timedwait(&pool_cond, &pool_lock, &until) == 0)
            continue;
        if (seen == pool_returns || until.tv_sec > limit.tv_sec ||
            (until.tv_sec == limit.tv_sec && until.tv_nsec >= limit.tv_nsec))
            break;
        seen = pool_returns; /* handles are coming back: keep waiting */
        deadline_in(&until, HTTP_POOL_WAIT_MS);
    }
    if (pool_nidle > 0)
        h = pool_idle[--pool_nidle];
    pool_busy++;
    pthread_mutex_unlock(&pool_lock);
    if (h == NULL && (h = curl_easy_init()) == NULL) {
        pthread_mutex_lock(&pool_lock);
        pool_busy--;
        pthread_mutex_unlock(&pool_lock);
    }
    return h;
}

/* Returns a handle taken with http_pool_take; closes it when the pool is full. */
void http_pool_give(CURL *h)
{
    pthread_mutex_lock(&pool_lock);
    pool_busy--;
    pool_returns++;
    if (pool_clients > 0 && pool_nidle < HTTP_POOL_IDLE_MAX) {
        pool_idle[pool_nidle++] = h;
        h = NULL;
    }
    pthread_cond_signal(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

void http_pool_client_added(void)
{
    pthread_mutex_lock(&pool_lock);
    pool_clients++;
    pthread_mutex_unlock(&pool_lock);
}

/* Drops a client from the count; the last one closes the idle handles. */
void http_pool_client_gone(void)
{
    CURL *idle[HTTP_POOL_IDLE_MAX];
    size_t n = 0;

    pthread_mutex_lock(&pool_lock);
    if (--pool_clients == 0) {
        n = pool_nidle;
        memcpy(idle, pool_idle, n * sizeof idle[0]);
        pool_nidle = 0;
    }
    pthread_mutex_unlock(&pool_lock);
    for (size_t i = 0; i < n; i++)
        curl_easy_cleanup(idle[i]);
}

int http_read_file_into(const char *path, struct ac_buf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    int rc = 0;

    if (f == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (ac_buf_append(b, chunk, n) != 0) {
            rc = -1;
            break;
        }
    }
    if (ferror(f))
        rc = -1;
    fclose(f);
    if (rc == 0 && b->len > 0 && b->data[b->len - 1] != '\n')
        rc = ac_buf_append(b, "\n", 1);
    return rc;
}

#define CA_FILE_DIR "/tmp"
#define CA_FILE_PREFIX "autocert-ca-"

/* Removes CA bundle files that processes which no longer exist left behind
 * (a crash or SIGKILL skips http_ca_file_put). Names carry the creator's pid;
 * only files of our own uid are touched. Runs once, before the first file. */
static void sweep_stale_ca_files(void)
{
    DIR *d = opendir(CA_FILE_DIR);
    struct dirent *de;
    size_t plen = strlen(CA_FILE_PREFIX);

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char path[512], *end;
        struct stat st;
        long pid;

        if (strncmp(de->d_name, CA_FILE_PREFIX, plen) != 0)
            continue;
        errno = 0;
        pid = strtol(de->d_name + plen, &end, 10);
        if (errno != 0 || end == de->d_name + plen || *end != '-' || pid <= 0 ||
            pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive, or not ours to judge */
        snprintf(path, sizeof path, "%s/%s", CA_FILE_DIR, de->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid())
            unlink(path);
    }
    closedir(d);
}

/* Writes all (system + extra roots) to a new private file; its name holds a
 * sequence number so that no name is ever reused within the process (libcurl
 * matches pooled connections by the CA file's name). */
static char *write_ca_tmpfile(const struct ac_buf *all, struct ac_error *e)
{
    static unsigned seq; /* guarded by ca_lock */
    char tmpl[64];
    size_t off = 0;
    int fd;
    char *path;

    static bool swept; /* guarded by ca_lock */

    if (!swept) {
        sweep_stale_ca_files();
        swept = true;
    }
    snprintf(tmpl, sizeof tmpl, CA_FILE_DIR "/" CA_FILE_PREFIX "%ld-%u-XXXXXX", (long)getpid(),
             seq++);
    fd = mkstemp(tmpl);
    if (fd < 0) {
        ac_error_set(e, AC_ERR_IO, "http: cannot create CA bundle file: %s", strerror(errno));
        return NULL;
    }
    while (off < all->len) {
        ssize_t w = write(fd, all->data + off, all->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ac_error_set(e, AC_ERR_IO, "http: cannot write CA bundle file: %s", strerror(errno));
            close(fd);
            unlink(tmpl);
            return NULL;
        }
        off += (size_t)w;
    }
    close(fd);
    if ((path = strdup(tmpl)) == NULL) {
        unlink(tmpl);
        ac_error_set(e, AC_ERR_NOMEM, "http: out of memory");
    }
    return path;
}

/* The fallback without blob support: the file holding system bundle + extra
 * roots, shared by every client with the same extra roots (so they share
 * connections) and removed with the last of them. */
struct http_ca_file *http_ca_file_get(const struct ac_buf *extra, struct ac_error *e)
{
    struct http_ca_file *f;
    struct ac_buf all;

    ac_buf_init(&all, HTTP_MAX_CA_BUNDLE);
    pthread_mutex_lock(&ca_lock);
    for (f = ca_files; f != NULL; f = f->next)
        if (f->extra_len == extra->len && memcmp(f->extra, extra->data, extra->len) == 0)
            break;
    if (f != NULL) {
        f->refs++;
        goto out;
    }
    if ((f = calloc(1, sizeof *f)) == NULL || (f->extra = malloc(extra->len)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "http: out of memory");
        goto fail;
    }
    memcpy(f->extra, extra->data, extra->len);
    f->extra_len = extra->len;
    /* The system bundle may be missing in minimal containers: not fatal. */
    (void)http_read_file_into(HTTP_SYSTEM_BUNDLE, &all);
    if (ac_buf_append(&all, extra->data, extra->len) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "http: CA files too large");
        goto fail;
    }
    if ((f->path = write_ca_tmpfile(&all, e)) == NULL)
        goto fail;
    f->refs = 1;
    f->next = ca_files;
    ca_files = f;
    goto out;
fail:
    if (f != NULL)
        free(f->extra);
    free(f);
    f = NULL;
out:
    pthread_mutex_unlock(&ca_lock);
    ac_buf_free(&all);
    return f;
}

void http_ca_file_put(struct http_ca_file *f)
{
    struct http_ca_file **pp;

    if (f == NULL)
        return;
    pthread_mutex_lock(&ca_lock);
    if (--f->refs == 0) {
        for (pp = &ca_files; *pp != NULL; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        unlink(f->path);
        free(f->path);
        free(f->extra);
        free(f);
    }
    pthread_mutex_unlock(&ca_lock);
}

const char *http_ca_file_path(const struct http_ca_file *f)
{
    return f->path;
}
