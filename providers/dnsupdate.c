/*
 * dnsupdate.c - the RFC 2136 DNS UPDATE provider ("dnsupdate", alias
 * "rfc2136"): messages built with ldns, sent over TCP, optionally signed with
 * TSIG (RFC 8945, tsig.c: hmac-sha1/224/256/384/512) and the answer's TSIG
 * verified.
 *
 * Append-only: present() sends one UPDATE that adds one TXT RR (RFC 2136
 * 2.5.1), cleanup() one that deletes exactly that RR by its rdata (2.5.4,
 * class NONE), so other values at the same name are never touched. The zone
 * is the one named by `zones` (longest suffix match) or found by SOA at the
 * nameserver, after following a CNAME on the challenge name.
 *
 * Options (lego's names): nameserver (required, "host[:port]"), tsig_key,
 * tsig_secret (base64), tsig_algorithm (default hmac-sha256), tsig_file (a
 * BIND key file as written by tsig-keygen, instead of the three tsig_*
 * keys), zones (comma or space separated), dns_timeout (per query, default
 * 10s). Secrets never appear in errors or logs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#include "b64.h"
#include "buf.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "dns_zone.h"
#include "hostport.h"
#include "log.h"
#include "timeutil.h"
#include "tsig.h"

#define P "DNS provider dnsupdate"
#define DNSUPDATE_KEYFILE_MAX (64 * 1024)
#define DNSUPDATE_MAX_ZONES 32

static const struct dns_option_decl opts_decl[] = {
    {"nameserver", true},
    {"tsig_key", false},
    {"tsig_secret", false},
    {"tsig_algorithm", false},
    {"tsig_file", false},
    {"zones", false},
    {"dns_timeout", false},
    {NULL, false},
};

struct dnsupdate {
    char *nameserver;
    char *key_name;      /* NULL without TSIG */
    struct tsig_key key; /* secret; valid when key_name */
    char *zones[DNSUPDATE_MAX_ZONES];
    size_t zone_count;
    int64_t timeout_ms;
    int64_t ttl;
};

static bool secret_ok(const char *s)
{
    size_t outlen = 0;
    unsigned char *raw;

    if (!s || !*s || strlen(s) > 1024)
        return false;
    raw = b64_decode_alloc(s, strlen(s), &outlen);
    if (!raw)
        return false;
    free(raw);
    return outlen > 0;
}

static int parse_timeout(const char *v, int64_t *ms)
{
    int64_t secs = 0;
    char *end = NULL;

    if (!v) {
        *ms = 10000;
        return 0;
    }
    if (ac_duration_parse(v, &secs) != 0) {
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || *end || n < 0)
            return -1;
        secs = n;
    }
    if (secs < 1 || secs > 300)
        return -1;
    *ms = secs * 1000;
    return 0;
}

/* Reads a BIND key file: key "name" { algorithm X; secret "Y"; };
 * Fills new strings; returns 0 or -1 with e set (never quoting the file). */
static int read_key_file(const char *path, char **name, char **alg, char **secret,
                         struct ac_error *e)
{
    FILE *f = NULL;
    struct ac_buf b;
    char chunk[4096], tok[3][512];
    size_t got, ntok = 0;
    int rc = -1, state = 0; /* 0 want "key", 1 name, 2 body */
    const char *p;

