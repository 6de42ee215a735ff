/*
 * gateway_openssl.c - the OpenSSL twin of gateway.c: a minimal HTTPS gateway
 * embedding libautocert through libautocert_openssl.
 *
 *     gateway-openssl -c autocert.yml --listen 127.0.0.1:8443 \
 *                     [--http-listen 127.0.0.1:8080]
 *
 * Same shape and answers as examples/gateway.c, on the public API and
 * OpenSSL 3 only: loads the configuration (autocert_manager_open), serves
 * what is on disk at once (autocert_manager_load), starts the renewal engine
 * (autocert_manager_start), and answers every HTTP request on every
 * connection with "hello <sni> from <subject CN of the certificate this
 * connection got>". The certificate is chosen per handshake by SNI through
 * autocert_openssl_install on the one SSL_CTX, which also takes this
 * program's ALPN select callback (http/1.1 when the client offers it). A
 * connection of a CA validating tls-alpn-01 (autocert_openssl_is_acme) is
 * closed after the handshake: it carries no application data. A client
 * without SNI gets the IP certificate of the address it connected to, if a
 * set has one. --http-listen starts the library's plain-HTTP responder
 * there (autocert_http_start: http-01 answers and the redirect to HTTPS). With
 * an admin: section in the configuration it also answers the REST admin API
 * (autocert_admin_start) on admin.listen; a failed bind is logged and TLS
 * serving goes on. SIGHUP reloads the configuration and re-reads the
 * certificate files; SIGINT/SIGTERM stop the engine and the process. One
 * thread per connection.
 */
#include <autocert/autocert.h>
#include <autocert/autocert_admin.h>
#include <autocert/autocert_openssl.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_REQUEST 8192

static autocert_manager *manager;
static SSL_CTX *ctx;

/* The host's own ALPN choice: http/1.1 when offered, else none. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel = NULL;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The subject CN of the certificate this connection sent ("" if unknown). */
static void served_cn(SSL *ssl, char *cn, size_t cnlen)
{
    X509 *x = SSL_get_certificate(ssl); /* borrowed */

    cn[0] = '\0';
    if (x == NULL ||
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cnlen) < 0)
        cn[0] = '\0';
}

/* Reads requests (header block ending in an empty line) and answers each. */
static void serve(SSL *ssl)
{
    char req[MAX_REQUEST], cn[256], body[640], head[128];
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t used = 0;

    served_cn(ssl, cn, sizeof(cn));
    for (;;) {
        int n = SSL_read(ssl, req + used, (int)(sizeof(req) - 1 - used));
        if (n <= 0)
            return;
        used += (size_t)n;
        req[used] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        size_t skip = 4;
        if (end == NULL) {
            end = strstr(req, "\n\n");
            skip = 2;
        }
        if (end == NULL) {
            if (used == sizeof(req) - 1)
                return; /* request too large */
            continue;
        }
        int blen = snprintf(body, sizeof(body), "hello %.255s from %s\n",
                            sni != NULL && sni[0] ? sni : "(no sni)", cn);
        int hlen = snprintf(head, sizeof(head),
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: %d\r\n\r\n",
                            blen);
        if (SSL_write(ssl, head, hlen) <= 0 || SSL_write(ssl, body, blen) <= 0)
            return;
        size_t consumed = (size_t)(end - req) + skip;
        memmove(req, req + consumed, used - consumed);
        used -= consumed;
    }
}

static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
        goto out;
    if (SSL_accept(ssl) != 1) {
        unsigned long e = ERR_get_error();
        char msg[256];

        ERR_error_string_n(e, msg, sizeof(msg));
        fprintf(stderr, "gateway-openssl: handshake failed: %s\n", e ? msg : "connection closed");
        goto out;
    }
    if (autocert_openssl_is_acme(ssl)) { /* a CA's tls-alpn-01 validation */
        SSL_shutdown(ssl);
        goto out;
    }
    serve(ssl);
    SSL_shutdown(ssl);
out:
    SSL_free(ssl); /* releases the certificate this connection held */
    ERR_clear_error();
    close(fd);
    return NULL;
}

