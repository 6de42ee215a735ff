/*
 * test_admin_server.c - the admin API on a lifecycle built from a config with
 * two `local` sets (throwaway certificates): statuses 200/401/404/405/413, the
 * info/status/metrics bodies, POST renew results, the SSE stream's final
 * `result` event, revoke errors, the non-loopback-without-token refusal; and
 * the hostile cases of issue 10: a foreign Host (421), a foreign Origin or a
 * cross-site request (403, nothing renewed), request text echoed as valid
 * UTF-8, JSON 414/431 answers, a bearer token followed by whitespace.
 * No network beyond loopback. The admin sources live in the `autocert`
 * program, so they are compiled into this test directly.
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
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/admin_api.c"
#include "../../lib/admin_conn.c"
#include "../../lib/admin_guard.c"
#include "../../lib/admin_http.c"
#include "../../lib/admin_json.c"
#include "../../lib/admin_stream.c"
#include "manager.h"
#include "test_manager_certs.h"

/* tmc_slurp is not needed here. */
#pragma GCC diagnostic ignored "-Wunused-function"

static char dir[256];
static int port;
static autocert_manager *mgr;
static struct lifecycle *lc;
static struct admin_server *srv;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), p;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    p = ntohs(a.sin_port);
    close(fd);
    return p;
}

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
    struct ac_buf *b = arg;

    ac_buf_append(b, p, s * n);
    return s * n;
}

struct answer {
    long status;
    struct ac_buf body;
    struct ac_buf headers;
};

static void answer_free(struct answer *a)
{
    ac_buf_free(&a->body);
    ac_buf_free(&a->headers);
}

/* One request; headers is NULL or a NULL-terminated list of "Name: value". */
static void request_h(const char *method, const char *path, const char *const *headers,
                      const char *body, size_t body_len, struct answer *a)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[8192];

    memset(a, 0, sizeof *a);
    ac_buf_init(&a->body, 1 << 20);
    ac_buf_init(&a->headers, 1 << 16);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (a->body.data == NULL)
        ac_buf_appends(&a->body, "");
    if (a->headers.data == NULL)
        ac_buf_appends(&a->headers, "");
}

static void request(const char *method, const char *path, const char *auth, const char *body,
                    size_t body_len, struct answer *a)
{
    const char *h[] = {auth, NULL};

    request_h(method, path, h, body, body_len, a);
}

static const char *token_header = "Authorization: Bearer s3cret-admin-token-123";

/* Log lines written while a test runs (ac_log_set_sink). */
static struct ac_buf logged;
static pthread_mutex_t logged_mu = PTHREAD_MUTEX_INITIALIZER;

static void log_sink(enum ac_log_level level, const char *line, void *arg)
{
    (void)level;
    (void)arg;
    pthread_mutex_lock(&logged_mu);
    ac_buf_appends(&logged, line);
    ac_buf_appends(&logged, "\n");
    pthread_mutex_unlock(&logged_mu);
}

static bool logged_has(const char *needle)
{
    bool found;

    pthread_mutex_lock(&logged_mu);
    found = logged.data != NULL && strstr(logged.data, needle) != NULL;
    pthread_mutex_unlock(&logged_mu);
    return found;
}

/* The body is JSON of the {"message": ...} kind and valid UTF-8 without
 * control characters. */
static void assert_json_message(const struct answer *a)
{
    struct json_object *root, *v;

    assert_true(ac_text_is_clean(a->body.data, a->body.len));
    assert_non_null(strstr(a->headers.data, "Content-Type: application/json"));
    root = json_tokener_parse(a->body.data);
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "message", &v));
    assert_true(json_object_is_type(v, json_type_string));
    json_object_put(root);
}

