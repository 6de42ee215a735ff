/*
 * gcloud.c - the Google Cloud DNS provider (Cloud DNS API v1).
 *
 * Auth: the service-account key file (option service_account_file, else the
 * file named by GOOGLE_APPLICATION_CREDENTIALS) gives an OAuth 2.0 token
 * (gcloud_auth.h), cached until shortly before it expires; with
 * impersonate_service_account that token is traded for one of the named
 * account. The API base https://dns.googleapis.com/dns/v1 is overridden by
 * AUTOCERT_GCLOUD_BASE_URL and the IAM Credentials base by
 * AUTOCERT_GCLOUD_IAM_URL (tests only; https:// or loopback).
 *
 * Zone: option zone_id (the managed zone's name), else
 * GET projects/<p>/managedZones?dnsName=<name.> walking up from the record's
 * parent; private zones are skipped unless allow_private_zone. A CNAME on
 * _acme-challenge is followed first (dns_api_target; options dns_resolvers,
 * follow_cname).
 * Writes: read the TXT rrset, then POST .../changes replacing it atomically
 * (deletions: the set as read; additions: the set with our value added or
 * removed). A concurrent change makes the deletion not match (HTTP 412) or
 * the addition collide (409): read again and retry. The batch forms write
 * all values of one name (apex and wildcard of an order) in one change. A pending change is polled
 * until "done" (after 0.1, 0.2, 0.4 ... s, at most polling_interval apart).
 * HTTP 429 is retried after Retry-After.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "gcloud_auth.h"
#include "http.h"
#include "jsonu.h"
#include "oauth2.h"
#include "timeutil.h"

#define P "DNS provider gcloud"
#define GC_DEFAULT_BASE "https://dns.googleapis.com/dns/v1"
#define GC_DEFAULT_IAM "https://iamcredentials.googleapis.com"
#define GC_AUTH_OPTS "service_account_file/project"
#define GC_MAX_RETRIES 3
#define GC_MAX_CONFLICTS 5
#define GC_MAX_URL 2048

static const struct dns_option_decl opts_decl[] = {
    {"project", true},
    {"zone_id", false},
    {"allow_private_zone", false},
    {"impersonate_service_account", false},
    {"service_account_file", false},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

struct gcstate {
    char *project, *zone_id, *impersonate;
    char *base, *iam;
    bool allow_private;
    struct gcloud_sa *sa;
    struct oauth2_cache cache;
    struct dns_api api; /* requests (full URLs) and dns_api_target (CNAME following) */
    int64_t ttl, timeout_ms, change_timeout_ms, poll_ms;
};

/* [A-Za-z0-9] plus `extra`, 1..max bytes. */
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

static const char *sa_path(const struct dns_option *opts, size_t n)
{
    const char *f = dns_opt_get(opts, n, "service_account_file");

    return f && *f ? f : getenv("GOOGLE_APPLICATION_CREDENTIALS");
}

static int g_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *f = sa_path(opts, n);
    const char *imp = dns_opt_get(opts, n, "impersonate_service_account");
    const char *zid = dns_opt_get(opts, n, "zone_id");
    bool b;

    if (!plain(dns_opt_get(opts, n, "project"), "-.:", 128)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option project: required (a project ID)");
        return -1;
    }
    if (!f || !*f || strlen(f) > 4096) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option service_account_file: required (the service account's JSON key "
                       "file; or set GOOGLE_APPLICATION_CREDENTIALS)");
        return -1;
    }
    if (zid && *zid && !plain(zid, "-_", 128)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option zone_id: must be a managed zone name or ID");
        return -1;
    }
    if (imp && *imp && (!plain(imp, "-_.@", 256) || !strchr(imp, '@'))) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option impersonate_service_account: must be a service account email");
        return -1;
    }
    if (dns_opt_bool("gcloud", opts, n, "allow_private_zone", false, &b, e) != 0)
        return -1;
    return dns_api_validate("gcloud", opts, n, e);
}

