/*
 * dns_common.c - option validation, the common settings every provider takes
 * (lego's ttl, propagation_timeout, polling_interval, http_timeout,
 * sequence_interval), and the struct dns_provider wrapper (see lib/dns_provider.h).
 *
 * Option values are secrets: no message built here ever contains one. Keys are
 * printed (bounded to DNS_OPTION_KEY_MAX characters).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "timeutil.h"
#include "words.h"

const char *const dns_common_options[] = {
    "ttl", "propagation_timeout", "polling_interval", "http_timeout", "sequence_interval", NULL,
};

struct dns_provider {
    const struct dns_provider_ops *ops;
    void *state;
    struct dns_settings settings;
};

const char *dns_opt_get(const struct dns_option *opts, size_t n, const char *key)
{
    const char *v = NULL;

    for (size_t i = 0; i < n; i++)
        if (opts[i].key != NULL && strcmp(opts[i].key, key) == 0)
            v = opts[i].value;
    return v;
}

int dns_opt_bool(const char *provider, const struct dns_option *opts, size_t n, const char *key,
                 bool dflt, bool *out, struct ac_error *e)
{
    if (ac_bool_parse(dns_opt_get(opts, n, key), dflt, out) == 0)
        return 0;
    ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: option %s: expected true or false", provider,
                 key);
    return -1;
}

bool dns_is_common_option(const char *key)
{
    for (size_t i = 0; dns_common_options[i] != NULL; i++)
        if (strcmp(dns_common_options[i], key) == 0)
            return true;
    return false;
}

static bool is_declared(const struct dns_provider_ops *ops, const char *key)
{
    for (const struct dns_option_decl *d = ops->options; d != NULL && d->key != NULL; d++)
        if (strcmp(d->key, key) == 0)
            return true;
    return false;
}

/* The closest declared or common key to `key`, or NULL. */
static const char *suggest_key(const struct dns_provider_ops *ops, const char *key)
{
    struct ac_suggest s;

    ac_suggest_init(&s, key);
    for (const struct dns_option_decl *d = ops->options; d != NULL && d->key != NULL; d++)
        ac_suggest_add(&s, d->key);
    for (size_t i = 0; dns_common_options[i] != NULL; i++)
        ac_suggest_add(&s, dns_common_options[i]);
    return ac_suggest_best(&s);
}

static const char *suggest_provider(const char *name)
{
    const struct dns_provider_ops *const *list = dns_provider_list();
    struct ac_suggest s;

    ac_suggest_init(&s, name);
    for (size_t i = 0; list[i] != NULL; i++) {
        ac_suggest_add(&s, list[i]->name);
        ac_suggest_add(&s, list[i]->alias);
    }
    return ac_suggest_best(&s);
}

