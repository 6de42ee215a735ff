/*
 * dns_retry.h - one provider API request with HTTP 429 retries (internal to
 * providers/; for callers without a struct dns_api: dns_api_send does the
 * work). The URL must be https:// or loopback http:// (dns_api_base_ok).
 */
#ifndef AUTOCERT_PROVIDERS_DNS_RETRY_H
#define AUTOCERT_PROVIDERS_DNS_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "http.h"

#define DNS_RETRY_MAX_WAIT_S 60

/* Sends one request (json_body NULL: none; otherwise sent with
 * "Content-Type: application/json") with the extra headers hdrs (borrowed;
 * at most 6), through a fresh HTTP client with the given timeout. An answer
 * 429 is retried after its Retry-After (else 1, 2, 4 ... s) at most
 * max_retries times, each wait at most DNS_RETRY_MAX_WAIT_S (a longer one
 * ends the retries). Returns 0 when a response arrived (any status, also a
 * final 429: judge it with dns_http_status_error; *resp filled, caller frees
 * with http_response_free) or -1 with e set (transport failure, prefixed with
 * `what`, e.g. "DNS provider hetzner"). Thread-safe. */
int dns_http_retry(const char *what, const char *method, const char *url, const char *json_body,
                   const struct http_header *hdrs, size_t hn, int64_t timeout_ms,
                   int max_retries, struct http_response *resp, struct ac_error *e);

#endif
