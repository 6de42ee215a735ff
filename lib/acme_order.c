/*
 * acme_order.c - one ACME order from newOrder to the downloaded chain:
 *
 *   newOrder -> fetch authorizations -> present every dns-01 record -> one
 *   wait() -> answer every challenge -> poll authorizations -> (poll order
 *   until ready) -> finalize with the CSR -> poll order until valid ->
 *   download and check the chain.
 *
 * With http-01 or tls-alpn-01 the records step is arm() for every pending
 * authorization (the caller's responder answers from then on), and each
 * answer is disarmed as soon as its authorization is final.
 *
 * Cleanup of presented records (and disarming) always runs. The whole order is bounded by
 * timeout_ms; a timeout names the stage it happened in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_chain.h"
#include "acme_priv.h"
#include "b64.h"
#include "jsonu.h"
#include "jws.h"
#include "log.h"
#include "timeutil.h"

/* How long the DNS cleanup of a cancelled order may take. */
#define ACME_CLEANUP_GRACE_MS 10000

struct pending {
    char *label; /* identifier as ordered ("*.x" for wildcards), for messages */
    char *authz_url;
    char *chal_url;
    char *domain;
    char *fqdn;
    char *token;
    char *key_auth;
    char value[44];
    bool answer;    /* challenge still needs the POST {} */
    bool presented; /* present() succeeded: cleanup() owed */
    bool armed;     /* arm() succeeded: disarm() owed */
    struct dns_challenge ch;
};

struct order_run {
    struct acme_client *c;
    const struct acme_solver *s;
    char *order_url;
    struct acme_order_doc doc;
    struct pending *pend;
    size_t npend;
    const char *stage;
    const char *challenge;       /* "dns-01", "http-01" or "tls-alpn-01" */
    bool gate_open;              /* answered() was called, polled() not yet */
    const char *preferred_chain; /* borrowed from the params, or NULL */
};