    ac_buf_init(&b, DNSUPDATE_KEYFILE_MAX);
    *name = *alg = *secret = NULL;
    f = fopen(path, "r");
    if (!f) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option tsig_file: cannot open %.200s: %s", path,
                     strerror(errno));
        goto out;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ac_buf_append(&b, chunk, got) != 0) {
            ac_error_set(e, AC_ERR_CONFIG, P ": option tsig_file: file too large");
            goto out;
        }
    p = b.data ? b.data : "";
    /* Tokenise: words, quoted strings, and the punctuation { } ; */
    while (*p) {
        char t[512];
        size_t tl = 0;
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (*p == '"') {
            p++;
            while (*p && *p != '"' && tl + 1 < sizeof(t))
                t[tl++] = *p++;
            if (*p != '"')
                break;
            p++;
        } else if (*p == '{' || *p == '}' || *p == ';') {
            t[tl++] = *p++;
        } else {
            while (*p && !isspace((unsigned char)*p) && !strchr("{};\"", *p) && tl + 1 < sizeof(t))
                t[tl++] = *p++;
        }
        t[tl] = '\0';
        if (state == 0 && strcmp(t, "key") == 0) {
            state = 1;
        } else if (state == 1) {
            if (!*name)
                *name = strdup(t);
            else if (strcmp(t, "{") == 0)
                state = 2;
        } else if (state == 2) {
            if (strcmp(t, ";") == 0) {
                if (ntok == 2 && strcmp(tok[0], "algorithm") == 0 && !*alg)
                    *alg = strdup(tok[1]);
                else if (ntok == 2 && strcmp(tok[0], "secret") == 0 && !*secret)
                    *secret = strdup(tok[1]);
                ntok = 0;
            } else if (strcmp(t, "}") == 0) {
                break;
            } else if (ntok < 3) {
                memcpy(tok[ntok++], t, tl + 1);
            }
        }
    }
    if (!*name || !*secret) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option tsig_file: %.200s holds no key \"name\" { secret \"...\"; } block",
                     path);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        free(*name);
        free(*alg);
        free(*secret);
        *name = *alg = *secret = NULL;
    }
    if (f)
        fclose(f);
    explicit_bzero(chunk, sizeof(chunk));
    if (b.data)
        explicit_bzero(b.data, b.len);
    ac_buf_free(&b);
    return rc;
}

static int c_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *ns = dns_opt_get(opts, n, "nameserver");
    const char *key = dns_opt_get(opts, n, "tsig_key");
    const char *secret = dns_opt_get(opts, n, "tsig_secret");
    const char *alg = dns_opt_get(opts, n, "tsig_algorithm");
    const char *file = dns_opt_get(opts, n, "tsig_file");
    char host[256];
    int64_t ms;

    if (!ns || ac_hostport_parse(ns, 53, host, sizeof(host), NULL) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option nameserver: expected host or host:port");
        return -1;
    }
    if (file && (key || secret)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option tsig_file: give either tsig_file or "
                                          "tsig_key + tsig_secret, not both");
        return -1;
    }
    if ((key && *key) != (secret && *secret)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option %s: tsig_key and tsig_secret go together",
                     key && *key ? "tsig_secret" : "tsig_key");
        return -1;
    }
    if (secret && *secret && !secret_ok(secret)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option tsig_secret: not valid base64");
        return -1;
    }
    if (alg && !tsig_algorithm_known(alg)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option tsig_algorithm: unsupported (hmac-sha1, hmac-sha224, "
                       "hmac-sha256, hmac-sha384 or hmac-sha512)");
        return -1;
    }
    if (parse_timeout(dns_opt_get(opts, n, "dns_timeout"), &ms) != 0) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option dns_timeout: expected a duration from 1s to 300s (e.g. \"10s\")");
        return -1;
    }
    return 0;
}

static void state_free(struct dnsupdate *s)
{
    if (!s)
        return;
    free(s->nameserver);
    free(s->key_name);
    tsig_key_clear(&s->key);
    for (size_t i = 0; i < s->zone_count; i++)
        free(s->zones[i]);
    free(s);
}

