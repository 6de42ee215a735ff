/*
 * cmd_renew.c - `autocert renew [SET|DOMAIN]`: forced renewal of one set or
 * of every set, showing progress while it runs. In-process (-c) it runs the
 * lifecycle's workers (no scheduler: only the renewals asked for) and waits for
 * the deploy hook and webhook of the result; with --admin it follows the daemon's event stream
 * (GET /api/v1/cert/renew, Server-Sent Events) until its `result` event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "admin_server.h"
#include "commands.h"
#include "http.h"
#include "json-c/json.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert renew [-c FILE | --admin URL] [SET|DOMAIN]\n\n"
               "Renews the certificate of one set now (every set without an argument),\n"
               "ignoring renewal times, cooldowns and backoff, and shows progress.\n"
               "SET is main, extra[N] or extraN; DOMAIN selects the set that covers it.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --admin URL     ask a running daemon; token from AUTOCERT_ADMIN_TOKEN\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "exit status: 0 every renewal succeeded, 1 one failed, 2 usage or\n"
               "configuration error (also: unknown set or domain)\n");
}

static void local_progress(void *arg, const char *set_name, const char *message)
{
    admin_print_progress(set_name, message);
}

struct remote {
    int rc;
    bool got_result;
    bool not_found;
};

static void on_event(void *arg, const char *event, const char *data)
{
    struct remote *r = arg;

    if (strcmp(event, "progress") == 0) {
        struct json_object *o = json_tokener_parse(data), *s = NULL, *m = NULL;

        if (o != NULL && json_object_object_get_ex(o, "set", &s) &&
            json_object_object_get_ex(o, "message", &m))
            admin_print_progress(json_object_get_string(s), json_object_get_string(m));
        json_object_put(o);
    } else if (strcmp(event, "result") == 0) {
        r->got_result = true;
        r->rc = admin_print_results(data);
    } else if (strcmp(event, "error") == 0) {
        struct json_object *o = json_tokener_parse(data), *m = NULL;

        fprintf(stderr, "autocert: %s\n",
                o != NULL && json_object_object_get_ex(o, "message", &m)
                    ? json_object_get_string(m)
                    : "the admin API refused the request");
        json_object_put(o);
    }
}

static int renew_remote(struct admin_ctx *ctx, const char *arg)
{
    struct remote r = {.rc = EXIT_FAILED};
    struct ac_error e;
    char path[1024];
    char *esc = NULL;
    long status = 0;
    int idx_name;

    ac_error_clear(&e);
    if (arg != NULL) {
        struct config fake = {0};
        struct config_set sets[64];

        /* Only the form matters here: a set name goes to ?name=, anything
         * else to ?domain=. */
        memset(sets, 0, sizeof sets);
        fake.sets = sets;
        fake.sets_count = 64;
        idx_name = admin_find_set_by_name(&fake, arg);
        esc = http_escape(arg);
        if (esc == NULL)
            return EXIT_FAILED;
        snprintf(path, sizeof path, "/api/v1/cert/renew?%s=%s", idx_name >= 0 ? "name" : "domain",
                 esc);
        free(esc);
    } else {
        snprintf(path, sizeof path, "/api/v1/cert/renew");
    }
    if (admin_client_stream(ctx, path, on_event, &r, &status, &e) != 0) {
        fprintf(stderr, "autocert: %s\n", e.message);
        return EXIT_FAILED;
    }
    if (status == 404 || status == 400)
        return EXIT_USAGE;
    if (status != 200)
        return EXIT_FAILED;
    if (!r.got_result) {
        fprintf(stderr, "autocert: the event stream ended without a result\n");
        return EXIT_FAILED;
    }
    return r.rc;
}

static int renew_local(struct admin_ctx *ctx, const char *arg)
{
    size_t n = lifecycle_set_count(ctx->lc);
    bool *selected = calloc(n > 0 ? n : 1, sizeof *selected);
    struct lifecycle_result *res = calloc(n > 0 ? n : 1, sizeof *res);
    char *json = NULL;
    struct ac_error e;
    int rc = EXIT_FAILED;

    ac_error_clear(&e);
    if (selected == NULL || res == NULL)
        goto out;
    if (arg != NULL) {
        int idx = admin_find_set(ctx->cfg, ctx->lc, arg);

        if (idx < 0 || (size_t)idx >= n) {
            fprintf(stderr, "autocert: no certificate set named or covering '%s'\n", arg);
            rc = EXIT_USAGE;
            goto out;
        }
        selected[idx] = true;
    } else {
        for (size_t i = 0; i < n; i++)
            selected[i] = true;
    }
    /* Workers only: the orders asked here run, nothing timed. */
    if (lifecycle_start_oneshot(ctx->lc, &e) != 0) {
        fprintf(stderr, "autocert: %s\n", e.message);
        goto out;
    }
    lifecycle_force_renew(ctx->lc, selected, local_progress, NULL, res);
    json = admin_json_results(res, n);
    rc = admin_print_results(json);
out:
    free(json);
    free(selected);
    free(res);
    return rc;
}

int cmd_renew(int argc, char **argv)
{
    struct cli_opts o;
    struct admin_ctx ctx;
    int rc;

    if (cli_parse(argc, argv, "admin", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (o.nargs > 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    rc = admin_ctx_open(&o, &ctx);
    if (rc == EXIT_OK)
        rc = admin_ctx_remote(&ctx) ? renew_remote(&ctx, o.nargs == 1 ? o.args[0] : NULL)
                                    : renew_local(&ctx, o.nargs == 1 ? o.args[0] : NULL);
    admin_ctx_close(&ctx);
    return rc;
}
