/*
 * dns_provider.h - the DNS-01 provider interface that lib/ owns and providers/
 * plugs into: the challenge record, provider options, the operations a
 * provider implements (struct dns_provider_ops), the registry look-up, the
 * provider wrapper with its common settings, the batch layer, and the
 * propagation check.
 *
 * lib/ (the issuer, config validation) uses only this header. providers/
 * implements it: each providers/<name>.c defines one dns_<name>_ops, the
 * registry table (providers/registry.c) lists them, providers/dns_common.c
 * implements the wrapper and the batch layer, providers/propagation.c the
 * propagation check. Nothing in lib/ includes a header of providers/
 * (tests/integration/test_provider_boundary.sh checks it).
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
#ifndef AUTOCERT_DNS_PROVIDER_H
#define AUTOCERT_DNS_PROVIDER_H

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
    bool required; /* simple "must be present"; alternatives go in validate() */
};

/* One DNS-01 challenge record. All strings borrowed for the call. */
struct dns_challenge {
    const char *domain;   /* identifier being validated, without "*." */
    const char *fqdn;     /* "_acme-challenge.<domain>", absolute, no trailing dot */
    const char *value;    /* the TXT value: base64url(SHA-256(key_auth)) */
    const char *token;    /* the ACME challenge token (lego's RAW modes need it) */
    const char *key_auth; /* token "." thumbprint */
};

/* One provider kind. Declared statically by each providers/<name>.c and listed
 * in the registry (providers/registry.h, one line per provider). */
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
    /* Optional, for APIs that write a name's TXT values in one call (a whole
     * record set, a change batch): add_values adds values[0..n) at fqdn and
     * remove_values removes them (absent is success), each with one write,
     * keeping every other value there. A provider that has them may leave
     * present/cleanup NULL: the common layer derives those, and publishes the
     * records of an order with one call per name (dns_provider_present_many). */
    int (*add_values)(void *state, const char *fqdn, const char *const *values, size_t n,
                      struct ac_error *e);
    int (*remove_values)(void *state, const char *fqdn, const char *const *values, size_t n,
                         struct ac_error *e);
};

/* Most records one batch call takes (an order has at most 100
 * authorizations). */
#define DNS_BATCH_MAX 100

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
    int64_t ttl;                    /* seconds; default 120 */
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

/* dns_provider_new, and when the options give no dns_resolvers and the
 * provider declares that key (providers/dns_api.h: the servers its CNAME
 * look-up asks), the first DNS_DEFAULT_RESOLVERS_MAX of `resolvers` (a set's
 * configured resolvers, "host[:port]") are passed as dns_resolvers. */
#define DNS_DEFAULT_RESOLVERS_MAX 8
int dns_provider_new_resolvers(const char *name, const struct dns_option *opts, size_t n,
                               const char *const *resolvers, size_t resolver_count,
                               struct dns_provider **out, struct ac_error *e);

/* Publishes n records (n <= DNS_BATCH_MAX) with the provider's add_values (one
 * call per name) when it has one, else present() one by one (stopping at the
 * first failure).
 * done (n entries) is cleared, then done[i] = true for every record
 * published: on failure (-1) those are still to be cleaned up. Errors name the
 * provider ("DNS provider <name>: present <fqdn>: ..."). */
int dns_provider_present_many(struct dns_provider *p, const struct dns_challenge *const *chs,
                              size_t n, bool *done, struct ac_error *e);
/* Removes n records with remove_values (one call per name), else cleanup() for
 * each (all are tried; the first error is returned). Errors name the
 * provider. */
int dns_provider_cleanup_many(struct dns_provider *p, const struct dns_challenge *const *chs,
                              size_t n, struct ac_error *e);

/* The batch walk: calls fn once per distinct fqdn of chs (first
 * appearance order, case-insensitive) with every value at that name (values
 * borrowed from chs; nvalues <= n). Stops at the first failure unless
 * keep_going (then returns the first error). When done is not NULL, done[i]
 * is set for each record of a name fn succeeded for. */
typedef int (*dns_name_batch_fn)(void *arg, const char *fqdn, const char *const *values,
                                 size_t nvalues, struct ac_error *e);
int dns_batch_by_name(const struct dns_challenge *const *chs, size_t n, bool *done, bool keep_going,
                      dns_name_batch_fn fn, void *arg, struct ac_error *e);

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
