/*
 * ovh.c - the OVHcloud DNS provider (API 1.0, /domain/zone).
 *
 * api_endpoint: ovh-eu, ovh-ca, ovh-us, kimsufi-eu, kimsufi-ca, soyoustart-eu,
 * soyoustart-ca, or a URL (https://, or loopback http:// for tests) ending in
 * the API version ("https://eu.api.ovh.com/1.0").
 *
 * Auth, one of:
 * - application_key, application_secret, consumer_key: signed requests.
 *   Headers X-Ovh-Application (AK), X-Ovh-Consumer (CK), X-Ovh-Timestamp (the
 *   server's clock: GET /auth/time once per instance, the offset to ours is
 *   kept), X-Ovh-Signature = "$1$" + hex(SHA-1(AS "+" CK "+" METHOD "+" URL
 *   "+" BODY "+" TIMESTAMP)) with URL the full request URL. A request retried
 *   after HTTP 429 is signed again with a fresh timestamp.
 * - access_token: an OAuth2 access token sent as "Authorization: Bearer".
 *
 * The record name is the one a CNAME on _acme-challenge points to, if any
 * (dns_api_target). Zone: GET /domain/zone/<candidate> (404: not in the
 * account), walking up, so the zone is the most specific one. present() POSTs
 * /domain/zone/<zone>/record {fieldType:"TXT", subDomain, target, ttl} (OVH
 * adds, never replaces), then POST /domain/zone/<zone>/refresh to publish the
 * zone. cleanup() lists GET /domain/zone/<zone>/record?fieldType=TXT&
 * subDomain=<name>, GETs each id and DELETEs only the records whose target is
 * our value, then refreshes.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <pthread.h>
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
#include "jsonu.h"
#include "log.h"
#include "timeutil.h"

#define P "DNS provider ovh"
#define OVH_SIGNED_OPTS "application_key/application_secret/consumer_key"
#define OVH_TOKEN_OPT "access_token"
#define OVH_MAX_PATH 1024
#define OVH_MAX_IDS 100

static const struct dns_option_decl opts_decl[] = {
    {"api_endpoint", true},
    {"application_key", false},
    {"application_secret", false},
    {"consumer_key", false},
    {"access_token", false},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

static const struct {
    const char *name, *url;
} endpoints[] = {
    {"ovh-eu", "https://eu.api.ovh.com/1.0"},
    {"ovh-ca", "https://ca.api.ovh.com/1.0"},
    {"ovh-us", "https://api.us.ovhcloud.com/1.0"},
    {"kimsufi-eu", "https://eu.api.kimsufi.com/1.0"},
    {"kimsufi-ca", "https://ca.api.kimsufi.com/1.0"},
    {"soyoustart-eu", "https://eu.api.soyoustart.com/1.0"},
    {"soyoustart-ca", "https://ca.api.soyoustart.com/1.0"},
};

struct ovh {
    struct dns_api api;
    char *ak, *as, *ck; /* signed mode (as, ck secret) */
    char *bearer;       /* "Bearer <access_token>" (secret), or NULL */
    pthread_mutex_t mu; /* guards the clock offset */
    bool have_offset;
    int64_t offset;     /* server time - ac_now(), seconds */
};

static const char *endpoint_url(const char *v)
{
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
        if (strcmp(v, endpoints[i].name) == 0)
            return endpoints[i].url;
    return dns_api_base_ok(v) ? v : NULL;
}

static bool set(const char *v)
{
    return v && *v;
}

static int o_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *ep = dns_opt_get(opts, n, "api_endpoint");
    static const char *const signed_keys[] = {"application_key", "application_secret",
                                              "consumer_key"};

    if (!set(ep) || !endpoint_url(ep)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option api_endpoint: expected ovh-eu, ovh-ca, ovh-us, kimsufi-eu, "
                       "kimsufi-ca, soyoustart-eu, soyoustart-ca or an https:// URL");
        return -1;
    }
    if (set(dns_opt_get(opts, n, "access_token"))) {
        for (size_t i = 0; i < 3; i++)
            if (set(dns_opt_get(opts, n, signed_keys[i]))) {
                ac_error_set(e, AC_ERR_CONFIG,
                             P ": option %s: not with access_token (use either "
                               "access_token or " OVH_SIGNED_OPTS ")",
                             signed_keys[i]);
                return -1;
            }
        if (dns_api_check_secret("ovh", opts, n, "access_token", "must be one line", e) != 0)
            return -1;
    } else {
        for (size_t i = 0; i < 3; i++)
            if (dns_api_check_secret("ovh", opts, n, signed_keys[i],
                                     "required (or access_token instead of " OVH_SIGNED_OPTS ")",
                                     e) != 0)
                return -1;
    }
    return dns_api_validate("ovh", opts, n, e);
}

