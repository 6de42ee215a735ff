/*
 * b64.h - base64 (RFC 4648 §4) and base64url without padding (§5, as ACME and
 * JOSE use it).
 */
#ifndef AUTOCERT_B64_H
#define AUTOCERT_B64_H

#include <stddef.h>

/* Encoded length without padding for n input bytes (url form), and with
 * padding (standard form); neither counts the NUL. */
size_t b64url_encoded_len(size_t n);
size_t b64_encoded_len(size_t n);

/* Encodes n bytes into out (NUL-terminated); out must hold encoded_len + 1.
 * Returns the encoded length. */
size_t b64url_encode(const void *in, size_t n, char *out);
size_t b64_encode(const void *in, size_t n, char *out);

/* Returns a new malloc'd NUL-terminated string, or NULL on ENOMEM. */
char *b64url_encode_alloc(const void *in, size_t n);

/* Decodes base64url (padding tolerated, no whitespace) into a new malloc'd
 * buffer; *out_len gets its length. Returns NULL on bad input or ENOMEM. */
unsigned char *b64url_decode_alloc(const char *in, size_t n, size_t *out_len);
/* Same for the standard alphabet; padding optional. */
unsigned char *b64_decode_alloc(const char *in, size_t n, size_t *out_len);

#endif
