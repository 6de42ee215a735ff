/*
 * serve_tls.h - the TLS listener of `autocert serve` (serve.listen): every
 * handshake picks its certificate through the library (SNI lookup on the
 * current manager); each HTTP request is answered "hello <sni> from <set>".
 *
 * The manager can be replaced while the listener runs (config reload): new
 * connections use the new one, connections already open keep the old one,
 * which is freed when its last connection ends.
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
/* Stops accepting, waits (at most ~12 s) for open connections, frees all.
 * NULL is a no-op. */
void serve_tls_stop(struct serve_tls *t);

#endif