static void o_destroy(void *state)
{
    struct ovh *s = state;

    if (!s)
        return;
    free(s->ak);
    dns_api_secret_free(s->as);
    dns_api_secret_free(s->ck);
    dns_api_secret_free(s->bearer);
    dns_api_free(&s->api);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int o_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct ovh *s = NULL;
    const char *tok = dns_opt_get(opts, n, "access_token");

    *state = NULL;
    if (o_validate(opts, n, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    if (dns_api_init(&s->api, "ovh", opts, n, endpoint_url(dns_opt_get(opts, n, "api_endpoint")),
                     "option api_endpoint", "https://eu.api.ovh.com/1.0", e) != 0)
        goto fail;
    if (set(tok)) {
        if (!(s->bearer = dns_api_secret_join("Bearer ", tok)))
            goto nomem;
    } else if (dns_api_opt_dup(opts, n, "application_key", &s->ak, e) != 0 ||
               dns_api_opt_dup(opts, n, "application_secret", &s->as, e) != 0 ||
               dns_api_opt_dup(opts, n, "consumer_key", &s->ck, e) != 0) {
        goto fail;
    }
    *state = s;
    return 0;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
fail:
    o_destroy(s);
    return -1;
}

/* The server's current time (GET /auth/time once, then our clock plus the
 * offset). */
static int server_time(struct ovh *s, int64_t *now, struct ac_error *e)
{
    struct dns_api_req rq = {.method = "GET", .path = "/auth/time", .ok_status = 200};
    struct http_response resp;
    char digits[24];
    char *end = NULL;
    long long t;
    int rc = -1;

    pthread_mutex_lock(&s->mu);
    if (s->have_offset) {
        *now = ac_now() + s->offset;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        return -1;
    if (resp.status != 200) {
        dns_http_status_error(&resp, P ": GET /auth/time", NULL, e);
        goto out;
    }
    if (resp.body.len == 0 || resp.body.len >= sizeof(digits)) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": GET /auth/time: not a timestamp");
        goto out;
    }
    memcpy(digits, resp.body.data, resp.body.len);
    digits[resp.body.len] = '\0';
    t = strtoll(digits, &end, 10);
    while (end && (*end == '\n' || *end == '\r' || *end == ' '))
        end++;
    if (end == digits || !end || *end != '\0' || t < 1000000000LL || t > 100000000000LL) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": GET /auth/time: not a timestamp");
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    s->offset = (int64_t)t - ac_now();
    s->have_offset = true;
    *now = (int64_t)t;
    pthread_mutex_unlock(&s->mu);
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

/* "$1$" + hex(SHA-1(AS+CK+method+url+body+ts)) into sig (at least 44 bytes). */
static int sign(const struct ovh *s, const char *method, const char *url, const char *body,
                const char *ts, char *sig, size_t siglen)
{
    struct ac_buf in;
    unsigned char d[20];
    int rc = -1;

    ac_buf_init(&in, DNS_API_MAX_URL + 2 * DNS_API_MAX_SECRET + 65536);
    if (siglen < 44 ||
        ac_buf_printf(&in, "%s+%s+%s+%s+%s+%s", s->as, s->ck, method, url, body, ts) != 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA1, in.data, in.len, d) != 0)
        goto out;
    memcpy(sig, "$1$", 3);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(sig + 3 + 2 * i, 3, "%02x", d[i]);
    rc = 0;
out:
    if (in.data)
        explicit_bzero(in.data, in.len);
    ac_buf_free(&in);
    return rc;
}

/* One attempt of a request, signed now when in signed mode. */
static int send_once(struct ovh *s, const struct dns_api *once, const char *method,
                     const char *path, const char *body, struct http_response *resp,
                     struct ac_error *e)
{
    struct http_header h[4];
    struct dns_api_req rq = {.method = method, .path = path, .headers = h, .json_body = body};
    char url[DNS_API_MAX_URL], ts[24], sig[48];
    int64_t now;

