/* test_store.c - the store in a mkdtemp directory: exact modes under umask 022
 * and 077, atomic writes leave no temp files, bounded reads, a FIFO refused
 * without blocking, the account key (created once then reused, DER and PEM
 * loaded, garbage refused and kept), the GoDoxy failure marker name, the
 * per-set lock (other process, same process, other thread) and the state
 * file. The key+chain pair's commit and recovery: test_store_pair.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "store.h"
#include "test_store_util.h"

static void test_modes(void **state)
{
    static const mode_t masks[] = {022, 077};
    struct ac_error e;
    char f600[512], f644[512], d1[512], d2[512], cert[512], key[512];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        char rel[64];
        umask(masks[i]);
        snprintf(rel, sizeof rel, "m%zu/a/b/secret", i);
        pathf(f600, sizeof f600, rel);
        snprintf(rel, sizeof rel, "m%zu/a/b/public", i);
        pathf(f644, sizeof f644, rel);
        snprintf(rel, sizeof rel, "m%zu/a", i);
        pathf(d1, sizeof d1, rel);
        snprintf(rel, sizeof rel, "m%zu/a/b", i);
        pathf(d2, sizeof d2, rel);
        assert_int_equal(store_write_atomic(f600, "s", 1, 0600, &e), 0);
        assert_int_equal(store_write_atomic(f644, "p", 1, 0644, &e), 0);
        assert_int_equal(mode_of(f600), 0600);
        assert_int_equal(mode_of(f644), 0644);
        assert_int_equal(mode_of(d1), 0755);
        assert_int_equal(mode_of(d2), 0755);

        snprintf(rel, sizeof rel, "m%zu/certs/cert.crt", i);
        pathf(cert, sizeof cert, rel);
        snprintf(rel, sizeof rel, "m%zu/keys/priv.key", i);
        pathf(key, sizeof key, rel);
        assert_int_equal(store_pair_commit(cert, "C", 1, key, "K", 1, &e), 0);
        assert_int_equal(mode_of(cert), 0644);
        assert_int_equal(mode_of(key), 0600);
        snprintf(rel, sizeof rel, "m%zu/certs", i);
        pathf(d1, sizeof d1, rel);
        assert_int_equal(mode_of(d1), 0755);
    }
    umask(022);
}

static void test_atomic_and_read(void **state)
{
    struct ac_error e;
    char p[512], dir[512], *data = NULL;
    size_t len = 0;
    static const char *const allowed[] = {"file.txt", NULL};

    (void)state;
    pathf(dir, sizeof dir, "atomic");
    pathf(p, sizeof p, "atomic/file.txt");
    assert_int_equal(store_write_atomic(p, "first version", 13, 0644, &e), 0);
    assert_int_equal(store_write_atomic(p, "second", 6, 0600, &e), 0);
    assert_file_is(p, "second");
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(count_extra(dir, allowed), 0);

    /* bounded read: exactly the limit passes, one byte over fails */
    assert_int_equal(store_read_file(p, 6, &data, &len, &e), 0);
    assert_int_equal(len, 6);
    assert_int_equal(data[6], '\0');
    free(data);
    data = NULL;
    assert_int_equal(store_read_file(p, 5, &data, &len, &e), -1);
    assert_string_equal(e.kind, AC_ERR_IO);
    assert_null(data);

    pathf(p, sizeof p, "atomic/missing");
    assert_int_equal(store_read_file(p, 100, &data, &len, &e), -1);
    assert_string_equal(e.kind, AC_ERR_NOT_FOUND);
    assert_int_equal(store_read_file(dir, 100, &data, &len, &e), -1);
    assert_string_equal(e.kind, AC_ERR_IO);

    /* a symlink at the final path is replaced, its target never written */
    char target[512];
    struct stat st;
    pathf(target, sizeof target, "target");
    write_raw(target, "untouched", 9);
    pathf(p, sizeof p, "atomic/link");
    assert_int_equal(symlink(target, p), 0);
    assert_int_equal(store_write_atomic(p, "new", 3, 0644, &e), 0);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_file_is(target, "untouched");

    pathf(p, sizeof p, "atomic/x/y/z");
    assert_int_equal(store_mkdirs_for(p, &e), 0);
    pathf(p, sizeof p, "atomic/x/y");
    assert_int_equal(mode_of(p), 0755);
}

/* Issue 10 item 13: a FIFO (or another non-regular file) is refused at once,
 * never waited on. The read runs in a child with an alarm, so a read that
 * blocks fails the test instead of hanging it. */
