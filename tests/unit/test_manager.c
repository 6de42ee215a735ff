/*
 * test_manager.c - certificate sets: loading, key/leaf check (and a chain that
 * is not leaf first), expired / not yet valid certificates served with a
 * warning, SNI selection through the manager, main-absent, reload and handle
 * lifetime.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "cert.h"
#include "log.h"
#include "manager.h"
#include "test_manager_certs.h"
#include "timeutil.h"

#define NSETS 5

struct fx {
    char dir[64];
    char crt[NSETS][128];
    char key[NSETS][128];
    char cfg[128];
    autocert_manager *m;
};

/* main: *.example.test + example.test; extra[1]: api.example.test;
 * extra[2]: *.deep.example.test; extra[3]: *.example.test (tie, loses to main);
 * extra[4]: api.example.test + only4.example.test (tie on api, loses to 1). */
static const char *const s0[] = {"*.example.test", "example.test"};
static const char *const s1[] = {"api.example.test"};
static const char *const s2[] = {"*.deep.example.test"};
static const char *const s3[] = {"*.example.test"};
static const char *const s4[] = {"api.example.test", "only4.example.test"};

static void make_set(struct fx *f, int i)
{
    static const char *const *sans[NSETS] = {s0, s1, s2, s3, s4};
    static const size_t n[NSETS] = {2, 1, 1, 1, 2};
    char cn[64];
    snprintf(cn, sizeof(cn), "set%d-%s", i, sans[i][0]);
    assert_int_equal(tmc_make(f->crt[i], f->key[i], cn, sans[i], n[i]), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    FILE *c;
    char err[512];

    snprintf(f->dir, sizeof(f->dir), "/tmp/ac-mgr-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (int i = 0; i < NSETS; i++) {
        snprintf(f->crt[i], sizeof(f->crt[i]), "%s/set%d.crt", f->dir, i);
        snprintf(f->key[i], sizeof(f->key[i]), "%s/set%d.key", f->dir, i);
        make_set(f, i);
    }
    snprintf(f->cfg, sizeof(f->cfg), "%s/autocert.yml", f->dir);
    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n  extra:\n",
            f->crt[0], f->key[0]);
    for (int i = 1; i < NSETS; i++)
        fprintf(c, "    - cert_path: %s\n      key_path: %s\n", f->crt[i], f->key[i]);
    fclose(c);
    assert_int_equal(autocert_manager_new(f->cfg, &f->m, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    autocert_manager_free(f->m);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Returns the set name chosen for `name` ("-" for NULL). */
static const char *pick(autocert_manager *m, const char *name, char *buf, size_t n)
{
    autocert_cert *c = autocert_manager_lookup(m, name, name ? strlen(name) : 0);
    snprintf(buf, n, "%s", c ? autocert_cert_set_name(c) : "-");
    autocert_cert_release(c);
    return buf;
}

static void test_reference_table(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *sni, *set;
    } table[] = {
        {"api.example.test", "extra[1]"},   {"API.Example.TEST.", "extra[1]"},
        {" api.example.test ", "extra[1]"}, {"www.example.test", "main"},
        {"example.test", "main"},           {"x.deep.example.test", "extra[2]"},
        {"deep.example.test", "main"},      {"a.b.deep.example.test", "main"},
        {"only4.example.test", "extra[4]"}, {"other.test", "main"},
        {"a.b.example.test", "main"},       {"", "main"},
        {"a..example.test", "main"},        {".", "main"},
        {NULL, "main"},
    };
    char buf[32];

    assert_int_equal(autocert_manager_load(f->m), NSETS);
    assert_int_equal(autocert_manager_set_count(f->m), NSETS);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const char *got = pick(f->m, table[i].sni, buf, sizeof(buf));
        if (strcmp(got, table[i].set) != 0)
            fail_msg("SNI '%s': expected %s, got %s", table[i].sni ? table[i].sni : "(null)",
                     table[i].set, got);
    }
}

static void test_accessors(void **state)
{
    struct fx *f = *state;
    const unsigned char *der;
    size_t len;
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
    gnutls_datum_t d;

    assert_int_equal(autocert_manager_load(f->m), NSETS);
    autocert_cert *c = autocert_manager_lookup(f->m, "only4.example.test", 18);
    assert_non_null(c);
    assert_string_equal(autocert_cert_subject(c), "set4-api.example.test");
    assert_int_equal(autocert_cert_name_count(c), 3); /* CN + 2 SANs */
    assert_string_equal(autocert_cert_name(c, 1), "api.example.test");
    assert_null(autocert_cert_name(c, 3));
    assert_true(autocert_cert_not_after(c) > autocert_cert_not_before(c));
    assert_int_equal(autocert_cert_chain_count(c), 1);
    assert_int_equal(autocert_cert_chain_der(c, 1, &der, &len), -1);
    assert_int_equal(autocert_cert_chain_der(c, 0, &der, &len), 0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    d.data = (unsigned char *)der;
    d.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(autocert_cert_key_der(c, &der, &len), 0);
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    d.data = (unsigned char *)der;
    d.size = (unsigned)len;
    assert_int_equal(gnutls_x509_privkey_import_pkcs8(key, &d, GNUTLS_X509_FMT_DER, NULL,
                                                      GNUTLS_PKCS_PLAIN), 0);
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(crt);
    assert_ptr_equal(autocert_cert_acquire(c), c);
    autocert_cert_release(c);
    autocert_cert_release(c);
}

/* The handshake's pcert copy equals what GnuTLS's own import gives: the same
 * DER, the same public key, the same key usage. */
static void test_pcert_copy(void **state)
{
    struct fx *f = *state;
    gnutls_pcert_st mine, ref;
    gnutls_datum_t a, b, d;
    const unsigned char *der;
    unsigned int ua = 0, ub = 0;
    size_t len;

    assert_int_equal(autocert_manager_load(f->m), NSETS);
    autocert_cert *c = autocert_manager_lookup(f->m, "only4.example.test", 18);
    assert_non_null(c);
    assert_int_equal(cert_pcert_copy(c, 0, &mine), 0);
    assert_int_equal(autocert_cert_chain_der(c, 0, &der, &len), 0);
    assert_int_equal(mine.cert.size, len);
    assert_memory_equal(mine.cert.data, der, len);
    assert_ptr_not_equal(mine.cert.data, der); /* a copy GnuTLS may free */
    d.data = (unsigned char *)der;
    d.size = (unsigned)len;
    assert_int_equal(gnutls_pcert_import_x509_raw(&ref, &d, GNUTLS_X509_FMT_DER, 0), 0);
    assert_int_equal(gnutls_pubkey_export2(mine.pubkey, GNUTLS_X509_FMT_DER, &a), 0);
    assert_int_equal(gnutls_pubkey_export2(ref.pubkey, GNUTLS_X509_FMT_DER, &b), 0);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    assert_int_equal(gnutls_pubkey_get_key_usage(mine.pubkey, &ua), 0);
    assert_int_equal(gnutls_pubkey_get_key_usage(ref.pubkey, &ub), 0);
    assert_int_equal(ub, GNUTLS_KEY_DIGITAL_SIGNATURE); /* the fixture sets it */
    assert_int_equal(ua, ub);
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pcert_deinit(&mine);
    gnutls_pcert_deinit(&ref);
    autocert_cert_release(c);
}

static void test_files_vanish(void **state)
{
    struct fx *f = *state;
    char buf[32];

    assert_int_equal(autocert_manager_load(f->m), NSETS);
    unlink(f->crt[1]);
    unlink(f->key[1]);
    assert_int_equal(autocert_manager_load(f->m), NSETS - 1);
    assert_null(manager_set_cert(f->m, 1));
    autocert_cert *c2 = manager_set_cert(f->m, 2);
    assert_non_null(c2);
    autocert_cert_release(c2);
    /* api.example.test now falls to extra[4] (next set with the exact name) */
    assert_string_equal(pick(f->m, "api.example.test", buf, sizeof(buf)), "extra[4]");
    struct ac_error e;
    manager_set_last_error(f->m, 1, &e);
    assert_string_equal(e.kind, "");
}

static void test_key_mismatch(void **state)
{
    struct fx *f = *state;
    char cmd[512], buf[32];
    struct ac_error e;

    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->key[2], f->key[1]);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(autocert_manager_load(f->m), NSETS - 1);
    assert_null(manager_set_cert(f->m, 1));
    manager_set_last_error(f->m, 1, &e);
    assert_non_null(strstr(e.message, "does not match"));
    assert_non_null(strstr(e.message, f->crt[1]));
    assert_string_equal(pick(f->m, "api.example.test", buf, sizeof(buf)), "extra[4]");
}

/* A self-signed P-256 certificate for `san` valid from nb to na (Unix
 * seconds), written to crt / key as PEM. */
static void make_dated(const char *crt_path, const char *key_path, const char *san, time_t nb,
                       time_t na)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t out = {NULL, 0};
    static const unsigned char serial[] = {0x42, 0x01, 0x02, 0x03};

    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, nb), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, na), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, san,
                                                   (unsigned)strlen(san)),
                     0);
    assert_int_equal(gnutls_x509_crt_set_subject_alt_name(
                         crt, GNUTLS_SAN_DNSNAME, san, (unsigned)strlen(san), GNUTLS_FSAN_APPEND),
                     0);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out), 0);
    assert_int_equal(tmc_write(crt_path, &out), 0);
    gnutls_free(out.data);
    assert_int_equal(
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out),
        0);
    assert_int_equal(tmc_write(key_path, &out), 0);
    gnutls_free(out.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

/* Issue 10 item 16: a chain whose leaf is not first says so, instead of
 * "private key does not match the leaf certificate". */
static void test_chain_not_leaf_first(void **state)
{
    struct fx *f = *state;
    char cmd[600], want[300];
    struct ac_error e;

    /* extra[1]: the chain holds extra[2]'s certificate first, then its own */
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s.tmp' && mv '%s.tmp' '%s'", f->crt[2], f->crt[1],
             f->crt[1], f->crt[1], f->crt[1]);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(autocert_manager_load(f->m), NSETS - 1);
    assert_null(manager_set_cert(f->m, 1));
    manager_set_last_error(f->m, 1, &e);
    assert_string_equal(e.kind, AC_ERR_CRYPTO);
    snprintf(want, sizeof(want), "certificate chain in %s is not leaf first", f->crt[1]);
    if (strstr(e.message, want) == NULL || strstr(e.message, "certificate #2 of 2") == NULL)
        fail_msg("unexpected message: %s", e.message);

    /* a key that matches no certificate of the chain is still a plain mismatch */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->key[3], f->key[1]);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(autocert_manager_load(f->m), NSETS - 1);
    manager_set_last_error(f->m, 1, &e);
    assert_non_null(strstr(e.message, "does not match the leaf certificate"));
    assert_null(strstr(e.message, "leaf first"));
}

