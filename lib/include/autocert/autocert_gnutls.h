/*
 * autocert_gnutls.h - serving a manager's certificates from a GnuTLS server.
 *
 *     gnutls_certificate_credentials_t cred;
 *     gnutls_certificate_allocate_credentials(&cred);
 *     autocert_gnutls_install(m, cred);       // once, before any handshake
 *     ... every session: gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred)
 *
 * Each handshake then gets the certificate autocert_manager_lookup chooses for
 * the client's SNI; when main holds no certificate the handshake fails. What
 * GnuTLS receives stays valid until that session's gnutls_deinit, also when the
 * certificate is replaced (reload, renewal) while the session lives.
 *
 * OCSP stapling. The retrieve callback also hands GnuTLS the certificate's
 * current OCSP staple (autocert_cert_ocsp_copy: kept by the manager's
 * engine, never past its nextUpdate), which GnuTLS sends to a client that
 * asked for it (status_request). With autocert_gnutls_session_init the
 * adapter sees the ClientHello and copies the staple only for those
 * clients. No staple: the handshake goes on without one.
 *
 * Server names GnuTLS refuses. GnuTLS (3.7.9 checked) validates the SNI
 * extension while it parses the ClientHello, before this callback runs: a DNS
 * name with a character other than a letter, a digit, '-' or '.' (an
 * underscore, as in foo_bar.example, common inside networks; a space) fails
 * the handshake with GNUTLS_E_RECEIVED_DISALLOWED_NAME, and no GnuTLS setting
 * lets it through, so such a client cannot be given main's certificate. Send
 * the client a proper alert on a failed handshake instead of closing silently:
 *
 *     if (rc < 0 && gnutls_error_is_fatal(rc))
 *         gnutls_alert_send_appropriate(s, rc);   // illegal_parameter here
 *
 * (`autocert serve` and examples/gateway.c do). Names that are merely odd but
 * allowed (no SNI, an empty label, over 253 bytes, an unknown name) get main's
 * certificate as DESIGN.md §5.2 says.
 *
 * Per session (optional): tls-alpn-01 and the local address.
 *
 *     gnutls_init(&s, GNUTLS_SERVER);
 *     gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
 *     gnutls_datum_t alpn[] = {{(void *)"h2", 2}, {(void *)"http/1.1", 8}};
 *     autocert_gnutls_session_init(m, s, alpn, 2, 0);   // instead of
 *                                                      // gnutls_alpn_set_protocols
 *     gnutls_transport_set_int(s, fd);
 *     rc = gnutls_handshake(s);
 *     if (rc == 0 && autocert_gnutls_session_is_acme(s)) {
 *         gnutls_bye(s, GNUTLS_SHUT_WR);                // a CA's validation: no
 *         ...close                                      // application data
 *     }
 *
 * A session set up this way answers the CA's tls-alpn-01 validation (RFC
 * 8737) while the manager's issuer has a challenge pending for the server
 * name: a ClientHello offering acme-tls/1 for that name negotiates acme-tls/1
 * and gets the challenge certificate (for an IP identifier the CA sends the
 * reverse name, "1.0.0.127.in-addr.arpa", which is mapped to the address).
 * acme-tls/1 is never selected for a name without a pending challenge (such a
 * handshake negotiates the host's protocols, or none, and gets the set's
 * certificate as usual), and a handshake that did not negotiate acme-tls/1
 * never gets a challenge certificate. Sessions that skip
 * autocert_gnutls_session_init work as before and cannot answer tls-alpn-01.
 *
 * Handshakes without SNI. A client that sends no server name (an HTTPS URL
 * with an IP address, `gnutls-cli --disable-sni`) gets the certificate of the
 * first set whose certificate has an IP SAN equal to the local address the
 * client connected to (RFC 8738; autocert_manager_lookup_addr), else main's.
 * The adapter reads that address from the socket of gnutls_transport_set_int
 * (getsockname, only for handshakes without SNI); a host whose transport is
 * not a socket fd (gnutls_transport_set_ptr with push/pull functions) sets it
 * with autocert_gnutls_session_set_local_addr.
 */
#ifndef AUTOCERT_AUTOCERT_GNUTLS_H
#define AUTOCERT_AUTOCERT_GNUTLS_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "autocert/autocert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Installs the retrieve callback on cred and binds cred to m. cred should
 * carry no certificate of its own. m must outlive every session using cred
 * (or call autocert_gnutls_uninstall first). At most 64 credentials can be
 * bound at once. Returns 0, or -1 when the table is full. Thread-safe. */
AUTOCERT_API int autocert_gnutls_install(autocert_manager *m,
                                         gnutls_certificate_credentials_t cred);

/* Unbinds cred: later handshakes with it fail. Sessions already handshaken keep
 * their certificate. Thread-safe. */
AUTOCERT_API void autocert_gnutls_uninstall(gnutls_certificate_credentials_t cred);

/* Prepares one server session for tls-alpn-01: call after gnutls_init and
 * before gnutls_handshake, instead of gnutls_alpn_set_protocols (the ALPN list
 * belongs to the session, and this call owns it from now on). host_alpn: the
 * host's own protocols (n of them, at most 7, each 1..31 bytes, never
 * "acme-tls/1"; n 0 for none; copied), alpn_flags: GNUTLS_ALPN_* as for
 * gnutls_alpn_set_protocols. Installs the session's handshake hook
 * (gnutls_handshake_set_hook_function, GNUTLS_HANDSHAKE_CLIENT_HELLO,
 * GNUTLS_HOOK_PRE; a host must not replace it) and keeps a small state on the
 * session (a session-local extension under the private-use ExtensionType
 * 65280, never sent; freed by gnutls_deinit). gnutls_session_set_ptr stays
 * the host's. m must be the manager cred is bound to (autocert_gnutls_install)
 * and outlive the session. Returns 0, or -1 (logged: a bad argument, ENOMEM).
 * Call it from the thread that owns the session; it does not block. */
AUTOCERT_API int autocert_gnutls_session_init(autocert_manager *m, gnutls_session_t session,
                                              const gnutls_datum_t *host_alpn, unsigned n,
                                              unsigned alpn_flags);

/* True when the session's handshake negotiated acme-tls/1: the peer is an ACME
 * CA validating a tls-alpn-01 challenge and got the challenge certificate.
 * Such a connection carries no application data (RFC 8737 §3): send
 * close_notify (gnutls_bye) and close it. False before the handshake
 * completed and for every other session. Does not block. */
AUTOCERT_API bool autocert_gnutls_session_is_acme(gnutls_session_t session);

/* Sets the local address the session's client connected to (sa: a
 * sockaddr_in or sockaddr_in6 of len bytes; the port is ignored), for
 * transports that are not a socket fd given with gnutls_transport_set_int.
 * sa NULL: no address is known (a handshake without SNI then gets main's
 * certificate). Needs autocert_gnutls_session_init first; call before the
 * handshake. Returns 0, or -1 (no session state, not an IPv4/IPv6 address;
 * logged). */
AUTOCERT_API int autocert_gnutls_session_set_local_addr(gnutls_session_t session,
                                                        const struct sockaddr *sa, socklen_t len);

#ifdef __cplusplus
}
#endif

#endif
