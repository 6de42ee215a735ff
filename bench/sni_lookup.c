/* sni_lookup.c - SNI index benchmark: regenerates the workload of
 * /work/shared/bench/sni-workload.md byte for byte, verifies its FNV-1a
 * checksums (names, queries, results) and refuses to report on any mismatch;
 * then prints per N the median ns per lookup over 5 timed passes, the index's
 * heap per name and the build time. The last line is
 *   sni_lookup names=1000000 median_ns=<n> bytes_per_name=<n>
 *
 * Heap is measured as the mallinfo2() uordblks delta across building. glibc
 * serves big blocks with mmap (counted in hblkhd, not uordblks), so mmap is
 * switched off with mallopt(M_MMAP_MAX, 0) first: every byte the index holds is
 * then in uordblks.
 *
 * Usage: sni_lookup [N [passes]] runs only the size N (1000, 100000 or 1000000)
 * with that many timed passes (0: only the checked pass). For instruction
 * counts:  valgrind --tool=callgrind --toggle-collect=sni_index_lookup
 *          bench/sni_lookup 1000 0   (Ir / 1,000,000 = instructions per lookup)
 * With 0 passes mmap stays on (valgrind cannot grow brk that far), so that run's
 * bytes_per_name misses big blocks: take heap figures from a timed run. */
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sni.h"

#define Q 1000000u
#define PASSES 5 /* default; at most MAX_PASSES */
#define MAX_PASSES 99
#define FNV_OFF 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

struct strs { /* strings in one arena, in list order */
    char *arena;
    size_t len, cap;
    size_t *off; /* n + 1 entries: off[i] .. off[i + 1] */
    size_t n, max;
};

static uint64_t rng_state;

static uint64_t rnd(uint64_t m)
{
    uint64_t z;
    rng_state += 0x9E3779B97F4A7C15ULL;
    z = rng_state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z % m;
}

static void die(const char *what)
{
    fprintf(stderr, "sni_lookup: %s\n", what);
    exit(1);
}

static void strs_init(struct strs *s, size_t max, size_t bytes)
{
    s->arena = malloc(bytes);
    s->off = malloc((max + 1) * sizeof *s->off);
    if (s->arena == NULL || s->off == NULL)
        die("out of memory");
    s->cap = bytes;
    s->len = 0;
    s->n = 0;
    s->max = max;
    s->off[0] = 0;
}

static void strs_free(struct strs *s)
{
    free(s->arena);
    free(s->off);
}

static void strs_addf(struct strs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void strs_addf(struct strs *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (s->n >= s->max || s->cap - s->len < 128)
        die("string list overflow");
    va_start(ap, fmt);
    n = vsnprintf(s->arena + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len)
        die("string too long");
    s->len += (size_t)n;
    s->off[++s->n] = s->len;
}

static uint64_t fnv_list(const struct strs *s)
{
    uint64_t h = FNV_OFF;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = s->off[i]; j < s->off[i + 1]; j++) {
            h ^= (unsigned char)s->arena[j];
            h *= FNV_PRIME;
        }
        h ^= '\n';
        h *= FNV_PRIME;
    }
    return h;
}

static void gen_names(struct strs *names, uint64_t n_names)
{
    uint64_t k = n_names / 100, e_cnt = 7 * n_names / 10;

    strs_init(names, n_names, n_names * 48 + 256);
    for (uint64_t n = 0; n < n_names; n++) {
        if (n < e_cnt)
            strs_addf(names, "h%" PRIu64 ".z%" PRIu64 ".example%" PRIu64 ".com", n, n % 40,
                      (n / 40) % k);
        else
            strs_addf(names, "*.z%" PRIu64 ".example%" PRIu64 ".com", (n - e_cnt) % 30,
                      (n - e_cnt) / 30);
    }
}

