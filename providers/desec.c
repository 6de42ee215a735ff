/*
 * desec.c - the deSEC DNS provider (https://desec.io/api/v1).
 *
 * Auth: token ("Authorization: Token <token>"). Tests only: the environment
 * variable AUTOCERT_DESEC_BASE_URL replaces the base URL (lego has no option
 * for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: GET /domains/?owns_qname=<fqdn> (fqdn: the name a CNAME on
 * _acme-challenge points to, if any) names the account's domain that owns
 * the record. deSEC manages whole RRsets, so present() reads
 * /domains/<d>/rrsets/<subname>/TXT/ and either POSTs a new RRset holding our
 * value or PATCHes the set with the values read plus ours; cleanup() PATCHes
 * the set with the values read minus ours (an empty list removes the set).
 * Other values are always kept. The TTL is raised to the domain's
 * minimum_ttl (deSEC refuses lower ones); without the ttl option it is 3600.
 * HTTP 429 is retried after Retry-After (dns_api.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "jsonu.h"

#define P "DNS provider desec"
#define DS_DEFAULT_BASE "https://desec.io/api/v1"
#define DS_DEFAULT_TTL 3600
#define DS_MAX_VALUES 256

static const struct dns_option_decl opts_decl[] = {
    {"token", true},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

static int d_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (dns_api_check_secret("desec", opts, n, "token", "must not be empty", e) != 0)
        return -1;
    return dns_api_validate("desec", opts, n, e);
}

static int d_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_api *s = NULL;

    *state = NULL;
    if (d_validate(opts, n, e) != 0 ||
        dns_api_create("desec", opts, n, DNS_API_TEST_URL("AUTOCERT_DESEC_BASE_URL"),
                       "AUTOCERT_DESEC_BASE_URL", DS_DEFAULT_BASE, "Token", "token", &s, e) != 0)
        return -1;
    if (!dns_opt_get(opts, n, "ttl"))
        s->ttl = DS_DEFAULT_TTL;
    *state = s;
    return 0;
}

/* One API call: 0 with *out the parsed body (NULL for an empty one; put it),
 * 1 for a 404 when allow_404, -1 on error. */
static int ds_call(struct dns_api *s, const char *method, const char *path, const char *body,
                   bool allow_404, json_object **out, struct ac_error *e)
{
    struct dns_api_req rq = {.method = method, .path = path, .json_body = body,
                             .not_found_ok = allow_404};

    return dns_api_call(s, &rq, out, e);
}

/* The domain owning fqdn (new string), its subname part and minimum TTL. */
static int find_domain(struct dns_api *s, const char *fqdn0, char **domain, char **sub,
                       int64_t *min_ttl, struct ac_error *e)
{
    char url[DNS_API_MAX_URL], *eq = NULL, *fqdn = NULL;
    json_object *o = NULL, *d;
    const char *name;
    size_t fl, dl;
    int rc = -1;

    *domain = *sub = NULL;
    *min_ttl = 0;
    if (dns_api_target(s, fqdn0, &fqdn, e) != 0)
        goto out;
    fl = strlen(fqdn);
    if (!(eq = http_escape(fqdn)))
        goto nomem;
    if (dns_api_pathf(s, e, url, sizeof url, "/domains/?owns_qname=%s", eq) != 0 ||
        ds_call(s, "GET", url, NULL, false, &o, e) != 0)
        goto out;
    d = o && json_object_is_type(o, json_type_array) && json_object_array_length(o) > 0
            ? json_object_array_get_idx(o, 0) : NULL;
    name = d ? jsonu_str(d, "name") : NULL;
    dl = name ? strlen(name) : 0;
    if (dl == 0 || dl + 1 >= fl || fqdn[fl - dl - 1] != '.' ||
        strcasecmp(fqdn + fl - dl, name) != 0 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != dl) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no domain in this account holds %.200s", fqdn);
        goto out;
    }
    (void)jsonu_int(d, "minimum_ttl", min_ttl);
    *domain = strdup(name);
    *sub = strndup(fqdn, fl - dl - 1);
    if (!*domain || !*sub)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (rc != 0) {
        free(*domain);
        free(*sub);
        *domain = *sub = NULL;
    }
    json_object_put(o);
    free(eq);
    free(fqdn);
    return rc;
}

/* Is the record (zone-file form, a quoted string) the value? */
static bool record_is(const char *r, const char *value)
{
    size_t rl = r ? strlen(r) : 0, vl = strlen(value);

    return rl == vl + 2 && r[0] == '"' && r[rl - 1] == '"' && strncmp(r + 1, value, vl) == 0;
}

