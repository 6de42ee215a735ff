/*
 * test_issue_concurrency.c - the pieces that let `autocert obtain` run many
 * sets at once cheaply, driven from several threads (also run under TSan):
 *
 *  - lib/http.c's handle pool: clients made and freed per request by 8
 *    threads share a few keep-alive connections to a fast local server
 *    (libmicrohttpd on 127.0.0.1) instead of one connection each, while some
 *    client lives; once the last client is gone the connections are closed;
 *    a slow server still gets parallel connections (no serialisation);
 *  - acme_client_adopt refuses a source client that has no account.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme.h"
#include "crypto.h"
#include "http.h"
#include "issuer.h"
#include "timeutil.h"

static struct MHD_Daemon *daemon_;
static unsigned short port_;
static atomic_int connections_;
/* /slow: requests being answered now, and the most there ever were at once */
static atomic_int slow_inflight_, slow_max_;
#define SLOW_PARALLEL 4

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int first_call_marker;
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (*con_cls == NULL) {
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (strcmp(url, "/slow") == 0) {
        /* holds the answer until SLOW_PARALLEL requests are in here at once
         * (at most 10 s): requests serialised behind one connection never
         * get there, and the test reads the most seen at once */
        int now = atomic_fetch_add(&slow_inflight_, 1) + 1, max = atomic_load(&slow_max_);

        while (now > max && !atomic_compare_exchange_weak(&slow_max_, &max, now))
            ;
        for (int i = 0; i < 1000 && atomic_load(&slow_max_) < SLOW_PARALLEL; i++)
            usleep(10 * 1000);
        atomic_fetch_sub(&slow_inflight_, 1);
    }
    r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&connections_, 1);
}

static int start_server(void **state)
{
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                               NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
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

#define THREADS 8
#define REQUESTS 25

struct fetcher {
    const char *path;
    int requests;
    int ok; /* responses "200 ok" */
};

static void *fetch_loop(void *arg)
{
    struct fetcher *f = arg;
    char url[128];

    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port_, f->path);
    for (int i = 0; i < f->requests; i++) {
        struct http_client *c = NULL;
        struct http_request req = {.method = "GET", .url = url};
        struct http_response resp;
        struct ac_error e;

        /* a new client per request, as the DNS providers do */
        if (http_client_new(NULL, &c, &e) != 0)
            continue;
        if (http_do(c, &req, &resp, &e) == 0) {
            if (resp.status == 200 && resp.body.len == 2 && memcmp(resp.body.data, "ok", 2) == 0)
                f->ok++;
            http_response_free(&resp);
        }
        http_client_free(c);
    }
    return NULL;
}

static void test_pool_reuses_connections(void **state)
{
    pthread_t t[THREADS];
    struct fetcher f[THREADS];
    struct fetcher again = {.path = "/fast", .requests = 1};
    struct http_client *keep = NULL;
    struct ac_error e;
    int total = 0, conns;

    /* a client alive throughout, as obtain's shared ACME session */
    assert_int_equal(http_client_new(NULL, &keep, &e), 0);
    atomic_store(&connections_, 0);
    for (int i = 0; i < THREADS; i++) {
        f[i] = (struct fetcher){.path = "/fast", .requests = REQUESTS};
        assert_int_equal(pthread_create(&t[i], NULL, fetch_loop, &f[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += f[i].ok;
    }
    assert_int_equal(total, THREADS * REQUESTS);
    conns = atomic_load(&connections_);
    /* one connection per client would be THREADS * REQUESTS */
    assert_true(conns >= 1);
    assert_true(conns <= THREADS * REQUESTS / 10);

    /* the last client gone, the idle connections are closed: a new one opens */
    http_client_free(keep);
    fetch_loop(&again);
    assert_int_equal(again.ok, 1);
    assert_int_equal(atomic_load(&connections_), conns + 1);
}

static void test_pool_slow_server_parallel(void **state)
{
    pthread_t t[SLOW_PARALLEL];
    struct fetcher f[SLOW_PARALLEL];

    atomic_store(&slow_max_, 0);
    for (int i = 0; i < SLOW_PARALLEL; i++) {
        f[i] = (struct fetcher){.path = "/slow", .requests = 1};
        assert_int_equal(pthread_create(&t[i], NULL, fetch_loop, &f[i]), 0);
    }
    for (int i = 0; i < SLOW_PARALLEL; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(f[i].ok, 1);
    }
    /* all of them were answered at the same time, none queued behind another */
    assert_int_equal(atomic_load(&slow_max_), SLOW_PARALLEL);
}

static void test_adopt_needs_account(void **state)
{
    struct crypto_key *key = NULL;
    struct acme_client *a = NULL, *b = NULL;
    struct acme_client_opts o = {.directory_url = "https://127.0.0.1:1/dir"};
    struct ac_error e;

    assert_int_equal(crypto_init(), 0);
    assert_int_equal(crypto_key_generate(CRYPTO_KEY_EC256, &key, &e), 0);
    assert_int_equal(acme_client_new(&o, key, &a, &e), 0);
    assert_int_equal(acme_client_new(&o, key, &b, &e), 0);
    assert_int_equal(acme_client_adopt(b, a, &e), -1);
    assert_string_equal(e.kind, AC_ERR_INTERNAL);
    assert_null(acme_account_url(b));
    acme_client_free(a);
    acme_client_free(b);
    crypto_key_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_reuses_connections),
        cmocka_unit_test(test_pool_slow_server_parallel),
        cmocka_unit_test(test_adopt_needs_account),
    };

    return cmocka_run_group_tests(tests, start_server, stop_server);
}