static void progress(struct order_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(struct order_run *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ac_debug(NULL, "acme order: %s", msg);
    if (r->s != NULL && r->s->progress != NULL)
        r->s->progress(r->s->arg, msg);
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int cancelled(struct order_run *r, struct ac_error *e)
{
    ac_error_set(e, AC_ERR_CANCELLED, "acme order: cancelled while %s", r->stage);
    return -1;
}

/* Fails when the order was cancelled or its deadline passed. */
static int timed_out(struct order_run *r, struct ac_error *e)
{
    if (ac_cancel_requested())
        return cancelled(r, e);
    if (ac_mono_ms() < r->c->deadline_ms)
        return 0;
    ac_error_set(e, AC_ERR_ORDER_TIMEOUT, "acme order: timed out while %s", r->stage);
    return -1;
}

/* Sleeps the poll delay, bounded by the deadline; a cancel ends it early. */
static int poll_sleep(struct order_run *r, unsigned attempt, long retry_after, struct ac_error *e)
{
    int64_t d = acme_poll_delay_ms(attempt, retry_after);
    int64_t left = r->c->deadline_ms - ac_mono_ms();

    if (left <= 0 || d >= left) {
        /* sleeping the full delay would pass the deadline */
        if (left > 0 && ac_sleep_ms(left, ac_cancel_current()) != 0)
            return cancelled(r, e);
        ac_error_set(e, AC_ERR_ORDER_TIMEOUT, "acme order: timed out while %s", r->stage);
        return -1;
    }
    if (ac_sleep_ms(d, ac_cancel_current()) != 0)
        return cancelled(r, e);
    return 0;
}

static char *new_order_payload(const struct acme_order_params *p, bool with_replaces)
{
    json_object *o = json_object_new_object(), *ids = json_object_new_array();
    char *out = NULL;

    if (o == NULL || ids == NULL) {
        json_object_put(ids);
        goto out;
    }
    if (json_object_object_add(o, "identifiers", ids) != 0) {
        json_object_put(ids);
        goto out;
    }
    for (size_t i = 0; i < p->count; i++) {
        json_object *id = json_object_new_object();
        if (id == NULL || json_object_array_add(ids, id) != 0) {
            json_object_put(id);
            goto out;
        }
        if (jsonu_add_str(id, "type", is_ip(p->identifiers[i]) ? "ip" : "dns") != 0 ||
            jsonu_add_str(id, "value", p->identifiers[i]) != 0)
            goto out;
    }
    if (p->profile != NULL && jsonu_add_str(o, "profile", p->profile) != 0)
        goto out;
    if (with_replaces && p->replaces != NULL && jsonu_add_str(o, "replaces", p->replaces) != 0)
        goto out;
    out = strdup(jsonu_string(o));
out:
    json_object_put(o);
    return out;
}

/* POST-as-GET of the order URL into r->doc. */
static int fetch_order(struct order_run *r, long *retry_after, struct ac_error *e)
{
    struct http_response resp;
    int rc;

    if (acme_post(r->c, r->order_url, "order", NULL, false, NULL, &resp, e) != 0)
        return -1;
    acme_order_doc_clear(&r->doc);
    rc = acme_order_parse(resp.body.data, resp.body.len, &r->doc, e);
    *retry_after = acme_retry_after(&resp);
    http_response_free(&resp);
    return rc;
}

static int create_order(struct order_run *r, const struct acme_order_params *p, struct ac_error *e)
{
    struct http_response resp;
    char *payload = NULL;
    const char *loc;
    bool with_replaces = p->replaces != NULL;
    int rc = -1;

    for (;;) {
        payload = new_order_payload(p, with_replaces);
        if (payload == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "acme newOrder: out of memory");
            return -1;
        }
        if (acme_post(r->c, r->c->dir.new_order, "newOrder", payload, false, NULL, &resp, e) == 0)
            break;
        free(payload);
        payload = NULL;
        if (with_replaces && e != NULL &&
            (ac_error_is(e, AC_ERR_CA_ALREADY_REPLACED) || ac_error_is(e, AC_ERR_CA_REJECTED))) {
            ac_warn(NULL, "acme newOrder: the CA refused replaces=%s (%s); retrying without",
                    p->replaces, e->message);
            with_replaces = false;
            continue;
        }
        return -1;
    }
    loc = http_header(&resp, "location");
    if (loc == NULL || loc[0] == '\0') {
        http_header_missing(&resp, "Location", "acme newOrder", AC_ERR_CA_BAD_RESPONSE, e);
        goto out;
    }
    if ((r->order_url = strdup(loc)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme newOrder: out of memory");
        goto out;
    }
    if (acme_order_parse(resp.body.data, resp.body.len, &r->doc, e) != 0)
        goto out;
    if (r->doc.authz_count == 0 && strcmp(r->doc.status, "pending") == 0) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE,
                     "acme newOrder: pending order without authorizations");
        goto out;
    }
    rc = 0;
out:
    free(payload);
    http_response_free(&resp);
    return rc;
}

static int fetch_authz(struct order_run *r, const char *url, struct acme_authz_doc *a,
                       long *retry_after, struct ac_error *e)
{
    struct http_response resp;
    int rc;

    if (acme_post(r->c, url, "authz", NULL, false, NULL, &resp, e) != 0)
        return -1;
    rc = acme_authz_parse_type(resp.body.data, resp.body.len, r->challenge, a, e);
    if (retry_after != NULL)
        *retry_after = acme_retry_after(&resp);
    http_response_free(&resp);
    return rc;
}

static int authz_failed(const struct acme_authz_doc *a, struct ac_error *e)
{
    if (a->has_chal_error) {
        if (e != NULL) {
            *e = a->chal_error;
            if (!ac_error_is(e, AC_ERR_CA_RATE_LIMITED) && !ac_error_is(e, AC_ERR_CA_SERVER))
                snprintf(e->kind, sizeof e->kind, "%s", AC_ERR_CA_CHALLENGE);
        }
        ac_error_prefix(e, "authorization for %.253s is %s", a->id_value, a->status);
    } else {
        ac_error_set(e, AC_ERR_CA_CHALLENGE, "authorization for %.253s is %s", a->id_value,
                     a->status);
    }
    return -1;
}

