/*
 * admin_server.h - the REST admin API on its own libmicrohttpd server
 * (admin_http.c; public form: autocert_admin_start). Every request is
 * answered by the transport-free handler of admin_api.h, the one that
 * autocert_admin_handle also uses.
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
 * /healthz, the deadline reaper of admin_conn.c, and one thread per event
 * stream (admin_stream.h). Every function here may be called from any thread.
 */
#ifndef AUTOCERT_ADMIN_SERVER_H
#define AUTOCERT_ADMIN_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "admin_json.h"
#include "autocert/autocert.h"
#include "config.h"
#include "error.h"
#include "lifecycle.h"

struct admin_server;
struct admin_limits; /* admin_conn.h */

#define ADMIN_DEFAULT_LISTEN "127.0.0.1:8555"

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool admin_host_is_loopback(const char *host);

/* Starts the API of manager m (borrowed; must outlive the server) on
 * `listen` (NULL: the configuration's admin.listen, default
 * ADMIN_DEFAULT_LISTEN; exactly that address; port 0 picks a free one, see
 * admin_server_port) with the connection limits `limits` (copied; NULL: the
 * ADMIN_* defaults). A non-loopback address without admin.token is refused
 * (AC_ERR_CONFIG). admin.token is read from the manager's configuration at
 * every request, so a reload that changes it takes effect at once. Returns 0
 * or -1 with e. */
int admin_server_open(autocert_manager *m, const char *listen, const struct admin_limits *limits,
                      struct admin_server **out, struct ac_error *e);
/* The bound port. */
int admin_server_port(const struct admin_server *s);
/* Stops gracefully and frees s: stops accepting, ends the event streams
 * still open (a last "shutting down" result event; their renewals go on),
 * waits up to ADMIN_STOP_GRACE_MS for the answers under way to go out, then
 * closes what is left and waits for the server's threads. NULL is a no-op. */
#define ADMIN_STOP_GRACE_MS 2000
void admin_server_stop(struct admin_server *s);

/* ---- kept for `autocert serve` until it uses autocert_admin_start ---- */

/* Refuses (-1, AC_ERR_CONFIG) an admin.listen that does not parse or that is
 * not a loopback address while admin.token is unset (configuration
 * validation already does). */
int admin_check_listen(const struct config *cfg, struct ac_error *e);
/* admin_server_open(m, cfg->admin.listen, limits (NULL: defaults), ...); lc
 * is not used. */
int admin_server_start(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                       struct admin_server **out, struct ac_error *e);
int admin_server_start_limits(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                              const struct admin_limits *limits, struct admin_server **out,
                              struct ac_error *e);
/* Does nothing: the token comes from the manager's configuration. */
void admin_server_rebind(struct admin_server *s, const struct config *cfg, autocert_manager *m,
                         struct lifecycle *lc);

#endif
