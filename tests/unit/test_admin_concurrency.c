/*
 * test_admin_concurrency.c - the admin API under many connections (issue 10
 * item 9), with small limits so that it runs in seconds: slow-loris clients
 * that keep sending header lines are closed at the whole-request deadline
 * with a JSON 408 (an idle timeout would never fire), while /healthz and
 * /api/v1/cert/status keep answering; a client address over its cap and
 * connections over the soft cap get a JSON 503 (never a reset) while
 * /healthz still answers; a client arriving while the hard cap is full waits
 * and is answered; warnings about all of it are rate-limited (counted).
 * Label "concurrency": also runs under TSan.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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

#pragma GCC diagnostic ignored "-Wunused-function"

#define MAX_SLOW 32

static char dir[256];
static int port;
static autocert_manager *mgr;
static struct lifecycle *lc;
static struct admin_server *srv;
static struct admin_limits lim;

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

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct admin_conn_stats stats(void)
{
    struct admin_conn_stats st;

    admin_conns_stats(srv->conns, &st);
    return st;
}

/* Waits (up to 20 s) until the server holds exactly n connections. */
static void wait_open(unsigned n)
{
    int64_t end = mono_ms() + 20000;

    while (stats().open != n && mono_ms() < end)
        usleep(10000);
    assert_int_equal(stats().open, n);
}

/* ---- a slow-loris client: a request line, then header lines, never the end ---- */

struct slow {
    int fd;
    bool body; /* complete head, then the body a byte at a time */
    bool closed;
    int64_t closed_at;
    char got[1024];
    size_t got_len;
};

static void slow_open_as(struct slow *s, const char *src, bool body)
{
    struct sockaddr_in a = {.sin_family = AF_INET}, b = {.sin_family = AF_INET};
    const char *line = body ? "POST /api/v1/cert/renew HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Content-Length: 4000\r\n\r\n"
                            : "GET /api/v1/cert/status HTTP/1.1\r\nHost: 127.0.0.1\r\n";

    memset(s, 0, sizeof *s);
    s->body = body;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(inet_pton(AF_INET, src, &b.sin_addr), 1);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&b, sizeof b), 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    assert_int_equal(connect(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(s->fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t)strlen(line));
}

static void slow_open(struct slow *s, const char *src)
{
    slow_open_as(s, src, false);
}

/* One more header line to each open client, then collect what the server
 * sent or whether it closed. */
static void slow_drip(struct slow *v, size_t n)
{
    static const char hdr[] = "X-Drip: 1\r\n";

    for (size_t i = 0; i < n; i++) {
        struct pollfd p = {.fd = v[i].fd, .events = POLLIN};

        if (v[i].closed)
            continue;
        if (v[i].body)
            (void)send(v[i].fd, "x", 1, MSG_NOSIGNAL);
        else
            (void)send(v[i].fd, hdr, sizeof hdr - 1, MSG_NOSIGNAL);
        while (poll(&p, 1, 0) == 1) {
            ssize_t r =
                recv(v[i].fd, v[i].got + v[i].got_len, sizeof v[i].got - 1 - v[i].got_len, 0);

            if (r <= 0) {
                v[i].closed = true;
                v[i].closed_at = mono_ms();
                break;
            }
            v[i].got_len += (size_t)r;
            v[i].got[v[i].got_len] = '\0';
        }
    }
}

static void slow_close_all(struct slow *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].fd >= 0)
            close(v[i].fd);
}

/* ---- a normal client (curl) ---- */

struct answer {
    long status;
    struct ac_buf body;
    struct ac_buf headers;
};

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
    ac_buf_append(arg, p, s * n);
    return s * n;
}

static void get(const char *path, const char *src, struct answer *a)
{
    CURL *c = curl_easy_init();
    char url[256];

    memset(a, 0, sizeof *a);
    ac_buf_init(&a->body, 1 << 20);
    ac_buf_init(&a->headers, 1 << 16);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (src != NULL)
        curl_easy_setopt(c, CURLOPT_INTERFACE, src);
    assert_int_equal(curl_easy_perform(c), CURLE_OK); /* an answer, never a reset */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_cleanup(c);
    if (a->body.data == NULL)
        ac_buf_appends(&a->body, "");
    if (a->headers.data == NULL)
        ac_buf_appends(&a->headers, "");
}

static void answer_free(struct answer *a)
{
    ac_buf_free(&a->body);
    ac_buf_free(&a->headers);
}

static void assert_json_message(const struct answer *a)
{
    struct json_object *root = json_tokener_parse(a->body.data), *v;

    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "message", &v));
    json_object_put(root);
    assert_non_null(strstr(a->headers.data, "application/json"));
}

