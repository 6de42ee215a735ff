/*
 * lifecycle_events.c - event delivery off the renewal path (DESIGN.md §5.7):
 * bounded queues, each with one thread that delivers in order. The engine
 * has two: the configuration's sinks (POSTs the webhook - JSON built with
 * json-c, notify.headers added, 10 s timeout - and runs hooks.deploy with
 * /bin/sh -c - AUTOCERT_* environment, 60 s timeout, then SIGKILL - after a
 * set's files changed), and the host's callback (autocert_manager_on_event),
 * so that a slow hook never delays the host or the other way round. A
 * failing sink is logged and changes nothing else. Also the change eventfd.
 *
 * Rate limit: one delivery at a time per queue, at most LC_EVENT_QUEUE
 * events waiting. Beyond that (a CA outage with 10,000 sets due) events are
 * counted instead of queued, and once the queue has drained one summary
 * event "dropped" goes out (the webhook gets the counts by event; the deploy
 * hook runs once when any dropped event had changed files: AUTOCERT_EVENT=
 * dropped, AUTOCERT_SET empty), so 10,000 failures are at most
 * LC_EVENT_QUEUE + 1 hook runs, one after another.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "timeutil.h"

extern char **environ;

#define LC_EVENT_QUEUE 64
#define LC_EVENT_KINDS 5 /* obtained, renewed, failed, expiring, other */

static const char *const kind_names[LC_EVENT_KINDS] = {"obtained", "renewed", "failed", "expiring",
                                                       "other"};

static size_t kind_of(const char *event)
{
    for (size_t i = 0; i + 1 < LC_EVENT_KINDS; i++)
        if (strcmp(event, kind_names[i]) == 0)
            return i;
    return LC_EVENT_KINDS - 1;
}
#define LC_WEBHOOK_TIMEOUT_MS 10000
#define LC_HOOK_TIMEOUT_MS 60000
#define LC_ENV_MAX 4096

