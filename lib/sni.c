/* sni.c - the SNI index (see sni.h for the structure drawing): normalisation,
 * the keys, the builder, the two flat hash tables and the lookup (copy-free for
 * names that are already normal). */
#include "sni.h"
#include "sni_norm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SNI_MAX_ENTRIES (16u * 1024u * 1024u)
#define SNI_K1 0x9E3779B97F4A7C15ULL

#define SNI_ENTRY_HEAD 6         /* len(u8) fp(u8) set(i32, native order) */
#define SNI_REF 4                /* an exact entry's suffix reference (u32) after its head */
#define SNI_NO_SUFFIX UINT32_MAX /* sref of a name without a dot */
#define SNI_SUFFIX_UNKNOWN (UINT32_MAX - 1) /* a query suffix the suffix table lacks */
#define SNI_NONE UINT32_MAX
#define SNI_LINE 64       /* bytes of a line: the home of a group of entries */
#define SNI_LINE_FILL 48  /* suffix table: mean entry bytes per line (a 75 % fill) */
#define SNI_EXACT_FILL 32 /* exact table: small entries, fewer per group to scan */
#define SNI_FAR 0xFFFFu   /* a dir value: the group starts too far from its line, see far */

struct sni_entry {
    uint64_t hash;
    uint32_t off;  /* in the builder arena; SNI_NONE: a dropped duplicate */
    uint32_t link; /* a suffix of an exact name: that entry's arena offset, else SNI_NONE */
    uint32_t pos;  /* table build: final offset when kept, the kept twin's index if dropped */
    uint8_t len;   /* bytes after the entry's head (and reference) */
};

struct sni_vec {
    struct sni_entry *v;
    size_t n, cap;
};

struct sni_builder {
    unsigned char *arena; /* entries as in a table's data, in add order */
    size_t alen, acap;
    struct sni_vec exact, wild; /* wild: every suffix table entry */
    size_t names;
};

struct sni_table {
    uint16_t *dir;       /* nl + 1: line k's group is data[start(k) .. start(k + 1)), */
    unsigned char *data; /* start(k) = 64k + dir[k]; SNI_PAD zeros at the end */
    uint32_t (*far)[2];  /* {k, start(k)} where dir[k] == SNI_FAR, by k (pathological) */
    uint32_t nl, nfar;
};

struct sni_index {
    struct sni_table exact, wild; /* wild is the suffix table (see sni.h) */
    size_t count;
};

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

#if defined(__GNUC__)
#define SNI_NOINLINE __attribute__((noinline))
#define SNI_INLINE inline __attribute__((always_inline))
#define SNI_NO_UNROLL _Pragma("GCC unroll 1")
#define SNI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SNI_NOINLINE
#define SNI_INLINE inline
#define SNI_NO_UNROLL
#define SNI_UNLIKELY(x) (x)
#endif

/* ---- hashing ------------------------------------------------------------ */

/* The key of a string s[0..L) (a whole name, or the suffix after its first dot)
 * is a function of its bytes alone, read with fixed loads and no loop for
 * L <= 32: its last 16 bytes (for L < 16 only its own bytes, masked), its first
 * 16 bytes when L > 16 (overlapping for L < 32), and its middle 16-byte blocks
 * when L > 32. Keys only pick buckets: every candidate's name is compared. */
static const uint64_t sni_tail_mask[17][2] = {
    {0, 0},
    {0, 0xFF00000000000000ULL},
    {0, 0xFFFF000000000000ULL},
    {0, 0xFFFFFF0000000000ULL},
    {0, 0xFFFFFFFF00000000ULL},
    {0, 0xFFFFFFFFFF000000ULL},
    {0, 0xFFFFFFFFFFFF0000ULL},
    {0, 0xFFFFFFFFFFFFFF00ULL},
    {0, ~0ULL},
    {0xFF00000000000000ULL, ~0ULL},
    {0xFFFF000000000000ULL, ~0ULL},
    {0xFFFFFF0000000000ULL, ~0ULL},
    {0xFFFFFFFF00000000ULL, ~0ULL},
    {0xFFFFFFFFFF000000ULL, ~0ULL},
    {0xFFFFFFFFFFFF0000ULL, ~0ULL},
    {0xFFFFFFFFFFFFFF00ULL, ~0ULL},
    {~0ULL, ~0ULL},
};

