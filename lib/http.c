/*
 * http.c - the bounded HTTP client on libcurl (see http.h).
 *
 * Trust is the system bundle plus the configured PEM files. libcurl-gnutls
 * parses its whole trust store again for every new TLS connection (and by
 * default it reads both /etc/ssl/certs and the bundle), so: the system bundle
 * is given once as CURLOPT_CAINFO with CURLOPT_CAPATH off, and the extra files
 * only as a small CA blob (CURLOPT_CAINFO_BLOB). Where the TLS backend lacks
 * blob support (Debian 12's libcurl-gnutls 7.88), system bundle and extra
 * files are concatenated into one private file used as CURLOPT_CAINFO, shared
 * by all clients with the same extra roots (http_pool.c).
 *
 * Curl easy handles (and the live connections in their caches) outlive the
 * clients: http_do borrows a handle from the process-wide pool (http_pool.c)
 * and gives it back, reset before every request so no option leaks from one
 * request to the next.
 */
#include "http.h"
#include "http_priv.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

struct http_client {
    long timeout_ms;
    long connect_timeout_ms;
    size_t max_body;
    char *user_agent;
    struct ac_buf ca_extra; /* the extra roots (PEM); empty when none */
    struct http_ca_file *ca_file; /* system + extra roots, when CAINFO_BLOB is not built in */
    int use_blob;           /* 1 blob of ca_extra, 0 no extra roots, -1 use the file */
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_OK;
static bool http_have_bundle; /* the system bundle is readable */
static bool http_blob_ok;     /* CURLOPT_CAINFO_BLOB is built in */

static void http_global_init(void)
{
    static char one[] = "\n";
    struct curl_blob blob = {one, 1, CURL_BLOB_NOCOPY};
    CURL *probe;

    http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    http_have_bundle = access(HTTP_SYSTEM_BUNDLE, R_OK) == 0;
    if (http_global_rc == CURLE_OK && (probe = curl_easy_init()) != NULL) {
        http_blob_ok = curl_easy_setopt(probe, CURLOPT_CAINFO_BLOB, &blob) == CURLE_OK;
        curl_easy_cleanup(probe);
    }
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);

    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

/* Reads the extra root files into c->ca_extra. */
static int read_extra_roots(struct http_client *c, const struct http_client_opts *o,
                            struct ac_error *e)
{
    size_t before;

    for (size_t i = 0; i < o->ca_count; i++) {
        if (o->ca_files[i] == NULL)
            continue;
        before = c->ca_extra.len;
        errno = 0;
        if (http_read_file_into(o->ca_files[i], &c->ca_extra) != 0) {
            ac_error_set(e, AC_ERR_CONFIG, "http: cannot read CA file %s: %s", o->ca_files[i],
                         errno ? strerror(errno) : "too large");
            return -1;
        }
        if (c->ca_extra.data == NULL ||
            strstr(c->ca_extra.data + before, "-----BEGIN CERTIFICATE-----") == NULL) {
            ac_error_set(e, AC_ERR_CONFIG, "http: CA file %s holds no PEM certificate",
                         o->ca_files[i]);
            return -1;
        }
    }
    return 0;
}

int http_client_new(const struct http_client_opts *opts, struct http_client **out,
                    struct ac_error *e)
{
    struct http_client *c = NULL;
    struct http_client_opts none = {0};
    const struct http_client_opts *o = opts ? opts : &none;
    int rc = -1;

    *out = NULL;
    pthread_once(&http_once, http_global_init);
    if (http_global_rc != CURLE_OK) {
        ac_error_set(e, AC_ERR_INTERNAL, "http: curl_global_init failed: %s",
                     curl_easy_strerror(http_global_rc));
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "http: out of memory");
        return -1;
    }
    ac_buf_init(&c->ca_extra, HTTP_MAX_CA_BUNDLE);
    http_pool_client_added();
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    c->max_body = o->max_body > 0 ? o->max_body : 1024 * 1024;
    c->user_agent = xstrdup(o->user_agent ? o->user_agent : "autocert/0.1");
    if (c->user_agent == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "http: out of memory");
        goto out;
    }
    if (o->ca_count > 0 && read_extra_roots(c, o, e) != 0)
        goto out;
    if (c->ca_extra.len > 0) {
        c->use_blob = http_blob_ok ? 1 : -1;
        if (!http_blob_ok && (c->ca_file = http_ca_file_get(&c->ca_extra, e)) == NULL)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        http_client_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    http_pool_client_gone();
    http_ca_file_put(c->ca_file);
    ac_buf_free(&c->ca_extra);
    free(c->user_agent);
    free(c);
}