static void state_free(struct gcstate *s)
{
    if (!s)
        return;
    free(s->project);
    free(s->zone_id);
    free(s->impersonate);
    free(s->base);
    free(s->iam);
    gcloud_sa_free(s->sa);
    oauth2_cache_destroy(&s->cache);
    dns_api_free(&s->api);
    free(s);
}

/* An environment URL override, or def. New string, trailing '/' removed. */
static char *base_url(const char *env, const char *def, struct ac_error *e)
{
    const char *v = DNS_API_TEST_URL(env);
    char *r;
    size_t l;

    if (v && *v && !dns_api_base_ok(v)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": %s must be an https:// or loopback URL", env);
        return NULL;
    }
    r = strdup(v && *v ? v : def);
    if (!r) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l = strlen(r);
    while (l > 0 && r[l - 1] == '/')
        r[--l] = '\0';
    return r;
}

static int g_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct gcstate *s = NULL;
    const char *zid = dns_opt_get(opts, n, "zone_id");
    const char *imp = dns_opt_get(opts, n, "impersonate_service_account");

    *state = NULL;
    if (g_validate(opts, n, e) != 0 || dns_settings_parse("gcloud", opts, n, &st, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    oauth2_cache_init(&s->cache);
    s->ttl = st.ttl;
    s->timeout_ms = st.http_timeout_ms;
    s->change_timeout_ms = st.propagation_timeout_ms;
    s->poll_ms = st.polling_interval_ms > 100 ? st.polling_interval_ms : 100;
    dns_opt_bool("gcloud", opts, n, "allow_private_zone", false, &s->allow_private, NULL);
    s->project = strdup(dns_opt_get(opts, n, "project"));
    s->zone_id = zid && *zid ? strdup(zid) : NULL;
    s->impersonate = imp && *imp ? strdup(imp) : NULL;
    if (!s->project || (zid && *zid && !s->zone_id) || (imp && *imp && !s->impersonate)) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(s->base = base_url("AUTOCERT_GCLOUD_BASE_URL", GC_DEFAULT_BASE, e)) ||
        !(s->iam = base_url("AUTOCERT_GCLOUD_IAM_URL", GC_DEFAULT_IAM, e)) ||
        gcloud_sa_load(sa_path(opts, n), &s->sa, e) != 0 ||
        dns_api_init(&s->api, "gcloud", opts, n, NULL, "AUTOCERT_GCLOUD_BASE_URL", GC_DEFAULT_BASE,
                     e) != 0)
        goto fail;
    s->api.max_retries = GC_MAX_RETRIES;
    *state = s;
    return 0;
fail:
    state_free(s);
    return -1;
}

/* "Bearer <token>" from the cache or a new token. New secret string. */
static char *bearer(struct gcstate *s, struct ac_error *e)
{
    char *tok = oauth2_cache_get(&s->cache), *src = NULL, *auth;
    int64_t exp = 0;
    size_t al;

    if (!tok) {
        if (gcloud_sa_token(s->sa, s->impersonate ? GCLOUD_SCOPE_CLOUD : GCLOUD_SCOPE_DNS,
                            s->timeout_ms, &src, &exp, e) != 0)
            return NULL;
        if (s->impersonate) {
            int rc = gcloud_impersonate(s->iam, src, s->impersonate, GCLOUD_SCOPE_DNS,
                                        s->timeout_ms, &tok, &exp, e);
            dns_api_secret_free(src);
            if (rc != 0)
                return NULL;
        } else {
            tok = src;
        }
        oauth2_cache_put(&s->cache, tok, exp);
    }
    al = strlen(tok) + 8;
    auth = malloc(al);
    if (auth)
        snprintf(auth, al, "Bearer %s", tok);
    else
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    dns_api_secret_free(tok);
    return auth;
}

