/*
 * acme.c - ACME transport (nonce pool, JWS-signed POSTs with badNonce retry and
 * re-registration after accountDoesNotExist), the directory, the account,
 * revocation and renewalInfo. The order flow lives in acme_order.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_priv.h"
#include "b64.h"
#include "jsonu.h"
#include "jws.h"
#include "log.h"
#include "timeutil.h"

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

void acme_observe(struct acme_client *c, const char *endpoint, bool ok)
{
    if (c->observer != NULL)
        c->observer(c->observer_arg, endpoint, ok ? "ok" : "error");
}

int acme_client_new(const struct acme_client_opts *o, struct crypto_key *account_key,
                    struct acme_client **out, struct ac_error *e)
{
    struct acme_client *c = NULL;
    struct http_client_opts ho = {0};

    *out = NULL;
    if (o == NULL || o->directory_url == NULL || o->directory_url[0] == '\0' ||
        account_key == NULL) {
        ac_error_set(e, AC_ERR_CONFIG, "acme: a directory URL and an account key are required");
        return -1;
    }
    if (jws_alg(account_key) == NULL) {
        ac_error_set(e, AC_ERR_CONFIG, "acme: the account key type cannot sign JWS");
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->dir_url = strdup(o->directory_url)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        goto fail;
    }
    c->key = account_key;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    ho.ca_files = o->ca_files;
    ho.ca_count = o->ca_count;
    ho.timeout_ms = c->timeout_ms;
    ho.user_agent = o->user_agent;
    if (http_client_new(&ho, &c->http, e) != 0) {
        ac_error_prefix(e, "acme");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    acme_client_free(c);
    return -1;
}

void acme_client_free(struct acme_client *c)
{
    if (c == NULL)
        return;
    http_client_free(c->http);
    acme_directory_clear(&c->dir);
    free(c->dir_url);
    free(c->nonce);
    free(c->kid);
    free(c->email);
    free(c->eab_kid);
    if (c->eab_hmac != NULL) {
        memset(c->eab_hmac, 0, strlen(c->eab_hmac));
        free(c->eab_hmac);
    }
    free(c);
}

void acme_client_set_observer(struct acme_client *c,
                              void (*fn)(void *arg, const char *endpoint, const char *outcome),
                              void *arg)
{
    c->observer = fn;
    c->observer_arg = arg;
}

long acme_retry_after(const struct http_response *resp)
{
    const char *v = http_header(resp, "retry-after");

    return v != NULL ? ac_time_parse_retry_after(v, ac_now()) : -1;
}

/* Request timeout: the client's, cut to what is left of an order deadline. */
static long request_timeout(struct acme_client *c, const char *what, struct ac_error *e)
{
    int64_t left;

    if (c->deadline_ms == 0)
        return c->timeout_ms;
    left = c->deadline_ms - ac_mono_ms();
    if (left <= 0) {
        ac_error_set(e, AC_ERR_ORDER_TIMEOUT, "acme: order timed out before %s", what);
        return -1;
    }
    return left < c->timeout_ms ? (long)left : c->timeout_ms;
}

/* The longest Replay-Nonce taken (RFC 8555 sets no limit; real CAs send
 * 20-50 characters). */
#define ACME_MAX_NONCE 256

/* Takes the response's Replay-Nonce as the spare nonce. A missing or unusable
 * one leaves the old spare and records why in c->nonce_problem (for the
 * "no usable nonce" error of fetch_nonce). */
static void take_nonce(struct acme_client *c, const struct http_response *resp)
{
    const char *n = http_header(resp, "replay-nonce");
    size_t len = n != NULL ? strlen(n) : 0;

    if (n == NULL) {
        struct ac_error why;
        http_header_missing(resp, "Replay-Nonce", "acme newNonce", AC_ERR_CA_BAD_RESPONSE, &why);
        snprintf(c->nonce_problem, sizeof c->nonce_problem, "%s", why.message);
        return;
    }
    if (len == 0 || len > ACME_MAX_NONCE) {
        snprintf(c->nonce_problem, sizeof c->nonce_problem,
                 "acme newNonce: Replay-Nonce header %s (%zu bytes, limit %d)",
                 len == 0 ? "empty" : "too long", len, ACME_MAX_NONCE);
        return;
    }
    if (strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len) {
        snprintf(c->nonce_problem, sizeof c->nonce_problem,
                 "acme newNonce: Replay-Nonce header is not base64url (%zu bytes)", len);
        return;
    }
    free(c->nonce);
    c->nonce = strdup(n);
}

