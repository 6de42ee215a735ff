/*
 * autocert_openssl.c - libautocert_openssl: the OpenSSL 3 ClientHello and
 * ALPN callbacks that serve a manager's certificates by SNI.
 *
 * Built on the public API only (autocert_manager_lookup, autocert_cert_*),
 * as its own library linked to libautocert.
 *
 * One binding per installed SSL_CTX, kept in the SSL_CTX's ex_data (freed
 * with it by the ex_data free callback) and passed to both callbacks as
 * their argument:
 *
 *   SSL_CTX --ex_data--> binding { lock, m, host ALPN cb+arg, cache }
 *                                              |
 *            hash of autocert_cert* --> entry { reference to the handle,
 *                                               X509 leaf, EVP_PKEY key,
 *                                               STACK_OF(X509) chain }
 *
 * A handshake takes the read lock, looks up the manager (no allocation),
 * finds the handle's entry and calls SSL_use_cert_and_key, which takes
 * OpenSSL references of its own (so the SSL keeps its certificate whatever
 * happens to the entry later). A miss converts the DER outside the lock and
 * inserts under the write lock; the entry of the same set's previous
 * certificate goes then (a set has one current certificate). Entries of sets
 * that no longer exist go when the cache holds more than twice the number
 * of sets (plus CACHE_SLACK): the least recently used first.
 *
 * The entry holds a reference to its handle, so a handle's address cannot be
 * reused by another certificate while it is a key of the cache.
 *
 * autocert_openssl_uninstall takes the write lock: after it returns no
 * callback touches the manager.
 *
 * tls-alpn-01 (RFC 8737). OpenSSL runs the ClientHello callback before the
 * ALPN select callback (both before the certificate is needed), so the
 * ClientHello callback decides: when the ClientHello offers acme-tls/1 for a
 * server name with a pending challenge (autocert_manager_alpn_pending; an IP
 * identifier's reverse name included) it sets the challenge certificate
 * (converted per handshake, never cached) and marks the SSL in its ex_data;
 * the ALPN callback selects acme-tls/1 only for a marked SSL, and hands
 * every other list to the host's callback without acme-tls/1. So acme-tls/1
 * and the challenge certificate always come together.
 *
 * Without SNI the local address picks an IP certificate
 * (autocert_manager_lookup_addr): the host's (autocert_openssl_set_local_addr,
 * another SSL ex_data slot, freed with the SSL), else getsockname() on
 * SSL_get_fd, only for such handshakes.
 */
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "autocert/autocert_openssl.h"

#define CACHE_MIN_BUCKETS 16
#define CACHE_SLACK 16
#define ACME_TLS_1 "acme-tls/1"

struct entry {
    autocert_cert *c; /* a reference, the key */
    X509 *leaf;
    EVP_PKEY *key;
    STACK_OF(X509) * chain; /* the intermediates, may be empty */
    atomic_uint_fast64_t used;
    struct entry *next;
};

struct binding {
    pthread_rwlock_t lock;
    autocert_manager *m; /* NULL: not installed */
    autocert_openssl_alpn_fn alpn;
    void *alpn_arg;
    struct entry **buckets;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;
    atomic_uint_fast64_t tick;
};

/* The local address a host set on an SSL (autocert_openssl_set_local_addr),
 * kept in the SSL's ex_data (freed with it). */
struct local_addr {
    int known; /* 0: the host said no address is known */
    unsigned char addr[16];
    size_t len; /* 4 or 16 when known */
};

static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int binding_index = -1;
static int acme_index = -1;  /* SSL ex_data: ACME_MARK while this handshake is tls-alpn-01 */
static int local_index = -1; /* SSL ex_data: struct local_addr *, or NULL (ask the fd) */
static char acme_mark;       /* its address is the mark; nothing to free */
#define ACME_MARK ((void *)&acme_mark)

/* ---- the cache ------------------------------------------------------------ */

