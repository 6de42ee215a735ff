/*
 * autocert_admin.h - the REST admin API of a manager (DESIGN §5.5; the
 * endpoints and answers are listed in the README and docs/admin-api.md).
 *
 * Two forms, one code path:
 *   - its own HTTP server (libmicrohttpd, library threads):
 *     autocert_admin_start(m, NULL, &a, &err) listens on the configuration's
 *     admin.listen (or the address given);
 *   - a request handler for a host that has its own HTTP server and mounts
 *     the API under its routes: autocert_admin_handle(m, &req, &resp), then
 *     send what the response holds.
 * Both apply the same rules: admin.token (bearer, constant-time compare) is
 * required for everything but /healthz when configured; without a token only
 * requests whose peer is a loopback address are answered; a foreign Host, a
 * foreign Origin or `Sec-Fetch-Site: cross-site` is refused, and a state
 * change is never made by a plain cross-site GET. The handler form does not
 * know the host's address: there, without a token, Host must be a loopback
 * name (any port), and an Origin must be the request's own Host (http or
 * https). The connection limits (caps, request deadline) are the server's.
 *
 * Thread-safety: every function may be called from any thread; a response
 * is used by one thread at a time. The manager must outlive every server;
 * autocert_manager_free waits for the renewals of event streams started on
 * it, so a response may be freed before or after it.
 */
#ifndef AUTOCERT_AUTOCERT_ADMIN_H
#define AUTOCERT_AUTOCERT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "autocert/autocert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct autocert_admin autocert_admin;

/* Starts the API on `listen` ("host:port", "[v6]:port"; NULL: admin.listen of
 * the manager's configuration, default 127.0.0.1:8555; port 0 picks a free
 * one). A non-loopback address without admin.token is refused
 * (AUTOCERT_E_CONFIG). m must outlive the server. Returns 0 and a new server
 * (autocert_admin_stop), or -1 with err (e.g. "admin.listen 127.0.0.1:8555:
 * address already in use"). */
AUTOCERT_API int autocert_admin_start(autocert_manager *m, const char *listen, autocert_admin **out,
                                      autocert_error *err);
/* The bound port. */
AUTOCERT_API int autocert_admin_port(const autocert_admin *a);
/* Stops accepting, ends open event streams (their last event is a result
 * with the message "shutting down"; the renewals go on), gives the answers
 * under way up to 2 s to go out, closes what is left and frees a. NULL is
 * fine. Blocks until the server's threads are gone: a POST renewal or
 * revocation still running keeps it waiting (stop the engine first,
 * autocert_manager_stop, and they are answered "cancelled" at once). */
AUTOCERT_API void autocert_admin_stop(autocert_admin *a);

/* ---- the handler form --------------------------------------------------- */

/* A request as the host's server received it. Everything is borrowed for the
 * duration of autocert_admin_handle. */
typedef struct autocert_admin_request {
    const char *method; /* "GET", "POST" ... */
    const char *path;   /* "/api/v1/cert/status", without the host's
                         * mount prefix and without the query */
    const char *query;  /* "name=main&limit=10" (no '?'), or NULL */
    /* Header lookup: the value of header `name` (case-insensitive), or NULL. */
    const char *(*header)(void *arg, const char *name);
    void *header_arg;
    const void *body;
    size_t body_len;
    const struct sockaddr *peer; /* the client's address, or NULL (unknown:
                                  * treated as not loopback) */
    socklen_t peer_len;
} autocert_admin_request;

typedef struct autocert_admin_response autocert_admin_response;

/* Answers req. Returns 0 and a new response in *out (autocert_admin_response_free),
 * or -1 only when out of memory. A HEAD request gets the GET's status and
 * headers without a body.
 * Blocks: POST /api/v1/cert/renew and POST /api/v1/cert/revoke answer when
 * the operation is done (their status, 200 or 500, depends on the outcome,
 * and HTTP sends the status first), like autocert_manager_renew/_revoke;
 * call it on a thread that may wait. Everything else returns at once; the
 * event-stream renewal (GET /api/v1/cert/renew) runs in a library thread and
 * its events come through autocert_admin_response_read. */
AUTOCERT_API int autocert_admin_handle(autocert_manager *m, const autocert_admin_request *req,
                                       autocert_admin_response **out);

/* The same answers for the program that holds m itself (no network between
 * them: a CLI, a host's own status page): no token, no Host / Origin checks.
 * path and query as in autocert_admin_request (query NULL or "name=main").
 * Returns 0 and a new response, or -1 when out of memory. Blocks like
 * autocert_admin_handle. */
AUTOCERT_API int autocert_admin_handle_trusted(autocert_manager *m, const char *method,
                                               const char *path, const char *query,
                                               autocert_admin_response **out);

/* The status code (200, 401, 404 ...). */
AUTOCERT_API int autocert_admin_response_status(const autocert_admin_response *r);
/* Header i (0-based) of the answer: Content-Type, Cache-Control, Allow,
 * WWW-Authenticate, Link ... Returns 0 with borrowed name/value, or -1 past
 * the last one. */
AUTOCERT_API int autocert_admin_response_header(const autocert_admin_response *r, size_t i,
                                                const char **name, const char **value);
/* True when the body is a stream (text/event-stream): send it as it comes,
 * without Content-Length, and flush after every read. */
AUTOCERT_API bool autocert_admin_response_streaming(const autocert_admin_response *r);
/* Reads the next part of the body into buf: returns the number of bytes
 * (> 0), 0 at the end of the body, or -1 on an error (the stream cannot go
 * on). For a stream it blocks until data is there (keep-alive comments come
 * at least every 10 s). */
AUTOCERT_API ssize_t autocert_admin_response_read(autocert_admin_response *r, void *buf, size_t n);
/* Frees r (NULL is fine). Freeing a stream early stops listening to it; the
 * renewal itself goes on (autocert_manager_stop cancels it, and
 * autocert_manager_free waits for it). */
AUTOCERT_API void autocert_admin_response_free(autocert_admin_response *r);

/* ---- for clients ---------------------------------------------------- */

/* Copies len bytes of outside text (an API answer's names and messages) into
 * dst (size n; NUL-terminated when n > 0) so that it is safe to print: valid
 * UTF-8 without control characters ('\n', '\r', '\t' become "\n", "\r",
 * "\t"; other control characters and invalid bytes become "\xNN"), cut at a
 * character boundary when it does not fit. Returns the bytes written. */
AUTOCERT_API size_t autocert_text_sanitize(char *dst, size_t n, const char *src, size_t len);

#ifdef __cplusplus
}
#endif

#endif
