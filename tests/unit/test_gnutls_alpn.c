/* test_gnutls_alpn.c - the GnuTLS adapter's per-session part against real
 * gnutls-cli handshakes on loopback: tls-alpn-01 (RFC 8737) answered from the
 * manager's challenge table (DNS and IP identifiers, the reverse name as SNI),
 * acme-tls/1 never selected and no challenge certificate ever served without
 * a pending challenge, hosts that skip autocert_gnutls_session_init
 * unaffected; and handshakes without SNI served a set's IP certificate (RFC
 * 8738) by the local address (from the socket, or set by the host), main's
 * otherwise. Challenges are added straight into the table (no CA needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the four headers above first */
#include <cmocka.h>

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "autocert/autocert_gnutls.h"
#include "challenge.h"
#include "crypto.h"
#include "manager.h"
#include "timeutil.h"

#define KEYAUTH                                                                                    \
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define ACME_OID "1.3.6.1.5.5.7.1.31"

static char dir[] = "/tmp/ac-alpn-XXXXXX";
static autocert_manager *mgr;
static gnutls_certificate_credentials_t cred;
static gnutls_priority_t prio;

/* ---- certificates and the manager ----------------------------------------- */

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A self-signed pair for names (DNS names or IP literals) as dir/base.{crt,key}. */
static void make_pair(const char *base, const char *const *names, size_t n)
{
    struct crypto_key *k = NULL;
    struct ac_error e;
    char *pem = NULL, *kpem = NULL, path[256];
    size_t len = 0, klen = 0;
    int64_t now = ac_now();

    assert_int_equal(crypto_key_generate(CRYPTO_KEY_EC256, &k, &e), 0);
    assert_int_equal(
        crypto_selfsigned_create(k, names, n, now - 3600, now + 30 * 86400, NULL, &pem, &len, &e),
        0);
    assert_int_equal(crypto_key_export_pkcs8_pem(k, &kpem, &klen, &e), 0);
    snprintf(path, sizeof path, "%s/%s.crt", dir, base);
    write_file(path, pem, len);
    snprintf(path, sizeof path, "%s/%s.key", dir, base);
    write_file(path, kpem, klen);
    free(pem);
    gnutls_free(kpem);
    crypto_key_free(k);
}

