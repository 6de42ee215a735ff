/* cli.c - common option parsing and config loading for subcommands (cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool allows(const char *allowed, const char *flag)
{
    return allowed != NULL && strstr(allowed, flag) != NULL;
}

int cli_parse(int argc, char **argv, const char *allowed, struct cli_opts *o)
{
    static char *positional[64];

    enum autocert_log_format format = AUTOCERT_LOG_TEXT;
    enum autocert_log_level level = AUTOCERT_LOG_INFO;

    memset(o, 0, sizeof *o);
    o->config_path = "autocert.yml";
    o->args = positional;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = true;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (next == NULL)
                goto missing;
            o->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            o->config_path = a + 9;
        } else if (strcmp(a, "--log-format") == 0) {
            if (next == NULL)
                goto missing;
            i++;
            if (strcmp(next, "json") == 0) {
                format = AUTOCERT_LOG_JSON;
            } else if (strcmp(next, "text") == 0) {
                format = AUTOCERT_LOG_TEXT;
            } else {
                fprintf(stderr, "%s: --log-format takes 'text' or 'json', not '%s'\n", argv[0],
                        next);
                return -1;
            }
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            level = AUTOCERT_LOG_DEBUG;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            level = AUTOCERT_LOG_WARN;
        } else if (allows(allowed, "force") && strcmp(a, "--force") == 0) {
            o->force = true;
        } else if (allows(allowed, "admin") && strcmp(a, "--admin") == 0) {
            if (next == NULL)
                goto missing;
            o->admin_url = argv[++i];
        } else if (allows(allowed, "reason") && strcmp(a, "--reason") == 0) {
            if (next == NULL)
                goto missing;
            o->reason = argv[++i];
        } else if (allows(allowed, "filters") &&
                   (strcmp(a, "--name") == 0 || strcmp(a, "--domain") == 0 ||
                    strcmp(a, "--state") == 0 || strcmp(a, "--limit") == 0 ||
                    strcmp(a, "--cursor") == 0)) {
            const char **slot = a[2] == 'n'   ? &o->name
                                : a[2] == 'd' ? &o->domain
                                : a[2] == 's' ? &o->state
                                : a[2] == 'l' ? &o->limit
                                              : &o->cursor;
            if (next == NULL)
                goto missing;
            *slot = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s' (see '%s --help')\n", argv[0], a, argv[0]);
            return -1;
        } else {
            if (o->nargs >= (int)(sizeof positional / sizeof positional[0])) {
                fprintf(stderr, "%s: too many arguments\n", argv[0]);
                return -1;
            }
            positional[o->nargs++] = argv[i];
        }
        continue;
    missing:
        fprintf(stderr, "%s: option '%s' needs a value\n", argv[0], a);
        return -1;
    }
    autocert_log_to_stderr(format, level);
    return 0;
}

void cli_print_diag(void *arg, const autocert_diag *d)
{
    char line[2048];

    (void)arg;
    autocert_diag_format(d, line, sizeof line);
    fprintf(stderr, "%s\n", line);
}

autocert_manager *cli_open(const char *path)
{
    autocert_manager *m = NULL;
    autocert_error err;

    if (autocert_manager_open(path, cli_print_diag, NULL, &m, &err) != 0) {
        if (strcmp(err.kind, AUTOCERT_E_CONFIG) != 0)
            fprintf(stderr, "autocert: %s\n", err.message);
        return NULL;
    }
    return m;
}

int cli_find_set(autocert_manager *m, const char *cmd, const char *arg)
{
    autocert_error err;
    size_t idx;

    if (autocert_manager_find(m, arg, &idx, &err) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.message);
        return -1;
    }
    return (int)idx;
}