/* A printable copy of an outside key or name for messages (bounded). */
static const char *shown(const char *key, char out[DNS_OPTION_KEY_MAX + 1])
{
    size_t i = 0;

    for (; key[i] != '\0' && i < DNS_OPTION_KEY_MAX; i++) {
        unsigned char c = (unsigned char)key[i];
        out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}

static const struct dns_provider_ops *find_or_fail(const char *name, struct ac_error *e)
{
    const struct dns_provider_ops *ops = dns_provider_find(name);
    char nbuf[DNS_OPTION_KEY_MAX + 1];
    const char *hint;

    if (ops != NULL)
        return ops;
    if (name == NULL || name[0] == '\0') {
        ac_error_set(e, AC_ERR_CONFIG, "no DNS provider name given");
        return NULL;
    }
    hint = strlen(name) < DNS_OPTION_KEY_MAX ? suggest_provider(name) : NULL;
    if (hint != NULL)
        ac_error_set(e, AC_ERR_CONFIG, "unknown DNS provider \"%s\" (did you mean \"%s\"?)",
                     shown(name, nbuf), hint);
    else
        ac_error_set(e, AC_ERR_CONFIG, "unknown DNS provider \"%s\"", shown(name, nbuf));
    return NULL;
}

/* Parses a common-key value: integer seconds (lego's form) or one of our
 * durations ("90s", "2m", "1h30m"). Returns 0 and seconds, or -1. */
static int parse_seconds(const char *v, int64_t *out)
{
    size_t len;

    if (v == NULL)
        return -1;
    len = strlen(v);
    if (len == 0 || len > 32)
        return -1;
    if (strspn(v, "0123456789") == len) {
        int64_t s = 0;
        if (len > 10)
            return -1;
        for (size_t i = 0; i < len; i++)
            s = s * 10 + (v[i] - '0');
        *out = s;
        return 0;
    }
    return ac_duration_parse(v, out);
}

static const struct {
    const char *key;
    int64_t min_s, max_s;
} common_bounds[] = {
    {"ttl", 1, 7 * 86400},     {"propagation_timeout", 1, 86400}, {"polling_interval", 1, 3600},
    {"http_timeout", 1, 3600}, {"sequence_interval", 0, 3600},
};

int dns_settings_parse(const char *provider, const struct dns_option *opts, size_t n,
                       struct dns_settings *out, struct ac_error *e)
{
    struct dns_settings s = {
        .ttl = 120,
        .propagation_timeout_ms = 60000,
        .polling_interval_ms = 2000,
        .sequence_interval_ms = 0,
        .http_timeout_ms = 30000,
    };

    for (size_t i = 0; i < sizeof common_bounds / sizeof common_bounds[0]; i++) {
        const char *key = common_bounds[i].key;
        const char *v = dns_opt_get(opts, n, key);
        int64_t secs;

        if (v == NULL)
            continue;
        if (parse_seconds(v, &secs) != 0) {
            ac_error_set(e, AC_ERR_CONFIG,
                         "DNS provider %s: option %s: not a duration (integer seconds, "
                         "or e.g. \"90s\", \"2m\")",
                         provider, key);
            return -1;
        }
        if (secs < common_bounds[i].min_s || secs > common_bounds[i].max_s) {
            ac_error_set(e, AC_ERR_CONFIG,
                         "DNS provider %s: option %s: out of range (%lld to %lld seconds)",
                         provider, key, (long long)common_bounds[i].min_s,
                         (long long)common_bounds[i].max_s);
            return -1;
        }
        if (strcmp(key, "ttl") == 0)
            s.ttl = secs;
        else if (strcmp(key, "propagation_timeout") == 0)
            s.propagation_timeout_ms = secs * 1000;
        else if (strcmp(key, "polling_interval") == 0)
            s.polling_interval_ms = secs * 1000;
        else if (strcmp(key, "http_timeout") == 0)
            s.http_timeout_ms = secs * 1000;
        else
            s.sequence_interval_ms = secs * 1000;
    }
    *out = s;
    return 0;
}

/* Checks keys (unknown, duplicate, required) and the common values, then runs
 * ops->validate on the declared keys only. */
static int validate_with(const struct dns_provider_ops *ops, const struct dns_option *opts,
                         size_t n, struct ac_error *e)
{
    struct dns_option *own = NULL;
    struct dns_settings s;
    size_t own_n = 0;
    int rc = -1;

    if (n > 0 && opts == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "DNS provider %s: options missing", ops->name);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = opts[i].key;
        const char *hint;
        char kbuf[DNS_OPTION_KEY_MAX + 1];

        if (key == NULL || key[0] == '\0') {
            ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: empty option key", ops->name);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(opts[j].key, key) == 0) {
                ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: option %s given twice", ops->name,
                             shown(key, kbuf));
                goto out;
            }
        }
        if (opts[i].value == NULL) {
            ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: option %s has no value", ops->name,
                         shown(key, kbuf));
            goto out;
        }
        if (dns_is_common_option(key) || is_declared(ops, key))
            continue;
        hint = strlen(key) < DNS_OPTION_KEY_MAX ? suggest_key(ops, key) : NULL;
        if (hint != NULL)
            ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: unknown option %s (did you mean %s?)",
                         ops->name, shown(key, kbuf), hint);
        else
            ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: unknown option %s", ops->name,
                         shown(key, kbuf));
        goto out;
    }
    for (const struct dns_option_decl *d = ops->options; d != NULL && d->key != NULL; d++) {
        const char *v;
        if (!d->required)
            continue;
        v = dns_opt_get(opts, n, d->key);
        if (v == NULL || v[0] == '\0') {
            ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: missing required option %s", ops->name,
                         d->key);
            goto out;
        }
    }
    if (dns_settings_parse(ops->name, opts, n, &s, e) != 0)
        goto out;
    if (ops->validate != NULL) {
        own = n > 0 ? calloc(n, sizeof *own) : NULL;
        if (n > 0 && own == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "DNS provider %s: out of memory", ops->name);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (!dns_is_common_option(opts[i].key))
                own[own_n++] = opts[i];
        if (ops->validate(own, own_n, e) != 0) {
            if (e != NULL && e->kind[0] == '\0')
                ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: invalid options", ops->name);
            goto out;
        }
    }
    rc = 0;
