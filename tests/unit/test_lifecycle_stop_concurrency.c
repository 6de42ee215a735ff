/*
 * test_lifecycle_stop_concurrency.c - stopping a running lifecycle while an
 * order is in flight (issue 10 item 11): the set's CA accepts TCP connections
 * and never answers, so the order sits in its first HTTPS request. A caller
 * waiting in lifecycle_force_renew gets AC_ERR_CANCELLED "shutting down" as
 * soon as lifecycle_stop(lc, true) is called, and lifecycle_free returns once
 * the cancel token has reached the request (well before the 30 s request
 * timeout). Also: a second lifecycle on the same files (a reload) starts with
 * the set handed over and gets it back when the first one's order ends; a
 * one-shot lifecycle answers its forced renewal. Several rounds, run under
 * ASan and TSan (label concurrency).
 */
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
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "autocert/autocert.h"
#include "lifecycle.h"
#include "lifecycle_priv.h"
#include "manager.h"
#include "timeutil.h"

#define ROUNDS 3
#define STOP_BOUND_MS 15000 /* the request timeout is 30 s: a stop without cancel takes that */

struct fixture {
    char dir[64];
    char cfg_path[128];
    int lfd; /* the CA that never answers */
};

/* A listening socket nobody accepts from: connects complete (backlog), the TLS
 * handshake then waits forever. */
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
    int port;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/autocert-lcstop.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->lfd = silent_ca(&port);
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
            "  listen: 127.0.0.1:1\n",
            port, f->dir, f->dir, f->dir);
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

static autocert_manager *load(const struct fixture *f)
{
    autocert_manager *m = NULL;
    char err[512];

    assert_int_equal(autocert_manager_new(f->cfg_path, &m, err, sizeof err), 0);
    autocert_manager_load(m);
    return m;
}

static enum lifecycle_state state_of(struct lifecycle *lc)
{
    struct lifecycle_status st;
    enum lifecycle_state s;

    assert_int_equal(lifecycle_status_get(lc, 0, &st), 0);
    s = st.state;
    lifecycle_status_clear(&st);
    return s;
}

static bool wait_state(struct lifecycle *lc, enum lifecycle_state want, int64_t ms)
{
    int64_t end = ac_mono_ms() + ms;

    while (ac_mono_ms() < end) {
        if (state_of(lc) == want)
            return true;
        ac_sleep_ms(20, NULL);
    }
    return false;
}

struct waiter {
    struct lifecycle *lc;
    struct lifecycle_result res[1];
    int rc;
};

static void *force(void *arg)
{
    struct waiter *w = arg;

    w->rc = lifecycle_force_renew(w->lc, NULL, NULL, NULL, w->res);
    return NULL;
}

/* Removes the failure marker a cancelled order leaves (its first-obtain
 * cooldown would delay the next round by 15 s). */
static void drop_markers(const struct fixture *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    char p[256];

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".last_failure-", 14) == 0) {
            snprintf(p, sizeof p, "%s/%s", f->dir, de->d_name);
            unlink(p);
        }
    closedir(d);
}

/* A daemon's lifecycle: its timed order (no certificate yet) hangs in the
 * CA's TLS handshake; a forced renewal waits behind it; the stop cancels. */
static void test_stop_cancels_order_in_flight(void **state)
{
    struct fixture *f = *state;

    for (int round = 0; round < ROUNDS; round++) {
        autocert_manager *m;
        struct lifecycle *lc = NULL;
        struct ac_error e;
        struct waiter w = {0};
        pthread_t th;
        int64_t t0;

        drop_markers(f);
        m = load(f);
        assert_int_equal(lifecycle_new(m, &lc, &e), 0);
        assert_int_equal(lifecycle_start(lc, &e), 0);
        assert_true(wait_state(lc, LC_RENEWING, 20000)); /* the order runs */
        w.lc = lc;
        assert_int_equal(pthread_create(&th, NULL, force, &w), 0);
        ac_sleep_ms(300, NULL); /* the waiter is inside lifecycle_force_renew */

        t0 = ac_mono_ms();
        lifecycle_stop(lc, true);
        pthread_join(th, NULL);
        assert_int_equal(w.rc, -1);
        assert_false(w.res[0].ok);
        assert_string_equal(w.res[0].error.kind, AC_ERR_CANCELLED);
        assert_string_equal(w.res[0].error.message, "shutting down");
        lifecycle_free(lc); /* joins the worker whose order was cancelled */
        assert_true(ac_mono_ms() - t0 < STOP_BOUND_MS);
        autocert_manager_free(m);
    }
}

/* A reload in the middle of the order: the new lifecycle (same files) starts
 * with the set handed over ("renewing", no order of its own) and gets it back
 * (queued to re-read the files) when the old one's order ends. */
static void test_reload_hands_over(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m1 = load(f), *m2 = load(f);
    struct lifecycle *lc1 = NULL, *lc2 = NULL;
    struct ac_error e;

    assert_int_equal(lifecycle_new(m1, &lc1, &e), 0);
    assert_int_equal(lifecycle_start(lc1, &e), 0);
    assert_true(wait_state(lc1, LC_RENEWING, 20000));
    /* the order is claimed once the worker passed its re-read: wait for it */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&lc1->mu);
        bool busy = lc1->nordering > 0;
        pthread_mutex_unlock(&lc1->mu);
        if (busy)
            break;
        ac_sleep_ms(20, NULL);
    }
    assert_int_equal(lifecycle_new(m2, &lc2, &e), 0);
    pthread_mutex_lock(&lc2->mu);
    assert_true(lc2->sets[0].handed);
    assert_true(lc2->sets[0].running);
    pthread_mutex_unlock(&lc2->mu);
    assert_int_equal(state_of(lc2), LC_RENEWING);

    lifecycle_stop(lc1, false); /* a reload: the old order may finish ... */
    lifecycle_stop(lc1, true);  /* ... but here it is cancelled */
    lifecycle_join(lc1);
    pthread_mutex_lock(&lc2->mu);
    assert_false(lc2->sets[0].handed);
    assert_false(lc2->sets[0].running);
    assert_true(lc2->sets[0].reread);
    assert_true(lc2->queued[0]);
    pthread_mutex_unlock(&lc2->mu);
    lifecycle_free(lc1);
    lifecycle_free(lc2); /* never started */
    autocert_manager_free(m1);
    autocert_manager_free(m2);
}

/* The one-shot CLI form: no scheduler, so nothing runs until a forced
 * renewal is asked, which then runs (and here is cancelled by the stop). */
static void test_oneshot_runs_forced_only(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m = load(f);
    struct lifecycle *lc = NULL;
    struct ac_error e;
    struct waiter w = {0};
    pthread_t th;

    assert_int_equal(lifecycle_new(m, &lc, &e), 0);
    assert_int_equal(lifecycle_start_oneshot(lc, &e), 0);
    ac_sleep_ms(500, NULL);
    assert_int_equal(state_of(lc), LC_PENDING); /* nothing timed */
    w.lc = lc;
    assert_int_equal(pthread_create(&th, NULL, force, &w), 0);
    assert_true(wait_state(lc, LC_RENEWING, 20000)); /* the forced order runs */
    lifecycle_stop(lc, true);
    pthread_join(th, NULL);
    assert_string_equal(w.res[0].error.kind, AC_ERR_CANCELLED);
    lifecycle_free(lc);
    autocert_manager_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stop_cancels_order_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_hands_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oneshot_runs_forced_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
