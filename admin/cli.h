/*
 * cli.h - what every subcommand shares: the common options (-c FILE,
 * --log-format text|json, -v/--verbose, --help), loading the configuration
 * with its diagnostics printed, and naming sets the way users type them.
 */
#ifndef AUTOCERT_CLI_H
#define AUTOCERT_CLI_H

#include <stdbool.h>

#include "config.h"

struct cli_opts {
    const char *config_path;  /* default "autocert.yml" */
    bool help;
    bool force;               /* --force (obtain) */
    const char *admin_url;    /* --admin URL */
    const char *reason;       /* --reason R (revoke) */
    char **args;              /* positional arguments, borrowed from argv */
    int nargs;
};

/* Parses argv (argv[0] is the subcommand). `allowed` lists the command's extra
 * flags among "force", "admin", "reason". Unknown options print a message to
 * stderr and return -1 (exit 2). Sets the log format/level as asked. */
int cli_parse(int argc, char **argv, const char *allowed, struct cli_opts *o);

/* Loads the configuration, printing warnings and errors to stderr. Returns the
 * config or NULL (then the caller exits with EXIT_USAGE). */
struct config *cli_load_config(const char *path);

/* Index of the set named by `arg` ("main", "extra[1]", "extra1") or covering
 * domain `arg` (case-insensitive, wildcards match one label); -1 when none. */
int cli_find_set(const struct config *cfg, const char *arg);

#endif