static int add_pending(struct order_run *r, const char *authz_url, struct acme_authz_doc *a,
                       struct ac_error *e)
{
    struct pending *p = &r->pend[r->npend];
    const char *dom = a->id_value;
    struct ac_buf fq;

    if (a->chal_url == NULL) {
        ac_error_set(e, AC_ERR_CA_REJECTED, "acme: the CA offers no %s challenge for %.253s",
                     r->challenge, a->id_value);
        return -1;
    }
    if (strncmp(dom, "*.", 2) == 0)
        dom += 2;
    memset(p, 0, sizeof *p);
    ac_buf_init(&fq, 300);
    if (ac_buf_printf(&fq, "_acme-challenge.%s", dom) != 0) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "acme: identifier too long");
        return -1;
    }
    p->fqdn = ac_buf_steal(&fq, NULL);
    p->authz_url = strdup(authz_url);
    p->chal_url = strdup(a->chal_url);
    p->domain = strdup(dom);
    p->token = strdup(a->chal_token);
    p->label = malloc(strlen(dom) + 3);
    if (p->label != NULL)
        snprintf(p->label, strlen(dom) + 3, "%s%s", a->wildcard ? "*." : "", dom);
    r->npend++; /* owned from here on, freed with the run */
    if (p->fqdn == NULL || p->label == NULL || p->authz_url == NULL || p->chal_url == NULL ||
        p->domain == NULL || p->token == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        return -1;
    }
    if (jws_key_authorization(p->token, r->c->key, &p->key_auth, e) != 0)
        return -1;
    jws_dns01_value(p->key_auth, p->value);
    p->answer = strcmp(a->chal_status, "pending") == 0;
    p->ch.domain = p->domain;
    p->ch.fqdn = p->fqdn;
    p->ch.value = p->value;
    p->ch.token = p->token;
    p->ch.key_auth = p->key_auth;
    return 0;
}

