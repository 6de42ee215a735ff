/*
 * certset.c - loading and checking one set's certificate pair.
 */
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "certset.h"
#include "crypto.h"
#include "store.h"

int certset_from_memory(const char *set_name, int set_id, const void *chain_pem,
                        size_t chain_len, const void *key, size_t key_len,
                        autocert_cert **out, struct ac_error *e)
{
    struct crypto_chain *chain = NULL;
    struct crypto_key *k = NULL;
    int rc = -1;

    if (crypto_chain_parse_pem(chain_pem, chain_len, &chain, e) != 0) {
        ac_error_prefix(e, "certificate chain");
        goto out;
    }
    if (crypto_key_load(key, key_len, &k, e) != 0) {
        ac_error_prefix(e, "private key");
        goto out;
    }
    if (!crypto_key_matches_cert(k, chain->crts[0])) {
        ac_error_set(e, AC_ERR_CRYPTO,
                     "private key does not match the leaf certificate");
        goto out;
    }
    rc = cert_new(set_name, set_id, chain, k, out, e);
    k = NULL; /* cert_new took it */
out:
    crypto_key_free(k);
    crypto_chain_free(chain);
    return rc;
}

/* Reads one file; 1 = absent, 0 = read, -1 = error. */
static int certset_read(const char *path, size_t max, char **data, size_t *len,
                        struct ac_error *e)
{
    if (store_read_file(path, max, data, len, e) == 0)
        return 0;
    return ac_error_is(e, AC_ERR_NOT_FOUND) ? 1 : -1;
}

int certset_load(const struct config_set *s, int set_id, autocert_cert **out,
                 struct ac_error *e)
{
    char *chain = NULL, *key = NULL;
    size_t chain_len = 0, key_len = 0;
    int rc = -1, rc_chain, rc_key;

    *out = NULL;
    if (store_pair_recover(s->cert_path, s->key_path, e) != 0)
        goto out;
    rc_chain = certset_read(s->cert_path, CERTSET_CHAIN_MAX, &chain, &chain_len, e);
    if (rc_chain < 0)
        goto out;
    rc_key = certset_read(s->key_path, CERTSET_KEY_MAX, &key, &key_len, e);
    if (rc_key < 0)
        goto out;
    if (rc_chain == 1 && rc_key == 1) {
        ac_error_clear(e);
        rc = 1;
        goto out;
    }
    if (rc_chain == 1 || rc_key == 1) {
        ac_error_set(e, AC_ERR_IO, "%s %s is missing (%s %s exists)",
                     rc_chain == 1 ? "cert_path" : "key_path",
                     rc_chain == 1 ? s->cert_path : s->key_path,
                     rc_chain == 1 ? "key_path" : "cert_path",
                     rc_chain == 1 ? s->key_path : s->cert_path);
        goto out;
    }
    if (certset_from_memory(s->name, set_id, chain, chain_len, key, key_len, out, e) != 0) {
        ac_error_prefix(e, "%s / %s", s->cert_path, s->key_path);
        goto out;
    }
    rc = 0;
out:
    if (key != NULL) {
        memset(key, 0, key_len);
        free(key);
    }
    free(chain);
    return rc;
}
