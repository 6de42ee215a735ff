/*
 * cloudflare.c - the Cloudflare DNS provider (API v4).
 *
 * Auth: auth_token (API token, "Authorization: Bearer"), or auth_email +
 * auth_key (global API key, X-Auth-Email / X-Auth-Key). zone_token, when set,
 * is used for the zone look-up only (lego's CF_ZONE_API_TOKEN). base_url
 * overrides https://api.cloudflare.com/client/v4 (tests).
 *
 * Zone: GET /zones?name=<candidate>, walking up from the record's parent
 * name, so the zone is the most specific one the account holds. present()
 * POSTs one TXT record (Cloudflare adds, never replaces; an identical record,
 * error 81058, counts as success); cleanup() lists the TXT records with that
 * name and content and DELETEs exactly those. HTTP 429 is retried after
 * Retry-After (at most 3 retries, each wait at most 60 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "dns.h"
#include "dns_common.h"
#include "http.h"
#include "jsonu.h"
#include "log.h"
#include "timeutil.h"

#define P "DNS provider cloudflare"
#define CF_DEFAULT_BASE "https://api.cloudflare.com/client/v4"
#define CF_MAX_RETRIES 3
#define CF_MAX_WAIT_S 60
#define CF_MAX_URL 2048

static const struct dns_option_decl opts_decl[] = {
    {"auth_token", false}, {"auth_email", false}, {"auth_key", false},
    {"zone_token", false}, {"base_url", false},   {NULL, false},
};

struct cf {
    char *token, *email, *key, *zone_token;
    char *base;
    int64_t ttl;
    long timeout_ms;
};

static bool set(const char *v)
{
    return v && *v;
}

static int c_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *tok = dns_opt_get(opts, n, "auth_token");
    const char *email = dns_opt_get(opts, n, "auth_email");
    const char *key = dns_opt_get(opts, n, "auth_key");
    const char *base = dns_opt_get(opts, n, "base_url");

    if (!set(tok) && !(set(email) && set(key))) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option %s: give auth_token, or auth_email and auth_key",
                     set(email) ? "auth_key" : set(key) ? "auth_email" : "auth_token");
        return -1;
    }
    if (base && strncmp(base, "https://", 8) != 0 && strncmp(base, "http://127.", 11) != 0 &&
        strncmp(base, "http://localhost", 16) != 0 && strncmp(base, "http://[::1]", 12) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option base_url: must be an https:// URL");
        return -1;
    }
    return 0;
}

static void secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void state_free(struct cf *s)
{
    if (!s)
        return;
    secret_free(s->token);
    free(s->email);
    secret_free(s->key);
    secret_free(s->zone_token);
    free(s->base);
    free(s);
}

static char *dup_opt(const struct dns_option *opts, size_t n, const char *key, bool *oom)
{
    const char *v = dns_opt_get(opts, n, key);
    char *d;

    if (!set(v))
        return NULL;
    d = strdup(v);
    if (!d)
        *oom = true;
    return d;
}

static int c_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct cf *s = NULL;
    bool oom = false;
    size_t bl;

    *state = NULL;
    if (c_validate(opts, n, e) != 0 || dns_settings_parse("cloudflare", opts, n, &st, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl;
    s->timeout_ms = (long)st.http_timeout_ms;
    s->token = dup_opt(opts, n, "auth_token", &oom);
    s->email = dup_opt(opts, n, "auth_email", &oom);
    s->key = dup_opt(opts, n, "auth_key", &oom);
    s->zone_token = dup_opt(opts, n, "zone_token", &oom);
    s->base = strdup(set(dns_opt_get(opts, n, "base_url")) ? dns_opt_get(opts, n, "base_url")
                                                           : CF_DEFAULT_BASE);
    if (oom || !s->base)
        goto nomem;
    bl = strlen(s->base);
    while (bl > 0 && s->base[bl - 1] == '/')
        s->base[--bl] = '\0';
    *state = s;
    return 0;
nomem:
    state_free(s);
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

static void sleep_s(long s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One API call with 429 retries. On success *out is the parsed body (put it).
 * `cf_code` gets the first Cloudflare error code of a failed answer (0). */