#define SNI_K0 0xA0761D6478BD642FULL
#define SNI_K3 0xE7037ED1A0B428DBULL
#define SNI_K4 0x8EBC6AF09C88C6E3ULL

/* 64x64 -> 128 multiply, folded. */
static inline uint64_t mum(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__)
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t ah = a >> 32, al = a & 0xFFFFFFFFu, bh = b >> 32, bl = b & 0xFFFFFFFFu;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
    uint64_t lo = (ll & 0xFFFFFFFFu) | (mid << 32);
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

/* Blocks between the first and the last 16 bytes (L > 32). */
static SNI_NOINLINE uint64_t key_middle(const unsigned char *s, size_t L, uint64_t h)
{
    for (size_t i = 16; i < L - 16; i += 16)
        h = mum(h ^ load64(s + i) ^ SNI_K0, load64(s + i + 8) ^ SNI_K3);
    return h;
}

/* The key of s[0..L), L >= 1; s[L - 16 .. L) must be readable (the bytes before
 * s are masked off). */
static inline uint64_t str_key(const unsigned char *s, size_t L)
{
    const unsigned char *e = s + L, *f = L > 16 ? s : e - 16;
    const uint64_t *m = sni_tail_mask[L < 16 ? L : 16];
    uint64_t fm = (uint64_t)0 - (uint64_t)(L > 16);
    uint64_t h = mum((load64(e - 16) & m[0]) ^ SNI_K0, (load64(e - 8) & m[1]) ^ SNI_K1 ^ L) ^
                 mum((load64(f) & fm) ^ SNI_K3, (load64(f + 8) & fm) ^ SNI_K4);

    if (L > 32)
        h = key_middle(s, L, h);
    return h;
}

static inline uint64_t bswap64(uint64_t w)
{
#if defined(__GNUC__)
    return __builtin_bswap64(w);
#else
    w = ((w & 0x00FF00FF00FF00FFULL) << 8) | ((w >> 8) & 0x00FF00FF00FF00FFULL);
    w = ((w & 0x0000FFFF0000FFFFULL) << 16) | ((w >> 16) & 0x0000FFFF0000FFFFULL);
    return (w << 32) | (w >> 32);
#endif
}

/* The key of an exact name with first label p[0..fd) and a suffix of key hw:
 * labels of up to 16 bytes (p[0..16) readable) cost one multiply. */