/* Generates the queries, shuffles them, and lays them out in shuffled order. */
static void gen_queries(struct strs *out, const struct strs *names, uint64_t n_names)
{
    uint64_t k = n_names / 100, e_cnt = 7 * n_names / 10;
    struct strs q;
    uint32_t *perm;

    strs_init(&q, Q, (size_t)Q * 48 + 256);
    for (uint64_t i = 0; i < 400000; i++) {
        uint64_t e = rnd(e_cnt);
        size_t a = names->off[e], b = names->off[e + 1];
        strs_addf(&q, "%.*s", (int)(b - a), names->arena + a);
    }
    for (uint64_t i = 0; i < 300000; i++) {
        uint64_t x = rnd(1000000);
        uint64_t j = rnd(30);
        uint64_t kk = rnd(k);
        strs_addf(&q, "q%" PRIu64 ".z%" PRIu64 ".example%" PRIu64 ".com", x, j, kk);
    }
    for (uint64_t i = 0; i < 100000; i++) {
        uint64_t x = rnd(1000000);
        uint64_t j = 30 + rnd(10);
        uint64_t kk = rnd(k);
        strs_addf(&q, "m%" PRIu64 ".z%" PRIu64 ".example%" PRIu64 ".com", x, j, kk);
    }
    for (uint64_t i = 0; i < 100000; i++) {
        uint64_t x = rnd(1000000);
        uint64_t j = rnd(40);
        uint64_t kk = k + rnd(k);
        strs_addf(&q, "m%" PRIu64 ".z%" PRIu64 ".example%" PRIu64 ".com", x, j, kk);
    }
    for (uint64_t i = 0; i < 100000; i++) {
        uint64_t x = rnd(1000000);
        uint64_t x2 = rnd(1000000);
        uint64_t j = rnd(30);
        uint64_t kk = rnd(k);
        strs_addf(&q, "a%" PRIu64 ".b%" PRIu64 ".z%" PRIu64 ".example%" PRIu64 ".com", x, x2, j,
                  kk);
    }
    perm = malloc(Q * sizeof *perm);
    if (perm == NULL)
        die("out of memory");
    for (uint32_t i = 0; i < Q; i++)
        perm[i] = i;
    for (uint32_t i = Q - 1; i >= 1; i--) {
        uint32_t s = (uint32_t)rnd((uint64_t)i + 1), t = perm[i];
        perm[i] = perm[s];
        perm[s] = t;
    }
    strs_init(out, Q, q.len + 256);
    for (uint32_t i = 0; i < Q; i++) {
        size_t a = q.off[perm[i]], b = q.off[perm[i] + 1];
        memcpy(out->arena + out->len, q.arena + a, b - a);
        out->len += b - a;
        out->off[++out->n] = out->len;
    }
    free(perm);
    strs_free(&q);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct result {
    double median_ns, bytes_per_name, build_ms;
};

static int run(uint64_t n_names, uint64_t want_names, uint64_t want_queries,
               uint64_t want_results, int passes, struct result *res)
{
    struct strs names, queries;
    struct sni_builder *b;
    struct sni_index *ix;
    struct mallinfo2 m0, m1;
    double t0, t1, pass[MAX_PASSES + 1] = {0};
    uint64_t h, hits = 0, sink = 0;
    int rc = -1;

    rng_state = 0x5EED5EEDULL;
    gen_names(&names, n_names);
    gen_queries(&queries, &names, n_names);
    if (fnv_list(&names) != want_names || fnv_list(&queries) != want_queries) {
        fprintf(stderr, "N=%" PRIu64 ": names/queries checksum mismatch (%016" PRIx64
                        " %016" PRIx64 ")\n",
                n_names, fnv_list(&names), fnv_list(&queries));
        goto out_strs;
    }

    m0 = mallinfo2();
    t0 = now_ns();
    b = sni_builder_new();
    if (b == NULL)
        die("out of memory");
    for (uint64_t set = 0; set < 8; set++)
        for (uint64_t n = set; n < n_names; n += 8)
            if (sni_builder_add(b, names.arena + names.off[n], names.off[n + 1] - names.off[n],
                                (int)set) != 0)
                die("sni_builder_add failed");
    ix = sni_builder_finish(b);
    t1 = now_ns();
    m1 = mallinfo2();
    if (ix == NULL)
        die("sni_builder_finish failed");
    if (sni_index_count(ix) != n_names) {
        fprintf(stderr, "N=%" PRIu64 ": index holds %zu names\n", n_names, sni_index_count(ix));
        goto out_ix;
    }
    res->build_ms = (t1 - t0) / 1e6;
    res->bytes_per_name = (double)(m1.uordblks - m0.uordblks) / (double)n_names;

    h = FNV_OFF; /* untimed pass: the results checksum */
    for (size_t i = 0; i < Q; i++) {
        int r = sni_index_lookup(ix, queries.arena + queries.off[i],
                                 queries.off[i + 1] - queries.off[i]);
        h ^= (uint64_t)(r + 1);
        h *= FNV_PRIME;
        hits += r >= 0;
    }
    if (h != want_results || hits != 700000) {
        fprintf(stderr, "N=%" PRIu64 ": results checksum mismatch (%016" PRIx64 ", %" PRIu64
                        " hits): not reporting\n",
                n_names, h, hits);
        goto out_ix;
    }
    for (int p = 0; p < passes; p++) {
        t0 = now_ns();
        for (size_t i = 0; i < Q; i++)
            sink += (uint64_t)sni_index_lookup(ix, queries.arena + queries.off[i],
                                               queries.off[i + 1] - queries.off[i]);
        t1 = now_ns();
        pass[p] = (t1 - t0) / Q;
    }
    if (passes > 0)
        qsort(pass, (size_t)passes, sizeof pass[0], cmp_double);
    res->median_ns = pass[passes / 2];
    printf("N=%" PRIu64 " checksums ok (names %016" PRIx64 ", queries %016" PRIx64
           ", results %016" PRIx64 ") median_ns=%.1f (passes %.1f..%.1f) bytes_per_name=%.1f "
           "build_ms=%.1f [sink %" PRIu64 "]\n",
           n_names, want_names, want_queries, want_results, res->median_ns, pass[0],
           pass[passes > 0 ? passes - 1 : 0], res->bytes_per_name, res->build_ms, sink & 1);
    rc = 0;
out_ix:
    sni_index_free(ix);
out_strs:
    strs_free(&names);
    strs_free(&queries);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        uint64_t n, names, queries, results;
    } cases[] = {
        {1000, 0xcfdc48dbf0871125ULL, 0xf091d8c7ea62dc57ULL, 0x9e62e8fa653a5780ULL},
        {100000, 0x7d67c2c6b0c36bbdULL, 0x970c1765fef8dfc1ULL, 0x80ce64517f07b2a0ULL},
        {1000000, 0x5064d854fb5bb0c9ULL, 0x7e1a8579d3ba4463ULL, 0x80ce64517f07b2a0ULL},
    };
    struct result res = {0};
    uint64_t only = 0, last = 0;
    int passes = PASSES;
    char *end;

    if (argc > 1) {
        only = strtoull(argv[1], &end, 10);
        if (*end != '\0')
            die("usage: sni_lookup [N [passes]]");
    }
    if (argc > 2) {
        unsigned long v = strtoul(argv[2], &end, 10);
        if (*end != '\0' || v > MAX_PASSES)
            die("usage: sni_lookup [N [passes]] (passes 0..99)");
        passes = (int)v;
    }
    if (passes > 0)
        mallopt(M_MMAP_MAX, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only != 0 && cases[i].n != only)
            continue;
        if (run(cases[i].n, cases[i].names, cases[i].queries, cases[i].results, passes,
                &res) != 0)
            return 1;
        last = cases[i].n;
    }
    if (last == 0)
        die("N must be 1000, 100000 or 1000000");
    printf("sni_lookup names=%" PRIu64 " median_ns=%.1f bytes_per_name=%.1f\n", last,
           res.median_ns, res.bytes_per_name);
    return 0;
}
