/*
 * propagation.c - the DNS-01 propagation check (ldns): asks each given
 * resolver directly for the TXT records at a name until all of them carry the
 * expected value or the deadline passes (see dns_propagation_wait in
 * lib/dns_provider.h and propagation.h).
 *
 * One function decides whom to ask, one loop waits:
 *   dns_propagation_wait_from   the configured resolvers; without any, zone
 *                               discovery (dns_zone_authoritative: SOA walk
 *                               after following a CNAME, then NS + addresses)
 *                               gives the zone's authoritative servers and
 *                               the record's real name; when discovery fails,
 *                               the /etc/resolv.conf servers
 *   wait_loop                   queries, sleeps (ac_sleep_ms, cancellable),
 *                               until all have the value or the deadline of
 *                               propagation_timeout (discovery time included)
 * On timeout the error names each lagging server and what it answered.
 *
 * Each server gets its own ldns_resolver with that one nameserver: UDP,
 * recursion desired, EDNS buffer 1232, falling back to TCP when the answer is
 * truncated. A TXT record matches when the concatenation of its character
 * strings equals the value exactly (as lego compares). A server that had the
 * value once is not asked again. At most DNS_PROP_MAX_SERVERS servers and
 * DNS_PROP_MAX_TXT records per answer are examined; descriptions of what a
 * server answered are bounded.
 *
 * Thread-safety: no shared state; callable from several threads.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ldns/ldns.h>

#include "buf.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "dns_zone.h"
#include "hostport.h"
#include "log.h"
#include "propagation.h"
#include "timeutil.h"

#define DNS_PROP_MAX_SERVERS 16
#define DNS_PROP_MAX_TXT 64
#define DNS_PROP_TXT_MAX 4096
#define DNS_PROP_DESC_MAX 240
#define DNS_PROP_QUERY_MAX_MS 3000
#define DNS_PROP_QUERY_MIN_MS 300
#define DNS_PROP_QUERY_CANCELLABLE_MS 1000 /* per query while a cancel token is set */
#define DNS_PROP_LOOKUP_MS 5000            /* per try of the zone discovery */

struct server {
    char label[80]; /* as configured (bounded), for messages */
    char addr[INET6_ADDRSTRLEN];
    int family;
    uint16_t port;
    bool ok;
    char desc[DNS_PROP_DESC_MAX]; /* what it answered last */
};

static int server_init(struct server *sv, const char *spec, struct ac_error *e)
{
    char host[256];
    struct addrinfo hints, *res = NULL;
    int rc, port = 53;

    memset(sv, 0, sizeof *sv);
    snprintf(sv->label, sizeof sv->label, "%s", spec);
    for (char *c = sv->label; *c != '\0'; c++)
        if (!isprint((unsigned char)*c))
            *c = '?';
    snprintf(sv->desc, sizeof sv->desc, "not asked");
    if (ac_hostport_parse(spec, 53, host, sizeof host, &port) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "resolver \"%s\": expected host or host:port", sv->label);
        return -1;
    }
    sv->port = (uint16_t)port;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        ac_error_set(e, AC_ERR_DNS_QUERY, "resolver \"%s\": cannot resolve host: %s", sv->label,
                     gai_strerror(rc));
        if (res != NULL)
            freeaddrinfo(res);
        return -1;
    }
    sv->family = res->ai_family;
    if (res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, sv->addr,
                  sizeof sv->addr);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, sv->addr,
                  sizeof sv->addr);
    freeaddrinfo(res);
    return 0;
}

/* Reads up to `max` nameserver lines from /etc/resolv.conf. */
static size_t system_resolvers(char list[][INET6_ADDRSTRLEN + 8], size_t max)
{
    FILE *f = fopen("/etc/resolv.conf", "re");
    char line[512];
    size_t n = 0;

    if (f == NULL)
        return 0;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        char *p = line, *end;
        if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
            continue;
        p += 10;
        p += strspn(p, " \t");
        end = p + strcspn(p, " \t\r\n%");
        *end = '\0';
        if (*p == '\0' || strlen(p) >= INET6_ADDRSTRLEN)
            continue;
        snprintf(list[n++], INET6_ADDRSTRLEN + 8, "%s", p);
    }
    fclose(f);
    return n;
}

