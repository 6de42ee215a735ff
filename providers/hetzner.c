/*
 * hetzner.c - the Hetzner DNS provider (Hetzner Cloud API v1, zones and
 * RRSets).
 *
 * Auth: api_token ("Authorization: Bearer", a Hetzner Console API token with
 * DNS rights). api_key (lego's key for the legacy DNS Console API,
 * dns.hetzner.com, being shut down) is declared but refused with a hint. The
 * environment variable AUTOCERT_HETZNER_BASE_URL overrides
 * https://api.hetzner.cloud/v1; it exists for the tests only.
 *
 * Zone: GET /zones?name=<candidate>, walking up from the record's parent name.
 * present() uses the RRSet action add_records
 * (POST /zones/<id>/rrsets/<name>/TXT/actions/add_records), which appends one
 * value and creates the RRSet when missing; cleanup() uses remove_records
 * with exactly our value (a missing RRSet is success). Both are asynchronous:
 * the returned action is polled (GET /actions/<id>) until success, every
 * 500 ms up to propagation_timeout. HTTP 429 is retried after Retry-After (at
 * most 3 retries, each wait at most 60 s).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dns.h"
#include "dns_common.h"
#include "dns_retry.h"
#include "http.h"
#include "jsonu.h"
#include "timeutil.h"

#define P "DNS provider hetzner"
#define HZ_DEFAULT_BASE "https://api.hetzner.cloud/v1"
#define HZ_MAX_RETRIES 3
#define HZ_MAX_URL 2048
#define HZ_POLL_MS 500

static const struct dns_option_decl opts_decl[] = {
    {"api_token", false}, {"api_key", false}, {NULL, false},
};

struct hz {
    char *auth; /* "Bearer <token>" (secret) */
    char *base;
    int64_t ttl, timeout_ms, prop_ms;
};

static int h_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *tok = dns_opt_get(opts, n, "api_token");
    const char *key = dns_opt_get(opts, n, "api_key");

    if ((!tok || !*tok) && key && *key) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option api_key: the legacy DNS Console API is not supported; "
                       "give api_token (a Hetzner Console API token)");
        return -1;
    }
    if (!tok || !*tok || strlen(tok) > 512 || strpbrk(tok, "\r\n")) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option api_token: required (an API token)");
        return -1;
    }
    return 0;
}

static void state_free(struct hz *s)
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

