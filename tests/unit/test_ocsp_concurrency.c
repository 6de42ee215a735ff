/*
 * test_ocsp_concurrency.c - the OCSP fetcher beside handshakes (label
 * "concurrency": also run under TSan). A responder thread in the test
 * answers every request with one good response about the leaf "leaf"; main
 * keeps being replaced (autocert_manager_reload) by "leaf" and by "other"
 * (same CA, same responder URL: its answer names another certificate, so it
 * must never be stapled) while four threads look main up and copy its
 * staple, and another reads the status. A staple copied for "leaf" must be
 * exactly the response; "other" must never have one. Then the engine is
 * stopped and started again and the staple comes back. Fixtures:
 * scripts/ocsp_fixtures.py.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "autocert/autocert.h"

#define READERS 4
#define FLIPS 24

struct shared {
    char dir[64];
    autocert_manager *m;
    int lfd;
    atomic_bool stop_responder;
    atomic_int requests;
    atomic_bool flips_done;
    atomic_int lookups;
    atomic_int saw_other;
    atomic_int bad;
    atomic_int stapled; /* lookups that got a staple */
    unsigned char *resp, *leaf_der;
    size_t resp_len, leaf_len;
    char why[256];
    pthread_mutex_t why_lock;
};

static void note_bad(struct shared *sh, const char *what)
{
    pthread_mutex_lock(&sh->why_lock);
    if (sh->why[0] == '\0')
        snprintf(sh->why, sizeof sh->why, "%s", what);
    pthread_mutex_unlock(&sh->why_lock);
    atomic_fetch_add(&sh->bad, 1);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A minimal HTTP responder: reads one request (head and Content-Length
 * bytes), answers the response, closes. */
static void *responder(void *arg)
{
    struct shared *sh = arg;

    while (!atomic_load(&sh->stop_responder)) {
        struct pollfd p = {.fd = sh->lfd, .events = POLLIN};
        char buf[8192], head[256];
        size_t used = 0, need = 0;
        int fd;

        if (poll(&p, 1, 100) <= 0)
            continue;
        fd = accept(sh->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        /* the head, then Content-Length bytes */
        for (;;) {
            ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
            char *end, *cl;
            if (n <= 0)
                break;
            used += (size_t)n;
            buf[used] = '\0';
            if ((end = strstr(buf, "\r\n\r\n")) == NULL)
                continue;
            cl = strcasestr(buf, "content-length:");
            need = (size_t)(end + 4 - buf) + (cl != NULL ? strtoul(cl + 15, NULL, 10) : 0);
            if (used >= need)
                break;
        }
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 sh->resp_len);
        /* MSG_NOSIGNAL: a fetch cancelled by the manager's stop closes its
         * end first (EPIPE, ECONNRESET: fine), which must not kill the test */
        if ((send(fd, head, strlen(head), MSG_NOSIGNAL) < 0 ||
             send(fd, sh->resp, sh->resp_len, MSG_NOSIGNAL) < 0) &&
            errno != EPIPE && errno != ECONNRESET)
            note_bad(sh, "responder: write failed");
        close(fd);
        atomic_fetch_add(&sh->requests, 1);
    }
    return NULL;
}

static void *reader(void *arg)
{
    struct shared *sh = arg;

    for (int i = 0; !atomic_load(&sh->flips_done); i++) {
        autocert_cert *c = autocert_manager_lookup(sh->m, "ocsp.test", 9);
        const unsigned char *der;
        unsigned char *staple = NULL;
        size_t len = 0, n;
        bool is_leaf;

        if (c == NULL) {
            note_bad(sh, "lookup: no certificate");
            continue;
        }
        autocert_cert_chain_der(c, 0, &der, &len);
        is_leaf = len == sh->leaf_len && memcmp(der, sh->leaf_der, len) == 0;
        atomic_fetch_add(&sh->lookups, 1);
        if (!is_leaf)
            atomic_fetch_add(&sh->saw_other, 1);
        n = autocert_cert_ocsp_copy(c, malloc, &staple);
        if (n > 0) {
            atomic_fetch_add(&sh->stapled, 1);
            if (!is_leaf)
                note_bad(sh, "'other' got a staple (about another certificate)");
            else if (n != sh->resp_len || memcmp(staple, sh->resp, n) != 0)
                note_bad(sh, "the staple is not the response");
        }
        free(staple);
        autocert_cert_release(c);
        if (i % 16 == 0)
            usleep(1000);
    }
    return NULL;
}

static void put_pair(struct shared *sh, const char *which)
{
    char cmd[512];

    snprintf(cmd, sizeof cmd,
             "cd '%s' && cat pki/%s.crt pki/ca.crt >n.crt && cp pki/%s.key n.key && "
             "mv n.key main.key && mv n.crt main.crt",
             sh->dir, which, which);
    if (system(cmd) != 0)
        note_bad(sh, "cannot replace main's pair");
}

static void *replacer(void *arg)
{
    struct shared *sh = arg;

    for (int i = 0; i < FLIPS; i++) {
        put_pair(sh, i % 2 == 0 ? "other" : "leaf");
        autocert_manager_reload(sh->m);
        usleep(i % 4 == 1 ? 300000 : 20000); /* now and then "leaf" long enough to fetch */
    }
    put_pair(sh, "leaf");
    autocert_manager_reload(sh->m);
    atomic_store(&sh->flips_done, true);
    return NULL;
}

static void *status_reader(void *arg)
{
    struct shared *sh = arg;

    while (!atomic_load(&sh->flips_done)) {
        autocert_status st;
        if (autocert_manager_status(sh->m, 0, &st) == 0)
            autocert_status_clear(&st);
        usleep(2000);
    }
    return NULL;
}

/* Waits (at most 30 s: a failure, not a timing check) until main's staple
 * is served. */
static bool staple_appears(struct shared *sh)
{
    for (int i = 0; i < 300; i++) {
        autocert_cert *c = autocert_manager_lookup(sh->m, "ocsp.test", 9);
        unsigned char *s = NULL;
        size_t n = c != NULL ? autocert_cert_ocsp_copy(c, malloc, &s) : 0;

        free(s);
        autocert_cert_release(c);
        if (n > 0)
            return true;
        usleep(100000);
    }
    return false;
}

static void test_fetcher_beside_handshakes(void **state)
{
    struct shared sh = {.why_lock = PTHREAD_MUTEX_INITIALIZER};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    pthread_t rt, t[READERS], pt, st;
    autocert_error err;
    autocert_status status;
    char cmd[1024], path[256];
    const char *src = getenv("AUTOCERT_SOURCE_DIR");
    FILE *f;

    (void)state;
    assert_non_null(src);
    snprintf(sh.dir, sizeof sh.dir, "/tmp/ac-ocsp-conc-XXXXXX");
    assert_non_null(mkdtemp(sh.dir));
    sh.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sh.lfd >= 0);
    assert_int_equal(bind(sh.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sh.lfd, 16), 0);
    assert_int_equal(getsockname(sh.lfd, (struct sockaddr *)&a, &alen), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && python3 '%s/scripts/ocsp_fixtures.py' pki pki "
             "http://127.0.0.1:%d/ ocsp.test && python3 '%s/scripts/ocsp_fixtures.py' resp pki "
             "good.der --this -5 --next 3600 && openssl x509 -in pki/leaf.crt -outform DER "
             "-out leaf.der",
             sh.dir, src, ntohs(a.sin_port), src);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/good.der", sh.dir);
    sh.resp = slurp(path, &sh.resp_len);
    snprintf(path, sizeof path, "%s/leaf.der", sh.dir);
    sh.leaf_der = slurp(path, &sh.leaf_len);
    put_pair(&sh, "leaf");
    snprintf(path, sizeof path, "%s/autocert.yml", sh.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n    - cert_path: %s/pki/noocsp_chain.pem\n"
            "      key_path: %s/pki/noocsp.key\n",
            sh.dir, sh.dir, sh.dir, sh.dir);
    fclose(f);
    assert_int_equal(pthread_create(&rt, NULL, responder, &sh), 0);
    if (autocert_manager_open(path, NULL, NULL, &sh.m, &err) != 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(autocert_manager_load(sh.m), 2);
    if (autocert_manager_start(sh.m, &err) != 0)
        fail_msg("start: %s", err.message);

    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &sh), 0);
    assert_int_equal(pthread_create(&pt, NULL, replacer, &sh), 0);
    assert_int_equal(pthread_create(&st, NULL, status_reader, &sh), 0);
    for (int i = 0; i < READERS; i++)
        pthread_join(t[i], NULL);
    pthread_join(pt, NULL);
    pthread_join(st, NULL);
    if (atomic_load(&sh.bad) != 0)
        fail_msg("%d bad lookups, first: %s", atomic_load(&sh.bad), sh.why);
    printf("lookups with a staple: %d of %d (%d of 'other'); responder requests: %d\n",
           atomic_load(&sh.stapled), atomic_load(&sh.lookups), atomic_load(&sh.saw_other),
           atomic_load(&sh.requests));
    /* the replacements were seen, and the staple was fetched for them */
    assert_true(atomic_load(&sh.saw_other) > 0);
    assert_true(atomic_load(&sh.stapled) > 0);

    /* main is "leaf" again: its staple is served */
    assert_true(staple_appears(&sh));
    assert_int_equal(autocert_manager_status(sh.m, 0, &status), 0);
    assert_string_equal(status.ocsp_state, "good");
    assert_true(status.ocsp_next_update > status.ocsp_this_update);
    autocert_status_clear(&status);
    assert_int_equal(autocert_manager_status(sh.m, 1, &status), 0);
    assert_string_equal(status.ocsp_state, "none"); /* no OCSP URL */
    autocert_status_clear(&status);

    /* stop and start again: the fetcher comes back */
    autocert_manager_stop(sh.m);
    if (autocert_manager_start(sh.m, &err) != 0)
        fail_msg("start again: %s", err.message);
    assert_true(staple_appears(&sh));
    assert_true(atomic_load(&sh.requests) >= 1);

    autocert_manager_free(sh.m);
    atomic_store(&sh.stop_responder, true);
    pthread_join(rt, NULL);
    close(sh.lfd);
    free(sh.resp);
    free(sh.leaf_der);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sh.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetcher_beside_handshakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
