/*
 * porkbun.c - the Porkbun DNS provider (API v3, https://api.porkbun.com/api/json/v3).
 *
 * Auth: api_key + secret_api_key, sent as "apikey"/"secretapikey" in the JSON
 * body of every request (all calls are POST). Tests only: the environment
 * variable AUTOCERT_PORKBUN_BASE_URL replaces the base URL (lego has no option
 * for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: POST /domain/listAll (pages of 1000, "start"), the longest domain of
 * the account that is a suffix of the record name. present() POSTs
 * /dns/create/<domain> with one TXT record (Porkbun adds, never replaces);
 * cleanup() lists /dns/retrieveByNameType/<domain>/TXT/<subdomain> and POSTs
 * /dns/delete/<domain>/<id> for exactly the records whose content is our
 * value. HTTP 429 is retried after Retry-After (dns_api.h). The record name is
 * the one a CNAME on _acme-challenge points to, if any. Porkbun raises TTLs below 600 to its minimum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "jsonu.h"

#define P "DNS provider porkbun"
#define PB_DEFAULT_BASE "https://api.porkbun.com/api/json/v3"
#define PB_AUTH_OPTS "api_key and secret_api_key"
#define PB_MAX_PAGES 20

static const struct dns_option_decl opts_decl[] = {
    {"api_key", true},
    {"secret_api_key", true},
    DNS_API_OPTION_DECLS,
    {NULL, false},
};

struct pb {
    struct dns_api api;
    char *key, *secret;
};

static int p_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    if (dns_api_check_secret("porkbun", opts, n, "api_key", "must not be empty", e) != 0 ||
        dns_api_check_secret("porkbun", opts, n, "secret_api_key", "must not be empty", e) != 0)
        return -1;
    return dns_api_validate("porkbun", opts, n, e);
}

static void p_destroy(void *state)
{
    struct pb *s = state;

    if (!s)
        return;
    dns_api_secret_free(s->key);
    dns_api_secret_free(s->secret);
    dns_api_free(&s->api);
    free(s);
}

static int p_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct pb *s = NULL;

    *state = NULL;
    if (p_validate(opts, n, e) != 0)
        return -1;
    if (!(s = calloc(1, sizeof(*s)))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_init(&s->api, "porkbun", opts, n, DNS_API_TEST_URL("AUTOCERT_PORKBUN_BASE_URL"),
                     "AUTOCERT_PORKBUN_BASE_URL", PB_DEFAULT_BASE, e) != 0 ||
        dns_api_opt_dup(opts, n, "api_key", &s->key, e) != 0 ||
        dns_api_opt_dup(opts, n, "secret_api_key", &s->secret, e) != 0) {
        p_destroy(s);
        return -1;
    }
    s->api.auth_options = PB_AUTH_OPTS;
    *state = s;
    return 0;
}

/* Judges a Porkbun answer: 0 and *out (status SUCCESS), else -1 with e. */
static int pb_judge(struct pb *s, const struct http_response *resp, json_object **out,
                    struct ac_error *e)
{
    const char *msg;

    if (resp->status == 401 || resp->status == 403 || resp->status == 429) {
        dns_http_status_error(resp, P, PB_AUTH_OPTS, e);
        return -1;
    }
    *out = jsonu_parse(resp->body.data ? resp->body.data : "", resp->body.len, "Porkbun answer",
                       AC_ERR_DNS_PROVIDER, e);
    if (resp->status >= 200 && resp->status <= 299 && *out && jsonu_str(*out, "status") &&
        strcmp(jsonu_str(*out, "status"), "SUCCESS") == 0)
        return 0;
    msg = *out ? jsonu_str(*out, "message") : NULL;
    if (msg && strcasestr(msg, "API key")) { /* answered 400 by older builds */
        ac_error_set(e, AC_ERR_DNS_AUTH,
                     P ": authentication failed (HTTP %ld): check the options " PB_AUTH_OPTS,
                     resp->status);
        e->http_status = (int)resp->status;
    } else if (resp->status >= 200 && resp->status <= 299 && *out) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": the API reported failure: %.160s",
                     msg ? msg : "(no message)");
    } else {
        ac_error_clear(e);
        dns_http_status_error(resp, s->api.what, PB_AUTH_OPTS, e);
    }
    json_object_put(*out);
    *out = NULL;
    return -1;
}

/* POSTs `fields` (may be NULL; the credentials are added to a copy) to
 * base+path. On success *out is the parsed answer with status SUCCESS (put
 * it). */
static int pb_call(struct pb *s, const char *path, json_object *fields, json_object **out,
                   struct ac_error *e)
{
    struct http_response resp;
    json_object *body = fields ? json_object_get(fields) : json_object_new_object();
    struct dns_api_req rq = {.method = "POST", .path = path};
    char *text = NULL;
    int rc = -1;

    memset(&resp, 0, sizeof(resp));
    *out = NULL;
    if (!body || jsonu_add_str(body, "secretapikey", s->secret) ||
        jsonu_add_str(body, "apikey", s->key) || !(text = strdup(jsonu_string(body)))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* the credentials are not left in the caller's object */
    json_object_object_del(body, "secretapikey");
    json_object_object_del(body, "apikey");
    rq.json_body = text;
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        goto out;
    rc = pb_judge(s, &resp, out, e);
out:
    http_response_free(&resp);
    dns_api_secret_free(text);
    json_object_put(body);
    return rc;
}

/* The account's domain holding fqdn (new string) and the subdomain part. */
static int find_domain(struct pb *s, const char *fqdn, char **domain, char **sub,
                       struct ac_error *e)
{
    size_t fl = strlen(fqdn), best = 0;
    int rc = -1;

