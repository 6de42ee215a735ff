/* sni.c - the SNI index (see sni.h for the structure drawing): normalisation,
 * the right-to-left path hash, the builder and the two flat hash tables. */
#include "sni.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SNI_MAX_ENTRIES (16u * 1024u * 1024u)
#define SNI_PAD 8 /* zero bytes after a name in hashing buffers */
#define SNI_SEED 0x243F6A8885A308D3ULL
#define SNI_K1 0x9E3779B97F4A7C15ULL
#define SNI_K2 0xBF58476D1CE4E5B9ULL

struct sni_slot {
    uint32_t off; /* arena offset of the entry; 0 = empty */
    uint32_t tag; /* high 32 bits of the key hash */
};

struct sni_entry {
    uint64_t hash;
    uint32_t off;
};

struct sni_vec {
    struct sni_entry *v;
    size_t n, cap;
};

struct sni_builder {
    unsigned char *arena; /* entries: len(u8) name set(i32, native order) */
    size_t alen, acap;
    struct sni_vec exact, wild;
};

struct sni_index {
    struct sni_slot *exact, *wild;
    uint64_t emask, wmask;
    unsigned char *arena;
    size_t count;
};

/* ---- normalisation ---------------------------------------------------- */

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline void store64(unsigned char *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(p, &w, sizeof w);
}

static inline size_t lowest_byte(uint64_t m) /* m != 0 */
{
#if defined(__GNUC__)
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    size_t i = 0;
    while (!(m & 0xFF)) {
        m >>= 8;
        i++;
    }
    return i;
#endif
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS7 0x7F7F7F7F7F7F7F7FULL

/* Normalises into out (room for SNI_MAX_NAME + 1 + SNI_PAD); writes SNI_PAD zero
 * bytes after the name. Returns the length and the index of the first dot in
 * *first_dot (== length when there is none), or -1 for "no SNI". Lowercasing and
 * the empty-label check run eight bytes at a time over the zero-padded copy. */
static int norm(const char *in, size_t len, unsigned char *out, size_t *first_dot)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t s = 0, e = len, n, fd;
    uint64_t carry = 0; /* bit 7 set when the previous word ended with a dot */

    if (p == NULL)
        return -1;
    while (s < e && (p[s] == ' ' || p[s] == '\t'))
        s++;
    while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    if (e > s && p[e - 1] == '.')
        e--;
    n = e - s;
    if (n == 0 || n > SNI_MAX_NAME || p[s] == '.' || p[e - 1] == '.')
        return -1; /* empty, too long, leading dot, or "a.." */
    memcpy(out, p + s, n);
    memset(out + n, 0, SNI_PAD);
    fd = n;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = load64(out + i), h7 = w & LOWS7;
        /* bytes 'A'..'Z' (ASCII only) get 0x20 */
        uint64_t ge_a = h7 + (0x80 - 'A') * ONES, gt_z = h7 + (0x7F - 'Z') * ONES;
        uint64_t upper = (ge_a ^ gt_z) & ~w & HIGHS;
        uint64_t x = w ^ ('.' * ONES);
        uint64_t dots = ~(((x & LOWS7) + LOWS7) | x) & HIGHS; /* exact: no false hits */
        store64(out + i, w | (upper >> 2));
        if (dots != 0) {
            if (((dots << 8) | carry) & dots)
                return -1; /* ".." */
            if (fd == n)
                fd = i + lowest_byte(dots);
        }
        carry = dots >> 63 << 7;
    }
    *first_dot = fd;
    return (int)n;
}

int sni_normalize(const char *in, size_t len, char out[SNI_MAX_NAME + 1])
{
    unsigned char tmp[SNI_MAX_NAME + 1 + SNI_PAD];
    size_t fd;
    int n = norm(in, len, tmp, &fd);

    if (n < 0) {
        if (out != NULL)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, tmp, (size_t)n + 1);
    return n;
}

/* ---- hashing ------------------------------------------------------------ */

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * SNI_K1;
    return h ^ (h >> 32);
}

static inline uint64_t finish_hash(uint64_t h)
{
    h ^= h >> 29;
    h *= SNI_K2;
    return h ^ (h >> 32);
}

