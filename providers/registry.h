/*
 * registry.h - the list of DNS-01 providers compiled into libautocert.
 *
 * Adding a provider is one line here: X(<name>) declares
 * `extern const struct dns_provider_ops dns_<name>_ops;` (defined in
 * providers/<name>.c) and adds it to the table in registry.c, in this order.
 * The order is the order of dns_provider_list().
 */
#ifndef AUTOCERT_PROVIDERS_REGISTRY_H
#define AUTOCERT_PROVIDERS_REGISTRY_H

#include "dns_provider.h"

#define DNS_PROVIDER_LIST(X) \
    X(challtestsrv)          \
    X(exec)                  \
    X(httpreq)               \
    X(dnsupdate)             \
    X(route53)               \
    X(digitalocean)          \
    X(hetzner)               \
    X(duckdns)               \
    X(cloudflare)            \
    X(porkbun)               \
    X(desec)                 \
    X(linode)                \
    X(vultr)                 \
    X(godaddy)               \
    X(ovh)                   \
    X(gcloud)                \
    X(azuredns)

#define DNS_PROVIDER_DECLARE(n) extern const struct dns_provider_ops dns_##n##_ops;
DNS_PROVIDER_LIST(DNS_PROVIDER_DECLARE)
#undef DNS_PROVIDER_DECLARE

#endif
