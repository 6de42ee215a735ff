/* test_store.c - the store in a mkdtemp directory: exact modes under umask 022
 * and 077, atomic writes leave no temp files, bounded reads, a FIFO refused
 * without blocking, the key+chain pair recovered to exactly the old or exactly
 * the new pair after a crash at every step of the commit (forked children that
 * _exit at step n; built with AUTOCERT_TEST_HOOKS), a loader beside a writer
 * (recovers nothing, reads the committed pair), recovery when a staged file
 * vanished, leftover companion temp files, the account key (created once then
 * reused, DER and PEM loaded, garbage refused and kept), the GoDoxy failure
 * marker name, the per-set lock (other process, same process, other thread)
 * and the state file. */
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

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_store.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int rm_cb(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static int teardown(void **state)
{
    (void)state;
    umask(022);
    return rm_cb(tmpdir) == 0 ? 0 : -1;
}

static void pathf(char *buf, size_t n, const char *rel)
{
    int k = snprintf(buf, n, "%s/%s", tmpdir, rel);
    assert_true(k > 0 && (size_t)k < n);
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

static void write_raw(const char *p, const char *data, size_t len)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Names in dir other than the allowed ones (NULL-terminated list). */
static int count_extra(const char *dir, const char *const *allowed)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        bool ok = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
        for (size_t i = 0; !ok && allowed[i] != NULL; i++)
            ok = strcmp(de->d_name, allowed[i]) == 0;
        if (!ok) {
            print_message("unexpected file %s/%s\n", dir, de->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void assert_file_is(const char *p, const char *want)
{
    char *data = NULL;
    size_t len = 0;
    struct ac_error e;

    assert_int_equal(store_read_file(p, 1 << 20, &data, &len, &e), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    free(data);
}

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
#ifdef AUTOCERT_TEST_HOOKS
        cmocka_unit_test_setup_teardown(test_pair_crash_points, setup, teardown),
#endif
        cmocka_unit_test_setup_teardown(test_pair_same_dir_and_stray, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_companion_temps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loader_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_vanished_staged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_recovery, setup, teardown),
    };
    ac_log_set_level(AC_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
