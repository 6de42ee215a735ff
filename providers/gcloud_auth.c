/*
 * gcloud_auth.c - Google service-account key file, RS256 JWT assertion,
 * token exchange and impersonation (gcloud_auth.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "dns_api.h"
#include "dns_common.h"
#include "gcloud_auth.h"
#include "http.h"
#include "jsonu.h"
#include "oauth2.h"
#include "timeutil.h"

#define P "DNS provider gcloud"
#define SA_MAX_FILE (64 * 1024)
#define SA_OPT "option service_account_file"

void gcloud_sa_free(struct gcloud_sa *sa)
{
    if (!sa)
        return;
    free(sa->client_email);
    free(sa->token_uri);
    crypto_key_free(sa->key);
    free(sa);
}

/* Reads at most SA_MAX_FILE bytes; *len set. New buffer, NUL-terminated. */
static char *read_file(const char *path, size_t *len, struct ac_error *e)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": cannot open the file: %s", strerror(errno));
        return NULL;
    }
    buf = malloc(SA_MAX_FILE + 1);
    if (!buf) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    n = fread(buf, 1, SA_MAX_FILE + 1, f);
    if (ferror(f) || n > SA_MAX_FILE) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": %s",
                     ferror(f) ? "read error" : "file larger than 64 KiB");
        explicit_bzero(buf, n);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    *len = n;
out:
    fclose(f);
    return buf;
}

int gcloud_sa_load(const char *path, struct gcloud_sa **out, struct ac_error *e)
{
    struct gcloud_sa *sa = NULL;
    json_object *o = NULL;
    const char *type, *email, *pem, *uri;
    size_t len = 0;
    char *data;
    int rc = -1;

    *out = NULL;
    data = read_file(path, &len, e);
    if (!data)
        return -1;
    o = jsonu_parse(data, len, "service account key file", AC_ERR_CONFIG, e);
    if (!o) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": not a JSON key file");
        goto out;
    }
    type = jsonu_str(o, "type");
    email = jsonu_str(o, "client_email");
    pem = jsonu_str(o, "private_key");
    uri = jsonu_str(o, "token_uri");
    if (!type || strcmp(type, "service_account") != 0) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": \"type\" is not \"service_account\"");
        goto out;
    }
    if (!email || !*email || strlen(email) > 256 || strpbrk(email, "/\r\n\"") ||
        !strchr(email, '@')) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": no usable client_email");
        goto out;
    }
    if (!uri)
        uri = GCLOUD_DEFAULT_TOKEN_URI;
    if (!dns_api_base_ok(uri)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": token_uri must be an https:// URL");
        goto out;
    }
    sa = calloc(1, sizeof(*sa));
    if (!sa || !(sa->client_email = strdup(email)) || !(sa->token_uri = strdup(uri))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!pem || crypto_key_load(pem, strlen(pem), &sa->key, e) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": private_key is not a readable PEM key");
        goto out;
    }
    if (gnutls_privkey_get_pk_algorithm(crypto_key_privkey(sa->key), NULL) != GNUTLS_PK_RSA) {
        ac_error_set(e, AC_ERR_CONFIG, P ": " SA_OPT ": private_key is not an RSA key");
        goto out;
    }
    *out = sa;
    sa = NULL;
    rc = 0;
out:
    if (o) {
        const char *k = jsonu_str(o, "private_key");
        if (k)
            explicit_bzero((char *)k, strlen(k));
        json_object_put(o);
    }
    explicit_bzero(data, len);
    free(data);
    gcloud_sa_free(sa);
    return rc;
}

int gcloud_jwt_make(const struct crypto_key *k, const char *iss, const char *scope, const char *aud,
                    int64_t iat, char **out, struct ac_error *e)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    json_object *claims = json_object_new_object();
    char *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL;
    gnutls_datum_t data, sig = {NULL, 0};
    const char *cs;
    size_t il;
    int rc = -1;

    *out = NULL;
    if (!claims || jsonu_add_str(claims, "iss", iss) || jsonu_add_str(claims, "scope", scope) ||
        jsonu_add_str(claims, "aud", aud) ||
        json_object_object_add(claims, "iat", json_object_new_int64(iat)) ||
        json_object_object_add(claims, "exp", json_object_new_int64(iat + 3600)))
        goto nomem;
    cs = jsonu_string(claims);
    h64 = b64url_encode_alloc(header, strlen(header));
    c64 = cs ? b64url_encode_alloc(cs, strlen(cs)) : NULL;
    if (!h64 || !c64)
        goto nomem;
    il = strlen(h64) + 1 + strlen(c64);
    input = malloc(il + 1);
    if (!input)
        goto nomem;
    snprintf(input, il + 1, "%s.%s", h64, c64);
    data.data = (unsigned char *)input;
    data.size = (unsigned)il;
    if (gnutls_privkey_sign_data(crypto_key_privkey(k), GNUTLS_DIG_SHA256, 0, &data, &sig) < 0) {
        ac_error_set(e, AC_ERR_CRYPTO, P ": signing the token assertion failed");
        goto out;
    }
    s64 = b64url_encode_alloc(sig.data, sig.size);
    if (!s64)
        goto nomem;
    *out = malloc(il + 1 + strlen(s64) + 1);
    if (!*out)
        goto nomem;
    snprintf(*out, il + 1 + strlen(s64) + 1, "%s.%s", input, s64);
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    gnutls_free(sig.data);
    json_object_put(claims);
    free(h64);
    free(c64);
    free(s64);
    free(input);
    return rc;
}

