/*
 * cloudflare.c - the Cloudflare DNS provider (API v4).
 *
 * Auth: auth_token (API token, "Authorization: Bearer"), or auth_email +
 * auth_key (global API key, X-Auth-Email / X-Auth-Key). zone_token, when set,
 * is used for the zone look-up only (lego's CF_ZONE_API_TOKEN). base_url
 * overrides https://api.cloudflare.com/client/v4 (tests).
 *
 * Zone: GET /zones?name=<candidate>, walking up from the record's parent
 * name, so the zone is the most specific one the account holds; the record
 * name is the one a CNAME on _acme-challenge points to, if any. present()
 * POSTs one TXT record (Cloudflare adds, never replaces; an identical record,
 * error 81058, counts as success); cleanup() lists the TXT records with that
 * name and content and DELETEs exactly those. HTTP 429 is retried after
 * Retry-After (dns_api.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "jsonu.h"

#define P "DNS provider cloudflare"
#define CF_DEFAULT_BASE "https://api.cloudflare.com/client/v4"

static const struct dns_option_decl opts_decl[] = {
    {"auth_token", false}, {"auth_email", false}, {"auth_key", false},
    {"zone_token", false}, {"base_url", false},   DNS_API_OPTION_DECLS,
    {NULL, false},
};

struct cf {
    struct dns_api api;
    char *zone_auth;   /* "Bearer <zone_token>" (secret) or NULL */
    char *email, *key; /* global API key auth (key secret) */
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

    if (!set(tok) && !(set(email) && set(key))) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option %s: give auth_token, or auth_email and auth_key",
                     set(email) ? "auth_key" : set(key) ? "auth_email" : "auth_token");
        return -1;
    }
    if (dns_api_check_base("cloudflare", "option base_url", dns_opt_get(opts, n, "base_url"),
                           e) != 0)
        return -1;
    return dns_api_validate("cloudflare", opts, n, e);
}

static void c_destroy(void *state)
{
    struct cf *s = state;

    if (!s)
        return;
    dns_api_secret_free(s->zone_auth);
    free(s->email);
    dns_api_secret_free(s->key);
    dns_api_free(&s->api);
    free(s);
}

static int c_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    const char *tok = dns_opt_get(opts, n, "auth_token"), *zt = dns_opt_get(opts, n, "zone_token");
    struct cf *s = NULL;

    *state = NULL;
    if (c_validate(opts, n, e) != 0)
        return -1;
    if (!(s = calloc(1, sizeof(*s)))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_init(&s->api, "cloudflare", opts, n, dns_opt_get(opts, n, "base_url"),
                     "option base_url", CF_DEFAULT_BASE, e) != 0 ||
        (set(tok) && dns_api_set_auth(&s->api, "Bearer", tok, "auth_token", e) != 0) ||
        (!set(tok) && (dns_api_opt_dup(opts, n, "auth_email", &s->email, e) != 0 ||
                       dns_api_opt_dup(opts, n, "auth_key", &s->key, e) != 0)))
        goto fail;
    if (!set(tok))
        s->api.auth_options = "auth_email and auth_key";
    if (set(zt) && !(s->zone_auth = dns_api_secret_join("Bearer ", zt))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    *state = s;
    return 0;
fail:
    c_destroy(s);
    return -1;
}

/* One API call. On success *out is the parsed body (put it). `cf_code` gets
 * the first Cloudflare error code of a failed answer (0). zone_auth: the
 * zone look-up, sent with zone_token when there is one. */
static int cf_call(struct cf *s, const char *method, const char *path, const char *body,
                   bool zone_auth, json_object **out, int *cf_code, struct ac_error *e)
{
    struct dns_api api = s->api; /* shallow: only the auth differs */
    struct http_header h[2] = {{"X-Auth-Email", s->email}, {"X-Auth-Key", s->key}};
    struct dns_api_req rq = {.method = method, .path = path, .json_body = body,
                             .headers = h, .header_count = s->api.auth ? 0 : 2};
    struct http_response resp;
    json_object *errs, *first;
    int64_t code = 0;
    int rc = -1;

    *out = NULL;
    if (cf_code)
        *cf_code = 0;
    if (zone_auth && s->zone_auth) {
        api.auth = s->zone_auth;
        api.auth_options = "zone_token";
        rq.header_count = 0;
    }
    if (dns_api_send(&api, &rq, &resp, e) != 0)
        return -1;
    *out = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len, "Cloudflare answer",
                       AC_ERR_DNS_PROVIDER, e);
    if (resp.status >= 200 && resp.status <= 299 && *out && jsonu_bool(*out, "success", 0)) {
        rc = 0;
        goto out;
    }
    errs = *out ? jsonu_arr(*out, "errors") : NULL;
    first = errs && json_object_array_length(errs) > 0 ? json_object_array_get_idx(errs, 0) : NULL;
    if (first && jsonu_int(first, "code", &code) == 0 && cf_code)
        *cf_code = (int)code;
    if (resp.status >= 200 && resp.status <= 299 && *out)
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": the API reported failure (code %lld)",
                     (long long)code);
    else
        dns_http_status_error(&resp, P, api.auth_options, e);
    json_object_put(*out);
    *out = NULL;
