/*
 * jws.c - JWS for ACME (RFC 7515 flattened JSON serialisation, RFC 8555 §6.2),
 * the public JWK and its RFC 7638 thumbprint, External Account Binding (HS256)
 * and the dns-01 key authorization digest. Pure: no I/O, no shared state.
 */
#include "jws.h"

#include <gnutls/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "jsonu.h"

/* Longest JWK member we put in a thumbprint (an RSA 16384 modulus is 2731). */
#define JWS_MEMBER_MAX 4096
#define JWS_PAYLOAD_MAX (8 * 1024 * 1024)
#define JWS_TOKEN_MAX 512
#define JWS_EAB_KEY_MAX 1024

static const char *alg_of(const struct crypto_key *k, gnutls_digest_algorithm_t *dig,
                          size_t *coord)
{
    gnutls_privkey_t priv = crypto_key_privkey(k);
    unsigned int bits = 0;

    *coord = 0;
    *dig = GNUTLS_DIG_SHA256;
    switch (crypto_key_get_type(k)) {
    case CRYPTO_KEY_EC256: *coord = 32; return "ES256";
    case CRYPTO_KEY_EC384: *dig = GNUTLS_DIG_SHA384; *coord = 48; return "ES384";
    case CRYPTO_KEY_RSA2048:
    case CRYPTO_KEY_RSA3072:
    case CRYPTO_KEY_RSA4096:
    case CRYPTO_KEY_RSA8192: return "RS256";
    case CRYPTO_KEY_NONE: break;
    }
    /* An RSA key of another size that is still strong enough (RFC 7518 §3.3). */
    if (priv != NULL && gnutls_privkey_get_pk_algorithm(priv, &bits) == GNUTLS_PK_RSA &&
        bits >= 2048)
        return "RS256";
    return NULL;
}

const char *jws_alg(const struct crypto_key *k)
{
    gnutls_digest_algorithm_t dig;
    size_t coord;

    return k != NULL ? alg_of(k, &dig, &coord) : NULL;
}

/* base64url of a big-endian integer left-padded with zeros to `width` bytes
 * (width 0: as is). Returns a new string or NULL. */
static char *b64url_padded(const gnutls_datum_t *d, size_t width)
{
    unsigned char *tmp;
    char *s;

    if (width == 0 || d->size == width)
        return b64url_encode_alloc(d->data, d->size);
    if (d->size > width)
        return NULL;
    tmp = calloc(1, width);
    if (tmp == NULL)
        return NULL;
    memcpy(tmp + (width - d->size), d->data, d->size);
    s = b64url_encode_alloc(tmp, width);
    free(tmp);
    return s;
}

static int add_owned_str(json_object *o, const char *key, char *value)
{
    int rc = value != NULL ? jsonu_add_str(o, key, value) : -1;

    free(value);
    return rc;
}

int jws_jwk(const struct crypto_key *k, json_object **out, struct ac_error *e)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    json_object *jwk = NULL;
    gnutls_digest_algorithm_t dig;
    size_t coord;
    const char *alg;
    int rc = -1, ret;

    if (k == NULL || out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "jws_jwk: bad arguments");
        goto out;
    }
    alg = alg_of(k, &dig, &coord);
    if (alg == NULL) {
        ac_error_set(e, AC_ERR_CRYPTO, "JWK: key type cannot be used for JWS");
        goto out;
    }
    if ((ret = gnutls_pubkey_init(&pub)) < 0 ||
        (ret = gnutls_pubkey_import_privkey(pub, crypto_key_privkey(k), 0, 0)) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "JWK: cannot get public key: %s", gnutls_strerror(ret));
        goto out;
    }
    jwk = json_object_new_object();
    if (jwk == NULL)
        goto nomem;
    if (coord > 0) {
        ret = gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ);
        if (ret < 0) {
            ac_error_set(e, AC_ERR_CRYPTO, "JWK: cannot export EC point: %s",
                         gnutls_strerror(ret));
            goto out;
        }
        if (jsonu_add_str(jwk, "crv", coord == 32 ? "P-256" : "P-384") != 0 ||
            jsonu_add_str(jwk, "kty", "EC") != 0 ||
            add_owned_str(jwk, "x", b64url_padded(&a, coord)) != 0 ||
            add_owned_str(jwk, "y", b64url_padded(&b, coord)) != 0)
            goto nomem;
    } else {
        ret = gnutls_pubkey_export_rsa_raw2(pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ);
        if (ret < 0) {
            ac_error_set(e, AC_ERR_CRYPTO, "JWK: cannot export RSA key: %s",
                         gnutls_strerror(ret));
            goto out;
        }
        /* a = modulus n, b = exponent e */
        if (add_owned_str(jwk, "e", b64url_padded(&b, 0)) != 0 ||
            jsonu_add_str(jwk, "kty", "RSA") != 0 ||
            add_owned_str(jwk, "n", b64url_padded(&a, 0)) != 0)
            goto nomem;
    }
    *out = jwk;
    jwk = NULL;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "JWK: out of memory");