static int setup(void **state)
{
    const char *main_names[] = {"main.example.test"};
    const char *ip_names[] = {"127.0.0.1"};
    char cfg[256];
    FILE *f;
    autocert_error err;
    struct ac_error e;

    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    make_pair("main", main_names, 1);
    make_pair("ip", ip_names, 1);
    snprintf(cfg, sizeof cfg, "%s/autocert.yml", dir);
    f = fopen(cfg, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n    - cert_path: %s/ip.crt\n      key_path: %s/ip.key\n",
            dir, dir, dir, dir);
    fclose(f);
    if (autocert_manager_open(cfg, NULL, NULL, &mgr, &err) != 0 || autocert_manager_load(mgr) != 2)
        return -1;
    if (challenge_alpn_add(manager_challenges(mgr), "alpn.example.test", KEYAUTH, &e) != 0 ||
        challenge_alpn_add(manager_challenges(mgr), "127.0.0.1", KEYAUTH, &e) != 0)
        return -1;
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        gnutls_priority_init(&prio, "NORMAL", NULL) < 0 || autocert_gnutls_install(mgr, cred) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    autocert_gnutls_uninstall(cred);
    gnutls_certificate_free_credentials(cred);
    gnutls_priority_deinit(prio);
    autocert_manager_free(mgr);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- one server connection -------------------------------------------------- */

enum local_how { LOCAL_AUTO = 0, LOCAL_V4, LOCAL_NONE };

struct server {
    int lfd;
    bool session_init; /* the host calls autocert_gnutls_session_init */
    unsigned alpn_flags;
    enum local_how local;
    /* results */
    int rc;
    bool is_acme;
    char alpn[32];
};

static int listen_on(int family, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    assert_true(fd >= 0);
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
    assert_int_equal(listen(fd, 4), 0);
    sl = sizeof ss;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void *serve_one(void *arg)
{
    struct server *sv = arg;
    struct timeval tmo = {.tv_sec = 10};
    gnutls_datum_t alpn[] = {{(unsigned char *)"h2", 2}, {(unsigned char *)"http/1.1", 8}};
    gnutls_datum_t sel;
    gnutls_session_t s = NULL;
    int fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC);

    sv->rc = -1;
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
    gnutls_init(&s, GNUTLS_SERVER);
    gnutls_priority_set(s, prio);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    if (sv->session_init) {
        if (autocert_gnutls_session_init(mgr, s, alpn, 2, sv->alpn_flags) != 0)
            goto out;
        if (sv->local == LOCAL_V4) {
            struct sockaddr_in a = {.sin_family = AF_INET};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (autocert_gnutls_session_set_local_addr(s, (struct sockaddr *)&a, sizeof a) != 0)
                goto out;
        } else if (sv->local == LOCAL_NONE) {
            if (autocert_gnutls_session_set_local_addr(s, NULL, 0) != 0)
                goto out;
        }
    }
    gnutls_transport_set_int(s, fd);
    do
        sv->rc = gnutls_handshake(s);
    while (sv->rc < 0 && gnutls_error_is_fatal(sv->rc) == 0);
    if (sv->rc < 0) {
        gnutls_alert_send_appropriate(s, sv->rc);
        goto out;
    }
    sv->is_acme = autocert_gnutls_session_is_acme(s);
    if (gnutls_alpn_get_selected_protocol(s, &sel) == 0 && sel.size < sizeof sv->alpn) {
        memcpy(sv->alpn, sel.data, sel.size);
        sv->alpn[sel.size] = '\0';
    }
    gnutls_bye(s, GNUTLS_SHUT_WR);
out:
    gnutls_deinit(s);
    close(fd);
    return NULL;
}

/* Runs gnutls-cli with opts against host:port while sv answers; returns the
 * certificate received (NULL when the handshake failed). */
static gnutls_x509_crt_t handshake(struct server *sv, const char *host, int port, const char *opts)
{
    char cmd[512], *out = NULL;
    size_t used = 0, cap = 0;
    pthread_t th;
    FILE *p;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d;
    char *b, *e;

    sv->rc = -1;
    sv->is_acme = false;
    sv->alpn[0] = '\0';
    assert_int_equal(pthread_create(&th, NULL, serve_one, sv), 0);
    snprintf(cmd, sizeof cmd,
             "gnutls-cli --no-ca-verification --print-cert -p %d %s %s </dev/null 2>/dev/null",
             port, opts, host);
    p = popen(cmd, "r");
    assert_non_null(p);
    for (;;) {
        if (cap - used < 4096) {
            cap = cap * 2 + 8192;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        size_t n = fread(out + used, 1, cap - used - 1, p);
        if (n == 0)
            break;
        used += n;
    }
    out[used] = '\0';
    pclose(p);
    pthread_join(th, NULL);
    b = strstr(out, "-----BEGIN CERTIFICATE-----");
    e = b != NULL ? strstr(b, "-----END CERTIFICATE-----") : NULL;
    if (e != NULL) {
        d.data = (unsigned char *)b;
        d.size = (unsigned)(e - b + strlen("-----END CERTIFICATE-----"));
        assert_int_equal(gnutls_x509_crt_init(&crt), 0);
        assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    }
    free(out);
    return crt;
}

static void cn_of(gnutls_x509_crt_t crt, char *cn, size_t n)
{
    size_t len = n;

    cn[0] = '\0';
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) < 0)
        cn[0] = '\0';
}

