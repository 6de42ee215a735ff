/*
 * admin_conn.c - connection limits, the whole-request deadline and
 * rate-limited warnings of the admin API (admin_conn.h).
 *
 * Records live in one array of conn_max slots allocated up front, so opening
 * a connection never allocates. The reaper closes a late connection with
 * shutdown(2) while holding the tracker's mutex; libmicrohttpd calls
 * admin_conns_close (NOTIFY_CONNECTION ... CLOSED) before it closes the
 * socket, and that also takes the mutex, so the reaper never touches a
 * descriptor that was closed and reused.
 */
#include "admin_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_json.h"
#include "log.h"

#define CONN_LOG "admin"
#define NOTE_LINE_MAX 384

struct admin_conn {
    bool used;
    bool over;            /* accepted beyond a cap */
    bool receiving;       /* waiting for (the rest of) a request */
    bool request_started; /* its request line arrived */
    bool reaped;          /* closed by the reaper */
    int fd;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    char peer[INET6_ADDRSTRLEN];
    struct admin_conn *next_free;
};

struct note {
    bool used;
    int64_t last_ms; /* when the last line of this kind was written */
    unsigned long suppressed;
};

struct admin_conns {
    struct admin_limits lim;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the reaper (new deadline, stop) */
    pthread_t reaper;
    bool stop;
    struct admin_conn *slots;
    struct admin_conn *free_list;
    unsigned open;
    unsigned long reaped;
    struct note notes[ADMIN_NOTE_COUNT];
    unsigned long events[ADMIN_NOTE_COUNT];
    unsigned long lines[ADMIN_NOTE_COUNT];
    char *timeout_answer; /* the whole 408 answer, HTTP head and JSON body */
    size_t timeout_answer_len;
};

/* What the held-back count of each kind is called in a summary line. */
static const char *const note_nouns[ADMIN_NOTE_COUNT] = {
    "requests answered 503 (connection limit)",
    "connections closed at the request deadline",
    "requests refused by the Host/Origin checks",
};

