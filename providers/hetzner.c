/*
 * hetzner.c - the Hetzner DNS provider (Hetzner Cloud API v1, zones and
 * RRSets).
 *
 * Auth: api_token ("Authorization: Bearer", a Hetzner Console API token with
 * DNS rights). api_key (lego's key for the legacy DNS Console API,
 * dns.hetzner.com, being shut down) is declared but refused with a hint. The
 * environment variable AUTOCERT_HETZNER_BASE_URL overrides
 * https://api.hetzner.cloud/v1; it exists for the tests only.
 *
 * Zone: GET /zones?name=<candidate>, walking up from the record's parent name.
 * present() uses the RRSet action add_records
 * (POST /zones/<id>/rrsets/<name>/TXT/actions/add_records), which appends one
 * value and creates the RRSet when missing; cleanup() uses remove_records
 * with exactly our value (a missing RRSet is success). Both are asynchronous:
 * the returned action is polled (GET /actions/<id>) until success, every
 * 500 ms up to propagation_timeout. HTTP 429 is retried after Retry-After
 * (dns_api.h). The record name is the one a CNAME on _acme-challenge points
 * to, if any.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "jsonu.h"
#include "timeutil.h"

#define P "DNS provider hetzner"
#define HZ_DEFAULT_BASE "https://api.hetzner.cloud/v1"
#define HZ_POLL_MS 500

static const struct dns_option_decl opts_decl[] = {
    {"api_token", false}, {"api_key", false}, DNS_API_OPTION_DECLS, {NULL, false},
};

static int h_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *tok = dns_opt_get(opts, n, "api_token");
    const char *key = dns_opt_get(opts, n, "api_key");

    if ((!tok || !*tok) && key && *key) {
        ac_error_set(e, AC_ERR_CONFIG,
                     P ": option api_key: the legacy DNS Console API is not supported; "
                       "give api_token (a Hetzner Console API token)");
        return -1;
    }
    if (dns_api_check_secret("hetzner", opts, n, "api_token", "required (an API token)", e) != 0)
        return -1;
    return dns_api_validate("hetzner", opts, n, e);
}

static int h_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    *state = NULL;
    if (h_validate(opts, n, e) != 0)
        return -1;
    return dns_api_create("hetzner", opts, n, DNS_API_TEST_URL("AUTOCERT_HETZNER_BASE_URL"),
                          "AUTOCERT_HETZNER_BASE_URL", HZ_DEFAULT_BASE, "Bearer", "api_token",
                          (struct dns_api **)state, e);
}

/* One call; see dns_api_call. */
static int hz_call(struct dns_api *s, const char *method, const char *path, const char *body,
                   json_object **out, bool not_found_ok, struct ac_error *e)
{
    struct dns_api_req rq = {.method = method, .path = path, .json_body = body,
                             .not_found_ok = not_found_ok};

    return dns_api_call(s, &rq, out, e);
}

struct probe_arg {
    struct dns_api *s;
    int64_t zid;
};

static int probe(void *arg, const char *cand, struct ac_error *e)
{
    struct probe_arg *p = arg;
    char path[DNS_API_MAX_URL], *esc = http_escape(cand);
    json_object *o = NULL, *zs;
    int rc = 0;

    if (!esc) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (dns_api_pathf(p->s, e, path, sizeof path, "/zones?name=%s", esc) != 0 ||
        hz_call(p->s, "GET", path, NULL, &o, false, e) != 0)
        rc = -1;
    free(esc);
    zs = jsonu_arr(o, "zones");
    for (size_t i = 0; rc == 0 && zs && i < json_object_array_length(zs); i++) {
        json_object *z = json_object_array_get_idx(zs, i);
        const char *name = jsonu_str(z, "name");
        rc = name && strcasecmp(name, cand) == 0 && jsonu_int(z, "id", &p->zid) == 0 &&
             p->zid > 0;
    }
    json_object_put(o);
    return rc;
}

