/*
 * cmd_serve.c - `autocert serve`: the daemon. Loads the configuration and every
 * set's certificate from disk, starts serving TLS on serve.listen (when set)
 * before anything touches the network, then runs the renewal scheduler
 * (lifecycle.h). Signals are taken synchronously by the main thread (sigwait):
 *   SIGHUP          reload the configuration; a broken one is refused with its
 *                   errors and the running one stays; an order under way
 *                   finishes in the background (the swap itself is short)
 *   SIGUSR1         forced renewal of every set (in a helper thread)
 *   SIGTERM/SIGINT  stop within seconds: running orders are cancelled (a commit
 *                   under way finishes), API callers waiting for them get
 *                   "shutting down", open TLS connections are closed, queued
 *                   events get LIFECYCLE_EVENTS_DRAIN_MS
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_server.h"
#include "autocert/autocert.h"
#include "cli.h"
#include "commands.h"
#include "crypto.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"
#include "serve_tls.h"
#include "timeutil.h"

/* At a stop: how long API callers released from a forced renewal get to
 * return, then to have their answers written, before the admin server stops. */
#define SERVE_STOP_CALLERS_MS 2000
#define SERVE_STOP_FLUSH_MS 300

/* A lifecycle a reload replaced: its running orders finish in a thread of
 * their own (the new lifecycle hands those sets over meanwhile), then it is
 * freed with its manager. */
struct retired {
    struct lifecycle *lc;
    autocert_manager *m;     /* owned, or NULL when the listener owns it */
    struct serve_tls *tls;   /* borrowed; with hold */
    struct serve_hold *hold; /* keeps the listener's old manager alive */
    pthread_t thread;
    pthread_mutex_t mu;
    bool joined; /* lc's threads ended: lifecycle_stop is no longer allowed */
    bool done;   /* everything freed but this record */
    struct retired *next;
};

/* What the daemon runs; swapped as a whole on reload. */
struct serve_state {
    autocert_manager *m;     /* owned by tls when tls != NULL */
    struct lifecycle *lc;
    struct serve_tls *tls;
    char *listen;            /* serve.listen the listener was started with */
    struct admin_server *admin; /* the REST admin API */
    struct retired *retired;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert serve [-c FILE]\n\n"
               "Serves the certificates on disk, renews them before they expire and keeps\n"
               "retrying with backoff when the CA or DNS is unreachable. With serve.listen\n"
               "set, answers HTTPS there (SNI picks the set). Signals: SIGHUP reloads the\n"
               "configuration, SIGUSR1 renews every set now, SIGTERM/SIGINT stop.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n");
}

/* Builds a loaded manager and a (not started) lifecycle from cfg (taken). */
static int build(struct config *cfg, autocert_manager **m, struct lifecycle **lc)
{
    char err[512];
    struct ac_error e;
    int n;

    *m = NULL;
    *lc = NULL;
    if (autocert_manager_new_from_config(cfg, m, err, sizeof err) != 0) {
        ac_err(NULL, "serve: %s", err);
        return -1;
    }
    n = autocert_manager_load(*m);
    ac_info(NULL, "%d of %zu set(s) hold a certificate", n, manager_set_count(*m));
    if (lifecycle_new(*m, lc, &e) != 0) {
        ac_err(NULL, "serve: %s", e.message);
        autocert_manager_free(*m);
        *m = NULL;
        return -1;
    }
    return 0;
}

static void *force_all(void *arg)
{
    struct lifecycle *lc = arg;
    size_t n = lifecycle_set_count(lc);
    struct lifecycle_result *res = calloc(n + 1, sizeof *res);

    if (res == NULL)
        return NULL;
    if (lifecycle_force_renew(lc, NULL, NULL, NULL, res) == 0) {
        ac_info(NULL, "forced renewal: every set succeeded");
    } else {
        for (size_t i = 0; i < n; i++)
            if (res[i].name[0] != '\0' && !res[i].ok)
                ac_err(res[i].name, "forced renewal failed: %s", res[i].error.message);
    }
    free(res);
    return NULL;
}

