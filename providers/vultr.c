/*
 * vultr.c - the Vultr DNS provider (API v2, https://api.vultr.com/v2).
 *
 * Auth: api_key ("Authorization: Bearer <api_key>"). Tests only: the
 * environment variable AUTOCERT_VULTR_BASE_URL replaces the base URL (lego has
 * no option for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: GET /domains/<candidate> (404: not in the account), walking up from
 * the record's parent name, so the zone is the most specific one the account
 * holds. present() POSTs /domains/<domain>/records with one TXT record whose
 * data is the quoted value (Vultr adds, never replaces); cleanup() lists
 * /domains/<domain>/records (per_page=500, cursor pages) and DELETEs exactly
 * the TXT records with our name and value. HTTP 429 is retried after
 * Retry-After (at most 3 retries, each wait at most 60 s).
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

#define P "DNS provider vultr"
#define VU_DEFAULT_BASE "https://api.vultr.com/v2"
#define VU_MAX_RETRIES 3
#define VU_MAX_WAIT_S 60
#define VU_MAX_URL 2048
#define VU_MAX_PAGES 20

static const struct dns_option_decl opts_decl[] = {
    {"api_key", true},
    {NULL, false},
};

struct vu {
    char *token, *base;
    int64_t ttl;
    long timeout_ms;
};

static bool base_ok(const char *b)
{
    return strncmp(b, "https://", 8) == 0 || strncmp(b, "http://127.", 11) == 0 ||
           strncmp(b, "http://localhost", 16) == 0 || strncmp(b, "http://[::1]", 12) == 0;
}

static int v_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *t = dns_opt_get(opts, n, "api_key");

    if (!t || !*t) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option api_key: must not be empty");
        return -1;
    }
    return 0;
}

static void state_free(struct vu *s)
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

static int v_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct vu *s = NULL;
    const char *base = getenv("AUTOCERT_VULTR_BASE_URL");
    size_t bl;

    *state = NULL;
    if (v_validate(opts, n, e) != 0 || dns_settings_parse("vultr", opts, n, &st, e) != 0)
        return -1;
    if (base && *base && !base_ok(base)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": AUTOCERT_VULTR_BASE_URL must be an https:// URL");
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = st.ttl;
    s->timeout_ms = (long)st.http_timeout_ms;
    s->token = strdup(dns_opt_get(opts, n, "api_key"));
    s->base = strdup(base && *base ? base : VU_DEFAULT_BASE);
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

/* One API call with 429 retries. Returns 0 with *out the parsed body (NULL
 * when empty; put it), 1 for a 404 when allow_404, -1 on error. */
static int vu_call(struct vu *s, const char *method, const char *url, const char *body,
                   bool allow_404, json_object **out, struct ac_error *e)
{
    struct http_client_opts co = {.timeout_ms = s->timeout_ms};
    struct http_client *c = NULL;
    struct http_response resp;
    struct http_header h[2];
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
        if (attempt >= VU_MAX_RETRIES || wait > VU_MAX_WAIT_S) {
            dns_http_status_error(&resp, P, NULL, e);
            goto out;
        }
        ac_info(NULL, "vultr: rate limited (HTTP 429), retrying in %ld s", wait);
        sleep_s(wait);
    }
    if (resp.status == 404 && allow_404) {
        rc = 1;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, P, "api_key", e);
        goto out;
    }
    if (resp.body.len > 0) {
        *out = jsonu_parse(resp.body.data, resp.body.len, "Vultr answer", AC_ERR_DNS_PROVIDER, e);
        if (!*out)
            goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    http_client_free(c);
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    ac_buf_free(&auth);
    return rc;
}

/* The most specific account domain holding fqdn, and the record name
 * relative to it (both new strings). */
static int find_domain(struct vu *s, const char *fqdn, char **dom, char **rel,
                       struct ac_error *e)
{
    const char *cand = strchr(fqdn, '.');
    char url[VU_MAX_URL];

    *dom = *rel = NULL;
    for (; cand && strchr(cand + 1, '.'); cand = strchr(cand + 1, '.')) {
        json_object *o = NULL;
        char *esc = http_escape(cand + 1);
        int got;
        if (!esc)
            goto nomem;
        snprintf(url, sizeof(url), "%s/domains/%s", s->base, esc);
        free(esc);
        got = vu_call(s, "GET", url, NULL, true, &o, e);
        json_object_put(o);
        if (got < 0)
            return -1;
        if (got == 0) {
            *dom = strdup(cand + 1);
            *rel = strndup(fqdn, (size_t)(cand - fqdn));
            if (!*dom || !*rel) {
                free(*dom);
                free(*rel);
                *dom = *rel = NULL;
                goto nomem;
            }
            return 0;
        }
    }
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": no domain in this account holds %.200s", fqdn);
    return -1;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
    return -1;
}

