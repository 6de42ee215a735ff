/*
 * cert.c - the refcounted certificate handle handed out by lookups.
 *
 * A handle is built once from a parsed chain and key and never changes
 * afterwards; concurrent readers therefore need no lock, only a reference. The
 * count is a C11 atomic: acquire is one relaxed increment, release an
 * acq_rel decrement so that the thread freeing the handle sees every write made
 * before it was shared.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "timeutil.h"

/* One certificate of a chain: its DER, its public key (SubjectPublicKeyInfo
 * DER) and KeyUsage bits. The leaf's is a handle's own; the others are
 * interned: every handle whose chain holds the same certificate (the CA's
 * intermediate, shared by thousands of sets) points at one copy, found by
 * the SHA-256 of its DER. */
struct cert_blob {
    size_t refs; /* interned: guarded by intern_mu */
    bool interned;
    unsigned char md[32];
    gnutls_datum_t der;     /* gnutls_malloc'd */
    gnutls_datum_t spki;    /* gnutls_malloc'd */
    unsigned int key_usage; /* 0 = no KeyUsage extension */
    struct cert_blob *next; /* hash chain */
};

/* The interned chain certificates: a chained hash table on md, grown by
 * doubling; taken only when a handle is made or freed, never by a lookup. */
static pthread_mutex_t intern_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cert_blob **intern_tab;
static size_t intern_cap, intern_n;

struct autocert_cert {
    atomic_uint refs;
    int set_id;
    char *set_name;           /* owned */
    struct cert_blob **chain; /* count entries: [0] the leaf (own), then interned */
    size_t count;
    unsigned char *key_der; /* PKCS#8 DER, gnutls_malloc'd; secret */
    size_t key_len;
    /* the parsed key, made at the first handshake that signs with it (a
     * parsed P-256 key costs ~2 KiB; most of 100,000 sets may never be
     * asked for): NULL until then, set once (compare-and-swap) */
    _Atomic(struct crypto_key *) key;
    /* the key's own consistency (crypto_key_check) is still to be checked:
     * a batch load leaves it to a check after serving starts
     * (cert_key_check); the first handshake's parse checks it too */
    atomic_bool key_unchecked;
    struct crypto_cert_info info; /* of the leaf */
    const char **names;           /* CN + DNS SANs, each once; strings in info */
    size_t name_count;
    unsigned char (*ips)[16]; /* the leaf's IP SANs: 4 bytes (IPv4) or 16 (IPv6) */
    unsigned char *ip_lens;   /* 4 or 16 per entry */
    size_t ip_count;
    char *ocsp_url; /* the leaf's AIA OCSP responder (http/https), or NULL */
    /* the staple and its fetcher's findings: guarded by staple_lock(c) */
    struct cert_staple st;
};

/* The staples are written by the OCSP fetcher and copied by handshakes: a
 * mutex per handle would cost 40 bytes x 100,000 sets, so handles share 64
 * striped by address (held for a copy of a few KiB at most). */
#define STAPLE_STRIPES 64
static pthread_mutex_t staple_mu[STAPLE_STRIPES] = {
#define M1 PTHREAD_MUTEX_INITIALIZER
#define M8 M1, M1, M1, M1, M1, M1, M1, M1
    M8, M8, M8, M8, M8,
    M8, M8, M8
#undef M8
#undef M1
};

static pthread_mutex_t *staple_lock(const autocert_cert *c)
{
    return &staple_mu[((uintptr_t)c >> 6) % STAPLE_STRIPES];
}

static void blob_free(struct cert_blob *b)
{
    gnutls_free(b->der.data);
    gnutls_free(b->spki.data);
    free(b);
}

static size_t md_slot(const unsigned char *md, size_t cap)
{
    size_t h;

    memcpy(&h, md, sizeof h);
    return h & (cap - 1);
}

/* Drops one reference to b (interned or a leaf's own). */
static void blob_put(struct cert_blob *b)
{
    struct cert_blob **pp;

    if (b == NULL)
        return;
    if (!b->interned) {
        blob_free(b);
        return;
    }
    pthread_mutex_lock(&intern_mu);
    if (--b->refs > 0) {
        pthread_mutex_unlock(&intern_mu);
        return;
    }
    for (pp = &intern_tab[md_slot(b->md, intern_cap)]; *pp != b; pp = &(*pp)->next)
        ;
    *pp = b->next;
    intern_n--;
    pthread_mutex_unlock(&intern_mu);
    blob_free(b);
}

/* The interned blob with b's DER with a new reference, or NULL; b->md set. */
static struct cert_blob *blob_find(struct cert_blob *b)
{
    struct cert_blob *o = NULL;

