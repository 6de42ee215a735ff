/*
 * vultr.c - the Vultr DNS provider (API v2, https://api.vultr.com/v2).
 *
 * Auth: api_key ("Authorization: Bearer <api_key>"). Tests only: the
 * environment variable AUTOCERT_VULTR_BASE_URL replaces the base URL (lego has
 * no option for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: GET /domains/<candidate> (404: not in the account), walking up from
 * the record's parent name, so the zone is the most specific one the account
 * holds (for the name a CNAME on _acme-challenge points to, if any).
 * present() POSTs /domains/<domain>/records with one TXT record whose
 * data is the quoted value (Vultr adds, never replaces); cleanup() lists
 * /domains/<domain>/records (per_page=500, cursor pages) and DELETEs exactly
 * the TXT records with our name and value. HTTP 429 is retried after
 * Retry-After (dns_api.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "jsonu.h"

#define VU_DEFAULT_BASE "https://api.vultr.com/v2"
#define VU_MAX_PAGES 20

static const struct dns_option_decl opts_decl[] = {
    {"api_key", true},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

static int v_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (dns_api_check_secret("vultr", opts, n, "api_key", "must not be empty", e) != 0)
        return -1;
    return dns_api_validate("vultr", opts, n, e);
}

static int v_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    *state = NULL;
    if (v_validate(opts, n, e) != 0)
        return -1;
    return dns_api_create("vultr", opts, n, DNS_API_TEST_URL("AUTOCERT_VULTR_BASE_URL"),
                          "AUTOCERT_VULTR_BASE_URL", VU_DEFAULT_BASE, "Bearer", "api_key",
                          (struct dns_api **)state, e);
}

static int vu_call(struct dns_api *s, const char *method, const char *path, const char *body,
                   json_object **out, struct ac_error *e)
{
    struct dns_api_req rq = {.method = method, .path = path, .json_body = body};

    return dns_api_call(s, &rq, out, e);
}

static int locate(struct dns_api *s, const struct dns_challenge *ch, struct dns_api_loc *loc,
                  struct ac_error *e)
{
    struct dns_api_path_probe pp = {s, "/domains/"};

    return dns_api_locate(s, ch->fqdn, dns_api_probe_path, &pp, "", loc, e);
}

static int v_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dns_api *s = state;
    struct dns_api_loc loc = {0};
    char path[DNS_API_MAX_URL];
    json_object *body = NULL, *ans = NULL;
    struct ac_buf quoted;
    int rc = -1;

    ac_buf_init(&quoted, 1024);
    if (locate(s, ch, &loc, e) != 0 ||
        dns_api_pathf(s, e, path, sizeof path, "/domains/%s/records", loc.zone_esc) != 0)
        goto out;
    body = json_object_new_object();
    if (!body || ac_buf_printf(&quoted, "\"%s\"", ch->value) != 0 ||
        jsonu_add_str(body, "name", loc.rel) || jsonu_add_str(body, "type", "TXT") ||
        jsonu_add_str(body, "data", quoted.data) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = vu_call(s, "POST", path, jsonu_string(body), &ans, e);
out:
    json_object_put(ans);
    json_object_put(body);
    ac_buf_free(&quoted);
    dns_api_loc_free(&loc);
    return rc;
}

static bool id_ok(const char *id)
{
    return id && *id && strlen(id) < 64 &&
           strspn(id, "0123456789abcdefABCDEF-") == strlen(id);
}

/* Collects the ids of our records from one page into ids; *cursor becomes the
 * next page's cursor (new string) or NULL. */
static int collect(json_object *list, const struct dns_api_loc *loc, const char *value,
                   char **ids, size_t max, size_t *nids, char **cursor)
{
    json_object *recs = list ? jsonu_arr(list, "records") : NULL, *meta, *links;
    const char *next;

    for (size_t i = 0; recs && i < json_object_array_length(recs); i++) {
        json_object *r = json_object_array_get_idx(recs, i);
        const char *type = jsonu_str(r, "type"), *name = jsonu_str(r, "name");
        const char *id = jsonu_str(r, "id");
        if (!id_ok(id) || !type || strcmp(type, "TXT") != 0 || !name ||
            strcasecmp(name, loc->rel) != 0 || !dns_api_txt_is(jsonu_str(r, "data"), value))
            continue; /* never delete what is not ours */
        if (*nids < max && !(ids[(*nids)++] = strdup(id))) {
            (*nids)--;
            return -1;
        }
    }
    meta = list ? jsonu_obj(list, "meta") : NULL;
    links = meta ? jsonu_obj(meta, "links") : NULL;
    next = links ? jsonu_str(links, "next") : NULL;
    *cursor = next && *next && strlen(next) < 512 ? strdup(next) : NULL;
    return next && *next && strlen(next) < 512 && !*cursor ? -1 : 0;
}

static int v_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct dns_api *s = state;
    struct dns_api_loc loc = {0};
    char *cursor = NULL, path[DNS_API_MAX_URL];
    char *ids[64];
    size_t nids = 0;
    int rc = -1;

    if (locate(s, ch, &loc, e) != 0)
        goto out;
    for (int page = 0; page < VU_MAX_PAGES; page++) {
        json_object *list = NULL;
        char *ec = cursor ? http_escape(cursor) : NULL;
        int got;
        if (cursor && !ec)
            goto nomem;
        got = dns_api_pathf(s, e, path, sizeof path, "/domains/%s/records?per_page=500%s%s",
                            loc.zone_esc, ec ? "&cursor=" : "", ec ? ec : "");
        free(ec);
        free(cursor);
        cursor = NULL;
        if (got != 0 || vu_call(s, "GET", path, NULL, &list, e) != 0)
            goto out;
        got = collect(list, &loc, ch->value, ids, sizeof ids / sizeof ids[0], &nids, &cursor);
        json_object_put(list);
        if (got != 0)
            goto nomem;
        if (!cursor)
            break;
    }
    for (size_t i = 0; i < nids; i++) {
        json_object *ans = NULL;
        if (dns_api_pathf(s, e, path, sizeof path, "/domains/%s/records/%s", loc.zone_esc,
                          ids[i]) != 0 ||
            vu_call(s, "DELETE", path, NULL, &ans, e) != 0)
            goto out;
        json_object_put(ans);
    }
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(cursor);
    dns_api_loc_free(&loc);
    return rc;
}

const struct dns_provider_ops dns_vultr_ops = {
    .name = "vultr",
    .alias = NULL,
    .options = opts_decl,
    .validate = v_validate,
    .create = v_create,
    .present = v_present,
    .cleanup = v_cleanup,
    .destroy = dns_api_destroy,
};
