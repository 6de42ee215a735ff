/*
 * test_runtime_sets_concurrency.c - run-time sets added and removed through
 * the public API (autocert_manager_add_set / _remove_set) while TLS
 * handshakes run: two threads drive full GnuTLS handshakes (client and
 * server over a socketpair, TLS 1.3, autocert_gnutls_install) with the SNI
 * of a random run-time set; a third reads the admin API in pages and the
 * status of every set; the main thread adds and removes the sets 300 times,
 * with a configuration reload now and then. Every handshake must get either
 * the certificate of the set it names or main's (never another set's, never
 * a failure), and the sets must be intact at the end. Run under ASan
 * (use-after-free, leaks) and TSan (data races; label "concurrency").
 */
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* cmocka after the system headers */
#include <cmocka.h>

#include "autocert/autocert.h"
#include "autocert/autocert_admin.h"
#include "autocert/autocert_gnutls.h"
#include "test_manager_certs.h"

#define NSETS 8
#define ROUNDS 300
#define SHAKERS 2

static char dir[] = "/tmp/ac-rtsets-XXXXXX";
static char cfg_path[256];
static autocert_manager *mgr;
static gnutls_certificate_credentials_t server_cred;
static atomic_bool stop;
static atomic_long handshakes, own_cert, main_cert, pages;

/* The CN of the certificate the server sent. */
static void peer_cn(gnutls_session_t s, char *cn, size_t n)
{
    unsigned count = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &count);
    gnutls_x509_crt_t crt;
    size_t len = n;

    cn[0] = '\0';
    assert_true(certs != NULL && count > 0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len), 0);
    gnutls_x509_crt_deinit(crt);
}

/* One full handshake for server name sni, both ends in this thread over
 * non-blocking sockets; the CN the client saw into cn. */
static void handshake(const char *sni, gnutls_certificate_credentials_t client_cred, char *cn,
                      size_t n)
{
    int sv[2], rc_c = GNUTLS_E_AGAIN, rc_s = GNUTLS_E_AGAIN;
    gnutls_session_t c, s;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(gnutls_init(&c, GNUTLS_CLIENT | GNUTLS_NONBLOCK), 0);
    assert_int_equal(gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK), 0);
    assert_int_equal(gnutls_priority_set_direct(c, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL), 0);
    assert_int_equal(gnutls_set_default_priority(s), 0);
    assert_int_equal(gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, client_cred), 0);
    assert_int_equal(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, server_cred), 0);
    assert_int_equal(gnutls_server_name_set(c, GNUTLS_NAME_DNS, sni, strlen(sni)), 0);
    gnutls_transport_set_int(c, sv[0]);
    gnutls_transport_set_int(s, sv[1]);
    while (rc_c != 0 || rc_s != 0) {
        if (rc_c != 0)
            rc_c = gnutls_handshake(c);
        if (rc_s != 0)
            rc_s = gnutls_handshake(s);
        if ((rc_c < 0 && gnutls_error_is_fatal(rc_c)) || (rc_s < 0 && gnutls_error_is_fatal(rc_s)))
            fail_msg("handshake for %s failed: client %s, server %s", sni, gnutls_strerror(rc_c),
                     gnutls_strerror(rc_s));
    }
    peer_cn(c, cn, n);
    gnutls_deinit(c);
    gnutls_deinit(s);
    close(sv[0]);
    close(sv[1]);
}

static void *shaker(void *arg)
{
    gnutls_certificate_credentials_t cc;
    unsigned seed = (unsigned)(uintptr_t)arg;
    char sni[64], cn[128], want[16];

    assert_int_equal(gnutls_certificate_allocate_credentials(&cc), 0);
    while (!atomic_load(&stop)) {
        int k = (int)(rand_r(&seed) % NSETS);

        snprintf(sni, sizeof sni, "r%d.example.test", k);
        snprintf(want, sizeof want, "R%d", k);
        handshake(sni, cc, cn, sizeof cn);
        if (strcmp(cn, want) == 0)
            atomic_fetch_add(&own_cert, 1);
        else if (strcmp(cn, "main") == 0)
            atomic_fetch_add(&main_cert, 1);
        else
            fail_msg("SNI %s got the certificate of %s", sni, cn);
        atomic_fetch_add(&handshakes, 1);
    }
    gnutls_certificate_free_credentials(cc);
    return NULL;
}

/* Walks /api/v1/cert/status in pages of 3 and every set's status. */
static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        char query[256] = "limit=3";
        bool more = true;

        for (int guard = 0; more && guard < 100; guard++) {
            autocert_admin_response *r = NULL;
            const char *name, *value;
            char buf[4096];

            assert_int_equal(
                autocert_admin_handle_trusted(mgr, "GET", "/api/v1/cert/status", query, &r), 0);
            assert_int_equal(autocert_admin_response_status(r), 200);
            while (autocert_admin_response_read(r, buf, sizeof buf) > 0) {
            }
            more = false;
            for (size_t i = 0; autocert_admin_response_header(r, i, &name, &value) == 0; i++) {
                const char *c = strstr(value, "cursor=");

                if (strcmp(name, "Link") == 0 && c != NULL) {
                    snprintf(query, sizeof query, "limit=3&cursor=%.*s", (int)strcspn(c + 7, ">&"),
                             c + 7);
                    more = true;
                }
            }
            autocert_admin_response_free(r);
            atomic_fetch_add(&pages, 1);
        }
        for (size_t i = 0; i < autocert_manager_set_count(mgr); i++) {
            autocert_status st;

            if (autocert_manager_status(mgr, i, &st) == 0)
                autocert_status_clear(&st);
        }
    }
    return NULL;
}

