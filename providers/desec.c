/*
 * desec.c - the deSEC DNS provider (https://desec.io/api/v1).
 *
 * Auth: token ("Authorization: Token <token>"). Tests only: the environment
 * variable AUTOCERT_DESEC_BASE_URL replaces the base URL (lego has no option
 * for it); it must be https:// or a loopback http:// URL.
 *
 * Zone: GET /domains/?owns_qname=<fqdn> names the account's domain that owns
 * the record. deSEC manages whole RRsets, so present() reads
 * /domains/<d>/rrsets/<subname>/TXT/ and either POSTs a new RRset holding our
 * value or PATCHes the set with the values read plus ours; cleanup() PATCHes
 * the set with the values read minus ours (an empty list removes the set).
 * Other values are always kept. The TTL is raised to the domain's
 * minimum_ttl (deSEC refuses lower ones); without the ttl option it is 3600.
 * HTTP 429 is retried after Retry-After (at most 3 retries, each wait at
 * most 60 s).
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

#define P "DNS provider desec"
#define DS_DEFAULT_BASE "https://desec.io/api/v1"
#define DS_DEFAULT_TTL 3600
#define DS_MAX_RETRIES 3
#define DS_MAX_WAIT_S 60
#define DS_MAX_URL 2048
#define DS_MAX_VALUES 256

static const struct dns_option_decl opts_decl[] = {
    {"token", true},
    {NULL, false},
};

struct ds {
    char *token, *base;
    int64_t ttl;
    long timeout_ms;
};

static bool base_ok(const char *b)
{
    return strncmp(b, "https://", 8) == 0 || strncmp(b, "http://127.", 11) == 0 ||
           strncmp(b, "http://localhost", 16) == 0 || strncmp(b, "http://[::1]", 12) == 0;
}

static int d_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *t = dns_opt_get(opts, n, "token");

    if (!t || !*t) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option token: must not be empty");
        return -1;
    }
    return 0;
}

static void state_free(struct ds *s)
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

static int d_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dns_settings st;
    struct ds *s = NULL;
    const char *base = getenv("AUTOCERT_DESEC_BASE_URL");
    size_t bl;

    *state = NULL;
    if (d_validate(opts, n, e) != 0 || dns_settings_parse("desec", opts, n, &st, e) != 0)
        return -1;
    if (base && *base && !base_ok(base)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": AUTOCERT_DESEC_BASE_URL must be an https:// URL");
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->ttl = dns_opt_get(opts, n, "ttl") ? st.ttl : DS_DEFAULT_TTL;
    s->timeout_ms = (long)st.http_timeout_ms;
    s->token = strdup(dns_opt_get(opts, n, "token"));
    s->base = strdup(base && *base ? base : DS_DEFAULT_BASE);
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
 * for an empty one; put it), 1 for a 404 when allow_404, -1 on error. */
static int ds_call(struct ds *s, const char *method, const char *url, const char *body,
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
    if (ac_buf_printf(&auth, "Token %s", s->token) != 0) {
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
        if (attempt >= DS_MAX_RETRIES || wait > DS_MAX_WAIT_S) {
            dns_http_status_error(&resp, P, NULL, e);
            goto out;
        }
        ac_info(NULL, "desec: rate limited (HTTP 429), retrying in %ld s", wait);
        sleep_s(wait);
    }
    if (resp.status == 404 && allow_404) {
        rc = 1;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, P, "token", e);
        goto out;
    }
    if (resp.body.len > 0) {
        *out = jsonu_parse(resp.body.data, resp.body.len, "deSEC answer", AC_ERR_DNS_PROVIDER, e);
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

/* The domain owning fqdn (new string), its subname part and minimum TTL. */
static int find_domain(struct ds *s, const char *fqdn, char **domain, char **sub,
                       int64_t *min_ttl, struct ac_error *e)
{
    char url[DS_MAX_URL], *eq = http_escape(fqdn);
    json_object *o = NULL, *d;
    const char *name;
    size_t fl = strlen(fqdn), dl;
    int rc = -1;

    *domain = *sub = NULL;
    *min_ttl = 0;
    if (!eq)
        goto nomem;
    snprintf(url, sizeof(url), "%s/domains/?owns_qname=%s", s->base, eq);
    free(eq);
    if (ds_call(s, "GET", url, NULL, false, &o, e) != 0)
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
    return rc;
}

/* Is the record (zone-file form, a quoted string) our value? */
static bool record_is(const char *r, const char *quoted)
{
    return r && strcmp(r, quoted) == 0;
}

/* Adds (add=true) or removes our value at ch->fqdn, keeping all others. */
static int ds_change(struct ds *s, const struct dns_challenge *ch, bool add, struct ac_error *e)
{
    char *dom = NULL, *sub = NULL, *ed = NULL, *es = NULL, url[DS_MAX_URL];
    json_object *set = NULL, *body = NULL, *recs, *keep, *ans = NULL;
    struct ac_buf quoted;
    int64_t min_ttl = 0;
    bool found = false;
    size_t nrec;
    int rc = -1, got;

    ac_buf_init(&quoted, 1024);
    if (ac_buf_printf(&quoted, "\"%s\"", ch->value) != 0)
        goto nomem;
    if (find_domain(s, ch->fqdn, &dom, &sub, &min_ttl, e) != 0)
        goto out;
    ed = http_escape(dom);
    es = http_escape(sub);
    if (!ed || !es)
        goto nomem;
    snprintf(url, sizeof(url), "%s/domains/%s/rrsets/%s/TXT/", s->base, ed, es);
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
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": too many TXT values at %.200s", ch->fqdn);
        goto out;
    }
    for (size_t i = 0; i < nrec; i++) {
        json_object *r = json_object_array_get_idx(recs, i);
        const char *v = json_object_is_type(r, json_type_string) ? json_object_get_string(r) : NULL;
        if (!v)
            continue;
        if (record_is(v, quoted.data)) {
            found = true;
            if (!add)
                continue; /* ours: dropped */
        }
        if (json_object_array_add(keep, json_object_new_string(v)))
            goto nomem;
    }
    if (add == found) { /* already there, or already gone */
        rc = 0;
        goto out;
    }
    if (add && json_object_array_add(keep, json_object_new_string(quoted.data)))
        goto nomem;
    if (got == 1) { /* no RRset yet: create it */
        int64_t ttl = s->ttl < min_ttl ? min_ttl : s->ttl;
        if (jsonu_add_str(body, "subname", sub) || jsonu_add_str(body, "type", "TXT") ||
            json_object_object_add(body, "ttl", json_object_new_int64(ttl)))
            goto nomem;
        snprintf(url, sizeof(url), "%s/domains/%s/rrsets/", s->base, ed);
        if (ds_call(s, "POST", url, jsonu_string(body), false, &ans, e) != 0)
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

static int d_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return ds_change(state, ch, true, e);
}

static int d_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return ds_change(state, ch, false, e);
}

static void d_destroy(void *state)
{
    state_free(state);
}

const struct dns_provider_ops dns_desec_ops = {
    .name = "desec",
    .alias = NULL,
    .options = opts_decl,
    .validate = d_validate,
    .create = d_create,
    .present = d_present,
    .cleanup = d_cleanup,
    .destroy = d_destroy,
};
