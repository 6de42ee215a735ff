/* fuzz_pem.c - arbitrary bytes into the PEM/DER readers: the certificate chain
 * parsers, eager and lazy (and the facts of every certificate they accept,
 * with its ARI id and the public key walked out of its DER; the lazy one's
 * certificates parsed on demand), the DER walk to a certificate's public key
 * on the raw bytes, and the private-key loader, checked and unchecked (and
 * the JWK of every key it accepts). No crash, no leak, no sanitizer report,
 * and a walked-out public key always lies inside its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "crypto.h"
#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crypto_chain *chain = NULL;
    struct crypto_key *key = NULL;
    struct ac_error e;

    gnutls_datum_t raw = {(unsigned char *)(uintptr_t)data, (unsigned int)size}, spki;

    if (crypto_init() != 0)
        return 0;
    if (crypto_cert_der_spki(&raw, &spki) == 0 &&
        (spki.data < raw.data || spki.data + spki.size > raw.data + raw.size))
        abort();
    if (crypto_chain_parse_pem(data, size, &chain, &e) == 0) {
        for (size_t i = 0; i < chain->count; i++) {
            struct crypto_cert_info info;
            char *id = NULL;
            if (crypto_cert_der_spki(&chain->der[i], &spki) == 0 &&
                (spki.data < chain->der[i].data ||
                 spki.data + spki.size > chain->der[i].data + chain->der[i].size))
                abort();
            if (crypto_cert_info_get(chain->crts[i], &info, &e) == 0)
                crypto_cert_info_free(&info);
            if (crypto_ari_cert_id(chain->crts[i], &id, &e) == 0)
                free(id);
        }
        crypto_chain_free(chain);
    }
    chain = NULL;
    if (crypto_chain_parse_pem_lazy(data, size, &chain, &e) == 0) {
        for (size_t i = 0; i < chain->count; i++) {
            gnutls_x509_crt_t crt = crypto_chain_crt(chain, i, &e);
            struct crypto_cert_info info;
            if (crt != NULL && crypto_cert_info_get(crt, &info, &e) == 0)
                crypto_cert_info_free(&info);
        }
        crypto_chain_free(chain);
    }
    if (crypto_key_load(data, size, &key, &e) == 0) {
        json_object *jwk = NULL;
        if (jws_jwk(key, &jwk, &e) == 0)
            json_object_put(jwk);
        crypto_key_free(key);
    }
    key = NULL;
    if (crypto_key_load_unchecked(data, size, &key, &e) == 0) {
        (void)crypto_key_check(key, &e);
        crypto_key_free(key);
    }
    return 0;
}