static bool has_acme_ext(gnutls_x509_crt_t crt)
{
    unsigned char buf[64];
    size_t len = sizeof buf;
    unsigned int critical = 0;

    return gnutls_x509_crt_get_extension_by_oid(crt, ACME_OID, 0, buf, &len, &critical) == 0;
}

/* crt is the RFC 8737 certificate for ident: one SAN (DNS name or IP address)
 * and the critical acmeIdentifier extension = DER OCTET STRING of
 * SHA-256(key authorization). */
static void check_challenge_cert(gnutls_x509_crt_t crt, const char *ident, bool ip)
{
    unsigned char want[34] = {0x04, 0x20}, ext[64], san[256], addr[16];
    size_t len = sizeof ext, slen = sizeof san;
    unsigned int critical = 0;
    int type;

    assert_non_null(crt);
    crypto_sha256(KEYAUTH, strlen(KEYAUTH), want + 2);
    assert_int_equal(gnutls_x509_crt_get_extension_by_oid(crt, ACME_OID, 0, ext, &len, &critical),
                     0);
    assert_int_equal(critical, 1);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(ext, want, sizeof want);
    type = gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &slen, NULL);
    if (ip) {
        assert_int_equal(type, GNUTLS_SAN_IPADDRESS);
        assert_int_equal(inet_pton(AF_INET, ident, addr), 1);
        assert_int_equal(slen, 4);
        assert_memory_equal(san, addr, 4);
    } else {
        assert_int_equal(type, GNUTLS_SAN_DNSNAME);
        assert_int_equal(slen, strlen(ident));
        assert_memory_equal(san, ident, slen);
    }
    slen = sizeof san;
    assert_int_equal(gnutls_x509_crt_get_subject_alt_name(crt, 1, san, &slen, NULL),
                     GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
}

/* crt is a set's certificate with subject CN cn (never a challenge one). */
static void check_set_cert(gnutls_x509_crt_t crt, const char *cn)
{
    char got[256];

    assert_non_null(crt);
    cn_of(crt, got, sizeof got);
    assert_string_equal(got, cn);
    assert_false(has_acme_ext(crt));
}

/* ---- tests ------------------------------------------------------------------ */

static void test_alpn_dns_and_ip(void **state)
{
    struct server sv = {.session_init = true};
    gnutls_x509_crt_t crt;
    int port;

    (void)state;
    sv.lfd = listen_on(AF_INET, &port);

    /* a CA's validation of a DNS identifier */
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --sni-hostname alpn.example.test");
    check_challenge_cert(crt, "alpn.example.test", false);
    assert_int_equal(sv.rc, 0);
    assert_true(sv.is_acme);
    assert_string_equal(sv.alpn, "acme-tls/1");
    gnutls_x509_crt_deinit(crt);

    /* ... in another case */
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --sni-hostname ALPN.Example.Test.");
    check_challenge_cert(crt, "alpn.example.test", false);
    assert_true(sv.is_acme);
    gnutls_x509_crt_deinit(crt);

    /* an IP identifier: the reverse name as SNI */
    crt = handshake(&sv, "127.0.0.1", port,
                    "--alpn acme-tls/1 --sni-hostname 1.0.0.127.in-addr.arpa");
    check_challenge_cert(crt, "127.0.0.1", true);
    assert_true(sv.is_acme);
    gnutls_x509_crt_deinit(crt);
    close(sv.lfd);
}