/* One API call; *status gets the HTTP status. On a status in ok1/ok2 and out
 * != NULL, *out is the parsed body. Other statuses fail with e unless listed
 * in soft1/soft2 (then 0 with *status telling). */
static int gc_call(struct gcstate *s, const char *method, const char *url, const char *body,
                   long soft1, long soft2, long *status, json_object **out, struct ac_error *e)
{
    struct http_header h[1];
    struct dns_api_req rq = {
        .method = method, .path = url, .headers = h, .header_count = 1, .json_body = body};
    struct http_response resp;
    char *auth = bearer(s, e);
    int rc = -1;

    if (out)
        *out = NULL;
    *status = 0;
    memset(&resp, 0, sizeof(resp));
    if (!auth)
        return -1;
    h[0] = (struct http_header){"Authorization", auth};
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        goto out;
    *status = resp.status;
    if (resp.status == soft1 || resp.status == soft2) {
        rc = 0;
        goto out;
    }
    if (resp.status != 200) {
        dns_http_status_error(&resp, P, GC_AUTH_OPTS, e);
        goto out;
    }
    if (out) {
        *out = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len, "Cloud DNS answer",
                           AC_ERR_DNS_PROVIDER, e);
        if (!*out)
            goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    dns_api_secret_free(auth);
    return rc;
}

/* The managed zone holding fqdn: zone_id, or the most specific zone found by
 * dnsName. *zone is a new string. */
static int find_zone(struct gcstate *s, const char *fqdn, char **zone, struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[GC_MAX_URL];
    long st;

    *zone = NULL;
    if (s->zone_id) {
        *zone = strdup(s->zone_id);
        goto done;
    }
    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        json_object *o = NULL, *zs;
        char *dn = NULL, *esc;
        size_t dl = strlen(cand + 1) + 2;

        dn = malloc(dl);
        if (!dn)
            goto nomem;
        snprintf(dn, dl, "%s.", cand + 1);
        esc = http_escape(dn);
        free(dn);
        if (!esc)
            goto nomem;
        snprintf(url, sizeof(url), "%s/projects/%s/managedZones?dnsName=%s", s->base, s->project,
                 esc);
        free(esc);
        if (gc_call(s, "GET", url, NULL, 0, 0, &st, &o, e) != 0)
            return -1;
        zs = jsonu_arr(o, "managedZones");
        for (size_t i = 0; zs && i < json_object_array_length(zs) && !*zone; i++) {
            json_object *z = json_object_array_get_idx(zs, i);
            const char *name = jsonu_str(z, "name"), *vis = jsonu_str(z, "visibility");
            if (!plain(name, "-_", 128))
                continue;
            if (vis && strcmp(vis, "private") == 0 && !s->allow_private)
                continue;
            *zone = strdup(name);
            if (!*zone) {
                json_object_put(o);
                goto nomem;
            }
        }
        json_object_put(o);
        if (*zone)
            goto done;
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no %smanaged zone of project %.128s holds %.200s",
                 s->allow_private ? "" : "public ", s->project, fqdn);
    return -1;
done:
    if (*zone)
        return 0;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

/* True when one rrdata is exactly our value (quoted or bare). */
static bool rrdata_is(const char *d, const char *value)
{
    size_t vl = strlen(value), dl = strlen(d);

    if (dl == vl + 2 && d[0] == '"' && d[dl - 1] == '"' && strncmp(d + 1, value, vl) == 0)
        return true;
    return strcmp(d, value) == 0;
}

