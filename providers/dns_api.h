/*
 * dns_api.h - the toolkit of the HTTP-API DNS providers (internal to
 * providers/): common state (name, base URL, settings, CNAME resolvers), one
 * API request with bounded HTTP 429 retries and error mapping, the zone
 * walk-up, the record name relative to a zone, option copies and secret
 * wiping.
 *
 * A provider embeds a struct dns_api in its state, fills it in create() with
 * dns_api_init(), and frees it with dns_api_free(). present()/cleanup() start
 * with dns_api_target() (the name the TXT record really belongs at, after
 * following a CNAME on _acme-challenge), then dns_api_find_zone() with a
 * callback asking the provider's API whether it holds a candidate name, then
 * dns_api_call() for the requests.
 *
 * dns_api_send is the one HTTP path of providers/: every request a provider
 * makes (API calls, token endpoints, httpreq's endpoint) goes through it, on
 * lib/http.h's client (timeouts, response size cap), with the same HTTP 429 /
 * Retry-After handling and the same secret-safe messages. Nothing else in
 * providers/ calls http_do (tests/integration/test_provider_boundary.sh).
 *
 * CNAME following (DNS-01: "a CNAME on _acme-challenge is followed to the zone
 * that really holds it") uses dns_find_zone (dns_zone.h) asking the servers
 * of the option dns_resolvers ("host[:port]" list separated by commas or
 * spaces; none: /etc/resolv.conf). The option follow_cname=false turns it
 * off (lego's LEGO_DISABLE_CNAME_SUPPORT). Every provider using the toolkit
 * declares both keys with DNS_API_OPTION_DECLS. A failed look-up is logged as
 * a warning and the name is used as it is (as lego does). Tests that run a
 * provider against a mock without a DNS server pass follow_cname=false (the
 * test machine's resolv.conf points outside loopback).
 *
 * Nothing here logs or returns option values: errors name the provider and
 * the option only. All functions are thread-safe for distinct or read-only
 * shared state (a struct dns_api is read-only after dns_api_init).
 */
#ifndef AUTOCERT_PROVIDERS_DNS_API_H
#define AUTOCERT_PROVIDERS_DNS_API_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dns_provider.h"
#include "error.h"
#include "http.h"

/* A test-only base URL override read from the environment variable `env`
 * (AUTOCERT_<NAME>_BASE_URL ...: the tests point providers that have no
 * base_url option at a local mock). It exists only in builds with the CMake
 * option AUTOCERT_TEST_HOOKS; otherwise it is NULL, and a provider's base_url
 * option (where it has one) is the only way to change its endpoint. The
 * value is checked by dns_api_init like any base (https://, or http:// on
 * loopback). */
#ifdef AUTOCERT_TEST_HOOKS
#define DNS_API_TEST_URL(env) getenv(env)
#else
#define DNS_API_TEST_URL(env) ((const char *)NULL)
#endif

/* Default bounds of a request: retries after HTTP 429 and the longest wait
 * honoured (a longer Retry-After ends the retries). */
#define DNS_API_MAX_RETRIES 3
#define DNS_API_MAX_WAIT_S 60
/* Longest URL built by dns_api_call (base + path). */
#define DNS_API_MAX_URL 4096
/* Longest secret option accepted by dns_api_check_secret. */
#define DNS_API_MAX_SECRET 4096
/* Most extra headers a request may carry. */
#define DNS_API_MAX_HEADERS 6
/* Most servers in dns_resolvers. */
#define DNS_API_MAX_RESOLVERS 8

/* The option keys the toolkit reads; put them in the provider's decl array
 * before its terminating {NULL}. */
#define DNS_API_OPTION_DECLS {"dns_resolvers", false}, {"follow_cname", false}

struct dns_api {
    const char *name;        /* "cloudflare" (static string) */
    char what[48];           /* "DNS provider cloudflare", for messages */
    char *base;              /* base URL, no trailing '/' (owned) */
    int64_t ttl;             /* settings (dns_settings_parse) */
    int64_t timeout_ms;      /* http_timeout */
    int64_t propagation_timeout_ms;
    int64_t polling_interval_ms;
    int max_retries;         /* 429 retries; DNS_API_MAX_RETRIES */
    bool follow_cname;       /* default true */
    char *resolvers[DNS_API_MAX_RESOLVERS]; /* owned; dns_resolvers */
    size_t resolver_count;
    char *auth;              /* Authorization header value sent by every
                              * request (a secret, owned), or NULL */
    const char *auth_options; /* default dns_api_req.auth_options (static) */
};

/* True for an https:// URL, or an http:// URL on loopback (127.x, localhost,
 * [::1]) for the tests. */
bool dns_api_base_ok(const char *url);

/* Checks a base URL override (NULL or "" is fine: the default is used). Error
 * AC_ERR_CONFIG "<what>: <label>: must be an https:// URL", where label names
 * the option or variable (e.g. "option base_url", "AUTOCERT_VULTR_BASE_URL"). */
