/*
 * test_standin_concurrency.c - stand-ins under concurrent handshakes: 8
 * threads released together ask for the stand-in of a set that has none yet
 * (one must be made, the same handle for all, one log line); then readers
 * keep looking up while the real pair lands (every answer is the stand-in or
 * the real certificate, never NULL, never another set's), and once it has
 * landed no stand-in is cached again (a reader of an older snapshot must not
 * bring one back). Run under ASan and TSan (label "concurrency").
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka after the system headers */
#include <cmocka.h>

#include "autocert/autocert.h"
#include "log.h"
#include "manager.h"
#include "set.h"
#include "standin.h"
#include "test_manager_certs.h"

#define THREADS 8
#define ROUNDS 20

static char dir[] = "/tmp/ac-standin-cc-XXXXXX";
static char crt[ROUNDS][192], key[ROUNDS][192];
static autocert_manager *mgr;
static pthread_barrier_t go;
static atomic_int made_lines, bad;
static atomic_bool stop;
static int round_no;

static void sink(enum ac_log_level level, const char *line, void *arg)
{
    (void)level;
    (void)arg;
    if (strstr(line, "serving a self-signed stand-in") != NULL)
        atomic_fetch_add(&made_lines, 1);
}

static void name_of(int r, char *buf, size_t n)
{
    snprintf(buf, n, "s%d.example.test", r);
}

static void *first(void *arg)
{
    autocert_cert **out = arg;
    char name[64];

    name_of(round_no, name, sizeof name);
    pthread_barrier_wait(&go);
    *out = autocert_manager_lookup(mgr, name, strlen(name));
    return NULL;
}

static void *reader(void *arg)
{
    char name[64], set[32];

    (void)arg;
    name_of(round_no, name, sizeof name);
    snprintf(set, sizeof set, "extra[%d]", round_no + 1);
    while (!atomic_load(&stop)) {
        autocert_cert *c = autocert_manager_lookup(mgr, name, strlen(name));
        if (c == NULL || strcmp(autocert_cert_set_name(c), set) != 0)
            atomic_fetch_add(&bad, 1);
        autocert_cert_release(c);
    }
    return NULL;
}

static void test_first_handshakes(void **state)
{
    pthread_t th[THREADS];
    autocert_cert *got[THREADS];
    char err[512], path[256], name[64];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/autocert.yml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: acme\n  challenge: http-01\n  email: a@example.test\n"
            "  ca_dir_url: https://127.0.0.1:9/dir\n  domains: [main.example.test]\n"
            "  cert_path: %s/main.crt\n  key_path: %s/main.key\n  extra:\n",
            dir, dir);
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(crt[r], sizeof crt[r], "%s/s%d.crt", dir, r);
        snprintf(key[r], sizeof key[r], "%s/s%d.key", dir, r);
        name_of(r, name, sizeof name);
        fprintf(f, "    - domains: [%s]\n      cert_path: %s\n      key_path: %s\n", name, crt[r],
                key[r]);
    }
    fclose(f);
    assert_int_equal(autocert_manager_new(path, &mgr, err, sizeof err), 0);
    assert_int_equal(autocert_manager_load(mgr), 0);
    ac_log_set_sink(sink, NULL);
    ac_log_set_level(AC_LOG_INFO);

    for (round_no = 0; round_no < ROUNDS; round_no++) {
        const char *const names[] = {name};
        struct acset *s = manager_set_at(mgr, (size_t)round_no + 1);

        /* 1. concurrent first handshakes: one stand-in */
        atomic_store(&made_lines, 0);
        assert_int_equal(pthread_barrier_init(&go, NULL, THREADS), 0);
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, first, &got[i]), 0);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        assert_int_equal(atomic_load(&made_lines), 1);
        for (int i = 0; i < THREADS; i++) {
            assert_non_null(got[i]);
            assert_ptr_equal(got[i], got[0]);
        }
        for (int i = 0; i < THREADS; i++)
            autocert_cert_release(got[i]);

        /* 2. readers while the real pair lands */
        atomic_store(&stop, false);
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
        name_of(round_no, name, sizeof name);
        assert_int_equal(tmc_make(crt[round_no], key[round_no], "real", names, 1), 0);
        assert_int_equal(manager_set_reload(mgr, (size_t)round_no + 1, NULL), 1);
        usleep(2000);
        atomic_store(&stop, true);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(atomic_load(&bad), 0);
        assert_false(standin_cached(s));
        got[0] = autocert_manager_lookup(mgr, name, strlen(name));
        assert_string_equal(autocert_cert_subject(got[0]), "real"); /* not the stand-in */
        autocert_cert_release(got[0]);
        assert_false(standin_cached(s));
        acset_unref(s);
    }
    ac_log_set_sink(NULL, NULL);
    ac_log_set_level(AC_LOG_ERROR);
    autocert_manager_free(mgr);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_handshakes),
    };

    autocert_init();
    ac_log_set_level(AC_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
