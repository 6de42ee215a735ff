/*
 * admin_guard.h - who may talk to the admin API, decided from a request's
 * headers alone: the Host allow-list (DNS rebinding), the Origin and
 * Sec-Fetch-Site checks (cross-site requests from a browser), the extra
 * same-origin rule of the event-stream renewal, and the bearer-token compare.
 * Pure functions over strings: no I/O, no allocation, thread-safe.
 *
 * The policy (docs/admin-api.md, "Who may call the API"):
 *
 *   Host (421)   On a loopback admin.listen, Host must be admin.listen itself
 *                (host:port as bound), or localhost / 127.0.0.1 / [::1] with no
 *                port or the bound port (case-insensitive). A request without
 *                Host (HTTP/1.0 probes) passes: every browser sends one. More
 *                than one Host header is refused. On a non-loopback listen
 *                (admin.token is then mandatory) any Host passes: a rebinding
 *                page cannot send the token.
 *   Origin (403) Absent passes (curl, the CLI). Otherwise it must be
 *                http://<accepted host>:<bound port> (the port may be left out
 *                only when it is 80) on a loopback listen, or the request's
 *                own Host on a non-loopback listen. "null" and anything else
 *                are refused.
 *   Sec-Fetch-Site (403)  "cross-site" is refused.
 *   GET /api/v1/cert/renew without a configured token (a state change on a
 *                GET): also refused unless Sec-Fetch-Site is absent (not a
 *                browser, or an old one), "same-origin" or "none" (typed in the
 *                address bar), or the request carries an accepted Origin.
 *
 * The handler form (autocert_admin_handle: a host's own server, whose
 * address and scheme are unknown here) is initialised with
 * admin_guard_init_handler: without a token, Host must be a loopback name
 * (localhost, 127.0.0.1, [::1]) on any port, since only loopback peers are
 * answered then; with a token any Host passes. Origin, when present, must be
 * the request's own Host (http:// or https://, the scheme's default port
 * when either leaves it out): a page of another origin can neither read the
 * API nor make a state-changing POST.
 */
#ifndef AUTOCERT_ADMIN_GUARD_H
#define AUTOCERT_ADMIN_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#define ADMIN_GUARD_HOST_MAX 256

struct admin_guard {
    bool handler;                           /* the handler form: any port, any scheme */
    bool loopback;                          /* admin.listen is a loopback address */
    char listen_host[ADMIN_GUARD_HOST_MAX]; /* admin.listen's host, no brackets */
    int port;                               /* the bound port */
};

enum admin_verdict {
    ADMIN_ALLOW = 0,
    ADMIN_BAD_HOST,   /* 421: Host not served here (or several Host headers) */
    ADMIN_BAD_ORIGIN, /* 403: Origin is not this server */
    ADMIN_CROSS_SITE, /* 403: Sec-Fetch-Site: cross-site */
};

/* Fills g from admin.listen's host (as config_parse_listen returns it, IPv6
 * without brackets) and the bound port. Returns 0, or -1 when listen_host does
 * not fit. */
int admin_guard_init(struct admin_guard *g, const char *listen_host, bool loopback, int port);

/* Fills g for the handler form (see above): loopback_only when no token is
 * configured. */
void admin_guard_init_handler(struct admin_guard *g, bool loopback_only);

/* The header checks every request goes through. host, origin and fetch_site
 * are the header values (NULL = absent); host_count is the number of Host
 * header lines. */
enum admin_verdict admin_guard_check(const struct admin_guard *g, const char *host,
                                     unsigned host_count, const char *origin,
                                     const char *fetch_site);

/* The same-origin rule of the event-stream renewal (see above); call it after
 * admin_guard_check allowed the request. */
bool admin_guard_same_origin(const struct admin_guard *g, const char *host, const char *origin,
                             const char *fetch_site);

/* True when the Authorization header value `header` (NULL = absent) is
 * "Bearer <token>" (scheme case-insensitive, spaces and tabs around the
 * token ignored, RFC 9110 OWS). The compare takes the same time for every
 * value of the same length as `token`. */
bool admin_guard_bearer_ok(const char *header, const char *token);

#endif
