/*
 * ocsp.c - the pure part of OCSP stapling: the request for one certificate
 * and the checks a response must pass before it is stapled (RFC 6960 §3.2).
 * GnuTLS's OCSP module does the ASN.1 and the signature; this file decides.
 */
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>

#include "ocsp.h"
#include "timeutil.h"

static int import_crt(const gnutls_datum_t *der, gnutls_x509_crt_t *out)
{
    *out = NULL;
    if (gnutls_x509_crt_init(out) < 0)
        return -1;
    if (gnutls_x509_crt_import(*out, der, GNUTLS_X509_FMT_DER) < 0) {
        gnutls_x509_crt_deinit(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int ocsp_request_make(const gnutls_datum_t *leaf, const gnutls_datum_t *issuer, gnutls_datum_t *out,
                      struct ac_error *e)
{
    gnutls_x509_crt_t l = NULL, i = NULL;
    gnutls_ocsp_req_t req = NULL;
    int rc = -1, grc;

    out->data = NULL;
    out->size = 0;
    if (import_crt(leaf, &l) != 0 || import_crt(issuer, &i) != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "ocsp: cannot parse the certificate or its issuer");
        goto out;
    }
    if ((grc = gnutls_ocsp_req_init(&req)) < 0 ||
        (grc = gnutls_ocsp_req_add_cert(req, GNUTLS_DIG_SHA1, i, l)) < 0 ||
        (grc = gnutls_ocsp_req_export(req, out)) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "ocsp: cannot build the request: %s", gnutls_strerror(grc));
        goto out;
    }
    rc = 0;
out:
    gnutls_ocsp_req_deinit(req);
    gnutls_x509_crt_deinit(l);
    gnutls_x509_crt_deinit(i);
    return rc;
}

static const char *resp_status_name(int st)
{
    switch (st) {
    case GNUTLS_OCSP_RESP_MALFORMEDREQUEST:
        return "malformedRequest";
    case GNUTLS_OCSP_RESP_INTERNALERROR:
        return "internalError";
    case GNUTLS_OCSP_RESP_TRYLATER:
        return "tryLater";
    case GNUTLS_OCSP_RESP_SIGREQUIRED:
        return "sigRequired";
    case GNUTLS_OCSP_RESP_UNAUTHORIZED:
        return "unauthorized";
    default:
        return "unknown status";
    }
}

/* Why verify_direct refused, in words. */
static const char *verify_reason(unsigned v)
{
    if (v & GNUTLS_OCSP_VERIFY_SIGNER_NOT_FOUND)
        return "its signer is neither the issuer nor a responder the issuer delegated";
    if (v & GNUTLS_OCSP_VERIFY_SIGNER_KEYUSAGE_ERROR)
        return "its signer certificate is not for OCSP signing";
    if (v & GNUTLS_OCSP_VERIFY_UNTRUSTED_SIGNER)
        return "its signer certificate is not signed by the issuer";
    if (v & GNUTLS_OCSP_VERIFY_INSECURE_ALGORITHM)
        return "it is signed with an insecure algorithm";
    if (v & GNUTLS_OCSP_VERIFY_CERT_NOT_ACTIVATED)
        return "its signer certificate is not yet valid";
    if (v & GNUTLS_OCSP_VERIFY_CERT_EXPIRED)
        return "its signer certificate has expired";
    return "its signature does not verify";
}

/* The index of leaf's SingleResponse, or -1. */
static int find_single(gnutls_ocsp_resp_t r, gnutls_x509_crt_t leaf)
{
    for (unsigned idx = 0; idx < 1024; idx++) {
        int rc = gnutls_ocsp_resp_get_single(r, idx, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                             NULL);
        if (rc < 0)
            return -1;
        if (gnutls_ocsp_resp_check_crt(r, idx, leaf) == 0)
            return (int)idx;
    }
    return -1;
}

int ocsp_response_check(const gnutls_datum_t *resp, const gnutls_datum_t *leaf,
                        const gnutls_datum_t *issuer, int64_t now, int64_t *this_update,
                        int64_t *next_update, struct ac_error *e)
{
    gnutls_ocsp_resp_t r = NULL;
    gnutls_x509_crt_t l = NULL, i = NULL;
    unsigned verify = 0, cert_status = 0;
    time_t tu = 0, nu = 0, rt = 0;
    int rc = -1, grc, idx;
    char ts[32];

    if (import_crt(leaf, &l) != 0 || import_crt(issuer, &i) != 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "cannot parse the certificate or its issuer");
        goto out;
    }
    if (resp->size == 0) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "empty response");
        goto out;
    }
    if (gnutls_ocsp_resp_init(&r) < 0) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((grc = gnutls_ocsp_resp_import(r, resp)) < 0) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE,
                     "the response is not an OCSP response (%u bytes): %s", resp->size,
                     gnutls_strerror(grc));
        goto out;
    }
    if ((grc = gnutls_ocsp_resp_get_status(r)) != GNUTLS_OCSP_RESP_SUCCESSFUL) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "the responder answered %s (%d)",
                     resp_status_name(grc), grc);
        goto out;
    }
    if ((grc = gnutls_ocsp_resp_verify_direct(r, i, &verify, 0)) < 0) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "cannot verify the response: %s",
                     gnutls_strerror(grc));
        goto out;
    }
    if (verify != 0) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "response refused: %s",
                     verify_reason(verify));
        goto out;
    }
    if ((idx = find_single(r, l)) < 0) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE,
                     "the response is not about this certificate (no matching CertID)");
        goto out;
    }
    if ((grc = gnutls_ocsp_resp_get_single(r, (unsigned)idx, NULL, NULL, NULL, NULL, &cert_status,
                                           &tu, &nu, &rt, NULL)) < 0) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "unreadable SingleResponse: %s",
                     gnutls_strerror(grc));
        goto out;
    }
    if (cert_status == GNUTLS_OCSP_CERT_REVOKED) {
        ac_time_format_rfc3339((int64_t)rt, ts, sizeof ts);
        ac_error_set(e, AC_ERR_OCSP_REVOKED,
                     "the responder says the certificate was "
                     "revoked at %s; nothing is stapled",
                     ts);
        goto out;
    }
    if (cert_status != GNUTLS_OCSP_CERT_GOOD) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE,
                     "the responder does not know the certificate (status unknown)");
        goto out;
    }
    if (tu == (time_t)-1 || (int64_t)tu > now + OCSP_CLOCK_SKEW) {
        ac_time_format_rfc3339((int64_t)tu, ts, sizeof ts);
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "thisUpdate %s is in the future",
                     tu == (time_t)-1 ? "(unreadable)" : ts);
        goto out;
    }
    if (nu == (time_t)-1) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE,
                     "the response has no nextUpdate (a staple needs an end)");
        goto out;
    }
    if ((int64_t)nu <= now) {
        ac_time_format_rfc3339((int64_t)nu, ts, sizeof ts);
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "the response expired at %s (nextUpdate)",
                     ts);
        goto out;
    }
    if (nu < tu) {
        ac_error_set(e, AC_ERR_OCSP_BAD_RESPONSE, "nextUpdate is before thisUpdate");
        goto out;
    }
    *this_update = (int64_t)tu;
    *next_update = (int64_t)nu;
    rc = 0;
out:
    gnutls_ocsp_resp_deinit(r);
    gnutls_x509_crt_deinit(l);
    gnutls_x509_crt_deinit(i);
    return rc;
}