static size_t bucket_of(const struct binding *b, const autocert_cert *c)
{
    uint64_t h = (uint64_t)(uintptr_t)c * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (b->nbuckets - 1);
}

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    X509_free(e->leaf);
    EVP_PKEY_free(e->key);
    sk_X509_pop_free(e->chain, X509_free);
    autocert_cert_release(e->c);
    free(e);
}

static struct entry *cache_find(const struct binding *b, const autocert_cert *c)
{
    if (b->nbuckets == 0)
        return NULL;
    for (struct entry *e = b->buckets[bucket_of(b, c)]; e != NULL; e = e->next)
        if (e->c == c)
            return e;
    return NULL;
}

/* Unlinks and frees every entry for which drop(e, arg) is true. */
static void cache_drop_if(struct binding *b, int (*drop)(const struct entry *, const void *),
                          const void *arg)
{
    for (size_t i = 0; i < b->nbuckets; i++) {
        struct entry **pp = &b->buckets[i];
        while (*pp != NULL) {
            struct entry *e = *pp;
            if (drop(e, arg)) {
                *pp = e->next;
                b->count--;
                entry_free(e);
            } else {
                pp = &e->next;
            }
        }
    }
}

static int drop_all(const struct entry *e, const void *arg)
{
    return 1;
}

static int drop_same_set(const struct entry *e, const void *arg)
{
    const autocert_cert *c = arg;
    return e->c != c && strcmp(autocert_cert_set_name(e->c), autocert_cert_set_name(c)) == 0;
}

static int drop_this(const struct entry *e, const void *arg)
{
    return e == arg;
}

static void cache_clear(struct binding *b)
{
    cache_drop_if(b, drop_all, NULL);
    free(b->buckets);
    b->buckets = NULL;
    b->nbuckets = 0;
}

/* Doubles the table (or makes the first one). Returns 0 or -1. */
static int cache_grow(struct binding *b)
{
    size_t n = b->nbuckets ? b->nbuckets * 2 : CACHE_MIN_BUCKETS;
    struct entry **nb = calloc(n, sizeof(*nb));
    struct entry **old = b->buckets;
    size_t oldn = b->nbuckets;

    if (nb == NULL)
        return -1;
    b->buckets = nb;
    b->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        struct entry *e = old[i], *next;
        for (; e != NULL; e = next) {
            size_t k = bucket_of(b, e->c);
            next = e->next;
            e->next = nb[k];
            nb[k] = e;
        }
    }
    free(old);
    return 0;
}

/* More entries than the manager has sets (twice, plus slack): drops the
 * least recently used until within the bound. */
static void cache_trim(struct binding *b)
{
    size_t bound = 2 * autocert_manager_set_count(b->m) + CACHE_SLACK;

    while (b->count > bound) {
        struct entry *oldest = NULL;
        for (size_t i = 0; i < b->nbuckets; i++)
            for (struct entry *e = b->buckets[i]; e != NULL; e = e->next)
                if (oldest == NULL || atomic_load(&e->used) < atomic_load(&oldest->used))
                    oldest = e;
        cache_drop_if(b, drop_this, oldest);
    }
}

/* Inserts e (write lock held): the same set's other entries go. */
static int cache_insert(struct binding *b, struct entry *e)
{
    cache_drop_if(b, drop_same_set, e->c);
    if (b->count >= b->nbuckets && cache_grow(b) != 0)
        return -1;
    size_t k = bucket_of(b, e->c);
    e->next = b->buckets[k];
    b->buckets[k] = e;
    b->count++;
    cache_trim(b);
    return 0;
}

/* The OpenSSL objects of c (borrowed DER in, new objects out). Returns a new
 * entry that holds a new reference to c, or NULL. Takes no lock. */
static struct entry *entry_make(autocert_cert *c)
{
    struct entry *e = calloc(1, sizeof(*e));
    const unsigned char *der = NULL, *p;
    size_t len = 0, n = autocert_cert_chain_count(c);

