/*
 * godaddy.c - the GoDaddy DNS provider (Domains API v1,
 * https://api.godaddy.com).
 *
 * Auth: api_key and api_secret ("Authorization: sso-key <key>:<secret>").
 * Tests only: the environment variable AUTOCERT_GODADDY_BASE_URL replaces the
 * base URL (lego has no option for it); https:// or a loopback http:// URL.
 *
 * The record name is the one a CNAME on _acme-challenge points to, if any
 * (dns_api_target). Zone: GET /v1/domains/<candidate> (404: not in the
 * account), walking up from the record's parent name, so the zone is the longest domain the account
 * holds. GoDaddy has no "add one record" call: PUT
 * /v1/domains/<zone>/records/TXT/<name> replaces the name's whole TXT set. To
 * stay append-only, present() reads the set (GET, same path) and PUTs the set
 * plus our value; cleanup() reads it and PUTs the set minus our value, or
 * DELETEs the name's TXT set when ours was the last value. A process-wide
 * mutex serialises these read-modify-write steps between the orders of one
 * process (another process writing the same name in between can still lose a
 * value: the API offers no conditional write). GoDaddy's minimum TTL is 600 s;
 * a lower ttl is raised to it. HTTP 429 is retried after Retry-After
 * (dns_api.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "jsonu.h"

#define P "DNS provider godaddy"
#define GD_DEFAULT_BASE "https://api.godaddy.com"
#define GD_AUTH_OPTS "api_key/api_secret"
#define GD_MAX_PATH 1024
#define GD_MIN_TTL 600
#define GD_MAX_SET 100 /* TXT values kept at one name */

static const struct dns_option_decl opts_decl[] = {
    {"api_key", true},
    {"api_secret", true},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

/* Serialises read-modify-write of TXT sets within this process. */
static pthread_mutex_t gd_lock = PTHREAD_MUTEX_INITIALIZER;

struct gd {
    struct dns_api api;
    char *auth; /* "sso-key <key>:<secret>" (secret) */
    int64_t ttl; /* at least GD_MIN_TTL */
};

static int g_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (dns_api_check_secret("godaddy", opts, n, "api_key", NULL, e) != 0 ||
        dns_api_check_secret("godaddy", opts, n, "api_secret", NULL, e) != 0)
        return -1;
    if (strchr(dns_opt_get(opts, n, "api_key"), ':')) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option api_key: must not contain ':'");
        return -1;
    }
    return dns_api_validate("godaddy", opts, n, e);
}

static void g_destroy(void *state)
{
    struct gd *s = state;

    if (!s)
        return;
    dns_api_secret_free(s->auth);
    dns_api_free(&s->api);
    free(s);
}

static int g_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct gd *s = NULL;
    const char *key = dns_opt_get(opts, n, "api_key"), *sec = dns_opt_get(opts, n, "api_secret");
    size_t al;

    *state = NULL;
    if (g_validate(opts, n, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_init(&s->api, "godaddy", opts, n, DNS_API_TEST_URL("AUTOCERT_GODADDY_BASE_URL"),
                     "AUTOCERT_GODADDY_BASE_URL", GD_DEFAULT_BASE, e) != 0)
        goto fail;
    s->ttl = s->api.ttl < GD_MIN_TTL ? GD_MIN_TTL : s->api.ttl;
    al = strlen(key) + strlen(sec) + sizeof("sso-key :");
    if (!(s->auth = malloc(al))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(s->auth, al, "sso-key %s:%s", key, sec);
    *state = s;
    return 0;
fail:
    g_destroy(s);
    return -1;
}

/* One call (dns_api_call): 0 on 2xx (*out as there), 1 on 404 when
 * allow_404, -1 on error. */
static int gd_call(struct gd *s, const char *method, const char *path, const char *body,
                   bool allow_404, json_object **out, struct ac_error *e)
{
    struct http_header h[2] = {{"Authorization", s->auth}, {"Accept", "application/json"}};
    struct dns_api_req rq = {.method = method, .path = path, .headers = h, .header_count = 2,
                             .json_body = body, .auth_options = GD_AUTH_OPTS,
                             .not_found_ok = allow_404};

    return dns_api_call(&s->api, &rq, out, e);
}

static int zone_probe(void *arg, const char *cand, struct ac_error *e)
{
    struct gd *s = arg;
    char path[GD_MAX_PATH], *esc = http_escape(cand);
    int got = -1;

    if (!esc) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_pathf(&s->api, e, path, sizeof(path), "/v1/domains/%s", esc) == 0)
        got = gd_call(s, "GET", path, NULL, true, NULL, e);
    free(esc);
    return got < 0 ? -1 : got == 0;
}

/* The path of the TXT set at fqdn (after CNAME, in the longest account
 * domain), and that set as GoDaddy returns it (*set: a JSON array, never NULL
 * on success; put it). */