/* Polls the action in answer `o` until it succeeds. */
static int wait_action(struct dns_api *s, json_object *o, struct ac_error *e)
{
    json_object *a = jsonu_obj(o, "action");
    int64_t id, deadline = ac_mono_ms() + s->propagation_timeout_ms;
    const char *st = a ? jsonu_str(a, "status") : NULL;
    char url[DNS_API_MAX_URL];

    if (!a || jsonu_int(a, "id", &id) != 0 || !st) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": answer without an action");
        return -1;
    }
    if (dns_api_pathf(s, e, url, sizeof(url), "/actions/%" PRId64, id) != 0)
        return -1;
    for (json_object *cur = NULL;; json_object_put(cur), cur = NULL) {
        if (strcmp(st, "success") == 0)
            return 0;
        if (strcmp(st, "running") != 0) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": action %" PRId64 " ended with status %.40s",
                         id, st);
            return -1;
        }
        if (ac_mono_ms() + HZ_POLL_MS > deadline) {
            ac_error_set(e, AC_ERR_DNS_PROPAGATION,
                         P ": action %" PRId64 " still running after propagation_timeout", id);
            return -1;
        }
        if (ac_sleep_ms(HZ_POLL_MS, ac_cancel_current()) != 0) {
            ac_error_set(e, AC_ERR_CANCELLED, P ": cancelled while waiting for action %" PRId64,
                         id);
            return -1;
        }
        if (hz_call(s, "GET", url, NULL, &cur, false, e) != 0)
            return -1;
        a = jsonu_obj(cur, "action");
        st = a ? jsonu_str(a, "status") : NULL;
        if (!st) {
            json_object_put(cur);
            ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": malformed action answer");
            return -1;
        }
        if (strcmp(st, "success") == 0 || strcmp(st, "running") != 0) {
            int r = strcmp(st, "success") == 0 ? 0 : -1;
            if (r != 0)
                ac_error_set(e, AC_ERR_DNS_PROVIDER,
                             P ": action %" PRId64 " ended with status %.40s", id, st);
            json_object_put(cur);
            return r;
        }
    }
}

static int change(struct dns_api *s, const struct dns_challenge *ch, bool add, struct ac_error *e)
{
    struct probe_arg p = {s, 0};
    struct dns_api_loc loc = {0};
    char url[DNS_API_MAX_URL], *er = NULL, quoted[600];
    json_object *body = NULL, *recs, *rec, *ans = NULL;
    int rc = -1, got;

    if (strlen(ch->value) > 500 || strpbrk(ch->value, "\"\\")) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, P ": unexpected characters in the TXT value");
        goto out;
    }
    if (dns_api_locate(s, ch->fqdn, probe, &p, "@", &loc, e) != 0)
        goto out;
    er = http_escape(loc.rel);
    snprintf(quoted, sizeof(quoted), "\"%s\"", ch->value);
    body = json_object_new_object();
    recs = json_object_new_array();
    rec = json_object_new_object();
    if (!er || !body || !recs || !rec || jsonu_add_str(rec, "value", quoted) ||
        json_object_array_add(recs, rec)) {
        json_object_put(recs);
        json_object_put(rec);
        goto nomem;
    }
    if ((add && json_object_object_add(body, "ttl", json_object_new_int64(s->ttl))) ||
        json_object_object_add(body, "records", recs)) {
        json_object_put(recs);
        goto nomem;
    }
    if (dns_api_pathf(s, e, url, sizeof(url), "/zones/%" PRId64 "/rrsets/%s/TXT/actions/%s",
                      p.zid, er, add ? "add_records" : "remove_records") != 0)
        goto out;
    got = hz_call(s, "POST", url, jsonu_string(body), &ans, !add, e);
    if (got < 0)
        goto out;
    rc = got == 1 ? 0 : wait_action(s, ans, e); /* 1: removing from a missing RRSet */
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    json_object_put(ans);
    json_object_put(body);
    dns_api_loc_free(&loc);
    free(er);
    return rc;
}

static int h_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return change(state, ch, true, e);
}

static int h_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return change(state, ch, false, e);
}

const struct dns_provider_ops dns_hetzner_ops = {
    .name = "hetzner",
    .alias = NULL,
    .options = opts_decl,
    .validate = h_validate,
    .create = h_create,
    .present = h_present,
    .cleanup = h_cleanup,
    .destroy = dns_api_destroy,
};