out:
    http_response_free(&resp);
    return rc;
}

struct probe_arg {
    struct cf *s;
    char *zone_id;
};

static bool id_ok(const char *id)
{
    return id && strlen(id) < 128 && strspn(id, "0123456789abcdefABCDEF-") == strlen(id);
}

static int probe(void *arg, const char *cand, struct ac_error *e)
{
    struct probe_arg *p = arg;
    char path[DNS_API_MAX_URL], *esc = http_escape(cand);
    json_object *o = NULL, *res, *z;
    const char *id;
    int rc = -1;

    if (!esc) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_pathf(&p->s->api, e, path, sizeof path, "/zones?name=%s", esc) != 0 ||
        cf_call(p->s, "GET", path, NULL, true, &o, NULL, e) != 0)
        goto out;
    res = jsonu_arr(o, "result");
    z = res && json_object_array_length(res) > 0 ? json_object_array_get_idx(res, 0) : NULL;
    id = z ? jsonu_str(z, "id") : NULL;
    rc = 0;
    if (id_ok(id)) {
        if (!(p->zone_id = strdup(id))) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            rc = -1;
        } else {
            rc = 1;
        }
    }
out:
    free(esc);
    json_object_put(o);
    return rc;
}

/* The record's real name and the id of its zone (new strings). */
static int find_zone(struct cf *s, const char *fqdn0, char **fqdn, char **zone_id,
                     struct ac_error *e)
{
    struct probe_arg p = {s, NULL};
    struct dns_api_loc loc;

    *fqdn = *zone_id = NULL;
    if (dns_api_locate(&s->api, fqdn0, probe, &p, "@", &loc, e) != 0) {
        free(p.zone_id);
        return -1;
    }
    *fqdn = loc.fqdn;
    loc.fqdn = NULL;
    dns_api_loc_free(&loc);
    *zone_id = p.zone_id;
    return 0;
}

static int c_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct cf *s = state;
    char *zid = NULL, *fqdn = NULL, url[DNS_API_MAX_URL];
    json_object *body = NULL, *ans = NULL;
    int rc = -1, code = 0;

    if (find_zone(s, ch->fqdn, &fqdn, &zid, e) != 0)
        goto out;
    body = json_object_new_object();
    if (!body || jsonu_add_str(body, "type", "TXT") || jsonu_add_str(body, "name", fqdn) ||
        jsonu_add_str(body, "content", ch->value) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->api.ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, url, sizeof(url), "/zones/%s/dns_records", zid) != 0)
        goto out;
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
    free(fqdn);
    return rc;
}

static int c_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct cf *s = state;
    char *zid = NULL, *fqdn = NULL, *en = NULL, *ev = NULL, url[DNS_API_MAX_URL];
    json_object *list = NULL, *res;
    int rc = -1;

    if (find_zone(s, ch->fqdn, &fqdn, &zid, e) != 0)
        goto out;
    en = http_escape(fqdn);
    ev = http_escape(ch->value);
    if (!en || !ev) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, url, sizeof(url),
                      "/zones/%s/dns_records?type=TXT&name=%s&content=%s&per_page=100", zid, en,
                      ev) != 0 ||
        cf_call(s, "GET", url, NULL, false, &list, NULL, e) != 0)
        goto out;
    res = jsonu_arr(list, "result");
    for (size_t i = 0; res && i < json_object_array_length(res); i++) {
        json_object *r = json_object_array_get_idx(res, i), *ans = NULL;
        const char *id = jsonu_str(r, "id"), *name = jsonu_str(r, "name");
        if (!id || !id_ok(id) || !name || strcasecmp(name, fqdn) != 0 ||
            !dns_api_txt_is(jsonu_str(r, "content"), ch->value))
            continue; /* never delete what is not ours */
        if (dns_api_pathf(&s->api, e, url, sizeof(url), "/zones/%s/dns_records/%s", zid, id) != 0 ||
            cf_call(s, "DELETE", url, NULL, false, &ans, NULL, e) != 0)
            goto out;
        json_object_put(ans);
    }
    rc = 0;
out:
    json_object_put(list);
    free(en);
    free(ev);
    free(zid);
    free(fqdn);
    return rc;
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
