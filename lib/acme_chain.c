/*
 * acme_chain.c - the preferred_chain choice (acme_chain.h).
 */
#include "acme_chain.h"

#include <gnutls/x509.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

int acme_chain_top_issuer(const char *pem, size_t len, char **cn, struct ac_error *e)
{
    struct crypto_chain *chain = NULL;
    struct crypto_cert_info info = {0};
    int rc = -1;

    *cn = NULL;
    if (crypto_chain_parse_pem(pem, len, &chain, e) != 0 ||
        crypto_cert_info_get(chain->crts[chain->count - 1], &info, e) != 0)
        goto out;
    *cn = info.issuer_cn;
    info.issuer_cn = NULL;
    rc = 0;
out:
    crypto_cert_info_free(&info);
    crypto_chain_free(chain);
    return rc;
}

/* Whether chain's top issuer CN is preferred and its leaf is leaf. */
static bool chain_matches(const struct crypto_chain *chain, gnutls_x509_crt_t leaf,
                          const char *preferred)
{
    struct crypto_cert_info info = {0};
    bool match;

    if (gnutls_x509_crt_equals(chain->crts[0], leaf) == 0 ||
        crypto_cert_info_get(chain->crts[chain->count - 1], &info, NULL) != 0)
        return false;
    match = strcmp(info.issuer_cn, preferred) == 0;
    crypto_cert_info_free(&info);
    return match;
}

ssize_t acme_chain_pick(const char *const *pems, const size_t *lens, size_t n,
                        const char *preferred)
{
    struct crypto_chain *def = NULL;
    ssize_t pick = -1;

    if (preferred == NULL || preferred[0] == '\0' || n == 0 ||
        crypto_chain_parse_pem(pems[0], lens[0], &def, NULL) != 0)
        return -1;
    for (size_t i = 0; i < n && pick < 0; i++) {
        struct crypto_chain *c = NULL;

        if (i == 0) {
            if (chain_matches(def, def->crts[0], preferred))
                pick = 0;
            continue;
        }
        if (pems[i] == NULL || crypto_chain_parse_pem(pems[i], lens[i], &c, NULL) != 0)
            continue;
        if (chain_matches(c, def->crts[0], preferred))
            pick = (ssize_t)i;
        crypto_chain_free(c);
    }
    crypto_chain_free(def);
    return pick;
}
