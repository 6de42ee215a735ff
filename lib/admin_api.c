/*
 * admin_api.c - the transport-free admin API (admin_api.h): head checks,
 * routing, the endpoints, and the response object of autocert_admin.h. The
 * event stream of a forced renewal is in admin_stream.c.
 */
#include "admin_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_json.h"
#include "admin_stream.h"
#include "buf.h"
#include "log.h"
#include "manager.h"
#include "set.h"
#include "textsafe.h"

#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define QUERY_VALUE_MAX (ADMIN_MAX_URI + 1)

/* ---- responses ---- */

struct autocert_admin_response {
    int status;
    size_t nheaders;
    char *hname[ADMIN_RESP_HEADERS];
    char *hvalue[ADMIN_RESP_HEADERS];
    char *body; /* buffered form */
    size_t body_len, body_off;
    struct admin_stream *stream; /* streaming form */
    bool close;
};

static autocert_admin_response *resp_new(int status)
{
    autocert_admin_response *r = calloc(1, sizeof *r);

    if (r != NULL)
        r->status = status;
    return r;
}

static int resp_header(autocert_admin_response *r, const char *name, const char *value)
{
    if (r->nheaders >= ADMIN_RESP_HEADERS)
        return -1;
    r->hname[r->nheaders] = strdup(name);
    r->hvalue[r->nheaders] = strdup(value);
    if (r->hname[r->nheaders] == NULL || r->hvalue[r->nheaders] == NULL) {
        free(r->hname[r->nheaders]);
        free(r->hvalue[r->nheaders]);
        return -1;
    }
    r->nheaders++;
    return 0;
}

/* A buffered response; takes ownership of body (NULL: out of memory, and the
 * result is NULL too). */
static autocert_admin_response *resp_body(int status, char *body, const char *type)
{
    autocert_admin_response *r = body != NULL ? resp_new(status) : NULL;

    if (r == NULL) {
        free(body);
        return NULL;
    }
    r->body = body;
    r->body_len = strlen(body);
    if (resp_header(r, "Content-Type", type) != 0 ||
        resp_header(r, "Cache-Control", "no-store") != 0) {
        autocert_admin_response_free(r);
        return NULL;
    }
    if (status == 401 && resp_header(r, "WWW-Authenticate", "Bearer realm=\"autocert\"") != 0) {
        autocert_admin_response_free(r);
        return NULL;
    }
    return r;
}

autocert_admin_response *admin_response_message(int status, const char *msg, bool close)
{
    autocert_admin_response *r = resp_body(status, admin_json_message(msg), JSON_TYPE);

    if (r != NULL)
        r->close = close;
    return r;
}

static autocert_admin_response *resp_not_allowed(const char *allow)
{
    autocert_admin_response *r = admin_response_message(405, "method not allowed", false);

    if (r != NULL && resp_header(r, "Allow", allow) != 0) {
        autocert_admin_response_free(r);
        r = NULL;
    }
    return r;
}

int admin_response_add_header(autocert_admin_response *r, const char *name, const char *value)
{
    return r != NULL ? resp_header(r, name, value) : -1;
}

const char *admin_response_body(const autocert_admin_response *r, size_t *len)
{
    *len = 0;
    if (r == NULL || r->stream != NULL)
        return NULL;
    *len = r->body_len;
    return r->body != NULL ? r->body : "";
}

bool admin_response_close(const autocert_admin_response *r)
{
    return r != NULL && r->close;
}

void admin_response_drop_body(autocert_admin_response *r)
{
    if (r == NULL || r->stream != NULL)
        return;
    r->body_len = 0;
    r->body_off = 0;
}

int autocert_admin_response_status(const autocert_admin_response *r)
{
    return r != NULL ? r->status : 500;
}

int autocert_admin_response_header(const autocert_admin_response *r, size_t i, const char **name,
                                   const char **value)
{
    if (r == NULL || i >= r->nheaders)
        return -1;
    *name = r->hname[i];
    *value = r->hvalue[i];
    return 0;
}

bool autocert_admin_response_streaming(const autocert_admin_response *r)
{
    return r != NULL && r->stream != NULL;
}