static int parse_zones(struct dnsupdate *s, const char *v, struct ac_error *e)
{
    const char *p = v;

    while (p && *p) {
        size_t len;
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        len = strcspn(p, ", \t\r\n");
        if (len == 0)
            break;
        if (s->zone_count == DNSUPDATE_MAX_ZONES || len > 253) {
            ac_error_set(e, AC_ERR_CONFIG, P ": option zones: too many or too long zone names");
            return -1;
        }
        s->zones[s->zone_count] = strndup(p, p[len - 1] == '.' && len > 1 ? len - 1 : len);
        if (!s->zones[s->zone_count])
            return -1;
        for (char *c = s->zones[s->zone_count]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        s->zone_count++;
        p += len;
    }
    return 0;
}

static int c_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dnsupdate *s = NULL;
    struct dns_settings st;
    const char *file = dns_opt_get(opts, n, "tsig_file");
    const char *alg = dns_opt_get(opts, n, "tsig_algorithm");
    char *falg = NULL, *secret = NULL;
    int rc = -1;

    *state = NULL;
    if (c_validate(opts, n, e) != 0 || dns_settings_parse("dnsupdate", opts, n, &st, e) != 0)
        goto out;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl;
    parse_timeout(dns_opt_get(opts, n, "dns_timeout"), &s->timeout_ms);
    s->nameserver = strdup(dns_opt_get(opts, n, "nameserver"));
    if (!s->nameserver)
        goto nomem;
    if (file) {
        if (read_key_file(file, &s->key_name, &falg, &secret, e) != 0)
            goto out;
        if (!secret_ok(secret)) {
            ac_error_set(e, AC_ERR_CONFIG, P ": option tsig_file: the key's secret is not base64");
            goto out;
        }
        if (!alg)
            alg = falg;
    } else if (dns_opt_get(opts, n, "tsig_key") && *dns_opt_get(opts, n, "tsig_key")) {
        s->key_name = strdup(dns_opt_get(opts, n, "tsig_key"));
        secret = strdup(dns_opt_get(opts, n, "tsig_secret"));
        if (!s->key_name || !secret)
            goto nomem;
    }
    if (!tsig_algorithm_known(alg)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option tsig_file: unsupported algorithm");
        goto out;
    }
    if (s->key_name && tsig_key_init(&s->key, s->key_name, alg, secret, e) != 0) {
        ac_error_prefix(e, P ": option %s", file ? "tsig_file" : "tsig_key");
        goto out;
    }
    if (parse_zones(s, dns_opt_get(opts, n, "zones"), e) != 0)
        goto out;
    *state = s;
    s = NULL;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    free(falg);
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    state_free(s);
    return rc;
}

/* Longest configured zone that is `name` or a parent of it, or NULL. */
static const char *configured_zone(const struct dnsupdate *s, const char *name)
{
    const char *best = NULL;
    size_t nl = strlen(name), bl = 0;

    for (size_t i = 0; i < s->zone_count; i++) {
        size_t zl = strlen(s->zones[i]);
        if (zl > nl || zl <= bl)
            continue;
        if (strcasecmp(name + nl - zl, s->zones[i]) == 0 &&
            (zl == nl || name[nl - zl - 1] == '.')) {
            best = s->zones[i];
            bl = zl;
        }
    }
    return best;
}

/* Decides the zone and the owner name for ch->fqdn. New strings. */
static int locate(struct dnsupdate *s, const char *fqdn, char **zone, char **owner,
                  struct ac_error *e)
{
    const char *servers[1] = {s->nameserver};
    const char *cz;

