/*
 * cmd_renew.c - `autocert renew [SET|DOMAIN]`: forced renewal of one set or
 * of every set, showing progress while it runs. In-process (-c) it calls
 * autocert_manager_renew (the engine's workers run only the renewals asked
 * for; closing the manager waits, bounded, for the deploy hook and webhook of
 * the result); with --admin it follows the daemon's event stream
 * (GET /api/v1/cert/renew, Server-Sent Events) until its `result` event.
 * Either way the set is chosen by the one selector (autocert_manager_find):
 * a name no set covers is exit status 2.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "commands.h"

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
        char msg[1024];

        fprintf(stderr, "autocert: %s\n", admin_body_message(data, msg, sizeof msg));
        r->not_found = admin_body_no_match(data);
    }
}

static int renew_remote(struct admin_ctx *ctx, const char *arg)
{
    struct remote r = {.rc = EXIT_FAILED};
    char query[2048];
    long status = 0;

    if (arg != NULL && admin_selector_query(arg, query, sizeof query) == NULL) {
        fprintf(stderr, "autocert: '%s' is too long\n", arg);
        return EXIT_USAGE;
    }
    if (admin_client_stream(ctx, "/api/v1/cert/renew", arg != NULL ? query : NULL, on_event, &r,
                            &status) != 0)
        return EXIT_FAILED;
    if (r.not_found || status == 400)
        return EXIT_USAGE;
    if (status != 200)
        return EXIT_FAILED;
    if (!r.got_result) {
        fprintf(stderr, "autocert: the event stream ended without a result\n");
        return EXIT_FAILED;
    }
    return r.rc;
}

/* ---- in-process ---- */

struct local {
    int rc;
    size_t results;
};

static void local_note(void *arg, const char *set, const char *message)
{
    (void)arg;
    admin_print_progress(set, message);
}

static void local_result(void *arg, const char *set, const autocert_error *err)
{
    struct local *l = arg;
    char name[256], msg[AUTOCERT_ERROR_MESSAGE_MAX + AUTOCERT_ERROR_KIND_MAX + 8];

    l->results++;
    autocert_text_sanitize(name, sizeof name, set, strlen(set));
    if (err == NULL) {
        printf("%s: ok\n", name);
    } else {
        char raw[sizeof msg];

        snprintf(raw, sizeof raw, "%s%s%s", err->kind, err->kind[0] != '\0' ? ": " : "",
                 err->message[0] != '\0' ? err->message : "failed");
        autocert_text_sanitize(msg, sizeof msg, raw, strlen(raw));
        printf("%s: FAILED: %s\n", name, msg);
        l->rc = EXIT_FAILED;
    }
    fflush(stdout);
}

static int renew_local(struct admin_ctx *ctx, const char *arg)
{
    struct local l = {.rc = EXIT_OK};
    autocert_progress p = {.note = local_note, .result = local_result, .arg = &l};
    autocert_error err;
    size_t idx;

    if (arg != NULL && autocert_manager_find(ctx->m, arg, &idx, &err) != 0) {
        fprintf(stderr, "autocert: %s\n", err.message);
        return strcmp(err.kind, AUTOCERT_E_NO_MATCH) == 0 ? EXIT_USAGE : EXIT_FAILED;
    }
    if (autocert_manager_renew(ctx->m, arg, &p, &err) != 0 && l.results == 0) {
        fprintf(stderr, "autocert: %s\n", err.message);
        return strcmp(err.kind, AUTOCERT_E_NO_MATCH) == 0 ? EXIT_USAGE : EXIT_FAILED;
    }
    return l.results > 0 ? l.rc : EXIT_FAILED;
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
