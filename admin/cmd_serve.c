/*
 * cmd_serve.c - `autocert serve`: the daemon. Opens one manager for its whole
 * life, loads every set's certificate from disk, starts serving TLS on
 * serve.listen (when set) and the HTTP responder on serve.http_listen (when
 * set: http-01 answers, 308 to https) before anything touches the network,
 * then starts the manager's renewal engine and the admin API. Signals are taken
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
 *                   events get at most 10 s
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <autocert/autocert.h>
#include <autocert/autocert_admin.h>

#include "cli.h"
#include "commands.h"
#include "serve_tls.h"

struct serve_state {
    autocert_manager *m;
    char *listen; /* serve.listen the listener was started with, or NULL */
    struct serve_tls *tls;
    char *http_listen; /* serve.http_listen the responder was started with, or NULL */
    autocert_http *http;
    autocert_admin *admin;
    pthread_t renew_thread; /* SIGUSR1 */
    bool renew_started;
    atomic_bool renew_running;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert serve [-c FILE]\n\n"
               "Serves the certificates on disk, renews them before they expire and keeps\n"
               "retrying with backoff when the CA or DNS is unreachable. With serve.listen\n"
               "set, answers HTTPS there (SNI picks the set); with serve.http_listen set,\n"
               "answers http-01 challenges there and redirects other requests to https.\n"
               "Signals: SIGHUP reloads the configuration, SIGUSR1 renews every set now,\n"
               "SIGTERM/SIGINT stop.\n\n"
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

/* SIGHUP: the new configuration replaces the running one only when it loads.
 * The admin API reads the manager's configuration per request (a token
 * change takes effect at once); a listen address change needs a restart. */
static void reload(struct serve_state *st, const char *path)
{
    autocert_error err;
    const char *now;

    if (autocert_manager_reload_config(st->m, path, cli_print_diag, NULL, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL,
                     "reload refused: %s; the running configuration stays", err.message);
        return;
    }
    /* and, as a reload always did, re-read every set's files (a pair another
     * process committed is served from now on) */
    autocert_manager_reload(st->m);
    now = autocert_config_get(autocert_manager_config(st->m), "serve.listen");
    if ((st->listen == NULL) != (now == NULL) || (now != NULL && strcmp(now, st->listen) != 0))
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "reload: serve.listen changes need a restart; keeping %s",
                     st->listen != NULL ? st->listen : "(off)");
    now = autocert_config_get(autocert_manager_config(st->m), "serve.http_listen");
    if ((st->http_listen == NULL) != (now == NULL) ||
        (now != NULL && strcmp(now, st->http_listen) != 0))
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "reload: serve.http_listen changes need a restart; keeping %s",
                     st->http_listen != NULL ? st->http_listen : "(off)");
    autocert_log(AUTOCERT_LOG_INFO, NULL, "configuration reloaded from %s", path);
}

int cmd_serve(int argc, char **argv)
{
    struct cli_opts o;
    struct serve_state st = {0};
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
    /* the configuration's checks include admin.listen's (a non-loopback
     * address needs admin.token) */
    if ((st.m = cli_open(o.config_path)) == NULL)
        return EXIT_USAGE;
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
    if (listen != NULL && (st.listen = strdup(listen)) == NULL)
        goto out;
    if (st.listen != NULL && serve_tls_start(st.listen, st.m, &st.tls, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", err.message);
        goto out;
    }
    listen = autocert_config_get(autocert_manager_config(st.m), "serve.http_listen");
    if (listen != NULL && (st.http_listen = strdup(listen)) == NULL)
        goto out;
    if (st.http_listen != NULL && autocert_http_start(st.m, st.http_listen, &st.http, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", err.message);
        goto out;
    }
    if (autocert_config_has(autocert_manager_config(st.m), "challenge.http-01") &&
        st.http_listen == NULL)
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "serve: a set uses challenge http-01 but serve.http_listen is not set: "
                     "nothing here answers the CA on port 80, its validation will fail");
    if (autocert_config_has(autocert_manager_config(st.m), "challenge.tls-alpn-01") &&
        st.listen == NULL)
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "serve: a set uses challenge tls-alpn-01 but serve.listen is not set: "
                     "nothing here answers the CA on port 443, its validation will fail");
    if (autocert_manager_start(st.m, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", err.message);
        goto out;
    }
    if (autocert_admin_start(st.m, NULL, &st.admin, &err) != 0) {
        autocert_log(AUTOCERT_LOG_ERROR, NULL, "serve: %s", err.message);
        if (strcmp(err.kind, AUTOCERT_E_CONFIG) == 0)
            rc = EXIT_USAGE;
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
    /* Cancel running orders first: API callers waiting for them are answered
     * at once, and the admin server's stop (which gives answers under way up
     * to 2 s to go out) is quick. */
    autocert_manager_stop(st.m);
    if (st.renew_started)
        pthread_join(st.renew_thread, NULL);
    autocert_admin_stop(st.admin);
    autocert_http_stop(st.http);
    serve_tls_stop(st.tls);
    autocert_manager_free(st.m);
    free(st.listen);
    free(st.http_listen);
    return rc;
}
