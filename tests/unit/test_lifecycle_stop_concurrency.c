/*
 * test_lifecycle_stop_concurrency.c - stopping a manager's renewal engine
 * while an order is in flight (issue 10 item 11, issue 11): the set's CA
 * accepts TCP connections and never answers, so the order sits in its first
 * HTTPS request. A caller waiting in autocert_manager_renew gets
 * AUTOCERT_E_CANCELLED "shutting down" once autocert_manager_stop is called,
 * and the stop returns once the cancel token has reached the request (well
 * before the 30 s request timeout); the engine then starts again (start /
 * stop / start, several rounds on one manager). Also: a configuration reload
 * in the middle of the order keeps an unchanged set's running order, and a
 * changed set on the same files is handed over until that order ends; a
 * manager whose engine was never started runs one-off renewals (and nothing
 * timed). Run under ASan and TSan (label concurrency).
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
#include "set.h"
#include "timeutil.h"

#define ROUNDS 3
#define STOP_BOUND_MS 15000 /* the request timeout is 30 s: a stop without cancel takes that */

struct fixture {
    char dir[64];
    char cfg_path[128];
    int lfd; /* the CA that never answers */
    int port;
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

/* The configuration: main on the silent CA; retry_min (a change of main's
 * configuration when it differs) and an optional extra. */
static void write_config(const struct fixture *f, int retry_min, bool extra)
{
    FILE *y = fopen(f->cfg_path, "w");

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
            "  retry_min: %ds\n",
            f->port, f->dir, f->dir, f->dir, retry_min);
    if (extra)
        fprintf(y,
                "  extra:\n"
                "    - domains: [b.example.test]\n"
                "      cert_path: %s/b.crt\n"
                "      key_path: %s/b.key\n",
                f->dir, f->dir);
    fprintf(y, "admin:\n"
               "  listen: 127.0.0.1:1\n");
    fclose(y);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/autocert-lcstop.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->lfd = silent_ca(&f->port);
    snprintf(f->cfg_path, sizeof f->cfg_path, "%s/a.yml", f->dir);
    write_config(f, 60, false);
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

static enum autocert_state state_of(autocert_manager *m, size_t idx)
{
    autocert_status st;
    enum autocert_state s;

    assert_int_equal(autocert_manager_status(m, idx, &st), 0);
    s = st.state;
    autocert_status_clear(&st);
    return s;
}

static bool wait_state(autocert_manager *m, enum autocert_state want, int64_t ms)
{
    int64_t end = ac_mono_ms() + ms;

    while (ac_mono_ms() < end) {
        if (state_of(m, 0) == want)
            return true;
        ac_sleep_ms(20, NULL);
    }
    return false;
}

/* The engine's record of set idx, read under its lock. */
static struct lc_set record(autocert_manager *m, size_t idx, struct acset **set)
{
    struct lifecycle *lc = manager_engine(m);
    struct acset *s = manager_set_at(m, idx);
    struct lc_set r;

