/* test_sni.c - the SNI index: every row of the reference selection table
 * (godoxy-autocert.md "Certificate selection"), normalisation edge cases, name
 * length limits, wildcard depth rules, first writer wins, and a cross-check of
 * the index against a naive matcher on generated names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sni.h"

#define MAIN 0
#define E1 1
#define E2 2

/* Builds an index from {name, set} pairs, added in order; the list ends with NULL. */
struct pair {
    const char *name;
    int set;
};

static struct sni_index *build(const struct pair *p)
{
    struct sni_builder *b = sni_builder_new();
    assert_non_null(b);
    for (; p->name != NULL; p++)
        assert_int_equal(sni_builder_add(b, p->name, strlen(p->name), p->set), 0);
    struct sni_index *ix = sni_builder_finish(b);
    assert_non_null(ix);
    return ix;
}

static int look(const struct sni_index *ix, const char *name)
{
    return sni_index_lookup(ix, name, strlen(name));
}

static void test_reference_table(void **state)
{
    (void)state;
    const struct pair s1[] = {{"*.example.com", MAIN}, {"*.internal.example.com", E1}, {0, 0}};
    struct sni_index *ix = build(s1);
    assert_int_equal(look(ix, "a.internal.example.com"), E1);
    assert_int_equal(look(ix, "a.example.com"), MAIN);
    assert_int_equal(look(ix, "a.b.internal.example.com"), -1); /* caller falls back to main */
    assert_int_equal(look(ix, "internal.example.com"), MAIN);   /* one label under *.example.com */
    assert_int_equal(sni_index_count(ix), 2);
    sni_index_free(ix);

    const struct pair s2[] = {{"*.example.com", MAIN}, {"foo.example.com", E1}, {0, 0}};
    ix = build(s2);
    assert_int_equal(look(ix, "foo.example.com"), E1);
    assert_int_equal(look(ix, "FOO.example.com"), E1);
    assert_int_equal(look(ix, "  foo.example.com.  "), E1);
    assert_int_equal(look(ix, "bar.example.com"), MAIN);
    sni_index_free(ix);

    const struct pair s3[] = {{"example.com", MAIN}, {"*.example.com", MAIN},
                              {"*.example.com", E1}, {"x.example.com", E1}, {0, 0}};
    ix = build(s3);
    assert_int_equal(look(ix, "y.example.com"), MAIN);
    assert_int_equal(look(ix, "x.example.com"), E1);
    assert_int_equal(look(ix, "example.com"), MAIN);
    assert_int_equal(sni_index_count(ix), 3);
    sni_index_free(ix);

    const struct pair s4[] = {{"a.test", MAIN}, {"*.example.com", E1}, {"*.a.example.com", E2},
                              {0, 0}};
    ix = build(s4);
    assert_int_equal(look(ix, "foo.a.example.com"), E2);
    assert_int_equal(look(ix, "example.com"), -1); /* never the apex */
    assert_int_equal(look(ix, "a.example.com"), E1);
    assert_int_equal(look(ix, "a.test"), MAIN);
    sni_index_free(ix);

    const struct pair s5[] = {{"*.example.com", MAIN}, {"*.test.com", E1}, {"*.dev.com", E2},
                              {0, 0}};
    ix = build(s5);
    assert_int_equal(look(ix, "bar.dev.com"), E2);
    assert_int_equal(look(ix, "bar.test.com"), E1);
    assert_int_equal(look(ix, ""), -1); /* no SNI */
    assert_int_equal(sni_index_lookup(ix, NULL, 0), -1);
    assert_int_equal(look(ix, "   "), -1);
    sni_index_free(ix);
}