    if (dns_find_zone(fqdn, servers, 1, s->timeout_ms, zone, owner, e) == 0) {
        cz = configured_zone(s, *owner);
        if (cz && strcmp(cz, *zone) != 0) {
            free(*zone);
            *zone = strdup(cz);
            if (!*zone)
                goto nomem;
        }
        return 0;
    }
    cz = configured_zone(s, fqdn);
    if (!cz) {
        ac_error_prefix(e, "%s: cannot find the zone of %s", P, fqdn);
        return -1;
    }
    ac_error_clear(e);
    *zone = strdup(cz);
    *owner = strdup(fqdn);
    if (*zone && *owner)
        return 0;
nomem:
    free(*zone);
    free(*owner);
    *zone = *owner = NULL;
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

static bool value_ok(const char *v)
{
    size_t len = v ? strlen(v) : 0;

    if (len == 0 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("-_=+/.", v[i]))
            return false;
    return true;
}

/* Interprets the outcome of an UPDATE; returns 0 when it succeeded. */
static int judge(const struct dnsupdate *s, ldns_status st, const ldns_pkt *reply,
                 const char *verb, const char *zone, struct ac_error *e)
{
    ldns_pkt_rcode rc = reply ? ldns_pkt_get_rcode(reply) : LDNS_RCODE_SERVFAIL;

    if (reply && rc == LDNS_RCODE_NOTAUTH) {
        ac_error_set(e, AC_ERR_DNS_AUTH,
                     P ": nameserver %s rejected the TSIG signature (NOTAUTH) while trying to %s "
                       "a TXT record in zone %s: check option tsig_secret (and tsig_key, "
                       "tsig_algorithm)", s->nameserver, verb, zone);
        return -1;
    }
    if (st == LDNS_STATUS_CRYPTO_TSIG_BOGUS || st == LDNS_STATUS_CRYPTO_TSIG_ERR) {
        ac_error_set(e, AC_ERR_DNS_AUTH,
                     P ": the answer of nameserver %s failed TSIG verification: check option "
                       "tsig_secret (and tsig_key, tsig_algorithm)", s->nameserver);
        return -1;
    }
    if (st != LDNS_STATUS_OK || !reply) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no answer from nameserver %s to the UPDATE: %s",
                     s->nameserver, ldns_get_errorstr_by_id(st));
        return -1;
    }
    if (rc == LDNS_RCODE_NOERROR)
        return 0;
    if (rc == LDNS_RCODE_REFUSED) {
        ac_error_set(e, AC_ERR_DNS_AUTH,
                     P ": nameserver %s refused the UPDATE of zone %s (not allowed for this "
                       "key: check option tsig_key%s)", s->nameserver, zone,
                     s->key_name ? "" : ", none is configured");
        return -1;
    }
    if (rc == LDNS_RCODE_NOTZONE) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER,
                     P ": nameserver %s does not serve zone %s (check option zones)", s->nameserver,
                     zone);
        return -1;
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": nameserver %s answered rcode %d to the UPDATE of %s",
                 s->nameserver, (int)rc, zone);
    return -1;
}

/* Sends pkt over TCP to the nameserver of res, signed when a key is set, and
 * parses the answer into *reply (ldns_pkt_free it) after checking its TSIG:
 * LDNS_STATUS_CRYPTO_TSIG_BOGUS when that fails (unless the server answered
 * an unsigned NOTAUTH, which judge() explains). */
