/*
 * test_http.c - lib/http.c against a real local HTTP server (libmicrohttpd on
 * 127.0.0.1, ephemeral port): header capture (lowercase names, trimmed values,
 * count cap), Link parsing (several links per header, several headers,
 * relative URLs), request body and headers, body cap, timeout, connection
 * refused, an oversized header named in the error (not "no such header"), a
 * request in flight aborted by the thread's cancel token or its scope's time
 * limit; plus http_link on hand-built responses and http_escape.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "timeutil.h"

static struct MHD_Daemon *daemon_;
static unsigned short port_;
static atomic_bool release_; /* ends /hang early */
static atomic_int hanging_;  /* /hang requests being held */

struct req_state {
    char body[4096];
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             size_t len, struct MHD_Response **out)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    *out = r;
    return r != NULL ? MHD_YES : MHD_NO;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct req_state *st = *con_cls;
    struct MHD_Response *r = NULL;
    enum MHD_Result ret;
    unsigned status = 200;

    if (st == NULL) {
        st = calloc(1, sizeof *st);
        *con_cls = st;
        return st != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        if (n > sizeof st->body - 1 - st->len)
            n = sizeof st->body - 1 - st->len;
        memcpy(st->body + st->len, upload, n);
        st->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/headers") == 0) {
        reply(conn, 200, "hello", 5, &r);
        MHD_add_response_header(r, "Replay-Nonce", "nonce-123");
        MHD_add_response_header(r, "X-Padded", "   padded value  ");
        MHD_add_response_header(r, "Link", "<https://ca.test/dir>;rel=\"index\", "
                                            "</acme/cert/1/alt>; rel=\"alternate\"");
        MHD_add_response_header(r, "Link", "<https://ca.test/issuer>;rel=up");
        MHD_add_response_header(r, "Location", "https://ca.test/acct/1");
    } else if (strcmp(url, "/echo") == 0) {
        char out[8192];
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        const char *au = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        int n = snprintf(out, sizeof out, "%s|%s|%s|%.*s", method, ct ? ct : "-",
                         au ? au : "-", (int)st->len, st->body);
        status = 201;
        reply(conn, 201, out, (size_t)n, &r);
    } else if (strcmp(url, "/big") == 0) {
        static char big[64 * 1024];
        memset(big, 'x', sizeof big);
        reply(conn, 200, big, sizeof big, &r);
    } else if (strcmp(url, "/many") == 0) {
        reply(conn, 200, "", 0, &r);
        for (int i = 0; i < 100; i++) {
            char name[32];
            snprintf(name, sizeof name, "X-H%d", i);
            MHD_add_response_header(r, name, "v");
        }
    } else if (strcmp(url, "/slow") == 0) {
        sleep(2);
        reply(conn, 200, "late", 4, &r);
    } else if (strcmp(url, "/hang") == 0) {
        atomic_fetch_add(&hanging_, 1);
        for (int i = 0; i < 400 && !atomic_load(&release_); i++)
            usleep(25 * 1000);
        atomic_fetch_sub(&hanging_, 1);
        reply(conn, 200, "late", 4, &r);
    } else if (strcmp(url, "/bignonce") == 0) {
        static char big[60 * 1024 + 1];
        memset(big, 'A', sizeof big - 1);
        reply(conn, 200, "", 0, &r);
        MHD_add_response_header(r, "Replay-Nonce", big);
        MHD_add_response_header(r, "Location", "https://ca.test/x");
    } else if (strcmp(url, "/hugeheader") == 0) {
        static char huge[150 * 1024 + 1];
        memset(huge, 'A', sizeof huge - 1);
        reply(conn, 200, "", 0, &r);
        MHD_add_response_header(r, "Replay-Nonce", huge);
    } else {
        status = 404;
        reply(conn, 404, "{\"type\":\"about:blank\"}", 22, &r);
    }
    if (r == NULL)
        return MHD_NO;
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static int start_server(void **state)
{
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handler,
        NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256 * 1024), MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL)
        return -1;
    port_ = info->port;
    return 0;
}

static int stop_server(void **state)
{
    MHD_stop_daemon(daemon_);
    return 0;
}

static void url_of(char *out, size_t n, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%u%s", port_, path);
}

