/*
 * duckdns.c - the DuckDNS provider (https://www.duckdns.org/spec.jsp).
 *
 * Auth: token (the account token, sent as the token= query parameter as the
 * API requires; never logged: errors name the host only). The environment
 * variable AUTOCERT_DUCKDNS_BASE_URL overrides https://www.duckdns.org; it
 * exists for the tests only.
 *
 * present(): GET /update?domains=<sub>&token=..&txt=<value>&verbose=true
 * cleanup(): GET /update?domains=<sub>&token=..&txt=&clear=true&verbose=true
 * where <sub> is the label in front of ".duckdns.org". The answer is "OK" or
 * "KO" (KO: bad token or a subdomain of another account).
 *
 * Limitation (DuckDNS itself): a subdomain holds ONE TXT value, so present()
 * cannot append; a second value replaces the first. To solve an apex and a
 * wildcard of one order, set sequence_interval (lego uses 60 s). cleanup()
 * deletes "exactly our value" as far as this process can know: the values
 * set by this process are remembered per subdomain, and cleanup() clears the
 * record only when the last value this process set there is ours (or it set
 * none); when a later present() replaced ours, our value is already gone and
 * nothing is sent. HTTP 429 is retried after Retry-After (at most 3 retries).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"

#define P "DNS provider duckdns"
#define DD_DEFAULT_BASE "https://www.duckdns.org"
#define DD_SUFFIX ".duckdns.org"
#define DD_MAX_URL 2048
#define DD_MAX_LABEL 63
#define DD_MAX_VALUE 128
#define DD_SLOTS 64

static const struct dns_option_decl opts_decl[] = {
    {"token", true}, DNS_API_OPTION_DECLS, {NULL, false},
};

struct dd {
    struct dns_api api;
    char *token; /* secret */
};

/* Last value this process set per subdomain. */
static struct {
    char sub[DD_MAX_LABEL + 1];
    char value[DD_MAX_VALUE + 1];
} dd_last[DD_SLOTS];
static size_t dd_next;
static pthread_mutex_t dd_lock = PTHREAD_MUTEX_INITIALIZER;

static int d_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *tok = dns_opt_get(opts, n, "token");

    if (!tok || !*tok || strlen(tok) > 128 ||
        strspn(tok, "0123456789abcdefABCDEF-") != strlen(tok)) {
        ac_error_set(e, AC_ERR_CONFIG, P ": option token: required (the account token, a UUID)");
        return -1;
    }
    return 0;
}

static void d_destroy(void *state)
{
    struct dd *s = state;

    if (!s)
        return;
    dns_api_secret_free(s->token);
    dns_api_free(&s->api);
    free(s);
}

