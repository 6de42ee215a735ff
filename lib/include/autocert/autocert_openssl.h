/*
 * autocert_openssl.h - serving a manager's certificates from an OpenSSL 3
 * server. Its own library, libautocert_openssl (pkg-config autocert-openssl,
 * CMake autocert::openssl), linked to libautocert, so that hosts using only
 * GnuTLS never load libssl.
 *
 *     SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
 *     // no certificate on ctx; ALPN goes through the install call:
 *     autocert_openssl_install(m, ctx, my_alpn_select, my_arg, &err);
 *     ... every connection: SSL *ssl = SSL_new(ctx); SSL_accept(ssl) ...
 *
 * Each handshake then gets the certificate autocert_manager_lookup chooses
 * for the client's SNI (DESIGN.md §5.2: no SNI, or a name no set covers,
 * gets main's certificate); when main holds no certificate the handshake
 * fails with a handshake_failure alert. The certificate, key and chain are
 * set on the SSL (SSL_use_cert_and_key), never on ctx, from the
 * ClientHello callback. What an SSL receives stays valid until that SSL's
 * SSL_free, also when the certificate is replaced (reload, renewal) while
 * the connection lives (OpenSSL holds its own references).
 *
 * Callbacks the adapter owns. OpenSSL keeps one ClientHello callback and one
 * ALPN select callback per SSL_CTX and has no getter for them, so the
 * install call sets both, and takes the host's own ALPN select callback
 * (alpn, alpn_arg; NULL: no ALPN is negotiated) and calls it for every
 * handshake that is not a tls-alpn-01 validation as OpenSSL would have
 * (with acme-tls/1 taken out of the client's list, below). After the install the
 * host must not call SSL_CTX_set_client_hello_cb or
 * SSL_CTX_set_alpn_select_cb on ctx (nor SSL_CTX_set_tlsext_status_cb, which
 * OCSP stapling will take), must put no certificate of its own on ctx, and
 * must not switch an SSL to another SSL_CTX (SSL_set_SSL_CTX) during the
 * handshake: that drops the certificate chosen here.
 *
 * tls-alpn-01 (RFC 8737). A ClientHello that offers "acme-tls/1" for a server
 * name with a pending tls-alpn-01 challenge of the manager (for an IP
 * identifier the CA sends the reverse name, "1.0.0.127.in-addr.arpa", which
 * is mapped to the address) gets the challenge certificate and negotiates
 * acme-tls/1, without reaching the host's ALPN callback. Every other
 * handshake gets its certificate as above, and the host's ALPN callback sees
 * the client's list with "acme-tls/1" removed (so it can never select it;
 * a client that offered only acme-tls/1 negotiates no protocol). After
 * SSL_accept, autocert_openssl_is_acme tells the two apart: such a
 * connection carries no application data, close it:
 *
 *     if (SSL_accept(ssl) == 1 && autocert_openssl_is_acme(ssl)) {
 *         SSL_shutdown(ssl);                 // a CA's validation
 *         ...SSL_free, close
 *     }
 *
 * Handshakes without SNI. A client that sends no server name (an HTTPS URL
 * with an IP address, `openssl s_client` without -servername) gets the
 * certificate of the first set whose certificate has an IP SAN equal to the
 * local address the client connected to (RFC 8738;
 * autocert_manager_lookup_addr), else main's. The adapter reads that
 * address from the SSL's socket (SSL_get_fd, getsockname; only for
 * handshakes without SNI); a host whose BIO is not a socket fd (memory
 * BIOs, its own BIO type) sets it with autocert_openssl_set_local_addr.
 *
 * What is not there yet: OCSP stapling (nothing is stapled).
 *
 * Conversion to OpenSSL objects (X509, EVP_PKEY, the chain) happens once per
 * certificate, not per handshake: each installed SSL_CTX keeps a cache keyed
 * by the certificate handle, in which a set's new certificate replaces its
 * previous one on the first handshake that gets it.
 */
#ifndef AUTOCERT_AUTOCERT_OPENSSL_H
#define AUTOCERT_AUTOCERT_OPENSSL_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "autocert/autocert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The host's ALPN select callback: the type of SSL_CTX_set_alpn_select_cb's
 * (same arguments, same return values: SSL_TLSEXT_ERR_OK with *out and *outlen
 * set, SSL_TLSEXT_ERR_NOACK, SSL_TLSEXT_ERR_ALERT_FATAL). */
typedef int (*autocert_openssl_alpn_fn)(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                        const unsigned char *in, unsigned int inlen, void *arg);

/* Binds ctx to m: sets ctx's ClientHello callback (certificate by SNI) and
 * ALPN select callback (which calls alpn(..., alpn_arg) for every non-ACME
 * handshake; alpn may be NULL). Call it before the first SSL_new(ctx). m must
 * outlive every handshake on ctx (or call autocert_openssl_uninstall first).
 * Installing again on the same ctx rebinds it (another manager, another
 * ALPN callback). The binding and its cache live with ctx and are freed by
 * SSL_CTX_free. Returns 0, or -1 with err (err may be NULL) when memory or
 * OpenSSL's ex_data index cannot be had. Thread-safe, but the host must not
 * run it concurrently with its own changes to ctx. */
AUTOCERT_API int autocert_openssl_install(autocert_manager *m, SSL_CTX *ctx,
                                          autocert_openssl_alpn_fn alpn, void *alpn_arg,
                                          autocert_error *err);

/* Unbinds ctx: later handshakes with it fail (internal_error alert) and the
 * cached certificates are released. Connections already handshaken keep
 * their certificate. A barrier: once it returns, no callback touches the
 * manager. ctx never installed: nothing happens. Thread-safe. */
AUTOCERT_API void autocert_openssl_uninstall(SSL_CTX *ctx);

/* True when ssl's handshake negotiated acme-tls/1: the peer is an ACME CA
 * validating a tls-alpn-01 challenge and got the challenge certificate. Such
 * a connection carries no application data (RFC 8737 §3): SSL_shutdown and
 * close it. False before the handshake completed, for NULL and for every
 * other connection. Does not block; reads only ssl. */
AUTOCERT_API bool autocert_openssl_is_acme(const SSL *ssl);

/* Sets the local address ssl's client connected to (sa: a sockaddr_in or
 * sockaddr_in6 of len bytes; the port is ignored; copied), for an SSL whose
 * BIO is not a socket fd (SSL_set_fd). sa NULL: no address is known (a
 * handshake without SNI then gets main's certificate). Call before
 * SSL_accept; kept with ssl and freed by SSL_free. Returns 0, or -1 (logged)
 * for another address family, a short len or no memory. Not for use while
 * ssl's handshake runs in another thread. */
AUTOCERT_API int autocert_openssl_set_local_addr(SSL *ssl, const struct sockaddr *sa,
                                                 socklen_t len);

#ifdef __cplusplus
}
#endif

#endif