static int cf_call(struct cf *s, const char *method, const char *url, const char *body,
                   bool zone_auth, json_object **out, int *cf_code, struct ac_error *e)
{
    struct http_client_opts co = {.timeout_ms = s->timeout_ms};
    struct http_client *c = NULL;
    struct http_response resp;
    struct http_header h[3];
    struct ac_buf auth;
    const char *token = zone_auth && s->zone_token ? s->zone_token : s->token;
    size_t hn = 0;
    int rc = -1, attempt;

    memset(&resp, 0, sizeof(resp));
    ac_buf_init(&auth, 4096);
    *out = NULL;
    if (cf_code)
        *cf_code = 0;
    if (token) {
        if (ac_buf_printf(&auth, "Bearer %s", token) != 0)
            goto nomem;
        h[hn++] = (struct http_header){"Authorization", auth.data};
    } else {
        h[hn++] = (struct http_header){"X-Auth-Email", s->email};
        h[hn++] = (struct http_header){"X-Auth-Key", s->key};
    }
    if (body)
        h[hn++] = (struct http_header){"Content-Type", "application/json"};
    if (http_client_new(&co, &c, e) != 0)
        goto out;
    for (attempt = 0;; attempt++) {
        struct http_request rq = {.method = method, .url = url, .headers = h, .header_count = hn,
                                  .body = body, .body_len = body ? strlen(body) : 0};
        const char *ra;
        long wait;

        http_response_free(&resp);
        memset(&resp, 0, sizeof(resp));
        if (http_do(c, &rq, &resp, e) != 0) {
            ac_error_prefix(e, P);
            goto out;
        }
        if (resp.status != 429)
            break;
        ra = http_header(&resp, "retry-after");
        wait = ra ? ac_time_parse_retry_after(ra, ac_now()) : -1;
        if (wait < 0)
            wait = 1L << attempt;
        if (attempt >= CF_MAX_RETRIES || wait > CF_MAX_WAIT_S) {
            dns_http_status_error(&resp, P, NULL, e);
            goto out;
        }
        ac_info(NULL, "cloudflare: rate limited (HTTP 429), retrying in %ld s", wait);
        sleep_s(wait);
    }
    *out = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len, "Cloudflare answer",
                       AC_ERR_DNS_PROVIDER, e);
    if (resp.status < 200 || resp.status > 299 || !*out ||
        !jsonu_bool(*out, "success", 0)) {
        json_object *errs = *out ? jsonu_arr(*out, "errors") : NULL;
        json_object *first = errs && json_object_array_length(errs) > 0
                                 ? json_object_array_get_idx(errs, 0) : NULL;
        int64_t code = 0;
        if (first && jsonu_int(first, "code", &code) == 0 && cf_code)
            *cf_code = (int)code;
        if (resp.status >= 200 && resp.status <= 299 && *out)
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": the API reported failure (code %lld)",
                         (long long)code);
        else
            dns_http_status_error(&resp, P, token ? (zone_auth && s->zone_token ? "zone_token"
                                                                                : "auth_token")
                                                  : "auth_email and auth_key", e);
        if (*out) {
            json_object_put(*out);
            *out = NULL;
        }
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    http_response_free(&resp);
    http_client_free(c);
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    ac_buf_free(&auth);
    return rc;
}

