/*
 * admin_stream.c - the event stream of a forced renewal (admin_stream.h) and
 * the process-wide registry of such streams (admin_api.h).
 *
 * Lock order: reg_mu before a stream's mu.
 */
#include "admin_stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_json.h"
#include "autocert/autocert.h"
#include "buf.h"
#include "log.h"

static const char keepalive[] = ": keepalive\n\n";
static const char shutting_down[] =
    "event: result\ndata: {\"results\":[],\"message\":\"shutting down\"}\n\n";

struct admin_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    struct ac_buf q;   /* bytes not yet read, from q_off */
    size_t q_off;
    bool done;    /* the result event is queued */
    bool closing; /* the owner stops: end the stream now */
    bool final;   /* the "shutting down" event is queued */
    /* the registry's (reg_mu) */
    bool reader;    /* the reader still holds it */
    bool worker;    /* the renewal still runs */
    bool cancelled; /* the manager goes away: do not start the renewal */
    struct admin_stream *prev, *next;
    /* the renewal (the worker's) */
    struct admin_api api; /* only m, owner and conns are used */
    char *selector;       /* NULL: every set */
    struct admin_results results;
};

/* ---- the registry: every stream from its start until both sides let go ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static struct admin_stream *reg_list;

static void reg_add(struct admin_stream *x)
{
    pthread_mutex_lock(&reg_mu);
    x->prev = NULL;
    x->next = reg_list;
    if (reg_list != NULL)
        reg_list->prev = x;
    reg_list = x;
    pthread_mutex_unlock(&reg_mu);
}

/* With reg_mu held. */
static void reg_unlink(struct admin_stream *x)
{
    if (x->next != NULL)
        x->next->prev = x->prev;
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        reg_list = x->next;
}

static void stream_free(struct admin_stream *x)
{
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    ac_buf_free(&x->q);
    free(x->selector);
    free(x);
}

/* One side lets go (reader or worker); the last one frees x. */
static void stream_leave(struct admin_stream *x, bool worker)
{
    bool last;

    pthread_mutex_lock(&reg_mu);
    if (worker)
        x->worker = false;
    else
        x->reader = false;
    last = !x->worker && !x->reader;
    if (last)
        reg_unlink(x);
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg_mu);
    if (last)
        stream_free(x);
}

