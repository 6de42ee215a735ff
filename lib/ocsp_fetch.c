/*
 * ocsp_fetch.c - the OCSP fetcher: one thread per manager, between
 * autocert_manager_start and _stop, that keeps every served certificate with
 * an OCSP responder URL stapled (the staple lives with the handle, cert.h).
 *
 * One timer structure for every certificate: a binary min-heap of jobs by
 * due time (libuv's timer heap is the model). The thread sleeps on a
 * CLOCK_MONOTONIC condition variable until the earliest due time (capped at
 * an hour against wall-clock jumps), a sync, or a stop; it runs one fetch at
 * a time (bounded concurrency 1: at 100,000 sets refreshed at half of a
 * 7-day validity that is ~0.33 fetches a second on average, far below what
 * one sequential client does; a responder that hangs costs at most
 * OCSP_TIMEOUT_MS per job). The handshake path never waits on it: it copies
 * the staple under a striped lock (cert_staple_copy).
 *
 *   sync(snapshot) --> jobs { cert ref, due, failures, last kind }
 *                        |  heap by due
 *   thread: pop due --> POST request --> check --> cert_staple_set
 *                        `-- push back: success: thisUpdate + half the
 *                            validity; failure: 5 s doubling to 1 h
 *
 * A sync (each snapshot publication, under the manager's write_lock) keeps
 * the jobs of certificates still served (their schedule too), adds new ones
 * due at once and drops the rest; a job being fetched while it is dropped is
 * freed by the thread when the fetch ends. Failures are logged once per
 * change of kind and message (digits aside: "after 7 ms" is no change), not
 * on every retry; a success after failures is logged once too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert.h"
#include "http.h"
#include "log.h"
#include "manager_priv.h"
#include "ocsp.h"
#include "timeutil.h"

#define OCSP_TIMEOUT_MS 15000
#define OCSP_CONNECT_TIMEOUT_MS 5000
#define OCSP_BACKOFF_MIN 5
#define OCSP_BACKOFF_MAX 3600
/* With no usable issuer (a chain of one certificate) look again this late. */
#define OCSP_NO_ISSUER_RETRY 86400
#define OCSP_MAX_SLEEP_MS 3600000

struct ocsp_job {
    autocert_cert *c; /* a reference */
    char set[72];
    int64_t due;
    int failures;
    bool keep;     /* sync scratch */
    bool dropped;  /* while in flight: free it when the fetch ends */
    uint64_t last; /* hash of the failure logged last, 0 after a success
                    * (a hash, not the text: 8 bytes a job at 100,000 sets) */
};

struct ocsp_fetcher {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    pthread_t th;
    bool running;
    atomic_bool stop;
    struct ocsp_job **heap; /* min-heap by due */
    size_t n, cap;
    struct ocsp_job *inflight;
};

/* ---- the heap ------------------------------------------------------------ */

static void heap_swap(struct ocsp_fetcher *f, size_t a, size_t b)
{
    struct ocsp_job *t = f->heap[a];

    f->heap[a] = f->heap[b];
    f->heap[b] = t;
}

static void heap_down(struct ocsp_fetcher *f, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < f->n && f->heap[l]->due < f->heap[m]->due)
            m = l;
        if (r < f->n && f->heap[r]->due < f->heap[m]->due)
            m = r;
        if (m == i)
            return;
        heap_swap(f, i, m);
        i = m;
    }
}