struct xfer {
    struct http_response *resp;
    bool overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;

    if (ac_buf_append(&x->resp->body, ptr, n) != 0) {
        x->overflow = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static void headers_clear(struct http_response *r)
{
    for (size_t i = 0; i < r->header_count; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
        r->headers[i].name = r->headers[i].value = NULL;
    }
    r->header_count = 0;
    r->dropped_count = 0;
    r->too_many_headers = false;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *arg)
{
    struct xfer *x = arg;
    struct http_response *r = x->resp;
    size_t n = size * nitems, i, nlen, vs, ve;
    const char *colon;
    char *name = NULL, *value = NULL;

    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        headers_clear(r); /* a new response (after 1xx) starts */
        return n;
    }
    colon = memchr(ptr, ':', n);
    if (colon == NULL)
        return n;
    if (n > HTTP_MAX_HEADER_LINE) { /* not kept; remembered for the error message */
        if (r->dropped_count < HTTP_MAX_DROPPED) {
            size_t k = (size_t)(colon - ptr), j;
            char *dn = r->dropped[r->dropped_count].name;
            if (k >= sizeof r->dropped[0].name)
                k = sizeof r->dropped[0].name - 1;
            for (j = 0; j < k; j++)
                dn[j] = (char)tolower((unsigned char)ptr[j]);
            while (j > 0 && (dn[j - 1] == ' ' || dn[j - 1] == '\t'))
                j--;
            dn[j] = '\0';
            r->dropped[r->dropped_count++].size = n;
        }
        return n;
    }
    if (r->header_count >= HTTP_MAX_RESPONSE_HEADERS) {
        r->too_many_headers = true;
        return n; /* ignored: kept within bounds */
    }
    nlen = (size_t)(colon - ptr);
    while (nlen > 0 && (ptr[nlen - 1] == ' ' || ptr[nlen - 1] == '\t'))
        nlen--;
    if (nlen == 0)
        return n;
    vs = (size_t)(colon - ptr) + 1;
    ve = n;
    while (vs < ve && (ptr[vs] == ' ' || ptr[vs] == '\t'))
        vs++;
    while (ve > vs && isspace((unsigned char)ptr[ve - 1]))
        ve--;
    name = malloc(nlen + 1);
    value = malloc(ve - vs + 1);
    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        return 0;
    }
    for (i = 0; i < nlen; i++)
        name[i] = (char)tolower((unsigned char)ptr[i]);
    name[nlen] = '\0';
    memcpy(value, ptr + vs, ve - vs);
    value[ve - vs] = '\0';
    r->headers[r->header_count].name = name;
    r->headers[r->header_count].value = value;
    r->header_count++;
    return n;
}

/* Host of url into out (for error messages; never user info or query). */
static void url_host(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL;

    snprintf(out, n, "(unknown host)");
    if (u == NULL)
        return;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        snprintf(out, n, "%s", host);
    curl_free(host);
    curl_url_cleanup(u);
}

static void classify(CURLcode rc, bool overflow, const char *host, size_t max_body,
                     const char *errbuf, struct ac_error *e)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);

    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        ac_error_set(e, AC_ERR_TIMEOUT, "http: request to %s timed out: %s", host, detail);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        ac_error_set(e, AC_ERR_TLS, "http: TLS with %s failed: %s", host, detail);
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        ac_error_set(e, AC_ERR_CANCELLED, "http: request to %s cancelled", host);
        break;
    case CURLE_OUT_OF_MEMORY:
        /* also libcurl's answer to a response header line over 100 KiB */
        ac_error_set(e, AC_ERR_HTTP,
                     "http: response from %s refused by libcurl: %s (a header line over "
                     "libcurl's 100 KiB limit gives this too)",
                     host, detail);
        break;
    case CURLE_WRITE_ERROR:
        if (overflow) {
            ac_error_set(e, AC_ERR_HTTP, "http: response from %s exceeds %zu bytes", host,
                         max_body);
            break;
        }
        ac_error_set(e, AC_ERR_HTTP, "http: response from %s could not be stored", host);
        break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        ac_error_set(e, AC_ERR_HTTP, "http: malformed response from %s: %s", host, detail);
        break;
    default:
        ac_error_set(e, AC_ERR_NET, "http: request to %s failed: %s", host, detail);
        break;
    }
}

