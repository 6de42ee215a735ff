/*
 * challenge.c - pending http-01 and tls-alpn-01 challenges (challenge.h).
 *
 * Two small lists under one mutex: entries live only while an order waits for
 * the CA's validation, so there are a handful at a time. `pending` counts them
 * so that a lookup with nothing pending takes no lock.
 */
#include "challenge.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cert.h"
#include "crypto.h"
#include "timeutil.h"

#define IDENT_MAX 256

struct http_entry {
    char token[CHALLENGE_TOKEN_MAX + 1];
    char key_auth[CHALLENGE_KEYAUTH_MAX + 1];
    struct http_entry *next;
};

struct alpn_entry {
    char ident[IDENT_MAX]; /* normalised */
    autocert_cert *cert;   /* one reference */
    struct alpn_entry *next;
};

struct challenge_table {
    pthread_mutex_t mu;
    atomic_size_t http_pending, alpn_pending;
    struct http_entry *http;
    struct alpn_entry *alpn;
};

int challenge_table_new(struct challenge_table **out)
{
    struct challenge_table *t = calloc(1, sizeof *t);

    *out = NULL;
    if (t == NULL)
        return -1;
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->http_pending, 0);
    atomic_init(&t->alpn_pending, 0);
    *out = t;
    return 0;
}

