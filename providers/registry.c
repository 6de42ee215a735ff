/*
 * registry.c - lookup of DNS-01 providers by config name (see lib/dns_provider.h).
 *
 * The table is generated from DNS_PROVIDER_LIST in registry.h, so adding a
 * provider never touches this file. Lookup is case-sensitive, as GoDoxy's, and
 * accepts each provider's alias. The table is constant: thread-safe.
 */
#include <string.h>

#include "dns_provider.h"
#include "registry.h"

#define DNS_PROVIDER_ENTRY(n) &dns_##n##_ops,
static const struct dns_provider_ops *const registry[] = {
    DNS_PROVIDER_LIST(DNS_PROVIDER_ENTRY) NULL,
};
#undef DNS_PROVIDER_ENTRY

const struct dns_provider_ops *dns_provider_find(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return NULL;
    for (size_t i = 0; registry[i] != NULL; i++) {
        const struct dns_provider_ops *ops = registry[i];
        if (strcmp(ops->name, name) == 0)
            return ops;
        if (ops->alias != NULL && strcmp(ops->alias, name) == 0)
            return ops;
    }
    return NULL;
}

const struct dns_provider_ops *const *dns_provider_list(void)
{
    return registry;
}
