/*
 * admin_client.c - the CLI's two ways to the data (admin_client.h): an
 * in-process manager, or a running daemon's REST API through libcurl.
 */
#include "admin_client.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"

#define CLIENT_TIMEOUT_MS (30L * 60 * 1000) /* a forced renewal may take minutes */
#define CLIENT_MAX_BODY (4 * 1024 * 1024)
#define SSE_MAX_LINE (256 * 1024)
#define URL_MAX 8192

/* ---- a growing, bounded buffer ---- */

struct cbuf {
    char *data;
    size_t len, max;
    bool over; /* something did not fit */
};

static int cbuf_add(struct cbuf *b, const char *p, size_t n)
{
    char *nd;

    if (b->len + n + 1 > b->max) {
        b->over = true;
        return -1;
    }
    nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL) {
        b->over = true;
        return -1;
    }
    b->data = nd;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void cbuf_reset(struct cbuf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* ---- opening ---- */

static void print_diag(void *arg, const autocert_diag *d)
{
    char line[2048];

    (void)arg;
    autocert_diag_format(d, line, sizeof line);
    fprintf(stderr, "%s\n", line);
}

int admin_ctx_open(const struct cli_opts *o, struct admin_ctx *ctx)
{
    autocert_error err;

    memset(ctx, 0, sizeof *ctx);
    if (o->admin_url != NULL) {
        const char *tok = getenv("AUTOCERT_ADMIN_TOKEN");
        size_t n;

        if (strncmp(o->admin_url, "http://", 7) != 0 && strncmp(o->admin_url, "https://", 8) != 0) {
            fprintf(stderr, "autocert: --admin takes an http:// or https:// URL\n");
            return EXIT_USAGE;
        }
        ctx->base_url = strdup(o->admin_url);
        if (tok != NULL && tok[0] != '\0')
            ctx->token = strdup(tok);
        if (ctx->base_url == NULL || (tok != NULL && tok[0] != '\0' && ctx->token == NULL)) {
            fprintf(stderr, "autocert: out of memory\n");
            return EXIT_FAILED;
        }
        n = strlen(ctx->base_url);
        while (n > 0 && ctx->base_url[n - 1] == '/')
            ctx->base_url[--n] = '\0';
        return EXIT_OK;
    }
    if (autocert_manager_open(o->config_path, print_diag, NULL, &ctx->m, &err) != 0) {
        fprintf(stderr, "autocert: %s\n", err.message);
        return strcmp(err.kind, AUTOCERT_E_CONFIG) == 0 ? EXIT_USAGE : EXIT_FAILED;
    }
    autocert_manager_load(ctx->m);
    return EXIT_OK;
}

void admin_ctx_close(struct admin_ctx *ctx)
{
    autocert_manager_free(ctx->m);
    free(ctx->base_url);
    if (ctx->token != NULL) {
        memset(ctx->token, 0, strlen(ctx->token));
        free(ctx->token);
    }
    memset(ctx, 0, sizeof *ctx);
}

/* ---- requests ---- */

static int make_url(const struct admin_ctx *ctx, const char *path, const char *query, char *url,
                    size_t n)
{
    int w = snprintf(url, n, "%s%s%s%s", ctx->base_url, path, query != NULL ? "?" : "",
                     query != NULL ? query : "");

    return w >= 0 && (size_t)w < n ? 0 : -1;
}

static size_t body_sink(char *p, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;

    return cbuf_add(arg, p, n) == 0 ? n : 0;
}

/* A curl handle for the daemon: URL, token, timeouts. */
static CURL *client_handle(const struct admin_ctx *ctx, const char *url, struct curl_slist **hdrs,
                           const char *accept)
{
    CURL *c = curl_easy_init();
    struct cbuf auth = {.max = 8192};

    if (c == NULL)
        return NULL;
    if (accept != NULL)
        *hdrs = curl_slist_append(*hdrs, accept);
    if (ctx->token != NULL && cbuf_add(&auth, "Authorization: Bearer ", 22) == 0 &&
        cbuf_add(&auth, ctx->token, strlen(ctx->token)) == 0)
        *hdrs = curl_slist_append(*hdrs, auth.data);
    if (auth.data != NULL) {
        memset(auth.data, 0, auth.len);
        free(auth.data);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

/* The Link header of an answer (curl's header callback). */
struct link_sink {
    char *out;
    size_t n;
};

static size_t header_sink(char *p, size_t size, size_t nmemb, void *arg)
{
    struct link_sink *l = arg;
    size_t len = size * nmemb;

    if (l->out != NULL && len > 5 && strncasecmp(p, "Link:", 5) == 0) {
        size_t v = 5;

        while (v < len && (p[v] == ' ' || p[v] == '\t'))
            v++;
        while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n'))
            len--;
        snprintf(l->out, l->n, "%.*s", (int)(len - v), p + v);
    }
    return size * nmemb;
}

static int remote_request(struct admin_ctx *ctx, const char *method, const char *path,
                          const char *query, long *status, char **body, struct link_sink *link)
{
    char url[URL_MAX];
    struct curl_slist *hdrs = NULL;
    struct cbuf b = {.max = CLIENT_MAX_BODY};
    CURL *c = NULL;
    CURLcode cc;
    int rc = -1;

    if (make_url(ctx, path, query, url, sizeof url) != 0) {
        fprintf(stderr, "autocert: request too long\n");
        goto out;
    }
    c = client_handle(ctx, url, &hdrs, NULL);
    if (c == NULL) {
        fprintf(stderr, "autocert: out of memory\n");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, link);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CLIENT_TIMEOUT_MS);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "autocert: admin API %s: %s\n", ctx->base_url,
                b.over ? "answer too large" : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (b.data == NULL && cbuf_add(&b, "", 0) != 0) {
        fprintf(stderr, "autocert: out of memory\n");
        goto out;
    }
    *body = b.data;
    b.data = NULL;
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    if (c != NULL)
        curl_easy_cleanup(c);
    free(b.data);
    return rc;
}

static int local_request(struct admin_ctx *ctx, const char *method, const char *path,
                         const char *query, long *status, char **body, struct link_sink *link)
{
    autocert_admin_response *r = NULL;
    struct cbuf b = {.max = CLIENT_MAX_BODY};
    char chunk[4096];
    ssize_t n;
    int rc = -1;

    if (autocert_admin_handle_trusted(ctx->m, method, path, query, &r) != 0)
        goto oom;
    *status = autocert_admin_response_status(r);
    for (size_t i = 0; link->out != NULL; i++) {
        const char *name, *value;

        if (autocert_admin_response_header(r, i, &name, &value) != 0)
            break;
        if (strcasecmp(name, "Link") == 0)
            snprintf(link->out, link->n, "%s", value);
    }
    while ((n = autocert_admin_response_read(r, chunk, sizeof chunk)) > 0)
        if (cbuf_add(&b, chunk, (size_t)n) != 0)
            goto oom;
    if (n < 0 || (b.data == NULL && cbuf_add(&b, "", 0) != 0))
        goto oom;
    *body = b.data;
    b.data = NULL;
    rc = 0;
    goto out;
oom:
    fprintf(stderr, "autocert: out of memory\n");
out:
    autocert_admin_response_free(r);
    free(b.data);
    return rc;
}

int admin_ctx_request(struct admin_ctx *ctx, const char *method, const char *path,
                      const char *query, long *status, char **body)
{
    struct link_sink none = {NULL, 0};

    *body = NULL;
    *status = 0;
    return admin_ctx_remote(ctx) ? remote_request(ctx, method, path, query, status, body, &none)
                                 : local_request(ctx, method, path, query, status, body, &none);
}

/* The decoded value of `cursor=` in the target of a rel="next" link. */
static void next_cursor(const char *link, char *out, size_t n)
{
    const char *lt = strchr(link, '<'), *gt = lt != NULL ? strchr(lt, '>') : NULL, *c;
    char *dec;
    int len;

    out[0] = '\0';
    if (gt == NULL || strstr(gt, "rel=\"next\"") == NULL)
        return;
    for (c = strstr(lt, "cursor="); c != NULL && c < gt; c = strstr(c + 1, "cursor="))
        if (c[-1] == '?' || c[-1] == '&')
            break;
    if (c == NULL || c >= gt)
        return;
    c += 7;
    len = (int)strcspn(c, "&>");
    dec = curl_easy_unescape(NULL, c, len, &len);
    if (dec != NULL && (size_t)len < n)
        snprintf(out, n, "%s", dec);
    curl_free(dec);
}

int admin_ctx_request_page(struct admin_ctx *ctx, const char *path, const char *query, long *status,
                           char **body, char *next, size_t n)
{
    char link[4096] = "";
    struct link_sink sink = {link, sizeof link};
    int rc;

    *body = NULL;
    *status = 0;
    next[0] = '\0';
    rc = admin_ctx_remote(ctx) ? remote_request(ctx, "GET", path, query, status, body, &sink)
                               : local_request(ctx, "GET", path, query, status, body, &sink);
    if (rc == 0)
        next_cursor(link, next, n);
    return rc;
}

int admin_query_add(char *buf, size_t n, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    size_t used = strlen(buf);
    int w;

    if (esc == NULL)
        return -1;
    w = snprintf(buf + used, n - used, "%s%s=%s", used > 0 ? "&" : "", key, esc);
    curl_free(esc);
    return w >= 0 && (size_t)w < n - used ? 0 : -1;
}

/* ---- Server-Sent Events ---- */

struct sse_parse {
    CURL *curl;
    admin_sse_fn fn;
    void *arg;
    struct cbuf line;
    struct cbuf data;
    char event[64];
    bool error_body; /* non-200: collect the body */
    struct cbuf raw;
};

static void sse_line(struct sse_parse *p)
{
    char *l = p->line.data != NULL ? p->line.data : "";
    size_t n = p->line.len;

    if (n > 0 && l[n - 1] == '\r')
        l[--n] = '\0';
    if (n == 0) {
        if (p->data.len > 0 || p->event[0] != '\0')
            p->fn(p->arg, p->event[0] != '\0' ? p->event : "message",
                  p->data.data != NULL ? p->data.data : "");
        cbuf_reset(&p->data);
        p->event[0] = '\0';
    } else if (strncmp(l, "event:", 6) == 0) {
        const char *v = l + 6;

        if (*v == ' ')
            v++;
        snprintf(p->event, sizeof p->event, "%s", v);
    } else if (strncmp(l, "data:", 5) == 0) {
        const char *v = l + 5;

        if (*v == ' ')
            v++;
        if (p->data.len > 0)
            cbuf_add(&p->data, "\n", 1);
        cbuf_add(&p->data, v, strlen(v));
    }
    cbuf_reset(&p->line);
}

static size_t sse_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sse_parse *p = userdata;
    size_t n = size * nmemb;
    long code = 0;

    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        p->error_body = true;
        cbuf_add(&p->raw, ptr, n); /* what does not fit is dropped */
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == '\n')
            sse_line(p);
        else if (cbuf_add(&p->line, &ptr[i], 1) != 0)
            return 0; /* line too long: abort */
    }
    return n;
}

