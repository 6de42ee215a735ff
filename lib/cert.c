/*
 * cert.c - the refcounted certificate handle handed out by lookups.
 *
 * A handle is built once from a parsed chain and key and never changes
 * afterwards; concurrent readers therefore need no lock, only a reference. The
 * count is a C11 atomic: acquire is one relaxed increment, release an
 * acq_rel decrement so that the thread freeing the handle sees every write made
 * before it was shared.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"

struct autocert_cert {
    atomic_uint refs;
    int set_id;
    char *set_name;          /* owned */
    gnutls_datum_t *der;     /* count entries; data gnutls_malloc'd */
    gnutls_datum_t *spki;    /* count entries: each certificate's public key
                              * (SubjectPublicKeyInfo DER, gnutls_malloc'd) */
    unsigned int *key_usage; /* count entries; 0 = no KeyUsage extension */
    size_t count;
    unsigned char *key_der; /* PKCS#8 DER, gnutls_malloc'd; secret */
    size_t key_len;
    struct crypto_key *key;       /* owned */
    struct crypto_cert_info info; /* of the leaf */
    const char **names;           /* CN + DNS SANs, each once; strings in info */
    size_t name_count;
    unsigned char (*ips)[16]; /* the leaf's IP SANs: 4 bytes (IPv4) or 16 (IPv6) */
    unsigned char *ip_lens;   /* 4 or 16 per entry */
    size_t ip_count;
};

static void cert_destroy(autocert_cert *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++) {
        gnutls_free(c->der[i].data);
        gnutls_free(c->spki[i].data);
    }
    free(c->der);
    free(c->spki);
    free(c->key_usage);
    if (c->key_der != NULL) {
        gnutls_memset(c->key_der, 0, c->key_len);
        gnutls_free(c->key_der);
    }
    crypto_key_free(c->key);
    crypto_cert_info_free(&c->info);
    free(c->names);
    free(c->ips);
    free(c->ip_lens);
    free(c->set_name);
    free(c);
}

static int cert_has_name(const autocert_cert *c, const char *name)
{
    for (size_t i = 0; i < c->name_count; i++)
        if (strcmp(c->names[i], name) == 0)
            return 1;
    return 0;
}

static int cert_collect_names(autocert_cert *c)
{
    c->names = calloc(c->info.dns_count + 1, sizeof(*c->names));
    if (c->names == NULL)
        return -1;
    if (c->info.subject_cn != NULL && c->info.subject_cn[0] != '\0')
        c->names[c->name_count++] = c->info.subject_cn;
    for (size_t i = 0; i < c->info.dns_count; i++)
        if (!cert_has_name(c, c->info.dns_names[i]))
            c->names[c->name_count++] = c->info.dns_names[i];
    return 0;
}

/* The end of the SAN list, or an error that every later index would repeat
 * (a malformed extension); a SAN we cannot read or do not know is skipped. */
static bool san_end(int rc)
{
    return rc < 0 && rc != GNUTLS_E_SHORT_MEMORY_BUFFER && rc != GNUTLS_E_X509_UNKNOWN_SAN;
}

/* The leaf's IP SANs (RFC 8738 certificates), raw 4- or 16-byte addresses,
 * each once. An IPv4-mapped IPv6 SAN counts as its IPv4 address. */
static int cert_collect_ips(autocert_cert *c, gnutls_x509_crt_t crt)
{
    size_t n = 0;

    for (unsigned int i = 0;; i++) {
        unsigned char buf[16];
        size_t len = sizeof buf;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, NULL);
        if (san_end(type))
            break;
        if (type == GNUTLS_SAN_IPADDRESS || type == GNUTLS_E_SHORT_MEMORY_BUFFER)
            n++;
    }
    if (n == 0)
        return 0;
    c->ips = calloc(n, sizeof *c->ips);
    c->ip_lens = calloc(n, sizeof *c->ip_lens);
    if (c->ips == NULL || c->ip_lens == NULL)
        return -1;
    for (unsigned int i = 0; c->ip_count < n; i++) {
        unsigned char buf[16];
        size_t len = sizeof buf;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, NULL);
        bool dup = false;
        if (san_end(type))
            break;
        if (type != GNUTLS_SAN_IPADDRESS || (len != 4 && len != 16))
            continue;
        if (len == 16 && memcmp(buf, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
            memmove(buf, buf + 12, 4);
            len = 4;
        }
        for (size_t k = 0; k < c->ip_count && !dup; k++)
            dup = c->ip_lens[k] == len && memcmp(c->ips[k], buf, len) == 0;
        if (dup)
            continue;
        memcpy(c->ips[c->ip_count], buf, len);
        c->ip_lens[c->ip_count++] = (unsigned char)len;
    }
    return 0;
}

/* The public key of crt as SubjectPublicKeyInfo DER and its KeyUsage bits, so
 * that a handshake can rebuild a pcert without parsing the certificate again
 * (cert_pcert_copy). */
static int cert_keep_spki(gnutls_x509_crt_t crt, gnutls_datum_t *spki, unsigned int *usage,
                          struct ac_error *e)
{
    gnutls_pubkey_t pk = NULL;
    int rc = -1;

