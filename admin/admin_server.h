/*
 * admin_server.h - the REST admin API of `autocert serve` (libmicrohttpd) and
 * the JSON / Prometheus bodies it answers with (admin_json.c), which the CLI
 * also uses so that `autocert list|info` show exactly what the API shows.
 *
 * Endpoints (DESIGN.md 5.5):
 *   GET  /api/v1/cert/info      GoDoxy's certificate array (404 when none)
 *   GET  /api/v1/cert/status    every set's state
 *   POST /api/v1/cert/renew     forced renewal (?name= | ?domain=), waits
 *   GET  /api/v1/cert/renew     the same, streamed as Server-Sent Events
 *   POST /api/v1/cert/revoke    ?name=SET[&reason=R]: revoke + new certificate
 *   GET  /healthz               {"ok":true} (never needs the token)
 *   GET  /metrics               Prometheus text
 * With admin.token set, every other request needs "Authorization: Bearer
 * <token>" (constant-time compare, OWS around it ignored), else 401.
 * Before that, every request passes the Host / Origin / Sec-Fetch-Site checks
 * of admin_guard.h (421 / 403), and the connection caps and whole-request
 * deadline of admin_conn.h (503 / 408). Every error answer is JSON, except
 * the few that libmicrohttpd gives by itself (docs/admin-api.md, "Limits").
 *
 * Threads: one thread per connection (MHD), so a long renewal never blocks
 * /healthz, plus the deadline reaper of admin_conn.c. Every function here may
 * be called from any thread.
 */
#ifndef AUTOCERT_ADMIN_SERVER_H
#define AUTOCERT_ADMIN_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"
#include "lifecycle.h"

struct admin_server;

/* Refuses (-1, AC_ERR_CONFIG, clear message) an admin.listen that does not
 * parse or that is not a loopback address while admin.token is unset. The
 * daemon calls this before doing anything else and exits 2 on failure. */
int admin_check_listen(const struct config *cfg, struct ac_error *e);

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool admin_host_is_loopback(const char *host);

/* Starts the API on cfg->admin.listen (exactly that address; port 0 picks a
 * free one, see admin_server_port). cfg, m and lc are borrowed and must
 * outlive the server. Returns 0 or -1 with e. */
int admin_server_start(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                       struct admin_server **out, struct ac_error *e);
struct admin_limits; /* admin_conn.h */
/* The same with other connection limits than the ADMIN_* defaults (tests;
 * later settings). limits is copied. */
int admin_server_start_limits(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                              const struct admin_limits *limits, struct admin_server **out,
                              struct ac_error *e);
/* The bound port. */
int admin_server_port(const struct admin_server *s);
/* After a configuration reload: points the server at the new objects (NULL
 * lc: answer 503 "reloading" until the next rebind). Waits for the requests
 * that use the old ones, so the caller may free those afterwards. A token
 * change takes effect; a listen change needs a restart. */
void admin_server_rebind(struct admin_server *s, const struct config *cfg, autocert_manager *m,
                         struct lifecycle *lc);
/* Stops the daemon (waits for running requests) and frees s. NULL is a no-op. */
void admin_server_stop(struct admin_server *s);

/* ---- bodies (admin_json.c); every returned string is malloc'd ---- */

/* {"message": msg} */
char *admin_json_message(const char *msg);
/* GET /api/v1/cert/info: the array (main first) of sets holding a
 * certificate; *count gets its length. NULL on ENOMEM. */
char *admin_json_info(struct lifecycle *lc, const struct config *cfg, size_t *count);
/* GET /api/v1/cert/status. */
char *admin_json_status(struct lifecycle *lc, const struct config *cfg);
/* {"results":[{"name","ok","error"}]} for the entries with a name. */
char *admin_json_results(const struct lifecycle_result *r, size_t n);
/* {"set": set, "message": msg} (SSE progress data). */
char *admin_json_progress(const char *set, const char *msg);
/* Prometheus text exposition of the lifecycle's status and counters. */
char *admin_metrics_text(struct lifecycle *lc);

/* Set selection as typed in the API and the CLI: "main", "extra[N]",
 * "extraN" (name) or a domain of a set (case-insensitive; "*.x" in a set
 * covers one more label; sets without configured domains match their
 * certificate's names when lc is given). Index or -1. */
int admin_find_set_by_name(const struct config *cfg, const char *name);
int admin_find_set_by_domain(const struct config *cfg, struct lifecycle *lc, const char *domain);
/* Name first, then domain. */
int admin_find_set(const struct config *cfg, struct lifecycle *lc, const char *arg);

/* Revocation reason: a number 0..10 or an RFC 5280 name (keyCompromise,
 * superseded, cessationOfOperation ...). -1 for NULL/"" (omit), -2 unknown. */
int admin_parse_reason(const char *s);

#endif