void admin_limits_default(struct admin_limits *l)
{
    l->conn_max = ADMIN_CONN_MAX;
    l->conn_soft_max = ADMIN_CONN_SOFT_MAX;
    l->conn_per_ip = ADMIN_CONN_PER_IP;
    l->request_deadline_ms = ADMIN_REQUEST_DEADLINE_MS;
    l->over_deadline_ms = ADMIN_OVER_DEADLINE_MS;
    l->idle_timeout_s = ADMIN_IDLE_TIMEOUT_S;
    l->log_interval_s = ADMIN_LOG_INTERVAL_S;
    l->backlog = ADMIN_LISTEN_BACKLOG;
    l->what = NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Decides under t->mu whether a line about kind goes out now; fills line
 * (size NOTE_LINE_MAX) when it does. */
static bool note_locked(struct admin_conns *t, enum admin_note kind, const char *text, char *line)
{
    struct note *n = &t->notes[kind];
    int64_t now = now_ms();

    t->events[kind]++;
    if (n->used && now - n->last_ms < (int64_t)t->lim.log_interval_s * 1000) {
        n->suppressed++;
        return false;
    }
    if (n->suppressed > 0)
        snprintf(line, NOTE_LINE_MAX, "%s (and %lu more %s in the last %u s)", text, n->suppressed,
                 note_nouns[kind], t->lim.log_interval_s);
    else
        snprintf(line, NOTE_LINE_MAX, "%s", text);
    n->used = true;
    n->last_ms = now;
    n->suppressed = 0;
    t->lines[kind]++;
    return true;
}

/* The summary of held-back warnings whose interval has passed. */
static bool flush_locked(struct admin_conns *t, enum admin_note kind, int64_t now, char *line)
{
    struct note *n = &t->notes[kind];

    if (n->suppressed == 0 || now - n->last_ms < (int64_t)t->lim.log_interval_s * 1000)
        return false;
    snprintf(line, NOTE_LINE_MAX, "%lu more %s in the last %u s", n->suppressed, note_nouns[kind],
             t->lim.log_interval_s);
    n->last_ms = now;
    n->suppressed = 0;
    t->lines[kind]++;
    return true;
}

static void reap_locked(struct admin_conns *t, struct admin_conn *c)
{
    /* Only libmicrohttpd's own error answers could be on the way out here,
     * and those close the connection at once. */
    if (c->request_started) {
        ssize_t w =
            send(c->fd, t->timeout_answer, t->timeout_answer_len, MSG_NOSIGNAL | MSG_DONTWAIT);

        (void)w; /* best effort: the client may be gone */
    }
    shutdown(c->fd, SHUT_RDWR);
    c->reaped = true;
    c->receiving = false;
    t->reaped++;
}

static void *reaper_main(void *arg)
{
    struct admin_conns *t = arg;
    char lines[ADMIN_NOTE_COUNT + 1][NOTE_LINE_MAX];

    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        int64_t now = now_ms(), next = now + 1000;
        size_t nlines = 0;
        char first_peer[INET6_ADDRSTRLEN] = "";
        unsigned reaped = 0;

        for (unsigned i = 0; i < t->lim.conn_max; i++) {
            struct admin_conn *c = &t->slots[i];

            if (!c->used || !c->receiving)
                continue;
            if (now >= c->deadline_ms) {
                if (reaped++ == 0)
                    snprintf(first_peer, sizeof first_peer, "%s", c->peer);
                reap_locked(t, c);
            } else if (c->deadline_ms < next) {
                next = c->deadline_ms;
            }
        }
        for (unsigned k = 0; k < reaped; k++) {
            char text[NOTE_LINE_MAX];

            snprintf(text, sizeof text,
                     "closed a connection from %s that did not send a whole request within "
                     "its deadline (%u ms)",
                     first_peer, t->lim.request_deadline_ms);
            if (note_locked(t, ADMIN_NOTE_DEADLINE, text, lines[nlines]))
                nlines++;
        }
        for (int k = 0; k < ADMIN_NOTE_COUNT; k++)
            if (nlines < ADMIN_NOTE_COUNT + 1 &&
                flush_locked(t, (enum admin_note)k, now, lines[nlines]))
                nlines++;
        if (nlines > 0) {
            pthread_mutex_unlock(&t->mu);
            for (size_t k = 0; k < nlines; k++)
                ac_warn(CONN_LOG, "%s: %s", t->lim.what ? t->lim.what : "admin API", lines[k]);
            pthread_mutex_lock(&t->mu);
            continue; /* the time moved on while logging */
        }
        struct timespec ts = {.tv_sec = (time_t)(next / 1000),
                              .tv_nsec = (long)(next % 1000) * 1000000L};

        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int make_timeout_answer(struct admin_conns *t)
{
    char msg[128], head[256];
    char *body = NULL;
    int hl, rc = -1;
    size_t bl;

    snprintf(msg, sizeof msg, "request not received within %u ms; closing",
             t->lim.request_deadline_ms);
    body = admin_json_message(msg);
    if (body == NULL)
        goto out;
    bl = strlen(body);
    hl = snprintf(head, sizeof head,
                  "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                  "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                  bl);
    if (hl < 0 || (size_t)hl >= sizeof head)
        goto out;
    t->timeout_answer = malloc((size_t)hl + bl);
    if (t->timeout_answer == NULL)
        goto out;
    memcpy(t->timeout_answer, head, (size_t)hl);
    memcpy(t->timeout_answer + hl, body, bl);
    t->timeout_answer_len = (size_t)hl + bl;
    rc = 0;
out:
    free(body);
    return rc;
}

int admin_conns_new(const struct admin_limits *l, struct admin_conns **out)
{
    struct admin_conns *t = calloc(1, sizeof *t);
    pthread_condattr_t ca;
    bool mu = false, cv = false;

    *out = NULL;
    if (t == NULL)
        return -1;
    t->lim = *l;
    if (t->lim.conn_max == 0)
        t->lim.conn_max = 1;
    t->slots = calloc(t->lim.conn_max, sizeof *t->slots);
    if (t->slots == NULL || make_timeout_answer(t) != 0)
        goto fail;
    for (unsigned i = t->lim.conn_max; i-- > 0;) {
        t->slots[i].next_free = t->free_list;
        t->free_list = &t->slots[i];
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0)
        goto fail;
    mu = true;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cv = pthread_cond_init(&t->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv || pthread_create(&t->reaper, NULL, reaper_main, t) != 0)
        goto fail;
    *out = t;
    return 0;
fail:
    if (cv)
        pthread_cond_destroy(&t->cv);
    if (mu)
        pthread_mutex_destroy(&t->mu);
    free(t->timeout_answer);
    free(t->slots);
    free(t);
    return -1;
}

void admin_conns_free(struct admin_conns *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->reaper, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->timeout_answer);
    free(t->slots);
    free(t);
}

static void peer_text(const struct sockaddr *sa, char *out, size_t n)
{
    const void *a = NULL;

    snprintf(out, n, "?");
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (a == NULL || inet_ntop(sa->sa_family, a, out, (socklen_t)n) == NULL)
        snprintf(out, n, "?");
}

struct admin_conn *admin_conns_open(struct admin_conns *t, int fd, const struct sockaddr *peer)
{
    struct admin_conn *c;
    char text[INET6_ADDRSTRLEN];
    unsigned same = 0;

    peer_text(peer, text, sizeof text);
    pthread_mutex_lock(&t->mu);
    c = t->free_list;
    if (c == NULL)
        goto out;
    t->free_list = c->next_free;
    for (unsigned i = 0; i < t->lim.conn_max; i++)
        if (t->slots[i].used && strcmp(t->slots[i].peer, text) == 0)
            same++;
    memset(c, 0, sizeof *c);
    c->used = true;
    c->fd = fd;
    snprintf(c->peer, sizeof c->peer, "%s", text);
    c->over = t->open >= t->lim.conn_soft_max || same >= t->lim.conn_per_ip;
    c->receiving = true;
    c->deadline_ms = now_ms() + (c->over ? t->lim.over_deadline_ms : t->lim.request_deadline_ms);
    t->open++;
    pthread_cond_broadcast(&t->cv); /* the reaper may need to wake up earlier */
out:
    pthread_mutex_unlock(&t->mu);
    return c;
}

void admin_conns_close(struct admin_conns *t, struct admin_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    c->used = false;
    c->receiving = false;
    c->fd = -1;
    c->next_free = t->free_list;
    t->free_list = c;
    t->open--;
    pthread_mutex_unlock(&t->mu);
}

void admin_conns_request_started(struct admin_conns *t, struct admin_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    c->request_started = true;
    pthread_mutex_unlock(&t->mu);
}

bool admin_conns_request_received(struct admin_conns *t, struct admin_conn *c)
{
    bool alive;

    if (c == NULL)
        return true;
    pthread_mutex_lock(&t->mu);
    alive = !c->reaped;
    c->receiving = false;
    pthread_mutex_unlock(&t->mu);
    return alive;
}

void admin_conns_request_done(struct admin_conns *t, struct admin_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    if (!c->reaped) {
        c->receiving = true;
        c->request_started = false;
        c->deadline_ms =
            now_ms() + (c->over ? t->lim.over_deadline_ms : t->lim.request_deadline_ms);
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

bool admin_conn_over(const struct admin_conn *c)
{
    return c == NULL || c->over;
}

const char *admin_conn_peer(const struct admin_conn *c)
{
    return c != NULL ? c->peer : "?";
}

void admin_conns_note(struct admin_conns *t, enum admin_note kind, const char *fmt, ...)
{
    char text[NOTE_LINE_MAX], line[NOTE_LINE_MAX];
    va_list ap;
    bool emit;

    if (t == NULL || (int)kind < 0 || kind >= ADMIN_NOTE_COUNT)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&t->mu);
    emit = note_locked(t, kind, text, line);
    pthread_mutex_unlock(&t->mu);
    if (emit)
        ac_warn(CONN_LOG, "%s: %s", t->lim.what ? t->lim.what : "admin API", line);
}

void admin_conns_stats(struct admin_conns *t, struct admin_conn_stats *st)
{
    memset(st, 0, sizeof *st);
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    st->open = t->open;
    st->reaped = t->reaped;
    memcpy(st->events, t->events, sizeof st->events);
    memcpy(st->lines, t->lines, sizeof st->lines);
    pthread_mutex_unlock(&t->mu);
}
