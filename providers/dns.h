/*
 * dns.h - the DNS-01 provider interface, the registry, and the propagation
 * check.
 *
 * A DNS provider publishes and removes TXT values at a name. Writes are
 * append-only: present() adds one value and never replaces what is there, so
 * several values at one name coexist (apex and wildcard of one order are
 * solved together) and cleanup() deletes exactly the value it is given.
 *
 * Each provider declares its option keys (lego's names) so that configuration
 * can be validated before anything runs; every provider also accepts the common
 * keys ttl, propagation_timeout, polling_interval, http_timeout and
 * sequence_interval, which this layer interprets.
 *
 * Option values are secrets: never put them in an error message or a log line.
 */
#ifndef AUTOCERT_DNS_H
#define AUTOCERT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct dns_option {
    const char *key;
    const char *value;
};

struct dns_option_decl {
    const char *key;
    bool required;       /* simple "must be present"; alternatives go in validate() */
};

/* One DNS-01 challenge record. All strings borrowed for the call. */
struct dns_challenge {
    const char *domain;    /* identifier being validated, without "*." */
    const char *fqdn;      /* "_acme-challenge.<domain>", absolute, no trailing dot */
    const char *value;     /* the TXT value: base64url(SHA-256(key_auth)) */
    const char *token;     /* the ACME challenge token (lego's RAW modes need it) */
    const char *key_auth;  /* token "." thumbprint */
};

/* One provider kind. Declared statically by each providers/<name>.c and listed
 * in the registry (providers/registry.c). */
struct dns_provider_ops {
    const char *name;                      /* config name, e.g. "cloudflare" */
    const char *alias;                     /* another accepted name, or NULL */
    const struct dns_option_decl *options; /* own keys, terminated by {NULL} */
    /* Extra checks beyond `required` (alternatives, formats). May be NULL.
     * Called with only declared keys present. Error messages name the provider
     * and the option, never its value. */
    int (*validate)(const struct dns_option *opts, size_t n, struct ac_error *e);
    /* Creates the provider's state from its options (copies what it keeps). */
    int (*create)(const struct dns_option *opts, size_t n, void **state, struct ac_error *e);
    /* Adds TXT ch->value at ch->fqdn, keeping any other values there. */
    int (*present)(void *state, const struct dns_challenge *ch, struct ac_error *e);
    /* Removes exactly that TXT value; absent is success. */
    int (*cleanup)(void *state, const struct dns_challenge *ch, struct ac_error *e);
    void (*destroy)(void *state);
};

/* Registry. Lookup is case-sensitive (as GoDoxy); aliases resolve. */
const struct dns_provider_ops *dns_provider_find(const char *name);
/* All registered providers, NULL-terminated. */
const struct dns_provider_ops *const *dns_provider_list(void);

/* The common option keys every provider accepts, NULL-terminated. */
extern const char *const dns_common_options[];

/* Validates options for provider `name`: unknown keys, required keys, the
 * provider's validate(), and the format of the common keys. Errors name the
 * provider and key. Returns 0 or -1. */
int dns_options_validate(const char *name, const struct dns_option *opts, size_t n,
                         struct ac_error *e);

/* A live provider instance plus the common settings. */
struct dns_provider;

struct dns_settings {
    int64_t ttl;                   /* seconds; default 120 */
    int64_t propagation_timeout_ms; /* default 60000 */
    int64_t polling_interval_ms;    /* default 2000 */
    int64_t sequence_interval_ms;   /* default 0 */
    int64_t http_timeout_ms;        /* default 30000 */
};

int dns_provider_new(const char *name, const struct dns_option *opts, size_t n,
                     struct dns_provider **out, struct ac_error *e);
void dns_provider_free(struct dns_provider *p);
const char *dns_provider_name(const struct dns_provider *p);
const struct dns_settings *dns_provider_settings(const struct dns_provider *p);
int dns_provider_present(struct dns_provider *p, const struct dns_challenge *ch,
                         struct ac_error *e);
int dns_provider_cleanup(struct dns_provider *p, const struct dns_challenge *ch,
                         struct ac_error *e);

/* Propagation check: waits until every server in `resolvers` ("host" or
 * "host:port", port 53 by default; IPv4/IPv6 literals or names) answers a TXT
 * query for fqdn that contains value, polling every interval_ms up to
 * timeout_ms. With no resolvers, the zone's authoritative servers are found
 * (SOA, CNAME, NS: dns_zone.h) and each is asked; /etc/resolv.conf's servers
 * only when none can be found. On timeout
 * the error (AC_ERR_DNS_PROPAGATION) names each server that lacks the value and
 * what it answered. */
int dns_propagation_wait(const char *fqdn, const char *value, const char *const *resolvers,
                         size_t resolver_count, int64_t timeout_ms, int64_t interval_ms,
                         struct ac_error *e);

#endif
