/* textsafe.c - escaping control characters and invalid UTF-8 (see textsafe.h). */
#include "textsafe.h"

#include <stdint.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (RFC 3629, table 3-7 of the
 * Unicode standard), or 0 when the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (left < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return need;
}

/* True for C0 controls, DEL and the C1 controls (U+0080..U+009F, encoded C2 80..C2 9F). */
static bool is_control(const unsigned char *s, size_t seq)
{
    if (seq == 1)
        return s[0] < 0x20 || s[0] == 0x7F;
    return seq == 2 && s[0] == 0xC2 && s[1] <= 0x9F;
}

size_t ac_text_sanitize(char *dst, size_t n, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;

    if (n == 0)
        return 0;
    while (i < len && s != NULL) {
        size_t seq = utf8_seq_len(s + i, len - i);
        char esc[8 * 4];
        size_t elen = 0;

        if (seq != 0 && !is_control(s + i, seq)) {
            if (o + seq >= n)
                break;
            memcpy(dst + o, s + i, seq);
            o += seq;
            i += seq;
            continue;
        }
        if (seq == 0)
            seq = 1; /* one invalid byte */
        for (size_t k = 0; k < seq; k++) {
            unsigned char c = s[i + k];
            esc[elen++] = '\\';
            if (c == '\n')
                esc[elen++] = 'n';
            else if (c == '\r')
                esc[elen++] = 'r';
            else if (c == '\t')
                esc[elen++] = 't';
            else {
                esc[elen++] = 'x';
                esc[elen++] = hex[c >> 4];
                esc[elen++] = hex[c & 15];
            }
        }
        if (o + elen >= n)
            break;
        memcpy(dst + o, esc, elen);
        o += elen;
        i += seq;
    }
    dst[o] = '\0';
    return o;
}

bool ac_text_is_clean(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        size_t seq = utf8_seq_len(u + i, len - i);
        if (seq == 0 || is_control(u + i, seq))
            return false;
        i += seq;
    }
    return true;
}