static void *retire_thread(void *arg)
{
    struct retired *r = arg;

    lifecycle_join(r->lc); /* its running orders end (or are cancelled at stop) */
    pthread_mutex_lock(&r->mu);
    r->joined = true;
    pthread_mutex_unlock(&r->mu);
    lifecycle_free(r->lc);
    autocert_manager_free(r->m);
    serve_tls_release(r->tls, r->hold);
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Frees the retired lifecycles whose thread has ended; with `all`, cancels the
 * orders of the others and waits for them too (the stop). */
static void reap_retired(struct serve_state *st, bool all)
{
    struct retired **p = &st->retired;

    while (*p != NULL) {
        struct retired *r = *p;
        bool done;

        pthread_mutex_lock(&r->mu);
        if (all && !r->joined)
            lifecycle_stop(r->lc, true);
        done = r->done;
        pthread_mutex_unlock(&r->mu);
        if (!done && !all) {
            p = &r->next;
            continue;
        }
        pthread_join(r->thread, NULL);
        pthread_mutex_destroy(&r->mu);
        *p = r->next;
        free(r);
    }
}

/* Hands the old lifecycle (already stopped without cancel) to a thread that
 * frees it once its running orders have finished. */
static void retire(struct serve_state *st, struct lifecycle *lc, autocert_manager *m,
                   struct serve_hold *hold)
{
    struct retired *r = calloc(1, sizeof *r);

    if (r != NULL) {
        r->lc = lc;
        r->m = m;
        r->tls = st->tls;
        r->hold = hold;
        pthread_mutex_init(&r->mu, NULL);
        if (pthread_create(&r->thread, NULL, retire_thread, r) == 0) {
            r->next = st->retired;
            st->retired = r;
            return;
        }
        pthread_mutex_destroy(&r->mu);
        free(r);
    }
    /* No thread: finish here (the old way: waits for the running order). */
    ac_warn(NULL, "reload: waiting for the running orders of the old configuration");
    lifecycle_free(lc);
    autocert_manager_free(m);
    serve_tls_release(st->tls, hold);
}

/* SIGHUP: the new configuration replaces the running one only when it loads.
 * The swap is short: an order the old configuration runs goes on in the
 * background, and the new lifecycle does not order for those files until it
 * has ended (it then re-reads them). */
static void reload(struct serve_state *st, const char *path)
{
    struct config_diags d = {0};
    struct config *cfg = NULL;
    autocert_manager *m = NULL, *old_m = st->m;
    struct lifecycle *lc = NULL, *old_lc = st->lc;
    struct serve_hold *hold = NULL;
    struct ac_error e;
    const char *listen;

    reap_retired(st, false);
    if (config_load(path, &cfg, &d) != 0) {
        ac_err(NULL, "reload refused: %s has %zu error(s); the running configuration stays",
               path, d.count);
        config_diags_print(&d, stderr);
        config_diags_free(&d);
        return;
    }
    config_diags_print(&d, stderr);
    config_diags_free(&d);
    listen = cfg->serve.listen;
    if ((listen == NULL) != (st->listen == NULL) ||
        (listen != NULL && strcmp(listen, st->listen) != 0))
        ac_warn(NULL, "reload: serve.listen changes need a restart; keeping %s",
                st->listen != NULL ? st->listen : "(off)");
    if (build(cfg, &m, &lc) != 0) {
        ac_err(NULL, "reload refused; the running configuration stays");
        return;
    }
    if (st->tls != NULL) {
        hold = serve_tls_hold(st->tls);
        if (hold == NULL || serve_tls_swap(st->tls, m, &e) != 0) {
            ac_err(NULL, "reload: %s; keeping the running configuration",
                   hold == NULL ? "out of memory" : e.message);
            serve_tls_release(st->tls, hold);
            lifecycle_free(lc);
            autocert_manager_free(m);
            return;
        }
        old_m = NULL; /* the listener owns it; hold keeps it alive */
    }
    /* Nothing new starts in the old lifecycle; callers waiting in it return. */
    lifecycle_stop(old_lc, false);
    st->m = m;
    st->lc = lc;
    if (lifecycle_start(st->lc, &e) != 0)
        ac_err(NULL, "serve: scheduler not started: %s", e.message);
    /* Waits only for the requests that use the old objects (now quick). */
    admin_server_rebind(st->admin, manager_config(st->m), st->m, st->lc);
    retire(st, old_lc, old_m, hold);
    ac_info(NULL, "configuration reloaded from %s", path);
}

int cmd_serve(int argc, char **argv)
{
    struct cli_opts o;
    struct config *cfg = NULL;
    struct serve_state st = {0};
    struct ac_error e;
    sigset_t set;
    int sig, rc = EXIT_FAILED;

    if (cli_parse(argc, argv, "", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if ((cfg = cli_load_config(o.config_path)) == NULL)
        return EXIT_USAGE;
    if (admin_check_listen(cfg, &e) != 0) {
        fprintf(stderr, "autocert serve: %s\n", e.message);
        config_free(cfg);
        return EXIT_USAGE;
    }
    crypto_init();
    /* Block the signals before any thread starts: every thread inherits it. */
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->serve.listen != NULL && (st.listen = strdup(cfg->serve.listen)) == NULL)
        goto out;
    if (build(cfg, &st.m, &st.lc) != 0)
        goto out;
    /* Serve what is on disk before anything touches the network. */
    if (st.listen != NULL && serve_tls_start(st.listen, st.m, &st.tls, &e) != 0) {
        ac_err(NULL, "serve: %s", e.message);
        goto out;
    }
    if (lifecycle_start(st.lc, &e) != 0) {
        ac_err(NULL, "serve: %s", e.message);
        goto out;
    }
    if (admin_server_start(manager_config(st.m), st.m, st.lc, &st.admin, &e) != 0) {
        ac_err(NULL, "serve: %s", e.message);
        goto out;
    }
    ac_info(NULL, "serving; pid %ld", (long)getpid());

    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&st, o.config_path);
        } else if (sig == SIGUSR1) {
            pthread_t th;
            ac_info(NULL, "SIGUSR1: forced renewal of every set");
            if (st.lc != NULL && pthread_create(&th, NULL, force_all, st.lc) == 0)
                pthread_detach(th);
        } else {
            ac_info(NULL, "stopping");
            break;
        }
    }
    rc = EXIT_OK;
out:
    /* Cancel running orders and release API callers waiting for them first,
     * so that the admin server's stop (which waits for its requests) is quick. */
    lifecycle_stop(st.lc, true);
    /* The admin server closes its connections when it stops: let the
     * answers of the callers just released get written first. */
    if (lifecycle_wait_callers(st.lc, SERVE_STOP_CALLERS_MS) > 0)
        ac_sleep_ms(SERVE_STOP_FLUSH_MS, NULL);
    reap_retired(&st, true);
    admin_server_stop(st.admin);
    lifecycle_free(st.lc);
    if (st.tls != NULL)
        serve_tls_stop(st.tls);
    else
        autocert_manager_free(st.m);
    free(st.listen);
    return rc;
}
