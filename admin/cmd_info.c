/*
 * cmd_info.c - `autocert info DOMAIN|SET`: the certificate facts of one set
 * (the entry of /api/v1/cert/info), in-process or from a running daemon.
 */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_client.h"
#include "commands.h"
#include "timeutil.h"
#include "sni.h"

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

/* "extra1" / "extra[1]" / "main" -> canonical name in out; false otherwise. */
static bool canonical_set(const char *a, char *out, size_t n)
{
    const char *p;
    char *end;
    unsigned long k;

    if (strcasecmp(a, "main") == 0) {
        snprintf(out, n, "main");
        return true;
    }
    if (strncasecmp(a, "extra", 5) != 0)
        return false;
    p = a + 5;
    if (*p == '[')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    k = strtoul(p, &end, 10);
    if (!((*end == '\0' && p == a + 5) || (strcmp(end, "]") == 0 && p == a + 6)))
        return false;
    snprintf(out, n, "extra[%lu]", k);
    return true;
}

static bool matches(struct json_object *entry, const char *arg, bool by_name, bool exact)
{
    struct json_object *v;

    if (by_name)
        return json_object_object_get_ex(entry, "name", &v) &&
               strcmp(json_object_get_string(v), arg) == 0;
    if (!json_object_object_get_ex(entry, "dns_names", &v) ||
        !json_object_is_type(v, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        const char *d = json_object_get_string(json_object_array_get_idx(v, i));

        if (exact ? strcasecmp(d, arg) == 0 : sni_pattern_covers(d, arg))
            return true;
    }
    return false;
}

static void print_time(const char *label, struct json_object *e, const char *key)
{
    struct json_object *v;
    char t[40];

    if (!json_object_object_get_ex(e, key, &v) || v == NULL || json_object_get_int64(v) == 0) {
        printf("%-12s -\n", label);
        return;
    }
    ac_time_format_rfc3339(json_object_get_int64(v), t, sizeof t);
    printf("%-12s %s (%lld)\n", label, t, (long long)json_object_get_int64(v));
}

static void print_entry(struct json_object *e)
{
    static const char *const plain[][2] = {{"set", "name"},       {"state", "state"},
                                           {"subject", "subject"}, {"issuer", "issuer"},
                                           {"serial", "serial"},   {"key type", "key_type"},
                                           {"cert path", "cert_path"}};
    struct json_object *v;

    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        printf("%-12s %s\n", plain[i][0],
               json_object_object_get_ex(e, plain[i][1], &v) && v != NULL
                   ? json_object_get_string(v)
                   : "-");
    print_time("not before", e, "not_before");
    print_time("not after", e, "not_after");
    print_time("renews at", e, "renews_at");
    printf("%-12s", "dns names");
    if (json_object_object_get_ex(e, "dns_names", &v) && json_object_is_type(v, json_type_array))
        for (size_t i = 0; i < json_object_array_length(v); i++)
            printf(" %s", json_object_get_string(json_object_array_get_idx(v, i)));
    printf("\n%-12s", "emails");
    if (json_object_object_get_ex(e, "email_addresses", &v) &&
        json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
        for (size_t i = 0; i < json_object_array_length(v); i++)
            printf(" %s", json_object_get_string(json_object_array_get_idx(v, i)));
    else
        printf(" -");
    printf("\n");
}

int cmd_info(int argc, char **argv)
{
    struct cli_opts o;
    struct admin_ctx ctx;
    struct json_object *root = NULL, *found = NULL;
    char *body = NULL, set[32];
    long status = 0;
    bool by_name;
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
    by_name = canonical_set(o.args[0], set, sizeof set);
    rc = admin_ctx_open(&o, &ctx);
    if (rc != EXIT_OK)
        goto out;
    rc = EXIT_FAILED;
    body = admin_ctx_get_doc(&ctx, "/api/v1/cert/info", &status);
    if (body == NULL)
        goto out;
    root = json_tokener_parse(body);
    if (status == 404) {
        fprintf(stderr, "autocert: no certificate found\n");
        goto out;
    }
    if (status != 200 || root == NULL || !json_object_is_type(root, json_type_array)) {
        fprintf(stderr, "autocert: admin API answered %ld\n", status);
        goto out;
    }
    /* An exact name beats a wildcard, as in SNI selection. */
    for (int pass = 0; found == NULL && pass < 2; pass++)
        for (size_t i = 0; found == NULL && i < json_object_array_length(root); i++)
            if (matches(json_object_array_get_idx(root, i), by_name ? set : o.args[0], by_name,
                        pass == 0))
                found = json_object_array_get_idx(root, i);
    if (found == NULL) {
        fprintf(stderr, "autocert: no certificate held for %s '%s'\n",
                by_name ? "set" : "domain", o.args[0]);
        goto out;
    }
    print_entry(found);
    rc = EXIT_OK;
out:
    json_object_put(root);
    free(body);
    admin_ctx_close(&ctx);
    return rc;
}
