/*
 * propagation.h - the propagation check's full form (internal to providers/
 * and the tests; lib/ calls dns_propagation_wait, lib/dns_provider.h).
 */
#ifndef AUTOCERT_PROVIDERS_PROPAGATION_H
#define AUTOCERT_PROVIDERS_PROPAGATION_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* dns_propagation_wait with the servers the zone discovery starts from when
 * no resolvers are given: bootstrap (bootstrap_count 0: /etc/resolv.conf).
 * With resolvers, bootstrap is not used. dns_propagation_wait is this with
 * no bootstrap. */
int dns_propagation_wait_from(const char *fqdn, const char *value, const char *const *resolvers,
                              size_t resolver_count, const char *const *bootstrap,
                              size_t bootstrap_count, int64_t timeout_ms, int64_t interval_ms,
                              struct ac_error *e);

#endif