/* Plain GET (directory, renewalInfo). Returns 0 with any status in *resp. */
static int acme_get(struct acme_client *c, const char *url, const char *endpoint,
                    struct http_response *resp, struct ac_error *e)
{
    struct http_request req = {.method = "GET", .url = url};

    req.timeout_ms = request_timeout(c, endpoint, e);
    if (req.timeout_ms < 0)
        return -1;
    if (http_do(c->http, &req, resp, e) != 0) {
        acme_observe(c, endpoint, false);
        ac_error_prefix(e, "acme %s", endpoint);
        return -1;
    }
    take_nonce(c, resp);
    acme_observe(c, endpoint, resp->status >= 200 && resp->status < 300);
    return 0;
}

int acme_directory_load(struct acme_client *c, struct ac_error *e)
{
    struct http_response resp;
    int rc = -1;

    if (c->dir_loaded)
        return 0;
    if (acme_get(c, c->dir_url, "directory", &resp, e) != 0)
        return -1;
    if (resp.status != 200) {
        acme_problem_parse(resp.body.data, resp.body.len, (int)resp.status, acme_retry_after(&resp),
                           "acme directory", e);
        goto out;
    }
    if (acme_directory_parse(resp.body.data, resp.body.len, &c->dir, e) != 0)
        goto out;
    c->dir_loaded = true;
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

bool acme_has_renewal_info(struct acme_client *c)
{
    return c->dir_loaded && c->dir.renewal_info != NULL;
}

size_t acme_profile_count(const struct acme_client *c)
{
    return c->dir.profile_count;
}

const char *acme_profile_name(const struct acme_client *c, size_t i)
{
    return i < c->dir.profile_count ? c->dir.profile_names[i] : NULL;
}

const char *acme_profile_description(const struct acme_client *c, size_t i)
{
    return i < c->dir.profile_count ? c->dir.profile_descs[i] : NULL;
}

const char *acme_account_url(const struct acme_client *c)
{
    return c->kid;
}

static int dir_copy(struct acme_directory *to, const struct acme_directory *from)
{
    struct {
        char **to;
        const char *from;
    } f[] = {
        {&to->new_nonce, from->new_nonce},
        {&to->new_account, from->new_account},
        {&to->new_order, from->new_order},
        {&to->revoke_cert, from->revoke_cert},
        {&to->key_change, from->key_change},
        {&to->renewal_info, from->renewal_info},
        {&to->terms_of_service, from->terms_of_service},
    };

    memset(to, 0, sizeof *to);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].from != NULL && (*f[i].to = strdup(f[i].from)) == NULL)
            goto fail;
    to->eab_required = from->eab_required;
    for (size_t i = 0; i < from->profile_count; i++) {
        to->profile_names[i] = strdup(from->profile_names[i]);
        to->profile_descs[i] = strdup(from->profile_descs[i]);
        to->profile_count = i + 1;
        if (to->profile_names[i] == NULL || to->profile_descs[i] == NULL)
            goto fail;
    }
    return 0;
fail:
    acme_directory_clear(to);
    return -1;
}