ssize_t autocert_admin_response_read(autocert_admin_response *r, void *buf, size_t n)
{
    size_t k;

    if (r == NULL || buf == NULL || n == 0)
        return -1;
    if (r->stream != NULL)
        return admin_stream_read(r->stream, buf, n);
    k = r->body_len - r->body_off;
    if (k > n)
        k = n;
    memcpy(buf, r->body + r->body_off, k);
    r->body_off += k;
    return (ssize_t)k;
}

void autocert_admin_response_free(autocert_admin_response *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    admin_stream_release(r->stream);
    free(r->body);
    free(r);
}

static autocert_admin_response *oom(void)
{
    return admin_response_message(500, "out of memory", false);
}

/* ---- request helpers ---- */

const char *admin_echo(char *buf, size_t n, const char *v)
{
    if (v == NULL)
        snprintf(buf, n, "(none)");
    else
        ac_text_sanitize(buf, n, v, strnlen(v, 4 * n));
    return buf;
}

static const char *req_header(const autocert_admin_request *req, const char *name)
{
    return req->header != NULL ? req->header(req->header_arg, name) : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) ('+' is a space, as in a form) into out (size
 * outn, NUL-terminated; a decoded NUL ends the value). */
static void url_decode(const char *s, size_t n, char *out, size_t outn)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < outn; i++) {
        char c = s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (c == '\0')
            break;
        out[o++] = c;
    }
    out[o] = '\0';
}

/* The decoded value of the first `key` in the query into out; NULL when the
 * key is absent or its value empty. */
