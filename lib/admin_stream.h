/*
 * admin_stream.h - the Server-Sent Events stream of a forced renewal
 * (GET /api/v1/cert/renew): a library thread runs the renewal and queues
 * `progress` events, then exactly one `result` event (the POST's JSON); the
 * reader (autocert_admin_response_read, or libmicrohttpd's content reader
 * calling it) takes the bytes as they come, with a `: keepalive` comment
 * whenever ADMIN_SSE_KEEPALIVE_S pass without one.
 *
 * The stream is shared by its reader and its worker thread (reference
 * counted): a reader that goes away early stops listening, the renewal goes
 * on and the worker frees what is left. A stop of the owning server
 * (admin_streams_stop) ends the streams still read: their reader gets a last
 * `result` event with the message "shutting down".
 */
#ifndef AUTOCERT_ADMIN_STREAM_H
#define AUTOCERT_ADMIN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "admin_api.h"

struct admin_stream;

/* Starts the forced renewal (autocert_manager_renew) of the set `selector`
 * chooses (copied; NULL: every set) on a->m, which must stay valid until
 * admin_streams_wait(NULL, a->m) has returned (autocert_manager_free waits).
 * Returns 0 and the reader's reference in *out, or -1. */
int admin_stream_start(const struct admin_api *a, const char *selector, struct admin_stream **out);

/* The reader's side: see autocert_admin_response_read. */
ssize_t admin_stream_read(struct admin_stream *x, void *buf, size_t n);

/* Drops the reader's reference (NULL is fine). */
void admin_stream_release(struct admin_stream *x);

#endif
