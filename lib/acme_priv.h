/*
 * acme_priv.h - internals shared by acme.c (transport, nonces, directory,
 * account, revoke, ARI) and acme_order.c (the order flow). Not for other
 * modules: use acme.h.
 */
#ifndef AUTOCERT_ACME_PRIV_H
#define AUTOCERT_ACME_PRIV_H

#include "acme.h"
#include "http.h"

/* badNonce retries per request: each retry uses the fresh nonce that came with
 * the error, so even a CA rejecting 90 % of good nonces (Pebble's test mode)
 * completes; bounded in count and by the request and order timeouts. */
#define ACME_MAX_BAD_NONCE_RETRIES 100

struct acme_client {
    struct http_client *http;
    struct crypto_key *key; /* borrowed */
    char *dir_url;
    long timeout_ms;
    bool dir_loaded;
    struct acme_directory dir;
    char *nonce; /* one spare nonce from the last response, or NULL */
    char nonce_problem[160]; /* why the last response gave no usable nonce */
    char *kid;   /* account URL once known */
    /* remembered for re-registration after accountDoesNotExist */
    char *email, *eab_kid, *eab_hmac;
    bool reregistering;
    int64_t deadline_ms; /* ac_mono_ms; 0 = no order deadline in force */
    void (*observer)(void *arg, const char *endpoint, const char *outcome);
    void *observer_arg;
};

/* Signed POST to url (payload NULL = POST-as-GET; "" is not used). Signs with
 * the kid unless use_jwk or no account yet. Handles nonces, retries badNonce
 * up to ACME_MAX_BAD_NONCE_RETRIES times, re-registers once on
 * accountDoesNotExist. Returns 0 with a 2xx *resp (http_response_free) or -1
 * with e set (problem documents parsed). accept: Accept header or NULL. */
int acme_post(struct acme_client *c, const char *url, const char *endpoint,
              const char *payload, bool use_jwk, const char *accept,
              struct http_response *resp, struct ac_error *e);

/* Retry-After of a response in seconds, -1 when absent/unparseable. */
long acme_retry_after(const struct http_response *resp);

/* Calls the observer, if any. */
void acme_observe(struct acme_client *c, const char *endpoint, bool ok);

#endif
