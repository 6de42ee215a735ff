/*
 * test_openssl_concurrency.c - libautocert_openssl under concurrent
 * handshakes (also run under TSan: label "concurrency"): four threads
 * handshake in memory over one installed SSL_CTX with SNI spread over the
 * sets while another thread keeps replacing an extra's certificate
 * (autocert_manager_reload) and a third keeps rebinding the SSL_CTX
 * (autocert_openssl_install again, which clears the cache). Every handshake
 * must succeed and get a certificate of the right set: one of the
 * replacements for the extra, main's for everything else.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "autocert/autocert_openssl.h"
#include "test_openssl_util.h"

#define THREADS 4
#define HANDSHAKES 150

struct shared {
    char dir[64];
    autocert_manager *m;
    SSL_CTX *sctx;
    atomic_int done;
    atomic_int failures;
    char bad[256];
    pthread_mutex_t bad_lock;
};

struct worker {
    struct shared *sh;
    int id;
};

static void note_bad(struct shared *sh, const char *sni, const char *cn)
{
    pthread_mutex_lock(&sh->bad_lock);
    if (sh->bad[0] == '\0')
        snprintf(sh->bad, sizeof sh->bad, "SNI %s got %s", sni ? sni : "(none)", cn);
    pthread_mutex_unlock(&sh->bad_lock);
    atomic_fetch_add(&sh->failures, 1);
}

static void *handshaker(void *arg)
{
    struct worker *w = arg;
    static const char *const names[] = {"y.w.test", "main.test", NULL, "other.test"};
    SSL_CTX *cctx = tos_client_ctx();
    char cn[64];

    for (int i = 0; i < HANDSHAKES && cctx != NULL; i++) {
        const char *sni = names[(i + w->id) % 4];
        tos_cn_for(w->sh->sctx, cctx, sni, cn, sizeof cn);
        int ok = sni != NULL && strcmp(sni, "y.w.test") == 0
                     ? strcmp(cn, "wild") == 0 || strncmp(cn, "wild-", 5) == 0
                     : strcmp(cn, "main") == 0;
        if (!ok)
            note_bad(w->sh, sni, cn);
    }
    SSL_CTX_free(cctx);
    atomic_fetch_add(&w->sh->done, 1);
    return NULL;
}

/* Replaces the extra's pair on disk (new files renamed into place) and
 * re-reads, until the handshakers are done. */
static void *replacer(void *arg)
{
    struct shared *sh = arg;
    char cn[32], from[128], to[128];

    for (int i = 0; atomic_load(&sh->done) < THREADS; i++) {
        snprintf(cn, sizeof cn, "wild-%d", i);
        if (tos_make(sh->dir, "next", cn, "*.w.test") != 0) {
            note_bad(sh, "(replacer)", "no certificate made");
            break;
        }
        snprintf(from, sizeof from, "%s/next.key", sh->dir);
        snprintf(to, sizeof to, "%s/wild.key", sh->dir);
        rename(from, to);
        snprintf(from, sizeof from, "%s/next.crt", sh->dir);
        snprintf(to, sizeof to, "%s/wild.crt", sh->dir);
        rename(from, to);
        autocert_manager_reload(sh->m);
        usleep(2000);
    }
    return NULL;
}

static void *rebinder(void *arg)
{
    struct shared *sh = arg;

    while (atomic_load(&sh->done) < THREADS) {
        if (autocert_openssl_install(sh->m, sh->sctx, NULL, NULL, NULL) != 0)
            note_bad(sh, "(rebinder)", "install failed");
        usleep(5000);
    }
    return NULL;
}

static void test_concurrent_handshakes(void **state)
{
    struct shared sh = {.bad_lock = PTHREAD_MUTEX_INITIALIZER};
    struct worker w[THREADS];
    pthread_t t[THREADS], rt, bt;
    autocert_error err;
    char cfg[128], cmd[128];
    FILE *c;

    snprintf(sh.dir, sizeof sh.dir, "/tmp/ac-ossl-conc-XXXXXX");
    assert_non_null(mkdtemp(sh.dir));
    assert_int_equal(tos_make(sh.dir, "main", "main", "main.test"), 0);
    assert_int_equal(tos_make(sh.dir, "wild", "wild", "*.w.test"), 0);
    snprintf(cfg, sizeof cfg, "%s/autocert.yml", sh.dir);
    c = fopen(cfg, "w");
    assert_non_null(c);
    fprintf(c,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n    - cert_path: %s/wild.crt\n      key_path: %s/wild.key\n",
            sh.dir, sh.dir, sh.dir, sh.dir);
    fclose(c);
    if (autocert_manager_open(cfg, NULL, NULL, &sh.m, &err) != 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(autocert_manager_load(sh.m), 2);
    sh.sctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(sh.sctx);
    assert_int_equal(autocert_openssl_install(sh.m, sh.sctx, NULL, NULL, NULL), 0);

    for (int i = 0; i < THREADS; i++) {
        w[i].sh = &sh;
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, handshaker, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&rt, NULL, replacer, &sh), 0);
    assert_int_equal(pthread_create(&bt, NULL, rebinder, &sh), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(rt, NULL);
    pthread_join(bt, NULL);
    if (atomic_load(&sh.failures) != 0)
        fail_msg("%d wrong handshakes, first: %s", atomic_load(&sh.failures), sh.bad);

    autocert_openssl_uninstall(sh.sctx);
    SSL_CTX_free(sh.sctx);
    autocert_manager_free(sh.m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sh.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_handshakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
