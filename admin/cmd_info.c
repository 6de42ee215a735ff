/*
 * cmd_info.c - `autocert info DOMAIN|SET`: the certificate facts of one set
 * (the entry of GET /api/v1/cert/info?name=|domain=, which selects the set
 * with the one selector, autocert_manager_find), in-process or from a running
 * daemon. Text from the certificate is escaped before it is printed.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "commands.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert info [-c FILE | --admin URL] SET|DOMAIN\n\n"
               "Shows the certificate of one set: subject, issuer, validity, names, serial,\n"
               "key type, state and renewal time. SET is main, extra[N] or extraN; DOMAIN\n"
               "selects the set whose certificate covers it.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --admin URL     ask a running daemon; token from AUTOCERT_ADMIN_TOKEN\n"
               "      --log-format F  text (default) or json\n\n"
               "exit status: 0 success, 1 no certificate, 2 usage or configuration error\n");
}

static void print_time(const char *label, struct json_object *e, const char *key)
{
    struct json_object *v;
    char t[40];

    if (!json_object_object_get_ex(e, key, &v) || v == NULL || json_object_get_int64(v) == 0) {
        printf("%-12s -\n", label);
        return;
    }
    admin_time_format((long long)json_object_get_int64(v), t, sizeof t);
    printf("%-12s %s (%lld)\n", label, t, (long long)json_object_get_int64(v));
}

/* v as text for a terminal (escaped), into buf; "-" for null. */
static const char *safe(struct json_object *v, char *buf, size_t n)
{
    const char *s = v != NULL ? json_object_get_string(v) : "-";

    autocert_text_sanitize(buf, n, s, strlen(s));
    return buf;
}

static void print_list(const char *label, struct json_object *e, const char *key)
{
    struct json_object *v;
    char buf[1024];
    size_t n = 0;

    printf("%-12s", label);
    if (json_object_object_get_ex(e, key, &v) && json_object_is_type(v, json_type_array))
        n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++)
        printf(" %s", safe(json_object_array_get_idx(v, i), buf, sizeof buf));
    printf("%s\n", n == 0 ? " -" : "");
}

static void print_entry(struct json_object *e)
{
    static const char *const plain[][2] = {{"set", "name"},           {"state", "state"},
                                           {"subject", "subject"},    {"issuer", "issuer"},
                                           {"serial", "serial"},      {"key type", "key_type"},
                                           {"cert path", "cert_path"}};
    struct json_object *v;
    char buf[4096];

    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        printf("%-12s %s\n", plain[i][0],
               json_object_object_get_ex(e, plain[i][1], &v) ? safe(v, buf, sizeof buf) : "-");
    print_time("not before", e, "not_before");
    print_time("not after", e, "not_after");
    print_time("renews at", e, "renews_at");
    print_list("dns names", e, "dns_names");
    print_list("emails", e, "email_addresses");
}

int cmd_info(int argc, char **argv)
{
    struct cli_opts o;
    struct admin_ctx ctx;
    struct json_object *root = NULL;
    char *body = NULL, query[2048], msg[1024];
    long status = 0;
    int rc;

    if (cli_parse(argc, argv, "admin", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (o.nargs != 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (admin_selector_query(o.args[0], query, sizeof query) == NULL) {
        fprintf(stderr, "autocert: '%s' is too long\n", o.args[0]);
        return EXIT_USAGE;
    }
    rc = admin_ctx_open(&o, &ctx);
    if (rc != EXIT_OK)
        goto out;
    rc = EXIT_FAILED;
    if (admin_ctx_request(&ctx, "GET", "/api/v1/cert/info", query, &status, &body) != 0)
        goto out;
    if (status != 200) {
        fprintf(stderr, "autocert: %s\n", admin_body_message(body, msg, sizeof msg));
        if (admin_body_no_match(body) || status == 400)
            rc = EXIT_USAGE;
        goto out;
    }
    root = json_tokener_parse(body);
    if (root == NULL || !json_object_is_type(root, json_type_array) ||
        json_object_array_length(root) != 1) {
        fprintf(stderr, "autocert: unexpected answer from the admin API\n");
        goto out;
    }
    print_entry(json_object_array_get_idx(root, 0));
    rc = EXIT_OK;
out:
    json_object_put(root);
    free(body);
    admin_ctx_close(&ctx);
    return rc;
}
