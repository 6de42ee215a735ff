/*
 * test_openssl_util.h - in-memory OpenSSL handshakes (a BIO pair, no socket)
 * and local certificate sets for the OpenSSL adapter's tests.
 */
#ifndef TEST_OPENSSL_UTIL_H
#define TEST_OPENSSL_UTIL_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "test_manager_certs.h"

/* One connection: the client and server ends, after the handshake. */
struct tos_conn {
    SSL *client, *server;
};

static void tos_close(struct tos_conn *c)
{
    SSL_free(c->client);
    SSL_free(c->server);
    c->client = c->server = NULL;
}

/* Runs a full handshake between a client of cctx (sni and the ALPN list in
 * wire format may be NULL) and a server of sctx. Returns 1 when both ends
 * completed it, 0 when either failed (*c is then closed). */
static int tos_handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *sni, const char *alpn,
                         size_t alpnlen, struct tos_conn *c)
{
    BIO *cb = NULL, *sb = NULL;
    int cdone = 0, sdone = 0;

    c->client = SSL_new(cctx);
    c->server = SSL_new(sctx);
    if (c->client == NULL || c->server == NULL || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
        goto fail;
    SSL_set_bio(c->client, cb, cb);
    SSL_set_bio(c->server, sb, sb);
    SSL_set_connect_state(c->client);
    SSL_set_accept_state(c->server);
    if (sni != NULL && SSL_set_tlsext_host_name(c->client, sni) != 1)
        goto fail;
    if (alpn != NULL &&
        SSL_set_alpn_protos(c->client, (const unsigned char *)alpn, (unsigned)alpnlen) != 0)
        goto fail;
    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(c->client);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(c->client, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(c->client, r) != SSL_ERROR_WANT_WRITE)
                goto fail;
        }
        if (!sdone) {
            int r = SSL_do_handshake(c->server);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(c->server, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(c->server, r) != SSL_ERROR_WANT_WRITE)
                goto fail;
        }
    }
    if (cdone && sdone)
        return 1;
fail:
    ERR_clear_error();
    tos_close(c);
    return 0;
}

/* The subject CN of the certificate the client received ("" if none). */
static void tos_peer_cn(const struct tos_conn *c, char *cn, size_t n)
{
    X509 *x = SSL_get1_peer_certificate(c->client);

    cn[0] = '\0';
    if (x != NULL &&
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)n) < 0)
        cn[0] = '\0';
    X509_free(x);
}

/* The CN a handshake with sni gets, or "FAILED". */
static void tos_cn_for(SSL_CTX *sctx, SSL_CTX *cctx, const char *sni, char *cn, size_t n)
{
    struct tos_conn c;

    if (!tos_handshake(sctx, cctx, sni, NULL, 0, &c)) {
        snprintf(cn, n, "FAILED");
        return;
    }
    tos_peer_cn(&c, cn, n);
    tos_close(&c);
}

static SSL_CTX *tos_client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx != NULL) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    return ctx;
}

/* Writes dir/name.crt and dir/name.key: self-signed, CN cn, one DNS SAN. */
static int tos_make(const char *dir, const char *name, const char *cn, const char *san)
{
    char crt[256], key[256];
    const char *sans[1] = {san};

    snprintf(crt, sizeof crt, "%s/%s.crt", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    return tmc_make(crt, key, cn, sans, 1);
}

#endif