static void test_alpn_never_without_challenge(void **state)
{
    struct server sv = {.session_init = true};
    gnutls_x509_crt_t crt;
    int port;

    (void)state;
    sv.lfd = listen_on(AF_INET, &port);

    /* acme-tls/1 for a name without a pending challenge: a normal handshake */
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --sni-hostname other.example.test");
    check_set_cert(crt, "main.example.test");
    assert_int_equal(sv.rc, 0);
    assert_false(sv.is_acme);
    assert_string_equal(sv.alpn, "");
    gnutls_x509_crt_deinit(crt);

    /* the reverse name of an address without a challenge */
    crt = handshake(&sv, "127.0.0.1", port,
                    "--alpn acme-tls/1 --sni-hostname 2.0.0.127.in-addr.arpa");
    check_set_cert(crt, "main.example.test");
    assert_false(sv.is_acme);
    gnutls_x509_crt_deinit(crt);

    /* a pending name, but the client does not offer acme-tls/1 */
    crt = handshake(&sv, "127.0.0.1", port, "--alpn h2 --sni-hostname alpn.example.test");
    check_set_cert(crt, "main.example.test");
    assert_false(sv.is_acme);
    assert_string_equal(sv.alpn, "h2");
    gnutls_x509_crt_deinit(crt);

    crt = handshake(&sv, "127.0.0.1", port, "--sni-hostname alpn.example.test");
    check_set_cert(crt, "main.example.test");
    assert_false(sv.is_acme);
    gnutls_x509_crt_deinit(crt);

    /* acme-tls/1 without SNI */
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --disable-sni");
    check_set_cert(crt, "127.0.0.1");
    assert_false(sv.is_acme);
    gnutls_x509_crt_deinit(crt);

    /* a host that requires ALPN: a clean refusal */
    sv.alpn_flags = GNUTLS_ALPN_MANDATORY;
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --sni-hostname other.example.test");
    assert_null(crt);
    assert_int_equal(sv.rc, GNUTLS_E_NO_APPLICATION_PROTOCOL);
    sv.alpn_flags = 0;

    /* a host that skips autocert_gnutls_session_init answers as before */
    sv.session_init = false;
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --sni-hostname alpn.example.test");
    check_set_cert(crt, "main.example.test");
    assert_false(sv.is_acme);
    gnutls_x509_crt_deinit(crt);
    sv.session_init = true;

    /* once the challenge is removed, acme-tls/1 is not selected any more */
    challenge_alpn_remove(manager_challenges(mgr), "alpn.example.test");
    crt = handshake(&sv, "127.0.0.1", port, "--alpn acme-tls/1 --sni-hostname alpn.example.test");
    check_set_cert(crt, "main.example.test");
    assert_false(sv.is_acme);
    gnutls_x509_crt_deinit(crt);
    struct ac_error e;
    assert_int_equal(challenge_alpn_add(manager_challenges(mgr), "alpn.example.test", KEYAUTH, &e),
                     0);
    close(sv.lfd);
}

static void test_session_init_arguments(void **state)
{
    gnutls_session_t s;
    gnutls_datum_t bad[] = {{(unsigned char *)"h2", 2}, {(unsigned char *)"acme-tls/1", 10}};
    gnutls_datum_t many[8];
    struct sockaddr_un_like {
        sa_family_t family;
        char path[32];
    } other = {AF_UNIX, "x"};

    (void)state;
    for (size_t i = 0; i < 8; i++) {
        many[i].data = (unsigned char *)"p";
        many[i].size = 1;
    }
    assert_int_equal(gnutls_init(&s, GNUTLS_SERVER), 0);
    assert_false(autocert_gnutls_session_is_acme(s));
    assert_int_equal(autocert_gnutls_session_set_local_addr(s, NULL, 0), -1); /* no init */
    assert_int_equal(autocert_gnutls_session_init(mgr, s, bad, 2, 0), -1);
    assert_int_equal(autocert_gnutls_session_init(mgr, s, many, 8, 0), -1);
    assert_int_equal(autocert_gnutls_session_init(NULL, s, NULL, 0, 0), -1);
    assert_int_equal(autocert_gnutls_session_init(mgr, s, many, 7, 0), 0);
    assert_int_equal(autocert_gnutls_session_init(mgr, s, bad, 1, 0), 0); /* again: replaces */
    assert_int_equal(
        autocert_gnutls_session_set_local_addr(s, (const struct sockaddr *)&other, sizeof other),
        -1);
    gnutls_deinit(s);
}

