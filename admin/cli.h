/*
 * cli.h - what every subcommand shares: the common options (-c FILE,
 * --log-format text|json, -v/--verbose, --help), loading the configuration
 * with its diagnostics printed, and naming sets the way users type them.
 */
#ifndef AUTOCERT_CLI_H
#define AUTOCERT_CLI_H

#include <stdbool.h>

#include <autocert/autocert.h>

struct cli_opts {
    const char *config_path; /* default "autocert.yml" */
    bool help;
    bool force;            /* --force (obtain) */
    const char *admin_url; /* --admin URL */
    const char *reason;    /* --reason R (revoke) */
    /* list: --name N --domain D --state S --limit N --cursor C (NULL: not given) */
    const char *name, *domain, *state, *limit, *cursor;
    char **args; /* positional arguments, borrowed from argv */
    int nargs;
};

/* Parses argv (argv[0] is the subcommand). `allowed` lists the command's extra
 * flags among "force", "admin", "reason", "filters" (--name, --domain,
 * --state, --limit, --cursor). Unknown options print a message to
 * stderr and return -1 (exit 2). Sends the library's log to stderr in the
 * format and at the level asked (text, info by default). */
int cli_parse(int argc, char **argv, const char *allowed, struct cli_opts *o);

/* Prints one configuration diagnostic to stderr (an autocert_diag_fn). */
void cli_print_diag(void *arg, const autocert_diag *d);

/* Opens a manager on the configuration at path (autocert_manager_open),
 * printing warnings and errors to stderr. Returns it, or NULL (then the
 * caller exits with EXIT_USAGE). */
autocert_manager *cli_open(const char *path);

/* Index of the set named or covered by `arg` (autocert_manager_find: the one
 * selector of the library, the CLI and the admin API); -1 with the reason
 * printed to stderr ("<cmd>: no set covers ...") when none. */
int cli_find_set(autocert_manager *m, const char *cmd, const char *arg);

#endif
