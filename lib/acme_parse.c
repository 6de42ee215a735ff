/*
 * acme_parse.c - the pure half of the ACME client: the problem-type table,
 * problem documents, and the parsers of directory, account, order, authorization
 * and renewalInfo documents, plus the polling schedule. No I/O; every input is
 * CA-controlled and treated as hostile (bounded JSON, type-checked fields).
 */
#include "acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonu.h"
#include "timeutil.h"

#define ACME_URN_PREFIX "urn:ietf:params:acme:error:"

static const struct {
    const char *name; /* after the URN prefix */
    const char *kind;
} problem_table[] = {
    {"accountDoesNotExist", AC_ERR_CA_NO_ACCOUNT},
    {"alreadyReplaced", AC_ERR_CA_ALREADY_REPLACED},
    {"alreadyRevoked", AC_ERR_CA_REJECTED},
    {"badCSR", AC_ERR_CA_REJECTED},
    {"badNonce", AC_ERR_CA_BAD_NONCE},
    {"badPublicKey", AC_ERR_CA_REJECTED},
    {"badRevocationReason", AC_ERR_CA_REJECTED},
    {"badSignatureAlgorithm", AC_ERR_CA_REJECTED},
    {"caa", AC_ERR_CA_REJECTED},
    {"compound", AC_ERR_CA_REJECTED},
    {"connection", AC_ERR_CA_CHALLENGE},
    {"dns", AC_ERR_CA_CHALLENGE},
    {"externalAccountRequired", AC_ERR_CA_EAB},
    {"incorrectResponse", AC_ERR_CA_CHALLENGE},
    {"invalidContact", AC_ERR_CA_REJECTED},
    {"invalidProfile", AC_ERR_CA_PROFILE},
    {"malformed", AC_ERR_CA_REJECTED},
    {"orderNotReady", AC_ERR_CA_ORDER},
    {"rateLimited", AC_ERR_CA_RATE_LIMITED},
    {"rejectedIdentifier", AC_ERR_CA_REJECTED},
    {"serverInternal", AC_ERR_CA_SERVER},
    {"tls", AC_ERR_CA_CHALLENGE},
    {"unauthorized", AC_ERR_CA_UNAUTHORIZED},
    {"unsupportedContact", AC_ERR_CA_REJECTED},
    {"unsupportedIdentifier", AC_ERR_CA_REJECTED},
    {"userActionRequired", AC_ERR_CA_REJECTED},
};

const char *acme_problem_kind(const char *type, int http_status)
{
    size_t plen = strlen(ACME_URN_PREFIX);

    if (type != NULL && strncmp(type, ACME_URN_PREFIX, plen) == 0) {
        for (size_t i = 0; i < sizeof problem_table / sizeof problem_table[0]; i++)
            if (strcmp(type + plen, problem_table[i].name) == 0)
                return problem_table[i].kind;
    }
    if (http_status == 429)
        return AC_ERR_CA_RATE_LIMITED;
    return http_status >= 500 ? AC_ERR_CA_SERVER : AC_ERR_CA_REJECTED;
}

/* Short name of a problem type for messages ("rateLimited"). */
static const char *short_type(const char *type)
{
    size_t plen = strlen(ACME_URN_PREFIX);

    if (type != NULL && strncmp(type, ACME_URN_PREFIX, plen) == 0)
        return type + plen;
    return type;
}

void acme_problem_from_json(json_object *doc, int http_status, long retry_after, const char *what,
                            struct ac_error *e)
{
    struct ac_buf msg;
    const char *type = jsonu_str(doc, "type");
    const char *detail = jsonu_str(doc, "detail");
    const char *kind;
    json_object *subs = jsonu_arr(doc, "subproblems");
    const char *first_sub_type = NULL;

