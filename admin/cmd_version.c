/* cmd_version.c - `autocert version`. */
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include <autocert/autocert.h>

#include "commands.h"

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: autocert version\n\nPrints the version of autocert and its libraries.\n");
        return EXIT_OK;
    }
    printf("autocert %s (GnuTLS %s, %s)\n", autocert_version(), gnutls_check_version(NULL),
           curl_version());
    return EXIT_OK;
}
