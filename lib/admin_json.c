/*
 * admin_json.c - the documents of the admin API (admin_json.h): certificate
 * info, set status, renewal results, progress notes, Prometheus metrics; and
 * set selection / revocation reasons as users type them. JSON is built with
 * json-c; text from certificates and CAs goes through jsonu_add_text; no key
 * material ever reaches any of it.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_json.h"
#include "api.h"
#include "b64.h"
#include "buf.h"
#include "jsonu.h"
#include "lifecycle.h"
#include "manager.h"
#include "manager_runtime.h"
#include "set.h"
#include "textsafe.h"
#include "timeutil.h"

#define ADMIN_METRICS_MAX (1024 * 1024) /* beyond the per-set series */
#define ADMIN_METRICS_PER_SET 4096      /* a set's series take ~1 KiB (names <= 72) */

/* Takes ownership of obj; returns a malloc'd compact string or NULL. */
static char *to_string_free(struct json_object *obj)
{
    char *out = NULL;

    if (obj == NULL)
        return NULL;
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    if (s != NULL)
        out = strdup(s);
    json_object_put(obj);
    return out;
}

/* Every string of these documents is text for people (names from
 * certificates, CA messages, echoed request values): escaped when it is not
 * valid UTF-8 or holds control characters (jsonu_add_text). */
static void add_str(struct json_object *o, const char *key, const char *val)
{
    (void)jsonu_add_text(o, key, val);
}

/* A new JSON string holding outside text, escaped like jsonu_add_text. */
static struct json_object *text_new(const char *v)
{
    char safe[1024];

    if (ac_text_is_clean(v, strlen(v)))
        return json_object_new_string(v);
    ac_text_sanitize(safe, sizeof safe, v, strlen(v));
    return json_object_new_string(safe);
}

static void add_int(struct json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

/* An integer, or null when zero (meaning "none"). */
static void add_time_or_null(struct json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, v != 0 ? json_object_new_int64(v) : NULL);
}

static struct json_object *str_array(char **v, size_t n)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; a != NULL && i < n; i++)
        json_object_array_add(a, text_new(v[i] != NULL ? v[i] : ""));
    return a;
}

char *admin_json_message(const char *msg)
{
    return admin_json_error(msg, NULL);
}

char *admin_json_error(const char *msg, const char *kind)
{
    struct json_object *o = json_object_new_object();

    if (o == NULL)
        return NULL;
    add_str(o, "message", msg);
    if (kind != NULL)
        add_str(o, "kind", kind);
    return to_string_free(o);
}

static struct json_object *info_obj(const autocert_status *st)
{
    struct json_object *o = json_object_new_object();

    if (o == NULL)
        return NULL;
    add_str(o, "subject", st->subject);
    add_str(o, "issuer", st->issuer);
    add_int(o, "not_before", st->not_before);
    add_int(o, "not_after", st->not_after);
    json_object_object_add(o, "dns_names", str_array(st->dns_names, st->dns_count));
    json_object_object_add(o, "email_addresses",
                           st->email_count > 0 ? str_array(st->email_addresses, st->email_count)
                                               : NULL);
    add_str(o, "name", st->name);
    add_str(o, "state", autocert_state_name(st->state));
    add_int(o, "renews_at", st->renews_at);
    add_str(o, "serial", st->serial);
    add_str(o, "key_type", st->key_type);
    add_str(o, "cert_path", st->cert_path);
    return o;
}

/* "ocsp": {state, this_update, next_update, error} of the certificate
 * served; null without one. */
static void add_ocsp(struct json_object *o, const autocert_status *st)
{
    struct json_object *x = NULL;

    if (st->has_cert && st->ocsp_state[0] != '\0' && (x = json_object_new_object()) != NULL) {
        add_str(x, "state", st->ocsp_state);
        add_time_or_null(x, "this_update", st->ocsp_this_update);
        add_time_or_null(x, "next_update", st->ocsp_next_update);
        if (st->ocsp_error[0] != '\0')
            add_str(x, "error", st->ocsp_error);
        else
            json_object_object_add(x, "error", NULL);
    }
    json_object_object_add(o, "ocsp", x);
}