void admin_streams_stop(const void *owner)
{
    pthread_mutex_lock(&reg_mu);
    for (struct admin_stream *x = reg_list; x != NULL; x = x->next) {
        if (x->api.owner != owner || !x->reader)
            continue;
        pthread_mutex_lock(&x->mu);
        x->closing = true;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static bool busy_locked(const void *owner, const autocert_manager *m)
{
    for (struct admin_stream *x = reg_list; x != NULL; x = x->next)
        if (x->worker && (owner == NULL || x->api.owner == owner) && (m == NULL || x->api.m == m))
            return true;
    return false;
}

void admin_streams_cancel(const autocert_manager *m)
{
    pthread_mutex_lock(&reg_mu);
    for (struct admin_stream *x = reg_list; x != NULL; x = x->next)
        if (x->api.m == m)
            x->cancelled = true;
    pthread_mutex_unlock(&reg_mu);
}

void admin_streams_wait(const void *owner, const autocert_manager *m)
{
    pthread_mutex_lock(&reg_mu);
    while (busy_locked(owner, m))
        pthread_cond_wait(&reg_cv, &reg_mu);
    pthread_mutex_unlock(&reg_mu);
}

/* ---- one stream ---- */

static void stream_push(struct admin_stream *x, const char *event, const char *json)
{
    pthread_mutex_lock(&x->mu);
    if (json != NULL)
        ac_buf_printf(&x->q, "event: %s\ndata: %s\n\n", event, json); /* dropped when full */
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void stream_progress(void *arg, const char *set_name, const char *message)
{
    struct admin_stream *x = arg;
    char *json = admin_json_progress(set_name, message);

    stream_push(x, "progress", json);
    free(json);
}

static void stream_result(void *arg, const char *set, const autocert_error *err)
{
    struct admin_stream *x = arg;

    admin_results_add(&x->results, set, err);
}

static void *stream_worker(void *arg)
{
    struct admin_stream *x = arg;
    autocert_progress p = {.note = stream_progress, .result = stream_result, .arg = x};
    autocert_error e;
    const char *message = NULL;
    char *json;
    bool cancelled;

    pthread_mutex_lock(&reg_mu);
    cancelled = x->cancelled;
    pthread_mutex_unlock(&reg_mu);
    stream_progress(x, "", "renewal started");
    admin_results_init(&x->results);
    if (cancelled)
        message = "shutting down";
    else if (autocert_manager_renew(x->api.m, x->selector, &p, &e) != 0 && x->results.count == 0)
        message = e.message; /* nothing ran: a reload removed the set, a stop */
    json = admin_results_finish(&x->results, message);
    pthread_mutex_lock(&x->mu);
    /* The result event must get through even when progress filled the queue. */
    x->q.max = x->q.len + (json != NULL ? strlen(json) : 0) + 64;
    pthread_mutex_unlock(&x->mu);
    stream_push(x, "result",
                json != NULL ? json : "{\"results\":[],\"message\":\"out of memory\"}");
    free(json);
    pthread_mutex_lock(&x->mu);
    x->done = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    stream_leave(x, true);
    return NULL;
}

int admin_stream_start(const struct admin_api *a, const char *selector, struct admin_stream **out)
{
    struct admin_stream *x = calloc(1, sizeof *x);
    pthread_condattr_t ca;
    pthread_attr_t attr;
    pthread_t tid;
    bool mu = false, cv = false, attr_ok = false;
    int rc = -1;

    *out = NULL;
    if (x == NULL)
        goto fail;
    x->api = *a;
    x->api.token = NULL; /* borrowed for the request only */
    x->reader = true;
    x->worker = true;
    ac_buf_init(&x->q, ADMIN_SSE_MAX);
    if ((selector != NULL && (x->selector = strdup(selector)) == NULL) ||
        pthread_mutex_init(&x->mu, NULL) != 0)
        goto fail;
    mu = true;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cv = pthread_cond_init(&x->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv || pthread_attr_init(&attr) != 0)
        goto fail;
    attr_ok = true;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    reg_add(x);
    if (pthread_create(&tid, &attr, stream_worker, x) != 0) {
        pthread_mutex_lock(&reg_mu);
        reg_unlink(x);
        pthread_mutex_unlock(&reg_mu);
        goto fail;
    }
    *out = x;
    x = NULL;
    rc = 0;
fail:
    if (attr_ok)
        pthread_attr_destroy(&attr);
    if (x != NULL) {
        if (cv)
            pthread_cond_destroy(&x->cv);
        if (mu)
            pthread_mutex_destroy(&x->mu);
        ac_buf_free(&x->q);
        free(x->selector);
        free(x);
    }
    return rc;
}

ssize_t admin_stream_read(struct admin_stream *x, void *buf, size_t n)
{
    ssize_t out = 0;

    if (n == 0)
        return -1;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (x->q.len > x->q_off) {
            size_t k = x->q.len - x->q_off;

            if (k > n)
                k = n;
            memcpy(buf, x->q.data + x->q_off, k);
            x->q_off += k;
            if (x->q_off == x->q.len) {
                ac_buf_reset(&x->q);
                x->q_off = 0;
            }
            out = (ssize_t)k;
            break;
        }
        if (x->done || x->final)
            break; /* the end */
        if (x->closing) {
            x->q.max = x->q.len + sizeof shutting_down;
            ac_buf_appends(&x->q, shutting_down);
            x->final = true;
            continue;
        }
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ADMIN_SSE_KEEPALIVE_S;
        if (pthread_cond_timedwait(&x->cv, &x->mu, &ts) == ETIMEDOUT && x->q.len == x->q_off &&
            !x->done && !x->closing) {
            if (x->q.max < x->q.len + sizeof keepalive)
                x->q.max = x->q.len + sizeof keepalive;
            ac_buf_appends(&x->q, keepalive);
        }
    }
    pthread_mutex_unlock(&x->mu);
    return out;
}

void admin_stream_release(struct admin_stream *x)
{
    if (x != NULL)
        stream_leave(x, false);
}