static void test_normalize(void **state)
{
    char out[SNI_MAX_NAME + 1];
    (void)state;
    assert_int_equal(sni_normalize("  Foo.Example.COM.\t", 19, out), 15);
    assert_string_equal(out, "foo.example.com");
    assert_int_equal(sni_normalize("a.b..", 5, out), -1); /* one dot dropped, "a.b." remains */
    assert_int_equal(sni_normalize("a..b", 4, out), -1);
    assert_int_equal(sni_normalize(".a", 2, out), -1);
    assert_int_equal(sni_normalize(".", 1, out), -1);
    assert_int_equal(sni_normalize("", 0, out), -1);
    assert_int_equal(sni_normalize(" \t ", 3, out), -1);
    assert_int_equal(sni_normalize("x", 1, out), 1);
    assert_string_equal(out, "x");
    /* len bounds the input: the bytes after it are not read */
    assert_int_equal(sni_normalize("abc.def", 3, out), 3);
    assert_string_equal(out, "abc");
    /* only ASCII is lowercased */
    assert_int_equal(sni_normalize("\xC3\x89T\xC3\x89", 5, out), 5);
    assert_memory_equal(out, "\xC3\x89t\xC3\x89", 5);
    /* bytes with the high bit set are never lowercased (0xC1 = 'A' | 0x80) */
    assert_int_equal(sni_normalize("\xC1\xDA.Z", 4, out), 4);
    assert_memory_equal(out, "\xC1\xDA.z", 4);
    /* ".." across the 8-byte boundary the normaliser works in, and inside a word */
    assert_int_equal(sni_normalize("abcdefg..x", 10, out), -1);
    assert_int_equal(sni_normalize("abcdefgh..x", 11, out), -1);
    assert_int_equal(sni_normalize("abcdefg.h.x", 11, out), 11);
    assert_int_equal(sni_normalize("ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{", 30, out), 30);
    assert_string_equal(out, "abcdefghijklmnopqrstuvwxyz@[`{");
}

/* Writes a name of exactly n bytes: labels of 63 'a's separated by dots. */
static void long_name(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (i % 64 == 63) ? '.' : 'a';
    if (buf[n - 1] == '.')
        buf[n - 1] = 'b';
    buf[n] = '\0';
}

static void test_lengths(void **state)
{
    char n253[300], n254[300], out[SNI_MAX_NAME + 1];
    (void)state;
    long_name(n253, 253);
    long_name(n254, 254);
    assert_int_equal(sni_normalize(n253, 253, out), 253);
    assert_int_equal(sni_normalize(n254, 254, out), -1);
    /* 253 bytes plus a trailing dot is still fine; plus spaces too */
    char n253dot[300];
    memcpy(n253dot, " ", 1);
    memcpy(n253dot + 1, n253, 253);
    memcpy(n253dot + 254, ". ", 3);
    assert_int_equal(sni_normalize(n253dot, 256, out), 253);

    struct sni_builder *b = sni_builder_new();
    assert_non_null(b);
    assert_int_equal(sni_builder_add(b, n253, 253, 3), 0);
    assert_int_equal(sni_builder_add(b, n254, 254, 4), -1);
    assert_int_equal(sni_builder_add(b, "", 0, 4), -1);
    assert_int_equal(sni_builder_add(b, "a..b", 4, 4), -1);
    assert_int_equal(sni_builder_add(b, "ok", 2, -1), -1); /* negative set */
    struct sni_index *ix = sni_builder_finish(b);
    assert_non_null(ix);
    assert_int_equal(sni_index_lookup(ix, n253, 253), 3);
    assert_int_equal(sni_index_lookup(ix, n253dot, 256), 3);
    assert_int_equal(sni_index_lookup(ix, n254, 254), -1);
    assert_int_equal(sni_index_count(ix), 1);
    sni_index_free(ix);

    /* 127 one-letter labels: 253 bytes, the most labels a name can have */
    char many[300];
    for (size_t i = 0; i < 127; i++) {
        many[2 * i] = 'a';
        many[2 * i + 1] = '.';
    }
    many[253] = '\0';
    assert_int_equal(strlen(many), 253);
    const struct pair p[] = {{many, 1}, {"*.a.a.a", 2}, {0, 0}};
    ix = build(p);
    assert_int_equal(look(ix, many), 1);
    assert_int_equal(look(ix, "A.a.A.a."), 2);
    assert_int_equal(look(ix, many + 2), -1); /* 126 labels: no match */
    /* *.<125 labels> matches the 126-label name but the exact 127-label name wins */
    sni_index_free(ix);
    const struct pair q[] = {{"*.a.a.a", 2}, {0, 0}};
    ix = build(q);
    assert_int_equal(look(ix, many), -1); /* far more than one label in front */
    sni_index_free(ix);
}