struct lc_events {
    lc_deliver_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_cond_t done; /* delivered moved (CLOCK_MONOTONIC) */
    uint64_t posted;     /* sequence number of the last event queued */
    uint64_t delivered;  /* ... of the last one delivered (or dropped) */
    pthread_t thread;
    bool stopping;
    /* CLOCK_MONOTONIC ms by which delivery ends once stopping (0: none) */
    _Atomic int64_t drain_deadline;
    struct lc_event q[LC_EVENT_QUEUE];
    size_t head, count;
    /* overflow since the last summary: how many, by event, files changed */
    size_t dropped;
    size_t dropped_by[LC_EVENT_KINDS];
    bool dropped_files;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s != NULL ? s : "");
    char *d = malloc(n + 1);

    if (d != NULL) {
        if (n > 0)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int lc_event_init(struct lc_event *ev, const char *event, const struct config_set *cfg,
                  int64_t not_after, const struct ac_error *err, int64_t now)
{
    memset(ev, 0, sizeof *ev);
    lc_copy_str(ev->event, sizeof ev->event, event);
    lc_copy_str(ev->set, sizeof ev->set, cfg->name);
    ev->not_after = not_after;
    ev->time = now;
    ac_error_clear(&ev->error);
    if (err != NULL && err->kind[0] != '\0') {
        ev->has_error = true;
        ev->error = *err;
    }
    ev->domains = calloc(cfg->domains_count + 1, sizeof *ev->domains);
    ev->cert_path = dup_str(cfg->cert_path);
    ev->key_path = dup_str(cfg->key_path);
    if (ev->domains == NULL || ev->cert_path == NULL || ev->key_path == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->domains_count; i++) {
        ev->domains[i] = dup_str(cfg->domains[i]);
        if (ev->domains[i] == NULL)
            goto fail;
        ev->domains_count++;
    }
    return 0;
fail:
    lc_event_clear(ev);
    return -1;
}

void lc_event_clear(struct lc_event *ev)
{
    if (ev->domains != NULL) {
        for (size_t i = 0; i < ev->domains_count; i++)
            free(ev->domains[i]);
        free(ev->domains);
    }
    free(ev->cert_path);
    free(ev->key_path);
    ev->domains = NULL;
    ev->domains_count = 0;
    ev->cert_path = NULL;
    ev->key_path = NULL;
}

char *lc_event_json(const struct lc_event *ev)
{
    json_object *o = json_object_new_object(), *doms = NULL, *err = NULL;
    char ts[32];
    char *out = NULL;

    if (o == NULL)
        return NULL;
    json_object_object_add(o, "event", json_object_new_string(ev->event));
    json_object_object_add(o, "set", json_object_new_string(ev->set));
    doms = json_object_new_array();
    for (size_t i = 0; doms != NULL && i < ev->domains_count; i++)
        json_object_array_add(doms, json_object_new_string(ev->domains[i]));
    json_object_object_add(o, "domains", doms);
    if (ev->not_after != 0) {
        ac_time_format_rfc3339(ev->not_after, ts, sizeof ts);
        json_object_object_add(o, "not_after", json_object_new_string(ts));
    } else {
        json_object_object_add(o, "not_after", NULL);
    }
    ac_time_format_rfc3339(ev->time, ts, sizeof ts);
    json_object_object_add(o, "time", json_object_new_string(ts));
    if (ev->has_error) {
        err = json_object_new_object();
        if (err != NULL) {
            json_object_object_add(err, "kind", json_object_new_string(ev->error.kind));
            json_object_object_add(err, "message", json_object_new_string(ev->error.message));
        }
    }
    json_object_object_add(o, "error", err);
    if (strcmp(ev->event, LC_EVENT_DROPPED) == 0) {
        json_object *by = json_object_new_object();

        json_object_object_add(o, "dropped", json_object_new_int64((int64_t)ev->dropped));
        for (size_t i = 0; by != NULL && i < LC_EVENT_KINDS; i++)
            if (ev->dropped_by[i] > 0)
                json_object_object_add(by, kind_names[i],
                                       json_object_new_int64((int64_t)ev->dropped_by[i]));
        json_object_object_add(o, "dropped_events", by);
    }
    out = dup_str(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

static char *env_entry(const char *name, const char *value)
{
    size_t a = strlen(name), b = strlen(value);
    char *s = malloc(a + b + 2);

    if (s == NULL)
        return NULL;
    memcpy(s, name, a);
    s[a] = '=';
    memcpy(s + a + 1, value, b);
    s[a + b + 1] = '\0';
    return s;
}

char **lc_event_env(const struct lc_event *ev)
{
    char **env = calloc(6, sizeof *env);
    char *doms = NULL;
    size_t len = 1, pos = 0;

    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < ev->domains_count; i++)
        len += strlen(ev->domains[i]) + 1;
    doms = malloc(len);
    if (doms == NULL)
        goto fail;
    for (size_t i = 0; i < ev->domains_count; i++) {
        size_t l = strlen(ev->domains[i]);
        if (i > 0)
            doms[pos++] = ' ';
        memcpy(doms + pos, ev->domains[i], l);
        pos += l;
    }
    doms[pos] = '\0';
    env[0] = env_entry("AUTOCERT_EVENT", ev->event);
    env[1] = env_entry("AUTOCERT_SET", ev->set);
    env[2] = env_entry("AUTOCERT_DOMAINS", doms);
    env[3] = env_entry("AUTOCERT_CERT_PATH", ev->cert_path != NULL ? ev->cert_path : "");
    env[4] = env_entry("AUTOCERT_KEY_PATH", ev->key_path != NULL ? ev->key_path : "");
    free(doms);
    for (int i = 0; i < 5; i++)
        if (env[i] == NULL)
            goto fail;
    return env;
fail:
    free(doms);
    lc_env_free(env);
    return NULL;
}

void lc_env_free(char **env)
{
    if (env == NULL)
        return;
    for (size_t i = 0; env[i] != NULL || i < 5; i++)
        free(env[i]);
    free(env);
}

/* Milliseconds left before the drain deadline (LC_WEBHOOK_TIMEOUT_MS when
 * none is set), at least 1. */
static long drain_left(struct lc_events *q, long cap)
{
    int64_t dl = atomic_load(&q->drain_deadline), left;

    if (dl == 0)
        return cap;
    left = dl - ac_mono_ms();
    return left < 1 ? 1 : left < cap ? (long)left : cap;
}

static void post_webhook(struct lc_events *q, const struct config *cfg, const struct lc_event *ev)
{
    struct http_client *c = NULL;
    struct http_client_opts opts = {0};
    struct http_header hdrs[33];
    char names[32][128];
    struct http_request req = {0};
    struct http_response resp;
    struct ac_error e;
    char *body = lc_event_json(ev);
    size_t nh = 0;

    memset(&resp, 0, sizeof resp);
    if (body == NULL) {
        ac_warn(ev->set, "webhook: cannot build the %s event", ev->event);
        return;
    }
    opts.timeout_ms = drain_left(q, LC_WEBHOOK_TIMEOUT_MS);
    opts.connect_timeout_ms = drain_left(q, 5000);
    opts.max_body = 64 * 1024;
    if (cfg->sets_count > 0) {
        opts.ca_files = (const char *const *)cfg->sets[0].ca_certs;
        opts.ca_count = cfg->sets[0].ca_certs_count;
    }
    hdrs[nh++] = (struct http_header){"Content-Type", "application/json"};
    for (size_t i = 0; i < cfg->notify.headers_count && nh < 33; i++) {
        const char *h = cfg->notify.headers[i];
        const char *colon = strchr(h, ':');
        size_t l;
        if (colon == NULL || (l = (size_t)(colon - h)) == 0 || l >= sizeof names[0])
            continue;
        memcpy(names[nh - 1], h, l);
        names[nh - 1][l] = '\0';
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        hdrs[nh] = (struct http_header){names[nh - 1], colon};
        nh++;
    }
    req.method = "POST";
    req.url = cfg->notify.webhook;
    req.headers = hdrs;
    req.header_count = nh;
    req.body = body;
    req.body_len = strlen(body);
    if (http_client_new(&opts, &c, &e) != 0) {
        ac_warn(ev->set, "webhook: %s", e.message);
        goto out;
    }
    if (http_do(c, &req, &resp, &e) != 0) {
        ac_warn(ev->set, "webhook: %s event not delivered: %s", ev->event, e.message);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299)
        ac_warn(ev->set, "webhook: %s event answered with HTTP %ld", ev->event, resp.status);
    else
        ac_debug(ev->set, "webhook: %s event delivered", ev->event);
    http_response_free(&resp);
out:
    http_client_free(c);
    free(body);
}

static bool is_ours(const char *entry)
{
    static const char *const names[] = {"AUTOCERT_EVENT=", "AUTOCERT_SET=", "AUTOCERT_DOMAINS=",
                                        "AUTOCERT_CERT_PATH=", "AUTOCERT_KEY_PATH="};
    for (size_t i = 0; i < 5; i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

static void run_hook(struct lc_events *q, const char *cmd, const struct lc_event *ev)
{
    char **ours = lc_event_env(ev);
    char **env = NULL;
    size_t n = 0, k = 0;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid = -1;
    int status = 0, rc;
    int64_t deadline = ac_mono_ms() + LC_HOOK_TIMEOUT_MS;
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};

    if (ours == NULL)
        return;
    while (environ != NULL && environ[n] != NULL && n < LC_ENV_MAX)
        n++;
    env = calloc(n + 6, sizeof *env);
    if (env == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (!is_ours(environ[i]))
            env[k++] = environ[i];
    for (size_t i = 0; i < 5; i++)
        env[k++] = ours[i];
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        ac_warn(ev->set, "deploy hook: cannot start /bin/sh: %s", strerror(rc));
        goto out;
    }
    for (;;) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            ac_warn(ev->set, "deploy hook: waitpid: %s", strerror(errno));
            goto out;
        }
        int64_t dl = atomic_load(&q->drain_deadline);
        if (ac_mono_ms() > deadline || (dl != 0 && ac_mono_ms() > dl)) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            if (ac_mono_ms() > deadline)
                ac_warn(ev->set, "deploy hook: killed after %d s", LC_HOOK_TIMEOUT_MS / 1000);
            else
                ac_warn(ev->set, "deploy hook: killed: stopping");
            goto out;
        }
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        ac_info(ev->set, "deploy hook: %s event handled", ev->event);
    else
        ac_warn(ev->set, "deploy hook: exited with status %d",
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
out:
    free(env);
    lc_env_free(ours);
}

void lc_events_to_sinks(struct lc_events *q, const struct config *cfg, const struct lc_event *ev)
{
    if (cfg == NULL)
        return;
    if (cfg->notify.webhook != NULL && cfg->notify.webhook[0] != '\0')
        post_webhook(q, cfg, ev);
    if (ev->files_changed && cfg->hooks.deploy != NULL && cfg->hooks.deploy[0] != '\0')
        run_hook(q, cfg->hooks.deploy, ev);
}

/* The summary of the events counted while the queue was full, delivered
 * once it drained. q->mu held (released around the delivery). */
static void deliver_summary(struct lc_events *q)
{
    struct lc_event ev;

    memset(&ev, 0, sizeof ev);
    lc_copy_str(ev.event, sizeof ev.event, LC_EVENT_DROPPED);
    ac_error_clear(&ev.error);
    ev.time = ac_now();
    ev.dropped = q->dropped;
    memcpy(ev.dropped_by, q->dropped_by, sizeof ev.dropped_by);
    ev.files_changed = q->dropped_files;
    q->dropped = 0;
    memset(q->dropped_by, 0, sizeof q->dropped_by);
    q->dropped_files = false;
    ac_warn(NULL, "events: %zu event(s) were not queued (queue full): one '%s' summary sent",
            ev.dropped, LC_EVENT_DROPPED);
    pthread_mutex_unlock(&q->mu);
    q->fn(q->arg, q, &ev);
    pthread_mutex_lock(&q->mu);
}

static void *event_thread(void *arg)
{
    struct lc_events *q = arg;
    struct lc_event ev;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->count == 0 && !q->stopping)
            pthread_cond_wait(&q->cond, &q->mu);
        if (q->count == 0)
            break;
        ev = q->q[q->head];
        q->head = (q->head + 1) % LC_EVENT_QUEUE;
        q->count--;
        if (q->stopping && atomic_load(&q->drain_deadline) != 0 &&
            ac_mono_ms() >= atomic_load(&q->drain_deadline)) {
            ac_warn(ev.set[0] != '\0' ? ev.set : NULL,
                    "events: stopping, %s event dropped (%zu more)", ev.event, q->count);
            lc_event_clear(&ev);
            while (q->count > 0) {
                lc_event_clear(&q->q[q->head]);
                q->head = (q->head + 1) % LC_EVENT_QUEUE;
                q->count--;
            }
            q->delivered = q->posted;
            pthread_cond_broadcast(&q->done);
            break;
        }
        pthread_mutex_unlock(&q->mu);
        q->fn(q->arg, q, &ev);
        lc_event_clear(&ev);
        pthread_mutex_lock(&q->mu);
        q->delivered++;
        pthread_cond_broadcast(&q->done);
        if (q->count == 0 && q->dropped > 0)
            deliver_summary(q);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int lc_events_new(lc_deliver_fn fn, void *arg, struct lc_events **out, struct ac_error *e)
{
    struct lc_events *q = calloc(1, sizeof *q);
    pthread_condattr_t ca;
    int rc;

    if (q == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "lc_events_new: out of memory");
        return -1;
    }
    q->fn = fn;
    q->arg = arg;
    atomic_init(&q->drain_deadline, 0);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->done, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&q->thread, NULL, event_thread, q);
    if (rc != 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "lc_events_new: pthread_create: %s", strerror(rc));
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cond);
        pthread_cond_destroy(&q->done);
        free(q);
        return -1;
    }
    *out = q;
    return 0;
}

