/*
 * test_store_concurrency.c - issue 10 item 1: loading a set while another
 * thread of the same process commits a new pair for it.
 *
 * The commit runs in a thread that holds the set's lock, as every writer does,
 * and pauses after step n (1..6) through the AUTOCERT_TEST_COMMIT_PAUSE hook
 * (builds with -DAUTOCERT_TEST_HOOKS=ON). During the pause a fresh manager is
 * loaded (autocert_manager_load) and a running one reloaded
 * (autocert_manager_reload): each must serve a matching pair, the old one
 * before the commit point (steps 1, 2) and the new one from it on (3..6), and
 * must not touch the writer's files. After the resume the commit must succeed
 * with exactly the new pair on disk. Before the fix the loader's recovery
 * deleted the staged files at steps 1 and 2, and the commit still "succeeded"
 * with the new certificate and the old key (or the old pair).
 *
 * No sleep decides anything: the test waits for the hook's "paused" file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "log.h"
#include "store.h"

#ifdef AUTOCERT_TEST_HOOKS
#include "test_manager_certs.h"

struct pair {
    char *chain, *key;
    size_t chain_len, key_len;
    gnutls_datum_t leaf; /* DER of the leaf */
};

struct fx {
    char dir[64];
    char cert[128], key[128], cfg[128];
    struct pair old, new;
};

struct commit_job {
    const struct fx *f;
    int rc;
    struct ac_error e;
};

static void pair_make(struct fx *f, const char *tag, struct pair *p)
{
    static const char *const sans[] = {"pair.example.test"};
    char crt[160], key[160];
    gnutls_datum_t pem;

    snprintf(crt, sizeof crt, "%s/%s.crt", f->dir, tag);
    snprintf(key, sizeof key, "%s/%s.key", f->dir, tag);
    assert_int_equal(tmc_make(crt, key, tag, sans, 1), 0);
    p->chain = tmc_slurp(crt, &p->chain_len);
    p->key = tmc_slurp(key, &p->key_len);
    assert_non_null(p->chain);
    assert_non_null(p->key);
    pem.data = (unsigned char *)p->chain;
    pem.size = (unsigned int)p->chain_len;
    assert_int_equal(gnutls_pem_base64_decode2("CERTIFICATE", &pem, &p->leaf), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    FILE *c;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ac-storecc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cert, sizeof f->cert, "%s/certs/cert.crt", f->dir);
    snprintf(f->key, sizeof f->key, "%s/certs/priv.key", f->dir);
    snprintf(f->cfg, sizeof f->cfg, "%s/autocert.yml", f->dir);
    pair_make(f, "old", &f->old);
    pair_make(f, "new", &f->new);
    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n", f->cert, f->key);
    assert_int_equal(fclose(c), 0);
    *state = f;
    return 0;
}