static int h_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct hz *s = NULL;
    const char *env = getenv("AUTOCERT_HETZNER_BASE_URL");
    const char *tok = dns_opt_get(opts, n, "api_token");
    size_t bl;

    *state = NULL;
    if (h_validate(opts, n, e) != 0 || dns_settings_parse("hetzner", opts, n, &st, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl;
    s->timeout_ms = st.http_timeout_ms;
    s->prop_ms = st.propagation_timeout_ms;
    s->base = strdup(env && *env ? env : HZ_DEFAULT_BASE);
    s->auth = malloc(strlen(tok) + 8);
    if (!s->base || !s->auth)
        goto nomem;
    snprintf(s->auth, strlen(tok) + 8, "Bearer %s", tok);
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

/* One call; 2xx gives *out (parsed body, put it). 404 sets *not_found
 * (when not NULL) instead of failing. */
static int hz_call(struct hz *s, const char *method, const char *url, const char *body,
                   json_object **out, bool *not_found, struct ac_error *e)
{
    struct http_header h = {"Authorization", s->auth};
    struct http_response resp;
    int rc = -1;

    *out = NULL;
    if (not_found)
        *not_found = false;
    if (dns_http_retry(P, method, url, body, &h, 1, s->timeout_ms, HZ_MAX_RETRIES, &resp, e) != 0)
        return -1;
    if (resp.status == 404 && not_found) {
        *not_found = true;
        rc = 0;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, P, "api_token", e);
        goto out;
    }
    *out = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len, "Hetzner answer",
                       AC_ERR_DNS_PROVIDER, e);
    if (!*out)
        goto out;
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

static int find_zone(struct hz *s, const char *fqdn, int64_t *zid, const char **zone,
                     struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[HZ_MAX_URL];

    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        char *esc = http_escape(cand + 1);
        json_object *o = NULL, *zs;
        if (!esc) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            return -1;
        }
        snprintf(url, sizeof(url), "%s/zones?name=%s", s->base, esc);
        free(esc);
        if (hz_call(s, "GET", url, NULL, &o, NULL, e) != 0)
            return -1;
        zs = jsonu_arr(o, "zones");
        for (size_t i = 0; zs && i < json_object_array_length(zs); i++) {
            json_object *z = json_object_array_get_idx(zs, i);
            const char *name = jsonu_str(z, "name");
            if (name && strcasecmp(name, cand + 1) == 0 && jsonu_int(z, "id", zid) == 0 &&
                *zid > 0) {
                json_object_put(o);
                *zone = cand + 1;
                return 0;
            }
        }
        json_object_put(o);
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no zone in this project holds %.200s", fqdn);
    return -1;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Polls the action in answer `o` until it succeeds. */
static int wait_action(struct hz *s, json_object *o, struct ac_error *e)
{
    json_object *a = jsonu_obj(o, "action");
    int64_t id, deadline = ac_mono_ms() + s->prop_ms;
    const char *st = a ? jsonu_str(a, "status") : NULL;
    char url[HZ_MAX_URL];

    if (!a || jsonu_int(a, "id", &id) != 0 || !st) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": answer without an action");
        return -1;
    }
    snprintf(url, sizeof(url), "%s/actions/%" PRId64, s->base, id);
    for (json_object *cur = NULL;; json_object_put(cur), cur = NULL) {
        if (strcmp(st, "success") == 0)
            return 0;
        if (strcmp(st, "running") != 0) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": action %" PRId64 " ended with status %.40s",
                         id, st);
            return -1;
        }
        if (ac_mono_ms() + HZ_POLL_MS > deadline) {
            ac_error_set(e, AC_ERR_DNS_PROPAGATION,
                         P ": action %" PRId64 " still running after propagation_timeout", id);
            return -1;
        }
        sleep_ms(HZ_POLL_MS);
        if (hz_call(s, "GET", url, NULL, &cur, NULL, e) != 0)
            return -1;
        a = jsonu_obj(cur, "action");
        st = a ? jsonu_str(a, "status") : NULL;
        if (!st) {
            json_object_put(cur);
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": malformed action answer");
            return -1;
        }
        if (strcmp(st, "success") == 0 || strcmp(st, "running") != 0) {
            int r = strcmp(st, "success") == 0 ? 0 : -1;
            if (r != 0)
                ac_error_set(e, AC_ERR_DNS_PROVIDER,
                             P ": action %" PRId64 " ended with status %.40s", id, st);
            json_object_put(cur);
            return r;
        }
    }
}

static int change(struct hz *s, const struct dns_challenge *ch, bool add, struct ac_error *e)
{
    const char *zone;
    char url[HZ_MAX_URL], *rel = NULL, *er = NULL, quoted[600];
    json_object *body = NULL, *recs, *rec, *ans = NULL;
    int64_t zid;
    bool nf = false;
    int rc = -1;

    if (strlen(ch->value) > 500 || strpbrk(ch->value, "\"\\")) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": unexpected characters in the TXT value");
        goto out;
    }
    if (find_zone(s, ch->fqdn, &zid, &zone, e) != 0)
        goto out;
    rel = strndup(ch->fqdn, (size_t)(zone - ch->fqdn) - 1);
    er = rel ? http_escape(rel) : NULL;
    snprintf(quoted, sizeof(quoted), "\"%s\"", ch->value);
    body = json_object_new_object();
    recs = json_object_new_array();
    rec = json_object_new_object();
    if (!er || !body || !recs || !rec || jsonu_add_str(rec, "value", quoted) ||
        json_object_array_add(recs, rec)) {
        json_object_put(recs);
        json_object_put(rec);
        goto nomem;
    }
    if ((add && json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) ||
        json_object_object_add(body, "records", recs)) {
        json_object_put(recs);
        goto nomem;
    }
    snprintf(url, sizeof(url), "%s/zones/%" PRId64 "/rrsets/%s/TXT/actions/%s", s->base, zid, er,
             add ? "add_records" : "remove_records");
    if (hz_call(s, "POST", url, jsonu_string(body), &ans, add ? NULL : &nf, e) != 0)
        goto out;
    rc = nf ? 0 : wait_action(s, ans, e); /* removing from a missing RRSet */
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    json_object_put(ans);
    json_object_put(body);
    free(rel);
    free(er);
    return rc;
}

static int h_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return change(state, ch, true, e);
}

static int h_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return change(state, ch, false, e);
}

static void h_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_hetzner_ops = {
    .name = "hetzner",
    .alias = NULL,
    .options = opts_decl,
    .validate = h_validate,
    .create = h_create,
    .present = h_present,
    .cleanup = h_cleanup,
    .destroy = h_destroy,
};
