/*
 * test_admin_handler.c - the handler form of the admin API
 * (autocert_admin_handle, autocert_admin.h) on the public headers: every
 * endpoint, 401 / 403 / 404 / 405 / 413 / 414 / 421, the event stream read
 * through autocert_admin_response_read (ending with exactly one `result`
 * event), the loopback-peer rule without a token, a cross-origin POST
 * refused, and the same bodies from the libmicrohttpd server
 * (autocert_admin_start) as from the handler for the same requests.
 *
 * Two managers over the same two local sets (main, extra[1]): one whose
 * configuration has admin.token, one without.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "autocert/autocert_admin.h"
#include "test_manager_certs.h"

#pragma GCC diagnostic ignored "-Wunused-function"

#define TOKEN "s3cret-admin-token-123"

static char dir[256];
static autocert_manager *with_token, *without_token;

/* ---- requests ---- */

struct hdrs {
    const char *name[8];
    const char *value[8];
    size_t n;
};

static const char *hdr_get(void *arg, const char *name)
{
    struct hdrs *h = arg;

    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

static void hdr_add(struct hdrs *h, const char *name, const char *value)
{
    assert_true(h->n < 8);
    h->name[h->n] = name;
    h->value[h->n] = value;
    h->n++;
}

static struct sockaddr_in lo4, far4;
static struct sockaddr_in6 lo6, mapped6;

struct answer {
    int status;
    bool streaming;
    char *body; /* NUL-terminated */
    size_t len;
    char headers[1024]; /* "Name: value\n"... */
};

static void answer_free(struct answer *a)
{
    free(a->body);
    memset(a, 0, sizeof *a);
}

/* Runs one request through autocert_admin_handle and reads the whole body. */
static void handle(autocert_manager *m, const char *method, const char *path, const char *query,
                   struct hdrs *h, const void *body, size_t body_len, const struct sockaddr *peer,
                   socklen_t peer_len, struct answer *a)
{
    autocert_admin_request req = {.method = method,
                                  .path = path,
                                  .query = query,
                                  .header = hdr_get,
                                  .header_arg = h,
                                  .body = body,
                                  .body_len = body_len,
                                  .peer = peer,
                                  .peer_len = peer_len};
    autocert_admin_response *r = NULL;
    const char *name, *value;
    size_t cap = 1 << 16, used = 0;
    ssize_t n;

    memset(a, 0, sizeof *a);
    assert_int_equal(autocert_admin_handle(m, &req, &r), 0);
    assert_non_null(r);
    a->status = autocert_admin_response_status(r);
    a->streaming = autocert_admin_response_streaming(r);
    for (size_t i = 0; autocert_admin_response_header(r, i, &name, &value) == 0; i++) {
        size_t l = strlen(a->headers);

        snprintf(a->headers + l, sizeof a->headers - l, "%s: %s\n", name, value);
    }
    a->body = malloc(cap);
    assert_non_null(a->body);
    /* small reads on purpose: a body comes in pieces */
    while ((n = autocert_admin_response_read(r, a->body + used, 7)) > 0) {
        used += (size_t)n;
        assert_true(used + 8 < cap);
    }
    assert_int_equal(n, 0);
    a->body[used] = '\0';
    a->len = used;
    autocert_admin_response_free(r);
}

/* A request from 127.0.0.1 with the token (when tok) and no other header. */
static void get(autocert_manager *m, const char *method, const char *path, const char *query,
                bool tok, struct answer *a)
{
    struct hdrs h = {0};

    if (tok)
        hdr_add(&h, "Authorization", "Bearer " TOKEN);
    handle(m, method, path, query, &h, NULL, 0, (struct sockaddr *)&lo4, sizeof lo4, a);
}

static void assert_json_message(const struct answer *a)
{
    struct json_object *root = json_tokener_parse(a->body), *v;

    assert_non_null(strstr(a->headers, "Content-Type: application/json"));
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "message", &v));
    assert_true(json_object_is_type(v, json_type_string));
    json_object_put(root);
}

/* ---- fixture ---- */

