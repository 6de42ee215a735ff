/*
 * serve_tls.c - the TLS listener of `autocert serve` (see serve_tls.h): one
 * accept thread (poll on the socket and a stop pipe), one detached thread per
 * connection. Every connection is bounded: the handshake and each request must
 * arrive within SERVE_REQUEST_DEADLINE_S (a whole-request deadline, not an idle
 * timeout renewed by every byte), a connection lives at most SERVE_CONN_MAX_S,
 * requests are capped at SERVE_MAX_REQUEST bytes, at most SERVE_MAX_CONNS
 * connections are open, at most SERVE_MAX_CONNS_PER_IP of them from one client
 * address. A stop shuts every open connection down at once. The credentials
 * form a refcounted "generation" that the connections share. The manager is
 * the caller's: one for the listener's life (a configuration reload happens
 * inside it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdarg.h>
#include <time.h>

#include <autocert/autocert.h>
#include <autocert/autocert_gnutls.h>

#include "serve_tls.h"

#define SERVE_MAX_REQUEST 8192
#define SERVE_MAX_CONNS 256
#define SERVE_MAX_CONNS_PER_IP 16
#define SERVE_REQUEST_DEADLINE_S 10 /* handshake + first request; each later request */
#define SERVE_CONN_MAX_S 60
#define SERVE_STOP_WAIT_S 5    /* connection threads to end after the shutdown */
#define SERVE_REFUSAL_LOG_S 60 /* at most one "refused" warning per interval */

static const gnutls_datum_t serve_alpn[] = {{(unsigned char *)"http/1.1", 8}};

/* Kinds of the errors serve_tls_start gives. */
#define SERVE_E_CONFIG "config.invalid"
#define SERVE_E_IO "io.error"
#define SERVE_E_TLS "net.tls"
#define SERVE_E_NOMEM "internal.nomem"
#define SERVE_E_INTERNAL "internal"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(autocert_error *err, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(autocert_error *err, const char *kind, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    snprintf(err->kind, sizeof err->kind, "%s", kind);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* "host:port" or "[v6]:port" (serve.listen, validated with the configuration)
 * into host (without brackets) and port. Returns 0 or -1. */
static int split_listen(const char *spec, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon = strrchr(spec, ':');
    size_t hl;

    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= pn)
        return -1;
    hl = (size_t)(colon - spec);
    if (spec[0] == '[') {
        if (hl < 3 || spec[hl - 1] != ']')
            return -1;
        spec++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hn)
        return -1;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    snprintf(port, pn, "%s", colon + 1);
    return 0;
}

struct serve_gen {
    autocert_manager *m;
    gnutls_certificate_credentials_t cred;
    int refs; /* guarded by serve_tls.mu */
};

struct conn {
    struct serve_tls *t;
    struct serve_gen *gen;
    int fd; /* closed by the connection thread, after unlinking */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct conn *next, *prev; /* serve_tls.open, guarded by serve_tls.mu */
};

struct serve_tls {
    int lfd;
    int stop_pipe[2];
    pthread_t accept_thread;
    gnutls_priority_t prio;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    struct serve_gen *gen; /* current */
    int conns;
    struct conn *open;        /* every connection whose thread runs */
    int64_t last_refusal_log; /* monotonic ms */
};

static void gen_release(struct serve_gen *g)
{
    /* called with refs already dropped to 0 */
    autocert_gnutls_uninstall(g->cred);
    gnutls_certificate_free_credentials(g->cred);
    free(g);
}

static struct serve_gen *gen_new(autocert_manager *m, autocert_error *e)
{
    struct serve_gen *g = calloc(1, sizeof *g);

    if (g == NULL) {
        set_err(e, SERVE_E_NOMEM, "serve: out of memory");
        return NULL;
    }
    if (gnutls_certificate_allocate_credentials(&g->cred) < 0) {
        set_err(e, SERVE_E_TLS, "serve: cannot allocate TLS credentials");
        free(g);
        return NULL;
    }
    if (autocert_gnutls_install(m, g->cred) != 0) {
        set_err(e, SERVE_E_TLS, "serve: cannot install the certificate callback");
        gnutls_certificate_free_credentials(g->cred);
        free(g);
        return NULL;
    }
    g->m = m;
    g->refs = 1;
    return g;
}

