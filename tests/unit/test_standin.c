/*
 * test_standin.c - the self-signed stand-in of a set that holds no
 * certificate yet (issue 13 item 5): served for its names (CN = its first
 * name, issuer = subject, IP names as IP SANs, found by local address too),
 * counts as the set's certificate for selection (an extra is matched while
 * main has only a stand-in), made once and cached, one key for all, never
 * written to disk, state bootstrap without not_after, dropped when the real
 * pair lands; local and pseudo sets get none; provider selfsigned in the
 * configuration rules.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka after the system headers */
#include <cmocka.h>

#include "autocert/autocert.h"
#include "log.h"
#include "manager.h"
#include "set.h"
#include "standin.h"
#include "test_config_util.h"
#include "test_manager_certs.h"

struct fx {
    char dir[64];
    char path[6][160]; /* main, extra1, extra2 (local), extra3 (pseudo): crt, key pairs below */
    char cfg[128];
    autocert_manager *m;
};

static char *crt(struct fx *f, int i)
{
    return f->path[2 * i];
}

static char *key(struct fx *f, int i)
{
    return f->path[2 * i + 1];
}

/* main: acme (main.example.test, 10.1.2.3, ::1:2); extra[1]: acme
 * (api.example.test); extra[2]: local with files (local.example.test). */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    static const char *const local_names[] = {"local.example.test"};
    char err[512];
    FILE *c;

    snprintf(f->dir, sizeof f->dir, "/tmp/ac-standin-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (int i = 0; i < 3; i++) {
        snprintf(crt(f, i), 160, "%s/s%d/cert.crt", f->dir, i);
        snprintf(key(f, i), 160, "%s/s%d/priv.key", f->dir, i);
    }
    snprintf(f->cfg, sizeof f->cfg, "%s/s2", f->dir);
    assert_int_equal(mkdir(f->cfg, 0755), 0);
    assert_int_equal(tmc_make(crt(f, 2), key(f, 2), "local.example.test", local_names, 1), 0);
    snprintf(f->cfg, sizeof f->cfg, "%s/autocert.yml", f->dir);
    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c,
            "autocert:\n  provider: acme\n  challenge: http-01\n  email: a@example.test\n"
            "  ca_dir_url: https://127.0.0.1:9/dir\n"
            "  domains: [main.example.test, 10.1.2.3, '2001:db8::7']\n"
            "  cert_path: %s\n  key_path: %s\n  extra:\n"
            "    - domains: [api.example.test]\n      cert_path: %s\n      key_path: %s\n"
            "    - provider: local\n      cert_path: %s\n      key_path: %s\n",
            crt(f, 0), key(f, 0), crt(f, 1), key(f, 1), crt(f, 2), key(f, 2));
    fclose(c);
    assert_int_equal(autocert_manager_new(f->cfg, &f->m, err, sizeof err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    autocert_manager_free(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char *set_of(autocert_cert *c)
{
    return c != NULL ? autocert_cert_set_name(c) : "-";
}

/* Imports the leaf of c. */
static gnutls_x509_crt_t leaf_of(autocert_cert *c)
{
    const unsigned char *der;
    size_t len;
    gnutls_x509_crt_t x;
    gnutls_datum_t d;

    assert_int_equal(autocert_cert_chain_der(c, 0, &der, &len), 0);
    d.data = (unsigned char *)der;
    d.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_init(&x), 0);
    assert_int_equal(gnutls_x509_crt_import(x, &d, GNUTLS_X509_FMT_DER), 0);
    return x;
}

static void test_served_for_names(void **state)
{
    struct fx *f = *state;
    autocert_cert *a, *b, *api, *loc, *none;
    gnutls_x509_crt_t x;
    char dn1[512], dn2[512], ip[16];
    size_t l1 = sizeof dn1, l2 = sizeof dn2, iplen = sizeof ip;
    unsigned int type;
    struct stat st;

    assert_int_equal(autocert_manager_load(f->m), 1); /* only the local set holds one */
    a = autocert_manager_lookup(f->m, "main.example.test", 17);
    assert_non_null(a);
    assert_string_equal(set_of(a), "main");
    assert_string_equal(autocert_cert_subject(a), "main.example.test");
    assert_true(autocert_cert_not_after(a) > time(NULL) + 86400);
    x = leaf_of(a);
    assert_int_equal(gnutls_x509_crt_get_dn(x, dn1, &l1), 0);
    assert_int_equal(gnutls_x509_crt_get_issuer_dn(x, dn2, &l2), 0);
    assert_string_equal(dn1, dn2); /* self-signed */
    assert_string_equal(dn1, "CN=main.example.test");
    /* SANs: the name, then the two addresses as IP SANs */
    type = gnutls_x509_crt_get_subject_alt_name(x, 1, ip, &iplen, NULL);
    assert_int_equal(type, GNUTLS_SAN_IPADDRESS);
    assert_int_equal(iplen, 4);
    assert_memory_equal(ip, "\x0a\x01\x02\x03", 4);
    gnutls_x509_crt_deinit(x);

    /* cached: the same handle for the next handshake, and for no SNI / an
     * unknown name (main) */
    b = autocert_manager_lookup(f->m, "MAIN.example.test.", 18);
    assert_ptr_equal(a, b);
    autocert_cert_release(b);
    b = autocert_manager_lookup(f->m, NULL, 0);
    assert_ptr_equal(a, b);
    autocert_cert_release(b);
    b = autocert_manager_lookup(f->m, "unknown.test", 12);
    assert_ptr_equal(a, b);
    autocert_cert_release(b);

    /* an extra matched while main has only a stand-in: its own stand-in */
    api = autocert_manager_lookup(f->m, "api.example.test", 16);
    assert_string_equal(set_of(api), "extra[1]");
    assert_string_equal(autocert_cert_subject(api), "api.example.test");
    assert_ptr_not_equal(api, a);
    /* ... and a real certificate of another set */
    loc = autocert_manager_lookup(f->m, "local.example.test", 18);
    assert_string_equal(set_of(loc), "extra[2]");

    /* one key for every stand-in of the process */
    {
        const unsigned char *k1, *k2;
        size_t n1, n2;
        assert_int_equal(autocert_cert_key_der(a, &k1, &n1), 0);
        assert_int_equal(autocert_cert_key_der(api, &k2, &n2), 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(k1, k2, n1);
    }

    /* no SNI on a local address the stand-in covers (v4 and v6) */
    inet_pton(AF_INET, "10.1.2.3", ip);
    b = autocert_manager_lookup_addr(f->m, NULL, 0, ip, 4);
    assert_ptr_equal(a, b);
    autocert_cert_release(b);
    inet_pton(AF_INET6, "2001:db8::7", ip);
    b = autocert_manager_lookup_addr(f->m, NULL, 0, ip, 16);
    assert_ptr_equal(a, b);
    autocert_cert_release(b);
    inet_pton(AF_INET, "10.9.9.9", ip);
    none = autocert_manager_lookup_addr(f->m, "", 0, ip, 4);
    assert_ptr_equal(a, none); /* main */
    autocert_cert_release(none);

    /* never on disk */
    assert_int_not_equal(stat(crt(f, 0), &st), 0);
    assert_int_not_equal(stat(crt(f, 1), &st), 0);
    autocert_cert_release(a);
    autocert_cert_release(api);
    autocert_cert_release(loc);
}

static void test_status_bootstrap(void **state)
{
    struct fx *f = *state;
    autocert_status st;
    autocert_cert *c;

    assert_int_equal(autocert_manager_load(f->m), 1);
    c = autocert_manager_lookup(f->m, "api.example.test", 16);
    assert_non_null(c);
    assert_int_equal(autocert_manager_status(f->m, 1, &st), 0);
    assert_int_equal(st.state, AUTOCERT_STATE_BOOTSTRAP);
    assert_string_equal(autocert_state_name(st.state), "bootstrap");
    assert_false(st.has_cert); /* the stand-in is not the set's certificate */
    assert_int_equal(st.not_after, 0);
    autocert_status_clear(&st);
    /* also before any handshake made it */
    assert_int_equal(autocert_manager_status(f->m, 0, &st), 0);
    assert_int_equal(st.state, AUTOCERT_STATE_BOOTSTRAP);
    autocert_status_clear(&st);
    assert_int_equal(autocert_manager_status(f->m, 2, &st), 0);
    assert_int_equal(st.state, AUTOCERT_STATE_UNMANAGED);
    autocert_status_clear(&st);
    autocert_cert_release(c);
}

static void test_replaced_when_real_lands(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {"main.example.test"};
    autocert_cert *sb, *real, *api;
    struct acset *s;
    autocert_status st;
    char d[160];

    assert_int_equal(autocert_manager_load(f->m), 1);
    sb = autocert_manager_lookup(f->m, "main.example.test", 17);
    api = autocert_manager_lookup(f->m, "api.example.test", 16);
    assert_string_equal(set_of(api), "extra[1]");
    s = manager_set_at(f->m, 0);
    assert_true(standin_cached(s));

    snprintf(d, sizeof d, "%s/s0", f->dir);
    assert_int_equal(mkdir(d, 0755), 0);
    assert_int_equal(tmc_make(crt(f, 0), key(f, 0), "real-main", names, 1), 0);
    assert_int_equal(autocert_manager_reload(f->m), 1);
    real = autocert_manager_lookup(f->m, "main.example.test", 17);
    assert_non_null(real);
    assert_string_equal(autocert_cert_subject(real), "real-main");
    assert_false(standin_cached(s)); /* dropped */
    /* the handle a handshake still holds stays valid */
    assert_string_equal(autocert_cert_subject(sb), "main.example.test");
    /* the extra keeps its stand-in */
    autocert_cert_release(real);
    real = autocert_manager_lookup(f->m, "api.example.test", 16);
    assert_ptr_equal(real, api);
    autocert_cert_release(real);
    assert_int_equal(autocert_manager_status(f->m, 0, &st), 0);
    assert_true(st.has_cert);
    /* due: the certificate lacks the configured addresses */
    assert_int_equal(st.state, AUTOCERT_STATE_DUE);
    autocert_status_clear(&st);

    /* files gone at a load: back to a stand-in (a new one) */
    unlink(crt(f, 0));
    unlink(key(f, 0));
    assert_int_equal(autocert_manager_load(f->m), 1);
    real = autocert_manager_lookup(f->m, NULL, 0);
    assert_non_null(real);
    assert_string_equal(autocert_cert_subject(real), "main.example.test");
    assert_ptr_not_equal(real, sb);
    autocert_cert_release(real);
    acset_unref(s);
    autocert_cert_release(sb);
    autocert_cert_release(api);
}

/* Writes yaml to dir/name and opens a manager on it (loaded). */
static autocert_manager *open_yaml(const char *dir, const char *yaml)
{
    char path[160], err[512];
    autocert_manager *m = NULL;
    FILE *c;

    snprintf(path, sizeof path, "%s/other.yml", dir);
    c = fopen(path, "w");
    assert_non_null(c);
    fputs(yaml, c);
    fclose(c);
    if (autocert_manager_new(path, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    (void)autocert_manager_load(m);
    return m;
}

static void test_local_pseudo_none(void **state)
{
    struct fx *f = *state;
    char yaml[1024];
    autocert_manager *m;
    autocert_cert *c;
    autocert_status st;

    /* main local without files: every handshake fails, also for an ACME
     * extra's name (today's rule for local and pseudo mains) */
    snprintf(yaml, sizeof yaml,
             "autocert:\n  provider: local\n  cert_path: %s/l/c.crt\n  key_path: %s/l/c.key\n"
             "  extra:\n    - provider: acme\n      challenge: http-01\n"
             "      email: a@example.test\n      domains: [api.example.test]\n"
             "      cert_path: %s/x/c.crt\n      key_path: %s/x/c.key\n",
             f->dir, f->dir, f->dir, f->dir);
    m = open_yaml(f->dir, yaml);
    assert_null(autocert_manager_lookup(m, "api.example.test", 16));
    assert_null(autocert_manager_lookup(m, NULL, 0));
    assert_int_equal(autocert_manager_status(m, 0, &st), 0);
    assert_int_equal(st.state, AUTOCERT_STATE_UNMANAGED);
    autocert_status_clear(&st);
    autocert_manager_free(m);

    /* main pseudo: the same */
    snprintf(yaml, sizeof yaml,
             "autocert:\n  provider: pseudo\n  email: a@example.test\n"
             "  domains: [p.example.test]\n  cert_path: %s/p/c.crt\n  key_path: %s/p/c.key\n",
             f->dir, f->dir);
    m = open_yaml(f->dir, yaml);
    assert_null(autocert_manager_lookup(m, "p.example.test", 14));
    autocert_manager_free(m);

    /* a pseudo extra's name is not indexed: main's stand-in answers */
    snprintf(yaml, sizeof yaml,
             "autocert:\n  provider: acme\n  challenge: http-01\n  email: a@example.test\n"
             "  domains: [m.example.test]\n  cert_path: %s/m/c.crt\n  key_path: %s/m/c.key\n"
             "  extra:\n    - provider: pseudo\n      domains: [p.example.test]\n"
             "      cert_path: %s/p/c.crt\n      key_path: %s/p/c.key\n",
             f->dir, f->dir, f->dir, f->dir);
    m = open_yaml(f->dir, yaml);
    c = autocert_manager_lookup(m, "p.example.test", 14);
    assert_string_equal(set_of(c), "main");
    autocert_cert_release(c);
    autocert_manager_free(m);
}

static void test_selfsigned_config(void **state)
{
    struct config *cfg;

    (void)state;
    /* no email, no CA; single-label names, IPs and wildcards are fine */
    cfg = tc_expect_ok("autocert:\n  provider: selfsigned\n"
                       "  domains: [localhost, 127.0.0.1, '::1', '*.dev.test']\n");
    assert_string_equal(cfg->sets[0].provider, "selfsigned");
    assert_false(config_set_is_managed(&cfg->sets[0]));
    assert_false(standin_eligible(&cfg->sets[0]));
    config_free(cfg);
    tc_expect_error("autocert:\n  provider: selfsigned\n", "autocert.domains", 0, 0,
                    "domains are required for provider selfsigned");
    tc_expect_error("autocert:\n  provider: selfsigned\n  domains: ['a..b']\n",
                    "autocert.domains[1]", 0, 0, "not a valid domain name");
    tc_expect_error("autocert:\n  provider: selfsigned\n  domains: [localhost]\n"
                    "  challenge: http-01\n",
                    "autocert.challenge", 4, 3, "never asks a CA");
    /* an extra of its own */
    cfg =
        tc_expect_ok("autocert:\n  provider: local\n  extra:\n    - provider: selfsigned\n"
                     "      domains: [dev.test]\n      cert_path: d.crt\n      key_path: d.key\n");
    assert_string_equal(cfg->sets[1].provider, "selfsigned");
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_served_for_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_when_real_lands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_pseudo_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selfsigned_config, tc_setup, tc_teardown),
    };

    autocert_init();
    ac_log_set_level(AC_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