uint64_t lc_events_post(struct lc_events *q, const struct lc_event *ev)
{
    struct lc_event copy;
    uint64_t seq;

    if (q == NULL)
        return 0;
    if (lc_event_init(&copy, ev->event,
                      &(struct config_set){.name = (char *)ev->set,
                                           .domains = ev->domains,
                                           .domains_count = ev->domains_count,
                                           .cert_path = ev->cert_path,
                                           .key_path = ev->key_path},
                      ev->not_after, ev->has_error ? &ev->error : NULL, ev->time) != 0) {
        ac_warn(ev->set, "events: out of memory, %s event dropped", ev->event);
        return 0;
    }
    copy.files_changed = ev->files_changed;
    pthread_mutex_lock(&q->mu);
    if (q->count == LC_EVENT_QUEUE) {
        bool first = q->dropped == 0;

        q->dropped++;
        q->dropped_by[kind_of(ev->event)]++;
        q->dropped_files = q->dropped_files || ev->files_changed;
        pthread_mutex_unlock(&q->mu);
        /* one line per overflow, not per event */
        if (first)
            ac_warn(ev->set[0] != '\0' ? ev->set : NULL,
                    "events: %d queued, %s event and further ones counted, not queued; one "
                    "'%s' summary follows",
                    LC_EVENT_QUEUE, ev->event, LC_EVENT_DROPPED);
        lc_event_clear(&copy);
        return 0;
    }
    q->q[(q->head + q->count) % LC_EVENT_QUEUE] = copy;
    q->count++;
    seq = ++q->posted;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->mu);
    return seq;
}

