/*
 * secrets.c - registry of configured secret values and the scrubber (see
 * secrets.h).
 *
 * The registry keeps the groups as registered (owner + copied values) and an
 * index rebuilt on every change: the distinct values, each as one "decoded"
 * pattern (matched through URL/JSON/text escapes) plus its base64 and
 * base64url forms as "literal" patterns. Patterns are hashed by their first
 * SECRETS_MIN_LEN bytes; a text position is looked up by the first bytes it
 * decodes to (and, for literal patterns, its raw bytes), so the cost per
 * position does not grow with the number of values. Decoded patterns whose
 * first bytes hold an ambiguous character ('%', '\\', '+', ' ') sit on a
 * short list tried at every position instead.
 *
 * Readers (scrubbing) hold the read lock for the whole scan; a change builds
 * the new index without the lock and swaps it in under the write lock.
 */
#include "secrets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "timeutil.h"

#define KEY_LEN SECRETS_MIN_LEN
#define INPLACE_STACK 4096

struct pat {
    unsigned char *s; /* owned by the index's pool */
    size_t len;
    bool literal;     /* base64 form: compared byte for byte */
    uint32_t key;     /* first KEY_LEN bytes */
    struct pat *next; /* bucket chain */
};

struct sindex {
    struct pat *pats;
    size_t npats;
    struct pat **buckets;
    size_t nbuckets;   /* power of two, or 0 */
    struct pat **slow; /* decoded patterns tried everywhere */
    size_t nslow;
    size_t nvalues;
};

struct group {
    const void *owner;
    char **values;
    size_t n;
    struct group *next;
};

static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t reg_write = PTHREAD_MUTEX_INITIALIZER; /* serialises changes */
static struct group *groups;                                  /* under reg_write */
static struct sindex *cur;                                    /* under reg_lock */
static atomic_size_t reg_npats;                               /* 0: nothing to scrub */

/* --- building the index --- */

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static void index_free(struct sindex *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->npats; i++) {
        explicit_bzero(ix->pats[i].s, ix->pats[i].len);
        free(ix->pats[i].s);
    }
    free(ix->pats);
    free(ix->buckets);
    free(ix->slow);
    free(ix);
}

