/*
 * consumer_openssl.c - a host program outside the tree that serves a
 * manager's certificates from OpenSSL through the installed
 * libautocert_openssl (tests/integration/test_install.sh builds it with
 * `pkg-config autocert-openssl` and with find_package(autocert) +
 * autocert::openssl / autocert::openssl_static).
 *
 *     consumer_openssl CONFIG NAME EXPECTED_CN
 *
 * Loads CONFIG (a local-provider set), installs the adapter on an SSL_CTX,
 * runs one in-memory TLS handshake (a BIO pair) with SNI NAME and exits 0
 * when the certificate the client received has the subject CN EXPECTED_CN.
 */
#include <autocert/autocert.h>
#include <autocert/autocert_openssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

static int handshake(SSL *c, SSL *s)
{
    int cdone = 0, sdone = 0;

    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        int r;
        if (!cdone) {
            r = SSL_do_handshake(c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
                return 0;
        }
        if (!sdone) {
            r = SSL_do_handshake(s);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
                return 0;
        }
    }
    return cdone && sdone;
}

int main(int argc, char **argv)
{
    autocert_manager *m = NULL;
    autocert_error err = {.kind = ""};
    SSL_CTX *sctx = NULL, *cctx = NULL;
    SSL *c = NULL, *s = NULL;
    BIO *cb = NULL, *sb = NULL;
    X509 *peer = NULL;
    char cn[256] = "";
    int rc = 1;

    if (argc != 4) {
        fprintf(stderr, "usage: consumer_openssl CONFIG NAME EXPECTED_CN\n");
        return 2;
    }
    if (autocert_manager_open(argv[1], NULL, NULL, &m, &err) != 0) {
        fprintf(stderr, "consumer_openssl: %s\n", err.message);
        goto out;
    }
    printf("loaded=%d\n", autocert_manager_load(m));
    sctx = SSL_CTX_new(TLS_server_method());
    cctx = SSL_CTX_new(TLS_client_method());
    if (sctx == NULL || cctx == NULL || autocert_openssl_install(m, sctx, NULL, NULL, &err) != 0) {
        fprintf(stderr, "consumer_openssl: install: %s\n", err.message);
        goto out;
    }
    c = SSL_new(cctx);
    s = SSL_new(sctx);
    if (c == NULL || s == NULL || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
        goto out;
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set_tlsext_host_name(c, argv[2]);
    if (!handshake(c, s)) {
        fprintf(stderr, "consumer_openssl: handshake failed\n");
        ERR_print_errors_fp(stderr);
        goto out;
    }
    peer = SSL_get1_peer_certificate(c);
    if (peer == NULL || X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
                                                  (int)sizeof(cn)) < 0)
        goto out;
    printf("name=%s served=%s\n", argv[2], cn);
    if (strcmp(cn, argv[3]) != 0) {
        fprintf(stderr, "consumer_openssl: served %s, expected %s\n", cn, argv[3]);
        goto out;
    }
    printf("consumer_openssl: ok\n");
    rc = 0;
out:
    X509_free(peer);
    SSL_free(c);
    SSL_free(s);
    autocert_openssl_uninstall(sctx);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    autocert_manager_free(m);
    return rc;
}
