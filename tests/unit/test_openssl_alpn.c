/* test_openssl_alpn.c - the OpenSSL adapter's tls-alpn-01 (RFC 8737) and
 * IP-without-SNI (RFC 8738) paths, the twin of test_gnutls_alpn.c: a
 * ClientHello offering acme-tls/1 for a name (or an IP identifier's reverse
 * name) with a pending challenge gets the challenge certificate and
 * negotiates acme-tls/1 without reaching the host's ALPN callback; no other
 * handshake ever gets either (no challenge pending, acme-tls/1 not offered,
 * no SNI, the challenge removed), and the host's callback never sees
 * acme-tls/1 in the list (its choice from the filtered list reaches the
 * client). Handshakes without SNI over real loopback sockets get the set's IP
 * certificate by the socket's local address (getsockname), or by the address
 * the host set (autocert_openssl_set_local_addr), main's otherwise.
 * Challenges are added straight into the manager's table (no CA needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the four headers above first */
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "autocert/autocert_openssl.h"
#include "challenge.h"
#include "crypto.h"
#include "manager.h"
#include "test_openssl_util.h"

#define KEYAUTH                                                                                    \
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define ACME_OID "1.3.6.1.5.5.7.1.31"

static char dir[] = "/tmp/ac-oalpn-XXXXXX";
static autocert_manager *mgr;
static SSL_CTX *sctx, *cctx;

/* The host's ALPN callback: counts calls, remembers whether it ever saw
 * acme-tls/1, and picks the client's first protocol (a pointer into `in`,
 * which the adapter must map back to the client's list). */
static int host_calls;
static bool host_saw_acme;
static int host_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    host_calls++;
    for (unsigned int off = 0; off < inlen; off += 1u + in[off])
        if (in[off] == 10 && off + 11 <= inlen && memcmp(in + off + 1, "acme-tls/1", 10) == 0)
            host_saw_acme = true;
    if (inlen == 0 || in[0] == 0 || 1u + in[0] > inlen)
        return SSL_TLSEXT_ERR_NOACK;
    *out = in + 1;
    *outlen = in[0];
    return SSL_TLSEXT_ERR_OK;
}

