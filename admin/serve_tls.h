/*
 * serve_tls.h - the TLS listener of `autocert serve` (serve.listen): every
 * handshake picks its certificate through the library (SNI lookup on the
 * current manager; without SNI, a set's IP certificate for the local address
 * the client connected to, else main); each HTTP request is answered "hello
 * <sni> from <set>". Each session answers tls-alpn-01 validations while the
 * manager has a challenge pending (autocert_gnutls_session_init); such a
 * connection is closed after its handshake.
 *
 * The manager is borrowed for the listener's whole life: a configuration
 * reload happens inside it (autocert_manager_reload_config).
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

#include <autocert/autocert.h>

struct serve_tls;

/* Binds `listen` ("host:port", "[v6]:port") and starts the accept thread.
 * m is borrowed and must outlive the listener (serve_tls_stop first). Returns
 * 0 and a new listener, or -1 with err. */
int serve_tls_start(const char *listen, autocert_manager *m, struct serve_tls **out,
                    autocert_error *err);
/* Stops accepting, shuts every open connection down, waits (at most ~5 s)
 * for their threads, frees all. NULL is a no-op. */
void serve_tls_stop(struct serve_tls *t);

#endif