static autocert_manager *open_manager(bool token)
{
    char cfgp[512], err[256];
    autocert_manager *m = NULL;
    FILE *f;

    snprintf(cfgp, sizeof cfgp, "%s/autocert-%d.yml", dir, token);
    f = fopen(cfgp, "w");
    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n    - cert_path: %s/api.crt\n      key_path: %s/api.key\n"
            "admin:\n  listen: 127.0.0.1:18555\n%s",
            dir, dir, dir, dir, token ? "  token: " TOKEN "\n" : "");
    fclose(f);
    if (autocert_manager_new(cfgp, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(autocert_manager_load(m), 2);
    return m;
}

static int setup(void **state)
{
    char c[512], k[512];
    const char *main_sans[] = {"main.example.test", "*.main.example.test"};
    const char *api_sans[] = {"api.example.test"};

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_admin_handler_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(c, sizeof c, "%s/main.crt", dir);
    snprintf(k, sizeof k, "%s/main.key", dir);
    assert_int_equal(tmc_make(c, k, "main.example.test", main_sans, 2), 0);
    snprintf(c, sizeof c, "%s/api.crt", dir);
    snprintf(k, sizeof k, "%s/api.key", dir);
    assert_int_equal(tmc_make(c, k, "api.example.test", api_sans, 1), 0);
    with_token = open_manager(true);
    without_token = open_manager(false);

    lo4.sin_family = AF_INET;
    lo4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    far4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &far4.sin_addr);
    lo6.sin6_family = AF_INET6;
    lo6.sin6_addr = in6addr_loopback;
    mapped6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped6.sin6_addr);
    return 0;
}

