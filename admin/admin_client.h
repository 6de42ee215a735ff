/*
 * admin_client.h - how the CLI commands (list, info, renew, revoke) reach the
 * data, on the public API alone: in-process (-c FILE: a manager opened from
 * the configuration; documents through autocert_admin_handle_trusted,
 * operations through autocert_manager_renew / _revoke) or a running daemon
 * (--admin URL, token from AUTOCERT_ADMIN_TOKEN) through its REST API with
 * libcurl. Either way a command reads the same JSON documents the API
 * serves, so `list` and `info` show exactly what the API shows.
 *
 * Text from the documents (certificate names, CA messages) is escaped before
 * it reaches the terminal (autocert_text_sanitize).
 */
#ifndef AUTOCERT_ADMIN_CLIENT_H
#define AUTOCERT_ADMIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <autocert/autocert.h>
#include <autocert/autocert_admin.h>

#include "cli.h"

struct admin_ctx {
    autocert_manager *m; /* in-process */
    char *base_url;      /* remote: without trailing '/' */
    char *token;         /* remote: from AUTOCERT_ADMIN_TOKEN, or NULL */
};

/* Opens the context from the parsed options (remote when o->admin_url is
 * set; otherwise the configuration o->config_path, loaded from disk, engine
 * not started). Prints problems to stderr and returns the exit code to use
 * (EXIT_OK = opened). admin_ctx_close it in any case. */
int admin_ctx_open(const struct cli_opts *o, struct admin_ctx *ctx);
void admin_ctx_close(struct admin_ctx *ctx);
static inline bool admin_ctx_remote(const struct admin_ctx *ctx)
{
    return ctx->base_url != NULL;
}

/* One request: answered in-process or by the daemon. path has no query;
 * query (without '?', already escaped) may be NULL. *body gets a new
 * NUL-terminated body (free), *status the HTTP status. Returns 0, or -1 with
 * the reason printed to stderr. */
int admin_ctx_request(struct admin_ctx *ctx, const char *method, const char *path,
                      const char *query, long *status, char **body);

/* admin_ctx_request that also gives the cursor of the next page: the
 * `cursor` parameter of the answer's `Link: <...>; rel="next"` header, into
 * next (size n; "" when there is no next page). */
int admin_ctx_request_page(struct admin_ctx *ctx, const char *path, const char *query, long *status,
                           char **body, char *next, size_t n);

/* Appends "&key=value" (the '&' only when buf is not empty; value escaped)
 * to the query in buf (size n). Returns 0, or -1 when it does not fit. */
int admin_query_add(char *buf, size_t n, const char *key, const char *value);

/* GET path?query from the daemon as a Server-Sent Events stream: calls
 * fn(arg, event, data) for each event as it arrives. Returns 0 when the
 * stream ended (with *status the HTTP status; a non-200 answer's body is
 * passed as event "error"), -1 on a transport failure (printed). */
typedef void (*admin_sse_fn)(void *arg, const char *event, const char *data);
int admin_client_stream(struct admin_ctx *ctx, const char *path, const char *query, admin_sse_fn fn,
                        void *arg, long *status);

/* "name=ARG" when ARG is written as a set name (main, extra[N], extraN),
 * else "domain=ARG", escaped, into buf. Returns buf, or NULL when it does
 * not fit or is out of memory. */
const char *admin_selector_query(const char *arg, char *buf, size_t n);

/* The {"message": ...} of an error body, escaped for a terminal, into buf
 * ("unexpected answer" when there is none). Returns buf. */
const char *admin_body_message(const char *body, char *buf, size_t n);
/* True when an error body says that no set has that name or covers that
 * domain (kind select.no_match): exit status 2. */
bool admin_body_no_match(const char *body);

/* Prints a {"results":[...]} document, one line per set; returns EXIT_OK when
 * every result is ok, EXIT_FAILED otherwise (or when it does not parse). */
int admin_print_results(const char *json);

/* Prints a progress note ("  [set] message") to stdout, escaped, flushed. */
void admin_print_progress(const char *set, const char *message);

/* Formats Unix time t as RFC 3339 UTC ("2026-12-04T20:14:06Z") into out. */
void admin_time_format(long long t, char *out, size_t n);

#endif
