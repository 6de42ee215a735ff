/*
 * dns_retry.c - provider API requests with HTTP 429 retries (dns_retry.h).
 */
#include <string.h>
#include <time.h>

#include "dns_retry.h"
#include "log.h"
#include "timeutil.h"

static void sleep_s(long s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

int dns_http_retry(const char *what, const char *method, const char *url, const char *json_body,
                   const struct http_header *hdrs, size_t hn, int64_t timeout_ms,
                   int max_retries, struct http_response *resp, struct ac_error *e)
{
    struct http_client_opts co = {.timeout_ms = (long)timeout_ms};
    struct http_client *c = NULL;
    struct http_header h[7];
    size_t n = 0;
    int rc = -1;

    memset(resp, 0, sizeof(*resp));
    if (hn > 6) {
        ac_error_set(e, AC_ERR_INTERNAL, "%s: too many request headers", what);
        return -1;
    }
    for (size_t i = 0; i < hn; i++)
        h[n++] = hdrs[i];
    if (json_body)
        h[n++] = (struct http_header){"Content-Type", "application/json"};
    if (http_client_new(&co, &c, e) != 0)
        goto out;
    for (int attempt = 0;; attempt++) {
        struct http_request rq = {.method = method, .url = url, .headers = h, .header_count = n,
                                  .body = json_body,
                                  .body_len = json_body ? strlen(json_body) : 0};
        const char *ra;
        long wait = -1;

        http_response_free(resp);
        memset(resp, 0, sizeof(*resp));
        if (http_do(c, &rq, resp, e) != 0) {
            ac_error_prefix(e, "%s", what);
            goto out;
        }
        if (resp->status != 429)
            break;
        ra = http_header(resp, "retry-after");
        if (ra)
            wait = ac_time_parse_retry_after(ra, ac_now());
        if (wait < 0)
            wait = 1L << (attempt < 6 ? attempt : 6);
        if (attempt >= max_retries || wait > DNS_RETRY_MAX_WAIT_S)
            break;
        ac_info(NULL, "%s: rate limited (HTTP 429), retrying in %ld s", what, wait);
        sleep_s(wait);
    }
    rc = 0;
out:
    http_client_free(c);
    return rc;
}
