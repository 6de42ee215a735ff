/*
 * test_admin_stream_concurrency.c - event-stream renewals of the admin API
 * whose renewal cannot finish (the CA accepts the connection and never
 * answers), in both forms:
 *   - the server: autocert_admin_stop while a client reads the stream ends it
 *     with one last `result` event {"results":[],"message":"shutting down"},
 *     and returns;
 *   - the handler: a stream read through autocert_admin_response_read gets
 *     a keep-alive comment while nothing happens; freed before its end, it
 *     leaves the renewal running in its library thread;
 * and in both cases autocert_manager_free afterwards cancels that renewal and
 * waits for its thread (ASan: nothing leaks, nothing is used after free).
 * Also: autocert_admin_start refuses a non-loopback address without a token.
 * Label "concurrency": also runs under TSan. No timed assertion: every wait
 * is for an event, with a generous bound.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "autocert/autocert.h"
#include "autocert/autocert_admin.h"

#define WAIT_BOUND_S 120

struct fixture {
    char dir[64];
    char cfg_path[128];
    int lfd; /* the CA that never answers */
    int port;
};

/* A listening socket nobody accepts from: connects complete (backlog), the
 * TLS handshake then waits. */
static int silent_ca(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    FILE *y;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/autocert-adminstream.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->lfd = silent_ca(&f->port);
    snprintf(f->cfg_path, sizeof f->cfg_path, "%s/a.yml", f->dir);
    y = fopen(f->cfg_path, "w");
    assert_non_null(y);
    fprintf(y,
            "autocert:\n"
            "  provider: custom\n"
            "  email: admin@example.test\n"
            "  domains: [example.test]\n"
            "  ca_dir_url: https://127.0.0.1:%d/dir\n"
            "  cert_path: %s/cert.crt\n"
            "  key_path: %s/priv.key\n"
            "  acme_key_path: %s/acme.key\n"
            "admin:\n"
            "  listen: 127.0.0.1:18556\n",
            f->port, f->dir, f->dir, f->dir);
    fclose(y);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    close(f->lfd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static autocert_manager *open_manager(const struct fixture *f)
{
    autocert_manager *m = NULL;
    char err[512];

    if (autocert_manager_new(f->cfg_path, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    autocert_manager_load(m);
    return m;
}

/* ---- a client reading the stream over HTTP ---- */

struct reader {
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char body[64 * 1024];
    size_t len;
    bool done;
    CURLcode rc;
    pthread_t thread;
};

static size_t reader_sink(char *p, size_t s, size_t n, void *arg)
{
    struct reader *r = arg;
    size_t k = s * n;

    pthread_mutex_lock(&r->mu);
    if (r->len + k < sizeof r->body) {
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = '\0';
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return k;
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    CURL *c = curl_easy_init();
    char url[128];
    CURLcode rc;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/cert/renew", r->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reader_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WAIT_BOUND_S);
    rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Waits (bounded) until the body holds needle. */
static bool reader_wait(struct reader *r, const char *needle)
{
    struct timespec dl;
    bool found;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_BOUND_S;
    pthread_mutex_lock(&r->mu);
    while (strstr(r->body, needle) == NULL && !r->done)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) != 0)
            break;
    found = strstr(r->body, needle) != NULL;
    pthread_mutex_unlock(&r->mu);
    return found;
}

static void test_server_stop_ends_stream(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m = open_manager(f);
    autocert_admin *srv = NULL;
    autocert_error err;
    struct reader *r = calloc(1, sizeof *r);
    const char *last;

    assert_non_null(r);
    assert_int_equal(autocert_admin_start(m, "127.0.0.1:0", &srv, &err), 0);
    r->port = autocert_admin_port(srv);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    assert_int_equal(pthread_create(&r->thread, NULL, reader_main, r), 0);
    assert_true(reader_wait(r, "renewal started"));

    /* the renewal hangs on the CA; the server stops under it */
    autocert_admin_stop(srv);
    pthread_join(r->thread, NULL);
    assert_int_equal(r->rc, CURLE_OK);
    last = strstr(r->body, "event: result\n");
    assert_non_null(last);
    assert_string_equal(last,
                        "event: result\ndata: {\"results\":[],\"message\":\"shutting down\"}\n\n");

    /* the renewal still runs in its thread: the manager's free cancels it
     * and waits for it */
    autocert_manager_free(m);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static const char *no_header(void *arg, const char *name)
{
    (void)arg;
    (void)name;
    return NULL;
}

static void test_handler_stream_freed_early(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m = open_manager(f);
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    autocert_admin_request req = {.method = "GET",
                                  .path = "/api/v1/cert/renew",
                                  .header = no_header,
                                  .peer = (struct sockaddr *)&lo,
                                  .peer_len = sizeof lo};
    autocert_admin_response *resp = NULL;
    char buf[4096], got[8192] = "";
    size_t used = 0;

    assert_int_equal(autocert_admin_handle(m, &req, &resp), 0);
    assert_true(autocert_admin_response_streaming(resp));
    while (strstr(got, "renewal started") == NULL) {
        ssize_t n = autocert_admin_response_read(resp, buf, sizeof buf - 1);

        assert_true(n > 0);
        assert_true(used + (size_t)n < sizeof got);
        memcpy(got + used, buf, (size_t)n);
        used += (size_t)n;
        got[used] = '\0';
    }
    /* nothing happens while the CA keeps silent: a keep-alive comment comes
     * (every ADMIN_SSE_KEEPALIVE_S, 10 s) */
    while (strstr(got, ": keepalive\n\n") == NULL) {
        ssize_t n = autocert_admin_response_read(resp, buf, sizeof buf - 1);

        assert_true(n > 0);
        assert_true(used + (size_t)n < sizeof got);
        memcpy(got + used, buf, (size_t)n);
        used += (size_t)n;
        got[used] = '\0';
    }
    assert_null(strstr(got, "event: result"));
    assert_int_equal(autocert_admin_response_read(resp, buf, 0), -1);
    autocert_admin_response_free(resp); /* the renewal goes on */
    autocert_manager_free(m);           /* cancels it and waits for its thread */

    /* a stream started on a manager and not read at all */
    m = open_manager(f);
    assert_int_equal(autocert_admin_handle(m, &req, &resp), 0);
    autocert_manager_free(m);
    autocert_admin_response_free(resp);
}

static void test_start_refuses_public_without_token(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m = open_manager(f);
    autocert_admin *srv = NULL;
    autocert_error err;

    assert_int_equal(autocert_admin_start(m, "0.0.0.0:0", &srv, &err), -1);
    assert_null(srv);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_non_null(strstr(err.message, "admin.token"));
    autocert_manager_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_stop_ends_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_stream_freed_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_refuses_public_without_token, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
