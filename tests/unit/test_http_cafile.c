/* test_http_cafile.c - the CA bundle file the HTTP client writes when libcurl
 * cannot take extra roots from memory (CURLOPT_CAINFO_BLOB missing): the file
 * is private, removed with its last user, and files left by processes that
 * died (SIGKILL skips the cleanup) are swept when the next one is made. The
 * file path is driven directly (http_priv.h), since this machine's libcurl
 * takes the blob and never needs the file. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "http_priv.h"

static void touch(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);

    assert_true(fd >= 0);
    close(fd);
}

static void test_bundle_file_lifecycle(void **state)
{
    static const char root[] = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n";
    char stale[128], alive[128];
    struct http_ca_file *f, *g;
    struct ac_buf extra;
    struct ac_error e;
    struct stat st;
    char *path;
    pid_t dead;

    (void)state;
    /* a pid that no longer exists: a child that has been reaped */
    dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    snprintf(stale, sizeof stale, "/tmp/autocert-ca-%ld-0-TESTxx", (long)dead);
    snprintf(alive, sizeof alive, "/tmp/autocert-ca-%ld-0-TESTyy", (long)getppid());
    touch(stale);
    touch(alive);

    ac_buf_init(&extra, 4096);
    assert_int_equal(ac_buf_appends(&extra, root), 0);
    f = http_ca_file_get(&extra, &e);
    assert_non_null(f);
    assert_int_equal(stat(stale, &st), -1); /* a dead process's file is swept */
    assert_int_equal(stat(alive, &st), 0);  /* a live process's file is kept */

    path = strdup(http_ca_file_path(f));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    g = http_ca_file_get(&extra, &e); /* same roots: the same file is shared */
    assert_ptr_equal(f, g);
    http_ca_file_put(g);
    assert_int_equal(stat(path, &st), 0);
    http_ca_file_put(f); /* last user: removed */
    assert_int_equal(stat(path, &st), -1);

    free(path);
    ac_buf_free(&extra);
    unlink(alive);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_file_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
