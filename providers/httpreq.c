/*
 * httpreq.c - lego's "httpreq" DNS provider: a small HTTP API of your own.
 *
 * Options: endpoint (required, http:// or https:// base URL), mode (optional,
 * "RAW"), username and password (HTTP basic auth; both or neither).
 * present:  POST <endpoint>/present, cleanup: POST <endpoint>/cleanup, with
 *   Content-Type: application/json and the body
 *   default: {"fqdn":"<fqdn>.","value":"<value>"}
 *   RAW:     {"domain":"<domain>","token":"<token>","keyAuth":"<key_auth>"}
 * Any 2xx answer is success. 401/403 give AC_ERR_DNS_AUTH naming the options
 * username/password; other statuses AC_ERR_DNS_PROVIDER with the status and a
 * bounded excerpt of the body. Credentials never appear in messages.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "jsonu.h"

#define HTTPREQ_URL_MAX 2048
#define HTTPREQ_CRED_MAX 1024

static const struct dns_option_decl httpreq_options[] = {
    {"endpoint", true}, {"mode", false}, {"username", false}, {"password", false}, {NULL, false},
};

struct httpreq_state {
    struct dns_api api; /* base: the endpoint (any http(s) URL, as lego) */
    char *userpwd;      /* "user:password" or NULL; secret */
    int raw;
};

static int httpreq_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *ep = dns_opt_get(opts, n, "endpoint");
    const char *mode = dns_opt_get(opts, n, "mode");
    const char *user = dns_opt_get(opts, n, "username");
    const char *pass = dns_opt_get(opts, n, "password");
    bool has_user = user != NULL && user[0] != '\0', has_pass = pass != NULL && pass[0] != '\0';

    if (ep == NULL || strlen(ep) >= HTTPREQ_URL_MAX ||
        (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider httpreq: option endpoint: must be an http:// or https:// URL");
        return -1;
    }
    if (mode != NULL && mode[0] != '\0' && strcmp(mode, "RAW") != 0) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider httpreq: option mode: must be \"RAW\" or empty");
        return -1;
    }
    if (has_user != has_pass) {
        ac_error_set(
            e, AC_ERR_CONFIG,
            "DNS provider httpreq: options username and password go together (%s is missing)",
            has_user ? "password" : "username");
        return -1;
    }
    if ((user != NULL && strlen(user) > HTTPREQ_CRED_MAX) ||
        (pass != NULL && strlen(pass) > HTTPREQ_CRED_MAX)) {
        ac_error_set(e, AC_ERR_CONFIG, "DNS provider httpreq: options username/password: too long");
        return -1;
    }
    if (user != NULL && strchr(user, ':') != NULL) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider httpreq: option username: must not contain ':'");
        return -1;
    }
    return 0;
}

static void httpreq_destroy(void *state)
{
    struct httpreq_state *s = state;

    if (s == NULL)
        return;
    dns_api_free(&s->api);
    dns_api_secret_free(s->userpwd);
    free(s);
}

static int httpreq_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct httpreq_state *s = NULL;
    const char *mode = dns_opt_get(opts, n, "mode");
    const char *user = dns_opt_get(opts, n, "username");
    const char *pass = dns_opt_get(opts, n, "password");
    struct ac_buf up;
    int rc = -1;

    *state = NULL;
    ac_buf_init(&up, 2 * HTTPREQ_CRED_MAX + 2);
    if (httpreq_validate(opts, n, e) != 0)
        goto out;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        goto nomem;
    /* the endpoint is the default base: httpreq_validate checked it (plain
     * http:// is allowed, as lego allows it) */
    if (dns_api_init(&s->api, "httpreq", opts, n, NULL, "option endpoint",
                     dns_opt_get(opts, n, "endpoint"), e) != 0)
        goto out;
    if (user != NULL && user[0] != '\0' && pass != NULL && pass[0] != '\0') {
        if (ac_buf_printf(&up, "%s:%s", user, pass) != 0 ||
            (s->userpwd = ac_buf_steal(&up, NULL)) == NULL)
            goto nomem;
    }
    s->raw = mode != NULL && strcmp(mode, "RAW") == 0;
    *state = s;
    s = NULL;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (up.data != NULL)
        explicit_bzero(up.data, up.len);
    ac_buf_free(&up);
    httpreq_destroy(s);
    return rc;
}

static int httpreq_call(struct httpreq_state *s, const char *action, const struct dns_challenge *ch,
                        struct ac_error *e)
{
    static const struct http_header accept[] = {{"Accept", "application/json"}};
    json_object *body = json_object_new_object();
    struct dns_api_req rq = {.method = "POST",
                             .path = action,
                             .headers = accept,
                             .header_count = 1,
                             .userpwd = s->userpwd};
    struct http_response resp;
    char *fqdn_dot = NULL;
    int rc = -1;

    memset(&resp, 0, sizeof resp);
    if (body == NULL)
        goto nomem;
    if (s->raw) {
        if (ch->domain == NULL || ch->token == NULL || ch->key_auth == NULL) {
            ac_error_set(e, AC_ERR_INTERNAL, "RAW mode needs domain, token and key authorization");
            goto out;
        }
        if (jsonu_add_str(body, "domain", ch->domain) != 0 ||
            jsonu_add_str(body, "token", ch->token) != 0 ||
            jsonu_add_str(body, "keyAuth", ch->key_auth) != 0)
            goto nomem;
    } else {
        size_t len = strlen(ch->fqdn);
        fqdn_dot = malloc(len + 2);
        if (fqdn_dot == NULL)
            goto nomem;
        memcpy(fqdn_dot, ch->fqdn, len);
        fqdn_dot[len] = '.';
        fqdn_dot[len + 1] = '\0';
        if (jsonu_add_str(body, "fqdn", fqdn_dot) != 0 ||
            jsonu_add_str(body, "value", ch->value) != 0)
            goto nomem;
    }
    rq.json_body = jsonu_string(body);
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        goto out;
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, "endpoint", "username/password", e);
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    http_response_free(&resp);
    free(fqdn_dot);
    json_object_put(body);
    return rc;
}

static int httpreq_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return httpreq_call(state, "/present", ch, e);
}

static int httpreq_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return httpreq_call(state, "/cleanup", ch, e);
}

const struct dns_provider_ops dns_httpreq_ops = {
    .name = "httpreq",
    .alias = NULL,
    .options = httpreq_options,
    .validate = httpreq_validate,
    .create = httpreq_create,
    .present = httpreq_present,
    .cleanup = httpreq_cleanup,
    .destroy = httpreq_destroy,
};
