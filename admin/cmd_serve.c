/*
 * cmd_serve.c - `autocert serve`: the daemon. Opens one manager for its whole
 * life, loads every set's certificate from disk, starts serving TLS on
 * serve.listen (when set) before anything touches the network, then starts
 * the manager's renewal engine and the admin API. Signals are taken
 * synchronously by the main thread (sigwait):
 *   SIGHUP          autocert_manager_reload_config: a broken file is refused
 *                   with its errors and the running configuration stays; sets
 *                   whose configuration is unchanged keep their state and
 *                   running order; then every set's files are re-read
 *                   (autocert_manager_reload)
 *   SIGUSR1         forced renewal of every set (in a helper thread)
 *   SIGTERM/SIGINT  stop within seconds: running orders are cancelled (a commit
 *                   under way finishes), API callers waiting for them get
 *                   "shutting down", open TLS connections are closed, queued
 *                   events get LIFECYCLE_EVENTS_DRAIN_MS
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <autocert/autocert.h>

#include "admin_server.h" /* until the admin API is in the library */
#include "cli.h"
#include "commands.h"
#include "lifecycle.h"
#include "manager.h"
#include "serve_tls.h"

/* At a stop: how long the answers of API callers released from a forced
 * renewal get to be written before the admin server stops. */
#define SERVE_STOP_FLUSH_MS 300

struct serve_state {
    autocert_manager *m;
    struct config *cfg; /* the reference the admin server reads */
    struct serve_tls *tls;
    struct admin_server *admin;
    pthread_t renew_thread; /* SIGUSR1 */
    bool renew_started;
    atomic_bool renew_running;
    pthread_t rebind_thread; /* points the admin server at a reloaded configuration */
    bool rebind_started;
    struct config *rebind_old; /* freed by the rebind thread once unused */
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

static void *renew_all(void *arg)
{
    struct serve_state *st = arg;
    autocert_error err;

    if (autocert_manager_renew(st->m, NULL, NULL, &err) == 0)
        autocert_log(AUTOCERT_LOG_INFO, NULL, "forced renewal: every set succeeded");
    else
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "forced renewal failed: %s: %s", err.kind,
                     err.message);
    atomic_store(&st->renew_running, false);
    return NULL;
}

static void renew_start(struct serve_state *st)
{
    if (atomic_load(&st->renew_running)) {
        autocert_log(AUTOCERT_LOG_INFO, NULL, "SIGUSR1: a forced renewal of every set runs");
        return;
    }
    if (st->renew_started)
        pthread_join(st->renew_thread, NULL);
    st->renew_started = false;
    atomic_store(&st->renew_running, true);
    if (pthread_create(&st->renew_thread, NULL, renew_all, st) == 0)
        st->renew_started = true;
    else
        atomic_store(&st->renew_running, false);
}

/* The admin server waits for the requests that read the old configuration
 * (a forced renewal asked through the API may take minutes) before it frees
 * it: in a thread of its own, so that signals are still taken meanwhile. */
static void *rebind(void *arg)
{
    struct serve_state *st = arg;

    admin_server_rebind(st->admin, st->cfg, st->m, manager_engine(st->m));
    config_free(st->rebind_old);
    st->rebind_old = NULL;
    return NULL;
}

static void rebind_join(struct serve_state *st)
{
    if (st->rebind_started)
        pthread_join(st->rebind_thread, NULL);
    st->rebind_started = false;
}

/* SIGHUP: the new configuration replaces the running one only when it loads. */
static void reload(struct serve_state *st, const char *path)
{
    autocert_error err;
    struct config *old;
    const char *was, *now;

    rebind_join(st); /* the previous reload's: it reads st->cfg */
    old = st->cfg;
    was = old->serve.listen;

    if (autocert_manager_reload_config(st->m, path, cli_print_diag, NULL, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL,
                     "reload refused: %s; the running configuration stays", err.message);
        return;
    }
    /* and, as a reload always did, re-read every set's files (a pair another
     * process committed is served from now on) */
    autocert_manager_reload(st->m);
    st->cfg = manager_config_ref(st->m);
    now = st->cfg->serve.listen;
    if ((was == NULL) != (now == NULL) || (now != NULL && strcmp(now, was) != 0))
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "reload: serve.listen changes need a restart; keeping %s",
                     was != NULL ? was : "(off)");
    st->rebind_old = old;
    if (pthread_create(&st->rebind_thread, NULL, rebind, st) == 0)
        st->rebind_started = true;
    else
        rebind(st);
    autocert_log(AUTOCERT_LOG_INFO, NULL, "configuration reloaded from %s", path);
}

int cmd_serve(int argc, char **argv)
{
    struct cli_opts o;
    struct serve_state st = {0};
    struct ac_error e;
    autocert_error err;
    const char *listen;
    sigset_t set;
    int sig, rc = EXIT_FAILED;

    if (cli_parse(argc, argv, "", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    atomic_init(&st.renew_running, false);
    if ((st.m = cli_open(o.config_path)) == NULL)
        return EXIT_USAGE;
    st.cfg = manager_config_ref(st.m);
    if (admin_check_listen(st.cfg, &e) != 0) {
        fprintf(stderr, "autocert serve: %s\n", e.message);
        config_free(st.cfg);
        autocert_manager_free(st.m);
        return EXIT_USAGE;
    }
    /* Block the signals before any thread starts: every thread inherits it. */
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    autocert_log(AUTOCERT_LOG_INFO, NULL, "%d of %zu set(s) hold a certificate",
                 autocert_manager_load(st.m), autocert_manager_set_count(st.m));
    /* Serve what is on disk before anything touches the network. */
    listen = autocert_config_get(autocert_manager_config(st.m), "serve.listen");
    if (listen != NULL && serve_tls_start(listen, st.m, &st.tls, &e) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", e.message);
        goto out;
    }
    if (autocert_manager_start(st.m, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", err.message);
        goto out;
    }
    if (admin_server_start(st.cfg, st.m, manager_engine(st.m), &st.admin, &e) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", e.message);
        goto out;
    }
    autocert_log(AUTOCERT_LOG_INFO, NULL, "serving; pid %ld", (long)getpid());

    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&st, o.config_path);
        } else if (sig == SIGUSR1) {
            autocert_log(AUTOCERT_LOG_INFO, NULL, "SIGUSR1: forced renewal of every set");
            renew_start(&st);
        } else {
            autocert_log(AUTOCERT_LOG_INFO, NULL, "stopping");
            break;
        }
    }
    rc = EXIT_OK;
out:
    /* Cancel running orders and release API callers waiting for them first,
     * so that the admin server's stop (which waits for its requests) is
     * quick; the admin server closes its connections when it stops: let the
     * answers of the callers just released get written first. */
    {
        int waiting = lifecycle_wait_callers(manager_engine(st.m), 0);

        autocert_manager_stop(st.m);
        if (waiting > 0) {
            struct timespec ts = {0, SERVE_STOP_FLUSH_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (st.renew_started)
        pthread_join(st.renew_thread, NULL);
    rebind_join(&st);
    admin_server_stop(st.admin);
    serve_tls_stop(st.tls);
    autocert_manager_free(st.m);
    config_free(st.cfg);
    return rc;
}