static ldns_status exchange(const struct dnsupdate *s, ldns_resolver *res, const ldns_pkt *pkt,
                            ldns_pkt **reply)
{
    uint8_t *wire = NULL, *msg = NULL, *answer = NULL, mac[TSIG_MAC_MAX];
    size_t wlen = 0, mlen, alen = 0, sslen = 0;
    ldns_buffer *qb = NULL;
    struct sockaddr_storage *ss = NULL;
    struct timeval tv;
    ldns_status st = LDNS_STATUS_MEM_ERR;
    int terr = 0;

    *reply = NULL;
    if (ldns_pkt2wire(&wire, pkt, &wlen) != LDNS_STATUS_OK ||
        (msg = malloc(wlen + TSIG_RR_MAX)) == NULL)
        goto out;
    memcpy(msg, wire, wlen);
    mlen = wlen;
    if (s->key_name && tsig_sign(&s->key, msg, &mlen, wlen + TSIG_RR_MAX, ac_now(), mac) != 0)
        goto out;
    qb = ldns_buffer_new(mlen);
    ss = ldns_rdf2native_sockaddr_storage(ldns_resolver_nameservers(res)[0],
                                          ldns_resolver_port(res), &sslen);
    if (!qb || !ss)
        goto out;
    ldns_buffer_write(qb, msg, mlen);
    tv.tv_sec = (time_t)(s->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(s->timeout_ms % 1000) * 1000;
    st = ldns_tcp_send(&answer, qb, ss, (socklen_t)sslen, tv, &alen);
    if (st != LDNS_STATUS_OK)
        goto out;
    if (!answer || alen < 12 || memcmp(answer, msg, 2) != 0) {
        st = LDNS_STATUS_PACKET_OVERFLOW;
        goto out;
    }
    st = ldns_wire2pkt(reply, answer, alen);
    if (st != LDNS_STATUS_OK || !s->key_name)
        goto out;
    if (tsig_verify(&s->key, answer, alen, mac, ac_now(), &terr) != TSIG_VALID &&
        ldns_pkt_get_rcode(*reply) != LDNS_RCODE_NOTAUTH)
        st = LDNS_STATUS_CRYPTO_TSIG_BOGUS;
out:
    free(wire);
    free(msg);
    free(answer);
    free(ss);
    if (qb)
        ldns_buffer_free(qb);
    return st;
}

static int send_update(struct dnsupdate *s, const struct dns_challenge *ch, bool add,
                       struct ac_error *e)
{
    ldns_resolver *res = NULL;
    ldns_rr *rr = NULL;
    ldns_rr_list *list = NULL;
    ldns_rdf *zrdf = NULL;
    ldns_pkt *pkt = NULL, *reply = NULL;
    char *zone = NULL, *owner = NULL;
    const char *servers[1] = {s->nameserver};
    struct ac_buf text;
    ldns_status st;
    int rc = -1;

    ac_buf_init(&text, 1024);
    if (!value_ok(ch->value)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": refusing a malformed TXT value");
        goto out;
    }
    if (locate(s, ch->fqdn, &zone, &owner, e) != 0)
        goto out;
    if (ac_buf_printf(&text, "%s. %lld IN TXT \"%s\"", owner, (long long)s->ttl, ch->value) != 0 ||
        ldns_rr_new_frm_str(&rr, text.data, 0, NULL, NULL) != LDNS_STATUS_OK) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": cannot build the TXT record for %s", owner);
        goto out;
    }
    if (!add) {
        ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE); /* RFC 2136 2.5.4 */
        ldns_rr_set_ttl(rr, 0);
    }
    list = ldns_rr_list_new();
    zrdf = ldns_dname_new_frm_str(zone);
    if (!list || !zrdf || !ldns_rr_list_push_rr(list, rr))
        goto nomem;
    rr = NULL;
    pkt = ldns_update_pkt_new(zrdf, LDNS_RR_CLASS_IN, NULL, list, NULL);
    if (!pkt)
        goto nomem;
    zrdf = NULL; /* owned by pkt */
    if (dns_zone_resolver_new(servers, 1, s->timeout_ms, &res, e) != 0)
        goto out;
    ldns_pkt_set_random_id(pkt);
    st = exchange(s, res, pkt, &reply);
    if (judge(s, st, reply, add ? "add" : "delete", zone, e) != 0)
        goto out;
    ac_debug(NULL, "dnsupdate: %s TXT at %s (zone %s) via %s", add ? "added" : "deleted", owner,
             zone, s->nameserver);
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (res)
        ldns_resolver_deep_free(res);
    if (reply)
        ldns_pkt_free(reply);
    if (pkt)
        ldns_pkt_free(pkt);
    if (rr)
        ldns_rr_free(rr);
    if (list)
        ldns_rr_list_deep_free(list);
    ldns_rdf_deep_free(zrdf);
    free(zone);
    free(owner);
    ac_buf_free(&text);
    return rc;
}

static int c_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return send_update(state, ch, true, e);
}

static int c_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return send_update(state, ch, false, e);
}

static void c_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_dnsupdate_ops = {
    .name = "dnsupdate",
    .alias = "rfc2136",
    .options = opts_decl,
    .validate = c_validate,
    .create = c_create,
    .present = c_present,
    .cleanup = c_cleanup,
    .destroy = c_destroy,
};
