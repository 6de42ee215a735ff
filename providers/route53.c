/*
 * route53.c - the Amazon Route 53 DNS provider (REST API 2013-04-01).
 *
 * Auth: access_key_id + secret_access_key (+ session_token for temporary
 * credentials, sent as X-Amz-Security-Token). Requests are signed with AWS
 * Signature V4 by libcurl (CURLOPT_AWS_SIGV4 through http_request.aws_sigv4,
 * the key pair as userpwd). Route 53 is a global service: it is signed for
 * us-east-1 (aws), cn-northwest-1 (aws-cn, region cn-*) or us-gov-west-1
 * (aws-us-gov, region us-gov-*). assume_role_arn/external_id are declared
 * (lego's names) but refused: there is no STS client here.
 *
 * The environment variable AUTOCERT_ROUTE53_BASE_URL overrides the endpoint
 * (https://route53.amazonaws.com); it exists for the tests only.
 *
 * Zone: hosted_zone_id, or GET /hostedzonesbyname walking up from the
 * record's parent name (public zones only). Route 53 stores a TXT record set
 * as a whole, so appending is a read-modify-write: ListResourceRecordSets
 * reads the current set, then one atomic change batch DELETEs exactly that set
 * and CREATEs the set plus our value (CREATE alone when there was none).
 * cleanup() likewise DELETEs the current set and CREATEs it without our value
 * (nothing when it becomes empty). The batch forms write all values of one
 * name (apex and wildcard of an order) in one such change batch. Because the DELETE must match the set
 * exactly, a concurrent writer makes the batch fail (InvalidChangeBatch)
 * instead of losing a value; the cycle is then re-read and retried. The
 * change is then polled with GetChange until INSYNC (every polling_interval,
 * up to propagation_timeout). HTTP 429 and the Throttling /
 * PriorRequestNotComplete errors are retried (max_retries, default 3; the
 * wait is Retry-After or 1, 2, 4 ... s, each at most 60 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "log.h"
#include "timeutil.h"

#define P "DNS provider route53"
#define R53_DEFAULT_BASE "https://route53.amazonaws.com"
#define R53_API "/2013-04-01"
#define R53_MAX_URL 2048
#define R53_MAX_VALUES 400
#define R53_MAX_VALUE 4096
#define R53_CONFLICT_RETRIES 4
#define R53_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*"

static const struct dns_option_decl opts_decl[] = {
    {"access_key_id", false}, {"secret_access_key", false}, {"session_token", false},
    {"region", true},         {"hosted_zone_id", false},    {"assume_role_arn", false},
    {"external_id", false},   {"max_retries", false},       DNS_API_OPTION_DECLS,
    {NULL, false},
};

struct r53 {
    struct dns_api api; /* base, settings, max_retries */
    char *userpwd;      /* "access_key_id:secret_access_key" (secret) */
    char *session;      /* session token (secret) or NULL */
    char *zone_id;      /* configured hosted zone id or NULL */
    const char *sigv4;  /* CURLOPT_AWS_SIGV4 string */
};

/* The current TXT record set at a name: raw (XML-escaped) values. */
struct rrset {
    bool exists;
    int64_t ttl;
    char *vals[R53_MAX_VALUES];
    size_t n;
};

static bool set(const char *v)
{
    return v && *v;
}

static int parse_retries(const char *v, int *out)
{
    char *end;
    long n;

    if (!set(v)) {
        *out = 3;
        return 0;
    }
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < 0 || n > 10)
        return -1;
    *out = (int)n;
    return 0;
}