    ac_buf_init(&msg, AC_ERROR_MESSAGE_MAX - 1);
    ac_buf_printf(&msg, "%s", detail && detail[0] ? detail : "the CA reported a problem");
    if (type != NULL && type[0])
        ac_buf_printf(&msg, " (%.80s)", short_type(type));
    if (http_status > 0)
        ac_buf_printf(&msg, " [HTTP %d]", http_status);
    for (size_t i = 0; subs != NULL && i < json_object_array_length(subs) && i < 32; i++) {
        json_object *sp = json_object_array_get_idx(subs, i);
        json_object *id = jsonu_obj(sp, "identifier");
        const char *st = jsonu_str(sp, "type");
        const char *sd = jsonu_str(sp, "detail");
        const char *iv = jsonu_str(id, "value");
        if (first_sub_type == NULL && st != NULL)
            first_sub_type = st;
        /* a part that does not fit is dropped; the buffer stays valid */
        if (ac_buf_printf(&msg, "; %.255s: %.300s%s%.60s%s", iv ? iv : "(no identifier)",
                          sd ? sd : "(no detail)", st ? " (" : "", st ? short_type(st) : "",
                          st ? ")" : "") != 0)
            break;
    }
    kind = acme_problem_kind(type, http_status);
    if (type != NULL && strcmp(short_type(type), "compound") == 0 && first_sub_type != NULL)
        kind = acme_problem_kind(first_sub_type, http_status);
    if (what != NULL && what[0])
        ac_error_set(e, kind, "%s: %s", what, msg.data ? msg.data : "");
    else
        ac_error_set(e, kind, "%s", msg.data ? msg.data : "");
    ac_buf_free(&msg);
    if (e == NULL)
        return;
    if (type != NULL)
        snprintf(e->acme_type, sizeof e->acme_type, "%s", type);
    e->http_status = http_status;
    e->retry_after = retry_after;
}

void acme_problem_parse(const char *data, size_t len, int http_status, long retry_after,
                        const char *what, struct ac_error *e)
{
    struct ac_error perr;
    json_object *doc = NULL;

    if (data != NULL && len > 0)
        doc = jsonu_parse(data, len, "ACME problem", AC_ERR_CA_BAD_RESPONSE, &perr);
    if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
        const char *kind = http_status == 429   ? AC_ERR_CA_RATE_LIMITED
                           : http_status >= 500 ? AC_ERR_CA_SERVER
                                                : AC_ERR_CA_BAD_RESPONSE;
        ac_error_set(e, kind, "%s: unexpected HTTP status %d without a problem document",
                     what ? what : "ACME request", http_status);
        if (e != NULL) {
            e->http_status = http_status;
            e->retry_after = retry_after;
        }
        json_object_put(doc);
        return;
    }
    acme_problem_from_json(doc, http_status, retry_after, what, e);
    json_object_put(doc);
}

static json_object *parse_object(const char *data, size_t len, const char *what, struct ac_error *e)
{
    json_object *o = jsonu_parse(data, len, what, AC_ERR_CA_BAD_RESPONSE, e);

    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: JSON is not an object", what);
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* Copies string member key into *dst. Missing: -1 when required, else 0 and
 * NULL. Wrong type is always an error. */
static int dup_str(json_object *o, const char *key, bool required, char **dst, const char *what,
                   struct ac_error *e)
{
    json_object *v;

    *dst = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
        if (!required)
            return 0;
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: missing \"%s\"", what, key);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: \"%s\" is not a string", what, key);
        return -1;
    }
    *dst = strdup(json_object_get_string(v));
    if (*dst == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", what);
        return -1;
    }
    return 0;
}

/* One kind of CA document: `fill` reads the parsed object into out (already
 * zeroed) and may fail half-way; `clear` then frees what it filled. */
struct doc_kind {
    const char *what;
    int (*fill)(json_object *o, void *out, const char *what, struct ac_error *e);
    void (*clear)(void *out);
};

static int parse_doc(const struct doc_kind *k, const char *data, size_t len, void *out,
                     struct ac_error *e)
{
    json_object *o = parse_object(data, len, k->what, e);
    int rc = o != NULL ? k->fill(o, out, k->what, e) : -1;

    json_object_put(o);
    if (rc != 0)
        k->clear(out);
    return rc;
}

void acme_directory_clear(struct acme_directory *d)
{
    if (d == NULL)
        return;
    free(d->new_nonce);
    free(d->new_account);
    free(d->new_order);
    free(d->revoke_cert);
    free(d->key_change);
    free(d->renewal_info);
    free(d->terms_of_service);
    for (size_t i = 0; i < d->profile_count; i++) {
        free(d->profile_names[i]);
        free(d->profile_descs[i]);
    }
    memset(d, 0, sizeof *d);
}

