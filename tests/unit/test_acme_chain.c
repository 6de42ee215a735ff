/*
 * test_acme_chain.c - preferred_chain (acme_chain.h): the Issuer CN of a
 * chain's topmost certificate, the choice among a default and alternate
 * chains (the default when it matches, else the first matching alternate
 * with the same leaf, else none), with chains made here: two roots, one
 * intermediate name issued by each (cross-signed), a leaf under it; and
 * http_link_nth over several Link headers and several links in one header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first */
#include <cmocka.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_chain.h"
#include "http.h"

struct ca {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
};

static struct ca root_a, root_b, inter_a, inter_b, leaf, leaf2;
static char *pem_default, *pem_alt, *pem_alt_leaf2, *pem_with_root;
static size_t len_default, len_alt, len_alt_leaf2, len_with_root;

/* A certificate for subject CN cn with key k, signed by issuer (NULL:
 * self-signed), a CA when ca. */
static void make(struct ca *out, const char *cn, const struct ca *issuer, bool ca,
                 gnutls_x509_privkey_t reuse_key)
{
    static unsigned char serial = 1;
    unsigned char ser[4] = {0x01, 0x02, 0x03, 0};
    time_t now = time(NULL);

    if (reuse_key != NULL) {
        out->key = reuse_key;
    } else {
        assert_int_equal(gnutls_x509_privkey_init(&out->key), 0);
        assert_int_equal(
            gnutls_x509_privkey_generate(out->key, GNUTLS_PK_ECDSA,
                                         GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
            0);
    }
    assert_int_equal(gnutls_x509_crt_init(&out->crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(out->crt, 3), 0);
    ser[3] = serial++;
    assert_int_equal(gnutls_x509_crt_set_serial(out->crt, ser, sizeof ser), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(out->crt, now - 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(out->crt, now + 86400), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(out->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                   (unsigned)strlen(cn)),
                     0);
    assert_int_equal(gnutls_x509_crt_set_key(out->crt, out->key), 0);
    assert_int_equal(gnutls_x509_crt_set_basic_constraints(out->crt, ca ? 1 : 0, -1), 0);
    if (issuer == NULL)
        assert_int_equal(gnutls_x509_crt_sign2(out->crt, out->crt, out->key, GNUTLS_DIG_SHA256, 0),
                         0);
    else
        assert_int_equal(
            gnutls_x509_crt_sign2(out->crt, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0), 0);
}

/* The PEM of crts[0..n) concatenated: a new malloc'd string. */
static char *chain_pem(const gnutls_x509_crt_t *crts, size_t n, size_t *len)
{
    char *out = NULL;
    size_t used = 0;

    for (size_t i = 0; i < n; i++) {
        gnutls_datum_t d = {NULL, 0};
        assert_int_equal(gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_PEM, &d), 0);
        out = realloc(out, used + d.size + 1);
        assert_non_null(out);
        memcpy(out + used, d.data, d.size);
        used += d.size;
        out[used] = '\0';
        gnutls_free(d.data);
    }
    *len = used;
    return out;
}

static int setup(void **state)
{
    (void)state;
    make(&root_a, "Root A", NULL, true, NULL);
    make(&root_b, "Root B", NULL, true, NULL);
    make(&inter_a, "Intermediate", &root_a, true, NULL);
    make(&inter_b, "Intermediate", &root_b, true, inter_a.key); /* the same key, cross-signed */
    make(&leaf, "leaf.example.test", &inter_a, false, NULL);
    make(&leaf2, "leaf.example.test", &inter_a, false, NULL);
    {
        gnutls_x509_crt_t d[] = {leaf.crt, inter_a.crt};
        gnutls_x509_crt_t a[] = {leaf.crt, inter_b.crt};
        gnutls_x509_crt_t a2[] = {leaf2.crt, inter_b.crt};
        gnutls_x509_crt_t r[] = {leaf.crt, inter_b.crt, root_b.crt};
        pem_default = chain_pem(d, 2, &len_default);
        pem_alt = chain_pem(a, 2, &len_alt);
        pem_alt_leaf2 = chain_pem(a2, 2, &len_alt_leaf2);
        pem_with_root = chain_pem(r, 3, &len_with_root);
    }
    return 0;
}

static void ca_free(struct ca *c, bool key)
{
    gnutls_x509_crt_deinit(c->crt);
    if (key)
        gnutls_x509_privkey_deinit(c->key);
}

static int teardown(void **state)
{
    (void)state;
    ca_free(&root_a, true);
    ca_free(&root_b, true);
    ca_free(&inter_a, true);
    ca_free(&inter_b, false); /* shares inter_a's key */
    ca_free(&leaf, true);
    ca_free(&leaf2, true);
    free(pem_default);
    free(pem_alt);
    free(pem_alt_leaf2);
    free(pem_with_root);
    return 0;
}

static void test_top_issuer(void **state)
{
    char *cn = NULL;
    struct ac_error e;

    (void)state;
    assert_int_equal(acme_chain_top_issuer(pem_default, len_default, &cn, &e), 0);
    assert_string_equal(cn, "Root A");
    free(cn);
    assert_int_equal(acme_chain_top_issuer(pem_alt, len_alt, &cn, &e), 0);
    assert_string_equal(cn, "Root B");
    free(cn);
    /* a chain that ends with its (self-signed) root: the root's own CN */
    assert_int_equal(acme_chain_top_issuer(pem_with_root, len_with_root, &cn, &e), 0);
    assert_string_equal(cn, "Root B");
    free(cn);
    assert_int_equal(acme_chain_top_issuer("junk", 4, &cn, &e), -1);
    assert_null(cn);
}

static void test_pick(void **state)
{
    const char *pems[4];
    size_t lens[4];

    (void)state;
    pems[0] = pem_default;
    lens[0] = len_default;
    pems[1] = pem_alt;
    lens[1] = len_alt;
    /* the alternate that ends under Root B */
    assert_int_equal(acme_chain_pick(pems, lens, 2, "Root B"), 1);
    /* the default already ends under Root A */
    assert_int_equal(acme_chain_pick(pems, lens, 2, "Root A"), 0);
    assert_int_equal(acme_chain_pick(pems, lens, 1, "Root A"), 0);
    assert_int_equal(acme_chain_pick(pems, lens, 1, "Root B"), -1);
    /* exact match only; no preference or no chains: none */
    assert_int_equal(acme_chain_pick(pems, lens, 2, "root b"), -1);
    assert_int_equal(acme_chain_pick(pems, lens, 2, "Root"), -1);
    assert_int_equal(acme_chain_pick(pems, lens, 2, "Root C"), -1);
    assert_int_equal(acme_chain_pick(pems, lens, 2, NULL), -1);
    assert_int_equal(acme_chain_pick(pems, lens, 2, ""), -1);
    assert_int_equal(acme_chain_pick(pems, lens, 0, "Root B"), -1);
    /* an alternate with another leaf is never taken; a broken one is
     * passed over, the next matching one is */
    pems[1] = pem_alt_leaf2;
    lens[1] = len_alt_leaf2;
    assert_int_equal(acme_chain_pick(pems, lens, 2, "Root B"), -1);
    pems[2] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    lens[2] = strlen(pems[2]);
    pems[3] = pem_with_root;
    lens[3] = len_with_root;
    assert_int_equal(acme_chain_pick(pems, lens, 4, "Root B"), 3);
    /* a default that does not parse: nothing is chosen */
    pems[0] = "junk";
    lens[0] = 4;
    assert_int_equal(acme_chain_pick(pems, lens, 4, "Root B"), -1);
}

static void test_link_nth(void **state)
{
    struct http_response r;
    char *l;

    (void)state;
    memset(&r, 0, sizeof r);
    r.headers[0].name = "link";
    r.headers[0].value = "<https://ca.test/dir>;rel=\"index\", </cert/1/alt/1>;rel=\"alternate\"";
    r.headers[1].name = "content-type";
    r.headers[1].value = "application/pem-certificate-chain";
    r.headers[2].name = "link";
    r.headers[2].value = "<https://ca.test/cert/1/alt/2>; rel=alternate, <x>;rel=up, "
                         "<https://ca.test/cert/1/alt/3>;rel=\"alternate\"";
    r.header_count = 3;
    l = http_link_nth(&r, "alternate", "https://ca.test/cert/1", 0);
    assert_string_equal(l, "https://ca.test/cert/1/alt/1");
    free(l);
    l = http_link_nth(&r, "alternate", "https://ca.test/cert/1", 1);
    assert_string_equal(l, "https://ca.test/cert/1/alt/2");
    free(l);
    l = http_link_nth(&r, "alternate", "https://ca.test/cert/1", 2);
    assert_string_equal(l, "https://ca.test/cert/1/alt/3");
    free(l);
    assert_null(http_link_nth(&r, "alternate", "https://ca.test/cert/1", 3));
    l = http_link(&r, "alternate", "https://ca.test/cert/1");
    assert_string_equal(l, "https://ca.test/cert/1/alt/1");
    free(l);
    l = http_link_nth(&r, "index", NULL, 0);
    assert_string_equal(l, "https://ca.test/dir");
    free(l);
    assert_null(http_link_nth(&r, "index", NULL, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_issuer),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_link_nth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