static CURLcode set_method(CURL *h, const struct http_request *req)
{
    const char *m = req->method ? req->method : "GET";
    CURLcode rc = CURLE_OK;

    if (strcmp(m, "GET") == 0)
        return curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (strcmp(m, "HEAD") == 0)
        return curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (strcmp(m, "POST") != 0)
        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    if (rc == CURLE_OK && (req->body != NULL || strcmp(m, "POST") == 0)) {
        rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }
    return rc;
}

/* libcurl's progress callback: called at least about once a second, also
 * while nothing moves; a non-zero answer aborts the transfer. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return ac_cancelled(arg) ? 1 : 0;
}

int http_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
            struct ac_error *e)
{
    struct curl_slist *hdrs = NULL, *tmp;
    struct ac_buf line;
    struct xfer x = {resp, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    char host[256];
    long timeout = (long)ac_cancel_clamp_ms(req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms);
    long low_time = timeout / 1000 < 30 ? timeout / 1000 : 30;
    const atomic_bool *cancel = ac_cancel_current();
    CURLcode rc = CURLE_OK;
    CURL *h = NULL;
    int ret = -1;

    memset(resp, 0, sizeof *resp);
    ac_buf_init(&resp->body, c->max_body);
    ac_buf_init(&line, HTTP_MAX_HEADER_LINE);
    url_host(req->url ? req->url : "", host, sizeof host);
    if (req->url == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "http: request without URL");
        return -1;
    }
    if (ac_cancel_requested() || timeout <= 0) {
        ac_error_set(e, AC_ERR_CANCELLED, "http: request to %s cancelled", host);
        return -1;
    }
    for (size_t i = 0; i < req->header_count; i++) {
        ac_buf_reset(&line);
        if (ac_buf_printf(&line, "%s: %s", req->headers[i].name, req->headers[i].value) != 0 ||
            (tmp = curl_slist_append(hdrs, line.data)) == NULL) {
            ac_error_set(e, AC_ERR_HTTP, "http: request header %s too large",
                         req->headers[i].name);
            goto out;
        }
        hdrs = tmp;
    }
    if (req->body != NULL && (tmp = curl_slist_append(hdrs, "Expect:")) != NULL)
        hdrs = tmp;

    if ((h = http_pool_take()) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "http: out of memory");
        goto out;
    }
    curl_easy_reset(h);
#define SET(opt, val)                                                                         \
    do {                                                                                      \
        if (rc == CURLE_OK)                                                                   \
            rc = curl_easy_setopt(h, opt, val);                                               \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        c->connect_timeout_ms < timeout ? c->connect_timeout_ms : timeout);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, low_time > 0 ? low_time : 1L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, &x);
    SET(CURLOPT_ACCEPT_ENCODING, NULL);
    if (cancel != NULL) {
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, (void *)cancel);
        SET(CURLOPT_NOPROGRESS, 0L);
    }
    if (c->use_blob == -1) {
        SET(CURLOPT_CAINFO, http_ca_file_path(c->ca_file));
        SET(CURLOPT_CAPATH, NULL);
    } else if (http_have_bundle) {
        /* the bundle alone: /etc/ssl/certs holds the same roots again */
        SET(CURLOPT_CAINFO, HTTP_SYSTEM_BUNDLE);
        SET(CURLOPT_CAPATH, NULL);
    }
    if (c->use_blob == 1) {
        struct curl_blob blob = {c->ca_extra.data, c->ca_extra.len, CURL_BLOB_COPY};
        SET(CURLOPT_CAINFO_BLOB, &blob);
    }
    if (hdrs != NULL)
        SET(CURLOPT_HTTPHEADER, hdrs);
    if (req->userpwd != NULL)
        SET(CURLOPT_USERPWD, req->userpwd);
    if (req->aws_sigv4 != NULL)
        SET(CURLOPT_AWS_SIGV4, req->aws_sigv4);
#undef SET
    if (rc == CURLE_OK)
        rc = set_method(h, req);
    if (rc != CURLE_OK) {
        ac_error_set(e, AC_ERR_INTERNAL, "http: cannot set up request to %s: %s", host,
                     curl_easy_strerror(rc));
        goto out;
    }
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        classify(rc, x.overflow, host, c->max_body, errbuf, e);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    ret = 0;
out:
    if (h != NULL) {
        /* Drop pointers into this request's memory from the pooled handle. */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
        http_pool_give(h);
    }
    curl_slist_free_all(hdrs);
    ac_buf_free(&line);
    if (ret != 0)
        http_response_free(resp);
    return ret;
}

