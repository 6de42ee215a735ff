/*
 * admin_guard.c - the admin API's header checks (admin_guard.h): Host
 * allow-list, Origin, Sec-Fetch-Site, the event-stream renewal's same-origin
 * rule, and the bearer-token compare.
 */
#include "admin_guard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* An authority "host[:port]" or "[v6][:port]" split into the host (brackets
 * removed) and the port (-1 when absent). */
struct authority {
    char host[ADMIN_GUARD_HOST_MAX];
    int port;
};

static int parse_port(const char *p, size_t n)
{
    int v = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* Returns 0, or -1 for anything that is not a plain authority (user info,
 * path, spaces, control bytes, an empty host, a bad port). */
static int parse_authority(const char *s, size_t n, struct authority *a)
{
    const char *h = s, *rest;
    size_t hl;

    a->port = -1;
    if (n == 0)
        return -1;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);

        if (rb == NULL)
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        rest = rb + 1;
    } else {
        const char *colon = memchr(s, ':', n);

        hl = colon != NULL ? (size_t)(colon - s) : n;
        rest = s + hl;
    }
    if (hl == 0 || hl >= sizeof a->host)
        return -1;
    for (size_t i = 0; i < hl; i++) {
        unsigned char ch = (unsigned char)h[i];

        if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == '@' || ch == '[' || ch == ']' ||
            ch == '\\' || ch == '?' || ch == '#' || (s[0] != '[' && ch == ':'))
            return -1;
    }
    memcpy(a->host, h, hl);
    a->host[hl] = '\0';
    if (rest == s + n)
        return 0;
    if (*rest != ':')
        return -1;
    rest++;
    a->port = parse_port(rest, (size_t)(s + n - rest));
    return a->port >= 0 ? 0 : -1;
}

static bool is_loopback_name(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0 || strcmp(h, "::1") == 0;
}

/* On a loopback listen: is (host, port) one of the names this server answers
 * to? port -1 = absent (allowed for the loopback names only). */
static bool accepted(const struct admin_guard *g, const struct authority *a)
{
    if (g->handler)
        return is_loopback_name(a->host);
    if (is_loopback_name(a->host))
        return a->port == -1 || a->port == g->port;
    return strcasecmp(a->host, g->listen_host) == 0 && a->port == g->port;
}

int admin_guard_init(struct admin_guard *g, const char *listen_host, bool loopback, int port)
{
    memset(g, 0, sizeof *g);
    if (listen_host == NULL || strlen(listen_host) >= sizeof g->listen_host)
        return -1;
    snprintf(g->listen_host, sizeof g->listen_host, "%s", listen_host);
    g->loopback = loopback;
    g->port = port;
    return 0;
}

void admin_guard_init_handler(struct admin_guard *g, bool loopback_only)
{
    memset(g, 0, sizeof *g);
    g->handler = true;
    g->loopback = loopback_only;
    g->port = -1;
}

/* Origin "scheme://authority" (no path) into *a with the scheme's default
 * port filled in. Returns 0 for http, 1 for https, -1 otherwise. */
static int parse_origin(const char *origin, struct authority *a)
{
    int https;
    const char *p;

    if (strncasecmp(origin, "http://", 7) == 0) {
        https = 0;
        p = origin + 7;
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        https = 1;
        p = origin + 8;
    } else {
        return -1;
    }
    if (parse_authority(p, strlen(p), a) != 0)
        return -1;
    if (a->port == -1)
        a->port = https ? 443 : 80;
    return https;
}

static bool origin_ok(const struct admin_guard *g, const char *host, const char *origin)
{
    struct authority o, h;
    int scheme = parse_origin(origin, &o);

    if (g->handler) {
        /* The host's server may speak http or https: same origin as Host. */
        if (scheme < 0 || host == NULL || parse_authority(host, strlen(host), &h) != 0)
            return false;
        if (h.port == -1)
            h.port = scheme == 1 ? 443 : 80;
        return strcasecmp(h.host, o.host) == 0 && h.port == o.port;
    }
    if (scheme != 0) /* we serve plain HTTP only: an https page is another origin */
        return false;
    if (g->loopback)
        return accepted(g, &o);
    /* Non-loopback listen: same origin as the request's own Host. */
    if (host == NULL || parse_authority(host, strlen(host), &h) != 0)
        return false;
    if (h.port == -1)
        h.port = 80;
    return strcasecmp(h.host, o.host) == 0 && h.port == o.port;
}

enum admin_verdict admin_guard_check(const struct admin_guard *g, const char *host,
                                     unsigned host_count, const char *origin,
                                     const char *fetch_site)
{
    if (host_count > 1)
        return ADMIN_BAD_HOST;
    if (host != NULL && g->loopback) {
        struct authority a;

        if (parse_authority(host, strlen(host), &a) != 0 || !accepted(g, &a))
            return ADMIN_BAD_HOST;
    }
    if (origin != NULL && !origin_ok(g, host, origin))
        return ADMIN_BAD_ORIGIN;
    if (fetch_site != NULL && strcasecmp(fetch_site, "cross-site") == 0)
        return ADMIN_CROSS_SITE;
    return ADMIN_ALLOW;
}

bool admin_guard_same_origin(const struct admin_guard *g, const char *host, const char *origin,
                             const char *fetch_site)
{
    if (origin != NULL && origin_ok(g, host, origin))
        return true;
    return fetch_site == NULL || strcasecmp(fetch_site, "same-origin") == 0 ||
           strcasecmp(fetch_site, "none") == 0;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

bool admin_guard_bearer_ok(const char *header, const char *token)
{
    const char *p, *end;
    size_t gl, wl;
    unsigned char diff;

    if (header == NULL || token == NULL)
        return false;
    p = header;
    while (ows(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !ows(p[6]))
        return false;
    p += 6;
    while (ows(*p))
        p++;
    end = p + strlen(p);
    while (end > p && ows(end[-1]))
        end--;
    gl = (size_t)(end - p);
    wl = strlen(token);
    /* Constant time in the content: only the length of `token` shows. */
    diff = gl != wl;
    for (size_t i = 0; i < wl; i++) {
        unsigned char c = i < gl ? (unsigned char)p[i] : 0;

        diff |= c ^ (unsigned char)token[i];
    }
    return diff == 0;
}
