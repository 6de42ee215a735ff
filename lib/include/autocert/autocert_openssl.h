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
 * non-ACME handshake exactly as OpenSSL would have. After the install the
 * host must not call SSL_CTX_set_client_hello_cb or
 * SSL_CTX_set_alpn_select_cb on ctx (nor SSL_CTX_set_tlsext_status_cb, which
 * OCSP stapling takes), must put no certificate of its own on ctx, and
 * must not switch an SSL to another SSL_CTX (SSL_set_SSL_CTX) during the
 * handshake: that drops the certificate chosen here.
 *
 * What is not there yet (the GnuTLS adapter has none of them either):
 *   - tls-alpn-01 (RFC 8737): a handshake that offers "acme-tls/1" is an
 *     ACME validation; it is refused (no_application_protocol alert) and
 *     never reaches the host's ALPN callback, and "acme-tls/1" is never
 *     selected;
 *   - IP-address certificates for handshakes without SNI (DESIGN §5.2):
 *     such a handshake gets main's certificate;
 *
 * OCSP stapling: the install also sets ctx's status callback
 * (SSL_CTX_set_tlsext_status_cb). A client that sends status_request gets
 * the current staple of the certificate its SSL serves
 * (autocert_cert_ocsp_copy: kept by the manager's engine, never past its
 * nextUpdate), or none when there is none; the handshake never fails for
 * want of one.
 *
 * Conversion to OpenSSL objects (X509, EVP_PKEY, the chain) happens once per
 * certificate, not per handshake: each installed SSL_CTX keeps a cache keyed
 * by the certificate handle, in which a set's new certificate replaces its
 * previous one on the first handshake that gets it.
 */
#ifndef AUTOCERT_AUTOCERT_OPENSSL_H
#define AUTOCERT_AUTOCERT_OPENSSL_H

#include <openssl/ssl.h>

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

#ifdef __cplusplus
}
#endif

#endif
