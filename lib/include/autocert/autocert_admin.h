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
 * required for everything but /healthz when configured; without a token the
 * handler form answers only requests whose peer is a loopback address; a
 * foreign Host, a foreign Origin or `Sec-Fetch-Site: cross-site` is refused,
 * and a state change is never made by a plain cross-site GET.
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

typedef struct autocert_error autocert_error; /* TEMP until autocert.h has it */
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
/* Stops accepting, ends open requests (streams get a final "shutting down"),
 * frees a. NULL is fine. Blocks until the server's threads are gone. */
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
 * or -1 only when out of memory. Never blocks for long: a forced renewal
 * (POST /api/v1/cert/renew, GET as Server-Sent Events) runs in a library
 * thread and its answer comes through autocert_admin_response_read. */
AUTOCERT_API int autocert_admin_handle(autocert_manager *m, const autocert_admin_request *req,
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
 * renewal itself goes on. */
AUTOCERT_API void autocert_admin_response_free(autocert_admin_response *r);

#ifdef __cplusplus
}
#endif

#endif
