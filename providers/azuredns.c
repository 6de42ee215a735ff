/*
 * azuredns.c - the Azure DNS provider (Azure Resource Manager, public zones
 * Microsoft.Network/dnsZones api-version 2018-05-01, private zones
 * Microsoft.Network/privateDnsZones api-version 2018-09-01).
 *
 * Auth: client-secret credentials of a service principal (tenant_id,
 * client_id, client_secret): POST <login>/<tenant>/oauth2/v2.0/token
 * (client_credentials, scope <management>/.default) gives a token, cached
 * until shortly before it expires (oauth2.h). environment selects the cloud:
 * public (default), china, usgovernment. Tests only: AUTOCERT_AZURE_LOGIN_URL
 * and AUTOCERT_AZURE_MANAGEMENT_URL replace the login and management bases
 * (https:// or loopback; the token scope stays the cloud's).
 *
 * Zone: zone_name, else GET .../dnsZones/<candidate> walking up from the
 * record's parent (404: not in the resource group). Writes are a
 * read-modify-write of the TXT record set .../TXT/<relative name> ("@" at the
 * apex): GET it (etag, records), then PUT it with our value added (If-Match:
 * etag, or If-None-Match: * when it does not exist yet), or on cleanup PUT it
 * without our value, or DELETE it (If-Match) when ours was the last one. A
 * concurrent writer makes the precondition fail (HTTP 412): read again and
 * retry. HTTP 429 is retried after Retry-After (dns_api.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "jsonu.h"
#include "oauth2.h"

#define AZ_AUTH_OPTS "tenant_id/client_id/client_secret"
#define AZ_MAX_CONFLICTS 5
#define AZ_API_PUBLIC "2018-05-01"
#define AZ_API_PRIVATE "2018-09-01"
#define AZ_MAX_PATH 1024

static const struct dns_option_decl opts_decl[] = {
    {"subscription_id", true}, {"resource_group", true},
    {"zone_name", false},      {"tenant_id", false},
    {"client_id", false},      {"client_secret", false},
    {"environment", false},    {"private_zone", false},
    DNS_API_OPTION_DECLS,      {NULL, false},
};

/* One Azure cloud: login and management endpoints. */
struct az_cloud {
    const char *names[3];
    const char *login, *management;
};

static const struct az_cloud clouds[] = {
    {{"public", "AzurePublicCloud", "AzureCloud"},
     "https://login.microsoftonline.com",
     "https://management.azure.com"},
    {{"china", "AzureChinaCloud", NULL},
     "https://login.chinacloudapi.cn",
     "https://management.chinacloudapi.cn"},
    {{"usgovernment", "AzureUSGovernmentCloud", "AzureUSGovernment"},
     "https://login.microsoftonline.us",
     "https://management.usgovcloudapi.net"},
};

struct azstate {
    struct dns_api api; /* base: the management endpoint */
    char *sub, *rg, *zone_name, *tenant, *client_id, *secret, *login, *scope;
    bool private_zone;
    struct oauth2_cache cache;
};

static const struct az_cloud *cloud_find(const char *name)
{
    if (!name || !*name)
        return &clouds[0];
    for (size_t i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++)
        for (size_t j = 0; j < 3 && clouds[i].names[j]; j++)
            if (strcasecmp(name, clouds[i].names[j]) == 0)
                return &clouds[i];
    return NULL;
}

/* 1..max bytes of [A-Za-z0-9] and `extra`. */
static bool plain(const char *s, const char *extra, size_t max)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return false;
    return true;
}

static int a_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *zn = dns_opt_get(opts, n, "zone_name");
    bool b;

    if (!plain(dns_opt_get(opts, n, "subscription_id"), "-", 64)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider azuredns: option subscription_id: required (a subscription ID)");
        return -1;
    }
    if (!plain(dns_opt_get(opts, n, "resource_group"), "-_.()", 90)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider azuredns: option resource_group: required (a resource group "
                     "name)");
        return -1;
    }
    if (!plain(dns_opt_get(opts, n, "tenant_id"), "-.", 128)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider azuredns: option tenant_id: required (client-secret "
                     "credentials; managed identities are not supported)");
        return -1;
    }
    if (!plain(dns_opt_get(opts, n, "client_id"), "-", 128)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider azuredns: option client_id: required (client-secret "
                     "credentials; managed identities are not supported)");
        return -1;
    }
    if (dns_api_check_secret("azuredns", opts, n, "client_secret",
                             "required (client-secret credentials; managed identities are not "
                             "supported)",
                             e) != 0)
        return -1;
    if (zn && *zn && !plain(zn, "-_.", 253)) {
        ac_error_set(e, AC_ERR_CONFIG, "DNS provider azuredns: option zone_name: not a DNS name");
        return -1;
    }
    if (!cloud_find(dns_opt_get(opts, n, "environment"))) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider azuredns: option environment: must be public, china or "
                     "usgovernment");
        return -1;
    }
    if (dns_opt_bool("azuredns", opts, n, "private_zone", false, &b, e) != 0)
        return -1;
    return dns_api_validate("azuredns", opts, n, e);
}

