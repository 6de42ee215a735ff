/*
 * config.c - the configuration object once loaded (config_load.c makes it):
 * references and release, the copy of a set (config_set_dup) and its
 * comparison, the lookups (a set by name, a CA's acme_limits entry), and the
 * registration of its secrets (secrets.h). Also the set helpers the loader
 * shares (config_internal.h: cfg_take, cfg_copy_list, cfg_set_copy ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "secrets.h"

/* --- set helpers (shared with config_load.c) --- */

int cfg_copy_list(char ***dst, size_t *dst_n, char *const *src, size_t n)
{
    char **l = NULL;

    *dst = NULL;
    *dst_n = 0;
    if (n == 0)
        return 0;
    l = calloc(n, sizeof *l);
    if (l == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        l[i] = cfg_strdup(src[i] != NULL ? src[i] : "");
        if (l[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                free(l[j]);
            free(l);
            return -1;
        }
    }
    *dst = l;
    *dst_n = n;
    return 0;
}

void cfg_free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void cfg_free_options(struct dns_option *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)o[i].key);
        free((char *)o[i].value);
    }
    free(o);
}

static void set_clear(struct config_set *s)
{
    free(s->name);
    free(s->provider);
    free(s->email);
    cfg_free_list(s->domains, s->domains_count);
    free(s->cert_path);
    free(s->key_path);
    free(s->acme_key_path);
    free(s->ca_dir_url);
    cfg_free_list(s->ca_certs, s->ca_certs_count);
    free(s->eab_kid);
    free(s->eab_hmac);
    cfg_free_list(s->resolvers, s->resolvers_count);
    cfg_free_options(s->options, s->options_count);
    free(s->profile);
    free(s->preferred_chain);
    free(s->challenge);
    memset(s, 0, sizeof *s);
}

static int copy_options(struct dns_option **dst, size_t *dst_n, const struct dns_option *src,
                        size_t n)
{
    struct dns_option *o;

    *dst = NULL;
    *dst_n = 0;
    if (n == 0)
        return 0;
    o = calloc(n, sizeof *o);
    if (o == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        o[i].key = cfg_strdup(src[i].key);
        o[i].value = cfg_strdup(src[i].value);
        if (o[i].key == NULL || o[i].value == NULL) {
            cfg_free_options(o, i + 1);
            return -1;
        }
    }
    *dst = o;
    *dst_n = n;
    return 0;
}