int dns_api_check_base(const char *name, const char *label, const char *url, struct ac_error *e);

/* Checks that secret option `key` is set (required), at most
 * DNS_API_MAX_SECRET bytes, without CR/LF. Error AC_ERR_CONFIG
 * "DNS provider <name>: option <key>: <hint>" (hint: e.g. "required (an API
 * token)"; NULL gives "required"). Never shows the value. */
int dns_api_check_secret(const char *name, const struct dns_option *opts, size_t n,
                         const char *key, const char *hint, struct ac_error *e);

/* Checks the toolkit's own options (dns_resolvers, follow_cname). For
 * validate(); dns_api_init calls it too. */
int dns_api_validate(const char *name, const struct dns_option *opts, size_t n,
                     struct ac_error *e);

/* Fills *a: name (borrowed static), the common settings from opts, base (a
 * copy of `base` when set and non-empty, else of default_base; trailing '/'
 * removed; checked with dns_api_check_base under base_label), the toolkit's
 * options. On failure *a is left freed (dns_api_free is harmless). */
int dns_api_init(struct dns_api *a, const char *name, const struct dns_option *opts, size_t n,
                 const char *base, const char *base_label, const char *default_base,
                 struct ac_error *e);

/* Sets a->auth to "<scheme> <secret>" (e.g. "Bearer", token; a scheme ""
 * gives the secret alone) and a->auth_options (static string naming the
 * options, e.g. "auth_token"). -1 only when out of memory. */
int dns_api_set_auth(struct dns_api *a, const char *scheme, const char *secret,
                     const char *auth_options, struct ac_error *e);

/* Frees what dns_api_init/dns_api_set_auth allocated (not *a itself; secrets
 * wiped); zeroed afterwards. */
void dns_api_free(struct dns_api *a);

/* For a provider whose state is a struct dns_api alone: allocates it,
 * dns_api_init (base, base_label, default_base as there), then
 * dns_api_set_auth(scheme, option secret_key, auth_options = secret_key) when
 * secret_key is not NULL. Returns 0 and *out (free with dns_api_destroy). */
int dns_api_create(const char *name, const struct dns_option *opts, size_t n, const char *base,
                   const char *base_label, const char *default_base, const char *scheme,
                   const char *secret_key, struct dns_api **out, struct ac_error *e);

/* Fills *a for requests to full URLs only (dns_api_req.path an https:// or
 * loopback URL; no base, no auth, no options): `what` (borrowed, static or
 * outliving *a) names the caller in messages, e.g. "DNS provider gcloud";
 * timeout_ms is the per-request timeout (0: 30 s); DNS_API_MAX_RETRIES.
 * Owns nothing (dns_api_free is harmless). For one-off requests such as a
 * token endpoint. */
void dns_api_init_bare(struct dns_api *a, const char *what, int64_t timeout_ms);

/* dns_api_free, then frees the struct (for dns_provider_ops.destroy; NULL is
 * fine). */
void dns_api_destroy(void *api);

/* A copy of option `key` (NULL when absent or empty: *out = NULL, returns 0).
 * -1 only when out of memory. Free with dns_api_secret_free when secret. */
int dns_api_opt_dup(const struct dns_option *opts, size_t n, const char *key, char **out,
                    struct ac_error *e);

/* "<prefix><secret>" as a new string (e.g. "Bearer " + token), a secret:
 * dns_api_secret_free it. NULL when out of memory. */
char *dns_api_secret_join(const char *prefix, const char *secret);

/* Zeroes and frees a string (NULL is fine). */
void dns_api_secret_free(char *s);

/* One API request. */
struct dns_api_req {
    const char *method;                 /* "GET", "POST", ... */
    const char *path;                   /* appended to a->base; or a full
                                         * http(s) URL (e.g. a next-page link) */
    const struct http_header *headers;  /* auth etc.; borrowed, at most
                                         * DNS_API_MAX_HEADERS */
    size_t header_count;
    const char *json_body;              /* sent with Content-Type:
                                         * application/json; NULL: none */
    const char *content_type;           /* instead of application/json for a
                                         * non-JSON body (e.g. XML), or NULL */
    const char *userpwd;                /* http_request.userpwd, or NULL */
    const char *aws_sigv4;              /* http_request.aws_sigv4, or NULL */
    const char *auth_options;           /* named by a 401/403 error, e.g.
                                         * "auth_token"; NULL: a->auth_options */
    long ok_status;                     /* the one success status; 0: any 2xx */
    bool not_found_ok;                  /* 404 returns 1 instead of failing */
    /* Also retried like a 429 when it returns true (e.g. a throttling
     * error code in a 400 body); may be NULL. */
    bool (*retry_if)(const struct http_response *resp);
};

