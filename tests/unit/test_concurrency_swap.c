/*
 * test_concurrency_swap.c - four reader threads look up, acquire/release and
 * read certificates continuously while a fifth thread swaps extra[1]'s
 * certificate 1,000 times (alternating manager_set_replace and reloads from
 * disk). Run under ASan (use-after-free, leaks) and TSan (data races).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "log.h"
#include "manager.h"
#include "test_manager_certs.h"

#define READERS 4
#define SWAPS 1000

static atomic_bool stop;
static atomic_long lookups;

struct pair {
    char *crt, *key;
    size_t cl, kl;
};

static void *reader(void *arg)
{
    autocert_manager *m = arg;
    static const char *const names[] = {"api.example.test", "www.example.test", NULL,
                                        "b.example.test", "API.EXAMPLE.TEST."};
    unsigned long sum = 0;
    long n = 0;

    while (!atomic_load(&stop)) {
        const char *name = names[n % 5];
        autocert_cert *c = autocert_manager_lookup(m, name, name ? strlen(name) : 0);
        assert_non_null(c);
        autocert_cert *c2 = autocert_cert_acquire(c);
        autocert_cert_release(c);
        const unsigned char *der;
        size_t len;
        assert_int_equal(autocert_cert_chain_der(c2, 0, &der, &len), 0);
        sum += der[len - 1] + (unsigned char)autocert_cert_subject(c2)[0];
        assert_int_equal(autocert_cert_key_der(c2, &der, &len), 0);
        sum += der[0];
        if (n % 2 == 0) { /* per-set handle too */
            autocert_cert *c3 = manager_set_cert(m, 1);
            assert_non_null(c3);
            sum += autocert_cert_name_count(c3);
            autocert_cert_release(c3);
        }
        autocert_cert_release(c2);
        n++;
    }
    atomic_fetch_add(&lookups, n);
    return (void *)(uintptr_t)sum;
}

static void test_swap(void **state)
{
    char dir[] = "/tmp/ac-swap-XXXXXX", path[6][128], cfg[128], cmd[160];
    static const char *const main_sans[] = {"*.example.test"};
    static const char *const a_sans[] = {"api.example.test"};
    static const char *const b_sans[] = {"api.example.test", "b.example.test"};
    struct pair p[2];
    autocert_manager *m = NULL;
    pthread_t th[READERS];
    char err[256];
    struct ac_error e;

    assert_non_null(mkdtemp(dir));
    static const char *const names[6] = {"main.crt", "main.key", "x.crt", "x.key",
                                         "b.crt", "b.key"};
    for (int i = 0; i < 6; i++)
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
    assert_int_equal(tmc_make(path[0], path[1], "main", main_sans, 1), 0);
    assert_int_equal(tmc_make(path[2], path[3], "A", a_sans, 1), 0);
    assert_int_equal(tmc_make(path[4], path[5], "B", b_sans, 2), 0);
    p[0].crt = tmc_slurp(path[2], &p[0].cl);
    p[0].key = tmc_slurp(path[3], &p[0].kl);
    p[1].crt = tmc_slurp(path[4], &p[1].cl);
    p[1].key = tmc_slurp(path[5], &p[1].kl);
    snprintf(cfg, sizeof(cfg), "%s/autocert.yml", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n"
               "  extra:\n    - cert_path: %s\n      key_path: %s\n",
            path[0], path[1], path[2], path[3]);
    fclose(f);
    assert_int_equal(autocert_manager_new(cfg, &m, err, sizeof(err)), 0);
    assert_int_equal(autocert_manager_load(m), 2);

    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, m), 0);
    for (int i = 0; i < SWAPS; i++) {
        struct pair *q = &p[i % 2];
        if (i % 10 == 9) {
            /* every tenth swap goes through the files: write pair q, reload */
            FILE *w = fopen(path[2], "w");
            fwrite(q->crt, 1, q->cl, w);
            fclose(w);
            w = fopen(path[3], "w");
            fwrite(q->key, 1, q->kl, w);
            fclose(w);
            assert_true(manager_set_reload(m, 1, &e) >= 0);
        } else {
            assert_int_equal(manager_set_replace(m, 1, q->crt, q->cl, q->key, q->kl, &e), 0);
        }
    }
    atomic_store(&stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    assert_true(atomic_load(&lookups) > 0);
    print_message("%ld lookups during %d swaps\n", atomic_load(&lookups), SWAPS);

    /* the last swap (i = 999) installed pair B */
    autocert_cert *c = autocert_manager_lookup(m, "b.example.test", 14);
    assert_string_equal(autocert_cert_subject(c), "B");
    autocert_cert_release(c);
    autocert_manager_free(m);
    for (int i = 0; i < 2; i++) {
        free(p[i].crt);
        free(p[i].key);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    ac_log_set_level(AC_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