/* Replaces *dst with a copy of src (when src is non-NULL). -1 on ENOMEM. */
int cfg_take(char **dst, const char *src)
{
    char *c;

    if (src == NULL)
        return 0;
    c = strdup(src);
    if (c == NULL)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

int cfg_set_copy(struct config_set *d, const struct config_set *s)
{
    memset(d, 0, sizeof *d);
    d->key_type = s->key_type;
    d->renew_before = s->renew_before;
    d->order_timeout = s->order_timeout;
    d->retry_min = s->retry_min;
    d->retry_max = s->retry_max;
    d->failure_cooldown = s->failure_cooldown;
    d->ocsp_stapling = s->ocsp_stapling;
    if (cfg_take(&d->provider, s->provider) || cfg_take(&d->email, s->email) ||
        cfg_take(&d->acme_key_path, s->acme_key_path) || cfg_take(&d->ca_dir_url, s->ca_dir_url) ||
        cfg_take(&d->eab_kid, s->eab_kid) || cfg_take(&d->eab_hmac, s->eab_hmac) ||
        cfg_take(&d->profile, s->profile) || cfg_take(&d->challenge, s->challenge) ||
        cfg_take(&d->preferred_chain, s->preferred_chain) ||
        cfg_copy_list(&d->domains, &d->domains_count, s->domains, s->domains_count) ||
        cfg_copy_list(&d->ca_certs, &d->ca_certs_count, s->ca_certs, s->ca_certs_count) ||
        cfg_copy_list(&d->resolvers, &d->resolvers_count, s->resolvers, s->resolvers_count) ||
        copy_options(&d->options, &d->options_count, s->options, s->options_count))
        return -1;
    return 0;
}

/* --- the secrets of a loaded configuration (secrets.h) --- */

struct secret_list {
    const char **v; /* borrowed from the config */
    size_t n, cap;
};

static int secret_add(struct secret_list *l, const char *key, const char *value)
{
    if (!secrets_worth(key, value))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        const char **v = realloc(l->v, cap * sizeof *v);

        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = value;
    return 0;
}

/* A header's value ("Name: value", leading blanks dropped) and, when it reads
 * "<scheme> <credential>", the credential alone. */
static int secret_add_header(struct secret_list *l, const char *h)
{
    const char *v = strchr(h, ':'), *sp;

    if (v == NULL)
        return 0;
    v++;
    while (*v == ' ' || *v == '\t')
        v++;
    if (secret_add(l, NULL, v) != 0)
        return -1;
    sp = strrchr(v, ' ');
    return sp != NULL ? secret_add(l, NULL, sp + 1) : 0;
}

/* True when v is one of the set's domains or a zone above one (public: it is
 * in the certificate), compared without case. */
static bool is_public_name(const struct config_set *s, const char *v)
{
    size_t vl = strlen(v);

    for (size_t i = 0; i < s->domains_count; i++) {
        const char *d = s->domains[i];
        size_t dl = strlen(d);

        if (strcasecmp(d, v) == 0 ||
            (dl > vl && d[dl - vl - 1] == '.' && strcasecmp(d + dl - vl, v) == 0))
            return true;
    }
    return false;
}

/* The secrets of one set: eab_hmac and the option values (as
 * cfg_register_secrets picks them). */
static int set_secrets(struct secret_list *l, const struct config_set *s)
{
    if (secret_add(l, NULL, s->eab_hmac) != 0)
        return -1;
    for (size_t k = 0; k < s->options_count; k++)
        if (!is_public_name(s, s->options[k].value) &&
            secret_add(l, s->options[k].key, s->options[k].value) != 0)
            return -1;
    return 0;
}

/* Registers every secret value of cfg with cfg as the owner: options (less
 * the plain settings, secrets_worth, and names that are public anyway: a
 * configured domain or its zone), eab_hmac, admin.token and the values of
 * notify.headers. config_free() removes them. */
int cfg_register_secrets(const struct config *cfg)
{
    struct secret_list l = {0};
    int rc = -1;

    for (size_t i = 0; i < cfg->sets_count; i++)
        if (set_secrets(&l, &cfg->sets[i]) != 0)
            goto out;
    if (secret_add(&l, NULL, cfg->admin.token) != 0)
        goto out;
    for (size_t i = 0; i < cfg->notify.headers_count; i++)
        if (secret_add_header(&l, cfg->notify.headers[i]) != 0)
            goto out;
    if (secret_add(&l, NULL, cfg->store.url) != 0 ||
        secret_add(&l, NULL, cfg->store.encryption_key) != 0 ||
        secret_add(&l, NULL, cfg->store.url_password) != 0)
        goto out;
    rc = secrets_register(cfg, l.v, l.n);
out:
    free(l.v);
    return rc;
}

/* --- public --- */

struct config *config_ref(struct config *cfg)
{
    if (cfg != NULL)
        atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) != 1)
        return;
    secrets_unregister(cfg);
    for (size_t i = 0; i < cfg->sets_count; i++)
        set_clear(&cfg->sets[i]);
    free(cfg->sets);
    for (size_t i = 0; i < cfg->acme_limits_count; i++)
        free(cfg->acme_limits[i].ca_dir_url);
    free(cfg->acme_limits);
    free(cfg->path);
    free(cfg->admin.listen);
    free(cfg->admin.token);
    free(cfg->serve.listen);
    free(cfg->serve.http_listen);
    free(cfg->hooks.deploy);
    free(cfg->notify.webhook);
    cfg_free_list(cfg->notify.headers, cfg->notify.headers_count);
    cfg_store_clear(cfg);
    for (size_t i = 0; i < cfg->source_env_count; i++)
        free(cfg->source_env[i]);
    free(cfg->source_env);
    free(cfg);
}