out:
    free(own);
    return rc;
}

int dns_options_validate(const char *name, const struct dns_option *opts, size_t n,
                         struct ac_error *e)
{
    const struct dns_provider_ops *ops = find_or_fail(name, e);

    if (ops == NULL)
        return -1;
    return validate_with(ops, opts, n, e);
}

int dns_provider_new(const char *name, const struct dns_option *opts, size_t n,
                     struct dns_provider **out, struct ac_error *e)
{
    const struct dns_provider_ops *ops = find_or_fail(name, e);
    struct dns_provider *p = NULL;
    int rc = -1;

    *out = NULL;
    if (ops == NULL)
        goto out;
    if (validate_with(ops, opts, n, e) != 0)
        goto out;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "DNS provider %s: out of memory", ops->name);
        goto out;
    }
    p->ops = ops;
    if (dns_settings_parse(ops->name, opts, n, &p->settings, e) != 0)
        goto out;
    /* create() sees every option, the common keys included (validated above),
     * so that a provider can use e.g. http_timeout. */
    if (ops->create != NULL && ops->create(opts, n, &p->state, e) != 0) {
        if (e != NULL && e->kind[0] == '\0')
            ac_error_set(e, AC_ERR_DNS_PROVIDER, "DNS provider %s: cannot start", ops->name);
        p->state = NULL;
        goto out;
    }
    *out = p;
    p = NULL;
    rc = 0;
out:
    free(p);
    return rc;
}

void dns_provider_free(struct dns_provider *p)
{
    if (p == NULL)
        return;
    if (p->ops->destroy != NULL && p->state != NULL)
        p->ops->destroy(p->state);
    free(p);
}

const char *dns_provider_name(const struct dns_provider *p)
{
    return p != NULL ? p->ops->name : NULL;
}

const struct dns_settings *dns_provider_settings(const struct dns_provider *p)
{
    return p != NULL ? &p->settings : NULL;
}

/* One record through present/cleanup, or through add_values/remove_values
 * for providers that only write whole value sets. */
static int run_op(struct dns_provider *p, bool add, const struct dns_challenge *ch,
                  struct ac_error *e)
{
    const char *what = add ? "present" : "cleanup";
    const struct dns_provider_ops *o;
    int rc;

    if (p == NULL || ch == NULL || ch->fqdn == NULL || ch->value == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "DNS provider: %s: missing challenge data", what);
        return -1;
    }
    o = p->ops;
    if (add && o->present != NULL)
        rc = o->present(p->state, ch, e);
    else if (!add && o->cleanup != NULL)
        rc = o->cleanup(p->state, ch, e);
    else if (add && o->add_values != NULL)
        rc = o->add_values(p->state, ch->fqdn, &ch->value, 1, e);
    else if (!add && o->remove_values != NULL)
        rc = o->remove_values(p->state, ch->fqdn, &ch->value, 1, e);
    else {
        ac_error_set(e, AC_ERR_INTERNAL, "DNS provider %s: no %s operation", o->name, what);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (e != NULL) {
        if (e->kind[0] == '\0')
            ac_error_set(e, AC_ERR_DNS_PROVIDER, "failed");
        ac_error_prefix(e, "DNS provider %s: %s %.255s", o->name, what, ch->fqdn);
    }
    return -1;
}

