/*
 * test_store_util.h - what the store's unit tests share (test_store.c,
 * test_store_pair.c): a mkdtemp directory per case (setup, teardown; the
 * umask back to 022), paths in it, modes, raw writes, stray files, contents.
 */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static __attribute__((unused)) mode_t mode_of(const char *p)
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

#endif
