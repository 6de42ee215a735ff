/*
 * oauth2.c - OAuth 2.0 token endpoint requests and a token cache (oauth2.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_api.h"
#include "http.h"
#include "jsonu.h"
#include "oauth2.h"
#include "timeutil.h"

/* The answer's "error" code reduced to [A-Za-z0-9_.-], at most 63 bytes. */
static void error_code(const struct http_response *resp, char *out, size_t outlen)
{
    struct ac_error pe = {0};
    json_object *o;
    const char *code;
    size_t n = 0;

    out[0] = '\0';
    if (!resp->body.data || resp->body.len == 0)
        return;
    o = jsonu_parse(resp->body.data, resp->body.len, "token answer", AC_ERR_DNS_PROVIDER, &pe);
    if (!o)
        return;
    code = jsonu_str(o, "error");
    if (!code) {
        json_object *eo = jsonu_obj(o, "error"); /* Google: {"error":{"status":...}} */
        code = eo ? jsonu_str(eo, "status") : NULL;
    }
    for (; code && *code && n + 1 < outlen && n < 63; code++)
        if (isalnum((unsigned char)*code) || strchr("_.-", *code))
            out[n++] = *code;
    out[n] = '\0';
    json_object_put(o);
}

int oauth2_token_request(const char *what, const char *url, const char *form,
                         const char *auth_options, int64_t timeout_ms, char **token,
                         int64_t *expires_in, struct ac_error *e)
{
    struct http_header h[] = {{"Accept", "application/json"}};
    struct dns_api_req rq = {.method = "POST",
                             .path = url,
                             .headers = h,
                             .header_count = 1,
                             .json_body = form,
                             .content_type = "application/x-www-form-urlencoded"};
    struct http_response resp;
    struct dns_api api;
    char who[48];
    json_object *o = NULL, *ex;
    const char *tok;
    char code[64];
    int rc = -1;

    *token = NULL;
    *expires_in = 3600;
    memset(&resp, 0, sizeof(resp));
    snprintf(who, sizeof(who), "%s: token endpoint", what);
    dns_api_init_bare(&api, who, timeout_ms);
    if (dns_api_send(&api, &rq, &resp, e) != 0)
        goto out;
    if (resp.status != 200) {
        error_code(&resp, code, sizeof(code));
        if (resp.status == 400 || resp.status == 401 || resp.status == 403)
            ac_error_set(e, AC_ERR_DNS_AUTH,
                         "%s: token endpoint refused the credentials (HTTP %ld%s%s); check %s",
                         what, resp.status, code[0] ? ", " : "", code, auth_options);
        else if (resp.status == 429)
            ac_error_set(e, AC_ERR_DNS_RATE_LIMITED, "%s: token endpoint rate limited (HTTP 429)",
                         what);
        else
            ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: token endpoint answered HTTP %ld%s%s", what,
                         resp.status, code[0] ? ", " : "", code);
        e->http_status = (int)resp.status;
        goto out;
    }
    o = jsonu_parse(resp.body.data ? resp.body.data : "", resp.body.len, "token answer",
                    AC_ERR_DNS_PROVIDER, e);
    if (!o) {
        ac_error_prefix(e, "%s", what);
        goto out;
    }
    tok = jsonu_str(o, "access_token");
    if (!tok || !*tok || strlen(tok) > OAUTH2_MAX_TOKEN || strpbrk(tok, "\r\n")) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "%s: token answer has no usable access_token", what);
        goto out;
    }
    /* a number (RFC 6749) or, from some Azure endpoints, a decimal string */
    if (json_object_object_get_ex(o, "expires_in", &ex)) {
        int64_t v = json_object_get_int64(ex);
        if (v > 0 && v < 86400 * 7)
            *expires_in = v;
    }
    *token = strdup(tok);
    if (!*token) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (o) {
        /* the parsed copy of the token is a secret too */
        const char *t = jsonu_str(o, "access_token");
        if (t)
            explicit_bzero((char *)t, strlen(t));
        json_object_put(o);
    }
    if (resp.body.data)
        explicit_bzero(resp.body.data, resp.body.len);
    http_response_free(&resp);
    return rc;
}

void oauth2_cache_init(struct oauth2_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
}

void oauth2_cache_destroy(struct oauth2_cache *c)
{
    dns_api_secret_free(c->token);
    c->token = NULL;
    pthread_mutex_destroy(&c->mu);
}

char *oauth2_cache_get(struct oauth2_cache *c)
{
    char *t = NULL;

    pthread_mutex_lock(&c->mu);
    if (c->token && ac_mono_ms() + 60000 < c->expires_ms)
        t = strdup(c->token);
    pthread_mutex_unlock(&c->mu);
    return t;
}

void oauth2_cache_put(struct oauth2_cache *c, const char *token, int64_t expires_in)
{
    char *t = strdup(token);

    pthread_mutex_lock(&c->mu);
    dns_api_secret_free(c->token);
    c->token = t;
    c->expires_ms = ac_mono_ms() + expires_in * 1000;
    pthread_mutex_unlock(&c->mu);
}
