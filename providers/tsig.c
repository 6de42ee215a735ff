/*
 * tsig.c - TSIG (RFC 8945) signing of a DNS request and verification of its
 * answer, on the wire form (tsig.h). ldns 1.8.3 builds the messages but
 * cannot sign with hmac-sha384 (it looks the digest up under a misspelt
 * name), so the MACs are computed here with GnuTLS for every algorithm.
 *
 *   request MAC = HMAC(request without TSIG | variables)
 *   answer MAC  = HMAC(len(request MAC) | request MAC |
 *                      answer without TSIG, ARCOUNT - 1, ID = original ID |
 *                      variables)
 *   variables   = key name | class ANY | TTL 0 | algorithm | time (48 bit) |
 *                 fudge | error | other length | other data
 */
#include "tsig.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"

#define TSIG_TYPE 250
#define CLASS_ANY 255
#define TSIG_FUDGE 300
#define HDR 12

static const struct {
    const char *name;
    gnutls_mac_algorithm_t mac;
    size_t len;
} algs[] = {
    {"hmac-sha1", GNUTLS_MAC_SHA1, 20},     {"hmac-sha224", GNUTLS_MAC_SHA224, 28},
    {"hmac-sha256", GNUTLS_MAC_SHA256, 32}, {"hmac-sha384", GNUTLS_MAC_SHA384, 48},
    {"hmac-sha512", GNUTLS_MAC_SHA512, 64},
};

static int alg_index(const char *a)
{
    size_t len;

    if (a == NULL || *a == '\0')
        return 2;
    len = strlen(a);
    if (a[len - 1] == '.')
        len--;
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strlen(algs[i].name) == len && strncasecmp(algs[i].name, a, len) == 0)
            return (int)i;
    return -1;
}

bool tsig_algorithm_known(const char *algorithm)
{
    return alg_index(algorithm) >= 0;
}