static void gen_unref(struct serve_tls *t, struct serve_gen *g)
{
    bool last;

    pthread_mutex_lock(&t->mu);
    last = --g->refs == 0;
    pthread_mutex_unlock(&t->mu);
    if (last)
        gen_release(g);
}

/* Waits until the session has a record to read or deadline (monotonic ms)
 * passes. Returns 1 readable, 0 deadline passed, -1 error. */
static int wait_readable(gnutls_session_t s, int fd, int64_t deadline)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int64_t left;
    int rc;

    if (gnutls_record_check_pending(s) > 0)
        return 1;
    for (;;) {
        left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        rc = poll(&pf, 1, left > 1000 ? 1000 : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* The certificate the handshake chose: by SNI, or without one by the local
 * address the client connected to (a set's IP certificate). */
static autocert_cert *lookup_served(autocert_manager *m, int fd, const char *sni)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;

    if (sni[0] == '\0' && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            return autocert_manager_lookup_addr(m, NULL, 0, &((struct sockaddr_in *)&ss)->sin_addr,
                                                4);
        if (ss.ss_family == AF_INET6)
            return autocert_manager_lookup_addr(m, NULL, 0,
                                                &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    }
    return autocert_manager_lookup(m, sni, strlen(sni));
}

/* Answers each request (header block up to an empty line) on an open session
 * until the client closes, a deadline passes or a request is too large. */
static void answer(gnutls_session_t s, int fd, autocert_manager *m, int64_t request_deadline,
                   int64_t conn_deadline)
{
    char req[SERVE_MAX_REQUEST], sni[256] = "", body[640], head[128];
    size_t used = 0, snilen = sizeof sni;
    unsigned int type;
    autocert_cert *c;
    const char *set;

    if (gnutls_server_name_get(s, sni, &snilen, &type, 0) != 0)
        sni[0] = '\0';
    c = lookup_served(m, fd, sni);
    set = c != NULL ? autocert_cert_set_name(c) : "none";
    for (;;) {
        int64_t deadline = request_deadline < conn_deadline ? request_deadline : conn_deadline;
        if (wait_readable(s, fd, deadline) != 1) {
            autocert_log(AUTOCERT_LOG_DEBUG, NULL,
                         "serve: connection closed: no complete request in time");
            break;
        }
        ssize_t n = gnutls_record_recv(s, req + used, sizeof req - 1 - used);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue; /* the deadline above ends a client that stays silent */
        if (n <= 0)
            break;
        used += (size_t)n;
        req[used] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        size_t skip = 4;
        if (end == NULL) {
            end = strstr(req, "\n\n");
            skip = 2;
        }
        if (end == NULL) {
            if (used == sizeof req - 1)
                break;
            continue;
        }
        int blen =
            snprintf(body, sizeof body, "hello %s from %s\n", sni[0] ? sni : "(no sni)", set);
        int hlen = snprintf(head, sizeof head,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: %d\r\n\r\n",
                            blen);
        if (blen < 0 || hlen < 0 || gnutls_record_send(s, head, (size_t)hlen) < 0 ||
            gnutls_record_send(s, body, (size_t)blen) < 0)
            break;
        size_t consumed = (size_t)(end - req) + skip;
        memmove(req, req + consumed, used - consumed);
        used -= consumed;
        request_deadline = mono_ms() + SERVE_REQUEST_DEADLINE_S * 1000;
    }
    autocert_cert_release(c);
}

static void conn_unlink(struct serve_tls *t, struct conn *cn)
{
    if (cn->prev != NULL)
        cn->prev->next = cn->next;
    else
        t->open = cn->next;
    if (cn->next != NULL)
        cn->next->prev = cn->prev;
    cn->next = cn->prev = NULL;
}

static void *connection(void *arg)
{
    struct conn *cn = arg;
    gnutls_session_t s = NULL;
    int64_t start = mono_ms(), deadline = start + SERVE_REQUEST_DEADLINE_S * 1000;
    int rc;

    if (gnutls_init(&s, GNUTLS_SERVER) < 0)
        goto out;
    gnutls_priority_set(s, cn->t->prio);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cn->gen->cred);
    /* HTTP/1.1, plus acme-tls/1 while a tls-alpn-01 challenge is pending */
    if (autocert_gnutls_session_init(cn->gen->m, s, serve_alpn, 1, 0) != 0)
        goto out;
    gnutls_transport_set_int(s, cn->fd);
    gnutls_handshake_set_timeout(s, SERVE_REQUEST_DEADLINE_S * 1000);
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && gnutls_error_is_fatal(rc) == 0 && mono_ms() < deadline);
    if (rc < 0) {
        autocert_log(AUTOCERT_LOG_DEBUG, NULL, "serve: handshake failed: %s", gnutls_strerror(rc));
        /* A proper alert instead of a silent close; e.g. a server name GnuTLS
         * refuses (foo_bar.example: GNUTLS_E_RECEIVED_DISALLOWED_NAME before
         * any certificate is chosen) gets illegal_parameter. */
        if (gnutls_error_is_fatal(rc) != 0)
            gnutls_alert_send_appropriate(s, rc);
        goto out;
    }
    if (autocert_gnutls_session_is_acme(s)) /* a CA's validation: no application data */
        autocert_log(AUTOCERT_LOG_DEBUG, NULL, "serve: tls-alpn-01 validation answered");
    else
        answer(s, cn->fd, cn->gen->m, deadline, start + SERVE_CONN_MAX_S * 1000);
    gnutls_bye(s, GNUTLS_SHUT_WR);
out:
    gnutls_deinit(s);
    gen_unref(cn->t, cn->gen);
    pthread_mutex_lock(&cn->t->mu);
    conn_unlink(cn->t, cn);
    close(cn->fd); /* after unlinking: serve_tls_stop never touches a closed fd */
    cn->t->conns--;
    pthread_cond_broadcast(&cn->t->idle);
    pthread_mutex_unlock(&cn->t->mu); /* t may be freed from here on */
    free(cn);
    return NULL;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true;
}

/* Why a new connection from peer cannot be taken (NULL: it can). t->mu held. */
static const char *refusal(struct serve_tls *t, const struct sockaddr_storage *peer)
{
    int same = 0;

    if (t->conns >= SERVE_MAX_CONNS)
        return "connection limit reached";
    for (struct conn *o = t->open; o != NULL; o = o->next)
        if (same_addr(&o->peer, peer) && ++same >= SERVE_MAX_CONNS_PER_IP)
            return "per-address connection limit reached";
    return NULL;
}

/* Logs a refused connection, at most once per SERVE_REFUSAL_LOG_S. t->mu held. */
static void log_refusal(struct serve_tls *t, const struct sockaddr_storage *peer, const char *why)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    int64_t now = mono_ms();

    if (t->last_refusal_log != 0 && now - t->last_refusal_log < SERVE_REFUSAL_LOG_S * 1000)
        return;
    t->last_refusal_log = now;
    if (peer->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, addr, sizeof addr);
    else if (peer->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, addr, sizeof addr);
    autocert_log(AUTOCERT_LOG_WARN, NULL,
                 "serve: connection from %s refused: %s (logged once per %d s)", addr, why,
                 SERVE_REFUSAL_LOG_S);
}

