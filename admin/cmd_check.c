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

#include "commands.h"
#include "config.h"
#include "dns_provider.h"

static void list_providers(void)
{
    const struct dns_provider_ops *const *l = dns_provider_list();

    printf("%s\n%s\n%s\n", CONFIG_PROVIDER_LOCAL, CONFIG_PROVIDER_PSEUDO, CONFIG_PROVIDER_CUSTOM);
    for (size_t i = 0; l != NULL && l[i] != NULL; i++) {
        printf("%s\n", l[i]->name);
        if (l[i]->alias != NULL)
            printf("%s\n", l[i]->alias);
    }
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

/* Prints warnings to stderr and (for a failed load) errors to out. */
static void print_diags(const struct config_diags *d, FILE *out, bool errors)
{
    for (size_t i = 0; i < d->count; i++) {
        struct config_diags one = {.items = &d->items[i], .count = 1};

        if (d->items[i].warning)
            config_diags_print(&one, stderr);
        else if (errors)
            config_diags_print(&one, out);
    }
}

int cmd_check(int argc, char **argv)
{
    const char *path = "autocert.yml";
    struct config *cfg = NULL;
    struct config_diags diags = {0};
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
    if (config_load(path, &cfg, &diags) != 0) {
        print_diags(&diags, stdout, true);
        rc = EXIT_USAGE;
    } else {
        print_diags(&diags, stdout, false);
        printf("ok\n");
        config_print(cfg, stdout);
        rc = EXIT_OK;
    }
    config_free(cfg);
    config_diags_free(&diags);
    return rc;
}