/* Appends a printable, bounded copy of a TXT string to the description. */
static void desc_add_value(struct ac_buf *d, const char *v, size_t len)
{
    ac_buf_appends(d, "\"");
    for (size_t i = 0; i < len && i < 64; i++) {
        unsigned char c = (unsigned char)v[i];
        char ch = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
        ac_buf_append(d, &ch, 1);
    }
    ac_buf_appends(d, len > 64 ? "...\"" : "\"");
}

/* Checks an answer: 1 when a TXT record equals value, 0 when not (desc says
 * what was there). */
static int check_pkt(const ldns_pkt *pkt, const char *value, char *desc, size_t desclen)
{
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt);
    ldns_rr_list *answer = ldns_pkt_answer(pkt);
    size_t vlen = strlen(value), shown = 0, txt_count = 0;
    struct ac_buf d;
    char *txt = NULL;
    int found = 0;

    ac_buf_init(&d, desclen > 0 ? desclen - 1 : 0);
    if (rcode != LDNS_RCODE_NOERROR) {
        ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
        if (lt != NULL)
            snprintf(desc, desclen, "%s", lt->name);
        else
            snprintf(desc, desclen, "rcode %d", (int)rcode);
        return 0;
    }
    txt = malloc(DNS_PROP_TXT_MAX + 1);
    if (txt == NULL) {
        snprintf(desc, desclen, "out of memory");
        return 0;
    }
    for (size_t i = 0; answer != NULL && i < ldns_rr_list_rr_count(answer); i++) {
        ldns_rr *rr = ldns_rr_list_rr(answer, i);
        size_t tlen = 0;
        bool overflow = false;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT)
            continue;
        if (++txt_count > DNS_PROP_MAX_TXT)
            break;
        for (size_t j = 0; j < ldns_rr_rd_count(rr); j++) {
            ldns_rdf *rdf = ldns_rr_rdf(rr, j);
            const uint8_t *data = ldns_rdf_data(rdf);
            size_t size = ldns_rdf_size(rdf), sl;
            if (ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_STR || size < 1)
                continue;
            sl = data[0];
            if (sl > size - 1)
                sl = size - 1;
            if (tlen + sl > DNS_PROP_TXT_MAX) {
                overflow = true;
                break;
            }
            memcpy(txt + tlen, data + 1, sl);
            tlen += sl;
        }
        if (!overflow && tlen == vlen && memcmp(txt, value, vlen) == 0)
            found = 1;
        if (shown < 4) {
            ac_buf_appends(&d, shown == 0 ? "" : ", ");
            desc_add_value(&d, txt, tlen);
            shown++;
        }
    }
    if (txt_count == 0)
        snprintf(desc, desclen, "NOERROR with no TXT record");
    else
        snprintf(desc, desclen, "NOERROR with values [%s%s]", d.data != NULL ? d.data : "",
                 txt_count > shown ? ", ..." : "");
    ac_buf_free(&d);
    free(txt);
    return found;
}

int dns_txt_answer_check_wire(const uint8_t *wire, size_t len, const char *value, char *desc,
                              size_t desclen)
{
    ldns_pkt *pkt = NULL;
    int rc;

    if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK || pkt == NULL) {
        snprintf(desc, desclen, "malformed answer");
        return -1;
    }
    rc = check_pkt(pkt, value, desc, desclen);
    ldns_pkt_free(pkt);
    return rc;
}

