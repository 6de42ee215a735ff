/*
 * dns_zone.h - DNS look-ups the DNS-01 providers share: parsing a server
 * address, building an ldns resolver for given servers, finding the zone that
 * holds a name (SOA walk, following a CNAME on _acme-challenge), and finding a
 * zone's authoritative nameservers (NS, then their addresses).
 *
 * Server strings are "host", "host:port", "[v6]:port" or a bare IPv6 literal
 * (lib/hostport.h, port 53 by default). Host names are resolved with
 * getaddrinfo.
 *
 * With no servers given (n == 0), the system resolver from /etc/resolv.conf is
 * used. All functions are thread-safe (no shared state).
 */
#ifndef AUTOCERT_DNS_ZONE_H
#define AUTOCERT_DNS_ZONE_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Returns 0 and a new resolver (ldns_resolver_deep_free it) that asks exactly
 * `servers` (recursion desired, `timeout_ms` per try, one retry), or the
 * /etc/resolv.conf servers when n == 0. Errors: AC_ERR_CONFIG for a malformed
 * server, AC_ERR_DNS_QUERY when a name does not resolve. */
int dns_zone_resolver_new(const char *const *servers, size_t n, int64_t timeout_ms,
                          ldns_resolver **out, struct ac_error *e);

/* Finds the zone that holds `fqdn` (no trailing dot needed). A CNAME at fqdn
 * (or a chain, up to 8 hops) is followed first; *target_fqdn is the name the
 * TXT record really belongs at (fqdn itself without a CNAME). The zone is the
 * owner of the SOA record the servers return for the name (answer or
 * authority section), walking up one label at a time when they return none.
 * Both outputs are new strings without trailing dot, lowercase (free them).
 * Errors: AC_ERR_DNS_QUERY naming the server and the name. */
int dns_find_zone(const char *fqdn, const char *const *resolvers, size_t n, int64_t timeout_ms,
                  char **zone, char **target_fqdn, struct ac_error *e);

/* Finds the authoritative nameservers of `zone`: its NS records, then each
 * name's A and AAAA records (from the additional section, else asked for).
 * Returns 0 and *servers, a new array of *count new strings (addresses, IPv6
 * bare; free with dns_zone_strv_free), at least one. Names whose addresses
 * cannot be found are skipped with a warning. */
int dns_authoritative_servers(const char *zone, const char *const *resolvers, size_t n,
                              int64_t timeout_ms, char ***servers, size_t *count,
                              struct ac_error *e);

void dns_zone_strv_free(char **v, size_t n);

/* Zone discovery for the propagation check (no waiting, no polling):
 * dns_find_zone of fqdn (following a CNAME), then dns_authoritative_servers
 * of that zone, both asking `bootstrap` (n == 0: /etc/resolv.conf) with
 * timeout_ms per try. Returns 0 with *zone and *target (new strings: the zone
 * and the name the record really lives at) and *servers / *count (as
 * dns_authoritative_servers gives them), or -1 with e set and every output
 * NULL / 0. */
int dns_zone_authoritative(const char *fqdn, const char *const *bootstrap, size_t n,
                           int64_t timeout_ms, char **zone, char **target, char ***servers,
                           size_t *count, struct ac_error *e);

#endif