static void pair_free(struct pair *p)
{
    free(p->chain);
    free(p->key);
    gnutls_free(p->leaf.data);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    unsetenv("AUTOCERT_TEST_COMMIT_PAUSE");
    pair_free(&f->old);
    pair_free(&f->new);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Commits p as every writer does: under the set's lock. */
static int commit_locked(const struct fx *f, const struct pair *p, struct ac_error *e)
{
    struct store_lock *l = NULL;
    int rc;

    if (store_lock_acquire(f->cert, f->key, &l, e) != 0)
        return -1;
    rc = store_pair_commit(f->cert, p->chain, p->chain_len, f->key, p->key, p->key_len, e);
    store_lock_release(l);
    return rc;
}

static void *commit_thread(void *arg)
{
    struct commit_job *j = arg;

    j->rc = commit_locked(j->f, &j->f->new, &j->e);
    return NULL;
}

static void wait_for_file(const char *path)
{
    for (int i = 0; access(path, F_OK) != 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        if (i > 30000)
            fail_msg("%s never appeared", path);
        nanosleep(&ts, NULL);
    }
}

static void touch(const char *path)
{
    FILE *c = fopen(path, "w");
    assert_non_null(c);
    assert_int_equal(fclose(c), 0);
}

/* The manager's certificate for the set is exactly pair p (key included). */
static void assert_serves(autocert_manager *m, const struct pair *p, const char *when)
{
    autocert_cert *c = autocert_manager_lookup(m, "pair.example.test", 17);
    const unsigned char *der = NULL;
    size_t len = 0;

    if (c == NULL)
        fail_msg("%s: the manager serves no certificate", when);
    assert_int_equal(autocert_cert_chain_der(c, 0, &der, &len), 0);
    if (len != p->leaf.size || memcmp(der, p->leaf.data, len) != 0)
        fail_msg("%s: the manager serves another certificate than expected", when);
    autocert_cert_release(c);
}

static void assert_file_is(const char *path, const char *data, size_t len, const char *what)
{
    size_t have = 0;
    char *got = tmc_slurp(path, &have);

    if (got == NULL)
        fail_msg("%s: %s missing", what, path);
    if (have != len || memcmp(got, data, len) != 0)
        fail_msg("%s: %s does not hold the expected content", what, path);
    free(got);
}

static void test_load_during_paused_commit(void **state)
{
    struct fx *f = *state;
    char err[512], pause_dir[160], path[200], env[220], when[64];
    autocert_manager *running = NULL;

    assert_int_equal(autocert_manager_new(f->cfg, &running, err, sizeof err), 0);
    for (int step = 1; step <= 6; step++) {
        struct commit_job job = {.f = f};
        autocert_manager *fresh = NULL;
        pthread_t th;
        struct ac_error e;

        /* the old pair on disk and in the running manager */
        assert_int_equal(commit_locked(f, &f->old, &e), 0);
        assert_int_equal(autocert_manager_load(running), 1);
        assert_serves(running, &f->old, "before the commit");

        snprintf(pause_dir, sizeof pause_dir, "%s/pause%d", f->dir, step);
        assert_int_equal(mkdir(pause_dir, 0700), 0);
        snprintf(env, sizeof env, "%d:%s", step, pause_dir);
        assert_int_equal(setenv("AUTOCERT_TEST_COMMIT_PAUSE", env, 1), 0);
        assert_int_equal(pthread_create(&th, NULL, commit_thread, &job), 0);
        snprintf(path, sizeof path, "%s/paused", pause_dir);
        wait_for_file(path);

        /* a loader in the same process while the writer holds the set */
        const struct pair *want = step <= 2 ? &f->old : &f->new;
        snprintf(when, sizeof when, "load during a pause after step %d", step);
        assert_int_equal(autocert_manager_new(f->cfg, &fresh, err, sizeof err), 0);
        assert_int_equal(autocert_manager_load(fresh), 1);
        assert_serves(fresh, want, when);
        snprintf(when, sizeof when, "reload during a pause after step %d", step);
        assert_true(autocert_manager_reload(running) >= 0);
        assert_serves(running, want, when);

        snprintf(path, sizeof path, "%s/resume", pause_dir);
        touch(path);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(unsetenv("AUTOCERT_TEST_COMMIT_PAUSE"), 0);
        if (job.rc != 0)
            fail_msg("commit paused after step %d failed: %s", step, job.e.message);

        snprintf(when, sizeof when, "on disk after a commit paused at step %d", step);
        assert_file_is(f->cert, f->new.chain, f->new.chain_len, when);
        assert_file_is(f->key, f->new.key, f->new.key_len, when);
        snprintf(path, sizeof path, "%s.new", f->key);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof path, "%s.new", f->cert);
        assert_int_equal(access(path, F_OK), -1);

        snprintf(when, sizeof when, "after a commit paused at step %d", step);
        assert_int_equal(autocert_manager_reload(running), step <= 2 ? 1 : 0);
        assert_serves(running, &f->new, when);
        assert_int_equal(autocert_manager_load(fresh), 1);
        assert_serves(fresh, &f->new, when);
        autocert_manager_free(fresh);
    }
    autocert_manager_free(running);
}

#else /* !AUTOCERT_TEST_HOOKS */

static int setup(void **state)
{
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return 0;
}

static void test_load_during_paused_commit(void **state)
{
    (void)state;
    print_message("built without -DAUTOCERT_TEST_HOOKS=ON: no pause hook, skipped\n");
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_during_paused_commit, setup, teardown),
    };

    ac_log_set_level(AC_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