int acme_client_adopt(struct acme_client *c, const struct acme_client *from, struct ac_error *e)
{
    if (!from->dir_loaded || from->kid == NULL || c->dir_loaded || c->kid != NULL ||
        strcmp(c->dir_url, from->dir_url) != 0 || c->key != from->key) {
        ac_error_set(e, AC_ERR_INTERNAL, "acme: no account to adopt for this client");
        return -1;
    }
    if (dir_copy(&c->dir, &from->dir) != 0 || (c->kid = strdup(from->kid)) == NULL ||
        (from->email != NULL && (c->email = strdup(from->email)) == NULL) ||
        (from->eab_kid != NULL && (c->eab_kid = strdup(from->eab_kid)) == NULL) ||
        (from->eab_hmac != NULL && (c->eab_hmac = strdup(from->eab_hmac)) == NULL)) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        return -1;
    }
    c->dir_loaded = true;
    return 0;
}

static int fetch_nonce(struct acme_client *c, struct ac_error *e)
{
    struct http_request req = {.method = "HEAD", .url = c->dir.new_nonce};
    struct http_response resp;
    int rc = -1;

    req.timeout_ms = request_timeout(c, "newNonce", e);
    if (req.timeout_ms < 0)
        return -1;
    if (http_do(c->http, &req, &resp, e) != 0) {
        acme_observe(c, "newNonce", false);
        ac_error_prefix(e, "acme newNonce");
        return -1;
    }
    c->nonce_problem[0] = '\0';
    take_nonce(c, &resp);
    if (c->nonce == NULL) {
        acme_problem_parse(NULL, 0, (int)resp.status, acme_retry_after(&resp), "acme newNonce", e);
        if (resp.status >= 200 && resp.status < 300)
            ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s",
                         c->nonce_problem[0] != '\0' ? c->nonce_problem
                                                     : "acme newNonce: no Replay-Nonce header");
        goto out;
    }
    rc = 0;
out:
    acme_observe(c, "newNonce", rc == 0);
    http_response_free(&resp);
    return rc;
}

static int acme_register(struct acme_client *c, struct ac_error *e);

int acme_post(struct acme_client *c, const char *url, const char *endpoint, const char *payload,
              bool use_jwk, const char *accept, struct http_response *resp, struct ac_error *e)
{
    struct http_header hdrs[2] = {{"Content-Type", "application/jose+json"}, {"Accept", accept}};
    struct http_request req = {.method = "POST", .url = url, .headers = hdrs};
    char *body = NULL;
    bool reregistered = false;
    int bad_nonces = 0;
    char what[64];

    snprintf(what, sizeof what, "acme %s", endpoint);
    req.header_count = accept != NULL ? 2 : 1;
    if (acme_directory_load(c, e) != 0)
        return -1;
    for (;;) {
        const char *kid = use_jwk ? NULL : c->kid;
        char *nonce;
        struct ac_error perr;
        int sr;

        if (!use_jwk && kid == NULL) {
            ac_error_set(e, AC_ERR_INTERNAL, "%s: no ACME account (call acme_account_ensure)",
                         what);
            return -1;
        }
        if (c->nonce == NULL && fetch_nonce(c, e) != 0)
            return -1;
        nonce = c->nonce;
        c->nonce = NULL; /* a nonce is used once */
        sr = jws_sign(c->key, kid, nonce, url, payload, payload ? strlen(payload) : 0, &body, e);
        free(nonce);
        if (sr != 0) {
            ac_error_prefix(e, "%s", what);
            return -1;
        }
        req.body = body;
        req.body_len = strlen(body);
        req.timeout_ms = request_timeout(c, endpoint, e);
        if (req.timeout_ms < 0) {
            free(body);
            return -1;
        }
        sr = http_do(c->http, &req, resp, e);
        free(body);
        body = NULL;
        if (sr != 0) {
            acme_observe(c, endpoint, false);
            ac_error_prefix(e, "%s", what);
            return -1;
        }
        take_nonce(c, resp);
        if (resp->status >= 200 && resp->status < 300) {
            acme_observe(c, endpoint, true);
            return 0;
        }
        acme_observe(c, endpoint, false);
        acme_problem_parse(resp->body.data, resp->body.len, (int)resp->status,
                           acme_retry_after(resp), what, &perr);
        http_response_free(resp);
        if (ac_error_is(&perr, AC_ERR_CA_BAD_NONCE) && bad_nonces++ < ACME_MAX_BAD_NONCE_RETRIES) {
            ac_debug(NULL, "%s: badNonce, retrying (%d)", what, bad_nonces);
            continue;
        }
        if (ac_error_is(&perr, AC_ERR_CA_NO_ACCOUNT) && !use_jwk && !reregistered &&
            !c->reregistering) {
            reregistered = true;
            ac_warn(NULL, "%s: the CA does not know the account; registering again", what);
            if (acme_register(c, e) != 0)
                return -1;
            continue;
        }
        if (e != NULL)
            *e = perr;
        return -1;
    }
}