    *domain = *sub = NULL;
    for (int page = 0; page < PB_MAX_PAGES; page++) {
        json_object *f = json_object_new_object(), *o = NULL, *ds;
        char start[32];
        size_t cnt;

        snprintf(start, sizeof(start), "%d", page * 1000);
        if (!f || jsonu_add_str(f, "start", start) || jsonu_add_str(f, "includeLabels", "no")) {
            json_object_put(f);
            goto nomem;
        }
        if (pb_call(s, "/domain/listAll", f, &o, e) != 0) {
            json_object_put(f);
            goto out;
        }
        json_object_put(f);
        ds = jsonu_arr(o, "domains");
        cnt = ds ? json_object_array_length(ds) : 0;
        for (size_t i = 0; i < cnt; i++) {
            const char *d = jsonu_str(json_object_array_get_idx(ds, i), "domain");
            size_t dl = d ? strlen(d) : 0;
            if (dl == 0 || dl >= 254 || dl + 1 >= fl || dl <= best || !dns_api_in_zone(fqdn, d) ||
                strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != dl)
                continue;
            free(*domain);
            if (!(*domain = strdup(d))) {
                json_object_put(o);
                goto nomem;
            }
            best = dl;
        }
        json_object_put(o);
        if (cnt < 1000)
            break;
    }
    if (!*domain) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no domain in this account holds %.200s", fqdn);
        goto out;
    }
    if (!(*sub = strndup(fqdn, fl - best - 1)))
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (rc != 0) {
        free(*domain);
        *domain = NULL;
    }
    return rc;
}

static int p_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct pb *s = state;
    char *dom = NULL, *sub = NULL, *ed = NULL, *fqdn = NULL, path[DNS_API_MAX_URL], ttl[32];
    json_object *f = NULL, *ans = NULL;
    int rc = -1;

    if (dns_api_target(&s->api, ch->fqdn, &fqdn, e) != 0 ||
        find_domain(s, fqdn, &dom, &sub, e) != 0)
        goto out;
    snprintf(ttl, sizeof(ttl), "%lld", (long long)s->api.ttl);
    f = json_object_new_object();
    ed = http_escape(dom);
    if (!f || !ed || jsonu_add_str(f, "name", sub) || jsonu_add_str(f, "type", "TXT") ||
        jsonu_add_str(f, "content", ch->value) || jsonu_add_str(f, "ttl", ttl)) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, path, sizeof(path), "/dns/create/%s", ed) != 0 ||
        pb_call(s, path, f, &ans, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(ans);
    json_object_put(f);
    free(fqdn);
    free(ed);
    free(dom);
    free(sub);
    return rc;
}

static bool id_ok(const char *id)
{
    return id && *id && strlen(id) < 64 && strspn(id, "0123456789") == strlen(id);
}

static int p_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct pb *s = state;
    char *dom = NULL, *sub = NULL, *ed = NULL, *es = NULL, *fqdn = NULL, path[DNS_API_MAX_URL];
    json_object *list = NULL, *recs;
    int rc = -1;

    if (dns_api_target(&s->api, ch->fqdn, &fqdn, e) != 0 ||
        find_domain(s, fqdn, &dom, &sub, e) != 0)
        goto out;
    ed = http_escape(dom);
    es = http_escape(sub);
    if (!ed || !es) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, path, sizeof(path), "/dns/retrieveByNameType/%s/TXT/%s", ed,
                      es) != 0 ||
        pb_call(s, path, NULL, &list, e) != 0)
        goto out;
    recs = jsonu_arr(list, "records");
    for (size_t i = 0; recs && i < json_object_array_length(recs); i++) {
        json_object *r = json_object_array_get_idx(recs, i), *ans = NULL, *idv;
        const char *name = jsonu_str(r, "name"), *content = jsonu_str(r, "content");
        const char *type = jsonu_str(r, "type"), *id;
        char idbuf[32];

        if (!json_object_object_get_ex(r, "id", &idv))
            continue;
        if (json_object_is_type(idv, json_type_int)) {
            snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_object_get_int64(idv));
            id = idbuf;
        } else {
            id = json_object_is_type(idv, json_type_string) ? json_object_get_string(idv) : NULL;
        }
        if (!id_ok(id) || !name || strcasecmp(name, fqdn) != 0 || !type ||
            strcmp(type, "TXT") != 0 || !content || strcmp(content, ch->value) != 0)
            continue; /* never delete what is not ours */
        if (dns_api_pathf(&s->api, e, path, sizeof(path), "/dns/delete/%s/%s", ed, id) != 0 ||
            pb_call(s, path, NULL, &ans, e) != 0)
            goto out;
        json_object_put(ans);
    }
    rc = 0;
out:
    json_object_put(list);
    free(fqdn);
    free(ed);
    free(es);
    free(dom);
    free(sub);
    return rc;
}

const struct dns_provider_ops dns_porkbun_ops = {
    .name = "porkbun",
    .alias = NULL,
    .options = opts_decl,
    .validate = p_validate,
    .create = p_create,
    .present = p_present,
    .cleanup = p_cleanup,
    .destroy = p_destroy,
};