/* Waits until q delivered seq or CLOCK_MONOTONIC ms `until` passed. */
static bool wait_until(struct lc_events *q, uint64_t seq, int64_t until)
{
    struct timespec ts;
    bool ok;

    if (q == NULL)
        return true;
    ts.tv_sec = (time_t)(until / 1000);
    ts.tv_nsec = (long)(until % 1000) * 1000000L;
    pthread_mutex_lock(&q->mu);
    while (q->delivered < seq)
        if (pthread_cond_timedwait(&q->done, &q->mu, &ts) == ETIMEDOUT)
            break;
    ok = q->delivered >= seq;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

bool lc_events_wait(struct lc_events *q, uint64_t seq, int64_t ms)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return wait_until(q, seq, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + ms);
}

static uint64_t last_posted(struct lc_events *q)
{
    uint64_t n;

    if (q == NULL)
        return 0;
    pthread_mutex_lock(&q->mu);
    n = q->posted;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void lc_events_free(struct lc_events *q, int64_t drain_ms)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->drain_deadline, ac_mono_ms() + (drain_ms > 0 ? drain_ms : 1));
    q->stopping = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cond);
    pthread_cond_destroy(&q->done);
    free(q);
}

/* ---- the engine's two queues (lifecycle_priv.h) ------------------------------ */

