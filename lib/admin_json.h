/*
 * admin_json.h - the documents of the REST admin API (DESIGN.md 5.5,
 * docs/admin-api.md): certificate info, set status, renewal results,
 * progress notes, Prometheus metrics.
 * JSON is built with json-c; outside text (certificate names, CA error
 * messages) goes through jsonu_add_text; no key material reaches any of it.
 *
 * Every returned string is new (free with free()); NULL means out of memory.
 * Thread-safe: no state of its own.
 */
#ifndef AUTOCERT_ADMIN_JSON_H
#define AUTOCERT_ADMIN_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "autocert/autocert.h"

/* {"message": msg} (msg escaped: valid UTF-8, no control characters). */
char *admin_json_message(const char *msg);
/* {"message": msg, "kind": kind} (kind NULL: left out), e.g. kind
 * "select.no_match" for a selector no set matches. */
char *admin_json_error(const char *msg, const char *kind);
struct acset;
/* Which sets a page of GET /api/v1/cert/status or /info lists: the filters
 * (combined with AND) and where it starts. Sets are in their stable order:
 * YAML sets (main, extra[1] ...), then run-time sets by name. */
struct admin_page {
    struct acset *only; /* ?name= / ?domain=: that set alone (borrowed), or NULL */
    bool none;          /* name and domain chose different sets: nothing matches */
    unsigned states;    /* bit (1u << state) of each state asked for; 0: any */
    size_t limit;       /* at most this many (0: all) */
    bool after;         /* a cursor: start after the set it names */
    bool after_runtime; /* ... a run-time set (after_name), else YAML position after_pos */
    size_t after_pos;
    char after_name[72];
};
/* The page as a JSON array: status objects, or (info) GoDoxy's info objects
 * of the sets that hold a certificate. *count gets its length; *next a new
 * cursor (free) when more sets match after it, else NULL. */
char *admin_json_page(autocert_manager *m, const struct admin_page *p, bool info, size_t *count,
                      char **next);
/* The opaque cursor (base64url) that points after set s at position pos: a
 * new string, NULL when out of memory. */
char *admin_cursor_make(const struct acset *s, size_t pos);
/* Reads a cursor into p (after, after_runtime, after_pos/after_name).
 * Returns 0, or -1 when it is not one of ours. */
int admin_cursor_parse(const char *cursor, struct admin_page *p);
/* {"set": set, "message": msg, "time": now} (SSE progress data). */
char *admin_json_progress(const char *set, const char *msg);
/* Prometheus text exposition of the sets' status and the engine's counters. */
char *admin_metrics_text(autocert_manager *m);

/* {"results":[{"name","ok","error"}...]} built from an operation's result
 * callbacks (autocert_progress.result), in the order they come. */
struct admin_results {
    struct json_object *arr;
    size_t count;
    bool failed; /* a result failed (or memory ran out) */
};
void admin_results_init(struct admin_results *r);
void admin_results_add(struct admin_results *r, const char *set, const autocert_error *err);
/* The document (a new string, NULL when out of memory), with "message" when
 * message is not NULL; empties r. */
char *admin_results_finish(struct admin_results *r, const char *message);
void admin_results_clear(struct admin_results *r);

#endif
