/*
 * cmd_store.c - `autocert store ...`: administration of the PostgreSQL store
 * named by the configuration's store: section (autocert_store_*):
 *
 *   autocert store migrate-schema -c FILE
 *   autocert store rekey -c FILE          new key from AUTOCERT_STORE_NEW_KEY
 *   autocert store migrate -c FILE --to-db | --to-files
 *
 * The URL and the keys come from the configuration and the environment,
 * never from argv (visible to every user of the machine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <autocert/autocert_admin.h>

#include "cli.h"
#include "commands.h"

#define NEW_KEY_ENV "AUTOCERT_STORE_NEW_KEY"

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert store migrate-schema [-c FILE]\n"
               "       autocert store rekey [-c FILE]\n"
               "       autocert store migrate [-c FILE] --to-db | --to-files\n\n"
               "Administers the PostgreSQL store of the configuration's store: section.\n"
               "  migrate-schema  create or migrate the schema (run with an owner role; nodes\n"
               "                  may then run with DML-only grants)\n"
               "  rekey           re-encrypt every key from store.encryption_key to the key in\n"
               "                  $" NEW_KEY_ENV " (base64 of 32 bytes), in one transaction\n"
               "  migrate         copy every set's certificate, key, state and failure marker\n"
               "                  from the files to the database (--to-db) or back (--to-files);\n"
               "                  the newest certificate wins\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "exit status: 0 done, 1 failed, 2 usage or configuration error\n");
}

static void print_note(void *arg, const char *set, const char *message)
{
    char s[256], m[1024];

    (void)arg;
    autocert_text_sanitize(m, sizeof m, message, strlen(message));
    if (set == NULL) {
        printf("%s\n", m);
    } else {
        autocert_text_sanitize(s, sizeof s, set, strlen(set));
        printf("%s: %s\n", s, m);
    }
    fflush(stdout);
}

static int failed(const char *what, const autocert_error *err)
{
    char m[AUTOCERT_ERROR_MESSAGE_MAX];

    autocert_text_sanitize(m, sizeof m, err->message, strlen(err->message));
    fprintf(stderr, "autocert store %s: %s: %s\n", what, err->kind, m);
    return strcmp(err->kind, AUTOCERT_E_CONFIG) == 0 ? EXIT_USAGE : EXIT_FAILED;
}

int cmd_store(int argc, char **argv)
{
    struct cli_opts o;
    autocert_config *cfg = NULL;
    autocert_error err;
    autocert_progress p = {.note = print_note};
    int direction = 0, rc, n = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    const char *verb;

    if (args == NULL)
        return EXIT_FAILED;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--to-db") == 0)
            direction = direction == 0 ? 1 : 3;
        else if (strcmp(argv[i], "--to-files") == 0)
            direction = direction == 0 ? 2 : 3;
        else
            args[n++] = argv[i];
    }
    rc = cli_parse(n, args, "", &o);
    if (rc != 0) {
        free(args);
        return EXIT_USAGE;
    }
    if (o.help) {
        usage(stdout);
        free(args);
        return EXIT_OK;
    }
    verb = o.nargs == 1 ? o.args[0] : "";
    if (strcmp(verb, "migrate-schema") != 0 && strcmp(verb, "rekey") != 0 &&
        strcmp(verb, "migrate") != 0) {
        usage(stderr);
        free(args);
        return EXIT_USAGE;
    }
    if ((strcmp(verb, "migrate") == 0) != (direction == 1 || direction == 2)) {
        fprintf(stderr, "autocert store: %s\n",
                strcmp(verb, "migrate") == 0 ? "say one of --to-db and --to-files"
                                             : "--to-db and --to-files belong to migrate");
        free(args);
        return EXIT_USAGE;
    }
    if (autocert_config_load(o.config_path, cli_print_diag, NULL, &cfg, &err) != 0) {
        free(args);
        return EXIT_USAGE;
    }
    if (strcmp(verb, "migrate-schema") == 0) {
        rc = autocert_store_migrate_schema(cfg, &err) == 0 ? EXIT_OK
                                                           : failed("migrate-schema", &err);
        if (rc == EXIT_OK)
            printf("schema up to date\n");
    } else if (strcmp(verb, "rekey") == 0) {
        const char *nk = getenv(NEW_KEY_ENV);

        if (nk == NULL || nk[0] == '\0') {
            fprintf(stderr, "autocert store rekey: set %s to the new key (base64 of 32 bytes)\n",
                    NEW_KEY_ENV);
            rc = EXIT_USAGE;
        } else {
            rc = autocert_store_rekey(cfg, nk, &err) == 0 ? EXIT_OK : failed("rekey", &err);
            if (rc == EXIT_OK)
                printf("every key re-encrypted; put the new key in store.encryption_key of "
                       "every node\n");
        }
    } else {
        rc = autocert_store_copy(cfg, direction == 1, &p, &err) == 0 ? EXIT_OK
                                                                     : failed("migrate", &err);
    }
    autocert_config_free(cfg);
    free(args);
    return rc;
}
