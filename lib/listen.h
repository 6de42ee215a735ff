/*
 * listen.h - the listening sockets of the library's own servers (the admin
 * API, the http-01 responder): one address rule, one way to bind, one wording
 * of bind errors. The servers hand the socket to libmicrohttpd.
 */
#ifndef AUTOCERT_LISTEN_H
#define AUTOCERT_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* "host:port" or "[v6]:port" as config_parse_listen reads it, and also port
 * 0 (a free port: for a host that gives its own address, and tests). Returns
 * 0 with host (brackets removed) and *port, or -1. */
int listen_parse(const char *text, char *host, size_t host_len, int *port);

/* A TCP socket (close-on-exec, non-blocking) bound to host:port and
 * listening with `backlog`. host is an IP literal (anything else is a
 * configuration error); *v6 tells whether it is IPv6 (then IPV6_V6ONLY). Errors name
 * the setting and the address as written ("admin.listen 127.0.0.1:8555:
 * address already in use"). Returns the socket, or -1 with e. */
int listen_open(const char *what, const char *text, const char *host, int port, int backlog,
                bool *v6, struct ac_error *e);

/* The port fd is bound to, 0 when unknown. */
int listen_bound_port(int fd);

#endif
