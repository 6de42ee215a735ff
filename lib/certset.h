/*
 * certset.h - loading one certificate set's pair (chain + key) into a handle.
 *
 * Reads cert_path (PEM chain, leaf first) and key_path (PEM or DER; PKCS#8,
 * PKCS#1 or SEC1), checks that the key belongs to the leaf, and builds an
 * autocert_cert. Runs store_pair_recover first so a commit interrupted by a
 * crash is completed or rolled back before anything is read.
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

/* Loads set s (index set_id) from disk. Returns 0 with a new handle in *out
 * (one reference), 1 when both files are absent (*out NULL, not an error), or
 * -1 with e filled: one of the two files missing, unreadable, unparsable, or a
 * key that does not match the leaf. The message names the set and the path,
 * never key material. */
int certset_load(const struct config_set *s, int set_id, autocert_cert **out,
                 struct ac_error *e);

/* Builds a handle from a pair in memory (same checks as certset_load). Copies
 * the data. Returns 0 and a new handle, or -1 with e filled. */
int certset_from_memory(const char *set_name, int set_id, const void *chain_pem,
                        size_t chain_len, const void *key, size_t key_len,
                        autocert_cert **out, struct ac_error *e);

#endif