/* Index of the value r is among values, or nv. */
static size_t record_in(const char *r, const char *const *values, size_t nv)
{
    size_t k = 0;

    while (k < nv && !record_is(r, values[k]))
        k++;
    return k;
}

/* Adds (add=true) or removes the nv values at fqdn, keeping all others, in
 * one write of the RRset. */
static int ds_change(struct dns_api *s, const char *fqdn, const char *const *values, size_t nv,
                     bool add, struct ac_error *e)
{
    char *dom = NULL, *sub = NULL, *ed = NULL, *es = NULL, url[DNS_API_MAX_URL];
    json_object *set = NULL, *body = NULL, *recs, *keep, *ans = NULL;
    bool seen[DNS_BATCH_MAX] = {false};
    struct ac_buf quoted;
    int64_t min_ttl = 0;
    size_t nrec, nseen = 0;
    int rc = -1, got;

    ac_buf_init(&quoted, 1024);
    if (nv > DNS_BATCH_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, P ": too many values");
        goto out;
    }
    if (find_domain(s, fqdn, &dom, &sub, &min_ttl, e) != 0)
        goto out;
    ed = http_escape(dom);
    es = http_escape(sub);
    if (!ed || !es)
        goto nomem;
    if (dns_api_pathf(s, e, url, sizeof url, "/domains/%s/rrsets/%s/TXT/", ed, es) != 0)
        goto out;
    got = ds_call(s, "GET", url, NULL, true, &set, e);
    if (got < 0)
        goto out;
    body = json_object_new_object();
    keep = json_object_new_array();
    if (!body || !keep || json_object_object_add(body, "records", keep))
        goto nomem;
    recs = got == 0 && set ? jsonu_arr(set, "records") : NULL;
    nrec = recs ? json_object_array_length(recs) : 0;
    if (nrec > DS_MAX_VALUES) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": too many TXT values at %.200s", fqdn);
        goto out;
    }
    for (size_t i = 0; i < nrec; i++) {
        json_object *r = json_object_array_get_idx(recs, i);
        const char *v = json_object_is_type(r, json_type_string) ? json_object_get_string(r) : NULL;
        size_t k;
        if (!v)
            continue;
        k = record_in(v, values, nv);
        if (k < nv) {
            nseen += !seen[k];
            seen[k] = true;
            if (!add)
                continue; /* ours: dropped */
        }
        if (json_object_array_add(keep, json_object_new_string(v)))
            goto nomem;
    }
    if (add ? nseen == nv : nseen == 0) { /* all there already, or all gone */
        rc = 0;
        goto out;
    }
    for (size_t k = 0; add && k < nv; k++) {
        if (seen[k])
            continue;
        ac_buf_reset(&quoted);
        if (ac_buf_printf(&quoted, "\"%s\"", values[k]) != 0 ||
            json_object_array_add(keep, json_object_new_string(quoted.data)))
            goto nomem;
    }
    if (got == 1) { /* no RRset yet: create it */
        int64_t ttl = s->ttl < min_ttl ? min_ttl : s->ttl;
        if (jsonu_add_str(body, "subname", sub) || jsonu_add_str(body, "type", "TXT") ||
            json_object_object_add(body, "ttl", json_object_new_int64(ttl)))
            goto nomem;
        if (dns_api_pathf(s, e, url, sizeof url, "/domains/%s/rrsets/", ed) != 0 ||
            ds_call(s, "POST", url, jsonu_string(body), false, &ans, e) != 0)
            goto out;
    } else if (ds_call(s, "PATCH", url, jsonu_string(body), false, &ans, e) != 0) {
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    json_object_put(ans);
    json_object_put(body);
    json_object_put(set);
    ac_buf_free(&quoted);
    free(ed);
    free(es);
    free(dom);
    free(sub);
    return rc;
}

static int add_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                    struct ac_error *e)
{
    return ds_change(state, fqdn, values, nv, true, e);
}

static int remove_name(void *state, const char *fqdn, const char *const *values, size_t nv,
                       struct ac_error *e)
{
    return ds_change(state, fqdn, values, nv, false, e);
}

const struct dns_provider_ops dns_desec_ops = {
    .name = "desec",
    .alias = NULL,
    .options = opts_decl,
    .validate = d_validate,
    .create = d_create,
    .destroy = dns_api_destroy,
    .add_values = add_name,
    .remove_values = remove_name,
};