    if (gnutls_pubkey_init(&pk) < 0 || gnutls_pubkey_import_x509(pk, crt, 0) < 0 ||
        gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, spki) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cert_new: cannot export a certificate's public key");
        goto out;
    }
    if (gnutls_x509_crt_get_key_usage(crt, usage, NULL) < 0)
        *usage = 0;
    rc = 0;
out:
    gnutls_pubkey_deinit(pk);
    return rc;
}

int cert_new(const char *set_name, int set_id, const struct crypto_chain *chain,
             struct crypto_key *key, autocert_cert **out, struct ac_error *e)
{
    autocert_cert *c = NULL;
    int rc = -1;

    if (chain == NULL || chain->count == 0 || key == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "cert_new: empty chain or no key");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->set_name = strdup(set_name)) == NULL)
        goto nomem;
    c->key = key;
    key = NULL;
    atomic_init(&c->refs, 1);
    c->set_id = set_id;
    c->der = calloc(chain->count, sizeof(*c->der));
    c->spki = calloc(chain->count, sizeof(*c->spki));
    c->key_usage = calloc(chain->count, sizeof(*c->key_usage));
    if (c->der == NULL || c->spki == NULL || c->key_usage == NULL)
        goto nomem;
    for (size_t i = 0; i < chain->count; i++) {
        size_t len = 0;
        c->count++; /* from here cert_destroy frees entry i */
        if (crypto_cert_der(chain->crts[i], &c->der[i].data, &len, e) != 0 ||
            cert_keep_spki(chain->crts[i], &c->spki[i], &c->key_usage[i], e) != 0)
            goto out;
        c->der[i].size = (unsigned int)len;
    }
    if (crypto_key_export_pkcs8_der(c->key, &c->key_der, &c->key_len, e) != 0)
        goto out;
    if (crypto_cert_info_get(chain->crts[0], &c->info, e) != 0)
        goto out;
    if (cert_collect_names(c) != 0 || cert_collect_ips(c, chain->crts[0]) != 0)
        goto nomem;
    *out = c;
    c = NULL;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "cert_new: out of memory");
out:
    crypto_key_free(key);
    cert_destroy(c);
    return rc;
}

autocert_cert *autocert_cert_acquire(autocert_cert *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void autocert_cert_release(autocert_cert *c)
{
    if (c == NULL)
        return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        cert_destroy(c);
}

const struct crypto_cert_info *cert_info(const autocert_cert *c)
{
    return &c->info;
}

int cert_set_id(const autocert_cert *c)
{
    return c->set_id;
}

gnutls_privkey_t cert_privkey(const autocert_cert *c)
{
    return crypto_key_privkey(c->key);
}

int cert_pcert_copy(const autocert_cert *c, size_t i, gnutls_pcert_st *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = GNUTLS_CRT_X509;
    out->cert.data = gnutls_malloc(c->der[i].size);
    if (out->cert.data == NULL)
        return GNUTLS_E_MEMORY_ERROR;
    memcpy(out->cert.data, c->der[i].data, c->der[i].size);
    out->cert.size = c->der[i].size;
    if ((rc = gnutls_pubkey_init(&out->pubkey)) < 0 ||
        (rc = gnutls_pubkey_import(out->pubkey, &c->spki[i], GNUTLS_X509_FMT_DER)) < 0) {
        gnutls_pcert_deinit(out);
        return rc;
    }
    if (c->key_usage[i] != 0)
        gnutls_pubkey_set_key_usage(out->pubkey, c->key_usage[i]);
    return 0;
}

size_t cert_ip_count(const autocert_cert *c)
{
    return c->ip_count;
}

const unsigned char *cert_ip(const autocert_cert *c, size_t i, size_t *len)
{
    if (i >= c->ip_count)
        return NULL;
    *len = c->ip_lens[i];
    return c->ips[i];
}

bool cert_same(const autocert_cert *a, const autocert_cert *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || a->count != b->count || a->key_len != b->key_len)
        return false;
    if (memcmp(a->key_der, b->key_der, a->key_len) != 0)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (a->der[i].size != b->der[i].size ||
            memcmp(a->der[i].data, b->der[i].data, a->der[i].size) != 0)
            return false;
    return true;
}

const char *autocert_cert_set_name(const autocert_cert *c)
{
    return c->set_name;
}

const char *autocert_cert_subject(const autocert_cert *c)
{
    return c->info.subject_cn != NULL ? c->info.subject_cn : "";
}

int64_t autocert_cert_not_before(const autocert_cert *c)
{
    return c->info.not_before;
}

int64_t autocert_cert_not_after(const autocert_cert *c)
{
    return c->info.not_after;
}

size_t autocert_cert_name_count(const autocert_cert *c)
{
    return c->name_count;
}

const char *autocert_cert_name(const autocert_cert *c, size_t i)
{
    return i < c->name_count ? c->names[i] : NULL;
}

size_t autocert_cert_chain_count(const autocert_cert *c)
{
    return c->count;
}

int autocert_cert_chain_der(const autocert_cert *c, size_t i, const unsigned char **der,
                            size_t *len)
{
    if (i >= c->count)
        return -1;
    *der = c->der[i].data;
    *len = c->der[i].size;
    return 0;
}

int autocert_cert_key_der(const autocert_cert *c, const unsigned char **der, size_t *len)
{
    *der = c->key_der;
    *len = c->key_len;
    return 0;
}
