/*
 * godaddy.c - the GoDaddy DNS provider (Domains API v1,
 * https://api.godaddy.com).
 *
 * Auth: api_key and api_secret ("Authorization: sso-key <key>:<secret>").
 * Tests only: the environment variable AUTOCERT_GODADDY_BASE_URL replaces the
 * base URL (lego has no option for it); https:// or a loopback http:// URL.
 *
 * Zone: GET /v1/domains/<candidate> (404: not in the account), walking up from
 * the record's parent name, so the zone is the longest domain the account
 * holds. GoDaddy has no "add one record" call: PUT
 * /v1/domains/<zone>/records/TXT/<name> replaces the name's whole TXT set. To
 * stay append-only, present() reads the set (GET, same path) and PUTs the set
 * plus our value; cleanup() reads it and PUTs the set minus our value, or
 * DELETEs the name's TXT set when ours was the last value. A process-wide
 * mutex serialises these read-modify-write steps between the orders of one
 * process (another process writing the same name in between can still lose a
 * value: the API offers no conditional write). GoDaddy's minimum TTL is 600 s;
 * a lower ttl is raised to it. HTTP 429 is retried after Retry-After (at most
 * 3 retries, each wait at most 60 s).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "dns_common.h"
#include "dns_retry.h"
#include "http.h"
#include "jsonu.h"

#define P "DNS provider godaddy"
#define GD_DEFAULT_BASE "https://api.godaddy.com"
#define GD_AUTH_OPTS "api_key/api_secret"
#define GD_MAX_RETRIES 3
#define GD_MAX_URL 2048
#define GD_MIN_TTL 600
#define GD_MAX_SET 100 /* TXT values kept at one name */
#define GD_MAX_CRED 512

static const struct dns_option_decl opts_decl[] = {
    {"api_key", true},
    {"api_secret", true},
    {NULL, false},
};

/* Serialises read-modify-write of TXT sets within this process. */
static pthread_mutex_t gd_lock = PTHREAD_MUTEX_INITIALIZER;

struct gd {
    char *auth; /* "sso-key <key>:<secret>" (secret) */
    char *base;
    int64_t ttl, timeout_ms;
};

static bool base_ok(const char *b)
{
    return strncmp(b, "https://", 8) == 0 || strncmp(b, "http://127.", 11) == 0 ||
           strncmp(b, "http://localhost", 16) == 0 || strncmp(b, "http://[::1]", 12) == 0;
}

static int cred_check(const char *v, const char *key, struct ac_error *e)
{
    if (!v || !*v || strlen(v) > GD_MAX_CRED || strpbrk(v, "\r\n:")) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option %s: required (no ':' or line break)", key);
        return -1;
    }
    return 0;
}

static int g_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (cred_check(dns_opt_get(opts, n, "api_key"), "api_key", e) != 0 ||
        cred_check(dns_opt_get(opts, n, "api_secret"), "api_secret", e) != 0)
        return -1;
    return 0;
}

static void state_free(struct gd *s)
{
    if (!s)
        return;
    if (s->auth) {
        explicit_bzero(s->auth, strlen(s->auth));
        free(s->auth);
    }
    free(s->base);
    free(s);
}

static int g_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct gd *s = NULL;
    const char *base = getenv("AUTOCERT_GODADDY_BASE_URL");
    const char *key = dns_opt_get(opts, n, "api_key"), *sec = dns_opt_get(opts, n, "api_secret");
    size_t al, bl;

    *state = NULL;
    if (g_validate(opts, n, e) != 0 || dns_settings_parse("godaddy", opts, n, &st, e) != 0)
        return -1;
    if (base && *base && !base_ok(base)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": AUTOCERT_GODADDY_BASE_URL must be an https:// URL");
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl < GD_MIN_TTL ? GD_MIN_TTL : st.ttl;
    s->timeout_ms = st.http_timeout_ms;
    s->base = strdup(base && *base ? base : GD_DEFAULT_BASE);
    al = strlen(key) + strlen(sec) + 10;
    s->auth = malloc(al);
    if (!s->base || !s->auth)
        goto nomem;
    snprintf(s->auth, al, "sso-key %s:%s", key, sec);
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

/* One call with 429 retries. Returns 0 on 2xx (*out the parsed body when out
 * is given and the body is not empty, else NULL; put it), 1 on 404 when
 * allow_404, -1 on error. */
