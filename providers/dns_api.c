/*
 * dns_api.c - the toolkit of the HTTP-API DNS providers (dns_api.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "dns_api.h"
#include "dns_common.h"
#include "dns_zone.h"
#include "hostport.h"
#include "jsonu.h"
#include "log.h"
#include "timeutil.h"

/* Per-try timeout of the CNAME look-up (dns_find_zone retries once). */
#define DNS_API_LOOKUP_MS 3000
#define DNS_API_MAX_RESOLVER_LEN 300

static bool set(const char *v)
{
    return v != NULL && *v != '\0';
}

bool dns_api_base_ok(const char *url)
{
    return url != NULL &&
           (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://127.", 11) == 0 ||
            strncmp(url, "http://localhost", 16) == 0 || strncmp(url, "http://[::1]", 12) == 0);
}

int dns_api_check_base(const char *name, const char *label, const char *url, struct ac_error *e)
{
    if (!set(url) || dns_api_base_ok(url))
        return 0;
    ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: %s: must be an https:// URL", name, label);
    return -1;
}

int dns_api_check_secret(const char *name, const struct dns_option *opts, size_t n,
                         const char *key, const char *hint, struct ac_error *e)
{
    const char *v = dns_opt_get(opts, n, key);

    if (set(v) && strlen(v) <= DNS_API_MAX_SECRET && strpbrk(v, "\r\n") == NULL)
        return 0;
    ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: option %s: %s", name, key,
                 hint ? hint : "required");
    return -1;
}

/* Splits dns_resolvers at commas and spaces into a->resolvers (a NULL: only
 * checks). */
static int parse_resolvers(const char *name, const char *v, struct dns_api *a,
                           struct ac_error *e)
{
    size_t count = 0;

    while (v != NULL && *v != '\0') {
        size_t len = strcspn(v, ", \t");
        char host[DNS_API_MAX_RESOLVER_LEN];
        char *one;

        if (len == 0) {
            v++;
            continue;
        }
        one = strndup(v, len);
        if (one == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            return -1;
        }
        if (count >= DNS_API_MAX_RESOLVERS || len >= DNS_API_MAX_RESOLVER_LEN ||
            ac_hostport_parse(one, 53, host, sizeof host, NULL) != 0) {
            free(one);
            ac_error_set(e, AC_ERR_CONFIG,
                         "DNS provider %s: option dns_resolvers: expected at most %d "
                         "host[:port] separated by commas",
                         name, DNS_API_MAX_RESOLVERS);
            return -1;
        }
        if (a != NULL)
            a->resolvers[a->resolver_count++] = one;
        else
            free(one);
        count++;
        v += len;
    }
    return 0;
}

int dns_api_validate(const char *name, const struct dns_option *opts, size_t n,
                     struct ac_error *e)
{
    bool b = true;

    if (dns_opt_bool(name, opts, n, "follow_cname", true, &b, e) != 0)
        return -1;
    return parse_resolvers(name, dns_opt_get(opts, n, "dns_resolvers"), NULL, e);
}

int dns_api_init(struct dns_api *a, const char *name, const struct dns_option *opts, size_t n,
                 const char *base, const char *base_label, const char *default_base,
                 struct ac_error *e)
{
    struct dns_settings st;
    size_t bl;

