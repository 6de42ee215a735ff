/*
 * admin_json.h - the documents of the REST admin API (DESIGN.md 5.5,
 * docs/admin-api.md): certificate info, set status, renewal results,
 * progress notes, Prometheus metrics, plus the revocation-reason parser.
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

#include "config.h"
#include "lifecycle.h"

/* {"message": msg} (msg escaped: valid UTF-8, no control characters). */
char *admin_json_message(const char *msg);
/* {"message": msg, "kind": kind} (kind NULL: left out), e.g. kind
 * "select.no_match" for a selector no set matches. */
char *admin_json_error(const char *msg, const char *kind);
/* `only` of the documents below: every set. */
#define ADMIN_ALL_SETS ((size_t)-1)
/* GET /api/v1/cert/info: the array (main first) of sets holding a
 * certificate, or only set `only`; *count gets its length. */
char *admin_json_info(struct lifecycle *lc, const struct config *cfg, size_t only, size_t *count);
/* GET /api/v1/cert/status: every set, or only set `only`. */
char *admin_json_status(struct lifecycle *lc, const struct config *cfg, size_t only);
/* {"results":[{"name","ok","error"}]} for the entries with a name. */
char *admin_json_results(const struct lifecycle_result *r, size_t n);
/* {"set": set, "message": msg, "time": now} (SSE progress data). */
char *admin_json_progress(const char *set, const char *msg);
/* Prometheus text exposition of the lifecycle's status and counters. */
char *admin_metrics_text(struct lifecycle *lc);

/* Set selection as typed in the API and the CLI: "main", "extra[N]",
 * "extraN" (name) or a domain of a set. Index or -1. (Until the manager's
 * one selector, autocert_manager_find, replaces them.) */
int admin_find_set_by_name(const struct config *cfg, const char *name);
int admin_find_set_by_domain(const struct config *cfg, struct lifecycle *lc, const char *domain);
int admin_find_set(const struct config *cfg, struct lifecycle *lc, const char *arg);

/* Revocation reason: a number 0..10 or an RFC 5280 name (keyCompromise,
 * superseded, cessationOfOperation ...). -1 for NULL/"" (omit), -2 unknown. */
int admin_parse_reason(const char *s);

#endif
