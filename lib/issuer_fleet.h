/*
 * issuer_fleet.h - what issuer.c does with a shared store (PostgreSQL,
 * storage.h): the set's lease around the order, kept alive while it runs; a
 * pair another node committed meanwhile adopted instead of ordering; every
 * write fenced by the lease; the local files kept as a cache written after
 * the store accepted the write.
 *
 * With the file store (or no store) these functions do what issuer.c always
 * did: the set's flock, the failure marker file, store_pair_commit.
 */
#ifndef AUTOCERT_ISSUER_FLEET_H
#define AUTOCERT_ISSUER_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "storage.h"

struct storage_keeper;

/* What one obtain holds. */
struct fleet_hold {
    struct storage *st; /* borrowed; NULL: files only */
    bool shared;        /* st is not the file store */
    struct storage_ref ref;
    struct store_lock *lock; /* the local flock (always) */
    struct storage_lease *lease;
    struct storage_keeper *keeper;
};

/* True when st is a store other nodes share (not NULL, not "files"). */
bool fleet_shared(const struct storage *st);

/* Takes the set's local lock and, with a shared store, its lease (kept
 * alive every lease_ttl/3 until fleet_release). AC_ERR_LOCKED when another
 * process or node holds either. */
int fleet_acquire(struct fleet_hold *h, struct storage *st, const struct config_set *set,
                  int lease_ttl_s, struct ac_error *e);
void fleet_release(struct fleet_hold *h);

/* With a shared store: when the store holds a pair for exactly the set's
 * names that ends after have_not_after and is valid now, writes it to the
 * set's files and returns 1 (*not_after, serial filled): no order needed.
 * 0 when not; -1 on an error worth failing for (e). */
int fleet_adopt(struct fleet_hold *h, const struct config_set *set, int64_t have_not_after,
                int64_t *not_after, char *serial, size_t serial_n, struct ac_error *e);

/* The failure marker: written (start of an order) or removed (success) in
 * the files and, with a shared store, its row (fenced). */
int fleet_marker_put(struct fleet_hold *h, const struct config_set *set, int64_t t,
                     struct ac_error *e);
void fleet_marker_clear(struct fleet_hold *h, const struct config_set *set);

/* Commits the new pair: to the shared store first (fenced: AC_ERR_FENCED
 * when the lease went to another holder; nothing is written then), then to
 * the set's files. */
int fleet_commit(struct fleet_hold *h, const struct config_set *set, const char *chain,
                 size_t chain_len, const char *key, size_t key_len, int64_t not_after,
                 struct ac_error *e);

/* Keeps a lease alive on a thread of its own (renewed every period_ms) until
 * stopped; stop returns true when a renewal found the lease granted to
 * another holder. */
int storage_keeper_start(struct storage *st, struct storage_lease *lease, int period_ms,
                         struct storage_keeper **out, struct ac_error *e);
bool storage_keeper_stop(struct storage_keeper *k);

#endif