    crypto_sha256(b->der.data, b->der.size, b->md);
    pthread_mutex_lock(&intern_mu);
    if (intern_cap > 0)
        for (o = intern_tab[md_slot(b->md, intern_cap)]; o != NULL; o = o->next)
            if (memcmp(o->md, b->md, sizeof o->md) == 0 && o->der.size == b->der.size &&
                memcmp(o->der.data, b->der.data, b->der.size) == 0) {
                o->refs++;
                break;
            }
    pthread_mutex_unlock(&intern_mu);
    return o;
}

/* The interned blob with b's DER: an existing one (a new reference; b is
 * freed) or b itself, added. intern_mu not held. Returns NULL on ENOMEM (b
 * freed). */
static struct cert_blob *blob_intern(struct cert_blob *b)
{
    struct cert_blob *o;

    crypto_sha256(b->der.data, b->der.size, b->md);
    pthread_mutex_lock(&intern_mu);
    if (intern_cap > 0)
        for (o = intern_tab[md_slot(b->md, intern_cap)]; o != NULL; o = o->next)
            if (memcmp(o->md, b->md, sizeof o->md) == 0 && o->der.size == b->der.size &&
                memcmp(o->der.data, b->der.data, b->der.size) == 0) {
                o->refs++;
                pthread_mutex_unlock(&intern_mu);
                blob_free(b);
                return o;
            }
    if (intern_n + 1 > intern_cap / 2) {
        size_t cap = intern_cap ? intern_cap * 2 : 64;
        struct cert_blob **t = calloc(cap, sizeof *t);

        if (t == NULL) {
            pthread_mutex_unlock(&intern_mu);
            blob_free(b);
            return NULL;
        }
        for (size_t i = 0; i < intern_cap; i++)
            while ((o = intern_tab[i]) != NULL) {
                intern_tab[i] = o->next;
                o->next = t[md_slot(o->md, cap)];
                t[md_slot(o->md, cap)] = o;
            }
        free(intern_tab);
        intern_tab = t;
        intern_cap = cap;
    }
    b->interned = true;
    b->refs = 1;
    b->next = intern_tab[md_slot(b->md, intern_cap)];
    intern_tab[md_slot(b->md, intern_cap)] = b;
    intern_n++;
    pthread_mutex_unlock(&intern_mu);
    return b;
}

size_t cert_interned_count(void)
{
    size_t n;

    pthread_mutex_lock(&intern_mu);
    n = intern_n;
    pthread_mutex_unlock(&intern_mu);
    return n;
}

