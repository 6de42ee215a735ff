/*
 * main.c - the `autocert` program: dispatches to a subcommand (commands.h).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"check", cmd_check, "validate a configuration file and print the effective one"},
    {"obtain", cmd_obtain, "obtain missing certificates (all with --force) and exit"},
    {"list", cmd_list, "list every certificate set: domains, issuer, expiry, state"},
    {"info", cmd_info, "show the certificate of one set or domain"},
    {"renew", cmd_renew, "renew one set (or every set) now, showing progress"},
    {"revoke", cmd_revoke, "revoke a set's certificate at the CA and obtain a new one"},
    {"serve", cmd_serve, "run the daemon: serve, renew, reload on SIGHUP"},
    {"store", cmd_store, "administer the PostgreSQL store: migrate-schema, rekey, migrate"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'autocert <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "autocert: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
