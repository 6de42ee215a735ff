/*
 * cmd_revoke.c - `autocert revoke SET [--reason R]`: revokes the set's current
 * certificate at its CA, then obtains a new one. In-process (-c) or through a
 * running daemon (POST /api/v1/cert/revoke?name=SET&reason=R).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "admin_server.h"
#include "commands.h"
#include "http.h"

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
    admin_print_progress(set_name, message);
}

static int revoke_remote(struct admin_ctx *ctx, const char *set, const char *reason)
{
    struct ac_error e;
    char path[1024];
    char *es = http_escape(set), *er = reason != NULL ? http_escape(reason) : NULL, *body = NULL;
    long status = 0;
    int rc = EXIT_FAILED;

    ac_error_clear(&e);
    if (es == NULL || (reason != NULL && er == NULL))
        goto out;
    snprintf(path, sizeof path, "/api/v1/cert/revoke?name=%s%s%s", es, er != NULL ? "&reason=" : "",
             er != NULL ? er : "");
    printf("revoking the certificate of %s through %s ...\n", set, ctx->base_url);
    fflush(stdout);
    if (admin_client_request(ctx, "POST", path, &status, &body, &e) != 0) {
        fprintf(stderr, "autocert: %s\n", e.message);
        goto out;
    }
    rc = admin_print_results(body);
    if (status == 404 || status == 400)
        rc = EXIT_USAGE;
out:
    free(es);
    free(er);
    free(body);
    return rc;
}

static int revoke_local(struct admin_ctx *ctx, const char *set, int reason)
{
    struct ac_error e;
    int idx = admin_find_set(ctx->cfg, ctx->lc, set);

    ac_error_clear(&e);
    if (idx < 0 || (size_t)idx >= lifecycle_set_count(ctx->lc)) {
        fprintf(stderr, "autocert: no certificate set named or covering '%s'\n", set);
        return EXIT_USAGE;
    }
    if (lifecycle_start_oneshot(ctx->lc, &e) != 0) {
        fprintf(stderr, "autocert: %s\n", e.message);
        return EXIT_FAILED;
    }
    printf("revoking the certificate of %s ...\n", ctx->cfg->sets[idx].name);
    fflush(stdout);
    if (lifecycle_revoke(ctx->lc, (size_t)idx, reason, local_progress, NULL, &e) != 0) {
        printf("%s: FAILED: %s: %s\n", ctx->cfg->sets[idx].name, e.kind, e.message);
        return EXIT_FAILED;
    }
    printf("%s: ok (revoked and replaced)\n", ctx->cfg->sets[idx].name);
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
    reason = admin_parse_reason(o.reason);
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