/* With a shared store: "store": {"node": this node, "up": bool,
 * "lease_holder": the node holding the set's lease or null}. */
static void add_store(struct json_object *o, const autocert_store_info *si,
                      const autocert_status *st)
{
    struct json_object *so;

    if (si == NULL || strcmp(si->backend, "files") == 0)
        return;
    so = json_object_new_object();
    if (so == NULL)
        return;
    add_str(so, "node", si->node_id);
    json_object_object_add(so, "up", json_object_new_boolean(si->up));
    if (st->lease_holder[0] != '\0')
        add_str(so, "lease_holder", st->lease_holder);
    else
        json_object_object_add(so, "lease_holder", NULL);
    json_object_object_add(o, "store", so);
}

static struct json_object *status_obj(const autocert_status *st, const autocert_store_info *si)
{
    struct json_object *o = json_object_new_object();

    if (o == NULL)
        return NULL;
    add_str(o, "name", st->name);
    json_object_object_add(o, "domains", str_array(st->domains, st->domain_count));
    add_str(o, "provider", st->provider);
    add_str(o, "state", autocert_state_name(st->state));
    if (st->has_cert) {
        add_int(o, "not_after", st->not_after);
        add_str(o, "issuer", st->issuer);
    } else {
        json_object_object_add(o, "not_after", NULL);
        json_object_object_add(o, "issuer", NULL);
    }
    add_time_or_null(o, "renews_at", st->renews_at);
    add_time_or_null(o, "next_attempt", st->next_attempt);
    add_int(o, "failures", st->failures);
    if (st->last_error.kind[0] != '\0') {
        struct json_object *le = json_object_new_object();

        if (le != NULL) {
            add_str(le, "kind", st->last_error.kind);
            add_str(le, "message", st->last_error.message);
            add_time_or_null(le, "at", st->last_error_at);
        }
        json_object_object_add(o, "last_error", le);
    } else {
        json_object_object_add(o, "last_error", NULL);
    }
    add_time_or_null(o, "last_success", st->last_success);
    add_ocsp(o, st);
    if (st->waiting[0] != '\0') {
        struct json_object *w = json_object_new_object();

        if (w != NULL) {
            add_str(w, "for", st->waiting);
            add_time_or_null(w, "until", st->waiting_until);
        }
        json_object_object_add(o, "waiting", w);
    } else {
        json_object_object_add(o, "waiting", NULL);
    }
    add_store(o, si, st);
    return o;
}

/* ---- pages and cursors ---- */

#define CURSOR_PREFIX "v1:"

char *admin_cursor_make(const struct acset *s, size_t pos)
{
    char text[96];

    if (s->runtime)
        snprintf(text, sizeof text, CURSOR_PREFIX "r:%s", s->cfg.name);
    else
        snprintf(text, sizeof text, CURSOR_PREFIX "y:%zu", pos);
    return b64url_encode_alloc(text, strlen(text));
}

