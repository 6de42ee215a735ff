/*
 * textsafe.h - making outside text (CA problem details, DNS API bodies, HTTP
 * request values) safe to put into a log line, a terminal, an error message or a
 * JSON document.
 *
 * ac_text_sanitize copies `len` bytes of src into dst (size n, always
 * NUL-terminated when n > 0) so that the result is valid UTF-8 and holds no
 * control character: '\n', '\r' and '\t' become the two characters "\n", "\r",
 * "\t"; every other C0 control, DEL, C1 control (U+0080..U+009F) and every byte
 * that is not part of a well-formed UTF-8 sequence (overlong forms, surrogates
 * and code points past U+10FFFF included) becomes "\xNN" (one per byte). A
 * backslash itself is kept as it is. Output that does not fit is cut at a
 * character boundary (never inside an escape or a UTF-8 sequence). Returns the
 * number of bytes written, without the NUL.
 *
 * Pure, thread-safe, no allocation.
 */
#ifndef AUTOCERT_TEXTSAFE_H
#define AUTOCERT_TEXTSAFE_H

#include <stdbool.h>
#include <stddef.h>

size_t ac_text_sanitize(char *dst, size_t n, const char *src, size_t len);

/* True when s[0..len) is already what ac_text_sanitize would produce unchanged
 * (valid UTF-8, no control characters). */
bool ac_text_is_clean(const char *s, size_t len);

#endif
