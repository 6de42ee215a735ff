/*
 * consumer.c - a host program outside the tree that embeds libautocert through
 * the installed package (tests/integration/test_install.sh builds it with
 * pkg-config and with find_package(autocert CONFIG), shared and static).
 *
 *     consumer CONFIG NAME EXPECTED_CN
 *
 * Loads CONFIG (a local-provider set), looks NAME up, prints what it got and
 * exits 0 when the certificate's subject CN is EXPECTED_CN. It uses only the
 * 0.1 API (autocert_manager_new/load/lookup, autocert_cert_*,
 * autocert_gnutls_install).
 *
 * It also defines functions named like libautocert internals (config_load,
 * http_do, b64_encode, sni_lookup). A library that exported its internals would
 * call these instead of its own (shared) or fail to link (static archive with
 * global internal names); a clean one leaves them to the host.
 */
#include <autocert/autocert.h>
#include <autocert/autocert_gnutls.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

int config_load(const char *who);
int http_do(const char *who);
int b64_encode(const char *who);
int sni_lookup(const char *who);

int config_load(const char *who)
{
    return printf("host config_load called by %s\n", who) > 0 ? 1 : 0;
}

int http_do(const char *who)
{
    return printf("host http_do called by %s\n", who) > 0 ? 2 : 0;
}

int b64_encode(const char *who)
{
    return printf("host b64_encode called by %s\n", who) > 0 ? 3 : 0;
}

int sni_lookup(const char *who)
{
    return printf("host sni_lookup called by %s\n", who) > 0 ? 4 : 0;
}

int main(int argc, char **argv)
{
    autocert_manager *m = NULL;
    autocert_cert *c = NULL;
    gnutls_certificate_credentials_t cred = NULL;
    char err[512] = "";
    int rc = 1, n;

    if (argc != 4) {
        fprintf(stderr, "usage: consumer CONFIG NAME EXPECTED_CN\n");
        return 2;
    }
    if (config_load("main") + http_do("main") + b64_encode("main") + sni_lookup("main") != 10)
        goto out;
    if (autocert_manager_new(argv[1], &m, err, sizeof err) != 0) {
        fprintf(stderr, "consumer: autocert_manager_new: %s\n", err);
        goto out;
    }
    n = autocert_manager_load(m);
    printf("sets=%zu loaded=%d\n", autocert_manager_set_count(m), n);
    c = autocert_manager_lookup(m, argv[2], strlen(argv[2]));
    if (c == NULL) {
        fprintf(stderr, "consumer: no certificate for %s\n", argv[2]);
        goto out;
    }
    printf("name=%s set=%s subject=%s chain=%zu names=%zu\n", argv[2], autocert_cert_set_name(c),
           autocert_cert_subject(c), autocert_cert_chain_count(c), autocert_cert_name_count(c));
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        autocert_gnutls_install(m, cred) != 0) {
        fprintf(stderr, "consumer: autocert_gnutls_install failed\n");
        goto out;
    }
    autocert_gnutls_uninstall(cred);
    if (strcmp(autocert_cert_subject(c), argv[3]) != 0) {
        fprintf(stderr, "consumer: subject %s, expected %s\n", autocert_cert_subject(c), argv[3]);
        goto out;
    }
    printf("consumer: ok\n");
    rc = 0;
out:
    if (cred != NULL)
        gnutls_certificate_free_credentials(cred);
    autocert_cert_release(c);
    autocert_manager_free(m);
    return rc;
}