static void spec_of(int k, char *out, size_t n)
{
    snprintf(out, n, "provider: local\ncert_path: %s/r%d.crt\nkey_path: %s/r%d.key\n", dir, k, dir,
             k);
}

static void test_add_remove_during_handshakes(void **state)
{
    pthread_t th[SHAKERS + 1];
    bool present[NSETS] = {false};
    char spec[512], name[16];
    autocert_error err;
    int adds = 0, removes = 0;

    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        int k = round % NSETS;

        if (round == 16) {
            atomic_store(&stop, false);
            for (int i = 0; i < SHAKERS; i++)
                assert_int_equal(pthread_create(&th[i], NULL, shaker, (void *)(uintptr_t)(i + 1)),
                                 0);
            assert_int_equal(pthread_create(&th[SHAKERS], NULL, reader, NULL), 0);
        }
        snprintf(name, sizeof name, "r%d", k);
        if (!present[k]) {
            spec_of(k, spec, sizeof spec);
            if (autocert_manager_add_set(mgr, name, spec, NULL, NULL, &err) != 0)
                fail_msg("add %s: %s", name, err.message);
            adds++;
        } else if ((round / NSETS) % 3 != 2) {
            if (autocert_manager_remove_set(mgr, name, &err) != 0)
                fail_msg("remove %s: %s", name, err.message);
            removes++;
        } else {
            /* already there: adding it again is refused, nothing changes */
            spec_of(k, spec, sizeof spec);
            assert_int_equal(autocert_manager_add_set(mgr, name, spec, NULL, NULL, &err), -1);
            assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
            continue;
        }
        present[k] = !present[k];
        if (round >= 16) { /* let handshakes see this state: two more complete */
            long h0 = atomic_load(&handshakes);

            while (atomic_load(&handshakes) < h0 + 2)
                usleep(200);
        }
        if (round % 50 == 49)
            assert_int_equal(autocert_manager_reload_config(mgr, NULL, NULL, NULL, &err), 0);
    }
    atomic_store(&stop, true);
    for (int i = 0; i <= SHAKERS; i++)
        pthread_join(th[i], NULL);

    /* what is left: main, then the present run-time sets sorted by name */
    size_t expect = 1, idx;
    for (int k = 0; k < NSETS; k++)
        expect += present[k];
    assert_int_equal(autocert_manager_set_count(mgr), expect);
    for (int k = 0; k < NSETS; k++) {
        snprintf(name, sizeof name, "r%d", k);
        assert_int_equal(autocert_manager_find(mgr, name, &idx, &err), present[k] ? 0 : -1);
    }
    print_message("%d adds, %d removes; %ld handshakes (%ld own certificate, %ld main), "
                  "%ld status pages\n",
                  adds, removes, atomic_load(&handshakes), atomic_load(&own_cert),
                  atomic_load(&main_cert), atomic_load(&pages));
    assert_true(atomic_load(&handshakes) > 0);
    assert_true(atomic_load(&own_cert) > 0);
}

static int setup(void **state)
{
    static const char *const main_sans[] = {"www.example.test"};
    char crt[256], key[256], cn[8], san[64];
    const char *sans[1] = {san};
    autocert_error err;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(crt, sizeof crt, "%s/main.crt", dir);
    snprintf(key, sizeof key, "%s/main.key", dir);
    assert_int_equal(tmc_make(crt, key, "main", main_sans, 1), 0);
    for (int k = 0; k < NSETS; k++) {
        snprintf(crt, sizeof crt, "%s/r%d.crt", dir, k);
        snprintf(key, sizeof key, "%s/r%d.key", dir, k);
        snprintf(cn, sizeof cn, "R%d", k);
        snprintf(san, sizeof san, "r%d.example.test", k);
        assert_int_equal(tmc_make(crt, key, cn, sans, 1), 0);
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/autocert.yml", dir);
    f = fopen(cfg_path, "w");
    assert_non_null(f);
    fprintf(f, "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n",
            dir, dir);
    fclose(f);
    assert_int_equal(autocert_manager_open(cfg_path, NULL, NULL, &mgr, &err), 0);
    assert_int_equal(autocert_manager_load(mgr), 1);
    assert_int_equal(autocert_manager_start(mgr, &err), 0);
    assert_int_equal(gnutls_certificate_allocate_credentials(&server_cred), 0);
    assert_int_equal(autocert_gnutls_install(mgr, server_cred), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    autocert_gnutls_uninstall(server_cred);
    gnutls_certificate_free_credentials(server_cred);
    autocert_manager_free(mgr);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_remove_during_handshakes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