    if (e == NULL)
        return NULL;
    e->c = autocert_cert_acquire(c);
    if (n == 0 || autocert_cert_chain_der(c, 0, &der, &len) != 0 || len > LONG_MAX)
        goto fail;
    p = der;
    e->leaf = d2i_X509(NULL, &p, (long)len);
    if (e->leaf == NULL || p != der + len)
        goto fail;
    e->chain = sk_X509_new_null();
    if (e->chain == NULL)
        goto fail;
    for (size_t i = 1; i < n; i++) {
        X509 *x;
        if (autocert_cert_chain_der(c, i, &der, &len) != 0 || len > LONG_MAX)
            goto fail;
        p = der;
        x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != der + len || sk_X509_push(e->chain, x) <= 0) {
            X509_free(x);
            goto fail;
        }
    }
    if (autocert_cert_key_der(c, &der, &len) != 0 || len > LONG_MAX)
        goto fail;
    p = der;
    e->key = d2i_AutoPrivateKey(NULL, &p, (long)len); /* PKCS#8 PrivateKeyInfo */
    if (e->key == NULL)
        goto fail;
    return e;
fail:
    entry_free(e);
    return NULL;
}

/* ---- the binding ------------------------------------------------------------ */

static void binding_free(struct binding *b)
{
    if (b == NULL)
        return;
    cache_clear(b);
    pthread_rwlock_destroy(&b->lock);
    free(b);
}

static void binding_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                            void *argp)
{
    binding_free(ptr);
}

static void local_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp)
{
    free(ptr);
}

static void index_init(void)
{
    binding_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, binding_ex_free);
    acme_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    local_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, local_ex_free);
}

static struct binding *binding_of(SSL_CTX *ctx)
{
    pthread_once(&index_once, index_init);
    return binding_index < 0 ? NULL : SSL_CTX_get_ex_data(ctx, binding_index);
}

/* ---- the callbacks ---------------------------------------------------------- */

/* The first host_name of the server_name extension (RFC 6066 §3), or len 0:
 * no SNI (absent, malformed, no host_name entry). Bounded by the extension's
 * length; the name is not NUL-terminated. */
static void client_sni(SSL *ssl, const unsigned char **name, size_t *len)
{
    const unsigned char *ext = NULL;
    size_t extlen = 0, list, off = 2;

    *name = NULL;
    *len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &extlen) != 1 || extlen < 2)
        return;
    list = (size_t)ext[0] << 8 | ext[1];
    if (list > extlen - 2)
        return;
    while (off + 3 <= list + 2) {
        size_t n = (size_t)ext[off + 1] << 8 | ext[off + 2];
        if (off + 3 + n > list + 2)
            return;
        if (ext[off] == TLSEXT_NAMETYPE_host_name) {
            *name = ext + off + 3;
            *len = n;
            return;
        }
        off += 3 + n;
    }
}

/* Whether the client's ALPN list (wire format: length-prefixed names) offers
 * acme-tls/1. Bounded by inlen; a malformed list offers nothing. */
static int offers_acme(const unsigned char *in, size_t inlen)
{
    const size_t n = sizeof(ACME_TLS_1) - 1;

    for (size_t off = 0; off < inlen;) {
        size_t l = in[off];
        if (off + 1 + l > inlen)
            return 0;
        if (l == n && memcmp(in + off + 1, ACME_TLS_1, n) == 0)
            return 1;
        off += 1 + l;
    }
    return 0;
}

/* Whether this ClientHello's ALPN extension (RFC 7301 §3.1) offers
 * acme-tls/1. */
static int hello_offers_acme(SSL *ssl)
{
    const unsigned char *ext = NULL;
    size_t extlen = 0, list;

    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                  &extlen) != 1 ||
        extlen < 2)
        return 0;
    list = (size_t)ext[0] << 8 | ext[1];
    return list <= extlen - 2 && offers_acme(ext + 2, list);
}

