/* test_http_cafile.c - the CA bundle file the HTTP client writes when libcurl
 * cannot take extra roots from memory: it is removed with the last client, and
 * files left by processes that died (SIGKILL skips the cleanup) are swept the
 * next time a bundle file is made. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

#include "http.h"

static int count_prefix(const char *prefix)
{
    DIR *d = opendir("/tmp");
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void test_stale_files_swept(void **state)
{
    char stale[128], alive[128], prefix_dead[64], pem[] = "/tmp/test-cafile-XXXXXX";
    const char *files[1];
    struct http_client_opts o = {0};
    struct http_client *c = NULL;
    struct ac_error e;
    pid_t dead;
    int fd;

    (void)state;
    /* a pid that certainly no longer exists: a child that has been reaped */
    dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    snprintf(stale, sizeof stale, "/tmp/autocert-ca-%ld-0-TESTxx", (long)dead);
    snprintf(prefix_dead, sizeof prefix_dead, "autocert-ca-%ld-", (long)dead);
    /* a file of a live process (our parent) is left alone */
    snprintf(alive, sizeof alive, "/tmp/autocert-ca-%ld-0-TESTyy", (long)getppid());
    fd = open(stale, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    close(fd);
    fd = open(alive, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    close(fd);

    /* an extra root forces the bundle file when the blob option is missing */
    fd = mkstemp(pem);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(system("certtool --generate-privkey --key-type ecdsa --outfile /tmp/test-cafile.key >/dev/null 2>&1 && "
                            "printf 'cn = t\\nca\\ncert_signing_key\\nexpiration_days = 1\\n' > /tmp/test-cafile.tmpl && "
                            "certtool --generate-self-signed --load-privkey /tmp/test-cafile.key "
                            "--template /tmp/test-cafile.tmpl --outfile /tmp/test-cafile.pem >/dev/null 2>&1"), 0);
    files[0] = "/tmp/test-cafile.pem";
    o.ca_files = files;
    o.ca_count = 1;
    assert_int_equal(http_client_new(&o, &c, &e), 0);
    http_client_free(c);

    struct stat st;
    if (count_prefix(prefix_dead) != 0 && stat(stale, &st) == 0) {
        /* libcurl took the roots from memory: no file was made, no sweep ran */
        skip();
    }
    assert_int_equal(stat(stale, &st), -1);   /* swept */
    assert_int_equal(stat(alive, &st), 0);    /* kept */
    unlink(alive);
    unlink(pem);
    unlink("/tmp/test-cafile.key");
    unlink("/tmp/test-cafile.tmpl");
    unlink("/tmp/test-cafile.pem");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_files_swept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
