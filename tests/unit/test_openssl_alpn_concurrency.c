/*
 * test_openssl_alpn_concurrency.c - the OpenSSL adapter's tls-alpn-01 path
 * under concurrency (also run under TSan: label "concurrency"): four threads
 * handshake in memory over one installed SSL_CTX, offering acme-tls/1 (alone
 * or after h2) for the name with a challenge, or for another name, while
 * another thread keeps adding and removing that challenge. Every handshake
 * must succeed with a consistent answer: acme-tls/1 selected <=> the
 * challenge certificate (acmeIdentifier extension) <=>
 * autocert_openssl_is_acme on the server; never a challenge certificate for
 * another name, and never acme-tls/1 from the host's ALPN callback.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include <openssl/x509v3.h>

#include "autocert/autocert.h"
#include "autocert/autocert_openssl.h"
#include "challenge.h"
#include "manager.h"
#include "test_openssl_util.h"

#define THREADS 4
#define HANDSHAKES 120
#define KEYAUTH                                                                                    \
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

struct shared {
    char dir[64];
    autocert_manager *m;
    SSL_CTX *sctx;
    atomic_int done;
    atomic_int failures, acme_seen, normal_seen;
    char bad[256];
    pthread_mutex_t bad_lock;
};

static void note_bad(struct shared *sh, const char *what, const char *sni)
{
    pthread_mutex_lock(&sh->bad_lock);
    if (sh->bad[0] == '\0')
        snprintf(sh->bad, sizeof sh->bad, "SNI %s: %s", sni, what);
    pthread_mutex_unlock(&sh->bad_lock);
    atomic_fetch_add(&sh->failures, 1);
}

/* The host's ALPN callback: h2 when offered; a failure if it ever sees
 * acme-tls/1. */
static int host_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x02h2";
    unsigned char *sel = NULL;
    struct shared *sh = arg;

    (void)ssl;
    for (unsigned int off = 0; off < inlen; off += 1u + in[off])
        if (in[off] == 10 && off + 11 <= inlen && memcmp(in + off + 1, "acme-tls/1", 10) == 0)
            note_bad(sh, "the host's ALPN callback saw acme-tls/1", "?");
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static bool has_acme_ext(X509 *x)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    int i = X509_get_ext_by_OBJ(x, oid, -1);

    ASN1_OBJECT_free(oid);
    return i >= 0;
}

static void *handshaker(void *arg)
{
    struct shared *sh = arg;
    static const char *const names[] = {"alpn.test", "main.test", "alpn.test", "other.test"};
    static const char acme[] = "\x0a"
                               "acme-tls/1";
    static const char h2_acme[] = "\x02h2\x0a"
                                  "acme-tls/1";
    SSL_CTX *cctx = tos_client_ctx();

    for (int i = 0; i < HANDSHAKES; i++) {
        const char *sni = names[i % 4];
        bool mixed = (i / 4) % 2 == 1;
        struct tos_conn c;
        const unsigned char *sel = NULL;
        unsigned int sellen = 0;
        X509 *x;
        bool sel_acme, ext, srv_acme;

        if (!tos_handshake(sh->sctx, cctx, sni, mixed ? h2_acme : acme,
                           mixed ? sizeof h2_acme - 1 : sizeof acme - 1, &c)) {
            note_bad(sh, "handshake failed", sni);
            continue;
        }
        SSL_get0_alpn_selected(c.client, &sel, &sellen);
        sel_acme = sellen == 10 && memcmp(sel, "acme-tls/1", 10) == 0;
        x = SSL_get1_peer_certificate(c.client);
        ext = x != NULL && has_acme_ext(x);
        srv_acme = autocert_openssl_is_acme(c.server);
        if (x == NULL)
            note_bad(sh, "no certificate", sni);
        else if (sel_acme != ext || ext != srv_acme)
            note_bad(sh, "acme-tls/1, the challenge certificate and is_acme disagree", sni);
        else if (ext && strcmp(sni, "alpn.test") != 0)
            note_bad(sh, "a challenge certificate for a name without a challenge", sni);
        else if (!ext && mixed && (sellen != 2 || memcmp(sel, "h2", 2) != 0))
            note_bad(sh, "the host's choice (h2) did not reach the client", sni);
        atomic_fetch_add(ext ? &sh->acme_seen : &sh->normal_seen, 1);
        X509_free(x);
        tos_close(&c);
    }
    SSL_CTX_free(cctx);
    atomic_fetch_add(&sh->done, 1);
    return NULL;
}

static void *toggler(void *arg)
{
    struct shared *sh = arg;
    struct ac_error e;

    while (atomic_load(&sh->done) < THREADS) {
        if (challenge_alpn_add(manager_challenges(sh->m), "alpn.test", KEYAUTH, &e) != 0)
            note_bad(sh, "challenge_alpn_add failed", "alpn.test");
        usleep(200);
        challenge_alpn_remove(manager_challenges(sh->m), "alpn.test");
        usleep(100);
    }
    return NULL;
}

static void test_alpn_concurrent(void **state)
{
    struct shared sh = {.bad = ""};
    char cfg[128];
    FILE *f;
    autocert_error err;
    pthread_t th[THREADS], tog;

    (void)state;
    pthread_mutex_init(&sh.bad_lock, NULL);
    snprintf(sh.dir, sizeof sh.dir, "/tmp/ac-oalpnc-XXXXXX");
    assert_non_null(mkdtemp(sh.dir));
    assert_int_equal(tos_make(sh.dir, "main", "main", "main.test"), 0);
    snprintf(cfg, sizeof cfg, "%s/autocert.yml", sh.dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n",
            sh.dir, sh.dir);
    fclose(f);
    if (autocert_manager_open(cfg, NULL, NULL, &sh.m, &err) != 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(autocert_manager_load(sh.m), 1);
    sh.sctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(sh.sctx);
    assert_int_equal(autocert_openssl_install(sh.m, sh.sctx, host_alpn, &sh, NULL), 0);

    assert_int_equal(pthread_create(&tog, NULL, toggler, &sh), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, handshaker, &sh), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_join(tog, NULL);
    if (atomic_load(&sh.failures) != 0)
        fail_msg("%d bad handshakes, first: %s", atomic_load(&sh.failures), sh.bad);
    assert_int_equal(atomic_load(&sh.acme_seen) + atomic_load(&sh.normal_seen),
                     THREADS * HANDSHAKES);
    fprintf(stderr, "challenge certificates %d, normal %d\n", atomic_load(&sh.acme_seen),
            atomic_load(&sh.normal_seen));

    autocert_openssl_uninstall(sh.sctx);
    SSL_CTX_free(sh.sctx);
    autocert_manager_free(sh.m);
    snprintf(cfg, sizeof cfg, "rm -rf '%s'", sh.dir);
    assert_int_equal(system(cfg), 0);
    pthread_mutex_destroy(&sh.bad_lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_alpn_concurrent)};
    (void)tos_cn_for; /* test_openssl_util.h's, not needed here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
