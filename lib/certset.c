/*
 * certset.c - loading and checking one set's certificate pair.
 *
 * A load never changes the files unless it holds the set's lock: it recovers
 * an interrupted commit only when no writer holds the set
 * (store_pair_recover_if_idle), then reads the pair as committed
 * (store_pair_read). A writer can still rename files while they are read, so a
 * pair that does not hold together is read again (CERTSET_READ_ATTEMPTS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "certset.h"
#include "crypto.h"
#include "store.h"

/* Reads of a pair that did not hold together before the error is reported. */
#define CERTSET_READ_ATTEMPTS 3

/* " in <path>" or "" for messages. */
static void in_path(char *buf, size_t n, const char *path)
{
    if (path != NULL)
        snprintf(buf, n, " in %s", path);
    else if (n > 0)
        buf[0] = '\0';
}

/* The key does not match the leaf: says which certificate it does match, if
 * any (a chain that is not leaf first), in e. */
static void explain_mismatch(struct crypto_chain *chain, const struct crypto_key *k,
                             const char *cert_path, const char *key_path, struct ac_error *e)
{
    char cin[300], kin[300];

    in_path(cin, sizeof cin, cert_path);
    in_path(kin, sizeof kin, key_path);
    for (size_t i = 1; i < chain->count; i++) {
        struct ac_error ignored;
        gnutls_x509_crt_t crt = crypto_chain_crt(chain, i, &ignored);

        if (crt != NULL && crypto_key_matches_cert(k, crt)) {
            ac_error_set(e, AC_ERR_CRYPTO,
                         "certificate chain%s is not leaf first: the private key%s matches "
                         "certificate #%zu of %zu (the leaf must be the first certificate)",
                         cin, kin, i + 1, chain->count);
            return;
        }
    }
    ac_error_set(e, AC_ERR_CRYPTO, "private key%s does not match the leaf certificate%s%s", kin,
                 cin, chain->count > 1 ? " (nor any other certificate of the chain)" : "");
}

/* certset_from_memory with the paths the data came from (NULL: memory), which
 * every message names. */
static int build(const char *set_name, int set_id, const void *chain_pem, size_t chain_len,
                 const void *key, size_t key_len, const char *cert_path, const char *key_path,
                 unsigned flags, autocert_cert **out, struct ac_error *e)
{
    bool defer = (flags & CERTSET_DEFER_KEY_CHECK) != 0;
    struct crypto_chain *chain = NULL;
    struct crypto_key *k = NULL;
    gnutls_datum_t spki = {NULL, 0}, raw;
    char where[300];
    int rc = -1;

    if (crypto_chain_parse_pem_lazy(chain_pem, chain_len, &chain, e) != 0) {
        in_path(where, sizeof where, cert_path);
        ac_error_prefix(e, "certificate chain%s", where);
        goto out;
    }
    if ((defer ? crypto_key_load_unchecked(key, key_len, &k, e)
               : crypto_key_load(key, key_len, &k, e)) != 0) {
        in_path(where, sizeof where, key_path);
        ac_error_prefix(e, "private key%s", where);
        goto out;
    }
    /* the leaf's public key, found once: for the match and for the handle
     * (the bytes in the certificate; GnuTLS's encoding of it when those are
     * not the key's own encoding) */
    if (crypto_cert_der_spki(&chain->der[0], &raw) == 0 && crypto_key_matches_spki(k, &raw)) {
        if ((spki.data = gnutls_malloc(raw.size)) == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        memcpy(spki.data, raw.data, raw.size);
        spki.size = raw.size;
    } else if (crypto_cert_spki(chain->crts[0], &spki, NULL) != 0 ||
               !crypto_key_matches_spki(k, &spki)) {
        explain_mismatch(chain, k, cert_path, key_path, e);
        goto out;
    }
    rc = cert_new_spki(set_name, set_id, chain, k, &spki, out, e);
    k = NULL; /* cert_new_spki took it (and spki) */
    if (rc == 0 && defer)
        cert_set_key_unchecked(*out);
out:
    gnutls_free(spki.data);
    crypto_key_free(k);
    crypto_chain_free(chain);
    return rc;
}

int certset_from_memory(const char *set_name, int set_id, const void *chain_pem, size_t chain_len,
                        const void *key, size_t key_len, autocert_cert **out, struct ac_error *e)
{
    return build(set_name, set_id, chain_pem, chain_len, key, key_len, NULL, NULL, 0, out, e);
}

/* One read of the pair: 0 loaded, 1 both files absent, -1 error. */
static int load_once(const struct config_set *s, int set_id, struct store_scan *scan,
                     struct store_pair_seen *seen, unsigned flags, autocert_cert **out,
                     struct ac_error *e)
{
    char *chain = NULL, *key = NULL;
    size_t chain_len = 0, key_len = 0;
    int rc = -1;

    if (store_pair_read_scan(s->cert_path, CERTSET_CHAIN_MAX, &chain, &chain_len, s->key_path,
                             CERTSET_KEY_MAX, &key, &key_len, scan, seen, e) != 0)
        goto out;
    if (chain == NULL && key == NULL) {
        ac_error_clear(e);
        rc = 1;
        goto out;
    }
    if (chain == NULL || key == NULL) {
        ac_error_set(
            e, AC_ERR_IO, "%s %s is missing (%s %s exists)",
            chain == NULL ? "cert_path" : "key_path", chain == NULL ? s->cert_path : s->key_path,
            chain == NULL ? "key_path" : "cert_path", chain == NULL ? s->key_path : s->cert_path);
        goto out;
    }
    if (build(s->name, set_id, chain, chain_len, key, key_len, s->cert_path, s->key_path, flags,
              out, e) != 0)
        goto out;
    rc = 0;
out:
    if (key != NULL) {
        memset(key, 0, key_len);
        free(key);
    }
    free(chain);
    return rc;
}

int certset_read(const struct config_set *s, int set_id, struct store_pair_seen *seen,
                 autocert_cert **out, struct ac_error *e)
{
    int rc = -1;

    *out = NULL;
    for (int attempt = 1; attempt <= CERTSET_READ_ATTEMPTS; attempt++) {
        rc = load_once(s, set_id, NULL, seen, 0, out, e);
        if (rc >= 0)
            break;
    }
    return rc;
}

int certset_load(const struct config_set *s, int set_id, struct store_scan *scan,
                 struct store_pair_seen *seen, unsigned flags, autocert_cert **out,
                 struct ac_error *e)
{
    int rc = -1;

    *out = NULL;
    if (seen != NULL)
        memset(seen, 0, sizeof *seen);
    if (store_pair_recover_if_idle_scan(s->cert_path, s->key_path, scan, e) != 0)
        goto out;
    /* A commit running beside this read can hand it half of each pair. */
    for (int attempt = 1; attempt <= CERTSET_READ_ATTEMPTS; attempt++) {
        rc = load_once(s, set_id, scan, seen, flags, out, e);
        if (rc >= 0)
            break;
    }
out:
    return rc;
}