struct warn_log {
    int count;
    char last[1024];
};

static void warn_sink(enum ac_log_level level, const char *line, void *arg)
{
    struct warn_log *w = arg;
    if (level != AC_LOG_WARN || strstr(line, "still served") == NULL)
        return;
    w->count++;
    snprintf(w->last, sizeof(w->last), "%s", line);
}

/* Issue 10 item 16: an expired or not yet valid certificate on disk is
 * served, logged as a warning naming the set, the path and the date, and
 * recorded as a warning-kind last error that status can show. */
static void test_dates_warn(void **state)
{
    struct fx *f = *state;
    struct warn_log w = {0};
    struct ac_error e;
    char buf[32], ts[32];
    time_t now = time(NULL);
    int64_t na = now - 86400;

    make_dated(f->crt[1], f->key[1], "api.example.test", now - 10 * 86400, na);
    make_dated(f->crt[2], f->key[2], "x.deep.example.test", now + 2 * 86400, now + 30 * 86400);
    ac_log_set_sink(warn_sink, &w);
    ac_log_set_level(AC_LOG_WARN);
    assert_int_equal(autocert_manager_load(f->m), NSETS);
    assert_string_equal(pick(f->m, "api.example.test", buf, sizeof(buf)), "extra[1]");
    assert_string_equal(pick(f->m, "x.deep.example.test", buf, sizeof(buf)), "extra[2]");

    manager_set_last_error(f->m, 1, &e);
    assert_string_equal(e.kind, "cert.expired");
    ac_time_format_rfc3339(na, ts, sizeof(ts));
    assert_non_null(strstr(e.message, f->crt[1]));
    assert_non_null(strstr(e.message, ts));
    manager_set_last_error(f->m, 2, &e);
    assert_string_equal(e.kind, "cert.not_yet_valid");
    assert_non_null(strstr(e.message, f->crt[2]));
    manager_set_last_error(f->m, 0, &e);
    assert_string_equal(e.kind, "");
    assert_int_equal(w.count, 2);

    /* a reload with the same files keeps the finding without logging again */
    assert_int_equal(autocert_manager_reload(f->m), 0);
    manager_set_last_error(f->m, 1, &e);
    assert_string_equal(e.kind, "cert.expired");
    assert_int_equal(w.count, 2);

    /* renewed files clear it */
    make_dated(f->crt[1], f->key[1], "api.example.test", now - 3600, now + 30 * 86400);
    assert_int_equal(autocert_manager_reload(f->m), 1);
    manager_set_last_error(f->m, 1, &e);
    assert_string_equal(e.kind, "");
    ac_log_set_sink(NULL, NULL);
    ac_log_set_level(AC_LOG_ERROR);
}

