/* sni.h - the SNI index: maps a TLS server name to the certificate set that
 * serves it (DESIGN.md §5.2). Pure: no I/O, no locks, no allocation per lookup.
 *
 * Rules: names are normalised (trim spaces/tabs, drop one trailing dot, ASCII
 * lowercase); an exact name of any set beats any wildcard; "*.x.y" covers exactly
 * one more label in front of x.y (never x.y, never a.b.x.y); the first writer of a
 * name or of a wildcard suffix wins. Fallback to main is the caller's job.
 *
 * Structure. Conceptually a suffix tree of labels keyed from the right; a node is
 * (parent node, label) and carries an "exact" mark (set id) and/or a "wildcard"
 * mark (set id for one label below it):
 *
 *            (root)
 *              |
 *            "com"
 *           /      \
 *     "example"   "test"          main: *.example.com, e1: foo.example.com
 *      W=main       |             e2: *.test.com
 *        |        W=e2
 *      "foo"
 *      E=e1
 *
 * Since "*." covers exactly one label, a lookup only ever needs two nodes: the
 * leaf (whole name, exact mark) and its parent (the name minus its first label,
 * wildcard mark). So the tree is flattened into two hash tables: the suffix
 * table holds every parent node that matters (the suffix after the first dot
 * of every exact name, and every wildcard suffix; wildcard mark or unmarked),
 * the exact table holds each exact name as its first label plus a reference to
 * its suffix's entry (names without a dot: the whole name, no reference). A
 * lookup finds the suffix (whole compare) and then the exact entry with the
 * same first label and that reference, so a shared suffix is stored once.
 * Keys are functions of the bytes alone: a suffix's of its first and last 16
 * bytes (and the blocks between past 32 bytes), an exact name's of its first
 * label and its suffix's key; fixed loads, no loop for names up to 32 bytes.
 *
 * A lookup of a name of 16..128 bytes that is already normal (no upper case,
 * nothing to trim: checked 16 bytes at a time) works on the caller's bytes
 * without a copy; any other name is normalised into a stack buffer first.
 *
 * Each table is one byte array of entries with their bytes inline, grouped by
 * home line (a key picks one of nl 64-byte lines; nl is set for 32 (exact) or
 * 48 (suffix table) entry bytes a line), plus a 16-bit offset per line:
 *
 *   dir   [ 0 | 5 | 0 | 21 | ... ]       group k = data[start(k) .. start(k + 1))
 *   data  | line 0       | line 1       | line 2       | ...
 *           len fp set(i32) [sref(u32)] bytes | len fp set ...
 *
 * start(k) = 64k + dir[k]: a group starts in its own line unless the groups
 * before it spilled over (an offset past 16 bits, only when long names pile up
 * in a few lines, goes to a sorted side list), so a lookup fetches line k
 * while it reads the directory (2 bytes a line: cache-resident): about one
 * memory access per table, both tables' lines in flight at once. fp is 8 more key bits; the whole
 * bytes are compared, so key collisions never give a wrong answer. Big arrays are advised for
 * transparent huge pages.
 */
#ifndef AUTOCERT_SNI_H
#define AUTOCERT_SNI_H

#include <stdbool.h>
#include <stddef.h>

#define SNI_MAX_NAME 253

/* Normalises a server name: trims spaces/tabs at both ends, drops ONE trailing
 * dot, lowercases ASCII. Returns the normalised length (out is NUL-terminated,
 * room for SNI_MAX_NAME + 1), or -1 when the result counts as "no SNI": empty, an
 * empty label ("a..b", ".a", "a.."), or over 253 bytes. `in` need not be
 * NUL-terminated; it may be NULL when len is 0. Thread-safe. */
int sni_normalize(const char *in, size_t len, char out[SNI_MAX_NAME + 1]);

struct sni_builder;
struct sni_index; /* immutable once built; safe to read from any number of threads */

/* Returns a new builder, free with sni_builder_finish or sni_builder_free; NULL
 * on ENOMEM. */
struct sni_builder *sni_builder_new(void);

/* Adds a name for set `set_id` (>= 0); copies the name. The name is normalised;
 * "*.rest" indexes `rest` as a wildcard suffix; any other name (including "*",
 * "a*.x.com", "foo.*.x.com") is an exact name. First writer wins: a name or
 * suffix already added keeps its first set. Returns 0, or -1 (name counts as no
 * SNI, set_id < 0, too many names (> 16M) or ENOMEM). */
int sni_builder_add(struct sni_builder *b, const char *name, size_t len, int set_id);

/* Finishes: returns the immutable index (free with sni_index_free) and frees the
 * builder (NULL on ENOMEM; the builder is freed either way). */
struct sni_index *sni_builder_finish(struct sni_builder *b);

/* Abandons a builder. NULL does nothing. */
void sni_builder_free(struct sni_builder *b);

/* NULL does nothing. */
void sni_index_free(struct sni_index *ix);

/* Looks up a raw server name (normalised here: the whole public lookup). Returns
 * the set id, or -1 for "no match" (also for no SNI, or ix NULL). Exact names of
 * any set beat wildcards; "*.x.y" matches exactly one more label in front of x.y
 * (never x.y itself, never a.b.x.y). No allocation, no lock. */
int sni_index_lookup(const struct sni_index *ix, const char *name, size_t len);

/* Names indexed (distinct exact names plus distinct wildcard suffixes). */
size_t sni_index_count(const struct sni_index *ix);

/* True when the configured name `pattern` covers the server name `name` with
 * the index's rules, without building an index: equal (ASCII case-insensitive),
 * or pattern "*.x.y" and name exactly one label more than "x.y". For the CLI
 * and the admin API, which select sets by domain. */
bool sni_pattern_covers(const char *pattern, const char *name);

/* ---- local addresses (RFC 8738 certificates, handshakes without SNI) ---- */

/* The IP SANs of the certificates served -> set id: a sorted array, built once
 * per snapshot (sni_addrs_add in set order, then sni_addrs_finish) and read
 * without a lock from any number of threads afterwards. Addresses are raw
 * network-order bytes, 4 (IPv4) or 16 (IPv6); an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) counts as IPv4 on both sides. The first set to add an
 * address keeps it. No limit but memory. */
struct sni_addr {
    unsigned char addr[16];
    unsigned char len; /* 4 or 16 */
    int set_id;
};
struct sni_addrs {
    struct sni_addr *v;
    size_t n, cap;
};

/* Adds addr (len 4 or 16) for set_id. Returns 0, or -1 (bad length,
 * set_id < 0, ENOMEM). */
int sni_addrs_add(struct sni_addrs *a, const void *addr, size_t len, int set_id);
/* Sorts and drops later duplicates. Call once after the last add. */
void sni_addrs_finish(struct sni_addrs *a);
/* The set id whose certificate covers addr (len 4 or 16), or -1. No
 * allocation, no lock; a NULL or empty a gives -1. */
int sni_addrs_lookup(const struct sni_addrs *a, const void *addr, size_t len);
/* Frees the array (a itself is the caller's); NULL does nothing. */
void sni_addrs_free(struct sni_addrs *a);

#endif