static void test_literal_star(void **state)
{
    (void)state;
    const struct pair p[] = {{"*", 1}, {"a*.x.com", 2}, {"foo.*.x.com", 3}, {"*.y.com", 4},
                             {0, 0}};
    struct sni_index *ix = build(p);
    assert_int_equal(look(ix, "*"), 1);
    assert_int_equal(look(ix, "a"), -1); /* "*" is an exact name, not a catch-all */
    assert_int_equal(look(ix, "a*.x.com"), 2);
    assert_int_equal(look(ix, "ab.x.com"), -1);
    assert_int_equal(look(ix, "foo.*.x.com"), 3);
    assert_int_equal(look(ix, "foo.bar.x.com"), -1);
    assert_int_equal(look(ix, "*.y.com"), 4); /* a literal "*" label is one label */
    assert_int_equal(look(ix, "y.com"), -1);
    assert_int_equal(sni_index_count(ix), 4);
    sni_index_free(ix);

    /* "*." normalises to "*": an exact name */
    const struct pair q[] = {{"*.", 5}, {0, 0}};
    ix = build(q);
    assert_int_equal(look(ix, "*"), 5);
    sni_index_free(ix);
}

static void test_ip_like(void **state)
{
    (void)state;
    const struct pair p[] = {{"10.0.0.1", 1}, {"*.0.0.1", 2}, {0, 0}};
    struct sni_index *ix = build(p);
    assert_int_equal(look(ix, "10.0.0.1"), 1); /* exact beats wildcard */
    assert_int_equal(look(ix, "11.0.0.1"), 2); /* labels are labels */
    assert_int_equal(look(ix, "0.0.1"), -1);
    assert_int_equal(look(ix, "1.10.0.0.1"), -1);
    assert_int_equal(look(ix, "10.0.0.2"), -1);
    sni_index_free(ix);
}

static void test_first_writer(void **state)
{
    (void)state;
    const struct pair p[] = {{"a.x.com", 3}, {"A.X.COM.", 1}, {"*.x.com", 5}, {" *.X.com", 0},
                             {"b.x.com", 7}, {0, 0}};
    struct sni_index *ix = build(p);
    assert_int_equal(look(ix, "a.x.com"), 3);
    assert_int_equal(look(ix, "c.x.com"), 5);
    assert_int_equal(look(ix, "b.x.com"), 7);
    assert_int_equal(sni_index_count(ix), 3);
    sni_index_free(ix);
}

static void test_shared_suffix(void **state)
{
    (void)state;
    const struct pair p[] = {{"*.ample.com", 1}, {"example.com", 2}, {"*.b.example.com", 3},
                             {"host.example.org", 4}, {0, 0}};
    struct sni_index *ix = build(p);
    assert_int_equal(look(ix, "ex.ample.com"), 1);
    assert_int_equal(look(ix, "a.example.com"), -1);   /* not under *.ample.com */
    assert_int_equal(look(ix, "xexample.com"), -1);
    assert_int_equal(look(ix, "example.co"), -1);
    assert_int_equal(look(ix, "a.b.example.com"), 3);
    assert_int_equal(look(ix, "ab.example.com"), -1);
    assert_int_equal(look(ix, "host.example.com"), -1);
    assert_int_equal(look(ix, "host.example.org"), 4);
    assert_int_equal(look(ix, "ost.example.org"), -1);
    sni_index_free(ix);
}

/* Exact names are stored as first label + a reference to their suffix's entry
 * (unmarked unless some wildcard marks it): labels and suffixes never mix, an
 * unmarked suffix matches nothing and is not counted, a later wildcard still
 * marks it (first marking writer wins), names without a dot work. */