/* Sends rq (plus "Authorization: a->auth" when a->auth is set) through a
 * fresh HTTP client (a->timeout_ms), retrying a 429 (or
 * retry_if) after its Retry-After (else 1, 2, 4 ... s) at most a->max_retries
 * times, each wait at most DNS_API_MAX_WAIT_S. Returns 0 when a response
 * arrived (any status, including a final 429) with *resp filled (caller
 * frees with http_response_free), or -1 with e set (transport failure,
 * prefixed with a->what). */
int dns_api_send(const struct dns_api *a, const struct dns_api_req *rq,
                 struct http_response *resp, struct ac_error *e);

/* dns_api_send, then judges the status: ok_status (or any 2xx) returns 0 and,
 * when out != NULL, *out = the parsed JSON body (new reference: put it; an
 * empty body gives NULL); 404 with not_found_ok returns 1 (*out NULL); any
 * other status returns -1 with dns_http_status_error (401/403 provider.auth
 * naming auth_options, 429 dns.rate_limited, else provider error with the
 * status and a body snippet). A 2xx body that is not JSON is an
 * AC_ERR_DNS_PROVIDER error when out != NULL. */
int dns_api_call(const struct dns_api *a, const struct dns_api_req *rq, json_object **out,
                 struct ac_error *e);

/* snprintf into out (for building paths); -1 with AC_ERR_DNS_PROVIDER
 * "<what>: request path too long" when it does not fit. */
int dns_api_pathf(const struct dns_api *a, struct ac_error *e, char *out, size_t outlen,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The name the TXT record of `fqdn` really belongs at: fqdn after following a
 * CNAME (chain) through dns_find_zone with a's resolvers, unless
 * a->follow_cname is false. Returns 0 and *target (new string, lowercase, no
 * trailing dot: free it); a failed look-up is a warning and gives a copy of
 * fqdn. -1 only when out of memory. */
int dns_api_target(const struct dns_api *a, const char *fqdn, char **target, struct ac_error *e);

/* Asks "do you hold this zone?" for one candidate. Returns 1 yes, 0 no, -1
 * error (e set; the walk stops). `arg` is the caller's (e.g. to keep a zone
 * id). */
typedef int (*dns_api_zone_probe)(void *arg, const char *candidate, struct ac_error *e);

/* Walks from the parent of fqdn up to the last two labels, calling probe for
 * each candidate, so the first "yes" is the most specific zone. Returns 0 and
 * *zone (borrowed: points into fqdn), or -1: the probe's error, or
 * AC_ERR_DNS_PROVIDER "<what>: no zone in this account holds <fqdn>". */
int dns_api_find_zone(const struct dns_api *a, const char *fqdn, dns_api_zone_probe probe,
                      void *arg, const char **zone, struct ac_error *e);

/* Where a challenge's record goes: the real name (after CNAME following),
 * the zone holding it and the name relative to the zone. */
struct dns_api_loc {
    char *fqdn;       /* dns_api_target (owned) */
    const char *zone; /* points into fqdn */
    char *zone_esc;   /* zone percent-encoded (owned) */
    char *rel;        /* dns_api_relative with the given apex (owned) */
};

/* dns_api_target, dns_api_find_zone(probe, arg), dns_api_relative(apex) and
 * the escaped zone in one. On failure *loc is freed already. Free with
 * dns_api_loc_free. */
int dns_api_locate(const struct dns_api *a, const char *fqdn, dns_api_zone_probe probe,
                   void *arg, const char *apex, struct dns_api_loc *loc, struct ac_error *e);
void dns_api_loc_free(struct dns_api_loc *loc);

/* A ready probe for APIs where GET <prefix><escaped candidate> answers 200
 * for a zone of the account and 404 otherwise; arg is a struct
 * dns_api_path_probe. */
struct dns_api_path_probe {
    const struct dns_api *api;
    const char *prefix; /* e.g. "/v2/domains/" */
};
int dns_api_probe_path(void *arg, const char *candidate, struct ac_error *e);

/* True when `zone` is fqdn or a parent of it (label-wise, case-insensitive). */
bool dns_api_in_zone(const char *fqdn, const char *zone);

/* The record name relative to zone: "_acme-challenge.a" for
 * "_acme-challenge.a.example.com" in "example.com"; `apex` (e.g. "@" or "")
 * when they are equal. Returns 0 and *rel (new string, free it), or -1
 * (AC_ERR_DNS_PROVIDER when fqdn is not in zone, AC_ERR_NOMEM). */
int dns_api_relative(const struct dns_api *a, const char *fqdn, const char *zone,
                     const char *apex, char **rel, struct ac_error *e);

/* True when a TXT value as an API returned it (data, possibly quoted:
 * "\"v\"" equals v) is `value`. NULL data is false. */
bool dns_api_txt_is(const char *data, const char *value);

#endif
