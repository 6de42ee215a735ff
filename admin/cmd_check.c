/*
 * cmd_check.c - `autocert check [-c FILE]`: loads and validates a config file.
 *
 * Valid: prints "ok" and the effective configuration (defaults applied,
 * extras merged, secrets redacted) on stdout, exit 0. Invalid: prints every
 * error as "file:line:col: key.path: message" on stdout, exit 2. Warnings go
 * to stderr in both cases.
 */
#include <stdio.h>
#include <string.h>

#include <autocert/autocert.h>

#include "commands.h"

static void list_providers(void)
{
    const char *name;

    for (size_t i = 0; (name = autocert_provider_name(i)) != NULL; i++)
        printf("%s\n", name);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert check [-c FILE]\n\n"
               "Loads FILE (default autocert.yml), expands ${VAR}, applies defaults, merges\n"
               "extras and validates everything. Prints \"ok\" and the effective configuration\n"
               "(secrets redacted), or every error with file, line, column and key path.\n\n"
               "options:\n"
               "  -c, --config FILE   the configuration file (default autocert.yml)\n"
               "  --list-providers    print the provider names this build accepts\n"
               "  -h, --help          this help\n\n"
               "exit status: 0 valid, 2 invalid or usage error\n");
}

/* Warnings to stderr, errors to stdout. */
static void print_diag(void *arg, const autocert_diag *d)
{
    char line[2048];

    (void)arg;
    autocert_diag_format(d, line, sizeof line);
    fprintf(d->warning ? stderr : stdout, "%s\n", line);
}

int cmd_check(int argc, char **argv)
{
    const char *path = "autocert.yml";
    autocert_config *cfg = NULL;
    autocert_error err;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--list-providers") == 0) {
            list_providers();
            return EXIT_OK;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fprintf(stderr, "autocert check: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (autocert_config_load(path, print_diag, NULL, &cfg, &err) != 0) {
        rc = EXIT_USAGE;
    } else {
        printf("ok\n");
        autocert_config_print(cfg, stdout);
        rc = EXIT_OK;
    }
    autocert_config_free(cfg);
    return rc;
}