int gcloud_sa_token(const struct gcloud_sa *sa, const char *scope, int64_t timeout_ms, char **token,
                    int64_t *expires_in, struct ac_error *e)
{
    static const char grant[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                                "&assertion=";
    char *jwt = NULL, *form = NULL;
    int rc = -1;

    *token = NULL;
    if (gcloud_jwt_make(sa->key, sa->client_email, scope, sa->token_uri, ac_now(), &jwt, e) != 0)
        return -1;
    /* a JWT is base64url and dots: nothing to percent-encode */
    form = malloc(sizeof(grant) + strlen(jwt));
    if (!form) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(form, sizeof(grant) + strlen(jwt), "%s%s", grant, jwt);
    rc = oauth2_token_request(P, sa->token_uri, form, "service_account_file", timeout_ms, token,
                              expires_in, e);
out:
    dns_api_secret_free(form);
    dns_api_secret_free(jwt);
    return rc;
}

int gcloud_impersonate(const char *iam_base, const char *source_token, const char *target,
                       const char *scope, int64_t timeout_ms, char **token, int64_t *expires_in,
                       struct ac_error *e)
{
    struct http_response resp;
    struct http_header h[1];
    char url[1536], *auth = NULL, *et = NULL;
    struct dns_api_req rq = {.method = "POST", .path = url, .headers = h, .header_count = 1};
    struct dns_api api;
    json_object *body = json_object_new_object(), *scopes = json_object_new_array();
    json_object *ans = NULL;
    const char *tok, *exp;
    int64_t when;
    size_t al = strlen(source_token) + 8;
    int rc = -1;

    *token = NULL;
    memset(&resp, 0, sizeof(resp));
    et = http_escape(target);
    auth = malloc(al);
    if (!body || !scopes || !et || !auth) {
        json_object_put(scopes);
        goto nomem;
    }
    if (json_object_array_add(scopes, json_object_new_string(scope)) ||
        json_object_object_add(body, "scope", scopes) || jsonu_add_str(body, "lifetime", "3600s"))
        goto nomem;
    snprintf(auth, al, "Bearer %s", source_token);
    h[0] = (struct http_header){"Authorization", auth};
    snprintf(url, sizeof(url), "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken", iam_base,
             et);
    rq.json_body = jsonu_string(body);
    dns_api_init_bare(&api, P, timeout_ms);
    if (dns_api_send(&api, &rq, &resp, e) != 0)
        goto out;
    if (resp.status != 200) {
        dns_http_status_error(&resp, P ": impersonation", "impersonate_service_account", e);
        goto out;
    }
    ans = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len,
                      "generateAccessToken answer", AC_ERR_DNS_PROVIDER, e);
    if (!ans)
        goto out;
    tok = jsonu_str(ans, "accessToken");
    exp = jsonu_str(ans, "expireTime");
    if (!tok || !*tok || strlen(tok) > OAUTH2_MAX_TOKEN || strpbrk(tok, "\r\n")) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": generateAccessToken answer has no accessToken");
        goto out;
    }
    *expires_in = 3600;
    if (exp && ac_time_parse_rfc3339(exp, &when) == 0 && when > ac_now())
        *expires_in = when - ac_now();
    *token = strdup(tok);
    if (!*token)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (ans) {
        const char *t = jsonu_str(ans, "accessToken");
        if (t)
            explicit_bzero((char *)t, strlen(t));
        json_object_put(ans);
    }
    if (resp.body.data)
        explicit_bzero(resp.body.data, resp.body.len);
    http_response_free(&resp);
    json_object_put(body);
    dns_api_secret_free(auth);
    free(et);
    return rc;
}