static int account_body(struct acme_client *c, bool only_existing, char **out, struct ac_error *e)
{
    json_object *o = json_object_new_object(), *contact, *eab = NULL;
    struct ac_buf mail;
    int rc = -1;

    *out = NULL;
    ac_buf_init(&mail, 512);
    if (o == NULL)
        goto nomem;
    if (only_existing) {
        if (json_object_object_add(o, "onlyReturnExisting", json_object_new_boolean(1)) != 0)
            goto nomem;
    } else {
        if (json_object_object_add(o, "termsOfServiceAgreed", json_object_new_boolean(1)) != 0)
            goto nomem;
        if (c->email != NULL) {
            if (ac_buf_printf(&mail, "mailto:%s", c->email) != 0 ||
                (contact = json_object_new_array()) == NULL)
                goto nomem;
            if (json_object_object_add(o, "contact", contact) != 0) {
                json_object_put(contact);
                goto nomem;
            }
            if (json_object_array_add(contact, json_object_new_string(mail.data)) != 0)
                goto nomem;
        }
        if (c->eab_kid != NULL && c->eab_hmac != NULL) {
            if (jws_eab(c->eab_kid, c->eab_hmac, c->key, c->dir.new_account, &eab, e) != 0) {
                ac_error_prefix(e, "acme newAccount: external account binding");
                goto out;
            }
            if (json_object_object_add(o, "externalAccountBinding", eab) != 0) {
                json_object_put(eab);
                goto nomem;
            }
        }
    }
    *out = strdup(jsonu_string(o));
    if (*out == NULL)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "acme newAccount: out of memory");
out:
    ac_buf_free(&mail);
    json_object_put(o);
    return rc;
}

/* POSTs newAccount (lookup or creation) and records the kid. */
static int new_account(struct acme_client *c, bool only_existing, struct ac_error *e)
{
    struct http_response resp;
    char *payload = NULL;
    const char *loc;
    int rc = -1;

    if (account_body(c, only_existing, &payload, e) != 0)
        return -1;
    if (acme_post(c, c->dir.new_account, "newAccount", payload, true, NULL, &resp, e) != 0)
        goto out_nofree;
    loc = http_header(&resp, "location");
    if (loc == NULL || loc[0] == '\0') {
        http_header_missing(&resp, "Location", "acme newAccount", AC_ERR_CA_BAD_RESPONSE, e);
        goto out;
    }
    if (acme_account_parse(resp.body.data, resp.body.len, e) != 0) {
        ac_error_prefix(e, "acme newAccount");
        goto out;
    }
    free(c->kid);
    c->kid = strdup(loc);
    if (c->kid == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme newAccount: out of memory");
        goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
out_nofree:
    free(payload);
    return rc;
}

static int acme_register(struct acme_client *c, struct ac_error *e)
{
    int rc;

    if (c->dir.eab_required && (c->eab_kid == NULL || c->eab_hmac == NULL)) {
        ac_error_set(e, AC_ERR_CA_EAB,
                     "acme newAccount: the CA requires External Account Binding; set eab_kid "
                     "and eab_hmac");
        return -1;
    }
    c->reregistering = true;
    rc = new_account(c, false, e);
    c->reregistering = false;
    if (rc == 0)
        ac_info(NULL, "acme: registered account %s", c->kid);
    return rc;
}

int acme_account_ensure(struct acme_client *c, const char *email, const char *eab_kid,
                        const char *eab_hmac, struct ac_error *e)
{
    struct ac_error lookup;

    if (acme_directory_load(c, e) != 0)
        return -1;
    if ((eab_kid == NULL || eab_kid[0] == '\0') != (eab_hmac == NULL || eab_hmac[0] == '\0')) {
        ac_error_set(e, AC_ERR_CONFIG, "acme: eab_kid and eab_hmac must be given together");
        return -1;
    }
    free(c->email);
    free(c->eab_kid);
    free(c->eab_hmac);
    c->email = dup_or_null(email);
    c->eab_kid = dup_or_null(eab_kid);
    c->eab_hmac = dup_or_null(eab_hmac);
    if ((email && email[0] && !c->email) || (eab_kid && eab_kid[0] && !c->eab_kid) ||
        (eab_hmac && eab_hmac[0] && !c->eab_hmac)) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        return -1;
    }
    if (new_account(c, true, &lookup) == 0) {
        ac_debug(NULL, "acme: found existing account %s", c->kid);
        return 0;
    }
    if (!ac_error_is(&lookup, AC_ERR_CA_NO_ACCOUNT)) {
        if (e != NULL)
            *e = lookup;
        return -1;
    }
    return acme_register(c, e);
}

