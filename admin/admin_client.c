/*
 * admin_client.c - the CLI's two ways to the data (admin_client.h): an
 * in-process manager + lifecycle, or a running daemon's REST API (plain
 * requests through lib/http.h; the Server-Sent Events stream through libcurl
 * directly, since http.h buffers whole bodies).
 */
#include "admin_client.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_server.h"
#include "buf.h"
#include "commands.h"
#include "http.h"
#include "manager.h"

#define ADMIN_CLIENT_TIMEOUT_MS (30L * 60 * 1000) /* a forced renewal may take minutes */
#define ADMIN_CLIENT_MAX_BODY (4 * 1024 * 1024)
#define ADMIN_SSE_MAX_LINE (256 * 1024)

int admin_ctx_open(const struct cli_opts *o, struct admin_ctx *ctx)
{
    struct ac_error e;
    char err[512];
    struct config *cfg;

    memset(ctx, 0, sizeof *ctx);
    ac_error_clear(&e);
    if (o->admin_url != NULL) {
        const char *tok = getenv("AUTOCERT_ADMIN_TOKEN");
        struct http_client_opts ho = {.timeout_ms = ADMIN_CLIENT_TIMEOUT_MS,
                                      .max_body = ADMIN_CLIENT_MAX_BODY};
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
        if (http_client_new(&ho, &ctx->http, &e) != 0) {
            fprintf(stderr, "autocert: %s\n", e.message);
            return EXIT_FAILED;
        }
        return EXIT_OK;
    }
    cfg = cli_load_config(o->config_path);
    if (cfg == NULL)
        return EXIT_USAGE;
    if (autocert_manager_new_from_config(cfg, &ctx->m, err, sizeof err) != 0) {
        fprintf(stderr, "autocert: %s\n", err);
        return EXIT_FAILED;
    }
    ctx->cfg = manager_config(ctx->m);
    autocert_manager_load(ctx->m);
    if (lifecycle_new(ctx->m, &ctx->lc, &e) != 0) {
        fprintf(stderr, "autocert: %s\n", e.message);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

void admin_ctx_close(struct admin_ctx *ctx)
{
    lifecycle_free(ctx->lc);
    autocert_manager_free(ctx->m);
    http_client_free(ctx->http);
    free(ctx->base_url);
    free(ctx->token);
    memset(ctx, 0, sizeof *ctx);
}

static char *make_url(const struct admin_ctx *ctx, const char *path)
{
    struct ac_buf b;

    ac_buf_init(&b, 8192);
    if (ac_buf_appends(&b, ctx->base_url) != 0 || ac_buf_appends(&b, path) != 0) {
        ac_buf_free(&b);
        return NULL;
    }
    return ac_buf_steal(&b, NULL);
}

int admin_client_request(struct admin_ctx *ctx, const char *method, const char *path,
                         long *status, char **body, struct ac_error *e)
{
    struct http_header hdr[1];
    struct http_request req = {.method = method};
    struct http_response resp;
    char *auth = NULL, *url = make_url(ctx, path);
    int rc = -1;

    *body = NULL;
    memset(&resp, 0, sizeof resp);
    if (url == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    req.url = url;
    if (ctx->token != NULL) {
        size_t n = strlen(ctx->token) + 8;

        auth = malloc(n);
        if (auth == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        snprintf(auth, n, "Bearer %s", ctx->token);
        hdr[0].name = "Authorization";
        hdr[0].value = auth;
        req.headers = hdr;
        req.header_count = 1;
    }
    if (http_do(ctx->http, &req, &resp, e) != 0)
        goto out;
    *status = resp.status;
    *body = ac_buf_steal(&resp.body, NULL);
    if (*body == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    free(auth);
    free(url);
    return rc;
}

/* ---- SSE ---- */

struct sse_parse {
    CURL *curl;
    admin_sse_fn fn;
    void *arg;
    struct ac_buf line;
    struct ac_buf data;
    char event[64];
    bool error_body; /* non-200: collect the body */
    struct ac_buf raw;
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
        ac_buf_reset(&p->data);
        if (p->data.data != NULL)
            p->data.data[0] = '\0';
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
            ac_buf_appends(&p->data, "\n");
        ac_buf_appends(&p->data, v);
    }
    ac_buf_reset(&p->line);
}

static size_t sse_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sse_parse *p = userdata;
    size_t n = size * nmemb;
    long code = 0;

    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        p->error_body = true;
        ac_buf_append(&p->raw, ptr, n); /* truncated at the cap */
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == '\n') {
            sse_line(p);
        } else if (ac_buf_append(&p->line, &ptr[i], 1) != 0) {
            return 0; /* line too long: abort */
        }
    }
    return n;
}

int admin_client_stream(struct admin_ctx *ctx, const char *path, admin_sse_fn fn, void *arg,
                        long *status, struct ac_error *e)
{
    struct sse_parse p;
    struct curl_slist *hdrs = NULL;
    char *url = make_url(ctx, path), *auth = NULL;
    CURLcode cc;
    int rc = -1;

    memset(&p, 0, sizeof p);
    ac_buf_init(&p.line, ADMIN_SSE_MAX_LINE);
    ac_buf_init(&p.data, ADMIN_SSE_MAX_LINE);
    ac_buf_init(&p.raw, 64 * 1024);
    p.fn = fn;
    p.arg = arg;
    p.curl = curl_easy_init();
    if (url == NULL || p.curl == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
    if (ctx->token != NULL) {
        size_t n = strlen(ctx->token) + 32;

        auth = malloc(n);
        if (auth == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        snprintf(auth, n, "Authorization: Bearer %s", ctx->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(p.curl, CURLOPT_URL, url);
    curl_easy_setopt(p.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(p.curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(p.curl, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(p.curl, CURLOPT_WRITEDATA, &p);
    curl_easy_setopt(p.curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(p.curl, CURLOPT_LOW_SPEED_LIMIT, 1L); /* the server sends keepalives */
    curl_easy_setopt(p.curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(p.curl, CURLOPT_NOSIGNAL, 1L);
    cc = curl_easy_perform(p.curl);
    if (cc != CURLE_OK) {
        ac_error_set(e, cc == CURLE_OPERATION_TIMEDOUT ? AC_ERR_TIMEOUT : AC_ERR_NET,
                     "admin API stream: %s", curl_easy_strerror(cc));
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
    if (auth != NULL) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(url);
    ac_buf_free(&p.line);
    ac_buf_free(&p.data);
    ac_buf_free(&p.raw);
    return rc;
}

char *admin_ctx_get_doc(struct admin_ctx *ctx, const char *path, long *status)
{
    struct ac_error e;
    char *body = NULL;

    ac_error_clear(&e);
    if (!admin_ctx_remote(ctx)) {
        if (strcmp(path, "/api/v1/cert/info") == 0) {
            size_t count = 0;

            body = admin_json_info(ctx->lc, ctx->cfg, ADMIN_ALL_SETS, &count);
            *status = count > 0 ? 200 : 404;
            if (body != NULL && count == 0) {
                free(body);
                body = admin_json_message("no certificate found");
            }
        } else {
            body = admin_json_status(ctx->lc, ctx->cfg, ADMIN_ALL_SETS);
            *status = 200;
        }
        if (body == NULL)
            fprintf(stderr, "autocert: out of memory\n");
        return body;
    }
    if (admin_client_request(ctx, "GET", path, status, &body, &e) != 0) {
        fprintf(stderr, "autocert: %s\n", e.message);
        return NULL;
    }
    return body;
}

int admin_print_results(const char *json)
{
    struct json_object *root = json != NULL ? json_tokener_parse(json) : NULL;
    struct json_object *arr = NULL;
    int rc = EXIT_OK;
    size_t n;

    if (root == NULL || !json_object_object_get_ex(root, "results", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        struct json_object *msg = NULL;

        if (root != NULL && json_object_object_get_ex(root, "message", &msg))
            fprintf(stderr, "autocert: %s\n", json_object_get_string(msg));
        else
            fprintf(stderr, "autocert: unexpected answer from the admin API\n");
        json_object_put(root);
        return EXIT_FAILED;
    }
    n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(arr, i), *v;
        const char *name = json_object_object_get_ex(r, "name", &v) ? json_object_get_string(v)
                                                                    : "?";
        bool ok = json_object_object_get_ex(r, "ok", &v) && json_object_get_boolean(v);

        if (ok) {
            printf("%s: ok\n", name);
        } else {
            const char *err = json_object_object_get_ex(r, "error", &v) && v != NULL
                                  ? json_object_get_string(v)
                                  : "failed";
            printf("%s: FAILED: %s\n", name, err);
            rc = EXIT_FAILED;
        }
    }
    if (n == 0)
        rc = EXIT_FAILED;
    fflush(stdout);
    json_object_put(root);
    return rc;
}

void admin_print_progress(const char *set, const char *message)
{
    if (set != NULL && set[0] != '\0')
        printf("  [%s] %s\n", set, message);
    else
        printf("  %s\n", message);
    fflush(stdout);
}