static void test_ip_without_sni(void **state)
{
    struct server sv = {.session_init = false};
    gnutls_x509_crt_t crt;
    int p4, p6, l4, l6;

    (void)state;
    l4 = listen_on(AF_INET, &p4);
    l6 = listen_on(AF_INET6, &p6);
    for (int init = 0; init < 2; init++) {
        sv.session_init = init != 0;
        sv.local = LOCAL_AUTO;
        /* no SNI on 127.0.0.1: the set whose certificate has that IP SAN */
        sv.lfd = l4;
        crt = handshake(&sv, "127.0.0.1", p4, "--disable-sni");
        check_set_cert(crt, "127.0.0.1");
        gnutls_x509_crt_deinit(crt);
        /* with SNI the IP does not matter */
        crt = handshake(&sv, "127.0.0.1", p4, "--sni-hostname www.other.test");
        check_set_cert(crt, "main.example.test");
        gnutls_x509_crt_deinit(crt);
        /* no SNI on ::1: main */
        sv.lfd = l6;
        crt = handshake(&sv, "::1", p6, "--disable-sni");
        check_set_cert(crt, "main.example.test");
        gnutls_x509_crt_deinit(crt);
    }
    /* an address set by the host wins over the socket's */
    sv.session_init = true;
    sv.local = LOCAL_V4;
    sv.lfd = l6;
    crt = handshake(&sv, "::1", p6, "--disable-sni");
    check_set_cert(crt, "127.0.0.1");
    gnutls_x509_crt_deinit(crt);
    sv.local = LOCAL_NONE;
    sv.lfd = l4;
    crt = handshake(&sv, "127.0.0.1", p4, "--disable-sni");
    check_set_cert(crt, "main.example.test");
    gnutls_x509_crt_deinit(crt);
    close(l4);
    close(l6);
}

static void test_lookup_addr(void **state)
{
    const unsigned char v4[4] = {127, 0, 0, 1}, other4[4] = {127, 0, 0, 2};
    const unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    unsigned char v6[16];
    autocert_cert *c;

    (void)state;
    assert_int_equal(inet_pton(AF_INET6, "::1", v6), 1);
#define EXPECT(call, set)                                                                          \
    do {                                                                                           \
        c = (call);                                                                                \
        assert_non_null(c);                                                                        \
        assert_string_equal(autocert_cert_set_name(c), set);                                       \
        autocert_cert_release(c);                                                                  \
    } while (0)
    EXPECT(autocert_manager_lookup_addr(mgr, NULL, 0, v4, 4), "extra[1]");
    EXPECT(autocert_manager_lookup_addr(mgr, NULL, 0, mapped, 16), "extra[1]");
    EXPECT(autocert_manager_lookup_addr(mgr, "", 0, other4, 4), "main");
    EXPECT(autocert_manager_lookup_addr(mgr, NULL, 0, v6, 16), "main");
    EXPECT(autocert_manager_lookup_addr(mgr, NULL, 0, v4, 3), "main"); /* bad length */
    EXPECT(autocert_manager_lookup_addr(mgr, NULL, 0, NULL, 0), "main");
    /* a name that counts as no SNI, then real names */
    EXPECT(autocert_manager_lookup_addr(mgr, "a..b", 4, v4, 4), "extra[1]");
    EXPECT(autocert_manager_lookup_addr(mgr, "unknown.test", 12, v4, 4), "main");
    EXPECT(autocert_manager_lookup_addr(mgr, "main.example.test", 17, v4, 4), "main");
#undef EXPECT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpn_dns_and_ip),
        cmocka_unit_test(test_alpn_never_without_challenge),
        cmocka_unit_test(test_session_init_arguments),
        cmocka_unit_test(test_ip_without_sni),
        cmocka_unit_test(test_lookup_addr),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
