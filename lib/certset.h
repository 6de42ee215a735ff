/*
 * certset.h - loading one certificate set's pair (chain + key) into a handle.
 *
 * Reads cert_path (PEM chain, leaf first) and key_path (PEM or DER; PKCS#8,
 * PKCS#1 or SEC1), checks that the key belongs to the leaf, and builds an
 * autocert_cert. A commit interrupted by a crash is completed or rolled back
 * first, but only when no writer holds the set's lock
 * (store_pair_recover_if_idle); beside a running commit the committed pair is
 * read (store_pair_read) and nothing on disk is changed.
 */
#ifndef AUTOCERT_CERTSET_H
#define AUTOCERT_CERTSET_H

#include <stddef.h>

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"

/* Upper bounds on what is read from disk. */
#define CERTSET_CHAIN_MAX (1024 * 1024)
#define CERTSET_KEY_MAX (64 * 1024)

struct store_scan;
struct store_pair_seen;
/* flags of certset_load: CERTSET_DEFER_KEY_CHECK loads the key without its
 * consistency check (its public part is still compared with the leaf's) and
 * marks the handle (cert.h, cert_key_check): for a batch whose keys are
 * checked once serving has started. */
#define CERTSET_DEFER_KEY_CHECK 1u

/* Loads set s (index set_id) from disk. Returns 0 with a new handle in *out
 * (one reference), 1 when both files are absent (*out NULL, not an error), or
 * -1 with e filled: one of the two files missing, unreadable, not a regular
 * file, unparsable, or a key that does not match the leaf (when it matches
 * another certificate of the chain: "certificate chain in <path> is not leaf
 * first: ... matches certificate #N of M"). The message names the path, never
 * key material. Safe beside a writer of the same set in this or another
 * process. Within a batch, directory listings come from scan (store.h,
 * store_scan; NULL: read per set). seen (may be NULL) gets what the last
 * read saw (store.h, store_pair_seen: the files' stats and the journal; a
 * recovery that ran first is not in it). */
int certset_load(const struct config_set *s, int set_id, struct store_scan *scan,
                 struct store_pair_seen *seen, unsigned flags, autocert_cert **out,
                 struct ac_error *e);
/* certset_load without the recovery step (and without a batch): reads the
 * pair as committed and never removes a staged file. For a local set's
 * file-change notification: the user's own tools may be writing `<cert>.new`
 * files at that moment, which a recovery would take for a crashed commit's
 * and remove. */
int certset_read(const struct config_set *s, int set_id, struct store_pair_seen *seen,
                 autocert_cert **out, struct ac_error *e);

/* Builds a handle from a pair in memory (same checks as certset_load). Copies
 * the data. Returns 0 and a new handle, or -1 with e filled. */
int certset_from_memory(const char *set_name, int set_id, const void *chain_pem, size_t chain_len,
                        const void *key, size_t key_len, autocert_cert **out, struct ac_error *e);

#endif