static int fill_directory(json_object *o, void *p, const char *what, struct ac_error *e)
{
    struct acme_directory *out = p;
    json_object *meta, *profiles;

    if (dup_str(o, "newNonce", true, &out->new_nonce, what, e) != 0 ||
        dup_str(o, "newAccount", true, &out->new_account, what, e) != 0 ||
        dup_str(o, "newOrder", true, &out->new_order, what, e) != 0 ||
        dup_str(o, "revokeCert", false, &out->revoke_cert, what, e) != 0 ||
        dup_str(o, "keyChange", false, &out->key_change, what, e) != 0 ||
        dup_str(o, "renewalInfo", false, &out->renewal_info, what, e) != 0)
        return -1;
    meta = jsonu_obj(o, "meta");
    if (meta != NULL) {
        if (dup_str(meta, "termsOfService", false, &out->terms_of_service, what, e) != 0)
            return -1;
        out->eab_required = jsonu_bool(meta, "externalAccountRequired", 0) != 0;
        profiles = jsonu_obj(meta, "profiles");
        if (profiles != NULL) {
            json_object_object_foreach(profiles, key, val)
            {
                if (out->profile_count >= ACME_MAX_PROFILES)
                    break;
                out->profile_names[out->profile_count] = strdup(key);
                out->profile_descs[out->profile_count] = strdup(
                    json_object_is_type(val, json_type_string) ? json_object_get_string(val) : "");
                out->profile_count++;
                if (out->profile_names[out->profile_count - 1] == NULL ||
                    out->profile_descs[out->profile_count - 1] == NULL) {
                    ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", what);
                    return -1;
                }
            }
        }
    }
    return 0;
}

static void clear_directory(void *p)
{
    acme_directory_clear(p);
}

int acme_directory_parse(const char *data, size_t len, struct acme_directory *out,
                         struct ac_error *e)
{
    static const struct doc_kind k = {"ACME directory", fill_directory, clear_directory};

    memset(out, 0, sizeof *out);
    return parse_doc(&k, data, len, out, e);
}

int acme_account_parse(const char *data, size_t len, struct ac_error *e)
{
    static const char what[] = "ACME account";
    json_object *o = parse_object(data, len, what, e);
    const char *status;
    int rc = -1;

    if (o == NULL)
        return -1;
    status = jsonu_str(o, "status");
    if (status == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: missing \"status\"", what);
    } else if (strcmp(status, "valid") != 0) {
        ac_error_set(e, AC_ERR_CA_UNAUTHORIZED, "%s: account status is \"%.40s\"", what, status);
    } else {
        rc = 0;
    }
    json_object_put(o);
    return rc;
}

void acme_order_doc_clear(struct acme_order_doc *d)
{
    if (d == NULL)
        return;
    free(d->status);
    for (size_t i = 0; i < d->authz_count; i++)
        free(d->authz[i]);
    free(d->finalize);
    free(d->certificate);
    memset(d, 0, sizeof *d);
}

static int fill_order(json_object *o, void *p, const char *what, struct ac_error *e)
{
    struct acme_order_doc *out = p;
    json_object *arr, *err;
    size_t n;

    if (dup_str(o, "status", true, &out->status, what, e) != 0 ||
        dup_str(o, "finalize", true, &out->finalize, what, e) != 0 ||
        dup_str(o, "certificate", false, &out->certificate, what, e) != 0)
        return -1;
    arr = jsonu_arr(o, "authorizations");
    if (arr == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: missing \"authorizations\" array", what);
        return -1;
    }
    n = json_object_array_length(arr);
    if (n > ACME_MAX_AUTHZ) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: %zu authorizations (limit %d)", what, n,
                     ACME_MAX_AUTHZ);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string)) {
            ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: authorization %zu is not a string", what,
                         i);
            return -1;
        }
        out->authz[i] = strdup(json_object_get_string(v));
        if (out->authz[i] == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", what);
            return -1;
        }
        out->authz_count = i + 1;
    }
    err = jsonu_obj(o, "error");
    if (err != NULL) {
        out->has_error = true;
        acme_problem_from_json(err, 0, -1, "order error", &out->error);
    }
    return 0;
}

static void clear_order(void *p)
{
    acme_order_doc_clear(p);
}

int acme_order_parse(const char *data, size_t len, struct acme_order_doc *out, struct ac_error *e)
{
    static const struct doc_kind k = {"ACME order", fill_order, clear_order};

    memset(out, 0, sizeof *out);
    return parse_doc(&k, data, len, out, e);
}

void acme_authz_doc_clear(struct acme_authz_doc *a)
{
    if (a == NULL)
        return;
    free(a->status);
    free(a->id_type);
    free(a->id_value);
    free(a->chal_url);
    free(a->chal_token);
    free(a->chal_status);
    memset(a, 0, sizeof *a);
}