static int teardown(void **state)
{
    char cmd[320];

    (void)state;
    autocert_manager_free(with_token);
    autocert_manager_free(without_token);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- tests ---- */

static void test_health_and_token(void **state)
{
    struct answer a;
    struct hdrs h = {0};

    (void)state;
    get(with_token, "GET", "/healthz", NULL, false, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"ok\":true}");
    answer_free(&a);
    get(with_token, "GET", "/api/v1/cert/status", NULL, false, &a);
    assert_int_equal(a.status, 401);
    assert_json_message(&a);
    assert_non_null(strstr(a.headers, "WWW-Authenticate: Bearer"));
    answer_free(&a);
    hdr_add(&h, "Authorization", "Bearer " TOKEN "x");
    handle(with_token, "GET", "/metrics", NULL, &h, NULL, 0, (struct sockaddr *)&lo4, sizeof lo4,
           &a);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    /* With a token, any peer that has it is answered. */
    h.n = 0;
    hdr_add(&h, "Authorization", "Bearer  " TOKEN " ");
    handle(with_token, "GET", "/api/v1/cert/status", NULL, &h, NULL, 0, (struct sockaddr *)&far4,
           sizeof far4, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
}

static void test_documents(void **state)
{
    struct answer a;
    struct json_object *root, *o, *v;

    (void)state;
    get(with_token, "GET", "/api/v1/cert/info", NULL, true, &a);
    assert_int_equal(a.status, 200);
    assert_false(a.streaming);
    root = json_tokener_parse(a.body);
    assert_non_null(root);
    assert_int_equal(json_object_array_length(root), 2);
    o = json_object_array_get_idx(root, 0);
    assert_true(json_object_object_get_ex(o, "name", &v));
    assert_string_equal(json_object_get_string(v), "main");
    assert_true(json_object_object_get_ex(o, "serial", &v));
    assert_string_equal(json_object_get_string(v), "1122334455667701");
    json_object_put(root);
    assert_null(strstr(a.body, "PRIVATE"));
    answer_free(&a);

    get(with_token, "GET", "/api/v1/cert/status", NULL, true, &a);
    assert_int_equal(a.status, 200);
    root = json_tokener_parse(a.body);
    assert_non_null(root);
    assert_int_equal(json_object_array_length(root), 2);
    assert_true(json_object_object_get_ex(json_object_array_get_idx(root, 1), "state", &v));
    assert_string_equal(json_object_get_string(v), "unmanaged");
    json_object_put(root);
    answer_free(&a);

    get(with_token, "GET", "/metrics", NULL, true, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers, "Content-Type: text/plain"));
    assert_non_null(
        strstr(a.body, "autocert_cert_state{set=\"extra[1]\",state=\"unmanaged\"} 1\n"));
    answer_free(&a);

    /* HEAD: the same status and headers, no body */
    get(with_token, "HEAD", "/api/v1/cert/status", NULL, true, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.len, 0);
    answer_free(&a);
}

static void test_errors(void **state)
{
    struct answer a;
    struct hdrs h = {0};
    char big[5000], longq[2100];

    (void)state;
    get(with_token, "GET", "/api/v1/nope", NULL, true, &a);
    assert_int_equal(a.status, 404);
    assert_json_message(&a);
    answer_free(&a);
    get(with_token, "DELETE", "/api/v1/cert/info", NULL, true, &a);
    assert_int_equal(a.status, 405);
    assert_non_null(strstr(a.headers, "Allow: GET, HEAD"));
    assert_json_message(&a);
    answer_free(&a);
    get(with_token, "PUT", "/api/v1/cert/renew", NULL, true, &a);
    assert_int_equal(a.status, 405);
    assert_non_null(strstr(a.headers, "Allow: GET, POST"));
    answer_free(&a);
    get(with_token, "GET", "/api/v1/cert/revoke", "name=main", true, &a);
    assert_int_equal(a.status, 405);
    assert_non_null(strstr(a.headers, "Allow: POST"));
    answer_free(&a);
    get(with_token, "POST", "/healthz", NULL, true, &a);
    assert_int_equal(a.status, 405);
    answer_free(&a);

    /* 413: a body over 4 KiB, announced or not */
    memset(big, 'x', sizeof big);
    hdr_add(&h, "Authorization", "Bearer " TOKEN);
    handle(with_token, "POST", "/api/v1/cert/renew", NULL, &h, big, sizeof big,
           (struct sockaddr *)&lo4, sizeof lo4, &a);
    assert_int_equal(a.status, 413);
    assert_json_message(&a);
    answer_free(&a);
    hdr_add(&h, "Content-Length", "5000");
    handle(with_token, "POST", "/api/v1/cert/renew", NULL, &h, NULL, 0, (struct sockaddr *)&lo4,
           sizeof lo4, &a);
    assert_int_equal(a.status, 413);
    answer_free(&a);

    /* 414 */
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    get(with_token, "GET", "/api/v1/cert/status", longq, true, &a);
    assert_int_equal(a.status, 414);
    answer_free(&a);

    /* selection */
    get(with_token, "POST", "/api/v1/cert/renew", "name=extra9", true, &a);
    assert_int_equal(a.status, 404);
    assert_json_message(&a);
    answer_free(&a);
    get(with_token, "POST", "/api/v1/cert/renew", "domain=zzz.example.test", true, &a);
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(a.body, "zzz.example.test"));
    answer_free(&a);
    get(with_token, "POST", "/api/v1/cert/renew", "name=main&domain=api.example.test", true, &a);
    assert_int_equal(a.status, 400);
    answer_free(&a);
    get(with_token, "POST", "/api/v1/cert/revoke", NULL, true, &a);
    assert_int_equal(a.status, 400);
    answer_free(&a);
    get(with_token, "POST", "/api/v1/cert/revoke", "name=main&reason=bogus", true, &a);
    assert_int_equal(a.status, 400);
    answer_free(&a);
    get(with_token, "POST", "/api/v1/cert/revoke", "name=nosuch.example.org", true, &a);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    /* request text echoed in an answer is made safe */
    get(with_token, "POST", "/api/v1/cert/renew", "name=%ff%1b%5b31m", true, &a);
    assert_int_equal(a.status, 404);
    assert_null(strchr(a.body, '\x1b'));
    assert_null(strstr(a.body, "\xff"));
    answer_free(&a);
}

static void test_renew_post(void **state)
{
    struct answer a;

    (void)state;
    get(with_token, "POST", "/api/v1/cert/renew", "name=extra1", true, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "{\"results\":[{\"name\":\"extra[1]\",\"ok\":true"));
    answer_free(&a);
    get(with_token, "POST", "/api/v1/cert/renew", "domain=x.main.example.test", true, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"name\":\"main\""));
    assert_null(strstr(a.body, "extra[1]"));
    answer_free(&a);
}

