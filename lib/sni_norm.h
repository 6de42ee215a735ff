/*
 * sni_norm.h - server-name normalisation for the SNI index (private to
 * sni.c): trim spaces and tabs, drop one trailing dot, lowercase ASCII, find
 * the first dot and refuse empty labels, 16 bytes at a time with SSE2 (8 with
 * plain 64-bit words otherwise). Static inline so that sni_index_lookup keeps
 * the whole path in one function.
 */
#ifndef AUTOCERT_SNI_NORM_H
#define AUTOCERT_SNI_NORM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sni.h"

#define SNI_PAD 16 /* zero bytes after a name in buffers and after a table */

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline __attribute__((unused)) void store64(unsigned char *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(p, &w, sizeof w);
}

static inline __attribute__((unused)) size_t lowest_byte(uint64_t m) /* m != 0 */
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

#if defined(__SSE2__)
/* Lowercases out[0..n) in place (16 zero bytes follow it) and finds its dots,
 * sixteen bytes at a time. Returns the first dot (n when none) or -1 on "..". */
static inline long case_and_dots(unsigned char *out, size_t n)
{
    const __m128i a1 = _mm_set1_epi8('A' - 1), z1 = _mm_set1_epi8('Z' + 1);
    const __m128i bit = _mm_set1_epi8(0x20), dot = _mm_set1_epi8('.');
    unsigned carry = 0; /* 1 when the previous chunk ended with a dot */
    size_t fd = n;

    for (size_t i = 0; i < n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(out + i));
        /* signed compares: bytes >= 0x80 are negative, never in 'A'..'Z' */
        __m128i up = _mm_and_si128(_mm_cmpgt_epi8(v, a1), _mm_cmplt_epi8(v, z1));
        unsigned dots;
        v = _mm_or_si128(v, _mm_and_si128(up, bit));
        _mm_storeu_si128((__m128i *)(void *)(out + i), v);
        dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot));
        if (dots != 0) {
            if (((dots << 1) | carry) & dots)
                return -1;
            if (fd == n)
                fd = i + (size_t)__builtin_ctz(dots);
        }
        carry = dots >> 15;
    }
    return (long)fd;
}
#else
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS7 0x7F7F7F7F7F7F7F7FULL

/* As above, eight bytes at a time (SWAR). */
static inline long case_and_dots(unsigned char *out, size_t n)
{
    uint64_t carry = 0; /* bit 7 set when the previous word ended with a dot */
    size_t fd = n;

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
    return (long)fd;
}
#endif

/* Normalises into out (room for SNI_MAX_NAME + 1 + SNI_PAD); writes SNI_PAD zero
 * bytes after the name. Returns the length and the index of the first dot in
 * *first_dot (== length when there is none), or -1 for "no SNI". */
static inline int norm(const char *in, size_t len, unsigned char *out, size_t *first_dot)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t s = 0, e = len, n;
    long fd;

    if (p == NULL || len == 0)
        return -1;
    if (p[0] == ' ' || p[0] == '\t' || p[len - 1] == ' ' || p[len - 1] == '\t') {
        while (s < e && (p[s] == ' ' || p[s] == '\t'))
            s++;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
    }
    if (e > s && p[e - 1] == '.')
        e--;
    n = e - s;
    if (n == 0 || n > SNI_MAX_NAME || p[s] == '.' || p[e - 1] == '.')
        return -1; /* empty, too long, leading dot, or "a.." */
    memcpy(out, p + s, n);
    memset(out + n, 0, SNI_PAD);
    fd = case_and_dots(out, n);
    if (fd < 0)
        return -1;
    *first_dot = (size_t)fd;
    return (int)n;
}

#endif