static int read_set(struct gd *s, const char *fqdn, char *path, size_t pl, json_object **set,
                    struct ac_error *e)
{
    const char *zone;
    char *target = NULL, *rel = NULL, *ez = NULL, *er = NULL;
    int rc = -1;

    *set = NULL;
    if (dns_api_target(&s->api, fqdn, &target, e) != 0 ||
        dns_api_find_zone(&s->api, target, zone_probe, s, &zone, e) != 0 ||
        dns_api_relative(&s->api, target, zone, "@", &rel, e) != 0)
        goto out;
    ez = http_escape(zone);
    er = http_escape(rel);
    if (!ez || !er) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, path, pl, "/v1/domains/%s/records/TXT/%s", ez, er) != 0 ||
        gd_call(s, "GET", path, NULL, true, set, e) < 0)
        goto out;
    if (*set && !json_object_is_type(*set, json_type_array)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": the TXT set is not a JSON array");
        goto out;
    }
    if (!*set && !(*set = json_object_new_array())) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (json_object_array_length(*set) > GD_MAX_SET) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": more than %d TXT values at %.200s", GD_MAX_SET,
                     target);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        json_object_put(*set);
        *set = NULL;
    }
    free(target);
    free(rel);
    free(ez);
    free(er);
    return rc;
}

/* Appends {data, ttl} to arr. */
static int add_item(json_object *arr, const char *data, int64_t ttl)
{
    json_object *o = json_object_new_object();

    if (!o || jsonu_add_str(o, "data", data) ||
        json_object_object_add(o, "ttl", json_object_new_int64(ttl)) ||
        json_object_array_add(arr, o)) {
        json_object_put(o);
        return -1;
    }
    return 0;
}

/* Index of d among values, or nv. */
static size_t value_in(const char *d, const char *const *values, size_t nv)
{
    size_t k = 0;

    while (k < nv && strcmp(d, values[k]) != 0)
        k++;
    return k;
}

/* Builds the set to PUT: every non-empty value of `set` with its TTL, minus
 * the nv values (remove) or plus those of them not there yet (add, with ttl).
 * *changed tells whether that differs from `set`. */
static json_object *rebuild(json_object *set, const char *const *values, size_t nv, bool add,
                            int64_t ttl, bool *changed)
{
    json_object *arr = json_object_new_array();
    bool seen[DNS_BATCH_MAX] = {false};

    *changed = false;
    if (nv > DNS_BATCH_MAX)
        goto fail;
    for (size_t i = 0; arr && i < json_object_array_length(set); i++) {
        json_object *r = json_object_array_get_idx(set, i);
        const char *d = jsonu_str(r, "data");
        int64_t t;
        size_t k;
        if (!d || !*d)
            continue; /* an empty placeholder left by the API */
        k = value_in(d, values, nv);
        if (k < nv) {
            seen[k] = true;
            if (!add) {
                *changed = true;
                continue;
            }
        }
        if (jsonu_int(r, "ttl", &t) != 0 || t < GD_MIN_TTL)
            t = ttl;
        if (add_item(arr, d, t) != 0)
            goto fail;
    }
    for (size_t k = 0; arr && add && k < nv; k++) {
        if (seen[k] || value_in(values[k], values, k) < k)
            continue;
        *changed = true;
        if (add_item(arr, values[k], ttl) != 0)
            goto fail;
    }
    return arr;
fail:
    json_object_put(arr);
    return NULL;
}

/* Read-modify-write of the TXT set at fqdn: one PUT (or DELETE when it
 * becomes empty) adding or removing all nv values. */
static int change(struct gd *s, const char *fqdn, const char *const *values, size_t nv, bool add,
                  struct ac_error *e)
{
    char path[GD_MAX_PATH];
    json_object *set = NULL, *put = NULL;
    bool changed;
    int rc = -1;

    pthread_mutex_lock(&gd_lock);
    if (read_set(s, fqdn, path, sizeof(path), &set, e) != 0)
        goto out;
    put = rebuild(set, values, nv, add, s->ttl, &changed);
    if (!put) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!changed) {
        rc = 0; /* already there / absent is success */
        goto out;
    }
    if (json_object_array_length(put) == 0) {
        if (gd_call(s, "DELETE", path, NULL, true, NULL, e) < 0)
            goto out;
    } else if (gd_call(s, "PUT", path, jsonu_string(put), false, NULL, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&gd_lock);
    json_object_put(put);
    json_object_put(set);
    return rc;
}

static int add_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                    struct ac_error *e)
{
    return change(state, fqdn, values, nv, true, e);
}

static int remove_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                       struct ac_error *e)
{
    return change(state, fqdn, values, nv, false, e);
}

const struct dns_provider_ops dns_godaddy_ops = {
    .name = "godaddy",
    .alias = NULL,
    .options = opts_decl,
    .validate = g_validate,
    .create = g_create,
    .destroy = g_destroy,
    .add_values = add_name,
    .remove_values = remove_name,
};