static void test_renew_stream(void **state)
{
    struct answer a;
    const char *res;

    (void)state;
    get(with_token, "GET", "/api/v1/cert/renew", NULL, true, &a);
    assert_int_equal(a.status, 200);
    assert_true(a.streaming);
    assert_non_null(strstr(a.headers, "Content-Type: text/event-stream"));
    assert_non_null(strstr(a.body, "event: progress\ndata: {"));
    res = strstr(a.body, "event: result\ndata: {\"results\":[");
    assert_non_null(res);
    assert_null(strstr(res + 1, "event: result")); /* exactly one */
    assert_null(strstr(res, "event: progress"));   /* and the last event */
    assert_non_null(strstr(res, "\"name\":\"main\""));
    assert_non_null(strstr(res, "\"name\":\"extra[1]\""));
    assert_string_equal(a.body + a.len - 2, "\n\n");
    answer_free(&a);

    /* a stream freed before it is read: the renewal goes on, nothing leaks */
    {
        struct hdrs h = {0};
        autocert_admin_request req = {.method = "GET",
                                      .path = "/api/v1/cert/renew",
                                      .query = "name=main",
                                      .header = hdr_get,
                                      .header_arg = &h,
                                      .peer = (struct sockaddr *)&lo4,
                                      .peer_len = sizeof lo4};
        autocert_admin_response *r = NULL;

        hdr_add(&h, "Authorization", "Bearer " TOKEN);
        assert_int_equal(autocert_admin_handle(with_token, &req, &r), 0);
        assert_true(autocert_admin_response_streaming(r));
        autocert_admin_response_free(r);
    }
}