static int setup(void **state)
{
    const char *ip_names[] = {"127.0.0.1"};
    char cfg[256], crt[256], key[256];
    FILE *f;
    autocert_error err;
    struct ac_error e;
    struct crypto_key *k = NULL;
    char *pem = NULL, *kpem = NULL;
    size_t len = 0, klen = 0;
    int64_t now = time(NULL);

    (void)state;
    if (mkdtemp(dir) == NULL || tos_make(dir, "main", "main.example.test", "main.example.test"))
        return -1;
    /* the IP set: a certificate whose only SAN is the address 127.0.0.1 */
    if (crypto_key_generate(CRYPTO_KEY_EC256, &k, &e) != 0 ||
        crypto_selfsigned_create(k, ip_names, 1, now - 3600, now + 30 * 86400, NULL, &pem, &len,
                                 &e) != 0 ||
        crypto_key_export_pkcs8_pem(k, &kpem, &klen, &e) != 0)
        return -1;
    snprintf(crt, sizeof crt, "%s/ip.crt", dir);
    snprintf(key, sizeof key, "%s/ip.key", dir);
    {
        gnutls_datum_t dc = {(unsigned char *)pem, (unsigned)len};
        gnutls_datum_t dk = {(unsigned char *)kpem, (unsigned)klen};
        if (tmc_write(crt, &dc) != 0 || tmc_write(key, &dk) != 0)
            return -1;
    }
    free(pem);
    gnutls_free(kpem);
    crypto_key_free(k);
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
    sctx = SSL_CTX_new(TLS_server_method());
    cctx = tos_client_ctx();
    if (sctx == NULL || cctx == NULL ||
        autocert_openssl_install(mgr, sctx, host_alpn, NULL, NULL) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    autocert_openssl_uninstall(sctx);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    autocert_manager_free(mgr);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- checks on the certificate the client got -------------------------------- */

static X509 *peer(const struct tos_conn *c)
{
    X509 *x = SSL_get1_peer_certificate(c->client);

    assert_non_null(x);
    return x;
}

static bool has_acme_ext(X509 *x)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(ACME_OID, 1);
    int i = X509_get_ext_by_OBJ(x, oid, -1);

    ASN1_OBJECT_free(oid);
    return i >= 0;
}

/* The RFC 8737 certificate for ident: the critical acmeIdentifier extension
 * = DER OCTET STRING of SHA-256(key authorization), one SAN. */
static void check_challenge_cert(const struct tos_conn *c, const char *ident, bool ip)
{
    X509 *x = peer(c);
    unsigned char want[34] = {0x04, 0x20}, addr[4];
    ASN1_OBJECT *oid = OBJ_txt2obj(ACME_OID, 1);
    int i = X509_get_ext_by_OBJ(x, oid, -1);
    X509_EXTENSION *ext;
    const ASN1_OCTET_STRING *v;
    GENERAL_NAMES *sans;
    const GENERAL_NAME *g;

    ASN1_OBJECT_free(oid);
    assert_true(i >= 0);
    ext = X509_get_ext(x, i);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
    v = X509_EXTENSION_get_data(ext);
    crypto_sha256(KEYAUTH, strlen(KEYAUTH), want + 2);
    assert_int_equal(ASN1_STRING_length(v), sizeof want);
    assert_memory_equal(ASN1_STRING_get0_data(v), want, sizeof want);
    sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(sans);
    assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
    g = sk_GENERAL_NAME_value(sans, 0);
    if (ip) {
        assert_int_equal(g->type, GEN_IPADD);
        assert_int_equal(inet_pton(AF_INET, ident, addr), 1);
        assert_int_equal(ASN1_STRING_length(g->d.iPAddress), 4);
        assert_memory_equal(ASN1_STRING_get0_data(g->d.iPAddress), addr, 4);
    } else {
        assert_int_equal(g->type, GEN_DNS);
        assert_int_equal(ASN1_STRING_length(g->d.dNSName), strlen(ident));
        assert_memory_equal(ASN1_STRING_get0_data(g->d.dNSName), ident, strlen(ident));
    }
    GENERAL_NAMES_free(sans);
    X509_free(x);
}

/* A set's certificate with subject CN cn, never a challenge one. */
static void check_set_cert(const struct tos_conn *c, const char *cn)
{
    X509 *x = peer(c);
    char got[256];

    tos_peer_cn(c, got, sizeof got);
    assert_string_equal(got, cn);
    assert_false(has_acme_ext(x));
    X509_free(x);
}

static void check_alpn(const struct tos_conn *c, const char *want)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;

    SSL_get0_alpn_selected(c->client, &p, &len);
    assert_int_equal(len, strlen(want));
    if (len > 0)
        assert_memory_equal(p, want, len);
}

static const char ACME[] = "\x0a"
                           "acme-tls/1";
static const char H2_ACME[] = "\x02h2\x0a"
                              "acme-tls/1";
static const char ACME_H11[] = "\x0a"
                               "acme-tls/1\x08http/1.1";
static const char H2[] = "\x02h2";

/* ---- tls-alpn-01 ---------------------------------------------------------------- */