static void deliver_sinks(void *arg, struct lc_events *q, const struct lc_event *ev)
{
    struct lifecycle *lc = arg;
    struct config *cfg = manager_config_ref(lc->m);

    lc_events_to_sinks(q, cfg, ev);
    config_free(cfg);
}

static const char *const event_names[] = {"obtained", "renewed", "failed", "expiring", "changed"};

const char *autocert_event_name(enum autocert_event_type t)
{
    if ((int)t < 0 || (size_t)t >= sizeof event_names / sizeof event_names[0])
        return "unknown";
    return event_names[t];
}

static void deliver_host(void *arg, struct lc_events *q, const struct lc_event *ev)
{
    struct lifecycle *lc = arg;
    autocert_event e = {0};
    autocert_error err;
    lc_event_fn fn;
    void *fn_arg;

    pthread_mutex_lock(&lc->event_mu);
    fn = lc->event_fn;
    fn_arg = lc->event_arg;
    pthread_mutex_unlock(&lc->event_mu);
    if (fn == NULL || strcmp(ev->event, LC_EVENT_DROPPED) == 0)
        return; /* the host's callback has no summary event */
    for (size_t i = 0; i < sizeof event_names / sizeof event_names[0]; i++)
        if (strcmp(ev->event, event_names[i]) == 0)
            e.type = (enum autocert_event_type)i;
    e.set = ev->set[0] != '\0' ? ev->set : NULL;
    e.domains = (const char *const *)ev->domains;
    e.domain_count = ev->domains_count;
    e.not_after = ev->not_after;
    e.time = ev->time;
    if (ev->has_error) {
        snprintf(err.kind, sizeof err.kind, "%s", ev->error.kind);
        snprintf(err.message, sizeof err.message, "%s", ev->error.message);
        e.error = &err;
    }
    fn(fn_arg, &e);
}

/* The queue *qp, made on first use. lc->event_mu held. */
static struct lc_events *queue_of(struct lifecycle *lc, struct lc_events **qp, lc_deliver_fn fn)
{
    struct ac_error e;

    if (*qp == NULL && lc_events_new(fn, lc, qp, &e) != 0)
        ac_warn(NULL, "events: %s; not delivered", e.message);
    return *qp;
}