static void test_loopback_peer_rule(void **state)
{
    struct answer a;
    struct hdrs h = {0};

    (void)state;
    handle(without_token, "GET", "/api/v1/cert/status", NULL, &h, NULL, 0, (struct sockaddr *)&lo4,
           sizeof lo4, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    handle(without_token, "GET", "/api/v1/cert/status", NULL, &h, NULL, 0, (struct sockaddr *)&lo6,
           sizeof lo6, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    handle(without_token, "GET", "/api/v1/cert/status", NULL, &h, NULL, 0,
           (struct sockaddr *)&mapped6, sizeof mapped6, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    handle(without_token, "GET", "/api/v1/cert/status", NULL, &h, NULL, 0, (struct sockaddr *)&far4,
           sizeof far4, &a);
    assert_int_equal(a.status, 403);
    assert_json_message(&a);
    assert_non_null(strstr(a.body, "loopback"));
    answer_free(&a);
    handle(without_token, "POST", "/api/v1/cert/renew", NULL, &h, NULL, 0, NULL, 0, &a);
    assert_int_equal(a.status, 403); /* unknown peer: not loopback */
    answer_free(&a);
    /* liveness only, for any peer */
    handle(without_token, "GET", "/healthz", NULL, &h, NULL, 0, (struct sockaddr *)&far4,
           sizeof far4, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    /* a token sent where none is configured changes nothing */
    hdr_add(&h, "Authorization", "Bearer " TOKEN);
    handle(without_token, "GET", "/api/v1/cert/info", NULL, &h, NULL, 0, (struct sockaddr *)&far4,
           sizeof far4, &a);
    assert_int_equal(a.status, 403);
    answer_free(&a);
}

static void test_cross_origin(void **state)
{
    struct answer a;
    struct hdrs h = {0};

    (void)state;
    /* a page elsewhere makes a local browser POST: refused, nothing renewed */
    hdr_add(&h, "Host", "localhost:8080");
    hdr_add(&h, "Origin", "http://evil.example");
    handle(without_token, "POST", "/api/v1/cert/renew", NULL, &h, "x", 1, (struct sockaddr *)&lo4,
           sizeof lo4, &a);
    assert_int_equal(a.status, 403);
    assert_json_message(&a);
    assert_non_null(strstr(a.body, "evil.example"));
    answer_free(&a);
    /* another local web app is another origin too */
    h.value[1] = "http://localhost:3000";
    handle(without_token, "POST", "/api/v1/cert/revoke", "name=main", &h, NULL, 0,
           (struct sockaddr *)&lo4, sizeof lo4, &a);
    assert_int_equal(a.status, 403);
    answer_free(&a);
    /* with the token the Origin rule still holds */
    h.n = 0;
    hdr_add(&h, "Authorization", "Bearer " TOKEN);
    hdr_add(&h, "Host", "gw.example.test");
    hdr_add(&h, "Origin", "https://evil.example");
    handle(with_token, "POST", "/api/v1/cert/renew", NULL, &h, NULL, 0, (struct sockaddr *)&far4,
           sizeof far4, &a);
    assert_int_equal(a.status, 403);
    answer_free(&a);
    /* the admin host's own page (http or https) is fine */
    h.value[2] = "https://gw.example.test";
    handle(with_token, "POST", "/api/v1/cert/renew", "name=extra1", &h, NULL, 0,
           (struct sockaddr *)&far4, sizeof far4, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    h.n = 0;
    hdr_add(&h, "Host", "localhost:8080");
    hdr_add(&h, "Origin", "http://localhost:8080");
    handle(without_token, "POST", "/api/v1/cert/renew", "name=extra1", &h, NULL, 0,
           (struct sockaddr *)&lo4, sizeof lo4, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    /* DNS rebinding: a foreign Host without a token */
    h.n = 0;
    hdr_add(&h, "Host", "attacker.example:8080");
    handle(without_token, "GET", "/api/v1/cert/status", NULL, &h, NULL, 0, (struct sockaddr *)&lo4,
           sizeof lo4, &a);
    assert_int_equal(a.status, 421);
    answer_free(&a);
    /* the event-stream renewal (a GET) from a cross-site context */
    h.n = 0;
    hdr_add(&h, "Sec-Fetch-Site", "cross-site");
    handle(without_token, "GET", "/api/v1/cert/renew", NULL, &h, NULL, 0, (struct sockaddr *)&lo4,
           sizeof lo4, &a);
    assert_int_equal(a.status, 403);
    answer_free(&a);
    h.value[0] = "same-site";
    handle(without_token, "GET", "/api/v1/cert/renew", NULL, &h, NULL, 0, (struct sockaddr *)&lo4,
           sizeof lo4, &a);
    assert_int_equal(a.status, 403);
    assert_non_null(strstr(a.body, "use POST"));
    answer_free(&a);
}

/* ---- the same answers from the MHD server ---- */

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
    struct answer *a = arg;
    char *nb = realloc(a->body, a->len + s * n + 1);

    assert_non_null(nb);
    a->body = nb;
    memcpy(a->body + a->len, p, s * n);
    a->len += s * n;
    a->body[a->len] = '\0';
    return s * n;
}

static void over_http(int port, const char *method, const char *target, struct answer *a)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];
    long status = 0;

    memset(a, 0, sizeof *a);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, target);
    h = curl_slist_append(h, "Authorization: Bearer " TOKEN);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    a->status = (int)status;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (a->body == NULL)
        a->body = strdup("");
}

static void test_same_answers_as_server(void **state)
{
    static const char *const cases[][3] = {
        {"GET", "/healthz", NULL},
        {"GET", "/api/v1/cert/info", NULL},
        {"GET", "/api/v1/cert/status", NULL},
        {"GET", "/metrics", NULL},
        {"GET", "/api/v1/nope", NULL},
        {"DELETE", "/api/v1/cert/status", NULL},
        {"POST", "/api/v1/cert/renew", "name=extra1"},
        {"POST", "/api/v1/cert/renew", "domain=nosuch.example.org"},
        {"POST", "/api/v1/cert/revoke", "name=main&reason=bogus"},
    };
    autocert_admin *srv = NULL;
    autocert_error err;
    int port;

    (void)state;
    assert_int_equal(autocert_admin_start(with_token, "127.0.0.1:0", &srv, &err), 0);
    port = autocert_admin_port(srv);
    assert_true(port > 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct answer h, s;
        char target[256];

        get(with_token, cases[i][0], cases[i][1], cases[i][2], true, &h);
        snprintf(target, sizeof target, "%s%s%s", cases[i][1], cases[i][2] != NULL ? "?" : "",
                 cases[i][2] != NULL ? cases[i][2] : "");
        over_http(port, cases[i][0], target, &s);
        assert_int_equal(h.status, s.status);
        assert_string_equal(h.body, s.body);
        answer_free(&h);
        answer_free(&s);
    }
    autocert_admin_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_token), cmocka_unit_test(test_documents),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_renew_post),
        cmocka_unit_test(test_renew_stream),     cmocka_unit_test(test_loopback_peer_rule),
        cmocka_unit_test(test_cross_origin),     cmocka_unit_test(test_same_answers_as_server),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