static const char *query_get(const char *query, const char *key, char *out, size_t outn)
{
    size_t kl = strlen(key);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&'), *eq;
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char name[64];

        eq = memchr(p, '=', len);
        url_decode(p, eq != NULL ? (size_t)(eq - p) : len, name, sizeof name);
        if (strlen(name) == kl && strcmp(name, key) == 0) {
            if (eq == NULL)
                return NULL;
            url_decode(eq + 1, len - (size_t)(eq + 1 - p), out, outn);
            return out[0] != '\0' ? out : NULL;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static bool peer_is_loopback(const struct sockaddr *sa, socklen_t len)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;

        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;

        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        /* ::ffff:127.x.y.z */
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

static bool has_token(const struct admin_api *a)
{
    return a->token != NULL && a->token[0] != '\0';
}

/* ---- rate-limited warnings without a connection tracker ---- */

static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;
static time_t note_last;
static unsigned long note_held;

static void note_refused(const struct admin_api *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_refused(const struct admin_api *a, const char *fmt, ...)
{
    char text[384];
    va_list ap;
    unsigned long held = 0;
    bool emit = false;
    struct timespec now;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (a->conns != NULL) {
        admin_conns_note(a->conns, ADMIN_NOTE_REFUSED, "%s", text);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&note_mu);
    if (note_last == 0 || now.tv_sec - note_last >= ADMIN_LOG_INTERVAL_S) {
        emit = true;
        held = note_held;
        note_held = 0;
        note_last = now.tv_sec;
    } else {
        note_held++;
    }
    pthread_mutex_unlock(&note_mu);
    if (emit && held > 0)
        ac_warn(ADMIN_LOG, "admin API: %s (and %lu more refused requests before)", text, held);
    else if (emit)
        ac_warn(ADMIN_LOG, "admin API: %s", text);
}

/* ---- head checks ---- */

static autocert_admin_response *refuse(const struct admin_api *a, const struct admin_req_meta *meta,
                                       int status, const char *msg)
{
    note_refused(a, "refused a request from %s: %s",
                 meta != NULL && meta->peer_text != NULL ? meta->peer_text : "?", msg);
    return admin_response_message(status, msg, true);
}

int admin_api_precheck(const struct admin_api *a, const autocert_admin_request *req,
                       const struct admin_req_meta *meta, autocert_admin_response **out)
{
    const char *host = req_header(req, "Host");
    const char *origin = req_header(req, "Origin");
    const char *site = req_header(req, "Sec-Fetch-Site");
    const char *cl = req_header(req, "Content-Length");
    unsigned hosts = meta != NULL && meta->host_count > 0 ? meta->host_count : host != NULL;
    size_t target = strlen(req->path) + (req->query != NULL ? strlen(req->query) + 1 : 0);
    char msg[160 + ADMIN_ECHO_MAX], v_echo[ADMIN_ECHO_MAX];
    enum admin_verdict v;

    *out = NULL;
    if (target > ADMIN_MAX_URI) {
        *out = admin_response_message(414, "request target too long", true);
        return *out != NULL ? 0 : -1;
    }
    v = admin_guard_check(&a->guard, host, hosts, origin, site);
    if (v != ADMIN_ALLOW) {
        int status = 403;

        if (v == ADMIN_BAD_HOST) {
            status = 421;
            if (hosts > 1)
                snprintf(msg, sizeof msg, "more than one Host header");
            else
                snprintf(msg, sizeof msg, "Host '%s' is not served here",
                         admin_echo(v_echo, sizeof v_echo, host));
        } else if (v == ADMIN_BAD_ORIGIN) {
            snprintf(msg, sizeof msg, "cross-origin request refused (Origin '%s')",
                     admin_echo(v_echo, sizeof v_echo, origin));
        } else {
            snprintf(msg, sizeof msg, "cross-site request refused (Sec-Fetch-Site: cross-site)");
        }
        *out = refuse(a, meta, status, msg);
        return *out != NULL ? 0 : -1;
    }
    /* Without a token, only this machine may ask (the handler form: the
     * host's server may listen anywhere). /healthz tells only liveness. */
    if (!has_token(a) && strcmp(req->path, "/healthz") != 0 &&
        !peer_is_loopback(req->peer, req->peer_len)) {
        *out = refuse(a, meta, 403,
                      "admin.token is not set: the admin API answers only loopback clients");
        return *out != NULL ? 0 : -1;
    }
    if (cl != NULL) {
        char *end;
        unsigned long long len;

        errno = 0;
        len = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || len > ADMIN_MAX_BODY) {
            *out = admin_response_message(413, "request body too large", true);
            return *out != NULL ? 0 : -1;
        }
    }
    return 0;
}

/* ---- the endpoints ---- */

/* The set chosen by ?name= / ?domain= (the one selector,
 * autocert_manager_find): returns 1 with *idx and the selector in sel (size
 * QUERY_VALUE_MAX), 0 when neither is given, or -1 with a new error response
 * in *err (400 both given, 404 no set matches). */
static int select_one(const struct admin_api *a, const autocert_admin_request *req, char *sel,
                      size_t *idx, autocert_admin_response **err)
{
    char dbuf[QUERY_VALUE_MAX];
    const char *name = query_get(req->query, "name", sel, QUERY_VALUE_MAX);
    const char *domain = query_get(req->query, "domain", dbuf, sizeof dbuf);
    char msg[64 + ADMIN_ECHO_MAX], arg[ADMIN_ECHO_MAX];
    autocert_admin_response *r;
    autocert_error e;

    *err = NULL;
    if (name != NULL && domain != NULL) {
        *err = admin_response_message(400, "give either name or domain, not both", false);
        return -1;
    }
    if (name == NULL && domain == NULL)
        return 0;
    if (domain != NULL)
        snprintf(sel, QUERY_VALUE_MAX, "%s", domain);
    if (autocert_manager_find(a->m, sel, idx, &e) == 0)
        return 1;
    if (strcmp(e.kind, AUTOCERT_E_NO_MATCH) != 0) {
        *err = admin_response_message(500, e.message, false);
        return -1;
    }
    snprintf(msg, sizeof msg, "no set covers '%s'", admin_echo(arg, sizeof arg, sel));
    r = resp_body(404, admin_json_error(msg, AUTOCERT_E_NO_MATCH), JSON_TYPE);
    *err = r != NULL ? r : oom();
    return -1;
}

/* Adds "key=value" (value percent-encoded) to the query in b. */
static void query_add(struct ac_buf *b, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";

    if (value == NULL)
        return;
    ac_buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", key);
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~,*", *c) != NULL)
            ac_buf_append(b, c, 1);
        else
            ac_buf_printf(b, "%%%c%c", hex[*c >> 4], hex[*c & 15]);
    }
}

/* ?state=a,b: the bits of p->states. Returns 0, or -1 with the bad word in
 * bad (size n). */
static int parse_states(const char *v, struct admin_page *p, char *bad, size_t n)
{
    char word[32];

    while (v != NULL && *v != '\0') {
        size_t len = strcspn(v, ",");
        int found = -1;

        snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), v);
        for (int st = AUTOCERT_STATE_PENDING; st <= AUTOCERT_STATE_BOOTSTRAP && found < 0; st++)
            if (len < sizeof word &&
                strcmp(word, autocert_state_name((enum autocert_state)st)) == 0)
                found = st;
        if (found < 0) {
            admin_echo(bad, n, word);
            return -1;
        }
        p->states |= 1u << found;
        v += len;
        v += *v == ',';
    }
    return 0;
}