static void test_suffix_sharing(void **state)
{
    (void)state;
    const struct pair p[] = {{"a.x.com", 1},   {"b.x.com", 2},      {"*.x.com", 3},
                             {"*.x.com", 4},   {"ab.c.d", 5},       {"localhost", 6},
                             {"q.y.com", 7},   {"*.a.x.com", 8},    {"x.com", 9},
                             {"c.localhost", 10}, {0, 0}};
    struct sni_index *ix = build(p);
    assert_int_equal(look(ix, "a.x.com"), 1);
    assert_int_equal(look(ix, "b.x.com"), 2);
    assert_int_equal(look(ix, "c.x.com"), 3);
    assert_int_equal(look(ix, "x.com"), 9);
    assert_int_equal(look(ix, "w.a.x.com"), 8);
    assert_int_equal(look(ix, "a.bc.d"), -1);
    assert_int_equal(look(ix, "abc.d"), -1);
    assert_int_equal(look(ix, "ab.c.d"), 5);
    assert_int_equal(look(ix, "zz.c.d"), -1);    /* suffix c.d exists, unmarked */
    assert_int_equal(look(ix, "z.y.com"), -1);   /* suffix y.com exists, unmarked */
    assert_int_equal(look(ix, "q.y.co"), -1);
    assert_int_equal(look(ix, "localhost"), 6);
    assert_int_equal(look(ix, "localhost.x"), -1);
    assert_int_equal(look(ix, "c.localhost"), 10);
    assert_int_equal(look(ix, "d.localhost"), -1);
    assert_int_equal(look(ix, "com"), -1);
    /* 7 distinct exact names + 2 marked suffixes (x.com, a.x.com) */
    assert_int_equal(sni_index_count(ix), 9);
    sni_index_free(ix);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    struct sni_builder *b = sni_builder_new();
    assert_non_null(b);
    struct sni_index *ix = sni_builder_finish(b);
    assert_non_null(ix);
    assert_int_equal(sni_index_count(ix), 0);
    assert_int_equal(look(ix, "a.b"), -1);
    assert_int_equal(look(ix, "a"), -1);
    sni_index_free(ix);
    sni_index_free(NULL);
    sni_builder_free(NULL);
    assert_int_equal(sni_index_lookup(NULL, "a", 1), -1);
    assert_int_equal(sni_index_count(NULL), 0);
    b = sni_builder_new();
    assert_int_equal(sni_builder_add(b, "x.y", 3, 1), 0);
    sni_builder_free(b); /* abandoned: no leak */
}