    if (s->bearer) {
        h[rq.header_count++] = (struct http_header){"Authorization", s->bearer};
        return dns_api_send(once, &rq, resp, e);
    }
    if (server_time(s, &now, e) != 0 ||
        dns_api_pathf(once, e, url, sizeof(url), "%s%s", once->base, path) != 0)
        return -1;
    snprintf(ts, sizeof(ts), "%" PRId64, now);
    if (sign(s, method, url, body ? body : "", ts, sig, sizeof(sig)) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    h[rq.header_count++] = (struct http_header){"X-Ovh-Application", s->ak};
    h[rq.header_count++] = (struct http_header){"X-Ovh-Consumer", s->ck};
    h[rq.header_count++] = (struct http_header){"X-Ovh-Timestamp", ts};
    h[rq.header_count++] = (struct http_header){"X-Ovh-Signature", sig};
    return dns_api_send(once, &rq, resp, e);
}

/* Sets e for a failed answer: 401/403, and 400 INVALID_SIGNATURE, name the
 * credentials options. */
static void status_error(const struct ovh *s, const struct http_response *resp,
                         struct ac_error *e)
{
    const char *opts = s->bearer ? OVH_TOKEN_OPT : OVH_SIGNED_OPTS;

    if (resp->status == 400 && resp->body.len > 0 && resp->body.len < 4096) {
        struct ac_error pe;
        json_object *o = jsonu_parse(resp->body.data, resp->body.len, "ovh answer",
                                     AC_ERR_DNS_PROVIDER, &pe);
        const char *code = o ? jsonu_str(o, "errorCode") : NULL;
        bool sigbad = code && strcmp(code, "INVALID_SIGNATURE") == 0;
        json_object_put(o);
        if (sigbad) {
            ac_error_set(e, AC_ERR_DNS_AUTH,
                         P ": request signature refused (HTTP 400 INVALID_SIGNATURE), check "
                           "options application_secret/consumer_key");
            if (e)
                e->http_status = 400;
            return;
        }
    }
    dns_http_status_error(resp, P, opts, e);
}

/* One API call: re-signed on each retry after HTTP 429 (Retry-After, else 1,
 * 2, 4 s; at most a->max_retries). Returns 0 on 2xx (*out the parsed body
 * when out is given and the body is not empty; put it), 1 on 404 when
 * allow_404, -1 on error. */
static int ovh_call(struct ovh *s, const char *method, const char *path, const char *body,
                    bool allow_404, json_object **out, struct ac_error *e)
{
    struct dns_api once = s->api; /* shallow copy: one attempt per send */
    struct http_response resp;
    int rc = -1;

    once.max_retries = 0;
    memset(&resp, 0, sizeof(resp));
    if (out)
        *out = NULL;
    for (int attempt = 0;; attempt++) {
        const char *ra;
        long wait = -1;

        http_response_free(&resp);
        if (send_once(s, &once, method, path, body, &resp, e) != 0)
            goto out;
        if (resp.status != 429)
            break;
        ra = http_header(&resp, "retry-after");
        if (ra)
            wait = ac_time_parse_retry_after(ra, ac_now());
        if (wait < 0)
            wait = 1L << attempt;
        if (attempt >= s->api.max_retries || wait > DNS_API_MAX_WAIT_S)
            break;
        ac_info(NULL, P ": rate limited (HTTP 429), retrying in %ld s", wait);
        if (ac_sleep_ms((int64_t)wait * 1000, ac_cancel_current()) != 0) {
            ac_error_set(e, AC_ERR_CANCELLED, P ": cancelled while waiting to retry");
            goto out;
        }
    }
    if (resp.status == 404 && allow_404) {
        rc = 1;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        status_error(s, &resp, e);
        goto out;
    }
    if (out && resp.body.len > 0) {
        *out = jsonu_parse(resp.body.data, resp.body.len, "ovh answer", AC_ERR_DNS_PROVIDER, e);
        if (!*out)
            goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

static int zone_probe(void *arg, const char *cand, struct ac_error *e)
{
    struct ovh *s = arg;
    char path[OVH_MAX_PATH], *ez = http_escape(cand);
    int got = -1;

    if (!ez) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_pathf(&s->api, e, path, sizeof(path), "/domain/zone/%s", ez) == 0)
        got = ovh_call(s, "GET", path, NULL, true, NULL, e);
    free(ez);
    return got < 0 ? -1 : got == 0;
}

/* The record name (after CNAME), its zone and the subDomain relative to it,
 * and the zone percent-encoded. All new strings. */
static int locate(struct ovh *s, const char *fqdn, char **target, char **ez, char **rel,
                  struct ac_error *e)
{
    const char *zone;

    *target = *ez = *rel = NULL;
    if (dns_api_target(&s->api, fqdn, target, e) != 0 ||
        dns_api_find_zone(&s->api, *target, zone_probe, s, &zone, e) != 0 ||
        dns_api_relative(&s->api, *target, zone, "", rel, e) != 0)
        return -1;
    if (!(*ez = http_escape(zone))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

static int refresh(struct ovh *s, const char *ez, struct ac_error *e)
{
    char path[OVH_MAX_PATH];

    if (dns_api_pathf(&s->api, e, path, sizeof(path), "/domain/zone/%s/refresh", ez) != 0)
        return -1;
    return ovh_call(s, "POST", path, NULL, false, NULL, e);
}

static int o_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct ovh *s = state;
    char *target = NULL, *ez = NULL, *rel = NULL, path[OVH_MAX_PATH];
    json_object *body = NULL;
    int rc = -1;

    if (locate(s, ch->fqdn, &target, &ez, &rel, e) != 0 ||
        dns_api_pathf(&s->api, e, path, sizeof(path), "/domain/zone/%s/record", ez) != 0)
        goto out;
    body = json_object_new_object();
    if (!body || jsonu_add_str(body, "fieldType", "TXT") ||
        jsonu_add_str(body, "subDomain", rel) || jsonu_add_str(body, "target", ch->value) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->api.ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (ovh_call(s, "POST", path, jsonu_string(body), false, NULL, e) != 0 ||
        refresh(s, ez, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(body);
    free(target);
    free(ez);
    free(rel);
    return rc;
}

/* True when record id in zone ez is a TXT at rel whose target is value. */
static int is_ours(struct ovh *s, const char *ez, int64_t id, const char *rel, const char *value,
                   struct ac_error *e)
{
    char path[OVH_MAX_PATH];
    json_object *r = NULL;
    const char *ft, *sd;
    int got, ours;

    if (dns_api_pathf(&s->api, e, path, sizeof(path), "/domain/zone/%s/record/%" PRId64, ez,
                      id) != 0)
        return -1;
    got = ovh_call(s, "GET", path, NULL, true, &r, e);
    if (got != 0) {
        json_object_put(r);
        return got < 0 ? -1 : 0; /* gone meanwhile */
    }
    ft = r ? jsonu_str(r, "fieldType") : NULL;
    sd = r ? jsonu_str(r, "subDomain") : NULL;
    ours = ft && strcmp(ft, "TXT") == 0 && sd && strcasecmp(sd, rel) == 0 &&
           dns_api_txt_is(jsonu_str(r, "target"), value);
    json_object_put(r);
    return ours;
}

static int o_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct ovh *s = state;
    char *target = NULL, *ez = NULL, *rel = NULL, *er = NULL, path[OVH_MAX_PATH];
    json_object *ids = NULL;
    size_t deleted = 0;
    int rc = -1;

    if (locate(s, ch->fqdn, &target, &ez, &rel, e) != 0)
        goto out;
    if (!(er = http_escape(rel))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, path, sizeof(path),
                      "/domain/zone/%s/record?fieldType=TXT&subDomain=%s", ez, er) != 0 ||
        ovh_call(s, "GET", path, NULL, false, &ids, e) != 0)
        goto out;
    if (!ids || !json_object_is_type(ids, json_type_array) ||
        json_object_array_length(ids) > OVH_MAX_IDS) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": record list is not an array of at most %d ids",
                     OVH_MAX_IDS);
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(ids); i++) {
        json_object *v = json_object_array_get_idx(ids, i);
        int64_t id;
        int ours;
        if (!json_object_is_type(v, json_type_int) || (id = json_object_get_int64(v)) <= 0)
            continue;
        ours = is_ours(s, ez, id, rel, ch->value, e);
        if (ours < 0)
            goto out;
        if (!ours)
            continue; /* never delete what is not ours */
        if (dns_api_pathf(&s->api, e, path, sizeof(path), "/domain/zone/%s/record/%" PRId64, ez,
                          id) != 0 ||
            ovh_call(s, "DELETE", path, NULL, true, NULL, e) < 0)
            goto out;
        deleted++;
    }
    if (deleted > 0 && refresh(s, ez, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(ids);
    free(target);
    free(ez);
    free(rel);
    free(er);
    return rc;
}

const struct dns_provider_ops dns_ovh_ops = {
    .name = "ovh",
    .alias = NULL,
    .options = opts_decl,
    .validate = o_validate,
    .create = o_create,
    .present = o_present,
    .cleanup = o_cleanup,
    .destroy = o_destroy,
};