static int d_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct dd *s = NULL;

    *state = NULL;
    if (d_validate(opts, n, e) != 0 || dns_api_validate("duckdns", opts, n, e) != 0)
        return -1;
    if (!(s = calloc(1, sizeof(*s)))) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_init(&s->api, "duckdns", opts, n, DNS_API_TEST_URL("AUTOCERT_DUCKDNS_BASE_URL"),
                     "AUTOCERT_DUCKDNS_BASE_URL", DD_DEFAULT_BASE, e) != 0 ||
        dns_api_opt_dup(opts, n, "token", &s->token, e) != 0) {
        d_destroy(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* The label in front of ".duckdns.org" in fqdn. */
static int dd_label(const char *fqdn, char *out, struct ac_error *e)
{
    size_t fl = strlen(fqdn), sl = strlen(DD_SUFFIX);
    const char *end, *start;

    if (fl <= sl || strcasecmp(fqdn + fl - sl, DD_SUFFIX) != 0)
        goto bad;
    end = fqdn + fl - sl;
    for (start = end; start > fqdn && start[-1] != '.'; start--)
        ;
    if (end - start < 1 || end - start > DD_MAX_LABEL)
        goto bad;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    if (strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
        strlen(out))
        goto bad;
    return 0;
bad:
    ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": %.200s is not under a duckdns.org subdomain", fqdn);
    return -1;
}

/* The DuckDNS subdomain of ch->fqdn (after following a CNAME on it): the
 * label in front of ".duckdns.org". */
static int subdomain(struct dd *s, const char *fqdn0, char *out, struct ac_error *e)
{
    char *fqdn = NULL;
    int rc = -1;

    if (dns_api_target(&s->api, fqdn0, &fqdn, e) == 0)
        rc = dd_label(fqdn, out, e);
    free(fqdn);
    return rc;
}

static int dd_update(struct dd *s, const char *sub, const char *value, struct ac_error *e)
{
    struct http_response resp;
    struct dns_api_req rq = {.method = "GET"};
    char url[DD_MAX_URL], *ev = NULL, *et = NULL;
    int rc = -1;

    ev = http_escape(value ? value : "");
    et = http_escape(s->token);
    if (!ev || !et) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, url, sizeof(url), "/update?domains=%s&token=%s&txt=%s%s&verbose=true",
                      sub, et, ev, value ? "" : "&clear=true") != 0)
        goto out;
    rq.path = url;
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        goto out;
    if (resp.status != 200) {
        dns_http_status_error(&resp, P, "token", e);
    } else if (resp.body.len >= 2 && memcmp(resp.body.data, "OK", 2) == 0) {
        rc = 0;
    } else if (resp.body.len >= 2 && memcmp(resp.body.data, "KO", 2) == 0) {
        ac_error_set(e, AC_ERR_DNS_AUTH,
                     P ": update of %s refused (KO): check option token and that the "
                       "subdomain belongs to that account", sub);
    } else {
        char snip[161];
        dns_http_snippet(&resp, snip, sizeof(snip));
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": unexpected answer: %s", snip);
    }
    http_response_free(&resp);
out:
    if (et)
        explicit_bzero(et, strlen(et));
    explicit_bzero(url, sizeof(url));
    free(ev);
    free(et);
    return rc;
}

/* Index of sub in dd_last or -1 (lock held). */
static int slot_find(const char *sub)
{
    for (size_t i = 0; i < DD_SLOTS; i++)
        if (dd_last[i].sub[0] && strcasecmp(dd_last[i].sub, sub) == 0)
            return (int)i;
    return -1;
}

static int d_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    char sub[DD_MAX_LABEL + 1];
    int i;

    if (subdomain(state, ch->fqdn, sub, e) != 0)
        return -1;
    if (strlen(ch->value) > DD_MAX_VALUE) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": TXT value too long");
        return -1;
    }
    pthread_mutex_lock(&dd_lock);
    if (dd_update(state, sub, ch->value, e) != 0) {
        pthread_mutex_unlock(&dd_lock);
        return -1;
    }
    i = slot_find(sub);
    if (i < 0) {
        i = (int)(dd_next++ % DD_SLOTS);
        snprintf(dd_last[i].sub, sizeof(dd_last[i].sub), "%s", sub);
    }
    snprintf(dd_last[i].value, sizeof(dd_last[i].value), "%s", ch->value);
    pthread_mutex_unlock(&dd_lock);
    return 0;
}

static int d_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    char sub[DD_MAX_LABEL + 1];
    int i, rc = 0;

    if (subdomain(state, ch->fqdn, sub, e) != 0)
        return -1;
    pthread_mutex_lock(&dd_lock);
    i = slot_find(sub);
    if (i >= 0 && strcmp(dd_last[i].value, ch->value) != 0)
        goto out; /* replaced by a later present(): ours is already gone */
    rc = dd_update(state, sub, NULL, e);
    if (rc == 0 && i >= 0)
        memset(&dd_last[i], 0, sizeof(dd_last[i]));
out:
    pthread_mutex_unlock(&dd_lock);
    return rc;
}

const struct dns_provider_ops dns_duckdns_ops = {
    .name = "duckdns",
    .alias = NULL,
    .options = opts_decl,
    .validate = d_validate,
    .create = d_create,
    .present = d_present,
    .cleanup = d_cleanup,
    .destroy = d_destroy,
};