static void test_headers_and_links(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    char url[128], *l;

    url_of(url, sizeof url, "/headers");
    req.url = url;
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 5);
    assert_memory_equal(resp.body.data, "hello", 5);
    assert_string_equal(http_header(&resp, "replay-nonce"), "nonce-123");
    assert_string_equal(http_header(&resp, "Replay-Nonce"), "nonce-123");
    assert_string_equal(http_header(&resp, "x-padded"), "padded value");
    assert_null(http_header(&resp, "x-absent"));
    for (size_t i = 0; i < resp.header_count; i++)
        for (const char *p = resp.headers[i].name; *p; p++)
            assert_false(*p >= 'A' && *p <= 'Z');
    l = http_link(&resp, "up", url);
    assert_non_null(l);
    assert_string_equal(l, "https://ca.test/issuer");
    free(l);
    l = http_link(&resp, "alternate", "https://ca.test/acme/cert/1");
    assert_non_null(l);
    assert_string_equal(l, "https://ca.test/acme/cert/1/alt");
    free(l);
    l = http_link(&resp, "index", NULL);
    assert_string_equal(l, "https://ca.test/dir");
    free(l);
    assert_null(http_link(&resp, "next", url));
    http_response_free(&resp);

    /* HEAD: headers, no body */
    req.method = "HEAD";
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);
    assert_string_equal(http_header(&resp, "replay-nonce"), "nonce-123");
    http_response_free(&resp);
    http_client_free(c);
}

static void test_post_body_and_headers(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_header h = {"Content-Type", "application/jose+json"};
    static const char body[] = "{\"protected\":\"x\"}";
    struct http_request req = {.method = "POST", .headers = &h, .header_count = 1,
                               .body = body, .body_len = sizeof body - 1,
                               .userpwd = "user:secret"};
    char url[128];

    url_of(url, sizeof url, "/echo");
    req.url = url;
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.body.data,
                        "POST|application/jose+json|Basic dXNlcjpzZWNyZXQ=|{\"protected\":\"x\"}");
    http_response_free(&resp);

    /* the next request on the same handle carries none of that */
    req.method = "GET";
    req.header_count = 0;
    req.headers = NULL;
    req.body = NULL;
    req.body_len = 0;
    req.userpwd = NULL;
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_string_equal(resp.body.data, "GET|-|-|");
    http_response_free(&resp);

    /* PUT with a body */
    req.method = "PUT";
    req.body = "abc";
    req.body_len = 3;
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    /* curl labels a body without Content-Type as a form; callers set their own */
    assert_string_equal(resp.body.data, "PUT|application/x-www-form-urlencoded|-|abc");
    http_response_free(&resp);
    http_client_free(c);
}

static void test_body_cap(void **state)
{
    struct http_client_opts o = {.max_body = 1000};
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    char url[128];

    url_of(url, sizeof url, "/big");
    req.url = url;
    assert_int_equal(http_client_new(&o, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_string_equal(e.kind, AC_ERR_HTTP);
    assert_non_null(strstr(e.message, "127.0.0.1"));
    assert_non_null(strstr(e.message, "1000"));
    http_client_free(c);

    /* under the default cap it arrives whole */
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_int_equal(resp.body.len, 64 * 1024);
    http_response_free(&resp);
    http_client_free(c);
}

static void test_header_count_cap(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    char url[128];

    url_of(url, sizeof url, "/many");
    req.url = url;
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_int_equal(resp.header_count, HTTP_MAX_RESPONSE_HEADERS);
    http_response_free(&resp);
    http_client_free(c);
}

static void test_timeout(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET", .timeout_ms = 300};
    char url[128];

    url_of(url, sizeof url, "/slow");
    req.url = url;
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_string_equal(e.kind, AC_ERR_TIMEOUT);
    assert_non_null(strstr(e.message, "127.0.0.1"));
    http_client_free(c);
}

/* A 60 KB Replay-Nonce is reported as too long, with its size and the limit,
 * not as missing; other headers of the response are kept. */
static void test_oversized_header_named(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    char url[128];

    url_of(url, sizeof url, "/bignonce");
    req.url = url;
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), 0);
    assert_null(http_header(&resp, "replay-nonce"));
    assert_string_equal(http_header(&resp, "location"), "https://ca.test/x");
    http_header_missing(&resp, "Replay-Nonce", "acme newNonce", AC_ERR_CA_BAD_RESPONSE, &e);
    assert_string_equal(e.kind, AC_ERR_CA_BAD_RESPONSE);
    assert_non_null(strstr(e.message, "Replay-Nonce header too long (614"));
    assert_non_null(strstr(e.message, "limit 8192"));
    http_header_missing(&resp, "Link", "acme x", AC_ERR_CA_BAD_RESPONSE, &e);
    assert_string_equal(e.message, "acme x: no Link header");
    http_response_free(&resp);
    /* over libcurl's own 100 KiB: a clear transport error, not "out of memory" */
    url_of(url, sizeof url, "/hugeheader");
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_string_equal(e.kind, AC_ERR_HTTP);
    assert_non_null(strstr(e.message, "header line over libcurl's 100 KiB limit"));
    http_client_free(c);
}

