/* test_store_pair.c - the store's key+chain pair in a mkdtemp directory:
 * recovered to exactly the old or exactly the new pair after a crash at every
 * step of the commit (forked children that _exit at step n; built with
 * AUTOCERT_TEST_HOOKS), one directory for both and stray staging files, a
 * loader beside a writer (recovers nothing, reads the committed pair),
 * recovery when a staged file vanished, leftover companion temp files, and
 * the recovery driven by a directory scan. The rest of the store:
 * test_store.c. */
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

#define OLD_CERT "-----OLD CERT CHAIN-----\nold leaf\nold intermediate\n"
#define OLD_KEY "-----OLD KEY-----\nold key bytes\n"
#define NEW_CERT "-----NEW CERT CHAIN-----\nnew leaf, longer than the old one\nnew int\n"
#define NEW_KEY "-----NEW KEY-----\nnew key bytes, also longer\n"

#ifdef AUTOCERT_TEST_HOOKS
static void test_pair_crash_points(void **state)
{
    struct ac_error e;
    char base[512], cdir[512], kdir[512], cert[512], key[512], stray[512];
    static const char *const c_allowed[] = {"cert.crt", NULL};
    static const char *const k_allowed[] = {"priv.key", NULL};

    (void)state;
    for (int n = 1; n <= 8; n++) {
        char rel[64];
        snprintf(rel, sizeof rel, "crash%d", n);
        pathf(base, sizeof base, rel);
        snprintf(cdir, sizeof cdir, "%s/certs", base);
        snprintf(kdir, sizeof kdir, "%s/keys", base);
        snprintf(cert, sizeof cert, "%s/cert.crt", cdir);
        snprintf(key, sizeof key, "%s/priv.key", kdir);
        assert_int_equal(
            store_pair_commit(cert, OLD_CERT, strlen(OLD_CERT), key, OLD_KEY, strlen(OLD_KEY), &e),
            0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            store_test_set_crash_point(n); /* 8: no crash, the commit completes */
            int rc = store_pair_commit(cert, NEW_CERT, strlen(NEW_CERT), key, NEW_KEY,
                                       strlen(NEW_KEY), NULL);
            _exit(rc == 0 && n == 8 ? 0 : 3);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        if (n == 2) {
            /* also a temp file of a staging write torn by the crash */
            snprintf(stray, sizeof stray, "%s/.cert.crt.new.tmp-0123456789abcdef", cdir);
            write_raw(stray, "torn", 4);
        }
        assert_int_equal(store_pair_recover(cert, key, &e), 0);
        assert_int_equal(store_pair_recover(cert, key, &e), 0); /* idempotent */
        if (n <= 2) {
            assert_file_is(cert, OLD_CERT);
            assert_file_is(key, OLD_KEY);
        } else {
            assert_file_is(cert, NEW_CERT);
            assert_file_is(key, NEW_KEY);
        }
        assert_int_equal(mode_of(cert), 0644);
        assert_int_equal(mode_of(key), 0600);
        assert_int_equal(count_extra(cdir, c_allowed), 0);
        assert_int_equal(count_extra(kdir, k_allowed), 0);
    }
}
#endif

static void test_pair_same_dir_and_stray(void **state)
{
    struct ac_error e;
    char dir[512], cert[512], key[512], stray[512];
    static const char *const allowed[] = {"cert.crt", "priv.key", NULL};

    (void)state;
    pathf(dir, sizeof dir, "same");
    pathf(cert, sizeof cert, "same/cert.crt");
    pathf(key, sizeof key, "same/priv.key");
    assert_int_equal(
        store_pair_commit(cert, OLD_CERT, strlen(OLD_CERT), key, OLD_KEY, strlen(OLD_KEY), &e), 0);
    /* stray staging files without a journal are discarded */
    snprintf(stray, sizeof stray, "%s.new", cert);
    write_raw(stray, "x", 1);
    snprintf(stray, sizeof stray, "%s.new", key);
    write_raw(stray, "y", 1);
    assert_int_equal(store_pair_recover(cert, key, &e), 0);
    assert_file_is(cert, OLD_CERT);
    assert_file_is(key, OLD_KEY);
    assert_int_equal(count_extra(dir, allowed), 0);
    /* a second commit replaces both */
    assert_int_equal(
        store_pair_commit(cert, NEW_CERT, strlen(NEW_CERT), key, NEW_KEY, strlen(NEW_KEY), &e), 0);
    assert_file_is(cert, NEW_CERT);
    assert_file_is(key, NEW_KEY);
    assert_int_equal(count_extra(dir, allowed), 0);
    /* the same path for both is refused */
    assert_int_equal(store_pair_commit(cert, "a", 1, cert, "b", 1, &e), -1);
    assert_file_is(cert, NEW_CERT);
}

/* "<dir>/.<base of companion>.tmp-<16 hex>": the name store_write_atomic gives
 * its temp file for `companion`. */
static void tmp_name_of(char *buf, size_t n, const char *companion)
{
    const char *slash = strrchr(companion, '/');
    int k = snprintf(buf, n, "%.*s/.%s.tmp-0123456789abcdef", (int)(slash - companion), companion,
                     slash + 1);
    assert_true(k > 0 && (size_t)k < n);
}

static void set_mtime_ago(const char *p, time_t ago)
{
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - ago;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* Issue 10 item 17: recovery removes the temp files a crash left beside the
 * failure marker (any age) and the state file (older than an hour: the state
 * file is written without the set's lock), never the lock file; a loader that
 * finds the set locked removes nothing. */
static void test_companion_temps(void **state)
{
    struct ac_error e;
    struct store_lock *l = NULL;
    char cert[512], key[512], marker[512], st[512], lockp[512];
    char t_marker[600], t_state_old[600], t_state_young[600];

    (void)state;
    pathf(cert, sizeof cert, "tmps/cert.crt");
    pathf(key, sizeof key, "tmps/priv.key");
    assert_int_equal(
        store_pair_commit(cert, OLD_CERT, strlen(OLD_CERT), key, OLD_KEY, strlen(OLD_KEY), &e), 0);
    assert_int_equal(store_failure_marker_path(cert, key, marker, sizeof marker), 0);
    assert_int_equal(store_state_path(cert, key, st, sizeof st), 0);
    assert_int_equal(store_lock_path(cert, key, lockp, sizeof lockp), 0);
    tmp_name_of(t_marker, sizeof t_marker, marker);
    tmp_name_of(t_state_old, sizeof t_state_old, st);
    snprintf(t_state_young, sizeof t_state_young, "%.*s1", (int)strlen(t_state_old) - 1,
             t_state_old);

    /* the real temp name of a marker write starts as computed above */
    assert_non_null(strstr(t_marker, "/..last_failure-"));
    write_raw(t_marker, "2025-", 5);
    write_raw(t_state_old, "{\"fail", 6);
    set_mtime_ago(t_state_old, 7200);
    write_raw(t_state_young, "{\"fail", 6);

    /* a writer holds the set: the loader's recovery leaves everything */
    assert_int_equal(store_lock_acquire(cert, key, &l, &e), 0);
    assert_int_equal(store_pair_recover_if_idle(cert, key, &e), 0);
    assert_int_equal(access(t_marker, F_OK), 0);
    assert_int_equal(access(t_state_old, F_OK), 0);
    store_lock_release(l);
    l = NULL;

    /* idle: stale temps go, the young state temp and the lock file stay */
    assert_int_equal(store_pair_recover_if_idle(cert, key, &e), 0);
    assert_int_equal(access(t_marker, F_OK), -1);
    assert_int_equal(access(t_state_old, F_OK), -1);
    assert_int_equal(access(t_state_young, F_OK), 0);
    assert_int_equal(access(lockp, F_OK), 0);
    assert_file_is(cert, OLD_CERT);
    assert_file_is(key, OLD_KEY);

    /* store_pair_recover (the writer's step 0) does the same */
    write_raw(t_marker, "2025-", 5);
    assert_int_equal(store_pair_recover(cert, key, &e), 0);
    assert_int_equal(access(t_marker, F_OK), -1);
    assert_int_equal(access(t_state_young, F_OK), 0);
}

/* Issue 10 item 1, store level: a loader beside a writer never deletes the
 * writer's staged files, and store_pair_read returns the committed pair. */
static void test_loader_beside_writer(void **state)
{
    struct ac_error e;
    struct store_lock *l = NULL;
    char cert[512], key[512], knew[600], cnew[600], journal[512];
    char *chain = NULL, *k = NULL;
    size_t cl = 0, kl = 0;

    (void)state;
    pathf(cert, sizeof cert, "side/cert.crt");
    pathf(key, sizeof key, "side/priv.key");
    snprintf(knew, sizeof knew, "%s.new", key);
    snprintf(cnew, sizeof cnew, "%s.new", cert);
    assert_int_equal(store_journal_path(cert, key, journal, sizeof journal), 0);
    assert_int_equal(
        store_pair_commit(cert, OLD_CERT, strlen(OLD_CERT), key, OLD_KEY, strlen(OLD_KEY), &e), 0);

    /* staged, no journal yet (a writer between steps 2 and 3) */
    assert_int_equal(store_lock_acquire(cert, key, &l, &e), 0);
    write_raw(knew, NEW_KEY, strlen(NEW_KEY));
    write_raw(cnew, NEW_CERT, strlen(NEW_CERT));
    assert_int_equal(store_pair_recover_if_idle(cert, key, &e), 0);
    assert_int_equal(access(knew, F_OK), 0);
    assert_int_equal(access(cnew, F_OK), 0);
    assert_int_equal(store_pair_read(cert, 4096, &chain, &cl, key, 4096, &k, &kl, &e), 0);
    assert_string_equal(chain, OLD_CERT);
    assert_string_equal(k, OLD_KEY);
    free(chain);
    free(k);

    /* journal written, key promoted (between steps 4 and 5): the committed pair */
    write_raw(journal, "{}", 2);
    assert_int_equal(rename(knew, key), 0);
    assert_int_equal(store_pair_recover_if_idle(cert, key, &e), 0);
    assert_int_equal(access(cnew, F_OK), 0);
    assert_int_equal(store_pair_read(cert, 4096, &chain, &cl, key, 4096, &k, &kl, &e), 0);
    assert_string_equal(chain, NEW_CERT);
    assert_string_equal(k, NEW_KEY);
    free(chain);
    free(k);
    store_lock_release(l);

    /* absent pair: both NULL */
    pathf(cert, sizeof cert, "side/none.crt");
    pathf(key, sizeof key, "side/none.key");
    assert_int_equal(store_pair_read(cert, 4096, &chain, &cl, key, 4096, &k, &kl, &e), 0);
    assert_null(chain);
    assert_null(k);
}

/* Recovery with a journal whose staged file vanished (removed behind the
 * writer's back): never completes half a pair. */
static void test_recover_vanished_staged(void **state)
{
    struct ac_error e;
    char cert[512], key[512], knew[600], cnew[600], journal[512], body[2048];
    static const char *const allowed[] = {"cert.crt", "priv.key", NULL};
    char dir[512];
    unsigned char kh[32], ch[32];
    char khex[65], chex[65];

    (void)state;
    assert_int_equal(crypto_init(), 0);
    pathf(dir, sizeof dir, "van");
    pathf(cert, sizeof cert, "van/cert.crt");
    pathf(key, sizeof key, "van/priv.key");
    snprintf(knew, sizeof knew, "%s.new", key);
    snprintf(cnew, sizeof cnew, "%s.new", cert);
    assert_int_equal(store_journal_path(cert, key, journal, sizeof journal), 0);
    assert_int_equal(
        store_pair_commit(cert, OLD_CERT, strlen(OLD_CERT), key, OLD_KEY, strlen(OLD_KEY), &e), 0);
    crypto_sha256(NEW_KEY, strlen(NEW_KEY), kh);
    crypto_sha256(NEW_CERT, strlen(NEW_CERT), ch);
    for (int i = 0; i < 32; i++) {
        snprintf(khex + 2 * i, 3, "%02x", kh[i]);
        snprintf(chex + 2 * i, 3, "%02x", ch[i]);
    }
    snprintf(body, sizeof body,
             "{\"key_new\":\"%s\",\"cert_new\":\"%s\",\"key_sha256\":\"%s\","
             "\"cert_sha256\":\"%s\"}",
             knew, cnew, khex, chex);

    /* staged key gone, chain still staged: the new pair is given up */
    write_raw(cnew, NEW_CERT, strlen(NEW_CERT));
    write_raw(journal, body, strlen(body));
    assert_int_equal(store_pair_recover(cert, key, &e), 0);
    assert_file_is(cert, OLD_CERT);
    assert_file_is(key, OLD_KEY);
    assert_int_equal(count_extra(dir, allowed), 0);

    /* key already promoted, chain still staged: finished normally */
    write_raw(key, NEW_KEY, strlen(NEW_KEY));
    write_raw(cnew, NEW_CERT, strlen(NEW_CERT));
    write_raw(journal, body, strlen(body));
    assert_int_equal(store_pair_recover(cert, key, &e), 0);
    assert_file_is(cert, NEW_CERT);
    assert_file_is(key, NEW_KEY);
    assert_int_equal(count_extra(dir, allowed), 0);
}

/* Issue 12: a batch (store_scan) answers "nothing to recover" from its
 * directory listings, with no lstat per set; every leftover kind a listing
 * shows is still recovered, and the reload's journal check reads the same
 * listing. */
static void test_scan_recovery(void **state)
{
    struct ac_error e;
    struct store_scan *scan;
    char dir[512], cert[512], key[512], journal[512], marker[512], lockp[512], left[700];
    char *chain = NULL, *k = NULL, body[2048], khex[65], chex[65];
    unsigned char kh[32], ch[32];
    size_t cl = 0, kl = 0;
    const char *allowed[] = {"cert.crt", "priv.key", NULL, NULL}; /* and the lock file */

    (void)state;
    pathf(dir, sizeof dir, "scan");
    pathf(cert, sizeof cert, "scan/cert.crt");
    pathf(key, sizeof key, "scan/priv.key");
    assert_int_equal(store_lock_path(cert, key, lockp, sizeof lockp), 0);
    allowed[2] = strrchr(lockp, '/') + 1;
    assert_int_equal(store_journal_path(cert, key, journal, sizeof journal), 0);
    assert_int_equal(store_failure_marker_path(cert, key, marker, sizeof marker), 0);
    assert_int_equal(
        store_pair_commit(cert, OLD_CERT, strlen(OLD_CERT), key, OLD_KEY, strlen(OLD_KEY), &e), 0);

    /* clean: nothing to do, no journal listed; no listing: cannot tell */
    scan = store_scan_new();
    assert_non_null(scan);
    assert_int_equal(store_pair_recover_if_idle_scan(cert, key, scan, &e), 0);
    assert_int_equal(store_pair_journal_listed(cert, key, scan), 0);
    assert_int_equal(store_pair_journal_listed(cert, key, NULL), -1);
    store_scan_free(scan);
    assert_int_equal(count_extra(dir, allowed), 0);

    /* each leftover a fresh batch lists is removed, the pair kept */
    for (int kind = 0; kind < 5; kind++) {
        switch (kind) {
        case 0:
            snprintf(left, sizeof left, "%s.new", cert);
            break;
        case 1:
            snprintf(left, sizeof left, "%s.new", key);
            break;
        case 2:
            snprintf(left, sizeof left, "%s/.cert.crt.new.tmp-0123", dir);
            break;
        case 3:
            snprintf(left, sizeof left, "%s/.priv.key.new.tmp-0123", dir);
            break;
        default:
            tmp_name_of(left, sizeof left, marker);
            break;
        }
        write_raw(left, "x", 1);
        scan = store_scan_new();
        assert_non_null(scan);
        assert_int_equal(store_pair_recover_if_idle_scan(cert, key, scan, &e), 0);
        store_scan_free(scan);
        assert_int_equal(access(left, F_OK), -1);
        assert_int_equal(count_extra(dir, allowed), 0);
        assert_file_is(cert, OLD_CERT);
        assert_file_is(key, OLD_KEY);
    }

    /* a commit interrupted past its commit point (key promoted, chain
     * staged): the listing shows the journal, the batch rolls it forward */
    assert_int_equal(crypto_init(), 0);
    crypto_sha256(NEW_KEY, strlen(NEW_KEY), kh);
    crypto_sha256(NEW_CERT, strlen(NEW_CERT), ch);
    for (int i = 0; i < 32; i++) {
        snprintf(khex + 2 * i, 3, "%02x", kh[i]);
        snprintf(chex + 2 * i, 3, "%02x", ch[i]);
    }
    snprintf(body, sizeof body,
             "{\"key_new\":\"%s.new\",\"cert_new\":\"%s.new\",\"key_sha256\":\"%s\","
             "\"cert_sha256\":\"%s\"}",
             key, cert, khex, chex);
    write_raw(key, NEW_KEY, strlen(NEW_KEY));
    snprintf(left, sizeof left, "%s.new", cert);
    write_raw(left, NEW_CERT, strlen(NEW_CERT));
    write_raw(journal, body, strlen(body));
    scan = store_scan_new();
    assert_non_null(scan);
    assert_int_equal(store_pair_journal_listed(cert, key, scan), 1);
    assert_int_equal(store_pair_read(cert, 4096, &chain, &cl, key, 4096, &k, &kl, &e), 0);
    assert_string_equal(chain, NEW_CERT); /* read as committed, before recovery */
    assert_string_equal(k, NEW_KEY);
    free(chain);
    free(k);
    assert_int_equal(store_pair_recover_if_idle_scan(cert, key, scan, &e), 0);
    store_scan_free(scan);
    assert_file_is(cert, NEW_CERT);
    assert_file_is(key, NEW_KEY);
    assert_int_equal(count_extra(dir, allowed), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef AUTOCERT_TEST_HOOKS
        cmocka_unit_test_setup_teardown(test_pair_crash_points, setup, teardown),
#endif
        cmocka_unit_test_setup_teardown(test_pair_same_dir_and_stray, setup, teardown),
        cmocka_unit_test_setup_teardown(test_companion_temps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loader_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_vanished_staged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_recovery, setup, teardown),
    };
    ac_log_set_level(AC_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