static void test_read_fifo(void **state)
{
    char fifo[512];
    int status = 0;
    pid_t pid;

    (void)state;
    pathf(fifo, sizeof fifo, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ac_error e;
        char *data = NULL, want[600];
        size_t len = 0;
        alarm(10);
        if (store_read_file(fifo, 100, &data, &len, &e) != -1 || data != NULL)
            _exit(3);
        snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", fifo);
        _exit(strcmp(e.kind, AC_ERR_IO) == 0 && strstr(e.message, want) != NULL ? 0 : 4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("store_read_file blocked on a FIFO (signal %d)", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_account_key(void **state)
{
    struct ac_error e;
    struct crypto_key *k1 = NULL, *k2 = NULL, *k3 = NULL;
    unsigned char *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0, len = 0;
    char p[512], pem_path[512], bad[512], *data = NULL, *pem = NULL;
    bool created = false;

    (void)state;
    assert_int_equal(crypto_init(), 0);
    pathf(p, sizeof p, "acct/certs/acme.key");
    assert_int_equal(store_account_key_load(p, &k1, &created, &e), 0);
    assert_true(created);
    assert_int_equal(crypto_key_get_type(k1), CRYPTO_KEY_EC256);
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(store_read_file(p, 4096, &data, &len, &e), 0);
    assert_true(len > 0 && (unsigned char)data[0] == 0x30); /* DER SEQUENCE */
    free(data);
    data = NULL;

    assert_int_equal(store_account_key_load(p, &k2, &created, &e), 0);
    assert_false(created);
    assert_int_equal(crypto_key_export_account_der(k1, &d1, &l1, &e), 0);
    assert_int_equal(crypto_key_export_account_der(k2, &d2, &l2, &e), 0);
    assert_int_equal(l1, l2);
    assert_memory_equal(d1, d2, l1);

    /* PEM (PKCS#8) is read as well */
    assert_int_equal(crypto_key_export_pkcs8_pem(k1, &pem, &len, &e), 0);
    pathf(pem_path, sizeof pem_path, "acct/pem.key");
    write_raw(pem_path, pem, len);
    assert_int_equal(store_account_key_load(pem_path, &k3, &created, &e), 0);
    assert_false(created);
    crypto_key_free(k3);
    k3 = NULL;

    /* garbage and empty files are errors and stay as they are */
    pathf(bad, sizeof bad, "acct/garbage.key");
    write_raw(bad, "not a key at all\n", 17);
    assert_int_equal(store_account_key_load(bad, &k3, &created, &e), -1);
    assert_null(k3);
    assert_string_equal(e.kind, AC_ERR_KEY_UNREADABLE);
    assert_non_null(strstr(e.message, bad));
    assert_file_is(bad, "not a key at all\n");
    write_raw(bad, "", 0);
    assert_int_equal(store_account_key_load(bad, &k3, NULL, &e), -1);
    assert_string_equal(e.kind, AC_ERR_KEY_UNREADABLE);
    assert_file_is(bad, "");
    /* NULL error object still creates a missing key */
    pathf(bad, sizeof bad, "acct/noerr.key");
    assert_int_equal(store_account_key_load(bad, &k3, NULL, NULL), 0);
    crypto_key_free(k3);

    gnutls_free(d1);
    gnutls_free(d2);
    gnutls_free(pem);
    crypto_key_free(k1);
    crypto_key_free(k2);
}

static void test_failure_marker(void **state)
{
    struct ac_error e;
    char p[512], cert[512], key[512], marker[512];
    int64_t t = 0;

    (void)state;
    assert_int_equal(store_failure_marker_path("certs/cert.crt", "certs/priv.key", p, sizeof p), 0);
    assert_string_equal(p, "certs/.last_failure-68435196b59a");
    assert_int_equal(store_lock_path("certs/cert.crt", "certs/priv.key", p, sizeof p), 0);
    assert_string_equal(p, "certs/.lock-68435196b59a");
    assert_int_equal(store_state_path("certs/cert.crt", "certs/priv.key", p, sizeof p), 0);
    assert_string_equal(p, "certs/.state-68435196b59a.json");
    assert_int_equal(store_failure_marker_path("certs/cert.crt", "certs/priv.key", p, 10), -1);

    pathf(cert, sizeof cert, "mk/cert.crt");
    pathf(key, sizeof key, "mk/priv.key");
    assert_int_equal(store_failure_marker_read(cert, key, &t), -1);
    assert_int_equal(store_failure_marker_write(cert, key, 1735787045, &e), 0);
    assert_int_equal(store_failure_marker_path(cert, key, marker, sizeof marker), 0);
    assert_int_equal(mode_of(marker), 0600);
    assert_file_is(marker, "2025-01-02T03:04:05Z");
    assert_int_equal(store_failure_marker_read(cert, key, &t), 0);
    assert_int_equal(t, 1735787045);
    /* GoDoxy's own format with an offset and a newline is read too */
    write_raw(marker, "2025-01-02T04:04:05+01:00\n", 26);
    assert_int_equal(store_failure_marker_read(cert, key, &t), 0);
    assert_int_equal(t, 1735787045);
    write_raw(marker, "garbage", 7);
    assert_int_equal(store_failure_marker_read(cert, key, &t), -1);
    assert_int_equal(store_failure_marker_remove(cert, key, &e), 0);
    assert_int_equal(access(marker, F_OK), -1);
    assert_int_equal(store_failure_marker_remove(cert, key, &e), 0);
}

struct thread_try {
    const char *cert, *key;
    int rc;
    struct ac_error e;
};

static void *lock_thread(void *arg)
{
    struct thread_try *t = arg;
    struct store_lock *l = NULL;
    t->rc = store_lock_acquire(t->cert, t->key, &l, &t->e);
    store_lock_release(l);
    return NULL;
}

static void test_lock(void **state)
{
    struct ac_error e;
    struct store_lock *l1 = NULL, *l2 = NULL;
    char cert[512], key[512], want[64];
    int pfd[2], status = 0;
    pid_t pid;

    (void)state;
    pathf(cert, sizeof cert, "lk/certs/cert.crt");
    pathf(key, sizeof key, "lk/certs/priv.key");
    assert_int_equal(store_lock_acquire(cert, key, &l1, &e), 0);

    /* same process, another open */
    assert_int_equal(store_lock_acquire(cert, key, &l2, &e), -1);
    assert_null(l2);
    assert_string_equal(e.kind, AC_ERR_LOCKED);
    snprintf(want, sizeof want, "(pid %ld)", (long)getpid());
    assert_non_null(strstr(e.message, want));

    /* another thread */
    struct thread_try t = {.cert = cert, .key = key};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, lock_thread, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.rc, -1);
    assert_string_equal(t.e.kind, AC_ERR_LOCKED);

    /* another process: refused, message names our pid */
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store_lock *l = NULL;
        struct ac_error ce;
        close(pfd[0]);
        int rc = store_lock_acquire(cert, key, &l, &ce);
        if (rc == 0)
            _exit(4);
        ssize_t w = write(pfd[1], ce.message, strlen(ce.message));
        _exit(w > 0 && strcmp(ce.kind, AC_ERR_LOCKED) == 0 ? 0 : 5);
    }
    close(pfd[1]);
    char msg[AC_ERROR_MESSAGE_MAX] = {0};
    ssize_t r = read(pfd[0], msg, sizeof msg - 1);
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(r > 0);
    assert_non_null(strstr(msg, "another autocert process"));
    assert_non_null(strstr(msg, want));

    /* after release: the child gets it and holds it; we are refused with its pid */
    store_lock_release(l1);
    l1 = NULL;
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store_lock *l = NULL;
        char c = 'x';
        close(go[0]);
        close(done[1]);
        if (store_lock_acquire(cert, key, &l, NULL) != 0)
            _exit(6);
        if (write(go[1], &c, 1) != 1)
            _exit(7);
        if (read(done[0], &c, 1) < 0)
            _exit(8);
        store_lock_release(l);
        _exit(0);
    }
    close(go[1]);
    close(done[0]);
    char c;
    assert_int_equal(read(go[0], &c, 1), 1);
    assert_int_equal(store_lock_acquire(cert, key, &l2, &e), -1);
    assert_string_equal(e.kind, AC_ERR_LOCKED);
    snprintf(want, sizeof want, "another autocert process (pid %ld)", (long)pid);
    assert_non_null(strstr(e.message, want));
    assert_int_equal(write(done[1], "x", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    close(go[0]);
    close(done[1]);
    /* released by the exited child: ours again */
    assert_int_equal(store_lock_acquire(cert, key, &l2, &e), 0);
    store_lock_release(l2);
    store_lock_release(NULL);
}

static void test_state(void **state)
{
    struct ac_error e;
    char cert[512], key[512], p[512];
    json_object *o = NULL, *in = NULL;

    (void)state;
    pathf(cert, sizeof cert, "st/cert.crt");
    pathf(key, sizeof key, "st/priv.key");
    assert_int_equal(store_state_read(cert, key, &o, &e), 0);
    assert_null(o);
    in = json_object_new_object();
    json_object_object_add(in, "failures", json_object_new_int(3));
    json_object_object_add(in, "ari_point", json_object_new_int64(1735787045));
    assert_int_equal(store_state_write(cert, key, in, &e), 0);
    assert_int_equal(store_state_path(cert, key, p, sizeof p), 0);
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(store_state_read(cert, key, &o, &e), 0);
    assert_non_null(o);
    assert_true(json_object_equal(o, in));
    json_object_put(o);
    o = NULL;
    write_raw(p, "{\"broken\":", 10);
    assert_int_equal(store_state_read(cert, key, &o, &e), -1);
    assert_null(o);
    write_raw(p, "[1,2]", 5);
    assert_int_equal(store_state_read(cert, key, &o, &e), -1);
    assert_null(o);
    json_object_put(in);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_fifo, setup, teardown),
    };
    ac_log_set_level(AC_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