struct canceller {
    atomic_bool *flag;
    int delay_ms;
    int64_t set_at; /* ac_mono_ms when the flag was set */
};

static void *cancel_later(void *arg)
{
    struct canceller *k = arg;

    /* cancel once the request is held by the server */
    for (int i = 0; i < 400 && atomic_load(&hanging_) == 0; i++)
        usleep(10 * 1000);
    usleep((useconds_t)k->delay_ms * 1000);
    k->set_at = ac_mono_ms();
    atomic_store(k->flag, true);
    return NULL;
}

/* A request in flight ends within about a second of its thread's token being
 * set (libcurl's progress callback), as AC_ERR_CANCELLED. */
static void test_cancel_in_flight(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    struct ac_cancel_scope saved;
    atomic_bool flag = false;
    struct canceller k = {&flag, 200, 0};
    pthread_t t;
    char url[128];
    int64_t t0, took;

    url_of(url, sizeof url, "/hang");
    req.url = url;
    atomic_store(&release_, false);
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
    ac_cancel_enter(&flag, 0, &saved);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    took = ac_mono_ms();
    ac_cancel_leave(&saved);
    pthread_join(t, NULL);
    t0 = took;
    assert_string_equal(e.kind, AC_ERR_CANCELLED);
    assert_non_null(strstr(e.message, "cancelled"));
    assert_null(ac_cancel_current());
    /* a set token refuses the next request at once */
    ac_cancel_enter(&flag, 0, &saved);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CANCELLED);
    assert_true(ac_mono_ms() - t0 < 500);
    ac_cancel_leave(&saved);
    atomic_store(&release_, true);
    http_client_free(c);
}

/* The time between setting the token and the return, measured from the
 * moment the flag was set. */
static void test_cancel_latency(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    struct ac_cancel_scope saved;
    atomic_bool flag = false;
    struct canceller k = {&flag, 300, 0};
    pthread_t t;
    char url[128];
    int64_t took;

    url_of(url, sizeof url, "/hang");
    req.url = url;
    atomic_store(&release_, false);
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
    ac_cancel_enter(&flag, 0, &saved);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    took = ac_mono_ms();
    ac_cancel_leave(&saved);
    pthread_join(t, NULL);
    took -= k.set_at;
    assert_string_equal(e.kind, AC_ERR_CANCELLED);
    /* the server holds the request 10 s; the cancel ends it within ~1 s */
    assert_true(took < 2000);
    atomic_store(&release_, true);
    http_client_free(c);
}

/* A scope's time limit cuts the request's timeout (the cleanup after a
 * cancel): the request ends at the limit, not after the client's 30 s. */
static void test_scope_limit(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET"};
    struct ac_cancel_scope saved;
    char url[128];
    int64_t start;

    url_of(url, sizeof url, "/hang");
    req.url = url;
    atomic_store(&release_, false);
    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    start = ac_mono_ms();
    ac_cancel_enter(NULL, start + 400, &saved);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_true(ac_mono_ms() - start < 5000);
    assert_string_equal(e.kind, AC_ERR_TIMEOUT);
    /* past the limit nothing starts */
    while (ac_mono_ms() < start + 450)
        usleep(10 * 1000);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CANCELLED);
    ac_cancel_leave(&saved);
    atomic_store(&release_, true);
    http_client_free(c);
}

/* ac_sleep_ms: the full time without a token; cut short by a token set from
 * another thread or by the scope's limit. */
