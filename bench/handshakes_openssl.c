/*
 * handshakes_openssl.c - full TLS 1.3 handshakes per second through the
 * OpenSSL adapter (libautocert_openssl: 8 sets, SNI spread over them)
 * against the same OpenSSL server with one static certificate on its SSL_CTX
 * (the OpenSSL twin of bench/handshakes.c).
 *
 *     handshakes_openssl [seconds-per-round (default 3)] [rounds (default 3)]
 *
 * ECDSA P-256 certificates are made in a temp dir with OpenSSL. The server is
 * a forked, single-threaded accept loop (mode A: autocert_openssl_install,
 * mode B: SSL_CTX_use_certificate_file / _PrivateKey_file); the client is
 * this process (OpenSSL), one connection at a time, no resumption (no
 * tickets, no session cache on either side), no certificate verification.
 * Rounds alternate A B A B ...
 */
#include <arpa/inet.h>
#include <autocert/autocert.h>
#include <autocert/autocert_openssl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSETS 8

static char dir[] = "/tmp/ac-bench-ossl-XXXXXX";

static int make_cert(int i)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_EXTENSION *ext = NULL;
    char name[64], san[80], path[128];
    FILE *f = NULL;
    int rc = -1;

    snprintf(name, sizeof(name), "s%d.bench.test", i);
    snprintf(san, sizeof(san), "DNS:%s", name);
    if (key == NULL || x == NULL || X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1000 + i) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL || X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
                                   (const unsigned char *)name, -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
        goto out;
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1 || X509_sign(x, key, EVP_sha256()) <= 0)
        goto out;
    snprintf(path, sizeof(path), "%s/s%d.crt", dir, i);
    f = fopen(path, "w");
    if (f == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
        goto out;
    snprintf(path, sizeof(path), "%s/s%d.key", dir, i);
    f = fopen(path, "w");
    if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0)
        goto out;
    f = NULL;
    rc = 0;
out:
    X509_EXTENSION_free(ext);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static SSL_CTX *tls13_ctx(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* Server process: accept, handshake, shutdown, forever (killed by the parent). */
static void serve(int lfd, int use_autocert)
{
    SSL_CTX *ctx = tls13_ctx(TLS_server_method());
    autocert_manager *m = NULL;
    char path[128], kpath[128], err[256] = "";

    if (ctx == NULL)
        _exit(1);
    if (use_autocert) {
        snprintf(path, sizeof(path), "%s/autocert.yml", dir);
        if (autocert_manager_new(path, &m, err, sizeof(err)) != 0 ||
            autocert_manager_load(m) != NSETS ||
            autocert_openssl_install(m, ctx, NULL, NULL, NULL) != 0) {
            fprintf(stderr, "server: autocert set-up failed: %s\n", err);
            _exit(1);
        }
    } else {
        snprintf(path, sizeof(path), "%s/s0.crt", dir);
        snprintf(kpath, sizeof(kpath), "%s/s0.key", dir);
        if (SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, kpath, SSL_FILETYPE_PEM) != 1)
            _exit(1);
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        SSL *s;
        if (fd < 0)
            continue;
        s = SSL_new(ctx);
        SSL_set_fd(s, fd);
        if (SSL_accept(s) == 1)
            SSL_shutdown(s);
        SSL_free(s);
        ERR_clear_error();
        close(fd);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs full handshakes against port for `secs`; returns handshakes/s. */
static double client(int port, double secs, SSL_CTX *ctx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    long n = 0, failed = 0;
    double start = now_s(), end = start + secs, t = start;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    while (t < end) {
        char name[32];
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        SSL *s;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(fd);
            usleep(1000);
            t = now_s();
            continue;
        }
        snprintf(name, sizeof(name), "s%ld.bench.test", n % NSETS);
        s = SSL_new(ctx);
        SSL_set_fd(s, fd);
        SSL_set_tlsext_host_name(s, name);
        if (SSL_connect(s) == 1 && !SSL_session_reused(s))
            n++;
        else
            failed++;
        SSL_shutdown(s);
        SSL_free(s);
        ERR_clear_error();
        close(fd);
        t = now_s();
    }
    if (failed > 0)
        fprintf(stderr, "client: %ld handshakes failed\n", failed);
    return (double)n / (t - start);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 3.0;
    long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 3;
    double sum[2] = {0, 0};
    SSL_CTX *cctx;
    char path[128], cmd[160];
    FILE *f;

    if (secs <= 0 || rounds <= 0 || mkdtemp(dir) == NULL)
        return 2;
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_WARN);
    for (int i = 0; i < NSETS; i++)
        if (make_cert(i) != 0)
            return 1;
    snprintf(path, sizeof(path), "%s/autocert.yml", dir);
    f = fopen(path, "w");
    if (f == NULL)
        return 1;
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s/s0.crt\n  key_path: %s/s0.key\n"
            "  extra:\n",
            dir, dir);
    for (int i = 1; i < NSETS; i++)
        fprintf(f, "    - cert_path: %s/s%d.crt\n      key_path: %s/s%d.key\n", dir, i, dir, i);
    fclose(f);
    cctx = tls13_ctx(TLS_client_method());
    if (cctx == NULL)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    for (long r = 0; r < 2 * rounds; r++) {
        int mode = r % 2 == 0; /* A (autocert) first, then B (static) */
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t sl = sizeof(sa);
        int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 512) != 0 ||
            getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
            return 1;
        pid_t pid = fork();
        if (pid == 0)
            serve(lfd, mode);
        close(lfd);
        double hs = client(ntohs(sa.sin_port), secs, cctx);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        sum[mode ? 0 : 1] += hs;
        printf("round %ld %s: %.0f handshakes/s\n", r / 2 + 1, mode ? "A autocert" : "B static ",
               hs);
        fflush(stdout);
    }
    printf("A autocert_openssl (8 sets, SNI): %.0f handshakes/s\n", sum[0] / (double)rounds);
    printf("B static SSL_CTX certificate:     %.0f handshakes/s\n", sum[1] / (double)rounds);
    printf("ratio A/B: %.3f\n", sum[0] / sum[1]);
    SSL_CTX_free(cctx);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