static int r_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *ak = dns_opt_get(opts, n, "access_key_id");
    const char *sk = dns_opt_get(opts, n, "secret_access_key");
    const char *zid = dns_opt_get(opts, n, "hosted_zone_id");
    int r;

    if (set(dns_opt_get(opts, n, "assume_role_arn")) || set(dns_opt_get(opts, n, "external_id"))) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option assume_role_arn: not supported (no STS client); give "
                       "access_key_id and secret_access_key of the role");
        return -1;
    }
    if (!set(ak) || !set(sk)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option %s: give access_key_id and secret_access_key",
                     set(ak) ? "secret_access_key" : "access_key_id");
        return -1;
    }
    if (strchr(ak, ':') || strlen(ak) > 128 || strlen(sk) > 256) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option access_key_id: malformed");
        return -1;
    }
    if (!set(dns_opt_get(opts, n, "region"))) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option region: required");
        return -1;
    }
    if (zid && (!*zid || strlen(zid) > 64 || strspn(zid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
                                                 strlen(zid))) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option hosted_zone_id: must be a zone id like Z123ABC");
        return -1;
    }
    if (parse_retries(dns_opt_get(opts, n, "max_retries"), &r) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option max_retries: must be an integer 0..10");
        return -1;
    }
    return dns_api_validate("route53", opts, n, e);
}

static void r_destroy(void *state)
{
    struct r53 *s = state;

    if (!s)
        return;
    dns_api_secret_free(s->userpwd);
    dns_api_secret_free(s->session);
    free(s->zone_id);
    dns_api_free(&s->api);
    free(s);
}

static int r_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct r53 *s = NULL;
    struct ac_buf up;
    const char *region = dns_opt_get(opts, n, "region");
    const char *env = DNS_API_TEST_URL("AUTOCERT_ROUTE53_BASE_URL");
    const char *base = R53_DEFAULT_BASE;

    *state = NULL;
    ac_buf_init(&up, 1024);
    if (r_validate(opts, n, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->sigv4 = "aws:amz:us-east-1:route53";
    if (strncmp(region, "cn-", 3) == 0) {
        s->sigv4 = "aws:amz:cn-northwest-1:route53";
        base = "https://route53.amazonaws.com.cn";
    } else if (strncmp(region, "us-gov-", 7) == 0) {
        s->sigv4 = "aws:amz:us-gov-west-1:route53";
        base = "https://route53.us-gov.amazonaws.com";
    }
    if (dns_api_init(&s->api, "route53", opts, n, set(env) ? env : base,
                     "AUTOCERT_ROUTE53_BASE_URL", base, e) != 0)
        goto fail;
    parse_retries(dns_opt_get(opts, n, "max_retries"), &s->api.max_retries);
    s->api.auth_options = "access_key_id/secret_access_key";
    if (ac_buf_printf(&up, "%s:%s", dns_opt_get(opts, n, "access_key_id"),
                      dns_opt_get(opts, n, "secret_access_key")) != 0)
        goto nomem;
    s->userpwd = ac_buf_steal(&up, NULL);
    if (!s->userpwd || dns_api_opt_dup(opts, n, "session_token", &s->session, e) != 0 ||
        dns_api_opt_dup(opts, n, "hosted_zone_id", &s->zone_id, e) != 0)
        goto nomem;
    *state = s;
    return 0;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
fail:
    if (up.data)
        explicit_bzero(up.data, up.len);
    ac_buf_free(&up);
    r_destroy(s);
    return -1;
}

/* Text of the first <tag>...</tag> in [p, end) (no attributes, not nested in
 * itself). Returns a pointer to the content and sets *len and *after (the
 * position past the closing tag), or NULL. */
static const char *xml_find(const char *p, const char *end, const char *tag, size_t *len,
                            const char **after)
{
    char open[64], close[64];
    const char *a, *b;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (p >= end)
        return NULL;
    a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (!a)
        return NULL;
    a += strlen(open);
    b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (!b)
        return NULL;
    *len = (size_t)(b - a);
    if (after)
        *after = b + strlen(close);
    return a;
}

/* Copies the text of <tag> into out (NUL-terminated, truncated); "" if absent. */
static void xml_text(const char *p, const char *end, const char *tag, char *out, size_t outlen)
{
    size_t len = 0, i, o = 0;
    const char *t = xml_find(p, end, tag, &len, NULL);

    for (i = 0; t && i < len && o + 1 < outlen; i++)
        out[o++] = (t[i] >= 0x20 && t[i] < 0x7f) ? t[i] : '?';
    out[o] = '\0';
}

/* Route 53's throttling answers, retried like a 429. */
static bool throttled(const struct http_response *resp)
{
    const char *bd = resp->body.data ? resp->body.data : "";
    char code[64];

    xml_text(bd, bd + resp->body.len, "Code", code, sizeof(code));
    return strcmp(code, "Throttling") == 0 || strcmp(code, "PriorRequestNotComplete") == 0;
}

/* One signed API call (429 and throttling errors retried, dns_api_send). On
 * success (2xx) *resp holds the answer (caller frees). On failure e is set
 * and, for a Route 53 error document, code gets its <Code> (else ""). */
static int r53_call(struct r53 *s, const char *method, const char *url, const char *body,
                    struct http_response *resp, char *code, size_t codelen, struct ac_error *e)
{
    struct http_header h = {"X-Amz-Security-Token", s->session};
    struct dns_api_req rq = {.method = method, .path = url, .json_body = body,
                             .content_type = "application/xml", .headers = &h,
                             .header_count = s->session ? 1 : 0, .userpwd = s->userpwd,
                             .aws_sigv4 = s->sigv4, .retry_if = throttled};
    const char *bd;

    code[0] = '\0';
    if (dns_api_send(&s->api, &rq, resp, e) != 0)
        return -1;
    if (resp->status >= 200 && resp->status <= 299)
        return 0;
    bd = resp->body.data ? resp->body.data : "";
    xml_text(bd, bd + resp->body.len, "Code", code, codelen);
    if (resp->status == 401 || resp->status == 403 || resp->status == 429) {
        dns_http_status_error(resp, P, s->api.auth_options, e);
    } else if (resp->status == 400 && throttled(resp)) {
        ac_error_set(e, AC_ERR_DNS_RATE_LIMITED, P ": rate limited (%s)", code);
        e->http_status = resp->status;
    } else {
        char msg[200];
        xml_text(bd, bd + resp->body.len, "Message", msg, sizeof(msg));
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": HTTP %ld %s: %s", resp->status,
                     code[0] ? code : "error", msg);
        e->http_status = resp->status;
    }
    http_response_free(resp);
    return -1;
}

