/*
 * dns_retry.c - provider API requests with HTTP 429 retries (dns_retry.h), a
 * thin form of dns_api_send (dns_api.h) for callers without a struct dns_api.
 */
#include <stdio.h>
#include <string.h>

#include "dns_api.h"
#include "dns_retry.h"

int dns_http_retry(const char *what, const char *method, const char *url, const char *json_body,
                   const struct http_header *hdrs, size_t hn, int64_t timeout_ms,
                   int max_retries, struct http_response *resp, struct ac_error *e)
{
    struct dns_api a = {.name = what, .base = "", .timeout_ms = timeout_ms,
                        .max_retries = max_retries};
    struct dns_api_req rq = {.method = method, .path = url, .headers = hdrs, .header_count = hn,
                             .json_body = json_body};

    memset(resp, 0, sizeof(*resp));
    snprintf(a.what, sizeof(a.what), "%s", what);
    return dns_api_send(&a, &rq, resp, e);
}
