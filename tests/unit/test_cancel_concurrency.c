/*
 * test_cancel_concurrency.c - issuer_request.cancel (issue 10 item 11, the
 * engine part): an order against the scripted CA (tests/integration/
 * mock_acme.py) with its dns-01 records published at a real
 * pebble-challtestsrv is cancelled from another thread
 *
 *  - in the middle of the authorization polls (mode slow_poll: the
 *    authorizations stay pending with Retry-After: 1),
 *  - in the middle of a request (mode hang_poll: the CA holds the poll for
 *    300 s),
 *  - in the middle of the DNS propagation wait (the resolver never answers),
 *
 * and issuer_obtain returns AC_ERR_CANCELLED within 2 s of the flag being set,
 * its TXT record is removed, and nothing is written. Runs under TSan too (the
 * flag is shared between threads).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "crypto.h"
#include "dns_zone.h"
#include "issuer.h"
#include "timeutil.h"

static char dir_[256];
static int dns_port_, mgmt_port_, dead_port_;
static pid_t cts_pid_ = -1, mock_pid_ = -1;
static char mock_dir_[300], mock_url_[128];

static int free_port(int type)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int s = socket(AF_INET, type, 0), port = -1;

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

static void quiet(void)
{
    int devnull = open("/dev/null", O_WRONLY);

    if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
    }
}

static int read_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t got;

    if (f == NULL)
        return -1;
    got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
    return 0;
}

static int setup(void **state)
{
    const char *src = getenv("AUTOCERT_SOURCE_DIR");
    char dns_arg[32], mgmt_arg[32], script[512], port[32] = "";

    (void)state;
    snprintf(dir_, sizeof dir_, "/tmp/autocert-cancel.XXXXXX");
    if (src == NULL || mkdtemp(dir_) == NULL)
        return -1;
    dns_port_ = free_port(SOCK_DGRAM);
    mgmt_port_ = free_port(SOCK_STREAM);
    dead_port_ = free_port(SOCK_DGRAM); /* nothing answers there */
    snprintf(dns_arg, sizeof dns_arg, "127.0.0.1:%d", dns_port_);
    snprintf(mgmt_arg, sizeof mgmt_arg, "127.0.0.1:%d", mgmt_port_);
    if ((cts_pid_ = fork()) == 0) {
        quiet();
        execlp("pebble-challtestsrv", "pebble-challtestsrv", "-dns01", dns_arg, "-management",
               mgmt_arg, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4",
               "127.0.0.1", (char *)NULL);
        _exit(127);
    }
    snprintf(mock_dir_, sizeof mock_dir_, "%s/mock", dir_);
    snprintf(script, sizeof script, "%s/tests/integration/mock_acme.py", src);
    if ((mock_pid_ = fork()) == 0) {
        quiet();
        execlp("python3", "python3", script, "serve", "--dir", mock_dir_, "--mode", "dns01",
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        char pf[400];
        snprintf(pf, sizeof pf, "%s/port", mock_dir_);
        if (port[0] == '\0' && read_file(pf, port, sizeof port) == 0)
            snprintf(mock_url_, sizeof mock_url_, "https://127.0.0.1:%d/dir", atoi(port));
        if (port[0] != '\0' && port_open(mgmt_port_))
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    stop(cts_pid_);
    stop(mock_pid_);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes a one-set config for `domain` and loads it. */
static struct config *load_config(const char *name, const char *domain, int resolver_port)
{
    char path[400];
    struct config *cfg = NULL;
    struct config_diags diags = {0};
    FILE *f;

    snprintf(path, sizeof path, "%s/%s.yml", dir_, name);
    f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fprintf(f,
            "autocert:\n"
            "  provider: challtestsrv\n"
            "  email: admin@example.test\n"
            "  domains: [%s]\n"
            "  cert_path: %s/%s/cert.crt\n"
            "  key_path: %s/%s/priv.key\n"
            "  acme_key_path: %s/acme.key\n"
            "  ca_dir_url: %s\n"
            "  ca_certs: [%s/tls-ca.pem]\n"
            "  resolvers: [127.0.0.1:%d]\n"
            "  options:\n"
            "    url: http://127.0.0.1:%d\n"
            "    polling_interval: 1s\n"
            "  order_timeout: 20s\n",
            domain, dir_, name, dir_, name, dir_, mock_url_, mock_dir_, resolver_port, mgmt_port_);
    fclose(f);
    if (config_load(path, &cfg, &diags) != 0) {
        for (size_t i = 0; i < diags.count; i++)
            fprintf(stderr, "config: %s\n", diags.items[i].message);
        cfg = NULL;
    }
    config_diags_free(&diags);
    return cfg;
}

/* TXT records at name on challtestsrv's DNS. */
static int txt_count(const char *name)
{
    char server[32];
    const char *servers[1] = {server};
    ldns_resolver *res = NULL;
    ldns_rdf *dname = ldns_dname_new_frm_str(name);
    ldns_pkt *pkt = NULL;
    ldns_rr_list *txt = NULL;
    struct ac_error e;
    int n = -1;

    snprintf(server, sizeof server, "127.0.0.1:%d", dns_port_);
    if (dname == NULL || dns_zone_resolver_new(servers, 1, 2000, &res, &e) != 0)
        goto out;
    if (ldns_resolver_query_status(&pkt, res, dname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD) !=
            LDNS_STATUS_OK ||
        pkt == NULL)
        goto out;
    txt = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER);
    n = txt != NULL ? (int)ldns_rr_list_rr_count(txt) : 0;
out:
    ldns_rr_list_deep_free(txt);
    ldns_pkt_free(pkt);
    ldns_rdf_deep_free(dname);
    if (res != NULL)
        ldns_resolver_deep_free(res);
    return n;
}

/* Lines of the mock's request log that start with `prefix`, counting only
 * those after the first line starting with `after` (NULL: all). */
static int logged(const char *prefix, const char *after)
{
    char path[400], line[512];
    bool counting = after == NULL;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/requests.log", mock_dir_);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (!counting && strncmp(line, after, strlen(after)) == 0)
            counting = true;
        else if (counting && strncmp(line, prefix, strlen(prefix)) == 0)
            n++;
    }
    fclose(f);
    return n;
}

