/*
 * commands.h - the `autocert` subcommands. Each takes argc/argv starting at its
 * own name (argv[0] = "obtain") and returns the process exit code:
 * 0 success, 1 the operation failed, 2 usage or configuration error.
 */
#ifndef AUTOCERT_COMMANDS_H
#define AUTOCERT_COMMANDS_H

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

int cmd_check(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_obtain(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_renew(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_store(int argc, char **argv);

#endif
