/*
 * cmd_obtain.c - `autocert obtain`: obtains every managed set's missing
 * certificate (every one with --force), several sets at once, then exits. A
 * thin CLI over autocert_manager_obtain: the renewal engine's workers run the
 * orders (one directory and account lookup shared by all of them), and the
 * deploy hook and webhook run as in the daemon (obtained / renewed / failed),
 * the call waiting for them before it returns. With serve.http_listen set,
 * the HTTP responder runs for the duration of the run, so that sets with
 * provider acme and challenge http-01 can be validated; with serve.listen set
 * and a set using tls-alpn-01, so does the TLS listener (serve_tls.c), which
 * answers the CA's acme-tls/1 connections. A set whose challenge nothing in
 * the run can answer (http-01 without serve.http_listen, tls-alpn-01 without
 * serve.listen) is warned about before the orders start.
 * Exit 0 when every selected set holds a certificate afterwards, 1 when any
 * issuance failed, 2 for usage or configuration errors.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <autocert/autocert.h>

#include "cli.h"
#include "commands.h"
#include "serve_tls.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert obtain [-c FILE] [--force] [SET|DOMAIN ...]\n\n"
               "Obtains the certificate of every managed set that has none on disk (or whose\n"
               "certificate has expired or no longer covers its domains), several sets at\n"
               "once, then exits. With --force every selected set gets a new certificate.\n"
               "SET is main, extra[N] or extraN; DOMAIN selects the set that covers it.\n"
               "With serve.http_listen set, http-01 challenges are answered there meanwhile;\n"
               "with serve.listen set, tls-alpn-01 challenges are answered there.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --force         obtain even when a valid certificate is present\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "exit status: 0 success, 1 an issuance failed, 2 usage or configuration error\n");
}

static void rfc3339(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
}

/* The sets the run ordered a certificate for (their obtained/renewed events:
 * a one-off obtain returns once its events were delivered). */
struct run {
    autocert_manager *m;
    pthread_mutex_t mu;
    char ordered[256][72];
    size_t nordered;
};

static void on_event(void *arg, const autocert_event *ev)
{
    struct run *r = arg;

    if (ev->set == NULL ||
        (ev->type != AUTOCERT_EVENT_OBTAINED && ev->type != AUTOCERT_EVENT_RENEWED))
        return;
    pthread_mutex_lock(&r->mu);
    if (r->nordered < sizeof r->ordered / sizeof r->ordered[0])
        snprintf(r->ordered[r->nordered++], sizeof r->ordered[0], "%s", ev->set);
    pthread_mutex_unlock(&r->mu);
}

static bool was_ordered(struct run *r, const char *set)
{
    bool found = false;

    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nordered && !found; i++)
        found = strcmp(r->ordered[i], set) == 0;
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* One line per selected set. */
static void on_result(void *arg, const char *set, const autocert_error *err)
{
    struct run *r = arg;
    size_t idx;
    autocert_status st;
    char until[32];

    if (err != NULL) {
        printf("%s: failed: [%s] %s\n", set, err->kind, err->message);
        return;
    }
    if (autocert_manager_find(r->m, set, &idx, NULL) != 0 ||
        autocert_manager_status(r->m, idx, &st) != 0)
        return;
    rfc3339(st.not_after, until, sizeof until);
    if (strcmp(st.provider, "local") == 0)
        printf("%s: local provider: certificates are managed outside autocert\n", set);
    else if (strcmp(st.provider, "pseudo") == 0)
        printf("%s: pseudo provider: nothing issued\n", set);
    else if (strcmp(st.provider, "selfsigned") == 0)
        printf("%s: selfsigned provider: a self-signed certificate, no CA\n", set);
    else if (!st.has_cert)
        printf("%s: failed: no certificate after the order\n", set);
    else if (!was_ordered(r, set))
        printf("%s: certificate present, valid until %s (use --force to replace it)\n", set, until);
    else
        printf("%s: obtained certificate for %zu name(s), valid until %s -> %s\n", set,
               st.domain_count, until, st.cert_path);
    autocert_status_clear(&st);
}

int cmd_obtain(int argc, char **argv)
{
    struct cli_opts o;
    struct run r = {0};
    autocert_progress p = {.note = NULL, .result = on_result, .arg = &r};
    autocert_error err;
    autocert_http *http = NULL;
    struct serve_tls *tls = NULL;
    const autocert_config *cfg;
    const char *http_listen, *tls_listen;
    int status = EXIT_OK;

    if (cli_parse(argc, argv, "force", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if ((r.m = cli_open(o.config_path)) == NULL)
        return EXIT_USAGE;
    pthread_mutex_init(&r.mu, NULL);
    autocert_manager_on_event(r.m, on_event, &r);
    for (int i = 0; i < o.nargs; i++)
        if (cli_find_set(r.m, "obtain", o.args[i]) < 0) {
            status = EXIT_USAGE;
            goto out;
        }
    cfg = autocert_manager_config(r.m);
    http_listen = autocert_config_get(cfg, "serve.http_listen");
    tls_listen = autocert_config_get(cfg, "serve.listen");
    if (autocert_config_has(cfg, "challenge.http-01") && http_listen == NULL)
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "obtain: a set uses challenge http-01 but serve.http_listen is not set: "
                     "nothing in this run answers the CA on port 80, its validation will fail");
    if (autocert_config_has(cfg, "challenge.tls-alpn-01") && tls_listen == NULL)
        autocert_log(AUTOCERT_LOG_WARN, NULL,
                     "obtain: a set uses challenge tls-alpn-01 but serve.listen is not set: "
                     "nothing in this run answers the CA on port 443, its validation will fail");
    if (http_listen != NULL && autocert_http_start(r.m, http_listen, &http, &err) != 0) {
        fprintf(stderr, "obtain: %s\n", err.message);
        status = EXIT_FAILED;
        goto out;
    }
    if (tls_listen != NULL && autocert_config_has(cfg, "challenge.tls-alpn-01") &&
        serve_tls_start(tls_listen, r.m, &tls, &err) != 0) {
        fprintf(stderr, "obtain: %s\n", err.message);
        status = EXIT_FAILED;
        goto out;
    }
    /* obtain reads every selected set's files itself to decide */
    if (autocert_manager_obtain(r.m, (const char *const *)o.args, (size_t)o.nargs,
                                o.force ? AUTOCERT_OBTAIN_FORCE : 0, &p, &err) != 0) {
        if (strcmp(err.kind, AUTOCERT_E_CONFIG) == 0 ||
            strcmp(err.kind, AUTOCERT_E_NO_MATCH) == 0) {
            fprintf(stderr, "obtain: %s\n", err.message); /* refused before anything started */
            status = EXIT_USAGE;
        } else {
            status = EXIT_FAILED;
        }
    }
out:
    fflush(stdout);
    serve_tls_stop(tls);
    autocert_http_stop(http);
    autocert_manager_free(r.m);
    pthread_mutex_destroy(&r.mu);
    return status;
}
