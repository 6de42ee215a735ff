/* propagation.c - DNS-01 propagation check (work in progress). */
#include "dns.h"

int dns_propagation_wait(const char *fqdn, const char *value, const char *const *resolvers,
                         size_t resolver_count, int64_t timeout_ms, int64_t interval_ms,
                         struct ac_error *e)
{
    ac_error_set(e, AC_ERR_DNS_PROPAGATION, "propagation check not implemented yet");
    return -1;
}
