/*
 * http_priv.h - internals of the HTTP client shared by http.c (requests) and
 * http_pool.c (the process-wide curl handle pool and the shared CA files).
 * Not for other modules: use http.h.
 */
#ifndef AUTOCERT_HTTP_PRIV_H
#define AUTOCERT_HTTP_PRIV_H

#include <curl/curl.h>

#include "buf.h"
#include "error.h"

#define HTTP_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define HTTP_MAX_CA_BUNDLE (16 * 1024 * 1024)

/* Borrows a curl easy handle (its cached connections come with it); NULL when
 * out of memory. Give it back with http_pool_give, after the request. */
CURL *http_pool_take(void);
void http_pool_give(CURL *h);
/* Counts live clients: idle handles are kept only while one lives. */
void http_pool_client_added(void);
void http_pool_client_gone(void);

/* A private file holding the system bundle plus the given extra roots (PEM),
 * shared by every client with the same extra roots and removed with the last
 * reference. NULL with e set on failure. */
struct http_ca_file;
struct http_ca_file *http_ca_file_get(const struct ac_buf *extra, struct ac_error *e);
void http_ca_file_put(struct http_ca_file *f);
const char *http_ca_file_path(const struct http_ca_file *f);

/* Appends the file at path to b (with a final newline). 0 or -1 (errno set,
 * or 0 when over b's cap). */
int http_read_file_into(const char *path, struct ac_buf *b);

#endif
