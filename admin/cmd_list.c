/*
 * cmd_list.c - `autocert list`: one line per set (name, domains, issuer,
 * expiry, state, next renewal), from the configuration in-process or from a
 * running daemon's /api/v1/cert/status.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "commands.h"
#include "timeutil.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert list [-c FILE | --admin URL]\n\n"
               "Lists every certificate set: domains, issuer, expiry, state and the next\n"
               "renewal (or retry) time.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --admin URL     ask a running daemon (e.g. http://127.0.0.1:8555);\n"
               "                      token from AUTOCERT_ADMIN_TOKEN\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "exit status: 0 success, 1 failure, 2 usage or configuration error\n");
}

static const char *str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return NULL;
    return json_object_get_string(v);
}

static void time_col(struct json_object *o, const char *key, char *out, size_t n)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL || json_object_get_int64(v) == 0) {
        snprintf(out, n, "-");
        return;
    }
    ac_time_format_rfc3339(json_object_get_int64(v), out, n);
}

int cmd_list(int argc, char **argv)
{
    struct cli_opts o;
    struct admin_ctx ctx;
    struct json_object *root = NULL;
    char *body = NULL;
    long status = 0;
    int rc;

    if (cli_parse(argc, argv, "admin", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (o.nargs != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    rc = admin_ctx_open(&o, &ctx);
    if (rc != EXIT_OK)
        goto out;
    rc = EXIT_FAILED;
    body = admin_ctx_get_doc(&ctx, "/api/v1/cert/status", &status);
    if (body == NULL)
        goto out;
    root = json_tokener_parse(body);
    if (status != 200 || root == NULL || !json_object_is_type(root, json_type_array)) {
        const char *msg = root != NULL && json_object_is_type(root, json_type_object)
                              ? str(root, "message")
                              : NULL;
        fprintf(stderr, "autocert: admin API answered %ld: %s\n", status,
                msg != NULL ? msg : "unexpected body");
        goto out;
    }
    printf("%-10s %-36s %-24s %-21s %-10s %s\n", "SET", "DOMAINS", "ISSUER", "EXPIRES", "STATE",
           "NEXT RENEWAL");
    for (size_t i = 0; i < json_object_array_length(root); i++) {
        struct json_object *s = json_object_array_get_idx(root, i), *d;
        char domains[512] = "", expires[40], next[40];
        const char *state = str(s, "state");
        size_t used = 0;

        if (json_object_object_get_ex(s, "domains", &d) && json_object_is_type(d, json_type_array))
            for (size_t k = 0; k < json_object_array_length(d) && used < sizeof domains; k++)
                used += (size_t)snprintf(domains + used, sizeof domains - used, "%s%s",
                                         k > 0 ? "," : "",
                                         json_object_get_string(json_object_array_get_idx(d, k)));
        if (domains[0] == '\0')
            snprintf(domains, sizeof domains, "-");
        time_col(s, "not_after", expires, sizeof expires);
        if (state != NULL && strcmp(state, "backoff") == 0)
            time_col(s, "next_attempt", next, sizeof next);
        else
            time_col(s, "renews_at", next, sizeof next);
        printf("%-10s %-36s %-24s %-21s %-10s %s\n", str(s, "name") ? str(s, "name") : "?",
               domains, str(s, "issuer") ? str(s, "issuer") : "-", expires,
               state != NULL ? state : "?", next);
    }
    rc = EXIT_OK;
out:
    json_object_put(root);
    free(body);
    admin_ctx_close(&ctx);
    return rc;
}