static void heap_up(struct ocsp_fetcher *f, size_t i)
{
    while (i > 0 && f->heap[(i - 1) / 2]->due > f->heap[i]->due) {
        heap_swap(f, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static int heap_reserve(struct ocsp_fetcher *f, size_t n)
{
    struct ocsp_job **h;
    size_t cap = f->cap ? f->cap : 64;

    if (n <= f->cap)
        return 0;
    while (cap < n)
        cap *= 2;
    h = realloc(f->heap, cap * sizeof *h);
    if (h == NULL)
        return -1;
    f->heap = h;
    f->cap = cap;
    return 0;
}

static struct ocsp_job *heap_pop(struct ocsp_fetcher *f)
{
    struct ocsp_job *j = f->heap[0];

    f->heap[0] = f->heap[--f->n];
    heap_down(f, 0);
    return j;
}

static void job_free(struct ocsp_job *j)
{
    if (j == NULL)
        return;
    cert_staple_untrack(j->c);
    autocert_cert_release(j->c);
    free(j);
}

/* ---- one fetch ------------------------------------------------------------ */

/* Asks the responder for j's certificate and checks the answer. Returns 0
 * with the staple installed and *this_update and *next_update, or -1 with e. */
static int fetch_one(struct ocsp_job *j, int64_t *tu, int64_t *nu, struct ac_error *e)
{
    gnutls_datum_t leaf, issuer, req = {NULL, 0}, body;
    struct http_client_opts opts = {0};
    struct http_client *hc = NULL;
    struct http_response resp;
    const struct http_header hdr[] = {{"Content-Type", "application/ocsp-request"},
                                      {"Accept", "application/ocsp-response"}};
    struct http_request hr = {0};
    const char *url = cert_ocsp_url(j->c);
    int rc = -1;

    memset(&resp, 0, sizeof resp);
    if (cert_ocsp_pair(j->c, &leaf, &issuer) != 0) {
        ac_error_set(e, AC_ERR_OCSP_NO_ISSUER,
                     "ocsp: the chain holds no issuer certificate; nothing is stapled");
        return -1;
    }
    if (ocsp_request_make(&leaf, &issuer, &req, e) != 0)
        goto out;
    opts.timeout_ms = OCSP_TIMEOUT_MS;
    opts.connect_timeout_ms = OCSP_CONNECT_TIMEOUT_MS;
    opts.max_body = OCSP_MAX_RESPONSE;
    if (http_client_new(&opts, &hc, e) != 0)
        goto out;
    hr.method = "POST";
    hr.url = url;
    hr.headers = hdr;
    hr.header_count = sizeof hdr / sizeof hdr[0];
    hr.body = req.data;
    hr.body_len = req.size;
    if (http_do(hc, &hr, &resp, e) != 0) {
        ac_error_prefix(e, "ocsp: responder %s", url);
        goto out;
    }
    if (resp.status != 200) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "ocsp: responder %s answered HTTP %ld", url,
                     resp.status);
        goto out;
    }
    body.data = (unsigned char *)resp.body.data;
    body.size = (unsigned int)resp.body.len;
    if (ocsp_response_check(&body, &leaf, &issuer, ac_now(), tu, nu, e) != 0) {
        ac_error_prefix(e, "ocsp: responder %s", url);
        goto out;
    }
    if (cert_staple_set(j->c, body.data, body.size, *tu, *nu) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "ocsp: out of memory");
        goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    http_client_free(hc);
    gnutls_free(req.data);
    return rc;
}

/* FNV-1a of the failure's kind and message with its digits left out, never
 * 0: the same failure again ("... after 7 ms" then "after 8 ms", another
 * date) is not a new state to log. */
static uint64_t msg_hash(const struct ac_error *e)
{
    uint64_t h = 14695981039346656037ull;

    for (const char *s = e->kind; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    for (const char *s = e->message; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h != 0 ? h : 1;
}

/* Fetches j, logs what changed and sets its next due time. */
static void run_job(struct ocsp_job *j)
{
    struct ac_error e;
    int64_t tu = 0, nu = 0, now;
    char ts[32];

    ac_error_clear(&e);
    if (fetch_one(j, &tu, &nu, &e) == 0) {
        now = ac_now();
        ac_time_format_rfc3339(nu, ts, sizeof ts);
        if (j->last != 0)
            ac_info(j->set, "OCSP staple fetched again; served until %s (nextUpdate)", ts);
        else
            ac_debug(j->set, "OCSP staple fetched; served until %s (nextUpdate)", ts);
        j->last = 0;
        j->failures = 0;
        cert_staple_note(j->c, CERT_OCSP_TRACKED, NULL);
        /* half the validity; a response already past its half point (a
         * responder that serves old ones) is refreshed at half what is left */
        j->due = tu + (nu - tu) / 2;
        if (j->due < now + (nu - now) / 2)
            j->due = now + (nu - now) / 2;
        if (j->due <= now)
            j->due = now + 1;
        return;
    }
    if (ac_error_is(&e, AC_ERR_CANCELLED))
        return; /* a stop: nothing to note */
    if (ac_error_is(&e, AC_ERR_OCSP_REVOKED))
        cert_staple_drop(j->c); /* an older "good" is no longer to be shown */
    cert_staple_note(j->c, CERT_OCSP_TRACKED, e.message);
    if (msg_hash(&e) != j->last) {
        if (ac_error_is(&e, AC_ERR_OCSP_REVOKED))
            ac_warn(j->set, "%s", e.message);
        else
            ac_warn(j->set, "%s (the staple kept, if any, is served until its nextUpdate)",
                    e.message);
        j->last = msg_hash(&e);
    } else {
        ac_debug(j->set, "%s (again)", e.message);
    }
    now = ac_now();
    if (ac_error_is(&e, AC_ERR_OCSP_NO_ISSUER)) {
        j->due = now + OCSP_NO_ISSUER_RETRY;
        return;
    }
    j->failures++;
    {
        int64_t d = OCSP_BACKOFF_MIN;
        for (int k = 1; k < j->failures && d < OCSP_BACKOFF_MAX; k++)
            d *= 2;
        j->due = now + (d < OCSP_BACKOFF_MAX ? d : OCSP_BACKOFF_MAX);
    }
}

/* ---- the thread ------------------------------------------------------------ */

static void wait_until(struct ocsp_fetcher *f, int64_t ms)
{
    struct timespec ts;

    if (ms > OCSP_MAX_SLEEP_MS)
        ms = OCSP_MAX_SLEEP_MS;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&f->cv, &f->mu, &ts);
}

static void *fetcher_main(void *arg)
{
    struct ocsp_fetcher *f = arg;
    struct ac_cancel_scope saved;

    ac_cancel_enter(&f->stop, 0, &saved); /* a stop aborts a request in flight */
    pthread_mutex_lock(&f->mu);
    while (!atomic_load(&f->stop)) {
        struct ocsp_job *j;
        int64_t now = ac_now_ms();

        if (f->n == 0) {
            wait_until(f, OCSP_MAX_SLEEP_MS);
            continue;
        }
        if (f->heap[0]->due * 1000 > now) {
            wait_until(f, f->heap[0]->due * 1000 - now);
            continue;
        }
        j = heap_pop(f);
        f->inflight = j;
        pthread_mutex_unlock(&f->mu);
        run_job(j);
        pthread_mutex_lock(&f->mu);
        f->inflight = NULL;
        if (j->dropped) {
            job_free(j);
        } else {
            /* room is there: the job had a slot before it was popped */
            f->heap[f->n++] = j;
            heap_up(f, f->n - 1);
        }
    }
    pthread_mutex_unlock(&f->mu);
    ac_cancel_leave(&saved);
    return NULL;
}

/* ---- lifetime and sync -------------------------------------------------- */

struct ocsp_fetcher *ocsp_fetcher_new(void)
{
    struct ocsp_fetcher *f = calloc(1, sizeof *f);
    pthread_condattr_t ca;

    if (f == NULL)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&f->stop, false);
    return f;
}

int ocsp_fetcher_start(struct ocsp_fetcher *f, struct ac_error *e)
{
    int rc = 0;

    pthread_mutex_lock(&f->mu);
    if (!f->running) {
        atomic_store(&f->stop, false);
        if (pthread_create(&f->th, NULL, fetcher_main, f) != 0) {
            ac_error_set(e, AC_ERR_INTERNAL, "ocsp: cannot start the fetcher thread");
            rc = -1;
        } else {
            f->running = true;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Drops every job (the thread is stopped). */
static void drop_all(struct ocsp_fetcher *f)
{
    for (size_t i = 0; i < f->n; i++)
        job_free(f->heap[i]);
    f->n = 0;
}

void ocsp_fetcher_stop(struct ocsp_fetcher *f)
{
    bool join;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    join = f->running;
    atomic_store(&f->stop, true);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (join)
        pthread_join(f->th, NULL);
    pthread_mutex_lock(&f->mu);
    f->running = false;
    drop_all(f);
    pthread_mutex_unlock(&f->mu);
}

void ocsp_fetcher_free(struct ocsp_fetcher *f)
{
    if (f == NULL)
        return;
    ocsp_fetcher_stop(f);
    free(f->heap);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

static size_t ptr_slot(const void *p, size_t cap)
{
    uintptr_t h = (uintptr_t)p;

    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (cap - 1);
}

/* True when set s staples its certificate c (it has a responder URL and
 * stapling is on). */
static bool wanted(const struct acset *s, const autocert_cert *c)
{
    if (c == NULL || cert_ocsp_url(c) == NULL)
        return false;
    if (!s->cfg.ocsp_stapling) {
        cert_staple_note(c, CERT_OCSP_OFF, NULL);
        return false;
    }
    return true;
}

void ocsp_fetcher_sync(struct ocsp_fetcher *f, const struct snapshot *s)
{
    struct ocsp_job **tab = NULL, **old = NULL;
    size_t cap = 16, nold = 0, want = 0;
    int64_t now = ac_now();

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    if (!f->running)
        goto out;
    for (size_t i = 0; i < s->count; i++)
        if (wanted(s->sets[i], s->certs[i]))
            want++;
    /* the jobs there are now, in a hash by certificate */
    nold = f->n + (f->inflight != NULL);
    while (cap < 2 * nold + 2)
        cap *= 2;
    tab = calloc(cap, sizeof *tab);
    old = malloc((nold + 1) * sizeof *old);
    if (tab == NULL || old == NULL || heap_reserve(f, want + 1) != 0) {
        ac_err(NULL, "ocsp: out of memory; the staples are not updated");
        goto out;
    }
    memcpy(old, f->heap, f->n * sizeof *old);
    if (f->inflight != NULL)
        old[f->n] = f->inflight;
    for (size_t i = 0; i < nold; i++) {
        size_t k = ptr_slot(old[i]->c, cap);
        while (tab[k] != NULL)
            k = (k + 1) & (cap - 1);
        tab[k] = old[i];
        old[i]->keep = false;
    }
    f->n = 0;
    for (size_t i = 0; i < s->count; i++) {
        const autocert_cert *c = s->certs[i];
        struct ocsp_job *j = NULL;
        size_t k;

        if (!wanted(s->sets[i], c))
            continue;
        for (k = ptr_slot(c, cap); tab[k] != NULL; k = (k + 1) & (cap - 1))
            if (tab[k]->c == c) {
                j = tab[k];
                break;
            }
        if (j != NULL && j->keep)
            continue; /* two sets serve the same handle */
        if (j == NULL) {
            j = calloc(1, sizeof *j);
            if (j == NULL) {
                ac_err(s->sets[i]->cfg.name, "ocsp: out of memory; no staple");
                continue;
            }
            j->c = autocert_cert_acquire((autocert_cert *)c);
            snprintf(j->set, sizeof j->set, "%s", s->sets[i]->cfg.name);
            j->due = now;
            cert_staple_note(c, CERT_OCSP_TRACKED, NULL);
        }
        j->keep = true;
        if (j != f->inflight)
            f->heap[f->n++] = j;
    }
    for (size_t i = 0; i < nold; i++) {
        if (old[i]->keep)
            continue;
        if (old[i] == f->inflight)
            old[i]->dropped = true;
        else
            job_free(old[i]);
    }
    if (f->inflight != NULL && f->inflight->keep)
        f->inflight->dropped = false;
    for (size_t i = f->n / 2; i-- > 0;)
        heap_down(f, i);
    pthread_cond_broadcast(&f->cv);
out:
    pthread_mutex_unlock(&f->mu);
    free(tab);
    free(old);
}
