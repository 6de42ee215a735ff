/* test_dns_concurrency.c - the challtestsrv provider's process-wide record of
 * presented values under concurrent use: several threads, each with its own
 * provider instance, present values at one shared name and clean up some of
 * them while the others present; afterwards exactly the values not cleaned up
 * are served. Starts its own pebble-challtestsrv on free loopback ports and
 * stops it by PID. Label "concurrency": also runs under TSan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "dns_provider.h"
#include "error.h"

#define THREADS 4
#define PER_THREAD 6
#define FQDN "_acme-challenge.conc.example.test"

static pid_t server_pid = -1;
static int dns_port, mgmt_port;
static char url_opt[64];

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int s = socket(AF_INET, SOCK_STREAM, 0), ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

static int start_server(void **state)
{
    char dns_arg[32], mgmt_arg[32];

    (void)state;
    dns_port = free_port();
    mgmt_port = free_port();
    if (dns_port < 0 || mgmt_port < 0)
        return -1;
    snprintf(dns_arg, sizeof dns_arg, "127.0.0.1:%d", dns_port);
    snprintf(mgmt_arg, sizeof mgmt_arg, "127.0.0.1:%d", mgmt_port);
    snprintf(url_opt, sizeof url_opt, "http://127.0.0.1:%d", mgmt_port);
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execlp("pebble-challtestsrv", "pebble-challtestsrv", "-dns01", dns_arg, "-management",
               mgmt_arg, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4",
               "127.0.0.1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (port_open(mgmt_port))
            return 0;
        usleep(100000);
    }
    return -1;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    return 0;
}

struct worker {
    int id;
    int failures;
    pthread_barrier_t *barrier;
};

static void value_of(int thread, int i, char *out, size_t n)
{
    snprintf(out, n, "t%d-v%d", thread, i);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct dns_option o[] = {{"url", url_opt}};
    struct dns_provider *p = NULL;
    struct ac_error e;
    char v[32];

    if (dns_provider_new("challtestsrv", o, 1, &p, &e) != 0) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        struct dns_challenge ch = {"conc.example.test", FQDN, v, "t", "t.k"};
        value_of(w->id, i, v, sizeof v);
        if (dns_provider_present(p, &ch, &e) != 0)
            w->failures++;
        /* Odd values are cleaned up right away, while others present. */
        if (i % 2 == 1 && dns_provider_cleanup(p, &ch, &e) != 0)
            w->failures++;
    }
    pthread_barrier_wait(w->barrier);
    dns_provider_free(p);
    return NULL;
}

static void test_concurrent_present_cleanup(void **state)
{
    const char *res[1];
    char resolver[32], v[32];
    pthread_t th[THREADS];
    struct worker w[THREADS];
    pthread_barrier_t barrier;
    struct ac_error e;

    (void)state;
    snprintf(resolver, sizeof resolver, "127.0.0.1:%d", dns_port);
    res[0] = resolver;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){t, 0, &barrier};
        assert_int_equal(pthread_create(&th[t], NULL, work, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].failures, 0);
    }
    pthread_barrier_destroy(&barrier);

    /* Every even value is served; every odd one is gone. */
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            int rc;
            value_of(t, i, v, sizeof v);
            rc = dns_propagation_wait(FQDN, v, res, 1, i % 2 == 0 ? 3000 : 0, 100, &e);
            if (i % 2 == 0)
                assert_int_equal(rc, 0);
            else
                assert_int_equal(rc, -1);
        }
    }
    /* The remaining values, cleaned up by new instances, all disappear. */
    struct dns_option o[] = {{"url", url_opt}};
    struct dns_provider *p = NULL;
    assert_int_equal(dns_provider_new("challtestsrv", o, 1, &p, &e), 0);
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i += 2) {
            struct dns_challenge ch = {"conc.example.test", FQDN, v, "t", "t.k"};
            value_of(t, i, v, sizeof v);
            assert_int_equal(dns_provider_cleanup(p, &ch, &e), 0);
        }
    }
    dns_provider_free(p);
    assert_int_equal(dns_propagation_wait(FQDN, "t0-v0", res, 1, 0, 100, &e), -1);
    assert_non_null(strstr(e.message, "NOERROR with no TXT record"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_present_cleanup),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