out:
    json_object_put(jwk);
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (pub != NULL)
        gnutls_pubkey_deinit(pub);
    return rc;
}

/* A JWK member value that can be written into canonical JSON without
 * escaping: base64url characters (and '-' in curve names), bounded. */
static const char *canon_member(json_object *jwk, const char *key, bool curve)
{
    const char *v = jsonu_str(jwk, key);
    size_t n;

    if (v == NULL)
        return NULL;
    n = strnlen(v, JWS_MEMBER_MAX + 1);
    if (n == 0 || n > JWS_MEMBER_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || (!curve && c == '_');
        if (!ok)
            return NULL;
    }
    return v;
}

int jws_jwk_thumbprint(json_object *jwk, char out[44], struct ac_error *e)
{
    struct ac_buf b;
    const char *kty;
    unsigned char digest[32];
    int rc = -1, ret;

    ac_buf_init(&b, 4 * JWS_MEMBER_MAX);
    if (jwk == NULL || out == NULL || !json_object_is_type(jwk, json_type_object)) {
        ac_error_set(e, AC_ERR_INTERNAL, "jws_jwk_thumbprint: bad arguments");
        goto out;
    }
    kty = jsonu_str(jwk, "kty");
    if (kty != NULL && strcmp(kty, "EC") == 0) {
        const char *crv = canon_member(jwk, "crv", true), *x = canon_member(jwk, "x", false),
                   *y = canon_member(jwk, "y", false);
        if (crv == NULL || x == NULL || y == NULL) {
            ac_error_set(e, AC_ERR_CRYPTO, "JWK thumbprint: EC key needs crv, x and y");
            goto out;
        }
        ret = ac_buf_printf(&b, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv,
                            x, y);
    } else if (kty != NULL && strcmp(kty, "RSA") == 0) {
        const char *ev = canon_member(jwk, "e", false), *n = canon_member(jwk, "n", false);
        if (ev == NULL || n == NULL) {
            ac_error_set(e, AC_ERR_CRYPTO, "JWK thumbprint: RSA key needs e and n");
            goto out;
        }
        ret = ac_buf_printf(&b, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", ev, n);
    } else {
        ac_error_set(e, AC_ERR_CRYPTO, "JWK thumbprint: unsupported kty");
        goto out;
    }
    if (ret != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "JWK thumbprint: out of memory");
        goto out;
    }
    crypto_sha256(b.data, b.len, digest);
    b64url_encode(digest, sizeof digest, out);
    rc = 0;
out:
    ac_buf_free(&b);
    return rc;
}

int jws_thumbprint(const struct crypto_key *k, char out[44], struct ac_error *e)
{
    json_object *jwk = NULL;
    int rc;

    if (jws_jwk(k, &jwk, e) != 0)
        return -1;
    rc = jws_jwk_thumbprint(jwk, out, e);
    json_object_put(jwk);
    return rc;
}

/* Signs `input` with k; ECDSA signatures become raw r||s of 2*coord bytes.
 * Returns the base64url signature as a new string. */