uint64_t lc_events_emit(struct lifecycle *lc, const struct lc_event *ev)
{
    struct config *cfg = manager_config_ref(lc->m);
    struct lc_events *sinks = NULL, *host = NULL;
    bool has_sinks = cfg != NULL && ((cfg->notify.webhook != NULL && cfg->notify.webhook[0]) ||
                                     (cfg->hooks.deploy != NULL && cfg->hooks.deploy[0]));
    uint64_t seq = 0;

    config_free(cfg);
    pthread_mutex_lock(&lc->event_mu);
    if (has_sinks && strcmp(ev->event, "changed") != 0)
        sinks = queue_of(lc, &lc->sinks, deliver_sinks);
    if (lc->event_fn != NULL)
        host = queue_of(lc, &lc->host, deliver_host);
    pthread_mutex_unlock(&lc->event_mu);
    seq = lc_events_post(sinks, ev);
    lc_events_post(host, ev);
    return seq;
}

void lc_events_mark(struct lifecycle *lc, struct lc_events_mark *mk)
{
    pthread_mutex_lock(&lc->event_mu);
    mk->sinks = last_posted(lc->sinks);
    mk->host = last_posted(lc->host);
    pthread_mutex_unlock(&lc->event_mu);
}

bool lc_events_wait_since(struct lifecycle *lc, const struct lc_events_mark *mk, int64_t ms)
{
    struct lc_events *qs[2];
    uint64_t since[2] = {mk->sinks, mk->host};
    int64_t until = ac_mono_ms() + ms;
    bool ok = true;

    pthread_mutex_lock(&lc->event_mu);
    qs[0] = lc->sinks;
    qs[1] = lc->host;
    pthread_mutex_unlock(&lc->event_mu);
    for (size_t i = 0; i < 2; i++) {
        uint64_t last = last_posted(qs[i]);
        if (qs[i] == NULL || last <= since[i])
            continue;
        if (!lc_events_wait(qs[i], last, until - ac_mono_ms()))
            ok = false;
    }
    return ok;
}

void lc_events_drain(struct lifecycle *lc, int64_t ms)
{
    struct lc_events *qs[2];
    int64_t until = ac_mono_ms() + ms;

    pthread_mutex_lock(&lc->event_mu);
    qs[0] = lc->sinks;
    qs[1] = lc->host;
    pthread_mutex_unlock(&lc->event_mu);
    for (size_t i = 0; i < 2; i++) {
        uint64_t last = last_posted(qs[i]);
        if (qs[i] == NULL || last == 0)
            continue;
        atomic_store(&qs[i]->drain_deadline, until); /* bounds a running hook */
        if (!lc_events_wait(qs[i], last, until - ac_mono_ms()))
            ac_warn(NULL, "events: not all delivered within %lld ms", (long long)ms);
        atomic_store(&qs[i]->drain_deadline, 0);
    }
}

void lc_changed(struct lifecycle *lc)
{
    struct lc_event ev;
    uint64_t one = 1;
    bool host;

    if (lc == NULL)
        return;
    if (lc->changed_fd >= 0 && write(lc->changed_fd, &one, sizeof one) != (ssize_t)sizeof one)
        ac_debug(NULL, "events: change fd not written");
    pthread_mutex_lock(&lc->event_mu);
    host = lc->event_fn != NULL;
    pthread_mutex_unlock(&lc->event_mu);
    if (!host)
        return;
    memset(&ev, 0, sizeof ev);
    lc_copy_str(ev.event, sizeof ev.event, "changed");
    ev.time = ac_now();
    ac_error_clear(&ev.error);
    lc_events_emit(lc, &ev);
}

void lifecycle_on_event(struct lifecycle *lc, void (*fn)(void *arg, const autocert_event *ev),
                        void *arg)
{
    pthread_mutex_lock(&lc->event_mu);
    lc->event_fn = fn;
    lc->event_arg = arg;
    pthread_mutex_unlock(&lc->event_mu);
}

int lifecycle_changed_fd(struct lifecycle *lc)
{
    return lc->changed_fd;
}

uint64_t lifecycle_changed_ack(struct lifecycle *lc)
{
    uint64_t n = 0;

    if (lc->changed_fd < 0 || read(lc->changed_fd, &n, sizeof n) != (ssize_t)sizeof n)
        return 0;
    return n;
}
