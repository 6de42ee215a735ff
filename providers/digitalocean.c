/*
 * digitalocean.c - the DigitalOcean DNS provider (API v2, domain records).
 *
 * Auth: auth_token ("Authorization: Bearer"). base_url overrides
 * https://api.digitalocean.com (lego's DO_API_URL).
 *
 * Zone: GET /v2/domains/<candidate>, walking up from the record's parent name
 * (404: not a domain of this account), so the zone is the most specific one.
 * present() POSTs one TXT record /v2/domains/<zone>/records with the name
 * relative to the zone (records are added, never replaced); cleanup() lists
 * GET /v2/domains/<zone>/records?type=TXT&name=<fqdn> and DELETEs exactly the
 * records whose data is our value. HTTP 429 is retried after Retry-After (at
 * most 3 retries, each wait at most 60 s).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "dns_common.h"
#include "dns_retry.h"
#include "http.h"
#include "jsonu.h"

#define P "DNS provider digitalocean"
#define DO_DEFAULT_BASE "https://api.digitalocean.com"
#define DO_MAX_RETRIES 3
#define DO_MAX_URL 2048
#define DO_AUTH_OPT "auth_token"

static const struct dns_option_decl opts_decl[] = {
    {"auth_token", true}, {"base_url", false}, {NULL, false},
};

struct dostate {
    char *auth; /* "Bearer <token>" (secret) */
    char *base;
    int64_t ttl, timeout_ms;
};

static int d_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *tok = dns_opt_get(opts, n, "auth_token");
    const char *base = dns_opt_get(opts, n, "base_url");

    if (!tok || !*tok || strlen(tok) > 512 || strpbrk(tok, "\r\n")) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option auth_token: required (an API token)");
        return -1;
    }
    if (base && strncmp(base, "https://", 8) != 0 && strncmp(base, "http://127.", 11) != 0 &&
        strncmp(base, "http://localhost", 16) != 0 && strncmp(base, "http://[::1]", 12) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option base_url: must be an https:// URL");
        return -1;
    }
    return 0;
}

static void state_free(struct dostate *s)
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

static int d_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct dostate *s = NULL;
    const char *base = dns_opt_get(opts, n, "base_url");
    const char *tok = dns_opt_get(opts, n, "auth_token");
    size_t bl;

    *state = NULL;
    if (d_validate(opts, n, e) != 0 || dns_settings_parse("digitalocean", opts, n, &st, e) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl;
    s->timeout_ms = st.http_timeout_ms;
    s->base = strdup(base && *base ? base : DO_DEFAULT_BASE);
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

/* One call. want_status: the success status (200/201/204). On success and
 * out != NULL, *out is the parsed body (put it). not_found (may be NULL) is
 * set instead of failing on 404. */
static int do_call(struct dostate *s, const char *method, const char *url, const char *body,
                   long want_status, json_object **out, bool *not_found, struct ac_error *e)
{
    struct http_header h = {"Authorization", s->auth};
    struct http_response resp;
    int rc = -1;

    if (out)
        *out = NULL;
    if (not_found)
        *not_found = false;
    if (dns_http_retry(P, method, url, body, &h, 1, s->timeout_ms, DO_MAX_RETRIES, &resp, e) != 0)
        return -1;
    if (resp.status == 404 && not_found) {
        *not_found = true;
        rc = 0;
        goto out;
    }
    if (resp.status != want_status) {
        dns_http_status_error(&resp, P, DO_AUTH_OPT, e);
        goto out;
    }
    if (out) {
        *out = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len,
                           "DigitalOcean answer", AC_ERR_DNS_PROVIDER, e);
        if (!*out)
            goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

/* Finds the account's most specific domain holding fqdn; *zone points into
 * fqdn. */
static int find_zone(struct dostate *s, const char *fqdn, const char **zone, struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[DO_MAX_URL];

    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        char *esc = http_escape(cand + 1);
        json_object *o = NULL;
        bool nf;
        if (!esc) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            return -1;
        }
        snprintf(url, sizeof(url), "%s/v2/domains/%s", s->base, esc);
        free(esc);
        if (do_call(s, "GET", url, NULL, 200, &o, &nf, e) != 0)
            return -1;
        json_object_put(o);
        if (!nf) {
            *zone = cand + 1;
            return 0;
        }
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no domain in this account holds %.200s", fqdn);
    return -1;
}

static int d_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dostate *s = state;
    const char *zone;
    char url[DO_MAX_URL], *rel = NULL, *ez = NULL;
    json_object *body = NULL, *ans = NULL;
    size_t rl;
    int rc = -1;

    if (find_zone(s, ch->fqdn, &zone, e) != 0)
        goto out;
    rl = (size_t)(zone - ch->fqdn) - 1; /* without ".<zone>" */
    rel = strndup(ch->fqdn, rl);
    ez = http_escape(zone);
    body = json_object_new_object();
    if (!rel || !ez || !body || jsonu_add_str(body, "type", "TXT") ||
        jsonu_add_str(body, "name", rel) || jsonu_add_str(body, "data", ch->value) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/v2/domains/%s/records", s->base, ez);
    if (do_call(s, "POST", url, jsonu_string(body), 201, &ans, NULL, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(ans);
    json_object_put(body);
    free(rel);
    free(ez);
    return rc;
}

static int d_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dostate *s = state;
    const char *zone;
    char url[DO_MAX_URL], *ez = NULL, *en = NULL;
    json_object *list = NULL, *recs;
    int rc = -1;

    if (find_zone(s, ch->fqdn, &zone, e) != 0)
        goto out;
    ez = http_escape(zone);
    en = http_escape(ch->fqdn);
    if (!ez || !en) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/v2/domains/%s/records?type=TXT&name=%s&per_page=200", s->base,
             ez, en);
    if (do_call(s, "GET", url, NULL, 200, &list, NULL, e) != 0)
        goto out;
    recs = jsonu_arr(list, "domain_records");
    for (size_t i = 0; recs && i < json_object_array_length(recs); i++) {
        json_object *r = json_object_array_get_idx(recs, i);
        const char *type = jsonu_str(r, "type"), *data = jsonu_str(r, "data");
        const char *name = jsonu_str(r, "name");
        size_t rl = (size_t)(zone - ch->fqdn) - 1;
        int64_t id;
        if (!type || strcmp(type, "TXT") != 0 || !data || strcmp(data, ch->value) != 0 || !name ||
            !(strcasecmp(name, ch->fqdn) == 0 ||
              (strlen(name) == rl && strncasecmp(name, ch->fqdn, rl) == 0)) ||
            jsonu_int(r, "id", &id) != 0 || id <= 0)
            continue; /* never delete what is not ours */
        snprintf(url, sizeof(url), "%s/v2/domains/%s/records/%" PRId64, s->base, ez, id);
        if (do_call(s, "DELETE", url, NULL, 204, NULL, NULL, e) != 0)
            goto out;
    }
    rc = 0;
out:
    json_object_put(list);
    free(ez);
    free(en);
    return rc;
}

static void d_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_digitalocean_ops = {
    .name = "digitalocean",
    .alias = NULL,
    .options = opts_decl,
    .validate = d_validate,
    .create = d_create,
    .present = d_present,
    .cleanup = d_cleanup,
    .destroy = d_destroy,
};