    assert_non_null(s);
    pthread_mutex_lock(&lc->mu);
    r = s->rec;
    pthread_mutex_unlock(&lc->mu);
    if (set != NULL)
        *set = s;
    acset_unref(s);
    return r;
}

/* Waits until main's order (not just the plan) runs. */
static void wait_ordering(autocert_manager *m)
{
    for (int i = 0; i < 1000; i++) {
        if (record(m, 0, NULL).ordering)
            return;
        ac_sleep_ms(20, NULL);
    }
    fail_msg("the order did not start");
}

struct waiter {
    autocert_manager *m;
    autocert_error err;
    int rc;
};

static void *force(void *arg)
{
    struct waiter *w = arg;

    w->rc = autocert_manager_renew(w->m, NULL, NULL, &w->err);
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

/* A daemon's engine: its timed order (no certificate yet) hangs in the CA's
 * TLS handshake; a forced renewal waits behind it; the stop cancels; the
 * same manager's engine starts again, ROUNDS times. */
static void test_start_stop_start(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m = load(f);
    autocert_error err;

    for (int round = 0; round < ROUNDS; round++) {
        struct waiter w = {.m = m};
        pthread_t th;
        int64_t t0;

        drop_markers(f);
        assert_int_equal(autocert_manager_start(m, &err), 0);
        assert_int_equal(autocert_manager_start(m, &err), 0);       /* idempotent */
        assert_true(wait_state(m, AUTOCERT_STATE_RENEWING, 20000)); /* the order runs */
        wait_ordering(m);
        assert_int_equal(pthread_create(&th, NULL, force, &w), 0);
        ac_sleep_ms(300, NULL); /* the waiter is inside autocert_manager_renew */

        t0 = ac_mono_ms();
        autocert_manager_stop(m); /* joins the worker whose order was cancelled */
        assert_true(ac_mono_ms() - t0 < STOP_BOUND_MS);
        pthread_join(th, NULL);
        assert_int_equal(w.rc, -1);
        assert_string_equal(w.err.kind, AUTOCERT_E_CANCELLED);
        assert_string_equal(w.err.message, "shutting down");
        assert_false(record(m, 0, NULL).running);
        assert_false(record(m, 0, NULL).ordering);
    }
    autocert_manager_free(m);
}

/* A reload in the middle of the order: the unchanged set keeps its running
 * order (same object, still renewing); a change of main's configuration makes
 * a new set on the same files, handed over ("renewing", no order of its own)
 * until the old set's order ends (here: cancelled by the stop), and an added
 * extra is loaded; a file with errors is refused and changes nothing. */
static void test_reload_keeps_running_order(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m;
    autocert_error err;
    struct acset *before, *after;
    struct lc_set r;
    FILE *y;

    drop_markers(f);
    m = load(f);
    assert_int_equal(autocert_manager_start(m, &err), 0);
    assert_true(wait_state(m, AUTOCERT_STATE_RENEWING, 20000));
    wait_ordering(m);
    record(m, 0, &before);

    /* unchanged */
    assert_int_equal(autocert_manager_reload_config(m, NULL, NULL, NULL, &err), 0);
    r = record(m, 0, &after);
    assert_ptr_equal(before, after);
    assert_true(r.ordering);
    assert_int_equal(state_of(m, 0), AUTOCERT_STATE_RENEWING);

    /* broken: refused, nothing changes */
    y = fopen(f->cfg_path, "a");
    assert_non_null(y);
    fprintf(y, "bogus_key: [\\n");
    fclose(y);
    assert_int_equal(autocert_manager_reload_config(m, NULL, NULL, NULL, &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_int_equal(autocert_manager_set_count(m), 1);
    record(m, 0, &after);
    assert_ptr_equal(before, after);

    /* main changed, an extra added */
    write_config(f, 61, true);
    assert_int_equal(autocert_manager_reload_config(m, NULL, NULL, NULL, &err), 0);
    assert_int_equal(autocert_manager_set_count(m), 2);
    r = record(m, 0, &after);
    assert_ptr_not_equal(before, after);
    assert_true(r.handed);
    assert_true(r.running);
    assert_int_equal(state_of(m, 0), AUTOCERT_STATE_RENEWING);

    autocert_manager_stop(m); /* the old set's order is cancelled */
    r = record(m, 0, NULL);
    assert_false(r.handed);
    assert_false(r.running);
    autocert_manager_free(m);
    write_config(f, 60, false);
}

/* No engine started: nothing timed runs, but a one-off renewal does (workers
 * on demand), is cancelled by a stop, and runs again after it. */
static void test_oneoff_without_start(void **state)
{
    struct fixture *f = *state;
    autocert_manager *m;

    drop_markers(f);
    m = load(f);
    ac_sleep_ms(500, NULL);
    /* nothing timed: no certificate (its stand-in is served), no attempt */
    assert_int_equal(state_of(m, 0), AUTOCERT_STATE_BOOTSTRAP);
    {
        autocert_status st;
        assert_int_equal(autocert_manager_status(m, 0, &st), 0);
        assert_int_equal(st.failures, 0);
        assert_int_equal(st.last_error_at, 0);
        autocert_status_clear(&st);
    }
    for (int round = 0; round < 2; round++) {
        struct waiter w = {.m = m};
        pthread_t th;

        assert_int_equal(pthread_create(&th, NULL, force, &w), 0);
        assert_true(wait_state(m, AUTOCERT_STATE_RENEWING, 20000)); /* the forced order runs */
        autocert_manager_stop(m);
        pthread_join(th, NULL);
        assert_int_equal(w.rc, -1);
        assert_string_equal(w.err.kind, AUTOCERT_E_CANCELLED);
        drop_markers(f);
    }
    autocert_manager_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_stop_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_running_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oneoff_without_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
