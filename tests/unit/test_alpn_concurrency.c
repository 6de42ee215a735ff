/* test_alpn_concurrency.c - handshakes through the GnuTLS adapter's
 * per-session path (autocert_gnutls_session_init) from several threads at
 * once while another thread adds and removes the tls-alpn-01 challenge and
 * republishes the snapshot (the local-address index with it). Every
 * handshake must end with a consistent answer: acme-tls/1 negotiated <=> the
 * challenge certificate (acmeIdentifier extension) <=> the server's
 * autocert_gnutls_session_is_acme; never a challenge certificate for another
 * name. Run under TSan too (label "concurrency"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the four headers above first */
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define WORKERS 4
#define ROUNDS 40

static char dir[] = "/tmp/ac-alpnc-XXXXXX";
static autocert_manager *mgr;
static gnutls_certificate_credentials_t cred, client_cred;
static gnutls_priority_t prio;
static char *ip_pem, *ip_key;
static size_t ip_pem_len, ip_key_len;
static atomic_bool stop;
static atomic_int acme_seen, normal_seen, refused_seen, errors;

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A self-signed pair for names as dir/base.{crt,key}; the PEMs in pem_out and key_out
 * when asked. */
static void make_pair(const char *base, const char *const *names, size_t n, char **pem_out,
                      size_t *pem_len, char **key_out, size_t *key_len)
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
    if (pem_out != NULL) {
        *pem_out = pem;
        *pem_len = len;
        *key_out = strdup(kpem);
        *key_len = klen;
        assert_non_null(*key_out);
    } else {
        free(pem);
    }
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

    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    make_pair("main", main_names, 1, NULL, NULL, NULL, NULL);
    make_pair("ip", ip_names, 1, &ip_pem, &ip_pem_len, &ip_key, &ip_key_len);
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
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        gnutls_certificate_allocate_credentials(&client_cred) < 0 ||
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
    gnutls_certificate_free_credentials(client_cred);
    gnutls_priority_deinit(prio);
    autocert_manager_free(mgr);
    free(ip_pem);
    free(ip_key);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct server_arg {
    int fd;
    int rc;
    bool is_acme;
};

static void *server(void *p)
{
    struct server_arg *a = p;
    gnutls_datum_t alpn[] = {{(unsigned char *)"http/1.1", 8}};
    gnutls_session_t s;

    a->rc = -1;
    gnutls_init(&s, GNUTLS_SERVER);
    gnutls_priority_set(s, prio);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    if (autocert_gnutls_session_init(mgr, s, alpn, 1, 0) == 0) {
        gnutls_transport_set_int(s, a->fd);
        do
            a->rc = gnutls_handshake(s);
        while (a->rc < 0 && gnutls_error_is_fatal(a->rc) == 0);
        if (a->rc == 0)
            a->is_acme = autocert_gnutls_session_is_acme(s);
        else
            gnutls_alert_send_appropriate(s, a->rc);
    }
    gnutls_deinit(s);
    close(a->fd);
    return NULL;
}

static bool cert_has_acme(gnutls_session_t s, char *san, size_t n)
{
    unsigned int count = 0;
    const gnutls_datum_t *d = gnutls_certificate_get_peers(s, &count);
    gnutls_x509_crt_t crt;
    unsigned char buf[64];
    size_t len = sizeof buf, slen = n - 1;
    unsigned int critical = 0;
    bool acme;

    san[0] = '\0';
    if (d == NULL || count == 0 || gnutls_x509_crt_init(&crt) < 0)
        return false;
    if (gnutls_x509_crt_import(crt, d, GNUTLS_X509_FMT_DER) < 0) {
        gnutls_x509_crt_deinit(crt);
        return false;
    }
    acme = gnutls_x509_crt_get_extension_by_oid(crt, ACME_OID, 0, buf, &len, &critical) == 0;
    if (gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &slen, NULL) >= 0)
        san[slen] = '\0';
    else
        san[0] = '\0';
    gnutls_x509_crt_deinit(crt);
    return acme;
}