struct probe_arg {
    struct r53 *s;
    char *zone_id;
};

/* Is cand a public hosted zone of the account? */
static int probe(void *arg, const char *cand, struct ac_error *e)
{
    struct probe_arg *pa = arg;
    struct http_response resp;
    const char *p, *end, *z;
    char url[R53_MAX_URL], code[64], *esc = http_escape(cand);
    size_t zl;
    int rc = 0;

    if (!esc) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    rc = dns_api_pathf(&pa->s->api, e, url, sizeof(url),
                       R53_API "/hostedzonesbyname?dnsname=%s&maxitems=10", esc);
    free(esc);
    if (rc != 0 || r53_call(pa->s, "GET", url, NULL, &resp, code, sizeof(code), e) != 0)
        return -1;
    p = resp.body.data ? resp.body.data : "";
    end = p + resp.body.len;
    while (rc == 0 && (z = xml_find(p, end, "HostedZone", &zl, &p)) != NULL) {
        char name[300], id[128], priv[16];
        const char *ip;
        size_t nl;
        xml_text(z, z + zl, "Name", name, sizeof(name));
        xml_text(z, z + zl, "Id", id, sizeof(id));
        xml_text(z, z + zl, "PrivateZone", priv, sizeof(priv));
        nl = strlen(name);
        if (nl > 0 && name[nl - 1] == '.')
            name[--nl] = '\0';
        ip = strncmp(id, "/hostedzone/", 12) == 0 ? id + 12 : id;
        if (strcasecmp(name, cand) != 0 || strcmp(priv, "true") == 0 || !*ip ||
            strspn(ip, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(ip))
            continue;
        pa->zone_id = strdup(ip);
        rc = pa->zone_id ? 1 : -1;
        if (rc < 0)
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    }
    http_response_free(&resp);
    return rc;
}

/* The configured hosted zone, or the most specific public one holding fqdn. */
static int find_zone(struct r53 *s, const char *fqdn, char **zone_id, struct ac_error *e)
{
    struct probe_arg pa = {s, NULL};
    const char *zone;

    *zone_id = NULL;
    if (s->zone_id) {
        if ((*zone_id = strdup(s->zone_id)))
            return 0;
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_find_zone(&s->api, fqdn, probe, &pa, &zone, e) != 0) {
        free(pa.zone_id);
        return -1;
    }
    *zone_id = pa.zone_id;
    return 0;
}

static void rrset_free(struct rrset *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->vals[i]);
    memset(r, 0, sizeof(*r));
}