static void test_main_absent(void **state)
{
    struct fx *f = *state;

    unlink(f->crt[0]);
    unlink(f->key[0]);
    assert_int_equal(autocert_manager_load(f->m), NSETS - 1);
    assert_null(autocert_manager_lookup(f->m, "api.example.test", 16));
    assert_null(autocert_manager_lookup(f->m, NULL, 0));
    assert_null(manager_set_cert(f->m, 0));
}

static int changes;
static void on_change(autocert_manager *m, size_t idx, const autocert_cert *c, void *arg)
{
    assert_int_equal(idx, 1);
    changes++;
}

static void test_reload(void **state)
{
    struct fx *f = *state;
    static const char *const sans[] = {"api.example.test", "new.example.test"};
    char buf[32];
    const unsigned char *der;
    size_t len;

    assert_int_equal(autocert_manager_load(f->m), NSETS);
    manager_set_change_hook(f->m, on_change, NULL);
    changes = 0;
    autocert_cert *old = autocert_manager_lookup(f->m, "api.example.test", 16);
    assert_string_equal(autocert_cert_subject(old), "set1-api.example.test");
    assert_int_equal(autocert_manager_reload(f->m), 0); /* nothing changed */
    assert_int_equal(changes, 0);

    assert_int_equal(tmc_make(f->crt[1], f->key[1], "renewed", sans, 2), 0);
    assert_int_equal(autocert_manager_reload(f->m), 1);
    assert_int_equal(changes, 1);
    autocert_cert *now = autocert_manager_lookup(f->m, "new.example.test", 16);
    assert_string_equal(autocert_cert_subject(now), "renewed");
    assert_string_equal(autocert_cert_set_name(now), "extra[1]");
    /* the old handle is still fully usable */
    assert_string_equal(autocert_cert_subject(old), "set1-api.example.test");
    assert_int_equal(autocert_cert_chain_der(old, 0, &der, &len), 0);
    assert_true(len > 100);

    /* broken new files: the certificate in memory keeps being served */
    FILE *w = fopen(f->crt[1], "w");
    fputs("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", w);
    fclose(w);
    assert_int_equal(autocert_manager_reload(f->m), 0);
    assert_string_equal(pick(f->m, "new.example.test", buf, sizeof(buf)), "extra[1]");
    struct ac_error e;
    manager_set_last_error(f->m, 1, &e);
    assert_string_not_equal(e.kind, "");
    /* vanished files on reload: kept as well */
    unlink(f->crt[1]);
    unlink(f->key[1]);
    assert_int_equal(autocert_manager_reload(f->m), 0);
    assert_string_equal(pick(f->m, "new.example.test", buf, sizeof(buf)), "extra[1]");
    autocert_cert_release(old);
    autocert_cert_release(now);
}