static void *worker(void *p)
{
    long id = (long)p;

    for (int i = 0; i < ROUNDS; i++) {
        const char *sni = (i + id) % 3 == 0 ? "other.example.test" : "alpn.example.test";
        gnutls_datum_t offer = {(unsigned char *)"acme-tls/1", 10}, sel;
        struct server_arg a = {0};
        gnutls_session_t c;
        pthread_t th;
        int sv[2], rc;
        char san[256];
        bool client_acme, cert_acme;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        a.fd = sv[0];
        if (pthread_create(&th, NULL, server, &a) != 0) {
            close(sv[0]);
            close(sv[1]);
            atomic_fetch_add(&errors, 1);
            continue;
        }
        gnutls_init(&c, GNUTLS_CLIENT);
        gnutls_priority_set(c, prio);
        gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, client_cred);
        gnutls_server_name_set(c, GNUTLS_NAME_DNS, sni, strlen(sni));
        gnutls_alpn_set_protocols(c, &offer, 1, 0);
        gnutls_transport_set_int(c, sv[1]);
        do
            rc = gnutls_handshake(c);
        while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
        if (rc == 0) {
            client_acme = gnutls_alpn_get_selected_protocol(c, &sel) == 0;
            cert_acme = cert_has_acme(c, san, sizeof san);
            /* one consistent answer, and a challenge certificate only for
             * the name with the challenge */
            if (client_acme != cert_acme || (cert_acme && strcmp(san, "alpn.example.test") != 0))
                atomic_fetch_add(&errors, 1);
            atomic_fetch_add(client_acme ? &acme_seen : &normal_seen, 1);
        } else {
            /* the challenge went away between the ClientHello and the
             * certificate: a refusal, never a wrong certificate; a name
             * that never has a challenge is never refused */
            atomic_fetch_add(&refused_seen, 1);
            if (strcmp(sni, "other.example.test") == 0)
                atomic_fetch_add(&errors, 1);
        }
        gnutls_deinit(c);
        close(sv[1]);
        pthread_join(th, NULL);
        if (rc == 0 && a.rc == 0 && a.is_acme != client_acme)
            atomic_fetch_add(&errors, 1);
        if (rc == 0 && strcmp(sni, "other.example.test") == 0 && client_acme)
            atomic_fetch_add(&errors, 1);
    }
    return NULL;
}

/* Adds and removes the challenge, republishes the snapshot. */
static void *mutator(void *p)
{
    struct challenge_table *t = manager_challenges(mgr);
    struct ac_error e;
    unsigned n = 0;

    (void)p;
    while (!atomic_load(&stop)) {
        if (n % 2 == 0) {
            if (challenge_alpn_add(t, "alpn.example.test", KEYAUTH, &e) != 0)
                atomic_fetch_add(&errors, 1);
        } else {
            challenge_alpn_remove(t, "alpn.example.test");
        }
        if (n % 3 == 0 &&
            manager_set_replace(mgr, 1, ip_pem, ip_pem_len, ip_key, ip_key_len, &e) != 0)
            atomic_fetch_add(&errors, 1);
        n++;
        usleep(2000);
    }
    challenge_alpn_remove(t, "alpn.example.test");
    return NULL;
}

static void test_handshakes_while_challenges_change(void **state)
{
    pthread_t w[WORKERS], m;

    (void)state;
    assert_int_equal(pthread_create(&m, NULL, mutator, NULL), 0);
    for (long i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    atomic_store(&stop, true);
    pthread_join(m, NULL);
    printf("handshakes: %d acme-tls/1, %d normal, %d refused\n", atomic_load(&acme_seen),
           atomic_load(&normal_seen), atomic_load(&refused_seen));
    assert_int_equal(atomic_load(&errors), 0);
    assert_int_equal(atomic_load(&acme_seen) + atomic_load(&normal_seen) +
                         atomic_load(&refused_seen),
                     WORKERS * ROUNDS);
    assert_true(atomic_load(&normal_seen) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshakes_while_challenges_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
