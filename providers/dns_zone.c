/*
 * dns_zone.c - zone finding (SOA walk, CNAME following) and authoritative
 * nameserver discovery for the DNS-01 providers and the propagation check.
 * See dns_zone.h for the contracts.
 */
#include "dns_zone.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dns_provider.h"
#include "hostport.h"
#include "log.h"
#include "timeutil.h"

#define DNS_ZONE_MAX_CNAME_HOPS 8
#define DNS_ZONE_MAX_SERVERS 16
#define DNS_ZONE_MAX_NS 16

static int add_server(ldns_resolver *res, const char *spec, struct ac_error *e)
{
    char host[256];
    int port = 53;
    struct addrinfo hints, *ai = NULL, *it;
    int rc = -1, added = 0;

    if (ac_hostport_parse(spec, 53, host, sizeof(host), &port) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "malformed DNS server address \"%.80s\"", spec);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai) {
        ac_error_set(e, AC_ERR_DNS_QUERY, "cannot resolve DNS server %.80s", host);
        goto out;
    }
    for (it = ai; it && added < 2; it = it->ai_next) {
        char num[64];
        ldns_rdf *addr;
        if (getnameinfo(it->ai_addr, it->ai_addrlen, num, sizeof(num), NULL, 0, NI_NUMERICHOST))
            continue;
        addr = ldns_rdf_new_frm_str(it->ai_family == AF_INET6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
                                    num);
        if (!addr)
            continue;
        if (ldns_resolver_push_nameserver(res, addr) == LDNS_STATUS_OK)
            added++;
        ldns_rdf_deep_free(addr);
    }
    if (!added) {
        ac_error_set(e, AC_ERR_DNS_QUERY, "no usable address for DNS server %.80s", host);
        goto out;
    }
    ldns_resolver_set_port(res, (uint16_t)port);
    rc = 0;
out:
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

int dns_zone_resolver_new(const char *const *servers, size_t n, int64_t timeout_ms,
                          ldns_resolver **out, struct ac_error *e)
{
    ldns_resolver *res = NULL;
    struct timeval tv;
    int rc = -1;

    *out = NULL;
    if (timeout_ms <= 0)
        timeout_ms = 5000;
    if (n == 0) {
        if (ldns_resolver_new_frm_file(&res, NULL) != LDNS_STATUS_OK) {
            ac_error_set(e, AC_ERR_DNS_QUERY, "cannot read the system resolver configuration");
            goto out;
        }
    } else {
        if (n > DNS_ZONE_MAX_SERVERS) {
            ac_error_set(e, AC_ERR_CONFIG, "too many DNS servers (%zu, at most %d)", n,
                         DNS_ZONE_MAX_SERVERS);
            goto out;
        }
        res = ldns_resolver_new();
        if (!res) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (add_server(res, servers[i], e) != 0)
                goto out;
    }
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000);
    ldns_resolver_set_timeout(res, tv);
    ldns_resolver_set_retry(res, 1);
    ldns_resolver_set_recursive(res, true);
    ldns_resolver_set_random(res, false);
    ldns_resolver_set_dnssec(res, false);
    ldns_resolver_set_fallback(res, true); /* retry over TCP when truncated */
    *out = res;
    res = NULL;
    rc = 0;
out:
    if (res)
        ldns_resolver_deep_free(res);
    return rc;
}

/* New lowercase string of a dname without the trailing dot ("" for the root). */
static char *dname_str(const ldns_rdf *d)
{
    char *s = ldns_rdf2str(d);
    size_t len;

    if (!s)
        return NULL;
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    len = strlen(s);
    if (len > 0 && s[len - 1] == '.')
        s[len - 1] = '\0';
    return s;
}

