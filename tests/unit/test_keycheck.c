/*
 * test_keycheck.c - the private keys' own check (a key's private part gives
 * its public part) that a start-up load of more than 1,000 sets leaves to a
 * thread of its own once serving has started: a set whose key does not hold
 * together (its private scalar changed, its public point still the
 * certificate's) loads, is then reported in its status and stops being
 * served, while every other set keeps its certificate. Below 1,000 sets the
 * same key fails at load, as before. The manager is driven through the
 * public API only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka after the headers it needs */
#include <cmocka.h>

#include <ftw.h>
#include <gnutls/gnutls.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "test_manager_certs.h"

#define MANY 1100  /* above the 1,000 sets of a parallel load */
#define BROKEN 517 /* the set whose key does not hold together */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The PKCS#8 PEM key in `pem` with one byte of its private scalar changed:
 * the SEC1 ECPrivateKey inside starts "02 01 01 04 <n>" (version 1, the
 * scalar in n = 32 bytes, or 33 with a leading zero as GnuTLS writes it);
 * the public point after it stays. */
static char *break_scalar(const char *pem, size_t len, size_t *out_len)
{
    static const unsigned char mark[] = {0x02, 0x01, 0x01, 0x04};
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)len}, der = {NULL, 0}, out = {NULL, 0};
    unsigned char *p;
    char *res;

    assert_int_equal(gnutls_pem_base64_decode2("PRIVATE KEY", &in, &der), 0);
    p = memmem(der.data, der.size, mark, sizeof mark);
    assert_non_null(p);
    assert_true(p[sizeof mark] == 0x20 || p[sizeof mark] == 0x21);
    p[sizeof mark + 1 + 7] ^= 0x5a;
    assert_int_equal(gnutls_pem_base64_encode2("PRIVATE KEY", &der, &out), 0);
    res = malloc(out.size + 1);
    assert_non_null(res);
    memcpy(res, out.data, out.size);
    res[out.size] = '\0';
    *out_len = out.size;
    gnutls_free(der.data);
    gnutls_free(out.data);
    return res;
}

/* n sets in dir, each a copy of one pair (set `broken` with the broken key),
 * and their configuration; returns the configuration's path (static). */
static const char *make_sets(const char *dir, size_t n, size_t broken)
{
    static char cfg_path[1024];
    char cert[1024], key[1024];
    const char *sans[] = {"keycheck.example"};
    char *crt_pem, *key_pem, *bad;
    size_t crt_len = 0, key_len = 0, bad_len = 0;
    FILE *f;

    snprintf(cert, sizeof cert, "%s/src.crt", dir);
    snprintf(key, sizeof key, "%s/src.key", dir);
    assert_int_equal(tmc_make(cert, key, "keycheck.example", sans, 1), 0);
    crt_pem = tmc_slurp(cert, &crt_len);
    key_pem = tmc_slurp(key, &key_len);
    assert_non_null(crt_pem);
    assert_non_null(key_pem);
    bad = break_scalar(key_pem, key_len, &bad_len);
    snprintf(cfg_path, sizeof cfg_path, "%s/autocert.yml", dir);
    f = fopen(cfg_path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        snprintf(cert, sizeof cert, "%s/s%zu.crt", dir, i);
        snprintf(key, sizeof key, "%s/s%zu.key", dir, i);
        write_file(cert, crt_pem, crt_len);
        if (i == broken)
            write_file(key, bad, bad_len);
        else
            write_file(key, key_pem, key_len);
        if (i == 0)
            fprintf(f, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n  extra:\n",
                    cert, key);
        else
            fprintf(f, "    - provider: local\n      cert_path: %s\n      key_path: %s\n", cert,
                    key);
    }
    assert_int_equal(fclose(f), 0);
    free(crt_pem);
    free(key_pem);
    free(bad);
    return cfg_path;
}

/* Whether set i holds a certificate; its status in *st (clear it). */
static bool holds(autocert_manager *m, size_t i, autocert_status *st)
{
    assert_int_equal(autocert_manager_status(m, i, st), 0);
    return st->has_cert;
}

/* More than 1,000 sets: the broken key loads, then its set is reported and
 * dropped; no other set is touched. */
static void test_checked_after_load(void **state)
{
    char dir[] = "/tmp/ac-keycheck-XXXXXX";
    autocert_manager *m = NULL;
    autocert_error err;
    autocert_status st;
    const char *cfg;
    int held;
    bool dropped = false;

    (void)state;
    assert_non_null(mkdtemp(dir));
    cfg = make_sets(dir, MANY, BROKEN);
    assert_int_equal(autocert_manager_open(cfg, NULL, NULL, &m, &err), 0);
    held = autocert_manager_load(m);
    /* every public part matched its certificate: all of them loaded (the
     * check may already have dropped the broken one) */
    assert_true(held == MANY || held == MANY - 1);
    for (int i = 0; i < 3000 && !dropped; i++) { /* 30 s at most */
        dropped = !holds(m, BROKEN, &st);
        autocert_status_clear(&st);
        if (!dropped)
            usleep(10000);
    }
    assert_true(dropped);
    assert_int_equal(autocert_manager_status(m, BROKEN, &st), 0);
    assert_false(st.has_cert);
    assert_non_null(strstr(st.last_error.message, "does not hold together"));
    assert_non_null(strstr(st.last_error.message, "s517.key"));
    autocert_status_clear(&st);
    for (size_t i = 0; i < MANY; i++) {
        if (i == BROKEN)
            continue;
        assert_true(holds(m, i, &st));
        autocert_status_clear(&st);
    }
    autocert_manager_free(m); /* also right while a check would still run */
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A few sets: the same key fails at load, before anything is served. */
static void test_checked_at_small_load(void **state)
{
    char dir[] = "/tmp/ac-keycheck-XXXXXX";
    autocert_manager *m = NULL;
    autocert_error err;
    autocert_status st;
    const char *cfg;

    (void)state;
    assert_non_null(mkdtemp(dir));
    cfg = make_sets(dir, 3, 1);
    assert_int_equal(autocert_manager_open(cfg, NULL, NULL, &m, &err), 0);
    assert_int_equal(autocert_manager_load(m), 2);
    assert_false(holds(m, 1, &st));
    assert_non_null(strstr(st.last_error.message, "private key"));
    autocert_status_clear(&st);
    assert_true(holds(m, 0, &st));
    autocert_status_clear(&st);
    autocert_manager_free(m);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checked_after_load),
        cmocka_unit_test(test_checked_at_small_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
