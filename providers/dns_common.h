/*
 * dns_common.h - helpers shared by the DNS-01 provider implementations
 * (internal to providers/; the interface is lib/dns_provider.h).
 */
#ifndef AUTOCERT_PROVIDERS_DNS_COMMON_H
#define AUTOCERT_PROVIDERS_DNS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_provider.h"

/* Value of option `key` (last one wins), borrowed from opts; NULL if absent. */
const char *dns_opt_get(const struct dns_option *opts, size_t n, const char *key);

/* Option `key` as a boolean (lib/words.h: true/yes/on/1, false/no/off/0,
 * case-insensitive; absent or empty gives dflt). Returns 0 with *out, or -1
 * with AC_ERR_CONFIG "DNS provider <provider>: option <key>: expected true or
 * false" (the value is not shown). */
int dns_opt_bool(const char *provider, const struct dns_option *opts, size_t n, const char *key,
                 bool dflt, bool *out, struct ac_error *e);

/* True when `key` is one of dns_common_options. */
bool dns_is_common_option(const char *key);

/* Fills *out with the defaults, then applies the common keys found in opts
 * (other keys are ignored). Errors (AC_ERR_CONFIG) name `provider` and the key,
 * never the value. */
int dns_settings_parse(const char *provider, const struct dns_option *opts, size_t n,
                       struct dns_settings *out, struct ac_error *e);

/* Checks a DNS answer in wire format (len bytes, bounded by the caller) for a
 * TXT record equal to value (character strings concatenated). Returns 1 when
 * found, 0 when not, -1 when the message does not parse; desc (desclen bytes,
 * always NUL-terminated) says what was answered ("NXDOMAIN", "NOERROR with
 * values [...]"). For the fuzz target and tests; propagation.c uses the same
 * check. */
int dns_txt_answer_check_wire(const uint8_t *wire, size_t len, const char *value, char *desc,
                              size_t desclen);

struct http_response;

/* A printable, bounded (at most outlen-1 bytes, default 160) excerpt of a
 * response body for error messages. */
void dns_http_snippet(const struct http_response *resp, char *out, size_t outlen);

/* Sets e for a non-2xx answer of a provider's API: 401/403 give AC_ERR_DNS_AUTH
 * with a hint naming `auth_options` (e.g. "username/password"), 429 gives
 * AC_ERR_DNS_RATE_LIMITED, others AC_ERR_DNS_PROVIDER; the message has the
 * status and a body snippet; e->http_status is set. */
void dns_http_status_error(const struct http_response *resp, const char *what,
                           const char *auth_options, struct ac_error *e);

/* Maximum length of an option key that is examined (longer keys are unknown). */
#define DNS_OPTION_KEY_MAX 64

#endif