static void *accept_loop(void *arg)
{
    struct serve_tls *t = arg;
    struct timeval tmo = {.tv_sec = SERVE_REQUEST_DEADLINE_S};
    struct pollfd pf[2] = {{.fd = t->lfd, .events = POLLIN},
                           {.fd = t->stop_pipe[0], .events = POLLIN}};

    for (;;) {
        pthread_t th;
        struct conn *cn;
        int fd;

        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents != 0)
            break;
        const char *why;
        cn = calloc(1, sizeof *cn);
        if (cn == NULL) {
            fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                close(fd);
            continue;
        }
        cn->peer_len = sizeof cn->peer;
        fd = accept4(t->lfd, (struct sockaddr *)&cn->peer, &cn->peer_len, SOCK_CLOEXEC);
        if (fd < 0) {
            free(cn);
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        pthread_mutex_lock(&t->mu);
        if ((why = refusal(t, &cn->peer)) != NULL) {
            log_refusal(t, &cn->peer, why);
            pthread_mutex_unlock(&t->mu);
            free(cn);
            close(fd);
            continue;
        }
        cn->t = t;
        cn->fd = fd;
        cn->gen = t->gen;
        cn->gen->refs++;
        t->conns++;
        cn->next = t->open;
        if (t->open != NULL)
            t->open->prev = cn;
        t->open = cn;
        if (pthread_create(&th, NULL, connection, cn) != 0) {
            conn_unlink(t, cn);
            t->conns--;
            cn->gen->refs--; /* never the last: t->gen holds one */
            pthread_mutex_unlock(&t->mu);
            close(fd);
            free(cn);
            continue;
        }
        pthread_mutex_unlock(&t->mu);
        pthread_detach(th);
    }
    return NULL;
}