/* Naive reference matcher over the same rules. */
static int naive(const char (*names)[64], const int *sets, size_t n, const char *q)
{
    for (size_t i = 0; i < n; i++)
        if (names[i][0] != '*' && strcmp(names[i], q) == 0)
            return sets[i];
    const char *dot = strchr(q, '.');
    if (dot == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (names[i][0] == '*' && strcmp(names[i] + 2, dot + 1) == 0)
            return sets[i];
    return -1;
}

static void test_against_naive(void **state)
{
    enum { N = 600 };
    static char names[N][64];
    static int sets[N];
    uint64_t s = 12345;
    (void)state;
    struct sni_builder *b = sni_builder_new();
    assert_non_null(b);
    for (size_t i = 0; i < N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(s >> 33);
        if (r % 3 == 0)
            snprintf(names[i], sizeof names[i], "*.z%u.d%u.t", (r >> 4) % 7, (r >> 8) % 5);
        else
            snprintf(names[i], sizeof names[i], "h%u.z%u.d%u.t", (r >> 12) % 9, (r >> 4) % 7,
                     (r >> 8) % 5);
        sets[i] = (int)((r >> 16) % 8);
        assert_int_equal(sni_builder_add(b, names[i], strlen(names[i]), sets[i]), 0);
    }
    struct sni_index *ix = sni_builder_finish(b);
    assert_non_null(ix);
    char q[64];
    for (unsigned h = 0; h < 11; h++)
        for (unsigned z = 0; z < 8; z++)
            for (unsigned d = 0; d < 6; d++) {
                snprintf(q, sizeof q, "h%u.z%u.d%u.t", h, z, d);
                /* the naive matcher scans in add order: first writer wins */
                assert_int_equal(look(ix, q), naive((const char (*)[64])names, sets, N, q));
                snprintf(q, sizeof q, "z%u.d%u.t", z, d);
                assert_int_equal(look(ix, q), naive((const char (*)[64])names, sets, N, q));
            }
    sni_index_free(ix);
}

/* Every position of the 16-byte chunks the normaliser works in: ".." anywhere is
 * refused, every upper-case letter is lowered, the first dot anywhere splits the
 * name right (exact and wildcard lookups of names of every length). */
static void test_chunk_positions(void **state)
{
    char name[SNI_MAX_NAME + 1], out[SNI_MAX_NAME + 1], q[SNI_MAX_NAME + 8];
    (void)state;
    for (size_t len = 3; len <= 70; len++) {
        for (size_t p = 1; p + 2 < len; p++) {
            memset(name, 'a', len);
            name[p] = '.';
            name[p + 1] = '.';
            assert_int_equal(sni_normalize(name, len, out), -1);
            memset(name, 'a', len);
            name[p] = 'Q';
            assert_int_equal(sni_normalize(name, len, out), (int)len);
            assert_int_equal(out[p], 'q');
        }
    }
    for (size_t first = 1; first <= 40; first++) {
        struct sni_builder *b = sni_builder_new();
        assert_non_null(b);
        /* exact: <first x 'e'>.s.t ; wildcard: *.<first x 'w'>.t */
        memset(name, 'e', first);
        memcpy(name + first, ".s.t", 5);
        assert_int_equal(sni_builder_add(b, name, strlen(name), 3), 0);
        name[0] = '*';
        name[1] = '.';
        memset(name + 2, 'w', first);
        memcpy(name + 2 + first, ".t", 3);
        assert_int_equal(sni_builder_add(b, name, strlen(name), 5), 0);
        struct sni_index *ix = sni_builder_finish(b);
        assert_non_null(ix);
        memset(q, 'E', first);
        memcpy(q + first, ".S.T", 5);
        assert_int_equal(look(ix, q), 3);
        q[first - 1] = 'x'; /* same length, other name */
        assert_int_equal(look(ix, q), -1);
        memcpy(q, "abc.", 4);
        memset(q + 4, 'W', first);
        memcpy(q + 4 + first, ".t.", 4);
        assert_int_equal(look(ix, q), 5);
        assert_int_equal(look(ix, q + 4), -1); /* the suffix itself */
        sni_index_free(ix);
    }
}

/* Many names, each added by two sets in turn, some twice: every bucket of a big
 * index keeps the first writer, and names differing only in their last byte
 * (same length, most hash words equal) never answer for each other. */
static void test_big_index(void **state)
{
    enum { N = 20000 };
    char name[64];
    (void)state;
    struct sni_builder *b = sni_builder_new();
    assert_non_null(b);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof name, "n%05d.zone%d.example.org", i, i % 97);
            assert_int_equal(sni_builder_add(b, name, strlen(name), pass * 100 + i % 50), 0);
            snprintf(name, sizeof name, "*.w%05d.example.org", i);
            assert_int_equal(sni_builder_add(b, name, strlen(name), pass * 100 + i % 7), 0);
        }
    struct sni_index *ix = sni_builder_finish(b);
    assert_non_null(ix);
    assert_int_equal(sni_index_count(ix), 2 * N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%05d.zone%d.example.org", i, i % 97);
        assert_int_equal(look(ix, name), i % 50);
        snprintf(name, sizeof name, "n%05d.zone%d.example.orh", i, i % 97);
        assert_int_equal(look(ix, name), -1);
        snprintf(name, sizeof name, "x.w%05d.example.org", i);
        assert_int_equal(look(ix, name), i % 7);
        snprintf(name, sizeof name, "x.w%05d.example.orG.", i);
        assert_int_equal(look(ix, name), i % 7);
        snprintf(name, sizeof name, "x.w%05d.example.orh", i);
        assert_int_equal(look(ix, name), -1);
    }
    sni_index_free(ix);
}

