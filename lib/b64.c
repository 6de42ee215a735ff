/* b64.c - base64 and base64url (RFC 4648). */
#include "b64.h"

#include <stdlib.h>
#include <string.h>

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static size_t encode(const unsigned char *in, size_t n, char *out,
                     const char *alphabet, int pad)
{
    size_t o = 0, i = 0;

    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t b64url_encode(const void *in, size_t n, char *out)
{
    return encode(in, n, out, url_alphabet, 0);
}

size_t b64_encode(const void *in, size_t n, char *out)
{
    return encode(in, n, out, std_alphabet, 1);
}

char *b64url_encode_alloc(const void *in, size_t n)
{
    char *out = malloc(b64url_encoded_len(n) + 1);

    if (out != NULL)
        b64url_encode(in, n, out);
    return out;
}

static int value_of(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static unsigned char *decode(const char *in, size_t n, size_t *out_len, int url)
{
    unsigned char *out;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    out = malloc(n / 4 * 3 + 3);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int v = value_of(in[i], url);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* leftover bits must be zero (canonical encoding) */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        free(out);
        return NULL;
    }
    *out_len = o;
    return out;
}

unsigned char *b64url_decode_alloc(const char *in, size_t n, size_t *out_len)
{
    return decode(in, n, out_len, 1);
}

unsigned char *b64_decode_alloc(const char *in, size_t n, size_t *out_len)
{
    return decode(in, n, out_len, 0);
}