static inline uint64_t label_key(const unsigned char *p, size_t fd, uint64_t hw)
{
    if (fd <= 16) {
        /* the tail masks reversed: the low fd bytes of p[0..16) */
        const uint64_t *m = sni_tail_mask[fd];
        uint64_t a = load64(p) & bswap64(m[1]), b = load64(p + 8) & bswap64(m[0]);
        return mum(a ^ hw ^ SNI_K3, b ^ fd ^ SNI_K4);
    }
    return mum(str_key(p, fd) ^ hw ^ SNI_K3, fd ^ SNI_K4);
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
    b->alen = 0;
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

static SNI_INLINE int vec_push(struct sni_vec *v, uint64_t hash, uint32_t off, size_t len,
                               uint32_t link)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        struct sni_entry *nv = realloc(v->v, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = (struct sni_entry){hash, off, link, 0, (uint8_t)len};
    return 0;
}

/* Appends one entry (len fp set [sref] bytes, see sni.h; sref only when
 * ref != NULL) to the builder arena and pushes it on v (link: see struct
 * sni_entry). Returns 0 or -1 (ENOMEM, arena over 4 GiB). */
static SNI_INLINE int add_entry(struct sni_builder *b, struct sni_vec *v, const unsigned char *s,
                                size_t n, uint64_t hash, int set_id, const uint32_t *ref,
                                uint32_t link)
{
    size_t need = SNI_ENTRY_HEAD + (ref != NULL ? SNI_REF : 0) + n, at = b->alen;
    int32_t sid = (int32_t)set_id;

    if (b->alen + need > b->acap) {
        size_t nc = b->acap * 2;
        unsigned char *na;
        while (nc < b->alen + need)
            nc *= 2;
        if (nc > UINT32_MAX)
            return -1;
        na = realloc(b->arena, nc);
        if (na == NULL)
            return -1;
        b->arena = na;
        b->acap = nc;
    }
    b->arena[at] = (unsigned char)n;
    b->arena[at + 1] = (unsigned char)hash;
    memcpy(b->arena + at + 2, &sid, sizeof sid);
    at += SNI_ENTRY_HEAD;
    if (ref != NULL) {
        memcpy(b->arena + at, ref, SNI_REF);
        at += SNI_REF;
    }
    memcpy(b->arena + at, s, n);
    if (vec_push(v, hash, (uint32_t)b->alen, n, link) != 0)
        return -1;
    b->alen += need;
    return 0;
}

int sni_builder_add(struct sni_builder *b, const char *name, size_t len, int set_id)
{
    unsigned char raw[16 + SNI_MAX_NAME + 1 + SNI_PAD], *buf = raw + 16;
    uint32_t ref = SNI_NO_SUFFIX, link;
    uint64_t hw;
    size_t fd;
    int n;

    if (b == NULL || set_id < 0 || b->names >= SNI_MAX_ENTRIES)
        return -1;
    memset(raw, 0, 16); /* keys may read (and mask off) bytes before a short name */
    n = norm(name, len, buf, &fd);
    if (n < 0)
        return -1;
    b->names++;
    if (n >= 2 && buf[0] == '*' && buf[1] == '.') /* wildcard: mark the suffix after "*." */
        return add_entry(b, &b->wild, buf + 2, (size_t)n - 2, str_key(buf + 2, (size_t)n - 2),
                         set_id, NULL, SNI_NONE);
    /* an exact name: its first label and a reference to its suffix's entry
     * (resolved when the suffix table is built); the suffix unmarked */
    link = (uint32_t)b->alen;
    if (fd == (size_t)n)
        return add_entry(b, &b->exact, buf, fd, str_key(buf, (size_t)n), set_id, &ref, SNI_NONE);
    hw = str_key(buf + fd + 1, (size_t)n - fd - 1);
    if (add_entry(b, &b->exact, buf, fd, label_key(buf, fd, hw), set_id, &ref, SNI_NONE) != 0)
        return -1;
    return add_entry(b, &b->wild, buf + fd + 1, (size_t)n - fd - 1, hw, -1, NULL, link);
}

/* ---- tables ------------------------------------------------------------- */

static inline uint32_t bucket_of(uint64_t h, uint32_t nb)
{
    return (uint32_t)(((h >> 32) * nb) >> 32);
}

#define SNI_HUGE ((size_t)2 << 20)

/* malloc, but a block of 2 MiB or more starts on a 2 MiB boundary and is
 * advised for transparent huge pages: a lookup at 1M names then costs one cache
 * miss instead of a cache miss plus a page walk. */
static void *big_alloc(size_t size)
{
    void *p = NULL;

    if (size < SNI_HUGE)
        return malloc(size);
    if (posix_memalign(&p, SNI_HUGE, size) != 0)
        return NULL;
#if defined(MADV_HUGEPAGE)
    (void)madvise(p, size & ~(SNI_HUGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

/* The start of line k's group when dir[k] == SNI_FAR. */
static SNI_NOINLINE size_t far_start(const struct sni_table *t, uint32_t k)
{
    uint32_t lo = 0, hi = t->nfar;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->far[mid][0] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->nfar ? t->far[lo][1] : 0; /* always found */
}

static inline size_t start_of(const struct sni_table *t, uint32_t k)
{
    return t->dir[k] == SNI_FAR ? far_start(t, k) : (size_t)k * SNI_LINE + t->dir[k];
}

/* Lays out the entry groups of t's nl lines (sizes sz[0..nl), in bytes) by the
 * line rule: group k starts at 64k, or right after group k - 1 when that ends
 * later; offsets past 16 bits go to t->far (piles of long names only). Returns
 * the data size (the end of the last group), or SIZE_MAX (ENOMEM). */
static size_t table_layout(const uint32_t *sz, struct sni_table *t)
{
    size_t c = 0;

    for (int pass = 0; pass < 2; pass++) {
        c = 0;
        t->nfar = 0;
        for (uint32_t k = 0; k <= t->nl; k++) {
            size_t line = (size_t)k * SNI_LINE, s = c > line ? c : line;
            if (s - line >= SNI_FAR) {
                if (t->far != NULL) {
                    t->far[t->nfar][0] = k;
                    t->far[t->nfar][1] = (uint32_t)(s <= UINT32_MAX ? s : 0); /* checked */
                }
                t->nfar++;
            }
            t->dir[k] = (uint16_t)(s - line < SNI_FAR ? s - line : SNI_FAR);
            c = s + (k < t->nl ? sz[k] : 0);
        }
        if (t->nfar == 0)
            break;
        if (pass == 0 && (t->far = malloc((size_t)t->nfar * sizeof *t->far)) == NULL)
            return SIZE_MAX;
    }
    return c;
}

/* Sorts the entries of in[0..n) that are kept (off != SNI_NONE) into out by
 * line (stable), each with pos = its index in `in`; pos[0..nl] gets the group
 * ends (pos[k] = end of line k's group). */
static void sort_lines(const struct sni_entry *in, size_t n, uint32_t nl, struct sni_entry *out,
                       uint32_t *pos, bool index)
{
    memset(pos, 0, ((size_t)nl + 1) * sizeof *pos);
    for (size_t i = 0; i < n; i++)
        if (in[i].off != SNI_NONE)
            pos[bucket_of(in[i].hash, nl) + 1]++;
    for (uint32_t k = 0; k < nl; k++)
        pos[k + 1] += pos[k];
    for (size_t i = 0; i < n; i++) {
        if (in[i].off == SNI_NONE)
            continue;
        struct sni_entry *o = &out[pos[bucket_of(in[i].hash, nl)]++];
        *o = in[i];
        if (index)
            o->pos = (uint32_t)i;
    }
}

/* Builds t from v (in add order: the first of equal entries wins), counting
 * the distinct marked entries into *count. ref: the entries carry a suffix
 * reference (the exact table; equal means equal reference and label). For the
 * suffix table (ref 0), an unmarked winner takes the set of the first marked
 * twin, and the references of the exact entries are resolved into the arena.
 * Returns 0 or -1 on ENOMEM. */
static int table_build(struct sni_table *t, const struct sni_vec *v, unsigned char *arena,
                       size_t ref, size_t *count)
{
    const size_t head = SNI_ENTRY_HEAD + ref, fill = ref ? SNI_EXACT_FILL : SNI_LINE_FILL;
    uint32_t nl, *pos = NULL, *sz = NULL;
    struct sni_entry *srt = NULL, *kep = NULL; /* v by line (first guess); the kept by line */
    size_t total = 0, size, kept = 0;
    int rc = -1;

    for (size_t i = 0; i < v->n; i++)
        total += head + (size_t)v->v[i].len;
    nl = (uint32_t)(total / fill) + 1;
    pos = malloc(((size_t)nl + 1) * sizeof *pos);
    srt = malloc((v->n + 1) * sizeof *srt);
    kep = malloc((v->n + 1) * sizeof *kep);
    if (pos == NULL || srt == NULL || kep == NULL)
        goto out;
    /* twins have equal keys, so they meet in a group under any line count */
    sort_lines(v->v, v->n, nl, srt, pos, false);
    total = 0;
    for (uint32_t k = 0, s = 0; k < nl; s = pos[k], k++) {
        for (uint32_t i = s; i < pos[k]; i++) {
            struct sni_entry *e = &srt[i];
#if defined(__GNUC__)
            if (i + 8 < v->n) /* twins are compared in the arena */
                __builtin_prefetch(arena + srt[i + 8].off);
#endif
            for (uint32_t j = s; j < i; j++) {
                const struct sni_entry *f = &srt[j];
                int32_t fs, es;
                if (f->hash != e->hash || f->len != e->len || f->off == SNI_NONE ||
                    memcmp(arena + f->off + SNI_ENTRY_HEAD, arena + e->off + SNI_ENTRY_HEAD,
                           ref + e->len) != 0)
                    continue;
                memcpy(&fs, arena + f->off + 2, sizeof fs);
                memcpy(&es, arena + e->off + 2, sizeof es);
                if (fs < 0 && es >= 0) /* a wildcard after the suffix of an exact name */
                    memcpy(arena + f->off + 2, &es, sizeof es);
                e->off = SNI_NONE;
                e->pos = j;
                break;
            }
            if (e->off != SNI_NONE) {
                total += head + e->len;
                kept++;
            }
        }
    }
    /* the line count for the distinct entries: with twins dropped, sort again */
    if (ref == 0 || kept != v->n) {
        nl = (uint32_t)(total / fill) + 1;
        sort_lines(srt, v->n, nl, kep, pos, true);
    } else { /* exact names, none dropped: srt is the kept list, pos[] its groups */
        struct sni_entry *x = kep;
        kep = srt;
        srt = x;
    }
    t->nl = nl;
    t->dir = big_alloc(((size_t)nl + 1) * sizeof *t->dir);
    sz = calloc((size_t)nl + 1, sizeof *sz);
    if (t->dir == NULL || sz == NULL)
        goto out;
    for (uint32_t k = 0, s = 0; k < nl; s = pos[k], k++)
        for (uint32_t i = s; i < pos[k]; i++)
            sz[k] += (uint32_t)(head + kep[i].len);
    size = table_layout(sz, t);
    if (size == SIZE_MAX || size + SNI_PAD > UINT32_MAX - 2)
        goto out;
    t->data = big_alloc(size + SNI_PAD);
    if (t->data == NULL)
        goto out;
    for (uint32_t k = 0, s = 0; k < nl; s = pos[k], k++) {
        size_t w = start_of(t, k), gap_end = start_of(t, k + 1);
        for (uint32_t i = s; i < pos[k]; i++) {
            int32_t sid;
#if defined(__GNUC__)
            if (i + 16 < pos[nl - 1]) /* arena read in hash order */
                __builtin_prefetch(arena + kep[i + 16].off);
#endif
            if (ref == 0) /* a kept suffix: pos is now its final offset */
                srt[kep[i].pos].pos = (uint32_t)w;
            memcpy(t->data + w, arena + kep[i].off, head + (size_t)kep[i].len);
            memcpy(&sid, t->data + w + 2, sizeof sid);
            w += head + (size_t)kep[i].len;
            *count += sid >= 0;
        }
        memset(t->data + w, 0, gap_end - w); /* up to the next group */
    }
    memset(t->data + size, 0, SNI_PAD);
    for (size_t i = 0; ref == 0 && i < v->n; i++) {
        const struct sni_entry *e = &srt[i];
        uint32_t at = e->off != SNI_NONE ? e->pos : srt[e->pos].pos;
#if defined(__GNUC__)
        if (i + 16 < v->n && srt[i + 16].link != SNI_NONE)
            __builtin_prefetch(arena + srt[i + 16].link, 1);
#endif
        if (e->link != SNI_NONE)
            memcpy(arena + e->link + SNI_ENTRY_HEAD, &at, sizeof at);
    }
    rc = 0;
out:
    free(kep);
    free(srt);
    free(sz);
    free(pos);
    return rc;
}

struct sni_index *sni_builder_finish(struct sni_builder *b)
{
    struct sni_index *ix = NULL;

    if (b == NULL)
        return NULL;
    ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        goto fail;
    /* the suffix table first: it resolves the exact entries' references */
    if (table_build(&ix->wild, &b->wild, b->arena, 0, &ix->count) != 0 ||
        table_build(&ix->exact, &b->exact, b->arena, SNI_REF, &ix->count) != 0)
        goto fail;
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
    free(ix->exact.dir);
    free(ix->exact.data);
    free(ix->exact.far);
    free(ix->wild.dir);
    free(ix->wild.data);
    free(ix->wild.far);
    free(ix);
}

size_t sni_index_count(const struct sni_index *ix)
{
    return ix != NULL ? ix->count : 0;
}

/* ---- lookup ------------------------------------------------------------- */

/* The bucket of h in t: [*p, *end). Prefetches its cache lines. */
static inline void locate(const struct sni_table *t, uint64_t h, const unsigned char **p,
                          const unsigned char **end)
{
    uint32_t k = bucket_of(h, t->nl), d;
    const unsigned char *line = t->data + (size_t)k * SNI_LINE;

#if defined(__GNUC__)
    /* the group almost always starts in line k and ends in line k or k + 1:
     * fetch them while the directory is read */
    __builtin_prefetch(line);
#endif
    memcpy(&d, t->dir + k, sizeof d); /* dir[k] and dir[k + 1] */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    d = (d >> 16) | (d << 16);
#endif
    if (SNI_UNLIKELY(t->nfar != 0) && ((d & 0xFFFF) == SNI_FAR || (d >> 16) == SNI_FAR)) {
        *p = t->data + start_of(t, k);
        *end = t->data + start_of(t, k + 1);
    } else {
        *p = line + (d & 0xFFFF);
        *end = line + SNI_LINE + (d >> 16);
    }
#if defined(__GNUC__)
    __builtin_prefetch(*end - 1);
#endif
}

/* Equal names: stored s (readable 8 bytes past n: the table's padding) and the
 * query q[0..n); for n < 8 the query is given as the word qw (its bytes low).
 * Only reads q[0..n). */
static inline int name_eq(const unsigned char *s, const unsigned char *q, size_t n, uint64_t qw)
{
#if defined(__SSE2__)
    if (n >= 16) {
        __m128i x = _mm_and_si128(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + n - 16)),
                           _mm_loadu_si128((const __m128i *)(const void *)(q + n - 16))),
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)s),
                           _mm_loadu_si128((const __m128i *)(const void *)q)));
        SNI_NO_UNROLL
        for (size_t i = 16; i + 16 < n; i += 16)
            x = _mm_and_si128(
                x, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i)),
                                  _mm_loadu_si128((const __m128i *)(const void *)(q + i))));
        return _mm_movemask_epi8(x) == 0xFFFF;
    }