/* Reads the TXT set at fqdn (ListResourceRecordSets starts at the name; the
 * first set returned may be another one). */
static int read_set(struct r53 *s, const char *zid, const char *fqdn, struct rrset *out,
                    struct ac_error *e)
{
    struct http_response resp;
    char url[R53_MAX_URL], code[64], name[300], type[16], ttl[32], *esc = NULL;
    const char *p, *end, *rs, *v;
    size_t rl, vl, nl;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    esc = http_escape(fqdn);
    if (!esc) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    /* Query parameters in sorted order (SigV4 canonical query string). */
    if (dns_api_pathf(&s->api, e, url, sizeof(url),
                      R53_API "/hostedzone/%s/rrset?maxitems=1&name=%s.&type=TXT", zid, esc) != 0)
        goto out;
    free(esc);
    if (r53_call(s, "GET", url, NULL, &resp, code, sizeof(code), e) != 0)
        return -1;
    p = resp.body.data ? resp.body.data : "";
    end = p + resp.body.len;
    rs = xml_find(p, end, "ResourceRecordSet", &rl, NULL);
    if (!rs) {
        rc = 0;
        goto out;
    }
    xml_text(rs, rs + rl, "Name", name, sizeof(name));
    xml_text(rs, rs + rl, "Type", type, sizeof(type));
    xml_text(rs, rs + rl, "TTL", ttl, sizeof(ttl));
    nl = strlen(name);
    if (nl > 0 && name[nl - 1] == '.')
        name[--nl] = '\0';
    if (strcasecmp(name, fqdn) != 0 || strcmp(type, "TXT") != 0) {
        rc = 0;
        goto out;
    }
    if (xml_find(rs, rs + rl, "SetIdentifier", &vl, NULL) ||
        xml_find(rs, rs + rl, "AliasTarget", &vl, NULL)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER,
                     P ": %.200s is a routing-policy or alias record set; not touched", fqdn);
        goto out;
    }
    out->exists = true;
    out->ttl = strtoll(ttl, NULL, 10);
    if (out->ttl <= 0)
        out->ttl = s->api.ttl;
    for (p = rs; (v = xml_find(p, rs + rl, "Value", &vl, &p)) != NULL;) {
        if (out->n >= R53_MAX_VALUES || vl > R53_MAX_VALUE || memchr(v, '<', vl)) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": TXT set at %.200s is too large", fqdn);
            goto out;
        }
        out->vals[out->n] = strndup(v, vl);
        if (!out->vals[out->n]) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        out->n++;
    }
    rc = 0;
out:
    if (rc != 0)
        rrset_free(out);
    http_response_free(&resp);
    return rc;
}

/* True when a raw (XML-escaped) value is the quoted string "<value>". */
static bool value_is(const char *raw, const char *value)
{
    size_t vl = strlen(value), rl = strlen(raw);
    const char *q = "&quot;";

    if (rl == vl + 2 && raw[0] == '"' && raw[rl - 1] == '"')
        return strncmp(raw + 1, value, vl) == 0;
    if (rl == vl + 12 && strncmp(raw, q, 6) == 0 && strncmp(raw + rl - 6, q, 6) == 0)
        return strncmp(raw + 6, value, vl) == 0;
    return false;
}

/* Appends one <Change> with the set's values except those marked in skip
 * (NULL: none) plus the `nextra` values in extra (quoted here). */