int admin_client_stream(struct admin_ctx *ctx, const char *path, const char *query, admin_sse_fn fn,
                        void *arg, long *status)
{
    struct sse_parse p;
    struct curl_slist *hdrs = NULL;
    char url[URL_MAX];
    CURLcode cc;
    int rc = -1;

    memset(&p, 0, sizeof p);
    p.line.max = SSE_MAX_LINE;
    p.data.max = SSE_MAX_LINE;
    p.raw.max = 64 * 1024;
    p.fn = fn;
    p.arg = arg;
    if (make_url(ctx, path, query, url, sizeof url) != 0) {
        fprintf(stderr, "autocert: request too long\n");
        goto out;
    }
    p.curl = client_handle(ctx, url, &hdrs, "Accept: text/event-stream");
    if (p.curl == NULL) {
        fprintf(stderr, "autocert: out of memory\n");
        goto out;
    }
    curl_easy_setopt(p.curl, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(p.curl, CURLOPT_WRITEDATA, &p);
    curl_easy_setopt(p.curl, CURLOPT_LOW_SPEED_LIMIT, 1L); /* the server sends keepalives */
    curl_easy_setopt(p.curl, CURLOPT_LOW_SPEED_TIME, 60L);
    cc = curl_easy_perform(p.curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "autocert: admin API stream: %s\n", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(p.curl, CURLINFO_RESPONSE_CODE, status);
    if (p.error_body)
        fn(arg, "error", p.raw.data != NULL ? p.raw.data : "");
    else if (p.line.len > 0)
        sse_line(&p);
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    if (p.curl != NULL)
        curl_easy_cleanup(p.curl);
    free(p.line.data);
    free(p.data.data);
    free(p.raw.data);
    return rc;
}

/* ---- selection, bodies, output ---- */

/* "main", "extra[N]", "extraN" (case-insensitive). */
static bool looks_like_set_name(const char *a)
{
    const char *p;

    if (strcasecmp(a, "main") == 0)
        return true;
    if (strncasecmp(a, "extra", 5) != 0)
        return false;
    p = a + 5;
    if (*p == '[') {
        size_t n = strspn(p + 1, "0123456789");

        return n > 0 && strcmp(p + 1 + n, "]") == 0;
    }
    return *p != '\0' && p[strspn(p, "0123456789")] == '\0';
}

const char *admin_selector_query(const char *arg, char *buf, size_t n)
{
    char *esc = curl_easy_escape(NULL, arg, 0);
    int w;

    if (esc == NULL)
        return NULL;
    w = snprintf(buf, n, "%s=%s", looks_like_set_name(arg) ? "name" : "domain", esc);
    curl_free(esc);
    return w >= 0 && (size_t)w < n ? buf : NULL;
}

static const char *text(const char *s, char *buf, size_t n)
{
    autocert_text_sanitize(buf, n, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
    return buf;
}

const char *admin_body_message(const char *body, char *buf, size_t n)
{
    struct json_object *root = body != NULL ? json_tokener_parse(body) : NULL, *m = NULL;

    if (root != NULL && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "message", &m) && m != NULL)
        text(json_object_get_string(m), buf, n);
    else
        snprintf(buf, n, "unexpected answer");
    json_object_put(root);
    return buf;
}

bool admin_body_no_match(const char *body)
{
    struct json_object *root = body != NULL ? json_tokener_parse(body) : NULL, *k = NULL;
    bool yes = root != NULL && json_object_is_type(root, json_type_object) &&
               json_object_object_get_ex(root, "kind", &k) && k != NULL &&
               strcmp(json_object_get_string(k), AUTOCERT_E_NO_MATCH) == 0;

    json_object_put(root);
    return yes;
}

int admin_print_results(const char *json)
{
    struct json_object *root = json != NULL ? json_tokener_parse(json) : NULL;
    struct json_object *arr = NULL;
    char name[256], err[1024];
    int rc = EXIT_OK;
    size_t n;

    if (root == NULL || !json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "results", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        fprintf(stderr, "autocert: %s\n", admin_body_message(json, err, sizeof err));
        json_object_put(root);
        return EXIT_FAILED;
    }
    n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(arr, i), *v;
        bool ok = json_object_object_get_ex(r, "ok", &v) && json_object_get_boolean(v);

        text(json_object_object_get_ex(r, "name", &v) ? json_object_get_string(v) : "?", name,
             sizeof name);
        if (ok) {
            printf("%s: ok\n", name);
        } else {
            text(json_object_object_get_ex(r, "error", &v) && v != NULL ? json_object_get_string(v)
                                                                        : "failed",
                 err, sizeof err);
            printf("%s: FAILED: %s\n", name, err);
            rc = EXIT_FAILED;
        }
    }
    if (n == 0) {
        /* a stream ended by a stop: {"results":[],"message":"shutting down"} */
        fprintf(stderr, "autocert: %s\n", admin_body_message(json, err, sizeof err));
        rc = EXIT_FAILED;
    }
    fflush(stdout);
    json_object_put(root);
    return rc;
}

void admin_print_progress(const char *set, const char *message)
{
    char s[256], m[1024];

    if (set != NULL && set[0] != '\0')
        printf("  [%s] %s\n", text(set, s, sizeof s), text(message, m, sizeof m));
    else
        printf("  %s\n", text(message, m, sizeof m));
    fflush(stdout);
}

void admin_time_format(long long t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, n, "%lld", t);
}
