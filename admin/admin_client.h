/*
 * admin_client.h - how the CLI commands (list, info, renew, revoke) reach the
 * data: either in-process (-c FILE: a manager and a lifecycle built from the
 * configuration, not started; `renew` and `revoke` start its workers with
 * lifecycle_start_oneshot) or a running daemon (--admin URL, token
 * from AUTOCERT_ADMIN_TOKEN) through its REST API. Either way the command gets
 * the same JSON documents (admin_server.h), so both show the same thing.
 */
#ifndef AUTOCERT_ADMIN_CLIENT_H
#define AUTOCERT_ADMIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "error.h"
#include "lifecycle.h"

struct http_client;

struct admin_ctx {
    /* in-process */
    autocert_manager *m;       /* owns cfg */
    const struct config *cfg;  /* borrowed from m */
    struct lifecycle *lc;
    /* remote */
    char *base_url;            /* without trailing '/' */
    char *token;               /* from AUTOCERT_ADMIN_TOKEN, or NULL */
    struct http_client *http;
};

/* Opens the context from the parsed options (remote when o->admin_url is set).
 * Prints problems to stderr and returns the exit code to use (0 = opened). */
int admin_ctx_open(const struct cli_opts *o, struct admin_ctx *ctx);
void admin_ctx_close(struct admin_ctx *ctx);
static inline bool admin_ctx_remote(const struct admin_ctx *ctx)
{
    return ctx->base_url != NULL;
}

/* One request to the daemon; path includes the query. *body gets the
 * malloc'd response body (NUL-terminated), *status the HTTP status.
 * Returns 0 or -1 (transport failure, e set). */
int admin_client_request(struct admin_ctx *ctx, const char *method, const char *path,
                         long *status, char **body, struct ac_error *e);

/* GET path as a Server-Sent Events stream: calls fn(arg, event, data) for each
 * event as it arrives. Returns 0 when the stream ended normally (with *status
 * the HTTP status; a non-200 answer's body is passed as event "error"), -1 on
 * a transport failure (e set). */
typedef void (*admin_sse_fn)(void *arg, const char *event, const char *data);
int admin_client_stream(struct admin_ctx *ctx, const char *path, admin_sse_fn fn, void *arg,
                        long *status, struct ac_error *e);

/* The document a GET of path would answer, built in-process or fetched.
 * path is "/api/v1/cert/info" or "/api/v1/cert/status". Returns a malloc'd
 * body and the status, or NULL (message printed). */
char *admin_ctx_get_doc(struct admin_ctx *ctx, const char *path, long *status);

/* Prints a {"results":[...]} document, one line per set; returns EXIT_OK when
 * every result is ok, EXIT_FAILED otherwise (or when it does not parse). */
int admin_print_results(const char *json);

/* Prints a progress note ("  [set] message") to stdout, flushed. */
void admin_print_progress(const char *set, const char *message);

#endif