/* Fetches every authorization; valid ones are skipped, pending ones queued. */
static int collect_authz(struct order_run *r, struct ac_error *e)
{
    r->pend = calloc(r->doc.authz_count ? r->doc.authz_count : 1, sizeof *r->pend);
    if (r->pend == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->doc.authz_count; i++) {
        struct acme_authz_doc a;
        int rc = 0;

        if (fetch_authz(r, r->doc.authz[i], &a, NULL, e) != 0)
            return -1;
        if (strcmp(a.status, "valid") == 0)
            progress(r, "authorization %s%s already valid", a.wildcard ? "*." : "", a.id_value);
        else if (strcmp(a.status, "pending") == 0)
            rc = add_pending(r, r->doc.authz[i], &a, e);
        else
            rc = authz_failed(&a, e);
        acme_authz_doc_clear(&a);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Every record through the solver's present_all in one call. */
static int present_batch(struct order_run *r, const struct dns_challenge *const *chs,
                         struct ac_error *e)
{
    bool *published = calloc(r->npend, sizeof *published);
    int rc;

    if (published == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        return -1;
    }
    rc = timed_out(r, e) != 0 ? -1 : r->s->present_all(r->s->arg, chs, r->npend, published, e);
    for (size_t i = 0; i < r->npend; i++) {
        if (!published[i])
            continue;
        r->pend[i].presented = true;
        progress(r, "TXT record presented at %s", r->pend[i].fqdn);
    }
    free(published);
    return rc;
}

static int present_all(struct order_run *r, struct ac_error *e)
{
    const struct dns_challenge **chs = NULL;
    int rc = -1;

    if (r->s == NULL || r->s->present == NULL || r->npend == 0)
        return 0;
    r->stage = "presenting DNS records";
    chs = calloc(r->npend, sizeof *chs);
    if (chs == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme: out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->npend; i++)
        chs[i] = &r->pend[i].ch;
    if (r->s->present_all != NULL) {
        if (present_batch(r, chs, e) != 0)
            goto out;
    } else {
        for (size_t i = 0; i < r->npend; i++) {
            if (timed_out(r, e) != 0)
                goto out;
            if (r->s->present(r->s->arg, &r->pend[i].ch, e) != 0) {
                ac_error_prefix(e, "presenting %s", r->pend[i].fqdn);
                goto out;
            }
            r->pend[i].presented = true;
            progress(r, "TXT record presented at %s", r->pend[i].fqdn);
        }
    }
    if (r->s->wait == NULL) {
        rc = 0;
        goto out;
    }
    r->stage = "waiting for DNS propagation";
    progress(r, "waiting for DNS propagation of %zu record(s)", r->npend);
    if (r->s->wait(r->s->arg, chs, r->npend, r->c->deadline_ms, e) != 0)
        goto out;
    if (timed_out(r, e) != 0)
        goto out;
    rc = 0;
out:
    free(chs);
    return rc;
}

static bool dns01(const struct order_run *r)
{
    return strcmp(r->challenge, "dns-01") == 0;
}

/* http-01 / tls-alpn-01: every pending answer made available by the caller. */
static int arm_all(struct order_run *r, struct ac_error *e)
{
    if (dns01(r) || r->npend == 0)
        return 0;
    if (r->s == NULL || r->s->arm == NULL || r->s->disarm == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "acme order: nothing answers %s challenges", r->challenge);
        return -1;
    }
    r->stage = "preparing the challenge answers";
    for (size_t i = 0; i < r->npend; i++) {
        struct pending *p = &r->pend[i];

        if (r->s->arm(r->s->arg, r->challenge, p->domain, p->token, p->key_auth, e) != 0) {
            ac_error_prefix(e, "%s answer for %.253s", r->challenge, p->label);
            return -1;
        }
        p->armed = true;
        progress(r, "%s answer for %s ready", r->challenge, p->label);
    }
    return 0;
}

static void disarm_one(struct order_run *r, size_t i)
{
    struct pending *p = &r->pend[i];

    if (!p->armed)
        return;
    p->armed = false;
    r->s->disarm(r->s->arg, r->challenge, p->domain, p->token);
}

/* Ends the caller's wait for the first poll (see acme_solver.polled). */
static void first_poll_done(struct order_run *r)
{
    if (!r->gate_open)
        return;
    r->gate_open = false;
    if (r->s->polled != NULL)
        r->s->polled(r->s->arg);
}

static int answer_and_poll(struct order_run *r, struct ac_error *e)
{
    struct http_response resp;

    r->stage = "answering challenges";
    for (size_t i = 0; i < r->npend; i++) {
        if (!r->pend[i].answer)
            continue;
        if (acme_post(r->c, r->pend[i].chal_url, "challenge", "{}", false, NULL, &resp, e) != 0)
            return -1;
        http_response_free(&resp);
        progress(r, "challenge for %s answered", r->pend[i].label);
    }
    r->stage = "waiting for authorizations";
    if (r->s != NULL && r->s->answered != NULL) {
        r->gate_open = true;
        r->s->answered(r->s->arg);
    }
    for (size_t i = 0; i < r->npend; i++) {
        for (unsigned attempt = 0;; attempt++) {
            struct acme_authz_doc a;
            long ra = -1;
            bool done;

            int frc = fetch_authz(r, r->pend[i].authz_url, &a, &ra, e);

            first_poll_done(r);
            if (frc != 0)
                return -1;
            if (strcmp(a.status, "valid") == 0) {
                disarm_one(r, i);
                progress(r, "authorization %s valid", r->pend[i].label);
                acme_authz_doc_clear(&a);
                break;
            }
            done = strcmp(a.status, "pending") != 0 && strcmp(a.status, "processing") != 0;
            if (done) {
                disarm_one(r, i);
                authz_failed(&a, e);
                acme_authz_doc_clear(&a);
                return -1;
            }
            acme_authz_doc_clear(&a);
            if (poll_sleep(r, attempt, ra, e) != 0)
                return -1;
        }
    }
    return 0;
}

/* The presented records through the solver's cleanup_all in one call. */
static void cleanup_batch(struct order_run *r)
{
    const struct dns_challenge **chs = calloc(r->npend, sizeof *chs);
    struct ac_error ce;
    size_t n = 0;

    for (size_t i = 0; i < r->npend; i++) {
        if (r->pend[i].presented && chs != NULL)
            chs[n++] = &r->pend[i].ch;
        r->pend[i].presented = false;
    }
    ac_error_clear(&ce);
    if (chs == NULL)
        ac_warn(NULL, "acme: cleanup: out of memory");
    else if (n > 0 && r->s->cleanup_all(r->s->arg, chs, n, &ce) != 0)
        ac_warn(NULL, "acme: cleanup of %zu record(s) failed: %s", n, ce.message);
    free(chs);
}

static void cleanup_each(struct order_run *r)
{
    for (size_t i = 0; i < r->npend; i++) {
        struct ac_error ce;
        if (!r->pend[i].presented || r->s == NULL || r->s->cleanup == NULL)
            continue;
        ac_error_clear(&ce);
        if (r->s->cleanup(r->s->arg, &r->pend[i].ch, &ce) != 0)
            ac_warn(NULL, "acme: cleanup of %s failed: %s", r->pend[i].fqdn, ce.message);
        r->pend[i].presented = false;
    }
}

/* Removes every presented record. Runs without the order's cancel token (a
 * cancelled order still cleans up), but after a cancel within
 * ACME_CLEANUP_GRACE_MS: every request and wait of the cleanup is cut there. */
static void cleanup_all(struct order_run *r)
{
    struct ac_cancel_scope saved;
    bool any = false;

    for (size_t i = 0; i < r->npend; i++)
        disarm_one(r, i);
    for (size_t i = 0; i < r->npend; i++)
        any = any || r->pend[i].presented;
    if (!any)
        return;
    ac_cancel_enter(NULL, ac_cancel_requested() ? ac_mono_ms() + ACME_CLEANUP_GRACE_MS : 0, &saved);
    if (r->s != NULL && r->s->cleanup_all != NULL)
        cleanup_batch(r);
    else
        cleanup_each(r);
    ac_cancel_leave(&saved);
}

/* True when status is one of the words in the comma-separated list. */
static bool status_in(const char *status, const char *list)
{
    size_t n = strlen(status);

    while (n > 0 && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == n && strncmp(list, status, n) == 0)
            return true;
        list += len + (end ? 1 : 0);
    }
    return false;
}

