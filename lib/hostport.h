/*
 * hostport.h - the one parser of "host[:port]" strings: configured resolvers
 * (`resolvers:`, a provider's dns_resolvers and nameserver options, the
 * propagation check's servers), admin.listen and serve.listen.
 *
 * One rule for all of them:
 *   host:port      a name or an IPv4 literal, then a port
 *   [v6]:port      an IPv6 literal in brackets, then a port ([v4]:port is
 *                  accepted too)
 *   host, [v6]     without a port: the default port where a port is optional
 *                  (default_port > 0), an error where it is required
 *   v6             a bare IPv6 literal (two or more ':'; it must parse as
 *                  one), only where a port is optional: the default port
 * A port is 1 to 5 decimal digits, 1..65535, nothing else. The host is not
 * empty and holds no space, tab, '/', '[' or ']'. Brackets hold an IP
 * literal only (IPv6 with an optional %zone, or IPv4), never a name. Nothing
 * is resolved; a name is not checked further.
 *
 * Pure, thread-safe, no allocation.
 */
#ifndef AUTOCERT_HOSTPORT_H
#define AUTOCERT_HOSTPORT_H

#include <stddef.h>

/* The longest input accepted (a name of 253 bytes, brackets and a port fit). */
#define AC_HOSTPORT_MAX 300

/* Parses s. default_port: 1..65535 makes the port optional (used when none is
 * given), 0 makes it required. Returns 0 with the host (brackets removed) in
 * host (hostlen bytes, NUL-terminated) and *port (may be NULL), or -1 for a
 * malformed string or a host that does not fit (host and *port untouched). */
int ac_hostport_parse(const char *s, int default_port, char *host, size_t hostlen, int *port);

#endif