static int setup(void **state)
{
    char cert[512], key[512], cfgp[512], err[256];
    const char *sans[] = {"main.example.test"};
    FILE *f;
    struct ac_error e;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_admin_conc_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/main.crt", dir);
    snprintf(key, sizeof key, "%s/main.key", dir);
    assert_int_equal(tmc_make(cert, key, "main.example.test", sans, 1), 0);
    port = free_port();
    snprintf(cfgp, sizeof cfgp, "%s/autocert.yml", dir);
    f = fopen(cfgp, "w");
    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n"
            "admin:\n  listen: 127.0.0.1:%d\n",
            cert, key, port);
    fclose(f);
    assert_int_equal(autocert_manager_new(cfgp, &mgr, err, sizeof err), 0);
    autocert_manager_load(mgr);
    ac_error_clear(&e);
    assert_int_equal(lifecycle_new(mgr, &lc, &e), 0);
    admin_limits_default(&lim);
    lim.conn_max = 12;
    lim.conn_soft_max = 8;
    lim.conn_per_ip = 5;
    lim.request_deadline_ms = 5000; /* room for the steps of test_caps */
    lim.over_deadline_ms = 3000;
    lim.log_interval_s = 3600; /* one line per kind for the whole test */
    assert_int_equal(admin_server_open(mgr, NULL, &lim, &srv, &e), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[320];

    (void)state;
    admin_server_stop(srv);
    lifecycle_free(lc);
    autocert_manager_free(mgr);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Slow-loris clients that stay active (header lines, or body bytes) are
 * closed at the deadline, with a JSON 408; the API answers meanwhile. */
static void test_deadline(void **state)
{
    struct slow v[4];
    struct answer a;
    int64_t start, end;
    bool all;
    struct admin_conn_stats st;

    (void)state;
    start = mono_ms();
    for (size_t i = 0; i < 4; i++)
        slow_open_as(&v[i], "127.0.0.1", i == 3); /* the last one drips its body */
    wait_open(4);
    get("/healthz", NULL, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    wait_open(4); /* curl's connection is gone on the server's side too */
    get("/api/v1/cert/status", NULL, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);

    end = mono_ms() + 20000;
    do {
        slow_drip(v, 4); /* a byte every 100 ms: never idle */
        usleep(100000);
        all = true;
        for (size_t i = 0; i < 4; i++)
            all = all && v[i].closed;
    } while (!all && mono_ms() < end);
    assert_true(all);
    for (size_t i = 0; i < 4; i++) {
        assert_true(v[i].closed_at - start >= (int64_t)lim.request_deadline_ms - 100);
        assert_non_null(strstr(v[i].got, "HTTP/1.1 408 "));
        assert_non_null(strstr(v[i].got, "Content-Type: application/json"));
        assert_non_null(strstr(v[i].got, "{\"message\":\"request not received within"));
    }
    slow_close_all(v, 4);
    wait_open(0);
    st = stats();
    assert_true(st.reaped >= 4);
    assert_true(st.events[ADMIN_NOTE_DEADLINE] >= 4);
    assert_int_equal(st.lines[ADMIN_NOTE_DEADLINE], 1); /* rate-limited */
}

/* Over the per-address cap and the soft cap: 503 JSON, /healthz still 200;
 * another address is not affected by the first one's cap. */
static void test_caps(void **state)
{
    struct slow v[MAX_SLOW];
    size_t n = 0;
    struct answer a;
    struct admin_conn_stats st;

    (void)state;
    for (; n < 5; n++) /* 127.0.0.1 at its cap */
        slow_open(&v[n], "127.0.0.1");
    wait_open(5);
    get("/api/v1/cert/status", "127.0.0.1", &a);
    assert_int_equal(a.status, 503);
    assert_json_message(&a);
    assert_non_null(strstr(a.headers.data, "Retry-After: 1"));
    answer_free(&a);
    get("/healthz", "127.0.0.1", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    get("/api/v1/cert/status", "127.0.0.2", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    wait_open(5);

    for (; n < 8; n++) /* 8 open: the soft cap */
        slow_open(&v[n], "127.0.0.2");
    wait_open(8);
    get("/api/v1/cert/status", "127.0.0.3", &a);
    assert_int_equal(a.status, 503);
    assert_json_message(&a);
    answer_free(&a);
    get("/healthz", "127.0.0.3", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);

    st = stats();
    assert_true(st.events[ADMIN_NOTE_OVERLOAD] >= 2);
    assert_int_equal(st.lines[ADMIN_NOTE_OVERLOAD], 1); /* rate-limited */
    slow_close_all(v, n);
    wait_open(0);
}

/* The hard cap full: a new client waits in the listen queue and gets its
 * answer once the deadline frees a slot (no reset). */
static void test_hard_cap(void **state)
{
    struct slow v[MAX_SLOW];
    size_t n = 0;
    struct answer a;
    unsigned long reaped;

    (void)state;
    for (; n < lim.conn_max; n++)
        slow_open(&v[n], n < 4 ? "127.0.0.1" : n < 8 ? "127.0.0.2" : "127.0.0.3");
    wait_open(lim.conn_max);
    reaped = stats().reaped;
    get("/healthz", "127.0.0.4", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    /* accepted only once the deadline had freed a slot */
    assert_true(stats().reaped > reaped);
    slow_close_all(v, n);
    wait_open(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_hard_cap),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
