/*
 * cmd_revoke.c - `autocert revoke SET [--reason R]`: revokes the set's current
 * certificate at its CA, then obtains a new one. In-process (-c,
 * autocert_manager_revoke) or through a running daemon
 * (POST /api/v1/cert/revoke?name=SET&reason=R). The set is chosen by the one
 * selector (autocert_manager_find); no match is exit status 2.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "commands.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert revoke [-c FILE | --admin URL] [--reason R] SET|DOMAIN\n\n"
               "Revokes the set's current certificate at its CA and obtains a new one.\n"
               "R is an RFC 5280 reason code (0-10) or name: unspecified, keyCompromise,\n"
               "affiliationChanged, superseded, cessationOfOperation ... (default: none).\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --admin URL     ask a running daemon; token from AUTOCERT_ADMIN_TOKEN\n"
               "      --reason R      revocation reason\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "exit status: 0 revoked and replaced, 1 failed, 2 usage or configuration error\n");
}

static void local_progress(void *arg, const char *set_name, const char *message)
{
    (void)arg;
    admin_print_progress(set_name, message);
}

static int revoke_remote(struct admin_ctx *ctx, const char *set, const char *reason)
{
    char query[2048], shown[256];
    char *es = curl_easy_escape(NULL, set, 0);
    char *er = reason != NULL ? curl_easy_escape(NULL, reason, 0) : NULL;
    char *body = NULL;
    long status = 0;
    int rc = EXIT_FAILED, w;

    if (es == NULL || (reason != NULL && er == NULL))
        goto out;
    w = snprintf(query, sizeof query, "name=%s%s%s", es, er != NULL ? "&reason=" : "",
                 er != NULL ? er : "");
    if (w < 0 || (size_t)w >= sizeof query) {
        fprintf(stderr, "autocert: '%s' is too long\n", set);
        rc = EXIT_USAGE;
        goto out;
    }
    autocert_text_sanitize(shown, sizeof shown, set, strlen(set));
    printf("revoking the certificate of %s through %s ...\n", shown, ctx->base_url);
    fflush(stdout);
    if (admin_ctx_request(ctx, "POST", "/api/v1/cert/revoke", query, &status, &body) != 0)
        goto out;
    rc = admin_print_results(body);
    if (status == 400 || (status == 404 && admin_body_no_match(body)))
        rc = EXIT_USAGE;
out:
    curl_free(es);
    curl_free(er);
    free(body);
    return rc;
}

static int revoke_local(struct admin_ctx *ctx, const char *set, int reason)
{
    autocert_progress p = {.note = local_progress};
    autocert_error err;
    autocert_status st;
    size_t idx;
    char name[256], msg[AUTOCERT_ERROR_MESSAGE_MAX];
    int rc;

    if (autocert_manager_find(ctx->m, set, &idx, &err) != 0) {
        fprintf(stderr, "autocert: %s\n", err.message);
        return strcmp(err.kind, AUTOCERT_E_NO_MATCH) == 0 ? EXIT_USAGE : EXIT_FAILED;
    }
    if (autocert_manager_status(ctx->m, idx, &st) != 0) {
        fprintf(stderr, "autocert: the configuration changed meanwhile\n");
        return EXIT_FAILED;
    }
    autocert_text_sanitize(name, sizeof name, st.name, strlen(st.name));
    autocert_status_clear(&st);
    printf("revoking the certificate of %s ...\n", name);
    fflush(stdout);
    rc = autocert_manager_revoke(ctx->m, set, reason, &p, &err);
    if (rc != 0) {
        autocert_text_sanitize(msg, sizeof msg, err.message, strlen(err.message));
        printf("%s: FAILED: %s: %s\n", name, err.kind, msg);
        return EXIT_FAILED;
    }
    printf("%s: ok (revoked and replaced)\n", name);
    return EXIT_OK;
}

int cmd_revoke(int argc, char **argv)
{
    struct cli_opts o;
    struct admin_ctx ctx;
    int rc, reason;

    if (cli_parse(argc, argv, "admin,reason", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (o.nargs != 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    reason = autocert_revocation_reason(o.reason);
    if (reason == -2) {
        fprintf(stderr, "autocert: unknown revocation reason '%s'\n", o.reason);
        return EXIT_USAGE;
    }
    rc = admin_ctx_open(&o, &ctx);
    if (rc == EXIT_OK)
        rc = admin_ctx_remote(&ctx) ? revoke_remote(&ctx, o.args[0], o.reason)
                                    : revoke_local(&ctx, o.args[0], reason);
    admin_ctx_close(&ctx);
    return rc;
}
