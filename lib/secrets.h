/*
 * secrets.h - the process-wide registry of configured secret values, and the
 * scrubber that removes them from text before it is stored or emitted.
 *
 * config_load() registers the secrets of every configuration it returns (one
 * group per struct config; config_free() removes it, so reloads never
 * accumulate values). ac_error_vset() / ac_error_prefix() and ac_log() scrub
 * every message, so an error kept in memory, written to a state file, answered
 * by the admin API, posted to the webhook or logged cannot carry a registered
 * value, whatever a CA or a DNS API echoed back.
 *
 * A value is found in each form a request may have carried it in:
 *   - raw bytes;
 *   - URL-encoded (%XX in either hex case, '+' for a space), JSON-escaped
 *     (\uXXXX, \" \\ \/ \b \f \n \r \t) or escaped by ac_text_sanitize (\xNN),
 *     in any mix within one occurrence (decoding is greedy: a byte that is
 *     both an escape start and part of the value is tried as the escape
 *     first, then as itself);
 *   - base64 and base64url of the value, also inside a longer encoded blob
 *     (HTTP Basic's "user:password"): the characters that depend on the value
 *     alone, at each of the three byte alignments.
 * Each occurrence becomes SECRETS_MASK. An occurrence cut short by the end of
 * the text (a truncated body snippet) is masked once SECRETS_MIN_LEN bytes of
 * it are there.
 *
 * Values shorter than SECRETS_MIN_LEN bytes are never registered: "true" or a
 * port number as a "secret" would shred every message (secrets_worth() says
 * which option values are skipped).
 *
 * Thread-safe: registration takes a write lock, scrubbing a read lock; with no
 * value registered scrubbing is a copy and takes no lock.
 */
#ifndef AUTOCERT_SECRETS_H
#define AUTOCERT_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#define SECRETS_MIN_LEN 4
#define SECRETS_MASK "[redacted]"
/* Longest value registered; longer ones are registered by their first
 * SECRETS_MAX_LEN bytes (which is what a message can hold anyway). */
#define SECRETS_MAX_LEN 4096

/* Registers values[0..n) (NULL entries and values shorter than
 * SECRETS_MIN_LEN are skipped) as the group of `owner`, replacing an earlier
 * group of the same owner. Copies the values. Returns 0, or -1 on ENOMEM (the
 * registry is then unchanged). */
int secrets_register(const void *owner, const char *const *values, size_t n);

/* Removes owner's group (nothing when it has none). The copies are wiped. */
void secrets_unregister(const void *owner);

/* Copies src[0..len) into dst (size dstsize, NUL-terminated when dstsize > 0)
 * with every registered value replaced by SECRETS_MASK. Output that does not
 * fit is cut. Returns the number of bytes written, without the NUL. dst and
 * src must not overlap. */
size_t secrets_scrub(char *dst, size_t dstsize, const char *src, size_t len);

/* Scrubs the NUL-terminated text in buf (size bytes) in place. Returns true
 * when something was replaced. */
bool secrets_scrub_inplace(char *buf, size_t size);

/* True when a configuration value under `key` (an option name, or NULL for
 * eab_hmac, tokens and header values) is worth registering: at least
 * SECRETS_MIN_LEN bytes, and for options not a plain number, boolean or
 * duration, not one of the common non-secret settings (ttl,
 * propagation_timeout, polling_interval, http_timeout, sequence_interval,
 * dns_resolvers, follow_cname) and not a file path (a key ending in "_file":
 * the secret is in the file). */
bool secrets_worth(const char *key, const char *value);

/* Number of distinct values registered (for tests). */
size_t secrets_count(void);

#endif
