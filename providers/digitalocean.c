/*
 * digitalocean.c - the DigitalOcean DNS provider (API v2, domain records).
 *
 * Auth: auth_token ("Authorization: Bearer"). base_url overrides
 * https://api.digitalocean.com (lego's DO_API_URL).
 *
 * Zone: GET /v2/domains/<candidate>, walking up from the record's parent name
 * (404: not a domain of this account), so the zone is the most specific one.
 * The record name is the one a CNAME on _acme-challenge points to, if any
 * (dns_api_target). present() POSTs one TXT record /v2/domains/<zone>/records
 * with the name relative to the zone (records are added, never replaced);
 * cleanup() lists GET /v2/domains/<zone>/records?type=TXT&name=<fqdn> and
 * DELETEs exactly the records whose data is our value. HTTP 429 is retried
 * after Retry-After (dns_api.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "jsonu.h"

#define DO_DEFAULT_BASE "https://api.digitalocean.com"

static const struct dns_option_decl opts_decl[] = {
    {"auth_token", true}, {"base_url", false}, DNS_API_OPTION_DECLS, {NULL, false},
};

static int d_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (dns_api_check_secret("digitalocean", opts, n, "auth_token", "required (an API token)",
                             e) != 0 ||
        dns_api_check_base("digitalocean", "option base_url", dns_opt_get(opts, n, "base_url"),
                           e) != 0)
        return -1;
    return dns_api_validate("digitalocean", opts, n, e);
}

static int d_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    *state = NULL;
    if (d_validate(opts, n, e) != 0)
        return -1;
    return dns_api_create("digitalocean", opts, n, dns_opt_get(opts, n, "base_url"),
                          "option base_url", DO_DEFAULT_BASE, "Bearer", "auth_token",
                          (struct dns_api **)state, e);
}

/* One call; see dns_api_call. */
static int do_call(struct dns_api *a, const char *method, const char *path, const char *body,
                   long ok_status, json_object **out, struct ac_error *e)
{
    struct dns_api_req rq = {.method = method, .path = path, .json_body = body,
                             .ok_status = ok_status};

    return dns_api_call(a, &rq, out, e);
}

static int locate(struct dns_api *s, const struct dns_challenge *ch, struct dns_api_loc *loc,
                  struct ac_error *e)
{
    struct dns_api_path_probe pp = {s, "/v2/domains/"};

    return dns_api_locate(s, ch->fqdn, dns_api_probe_path, &pp, "@", loc, e);
}

static int d_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dns_api *s = state;
    struct dns_api_loc loc = {0};
    char path[DNS_API_MAX_URL];
    json_object *body = NULL;
    int rc = -1;

    if (locate(s, ch, &loc, e) != 0 ||
        dns_api_pathf(s, e, path, sizeof path, "/v2/domains/%s/records", loc.zone_esc) != 0)
        goto out;
    body = json_object_new_object();
    if (!body || jsonu_add_str(body, "type", "TXT") || jsonu_add_str(body, "name", loc.rel) ||
        jsonu_add_str(body, "data", ch->value) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = do_call(s, "POST", path, jsonu_string(body), 201, NULL, e);
out:
    json_object_put(body);
    dns_api_loc_free(&loc);
    return rc;
}

static int d_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dns_api *s = state;
    struct dns_api_loc loc = {0};
    char path[DNS_API_MAX_URL], *en = NULL;
    json_object *list = NULL, *recs;
    int rc = -1;

    if (locate(s, ch, &loc, e) != 0)
        goto out;
    if (!(en = http_escape(loc.fqdn))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(s, e, path, sizeof path,
                      "/v2/domains/%s/records?type=TXT&name=%s&per_page=200", loc.zone_esc,
                      en) != 0 ||
        do_call(s, "GET", path, NULL, 200, &list, e) != 0)
        goto out;
    recs = jsonu_arr(list, "domain_records");
    for (size_t i = 0; recs && i < json_object_array_length(recs); i++) {
        json_object *r = json_object_array_get_idx(recs, i);
        const char *type = jsonu_str(r, "type"), *name = jsonu_str(r, "name");
        int64_t id;
        if (!type || strcmp(type, "TXT") != 0 || !dns_api_txt_is(jsonu_str(r, "data"), ch->value) ||
            !name || (strcasecmp(name, loc.fqdn) != 0 && strcasecmp(name, loc.rel) != 0) ||
            jsonu_int(r, "id", &id) != 0 || id <= 0)
            continue; /* never delete what is not ours */
        if (dns_api_pathf(s, e, path, sizeof path, "/v2/domains/%s/records/%" PRId64,
                          loc.zone_esc, id) != 0 ||
            do_call(s, "DELETE", path, NULL, 204, NULL, e) != 0)
            goto out;
    }
    rc = 0;
out:
    json_object_put(list);
    free(en);
    dns_api_loc_free(&loc);
    return rc;
}

const struct dns_provider_ops dns_digitalocean_ops = {
    .name = "digitalocean",
    .alias = NULL,
    .options = opts_decl,
    .validate = d_validate,
    .create = d_create,
    .present = d_present,
    .cleanup = d_cleanup,
    .destroy = dns_api_destroy,
};