void http_response_free(struct http_response *resp)
{
    if (resp == NULL)
        return;
    headers_clear(resp);
    ac_buf_free(&resp->body);
    resp->status = 0;
}

const char *http_header(const struct http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->header_count; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

void http_header_missing(const struct http_response *resp, const char *name, const char *what,
                         const char *kind, struct ac_error *e)
{
    for (size_t i = 0; i < resp->dropped_count; i++) {
        if (strcasecmp(resp->dropped[i].name, name) == 0) {
            ac_error_set(e, kind, "%s: %s header too long (%zu bytes, limit %d)", what, name,
                         resp->dropped[i].size, HTTP_MAX_HEADER_LINE);
            return;
        }
    }
    if (resp->too_many_headers)
        ac_error_set(e, kind,
                     "%s: no %s header (the response has more than %d headers; the rest were "
                     "ignored)",
                     what, name, HTTP_MAX_RESPONSE_HEADERS);
    else
        ac_error_set(e, kind, "%s: no %s header", what, name);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* True when the space-separated relation list [v, v+n) contains rel. */
static bool rel_matches(const char *v, size_t n, const char *rel)
{
    size_t rl = strlen(rel), i = 0;

    while (i < n) {
        size_t s;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        s = i;
        while (i < n && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - s == rl && strncasecmp(v + s, rel, rl) == 0)
            return true;
    }
    return false;
}

static char *resolve_url(const char *target, size_t n, const char *base)
{
    char *t = malloc(n + 1), *res = NULL, *out = NULL;
    CURLU *u = NULL;

    if (t == NULL)
        return NULL;
    memcpy(t, target, n);
    t[n] = '\0';
    if (base == NULL)
        return t;
    u = curl_url();
    if (u != NULL && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, t, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &res, 0) == CURLUE_OK)
        out = xstrdup(res);
    curl_free(res);
    curl_url_cleanup(u);
    free(t);
    return out;
}

/* Parses one Link header value; returns the target of the (*skip + 1)-th
 * link with rel, or NULL (then *skip is lowered by the links with rel seen). */
static char *link_in_value(const char *v, const char *rel, const char *base, size_t *skip)
{
    const char *p = v;

    for (;;) {
        const char *ts, *te;
        bool match = false;

        p = skip_ws(p);
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return NULL;
        if (*p != '<')
            return NULL; /* malformed: stop */
        ts = p + 1;
        te = strchr(ts, '>');
        if (te == NULL)
            return NULL;
        p = te + 1;
        /* parameters until ',' outside quotes or the end */
        for (;;) {
            const char *ns, *ne, *vs, *ve;
            p = skip_ws(p);
            if (*p != ';')
                break;
            p = skip_ws(p + 1);
            ns = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            ne = p;
            p = skip_ws(p);
            vs = ve = p;
            if (*p == '=') {
                p = skip_ws(p + 1);
                if (*p == '"') {
                    vs = ++p;
                    while (*p && *p != '"') {
                        if (*p == '\\' && p[1])
                            p++;
                        p++;
                    }
                    ve = p;
                    if (*p == '"')
                        p++;
                } else {
                    vs = p;
                    while (*p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                        p++;
                    ve = p;
                }
            }
            if (ne - ns == 3 && strncasecmp(ns, "rel", 3) == 0 &&
                rel_matches(vs, (size_t)(ve - vs), rel))
                match = true;
        }
        if (match && *skip == 0)
            return resolve_url(ts, (size_t)(te - ts), base);
        if (match)
            (*skip)--;
        /* skip to the next link */
        while (*p && *p != ',') {
            if (*p == '"') {
                p++;
                while (*p && *p != '"')
                    p++;
                if (*p)
                    p++;
            } else {
                p++;
            }
        }
    }
}

char *http_link_nth(const struct http_response *resp, const char *rel, const char *base_url,
                    size_t n)
{
    for (size_t i = 0; i < resp->header_count; i++) {
        char *u;
        if (strcmp(resp->headers[i].name, "link") != 0)
            continue;
        u = link_in_value(resp->headers[i].value, rel, base_url, &n);
        if (u != NULL)
            return u;
    }
    return NULL;
}

char *http_link(const struct http_response *resp, const char *rel, const char *base_url)
{
    return http_link_nth(resp, rel, base_url, 0);
}

char *http_escape(const char *s)
{
    char *esc, *out;

    pthread_once(&http_once, http_global_init);
    esc = curl_easy_escape(NULL, s, (int)strlen(s));
    if (esc == NULL)
        return NULL;
    out = xstrdup(esc);
    curl_free(esc);
    return out;
}
