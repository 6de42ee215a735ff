/*
 * serve_tls.h - the TLS listener of `autocert serve` (serve.listen): every
 * handshake picks its certificate through the library (SNI lookup on the
 * current manager); each HTTP request is answered "hello <sni> from <set>".
 *
 * The manager can be replaced while the listener runs (config reload): new
 * connections use the new one, connections already open keep the old one,
 * which is freed when its last connection ends.
 *
 * Limits (serve_tls.c): the handshake plus the first request, and each later
 * request, must arrive within 10 s (SERVE_REQUEST_DEADLINE_S; a client that
 * stays silent is disconnected then); a connection lives at most 60 s
 * (SERVE_CONN_MAX_S); requests up to 8 KiB; 256 open connections
 * (SERVE_MAX_CONNS), 16 from one client address (SERVE_MAX_CONNS_PER_IP).
 * A refused connection is closed at once (one warning per minute).
 */
#ifndef AUTOCERT_SERVE_TLS_H
#define AUTOCERT_SERVE_TLS_H

#include "autocert/autocert.h"
#include "error.h"

struct serve_tls;

/* Binds `listen` ("host:port", "[v6]:port") and starts the accept thread.
 * Takes ownership of m (freed by serve_tls_stop or a later swap). Returns 0 and
 * a new listener, or -1 with e (m is then still the caller's). */
int serve_tls_start(const char *listen, autocert_manager *m, struct serve_tls **out,
                    struct ac_error *e);
/* Serves with m from now on (takes ownership; the old manager is freed once no
 * connection uses it). */
int serve_tls_swap(struct serve_tls *t, autocert_manager *m, struct ac_error *e);
/* A hold on the manager served now (a later swap does not free it until
 * serve_tls_release): for the lifecycle a reload retires, which still uses
 * the old manager while its last order finishes. NULL when out of memory. */
struct serve_hold;
struct serve_hold *serve_tls_hold(struct serve_tls *t);
/* Drops the hold (h NULL: nothing); call before serve_tls_stop. */
void serve_tls_release(struct serve_tls *t, struct serve_hold *h);
/* Stops accepting, shuts every open connection down, waits (at most ~5 s)
 * for their threads, frees all. NULL is a no-op. */
void serve_tls_stop(struct serve_tls *t);

#endif
