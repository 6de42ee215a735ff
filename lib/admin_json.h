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
/* `only` of the documents below: every set. */
#define ADMIN_ALL_SETS ((size_t)-1)
/* GET /api/v1/cert/info: the array (main first) of sets holding a
 * certificate, or only set `only`; *count gets its length. */
char *admin_json_info(autocert_manager *m, size_t only, size_t *count);
/* GET /api/v1/cert/status: every set, or only set `only`. */
char *admin_json_status(autocert_manager *m, size_t only);
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
