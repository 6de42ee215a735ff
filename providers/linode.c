/*
 * linode.c - the Linode (Akamai) DNS provider (API v4, https://api.linode.com/v4).
 *
 * Auth: token ("Authorization: Bearer <token>"). Tests only: the environment
 * variable AUTOCERT_LINODE_BASE_URL replaces the base URL (lego has no option
 * for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: GET /domains with "X-Filter: {"domain": <candidate>}", walking up from
 * the record's parent name, so the zone is the most specific one the account
 * holds (for the name a CNAME on _acme-challenge points to, if any).
 * present() POSTs /domains/<id>/records with one TXT record (Linode
 * adds, never replaces); cleanup() lists /domains/<id>/records (pages of 500)
 * and DELETEs exactly the TXT records with our name and value. HTTP 429 is
 * retried after Retry-After (dns_api.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "jsonu.h"

#define LN_DEFAULT_BASE "https://api.linode.com/v4"
#define LN_MAX_PAGES 20

static const struct dns_option_decl opts_decl[] = {
    {"token", true},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

static int l_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (dns_api_check_secret("linode", opts, n, "token", "must not be empty", e) != 0)
        return -1;
    return dns_api_validate("linode", opts, n, e);
}

static int l_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    *state = NULL;
    if (l_validate(opts, n, e) != 0)
        return -1;
    return dns_api_create("linode", opts, n, DNS_API_TEST_URL("AUTOCERT_LINODE_BASE_URL"),
                          "AUTOCERT_LINODE_BASE_URL", LN_DEFAULT_BASE, "Bearer", "token",
                          (struct dns_api **)state, e);
}

/* One API call; `filter` is an X-Filter JSON or NULL. On success *out is the
 * parsed body (put it). */
static int ln_call(struct dns_api *s, const char *method, const char *path, const char *body,
                   const char *filter, json_object **out, struct ac_error *e)
{
    struct http_header h = {"X-Filter", filter};
    struct dns_api_req rq = {.method = method, .path = path, .headers = &h,
                             .header_count = filter ? 1 : 0, .json_body = body};

    return dns_api_call(s, &rq, out, e);
}

struct probe_arg {
    struct dns_api *s;
    int64_t id;
};

/* Is cand a domain of the account? GET /domains with an X-Filter. */
static int probe(void *arg, const char *cand, struct ac_error *e)
{
    struct probe_arg *p = arg;
    json_object *f = json_object_new_object(), *o = NULL, *data, *d;
    int rc = -1;

    if (!f || jsonu_add_str(f, "domain", cand)) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (ln_call(p->s, "GET", "/domains", NULL, jsonu_string(f), &o, e) != 0)
        goto out;
    data = jsonu_arr(o, "data");
    d = data && json_object_array_length(data) > 0 ? json_object_array_get_idx(data, 0) : NULL;
    rc = d && jsonu_int(d, "id", &p->id) == 0 && p->id > 0 && jsonu_str(d, "domain") &&
         strcasecmp(jsonu_str(d, "domain"), cand) == 0;
out:
    json_object_put(f);
    json_object_put(o);
    return rc;
}

/* The id of the most specific account domain holding the record's real
 * name, and the record name relative to it (new string). */
static int find_domain(struct dns_api *s, const char *fqdn, int64_t *id, char **rel,
                       struct ac_error *e)
{
    struct probe_arg p = {s, 0};
    struct dns_api_loc loc;

    *rel = NULL;
    if (dns_api_locate(s, fqdn, probe, &p, "", &loc, e) != 0)
        return -1;
    *id = p.id;
    *rel = loc.rel;
    loc.rel = NULL;
    dns_api_loc_free(&loc);
    return 0;
}

static int l_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dns_api *s = state;
    char *rel = NULL, url[DNS_API_MAX_URL];
    json_object *body = NULL, *ans = NULL;
    int64_t did;
    int rc = -1;

    if (find_domain(s, ch->fqdn, &did, &rel, e) != 0)
        goto out;
    body = json_object_new_object();
    if (!body || jsonu_add_str(body, "type", "TXT") || jsonu_add_str(body, "name", rel) ||
        jsonu_add_str(body, "target", ch->value) ||
        json_object_object_add(body, "ttl_sec", json_object_new_int64(s->ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(s, e, url, sizeof(url), "/domains/%lld/records", (long long)did) != 0 ||
        ln_call(s, "POST", url, jsonu_string(body), NULL, &ans, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(ans);
    json_object_put(body);
    free(rel);
    return rc;
}

static int l_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dns_api *s = state;
    char *rel = NULL, url[DNS_API_MAX_URL];
    int64_t did, pages = 1, ids[64];
    size_t nids = 0;
    int rc = -1;

    if (find_domain(s, ch->fqdn, &did, &rel, e) != 0)
        goto out;
    for (int64_t page = 1; page <= pages && page <= LN_MAX_PAGES; page++) {
        json_object *list = NULL, *data;
        if (dns_api_pathf(s, e, url, sizeof(url), "/domains/%lld/records?page=%lld&page_size=500",
                          (long long)did, (long long)page) != 0 ||
            ln_call(s, "GET", url, NULL, NULL, &list, e) != 0)
            goto out;
        if (jsonu_int(list, "pages", &pages) != 0)
            pages = 1;
        data = jsonu_arr(list, "data");
        for (size_t i = 0; data && i < json_object_array_length(data); i++) {
            json_object *r = json_object_array_get_idx(data, i);
            const char *type = jsonu_str(r, "type"), *name = jsonu_str(r, "name");
            const char *target = jsonu_str(r, "target");
            int64_t rid;
            if (jsonu_int(r, "id", &rid) != 0 || rid <= 0 || !type || strcmp(type, "TXT") != 0 ||
                !name || strcasecmp(name, rel) != 0 || !dns_api_txt_is(target, ch->value))
                continue; /* never delete what is not ours */
            if (nids < sizeof(ids) / sizeof(ids[0]))
                ids[nids++] = rid;
        }
        json_object_put(list);
    }
    for (size_t i = 0; i < nids; i++) {
        json_object *ans = NULL;
        if (dns_api_pathf(s, e, url, sizeof(url), "/domains/%lld/records/%lld", (long long)did,
                          (long long)ids[i]) != 0 ||
            ln_call(s, "DELETE", url, NULL, NULL, &ans, e) != 0)
            goto out;
        json_object_put(ans);
    }
    rc = 0;
out:
    free(rel);
    return rc;
}

const struct dns_provider_ops dns_linode_ops = {
    .name = "linode",
    .alias = NULL,
    .options = opts_decl,
    .validate = l_validate,
    .create = l_create,
    .present = l_present,
    .cleanup = l_cleanup,
    .destroy = dns_api_destroy,
};
