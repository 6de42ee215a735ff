/*
 * http01.h - internal parts of the plain-HTTP responder (public side:
 * autocert.h, "http-01 challenges and the HTTP-to-HTTPS redirect";
 * implemented in http01.c). Pure functions, exposed for tests.
 */
#ifndef AUTOCERT_HTTP01_H
#define AUTOCERT_HTTP01_H

#include <stddef.h>

struct config;

/* Splits a Host header value: url_host gets the host as it goes into a URL
 * (IPv6 brackets kept, port dropped), name the host to look up (no
 * brackets). A host is LDH characters and dots (at most 253), an IPv4
 * literal, or a bracketed IPv6 literal; a port is 0-65535. Returns 0, or -1
 * for anything else (also when a buffer is too small). */
int http01_host_split(const char *host, char *url_host, size_t un, char *name, size_t nn);

/* The port a redirect names: serve.https_port when set (none for 443), else
 * serve.listen's port when that is not 443; 0 = none. */
int http01_redirect_port(const struct config *cfg);

#endif