static int fill_authz(json_object *o, void *p, const char *what, struct ac_error *e)
{
    struct acme_authz_doc *out = p;
    json_object *id, *chals;
    bool have_dns01 = false;
    const char *want = out->want != NULL ? out->want : "dns-01";

    if (dup_str(o, "status", true, &out->status, what, e) != 0)
        return -1;
    id = jsonu_obj(o, "identifier");
    if (id == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: missing \"identifier\"", what);
        return -1;
    }
    if (dup_str(id, "type", true, &out->id_type, what, e) != 0 ||
        dup_str(id, "value", true, &out->id_value, what, e) != 0)
        return -1;
    out->wildcard = jsonu_bool(o, "wildcard", 0) != 0;
    chals = jsonu_arr(o, "challenges");
    if (chals == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: missing \"challenges\" array", what);
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(chals) && i < 64; i++) {
        json_object *ch = json_object_array_get_idx(chals, i);
        const char *type = jsonu_str(ch, "type");
        json_object *err = jsonu_obj(ch, "error");
        bool is_dns01 = type != NULL && strcmp(type, want) == 0;

        if (!json_object_is_type(ch, json_type_object) || type == NULL) {
            ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: challenge %zu is malformed", what, i);
            return -1;
        }
        if (err != NULL && (!out->has_chal_error || is_dns01)) {
            out->has_chal_error = true;
            acme_problem_from_json(err, 0, -1, type, &out->chal_error);
        }
        if (!is_dns01 || have_dns01)
            continue;
        have_dns01 = true;
        if (dup_str(ch, "url", true, &out->chal_url, what, e) != 0 ||
            dup_str(ch, "token", true, &out->chal_token, what, e) != 0 ||
            dup_str(ch, "status", true, &out->chal_status, what, e) != 0)
            return -1;
        /* the token becomes part of a DNS record: base64url only */
        if (out->chal_token[0] == '\0' ||
            strspn(out->chal_token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_") != strlen(out->chal_token) ||
            strlen(out->chal_token) > 256) {
            ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: %s token is not base64url", what, want);
            return -1;
        }
    }
    return 0;
}

static void clear_authz(void *p)
{
    acme_authz_doc_clear(p);
}

int acme_authz_parse_type(const char *data, size_t len, const char *type,
                          struct acme_authz_doc *out, struct ac_error *e)
{
    static const struct doc_kind k = {"ACME authorization", fill_authz, clear_authz};

    memset(out, 0, sizeof *out);
    out->want = type;
    return parse_doc(&k, data, len, out, e);
}

int acme_authz_parse(const char *data, size_t len, struct acme_authz_doc *out, struct ac_error *e)
{
    return acme_authz_parse_type(data, len, NULL, out, e);
}

static int fill_renewal_info(json_object *o, void *p, const char *what, struct ac_error *e)
{
    struct acme_renewal_info *out = p;
    json_object *win;
    const char *s, *en, *url;

    win = jsonu_obj(o, "suggestedWindow");
    s = jsonu_str(win, "start");
    en = jsonu_str(win, "end");
    if (s == NULL || en == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: missing suggestedWindow start/end", what);
        return -1;
    }
    if (ac_time_parse_rfc3339(s, &out->start) != 0 || ac_time_parse_rfc3339(en, &out->end) != 0) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: suggestedWindow is not RFC 3339", what);
        return -1;
    }
    if (out->end < out->start) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "%s: suggestedWindow ends before it starts", what);
        return -1;
    }
    url = jsonu_str(o, "explanationURL");
    if (url != NULL && (out->explanation_url = strdup(url)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", what);
        return -1;
    }
    return 0;
}

static void clear_renewal_info(void *p)
{
    acme_renewal_info_free(p);
}

int acme_renewal_info_parse(const char *data, size_t len, struct acme_renewal_info *out,
                            struct ac_error *e)
{
    static const struct doc_kind k = {"ACME renewalInfo", fill_renewal_info, clear_renewal_info};

    memset(out, 0, sizeof *out);
    out->retry_after = -1;
    return parse_doc(&k, data, len, out, e);
}

void acme_renewal_info_free(struct acme_renewal_info *ri)
{
    if (ri == NULL)
        return;
    free(ri->explanation_url);
    ri->explanation_url = NULL;
}

int64_t acme_poll_delay_ms(unsigned attempt, long retry_after_s)
{
    int64_t d = 250;

    if (retry_after_s > 0)
        return retry_after_s > 60 ? 60000 : (int64_t)retry_after_s * 1000;
    for (unsigned i = 0; i < attempt && d < 8000; i++)
        d *= 2;
    return d > 8000 ? 8000 : d;
}
