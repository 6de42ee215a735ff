/*
 * linode.c - the Linode (Akamai) DNS provider (API v4, https://api.linode.com/v4).
 *
 * Auth: token ("Authorization: Bearer <token>"). Tests only: the environment
 * variable AUTOCERT_LINODE_BASE_URL replaces the base URL (lego has no option
 * for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: GET /domains with "X-Filter: {"domain": <candidate>}", walking up from
 * the record's parent name, so the zone is the most specific one the account
 * holds. present() POSTs /domains/<id>/records with one TXT record (Linode
 * adds, never replaces); cleanup() lists /domains/<id>/records (pages of 500)
 * and DELETEs exactly the TXT records with our name and value. HTTP 429 is
 * retried after Retry-After (at most 3 retries, each wait at most 60 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "dns.h"
#include "dns_common.h"
#include "http.h"
#include "jsonu.h"
#include "log.h"
#include "timeutil.h"

#define P "DNS provider linode"
#define LN_DEFAULT_BASE "https://api.linode.com/v4"
#define LN_MAX_RETRIES 3
#define LN_MAX_WAIT_S 60
#define LN_MAX_URL 2048
#define LN_MAX_PAGES 20

static const struct dns_option_decl opts_decl[] = {
    {"token", true},
    {NULL, false},
};

struct ln {
    char *token, *base;
    int64_t ttl;
    long timeout_ms;
};

static bool base_ok(const char *b)
{
    return strncmp(b, "https://", 8) == 0 || strncmp(b, "http://127.", 11) == 0 ||
           strncmp(b, "http://localhost", 16) == 0 || strncmp(b, "http://[::1]", 12) == 0;
}

static int l_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *t = dns_opt_get(opts, n, "token");

    if (!t || !*t) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option token: must not be empty");
        return -1;
    }
    return 0;
}

static void state_free(struct ln *s)
{
    if (!s)
        return;
    if (s->token) {
        explicit_bzero(s->token, strlen(s->token));
        free(s->token);
    }
    free(s->base);
    free(s);
}

static int l_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct ln *s = NULL;
    const char *base = getenv("AUTOCERT_LINODE_BASE_URL");
    size_t bl;

    *state = NULL;
    if (l_validate(opts, n, e) != 0 || dns_settings_parse("linode", opts, n, &st, e) != 0)
        return -1;
    if (base && *base && !base_ok(base)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": AUTOCERT_LINODE_BASE_URL must be an https:// URL");
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl;
    s->timeout_ms = (long)st.http_timeout_ms;
    s->token = strdup(dns_opt_get(opts, n, "token"));
    s->base = strdup(base && *base ? base : LN_DEFAULT_BASE);
    if (!s->token || !s->base)
        goto nomem;
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

static void sleep_s(long s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One API call with 429 retries; `filter` is an X-Filter JSON or NULL. On
 * success *out is the parsed body (put it). */
static int ln_call(struct ln *s, const char *method, const char *url, const char *body,
                   const char *filter, json_object **out, struct ac_error *e)
{
    struct http_client_opts co = {.timeout_ms = s->timeout_ms};
    struct http_client *c = NULL;
    struct http_response resp;
    struct http_header h[3];
    struct ac_buf auth;
    size_t hn = 0;
    int rc = -1, attempt;

    memset(&resp, 0, sizeof(resp));
    ac_buf_init(&auth, 4096);
    *out = NULL;
    if (ac_buf_printf(&auth, "Bearer %s", s->token) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    h[hn++] = (struct http_header){"Authorization", auth.data};
    if (body)
        h[hn++] = (struct http_header){"Content-Type", "application/json"};
    if (filter)
        h[hn++] = (struct http_header){"X-Filter", filter};
    if (http_client_new(&co, &c, e) != 0)
        goto out;
    for (attempt = 0;; attempt++) {
        struct http_request rq = {.method = method, .url = url, .headers = h, .header_count = hn,
                                  .body = body, .body_len = body ? strlen(body) : 0};
        const char *ra;
        long wait;

        http_response_free(&resp);
        memset(&resp, 0, sizeof(resp));
        if (http_do(c, &rq, &resp, e) != 0) {
            ac_error_prefix(e, P);
            goto out;
        }
        if (resp.status != 429)
            break;
        ra = http_header(&resp, "retry-after");
        wait = ra ? ac_time_parse_retry_after(ra, ac_now()) : -1;
        if (wait < 0)
            wait = 1L << attempt;
        if (attempt >= LN_MAX_RETRIES || wait > LN_MAX_WAIT_S) {
            dns_http_status_error(&resp, P, NULL, e);
            goto out;
        }
        ac_info(NULL, "linode: rate limited (HTTP 429), retrying in %ld s", wait);
        sleep_s(wait);
    }
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, P, "token", e);
        goto out;
    }
    *out = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len, "Linode answer",
                       AC_ERR_DNS_PROVIDER, e);
    if (!*out)
        goto out;
    rc = 0;
