/*
 * test_load_concurrency.c - a load and a reload of more sets than
 * ACSET_LOG_EACH_MAX read the sets' files on several threads
 * (autocert_manager_load / _reload). 1,200 local sets, half of them in one
 * shared directory (the threads share its listing), half in directories of
 * their own; some broken on purpose: a key of another set, a certificate
 * without its key, no files at all, a temp file a crashed write left. Every
 * set must end up with its own certificate or its own error, and a reload
 * must re-read exactly the sets whose files changed. Run under ASan and TSan
 * (label "concurrency").
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka after the system headers */
#include <setjmp.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "test_manager_certs.h"

#define NSETS 1200

static char dir[] = "/tmp/ac-loadpar-XXXXXX";
static char cfg_path[256];

/* What set i is made to be. */
enum kind { OK, WRONG_KEY, NO_KEY, NO_FILES };

static enum kind kind_of(size_t i)
{
    if (i == 0)
        return OK; /* main */
    if (i % 97 == 0)
        return WRONG_KEY;
    if (i % 101 == 0)
        return NO_KEY;
    if (i % 103 == 0)
        return NO_FILES;
    return OK;
}

/* Even sets share dir/shared, odd ones have dir/d<i>. */
static void paths(size_t i, char *crt, char *key, size_t n)
{
    if (i % 2 == 0) {
        snprintf(crt, n, "%s/shared/s%zu.crt", dir, i);
        snprintf(key, n, "%s/shared/s%zu.key", dir, i);
    } else {
        snprintf(crt, n, "%s/d%zu/s.crt", dir, i);
        snprintf(key, n, "%s/d%zu/s.key", dir, i);
    }
}

static void make_set(size_t i, const char *cn)
{
    char crt[256], key[256], san[64];
    const char *sans[1] = {san};

    paths(i, crt, key, sizeof crt);
    snprintf(san, sizeof san, "s%zu.example.test", i);
    assert_int_equal(tmc_make(crt, key, cn, sans, 1), 0);
}

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *buf = tmc_slurp(from, &len);
    FILE *f = fopen(to, "wb");

    assert_non_null(buf);
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(buf);
}

static int setup(void **state)
{
    char crt[256], key[256], sub[256], cn[32];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/shared", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    for (size_t i = 0; i < NSETS; i++) {
        if (i % 2 == 1) {
            snprintf(sub, sizeof sub, "%s/d%zu", dir, i);
            assert_int_equal(mkdir(sub, 0700), 0);
        }
        if (kind_of(i) == NO_FILES)
            continue;
        snprintf(cn, sizeof cn, "S%zu", i);
        make_set(i, cn);
    }
    for (size_t i = 1; i < NSETS; i++) {
        char okey[256], ocrt[256];

        paths(i, crt, key, sizeof crt);
        if (kind_of(i) == WRONG_KEY) {
            paths(i + 1, ocrt, okey, sizeof ocrt); /* i + 1 is OK for every i % 97 == 0 here */
            copy_file(okey, key);
        } else if (kind_of(i) == NO_KEY) {
            assert_int_equal(unlink(key), 0);
        }
    }
    /* a temp file of a write that crashed: recovered (removed) by the load */
    snprintf(sub, sizeof sub, "%s/shared/.s10.crt.new.tmp-crashed", dir);
    f = fopen(sub, "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);

    snprintf(cfg_path, sizeof cfg_path, "%s/autocert.yml", dir);
    f = fopen(cfg_path, "w");
    assert_non_null(f);
    paths(0, crt, key, sizeof crt);
    fprintf(f, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n  extra:\n", crt,
            key);
    for (size_t i = 1; i < NSETS; i++) {
        paths(i, crt, key, sizeof crt);
        fprintf(f, "    - {cert_path: %s, key_path: %s}\n", crt, key);
    }
    assert_int_equal(fclose(f), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Every set holds its own certificate (CN S<i>, or want_cn for set `changed`)
 * or its own error; returns how many hold one. */
static int check_sets(autocert_manager *m, size_t changed, const char *want_cn)
{
    int holding = 0;

    assert_int_equal(autocert_manager_set_count(m), NSETS);
    for (size_t i = 0; i < NSETS; i++) {
        autocert_status st;
        char cn[32];

        assert_int_equal(autocert_manager_status(m, i, &st), 0);
        switch (kind_of(i)) {
        case OK:
            if (!st.has_cert)
                fail_msg("set %zu holds no certificate: %s", i, st.last_error.message);
            snprintf(cn, sizeof cn, "S%zu", i);
            assert_string_equal(st.subject, i == changed ? want_cn : cn);
            holding++;
            break;
        case WRONG_KEY:
            assert_false(st.has_cert);
            assert_non_null(strstr(st.last_error.message, "does not match"));
            break;
        case NO_KEY:
            assert_false(st.has_cert);
            assert_non_null(strstr(st.last_error.message, "missing"));
            break;
        case NO_FILES:
            assert_false(st.has_cert);
            assert_string_equal(st.last_error.kind, "");
            break;
        }
        autocert_status_clear(&st);
    }
    return holding;
}

/* Lookups by every OK set's name get that set's certificate. */
static void check_lookups(autocert_manager *m)
{
    for (size_t i = 1; i < NSETS; i++) {
        char name[64];
        autocert_status st;
        autocert_cert *c;

        if (kind_of(i) != OK)
            continue;
        snprintf(name, sizeof name, "s%zu.example.test", i);
        c = autocert_manager_lookup(m, name, strlen(name));
        assert_non_null(c);
        assert_int_equal(autocert_manager_status(m, i, &st), 0);
        assert_string_equal(autocert_cert_set_name(c), st.name);
        autocert_status_clear(&st);
        autocert_cert_release(c);
    }
}

static void test_load_and_reload(void **state)
{
    autocert_manager *m = NULL;
    autocert_error err;
    char tmp[300];
    int ok = 0;

    (void)state;
    for (size_t i = 0; i < NSETS; i++)
        ok += kind_of(i) == OK;
    assert_int_equal(autocert_manager_open(cfg_path, NULL, NULL, &m, &err), 0);
    assert_int_equal(autocert_manager_load(m), ok);
    assert_int_equal(check_sets(m, SIZE_MAX, NULL), ok);
    check_lookups(m);
    snprintf(tmp, sizeof tmp, "%s/shared/.s10.crt.new.tmp-crashed", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(errno, ENOENT);

    /* nothing changed: a reload re-reads nothing and changes nothing */
    assert_int_equal(autocert_manager_reload(m), 0);
    /* one set rewritten: exactly it changes (a new inode, as a writer makes) */
    sleep(1);
    make_set(500, "S500-new");
    assert_int_equal(autocert_manager_reload(m), 1);
    assert_int_equal(check_sets(m, 500, "S500-new"), ok);
    check_lookups(m);
    autocert_manager_free(m);

    /* a fresh load sees the same */
    assert_int_equal(autocert_manager_open(cfg_path, NULL, NULL, &m, &err), 0);
    assert_int_equal(autocert_manager_load(m), ok);
    assert_int_equal(check_sets(m, 500, "S500-new"), ok);
    autocert_manager_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_reload),
    };

    autocert_log_set(NULL, NULL, AUTOCERT_LOG_ERROR);
    return cmocka_run_group_tests(tests, setup, teardown);
}