/* "Key.Example." -> canonical wire form (lower case, no escapes). */
static int name_to_wire(const char *s, uint8_t *out, size_t *out_len)
{
    size_t pos = 0;

    while (*s != '\0') {
        size_t l = strcspn(s, ".");
        if (l == 0 || l > 63 || pos + l + 2 > TSIG_NAME_MAX)
            return -1;
        out[pos++] = (uint8_t)l;
        for (size_t i = 0; i < l; i++) {
            unsigned char c = (unsigned char)s[i];
            out[pos++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        s += l;
        if (*s == '.')
            s++;
    }
    out[pos++] = 0;
    *out_len = pos;
    return 0;
}

int tsig_key_init(struct tsig_key *k, const char *name, const char *algorithm,
                  const char *secret_b64, struct ac_error *e)
{
    int ai = alg_index(algorithm);
    unsigned char *raw = NULL;
    size_t rawlen = 0;

    memset(k, 0, sizeof *k);
    if (ai < 0) {
        ac_error_set(e, AC_ERR_CONFIG, "TSIG: unsupported algorithm");
        return -1;
    }
    if (name == NULL || name_to_wire(name, k->name, &k->name_len) != 0 || k->name_len < 2) {
        ac_error_set(e, AC_ERR_CONFIG, "TSIG: the key name is not a domain name");
        return -1;
    }
    name_to_wire(algs[ai].name, k->alg, &k->alg_len);
    k->mac = (int)algs[ai].mac;
    k->mac_len = algs[ai].len;
    if (secret_b64 != NULL && strlen(secret_b64) <= 4 * TSIG_SECRET_MAX / 3)
        raw = b64_decode_alloc(secret_b64, strlen(secret_b64), &rawlen);
    if (raw == NULL || rawlen == 0 || rawlen > TSIG_SECRET_MAX) {
        if (raw != NULL) {
            explicit_bzero(raw, rawlen);
            free(raw);
        }
        ac_error_set(e, AC_ERR_CONFIG, "TSIG: the secret is not base64");
        return -1;
    }
    memcpy(k->secret, raw, rawlen);
    k->secret_len = rawlen;
    explicit_bzero(raw, rawlen);
    free(raw);
    return 0;
}

void tsig_key_clear(struct tsig_key *k)
{
    if (k != NULL)
        explicit_bzero(k, sizeof *k);
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static void put48(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;

    for (int i = 5; i >= 0; i--, u >>= 8)
        p[i] = (uint8_t)u;
}

static int64_t get48(const uint8_t *p)
{
    int64_t v = 0;

    for (int i = 0; i < 6; i++)
        v = v << 8 | p[i];
    return v;
}

/* The TSIG variables (RFC 8945 4.3.3) into out; returns their length. */
static size_t variables(const struct tsig_key *k, int64_t time_signed, unsigned fudge,
                        unsigned error, const uint8_t *other, size_t other_len, uint8_t *out)
{
    size_t p = 0;

    memcpy(out, k->name, k->name_len);
    p += k->name_len;
    put16(out + p, CLASS_ANY);
    memset(out + p + 2, 0, 4); /* TTL */
    p += 6;
    memcpy(out + p, k->alg, k->alg_len);
    p += k->alg_len;
    put48(out + p, time_signed);
    put16(out + p + 6, fudge);
    put16(out + p + 8, error);
    put16(out + p + 10, (unsigned)other_len);
    p += 12;
    if (other_len > 0)
        memcpy(out + p, other, other_len);
    return p + other_len;
}

int tsig_sign(const struct tsig_key *k, uint8_t *msg, size_t *len, size_t cap, int64_t now,
              uint8_t *mac)
{
    uint8_t vars[TSIG_RR_MAX];
    size_t vlen, p = *len;
    gnutls_hmac_hd_t h = NULL;

    if (*len < HDR || cap - *len < TSIG_RR_MAX || get16(msg + 10) == 0xffff)
        return -1;
    vlen = variables(k, now, TSIG_FUDGE, 0, NULL, 0, vars);
    if (gnutls_hmac_init(&h, (gnutls_mac_algorithm_t)k->mac, k->secret, k->secret_len) != 0)
        return -1;
    if (gnutls_hmac(h, msg, *len) != 0 || gnutls_hmac(h, vars, vlen) != 0) {
        gnutls_hmac_deinit(h, NULL);
        return -1;
    }
    gnutls_hmac_deinit(h, mac);
    /* owner, type, class, TTL, RDLENGTH */
    memcpy(msg + p, k->name, k->name_len);
    p += k->name_len;
    put16(msg + p, TSIG_TYPE);
    put16(msg + p + 2, CLASS_ANY);
    memset(msg + p + 4, 0, 4);
    put16(msg + p + 8, (unsigned)(k->alg_len + 16 + k->mac_len));
    p += 10;
    /* algorithm, time, fudge, MAC size, MAC, original ID, error, other length */
    memcpy(msg + p, k->alg, k->alg_len);
    p += k->alg_len;
    put48(msg + p, now);
    put16(msg + p + 6, TSIG_FUDGE);
    put16(msg + p + 8, (unsigned)k->mac_len);
    p += 10;
    memcpy(msg + p, mac, k->mac_len);
    p += k->mac_len;
    memcpy(msg + p, msg, 2);
    put16(msg + p + 2, 0);
    put16(msg + p + 4, 0);
    p += 6;
    put16(msg + 10, get16(msg + 10) + 1);
    *len = p;
    return 0;
}

/* Reads the (possibly compressed) name at *pos into canonical wire form in
 * out (TSIG_NAME_MAX) and moves *pos past it. Returns 0 or -1. */
static int read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out, size_t *out_len)
{
    size_t p = *pos, o = 0, end = 0;
    int jumps = 0;

    for (;;) {
        if (p >= len)
            return -1;
        unsigned l = msg[p];
        if ((l & 0xc0) == 0xc0) {
            if (p + 1 >= len || ++jumps > 32)
                return -1;
            if (end == 0)
                end = p + 2;
            p = (l & 0x3f) << 8 | msg[p + 1];
            continue;
        }
        if ((l & 0xc0) != 0 || p + 1 + l > len || o + 1 + l > TSIG_NAME_MAX)
            return -1;
        out[o++] = (uint8_t)l;
        for (unsigned i = 0; i < l; i++) {
            uint8_t c = msg[p + 1 + i];
            out[o++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        p += 1 + l;
        if (l == 0)
            break;
    }
    *pos = end != 0 ? end : p;
    *out_len = o;
    return 0;
}

/* Offset of the last additional record (the TSIG RR), or 0. */
static size_t last_rr(const uint8_t *msg, size_t len)
{
    size_t p = HDR, start = 0, nlen;
    unsigned qd = get16(msg + 4);
    unsigned rrs = get16(msg + 6) + get16(msg + 8) + get16(msg + 10);
    uint8_t name[TSIG_NAME_MAX];

    for (unsigned i = 0; i < qd; i++) {
        if (read_name(msg, len, &p, name, &nlen) != 0 || p + 4 > len)
            return 0;
        p += 4;
    }
    for (unsigned i = 0; i < rrs; i++) {
        start = p;
        if (read_name(msg, len, &p, name, &nlen) != 0 || p + 10 > len ||
            p + 10 + get16(msg + p + 8) > len)
            return 0;
        p += 10 + get16(msg + p + 8);
    }
    return p == len ? start : 0;
}

enum tsig_verdict tsig_verify(const struct tsig_key *k, const uint8_t *msg, size_t len,
                              const uint8_t *req_mac, int64_t now, int *server_error)
{
    uint8_t name[TSIG_NAME_MAX], alg[TSIG_NAME_MAX], vars[TSIG_RR_MAX + 256], hdr[HDR];
    uint8_t want[TSIG_MAC_MAX], prefix[2];
    size_t start, p, nlen, alen, rdend, mac_size, other_len, vlen;
    const uint8_t *mac, *other;
    int64_t signed_at;
    unsigned fudge;
    gnutls_hmac_hd_t h = NULL;

    *server_error = 0;
    if (len < HDR || get16(msg + 10) == 0)
        return TSIG_UNSIGNED;
    start = last_rr(msg, len);
    if (start == 0)
        return TSIG_BAD_MAC;
    p = start;
    if (read_name(msg, len, &p, name, &nlen) != 0)
        return TSIG_BAD_MAC;
    if (get16(msg + p) != TSIG_TYPE)
        return TSIG_UNSIGNED;
    rdend = p + 10 + get16(msg + p + 8);
    p += 10;
    if (get16(msg + p - 8) != CLASS_ANY || read_name(msg, rdend, &p, alg, &alen) != 0 ||
        p + 10 > rdend)
        return TSIG_BAD_MAC;
    signed_at = get48(msg + p);
    fudge = get16(msg + p + 6);
    mac_size = get16(msg + p + 8);
    p += 10;
    if (p + mac_size + 6 > rdend)
        return TSIG_BAD_MAC;
    mac = msg + p;
    p += mac_size;
    memcpy(hdr, msg, HDR);
    memcpy(hdr, msg + p, 2); /* original ID */
    put16(hdr + 10, get16(msg + 10) - 1);
    *server_error = (int)get16(msg + p + 2);
    other_len = get16(msg + p + 4);
    other = msg + p + 6;
    if (p + 6 + other_len != rdend || other_len > 256)
        return TSIG_BAD_MAC;
    if (nlen != k->name_len || memcmp(name, k->name, nlen) != 0 || alen != k->alg_len ||
        memcmp(alg, k->alg, alen) != 0)
        return TSIG_BAD_MAC;
    if (*server_error != 0)
        return TSIG_SERVER_ERR;
    if (mac_size != k->mac_len)
        return TSIG_BAD_MAC;
    vlen = variables(k, signed_at, fudge, 0, other, other_len, vars);
    put16(prefix, (unsigned)k->mac_len);
    if (gnutls_hmac_init(&h, (gnutls_mac_algorithm_t)k->mac, k->secret, k->secret_len) != 0)
        return TSIG_BAD_MAC;
    if (gnutls_hmac(h, prefix, 2) != 0 || gnutls_hmac(h, req_mac, k->mac_len) != 0 ||
        gnutls_hmac(h, hdr, HDR) != 0 || gnutls_hmac(h, msg + HDR, start - HDR) != 0 ||
        gnutls_hmac(h, vars, vlen) != 0) {
        gnutls_hmac_deinit(h, NULL);
        return TSIG_BAD_MAC;
    }
    gnutls_hmac_deinit(h, want);
    if (gnutls_memcmp(want, mac, k->mac_len) != 0)
        return TSIG_BAD_MAC;
    if (now - signed_at > (int64_t)fudge || signed_at - now > (int64_t)fudge)
        return TSIG_BAD_TIME;
    return TSIG_VALID;
}