int dns_provider_present(struct dns_provider *p, const struct dns_challenge *ch, struct ac_error *e)
{
    return run_op(p, true, ch, e);
}

int dns_provider_cleanup(struct dns_provider *p, const struct dns_challenge *ch, struct ac_error *e)
{
    return run_op(p, false, ch, e);
}

static bool declares(const struct dns_provider_ops *ops, const char *key)
{
    return ops != NULL && is_declared(ops, key);
}

int dns_provider_new_resolvers(const char *name, const struct dns_option *opts, size_t n,
                               const char *const *resolvers, size_t resolver_count,
                               struct dns_provider **out, struct ac_error *e)
{
    struct dns_option *all = NULL;
    struct ac_buf list;
    int rc = -1;

    *out = NULL;
    ac_buf_init(&list, (size_t)DNS_DEFAULT_RESOLVERS_MAX * 320);
    if (resolver_count == 0 || dns_opt_get(opts, n, "dns_resolvers") != NULL ||
        !declares(dns_provider_find(name), "dns_resolvers")) {
        rc = dns_provider_new(name, opts, n, out, e);
        goto out;
    }
    if (resolver_count > DNS_DEFAULT_RESOLVERS_MAX)
        resolver_count = DNS_DEFAULT_RESOLVERS_MAX;
    for (size_t i = 0; i < resolver_count; i++) {
        if (resolvers[i] == NULL || strlen(resolvers[i]) >= 300 ||
            ac_buf_printf(&list, "%s%s", i > 0 ? "," : "", resolvers[i]) != 0) {
            ac_error_set(e, AC_ERR_CONFIG, "DNS provider %s: resolvers: too long", name);
            goto out;
        }
    }
    all = calloc(n + 1, sizeof *all);
    if (all == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "DNS provider %s: out of memory", name);
        goto out;
    }
    if (n > 0)
        memcpy(all, opts, n * sizeof *all);
    all[n].key = "dns_resolvers";
    all[n].value = list.data != NULL ? list.data : "";
    rc = dns_provider_new(name, all, n + 1, out, e);
out:
    free(all);
    ac_buf_free(&list);
    return rc;
}

static int check_many(struct dns_provider *p, const struct dns_challenge *const *chs, size_t n,
                      const char *what, struct ac_error *e)
{
    if (p == NULL || (n > 0 && chs == NULL) || n > DNS_BATCH_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, "DNS provider: %s: bad record list", what);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (chs[i] == NULL || chs[i]->fqdn == NULL || chs[i]->value == NULL) {
            ac_error_set(e, AC_ERR_INTERNAL, "DNS provider %s: %s: missing challenge data",
                         p->ops->name, what);
            return -1;
        }
    }
    return 0;
}

/* Names the provider (and the first record not done) in a batch error. */
static void batch_error(struct dns_provider *p, const char *what, const char *fqdn,
                        struct ac_error *e)
{
    if (e == NULL)
        return;
    if (e->kind[0] == '\0')
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "failed");
    ac_error_prefix(e, "DNS provider %s: %s %.255s", p->ops->name, what, fqdn);
}

int dns_provider_present_many(struct dns_provider *p, const struct dns_challenge *const *chs,
                              size_t n, bool *done, struct ac_error *e)
{
    const char *failed = "";

    if (check_many(p, chs, n, "present", e) != 0)
        return -1;
    if (done == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "DNS provider: present: no result array");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        done[i] = false;
    if (n == 0)
        return 0;
    if (p->ops->add_values == NULL) {
        for (size_t i = 0; i < n; i++) {
            if (dns_provider_present(p, chs[i], e) != 0)
                return -1;
            done[i] = true;
        }
        return 0;
    }
    if (dns_batch_by_name(chs, n, done, false, p->ops->add_values, p->state, e) == 0)
        return 0;
    for (size_t i = 0; i < n && failed[0] == '\0'; i++)
        if (!done[i])
            failed = chs[i]->fqdn;
    batch_error(p, "present", failed, e);
    return -1;
}