struct run {
    struct issuer_request req;
    struct ac_error e;
    int rc;
    int64_t ended; /* ac_mono_ms */
};

static void *obtain_thread(void *arg)
{
    struct run *r = arg;

    r->rc = issuer_obtain(&r->req, NULL, &r->e);
    r->ended = ac_mono_ms();
    return NULL;
}

static void wait_for(bool (*cond)(void))
{
    for (int i = 0; i < 600 && !cond(); i++)
        usleep(100 * 1000);
    assert_true(cond());
}

static bool polling(void)
{
    return logged("POST /authz/", "POST /chal/") >= 2;
}

static bool held(void)
{
    return logged("POST /authz/", "POST /chal/") >= 1;
}

static bool collecting_done(void)
{
    return logged("POST /authz/", NULL) >= 1;
}

/* Runs an order for `domain`, waits for `stage`, cancels, checks the result. */
static void cancel_at(const char *name, const char *domain, int resolver_port, bool (*stage)(void),
                      int extra_wait_ms)
{
    struct config *cfg = load_config(name, domain, resolver_port);
    struct crypto_key *key = NULL;
    atomic_bool flag = false;
    struct run r;
    pthread_t t;
    char fqdn[300], cert[400];
    struct ac_error e;
    int64_t set_at;

    assert_non_null(cfg);
    snprintf(fqdn, sizeof fqdn, "_acme-challenge.%s.", domain);
    snprintf(cert, sizeof cert, "%s/%s/cert.crt", dir_, name);
    assert_int_equal(issuer_account_key(&cfg->sets[0], NULL, &key, &e), 0);
    memset(&r, 0, sizeof r);
    r.req.set = &cfg->sets[0];
    r.req.account_key = key;
    r.req.cancel = &flag;
    assert_int_equal(pthread_create(&t, NULL, obtain_thread, &r), 0);
    wait_for(stage);
    usleep((useconds_t)extra_wait_ms * 1000);
    assert_int_equal(txt_count(fqdn), 1); /* published, order in progress */
    set_at = ac_mono_ms();
    atomic_store(&flag, true);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.e.kind, AC_ERR_CANCELLED);
    fprintf(stderr, "cancel took %lld ms\n", (long long)(r.ended - set_at));
    assert_true(r.ended - set_at < 2000);
    assert_int_equal(txt_count(fqdn), 0); /* cleaned up after the cancel */
    assert_int_equal(access(cert, F_OK), -1);
    crypto_key_free(key);
    config_free(cfg);
}

static void truncate_log(void)
{
    char path[400];
    FILE *f;

    snprintf(path, sizeof path, "%s/requests.log", mock_dir_);
    f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
}

static void test_cancel_mid_poll(void **state)
{
    (void)state;
    truncate_log();
    cancel_at("poll", "mode-slow-poll.example.test", dns_port_, polling, 300);
}

static void test_cancel_mid_request(void **state)
{
    (void)state;
    truncate_log();
    /* the poll after the challenge is held by the CA for 300 s */
    cancel_at("hang", "mode-hang-poll.example.test", dns_port_, held, 500);
}

static void test_cancel_mid_propagation(void **state)
{
    (void)state;
    truncate_log();
    /* the resolver never answers: the order waits for propagation */
    cancel_at("prop", "mode-dns01.example.test", dead_port_, collecting_done, 1500);
    assert_int_equal(logged("POST /chal/", NULL), 0); /* never got past the wait */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_mid_poll),
        cmocka_unit_test(test_cancel_mid_request),
        cmocka_unit_test(test_cancel_mid_propagation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