/* Names of every length from 3 to 140 (both sides of the copy-free path's 16
 * and 128 byte limits and of the keys' 8, 16 and 32 byte steps): the name
 * itself, every one-byte change (in the first label: the wildcard on its
 * suffix; elsewhere: nothing), upper case, a trailing dot, a leading space,
 * inner spaces and an empty label. */
static void test_every_length(void **state)
{
    char name[160], q[170];
    (void)state;
    for (size_t len = 3; len <= 140; len++) {
        size_t d1 = len / 3, d2 = 2 * len / 3;
        for (size_t i = 0; i < len; i++)
            name[i] = (char)('a' + (i * 7 + len) % 26);
        if (d1 == 0)
            d1 = 1;
        name[d1] = '.';
        if (d2 > d1 + 1 && d2 + 1 < len)
            name[d2] = '.';
        name[len] = '\0';
        struct sni_builder *b = sni_builder_new();
        assert_non_null(b);
        assert_int_equal(sni_builder_add(b, name, len, 1), 0);
        snprintf(q, sizeof q, "*.%s", name + d1 + 1);
        assert_int_equal(sni_builder_add(b, q, strlen(q), 2), 0);
        struct sni_index *ix = sni_builder_finish(b);
        assert_non_null(ix);
        assert_int_equal(look(ix, name), 1);
        for (size_t i = 0; i < len; i++) {
            if (name[i] == '.')
                continue;
            memcpy(q, name, len + 1);
            q[i] = q[i] == 'z' ? 'a' : (char)(q[i] + 1);
            assert_int_equal(look(ix, q), i < d1 ? 2 : -1);
            q[i] = (char)(name[i] - 'a' + 'A');
            assert_int_equal(look(ix, q), 1);
            q[i] = ' '; /* kept inside, trimmed at the ends: " .x" is ".x" */
            assert_int_equal(look(ix, q), i < d1 && !(i == 0 && d1 == 1) ? 2 : -1);
        }
        snprintf(q, sizeof q, " %s.", name);
        assert_int_equal(look(ix, q), 1);
        snprintf(q, sizeof q, "%s.", name);
        assert_int_equal(look(ix, q), 1);
        snprintf(q, sizeof q, "%s..", name);
        assert_int_equal(look(ix, q), -1);
        memcpy(q, name, len + 1);
        q[d1 + 1] = '.'; /* "x..y" */
        assert_int_equal(look(ix, q), -1);
        assert_int_equal(look(ix, name + d1 + 1), -1); /* the suffix itself */
        snprintf(q, sizeof q, "%s.", name + d1 + 1);
        assert_int_equal(look(ix, q), -1);
        sni_index_free(ix);
    }
}

static void test_pattern_covers(void **state)
{
    (void)state;
    assert_true(sni_pattern_covers("example.com", "EXAMPLE.com"));
    assert_true(sni_pattern_covers("*.example.com", "a.example.com"));
    assert_false(sni_pattern_covers("*.example.com", "example.com"));
    assert_false(sni_pattern_covers("*.example.com", "a.b.example.com"));
    assert_false(sni_pattern_covers("*.example.com", ".example.com"));
    assert_false(sni_pattern_covers("a.example.com", "b.example.com"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_covers),
        cmocka_unit_test(test_reference_table), cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_lengths),         cmocka_unit_test(test_literal_star),
        cmocka_unit_test(test_ip_like),         cmocka_unit_test(test_first_writer),
        cmocka_unit_test(test_shared_suffix),   cmocka_unit_test(test_suffix_sharing),   cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_against_naive),   cmocka_unit_test(test_chunk_positions),
        cmocka_unit_test(test_big_index),       cmocka_unit_test(test_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