static void test_alpn_dns_and_ip(void **state)
{
    struct tos_conn c;

    (void)state;
    host_calls = 0;
    /* a CA's validation of a DNS identifier */
    assert_true(tos_handshake(sctx, cctx, "alpn.example.test", ACME, sizeof ACME - 1, &c));
    check_challenge_cert(&c, "alpn.example.test", false);
    check_alpn(&c, "acme-tls/1");
    assert_true(autocert_openssl_is_acme(c.server));
    assert_true(autocert_openssl_is_acme(c.client));
    tos_close(&c);
    /* ... in another case, with another protocol offered too */
    assert_true(tos_handshake(sctx, cctx, "ALPN.Example.Test.", H2_ACME, sizeof H2_ACME - 1, &c));
    check_challenge_cert(&c, "alpn.example.test", false);
    check_alpn(&c, "acme-tls/1");
    assert_true(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    /* an IP identifier: the reverse name as SNI */
    assert_true(tos_handshake(sctx, cctx, "1.0.0.127.in-addr.arpa", ACME, sizeof ACME - 1, &c));
    check_challenge_cert(&c, "127.0.0.1", true);
    assert_true(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    /* the host's callback saw none of these */
    assert_int_equal(host_calls, 0);
}

static void test_alpn_never_without_challenge(void **state)
{
    struct tos_conn c;
    struct ac_error e;

    (void)state;
    host_calls = 0;
    host_saw_acme = false;
    /* acme-tls/1 alone for a name without a pending challenge: a normal
     * handshake without a protocol; the host is not asked (nothing left) */
    assert_true(tos_handshake(sctx, cctx, "other.example.test", ACME, sizeof ACME - 1, &c));
    check_set_cert(&c, "main.example.test");
    check_alpn(&c, "");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    assert_int_equal(host_calls, 0);
    /* ... with another protocol: the host chooses from the list without
     * acme-tls/1 (its first entry is now http/1.1) */
    assert_true(tos_handshake(sctx, cctx, "other.example.test", ACME_H11, sizeof ACME_H11 - 1, &c));
    check_set_cert(&c, "main.example.test");
    check_alpn(&c, "http/1.1");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    assert_int_equal(host_calls, 1);
    /* the reverse name of an address without a challenge */
    assert_true(tos_handshake(sctx, cctx, "2.0.0.127.in-addr.arpa", ACME, sizeof ACME - 1, &c));
    check_set_cert(&c, "main.example.test");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    /* a pending name, but the client does not offer acme-tls/1 */
    assert_true(tos_handshake(sctx, cctx, "alpn.example.test", H2, sizeof H2 - 1, &c));
    check_set_cert(&c, "main.example.test");
    check_alpn(&c, "h2");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    assert_true(tos_handshake(sctx, cctx, "alpn.example.test", NULL, 0, &c));
    check_set_cert(&c, "main.example.test");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    /* acme-tls/1 without SNI (in memory: no local address, main) */
    assert_true(tos_handshake(sctx, cctx, NULL, ACME, sizeof ACME - 1, &c));
    check_set_cert(&c, "main.example.test");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    /* once the challenge is removed, acme-tls/1 is not selected any more */
    challenge_alpn_remove(manager_challenges(mgr), "alpn.example.test");
    assert_false(autocert_manager_alpn_pending(mgr, "alpn.example.test", 17));
    assert_null(autocert_manager_lookup_alpn(mgr, "alpn.example.test", 17));
    assert_true(tos_handshake(sctx, cctx, "alpn.example.test", ACME, sizeof ACME - 1, &c));
    check_set_cert(&c, "main.example.test");
    assert_false(autocert_openssl_is_acme(c.server));
    tos_close(&c);
    assert_false(host_saw_acme);
    assert_int_equal(challenge_alpn_add(manager_challenges(mgr), "alpn.example.test", KEYAUTH, &e),
                     0);
}

static void test_public_lookup(void **state)
{
    autocert_cert *c;

    (void)state;
    assert_true(autocert_manager_alpn_pending(mgr, "alpn.example.test.", 18));
    assert_true(autocert_manager_alpn_pending(mgr, "1.0.0.127.in-addr.arpa", 22));
    assert_false(autocert_manager_alpn_pending(mgr, "main.example.test", 17));
    assert_false(autocert_manager_alpn_pending(mgr, NULL, 0));
    assert_false(autocert_manager_alpn_pending(NULL, "alpn.example.test", 17));
    c = autocert_manager_lookup_alpn(mgr, "alpn.example.test", 17);
    assert_non_null(c);
    assert_string_equal(autocert_cert_set_name(c), "acme-tls/1");
    autocert_cert_release(c);
    assert_null(autocert_manager_lookup_alpn(mgr, "main.example.test", 17));
    assert_null(autocert_manager_lookup_alpn(NULL, "alpn.example.test", 17));
    assert_false(autocert_openssl_is_acme(NULL));
}

/* ---- IP without SNI, over sockets ----------------------------------------------- */

enum local_how { LOCAL_AUTO = 0, LOCAL_V4, LOCAL_NONE };

struct client {
    int port, family;
    char cn[256];
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

/* A client without SNI: connects, handshakes, records the peer's CN. */
static void *client_run(void *arg)
{
    struct client *cl = arg;
    struct sockaddr_storage ss;
    socklen_t sl;
    struct timeval tmo = {.tv_sec = 10};
    int fd = socket(cl->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SSL *ssl = NULL;
    X509 *x = NULL;

    cl->cn[0] = '\0';
    memset(&ss, 0, sizeof ss);
    if (cl->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons((uint16_t)cl->port);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons((uint16_t)cl->port);
        sl = sizeof *a;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) != 0)
        goto out;
    ssl = SSL_new(cctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
        goto out;
    x = SSL_get1_peer_certificate(ssl);
    if (x == NULL || X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cl->cn,
                                               (int)sizeof cl->cn) < 0)
        cl->cn[0] = '\0';
    SSL_shutdown(ssl);
out:
    X509_free(x);
    SSL_free(ssl);
    ERR_clear_error();
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* One handshake without SNI on lfd (family, port); returns the CN the client got. */
static void nosni(int lfd, int family, int port, enum local_how local, char *cn, size_t n)
{
    struct client cl = {.port = port, .family = family};
    pthread_t th;
    struct timeval tmo = {.tv_sec = 10};
    SSL *ssl;
    int fd;

    assert_int_equal(pthread_create(&th, NULL, client_run, &cl), 0);
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
    ssl = SSL_new(sctx);
    assert_non_null(ssl);
    assert_int_equal(SSL_set_fd(ssl, fd), 1);
    if (local == LOCAL_V4) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(autocert_openssl_set_local_addr(ssl, (struct sockaddr *)&a, sizeof a), 0);
    } else if (local == LOCAL_NONE) {
        assert_int_equal(autocert_openssl_set_local_addr(ssl, NULL, 0), 0);
    }
    if (SSL_accept(ssl) == 1)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
    close(fd);
    pthread_join(th, NULL);
    snprintf(cn, n, "%s", cl.cn);
}

static void test_ip_without_sni(void **state)
{
    char cn[256];
    int p4, p6, l4, l6;

    (void)state;
    l4 = listen_on(AF_INET, &p4);
    l6 = listen_on(AF_INET6, &p6);
    /* no SNI on 127.0.0.1: the set whose certificate has that IP SAN */
    nosni(l4, AF_INET, p4, LOCAL_AUTO, cn, sizeof cn);
    assert_string_equal(cn, "127.0.0.1");
    /* no SNI on ::1: main */
    nosni(l6, AF_INET6, p6, LOCAL_AUTO, cn, sizeof cn);
    assert_string_equal(cn, "main.example.test");
    /* an address set by the host wins over the socket's */
    nosni(l6, AF_INET6, p6, LOCAL_V4, cn, sizeof cn);
    assert_string_equal(cn, "127.0.0.1");
    nosni(l4, AF_INET, p4, LOCAL_NONE, cn, sizeof cn);
    assert_string_equal(cn, "main.example.test");
    close(l4);
    close(l6);
}

static void test_ip_with_sni_and_memory_bio(void **state)
{
    struct tos_conn c;
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct sockaddr_un_like {
        sa_family_t family;
        char path[32];
    } other = {AF_UNIX, "x"};
    SSL *ssl;
    BIO *cb = NULL, *sb = NULL;
    int cdone = 0, sdone = 0;
    char cn[256];

    (void)state;
    /* with SNI the local address does not matter */
    tos_cn_for(sctx, cctx, "www.other.test", cn, sizeof cn);
    assert_string_equal(cn, "main.example.test");
    /* a memory BIO has no socket: the address the host sets is used */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.client = SSL_new(cctx);
    c.server = ssl = SSL_new(sctx);
    assert_non_null(c.client);
    assert_non_null(ssl);
    assert_int_equal(
        autocert_openssl_set_local_addr(ssl, (const struct sockaddr *)&other, sizeof other), -1);
    assert_int_equal(autocert_openssl_set_local_addr(ssl, (struct sockaddr *)&a, sizeof a - 1), -1);
    assert_int_equal(autocert_openssl_set_local_addr(ssl, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c.client, cb, cb);
    SSL_set_bio(ssl, sb, sb);
    SSL_set_connect_state(c.client);
    SSL_set_accept_state(ssl);
    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        if (!cdone && SSL_do_handshake(c.client) == 1)
            cdone = 1;
        if (!sdone && SSL_do_handshake(ssl) == 1)
            sdone = 1;
    }
    assert_true(cdone && sdone);
    tos_peer_cn(&c, cn, sizeof cn);
    assert_string_equal(cn, "127.0.0.1");
    tos_close(&c);
    assert_int_equal(autocert_openssl_set_local_addr(NULL, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpn_dns_and_ip),
        cmocka_unit_test(test_alpn_never_without_challenge),
        cmocka_unit_test(test_public_lookup),
        cmocka_unit_test(test_ip_without_sni),
        cmocka_unit_test(test_ip_with_sni_and_memory_bio),
    };
    signal(SIGPIPE, SIG_IGN); /* a close_notify to a peer that closed first */
    return cmocka_run_group_tests(tests, setup, teardown);
}