int dns_provider_cleanup_many(struct dns_provider *p, const struct dns_challenge *const *chs,
                              size_t n, struct ac_error *e)
{
    int rc = 0;

    if (check_many(p, chs, n, "cleanup", e) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (p->ops->remove_values != NULL) {
        if (dns_batch_by_name(chs, n, NULL, true, p->ops->remove_values, p->state, e) == 0)
            return 0;
        batch_error(p, "cleanup", n == 1 ? chs[0]->fqdn : "records", e);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct ac_error one;

        ac_error_clear(&one);
        if (dns_provider_cleanup(p, chs[i], &one) != 0 && rc == 0) {
            rc = -1;
            if (e != NULL)
                *e = one;
        }
    }
    return rc;
}

int dns_batch_by_name(const struct dns_challenge *const *chs, size_t n, bool *done,
                      bool keep_going, dns_name_batch_fn fn, void *arg, struct ac_error *e)
{
    const char **values = NULL;
    struct ac_error later, *ep = e;
    int rc = 0;

    if (n > DNS_BATCH_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, "too many records in one batch");
        return -1;
    }
    values = calloc(n > 0 ? n : 1, sizeof *values);
    if (values == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        size_t nv = 0;

        for (size_t j = 0; j < i && !seen; j++)
            seen = strcasecmp(chs[j]->fqdn, chs[i]->fqdn) == 0;
        if (seen)
            continue;
        for (size_t j = i; j < n; j++) {
            bool dup = false;
            if (strcasecmp(chs[j]->fqdn, chs[i]->fqdn) != 0)
                continue;
            for (size_t k = 0; k < nv && !dup; k++)
                dup = strcmp(values[k], chs[j]->value) == 0;
            if (!dup)
                values[nv++] = chs[j]->value;
        }
        if (fn(arg, chs[i]->fqdn, values, nv, ep) != 0) {
            rc = -1;
            if (!keep_going)
                break;
            ac_error_clear(&later);
            ep = &later; /* keep the first error in e */
            continue;
        }
        for (size_t j = i; done != NULL && j < n; j++)
            if (strcasecmp(chs[j]->fqdn, chs[i]->fqdn) == 0)
                done[j] = true;
    }
    free(values);
    return rc;
}

void dns_http_snippet(const struct http_response *resp, char *out, size_t outlen)
{
    size_t o = 0, max = outlen > 161 ? 161 : outlen;
    bool space = false;

    if (outlen == 0)
        return;
    for (size_t i = 0; resp->body.data != NULL && i < resp->body.len && o + 1 < max; i++) {
        unsigned char c = (unsigned char)resp->body.data[i];
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < max)
            out[o++] = ' ';
        space = false;
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

void dns_http_status_error(const struct http_response *resp, const char *what,
                           const char *auth_options, struct ac_error *e)
{
    char snip[161];
    const char *kind = AC_ERR_DNS_PROVIDER;

    dns_http_snippet(resp, snip, sizeof snip);
    if (resp->status == 401 || resp->status == 403)
        kind = AC_ERR_DNS_AUTH;
    else if (resp->status == 429)
        kind = AC_ERR_DNS_RATE_LIMITED;
    if ((resp->status == 401 || resp->status == 403) && auth_options != NULL)
        ac_error_set(e, kind, "%s: authentication refused (HTTP %ld), check options %s%s%s", what,
                     resp->status, auth_options, snip[0] ? ": " : "", snip);
    else
        ac_error_set(e, kind, "%s: HTTP %ld%s%s", what, resp->status, snip[0] ? ": " : "", snip);
    if (e != NULL)
        e->http_status = (int)resp->status;
    if (resp->status == 429 && e != NULL) {
        const char *ra = http_header(resp, "retry-after");
        if (ra != NULL)
            e->retry_after = ac_time_parse_retry_after(ra, ac_now());
    }
}