static int add_change(struct ac_buf *b, const char *action, const char *fqdn, int64_t ttl,
                      const struct rrset *r, const bool *skip, const char *const *extra,
                      size_t nextra)
{
    int rc = ac_buf_printf(b, "<Change><Action>%s</Action><ResourceRecordSet><Name>%s.</Name>"
                              "<Type>TXT</Type><TTL>%lld</TTL><ResourceRecords>",
                           action, fqdn, (long long)ttl);

    for (size_t i = 0; rc == 0 && r && i < r->n; i++)
        if (skip == NULL || !skip[i])
            rc = ac_buf_printf(b, "<ResourceRecord><Value>%s</Value></ResourceRecord>", r->vals[i]);
    for (size_t i = 0; rc == 0 && i < nextra; i++)
        rc = ac_buf_printf(b, "<ResourceRecord><Value>\"%s\"</Value></ResourceRecord>", extra[i]);
    if (rc == 0)
        rc = ac_buf_appends(b, "</ResourceRecords></ResourceRecordSet></Change>");
    return rc;
}

/* Waits until the change is INSYNC. */
static int wait_insync(struct r53 *s, const char *body, size_t len, struct ac_error *e)
{
    char id[128], status[32], url[R53_MAX_URL], code[64];
    const char *cid;
    int64_t deadline = ac_mono_ms() + s->api.propagation_timeout_ms;

    xml_text(body, body + len, "Id", id, sizeof(id));
    xml_text(body, body + len, "Status", status, sizeof(status));
    cid = strncmp(id, "/change/", 8) == 0 ? id + 8 : id;
    if (!*cid || strspn(cid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(cid)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": change answer without a change id");
        return -1;
    }
    if (dns_api_pathf(&s->api, e, url, sizeof(url), R53_API "/change/%s", cid) != 0)
        return -1;
    while (strcmp(status, "INSYNC") != 0) {
        struct http_response resp;
        if (ac_mono_ms() + s->api.polling_interval_ms > deadline) {
            ac_error_set(e, AC_ERR_DNS_PROPAGATION,
                         P ": change %s not INSYNC within propagation_timeout (status %s)", cid,
                         status);
            return -1;
        }
        if (ac_sleep_ms(s->api.polling_interval_ms, ac_cancel_current()) != 0) {
            ac_error_set(e, AC_ERR_CANCELLED, P ": cancelled while waiting for change %s", cid);
            return -1;
        }
        if (r53_call(s, "GET", url, NULL, &resp, code, sizeof(code), e) != 0)
            return -1;
        xml_text(resp.body.data ? resp.body.data : "",
                 (resp.body.data ? resp.body.data : "") + resp.body.len, "Status", status,
                 sizeof(status));
        http_response_free(&resp);
    }
    return 0;
}

static bool plain_text(const char *v, size_t max)
{
    return strspn(v, R53_NAME_CHARS) == strlen(v) && strlen(v) <= max;
}

/* Which of the nv values to write: for add, those not in cur (missing[]);
 * for removal, the members of cur that are one of them (gone[]). Returns how
 * many changes are due. */
static size_t plan(const struct rrset *cur, const char *const *values, size_t nv, bool add,
                   const char **missing, size_t *nmissing, bool *gone)
{
    size_t due = 0;

    *nmissing = 0;
    for (size_t i = 0; i < cur->n; i++) {
        gone[i] = false;
        for (size_t k = 0; !add && k < nv && !gone[i]; k++)
            gone[i] = value_is(cur->vals[i], values[k]);
        due += gone[i];
    }
    for (size_t k = 0; add && k < nv; k++) {
        bool have = false;
        for (size_t i = 0; i < cur->n && !have; i++)
            have = value_is(cur->vals[i], values[k]);
        if (!have)
            missing[(*nmissing)++] = values[k];
    }
    return due + *nmissing;
}

/* Read-modify-write of the TXT set at fqdn: adding (add=true) or removing
 * the nv values, all in one change batch. */
