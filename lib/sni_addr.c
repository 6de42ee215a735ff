/* sni_addr.c - the local-address index (sni.h): IP SANs of the certificates
 * served, for handshakes without SNI (RFC 8738). A sorted array searched by
 * bisection: a handful of entries in practice, any number in principle. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sni.h"

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The canonical form of addr: IPv4-mapped IPv6 becomes IPv4. Returns the
 * length (4 or 16) with the bytes in out, or 0 for a bad length. */
static size_t canon(const void *addr, size_t len, unsigned char out[16])
{
    if (addr == NULL || (len != 4 && len != 16))
        return 0;
    if (len == 16 && memcmp(addr, v4_mapped, sizeof v4_mapped) == 0) {
        memcpy(out, (const unsigned char *)addr + 12, 4);
        return 4;
    }
    memcpy(out, addr, len);
    return len;
}

/* Order: length, then bytes. */
static int key_cmp(const unsigned char *a, size_t alen, const struct sni_addr *b)
{
    if (alen != b->len)
        return alen < b->len ? -1 : 1;
    return memcmp(a, b->addr, alen);
}

static int entry_cmp(const void *x, const void *y)
{
    const struct sni_addr *a = x, *b = y;
    int c = key_cmp(a->addr, a->len, b);

    if (c != 0)
        return c;
    return a->set_id < b->set_id ? -1 : a->set_id > b->set_id;
}

int sni_addrs_add(struct sni_addrs *a, const void *addr, size_t len, int set_id)
{
    struct sni_addr e = {.set_id = set_id};

    if (set_id < 0 || (len = canon(addr, len, e.addr)) == 0)
        return -1;
    e.len = (unsigned char)len;
    if (a->n == a->cap) {
        size_t cap = a->cap != 0 ? a->cap * 2 : 8;
        struct sni_addr *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(a->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = e;
    return 0;
}

void sni_addrs_finish(struct sni_addrs *a)
{
    size_t w = 0;

    if (a == NULL || a->n == 0)
        return;
    /* set ids rise with the add order, so sorting by them keeps the first */
    qsort(a->v, a->n, sizeof *a->v, entry_cmp);
    for (size_t i = 0; i < a->n; i++)
        if (w == 0 || key_cmp(a->v[i].addr, a->v[i].len, &a->v[w - 1]) != 0)
            a->v[w++] = a->v[i];
    a->n = w;
}

int sni_addrs_lookup(const struct sni_addrs *a, const void *addr, size_t len)
{
    unsigned char k[16];
    size_t lo = 0, hi;

    if (a == NULL || a->n == 0 || (len = canon(addr, len, k)) == 0)
        return -1;
    hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(k, len, &a->v[mid]);
        if (c == 0)
            return a->v[mid].set_id;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

void sni_addrs_free(struct sni_addrs *a)
{
    if (a == NULL)
        return;
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}
