/*
 * gateway.c - a minimal HTTPS gateway embedding libautocert.
 *
 *     gateway -c autocert.yml --listen 127.0.0.1:8443
 *
 * GoDoxy's shape in one process, on the public API only: loads the
 * configuration (autocert_manager_open), serves what is on disk at once
 * (autocert_manager_load), starts the renewal engine, which obtains what is
 * missing and renews before expiry (autocert_manager_start), and answers
 * every HTTP request on every connection with "hello <sni> from <subject CN
 * of the certificate this connection got>". The certificate is chosen per
 * handshake by SNI through autocert_gnutls_install (a client without SNI on
 * an address a set's IP certificate covers gets that one), and each session
 * answers tls-alpn-01 validations through autocert_gnutls_session_init (such
 * a connection is closed right after its handshake). With an admin: section
 * in the configuration it also answers the REST admin API
 * (autocert_admin_start: certificate info, status, forced renewal) on
 * admin.listen; a failed bind is logged and TLS serving goes on. SIGHUP reloads the
 * configuration and re-reads the certificate files: the next handshake gets
 * the new certificate while connections opened before keep theirs.
 * SIGINT/SIGTERM stop the engine and the process. One thread per connection.
 *
 *     gateway -c autocert.yml --listen 127.0.0.1:8443 --http-listen 127.0.0.1:8080
 *
 * also answers plain HTTP on --http-listen with the gateway's own small HTTP
 * server, as a gateway that already listens on port 80 would: a request for
 * /.well-known/acme-challenge/<token> gets autocert_http01_answer's key
 * authorization (sets with provider: acme, challenge: http-01), everything
 * else autocert_http_redirect's 308 to https (404 for a host no set covers).
 * (A gateway without an HTTP server of its own can call autocert_http_start.)
 */
#include <autocert/autocert.h>
#include <autocert/autocert_admin.h>
#include <autocert/autocert_gnutls.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_REQUEST 8192

static autocert_manager *manager;
static gnutls_certificate_credentials_t cred;
static gnutls_priority_t prio;
static const gnutls_datum_t alpn[] = {{(unsigned char *)"http/1.1", 8}};

/* The subject CN of the certificate this session sent ("" if unknown). */
static void served_cn(gnutls_session_t s, char *cn, size_t cnlen)
{
    const gnutls_datum_t *der = gnutls_certificate_get_ours(s);
    gnutls_x509_crt_t crt = NULL;
    size_t len = cnlen;

    cn[0] = '\0';
    if (der == NULL || gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ||
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) < 0)
        cn[0] = '\0';
    gnutls_x509_crt_deinit(crt);
}

/* Reads requests (header block ending in an empty line) and answers each. */
static void serve(gnutls_session_t s)
{
    char req[MAX_REQUEST], sni[256] = "", cn[256], body[640], head[128];
    size_t used = 0, snilen = sizeof(sni);
    unsigned int type;

    if (gnutls_server_name_get(s, sni, &snilen, &type, 0) != 0)
        sni[0] = '\0';
    served_cn(s, cn, sizeof(cn));
    for (;;) {
        ssize_t n = gnutls_record_recv(s, req + used, sizeof(req) - 1 - used);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
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
        int blen =
            snprintf(body, sizeof(body), "hello %s from %s\n", sni[0] ? sni : "(no sni)", cn);
        int hlen = snprintf(head, sizeof(head),
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: %d\r\n\r\n",
                            blen);
        if (gnutls_record_send(s, head, (size_t)hlen) < 0 ||
            gnutls_record_send(s, body, (size_t)blen) < 0)
            return;
        size_t consumed = (size_t)(end - req) + skip;
        memmove(req, req + consumed, used - consumed);
        used -= consumed;
    }
}

static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    gnutls_session_t s = NULL;
    int rc;

    if (gnutls_init(&s, GNUTLS_SERVER) < 0)
        goto out;
    gnutls_priority_set(s, prio);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    /* our protocol, plus acme-tls/1 while a tls-alpn-01 challenge is pending */
    if (autocert_gnutls_session_init(manager, s, alpn, 1, 0) != 0)
        goto out;
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 10000);
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0) {
        fprintf(stderr, "gateway: handshake failed: %s\n", gnutls_strerror(rc));
        /* an alert, not a silent close (e.g. an SNI with '_' that GnuTLS
         * refuses: see autocert_gnutls.h) */
        if (gnutls_error_is_fatal(rc) != 0)
            gnutls_alert_send_appropriate(s, rc);
        goto out;
    }
    /* a CA validating tls-alpn-01 got its certificate: no application data */
    if (!autocert_gnutls_session_is_acme(s))
        serve(s);
    gnutls_bye(s, GNUTLS_SHUT_WR);
out:
    gnutls_deinit(s); /* releases the certificate this session held */
    close(fd);
    return NULL;
}

/* ---- plain HTTP: http-01 answers and the redirect to https ---- */

static void http_send(int fd, int status, const char *reason, const char *location,
                      const char *body, size_t len)
{
    char head[AUTOCERT_HTTP_HEADER_MAX + 512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                     "Cache-Control: no-store\r\n%s%s%s\r\n",
                     status, reason, len, location ? "Location: " : "", location ? location : "",
                     location ? "\r\n" : "");

    if (n > 0 && (size_t)n < sizeof(head) && write(fd, head, (size_t)n) == n && len > 0)
        (void)!write(fd, body, len);
}