static void describe_servers(const ldns_resolver *res, char *out, size_t outlen)
{
    size_t used = 0;
    ldns_rdf **ns = ldns_resolver_nameservers(res);

    out[0] = '\0';
    for (size_t i = 0; i < ldns_resolver_nameserver_count(res) && used + 1 < outlen; i++) {
        char *a = ldns_rdf2str(ns[i]);
        int w = snprintf(out + used, outlen - used, "%s%s", i ? "," : "", a ? a : "?");
        free(a);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Sends one query; returns the packet (ldns_pkt_free) or NULL with e set. */
static ldns_pkt *query(ldns_resolver *res, const ldns_rdf *name, ldns_rr_type type,
                       struct ac_error *e)
{
    ldns_pkt *pkt = NULL;
    ldns_status st = ldns_resolver_query_status(&pkt, res, name, type, LDNS_RR_CLASS_IN, LDNS_RD);
    char who[256];

    if (st == LDNS_STATUS_OK && pkt) {
        ldns_pkt_rcode rc = ldns_pkt_get_rcode(pkt);
        if (rc == LDNS_RCODE_NOERROR || rc == LDNS_RCODE_NXDOMAIN)
            return pkt;
    }
    describe_servers(res, who, sizeof(who));
    {
        char *n = dname_str(name);
        if (st != LDNS_STATUS_OK || !pkt)
            ac_error_set(e, AC_ERR_DNS_QUERY, "no answer from %s for %s (type %d): %s", who,
                         n ? n : "?", (int)type, ldns_get_errorstr_by_id(st));
        else
            ac_error_set(e, AC_ERR_DNS_QUERY, "%s answered rcode %d for %s", who,
                         (int)ldns_pkt_get_rcode(pkt), n ? n : "?");
        free(n);
    }
    if (pkt)
        ldns_pkt_free(pkt);
    return NULL;
}

/* The target of a CNAME owned by `name` in the answer section, or NULL
 * (borrowed from pkt). */
static const ldns_rdf *cname_of(const ldns_pkt *pkt, const ldns_rdf *name)
{
    ldns_rr_list *ans = ldns_pkt_answer(pkt);

    for (size_t i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
            ldns_dname_compare(ldns_rr_owner(rr), name) == 0 && ldns_rr_rd_count(rr) == 1)
            return ldns_rr_rdf(rr, 0);
    }
    return NULL;
}

/* Owner of the first SOA in the answer, else the authority section. */
static const ldns_rdf *soa_owner(const ldns_pkt *pkt)
{
    ldns_rr_list *secs[2] = {ldns_pkt_answer(pkt), ldns_pkt_authority(pkt)};

    for (int s = 0; s < 2; s++)
        for (size_t i = 0; secs[s] && i < ldns_rr_list_rr_count(secs[s]); i++)
            if (ldns_rr_get_type(ldns_rr_list_rr(secs[s], i)) == LDNS_RR_TYPE_SOA)
                return ldns_rr_owner(ldns_rr_list_rr(secs[s], i));
    return NULL;
}

int dns_find_zone(const char *fqdn, const char *const *resolvers, size_t n, int64_t timeout_ms,
                  char **zone, char **target_fqdn, struct ac_error *e)
{
    ldns_resolver *res = NULL;
    ldns_rdf *target = NULL, *cur = NULL;
    ldns_pkt *pkt = NULL;
    int rc = -1, hops = 0;

    *zone = NULL;
    *target_fqdn = NULL;
    if (dns_zone_resolver_new(resolvers, n, timeout_ms, &res, e) != 0)
        goto out;
    target = ldns_dname_new_frm_str(fqdn);
    if (!target) {
        ac_error_set(e, AC_ERR_CONFIG, "invalid domain name \"%.80s\"", fqdn);
        goto out;
    }
    cur = ldns_rdf_clone(target);
    for (;;) {
        const ldns_rdf *cn, *owner;
        ldns_rdf *up;

        pkt = query(res, cur, LDNS_RR_TYPE_SOA, e);
        if (!pkt)
            goto out;
        /* Follow a CNAME only for the record's own name, not for its parents. */
        cn = ldns_dname_compare(cur, target) == 0 ? cname_of(pkt, cur) : NULL;
        if (cn) {
            if (++hops > DNS_ZONE_MAX_CNAME_HOPS) {
                ac_error_set(e, AC_ERR_DNS_QUERY, "CNAME chain from %.100s longer than %d",
                             fqdn, DNS_ZONE_MAX_CNAME_HOPS);
                goto out;
            }
            ldns_rdf_deep_free(target);
            target = ldns_rdf_clone(cn);
            ldns_rdf_deep_free(cur);
            cur = ldns_rdf_clone(cn);
            ldns_pkt_free(pkt);
            pkt = NULL;
            continue;
        }
        owner = soa_owner(pkt);
        if (owner && (ldns_dname_compare(target, owner) == 0 ||
                      ldns_dname_is_subdomain(target, owner))) {
            *zone = dname_str(owner);
            break;
        }
        if (ldns_dname_label_count(cur) <= 1) {
            char *t = dname_str(target);
            ac_error_set(e, AC_ERR_DNS_QUERY, "no SOA found for %.100s or any parent", t ? t : fqdn);
            free(t);
            goto out;
        }
        up = ldns_dname_left_chop(cur);
        ldns_rdf_deep_free(cur);
        cur = up;
        ldns_pkt_free(pkt);
        pkt = NULL;
        if (!cur) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    *target_fqdn = dname_str(target);
    if (!*zone || !*target_fqdn) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        free(*zone);
        free(*target_fqdn);
        *zone = *target_fqdn = NULL;
        goto out;
    }
    rc = 0;
out:
    if (pkt)
        ldns_pkt_free(pkt);
    ldns_rdf_deep_free(cur);
    ldns_rdf_deep_free(target);
    if (res)
        ldns_resolver_deep_free(res);
    return rc;
}

void dns_zone_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int strv_add(char ***v, size_t *n, const char *s)
{
    char **nv;

    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return 0;
    nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    *v = nv;
    nv[*n] = strdup(s);
    if (!nv[*n])
        return -1;
    (*n)++;
    return 0;
}

/* Adds the A/AAAA addresses for `name` found in `list` to the result. */
static int collect_addrs(const ldns_rr_list *list, const ldns_rdf *name, char ***v, size_t *n)
{
    for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); i++) {
        ldns_rr *rr = ldns_rr_list_rr(list, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        char *a;
        int r;
        if ((t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA) || ldns_rr_rd_count(rr) != 1 ||
            ldns_dname_compare(ldns_rr_owner(rr), name) != 0)
            continue;
        a = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        if (!a)
            return -1;
        r = strv_add(v, n, a);
        free(a);
        if (r != 0)
            return -1;
    }
    return 0;
}

