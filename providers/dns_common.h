/*
 * dns_common.h - helpers shared by the DNS-01 provider implementations
 * (internal to providers/; the public contract is dns.h).
 */
#ifndef AUTOCERT_PROVIDERS_DNS_COMMON_H
#define AUTOCERT_PROVIDERS_DNS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

/* Value of option `key` (last one wins), borrowed from opts; NULL if absent. */
const char *dns_opt_get(const struct dns_option *opts, size_t n, const char *key);

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

/* Maximum length of an option key that is examined (longer keys are unknown). */
#define DNS_OPTION_KEY_MAX 64

#endif
