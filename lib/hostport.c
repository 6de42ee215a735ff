/*
 * hostport.c - the one "host[:port]" parser (hostport.h), and
 * config_parse_listen (config.h), its required-port form.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "hostport.h"

/* 1..65535 from 1 to 5 decimal digits of [p, p+len); -1 otherwise. */
static long port_value(const char *p, size_t len)
{
    long v = 0;

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

/* True when [h, h+hl) is an IP literal of the family: IPv4 dotted quad, or
 * IPv6 with an optional zone ("fe80::1%eth0"). */
static bool is_ip(int family, const char *h, size_t hl)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char a[sizeof(struct in6_addr)];
    char *zone;

    if (hl >= sizeof buf) {
        const char *pct = memchr(h, '%', hl);

        if (family != AF_INET6 || pct == NULL || (size_t)(pct - h) >= sizeof buf)
            return false;
        hl = (size_t)(pct - h);
    }
    memcpy(buf, h, hl);
    buf[hl] = '\0';
    zone = family == AF_INET6 ? strchr(buf, '%') : NULL;
    if (zone != NULL)
        *zone = '\0';
    return inet_pton(family, buf, a) == 1;
}

int ac_hostport_parse(const char *s, int default_port, char *host, size_t hostlen, int *port)
{
    const char *h, *p = NULL, *colon;
    size_t hl, sl;
    long v = default_port;

    if (s == NULL || host == NULL || hostlen == 0 || default_port < 0 || default_port > 65535)
        return -1;
    sl = strlen(s);
    if (sl == 0 || sl > AC_HOSTPORT_MAX)
        return -1;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');

        if (rb == NULL)
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        if (!is_ip(AF_INET6, h, hl) && !is_ip(AF_INET, h, hl))
            return -1; /* brackets are for IP literals */
        if (rb[1] == ':')
            p = rb + 2;
        else if (rb[1] != '\0')
            return -1;
    } else {
        colon = strchr(s, ':');
        h = s;
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            if (default_port == 0 || !is_ip(AF_INET6, s, sl))
                return -1; /* a bare IPv6 literal, which has no room for a port */
            hl = sl;
        } else if (colon != NULL) {
            hl = (size_t)(colon - s);
            p = colon + 1;
        } else {
            hl = sl;
        }
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    for (size_t i = 0; i < hl; i++)
        if (h[i] == ' ' || h[i] == '\t' || h[i] == '/' || h[i] == '[' || h[i] == ']')
            return -1;
    if (p != NULL)
        v = port_value(p, strlen(p));
    if (v < 1)
        return -1; /* malformed port, or none where one is required */
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (port != NULL)
        *port = (int)v;
    return 0;
}

int config_parse_listen(const char *s, char *host, size_t host_len, int *port)
{
    return ac_hostport_parse(s, 0, host, host_len, port);
}
