/*
 * admin_api.h - the transport-free core of the REST admin API: one request
 * in, one response out (autocert_admin_request / autocert_admin_response of
 * autocert_admin.h). Routing, the token rule, the Host / Origin /
 * Sec-Fetch-Site policy (admin_guard.h), query parsing, the JSON documents
 * (admin_json.h) and the Server-Sent Events stream of a forced renewal all
 * live here, so that the libmicrohttpd server (admin_http.c) and a host's own
 * HTTP server (autocert_admin_handle) answer through the same code.
 *
 *   admin_http.c ──► MHD request ─┐
 *                                 ├─► admin_api_precheck ─► admin_api_route ─► response
 *   host server ──► autocert_admin_request ─┘        (head only)     (whole request)
 *
 * admin_api_precheck decides what can be decided from a request's head (the
 * header policy, the loopback-peer rule without a token, a Content-Length
 * over the body cap); the MHD form calls it before the body arrives and
 * closes the connection after such a refusal (response->close).
 *
 * Thread-safety: every function may be called from any thread; a response
 * is used by one thread at a time.
 */
#ifndef AUTOCERT_ADMIN_API_H
#define AUTOCERT_ADMIN_API_H

#include <stdbool.h>
#include <stddef.h>

#include "admin_conn.h"
#include "admin_guard.h"
#include "autocert/autocert_admin.h"

#define ADMIN_MAX_BODY 4096         /* request body; no endpoint takes one (413 beyond) */
#define ADMIN_MAX_URI 2048          /* request target, query included (414 beyond) */
#define ADMIN_ECHO_MAX 100          /* request text echoed in an answer or a log line */
#define ADMIN_SSE_MAX (1024 * 1024) /* progress bytes queued for a slow reader */
#define ADMIN_SSE_KEEPALIVE_S 10    /* a comment line at least this often */
#define ADMIN_RESP_HEADERS 6
#define ADMIN_PAGE_MAX 1000 /* ?limit= of /status and /info (400 beyond) */
#define ADMIN_LOG "admin"

/* The event-stream renewals are kept in one process-wide registry
 * (admin_stream.c), so that a stopping server can end its streams and a
 * manager that goes away can wait for the renewals started on it. */
/* What a request is answered from. Everything is borrowed for the request
 * (an event stream's renewal keeps only m and owner). */
struct admin_api {
    autocert_manager *m;
    const char *token; /* NULL or "": no token configured */
    struct admin_guard guard;
    struct admin_conns *conns; /* warnings rate-limited there; NULL: process-wide */
    const void *owner;         /* the server the request came through, or NULL */
    bool trusted;              /* the program holding m asks: no token needed */
};

/* What the transport knows beyond the request itself. */
struct admin_req_meta {
    unsigned host_count;   /* Host header lines; 0: one when a Host header is present */
    const char *peer_text; /* client address for log lines, or NULL */
};

/* Ends every event stream that came through owner (its reader gets a last
 * "shutting down" result event). */
void admin_streams_stop(const void *owner);
/* The manager m goes away (autocert_manager_free, before it stops the
 * engine): event streams on m whose renewal has not started yet do not start
 * it (their result says "shutting down"). */
void admin_streams_cancel(const autocert_manager *m);
/* Waits until the renewal of every event stream that came through owner
 * (NULL: any) on manager m (NULL: any) has finished. */
void admin_streams_wait(const void *owner, const autocert_manager *m);

/* The head checks (see above). Returns 0 with *out NULL when the request may
 * go on, 0 with a refusal in *out, or -1 when out of memory. */
int admin_api_precheck(const struct admin_api *a, const autocert_admin_request *req,
                       const struct admin_req_meta *meta, autocert_admin_response **out);

/* Answers a request that passed admin_api_precheck. Returns 0 and a new
 * response, or -1 when out of memory. Blocks for POST renew / revoke until the
 * operation is done. */
int admin_api_route(const struct admin_api *a, const autocert_admin_request *req,
                    const struct admin_req_meta *meta, autocert_admin_response **out);

/* A new JSON {"message": msg} response, or NULL. close: the transport closes
 * the connection after it (a refusal decided from the head). */
autocert_admin_response *admin_response_message(int status, const char *msg, bool close);
/* Adds a header (copied) to r. Returns 0, or -1 (out of memory, or r has
 * ADMIN_RESP_HEADERS already). */
int admin_response_add_header(autocert_admin_response *r, const char *name, const char *value);
/* The body of a buffered response, borrowed from r (NULL for a stream). */
const char *admin_response_body(const autocert_admin_response *r, size_t *len);
/* True when the transport should close the connection after r. */
bool admin_response_close(const autocert_admin_response *r);
/* Drops the body of a buffered response (answers to HEAD). */
void admin_response_drop_body(autocert_admin_response *r);

/* Request text made safe to echo in an answer or a log line (valid UTF-8, no
 * control characters, at most ADMIN_ECHO_MAX - 1 bytes); returns buf. */
const char *admin_echo(char *buf, size_t n, const char *v);

#endif
