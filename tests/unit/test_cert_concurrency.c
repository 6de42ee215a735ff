/*
 * test_cert_concurrency.c - what the handles of many sets share, under
 * threads: a chain certificate that several handles carry is held once
 * (interned by its DER) and freed with the last handle; the private key is
 * parsed at its first use, once, even when eight threads ask at the same
 * moment, and every thread gets the same key. Run under ASan and TSan.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "cert.h"
#include "certset.h"
#include "log.h"
#include "test_manager_certs.h"

#define THREADS 8
#define HANDLES 40

static char *chain_with(const char *leaf, size_t ll, const char *inter, size_t il, size_t *len)
{
    char *c = malloc(ll + il + 1);

    assert_non_null(c);
    memcpy(c, leaf, ll);
    memcpy(c + ll, inter, il);
    c[ll + il] = '\0';
    *len = ll + il;
    return c;
}

struct race {
    autocert_cert *c;
    atomic_int go;
    gnutls_privkey_t got[THREADS];
};

struct arg {
    struct race *r;
    int i;
};

static void *ask_key(void *p)
{
    struct arg *a = p;

    while (!atomic_load(&a->r->go))
        ;
    a->r->got[a->i] = cert_privkey(a->r->c);
    return NULL;
}

static void test_shared_and_lazy(void **state)
{
    char dir[] = "/tmp/ac-certc-XXXXXX", crt[128], key[128], inter_path[300];
    static const char *const sans[] = {"a.example.test"};
    const char *data = getenv("AUTOCERT_TEST_DATA");
    autocert_cert *h[HANDLES];
    char *leaf, *k, *inter, *chain;
    size_t ll, kl, il, cl;
    size_t before = cert_interned_count();
    struct ac_error e;

    (void)state;
    assert_non_null(data);
    assert_non_null(mkdtemp(dir));
    snprintf(crt, sizeof crt, "%s/a.crt", dir);
    snprintf(key, sizeof key, "%s/a.key", dir);
    snprintf(inter_path, sizeof inter_path, "%s/crypto/ca.pem", data);
    assert_int_equal(tmc_make(crt, key, "A", sans, 1), 0);
    leaf = tmc_slurp(crt, &ll);
    k = tmc_slurp(key, &kl);
    inter = tmc_slurp(inter_path, &il);
    assert_non_null(inter);
    chain = chain_with(leaf, ll, inter, il, &cl);

    /* handles made from several threads' worth of loads share one copy */
    for (int i = 0; i < HANDLES; i++) {
        assert_int_equal(certset_from_memory("s", i, chain, cl, k, kl, &h[i], &e), 0);
        assert_int_equal(autocert_cert_chain_count(h[i]), 2);
    }
    assert_int_equal(cert_interned_count(), before + 1);
    {
        const unsigned char *d0, *d1;
        size_t n0, n1;
        assert_int_equal(autocert_cert_chain_der(h[0], 1, &d0, &n0), 0);
        assert_int_equal(autocert_cert_chain_der(h[HANDLES - 1], 1, &d1, &n1), 0);
        assert_ptr_equal(d0, d1); /* the same bytes, not a copy */
        assert_true(cert_same(h[0], h[1]));
    }

    /* eight threads ask for the key of a handle no one has used yet */
    for (int round = 0; round < HANDLES; round++) {
        struct race r = {.c = h[round]};
        struct arg a[THREADS];
        pthread_t th[THREADS];

        atomic_init(&r.go, 0);
        for (int i = 0; i < THREADS; i++) {
            a[i].r = &r;
            a[i].i = i;
            assert_int_equal(pthread_create(&th[i], NULL, ask_key, &a[i]), 0);
        }
        atomic_store(&r.go, 1);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        assert_non_null(r.got[0]);
        for (int i = 1; i < THREADS; i++)
            assert_ptr_equal(r.got[i], r.got[0]);
        assert_ptr_equal(cert_privkey(h[round]), r.got[0]);
    }

    /* the shared certificate goes with the last handle, from any thread */
    for (int i = 0; i < HANDLES; i++)
        autocert_cert_release(h[i]);
    assert_int_equal(cert_interned_count(), before);

    /* an intermediate that is no certificate (not interned: parsed) fails */
    {
        static const char junk[] =
            "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
        char *bad = chain_with(leaf, ll, junk, sizeof junk - 1, &cl);
        autocert_cert *x = NULL;

        ac_error_clear(&e);
        assert_int_equal(certset_from_memory("s", 0, bad, cl, k, kl, &x, &e), -1);
        assert_null(x);
        assert_non_null(strstr(e.message, "certificate #2 of 2"));
        assert_int_equal(cert_interned_count(), before);
        free(bad);
    }

    free(leaf);
    free(k);
    free(inter);
    free(chain);
    unlink(crt);
    unlink(key);
    rmdir(dir);
}

int main(void)
{
    ac_log_set_level(AC_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_and_lazy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