int admin_cursor_parse(const char *cursor, struct admin_page *p)
{
    size_t n = 0;
    unsigned char *raw = NULL;
    char text[96], *end;
    struct ac_error e;
    int rc = -1;

    if (strlen(cursor) > 128 ||
        strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_") != strlen(cursor))
        return -1;
    raw = b64url_decode_alloc(cursor, strlen(cursor), &n);
    if (raw == NULL || n < 5 || n >= sizeof text || memchr(raw, '\0', n) != NULL)
        goto out;
    memcpy(text, raw, n);
    text[n] = '\0';
    if (strncmp(text, CURSOR_PREFIX, strlen(CURSOR_PREFIX)) != 0)
        goto out;
    if (strncmp(text + 3, "y:", 2) == 0) {
        const char *d = text + 5;

        if (*d < '0' || *d > '9' || strspn(d, "0123456789") != strlen(d) || strlen(d) > 12)
            goto out;
        p->after_pos = (size_t)strtoull(d, &end, 10);
        p->after_runtime = false;
    } else if (strncmp(text + 3, "r:", 2) == 0) {
        if (manager_runtime_name_check(text + 5, &e) != 0)
            goto out;
        snprintf(p->after_name, sizeof p->after_name, "%s", text + 5);
        p->after_runtime = true;
    } else {
        goto out;
    }
    p->after = true;
    rc = 0;
out:
    free(raw);
    return rc;
}

/* First position after the cursor in sets[0..n) (YAML sets, then run-time
 * sets sorted by name). */
static size_t page_start(struct acset *const *sets, size_t n, const struct admin_page *p)
{
    size_t yaml = 0, lo, hi;

    while (yaml < n && !sets[yaml]->runtime)
        yaml++;
    if (!p->after)
        return 0;
    if (!p->after_runtime)
        return p->after_pos + 1 < yaml ? p->after_pos + 1 : yaml;
    lo = yaml;
    hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(sets[mid]->cfg.name, p->after_name) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

char *admin_json_page(autocert_manager *m, const struct admin_page *p, bool info, size_t *count,
                      char **next)
{
    struct json_object *arr = json_object_new_array();
    struct acset **sets = NULL;
    size_t n = 0, last = 0;
    struct acset *last_set = NULL;
    bool more = false, failed = arr == NULL;
    autocert_store_info si;

    *count = 0;
    *next = NULL;
    if (autocert_manager_store_info(m, &si) != 0)
        memset(&si, 0, sizeof si);
    if (failed || manager_sets(m, &sets, &n) != 0) {
        json_object_put(arr);
        return NULL;
    }
    for (size_t i = p->none ? n : page_start(sets, n, p); i < n && !failed; i++) {
        autocert_status st;
        struct json_object *o;
        bool match;

        if (p->only != NULL && sets[i] != p->only)
            continue;
        if (api_status_of(m, sets[i], &st) != 0)
            continue;
        match = (p->states == 0 || (p->states & (1u << st.state)) != 0) && (!info || st.has_cert);
        if (match && p->limit > 0 && *count == p->limit) {
            more = true;
            autocert_status_clear(&st);
            break;
        }
        if (match) {
            o = info ? info_obj(&st) : status_obj(&st, &si);
            if (o == NULL || json_object_array_add(arr, o) != 0) {
                json_object_put(o);
                failed = true;
            }
            (*count)++;
            last = i;
            last_set = sets[i];
        }
        autocert_status_clear(&st);
    }
    if (more && !failed && (*next = admin_cursor_make(last_set, last)) == NULL)
        failed = true;
    manager_sets_free(sets, n);
    if (failed) {
        json_object_put(arr);
        free(*next);
        *next = NULL;
        return NULL;
    }
    return to_string_free(arr);
}

/* ---- results of renewals and revocations ---- */

void admin_results_init(struct admin_results *r)
{
    r->arr = json_object_new_array();
    r->count = 0;
    r->failed = r->arr == NULL;
}

void admin_results_add(struct admin_results *r, const char *set, const autocert_error *err)
{
    struct json_object *e;

    r->count++;
    if (err != NULL)
        r->failed = true;
    if (r->arr == NULL || (e = json_object_new_object()) == NULL) {
        r->failed = true;
        return;
    }
    add_str(e, "name", set);
    json_object_object_add(e, "ok", json_object_new_boolean(err == NULL));
    if (err == NULL) {
        json_object_object_add(e, "error", NULL);
    } else {
        char msg[AUTOCERT_ERROR_KIND_MAX + AUTOCERT_ERROR_MESSAGE_MAX + 8];

        if (err->kind[0] != '\0')
            snprintf(msg, sizeof msg, "%s: %s", err->kind, err->message);
        else
            snprintf(msg, sizeof msg, "%s", err->message[0] != '\0' ? err->message : "failed");
        add_str(e, "error", msg);
    }
    json_object_array_add(r->arr, e);
}

char *admin_results_finish(struct admin_results *r, const char *message)
{
    struct json_object *o = json_object_new_object();

    if (o == NULL || r->arr == NULL) {
        json_object_put(o);
        json_object_put(r->arr);
        r->arr = NULL;
        return NULL;
    }
    json_object_object_add(o, "results", r->arr);
    r->arr = NULL;
    if (message != NULL)
        add_str(o, "message", message);
    return to_string_free(o);
}

void admin_results_clear(struct admin_results *r)
{
    json_object_put(r->arr);
    r->arr = NULL;
}

char *admin_json_progress(const char *set, const char *msg)
{
    struct json_object *o = json_object_new_object();

    if (o == NULL)
        return NULL;
    add_str(o, "set", set != NULL ? set : "");
    add_str(o, "message", msg != NULL ? msg : "");
    add_int(o, "time", ac_now());
    return to_string_free(o);
}

/* ---- Prometheus ---- */

/* Label value escaping: backslash, double quote and newline. */
static void label(struct ac_buf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\')
            ac_buf_appends(b, "\\\\");
        else if (*v == '"')
            ac_buf_appends(b, "\\\"");
        else if (*v == '\n')
            ac_buf_appends(b, "\\n");
        else
            ac_buf_append(b, v, 1);
    }
}

static void header(struct ac_buf *b, const char *name, const char *type, const char *help)
{
    ac_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void set_sample(struct ac_buf *b, const char *metric, const char *set, int64_t v)
{
    ac_buf_printf(b, "%s{set=\"", metric);
    label(b, set);
    ac_buf_printf(b, "\"} %lld\n", (long long)v);
}

/* What the per-set series need of one set's status. */
struct msample {
    char name[72];
    enum autocert_state state;
    bool has_cert;
    int failures;
    int64_t not_after, renews_at, last_success;
};

char *admin_metrics_text(autocert_manager *mgr)
{
    static const enum autocert_state states[] = {
        AUTOCERT_STATE_PENDING,   AUTOCERT_STATE_VALID,    AUTOCERT_STATE_DUE,
        AUTOCERT_STATE_RENEWING,  AUTOCERT_STATE_BACKOFF,  AUTOCERT_STATE_EXPIRED,
        AUTOCERT_STATE_UNMANAGED, AUTOCERT_STATE_BOOTSTRAP};
    struct acset **sets = NULL;
    size_t n = 0, ns = 0;
    struct msample *sm = NULL;
    struct lifecycle_metrics *m = calloc(1, sizeof *m);
    struct config *cfg = manager_config_ref(mgr);
    bool per_set = cfg == NULL || cfg->admin.metrics_per_set;
    size_t by_state[AUTOCERT_STATE_BOOTSTRAP + 1] = {0};
    struct ac_buf b;
    autocert_store_info si;
    char *out = NULL;

    config_free(cfg);
    ac_buf_init(&b, ADMIN_METRICS_MAX);
    if (m == NULL || manager_sets(mgr, &sets, &n) != 0)
        goto out;
    /* bounded by the number of sets, not by a fixed cap: every set's series
     * fit in ADMIN_METRICS_PER_SET */
    ac_buf_init(&b, ADMIN_METRICS_MAX + (per_set ? n * ADMIN_METRICS_PER_SET : 0));
    if (per_set && (sm = calloc(n + 1, sizeof *sm)) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        autocert_status st;

        if (api_status_of(mgr, sets[i], &st) != 0)
            continue;
        if ((size_t)st.state < sizeof by_state / sizeof by_state[0])
            by_state[st.state]++;
        if (sm != NULL) {
            struct msample *x = &sm[ns++];

            snprintf(x->name, sizeof x->name, "%s", st.name);
            x->state = st.state;
            x->has_cert = st.has_cert;
            x->failures = st.failures;
            x->not_after = st.not_after;
            x->renews_at = st.renews_at;
            x->last_success = st.last_success;
        }
        autocert_status_clear(&st);
    }
    manager_sets_free(sets, n);
    sets = NULL;
    lifecycle_metrics_get(manager_engine(mgr), m);

    if (autocert_manager_store_info(mgr, &si) == 0 && strcmp(si.backend, "files") != 0) {
        header(&b, "autocert_store_up", "gauge",
               "1 while the shared store (PostgreSQL) is reachable and accepts this node.");
        ac_buf_printf(&b, "autocert_store_up %d\n", si.up ? 1 : 0);
    }
    header(&b, "autocert_sets", "gauge", "Certificate sets in each state.");
    for (size_t k = 0; k < sizeof states / sizeof states[0]; k++)
        ac_buf_printf(&b, "autocert_sets{state=\"%s\"} %zu\n", autocert_state_name(states[k]),
                      by_state[states[k]]);
    if (!per_set)
        goto counters;
    header(&b, "autocert_cert_not_after_seconds", "gauge",
           "NotAfter of the set's current certificate (Unix seconds).");
    for (size_t i = 0; i < ns; i++)
        if (sm[i].has_cert)
            set_sample(&b, "autocert_cert_not_after_seconds", sm[i].name, sm[i].not_after);
    header(&b, "autocert_cert_renews_at_seconds", "gauge",
           "When the set's certificate is due for renewal (Unix seconds).");
    for (size_t i = 0; i < ns; i++)
        if (sm[i].has_cert && sm[i].renews_at != 0)
            set_sample(&b, "autocert_cert_renews_at_seconds", sm[i].name, sm[i].renews_at);
    header(&b, "autocert_cert_state", "gauge", "1 for the set's current state, 0 for the others.");
    for (size_t i = 0; i < ns; i++) {
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
            ac_buf_appends(&b, "autocert_cert_state{set=\"");
            label(&b, sm[i].name);
            ac_buf_printf(&b, "\",state=\"%s\"} %d\n", autocert_state_name(states[k]),
                          sm[i].state == states[k] ? 1 : 0);
        }
    }
    header(&b, "autocert_renewal_failures", "gauge",
           "Consecutive failed renewal attempts of the set.");
    for (size_t i = 0; i < ns; i++)
        set_sample(&b, "autocert_renewal_failures", sm[i].name, sm[i].failures);
    header(&b, "autocert_last_success_timestamp_seconds", "gauge",
           "Last successful issuance of the set (Unix seconds; 0 = never).");
    for (size_t i = 0; i < ns; i++)
        set_sample(&b, "autocert_last_success_timestamp_seconds", sm[i].name, sm[i].last_success);
counters:
    header(&b, "autocert_acme_requests_total", "counter", "ACME requests by endpoint and outcome.");
    for (size_t i = 0; i < m->acme_count && i < LIFECYCLE_MAX_COUNTERS; i++) {
        ac_buf_appends(&b, "autocert_acme_requests_total{endpoint=\"");
        label(&b, m->acme[i].endpoint);
        ac_buf_appends(&b, "\",outcome=\"");
        label(&b, m->acme[i].outcome);
        ac_buf_printf(&b, "\"} %llu\n", (unsigned long long)m->acme[i].count);
    }
    header(&b, "autocert_orders_total", "counter", "ACME orders by outcome.");
    ac_buf_printf(&b, "autocert_orders_total{outcome=\"ok\"} %llu\n",
                  (unsigned long long)m->orders_ok);
    ac_buf_printf(&b, "autocert_orders_total{outcome=\"error\"} %llu\n",
                  (unsigned long long)m->orders_failed);
    out = ac_buf_steal(&b, NULL);
out:
    manager_sets_free(sets, n);
    free(sm);
    free(m);
    ac_buf_free(&b);
    return out;
}