/* Polls a pending change until "done" (bounded by change_timeout_ms). */
static int wait_change(struct gcstate *s, const char *zone, json_object *chg, struct ac_error *e)
{
    const char *id = jsonu_str(chg, "id"), *status = jsonu_str(chg, "status");
    int64_t deadline = ac_mono_ms() + s->change_timeout_ms;
    char url[GC_MAX_URL];
    json_object *o = NULL;
    long st;
    int rc = -1;

    if (status && strcmp(status, "done") == 0)
        return 0;
    if (!plain(id, "-_", 64)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": change answer has no usable id");
        return -1;
    }
    snprintf(url, sizeof(url), "%s/projects/%s/managedZones/%s/changes/%s", s->base, s->project,
             zone, id);
    for (int64_t wait = 100; ac_mono_ms() < deadline;
         wait = wait * 2 > s->poll_ms ? s->poll_ms : wait * 2) {
        if (ac_sleep_ms(wait, ac_cancel_current()) != 0) {
            ac_error_set(e, AC_ERR_CANCELLED, P ": cancelled while waiting for change %s", id);
            goto out;
        }
        json_object_put(o);
        if (gc_call(s, "GET", url, NULL, 0, 0, &st, &o, e) != 0)
            goto out;
        status = jsonu_str(o, "status");
        if (status && strcmp(status, "done") == 0) {
            rc = 0;
            goto out;
        }
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": change %s still pending after %lld ms", id,
                 (long long)s->change_timeout_ms);
out:
    json_object_put(o);
    return rc;
}

/* True when rrdata d is one of the nv values. */
static bool rrdata_in(const char *d, const char *const *values, size_t nv)
{
    for (size_t k = 0; k < nv; k++)
        if (rrdata_is(d, values[k]))
            return true;
    return false;
}

/* Builds {"name","type":"TXT","ttl","rrdatas":[...]}: the current rrdatas
 * (cur may be NULL) with the nv values added (those not there yet: add) or
 * removed. *count gets the size. */
static json_object *new_rrset(const char *name, int64_t ttl, json_object *cur,
                              const char *const *values, size_t nv, bool add, size_t *count)
{
    json_object *rs = json_object_new_object(), *d = json_object_new_array();
    json_object *old = cur ? jsonu_arr(cur, "rrdatas") : NULL;
    size_t oldn = old ? json_object_array_length(old) : 0;
    char q[512];

    if (!rs || !d || jsonu_add_str(rs, "name", name) || jsonu_add_str(rs, "type", "TXT") ||
        json_object_object_add(rs, "ttl", json_object_new_int64(ttl)))
        goto fail;
    for (size_t i = 0; i < oldn; i++) {
        json_object *x = json_object_array_get_idx(old, i);
        const char *v = json_object_get_string(x);
        if (!v || (!add && rrdata_in(v, values, nv)))
            continue;
        if (json_object_array_add(d, json_object_get(x)))
            goto fail;
    }
    for (size_t k = 0; add && k < nv; k++) {
        bool have = false;
        for (size_t i = 0; i < oldn && !have; i++) {
            const char *v = json_object_get_string(json_object_array_get_idx(old, i));
            have = v && rrdata_is(v, values[k]);
        }
        snprintf(q, sizeof(q), "\"%s\"", values[k]);
        if (!have && json_object_array_add(d, json_object_new_string(q)))
            goto fail;
    }
    *count = json_object_array_length(d);
    json_object_object_add(rs, "rrdatas", d);
    return rs;
fail:
    json_object_put(d);
    json_object_put(rs);
    return NULL;
}

/* True when the set cur (may be NULL) needs a change: a value missing (add)
 * or one of them there (remove). */
static bool needs_change(json_object *cur, const char *const *values, size_t nv, bool add)
{
    json_object *old = cur ? jsonu_arr(cur, "rrdatas") : NULL;
    size_t oldn = old ? json_object_array_length(old) : 0;

    for (size_t k = 0; k < nv; k++) {
        bool have = false;
        for (size_t i = 0; i < oldn && !have; i++) {
            const char *v = json_object_get_string(json_object_array_get_idx(old, i));
            have = v && rrdata_is(v, values[k]);
        }
        if (have != add)
            return true;
    }
    return false;
}

/* Read-modify-write of the TXT set at fqdn (after CNAME following): add or
 * remove the nv values in one change. */