static void state_free(struct azstate *s)
{
    if (!s)
        return;
    dns_api_free(&s->api);
    free(s->sub);
    free(s->rg);
    free(s->zone_name);
    free(s->tenant);
    free(s->client_id);
    dns_api_secret_free(s->secret);
    free(s->login);
    free(s->scope);
    oauth2_cache_destroy(&s->cache);
    free(s);
}

static int a_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    const struct az_cloud *cl = cloud_find(dns_opt_get(opts, n, "environment"));
    const char *login = DNS_API_TEST_URL("AUTOCERT_AZURE_LOGIN_URL");
    struct azstate *s = NULL;
    size_t l;

    *state = NULL;
    if (a_validate(opts, n, e) != 0 ||
        dns_api_check_base("azuredns", "AUTOCERT_AZURE_LOGIN_URL", login, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    oauth2_cache_init(&s->cache);
    if (dns_api_init(&s->api, "azuredns", opts, n,
                     DNS_API_TEST_URL("AUTOCERT_AZURE_MANAGEMENT_URL"),
                     "AUTOCERT_AZURE_MANAGEMENT_URL", cl->management, e) != 0)
        goto fail;
    s->api.auth_options = AZ_AUTH_OPTS;
    dns_opt_bool("azuredns", opts, n, "private_zone", false, &s->private_zone, NULL);
    if (dns_api_opt_dup(opts, n, "subscription_id", &s->sub, e) ||
        dns_api_opt_dup(opts, n, "resource_group", &s->rg, e) ||
        dns_api_opt_dup(opts, n, "zone_name", &s->zone_name, e) ||
        dns_api_opt_dup(opts, n, "tenant_id", &s->tenant, e) ||
        dns_api_opt_dup(opts, n, "client_id", &s->client_id, e) ||
        dns_api_opt_dup(opts, n, "client_secret", &s->secret, e))
        goto fail;
    s->login = strdup(login && *login ? login : cl->login);
    s->scope = dns_api_secret_join(cl->management, "/.default");
    if (!s->login || !s->scope) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    l = strlen(s->login);
    while (l > 0 && s->login[l - 1] == '/')
        s->login[--l] = '\0';
    if (s->zone_name) { /* no trailing dot, lowercase */
        for (char *p = s->zone_name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        l = strlen(s->zone_name);
        while (l > 0 && s->zone_name[l - 1] == '.')
            s->zone_name[--l] = '\0';
    }
    *state = s;
    return 0;
fail:
    state_free(s);
    return -1;
}

/* "Bearer <token>" from the cache or the token endpoint. New secret. */
static char *bearer(struct azstate *s, struct ac_error *e)
{
    char *tok = oauth2_cache_get(&s->cache), *auth = NULL;
    char *ecid = NULL, *esec = NULL, *escope = NULL, *etenant = NULL, url[1024];
    struct ac_buf f;
    int64_t exp = 0;

    ac_buf_init(&f, 16384);
    if (tok)
        goto have;
    ecid = http_escape(s->client_id);
    esec = http_escape(s->secret);
    escope = http_escape(s->scope);
    etenant = http_escape(s->tenant);
    if (!ecid || !esec || !escope || !etenant ||
        ac_buf_printf(&f, "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s",
                      ecid, esec, escope) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", s->login, etenant);
    if (oauth2_token_request(s->api.what, url, f.data, AZ_AUTH_OPTS, s->api.timeout_ms, &tok, &exp,
                             e) != 0)
        goto out;
    oauth2_cache_put(&s->cache, tok, exp);
have:
    auth = dns_api_secret_join("Bearer ", tok);
    if (!auth)
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (f.data)
        explicit_bzero(f.data, f.len);
    ac_buf_free(&f);
    dns_api_secret_free(esec);
    dns_api_secret_free(tok);
    free(ecid);
    free(escope);
    free(etenant);
    return auth;
}

/* One request with the token and an optional precondition header. *status
 * gets the HTTP status; *out (may be NULL) the parsed body of a 2xx. Statuses
 * other than 2xx, 404 and 412 fail with e. */
static int az_send(struct azstate *s, const char *method, const char *path, const char *body,
                   const char *cond_name, const char *cond_value, long *status, json_object **out,
                   struct ac_error *e)
{
    struct http_header h[2];
    struct http_response resp;
    struct dns_api_req rq = {.method = method, .path = path, .headers = h, .json_body = body};
    char *auth = bearer(s, e);
    int rc = -1;

    if (out)
        *out = NULL;
    *status = 0;
    if (!auth)
        return -1;
    h[rq.header_count++] = (struct http_header){"Authorization", auth};
    if (cond_name)
        h[rq.header_count++] = (struct http_header){cond_name, cond_value};
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        goto out;
    *status = resp.status;
    if (resp.status == 404 || resp.status == 412) {
        rc = 0;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, s->api.what, AZ_AUTH_OPTS, e);
        goto out;
    }
    if (out && resp.body.len > 0) {
        *out =
            jsonu_parse(resp.body.data, resp.body.len, "Azure DNS answer", AC_ERR_DNS_PROVIDER, e);
        if (!*out)
            goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    dns_api_secret_free(auth);
    return rc;
}

/* ".../resourceGroups/<rg>/providers/Microsoft.Network/<kind>/<zone>" */
static int zone_path(struct azstate *s, const char *zone, char *out, size_t outlen,
                     struct ac_error *e)
{
    char *ez = http_escape(zone), *es = http_escape(s->sub), *er = http_escape(s->rg);
    int rc = -1;

    if (!ez || !es || !er)
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    else
        rc = dns_api_pathf(&s->api, e, out, outlen,
                           "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/%s/%s",
                           es, er, s->private_zone ? "privateDnsZones" : "dnsZones", ez);
    free(ez);
    free(es);
    free(er);
    return rc;
}

static const char *api_version(const struct azstate *s)
{
    return s->private_zone ? AZ_API_PRIVATE : AZ_API_PUBLIC;
}

static int zone_probe(void *arg, const char *candidate, struct ac_error *e)
{
    struct azstate *s = arg;
    char path[AZ_MAX_PATH], full[AZ_MAX_PATH + 32];
    long st;

    if (zone_path(s, candidate, path, sizeof(path), e) != 0 ||
        dns_api_pathf(&s->api, e, full, sizeof(full), "%s?api-version=%s", path, api_version(s)) !=
            0 ||
        az_send(s, "GET", full, NULL, NULL, NULL, &st, NULL, e) != 0)
        return -1;
    if (st == 412) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: zone look-up answered HTTP 412", s->api.what);
        return -1;
    }
    return st == 404 ? 0 : 1;
}

/* The values of one TXT record ({"value":["chunk", ...]}) joined. */
static bool record_is(json_object *rec, const char *value, char *buf, size_t buflen)
{
    json_object *v = jsonu_arr(rec, "value");
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; v && i < json_object_array_length(v); i++) {
        const char *c = json_object_get_string(json_object_array_get_idx(v, i));
        size_t cl = c ? strlen(c) : 0;
        if (used + cl + 1 > buflen)
            return false;
        memcpy(buf + used, c, cl);
        used += cl;
        buf[used] = '\0';
    }
    return v && strcmp(buf, value) == 0;
}

/* True when values[k] equals one of values[0..k-1]. */
static bool value_dup(const char *const *values, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (strcmp(values[j], values[k]) == 0)
            return true;
    return false;
}

/* The TXT records array of a record set (either spelling), or NULL. */
static json_object *txt_records(json_object *rs)
{
    json_object *p = jsonu_obj(rs, "properties"), *r;

    r = jsonu_arr(p, "TXTRecords");
    return r ? r : jsonu_arr(p, "txtRecords");
}

/* Index of the first of the nv values the record is, or nv. */
static size_t record_in(json_object *rec, const char *const *values, size_t nv)
{
    char buf[1024];
    size_t k = 0;

    while (k < nv && !record_is(rec, values[k], buf, sizeof(buf)))
        k++;
    return k;
}

/* The record-set body: old records (rs may be NULL) with the nv values
 * added (those not there: have[k] false) or removed; *count the number of
 * records. */
static json_object *new_body(const struct azstate *s, json_object *rs, const char *const *values,
                             size_t nv, const bool *have, bool add, size_t *count)
{
    json_object *body = json_object_new_object(), *props = json_object_new_object();
    json_object *arr = json_object_new_array(), *old = txt_records(rs);

    if (!body || !props || !arr)
        goto fail;
    for (size_t i = 0; old && i < json_object_array_length(old); i++) {
        json_object *r = json_object_array_get_idx(old, i);
        if (!add && record_in(r, values, nv) < nv)
            continue;
        if (json_object_array_add(arr, json_object_get(r)))
            goto fail;
    }
    for (size_t k = 0; add && k < nv; k++) {
        json_object *r, *v;
        if (have[k])
            continue;
        r = json_object_new_object();
        v = json_object_new_array();
        if (!r || !v || json_object_array_add(v, json_object_new_string(values[k])) ||
            json_object_object_add(r, "value", v)) {
            json_object_put(r);
            json_object_put(v);
            goto fail;
        }
        if (json_object_array_add(arr, r)) {
            json_object_put(r);
            goto fail;
        }
    }
    *count = json_object_array_length(arr);
    json_object_object_add(props, s->private_zone ? "ttl" : "TTL",
                           json_object_new_int64(s->api.ttl));
    json_object_object_add(props, s->private_zone ? "txtRecords" : "TXTRecords", arr);
    json_object_object_add(body, "properties", props);
    return body;
fail:
    json_object_put(arr);
    json_object_put(props);
    json_object_put(body);
    return NULL;
}

/* Read-modify-write of the record set at fqdn: one PUT (or DELETE) adding
 * or removing all nv values. */
static int change_txt(struct azstate *s, const char *fqdn, const char *const *values, size_t nv,
                      bool add, struct ac_error *e)
{
    struct dns_api_loc loc = {0};
    char path[AZ_MAX_PATH + 300], zp[AZ_MAX_PATH], *er = NULL;
    int rc = -1;

    if (nv > DNS_BATCH_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, "%s: too many values", s->api.what);
        return -1;
    }
    if (s->zone_name) {
        if (dns_api_target(&s->api, fqdn, &loc.fqdn, e) != 0 ||
            dns_api_relative(&s->api, loc.fqdn, s->zone_name, "@", &loc.rel, e) != 0)
            goto out;
        loc.zone = s->zone_name;
    } else if (dns_api_locate(&s->api, fqdn, zone_probe, s, "@", &loc, e) != 0) {
        return -1;
    }
    er = http_escape(loc.rel);
    if (!er) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (zone_path(s, loc.zone, zp, sizeof(zp), e) != 0 ||
        dns_api_pathf(&s->api, e, path, sizeof(path), "%s/TXT/%s?api-version=%s", zp, er,
                      api_version(s)) != 0)
        goto out;
    for (int attempt = 0; attempt < AZ_MAX_CONFLICTS; attempt++) {
        json_object *rs = NULL, *body, *arr;
        const char *etag = NULL;
        bool have[DNS_BATCH_MAX] = {false};
        size_t cnt = 0, nhave = 0;
        long st;
        int r;

        if (az_send(s, "GET", path, NULL, NULL, NULL, &st, &rs, e) != 0)
            goto out;
        if (st == 404) {
            json_object_put(rs);
            rs = NULL;
        }
        etag = jsonu_str(rs, "etag");
        arr = txt_records(rs);
        for (size_t k = 0; k < nv; k++) {
            for (size_t i = 0; arr && i < json_object_array_length(arr) && !have[k]; i++)
                have[k] = record_in(json_object_array_get_idx(arr, i), values + k, 1) == 0;
            /* a value given twice is written once */
            have[k] = have[k] || (add && k > 0 && value_dup(values, k));
            nhave += have[k];
        }
        if (add ? nhave == nv : nhave == 0) {
            json_object_put(rs);
            rc = 0;
            goto out;
        }
        if (rs && (!etag || strlen(etag) > 256 || strpbrk(etag, "\r\n"))) {
            json_object_put(rs);
            ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: record set has no usable etag", s->api.what);
            goto out;
        }
        body = new_body(s, rs, values, nv, have, add, &cnt);
        if (!body) {
            json_object_put(rs);
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (cnt == 0) /* ours was the last value */
            r = az_send(s, "DELETE", path, NULL, "If-Match", etag, &st, NULL, e);
        else
            r = az_send(s, "PUT", path, jsonu_string(body), rs ? "If-Match" : "If-None-Match",
                        rs ? etag : "*", &st, NULL, e);
        json_object_put(body);
        json_object_put(rs);
        if (r != 0)
            goto out;
        if (st == 404 && cnt == 0) { /* deleted meanwhile: nothing left of ours */
            rc = 0;
            goto out;
        }
        if (st != 412 && st != 404) {
            rc = 0;
            goto out;
        }
        /* 412: someone changed the set since we read it; read again */
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: TXT set at %.200s kept changing (HTTP 412 %d times)",
                 s->api.what, fqdn, AZ_MAX_CONFLICTS);
out:
    free(er);
    dns_api_loc_free(&loc);
    return rc;
}

static int add_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                    struct ac_error *e)
{
    return change_txt(state, fqdn, values, nv, true, e);
}

static int remove_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                       struct ac_error *e)
{
    return change_txt(state, fqdn, values, nv, false, e);
}

static void a_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_azuredns_ops = {
    .name = "azuredns",
    .alias = NULL,
    .options = opts_decl,
    .validate = a_validate,
    .create = a_create,
    .destroy = a_destroy,
    .add_values = add_name,
    .remove_values = remove_name,
};