#else
    if (n >= 16) {
        uint64_t d = load64(s + n - 8) ^ load64(q + n - 8);
        SNI_NO_UNROLL
        for (size_t i = 0; i + 8 < n; i += 8)
            d |= load64(s + i) ^ load64(q + i);
        return d == 0;
    }
#endif
    if (n >= 8)
        return ((load64(s) ^ load64(q)) | (load64(s + n - 8) ^ load64(q + n - 8))) == 0;
    return ((load64(s) ^ qw) & (~0ULL >> (64 - 8 * n))) == 0;
}

/* The suffix q[0..n) in the suffix table group [p, end): its entry's offset
 * in data (SNI_SUFFIX_UNKNOWN when absent) and its set in *set (-1 unmarked). */
static inline uint32_t scan_suffix(const unsigned char *data, const unsigned char *p,
                                   const unsigned char *end, uint64_t h, const unsigned char *q,
                                   size_t n, uint64_t qw, int *set)
{
    unsigned tag = (unsigned)n | ((unsigned)(h & 0xFF) << 8);

    for (; p < end; p += SNI_ENTRY_HEAD + p[0]) {
        if ((p[0] | ((unsigned)p[1] << 8)) == tag && name_eq(p + SNI_ENTRY_HEAD, q, n, qw)) {
            int32_t sid;
            memcpy(&sid, p + 2, sizeof sid);
            *set = (int)sid;
            return (uint32_t)(p - data);
        }
    }
    *set = -1;
    return SNI_SUFFIX_UNKNOWN;
}