static int setup(void **state)
{
    char path[512], cfgp[512], err[256];
    const char *main_sans[] = {"main.example.test", "*.main.example.test"};
    const char *api_sans[] = {"api.example.test"};
    FILE *f;
    struct ac_error e;

    snprintf(dir, sizeof dir, "/tmp/test_admin_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/main.crt", dir);
    snprintf(cfgp, sizeof cfgp, "%s/main.key", dir);
    assert_int_equal(tmc_make(path, cfgp, "main.example.test", main_sans, 2), 0);
    snprintf(path, sizeof path, "%s/api.crt", dir);
    snprintf(cfgp, sizeof cfgp, "%s/api.key", dir);
    assert_int_equal(tmc_make(path, cfgp, "api.example.test", api_sans, 1), 0);
    port = free_port();
    snprintf(cfgp, sizeof cfgp, "%s/autocert.yml", dir);
    f = fopen(cfgp, "w");
    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n    - cert_path: %s/api.crt\n      key_path: %s/api.key\n"
            "admin:\n  listen: 127.0.0.1:%d\n  token: s3cret-admin-token-123\n",
            dir, dir, dir, dir, port);
    fclose(f);
    assert_int_equal(autocert_manager_new(cfgp, &mgr, err, sizeof err), 0);
    autocert_manager_load(mgr);
    ac_error_clear(&e);
    assert_int_equal(lifecycle_new(mgr, &lc, &e), 0);
    assert_int_equal(admin_server_open(mgr, NULL, NULL, &srv, &e), 0);
    assert_int_equal(admin_server_port(srv), port);
    return 0;
}

static int teardown(void **state)
{
    char cmd[320];

    admin_server_stop(srv);
    lifecycle_free(lc);
    autocert_manager_free(mgr);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_health_open_and_auth(void **state)
{
    struct answer a;

    request("GET", "/healthz", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body.data, "{\"ok\":true}");
    answer_free(&a);

    request("GET", "/api/v1/cert/info", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 401);
    assert_non_null(strstr(a.body.data, "\"message\""));
    answer_free(&a);

    request("GET", "/api/v1/cert/info", "Authorization: Bearer s3cret-admin-token-124", NULL, 0,
            &a);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    request("GET", "/metrics", "Authorization: Bearer s3cret-admin-token-12", NULL, 0, &a);
    assert_int_equal(a.status, 401);
    answer_free(&a);
}

static void test_info(void **state)
{
    struct answer a;
    struct json_object *root, *o, *v;

    request("GET", "/api/v1/cert/info", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers.data, "application/json"));
    root = json_tokener_parse(a.body.data);
    assert_non_null(root);
    assert_int_equal(json_object_array_length(root), 2);
    o = json_object_array_get_idx(root, 0);
    assert_true(json_object_object_get_ex(o, "name", &v));
    assert_string_equal(json_object_get_string(v), "main");
    assert_true(json_object_object_get_ex(o, "subject", &v));
    assert_string_equal(json_object_get_string(v), "main.example.test");
    assert_true(json_object_object_get_ex(o, "dns_names", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_true(json_object_object_get_ex(o, "email_addresses", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "not_after", &v));
    assert_true(json_object_get_int64(v) > time(NULL) + 29 * 86400);
    assert_true(json_object_object_get_ex(o, "serial", &v));
    assert_string_equal(json_object_get_string(v), "1122334455667701");
    assert_true(json_object_object_get_ex(o, "key_type", &v));
    assert_string_equal(json_object_get_string(v), "EC256");
    o = json_object_array_get_idx(root, 1);
    assert_true(json_object_object_get_ex(o, "name", &v));
    assert_string_equal(json_object_get_string(v), "extra[1]");
    json_object_put(root);
    /* No key material in any answer. */
    assert_null(strstr(a.body.data, "PRIVATE"));
    answer_free(&a);
}

static void test_status_and_metrics(void **state)
{
    struct answer a;
    struct json_object *root, *o, *v;

    request("GET", "/api/v1/cert/status", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    root = json_tokener_parse(a.body.data);
    assert_non_null(root);
    assert_int_equal(json_object_array_length(root), 2);
    o = json_object_array_get_idx(root, 1);
    assert_true(json_object_object_get_ex(o, "state", &v));
    assert_string_equal(json_object_get_string(v), "unmanaged");
    assert_true(json_object_object_get_ex(o, "provider", &v));
    assert_string_equal(json_object_get_string(v), "local");
    assert_true(json_object_object_get_ex(o, "last_error", &v));
    assert_null(v);
    json_object_put(root);
    answer_free(&a);

    request("GET", "/metrics", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers.data, "text/plain"));
    assert_non_null(strstr(a.body.data, "# TYPE autocert_cert_not_after_seconds gauge\n"));
    assert_non_null(
        strstr(a.body.data, "autocert_cert_state{set=\"extra[1]\",state=\"unmanaged\"} 1\n"));
    assert_non_null(strstr(a.body.data, "autocert_cert_state{set=\"main\",state=\"valid\"} 0\n"));
    assert_non_null(strstr(a.body.data, "# TYPE autocert_orders_total counter\n"));
    answer_free(&a);
}

static void test_errors(void **state)
{
    struct answer a;
    char big[5000];

    request("GET", "/api/v1/nope", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(a.body.data, "\"message\""));
    answer_free(&a);

    request("DELETE", "/api/v1/cert/info", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 405);
    assert_non_null(strstr(a.headers.data, "Allow: GET, HEAD"));
    answer_free(&a);
    request("PUT", "/api/v1/cert/renew", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 405);
    assert_non_null(strstr(a.headers.data, "Allow: GET, POST"));
    answer_free(&a);

    memset(big, 'x', sizeof big);
    request("POST", "/api/v1/cert/renew", token_header, big, sizeof big, &a);
    assert_int_equal(a.status, 413);
    answer_free(&a);

    request("POST", "/api/v1/cert/renew?name=extra9", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    request("POST", "/api/v1/cert/renew?domain=zzz.example.test", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    request("POST", "/api/v1/cert/revoke", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 400);
    answer_free(&a);
    request("POST", "/api/v1/cert/revoke?name=main&reason=bogus", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 400);
    answer_free(&a);
}

static void test_renew_post(void **state)
{
    struct answer a;
    struct json_object *root, *arr, *v;

    request("POST", "/api/v1/cert/renew?name=extra1", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    root = json_tokener_parse(a.body.data);
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "results", &arr));
    assert_int_equal(json_object_array_length(arr), 1);
    assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, 0), "name", &v));
    assert_string_equal(json_object_get_string(v), "extra[1]");
    assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, 0), "ok", &v));
    assert_true(json_object_get_boolean(v));
    json_object_put(root);
    answer_free(&a);

    request("POST", "/api/v1/cert/renew?domain=x.main.example.test", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body.data, "\"name\":\"main\""));
    answer_free(&a);
}

