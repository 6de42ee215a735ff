/*
 * handshakes.c - full TLS 1.3 handshakes per second through the autocert
 * retrieve callback (8 sets, SNI spread over them) against the same server
 * with one static certificate (DESIGN.md §7).
 *
 *     handshakes [seconds-per-round (default 3)] [rounds (default 3)]
 *
 * ECDSA P-256 certificates are made in a temp dir with the GnuTLS x509 API.
 * The server is a forked, single-threaded accept loop (mode A: autocert, mode
 * B: gnutls_certificate_set_x509_key_file); the client is this process, one
 * connection at a time, no resumption (tickets disabled on both sides), no
 * certificate verification. Rounds alternate A B A B ...
 *
 * With AUTOCERT_BENCH_SESSION_INIT=1 in the environment, mode A also calls
 * autocert_gnutls_session_init on every session (the per-session path that
 * answers tls-alpn-01: state attached to the session, the ClientHello hook).
 */
#include <arpa/inet.h>
#include <autocert/autocert.h>
#include <autocert/autocert_gnutls.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define NSETS 8
#define PRIO "NORMAL:-VERS-ALL:+VERS-TLS1.3"

static char dir[] = "/tmp/ac-bench-XXXXXX";

static int write_datum(const char *path, const gnutls_datum_t *d)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(d->data, 1, d->size, f) == d->size;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static int make_cert(int i)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t out = {NULL, 0};
    char name[64], path[128];
    unsigned char serial[4] = {0x10, 0, 0, (unsigned char)(i + 1)};
    time_t now = time(NULL);
    int rc = -1;

    snprintf(name, sizeof(name), "s%d.bench.test", i);
    if (gnutls_x509_privkey_init(&key) < 0 ||
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
        gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 60) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
                                      (unsigned)strlen(name)) < 0 ||
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, (unsigned)strlen(name),
                                             GNUTLS_FSAN_APPEND) < 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0)
        goto out;
    snprintf(path, sizeof(path), "%s/s%d.crt", dir, i);
    if (write_datum(path, &out) != 0)
        goto out;
    gnutls_free(out.data);
    out.data = NULL;
    snprintf(path, sizeof(path), "%s/s%d.key", dir, i);
    if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out) <
            0 ||
        write_datum(path, &out) != 0)
        goto out;
    rc = 0;
out:
    gnutls_free(out.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* Server process: accept, handshake, bye, forever (killed by the parent). */
static void serve(int lfd, int use_autocert)
{
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    autocert_manager *m = NULL;
    char path[128], kpath[128], err[256];
    const char *si = getenv("AUTOCERT_BENCH_SESSION_INIT");
    int session_init = use_autocert && si != NULL && strcmp(si, "1") == 0;

    gnutls_certificate_allocate_credentials(&cred);
    gnutls_priority_init(&prio, PRIO, NULL);
    if (use_autocert) {
        snprintf(path, sizeof(path), "%s/autocert.yml", dir);
        if (autocert_manager_new(path, &m, err, sizeof(err)) != 0 ||
            autocert_manager_load(m) != NSETS || autocert_gnutls_install(m, cred) != 0) {
            fprintf(stderr, "server: autocert set-up failed: %s\n", err);
            _exit(1);
        }
    } else {
        snprintf(path, sizeof(path), "%s/s0.crt", dir);
        snprintf(kpath, sizeof(kpath), "%s/s0.key", dir);
        if (gnutls_certificate_set_x509_key_file(cred, path, kpath, GNUTLS_X509_FMT_PEM) < 0)
            _exit(1);
    }
    for (;;) {
        gnutls_session_t s;
        int fd = accept(lfd, NULL, NULL), rc;
        if (fd < 0)
            continue;
        gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_TICKETS);
        gnutls_priority_set(s, prio);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
        if (session_init && autocert_gnutls_session_init(m, s, NULL, 0, 0) != 0)
            _exit(1);
        gnutls_transport_set_int(s, fd);
        do
            rc = gnutls_handshake(s);
        while (rc < 0 && !gnutls_error_is_fatal(rc));
        if (rc == 0)
            gnutls_bye(s, GNUTLS_SHUT_WR);
        gnutls_deinit(s);
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
static double client(int port, double secs, gnutls_certificate_credentials_t cred,
                     gnutls_priority_t prio)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    long n = 0, failed = 0;
    double start = now_s(), end = start + secs, t = start;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    while (t < end) {
        gnutls_session_t s;
        char name[32];
        int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(fd);
            usleep(1000);
            t = now_s();
            continue;
        }
        snprintf(name, sizeof(name), "s%ld.bench.test", n % NSETS);
        gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_TICKETS);
        gnutls_priority_set(s, prio);
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
        gnutls_server_name_set(s, GNUTLS_NAME_DNS, name, strlen(name));
        gnutls_transport_set_int(s, fd);
        do
            rc = gnutls_handshake(s);
        while (rc < 0 && !gnutls_error_is_fatal(rc));
        if (rc == 0 && !gnutls_session_is_resumed(s))
            n++;
        else
            failed++;
        gnutls_deinit(s);
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
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    char path[128], cmd[160];
    FILE *f;

    if (secs <= 0 || rounds <= 0 || mkdtemp(dir) == NULL)
        return 2;
    gnutls_global_init();
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
    gnutls_certificate_allocate_credentials(&cred);
    gnutls_priority_init(&prio, PRIO, NULL);

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
        double hs = client(ntohs(sa.sin_port), secs, cred, prio);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        sum[mode ? 0 : 1] += hs;
        printf("round %ld %s: %.0f handshakes/s\n", r / 2 + 1, mode ? "A autocert" : "B static ",
               hs);
        fflush(stdout);
    }
    printf("A autocert (8 sets, SNI): %.0f handshakes/s\n", sum[0] / (double)rounds);
    printf("B static certificate:     %.0f handshakes/s\n", sum[1] / (double)rounds);
    printf("ratio A/B: %.3f\n", sum[0] / sum[1]);
    gnutls_priority_deinit(prio);
    gnutls_certificate_free_credentials(cred);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