/* One request per connection: the head (at most AUTOCERT_HTTP_HEADER_MAX
 * bytes, 10 s) is read, answered, and the connection closed. */
static void *http_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[AUTOCERT_HTTP_HEADER_MAX + 1], target[AUTOCERT_HTTP_HEADER_MAX];
    char location[AUTOCERT_HTTP_HEADER_MAX + 300], answer[AUTOCERT_HTTP01_ANSWER_MAX];
    char method[8], *host = NULL, *p, *end = NULL;
    size_t got = 0;
    ssize_t r;
    int n;

    while (got < sizeof(req) - 1 && end == NULL) {
        r = read(fd, req + got, sizeof(req) - 1 - got);
        if (r <= 0)
            goto out;
        got += (size_t)r;
        req[got] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    if (end == NULL) {
        http_send(fd, 431, "Request Header Fields Too Large", NULL, "", 0);
        goto out;
    }
    if (sscanf(req, "%7s %8191s", method, target) != 2) {
        http_send(fd, 400, "Bad Request", NULL, "", 0);
        goto out;
    }
    for (p = strstr(req, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, "Host:", 5) == 0) {
            if (host != NULL) { /* two Host headers */
                http_send(fd, 400, "Bad Request", NULL, "", 0);
                goto out;
            }
            host = p + 7;
            while (*host == ' ' || *host == '\t')
                host++;
        }
    for (p = host; p != NULL && *p != '\r' && *p != '\0'; p++)
        ;
    if (p != NULL)
        *p = '\0';
    if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
        strncmp(target, AUTOCERT_HTTP01_PREFIX, strlen(AUTOCERT_HTTP01_PREFIX)) == 0) {
        n = autocert_http01_answer(manager, target, answer, sizeof(answer));
        if (n < 0)
            http_send(fd, 404, "Not Found", NULL, "", 0);
        else
            http_send(fd, 200, "OK", NULL, answer, strcmp(method, "HEAD") == 0 ? 0 : (size_t)n);
        goto out;
    }
    switch (autocert_http_redirect(manager, host, target, location, sizeof(location))) {
    case 308:
        http_send(fd, 308, "Permanent Redirect", location, "", 0);
        break;
    case 404:
        http_send(fd, 404, "Not Found", NULL, "", 0);
        break;
    default:
        http_send(fd, 400, "Bad Request", NULL, "", 0);
    }
out:
    close(fd);
    return NULL;
}

static void *http_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    struct timeval tmo = {.tv_sec = 10};

    for (;;) {
        pthread_t t;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
        if (pthread_create(&t, NULL, http_connection, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
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
    fprintf(stderr, "gateway: %s\n", line);
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
                fprintf(stderr, "gateway: configuration not reloaded: %s\n", err.message);
            n = autocert_manager_reload(manager);
            fprintf(stderr, "gateway: reloaded, %d set(s) changed\n", n);
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
    autocert_error err;
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
        fprintf(stderr, "usage: gateway -c FILE --listen HOST:PORT [--http-listen HOST:PORT]\n");
        return 2;
    }
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_INFO);
    if (autocert_manager_open(config, print_diag, NULL, &manager, &err) != 0) {
        fprintf(stderr, "gateway: %s\n", err.message);
        return 2;
    }
    fprintf(stderr, "gateway: %d set(s) hold a certificate\n", autocert_manager_load(manager));
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        gnutls_priority_init(&prio, "NORMAL", NULL) < 0 ||
        autocert_gnutls_install(manager, cred) != 0)
        return 1;
    lfd = listen_on(listen_spec);
    if (lfd < 0) {
        fprintf(stderr, "gateway: cannot listen on %s: %s\n", listen_spec, strerror(errno));
        return 1;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread: all inherit it */
    signal(SIGPIPE, SIG_IGN);
    if (http_spec != NULL) {
        int hfd = listen_on(http_spec);
        pthread_t ht;

        if (hfd < 0) {
            fprintf(stderr, "gateway: cannot listen on %s: %s\n", http_spec, strerror(errno));
            return 1;
        }
        if (pthread_create(&ht, NULL, http_server, (void *)(intptr_t)hfd) != 0)
            return 1;
        pthread_detach(ht);
        fprintf(stderr, "gateway: plain HTTP (http-01, redirect) on %s\n", http_spec);
    }
    /* obtains what is missing (the handshakes pick it up once it is there),
     * then renews before expiry */
    if (autocert_manager_start(manager, &err) != 0) {
        fprintf(stderr, "gateway: %s\n", err.message);
        return 1;
    }
    if (autocert_config_has(autocert_manager_config(manager), "admin")) {
        autocert_admin *admin = NULL; /* lives as long as the process */

        if (autocert_admin_start(manager, NULL, &admin, &err) != 0)
            fprintf(stderr, "gateway: admin API not started: %s\n", err.message);
        else
            fprintf(stderr, "gateway: admin API on port %d\n", autocert_admin_port(admin));
    }
    pthread_create(&sigthread, NULL, signals, &set);
    fprintf(stderr, "gateway: listening on %s\n", listen_spec);
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