int acme_revoke(struct acme_client *c, const unsigned char *cert_der, size_t len, int reason,
                struct ac_error *e)
{
    json_object *o = NULL;
    char *b64 = NULL, *payload = NULL;
    struct http_response resp;
    int rc = -1;

    if (acme_directory_load(c, e) != 0)
        return -1;
    if (c->dir.revoke_cert == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "acme revokeCert: the directory has no revokeCert");
        return -1;
    }
    b64 = b64url_encode_alloc(cert_der, len);
    o = json_object_new_object();
    if (b64 == NULL || o == NULL || jsonu_add_str(o, "certificate", b64) != 0 ||
        (reason >= 0 && json_object_object_add(o, "reason", json_object_new_int(reason)) != 0) ||
        (payload = strdup(jsonu_string(o))) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme revokeCert: out of memory");
        goto out;
    }
    if (acme_post(c, c->dir.revoke_cert, "revokeCert", payload, false, NULL, &resp, e) != 0)
        goto out;
    http_response_free(&resp);
    rc = 0;
out:
    free(b64);
    free(payload);
    json_object_put(o);
    return rc;
}

int acme_renewal_info_get(struct acme_client *c, const char *cert_id, struct acme_renewal_info *out,
                          struct ac_error *e)
{
    struct http_response resp;
    struct ac_buf url;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->retry_after = -1;
    ac_buf_init(&url, 4096);
    if (acme_directory_load(c, e) != 0)
        return -1;
    if (c->dir.renewal_info == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "acme renewalInfo: the CA does not offer ARI");
        return -1;
    }
    if (cert_id == NULL || cert_id[0] == '\0' ||
        strspn(cert_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
            strlen(cert_id)) {
        ac_error_set(e, AC_ERR_INTERNAL, "acme renewalInfo: malformed certificate id");
        return -1;
    }
    {
        size_t bl = strlen(c->dir.renewal_info);
        bool slash = bl > 0 && c->dir.renewal_info[bl - 1] == '/';
        if (ac_buf_printf(&url, "%s%s%s", c->dir.renewal_info, slash ? "" : "/", cert_id) != 0) {
            ac_error_set(e, AC_ERR_INTERNAL, "acme renewalInfo: URL too long");
            goto out_nofree;
        }
    }
    if (acme_get(c, url.data, "renewalInfo", &resp, e) != 0)
        goto out_nofree;
    if (resp.status != 200) {
        acme_problem_parse(resp.body.data, resp.body.len, (int)resp.status, acme_retry_after(&resp),
                           "acme renewalInfo", e);
        goto out;
    }
    if (acme_renewal_info_parse(resp.body.data, resp.body.len, out, e) != 0)
        goto out;
    out->retry_after = acme_retry_after(&resp);
    rc = 0;
out:
    http_response_free(&resp);
out_nofree:
    ac_buf_free(&url);
    return rc;
}
