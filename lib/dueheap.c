/*
 * dueheap.c - the indexed min-heap of due times (dueheap.h).
 */
#include <stdlib.h>

#include "dueheap.h"

static void place(struct dueheap *h, size_t i, struct dueheap_ent e)
{
    h->v[i] = e;
    *e.slot = i + 1;
}

static void sift_up(struct dueheap *h, size_t i)
{
    struct dueheap_ent e = h->v[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p].due <= e.due)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, e);
}

static void sift_down(struct dueheap *h, size_t i)
{
    struct dueheap_ent e = h->v[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].due < h->v[c].due)
            c++;
        if (e.due <= h->v[c].due)
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, e);
}

int dueheap_set(struct dueheap *h, void *item, size_t *slot, int64_t due)
{
    size_t i;

    if (*slot != 0) {
        i = *slot - 1;
        h->v[i].due = due;
        sift_up(h, i);
        sift_down(h, *slot - 1);
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct dueheap_ent *v = realloc(h->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    i = h->n++;
    h->v[i].due = due;
    h->v[i].item = item;
    h->v[i].slot = slot;
    sift_up(h, i);
    return 0;
}

void dueheap_remove(struct dueheap *h, size_t *slot)
{
    size_t i;

    if (*slot == 0)
        return;
    i = *slot - 1;
    *slot = 0;
    h->n--;
    if (i == h->n)
        return;
    {
        size_t *moved = h->v[h->n].slot;

        place(h, i, h->v[h->n]);
        sift_up(h, i);
        sift_down(h, *moved - 1);
    }
}

const struct dueheap_ent *dueheap_top(const struct dueheap *h)
{
    return h->n > 0 ? &h->v[0] : NULL;
}

void *dueheap_pop_due(struct dueheap *h, int64_t now)
{
    void *item;

    if (h->n == 0 || h->v[0].due > now)
        return NULL;
    item = h->v[0].item;
    dueheap_remove(h, h->v[0].slot);
    return item;
}

void dueheap_free(struct dueheap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