static int change_txt(struct gcstate *s, const char *fqdn0, const char *const *values, size_t nv,
                      bool add, struct ac_error *e)
{
    char url[GC_MAX_URL], *zone = NULL, *name = NULL, *en = NULL, *fqdn = NULL;
    size_t nl;
    int rc = -1;

    for (size_t k = 0; k < nv; k++) {
        if (strlen(values[k]) > 400) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": TXT value too long");
            return -1;
        }
    }
    if (dns_api_target(&s->api, fqdn0, &fqdn, e) != 0)
        return -1;
    nl = strlen(fqdn) + 2;
    name = malloc(nl);
    if (!name)
        goto nomem;
    snprintf(name, nl, "%s.", fqdn);
    en = http_escape(name);
    if (!en)
        goto nomem;
    if (find_zone(s, fqdn, &zone, e) != 0)
        goto out;
    for (int attempt = 0;; attempt++) {
        json_object *list = NULL, *cur = NULL, *body = NULL, *arr, *chg = NULL, *rs;
        size_t cnt = 0;
        long st;
        int r;

        snprintf(url, sizeof(url), "%s/projects/%s/managedZones/%s/rrsets?name=%s&type=TXT",
                 s->base, s->project, zone, en);
        if (gc_call(s, "GET", url, NULL, 0, 0, &st, &list, e) != 0)
            goto out;
        arr = jsonu_arr(list, "rrsets");
        for (size_t i = 0; arr && i < json_object_array_length(arr) && !cur; i++) {
            json_object *x = json_object_array_get_idx(arr, i);
            const char *xn = jsonu_str(x, "name"), *xt = jsonu_str(x, "type");
            if (xn && xt && strcasecmp(xn, name) == 0 && strcmp(xt, "TXT") == 0)
                cur = x;
        }
        if (!needs_change(cur, values, nv, add)) { /* nothing to do */
            json_object_put(list);
            break;
        }
        body = json_object_new_object();
        rs = new_rrset(name, s->ttl, cur, values, nv, add, &cnt);
        r = -1;
        if (body && rs) {
            json_object *a = json_object_new_array();
            if (a && !json_object_array_add(a, rs)) {
                rs = NULL;
                r = cnt > 0 ? json_object_object_add(body, "additions", a) : 0;
                if (cnt == 0)
                    json_object_put(a);
            } else {
                json_object_put(a);
            }
        }
        if (r == 0 && cur) {
            json_object *d = json_object_new_array();
            if (!d || json_object_array_add(d, json_object_get(cur)) ||
                json_object_object_add(body, "deletions", d))
                r = -1;
        }
        json_object_put(rs);
        json_object_put(list);
        if (r != 0) {
            json_object_put(body);
            goto nomem;
        }
        snprintf(url, sizeof(url), "%s/projects/%s/managedZones/%s/changes", s->base, s->project,
                 zone);
        r = gc_call(s, "POST", url, jsonu_string(body), 409, 412, &st, &chg, e);
        json_object_put(body);
        if (r != 0)
            goto out;
        if (st == 409 || st == 412) { /* the set changed under us: read again */
            if (attempt + 1 >= GC_MAX_CONFLICTS) {
                ac_error_set(e, AC_ERR_DNS_PROVIDER,
                             P ": TXT set at %.200s kept changing (HTTP %ld %d times)", fqdn,
                             st, attempt + 1);
                goto out;
            }
            continue;
        }
        r = wait_change(s, zone, chg, e);
        json_object_put(chg);
        if (r != 0)
            goto out;
        break;
    }
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    free(zone);
    free(name);
    free(en);
    free(fqdn);
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

static void g_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_gcloud_ops = {
    .name = "gcloud",
    .alias = NULL,
    .options = opts_decl,
    .validate = g_validate,
    .create = g_create,
    .destroy = g_destroy,
    .add_values = add_name,
    .remove_values = remove_name,
};
