/*
 * api_challenge.c - the public view of a manager's pending tls-alpn-01
 * challenges, for TLS adapters built on the public API only (the OpenSSL
 * adapter): whether one is pending for a server name, and its certificate.
 */
#include <stdbool.h>
#include <stddef.h>

#include "autocert/autocert.h"
#include "challenge.h"
#include "manager_priv.h"

bool autocert_manager_alpn_pending(autocert_manager *m, const char *server_name, size_t len)
{
    if (m == NULL || server_name == NULL || len == 0)
        return false;
    return challenge_alpn_pending(manager_challenges(m), server_name, len);
}

autocert_cert *autocert_manager_lookup_alpn(autocert_manager *m, const char *server_name,
                                            size_t len)
{
    if (m == NULL || server_name == NULL || len == 0)
        return NULL;
    return challenge_alpn_cert(manager_challenges(m), server_name, len);
}
