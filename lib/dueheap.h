/*
 * dueheap.h - an indexed binary min-heap of (due time, item): the engine's
 * one timer structure. Each item carries its own slot (its index + 1, 0 when
 * not in the heap), so moving or removing an item is O(log n) and the
 * scheduler finds the next due time in O(1) whatever the number of sets.
 * No locks: the caller serialises (the engine mutex).
 */
#ifndef AUTOCERT_DUEHEAP_H
#define AUTOCERT_DUEHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dueheap_ent {
    int64_t due;
    void *item;   /* borrowed */
    size_t *slot; /* the item's own index + 1 (0: not in the heap) */
};

struct dueheap {
    struct dueheap_ent *v;
    size_t n, cap;
};

/* Puts item (slot: its slot field) at due, or moves it there when it is in
 * the heap already. Returns 0, or -1 on ENOMEM (the heap is unchanged). */
int dueheap_set(struct dueheap *h, void *item, size_t *slot, int64_t due);
/* Removes item (slot as above); nothing when it is not in the heap. */
void dueheap_remove(struct dueheap *h, size_t *slot);
/* The earliest entry, or NULL when empty (borrowed until the next change). */
const struct dueheap_ent *dueheap_top(const struct dueheap *h);
/* Removes and returns the earliest item when its due time is <= now, else
 * NULL. */
void *dueheap_pop_due(struct dueheap *h, int64_t now);
/* Frees the array. Items are borrowed and their slots left as they are (the
 * items may be gone already). */
void dueheap_free(struct dueheap *h);

#endif