/* The set a selector value chooses, as a set object (a new reference), or
 * NULL with a new error response in *err. */
static struct acset *select_set(const struct admin_api *a, const char *sel,
                                autocert_admin_response **err)
{
    char msg[64 + ADMIN_ECHO_MAX], arg[ADMIN_ECHO_MAX];
    struct acset *s = NULL;
    autocert_error e;
    size_t idx;

    if (autocert_manager_find(a->m, sel, &idx, &e) == 0 && (s = manager_set_at(a->m, idx)) != NULL)
        return s;
    if (strcmp(e.kind, AUTOCERT_E_NO_MATCH) != 0 && e.kind[0] != '\0') {
        *err = admin_response_message(500, e.message, false);
        return NULL;
    }
    snprintf(msg, sizeof msg, "no set covers '%s'", admin_echo(arg, sizeof arg, sel));
    *err = resp_body(404, admin_json_error(msg, AUTOCERT_E_NO_MATCH), JSON_TYPE);
    if (*err == NULL)
        *err = oom();
    return NULL;
}

/* GET /api/v1/cert/status and /info: filters name, domain, state (AND),
 * pages with limit and cursor (the next page in a Link header). */
static autocert_admin_response *list_sets(const struct admin_api *a,
                                          const autocert_admin_request *req, bool info)
{
    char name[QUERY_VALUE_MAX], domain[QUERY_VALUE_MAX], state[QUERY_VALUE_MAX];
    char limit_s[QUERY_VALUE_MAX], cursor[QUERY_VALUE_MAX], bad[ADMIN_ECHO_MAX],
        msg[96 + ADMIN_ECHO_MAX];
    const char *nm = query_get(req->query, "name", name, sizeof name);
    const char *dm = query_get(req->query, "domain", domain, sizeof domain);
    const char *stv = query_get(req->query, "state", state, sizeof state);
    const char *lim = query_get(req->query, "limit", limit_s, sizeof limit_s);
    const char *cur = query_get(req->query, "cursor", cursor, sizeof cursor);
    struct admin_page p;
    struct acset *by_name = NULL, *by_domain = NULL;
    autocert_admin_response *r = NULL;
    char *body = NULL, *next = NULL;
    size_t count = 0;
    struct ac_buf link;

    memset(&p, 0, sizeof p);
    ac_buf_init(&link, 4 * ADMIN_MAX_URI + 512);
    if (lim != NULL) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(lim, &end, 10);
        if (lim[0] < '0' || lim[0] > '9' || *end != '\0' || errno != 0 || v < 1 ||
            v > ADMIN_PAGE_MAX) {
            snprintf(msg, sizeof msg, "limit must be a number from 1 to %d, not '%s'",
                     ADMIN_PAGE_MAX, admin_echo(bad, sizeof bad, lim));
            return admin_response_message(400, msg, false);
        }
        p.limit = (size_t)v;
    }
    if (cur != NULL && admin_cursor_parse(cur, &p) != 0)
        return admin_response_message(
            400, "invalid cursor: use the one of a Link: rel=\"next\" header unchanged", false);
    if (stv != NULL && parse_states(stv, &p, bad, sizeof bad) != 0) {
        snprintf(msg, sizeof msg,
                 "unknown state '%s': use pending, bootstrap, valid, due, renewing, backoff, "
                 "expired or unmanaged",
                 bad);
        return admin_response_message(400, msg, false);
    }
    if (nm != NULL && (by_name = select_set(a, nm, &r)) == NULL)
        goto out;
    if (dm != NULL && (by_domain = select_set(a, dm, &r)) == NULL)
        goto out;
    p.only = by_name != NULL ? by_name : by_domain;
    p.none = by_name != NULL && by_domain != NULL && by_name != by_domain;
    body = admin_json_page(a->m, &p, info, &count, &next);
    if (body == NULL) {
        r = oom();
        goto out;
    }
    if (info && count == 0) {
        r = admin_response_message(404, "no certificate found", false);
        goto out;
    }
    r = resp_body(200, body, JSON_TYPE);
    body = NULL;
    if (r != NULL && next != NULL) {
        struct ac_buf q;
        int ok;

        ac_buf_init(&q, 4 * ADMIN_MAX_URI);
        query_add(&q, "name", nm);
        query_add(&q, "domain", dm);
        query_add(&q, "state", stv);
        ac_buf_printf(&q, "%slimit=%zu", q.len > 0 ? "&" : "", p.limit);
        query_add(&q, "cursor", next);
        ok = ac_buf_printf(&link, "<%s?%s>; rel=\"next\"", req->path, q.data) == 0 &&
             resp_header(r, "Link", link.data) == 0;
        ac_buf_free(&q);
        if (!ok) {
            autocert_admin_response_free(r);
            r = oom();
        }
    }
