/*
 * oauth2.h - OAuth 2.0 access tokens for the cloud DNS providers (internal to
 * providers/; used by gcloud and azuredns).
 *
 * oauth2_token_request() POSTs an application/x-www-form-urlencoded body to a
 * token endpoint (RFC 6749 §4.4 client credentials, RFC 7523 JWT bearer) and
 * returns the access token; struct oauth2_cache keeps one token until shortly
 * before it expires, shared by the threads using one provider instance.
 */
#ifndef AUTOCERT_PROVIDERS_OAUTH2_H
#define AUTOCERT_PROVIDERS_OAUTH2_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Longest access token accepted (the endpoints answer a few KiB at most). */
#define OAUTH2_MAX_TOKEN 16384

/* POSTs `form` (already percent-encoded; a secret) to `url`. On 200 with a
 * JSON {"access_token", "expires_in"} returns 0, *token (new malloc'd string,
 * a secret: dns_api_secret_free it) and *expires_in (seconds; 3600 when the
 * answer has none). Otherwise -1 with e: 400/401/403 give AC_ERR_DNS_AUTH
 * "<what>: token endpoint refused the credentials (HTTP n, <error code>);
 * check <auth_options>", 429 AC_ERR_DNS_RATE_LIMITED, others
 * AC_ERR_DNS_PROVIDER. Messages carry only the endpoint's short error code,
 * never the form or the answer's description. Thread-safe. */
int oauth2_token_request(const char *what, const char *url, const char *form,
                         const char *auth_options, int64_t timeout_ms, char **token,
                         int64_t *expires_in, struct ac_error *e);

struct oauth2_cache {
    pthread_mutex_t mu;
    char *token;        /* secret, or NULL */
    int64_t expires_ms; /* ac_mono_ms() deadline */
};

void oauth2_cache_init(struct oauth2_cache *c);
void oauth2_cache_destroy(struct oauth2_cache *c);
/* A copy of the cached token when it is still valid for at least 60 s
 * (dns_api_secret_free it), else NULL. */
char *oauth2_cache_get(struct oauth2_cache *c);
/* Keeps a copy of token for expires_in seconds (replacing the old one). */
void oauth2_cache_put(struct oauth2_cache *c, const char *token, int64_t expires_in);

#endif
