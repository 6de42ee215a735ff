/*
 * budget.h - renewal budgets per CA account (issue 12): how many new orders
 * an account may create per 3 hours, and how many certificates for new names
 * each registered domain may get per week, as token buckets that refill
 * continuously (as Let's Encrypt counts them). The engine asks before a timed
 * order starts; when the budget is short it waits for the time the budget
 * names instead of meeting the CA's rateLimited error.
 *
 * Registered domains come from the Public Suffix List (libpsl: Debian's
 * /usr/share/publicsuffix data, else the list built into libpsl); an IPv4
 * address is its own registered domain, an IPv6 address its /64.
 *
 * Buckets are GCRA cells: one "theoretical arrival time" in milliseconds per
 * bucket, so a budget is a few bytes per account plus one entry per
 * registered domain that ordered within the last week (budget_prune drops
 * the others). The state is written next to the account key
 * (<acme_key dir>/.budget-<h>.json, atomic, 0600) and read back at start-up,
 * so a restart keeps it. Every process using those files (a daemon, one-off
 * CLI runs, other daemons) applies its own charges to the file's state under
 * an flock and takes the others' from it (lifecycle_sched.c, storage op
 * budget_update), so they share one budget, as a fleet's nodes share the
 * stored row.
 *
 * Pure data apart from budget_load/budget_save; no locks: the engine calls
 * these with its mutex held, the unit tests with an injected clock.
 */
#ifndef AUTOCERT_BUDGET_H
#define AUTOCERT_BUDGET_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define BUDGET_ORDERS_WINDOW_S (3 * 3600)
#define BUDGET_DOMAIN_WINDOW_S (7 * 86400)

/* Let's Encrypt's published limits (letsencrypt.org/docs/rate-limits):
 * 300 new orders per account per 3 hours, 50 certificates per registered
 * domain per 7 days, both refilling continuously. Staging's are far higher;
 * we use 30,000 for both there (its documented figures). */
#define BUDGET_LE_ORDERS_PER_3H 300
#define BUDGET_LE_CERTS_PER_DOMAIN_WEEK 50
#define BUDGET_LE_STAGING_ORDERS_PER_3H 30000
#define BUDGET_LE_STAGING_CERTS_PER_DOMAIN_WEEK 30000
#define BUDGET_LE_DIR_URL "https://acme-v02.api.letsencrypt.org/directory"
#define BUDGET_LE_STAGING_DIR_URL "https://acme-staging-v02.api.letsencrypt.org/directory"

/* The largest value accepted for either limit (per window). */
#define BUDGET_LIMIT_MAX 100000000

/* A budget's limits; 0 = no budget of that kind. */
struct budget_limits {
    int64_t orders_per_3h;
    int64_t new_certs_per_domain_week;
};

/* The default limits for directory URL url: Let's Encrypt's for its
 * production and staging URLs (a trailing slash ignored), none otherwise. */
void budget_default_limits(const char *url, struct budget_limits *out);

/* The registered domain of name (a DNS name, "*.name", or an IP literal) into
 * out (n bytes): lowercase, trailing dot dropped; a name that is itself a
 * public suffix or not under any is its own registered domain. Returns 0, or
 * -1 when out is too small. Thread-safe (libpsl's list is loaded once). */
int budget_registered_domain(const char *name, char *out, size_t n);

struct budget;

/* A new budget for the account named id (copied; a description such as
 * "dir_url|key path", stored in the state file) with limits lim. Returns NULL
 * on ENOMEM. budget_free(NULL) does nothing. */
struct budget *budget_new(const char *id, const struct budget_limits *lim);
void budget_free(struct budget *b);
/* Replaces the limits (a configuration reload); the buckets' state stays. */
void budget_set_limits(struct budget *b, const struct budget_limits *lim);
const struct budget_limits *budget_limits_of(const struct budget *b);
/* True when b has a budget of either kind. NULL: false. */
bool budget_active(const struct budget *b);

/* The first second at which an order for names[0..n) may start: `now` when
 * it may start now. new_names: the names are not those of the certificate
 * served now (a first obtain, or names changed), so the per-domain budget
 * applies too; a renewal of the same identifier set is exempt from it. b NULL
 * or without limits: now. */
int64_t budget_ready_at(const struct budget *b, const char *const *names, size_t n, bool new_names,
                        int64_t now);
/* Charges the order (one order; one certificate per distinct registered
 * domain when new_names) at now. A charge past the budget (a forced renewal,
 * one at its "expiring soon" point) is recorded too: it pushes later orders
 * back, as the CA will count it. Returns 0, or -1 on ENOMEM (nothing charged
 * for the domains). */
int budget_charge(struct budget *b, const char *const *names, size_t n, bool new_names,
                  int64_t now);

/* Forgets the per-domain buckets that are full at now (their theoretical
 * arrival time is past: they carry no information), so the table holds only
 * the registered domains that ordered within the last week. Linear in the
 * table; the engine calls it each time it writes or merges the state. (A
 * table that must grow drops the buckets full by its latest charge's time
 * too, so a budget never merged does not grow without bound either.)
 * Returns how many were dropped. */
size_t budget_prune(struct budget *b, int64_t now);
/* How many per-domain buckets b holds (full ones not pruned yet included). */
size_t budget_domains_count(const struct budget *b);

/* State as JSON (a new object, json_object_put it): the account id, the
 * order bucket and each domain bucket that is not full at now. */
json_object *budget_to_json(const struct budget *b, int64_t now);
/* Applies a state object (unknown or mistyped fields ignored). */
void budget_from_json(struct budget *b, json_object *o);
/* Merges the state o (budget_to_json's form, another node's) into b: each
 * bucket keeps the later of the two theoretical arrival times, so tokens
 * spent on either side count on both (a fleet sharing one CA account). */
void budget_merge_json(struct budget *b, json_object *o);
/* budget_merge_json from another budget (not from its JSON): each bucket of b
 * keeps the later of the two arrival times. Linear in from's table; stops at
 * ENOMEM (the rest of from not merged). */
void budget_merge(struct budget *b, const struct budget *from);
/* The state file of account id with its key at acme_key_path, into buf.
 * Returns 0, or -1 when buf is too small. */
int budget_state_path(const char *acme_key_path, const char *id, char *buf, size_t n);
/* Reads (a missing file is no state) / writes (atomic, 0600) b's state at
 * path. Return 0 or -1 with e. */
int budget_load(struct budget *b, const char *path, struct ac_error *e);
int budget_save(const struct budget *b, const char *path, int64_t now, struct ac_error *e);

#endif