/* Hash of a suffix string p[0..n); p[n .. n + SNI_PAD) must be readable zeros. */
static inline uint64_t hash_suffix(const unsigned char *p, size_t n)
{
    uint64_t h = SNI_SEED ^ n;
    for (size_t i = 0; i < n; i += 8)
        h = mix(h, load64(p + i));
    return h;
}

/* Path step: the child of the node hashed `parent` by label p[0..n); 8 bytes
 * from every word start inside the label must be readable. */
static inline uint64_t hash_label(uint64_t parent, const unsigned char *p, size_t n)
{
    uint64_t h = mix(parent, (uint64_t)n * SNI_K2);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        h = mix(h, load64(p + i));
    if (i < n)
        h = mix(h, load64(p + i) & (~0ULL >> (64 - 8 * (n - i))));
    return h;
}

/* ---- builder ------------------------------------------------------------ */

struct sni_builder *sni_builder_new(void)
{
    struct sni_builder *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->acap = 4096;
    b->arena = malloc(b->acap);
    if (b->arena == NULL) {
        free(b);
        return NULL;
    }
    b->arena[0] = 0; /* offset 0 marks an empty slot */
    b->alen = 1;
    return b;
}

void sni_builder_free(struct sni_builder *b)
{
    if (b == NULL)
        return;
    free(b->arena);
    free(b->exact.v);
    free(b->wild.v);
    free(b);
}

static int vec_push(struct sni_vec *v, uint64_t hash, uint32_t off)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        struct sni_entry *nv = realloc(v->v, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n].hash = hash;
    v->v[v->n].off = off;
    v->n++;
    return 0;
}

/* Appends len(u8) name set(i32) to the arena; returns the offset or 0. */
static uint32_t arena_put(struct sni_builder *b, const unsigned char *s, size_t n, int set_id)
{
    size_t need = 1 + n + sizeof(int32_t);
    int32_t sid = (int32_t)set_id;
    size_t off;

    if (b->alen + need > b->acap) {
        size_t nc = b->acap * 2;
        unsigned char *na;
        while (nc < b->alen + need)
            nc *= 2;
        if (nc > UINT32_MAX)
            return 0;
        na = realloc(b->arena, nc);
        if (na == NULL)
            return 0;
        b->arena = na;
        b->acap = nc;
    }
    off = b->alen;
    b->arena[off] = (unsigned char)n;
    memcpy(b->arena + off + 1, s, n);
    memcpy(b->arena + off + 1 + n, &sid, sizeof sid);
    b->alen += need;
    return (uint32_t)off;
}

int sni_builder_add(struct sni_builder *b, const char *name, size_t len, int set_id)
{
    unsigned char buf[SNI_MAX_NAME + 1 + SNI_PAD];
    size_t fd;
    uint32_t off;
    int n;

    if (b == NULL || set_id < 0 || b->exact.n + b->wild.n >= SNI_MAX_ENTRIES)
        return -1;
    n = norm(name, len, buf, &fd);
    if (n < 0)
        return -1;
    if (n >= 2 && buf[0] == '*' && buf[1] == '.') {
        /* wildcard: index the suffix after "*." (non-empty, valid labels) */
        off = arena_put(b, buf + 2, (size_t)n - 2, set_id);
        if (off == 0)
            return -1;
        return vec_push(&b->wild, finish_hash(hash_suffix(buf + 2, (size_t)n - 2)), off);
    }
    {
        size_t sl = (size_t)n > fd ? (size_t)n - fd - 1 : 0;
        const unsigned char *suf = (size_t)n > fd ? buf + fd + 1 : buf + n;
        uint64_t h = finish_hash(hash_label(hash_suffix(suf, sl), buf, fd));
        off = arena_put(b, buf, (size_t)n, set_id);
        if (off == 0)
            return -1;
        return vec_push(&b->exact, h, off);
    }
}

/* ---- tables ------------------------------------------------------------- */

static inline int entry_is(const unsigned char *arena, uint32_t off, const unsigned char *s,
                           size_t n)
{
    return arena[off] == n && memcmp(arena + off + 1, s, n) == 0;
}