static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai;
    int fd = -1, one = 1;
    size_t hl;

    if (colon == NULL || (hl = (size_t)(colon - spec)) >= sizeof(host))
        return -1;
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']')
        snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), spec + 1);
    else
        snprintf(host, sizeof(host), "%.*s", (int)hl, spec);
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
                    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void print_diag(void *arg, const autocert_diag *d)
{
    char line[1024];

    (void)arg;
    autocert_diag_format(d, line, sizeof(line));
    fprintf(stderr, "gateway-openssl: %s\n", line);
}

/* Signals are handled synchronously by this thread (blocked everywhere else). */
static void *signals(void *arg)
{
    sigset_t *set = arg;
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            autocert_error err;
            int n;

            if (autocert_manager_reload_config(manager, NULL, print_diag, NULL, &err) != 0)
                fprintf(stderr, "gateway-openssl: configuration not reloaded: %s\n", err.message);
            n = autocert_manager_reload(manager);
            fprintf(stderr, "gateway-openssl: reloaded, %d set(s) changed\n", n);
        } else {
            autocert_manager_stop(manager); /* cancels a running order */
            _exit(0);                       /* live connections just end with the process */
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *listen_spec = NULL, *http_spec = NULL;
    autocert_http *http = NULL; /* lives as long as the process */
    autocert_error err = {.kind = ""};
    sigset_t set;
    pthread_t sigthread;
    struct timeval tmo = {.tv_sec = 60};
    int lfd;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-c") == 0)
            config = argv[i + 1];
        else if (strcmp(argv[i], "--listen") == 0)
            listen_spec = argv[i + 1];
        else if (strcmp(argv[i], "--http-listen") == 0)
            http_spec = argv[i + 1];
    }
    if (config == NULL || listen_spec == NULL) {
        fprintf(stderr,
                "usage: gateway-openssl -c FILE --listen HOST:PORT [--http-listen HOST:PORT]\n");
        return 2;
    }
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_INFO);
    if (autocert_manager_open(config, print_diag, NULL, &manager, &err) != 0) {
        fprintf(stderr, "gateway-openssl: %s\n", err.message);
        return 2;
    }
    fprintf(stderr, "gateway-openssl: %d set(s) hold a certificate\n",
            autocert_manager_load(manager));
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        autocert_openssl_install(manager, ctx, select_alpn, NULL, &err) != 0) {
        fprintf(stderr, "gateway-openssl: cannot set up OpenSSL: %s\n", err.message);
        return 1;
    }
    lfd = listen_on(listen_spec);
    if (lfd < 0) {
        fprintf(stderr, "gateway-openssl: cannot listen on %s: %s\n", listen_spec, strerror(errno));
        return 1;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread: all inherit it */
    signal(SIGPIPE, SIG_IGN);
    if (http_spec != NULL) {
        if (autocert_http_start(manager, http_spec, &http, &err) != 0) {
            fprintf(stderr, "gateway-openssl: %s\n", err.message);
            return 1;
        }
        fprintf(stderr, "gateway-openssl: plain HTTP (http-01, redirect) on port %d\n",
                autocert_http_port(http));
    }
    if (autocert_manager_start(manager, &err) != 0) {
        fprintf(stderr, "gateway-openssl: %s\n", err.message);
        return 1;
    }
    if (autocert_config_has(autocert_manager_config(manager), "admin")) {
        autocert_admin *admin = NULL; /* lives as long as the process */

        if (autocert_admin_start(manager, NULL, &admin, &err) != 0)
            fprintf(stderr, "gateway-openssl: admin API not started: %s\n", err.message);
        else
            fprintf(stderr, "gateway-openssl: admin API on port %d\n", autocert_admin_port(admin));
    }
    pthread_create(&sigthread, NULL, signals, &set);
    fprintf(stderr, "gateway-openssl: listening on %s\n", listen_spec);
    for (;;) {
        pthread_t t;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
        if (pthread_create(&t, NULL, connection, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
}