    memset(a, 0, sizeof *a);
    a->name = name;
    a->follow_cname = true;
    a->max_retries = DNS_API_MAX_RETRIES;
    snprintf(a->what, sizeof a->what, "DNS provider %s", name);
    if (dns_api_check_base(name, base_label, base, e) != 0 ||
        dns_settings_parse(name, opts, n, &st, e) != 0 ||
        dns_opt_bool(name, opts, n, "follow_cname", true, &a->follow_cname, e) != 0 ||
        parse_resolvers(name, dns_opt_get(opts, n, "dns_resolvers"), a, e) != 0)
        goto fail;
    a->ttl = st.ttl;
    a->timeout_ms = st.http_timeout_ms;
    a->propagation_timeout_ms = st.propagation_timeout_ms;
    a->polling_interval_ms = st.polling_interval_ms;
    a->base = strdup(set(base) ? base : default_base);
    if (a->base == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    bl = strlen(a->base);
    while (bl > 0 && a->base[bl - 1] == '/')
        a->base[--bl] = '\0';
    return 0;
fail:
    dns_api_free(a);
    return -1;
}

void dns_api_free(struct dns_api *a)
{
    if (a == NULL)
        return;
    free(a->base);
    dns_api_secret_free(a->auth);
    for (size_t i = 0; i < a->resolver_count; i++)
        free(a->resolvers[i]);
    memset(a, 0, sizeof *a);
}

int dns_api_set_auth(struct dns_api *a, const char *scheme, const char *secret,
                     const char *auth_options, struct ac_error *e)
{
    size_t sl = strlen(scheme), kl = strlen(secret);

    dns_api_secret_free(a->auth);
    a->auth_options = auth_options;
    a->auth = malloc(sl + kl + 2);
    if (a->auth == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    memcpy(a->auth, scheme, sl);
    if (sl > 0)
        a->auth[sl++] = ' ';
    memcpy(a->auth + sl, secret, kl + 1);
    return 0;
}

int dns_api_create(const char *name, const struct dns_option *opts, size_t n, const char *base,
                   const char *base_label, const char *default_base, const char *scheme,
                   const char *secret_key, struct dns_api **out, struct ac_error *e)
{
    struct dns_api *a = calloc(1, sizeof *a);
    const char *secret = secret_key ? dns_opt_get(opts, n, secret_key) : NULL;

    *out = NULL;
    if (a == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_init(a, name, opts, n, base, base_label, default_base, e) != 0 ||
        (secret_key != NULL && dns_api_set_auth(a, scheme, secret ? secret : "", secret_key, e) != 0)) {
        dns_api_destroy(a);
        return -1;
    }
    *out = a;
    return 0;
}

void dns_api_init_bare(struct dns_api *a, const char *what, int64_t timeout_ms)
{
    memset(a, 0, sizeof *a);
    a->name = what;
    a->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    a->max_retries = DNS_API_MAX_RETRIES;
    snprintf(a->what, sizeof a->what, "%s", what);
}

void dns_api_destroy(void *api)
{
    dns_api_free(api);
    free(api);
}

int dns_api_opt_dup(const struct dns_option *opts, size_t n, const char *key, char **out,
                    struct ac_error *e)
{
    const char *v = dns_opt_get(opts, n, key);

    *out = NULL;
    if (!set(v))
        return 0;
    *out = strdup(v);
    if (*out != NULL)
        return 0;
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

char *dns_api_secret_join(const char *prefix, const char *secret)
{
    size_t pl = strlen(prefix), sl = strlen(secret);
    char *s = malloc(pl + sl + 1);

    if (s == NULL)
        return NULL;
    memcpy(s, prefix, pl);
    memcpy(s + pl, secret, sl + 1);
    return s;
}

void dns_api_secret_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* Fills url with base + path (or path alone when it is a full URL). */
static int build_url(const struct dns_api *a, const char *path, struct ac_buf *url,
                     struct ac_error *e)
{
    int rc;

    if (strncmp(path, "https://", 8) == 0 || strncmp(path, "http://", 7) == 0)
        rc = dns_api_base_ok(path) ? ac_buf_printf(url, "%s", path) : -1;
    else if (a->base == NULL)
        rc = -1; /* dns_api_init_bare: full URLs only */
    else
        rc = ac_buf_printf(url, "%s%s", a->base, path);
    if (rc != 0)
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: request URL too long or not https", a->what);
    return rc;
}

int dns_api_send(const struct dns_api *a, const struct dns_api_req *rq,
                 struct http_response *resp, struct ac_error *e)
{
    struct http_client_opts co = {.timeout_ms = (long)a->timeout_ms};
    struct http_client *c = NULL;
    struct http_header h[DNS_API_MAX_HEADERS + 2];
    struct ac_buf url;
    const char *body = rq->json_body;
    size_t n = 0;
    int rc = -1;

    memset(resp, 0, sizeof *resp);
    ac_buf_init(&url, DNS_API_MAX_URL);
    if (rq->header_count > DNS_API_MAX_HEADERS) {
        ac_error_set(e, AC_ERR_INTERNAL, "%s: too many request headers", a->what);
        goto out;
    }
    if (a->auth != NULL)
        h[n++] = (struct http_header){"Authorization", a->auth};
    for (size_t i = 0; i < rq->header_count; i++)
        h[n++] = rq->headers[i];
    if (body != NULL)
        h[n++] = (struct http_header){"Content-Type",
                                      rq->content_type ? rq->content_type : "application/json"};
    if (build_url(a, rq->path, &url, e) != 0 || http_client_new(&co, &c, e) != 0)
        goto out;
    for (int attempt = 0;; attempt++) {
        struct http_request hr = {.method = rq->method, .url = url.data, .headers = h,
                                  .header_count = n, .body = body,
                                  .body_len = body ? strlen(body) : 0, .userpwd = rq->userpwd,
                                  .aws_sigv4 = rq->aws_sigv4};
        const char *ra;
        long wait = -1;

        http_response_free(resp);
        memset(resp, 0, sizeof *resp);
        if (http_do(c, &hr, resp, e) != 0) {
            ac_error_prefix(e, "%s", a->what);
            goto out;
        }
        if (resp->status != 429 && !(rq->retry_if != NULL && rq->retry_if(resp)))
            break;
        ra = http_header(resp, "retry-after");
        if (ra != NULL)
            wait = ac_time_parse_retry_after(ra, ac_now());
        if (wait < 0)
            wait = 1L << (attempt < 6 ? attempt : 6);
        if (attempt >= a->max_retries || wait > DNS_API_MAX_WAIT_S)
            break;
        ac_info(NULL, "%s: rate limited (HTTP %ld), retrying in %ld s", a->what, resp->status,
                wait);
        if (ac_sleep_ms((int64_t)wait * 1000, ac_cancel_current()) != 0) {
            http_response_free(resp);
            memset(resp, 0, sizeof *resp);
            ac_error_set(e, AC_ERR_CANCELLED, "%s: cancelled while waiting to retry", a->what);
            goto out;
        }
    }
    rc = 0;
out:
    http_client_free(c);
    if (url.data != NULL) /* may carry a token in its query (duckdns) */
        explicit_bzero(url.data, url.len);
    ac_buf_free(&url);
    return rc;
}

int dns_api_call(const struct dns_api *a, const struct dns_api_req *rq, json_object **out,
                 struct ac_error *e)
{
    struct http_response resp;
    bool ok;
    int rc = -1;

    if (out != NULL)
        *out = NULL;
    if (dns_api_send(a, rq, &resp, e) != 0)
        return -1;
    if (resp.status == 404 && rq->not_found_ok) {
        rc = 1;
        goto out;
    }
    ok = rq->ok_status ? resp.status == rq->ok_status : resp.status >= 200 && resp.status <= 299;
    if (!ok) {
        dns_http_status_error(&resp, a->what,
                              rq->auth_options ? rq->auth_options : a->auth_options, e);
        goto out;
    }
    if (out != NULL && resp.body.len > 0) {
        char what[80];
        snprintf(what, sizeof what, "%s answer", a->name);
        *out = jsonu_parse(resp.body.data, resp.body.len, what, AC_ERR_DNS_PROVIDER, e);
        if (*out == NULL) {
            ac_error_prefix(e, "%s", a->what);
            goto out;
        }
    }
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

int dns_api_pathf(const struct dns_api *a, struct ac_error *e, char *out, size_t outlen,
                  const char *fmt, ...)
{
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    if (len >= 0 && (size_t)len < outlen)
        return 0;
    ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: request path too long", a->what);
    return -1;
}

int dns_api_target(const struct dns_api *a, const char *fqdn, char **target, struct ac_error *e)
{
    struct ac_error le;
    char *zone = NULL;
    int rc;

    *target = NULL;
    if (a->follow_cname) {
        ac_error_clear(&le);
        rc = dns_find_zone(fqdn, (const char *const *)a->resolvers, a->resolver_count,
                           DNS_API_LOOKUP_MS, &zone, target, &le);
        free(zone);
        if (rc == 0 && *target != NULL) {
            if (strcasecmp(*target, fqdn) != 0)
                ac_info(NULL, "%s: %s is a CNAME, the TXT record goes at %s", a->what, fqdn,
                        *target);
            return 0;
        }
        free(*target);
        *target = NULL;
        ac_warn(NULL, "%s: CNAME look-up of %s failed, using the name as it is: %s", a->what,
                fqdn, le.message);
    }
    *target = strdup(fqdn);
    if (*target != NULL)
        return 0;
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

int dns_api_find_zone(const struct dns_api *a, const char *fqdn, dns_api_zone_probe probe,
                      void *arg, const char **zone, struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');

    *zone = NULL;
    for (; cand != NULL && strchr(cand + 1, '.') != NULL; cand = strchr(cand + 1, '.')) {
        int r = probe(arg, cand + 1, e);
        if (r < 0)
            return -1;
        if (r > 0) {
            *zone = cand + 1;
            return 0;
        }
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: no zone in this account holds %.200s", a->what,
                 fqdn);
    return -1;
}

int dns_api_probe_path(void *arg, const char *candidate, struct ac_error *e)
{
    const struct dns_api_path_probe *p = arg;
    char path[DNS_API_MAX_URL], *esc = http_escape(candidate);
    struct dns_api_req rq = {.method = "GET", .path = path, .ok_status = 200,
                             .not_found_ok = true};
    int rc;

    if (esc == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    rc = dns_api_pathf(p->api, e, path, sizeof path, "%s%s", p->prefix, esc);
    free(esc);
    if (rc == 0)
        rc = dns_api_call(p->api, &rq, NULL, e);
    return rc < 0 ? -1 : rc == 0;
}

bool dns_api_in_zone(const char *fqdn, const char *zone)
{
    size_t fl = strlen(fqdn), zl = strlen(zone);

    if (zl == 0 || zl > fl)
        return false;
    if (strcasecmp(fqdn + fl - zl, zone) != 0)
        return false;
    return fl == zl || fqdn[fl - zl - 1] == '.';
}

int dns_api_relative(const struct dns_api *a, const char *fqdn, const char *zone,
                     const char *apex, char **rel, struct ac_error *e)
{
    size_t fl = strlen(fqdn), zl = strlen(zone);

    *rel = NULL;
    if (!dns_api_in_zone(fqdn, zone)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: %.200s is not in zone %.200s", a->what, fqdn,
                     zone);
        return -1;
    }
    *rel = fl == zl ? strdup(apex) : strndup(fqdn, fl - zl - 1);
    if (*rel != NULL)
        return 0;
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

bool dns_api_txt_is(const char *data, const char *value)
{
    size_t dl, vl = strlen(value);

    if (data == NULL)
        return false;
    dl = strlen(data);
    if (dl == vl + 2 && data[0] == '"' && data[dl - 1] == '"')
        return strncmp(data + 1, value, vl) == 0;
    return strcmp(data, value) == 0;
}

void dns_api_loc_free(struct dns_api_loc *loc)
{
    free(loc->fqdn);
    free(loc->zone_esc);
    free(loc->rel);
    memset(loc, 0, sizeof *loc);
}

int dns_api_locate(const struct dns_api *a, const char *fqdn, dns_api_zone_probe probe,
                   void *arg, const char *apex, struct dns_api_loc *loc, struct ac_error *e)
{
    memset(loc, 0, sizeof *loc);
    if (dns_api_target(a, fqdn, &loc->fqdn, e) != 0 ||
        dns_api_find_zone(a, loc->fqdn, probe, arg, &loc->zone, e) != 0 ||
        dns_api_relative(a, loc->fqdn, loc->zone, apex, &loc->rel, e) != 0)
        goto fail;
    loc->zone_esc = http_escape(loc->zone);
    if (loc->zone_esc != NULL)
        return 0;
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
fail:
    dns_api_loc_free(loc);
    return -1;
}