/* The set of the exact name with first label q[0..n) and suffix reference
 * sref in the exact table group [p, end), or -1. */
static inline int scan_exact(const unsigned char *p, const unsigned char *end, uint64_t h,
                             const unsigned char *q, size_t n, uint64_t qw, uint32_t sref)
{
    unsigned tag = (unsigned)n | ((unsigned)(h & 0xFF) << 8);

    for (; p < end; p += SNI_ENTRY_HEAD + SNI_REF + p[0]) {
        uint32_t r;
        memcpy(&r, p + SNI_ENTRY_HEAD, sizeof r);
        if ((p[0] | ((unsigned)p[1] << 8)) == tag && r == sref &&
            name_eq(p + SNI_ENTRY_HEAD + SNI_REF, q, n, qw)) {
            int32_t sid;
            memcpy(&sid, p + 2, sizeof sid);
            return (int)sid;
        }
    }
    return -1;
}

/* Looks up the normalised name p[0..n) with first dot fd (== n when none);
 * p[n - 16 .. n) must be readable and, when n < 8, p[n .. 8) zero. */
static SNI_INLINE int lookup_norm(const struct sni_index *ix, const unsigned char *p, size_t n,
                                  size_t fd)
{
    const unsigned char *ep, *ee, *wp = NULL, *we = NULL, *suf = p + fd + 1;
    size_t sl = fd < n ? n - fd - 1 : 0;
    uint64_t he, hw;
    uint32_t sref = SNI_NO_SUFFIX;
    int r, wset = -1;

    if (sl > 0) {
        hw = str_key(suf, sl);
        he = label_key(p, fd, hw);
        locate(&ix->wild, hw, &wp, &we);
        locate(&ix->exact, he, &ep, &ee);
        sref = scan_suffix(ix->wild.data, wp, we, hw, suf, sl,
                           sl < 8 ? load64(p + n - 8) >> (64 - 8 * sl) : 0, &wset);
    } else {
        he = str_key(p, n);
        locate(&ix->exact, he, &ep, &ee);
    }
    r = scan_exact(ep, ee, he, p, fd, fd < 8 ? load64(p) : 0, sref);
    return r >= 0 ? r : wset;
}