static int gd_call(struct gd *s, const char *method, const char *url, const char *body,
                   bool allow_404, json_object **out, struct ac_error *e)
{
    struct http_header h[2] = {{"Authorization", s->auth}, {"Accept", "application/json"}};
    struct http_response resp;
    int rc = -1;

    if (out)
        *out = NULL;
    if (dns_http_retry(P, method, url, body, h, 2, s->timeout_ms, GD_MAX_RETRIES, &resp, e) != 0)
        return -1;
    if (resp.status == 404 && allow_404) {
        rc = 1;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, P, GD_AUTH_OPTS, e);
        goto out;
    }
    if (out && resp.body.len > 0) {
        *out = jsonu_parse(resp.body.data, resp.body.len, "GoDaddy answer", AC_ERR_DNS_PROVIDER, e);
        if (!*out)
            goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

/* The longest account domain holding fqdn (*zone points into fqdn) and the
 * record name relative to it (*rel, new string). */
static int find_zone(struct gd *s, const char *fqdn, const char **zone, char **rel,
                     struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[GD_MAX_URL];

    *rel = NULL;
    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        char *esc = http_escape(cand + 1);
        int got;
        if (!esc)
            goto nomem;
        snprintf(url, sizeof(url), "%s/v1/domains/%s", s->base, esc);
        free(esc);
        got = gd_call(s, "GET", url, NULL, true, NULL, e);
        if (got < 0)
            return -1;
        if (got == 0) {
            *zone = cand + 1;
            if (!(*rel = strndup(fqdn, (size_t)(cand - fqdn))))
                goto nomem;
            return 0;
        }
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no domain in this account holds %.200s", fqdn);
    return -1;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

/* The URL of the TXT set at fqdn, and that set as GoDaddy returns it (*set:
 * a JSON array, never NULL on success; put it). */
static int read_set(struct gd *s, const char *fqdn, char *url, size_t ul, json_object **set,
                    struct ac_error *e)
{
    const char *zone;
    char *rel = NULL, *ez = NULL, *er = NULL;
    int rc = -1, got;

    *set = NULL;
    if (find_zone(s, fqdn, &zone, &rel, e) != 0)
        goto out;
    ez = http_escape(zone);
    er = http_escape(rel);
    if (!ez || !er) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, ul, "%s/v1/domains/%s/records/TXT/%s", s->base, ez, er);
    got = gd_call(s, "GET", url, NULL, true, set, e);
    if (got < 0)
        goto out;
    if (*set && !json_object_is_type(*set, json_type_array)) {
        json_object_put(*set);
        *set = NULL;
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": the TXT set is not a JSON array");
        goto out;
    }
    if (!*set && !(*set = json_object_new_array())) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (json_object_array_length(*set) > GD_MAX_SET) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": more than %d TXT values at %.200s", GD_MAX_SET,
                     fqdn);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        json_object_put(*set);
        *set = NULL;
    }
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

/* Builds the set to PUT: every non-empty value of `set` except `drop` (NULL:
 * none) with its TTL, then `add` (NULL: none) with ttl. *found tells whether
 * value `probe` was in the set. */
static json_object *rebuild(json_object *set, const char *drop, const char *add, int64_t ttl,
                            const char *probe, bool *found)
{
    json_object *arr = json_object_new_array();

    *found = false;
    for (size_t i = 0; arr && i < json_object_array_length(set); i++) {
        json_object *r = json_object_array_get_idx(set, i);
        const char *d = jsonu_str(r, "data");
        int64_t t;
        if (!d || !*d)
            continue; /* an empty placeholder left by the API */
        if (strcmp(d, probe) == 0)
            *found = true;
        if (drop && strcmp(d, drop) == 0)
            continue;
        if (jsonu_int(r, "ttl", &t) != 0 || t < GD_MIN_TTL)
            t = ttl;
        if (add_item(arr, d, t) != 0)
            goto fail;
    }
    if (arr && add && add_item(arr, add, ttl) != 0)
        goto fail;
    return arr;
fail:
    json_object_put(arr);
    return NULL;
}

static int g_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct gd *s = state;
    char url[GD_MAX_URL];
    json_object *set = NULL, *put = NULL;
    bool found;
    int rc = -1;

    pthread_mutex_lock(&gd_lock);
    if (read_set(s, ch->fqdn, url, sizeof(url), &set, e) != 0)
        goto out;
    put = rebuild(set, NULL, ch->value, s->ttl, ch->value, &found);
    if (!put) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (found) {
        rc = 0; /* already there */
        goto out;
    }
    if (gd_call(s, "PUT", url, jsonu_string(put), false, NULL, e) != 0)
        goto out;
    rc = 0;
out:
    pthread_mutex_unlock(&gd_lock);
    json_object_put(put);
    json_object_put(set);
    return rc;
}

static int g_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct gd *s = state;
    char url[GD_MAX_URL];
    json_object *set = NULL, *put = NULL;
    bool found;
    int rc = -1;

    pthread_mutex_lock(&gd_lock);
    if (read_set(s, ch->fqdn, url, sizeof(url), &set, e) != 0)
        goto out;
    put = rebuild(set, ch->value, NULL, s->ttl, ch->value, &found);
    if (!put) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!found) {
        rc = 0; /* absent is success */
        goto out;
    }
    if (json_object_array_length(put) == 0) {
        if (gd_call(s, "DELETE", url, NULL, true, NULL, e) < 0)
            goto out;
    } else if (gd_call(s, "PUT", url, jsonu_string(put), false, NULL, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&gd_lock);
    json_object_put(put);
    json_object_put(set);
    return rc;
}

static void g_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_godaddy_ops = {
    .name = "godaddy",
    .alias = NULL,
    .options = opts_decl,
    .validate = g_validate,
    .create = g_create,
    .present = g_present,
    .cleanup = g_cleanup,
    .destroy = g_destroy,
};