static int v_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct vu *s = state;
    char *dom = NULL, *rel = NULL, *ed = NULL, url[VU_MAX_URL];
    json_object *body = NULL, *ans = NULL;
    struct ac_buf quoted;
    int rc = -1;

    ac_buf_init(&quoted, 1024);
    if (find_domain(s, ch->fqdn, &dom, &rel, e) != 0)
        goto out;
    body = json_object_new_object();
    ed = http_escape(dom);
    if (!body || !ed || ac_buf_printf(&quoted, "\"%s\"", ch->value) != 0 ||
        jsonu_add_str(body, "name", rel) || jsonu_add_str(body, "type", "TXT") ||
        jsonu_add_str(body, "data", quoted.data) ||
        json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/domains/%s/records", s->base, ed);
    if (vu_call(s, "POST", url, jsonu_string(body), false, &ans, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(ans);
    json_object_put(body);
    ac_buf_free(&quoted);
    free(ed);
    free(dom);
    free(rel);
    return rc;
}

/* TXT data as Vultr returns it may be quoted; compares unquoted. */
static bool data_is(const char *d, const char *value)
{
    size_t dl = d ? strlen(d) : 0, vl = strlen(value);

    if (dl == vl + 2 && d[0] == '"' && d[dl - 1] == '"')
        return strncmp(d + 1, value, vl) == 0;
    return d && strcmp(d, value) == 0;
}

static bool id_ok(const char *id)
{
    return id && *id && strlen(id) < 64 &&
           strspn(id, "0123456789abcdefABCDEF-") == strlen(id);
}

static int v_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct vu *s = state;
    char *dom = NULL, *rel = NULL, *ed = NULL, *cursor = NULL, url[VU_MAX_URL];
    char *ids[64];
    size_t nids = 0;
    int rc = -1;

    if (find_domain(s, ch->fqdn, &dom, &rel, e) != 0)
        goto out;
    if (!(ed = http_escape(dom)))
        goto nomem;
    for (int page = 0; page < VU_MAX_PAGES; page++) {
        json_object *list = NULL, *recs, *meta, *links;
        const char *next;
        char *ec = cursor ? http_escape(cursor) : NULL;
        if (cursor && !ec)
            goto nomem;
        snprintf(url, sizeof(url), "%s/domains/%s/records?per_page=500%s%s", s->base, ed,
                 ec ? "&cursor=" : "", ec ? ec : "");
        free(ec);
        if (vu_call(s, "GET", url, NULL, false, &list, e) != 0)
            goto out;
        recs = list ? jsonu_arr(list, "records") : NULL;
        for (size_t i = 0; recs && i < json_object_array_length(recs); i++) {
            json_object *r = json_object_array_get_idx(recs, i);
            const char *type = jsonu_str(r, "type"), *name = jsonu_str(r, "name");
            const char *id = jsonu_str(r, "id");
            if (!id_ok(id) || !type || strcmp(type, "TXT") != 0 || !name ||
                strcasecmp(name, rel) != 0 || !data_is(jsonu_str(r, "data"), ch->value))
                continue; /* never delete what is not ours */
            if (nids < sizeof(ids) / sizeof(ids[0]) && !(ids[nids++] = strdup(id))) {
                nids--;
                json_object_put(list);
                goto nomem;
            }
        }
        meta = list ? jsonu_obj(list, "meta") : NULL;
        links = meta ? jsonu_obj(meta, "links") : NULL;
        next = links ? jsonu_str(links, "next") : NULL;
        free(cursor);
        cursor = next && *next && strlen(next) < 512 ? strdup(next) : NULL;
        json_object_put(list);
        if (!cursor)
            break;
    }
    for (size_t i = 0; i < nids; i++) {
        json_object *ans = NULL;
        snprintf(url, sizeof(url), "%s/domains/%s/records/%s", s->base, ed, ids[i]);
        if (vu_call(s, "DELETE", url, NULL, false, &ans, e) != 0)
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
    free(ed);
    free(dom);
    free(rel);
    return rc;
}

static void v_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_vultr_ops = {
    .name = "vultr",
    .alias = NULL,
    .options = opts_decl,
    .validate = v_validate,
    .create = v_create,
    .present = v_present,
    .cleanup = v_cleanup,
    .destroy = v_destroy,
};