/* Polls the order while its status is one of `waiting` (comma list). */
static int poll_order(struct order_run *r, const char *waiting, long ra, struct ac_error *e)
{
    for (unsigned attempt = 0;; attempt++) {
        if (strcmp(r->doc.status, "invalid") == 0) {
            if (r->doc.has_error) {
                if (e != NULL)
                    *e = r->doc.error;
                ac_error_prefix(e, "acme order invalid");
            } else {
                ac_error_set(e, AC_ERR_CA_ORDER, "acme order became invalid");
            }
            return -1;
        }
        if (!status_in(r->doc.status, waiting))
            return 0;
        if (poll_sleep(r, attempt, ra, e) != 0 || fetch_order(r, &ra, e) != 0)
            return -1;
    }
}

static int finalize(struct order_run *r, const struct acme_order_params *p, long *retry_after,
                    struct ac_error *e)
{
    json_object *o = json_object_new_object();
    char *csr = b64url_encode_alloc(p->csr_der, p->csr_len);
    struct http_response resp;
    int rc = -1;

    r->stage = "finalizing";
    if (o == NULL || csr == NULL || jsonu_add_str(o, "csr", csr) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "acme finalize: out of memory");
        goto out;
    }
    if (acme_post(r->c, r->doc.finalize, "finalize", jsonu_string(o), false, NULL, &resp, e) != 0)
        goto out;
    acme_order_doc_clear(&r->doc);
    rc = acme_order_parse(resp.body.data, resp.body.len, &r->doc, e);
    *retry_after = acme_retry_after(&resp);
    http_response_free(&resp);