out:
    acset_unref(by_name);
    acset_unref(by_domain);
    free(body);
    free(next);
    ac_buf_free(&link);
    return r != NULL ? r : oom();
}

static void collect_result(void *arg, const char *set, const autocert_error *err)
{
    admin_results_add(arg, set, err);
}

/* POST /api/v1/cert/renew: waits for the outcome. */
static autocert_admin_response *renew_wait(const struct admin_api *a,
                                           const autocert_admin_request *req)
{
    char sel[QUERY_VALUE_MAX];
    struct admin_results res;
    autocert_progress p = {.result = collect_result, .arg = &res};
    autocert_admin_response *r = NULL;
    autocert_error e;
    size_t idx;
    int which = select_one(a, req, sel, &idx, &r);

    if (which < 0)
        return r;
    ac_info(ADMIN_LOG, "forced renewal requested through the API");
    admin_results_init(&res);
    if (autocert_manager_renew(a->m, which > 0 ? sel : NULL, &p, &e) != 0 && res.count == 0) {
        /* nothing ran (a reload removed the set meanwhile, a stop) */
        admin_results_clear(&res);
        return admin_response_message(strcmp(e.kind, AUTOCERT_E_NO_MATCH) == 0 ? 404 : 500,
                                      e.message, false);
    }
    return resp_body(res.failed ? 500 : 200, admin_results_finish(&res, NULL), JSON_TYPE);
}

/* GET /api/v1/cert/renew: the same renewal as Server-Sent Events. */
static autocert_admin_response *renew_stream(const struct admin_api *a,
                                             const autocert_admin_request *req)
{
    char sel[QUERY_VALUE_MAX];
    autocert_admin_response *r = NULL, *err = NULL;
    size_t idx;
    int which = select_one(a, req, sel, &idx, &err);

    if (which < 0)
        return err;
    r = resp_new(200);
    if (r == NULL || resp_header(r, "Content-Type", "text/event-stream") != 0 ||
        resp_header(r, "Cache-Control", "no-cache") != 0) {
        autocert_admin_response_free(r);
        return oom();
    }
    ac_info(ADMIN_LOG, "forced renewal requested through the API (event stream)");
    if (admin_stream_start(a, which > 0 ? sel : NULL, &r->stream) != 0) {
        autocert_admin_response_free(r);
        return admin_response_message(500, "cannot start the renewal", false);
    }
    return r;
}