static void test_renew_sse(void **state)
{
    struct answer a;
    const char *res, *last;

    request("GET", "/api/v1/cert/renew", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers.data, "text/event-stream"));
    assert_non_null(strstr(a.body.data, "event: progress\ndata: {"));
    res = strstr(a.body.data, "event: result\ndata: {\"results\":[");
    assert_non_null(res);
    /* exactly one result event, and it is the last thing in the stream */
    assert_null(strstr(res + 1, "event: result"));
    assert_null(strstr(res, "event: progress"));
    assert_non_null(strstr(res, "\"name\":\"main\""));
    assert_non_null(strstr(res, "\"name\":\"extra[1]\""));
    last = a.body.data + a.body.len - 2;
    assert_string_equal(last, "\n\n");
    answer_free(&a);
}

static void test_token_whitespace(void **state)
{
    struct answer a;

    (void)state;
    /* RFC 9110 OWS around the header value is not part of the token. */
    request("GET", "/api/v1/cert/status", "Authorization: Bearer s3cret-admin-token-123  ", NULL, 0,
            &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    request("GET", "/api/v1/cert/status", "Authorization: Bearer \ts3cret-admin-token-123\t", NULL,
            0, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    request("GET", "/api/v1/cert/status", "Authorization: Bearer s3cret-admin-token-123 x", NULL, 0,
            &a);
    assert_int_equal(a.status, 401);
    answer_free(&a);
}

static void test_foreign_host_and_origin(void **state)
{
    struct answer a;
    char good_host[64], good_origin[64];
    const char *rebind[] = {token_header, "Host: attacker.example:8555", NULL};
    const char *evil[] = {token_header, "Origin: http://evil.example", "Content-Type: text/plain",
                          NULL};
    const char *cross[] = {token_header, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors",
                           "Sec-Fetch-Dest: image", NULL};
    const char *ok[] = {token_header, good_host, good_origin, "Sec-Fetch-Site: same-origin", NULL};

    (void)state;
    request_h("GET", "/api/v1/cert/status", rebind, NULL, 0, &a);
    assert_int_equal(a.status, 421);
    assert_json_message(&a);
    assert_non_null(strstr(a.body.data, "attacker.example"));
    answer_free(&a);
    request_h("GET", "/healthz", rebind, NULL, 0, &a);
    assert_int_equal(a.status, 421);
    answer_free(&a);

    pthread_mutex_lock(&logged_mu);
    ac_buf_reset(&logged);
    pthread_mutex_unlock(&logged_mu);
    request_h("POST", "/api/v1/cert/revoke?name=main", evil, "x", 1, &a);
    assert_int_equal(a.status, 403);
    assert_json_message(&a);
    answer_free(&a);
    request_h("POST", "/api/v1/cert/renew", evil, "x", 1, &a);
    assert_int_equal(a.status, 403);
    answer_free(&a);
    request_h("GET", "/api/v1/cert/renew", cross, NULL, 0, &a);
    assert_int_equal(a.status, 403);
    assert_json_message(&a);
    answer_free(&a);
    /* nothing was revoked or renewed */
    assert_false(logged_has("requested through the API"));

    snprintf(good_host, sizeof good_host, "Host: localhost:%d", port);
    snprintf(good_origin, sizeof good_origin, "Origin: http://127.0.0.1:%d", port);
    request_h("POST", "/api/v1/cert/renew?name=extra1", ok, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    assert_true(logged_has("forced renewal requested through the API"));
}

static void test_echo_is_utf8(void **state)
{
    struct answer a;

    (void)state;
    request("POST", "/api/v1/cert/renew?name=%ff%fe%1b%5b31m%0a", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 404);
    assert_json_message(&a);
    assert_null(strstr(a.body.data, "\xff")); /* the raw byte */
    answer_free(&a);
    request("POST", "/api/v1/cert/renew?domain=%c3%a9%ff.example", token_header, NULL, 0, &a);
    assert_int_equal(a.status, 404);
    assert_json_message(&a);
    assert_non_null(strstr(a.body.data, "\xc3\xa9")); /* valid UTF-8 stays */
    answer_free(&a);
}

static void test_oversized_heads_are_json(void **state)
{
    struct answer a;
    char path[3100], pad[9100];
    const char *h[] = {token_header, pad, NULL};

    (void)state;
    snprintf(path, sizeof path, "/api/v1/cert/status?x=");
    memset(path + strlen(path), 'a', 3000);
    path[22 + 3000] = '\0';
    request("GET", path, token_header, NULL, 0, &a);
    assert_int_equal(a.status, 414);
    assert_json_message(&a);
    answer_free(&a);

    snprintf(pad, sizeof pad, "X-Pad: ");
    memset(pad + 7, 'b', 9000);
    pad[7 + 9000] = '\0';
    request_h("GET", "/api/v1/cert/status", h, NULL, 0, &a);
    assert_int_equal(a.status, 431);
    assert_json_message(&a);
    answer_free(&a);
}

static void test_listen_policy(void **state)
{
    struct config cfg;
    struct ac_error e;

    memset(&cfg, 0, sizeof cfg);
    cfg.admin.listen = "0.0.0.0:8555";
    assert_int_equal(admin_check_listen(&cfg, &e), -1);
    assert_non_null(strstr(e.message, "admin.token"));
    cfg.admin.token = "a-long-enough-token";
    assert_int_equal(admin_check_listen(&cfg, &e), 0);
    cfg.admin.token = NULL;
    cfg.admin.listen = "[::1]:8555";
    assert_int_equal(admin_check_listen(&cfg, &e), 0);
    cfg.admin.listen = "127.3.4.5:8555";
    assert_int_equal(admin_check_listen(&cfg, &e), 0);
    cfg.admin.listen = "[2001:db8::1]:8555";
    assert_int_equal(admin_check_listen(&cfg, &e), -1);
    assert_int_equal(autocert_revocation_reason("keyCompromise"), 1);
    assert_int_equal(autocert_revocation_reason("4"), 4);
    assert_int_equal(autocert_revocation_reason("7"), -2);
    assert_int_equal(autocert_revocation_reason(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_open_and_auth),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_status_and_metrics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_renew_post),
        cmocka_unit_test(test_renew_sse),
        cmocka_unit_test(test_token_whitespace),
        cmocka_unit_test(test_foreign_host_and_origin),
        cmocka_unit_test(test_echo_is_utf8),
        cmocka_unit_test(test_oversized_heads_are_json),
        cmocka_unit_test(test_listen_policy),
    };

    ac_buf_init(&logged, 1 << 20);
    ac_log_set_sink(log_sink, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    ac_log_set_sink(NULL, NULL);
    ac_buf_free(&logged);
    return rc;
}
