/*
 * serve_tls.c - the TLS listener of `autocert serve` (see serve_tls.h): one
 * accept thread (poll on the socket and a stop pipe), one detached thread per
 * connection, bounded by a receive timeout, a request size cap and a cap on
 * concurrent connections. Credentials and manager form a refcounted
 * "generation" so that a config reload never frees what a live session uses.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcntl.h>
#include <unistd.h>

#include "autocert/autocert_gnutls.h"
#include "config.h"
#include "log.h"
#include "serve_tls.h"

#define SERVE_MAX_REQUEST 8192
#define SERVE_MAX_CONNS 256
#define SERVE_RCV_TIMEOUT_S 10

struct serve_gen {
    autocert_manager *m;
    gnutls_certificate_credentials_t cred;
    int refs; /* guarded by serve_tls.mu */
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
};

struct conn {
    struct serve_tls *t;
    struct serve_gen *gen;
    int fd;
};

static void gen_release(struct serve_gen *g)
{
    /* called with refs already dropped to 0 */
    autocert_gnutls_uninstall(g->cred);
    gnutls_certificate_free_credentials(g->cred);
    autocert_manager_free(g->m);
    free(g);
}

static struct serve_gen *gen_new(autocert_manager *m, struct ac_error *e)
{
    struct serve_gen *g = calloc(1, sizeof *g);

    if (g == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "serve: out of memory");
        return NULL;
    }
    if (gnutls_certificate_allocate_credentials(&g->cred) < 0) {
        ac_error_set(e, AC_ERR_TLS, "serve: cannot allocate TLS credentials");
        free(g);
        return NULL;
    }
    if (autocert_gnutls_install(m, g->cred) != 0) {
        ac_error_set(e, AC_ERR_TLS, "serve: cannot install the certificate callback");
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

/* Answers each request (header block up to an empty line) on an open session. */
static void answer(gnutls_session_t s, autocert_manager *m)
{
    char req[SERVE_MAX_REQUEST], sni[256] = "", body[640], head[128];
    size_t used = 0, snilen = sizeof sni;
    unsigned int type;
    autocert_cert *c;
    const char *set;

    if (gnutls_server_name_get(s, sni, &snilen, &type, 0) != 0)
        sni[0] = '\0';
    c = autocert_manager_lookup(m, sni, strlen(sni));
    set = c != NULL ? autocert_cert_set_name(c) : "none";
    for (;;) {
        ssize_t n = gnutls_record_recv(s, req + used, sizeof req - 1 - used);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
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
        int blen = snprintf(body, sizeof body, "hello %s from %s\n", sni[0] ? sni : "(no sni)",
                            set);
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
    }
    autocert_cert_release(c);
}

static void *connection(void *arg)
{
    struct conn *cn = arg;
    gnutls_session_t s = NULL;
    int rc;

    if (gnutls_init(&s, GNUTLS_SERVER) < 0)
        goto out;
    gnutls_priority_set(s, cn->t->prio);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cn->gen->cred);
    gnutls_transport_set_int(s, cn->fd);
    gnutls_handshake_set_timeout(s, SERVE_RCV_TIMEOUT_S * 1000);
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0) {
        ac_debug(NULL, "serve: handshake failed: %s", gnutls_strerror(rc));
        goto out;
    }
    answer(s, cn->gen->m);
    gnutls_bye(s, GNUTLS_SHUT_WR);
out:
    gnutls_deinit(s);
    close(cn->fd);
    gen_unref(cn->t, cn->gen);
    pthread_mutex_lock(&cn->t->mu);
    cn->t->conns--;
    pthread_cond_broadcast(&cn->t->idle);
    pthread_mutex_unlock(&cn->t->mu);
    free(cn);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct serve_tls *t = arg;
    struct timeval tmo = {.tv_sec = SERVE_RCV_TIMEOUT_S};
    struct pollfd pf[2] = {{.fd = t->lfd, .events = POLLIN}, {.fd = t->stop_pipe[0], .events = POLLIN}};

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
        fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        cn = calloc(1, sizeof *cn);
        pthread_mutex_lock(&t->mu);
        if (cn == NULL || t->conns >= SERVE_MAX_CONNS) {
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
        pthread_mutex_unlock(&t->mu);
        if (pthread_create(&th, NULL, connection, cn) != 0) {
            close(fd);
            gen_unref(t, cn->gen);
            pthread_mutex_lock(&t->mu);
            t->conns--;
            pthread_mutex_unlock(&t->mu);
            free(cn);
            continue;
        }
        pthread_detach(th);
    }
    return NULL;
}

static int listen_on(const char *spec, struct ac_error *e)
{
    char host[256], port[16];
    int p, fd = -1, one = 1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai = NULL;

    if (config_parse_listen(spec, host, sizeof host, &p) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "serve.listen: bad address %s", spec);
        return -1;
    }
    snprintf(port, sizeof port, "%d", p);
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "serve.listen: bad address %s", spec);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        ac_error_set(e, AC_ERR_IO, "serve.listen: cannot listen on %s: %s", spec,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int serve_tls_start(const char *listen, autocert_manager *m, struct serve_tls **out,
                    struct ac_error *e)
{
    struct serve_tls *t = calloc(1, sizeof *t);

    if (t == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "serve: out of memory");
        return -1;
    }
    t->lfd = -1;
    t->stop_pipe[0] = t->stop_pipe[1] = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->idle, NULL);
    if (gnutls_priority_init(&t->prio, "NORMAL", NULL) < 0) {
        ac_error_set(e, AC_ERR_TLS, "serve: gnutls_priority_init failed");
        goto fail;
    }
    if ((t->lfd = listen_on(listen, e)) < 0)
        goto fail;
    if (pipe2(t->stop_pipe, O_CLOEXEC) != 0) {
        ac_error_set(e, AC_ERR_IO, "serve: pipe: %s", strerror(errno));
        goto fail;
    }
    if ((t->gen = gen_new(m, e)) == NULL)
        goto fail;
    if (pthread_create(&t->accept_thread, NULL, accept_loop, t) != 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "serve: cannot start the accept thread");
        t->gen->m = NULL; /* stays the caller's */
        autocert_gnutls_uninstall(t->gen->cred);
        gnutls_certificate_free_credentials(t->gen->cred);
        free(t->gen);
        goto fail;
    }
    ac_info(NULL, "serving TLS on %s", listen);
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

int serve_tls_swap(struct serve_tls *t, autocert_manager *m, struct ac_error *e)
{
    struct serve_gen *g = gen_new(m, e), *old;

    if (g == NULL)
        return -1;
    pthread_mutex_lock(&t->mu);
    old = t->gen;
    t->gen = g;
    pthread_mutex_unlock(&t->mu);
    gen_unref(t, old);
    return 0;
}

void serve_tls_stop(struct serve_tls *t)
{
    struct timespec dl;
    char c = 'x';

    if (t == NULL)
        return;
    if (write(t->stop_pipe[1], &c, 1) != 1)
        ac_warn(NULL, "serve: cannot signal the accept thread");
    pthread_join(t->accept_thread, NULL);
    close(t->lfd);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += SERVE_RCV_TIMEOUT_S + 2;
    pthread_mutex_lock(&t->mu);
    while (t->conns > 0)
        if (pthread_cond_timedwait(&t->idle, &t->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&t->mu);
    if (t->conns > 0) {
        /* connections still running keep using the generation: leak it rather
         * than free what a session holds; the process is about to exit. */
        ac_warn(NULL, "serve: %d connection(s) still open at shutdown", t->conns);
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
