/*
 * http.h - the HTTP client every outbound request goes through (libcurl,
 * GnuTLS flavour): the CA, the DNS provider APIs, the webhook.
 *
 * Bounded by construction: an overall timeout (default 30 s), a connect timeout,
 * a low-speed limit, a response body cap (default 1 MiB) and a cap on the
 * number of response headers kept. TLS verification is never turned off; trust
 * is the system roots plus the configured extra PEM files.
 *
 * A client is used by one thread at a time (it keeps one curl handle so that
 * connections are reused); make one per thread or per order.
 */
#ifndef AUTOCERT_HTTP_H
#define AUTOCERT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

struct http_client;

struct http_client_opts {
    const char *const *ca_files; /* extra PEM roots (added to the system ones) */
    size_t ca_count;
    long timeout_ms;             /* whole request; 0 = 30000 */
    long connect_timeout_ms;     /* 0 = 10000 */
    size_t max_body;             /* 0 = 1 MiB */
    const char *user_agent;      /* NULL = "autocert/<version>" */
};

/* Returns 0 and a new client (http_client_free). Copies opts. */
int http_client_new(const struct http_client_opts *opts, struct http_client **out,
                    struct ac_error *e);
void http_client_free(struct http_client *c);

struct http_header {
    const char *name;
    const char *value;
};

struct http_request {
    const char *method;  /* "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD" */
    const char *url;
    const struct http_header *headers; /* extra request headers */
    size_t header_count;
    const void *body;    /* NULL for none; must outlive http_do */
    size_t body_len;
    const char *userpwd; /* "user:password" for HTTP basic auth, or NULL */
    const char *aws_sigv4; /* CURLOPT_AWS_SIGV4 provider string, or NULL */
    long timeout_ms;     /* 0 = the client's */
};

#define HTTP_MAX_RESPONSE_HEADERS 64
/* A response header line longer than this is not kept (its name and size
 * are, in `dropped`, so that a caller can say why a header is missing). */
#define HTTP_MAX_HEADER_LINE 8192
#define HTTP_MAX_DROPPED 4

struct http_response {
    long status;
    struct ac_buf body;  /* capped at the client's max_body */
    struct {
        char *name;      /* lowercase */
        char *value;     /* trimmed */
    } headers[HTTP_MAX_RESPONSE_HEADERS];
    size_t header_count;
    struct {
        char name[64];           /* lowercase, truncated */
        size_t size;             /* bytes of the whole header line */
    } dropped[HTTP_MAX_DROPPED]; /* header lines over HTTP_MAX_HEADER_LINE */
    size_t dropped_count;
    bool too_many_headers; /* headers past HTTP_MAX_RESPONSE_HEADERS were ignored */
};

/* Performs one request. Returns 0 when a response arrived (whatever its status;
 * the caller judges it) with *resp filled (http_response_free it), or -1 on a
 * transport failure with e set: AC_ERR_NET (connect/DNS), AC_ERR_TIMEOUT,
 * AC_ERR_TLS (certificate verification), AC_ERR_HTTP (body over the cap,
 * malformed response, a header line over libcurl's 100 KiB), AC_ERR_CANCELLED
 * (the calling thread's cancel token was set, or its scope's time limit
 * passed: see ac_cancel_enter in timeutil.h; the request is aborted within
 * about a second, and its timeout is cut to the scope's limit). Messages name
 * the host, never credentials. */
int http_do(struct http_client *c, const struct http_request *req,
            struct http_response *resp, struct ac_error *e);
void http_response_free(struct http_response *resp);

/* First value of a response header (case-insensitive), borrowed; NULL if absent. */
const char *http_header(const struct http_response *resp, const char *name);
/* For a header that http_header did not find: sets e to `kind` with
 * "<what>: <Name> header too long (N bytes, limit 8192)" when the response
 * had it over the limit, "<what>: no <Name> header (the response has more
 * than 64 headers; the rest were ignored)" when headers were dropped for
 * their number, else "<what>: no <Name> header". */
void http_header_missing(const struct http_response *resp, const char *name, const char *what,
                         const char *kind, struct ac_error *e);
/* The URL of a Link header with rel=`rel` (RFC 8288), new malloc'd string or
 * NULL. Relative URLs are resolved against base_url. */
char *http_link(const struct http_response *resp, const char *rel, const char *base_url);
/* The n-th (from 0) such URL over all Link headers in order (a header may
 * carry several links), or NULL when there are n or fewer. */
char *http_link_nth(const struct http_response *resp, const char *rel, const char *base_url,
                    size_t n);

/* Percent-encodes a string for use in a URL path segment or query value.
 * Returns a new malloc'd string. */
char *http_escape(const char *s);

#endif
