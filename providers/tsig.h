/*
 * tsig.h - TSIG (RFC 8945) for one DNS request and its answer, in wire form:
 * the request is signed by appending a TSIG RR, the answer's TSIG RR is
 * checked against the request's MAC. HMAC by GnuTLS, for hmac-sha1,
 * hmac-sha224, hmac-sha256, hmac-sha384 and hmac-sha512. Pure functions of
 * their inputs (the time is passed in); thread-safe.
 */
#ifndef AUTOCERT_TSIG_H
#define AUTOCERT_TSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TSIG_NAME_MAX 255   /* wire form */
#define TSIG_SECRET_MAX 512 /* decoded bytes */
#define TSIG_MAC_MAX 64     /* SHA-512 */
#define TSIG_RR_MAX (2 * TSIG_NAME_MAX + 32 + TSIG_MAC_MAX)

struct tsig_key {
    uint8_t name[TSIG_NAME_MAX];    /* canonical (lower-case) wire form */
    size_t name_len;
    uint8_t alg[TSIG_NAME_MAX];     /* algorithm name, wire form */
    size_t alg_len;
    int mac;                        /* gnutls_mac_algorithm_t */
    size_t mac_len;
    uint8_t secret[TSIG_SECRET_MAX]; /* secret */
    size_t secret_len;
};

/* True when `algorithm` ("hmac-sha256", any case, optional trailing dot;
 * NULL or "" = hmac-sha256) is supported. */
bool tsig_algorithm_known(const char *algorithm);

/* Fills k from a key name, an algorithm (as for tsig_algorithm_known) and a
 * base64 secret (copied, decoded). Returns 0, or -1 with e (AC_ERR_CONFIG;
 * the secret is never quoted). Clear with tsig_key_clear. */
int tsig_key_init(struct tsig_key *k, const char *name, const char *algorithm,
                  const char *secret_b64, struct ac_error *e);
/* Wipes the secret. */
void tsig_key_clear(struct tsig_key *k);

/* Signs the request msg (len bytes, buffer of cap bytes; needs TSIG_RR_MAX
 * more) at Unix time `now`: appends the TSIG RR, increments ARCOUNT, updates
 * *len and copies the request MAC into mac[TSIG_MAC_MAX] (its length is
 * k->mac_len). Returns 0, or -1 when the buffer is too small or HMAC fails. */
int tsig_sign(const struct tsig_key *k, uint8_t *msg, size_t *len, size_t cap, int64_t now,
              uint8_t *mac);

enum tsig_verdict {
    TSIG_VALID = 0,
    TSIG_UNSIGNED,   /* no TSIG RR in the answer */
    TSIG_BAD_MAC,    /* wrong key name/algorithm, MAC mismatch, malformed */
    TSIG_BAD_TIME,   /* time signed outside the fudge */
    TSIG_SERVER_ERR, /* the server reported a TSIG error (*server_error) */
};

/* Checks the answer msg (len bytes) to a request whose MAC was req_mac
 * (k->mac_len bytes) at Unix time `now`. *server_error gets the TSIG error
 * field (16 BADSIG, 17 BADKEY, 18 BADTIME ...) or 0. */
enum tsig_verdict tsig_verify(const struct tsig_key *k, const uint8_t *msg, size_t len,
                              const uint8_t *req_mac, int64_t now, int *server_error);

#endif