/* The local address of the connection (raw bytes in out): the one the host
 * set, else getsockname() on the SSL's fd. Returns 4, 16, or 0 when unknown. */
static size_t local_addr(SSL *ssl, unsigned char out[16])
{
    const struct local_addr *la = SSL_get_ex_data(ssl, local_index);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd;

    if (la != NULL) {
        if (!la->known)
            return 0;
        memcpy(out, la->addr, la->len);
        return la->len;
    }
    fd = SSL_get_fd(ssl);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

/* Serves c (a reference, taken over), the tls-alpn-01 challenge certificate
 * of this ClientHello's server name: converted for this handshake only (not
 * cached: a challenge lives for one validation), and marks the SSL so that
 * the ALPN callback selects acme-tls/1. */
static int use_challenge(SSL *ssl, autocert_cert *c, int *al)
{
    struct entry *e = entry_make(c);
    int ok = e != NULL && SSL_use_cert_and_key(ssl, e->leaf, e->key, e->chain, 1) == 1 &&
             SSL_set_ex_data(ssl, acme_index, ACME_MARK) == 1;

    if (ok)
        autocert_log(AUTOCERT_LOG_DEBUG, NULL,
                     "handshake: acme-tls/1, the tls-alpn-01 challenge certificate");
    else
        autocert_log(AUTOCERT_LOG_ERROR, NULL,
                     "handshake: cannot use the tls-alpn-01 challenge certificate");
    entry_free(e);
    autocert_cert_release(c);
    ERR_clear_error();
    if (!ok) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Chooses and sets the certificate for this ClientHello: the challenge
 * certificate when it offers acme-tls/1 for a server name with a pending
 * tls-alpn-01 challenge, else the set's by SNI, without SNI by the local
 * address (an IP certificate), else main's. */
static int on_client_hello(SSL *ssl, int *al, void *arg)
{
    struct binding *b = arg;
    const unsigned char *name;
    unsigned char addr[16];
    size_t len, alen = 0;
    autocert_cert *c = NULL;
    struct entry *e, *made = NULL;
    int ok = 0, used = 0; /* used: a certificate was offered to OpenSSL */
    int acme;

    client_sni(ssl, &name, &len);
    acme = len > 0 && hello_offers_acme(ssl);
    SSL_set_ex_data(ssl, acme_index, NULL); /* a second ClientHello (HRR) decides anew */
    if (len == 0)
        alen = local_addr(ssl, addr);
    pthread_rwlock_rdlock(&b->lock);
    if (b->m == NULL) {
        pthread_rwlock_unlock(&b->lock);
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (acme && autocert_manager_alpn_pending(b->m, (const char *)name, len))
        c = autocert_manager_lookup_alpn(b->m, (const char *)name, len);
    if (c != NULL) {
        pthread_rwlock_unlock(&b->lock);
        return use_challenge(ssl, c, al);
    }
    c = autocert_manager_lookup_addr(b->m, (const char *)name, len, alen > 0 ? addr : NULL, alen);
    if (c == NULL) {
        pthread_rwlock_unlock(&b->lock);
        autocert_log(AUTOCERT_LOG_DEBUG, NULL, "handshake refused: main holds no certificate");
        *al = SSL_AD_HANDSHAKE_FAILURE;
        return SSL_CLIENT_HELLO_ERROR;
    }
    e = cache_find(b, c);
    if (e != NULL) {
        atomic_store(&e->used, atomic_fetch_add(&b->tick, 1) + 1);
        ok = SSL_use_cert_and_key(ssl, e->leaf, e->key, e->chain, 1) == 1;
        used = 1;
        pthread_rwlock_unlock(&b->lock);
        goto out;
    }
    pthread_rwlock_unlock(&b->lock);

    /* A miss: convert without the lock, insert with the write lock (unless
     * another handshake did meanwhile, or the ctx was uninstalled). */
    made = entry_make(c);
    if (made == NULL) {
        autocert_log(AUTOCERT_LOG_ERROR, autocert_cert_set_name(c),
                     "handshake: cannot convert the certificate for OpenSSL");
        goto out;
    }
    pthread_rwlock_wrlock(&b->lock);
    e = b->m == NULL ? NULL : cache_find(b, c);
    atomic_store(&made->used, atomic_fetch_add(&b->tick, 1) + 1);
    if (e == NULL && b->m != NULL && cache_insert(b, made) == 0) {
        e = made;
        made = NULL;
    }
    if (e != NULL) {
        ok = SSL_use_cert_and_key(ssl, e->leaf, e->key, e->chain, 1) == 1;
        used = 1;
    } else if (b->m != NULL) {
        /* no memory for the table: serve this handshake uncached */
        ok = SSL_use_cert_and_key(ssl, made->leaf, made->key, made->chain, 1) == 1;
        used = 1;
    } /* else uninstalled meanwhile: the handshake fails */
    pthread_rwlock_unlock(&b->lock);
out:
    if (!ok && used)
        autocert_log(AUTOCERT_LOG_ERROR, autocert_cert_set_name(c),
                     "handshake: OpenSSL refused the certificate and key");
    entry_free(made);
    autocert_cert_release(c);
    ERR_clear_error();
    if (!ok) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* The ALPN select callback. A tls-alpn-01 handshake (the ClientHello callback
 * served the challenge certificate) selects acme-tls/1 and nothing else;
 * every other handshake goes to the host's callback with acme-tls/1 taken out
 * of the client's list (so the host can never select it), or negotiates
 * nothing when acme-tls/1 was all the client offered. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    struct binding *b = arg;
    autocert_openssl_alpn_fn fn;
    void *fn_arg;
    unsigned char *list = NULL;
    unsigned int n = 0;
    int rc;

    if (SSL_get_ex_data(ssl, acme_index) == ACME_MARK) {
        if (!offers_acme(in, inlen))
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = (const unsigned char *)ACME_TLS_1;
        *outlen = (unsigned char)(sizeof(ACME_TLS_1) - 1);
        return SSL_TLSEXT_ERR_OK;
    }
    pthread_rwlock_rdlock(&b->lock);
    fn = b->alpn;
    fn_arg = b->alpn_arg;
    pthread_rwlock_unlock(&b->lock);
    if (fn == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    if (!offers_acme(in, inlen))
        return fn(ssl, out, outlen, in, inlen, fn_arg);

    /* the client's list without acme-tls/1 */
    list = malloc(inlen);
    if (list == NULL)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    for (unsigned int off = 0; off < inlen;) {
        unsigned int l = in[off];
        if (off + 1 + l > inlen)
            break;
        if (l != sizeof(ACME_TLS_1) - 1 || memcmp(in + off + 1, ACME_TLS_1, l) != 0) {
            memcpy(list + n, in + off, 1 + l);
            n += 1 + l;
        }
        off += 1 + l;
    }
    if (n == 0) {
        free(list);
        return SSL_TLSEXT_ERR_NOACK;
    }
    rc = fn(ssl, out, outlen, list, n, fn_arg);
    if (rc == SSL_TLSEXT_ERR_OK && *out >= list && *out < list + n) {
        /* the host chose from our copy: point at the same name in the
         * client's list, which outlives this call (OpenSSL copies it) */
        const unsigned char *sel = *out;
        *out = NULL;
        for (unsigned int off = 0; off < inlen; off += 1u + in[off])
            if (off + 1 + in[off] <= inlen && in[off] == *outlen &&
                memcmp(in + off + 1, sel, *outlen) == 0) {
                *out = in + off + 1;
                break;
            }
        if (*out == NULL)
            rc = SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    free(list);
    return rc;
}

/* ---- the API ------------------------------------------------------------------ */

static void set_error(autocert_error *err, const char *kind, const char *msg)
{
    if (err == NULL)
        return;
    snprintf(err->kind, sizeof(err->kind), "%s", kind);
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

int autocert_openssl_install(autocert_manager *m, SSL_CTX *ctx, autocert_openssl_alpn_fn alpn,
                             void *alpn_arg, autocert_error *err)
{
    struct binding *b;

    if (err != NULL)
        err->kind[0] = err->message[0] = '\0';
    if (m == NULL || ctx == NULL) {
        set_error(err, AUTOCERT_E_CONFIG, "autocert_openssl_install: no manager or no SSL_CTX");
        return -1;
    }
    b = binding_of(ctx);
    if (binding_index < 0 || acme_index < 0 || local_index < 0) {
        set_error(err, AUTOCERT_E_NOMEM,
                  "autocert_openssl_install: no OpenSSL ex_data index for the SSL_CTX");
        return -1;
    }
    if (b == NULL) {
        /* the first install on ctx: the callbacks are set once, with the
         * binding as their argument (a rebind changes only the binding, so
         * handshakes running meanwhile never see ctx written) */
        b = calloc(1, sizeof(*b));
        if (b == NULL || pthread_rwlock_init(&b->lock, NULL) != 0) {
            free(b);
            set_error(err, AUTOCERT_E_NOMEM, "autocert_openssl_install: out of memory");
            return -1;
        }
        if (SSL_CTX_set_ex_data(ctx, binding_index, b) != 1) {
            binding_free(b);
            set_error(err, AUTOCERT_E_NOMEM,
                      "autocert_openssl_install: SSL_CTX_set_ex_data failed");
            return -1;
        }
        SSL_CTX_set_client_hello_cb(ctx, on_client_hello, b);
        SSL_CTX_set_alpn_select_cb(ctx, on_alpn, b);
    }
    pthread_rwlock_wrlock(&b->lock);
    if (b->m != m)
        cache_clear(b);
    b->m = m;
    b->alpn = alpn;
    b->alpn_arg = alpn_arg;
    pthread_rwlock_unlock(&b->lock);
    return 0;
}

void autocert_openssl_uninstall(SSL_CTX *ctx)
{
    struct binding *b = ctx == NULL ? NULL : binding_of(ctx);

    if (b == NULL)
        return;
    pthread_rwlock_wrlock(&b->lock);
    b->m = NULL;
    cache_clear(b);
    pthread_rwlock_unlock(&b->lock);
}

bool autocert_openssl_is_acme(const SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;

    if (ssl == NULL)
        return false;
    SSL_get0_alpn_selected(ssl, &p, &len);
    return p != NULL && len == sizeof(ACME_TLS_1) - 1 && memcmp(p, ACME_TLS_1, len) == 0;
}

int autocert_openssl_set_local_addr(SSL *ssl, const struct sockaddr *sa, socklen_t len)
{
    struct local_addr *la;

    pthread_once(&index_once, index_init);
    if (ssl == NULL || local_index < 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "autocert_openssl_set_local_addr: no SSL");
        return -1;
    }
    if (sa != NULL && !(sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) &&
        !(sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL,
                     "autocert_openssl_set_local_addr: not an IPv4 or IPv6 address");
        return -1;
    }
    la = SSL_get_ex_data(ssl, local_index);
    if (la == NULL) {
        la = calloc(1, sizeof(*la));
        if (la == NULL || SSL_set_ex_data(ssl, local_index, la) != 1) {
            free(la);
            autocert_log(AUTOCERT_LOG_ERROR, NULL,
                         "autocert_openssl_set_local_addr: out of memory");
            return -1;
        }
    }
    la->known = sa != NULL;
    la->len = 0;
    if (sa != NULL && sa->sa_family == AF_INET) {
        memcpy(la->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        la->len = 4;
    } else if (sa != NULL) {
        memcpy(la->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        la->len = 16;
    }
    return 0;
}
