/*
 * gcloud_auth.h - Google service-account credentials for the gcloud DNS
 * provider (internal to providers/).
 *
 * The OAuth 2.0 service-account flow (RFC 7523 JWT bearer grant): a JWT
 * signed RS256 with the key of a service-account JSON key file is exchanged at
 * the file's token_uri for an access token; optionally that token is traded
 * for one of another service account through the IAM Credentials API
 * (generateAccessToken, "impersonation").
 */
#ifndef AUTOCERT_PROVIDERS_GCLOUD_AUTH_H
#define AUTOCERT_PROVIDERS_GCLOUD_AUTH_H

#include <stdint.h>

#include "crypto.h"
#include "error.h"

#define GCLOUD_SCOPE_DNS "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
#define GCLOUD_SCOPE_CLOUD "https://www.googleapis.com/auth/cloud-platform"
#define GCLOUD_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

/* A loaded service-account key file. Owns everything. */
struct gcloud_sa {
    char *client_email;
    char *token_uri;        /* https://, or loopback http:// (tests) */
    struct crypto_key *key; /* RSA, the secret */
};

/* Reads and checks the JSON key file at path (at most 64 KiB; "type"
 * "service_account", client_email, private_key PEM of an RSA key, token_uri).
 * Errors (AC_ERR_CONFIG) name the option service_account_file and what is
 * wrong, never the file's content. Returns a new gcloud_sa. */
int gcloud_sa_load(const char *path, struct gcloud_sa **out, struct ac_error *e);
void gcloud_sa_free(struct gcloud_sa *sa);

/* Builds the signed assertion: header {"alg":"RS256","typ":"JWT"}, claims
 * {iss, scope, aud, iat, exp = iat + 3600}, each part base64url, signature
 * RSASSA-PKCS1-v1_5 SHA-256 over "header.claims". Returns a new string. */
int gcloud_jwt_make(const struct crypto_key *k, const char *iss, const char *scope, const char *aud,
                    int64_t iat, char **out, struct ac_error *e);

/* Exchanges a fresh assertion (scope) at sa->token_uri: *token is a new secret
 * (dns_api_secret_free), *expires_in seconds. */
int gcloud_sa_token(const struct gcloud_sa *sa, const char *scope, int64_t timeout_ms, char **token,
                    int64_t *expires_in, struct ac_error *e);

/* POST <iam_base>/v1/projects/-/serviceAccounts/<target>:generateAccessToken
 * with the caller's token (scope cloud-platform): a token of `target` for
 * `scope`, valid one hour. */
int gcloud_impersonate(const char *iam_base, const char *source_token, const char *target,
                       const char *scope, int64_t timeout_ms, char **token, int64_t *expires_in,
                       struct ac_error *e);

#endif