static char *sign_b64url(const struct crypto_key *k, gnutls_digest_algorithm_t dig,
                         size_t coord, const char *input, size_t len, struct ac_error *e)
{
    gnutls_datum_t data = {(unsigned char *)input, (unsigned int)len};
    gnutls_datum_t sig = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
    unsigned char raw[96];
    char *res = NULL;
    int ret;

    ret = gnutls_privkey_sign_data(crypto_key_privkey(k), dig, 0, &data, &sig);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "JWS: signing failed: %s", gnutls_strerror(ret));
        goto out;
    }
    if (coord == 0) {
        res = b64url_encode_alloc(sig.data, sig.size);
    } else {
        ret = gnutls_decode_rs_value(&sig, &r, &s);
        if (ret < 0 || r.size > coord + 1 || s.size > coord + 1) {
            ac_error_set(e, AC_ERR_CRYPTO, "JWS: bad ECDSA signature: %s",
                         ret < 0 ? gnutls_strerror(ret) : "r or s too long");
            goto out;
        }
        /* r and s are DER integers: drop a sign byte, right-align to coord. */
        const gnutls_datum_t *parts[2] = {&r, &s};
        memset(raw, 0, sizeof raw);
        for (int i = 0; i < 2; i++) {
            const unsigned char *p = parts[i]->data;
            size_t n = parts[i]->size;
            while (n > coord && *p == 0) {
                p++;
                n--;
            }
            if (n > coord) {
                ac_error_set(e, AC_ERR_CRYPTO, "JWS: bad ECDSA signature: value too long");
                goto out;
            }
            memcpy(raw + (size_t)i * coord + (coord - n), p, n);
        }
        res = b64url_encode_alloc(raw, 2 * coord);
    }
    if (res == NULL)
        ac_error_set(e, AC_ERR_NOMEM, "JWS: out of memory");
out:
    gnutls_free(sig.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    return res;
}

/* Builds {"protected":…,"payload":…,"signature":…}, taking the three strings
 * (freed here in all cases). */
static json_object *flattened(char *prot, char *payload, char *sig)
{
    json_object *o = json_object_new_object();

    if (o != NULL && (add_owned_str(o, "protected", prot) != 0 ||
                      add_owned_str(o, "payload", payload) != 0 ||
                      add_owned_str(o, "signature", sig) != 0)) {
        json_object_put(o);
        return NULL;
    }
    if (o == NULL) {
        free(prot);
        free(payload);
        free(sig);
    }
    return o;
}

/* b64url(header) "." b64url(payload) into a new buffer; sets the encoded parts. */
static char *signing_input(json_object *header, const void *payload, size_t payload_len,
                           char **prot_b64, char **payload_b64, size_t *len)
{
    const char *h = jsonu_string(header);
    size_t plen, qlen;
    char *input;

    *prot_b64 = h != NULL ? b64url_encode_alloc(h, strlen(h)) : NULL;
    *payload_b64 = b64url_encode_alloc(payload != NULL ? payload : "", payload_len);
    if (*prot_b64 == NULL || *payload_b64 == NULL)
        return NULL;
    plen = strlen(*prot_b64);
    qlen = strlen(*payload_b64);
    input = malloc(plen + 1 + qlen + 1);
    if (input == NULL)
        return NULL;
    memcpy(input, *prot_b64, plen);
    input[plen] = '.';
    memcpy(input + plen + 1, *payload_b64, qlen + 1);
    *len = plen + 1 + qlen;
    return input;
}

int jws_sign(const struct crypto_key *k, const char *kid, const char *nonce,
             const char *url, const char *payload, size_t payload_len, char **out,
             struct ac_error *e)
{
    json_object *header = NULL, *jwk = NULL, *jws = NULL;
    char *prot = NULL, *pay = NULL, *input = NULL, *sig = NULL;
    gnutls_digest_algorithm_t dig;
    size_t coord, input_len = 0;
    const char *alg, *str;
    int rc = -1;

    if (k == NULL || url == NULL || out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "jws_sign: bad arguments");
        goto out;
    }
    if (payload == NULL)
        payload_len = 0;
    if (payload_len > JWS_PAYLOAD_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, "jws_sign: payload too large (%zu bytes)", payload_len);
        goto out;
    }
    alg = alg_of(k, &dig, &coord);
    if (alg == NULL) {
        ac_error_set(e, AC_ERR_CRYPTO, "JWS: key type cannot be used for JWS");
        goto out;
    }
    header = json_object_new_object();
    if (header == NULL || jsonu_add_str(header, "alg", alg) != 0 ||
        (nonce != NULL && jsonu_add_str(header, "nonce", nonce) != 0) ||
        jsonu_add_str(header, "url", url) != 0)
        goto nomem;
    if (kid != NULL) {
        if (jsonu_add_str(header, "kid", kid) != 0)
            goto nomem;
    } else {
        if (jws_jwk(k, &jwk, e) != 0)
            goto out;
        if (json_object_object_add(header, "jwk", jwk) != 0) {
            json_object_put(jwk);
            goto nomem;
        }
    }
    input = signing_input(header, payload, payload_len, &prot, &pay, &input_len);
    if (input == NULL)
        goto nomem;
    sig = sign_b64url(k, dig, coord, input, input_len, e);
    if (sig == NULL)
        goto out;
    jws = flattened(prot, pay, sig);
    prot = pay = sig = NULL;
    if (jws == NULL || (str = jsonu_string(jws)) == NULL || (*out = strdup(str)) == NULL)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "JWS: out of memory");