/* One TXT query to one server. Returns 1 (value present), 0 (not; desc set). */
static int query_server(struct server *sv, const ldns_rdf *name, const char *value,
                        int64_t timeout_ms)
{
    ldns_resolver *r = ldns_resolver_new();
    ldns_rdf *ns = NULL;
    ldns_pkt *pkt = NULL;
    ldns_status st;
    struct timeval tv;
    int rc = 0;

    if (r == NULL) {
        snprintf(sv->desc, sizeof sv->desc, "out of memory");
        goto out;
    }
    ns = ldns_rdf_new_frm_str(sv->family == AF_INET6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
                              sv->addr);
    if (ns == NULL || ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
        snprintf(sv->desc, sizeof sv->desc, "bad address");
        goto out;
    }
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000);
    ldns_resolver_set_port(r, sv->port);
    ldns_resolver_set_recursive(r, true);
    ldns_resolver_set_usevc(r, false);
    ldns_resolver_set_fallback(r, true);
    ldns_resolver_set_retry(r, 1);
    ldns_resolver_set_retrans(r, 1);
    ldns_resolver_set_timeout(r, tv);
    ldns_resolver_set_edns_udp_size(r, 1232);
    ldns_resolver_set_dnssec(r, false);
    ldns_resolver_set_random(r, false);
    st = ldns_resolver_send(&pkt, r, name, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    if (st != LDNS_STATUS_OK || pkt == NULL) {
        if (st == LDNS_STATUS_NETWORK_ERR || st == LDNS_STATUS_RES_NO_NS)
            snprintf(sv->desc, sizeof sv->desc, "no answer (timeout or unreachable)");
        else
            snprintf(sv->desc, sizeof sv->desc, "no answer (%s)", ldns_get_errorstr_by_id(st));
        goto out;
    }
    rc = check_pkt(pkt, value, sv->desc, sizeof sv->desc);
out:
    if (pkt != NULL)
        ldns_pkt_free(pkt);
    if (ns != NULL)
        ldns_rdf_deep_free(ns);
    if (r != NULL)
        ldns_resolver_deep_free(r);
    return rc;
}

static void timeout_error(const char *fqdn, const char *value, const struct server *sv, size_t n,
                          int64_t timeout_ms, struct ac_error *e)
{
    struct ac_buf m;

    ac_buf_init(&m, AC_ERROR_MESSAGE_MAX - 1);
    ac_buf_printf(&m, "TXT %.200s = \"%.64s\" not seen after %lld ms by", fqdn, value,
                  (long long)timeout_ms);
    for (size_t i = 0; i < n; i++) {
        if (sv[i].ok)
            continue;
        if (ac_buf_printf(&m, " %s (answered: %s);", sv[i].label, sv[i].desc) != 0) {
            ac_buf_appends(&m, " ...");
            break;
        }
    }
    if (m.len > 0 && m.data[m.len - 1] == ';')
        m.data[--m.len] = '\0';
    ac_error_set(e, AC_ERR_DNS_PROPAGATION, "%s", m.data != NULL ? m.data : "timeout");
    ac_buf_free(&m);
}

/* The one wait loop: asks every server not yet ok, sleeps interval_ms
 * (cancellable, ac_sleep_ms), until all have the value or the deadline
 * passes (each server is asked at least once). */
static int wait_loop(const char *fqdn, const ldns_rdf *name, const char *value, struct server *sv,
                     size_t n, int64_t deadline, int64_t interval_ms, int64_t timeout_ms,
                     struct ac_error *e)
{
    if (interval_ms < 50)
        interval_ms = 50;
    for (;;) {
        size_t missing = 0;
        int64_t left;

        for (size_t i = 0; i < n; i++) {
            int64_t q = deadline - ac_mono_ms();
            if (sv[i].ok)
                continue;
            if (q > DNS_PROP_QUERY_MAX_MS)
                q = DNS_PROP_QUERY_MAX_MS;
            if (q < DNS_PROP_QUERY_MIN_MS)
                q = DNS_PROP_QUERY_MIN_MS;
            /* a cancel is seen between queries: keep each one short then */
            if (ac_cancel_current() != NULL && q > DNS_PROP_QUERY_CANCELLABLE_MS)
                q = DNS_PROP_QUERY_CANCELLABLE_MS;
            if (ac_cancel_check("propagation check", e) != 0)
                return -1;
            sv[i].ok = query_server(&sv[i], name, value, q) == 1;
            if (!sv[i].ok)
                missing++;
        }
        if (missing == 0)
            return 0;
        left = deadline - ac_mono_ms();
        if (left <= 0)
            break;
        if (ac_sleep_ms(left < interval_ms ? left : interval_ms, ac_cancel_current()) != 0) {
            ac_error_set(e, AC_ERR_CANCELLED, "propagation check of %.200s: cancelled", fqdn);
            return -1;
        }
    }
    timeout_error(fqdn, value, sv, n, timeout_ms, e);
    return -1;
}

/* The absolute form of fqdn as an ldns name, or NULL. */
static ldns_rdf *abs_name(const char *fqdn)
{
    char absname[256];
    size_t flen = strlen(fqdn);

    if (flen == 0 || flen > 253)
        return NULL;
    snprintf(absname, sizeof absname, "%s%s", fqdn, fqdn[flen - 1] == '.' ? "" : ".");
    return ldns_dname_new_frm_str(absname);
}