static uint32_t key_of(const unsigned char *s)
{
    return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

static size_t bucket_of(uint32_t key, size_t nbuckets)
{
    return (size_t)((key * 2654435761u) >> 7) & (nbuckets - 1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds a pattern unless it is shorter than the key or already among
 * pats[from..npats) (the forms of the same value). */
static int add_pat(struct sindex *ix, size_t cap, size_t from, const void *s, size_t len,
                   bool literal)
{
    struct pat *p;

    if (len < KEY_LEN || ix->npats >= cap)
        return 0;
    for (size_t i = from; i < ix->npats; i++)
        if (ix->pats[i].literal == literal && ix->pats[i].len == len &&
            memcmp(ix->pats[i].s, s, len) == 0)
            return 0;
    p = &ix->pats[ix->npats];
    p->s = malloc(len);
    if (p->s == NULL)
        return -1;
    memcpy(p->s, s, len);
    p->len = len;
    p->literal = literal;
    p->key = key_of(p->s);
    ix->npats++;
    return 0;
}

/* The base64 characters of v that depend on v alone when v sits at byte
 * offset k (0, 1, 2) of a longer encoded blob; plus, at k = 0, the whole
 * unpadded encoding (v at the end of the blob). Both alphabets. */
static int add_b64(struct sindex *ix, size_t cap, size_t from, const char *v, size_t n)
{
    unsigned char *buf = NULL;
    char *enc = NULL;
    size_t elen, first, last;
    int rc = -1;

    buf = calloc(1, n + 2);
    enc = malloc(b64_encoded_len(n + 2) + 1);
    if (buf == NULL || enc == NULL)
        goto out;
    for (size_t k = 0; k < 3; k++) {
        memset(buf, 0, k);
        memcpy(buf + k, v, n);
        for (int url = 0; url < 2; url++) {
            elen = url ? b64url_encode(buf, n + k, enc) : b64_encode(buf, n + k, enc);
            while (elen > 0 && enc[elen - 1] == '=')
                elen--;
            /* char j covers bits [6j, 6j + 6) of buf */
            first = (8 * k + 5) / 6;
            last = (8 * (k + n)) / 6; /* exclusive */
            if (last > first && add_pat(ix, cap, from, enc + first, last - first, true) != 0)
                goto out;
            if (k == 0 && add_pat(ix, cap, from, enc, elen, true) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    if (buf != NULL)
        explicit_bzero(buf, n + 2);
    if (enc != NULL)
        explicit_bzero(enc, b64_encoded_len(n + 2) + 1);
    free(buf);
    free(enc);
    return rc;
}

static bool ambiguous(const unsigned char *s)
{
    for (size_t i = 0; i < KEY_LEN; i++)
        if (s[i] == '%' || s[i] == '\\' || s[i] == '+' || s[i] == ' ')
            return true;
    return false;
}

/* Builds the index of the distinct values of every group. NULL on ENOMEM;
 * an empty registry gives an index with no pattern. */
static struct sindex *index_build(void)
{
    struct sindex *ix = calloc(1, sizeof *ix);
    char **vals = NULL;
    size_t nv = 0, cap;

    if (ix == NULL)
        return NULL;
    for (const struct group *g = groups; g != NULL; g = g->next)
        nv += g->n;
    if (nv == 0)
        return ix;
    vals = malloc(nv * sizeof *vals);
    if (vals == NULL)
        goto fail;
    nv = 0;
    for (const struct group *g = groups; g != NULL; g = g->next)
        for (size_t i = 0; i < g->n; i++)
            vals[nv++] = g->values[i];
    qsort(vals, nv, sizeof *vals, cmp_str);
    cap = nv * 15;
    ix->pats = calloc(cap, sizeof *ix->pats);
    if (ix->pats == NULL)
        goto fail;
    for (size_t i = 0; i < nv; i++) {
        size_t n = strlen(vals[i]), from = ix->npats;

        if (i > 0 && strcmp(vals[i], vals[i - 1]) == 0)
            continue;
        ix->nvalues++;
        if (add_pat(ix, cap, from, vals[i], n, false) != 0 ||
            add_b64(ix, cap, from, vals[i], n) != 0)
            goto fail;
    }
    for (ix->nbuckets = 16; ix->nbuckets < 2 * ix->npats; ix->nbuckets *= 2)
        ;
    ix->buckets = calloc(ix->nbuckets, sizeof *ix->buckets);
    ix->slow = calloc(ix->npats, sizeof *ix->slow);
    if (ix->buckets == NULL || ix->slow == NULL)
        goto fail;
    for (size_t i = 0; i < ix->npats; i++) {
        struct pat *p = &ix->pats[i];

        if (!p->literal && ambiguous(p->s)) {
            ix->slow[ix->nslow++] = p;
        } else {
            size_t b = bucket_of(p->key, ix->nbuckets);

            p->next = ix->buckets[b];
            ix->buckets[b] = p;
        }
    }
    free(vals);
    return ix;
fail:
    free(vals);
    index_free(ix);
    return NULL;
}

/* Rebuilds and swaps the index (reg_write held). -1 on ENOMEM. */
static int reindex(void)
{
    struct sindex *ix = index_build(), *old;

    if (ix == NULL)
        return -1;
    pthread_rwlock_wrlock(&reg_lock);
    old = cur;
    cur = ix;
    atomic_store(&reg_npats, ix->npats);
    pthread_rwlock_unlock(&reg_lock);
    index_free(old);
    return 0;
}

static void group_free(struct group *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++)
        wipe_free(g->values[i]);
    free(g->values);
    free(g);
}

/* Unlinks owner's group (reg_write held); returns it or NULL. */
static struct group *group_unlink(const void *owner)
{
    for (struct group **pp = &groups; *pp != NULL; pp = &(*pp)->next) {
        struct group *g = *pp;

        if (g->owner == owner) {
            *pp = g->next;
            g->next = NULL;
            return g;
        }
    }
    return NULL;
}

int secrets_register(const void *owner, const char *const *values, size_t n)
{
    struct group *g = calloc(1, sizeof *g), *old = NULL;
    int rc = -1;

    if (g == NULL)
        return -1;
    g->owner = owner;
    g->values = calloc(n > 0 ? n : 1, sizeof *g->values);
    if (g->values == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len;

        if (values[i] == NULL || (len = strlen(values[i])) < SECRETS_MIN_LEN)
            continue;
        if (len > SECRETS_MAX_LEN)
            len = SECRETS_MAX_LEN;
        g->values[g->n] = strndup(values[i], len);
        if (g->values[g->n] == NULL)
            goto out;
        g->n++;
    }
    pthread_mutex_lock(&reg_write);
    old = group_unlink(owner);
    g->next = groups;
    groups = g;
    if (reindex() != 0) {
        groups = g->next;
        if (old != NULL) {
            old->next = groups;
            groups = old;
            old = NULL;
        }
        pthread_mutex_unlock(&reg_write);
        goto out;
    }
    pthread_mutex_unlock(&reg_write);
    g = NULL;
    rc = 0;
out:
    group_free(g);
    group_free(old);
    return rc;
}

void secrets_unregister(const void *owner)
{
    struct group *g;

    pthread_mutex_lock(&reg_write);
    g = group_unlink(owner);
    if (g != NULL && reindex() != 0) {
        /* Out of memory: keep scrubbing with the old index (a superset). */
    }
    pthread_mutex_unlock(&reg_write);
    group_free(g);
}

size_t secrets_count(void)
{
    size_t n;

    pthread_rwlock_rdlock(&reg_lock);
    n = cur != NULL ? cur->nvalues : 0;
    pthread_rwlock_unlock(&reg_lock);
    return n;
}

/* --- matching --- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex_at(const unsigned char *t, size_t len, size_t i, size_t digits, unsigned *out)
{
    unsigned v = 0;

    if (len - i < digits)
        return false;
    for (size_t d = 0; d < digits; d++) {
        int h = hexval(t[i + d]);

        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

/* The escape at t[i] decoded into out (1-4 bytes, *n) and its length in
 * text (*adv); false when t[i] starts no escape. */
static bool decode_unit(const unsigned char *t, size_t len, size_t i, unsigned char *out, size_t *n,
                        size_t *adv)
{
    unsigned v;

    *n = 1;
    if (t[i] == '+') {
        out[0] = ' ';
        *adv = 1;
        return true;
    }
    if (t[i] == '%' && hex_at(t, len, i + 1, 2, &v)) {
        out[0] = (unsigned char)v;
        *adv = 3;
        return true;
    }
    if (t[i] != '\\' || i + 1 >= len)
        return false;
    *adv = 2;
    switch (t[i + 1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = t[i + 1];
        return true;
    case 'b':
        out[0] = '\b';
        return true;
    case 'f':
        out[0] = '\f';
        return true;
    case 'n':
        out[0] = '\n';
        return true;
    case 'r':
        out[0] = '\r';
        return true;
    case 't':
        out[0] = '\t';
        return true;
    case 'x':
        if (!hex_at(t, len, i + 2, 2, &v))
            return false;
        out[0] = (unsigned char)v;
        *adv = 4;
        return true;
    case 'u':
        if (!hex_at(t, len, i + 2, 4, &v) || (v >= 0xd800 && v <= 0xdfff))
            return false;
        *adv = 6;
        if (v < 0x80) {
            out[0] = (unsigned char)v;
        } else if (v < 0x800) {
            out[0] = (unsigned char)(0xc0 | v >> 6);
            out[1] = (unsigned char)(0x80 | (v & 0x3f));
            *n = 2;
        } else {
            out[0] = (unsigned char)(0xe0 | v >> 12);
            out[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
            out[2] = (unsigned char)(0x80 | (v & 0x3f));
            *n = 3;
        }
        return true;
    default:
        return false;
    }
}

/* The key (first KEY_LEN decoded bytes) of the text at i; false when the
 * text ends first. */
static bool decoded_key(const unsigned char *t, size_t len, size_t i, uint32_t *key)
{
    unsigned char k[KEY_LEN + 3], u[4];
    size_t got = 0, n, adv;

    while (got < KEY_LEN && i < len) {
        if (decode_unit(t, len, i, u, &n, &adv)) {
            memcpy(k + got, u, n);
            got += n;
            i += adv;
        } else {
            k[got++] = t[i++];
        }
    }
    if (got < KEY_LEN)
        return false;
    *key = key_of(k);
    return true;
}

/* True when t[k..len) is the start of an escape cut by the end of the text. */
static bool cut_escape(const unsigned char *t, size_t len, size_t k)
{
    return len - k <= 5 && (t[k] == '%' || t[k] == '\\');
}

/* Length in text of an occurrence of decoded pattern p at t[i], or 0. */
static size_t match_decoded(const struct pat *p, const unsigned char *t, size_t len, size_t i)
{
    size_t j = 0, k = i, n, adv;
    unsigned char u[4];

    while (j < p->len) {
        if (k >= len)
            return j >= SECRETS_MIN_LEN ? k - i : 0;
        if (decode_unit(t, len, k, u, &n, &adv) && n <= p->len - j && memcmp(u, p->s + j, n) == 0) {
            j += n;
            k += adv;
        } else if (t[k] == p->s[j]) {
            j++;
            k++;
        } else {
            return j >= SECRETS_MIN_LEN && cut_escape(t, len, k) ? len - i : 0;
        }
    }
    return k - i;
}

static size_t match_literal(const struct pat *p, const unsigned char *t, size_t len, size_t i)
{
    size_t avail = len - i;

    if (avail >= p->len)
        return memcmp(t + i, p->s, p->len) == 0 ? p->len : 0;
    return avail >= SECRETS_MIN_LEN && memcmp(t + i, p->s, avail) == 0 ? avail : 0;
}

/* Text length of the longest occurrence of any pattern at t[i], or 0. */
static size_t longest_at(const struct sindex *ix, const unsigned char *t, size_t len, size_t i)
{
    size_t best = 0, m;
    uint32_t dk = 0, rk = 0;
    bool have_dk = decoded_key(t, len, i, &dk), have_rk = len - i >= KEY_LEN;

    if (have_rk)
        rk = key_of(t + i);
    if (have_dk) {
        for (const struct pat *p = ix->buckets[bucket_of(dk, ix->nbuckets)]; p; p = p->next)
            if (!p->literal && p->key == dk && (m = match_decoded(p, t, len, i)) > best)
                best = m;
    }
    if (have_rk) {
        for (const struct pat *p = ix->buckets[bucket_of(rk, ix->nbuckets)]; p; p = p->next)
            if (p->literal && p->key == rk && (m = match_literal(p, t, len, i)) > best)
                best = m;
    }
    for (size_t s = 0; s < ix->nslow; s++)
        if ((m = match_decoded(ix->slow[s], t, len, i)) > best)
            best = m;
    return best;
}

static size_t copy_plain(char *dst, size_t dstsize, const char *src, size_t len)
{
    size_t n = 0;

    if (dstsize == 0)
        return 0;
    n = len < dstsize - 1 ? len : dstsize - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

size_t secrets_scrub(char *dst, size_t dstsize, const char *src, size_t len)
{
    const unsigned char *t = (const unsigned char *)src;
    const size_t mlen = sizeof SECRETS_MASK - 1;
    size_t o = 0, i = 0, m;

    if (dstsize == 0)
        return 0;
    if (atomic_load(&reg_npats) == 0)
        return copy_plain(dst, dstsize, src, len);
    pthread_rwlock_rdlock(&reg_lock);
    if (cur == NULL || cur->npats == 0) {
        pthread_rwlock_unlock(&reg_lock);
        return copy_plain(dst, dstsize, src, len);
    }
    while (i < len && o + 1 < dstsize) {
        m = len - i >= SECRETS_MIN_LEN ? longest_at(cur, t, len, i) : 0;
        if (m == 0) {
            dst[o++] = (char)t[i++];
            continue;
        }
        for (size_t c = 0; c < mlen && o + 1 < dstsize; c++)
            dst[o++] = SECRETS_MASK[c];
        i += m;
    }
    pthread_rwlock_unlock(&reg_lock);
    dst[o] = '\0';
    return o;
}

bool secrets_scrub_inplace(char *buf, size_t size)
{
    char stack[INPLACE_STACK], *tmp = stack;
    size_t len, n;
    bool changed;

    if (buf == NULL || size == 0 || atomic_load(&reg_npats) == 0)
        return false;
    len = strnlen(buf, size - 1);
    if (size > sizeof stack && (tmp = malloc(size)) == NULL) {
        buf[0] = '\0'; /* cannot scrub: drop the text rather than leak it */
        return true;
    }
    n = secrets_scrub(tmp, size, buf, len);
    changed = n != len || memcmp(tmp, buf, len) != 0;
    if (changed)
        memcpy(buf, tmp, n + 1);
    explicit_bzero(tmp, n);
    if (tmp != stack)
        free(tmp);
    return changed;
}

/* --- which configuration values are secrets --- */

static bool is_number(const char *v)
{
    size_t i = 0, digits = 0;

    if (v[i] == '-' || v[i] == '+')
        i++;
    for (; v[i] != '\0'; i++) {
        if (v[i] >= '0' && v[i] <= '9')
            digits++;
        else if (v[i] != '.')
            return false;
    }
    return digits > 0;
}

bool secrets_worth(const char *key, const char *value)
{
    static const char *const plain_keys[] = {"ttl",
                                             "propagation_timeout",
                                             "polling_interval",
                                             "http_timeout",
                                             "sequence_interval",
                                             "dns_resolvers",
                                             "follow_cname",
                                             NULL};
    static const char *const booleans[] = {"true", "false", "yes", "no", "on", "off", NULL};
    int64_t secs;

    if (value == NULL || strlen(value) < SECRETS_MIN_LEN)
        return false;
    if (key == NULL)
        return true;
    for (size_t i = 0; plain_keys[i] != NULL; i++)
        if (strcmp(key, plain_keys[i]) == 0)
            return false;
    if (strlen(key) > 5 && strcmp(key + strlen(key) - 5, "_file") == 0)
        return false; /* a path: the secret is in the file */
    for (size_t i = 0; booleans[i] != NULL; i++)
        if (strcasecmp(value, booleans[i]) == 0)
            return false;
    return !is_number(value) && ac_duration_parse(value, &secs) != 0;
}