out:
    free(prot);
    free(pay);
    free(sig);
    free(input);
    json_object_put(header);
    json_object_put(jws);
    return rc;
}

int jws_eab(const char *eab_kid, const char *eab_hmac_b64url, const struct crypto_key *k,
            const char *url, json_object **out, struct ac_error *e)
{
    json_object *header = NULL, *jwk = NULL;
    unsigned char *key = NULL, mac[32];
    char *prot = NULL, *pay = NULL, *input = NULL;
    size_t key_len = 0, hlen, input_len = 0;
    const char *jwk_str;
    int rc = -1, ret;

    if (eab_kid == NULL || eab_hmac_b64url == NULL || k == NULL || url == NULL ||
        out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "jws_eab: bad arguments");
        goto out;
    }
    if (*eab_kid == '\0') {
        ac_error_set(e, AC_ERR_CONFIG, "EAB: key id is empty");
        goto out;
    }
    hlen = strnlen(eab_hmac_b64url, JWS_EAB_KEY_MAX + 1);
    if (hlen > JWS_EAB_KEY_MAX ||
        (key = b64url_decode_alloc(eab_hmac_b64url, hlen, &key_len)) == NULL ||
        key_len == 0) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "EAB: HMAC key is not valid base64url (%zu characters)", hlen);
        goto out;
    }
    if (jws_jwk(k, &jwk, e) != 0)
        goto out;
    header = json_object_new_object();
    jwk_str = jsonu_string(jwk);
    if (header == NULL || jwk_str == NULL || jsonu_add_str(header, "alg", "HS256") != 0 ||
        jsonu_add_str(header, "kid", eab_kid) != 0 || jsonu_add_str(header, "url", url) != 0)
        goto nomem;
    input = signing_input(header, jwk_str, strlen(jwk_str), &prot, &pay, &input_len);
    if (input == NULL)
        goto nomem;
    ret = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, input, input_len, mac);
    if (ret < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, "EAB: HMAC failed: %s", gnutls_strerror(ret));
        goto out;
    }
    *out = flattened(prot, pay, b64url_encode_alloc(mac, sizeof mac));
    prot = pay = NULL;
    if (*out == NULL)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "EAB: out of memory");
out:
    if (key != NULL) {
        gnutls_memset(key, 0, key_len);
        free(key);
    }
    gnutls_memset(mac, 0, sizeof mac);
    free(prot);
    free(pay);
    free(input);
    json_object_put(header);
    json_object_put(jwk);
    return rc;
}

int jws_key_authorization(const char *token, const struct crypto_key *k, char **out,
                          struct ac_error *e)
{
    char tp[44];
    size_t n;
    char *s;

    if (token == NULL || k == NULL || out == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "jws_key_authorization: bad arguments");
        return -1;
    }
    n = strnlen(token, JWS_TOKEN_MAX + 1);
    if (n == 0 || n > JWS_TOKEN_MAX) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "challenge token is empty or too long");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = token[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            ac_error_set(e, AC_ERR_CA_BAD_RESPONSE,
                         "challenge token has a character outside base64url");
            return -1;
        }
    }
    if (jws_thumbprint(k, tp, e) != 0)
        return -1;
    s = malloc(n + 1 + 43 + 1);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "key authorization: out of memory");
        return -1;
    }
    memcpy(s, token, n);
    s[n] = '.';
    memcpy(s + n + 1, tp, 44);
    *out = s;
    return 0;
}

void jws_dns01_value(const char *key_authorization, char out[44])
{
    unsigned char digest[32];
    const char *ka = key_authorization != NULL ? key_authorization : "";

    crypto_sha256(ka, strlen(ka), digest);
    b64url_encode(digest, sizeof digest, out);
}