static void test_replace(void **state)
{
    struct fx *f = *state;
    static const char *const sans[] = {"fresh.example.test"};
    char crt[160], key[160];
    size_t cl = 0, kl = 0;
    struct ac_error e;

    assert_int_equal(autocert_manager_load(f->m), NSETS);
    snprintf(crt, sizeof(crt), "%s/fresh.crt", f->dir);
    snprintf(key, sizeof(key), "%s/fresh.key", f->dir);
    assert_int_equal(tmc_make(crt, key, "fresh", sans, 1), 0);
    char *cp = tmc_slurp(crt, &cl), *kp = tmc_slurp(key, &kl);
    char *other = tmc_slurp(f->key[0], &kl);
    /* a key that does not belong to the chain is refused, nothing changes */
    assert_int_equal(manager_set_replace(f->m, 2, cp, cl, other, kl, &e), -1);
    free(other);
    kp = (free(kp), tmc_slurp(key, &kl));
    assert_int_equal(manager_set_replace(f->m, 9, cp, cl, kp, kl, &e), -1);
    assert_int_equal(manager_set_replace(f->m, 2, cp, cl, kp, kl, &e), 0);
    autocert_cert *c = autocert_manager_lookup(f->m, "fresh.example.test", 18);
    assert_string_equal(autocert_cert_set_name(c), "extra[2]");
    autocert_cert_release(c);
    c = autocert_manager_lookup(f->m, "x.deep.example.test", 19);
    assert_string_equal(autocert_cert_set_name(c), "main"); /* old names gone */
    autocert_cert_release(c);
    free(cp);
    free(kp);
}

static void test_bad_config(void **state)
{
    autocert_manager *m = NULL;
    char err[256] = "";
    assert_int_equal(autocert_manager_new("/nonexistent/autocert.yml", &m, err, sizeof(err)), -1);
    assert_null(m);
    assert_true(strlen(err) > 0);
}

int main(void)
{
    ac_log_set_level(AC_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reference_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pcert_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_vanish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_not_leaf_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dates_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_main_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