out:
    free(csr);
    json_object_put(o);
    return rc;
}

/* preferred_chain: when the default chain (pem, from resp) does not end in
 * an issuer named preferred, fetches the alternates of resp's Link:
 * rel="alternate" headers one by one (at most ACME_MAX_ALTERNATES) and
 * replaces *pem / *len with the first that does. A failed fetch or no match
 * keeps the default chain (logged): the certificate is good either way. */
static void prefer_chain(struct order_run *r, const struct http_response *resp,
                         const char *preferred, char **pem, size_t *len)
{
    char *top = NULL;
    size_t i = 0;

    if (preferred == NULL || acme_chain_pick((const char *const *)pem, len, 1, preferred) == 0)
        return;
    for (; i < ACME_MAX_ALTERNATES; i++) {
        char *url = http_link_nth(resp, "alternate", r->doc.certificate, i);
        struct http_response alt;
        struct ac_error ae = {0};
        const char *pems[2];
        size_t lens[2];

        if (url == NULL)
            break;
        if (acme_post(r->c, url, "certificate", NULL, false, "application/pem-certificate-chain",
                      &alt, &ae) != 0) {
            ac_warn(NULL, "acme certificate: alternate chain %zu (%s): %s", i + 1, url, ae.message);
            free(url);
            continue;
        }
        free(url);
        pems[0] = *pem;
        lens[0] = *len;
        pems[1] = alt.body.data;
        lens[1] = alt.body.len;
        if (acme_chain_pick(pems, lens, 2, preferred) == 1) {
            size_t n = 0;
            char *body = ac_buf_steal(&alt.body, &n);
            if (body != NULL) {
                free(*pem);
                *pem = body;
                *len = n;
                progress(r,
                         "alternate chain %zu chosen: its top certificate is issued by "
                         "\"%s\" (preferred_chain)",
                         i + 1, preferred);
                http_response_free(&alt);
                return;
            }
        }
        http_response_free(&alt);
    }
    if (i == ACME_MAX_ALTERNATES) {
        char *more = http_link_nth(resp, "alternate", r->doc.certificate, i);
        if (more != NULL)
            ac_warn(NULL,
                    "acme certificate: the CA offers more than %d alternate chains; only the "
                    "first %d were looked at",
                    ACME_MAX_ALTERNATES, ACME_MAX_ALTERNATES);
        free(more);
    }
    if (acme_chain_top_issuer(*pem, *len, &top, NULL) != 0)
        top = NULL;
    ac_warn(NULL,
            "acme certificate: no chain of the %zu the CA offers ends in a certificate issued by "
            "\"%s\" (preferred_chain); keeping the default chain (top issuer \"%s\")",
            i + 1, preferred, top != NULL ? top : "?");
    free(top);
}

static int download(struct order_run *r, char **chain_pem, size_t *chain_len, struct ac_error *e)
{
    struct http_response resp;
    struct crypto_chain *chain = NULL;
    int rc = -1;

    r->stage = "downloading the certificate";
    if (r->doc.certificate == NULL) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "acme order: valid order without certificate URL");
        return -1;
    }
    if (acme_post(r->c, r->doc.certificate, "certificate", NULL, false,
                  "application/pem-certificate-chain", &resp, e) != 0)
        return -1;
    if (crypto_chain_parse_pem(resp.body.data, resp.body.len, &chain, e) != 0) {
        if (e != NULL)
            snprintf(e->kind, sizeof e->kind, "%s", AC_ERR_CA_BAD_RESPONSE);
        ac_error_prefix(e, "acme certificate");
        goto out;
    }
    *chain_pem = ac_buf_steal(&resp.body, chain_len);
    if (*chain_pem == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "acme certificate: out of memory");
        goto out;
    }
    prefer_chain(r, &resp, r->preferred_chain, chain_pem, chain_len);
    rc = 0;
out:
    crypto_chain_free(chain);
    http_response_free(&resp);
    return rc;
}