static int listen_on(const char *spec, autocert_error *e)
{
    char host[256], port[16];
    int fd = -1, one = 1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                    *ai = NULL;

    if (split_listen(spec, host, sizeof host, port, sizeof port) != 0) {
        set_err(e, SERVE_E_CONFIG, "serve.listen: bad address %s", spec);
        return -1;
    }
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        set_err(e, SERVE_E_CONFIG, "serve.listen: bad address %s", spec);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        set_err(e, SERVE_E_IO, "serve.listen: cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int serve_tls_start(const char *listen, autocert_manager *m, struct serve_tls **out,
                    autocert_error *e)
{
    struct serve_tls *t = calloc(1, sizeof *t);

    if (t == NULL) {
        set_err(e, SERVE_E_NOMEM, "serve: out of memory");
        return -1;
    }
    t->lfd = -1;
    t->stop_pipe[0] = t->stop_pipe[1] = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->idle, NULL);
    if (gnutls_priority_init(&t->prio, "NORMAL", NULL) < 0) {
        set_err(e, SERVE_E_TLS, "serve: gnutls_priority_init failed");
        goto fail;
    }
    if ((t->lfd = listen_on(listen, e)) < 0)
        goto fail;
    if (pipe2(t->stop_pipe, O_CLOEXEC) != 0) {
        set_err(e, SERVE_E_IO, "serve: pipe: %s", strerror(errno));
        goto fail;
    }
    if ((t->gen = gen_new(m, e)) == NULL)
        goto fail;
    if (pthread_create(&t->accept_thread, NULL, accept_loop, t) != 0) {
        set_err(e, SERVE_E_INTERNAL, "serve: cannot start the accept thread");
        autocert_gnutls_uninstall(t->gen->cred);
        gnutls_certificate_free_credentials(t->gen->cred);
        free(t->gen);
        goto fail;
    }
    autocert_log(AUTOCERT_LOG_INFO, NULL, "serving TLS on %s", listen);
    *out = t;
    return 0;
fail:
    if (t->lfd >= 0)
        close(t->lfd);
    if (t->stop_pipe[0] >= 0) {
        close(t->stop_pipe[0]);
        close(t->stop_pipe[1]);
    }
    if (t->prio != NULL)
        gnutls_priority_deinit(t->prio);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->idle);
    free(t);
    return -1;
}

void serve_tls_stop(struct serve_tls *t)
{
    struct timespec dl;
    char c = 'x';
    int left;

    if (t == NULL)
        return;
    if (write(t->stop_pipe[1], &c, 1) != 1)
        autocert_log(AUTOCERT_LOG_WARN, NULL, "serve: cannot signal the accept thread");
    pthread_join(t->accept_thread, NULL);
    close(t->lfd);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += SERVE_STOP_WAIT_S;
    pthread_mutex_lock(&t->mu);
    /* Every open connection ends now: its poll or read returns at once. */
    for (struct conn *cn = t->open; cn != NULL; cn = cn->next)
        shutdown(cn->fd, SHUT_RDWR);
    while (t->conns > 0)
        if (pthread_cond_timedwait(&t->idle, &t->mu, &dl) == ETIMEDOUT)
            break;
    left = t->conns;
    pthread_mutex_unlock(&t->mu);
    if (left > 0) {
        /* connections still running keep using the generation: leak it rather
         * than free what a session holds; the process is about to exit. */
        autocert_log(AUTOCERT_LOG_WARN, NULL, "serve: %d connection(s) still open at shutdown",
                     left);
        return;
    }
    gen_unref(t, t->gen);
    close(t->stop_pipe[0]);
    close(t->stop_pipe[1]);
    gnutls_priority_deinit(t->prio);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->idle);
    free(t);
}