static void *set_flag_soon(void *arg)
{
    usleep(150 * 1000);
    atomic_store((atomic_bool *)arg, true);
    return NULL;
}

static void test_sleep(void **state)
{
    atomic_bool flag = false;
    struct ac_cancel_scope saved;
    pthread_t t;
    int64_t start = ac_mono_ms();

    assert_int_equal(ac_sleep_ms(120, NULL), 0);
    assert_true(ac_mono_ms() - start >= 120);
    assert_int_equal(pthread_create(&t, NULL, set_flag_soon, &flag), 0);
    start = ac_mono_ms();
    assert_int_equal(ac_sleep_ms(20000, &flag), -1);
    assert_true(ac_mono_ms() - start < 10000);
    pthread_join(t, NULL);
    assert_int_equal(ac_sleep_ms(10, &flag), -1);
    start = ac_mono_ms();
    ac_cancel_enter(NULL, start + 100, &saved);
    assert_int_equal(ac_cancel_clamp_ms(20000) <= 100, 1);
    assert_int_equal(ac_sleep_ms(20000, NULL), -1);
    assert_true(ac_cancel_requested());
    ac_cancel_leave(&saved);
    assert_false(ac_cancel_requested());
    assert_int_equal(ac_cancel_clamp_ms(20000), 20000);
}

static void test_refused_and_bad_ca(void **state)
{
    struct http_client *c = NULL;
    struct http_response resp;
    struct ac_error e;
    struct http_request req = {.method = "GET", .url = "http://user:pw@127.0.0.1:1/x"};
    const char *bad[] = {"/nonexistent/ca.pem"};
    struct http_client_opts o = {.ca_files = bad, .ca_count = 1};

    assert_int_equal(http_client_new(NULL, &c, &e), 0);
    assert_int_equal(http_do(c, &req, &resp, &e), -1);
    assert_string_equal(e.kind, AC_ERR_NET);
    assert_non_null(strstr(e.message, "127.0.0.1"));
    assert_null(strstr(e.message, "pw"));
    http_client_free(c);

    assert_int_equal(http_client_new(&o, &c, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CONFIG);
    assert_null(c);
}

static void add_hdr(struct http_response *r, const char *name, const char *value)
{
    r->headers[r->header_count].name = strdup(name);
    r->headers[r->header_count].value = strdup(value);
    r->header_count++;
}

static void test_link_parsing(void **state)
{
    struct http_response r;
    char *l;

    memset(&r, 0, sizeof r);
    add_hdr(&r, "link", "<https://a.test/1>; rel=\"up alternate\"; title=\"x, y\", "
                        "<rel/2>;rel=next");
    add_hdr(&r, "link", "  <https://b.test/3> ; REL = \"Index\" ");
    add_hdr(&r, "link", "garbage without brackets");
    l = http_link(&r, "alternate", NULL);
    assert_string_equal(l, "https://a.test/1");
    free(l);
    l = http_link(&r, "next", "https://base.test/dir/x");
    assert_string_equal(l, "https://base.test/dir/rel/2");
    free(l);
    l = http_link(&r, "index", NULL);
    assert_string_equal(l, "https://b.test/3");
    free(l);
    assert_null(http_link(&r, "titl", NULL));
    assert_null(http_link(&r, "y", NULL));
    http_response_free(&r);

    memset(&r, 0, sizeof r);
    add_hdr(&r, "link", "<unterminated; rel=up");
    assert_null(http_link(&r, "up", NULL));
    http_response_free(&r);
}

static void test_escape(void **state)
{
    char *s = http_escape("a b/c?d=é");

    assert_string_equal(s, "a%20b%2Fc%3Fd%3D%C3%A9");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_and_links),
        cmocka_unit_test(test_post_body_and_headers),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_header_count_cap),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_oversized_header_named),
        cmocka_unit_test(test_cancel_in_flight),
        cmocka_unit_test(test_cancel_latency),
        cmocka_unit_test(test_scope_limit),
        cmocka_unit_test(test_sleep),
        cmocka_unit_test(test_refused_and_bad_ca),
        cmocka_unit_test(test_link_parsing),
        cmocka_unit_test(test_escape),
    };

    return cmocka_run_group_tests(tests, start_server, stop_server);
}