static void cert_destroy(autocert_cert *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        blob_put(c->chain[i]);
    free(c->chain);
    if (c->key_der != NULL) {
        gnutls_memset(c->key_der, 0, c->key_len);
        gnutls_free(c->key_der);
    }
    crypto_key_free(atomic_load(&c->key));
    crypto_cert_info_free(&c->info);
    free(c->names);
    free(c->ips);
    free(c->ip_lens);
    free(c->set_name);
    free(c->ocsp_url);
    free(c->st.der);
    free(c->st.error);
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

/* The first http(s) OCSP responder URL of crt's Authority Information
 * Access, or NULL (none, or one too long or with bytes a URL cannot hold). */
static int cert_find_ocsp_url(autocert_cert *c, gnutls_x509_crt_t crt)
{
    for (unsigned seq = 0; seq < 16; seq++) {
        gnutls_datum_t d = {NULL, 0};
        int rc = gnutls_x509_crt_get_authority_info_access(crt, seq, GNUTLS_IA_OCSP_URI, &d, NULL);
        bool ok;

        if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (rc < 0)
            continue; /* another access method (caIssuers) */
        ok = d.size > 8 && d.size < 2048 &&
             (strncmp((const char *)d.data, "http://", 7) == 0 ||
              strncmp((const char *)d.data, "https://", 8) == 0);
        for (unsigned k = 0; ok && k < d.size; k++)
            ok = d.data[k] > 0x20 && d.data[k] < 0x7f;
        if (ok) {
            c->ocsp_url = strndup((const char *)d.data, d.size);
            gnutls_free(d.data);
            return c->ocsp_url == NULL ? -1 : 0;
        }
        gnutls_free(d.data);
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

int cert_new(const char *set_name, int set_id, struct crypto_chain *chain, struct crypto_key *key,
             autocert_cert **out, struct ac_error *e)
{
    return cert_new_spki(set_name, set_id, chain, key, NULL, out, e);
}

int cert_new_spki(const char *set_name, int set_id, struct crypto_chain *chain,
                  struct crypto_key *key, gnutls_datum_t *leaf_spki, autocert_cert **out,
                  struct ac_error *e)
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
    atomic_init(&c->key, NULL);
    atomic_init(&c->key_unchecked, false);
    atomic_init(&c->refs, 1);
    c->set_id = set_id;
    c->chain = calloc(chain->count, sizeof(*c->chain));
    if (c->chain == NULL)
        goto nomem;
    for (size_t i = 0; i < chain->count; i++) {
        struct cert_blob *b = calloc(1, sizeof *b);
        gnutls_x509_crt_t crt;

        if (b == NULL)
            goto nomem;
        b->der.data = gnutls_malloc(chain->der[i].size ? chain->der[i].size : 1);
        if (b->der.data == NULL) {
            blob_free(b);
            goto nomem;
        }
        memcpy(b->der.data, chain->der[i].data, chain->der[i].size);
        b->der.size = chain->der[i].size;
        if (i > 0) {
            struct cert_blob *o = blob_find(b);
            if (o != NULL) { /* already held: no parse, no public key export */
                blob_free(b);
                c->chain[c->count++] = o;
                continue;
            }
        }
        if ((crt = crypto_chain_crt(chain, i, e)) == NULL) {
            blob_free(b);
            goto out;
        }
        if (i == 0 && leaf_spki != NULL && leaf_spki->data != NULL) {
            b->spki = *leaf_spki; /* taken: no second export */
            leaf_spki->data = NULL;
            leaf_spki->size = 0;
            if (gnutls_x509_crt_get_key_usage(crt, &b->key_usage, NULL) < 0)
                b->key_usage = 0;
        } else if (cert_keep_spki(crt, &b->spki, &b->key_usage, e) != 0) {
            blob_free(b);
            goto out;
        }
        if (i > 0 && (b = blob_intern(b)) == NULL)
            goto nomem;
        c->chain[c->count++] = b; /* from here cert_destroy drops entry i */
    }
    if (crypto_key_export_pkcs8_der(key, &c->key_der, &c->key_len, e) != 0)
        goto out;
    /* the key matches the leaf (the caller's promise): its type is the leaf's */
    if (crypto_cert_info_get_typed(chain->crts[0], crypto_key_get_type(key), &c->info, e) != 0)
        goto out;
    if (cert_collect_names(c) != 0 || cert_collect_ips(c, chain->crts[0]) != 0 ||
        cert_find_ocsp_url(c, chain->crts[0]) != 0)
        goto nomem;
    *out = c;
    c = NULL;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "cert_new: out of memory");
out:
    if (leaf_spki != NULL) {
        gnutls_free(leaf_spki->data);
        leaf_spki->data = NULL;
        leaf_spki->size = 0;
    }
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

void cert_set_key_unchecked(autocert_cert *c)
{
    atomic_store(&c->key_unchecked, true);
}

bool cert_key_unchecked(const autocert_cert *c)
{
    return atomic_load(&((autocert_cert *)c)->key_unchecked);
}

int cert_key_check(autocert_cert *c, struct ac_error *e)
{
    struct crypto_key *k = NULL;
    int rc;

    if (!atomic_load(&c->key_unchecked))
        return 0;
    rc = crypto_key_load_unchecked(c->key_der, c->key_len, &k, e);
    if (rc == 0)
        rc = crypto_key_check(k, e);
    crypto_key_free(k);
    if (rc == 0)
        atomic_store(&c->key_unchecked, false);
    return rc;
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
    autocert_cert *w = (autocert_cert *)c; /* the key cache only */
    struct crypto_key *k = atomic_load_explicit(&w->key, memory_order_acquire), *expected = NULL;

    if (k != NULL)
        return crypto_key_privkey(k);
    if ((atomic_load(&c->key_unchecked)
             ? crypto_key_load(c->key_der, c->key_len, &k, NULL)
             : crypto_key_load_unchecked(c->key_der, c->key_len, &k, NULL)) != 0)
        return NULL; /* out of memory, or a key that does not hold together:
                      * this handshake fails */
    if (!atomic_compare_exchange_strong_explicit(&w->key, &expected, k, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        crypto_key_free(k); /* another handshake made it first */
        k = expected;
    }
    return crypto_key_privkey(k);
}

int cert_pcert_copy(const autocert_cert *c, size_t i, gnutls_pcert_st *out)
{
    const struct cert_blob *b = c->chain[i];
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = GNUTLS_CRT_X509;
    out->cert.data = gnutls_malloc(b->der.size);
    if (out->cert.data == NULL)
        return GNUTLS_E_MEMORY_ERROR;
    memcpy(out->cert.data, b->der.data, b->der.size);
    out->cert.size = b->der.size;
    if ((rc = gnutls_pubkey_init(&out->pubkey)) < 0 ||
        (rc = gnutls_pubkey_import(out->pubkey, &b->spki, GNUTLS_X509_FMT_DER)) < 0) {
        gnutls_pcert_deinit(out);
        return rc;
    }
    if (b->key_usage != 0)
        gnutls_pubkey_set_key_usage(out->pubkey, b->key_usage);
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
        if (a->chain[i] != b->chain[i] &&
            (a->chain[i]->der.size != b->chain[i]->der.size ||
             memcmp(a->chain[i]->der.data, b->chain[i]->der.data, a->chain[i]->der.size) != 0))
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
    *der = c->chain[i]->der.data;
    *len = c->chain[i]->der.size;
    return 0;
}

int autocert_cert_key_der(const autocert_cert *c, const unsigned char **der, size_t *len)
{
    *der = c->key_der;
    *len = c->key_len;
    return 0;
}

/* ---- OCSP staple ---------------------------------------------------------- */

const char *cert_ocsp_url(const autocert_cert *c)
{
    return c->ocsp_url;
}

int cert_ocsp_pair(const autocert_cert *c, gnutls_datum_t *leaf, gnutls_datum_t *issuer)
{
    if (c->count < 2)
        return -1;
    *leaf = c->chain[0]->der;
    *issuer = c->chain[1]->der;
    return 0;
}

int cert_staple_set(const autocert_cert *c, const unsigned char *der, size_t len,
                    int64_t this_update, int64_t next_update)
{
    autocert_cert *w = (autocert_cert *)c; /* the staple only */
    unsigned char *copy = malloc(len > 0 ? len : 1);
    unsigned char *old;

    if (copy == NULL)
        return -1;
    memcpy(copy, der, len);
    pthread_mutex_lock(staple_lock(c));
    old = w->st.der;
    w->st.der = copy;
    w->st.len = len;
    w->st.this_update = this_update;
    w->st.next_update = next_update;
    free(w->st.error);
    w->st.error = NULL;
    pthread_mutex_unlock(staple_lock(c));
    free(old);
    return 0;
}

void cert_staple_untrack(const autocert_cert *c)
{
    autocert_cert *w = (autocert_cert *)c;

    pthread_mutex_lock(staple_lock(c));
    if (w->st.track == CERT_OCSP_TRACKED)
        w->st.track = CERT_OCSP_IDLE;
    pthread_mutex_unlock(staple_lock(c));
}

void cert_staple_drop(const autocert_cert *c)
{
    autocert_cert *w = (autocert_cert *)c;
    unsigned char *old;

    pthread_mutex_lock(staple_lock(c));
    old = w->st.der;
    w->st.der = NULL;
    w->st.len = 0;
    w->st.this_update = w->st.next_update = 0;
    pthread_mutex_unlock(staple_lock(c));
    free(old);
}

void cert_staple_note(const autocert_cert *c, enum cert_ocsp_track track, const char *error)
{
    autocert_cert *w = (autocert_cert *)c;
    char *copy = error != NULL ? strdup(error) : NULL, *old;

    pthread_mutex_lock(staple_lock(c));
    old = w->st.error;
    w->st.error = copy;
    w->st.track = track;
    pthread_mutex_unlock(staple_lock(c));
    free(old);
}

int cert_staple_copy(const autocert_cert *c, int64_t now, void *(*alloc)(size_t),
                     unsigned char **der, size_t *len, int64_t *next_update)
{
    int rc = 0;

    *der = NULL;
    *len = 0;
    pthread_mutex_lock(staple_lock(c));
    if (c->st.der != NULL && c->st.next_update > now && c->st.track != CERT_OCSP_OFF) {
        *der = alloc(c->st.len);
        if (*der == NULL) {
            rc = -1;
        } else {
            memcpy(*der, c->st.der, c->st.len);
            *len = c->st.len;
            if (next_update != NULL)
                *next_update = c->st.next_update;
            rc = 1;
        }
    }
    pthread_mutex_unlock(staple_lock(c));
    return rc;
}

void cert_staple_state(const autocert_cert *c, int64_t now, struct cert_staple_view *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(staple_lock(c));
    if (c->ocsp_url == NULL)
        out->state = "none";
    else if (c->st.track == CERT_OCSP_OFF)
        out->state = "off";
    else if (c->st.der != NULL && c->st.next_update > now)
        out->state = "good";
    else if (c->st.error != NULL)
        out->state = "error";
    else if (c->st.der != NULL)
        out->state = "expired";
    else
        out->state = c->st.track == CERT_OCSP_TRACKED ? "pending" : "idle";
    if (c->st.der != NULL) {
        out->this_update = c->st.this_update;
        out->next_update = c->st.next_update;
    }
    if (c->st.error != NULL)
        snprintf(out->error, sizeof out->error, "%s", c->st.error);
    pthread_mutex_unlock(staple_lock(c));
}

size_t autocert_cert_ocsp_copy(const autocert_cert *c, void *(*alloc)(size_t), unsigned char **der)
{
    size_t len = 0;

    if (c == NULL || der == NULL || alloc == NULL)
        return 0;
    if (cert_staple_copy(c, ac_now(), alloc, der, &len, NULL) != 1)
        return 0;
    return len;
}