static void run_free(struct order_run *r)
{
    for (size_t i = 0; i < r->npend; i++) {
        struct pending *p = &r->pend[i];
        free(p->label);
        free(p->authz_url);
        free(p->chal_url);
        free(p->domain);
        free(p->fqdn);
        free(p->token);
        free(p->key_auth);
    }
    free(r->pend);
    free(r->order_url);
    acme_order_doc_clear(&r->doc);
}

static int check_params(struct acme_client *c, const struct acme_order_params *p,
                        struct ac_error *e)
{
    if (p == NULL || p->count == 0 || p->identifiers == NULL || p->csr_der == NULL ||
        p->csr_len == 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "acme order: identifiers and a CSR are required");
        return -1;
    }
    if (p->count > ACME_MAX_AUTHZ) {
        ac_error_set(e, AC_ERR_CONFIG, "acme order: more than %d identifiers", ACME_MAX_AUTHZ);
        return -1;
    }
    if (p->challenge != NULL && strcmp(p->challenge, "dns-01") != 0 &&
        strcmp(p->challenge, "http-01") != 0 && strcmp(p->challenge, "tls-alpn-01") != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "acme order: unknown challenge type \"%.32s\"",
                     p->challenge);
        return -1;
    }
    if (p->profile != NULL) {
        for (size_t i = 0; i < c->dir.profile_count; i++)
            if (strcmp(c->dir.profile_names[i], p->profile) == 0)
                return 0;
        ac_error_set(e, AC_ERR_CA_PROFILE, "acme order: the CA does not offer profile \"%.64s\"",
                     p->profile);
        return -1;
    }
    return 0;
}

int acme_order_obtain(struct acme_client *c, const struct acme_order_params *p,
                      const struct acme_solver *s, char **chain_pem, size_t *chain_len,
                      struct ac_error *e)
{
    struct order_run r = {.c = c,
                          .s = s,
                          .stage = "creating the order",
                          .challenge = "dns-01",
                          .preferred_chain = p != NULL ? p->preferred_chain : NULL};
    int64_t timeout = p != NULL && p->timeout_ms > 0 ? p->timeout_ms : 600000;
    long ra = -1;
    int rc = -1;

    *chain_pem = NULL;
    *chain_len = 0;
    if (acme_directory_load(c, e) != 0 || check_params(c, p, e) != 0)
        return -1;
    if (p->challenge != NULL)
        r.challenge = p->challenge;
    c->deadline_ms = ac_mono_ms() + timeout;
    if (create_order(&r, p, e) != 0)
        goto out;
    progress(&r, "order created (%zu authorizations)", r.doc.authz_count);
    r.stage = "fetching authorizations";
    if (collect_authz(&r, e) != 0)
        goto out;
    if ((dns01(&r) && present_all(&r, e) != 0) || arm_all(&r, e) != 0)
        goto out;
    if (answer_and_poll(&r, e) != 0)
        goto out;
    cleanup_all(&r);
    r.stage = "waiting for the order to become ready";
    {
        ra = -1;
        if (fetch_order(&r, &ra, e) != 0 || poll_order(&r, "pending", ra, e) != 0)
            goto out;
    }
    if (strcmp(r.doc.status, "ready") == 0) {
        progress(&r, "finalizing order");
        if (finalize(&r, p, &ra, e) != 0)
            goto out;
    }
    r.stage = "waiting for the certificate";
    if (poll_order(&r, "processing,ready", ra, e) != 0)
        goto out;
    if (strcmp(r.doc.status, "valid") != 0) {
        ac_error_set(e, AC_ERR_CA_BAD_RESPONSE, "acme order: unexpected status \"%.32s\"",
                     r.doc.status);
        goto out;
    }
    if (download(&r, chain_pem, chain_len, e) != 0)
        goto out;
    progress(&r, "certificate downloaded");
    rc = 0;
out:
    first_poll_done(&r);
    cleanup_all(&r);
    run_free(&r);
    c->deadline_ms = 0;
    return rc;
}