int dns_authoritative_servers(const char *zone, const char *const *resolvers, size_t n,
                              int64_t timeout_ms, char ***servers, size_t *count,
                              struct ac_error *e)
{
    ldns_resolver *res = NULL;
    ldns_rdf *zname = NULL;
    ldns_pkt *pkt = NULL;
    char **out = NULL;
    size_t outn = 0, nsn = 0;
    int rc = -1;

    *servers = NULL;
    *count = 0;
    if (dns_zone_resolver_new(resolvers, n, timeout_ms, &res, e) != 0)
        goto out;
    zname = ldns_dname_new_frm_str(zone);
    if (!zname) {
        ac_error_set(e, AC_ERR_CONFIG, "invalid zone name \"%.80s\"", zone);
        goto out;
    }
    pkt = query(res, zname, LDNS_RR_TYPE_NS, e);
    if (!pkt)
        goto out;
    for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(pkt)) && nsn < DNS_ZONE_MAX_NS; i++) {
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(pkt), i);
        const ldns_rdf *nsname;
        size_t before = outn;

        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rd_count(rr) != 1)
            continue;
        nsn++;
        nsname = ldns_rr_rdf(rr, 0);
        if (collect_addrs(ldns_pkt_additional(pkt), nsname, &out, &outn) != 0)
            goto nomem;
        if (outn == before) {
            static const ldns_rr_type types[2] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
            for (int t = 0; t < 2; t++) {
                struct ac_error ignored;
                ldns_pkt *ap = query(res, nsname, types[t], &ignored);
                if (!ap)
                    continue;
                if (collect_addrs(ldns_pkt_answer(ap), nsname, &out, &outn) != 0) {
                    ldns_pkt_free(ap);
                    goto nomem;
                }
                ldns_pkt_free(ap);
            }
        }
        if (outn == before) {
            char *s = dname_str(nsname);
            ac_warn(NULL, "dns: no address found for nameserver %s of zone %s", s ? s : "?", zone);
            free(s);
        }
    }
    if (outn == 0) {
        ac_error_set(e, AC_ERR_DNS_QUERY, "no authoritative nameserver address found for zone %.100s",
                     zone);
        goto out;
    }
    *servers = out;
    *count = outn;
    out = NULL;
    outn = 0;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    dns_zone_strv_free(out, outn);
    if (pkt)
        ldns_pkt_free(pkt);
    ldns_rdf_deep_free(zname);
    if (res)
        ldns_resolver_deep_free(res);
    return rc;
}

int dns_zone_authoritative(const char *fqdn, const char *const *bootstrap, size_t n,
                           int64_t timeout_ms, char **zone, char **target, char ***servers,
                           size_t *count, struct ac_error *e)
{
    int rc = -1;

    *zone = *target = NULL;
    *servers = NULL;
    *count = 0;
    if (dns_find_zone(fqdn, bootstrap, n, timeout_ms, zone, target, e) != 0 ||
        dns_authoritative_servers(*zone, bootstrap, n, timeout_ms, servers, count, e) != 0)
        goto out;
    ac_debug(NULL, "dns: %s is in zone %s (record at %s), %zu authoritative server(s)", fqdn, *zone,
             *target, *count);
    rc = 0;
out:
    if (rc != 0) {
        free(*zone);
        free(*target);
        *zone = *target = NULL;
    }
    return rc;
}