out:
    http_response_free(&resp);
    http_client_free(c);
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    ac_buf_free(&auth);
    return rc;
}

/* The id of the most specific account domain holding fqdn, and the record
 * name relative to it (new string). */
static int find_domain(struct ln *s, const char *fqdn, int64_t *id, char **rel,
                       struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[LN_MAX_URL];

    *rel = NULL;
    snprintf(url, sizeof(url), "%s/domains", s->base);
    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        json_object *f = json_object_new_object(), *o = NULL, *data, *d;
        int got;
        if (!f || jsonu_add_str(f, "domain", cand + 1)) {
            json_object_put(f);
            goto nomem;
        }
        got = ln_call(s, "GET", url, NULL, jsonu_string(f), &o, e);
        json_object_put(f);
        if (got != 0)
            return -1;
        data = jsonu_arr(o, "data");
        d = data && json_object_array_length(data) > 0 ? json_object_array_get_idx(data, 0) : NULL;
        if (d && jsonu_int(d, "id", id) == 0 && *id > 0 && jsonu_str(d, "domain") &&
            strcasecmp(jsonu_str(d, "domain"), cand + 1) == 0) {
            json_object_put(o);
            if (!(*rel = strndup(fqdn, (size_t)(cand - fqdn))))
                goto nomem;
            return 0;
        }
        json_object_put(o);
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no domain in this account holds %.200s", fqdn);
    return -1;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

static int l_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct ln *s = state;
    char *rel = NULL, url[LN_MAX_URL];
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
    snprintf(url, sizeof(url), "%s/domains/%lld/records", s->base, (long long)did);
    if (ln_call(s, "POST", url, jsonu_string(body), NULL, &ans, e) != 0)
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
    struct ln *s = state;
    char *rel = NULL, url[LN_MAX_URL];
    int64_t did, pages = 1, ids[64];
    size_t nids = 0;
    int rc = -1;

    if (find_domain(s, ch->fqdn, &did, &rel, e) != 0)
        goto out;
    for (int64_t page = 1; page <= pages && page <= LN_MAX_PAGES; page++) {
        json_object *list = NULL, *data;
        snprintf(url, sizeof(url), "%s/domains/%lld/records?page=%lld&page_size=500", s->base,
                 (long long)did, (long long)page);
        if (ln_call(s, "GET", url, NULL, NULL, &list, e) != 0)
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
                !name || strcasecmp(name, rel) != 0 || !target || strcmp(target, ch->value) != 0)
                continue; /* never delete what is not ours */
            if (nids < sizeof(ids) / sizeof(ids[0]))
                ids[nids++] = rid;
        }
        json_object_put(list);
    }
    for (size_t i = 0; i < nids; i++) {
        json_object *ans = NULL;
        snprintf(url, sizeof(url), "%s/domains/%lld/records/%lld", s->base, (long long)did,
                 (long long)ids[i]);
        if (ln_call(s, "DELETE", url, NULL, NULL, &ans, e) != 0)
            goto out;
        json_object_put(ans);
    }
    rc = 0;
out:
    free(rel);
    return rc;
}

static void l_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_linode_ops = {
    .name = "linode",
    .alias = NULL,
    .options = opts_decl,
    .validate = l_validate,
    .create = l_create,
    .present = l_present,
    .cleanup = l_cleanup,
    .destroy = l_destroy,
};
