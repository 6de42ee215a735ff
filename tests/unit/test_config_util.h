/*
 * test_config_util.h - helpers shared by the config unit tests: write YAML to
 * a temp file, load it, find diagnostics.
 */
#ifndef TEST_CONFIG_UTIL_H
#define TEST_CONFIG_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char tc_dir[256];
static char tc_file[300];

static int tc_setup(void **state)
{
    (void)state;
    snprintf(tc_dir, sizeof tc_dir, "/tmp/test_config_XXXXXX");
    if (mkdtemp(tc_dir) == NULL)
        return -1;
    snprintf(tc_file, sizeof tc_file, "%s/t.yml", tc_dir);
    return 0;
}

static int tc_teardown(void **state)
{
    (void)state;
    unlink(tc_file);
    rmdir(tc_dir);
    return 0;
}

static void tc_write(const char *yaml)
{
    FILE *f = fopen(tc_file, "w");

    assert_non_null(f);
    assert_int_equal(fputs(yaml, f) >= 0, 1);
    fclose(f);
}

/* Loads yaml; returns config_load's result. */
static int tc_load(const char *yaml, struct config **cfg, struct config_diags *d)
{
    tc_write(yaml);
    *cfg = NULL;
    memset(d, 0, sizeof *d);
    return config_load(tc_file, cfg, d);
}

static const struct config_diag *tc_find(const struct config_diags *d, const char *substr)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].message != NULL && strstr(d->items[i].message, substr) != NULL)
            return &d->items[i];
    return NULL;
}

static void tc_dump(const struct config_diags *d)
{
    config_diags_print(d, stderr);
}

/* Asserts that loading fails with a diag containing substr at path/line/col
 * (line/col 0 = don't check; path NULL = don't check). */
static void tc_expect_error(const char *yaml, const char *path, int line, int col,
                            const char *substr)
{
    struct config *cfg;
    struct config_diags d;
    const struct config_diag *it;

    assert_int_equal(tc_load(yaml, &cfg, &d), -1);
    assert_null(cfg);
    it = tc_find(&d, substr);
    if (it == NULL)
        tc_dump(&d);
    assert_non_null(it);
    assert_false(it->warning);
    assert_string_equal(it->file, tc_file);
    if (path != NULL) {
        assert_non_null(it->key_path);
        assert_string_equal(it->key_path, path);
    }
    if (line > 0) {
        assert_int_equal(it->line, line);
        assert_int_equal(it->column, col);
    }
    config_diags_free(&d);
}

/* Loads yaml that must be valid. */
static struct config *tc_expect_ok(const char *yaml)
{
    struct config *cfg;
    struct config_diags d;
    int rc = tc_load(yaml, &cfg, &d);

    if (rc != 0)
        tc_dump(&d);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    config_diags_free(&d);
    return cfg;
}

#endif