int dns_propagation_wait_from(const char *fqdn, const char *value, const char *const *resolvers,
                              size_t resolver_count, const char *const *bootstrap,
                              size_t bootstrap_count, int64_t timeout_ms, int64_t interval_ms,
                              struct ac_error *e)
{
    char sys[DNS_PROP_MAX_SERVERS][INET6_ADDRSTRLEN + 8];
    const char *sysv[DNS_PROP_MAX_SERVERS];
    char *zone = NULL, *target = NULL, **auth = NULL;
    size_t auth_count = 0, n = resolver_count;
    const char *const *specs = resolvers;
    const char *where = fqdn; /* the name the record really lives at */
    int64_t start = ac_mono_ms();
    struct server *sv = NULL;
    ldns_rdf *name = NULL;
    struct ac_error why;
    int rc = -1;

    if (fqdn == NULL || value == NULL || (resolver_count > 0 && resolvers == NULL)) {
        ac_error_set(e, AC_ERR_INTERNAL, "propagation check: missing arguments");
        goto out;
    }
    if (strlen(fqdn) == 0 || strlen(fqdn) > 253) {
        ac_error_set(e, AC_ERR_INTERNAL, "propagation check: bad name");
        goto out;
    }
    if (n > DNS_PROP_MAX_SERVERS) {
        ac_error_set(e, AC_ERR_CONFIG, "propagation check: more than %d resolvers",
                     DNS_PROP_MAX_SERVERS);
        goto out;
    }
    if (n == 0) {
        /* No resolvers: the zone's authoritative servers (dns_zone.c), at
         * the record's real name; the system resolvers only when those
         * cannot be found. */
        ac_error_clear(&why);
        if (ac_cancel_check("propagation check", e) != 0)
            goto out;
        if (dns_zone_authoritative(fqdn, bootstrap, bootstrap_count,
                                   ac_cancel_clamp_ms(DNS_PROP_LOOKUP_MS), &zone, &target, &auth,
                                   &auth_count, &why) == 0) {
            specs = (const char *const *)auth;
            n = auth_count < DNS_PROP_MAX_SERVERS ? auth_count : DNS_PROP_MAX_SERVERS;
            where = target;
        } else {
            ac_warn(NULL, "dns: cannot find the authoritative servers for %s: %s", fqdn,
                    why.message);
            n = system_resolvers(sys, DNS_PROP_MAX_SERVERS);
            for (size_t i = 0; i < n; i++)
                sysv[i] = sys[i];
            specs = sysv;
            if (n == 0) {
                ac_error_set(e, AC_ERR_DNS_QUERY,
                             "propagation check: no resolvers given and none in "
                             "/etc/resolv.conf");
                goto out;
            }
        }
    }
    sv = calloc(n, sizeof *sv);
    name = abs_name(where);
    if (sv == NULL || name == NULL) {
        ac_error_set(e, sv == NULL ? AC_ERR_NOMEM : AC_ERR_INTERNAL, "propagation check: %s %.200s",
                     sv == NULL ? "out of memory" : "bad name", where);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (specs[i] == NULL) {
            ac_error_set(e, AC_ERR_CONFIG, "propagation check: empty resolver");
            goto out;
        }
        if (server_init(&sv[i], specs[i], e) != 0)
            goto out;
    }
    rc = wait_loop(where, name, value, sv, n, start + (timeout_ms > 0 ? timeout_ms : 0),
                   interval_ms, timeout_ms, e);
    if (rc != 0 && zone != NULL && ac_error_is(e, AC_ERR_DNS_PROPAGATION))
        ac_error_prefix(e, "authoritative servers of zone %s", zone);
out:
    if (name != NULL)
        ldns_rdf_deep_free(name);
    dns_zone_strv_free(auth, auth_count);
    free(zone);
    free(target);
    free(sv);
    return rc;
}

int dns_propagation_wait(const char *fqdn, const char *value, const char *const *resolvers,
                         size_t resolver_count, int64_t timeout_ms, int64_t interval_ms,
                         struct ac_error *e)
{
    return dns_propagation_wait_from(fqdn, value, resolvers, resolver_count, NULL, 0, timeout_ms,
                                     interval_ms, e);
}
