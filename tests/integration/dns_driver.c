/*
 * dns_driver.c - drives the DNS-01 provider layer from the integration tests.
 *
 *   dns_driver present|cleanup <provider> <domain> <value> [opt=value ...]
 *       fqdn is "_acme-challenge.<domain>"; RAW-mode token and key
 *       authorization come from the options _token= and _keyauth= (not passed
 *       to the provider).
 *   dns_driver seq <provider> <domain> <value1> <value2> [opt=value ...]
 *       one provider instance: present v1, present v2, cleanup v1. With
 *       DNS_DRIVER_SIGNAL and DNS_DRIVER_WAIT set (paths), it creates the first
 *       after both presents and waits (up to 30 s) for the second to exist
 *       before the cleanup, so the test can look at the server in between.
 *   dns_driver present2|cleanup2 <provider> <domain> <value1> <value2> [opt=value ...]
 *       both values at one name in one call (dns_provider_present_many /
 *       dns_provider_cleanup_many: the provider's batch op when it has one).
 *   dns_driver wait <fqdn> <value> <timeout_ms> <interval_ms> [resolver ...]
 *   dns_driver validate <provider> [opt=value ...]
 *
 * Exit 0 on success; otherwise prints "<kind>: <message>" to stderr, exit 1
 * (2 for usage errors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "dns_provider.h"
#include "error.h"

#define MAX_OPTS 32

struct opts {
    struct dns_option o[MAX_OPTS];
    size_t n;
    const char *token, *keyauth;
};

static int parse_opts(int argc, char **argv, struct opts *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL || out->n >= MAX_OPTS)
            return -1;
        *eq = '\0';
        if (strcmp(argv[i], "_token") == 0)
            out->token = eq + 1;
        else if (strcmp(argv[i], "_keyauth") == 0)
            out->keyauth = eq + 1;
        else
            out->o[out->n++] = (struct dns_option){argv[i], eq + 1};
    }
    return 0;
}

static void pause_point(void)
{
    const char *sig = getenv("DNS_DRIVER_SIGNAL"), *wait = getenv("DNS_DRIVER_WAIT");
    FILE *f;

    if (sig == NULL || wait == NULL)
        return;
    f = fopen(sig, "w");
    if (f != NULL)
        fclose(f);
    for (int i = 0; i < 300 && access(wait, F_OK) != 0; i++)
        usleep(100000);
}

static int fail(const struct ac_error *e)
{
    fprintf(stderr, "%s: %s\n", e->kind, e->message);
    return 1;
}

static int run_provider(int argc, char **argv)
{
    const char *action = argv[1], *name = argv[2], *domain = argv[3];
    int nvals = strcmp(action, "present") == 0 || strcmp(action, "cleanup") == 0 ? 1 : 2;
    struct dns_provider *p = NULL;
    struct ac_error e;
    struct opts o;
    char fqdn[300];
    int rc = 1;

    ac_error_clear(&e);
    if (argc < 5 + nvals - 1 || parse_opts(argc - 4 - nvals, argv + 4 + nvals, &o) != 0)
        return 2;
    snprintf(fqdn, sizeof fqdn, "_acme-challenge.%s", domain);
    if (dns_provider_new(name, o.o, o.n, &p, &e) != 0)
        return fail(&e);
    struct dns_challenge ch = {domain, fqdn, argv[4], o.token, o.keyauth};
    if (strcmp(action, "present") == 0) {
        if (dns_provider_present(p, &ch, &e) != 0)
            goto out;
    } else if (strcmp(action, "cleanup") == 0) {
        if (dns_provider_cleanup(p, &ch, &e) != 0)
            goto out;
    } else if (strcmp(action, "present2") == 0 || strcmp(action, "cleanup2") == 0) {
        struct dns_challenge ch2 = ch;
        const struct dns_challenge *both[2] = {&ch, &ch2};
        bool done[2];
        ch2.value = argv[5];
        if (action[0] == 'p' ? dns_provider_present_many(p, both, 2, done, &e) != 0
                             : dns_provider_cleanup_many(p, both, 2, &e) != 0)
            goto out;
    } else {
        struct dns_challenge ch2 = ch;
        ch2.value = argv[5];
        if (dns_provider_present(p, &ch, &e) != 0 || dns_provider_present(p, &ch2, &e) != 0)
            goto out;
        pause_point();
        if (dns_provider_cleanup(p, &ch, &e) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        fail(&e);
    dns_provider_free(p);
    return rc;
}

int main(int argc, char **argv)
{
    struct ac_error e;

    /* the library is silent unless asked */
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_INFO);
    ac_error_clear(&e);
    if (argc < 2)
        goto usage;
    if (strcmp(argv[1], "wait") == 0) {
        if (argc < 6)
            goto usage;
        if (dns_propagation_wait(argv[2], argv[3], (const char *const *)(argv + 6),
                                 (size_t)(argc - 6), strtoll(argv[4], NULL, 10),
                                 strtoll(argv[5], NULL, 10), &e) != 0)
            return fail(&e);
        return 0;
    }
    if (strcmp(argv[1], "validate") == 0) {
        struct opts o;
        if (argc < 3 || parse_opts(argc - 3, argv + 3, &o) != 0)
            goto usage;
        if (dns_options_validate(argv[2], o.o, o.n, &e) != 0)
            return fail(&e);
        return 0;
    }
    if (argc >= 5 && (strcmp(argv[1], "present") == 0 || strcmp(argv[1], "cleanup") == 0 ||
                      strcmp(argv[1], "seq") == 0 || strcmp(argv[1], "present2") == 0 ||
                      strcmp(argv[1], "cleanup2") == 0)) {
        int rc = run_provider(argc, argv);
        if (rc != 2)
            return rc;
    }
usage:
    fprintf(stderr, "usage: dns_driver present|cleanup|present2|cleanup2|seq|wait|validate ...\n");
    return 2;
}