static int modify(struct r53 *s, const char *fqdn, const char *const *values, size_t nv,
                  bool add, struct ac_error *e)
{
    char *zid = NULL, url[R53_MAX_URL], code[64];
    const char **missing = calloc(nv > 0 ? nv : 1, sizeof *missing);
    bool gone[R53_MAX_VALUES];
    struct rrset cur;
    struct ac_buf b;
    int rc = -1;

    memset(&cur, 0, sizeof(cur));
    ac_buf_init(&b, 4 * 1024 * 1024);
    if (!missing) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < nv; k++) {
        if (!plain_text(fqdn, 253) || !plain_text(values[k], 255)) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": unexpected characters in name or value");
            goto out;
        }
    }
    if (find_zone(s, fqdn, &zid, e) != 0)
        goto out;
    if (dns_api_pathf(&s->api, e, url, sizeof(url), R53_API "/hostedzone/%s/rrset/", zid) != 0)
        goto out;
    for (int attempt = 0;; attempt++) {
        struct http_response resp;
        size_t nmissing = 0, keep;
        int r = 0;

        rrset_free(&cur);
        if (read_set(s, zid, fqdn, &cur, e) != 0)
            goto out;
        if (plan(&cur, values, nv, add, missing, &nmissing, gone) == 0) {
            rc = 0; /* already there / already gone */
            goto out;
        }
        if (add && cur.n + nmissing > R53_MAX_VALUES) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": TXT set at %.200s is too large", fqdn);
            goto out;
        }
        keep = cur.n;
        for (size_t i = 0; !add && i < cur.n; i++)
            keep -= gone[i];
        ac_buf_reset(&b);
        r |= ac_buf_appends(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                "<ChangeResourceRecordSetsRequest xmlns=\"https://route53."
                                "amazonaws.com/doc/2013-04-01/\"><ChangeBatch><Comment>autocert "
                                "DNS-01</Comment><Changes>");
        if (cur.exists)
            r |= add_change(&b, "DELETE", fqdn, cur.ttl, &cur, NULL, NULL, 0);
        if (add)
            r |= add_change(&b, "CREATE", fqdn, cur.exists ? cur.ttl : s->api.ttl, &cur, NULL,
                            missing, nmissing);
        else if (keep > 0)
            r |= add_change(&b, "CREATE", fqdn, cur.ttl, &cur, gone, NULL, 0);
        r |= ac_buf_appends(&b, "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
        if (r != 0) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (r53_call(s, "POST", url, b.data, &resp, code, sizeof(code), e) == 0) {
            rc = wait_insync(s, resp.body.data ? resp.body.data : "", resp.body.len, e);
            http_response_free(&resp);
            goto out;
        }
        /* The set changed between read and write: read again. */
        if (strcmp(code, "InvalidChangeBatch") != 0 || attempt + 1 >= R53_CONFLICT_RETRIES)
            goto out;
        ac_info(NULL, "route53: TXT set at %s changed concurrently, retrying", fqdn);
        ac_error_clear(e);
    }
out:
    rrset_free(&cur);
    ac_buf_free(&b);
    free(missing);
    free(zid);
    return rc;
}

/* modify() at the name a CNAME on fqdn points to, if any. */
static int modify_target(struct r53 *s, const char *fqdn, const char *const *values, size_t nv,
                         bool add, struct ac_error *e)
{
    char *real = NULL;
    int rc = -1;

    if (dns_api_target(&s->api, fqdn, &real, e) == 0)
        rc = modify(s, real, values, nv, add, e);
    free(real);
    return rc;
}

static int add_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                    struct ac_error *e)
{
    return modify_target(state, fqdn, values, nv, true, e);
}

static int remove_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                       struct ac_error *e)
{
    return modify_target(state, fqdn, values, nv, false, e);
}

const struct dns_provider_ops dns_route53_ops = {
    .name = "route53",
    .alias = NULL,
    .options = opts_decl,
    .validate = r_validate,
    .create = r_create,
    .destroy = r_destroy,
    .add_values = add_name,
    .remove_values = remove_name,
};