/* Finds the zone id for fqdn: the most specific zone name the account has. */
static int find_zone(struct cf *s, const char *fqdn, char **zone_id, struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[CF_MAX_URL];

    *zone_id = NULL;
    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        json_object *o = NULL, *res, *z;
        char *esc = http_escape(cand + 1);
        const char *id;
        if (!esc)
            goto nomem;
        snprintf(url, sizeof(url), "%s/zones?name=%s", s->base, esc);
        free(esc);
        if (cf_call(s, "GET", url, NULL, true, &o, NULL, e) != 0)
            return -1;
        res = jsonu_arr(o, "result");
        z = res && json_object_array_length(res) > 0 ? json_object_array_get_idx(res, 0) : NULL;
        id = z ? jsonu_str(z, "id") : NULL;
        if (id && strlen(id) < 128 && strspn(id, "0123456789abcdefABCDEF-") == strlen(id)) {
            *zone_id = strdup(id);
            json_object_put(o);
            if (!*zone_id)
                goto nomem;
            return 0;
        }
        json_object_put(o);
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no zone in this account holds %.200s", fqdn);
    return -1;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

static int c_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct cf *s = state;
    char *zid = NULL, url[CF_MAX_URL];
    json_object *body = NULL, *ans = NULL;
    int rc = -1, code = 0;

    if (find_zone(s, ch->fqdn, &zid, e) != 0)
        goto out;
    body = json_object_new_object();
    if (!body || jsonu_add_str(body, "type", "TXT") || jsonu_add_str(body, "name", ch->fqdn) ||
        jsonu_add_str(body, "content", ch->value) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/zones/%s/dns_records", s->base, zid);
    if (cf_call(s, "POST", url, jsonu_string(body), false, &ans, &code, e) != 0) {
        if (code == 81058) { /* "An identical record already exists." */
            ac_error_clear(e);
            rc = 0;
        }
        goto out;
    }
    rc = 0;
out:
    json_object_put(ans);
    json_object_put(body);
    free(zid);
    return rc;
}

/* TXT content as Cloudflare returns it may be quoted; compares unquoted. */
static bool content_is(const char *c, const char *value)
{
    size_t cl = c ? strlen(c) : 0, vl = strlen(value);

    if (cl == vl + 2 && c[0] == '"' && c[cl - 1] == '"')
        return strncmp(c + 1, value, vl) == 0;
    return c && strcmp(c, value) == 0;
}

static int c_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct cf *s = state;
    char *zid = NULL, *en = NULL, *ev = NULL, url[CF_MAX_URL];
    json_object *list = NULL, *res;
    int rc = -1;

    if (find_zone(s, ch->fqdn, &zid, e) != 0)
        goto out;
    en = http_escape(ch->fqdn);
    ev = http_escape(ch->value);
    if (!en || !ev) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/zones/%s/dns_records?type=TXT&name=%s&content=%s&per_page=100",
             s->base, zid, en, ev);
    if (cf_call(s, "GET", url, NULL, false, &list, NULL, e) != 0)
        goto out;
    res = jsonu_arr(list, "result");
    for (size_t i = 0; res && i < json_object_array_length(res); i++) {
        json_object *r = json_object_array_get_idx(res, i), *ans = NULL;
        const char *id = jsonu_str(r, "id"), *name = jsonu_str(r, "name");
        if (!id || strlen(id) >= 128 || strspn(id, "0123456789abcdefABCDEF-") != strlen(id) ||
            !name || strcasecmp(name, ch->fqdn) != 0 || !content_is(jsonu_str(r, "content"), ch->value))
            continue; /* never delete what is not ours */
        snprintf(url, sizeof(url), "%s/zones/%s/dns_records/%s", s->base, zid, id);
        if (cf_call(s, "DELETE", url, NULL, false, &ans, NULL, e) != 0)
            goto out;
        json_object_put(ans);
    }
    rc = 0;
out:
    json_object_put(list);
    free(en);
    free(ev);
    free(zid);
    return rc;
}

static void c_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_cloudflare_ops = {
    .name = "cloudflare",
    .alias = NULL,
    .options = opts_decl,
    .validate = c_validate,
    .create = c_create,
    .present = c_present,
    .cleanup = c_cleanup,
    .destroy = c_destroy,
};