void challenge_table_free(struct challenge_table *t)
{
    if (t == NULL)
        return;
    while (t->http != NULL) {
        struct http_entry *h = t->http;
        t->http = h->next;
        free(h);
    }
    while (t->alpn != NULL) {
        struct alpn_entry *a = t->alpn;
        t->alpn = a->next;
        autocert_cert_release(a->cert);
        free(a);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

bool challenge_token_valid(const char *token, size_t len)
{
    if (token == NULL || len < CHALLENGE_TOKEN_MIN || len > CHALLENGE_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
    }
    return true;
}

/* ---- http-01 ------------------------------------------------------------ */

static struct http_entry **http_find(struct challenge_table *t, const char *token, size_t len)
{
    struct http_entry **p;

    for (p = &t->http; *p != NULL; p = &(*p)->next)
        if (strlen((*p)->token) == len && memcmp((*p)->token, token, len) == 0)
            break;
    return p;
}

int challenge_http01_add(struct challenge_table *t, const char *token, const char *key_auth,
                         struct ac_error *e)
{
    size_t tlen = token != NULL ? strlen(token) : 0;
    size_t klen = key_auth != NULL ? strlen(key_auth) : 0;
    struct http_entry **p, *h;

    if (!challenge_token_valid(token, tlen) || klen <= tlen || klen > CHALLENGE_KEYAUTH_MAX ||
        memcmp(key_auth, token, tlen) != 0 || key_auth[tlen] != '.') {
        ac_error_set(e, AC_ERR_INTERNAL, "http-01: malformed token or key authorization");
        return -1;
    }
    pthread_mutex_lock(&t->mu);
    p = http_find(t, token, tlen);
    if ((h = *p) == NULL) {
        h = calloc(1, sizeof *h);
        if (h == NULL) {
            pthread_mutex_unlock(&t->mu);
            ac_error_set(e, AC_ERR_NOMEM, "http-01: out of memory");
            return -1;
        }
        memcpy(h->token, token, tlen + 1);
        *p = h;
        atomic_fetch_add(&t->http_pending, 1);
    }
    memcpy(h->key_auth, key_auth, klen + 1);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

void challenge_http01_remove(struct challenge_table *t, const char *token)
{
    struct http_entry **p, *h;

    if (token == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    p = http_find(t, token, strlen(token));
    if ((h = *p) != NULL) {
        *p = h->next;
        free(h);
        atomic_fetch_sub(&t->http_pending, 1);
    }
    pthread_mutex_unlock(&t->mu);
}

ssize_t challenge_http01_get(struct challenge_table *t, const char *token, size_t len, char *buf,
                             size_t n)
{
    struct http_entry *h;
    ssize_t rc = -1;

    if (atomic_load(&t->http_pending) == 0 || !challenge_token_valid(token, len))
        return -1;
    pthread_mutex_lock(&t->mu);
    h = *http_find(t, token, len);
    if (h != NULL) {
        size_t k = strlen(h->key_auth);
        if (k < n) {
            memcpy(buf, h->key_auth, k + 1);
            rc = (ssize_t)k;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* ---- identifiers -------------------------------------------------------- */

static int hexval(int c)
{
    c = tolower(c);
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool ends_with_ci(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);

    return len >= sl && strncasecmp(s + len - sl, suffix, sl) == 0;
}

int challenge_reverse_to_ip(const char *name, size_t len, char *out, size_t n)
{
    unsigned char addr[16];

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (ends_with_ci(name, len, ".in-addr.arpa")) {
        size_t end = len - strlen(".in-addr.arpa"), pos = 0;
        int octet = 3;
        while (octet >= 0) {
            unsigned v = 0, digits = 0;
            while (pos < end && name[pos] != '.') {
                if (!isdigit((unsigned char)name[pos]) || ++digits > 3)
                    return -1;
                v = v * 10 + (unsigned)(name[pos++] - '0');
            }
            if (digits == 0 || v > 255 || (digits > 1 && name[pos - digits] == '0'))
                return -1;
            addr[octet--] = (unsigned char)v;
            if (octet >= 0) {
                if (pos >= end || name[pos] != '.')
                    return -1;
                pos++;
            }
        }
        if (pos != end)
            return -1;
        return inet_ntop(AF_INET, addr, out, (socklen_t)n) != NULL ? 0 : -1;
    }
    if (ends_with_ci(name, len, ".ip6.arpa")) {
        size_t end = len - strlen(".ip6.arpa");
        if (end != 32 * 2 - 1)
            return -1;
        memset(addr, 0, sizeof addr);
        for (size_t i = 0; i < 32; i++) {
            int v = hexval((unsigned char)name[2 * i]);
            if (v < 0 || (i < 31 && name[2 * i + 1] != '.'))
                return -1;
            /* nibble i counts from the least significant end */
            size_t nib = 31 - i;
            addr[nib / 2] |= (unsigned char)(nib % 2 == 0 ? v << 4 : v);
        }
        return inet_ntop(AF_INET6, addr, out, (socklen_t)n) != NULL ? 0 : -1;
    }
    return -1;
}

/* The canonical form of an identifier or SNI: an IP address as inet_ntop
 * writes it (a reverse name mapped to its address when `reverse`), a DNS name
 * lowercased without one trailing dot. Returns 0 or -1. */
static int normalize(const char *s, size_t len, bool reverse, char *out, size_t n)
{
    char tmp[IDENT_MAX];
    unsigned char addr[16];

    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof tmp || len >= n)
        return -1;
    if (reverse && challenge_reverse_to_ip(s, len, out, n) == 0)
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, addr) == 1)
        return inet_ntop(AF_INET, addr, out, (socklen_t)n) != NULL ? 0 : -1;
    if (inet_pton(AF_INET6, tmp, addr) == 1)
        return inet_ntop(AF_INET6, addr, out, (socklen_t)n) != NULL ? 0 : -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tmp[i];
        if (c <= ' ' || c >= 0x7f)
            return -1;
        out[i] = (char)tolower(c);
    }
    out[len] = '\0';
    return 0;
}

/* ---- tls-alpn-01 -------------------------------------------------------- */

static struct alpn_entry **alpn_find(struct challenge_table *t, const char *ident)
{
    struct alpn_entry **p;

    for (p = &t->alpn; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->ident, ident) == 0)
            break;
    return p;
}

/* The RFC 8737 certificate for ident (normalised) and key_auth. */
static int alpn_cert_build(const char *ident, const char *key_auth, autocert_cert **out,
                           struct ac_error *e)
{
    struct crypto_key *k = NULL;
    struct crypto_chain *chain = NULL;
    unsigned char digest[32];
    const char *names[1] = {ident};
    char *pem = NULL;
    size_t pem_len = 0;
    int64_t now = ac_now();
    int rc = -1;

    crypto_sha256(key_auth, strlen(key_auth), digest);
    if (crypto_key_generate(CRYPTO_KEY_EC256, &k, e) != 0 ||
        crypto_selfsigned_create(k, names, 1, now - 3600, now + 7 * 86400, digest, &pem, &pem_len,
                                 e) != 0 ||
        crypto_chain_parse_pem(pem, pem_len, &chain, e) != 0)
        goto out;
    rc = cert_new("acme-tls/1", -1, chain, k, out, e);
    k = NULL; /* cert_new took it */
out:
    crypto_key_free(k);
    crypto_chain_free(chain);
    free(pem);
    return rc;
}

int challenge_alpn_add(struct challenge_table *t, const char *identifier, const char *key_auth,
                       struct ac_error *e)
{
    char ident[IDENT_MAX];
    autocert_cert *c = NULL;
    struct alpn_entry **p, *a;

    if (identifier == NULL ||
        normalize(identifier, strlen(identifier), false, ident, sizeof ident) != 0 ||
        key_auth == NULL || strlen(key_auth) > CHALLENGE_KEYAUTH_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, "tls-alpn-01: malformed identifier or key authorization");
        return -1;
    }
    if (alpn_cert_build(ident, key_auth, &c, e) != 0)
        return -1;
    pthread_mutex_lock(&t->mu);
    p = alpn_find(t, ident);
    if ((a = *p) == NULL) {
        a = calloc(1, sizeof *a);
        if (a == NULL) {
            pthread_mutex_unlock(&t->mu);
            autocert_cert_release(c);
            ac_error_set(e, AC_ERR_NOMEM, "tls-alpn-01: out of memory");
            return -1;
        }
        memcpy(a->ident, ident, strlen(ident) + 1);
        *p = a;
        atomic_fetch_add(&t->alpn_pending, 1);
    }
    autocert_cert_release(a->cert);
    a->cert = c;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

void challenge_alpn_remove(struct challenge_table *t, const char *identifier)
{
    char ident[IDENT_MAX];
    struct alpn_entry **p, *a;

    if (identifier == NULL ||
        normalize(identifier, strlen(identifier), false, ident, sizeof ident) != 0)
        return;
    pthread_mutex_lock(&t->mu);
    p = alpn_find(t, ident);
    if ((a = *p) != NULL) {
        *p = a->next;
        atomic_fetch_sub(&t->alpn_pending, 1);
    }
    pthread_mutex_unlock(&t->mu);
    if (a != NULL) {
        autocert_cert_release(a->cert);
        free(a);
    }
}

autocert_cert *challenge_alpn_cert(struct challenge_table *t, const char *sni, size_t len)
{
    char ident[IDENT_MAX];
    struct alpn_entry *a;
    autocert_cert *c = NULL;

    if (atomic_load(&t->alpn_pending) == 0 || sni == NULL ||
        normalize(sni, len, true, ident, sizeof ident) != 0)
        return NULL;
    pthread_mutex_lock(&t->mu);
    a = *alpn_find(t, ident);
    if (a != NULL)
        c = autocert_cert_acquire(a->cert);
    pthread_mutex_unlock(&t->mu);
    return c;
}

bool challenge_alpn_pending(struct challenge_table *t, const char *sni, size_t len)
{
    autocert_cert *c;

    if (atomic_load(&t->alpn_pending) == 0)
        return false;
    c = challenge_alpn_cert(t, sni, len);
    autocert_cert_release(c);
    return c != NULL;
}
