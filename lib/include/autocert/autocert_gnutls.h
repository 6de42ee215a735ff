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
 */
#ifndef AUTOCERT_AUTOCERT_GNUTLS_H
#define AUTOCERT_AUTOCERT_GNUTLS_H

#include <gnutls/gnutls.h>

#include "autocert/autocert.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Installs the retrieve callback on cred and binds cred to m. cred should
 * carry no certificate of its own. m must outlive every session using cred
 * (or call autocert_gnutls_uninstall first). At most 64 credentials can be
 * bound at once. Returns 0, or -1 when the table is full. Thread-safe. */
AUTOCERT_API int autocert_gnutls_install(autocert_manager *m, gnutls_certificate_credentials_t cred);

/* Unbinds cred: later handshakes with it fail. Sessions already handshaken keep
 * their certificate. Thread-safe. */
AUTOCERT_API void autocert_gnutls_uninstall(gnutls_certificate_credentials_t cred);

#ifdef __cplusplus
}
#endif

#endif