/* The whole lookup through a normalised copy: names with something to trim or
 * lowercase, shorter than 8 bytes, or longer than the fast path takes. */
static SNI_NOINLINE int lookup_copy(const struct sni_index *ix, const char *name, size_t len)
{
    unsigned char raw[16 + SNI_MAX_NAME + 1 + SNI_PAD], *buf = raw + 16;
    size_t fd;
    int n;

    memset(raw, 0, 16);
    n = norm(name, len, buf, &fd);
    if (n < 0)
        return -1;
    return lookup_norm(ix, buf, (size_t)n, fd);
}

#if defined(__SSE2__)
#define SNI_FAST_MAX 128
static inline __m128i load128(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* The common case without a copy: p[0..n), 16 <= n <= SNI_FAST_MAX. Returns
 * the first dot (n when none), or -1 when the name needs the normalising path:
 * upper case, a byte <= ' ' (spaces, tabs), or a dot at either end. Names with
 * ".." need no check: no indexed name or suffix contains an empty label, so
 * such a name simply finds nothing. */
static inline long fast_dot(const unsigned char *p, size_t n)
{
    const __m128i bias = _mm_set1_epi8((char)(0x80 - 'A'));
    const __m128i lim = _mm_set1_epi8((char)(0x80 + 26 - 0x100)); /* 'A'..'Z' after bias */
    const __m128i dot = _mm_set1_epi8('.'), sp = _mm_set1_epi8(' ');
    __m128i a = load128(p), z = load128(p + n - 16);
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(_mm_add_epi8(a, bias), lim),
                               _mm_cmplt_epi8(_mm_add_epi8(z, bias), lim));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, dot));
    unsigned mz = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(z, dot));
    size_t fd = m != 0 ? (size_t)__builtin_ctz(m) : n;

    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_min_epu8(a, sp), a));
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_min_epu8(z, sp), z));
    SNI_NO_UNROLL
    for (size_t o = 16; o + 16 < n; o += 16) {
        __m128i v = load128(p + o);
        bad = _mm_or_si128(bad, _mm_cmplt_epi8(_mm_add_epi8(v, bias), lim));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_min_epu8(v, sp), v));
        if (fd == n && (m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot))) != 0)
            fd = o + (size_t)__builtin_ctz(m);
    }
    if (fd == n && mz != 0)
        fd = n - 16 + (size_t)__builtin_ctz(mz);
    if (((unsigned)_mm_movemask_epi8(bad) | (mz >> 15)) != 0 || fd == 0)
        return -1;
    return (long)fd;
}
#endif

int sni_index_lookup(const struct sni_index *ix, const char *name, size_t len)
{
#if defined(__SSE2__)
    const unsigned char *p = (const unsigned char *)name;
    long fd;

    if (len - 16 <= SNI_FAST_MAX - 16 && ix != NULL && p != NULL && (fd = fast_dot(p, len)) >= 0)
        return lookup_norm(ix, p, len, (size_t)fd);
#endif
    if (ix == NULL)
        return -1;
    return lookup_copy(ix, name, len);
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
