/*
 * jws.h - JSON Web Signature for ACME (RFC 7515 flattened JSON, RFC 8555 §6.2),
 * JWK and its RFC 7638 thumbprint, External Account Binding (HS256), and the
 * dns-01 key authorization digest.
 *
 * Algorithms: ES256 (P-256, SHA-256), ES384 (P-384, SHA-384), RS256 (RSA).
 * ECDSA signatures are raw r||s, each right-aligned to the field size.
 */
#ifndef AUTOCERT_JWS_H
#define AUTOCERT_JWS_H

#include <json-c/json.h>
#include <stddef.h>

#include "crypto.h"
#include "error.h"

/* "ES256", "ES384", "RS256"; NULL for a key type JWS cannot use. */
const char *jws_alg(const struct crypto_key *k);

/* The public JWK of k as a new json object: {"crv","kty","x","y"} for EC,
 * {"e","kty","n"} for RSA (coordinates left-padded to the field size). */
int jws_jwk(const struct crypto_key *k, json_object **out, struct ac_error *e);

/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)), 43 chars + NUL. */
int jws_thumbprint(const struct crypto_key *k, char out[44], struct ac_error *e);

/* RFC 7638 thumbprint of a public JWK object (borrowed): kty "EC" needs crv,
 * x, y; kty "RSA" needs e, n (base64url strings). Other members are ignored.
 * 43 chars + NUL. (Added by crypto: lets tests check the RFC 7638 vector.) */
int jws_jwk_thumbprint(json_object *jwk, char out[44], struct ac_error *e);

/* Signs an ACME request. Protected header: alg, nonce (omitted when NULL), url,
 * and kid when non-NULL or else the jwk. payload NULL means the empty payload
 * of POST-as-GET. Returns 0 and a new malloc'd JSON string in *out. */
int jws_sign(const struct crypto_key *k, const char *kid, const char *nonce,
             const char *url, const char *payload, size_t payload_len, char **out,
             struct ac_error *e);

/* The externalAccountBinding object (RFC 8555 §7.3.4): a JWS with alg HS256,
 * kid eab_kid and url, whose payload is the account key's JWK, MACed with the
 * base64url-decoded eab_hmac. Returns a new json object. Errors never include
 * the HMAC key. */
int jws_eab(const char *eab_kid, const char *eab_hmac_b64url, const struct crypto_key *k,
            const char *url, json_object **out, struct ac_error *e);

/* keyAuthorization = token "." thumbprint(k). Returns a new malloc'd string. */
int jws_key_authorization(const char *token, const struct crypto_key *k, char **out,
                          struct ac_error *e);

/* dns-01 TXT value: base64url(SHA-256(key_authorization)), 43 chars + NUL. */
void jws_dns01_value(const char *key_authorization, char out[44]);

#endif