int config_set_dup(struct config_set *dst, const struct config_set *src)
{
    if (cfg_set_copy(dst, src) != 0 || cfg_take(&dst->name, src->name) != 0 ||
        cfg_take(&dst->cert_path, src->cert_path) != 0 ||
        cfg_take(&dst->key_path, src->key_path) != 0) {
        set_clear(dst);
        return -1;
    }
    return 0;
}

int config_set_dup_register(struct config_set *s)
{
    struct secret_list l = {0};
    int rc = -1;

    if (set_secrets(&l, s) == 0 && secrets_register(s, l.v, l.n) == 0)
        rc = 0;
    free(l.v);
    return rc;
}

void config_set_dup_free(struct config_set *dst)
{
    if (dst == NULL)
        return;
    secrets_unregister(dst);
    set_clear(dst);
}

static bool str_same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool list_same(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i], b[i]))
            return false;
    return true;
}

bool config_set_equal(const struct config_set *a, const struct config_set *b)
{
    if (a->key_type != b->key_type || a->renew_before != b->renew_before ||
        a->order_timeout != b->order_timeout || a->retry_min != b->retry_min ||
        a->retry_max != b->retry_max || a->failure_cooldown != b->failure_cooldown ||
        a->ocsp_stapling != b->ocsp_stapling || a->options_count != b->options_count)
        return false;
    if (!str_same(a->name, b->name) || !str_same(a->provider, b->provider) ||
        !str_same(a->email, b->email) || !str_same(a->cert_path, b->cert_path) ||
        !str_same(a->key_path, b->key_path) || !str_same(a->acme_key_path, b->acme_key_path) ||
        !str_same(a->ca_dir_url, b->ca_dir_url) || !str_same(a->eab_kid, b->eab_kid) ||
        !str_same(a->eab_hmac, b->eab_hmac) || !str_same(a->profile, b->profile) ||
        !str_same(a->challenge, b->challenge) || !str_same(a->preferred_chain, b->preferred_chain))
        return false;
    if (!list_same(a->domains, a->domains_count, b->domains, b->domains_count) ||
        !list_same(a->ca_certs, a->ca_certs_count, b->ca_certs, b->ca_certs_count) ||
        !list_same(a->resolvers, a->resolvers_count, b->resolvers, b->resolvers_count))
        return false;
    for (size_t i = 0; i < a->options_count; i++)
        if (!str_same(a->options[i].key, b->options[i].key) ||
            !str_same(a->options[i].value, b->options[i].value))
            return false;
    return true;
}

bool config_set_is_managed(const struct config_set *s)
{
    return s != NULL && s->provider != NULL && strcmp(s->provider, CONFIG_PROVIDER_LOCAL) != 0 &&
           strcmp(s->provider, CONFIG_PROVIDER_PSEUDO) != 0 &&
           strcmp(s->provider, CONFIG_PROVIDER_SELFSIGNED) != 0;
}

/* --- lookups --- */

/* Directory URLs compare without one trailing slash. */
static bool url_same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '/')
        la--;
    if (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

const struct config_acme_limit *config_acme_limit_find(const struct config *cfg, const char *url)
{
    for (size_t i = 0; cfg != NULL && url != NULL && i < cfg->acme_limits_count; i++)
        if (url_same(cfg->acme_limits[i].ca_dir_url, url))
            return &cfg->acme_limits[i];
    return NULL;
}

const struct config_set *config_find_set(const struct config *cfg, const char *name)
{
    const char *p;
    unsigned long n = 0;

    if (cfg == NULL || name == NULL)
        return NULL;
    if (strcmp(name, "main") == 0)
        return cfg->sets_count > 0 ? &cfg->sets[0] : NULL;
    if (strncmp(name, "extra", 5) != 0)
        return NULL;
    p = name + 5;
    if (*p == '[')
        p++;
    if (*p < '1' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9' && n < 100000)
        n = n * 10 + (unsigned long)(*p++ - '0');
    if (name[5] == '[' ? strcmp(p, "]") != 0 : *p != '\0')
        return NULL;
    return n < cfg->sets_count ? &cfg->sets[n] : NULL;
}