/* POST /api/v1/cert/revoke?name=SET[&reason=R] */
static autocert_admin_response *revoke_set(const struct admin_api *a,
                                           const autocert_admin_request *req)
{
    char nbuf[QUERY_VALUE_MAX], rbuf[QUERY_VALUE_MAX], shown[ADMIN_ECHO_MAX];
    const char *name = query_get(req->query, "name", nbuf, sizeof nbuf);
    const char *reason_s = query_get(req->query, "reason", rbuf, sizeof rbuf);
    struct admin_results res;
    autocert_progress p = {.result = collect_result, .arg = &res};
    autocert_admin_response *r = NULL;
    autocert_error e;
    size_t idx;
    int reason;

    if (name == NULL)
        return admin_response_message(400, "revoke needs ?name=SET", false);
    if (select_one(a, req, nbuf, &idx, &r) < 0)
        return r;
    reason = autocert_revocation_reason(reason_s);
    if (reason == -2)
        return admin_response_message(
            400, "unknown revocation reason (use 0-10 or an RFC 5280 name)", false);
    ac_info(ADMIN_LOG, "revocation of %s requested through the API",
            admin_echo(shown, sizeof shown, name));
    admin_results_init(&res);
    if (autocert_manager_revoke(a->m, name, reason, &p, &e) != 0 && res.count == 0) {
        admin_results_clear(&res);
        return admin_response_message(strcmp(e.kind, AUTOCERT_E_NO_MATCH) == 0 ? 404 : 500,
                                      e.message, false);
    }
    return resp_body(res.failed ? 500 : 200, admin_results_finish(&res, NULL), JSON_TYPE);
}

static bool is(const char *method, const char *m)
{
    return strcmp(method, m) == 0;
}

static autocert_admin_response *route(const struct admin_api *a, const autocert_admin_request *req,
                                      const struct admin_req_meta *meta)
{
    const char *url = req->path, *method = req->method;
    bool get = is(method, "GET") || is(method, "HEAD");

    if (req->body_len > ADMIN_MAX_BODY)
        return admin_response_message(413, "request body too large", false);
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return resp_not_allowed("GET, HEAD");
        return resp_body(200, strdup("{\"ok\":true}"), JSON_TYPE);
    }
    if (!a->trusted && has_token(a) &&
        !admin_guard_bearer_ok(req_header(req, "Authorization"), a->token))
        return admin_response_message(401, "unauthorized", false);
    if (strcmp(url, "/api/v1/cert/info") == 0 || strcmp(url, "/api/v1/cert/status") == 0 ||
        strcmp(url, "/metrics") == 0) {
        if (!get)
            return resp_not_allowed("GET, HEAD");
        if (strcmp(url, "/metrics") == 0)
            return resp_body(200, admin_metrics_text(a->m), METRICS_TYPE);
        return list_sets(a, req, strcmp(url, "/api/v1/cert/info") == 0);
    }
    if (strcmp(url, "/api/v1/cert/renew") == 0) {
        if (is(method, "POST"))
            return renew_wait(a, req);
        if (!is(method, "GET"))
            return resp_not_allowed("GET, POST");
        /* A state change on a GET: without a token, only from a same-origin
         * page or a client that is not a browser (admin_guard.h). */
        if (!a->trusted && !has_token(a) &&
            !admin_guard_same_origin(&a->guard, req_header(req, "Host"), req_header(req, "Origin"),
                                     req_header(req, "Sec-Fetch-Site"))) {
            note_refused(a, "refused GET /api/v1/cert/renew from %s: not same-origin",
                         meta != NULL && meta->peer_text != NULL ? meta->peer_text : "?");
            return admin_response_message(
                403,
                "the event-stream renewal (GET) needs the admin token or a same-origin "
                "request; use POST /api/v1/cert/renew",
                true);
        }
        return renew_stream(a, req);
    }
    if (strcmp(url, "/api/v1/cert/revoke") == 0) {
        if (is(method, "POST"))
            return revoke_set(a, req);
        return resp_not_allowed("POST");
    }
    return admin_response_message(404, "not found", false);
}

int admin_api_route(const struct admin_api *a, const autocert_admin_request *req,
                    const struct admin_req_meta *meta, autocert_admin_response **out)
{
    *out = route(a, req, meta);
    return *out != NULL ? 0 : -1;
}
