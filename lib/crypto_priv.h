/*
 * crypto_priv.h - helpers shared by crypto.c (keys, CSRs) and crypto_x509.c
 * (certificates). Not part of any contract; only the crypto module uses it.
 */
#ifndef AUTOCERT_CRYPTO_PRIV_H
#define AUTOCERT_CRYPTO_PRIV_H

#include <gnutls/abstract.h>

#include "crypto.h"

/* The key type of a public key: EC256/EC384 by curve, RSA by exact modulus
 * size; CRYPTO_KEY_NONE for anything else. */
enum crypto_key_type crypto_pubkey_type(gnutls_pubkey_t pub);

/* Copies a gnutls datum into a new malloc'd buffer (NUL-terminated, the NUL
 * not counted in *len). Returns NULL on ENOMEM. */
unsigned char *crypto_datum_dup(const gnutls_datum_t *d, size_t *len);

#endif
