/*
 * buf.h - a growable byte buffer with a hard maximum (curl's dynbuf idea).
 *
 * Every buffer that holds outside data (HTTP bodies, files, DNS answers) has a
 * cap; appending past it fails and leaves the content as it was. The content is
 * always NUL-terminated for convenience but is length-delimited: `len` counts.
 */
#ifndef AUTOCERT_BUF_H
#define AUTOCERT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct ac_buf {
    char *data; /* NULL until the first append; owned */
    size_t len;
    size_t cap;
    size_t max; /* content never exceeds this many bytes */
};

/* Initialises an empty buffer (no allocation). */
void ac_buf_init(struct ac_buf *b, size_t max);
/* Frees the content and resets to empty (keeps max). */
void ac_buf_free(struct ac_buf *b);
/* Sets len to 0, keeps the allocation. */
void ac_buf_reset(struct ac_buf *b);
/* Appends n bytes; -1 (content unchanged) when it would pass max or on ENOMEM. */
int ac_buf_append(struct ac_buf *b, const void *p, size_t n);
int ac_buf_appends(struct ac_buf *b, const char *s);
int ac_buf_printf(struct ac_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the content out as a malloc'd NUL-terminated string (never NULL on
 * success, "" for empty); the buffer is left empty. Returns NULL on ENOMEM. */
char *ac_buf_steal(struct ac_buf *b, size_t *len_out);

#endif