static inline int entry_set(const unsigned char *arena, uint32_t off)
{
    int32_t sid;
    memcpy(&sid, arena + off + 1 + arena[off], sizeof sid);
    return (int)sid;
}

/* Builds a table from v (in add order: the first of equal names wins). Returns
 * the table and its mask, counts distinct entries into *count; NULL on ENOMEM. */
static struct sni_slot *table_build(const struct sni_vec *v, const unsigned char *arena,
                                    uint64_t *mask, size_t *count)
{
    size_t cap = 2;
    struct sni_slot *t;

    while (cap * 3 < v->n * 4 + 4)
        cap *= 2;
    t = calloc(cap, sizeof *t);
    if (t == NULL)
        return NULL;
    *mask = cap - 1;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t h = v->v[i].hash, j = h & *mask;
        uint32_t tag = (uint32_t)(h >> 32), off = v->v[i].off;
        int dup = 0;
        for (; t[j].off != 0; j = (j + 1) & *mask) {
            if (t[j].tag == tag &&
                entry_is(arena, t[j].off, arena + off + 1, arena[off])) {
                dup = 1;
                break;
            }
        }
        if (!dup) {
            t[j].off = off;
            t[j].tag = tag;
            (*count)++;
        }
    }
    return t;
}

struct sni_index *sni_builder_finish(struct sni_builder *b)
{
    struct sni_index *ix = NULL;
    unsigned char *shrunk;

    if (b == NULL)
        return NULL;
    ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        goto fail;
    ix->exact = table_build(&b->exact, b->arena, &ix->emask, &ix->count);
    if (ix->exact == NULL)
        goto fail;
    ix->wild = table_build(&b->wild, b->arena, &ix->wmask, &ix->count);
    if (ix->wild == NULL)
        goto fail;
    shrunk = realloc(b->arena, b->alen);
    ix->arena = shrunk != NULL ? shrunk : b->arena;
    b->arena = NULL;
    sni_builder_free(b);
    return ix;
fail:
    sni_index_free(ix);
    sni_builder_free(b);
    return NULL;
}

void sni_index_free(struct sni_index *ix)
{
    if (ix == NULL)
        return;
    free(ix->exact);
    free(ix->wild);
    free(ix->arena);
    free(ix);
}

size_t sni_index_count(const struct sni_index *ix)
{
    return ix != NULL ? ix->count : 0;
}

/* ---- lookup ------------------------------------------------------------- */

static inline int probe(const struct sni_slot *t, uint64_t mask, const unsigned char *arena,
                        uint64_t h, const unsigned char *s, size_t n)
{
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t j = h & mask; t[j].off != 0; j = (j + 1) & mask) {
        if (t[j].tag == tag && entry_is(arena, t[j].off, s, n))
            return entry_set(arena, t[j].off);
    }
    return -1;
}

int sni_index_lookup(const struct sni_index *ix, const char *name, size_t len)
{
    unsigned char buf[SNI_MAX_NAME + 1 + SNI_PAD];
    size_t fd, n, sl;
    const unsigned char *suf;
    uint64_t hp, he, hw;
    int r, nn;

    if (ix == NULL)
        return -1;
    nn = norm(name, len, buf, &fd);
    if (nn < 0)
        return -1;
    n = (size_t)nn;
    sl = n > fd ? n - fd - 1 : 0;
    suf = n > fd ? buf + fd + 1 : buf + n;
    hp = hash_suffix(suf, sl);
    he = finish_hash(hash_label(hp, buf, fd));
    hw = finish_hash(hp);
#if defined(__GNUC__)
    __builtin_prefetch(&ix->exact[he & ix->emask]);
    if (sl > 0)
        __builtin_prefetch(&ix->wild[hw & ix->wmask]);
#endif
    r = probe(ix->exact, ix->emask, ix->arena, he, buf, n);
    if (r >= 0 || sl == 0)
        return r;
    return probe(ix->wild, ix->wmask, ix->arena, hw, suf, sl);
}

bool sni_pattern_covers(const char *pattern, const char *name)
{
    const char *dot;

    if (strcasecmp(pattern, name) == 0)
        return true;
    if (strncmp(pattern, "*.", 2) != 0)
        return false;
    dot = strchr(name, '.');
    return dot != NULL && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
}
