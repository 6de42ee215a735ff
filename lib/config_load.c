/*
 * config_load.c - config_load() and config_load_mem(): read the file, the
 * pre-pass and the typed load (config_pos.c, config_schema.c), ${VAR}
 * expansion of the raw tree, then the effective configuration built from it:
 * defaults, the extra merge, the engine's limits and the other sections;
 * validated (config_validate.c) and its secrets registered (config.c). The
 * quick pass without key positions runs first; a file that makes any diag is
 * loaded again with them (load_lazy).
 *
 * The extra merge follows GoDoxy: an extra starts as a copy of the defaulted
 * main set; its own non-empty scalars replace main's, its own non-empty lists
 * and maps replace main's wholesale; cert_path and key_path are always its own
 * (defaulted when empty); the account key path is always main's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "budget.h"
#include "config_internal.h"
#include "timeutil.h"
#include "words.h"

#define DEFAULT_CERT_PATH "certs/cert.crt"
#define DEFAULT_KEY_PATH "certs/priv.key"
#define DEFAULT_ACME_KEY_PATH "certs/acme.key"
#define DEFAULT_ADMIN_LISTEN "127.0.0.1:8555"

/* --- reading the file --- */

static int read_file(struct cfg_loader *L, const char *path, char **out, size_t *len)
{
    FILE *f = NULL;
    struct stat st;
    char *buf = NULL;
    size_t n;
    int rc = -1, fd = -1, flags;

    /* O_NONBLOCK: opening a FIFO must not wait for a writer; checked, then cleared. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        cfg_diag_at(L, false, 0, 0, NULL, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        cfg_diag_at(L, false, 0, 0, NULL, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        cfg_diag_at(L, false, 0, 0, NULL, "not a regular file (%s): refused",
                    S_ISDIR(st.st_mode)    ? "a directory"
                    : S_ISFIFO(st.st_mode) ? "a FIFO"
                    : S_ISSOCK(st.st_mode) ? "a socket"
                                           : "a device");
        goto out;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        (f = fdopen(fd, "rb")) == NULL) {
        cfg_diag_at(L, false, 0, 0, NULL, "cannot read: %s", strerror(errno));
        goto out;
    }
    fd = -1; /* f owns it */
    if (st.st_size > CFG_MAX_FILE_SIZE) {
        cfg_diag_at(L, false, 0, 0, NULL,
                    "file larger than %s (the configuration file size cap): refused",
                    CFG_MAX_FILE_SIZE_TEXT);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 2);
    if (buf == NULL)
        goto out;
    n = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (n > (size_t)st.st_size || ferror(f)) {
        cfg_diag_at(L, false, 0, 0, NULL, "cannot read the file (or it grew while read)");
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* --- ${VAR} expansion of the raw tree, in place --- */

/* Replaces *slot by its expansion; an empty result becomes NULL (absent).
 * The raw strings come from cyaml_mem (realloc/free), so free() is right. */
static void expand_slot(struct cfg_loader *L, char **slot, const char *path, bool keep_empty)
{
    char *v = NULL;

    if (*slot == NULL || cfg_expand(L, path, *slot, &v) != 0)
        return;
    free(*slot);
    *slot = v;
    if (!keep_empty && v[0] == '\0') {
        free(v);
        *slot = NULL;
    }
}

static void expand_list(struct cfg_loader *L, char **list, unsigned n, const char *path)
{
    char p[320];

    for (unsigned i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s[%u]", path, i + 1);
        expand_slot(L, &list[i], p, true);
    }
}

static void expand_set(struct cfg_loader *L, struct cfg_raw_set *r, const char *prefix)
{
    char p[320];

/* (the key path is made only for a value that is there: 100,000 sets) */
#define X(f)                                                                                       \
    do {                                                                                           \
        if (r->f != NULL) {                                                                        \
            snprintf(p, sizeof p, "%s.%s", prefix, #f);                                            \
            expand_slot(L, &r->f, p, false);                                                       \
        }                                                                                          \
    } while (0)
#define XL(f)                                                                                      \
    do {                                                                                           \
        if (r->f##_count > 0) {                                                                    \
            snprintf(p, sizeof p, "%s.%s", prefix, #f);                                            \
            expand_list(L, r->f, r->f##_count, p);                                                 \
        }                                                                                          \
    } while (0)
    X(provider);
    X(email);
    XL(domains);
    X(cert_path);
    X(key_path);
    X(acme_key_path);
    X(ca_dir_url);
    XL(ca_certs);
    X(eab_kid);
    X(eab_hmac);
    X(certificate_key_type);
    XL(resolvers);
    X(profile);
    X(preferred_chain);
    X(renew_before);
    X(order_timeout);
    X(retry_min);
    X(retry_max);
    X(failure_cooldown);
    X(challenge);
    X(ocsp_stapling);
#undef X
#undef XL
    for (size_t i = 0; r->options != NULL && i < L->opt_count; i++) {
        if (r->options[i] == NULL)
            continue;
        snprintf(p, sizeof p, "%s.options.%s", prefix, L->opt_keys[i]);
        expand_slot(L, &r->options[i], p, false);
    }
}

static void expand_all(struct cfg_loader *L, struct cfg_raw *raw)
{
    char p[96];

    if (raw->autocert != NULL) {
        expand_set(L, raw->autocert, "autocert");
        expand_slot(L, &raw->autocert->max_concurrent_orders, "autocert.max_concurrent_orders",
                    false);
        for (unsigned i = 0; i < raw->autocert->acme_limits_count; i++) {
            struct cfg_raw_limit *l = &raw->autocert->acme_limits[i];

            snprintf(p, sizeof p, "autocert.acme_limits[%u].ca_dir_url", i + 1);
            expand_slot(L, &l->ca_dir_url, p, false);
            snprintf(p, sizeof p, "autocert.acme_limits[%u].orders_per_3h", i + 1);
            expand_slot(L, &l->orders_per_3h, p, false);
            snprintf(p, sizeof p, "autocert.acme_limits[%u].new_certs_per_domain_week", i + 1);
            expand_slot(L, &l->new_certs_per_domain_week, p, false);
        }
        for (unsigned i = 0; i < raw->autocert->extra_count; i++) {
            snprintf(p, sizeof p, "autocert.extra[%u]", i + 1);
            expand_set(L, &raw->autocert->extra[i], p);
        }
    }
    if (raw->admin != NULL) {
        expand_slot(L, &raw->admin->listen, "admin.listen", false);
        expand_slot(L, &raw->admin->token, "admin.token", false);
        expand_slot(L, &raw->admin->metrics_per_set, "admin.metrics_per_set", false);
    }
    if (raw->serve != NULL) {
        expand_slot(L, &raw->serve->listen, "serve.listen", false);
        expand_slot(L, &raw->serve->http_listen, "serve.http_listen", false);
        expand_slot(L, &raw->serve->https_port, "serve.https_port", false);
    }
    if (raw->hooks != NULL)
        expand_slot(L, &raw->hooks->deploy, "hooks.deploy", false);
    if (raw->store != NULL) {
        expand_slot(L, &raw->store->url, "store.url", false);
        expand_slot(L, &raw->store->encryption_key, "store.encryption_key", false);
        expand_slot(L, &raw->store->lease_ttl, "store.lease_ttl", false);
        expand_slot(L, &raw->store->node_id, "store.node_id", false);
    }
    if (raw->notify != NULL) {
        expand_slot(L, &raw->notify->webhook, "notify.webhook", false);
        expand_list(L, raw->notify->headers, raw->notify->headers_count, "notify.headers");
    }
}

/* --- building sets --- */

static void parse_duration(struct cfg_loader *L, const char *prefix, const char *key, const char *v,
                           int64_t *out)
{
    char p[320];
    int64_t secs;

    if (v == NULL)
        return;
    snprintf(p, sizeof p, "%s.%s", prefix, key);
    if (ac_duration_parse(v, &secs) != 0) {
        cfg_diag(L, false, p,
                 "'%s' is not a duration: use a number and a unit s, m, h or d "
                 "(90s, 15m, 1h30m, 30d)",
                 v);
        return;
    }
    *out = secs;
}

static int raw_options(struct cfg_loader *L, char *const *opts, struct dns_option **out, size_t *n)
{
    size_t count = 0, k = 0;
    struct dns_option *o;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; opts != NULL && i < L->opt_count; i++)
        count += opts[i] != NULL;
    if (count == 0)
        return 0;
    o = calloc(count, sizeof *o);
    if (o == NULL)
        return -1;
    for (size_t i = 0; i < L->opt_count; i++) {
        if (opts[i] == NULL)
            continue;
        o[k].key = strdup(L->opt_keys[i]);
        o[k].value = strdup(opts[i]);
        k++;
        if (o[k - 1].key == NULL || o[k - 1].value == NULL) {
            cfg_free_options(o, k);
            return -1;
        }
    }
    *out = o;
    *n = k;
    return 0;
}

/* Overrides s with r's own non-empty values and records what was own. */
static int apply_raw(struct cfg_loader *L, struct config_set *s, const struct cfg_raw_set *r,
                     struct cfg_set_src *src)
{
    const char *prefix = src->prefix;
    char p[320];

    src->own_provider = r->provider != NULL;
    src->own_email = r->email != NULL;
    src->own_domains = r->domains_count > 0;
    src->own_ca_dir_url = r->ca_dir_url != NULL;
    src->own_eab = r->eab_kid != NULL || r->eab_hmac != NULL;
    src->own_cert_path = r->cert_path != NULL;
    src->own_key_path = r->key_path != NULL;
    src->own_challenge = r->challenge != NULL;
    if (cfg_take(&s->provider, r->provider) || cfg_take(&s->email, r->email) ||
        cfg_take(&s->ca_dir_url, r->ca_dir_url) || cfg_take(&s->eab_kid, r->eab_kid) ||
        cfg_take(&s->eab_hmac, r->eab_hmac) || cfg_take(&s->profile, r->profile) ||
        cfg_take(&s->challenge, r->challenge) || cfg_take(&s->preferred_chain, r->preferred_chain))
        return -1;
    if (r->domains_count > 0) {
        cfg_free_list(s->domains, s->domains_count);
        if (cfg_copy_list(&s->domains, &s->domains_count, r->domains, r->domains_count))
            return -1;
    }
    if (r->ca_certs_count > 0) {
        cfg_free_list(s->ca_certs, s->ca_certs_count);
        if (cfg_copy_list(&s->ca_certs, &s->ca_certs_count, r->ca_certs, r->ca_certs_count))
            return -1;
    }
    if (r->resolvers_count > 0) {
        cfg_free_list(s->resolvers, s->resolvers_count);
        if (cfg_copy_list(&s->resolvers, &s->resolvers_count, r->resolvers, r->resolvers_count))
            return -1;
    }
    {
        struct dns_option *o;
        size_t n;

        if (raw_options(L, r->options, &o, &n) != 0)
            return -1;
        src->own_options = n > 0;
        if (n > 0) {
            cfg_free_options(s->options, s->options_count);
            s->options = o;
            s->options_count = n;
        }
    }
    if (r->certificate_key_type != NULL &&
        crypto_key_type_parse(r->certificate_key_type, &s->key_type) != 0)
        cfg_diag(L, false, cfg_field_path(src, true, "certificate_key_type", p, sizeof p),
                 "'%s' is not a supported key type: use EC256 (P256), EC384 (P384), "
                 "RSA2048, RSA3072, RSA4096 or RSA8192",
                 r->certificate_key_type);
    parse_duration(L, prefix, "renew_before", r->renew_before, &s->renew_before);
    parse_duration(L, prefix, "order_timeout", r->order_timeout, &s->order_timeout);
    parse_duration(L, prefix, "retry_min", r->retry_min, &s->retry_min);
    parse_duration(L, prefix, "retry_max", r->retry_max, &s->retry_max);
    parse_duration(L, prefix, "failure_cooldown", r->failure_cooldown, &s->failure_cooldown);
    if (r->ocsp_stapling != NULL && ac_bool_parse(r->ocsp_stapling, true, &s->ocsp_stapling) != 0)
        cfg_diag(L, false, cfg_field_path(src, true, "ocsp_stapling", p, sizeof p),
                 "'%s' is not a boolean: use true or false", r->ocsp_stapling);
    return 0;
}

static char *acme_key_default(const char *ca_dir_url)
{
    unsigned char h[32];
    char out[64];

    if (ca_dir_url == NULL)
        return strdup(DEFAULT_ACME_KEY_PATH);
    crypto_sha256(ca_dir_url, strlen(ca_dir_url), h);
    snprintf(out, sizeof out, "certs/acme_%02x%02x%02x%02x%02x%02x%02x%02x.key", h[0], h[1], h[2],
             h[3], h[4], h[5], h[6], h[7]);
    return strdup(out);
}

static int build_main(struct cfg_loader *L, const struct cfg_raw_set *r, struct config_set *s,
                      struct cfg_set_src *src)
{
    static const struct cfg_raw_set empty;

    if (r == NULL)
        r = &empty;
    snprintf(src->prefix, sizeof src->prefix, "autocert");
    s->key_type = CRYPTO_KEY_EC256;
    s->order_timeout = 600;
    s->retry_min = 60;
    s->retry_max = 21600;
    s->failure_cooldown = 3600;
    s->ocsp_stapling = true;
    if (apply_raw(L, s, r, src) != 0)
        return -1;
    s->name = strdup("main");
    s->acme_key_path =
        r->acme_key_path ? strdup(r->acme_key_path) : acme_key_default(r->ca_dir_url);
    s->cert_path = strdup(r->cert_path ? r->cert_path : DEFAULT_CERT_PATH);
    s->key_path = strdup(r->key_path ? r->key_path : DEFAULT_KEY_PATH);
    if (s->provider == NULL)
        s->provider = strdup(CONFIG_PROVIDER_LOCAL);
    if (s->ca_dir_url == NULL)
        s->ca_dir_url = strdup(CONFIG_DEFAULT_CA);
    if (s->challenge == NULL && strcmp(s->provider, CONFIG_PROVIDER_ACME) != 0)
        s->challenge = strdup("dns-01"); /* acme without one: an error (validation) */
    if (!s->name || !s->acme_key_path || !s->cert_path || !s->key_path || !s->provider ||
        !s->ca_dir_url || (!s->challenge && strcmp(s->provider, CONFIG_PROVIDER_ACME) != 0))
        return -1;
    return 0;
}

static int build_extra(struct cfg_loader *L, const struct config_set *main_set,
                       const struct cfg_raw_set *r, unsigned idx, struct config_set *s,
                       struct cfg_set_src *src)
{
    char name[32], p[320];

    snprintf(src->prefix, sizeof src->prefix, "autocert.extra[%u]", idx);
    snprintf(name, sizeof name, "extra[%u]", idx);
    if (cfg_set_copy(s, main_set) != 0)
        return -1;
    /* main's challenge goes with main's provider: an extra naming its own
     * provider gets that provider's default (dns-01; none for acme) */
    if (r->provider != NULL && r->challenge == NULL) {
        free(s->challenge);
        s->challenge = NULL;
        if (strcmp(r->provider, CONFIG_PROVIDER_ACME) != 0 &&
            (s->challenge = strdup("dns-01")) == NULL)
            return -1;
    }
    if (apply_raw(L, s, r, src) != 0)
        return -1;
    if (r->acme_key_path != NULL)
        cfg_diag(L, true, cfg_field_path(src, true, "acme_key_path", p, sizeof p),
                 "ignored: every extra uses main's account key (%s)", main_set->acme_key_path);
    s->name = strdup(name);
    s->cert_path = strdup(r->cert_path ? r->cert_path : DEFAULT_CERT_PATH);
    s->key_path = strdup(r->key_path ? r->key_path : DEFAULT_KEY_PATH);
    if (!s->name || !s->cert_path || !s->key_path)
        return -1;
    return 0;
}

/* A whole number in [min, max] at path (v NULL: *out untouched). what names
 * the range in the error. */
static void parse_count(struct cfg_loader *L, const char *path, const char *v, long long min,
                        long long max, const char *what, int64_t *out)
{
    char *end = NULL;
    long long n;

    if (v == NULL)
        return;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || end == NULL || *end != '\0' || errno != 0 || n < min ||
        n > max) {
        cfg_diag(L, false, path, "'%s' is not %s (a whole number from %lld to %lld)", v, what, min,
                 max);
        return;
    }
    *out = n;
}

/* autocert.max_concurrent_orders and autocert.acme_limits. */
static int build_engine(struct cfg_loader *L, struct config *cfg, const struct cfg_raw_set *r)
{
    char p[96];
    int64_t n = AUTOCERT_MAX_CONCURRENT_ORDERS;

    cfg->max_concurrent_orders = AUTOCERT_MAX_CONCURRENT_ORDERS;
    if (r == NULL)
        return 0;
    parse_count(L, "autocert.max_concurrent_orders", r->max_concurrent_orders, 1,
                CONFIG_MAX_CONCURRENT_ORDERS_MAX, "a number of orders", &n);
    cfg->max_concurrent_orders = (int)n;
    if (r->acme_limits_count == 0)
        return 0;
    cfg->acme_limits = calloc(r->acme_limits_count, sizeof *cfg->acme_limits);
    if (cfg->acme_limits == NULL)
        return -1;
    for (unsigned i = 0; i < r->acme_limits_count; i++) {
        const struct cfg_raw_limit *rl = &r->acme_limits[i];
        struct config_acme_limit *l = &cfg->acme_limits[cfg->acme_limits_count];

        l->orders_per_3h = -1;
        l->new_certs_per_domain_week = -1;
        snprintf(p, sizeof p, "autocert.acme_limits[%u]", i + 1);
        if (rl->ca_dir_url == NULL || rl->ca_dir_url[0] == '\0') {
            cfg_diag(L, false, p, "an acme_limits entry needs ca_dir_url (the CA's directory URL)");
            continue;
        }
        if (config_acme_limit_find(cfg, rl->ca_dir_url) != NULL) {
            snprintf(p, sizeof p, "autocert.acme_limits[%u].ca_dir_url", i + 1);
            cfg_diag(L, false, p, "a second acme_limits entry for %s: give each CA one entry",
                     rl->ca_dir_url);
            continue;
        }
        snprintf(p, sizeof p, "autocert.acme_limits[%u].orders_per_3h", i + 1);
        parse_count(L, p, rl->orders_per_3h, 0, BUDGET_LIMIT_MAX,
                    "a number of new orders per 3 hours (0: no budget)", &l->orders_per_3h);
        snprintf(p, sizeof p, "autocert.acme_limits[%u].new_certs_per_domain_week", i + 1);
        parse_count(L, p, rl->new_certs_per_domain_week, 0, BUDGET_LIMIT_MAX,
                    "a number of certificates per registered domain per week (0: no budget)",
                    &l->new_certs_per_domain_week);
        l->ca_dir_url = strdup(rl->ca_dir_url);
        if (l->ca_dir_url == NULL)
            return -1;
        cfg->acme_limits_count++;
    }
    return 0;
}

/* serve.https_port: a port number 1-65535. */
static void parse_https_port(struct cfg_loader *L, const char *v, int *out)
{
    char *end = NULL;
    long n;

    if (v == NULL)
        return;
    n = strtol(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || end == NULL || *end != '\0' || n < 1 || n > 65535) {
        cfg_diag(L, false, "serve.https_port", "'%s' is not a port number (1-65535)", v);
        return;
    }
    *out = (int)n;
}

static int build_sections(struct cfg_loader *L, struct config *cfg, const struct cfg_raw *raw)
{
    cfg->admin.present = raw->admin != NULL;
    cfg->admin.metrics_per_set = true;
    if (raw->admin != NULL &&
        ac_bool_parse(raw->admin->metrics_per_set, true, &cfg->admin.metrics_per_set) != 0)
        cfg_diag(L, false, "admin.metrics_per_set", "'%s' is not a boolean: use true or false",
                 raw->admin->metrics_per_set);
    if (raw->admin != NULL && (cfg_take(&cfg->admin.listen, raw->admin->listen) ||
                               cfg_take(&cfg->admin.token, raw->admin->token)))
        return -1;
    if (cfg->admin.listen == NULL && (cfg->admin.listen = strdup(DEFAULT_ADMIN_LISTEN)) == NULL)
        return -1;
    if (raw->serve != NULL && (cfg_take(&cfg->serve.listen, raw->serve->listen) ||
                               cfg_take(&cfg->serve.http_listen, raw->serve->http_listen)))
        return -1;
    if (raw->serve != NULL)
        parse_https_port(L, raw->serve->https_port, &cfg->serve.https_port);
    if (raw->hooks != NULL && cfg_take(&cfg->hooks.deploy, raw->hooks->deploy))
        return -1;
    if (raw->notify != NULL) {
        if (cfg_take(&cfg->notify.webhook, raw->notify->webhook) ||
            cfg_copy_list(&cfg->notify.headers, &cfg->notify.headers_count, raw->notify->headers,
                          raw->notify->headers_count))
            return -1;
    }
    return cfg_build_store(L, cfg, raw->store);
}

/* Builds the effective config from the expanded raw tree. */
static int build(struct cfg_loader *L, const struct cfg_raw *raw, struct config *cfg,
                 struct cfg_set_src **srcs_out)
{
    unsigned extras = raw->autocert != NULL ? raw->autocert->extra_count : 0;
    struct cfg_set_src *src = calloc(extras + 1, sizeof *src);

    *srcs_out = src;
    cfg->sets = calloc(extras + 1, sizeof *cfg->sets);
    if (src == NULL || cfg->sets == NULL)
        return -1;
    cfg->sets_count = 1;
    if (build_main(L, raw->autocert, &cfg->sets[0], &src[0]) != 0)
        return -1;
    for (unsigned i = 0; i < extras; i++) {
        cfg->sets_count++;
        if (build_extra(L, &cfg->sets[0], &raw->autocert->extra[i], i + 1, &cfg->sets[i + 1],
                        &src[i + 1]) != 0)
            return -1;
    }
    if (build_engine(L, cfg, raw->autocert) != 0)
        return -1;
    return build_sections(L, cfg, raw);
}

/* --- the load: a quick pass, then (on any diag) the full one --- */

static int load(const char *path, const char *mem, size_t mem_len, struct config **out,
                struct config_diags *diags, bool quick)
{
    struct config_diags local = {0};
    struct cfg_loader L = {0};
    struct cfg_raw *raw = NULL;
    struct cfg_set_src *srcs = NULL;
    struct config *cfg = NULL;
    char *text = NULL;
    size_t len = 0, diags_before;
    bool has_content = false;
    int rc = -1;

    L.file = path;
    L.diags = diags != NULL ? diags : &local;
    L.quick = quick;
    diags_before = L.diags->count;
    if (cfg_options_union(&L) != 0) {
        cfg_diag_at(&L, false, 0, 0, NULL, "out of memory");
        goto out;
    }
    if (mem != NULL && mem_len <= CFG_MAX_FILE_SIZE) {
        if ((text = malloc(mem_len + 1)) == NULL)
            goto nomem;
        memcpy(text, mem, mem_len);
        text[mem_len] = '\0';
        len = mem_len;
    } else if (mem != NULL) {
        cfg_diag_at(&L, false, 0, 0, NULL,
                    "larger than " CFG_MAX_FILE_SIZE_TEXT " (the configuration size cap): refused");
        goto out;
    } else if (read_file(&L, path, &text, &len) != 0) {
        goto out;
    }
    if (cfg_prepass(&L, text, len, &has_content) != 0)
        goto out;
    if (has_content) {
        if (cfg_raw_load(&L, text, len, &raw) != 0)
            goto out;
    } else if ((raw = calloc(1, sizeof *raw)) == NULL) {
        goto nomem;
    }
    expand_all(&L, raw);
    if (L.errors > 0)
        goto out;
    cfg = calloc(1, sizeof *cfg);
    if (cfg != NULL)
        atomic_init(&cfg->refs, 1);
    if (cfg == NULL || (cfg->path = strdup(path)) == NULL)
        goto nomem;
    if (build(&L, raw, cfg, &srcs) != 0)
        goto nomem;
    cfg_validate(&L, cfg, srcs);
    if (L.errors > 0)
        goto out;
    if (quick && L.diags->count > diags_before) {
        rc = 1; /* a warning: its position needs the full pass */
        goto out;
    }
    if (cfg_register_secrets(cfg) != 0 || cfg_source_seal(&L, cfg, text, len) != 0)
        goto nomem;
    *out = cfg;
    cfg = NULL;
    rc = 0;
    goto out;
nomem:
    cfg_diag_at(&L, false, 0, 0, NULL, "out of memory");
out:
    config_free(cfg);
    free(srcs);
    cfg_raw_free(&L, raw);
    free(text);
    for (size_t i = 0; i < L.pos_count; i++)
        free(L.pos[i].path);
    free(L.pos);
    free(L.pos_ix);
    free(L.opt_keys);
    cfg_source_loader_free(&L);
    config_diags_free(&local);
    return rc;
}

/* Drops the diags d gained past its first `keep`. */
static void diags_truncate(struct config_diags *d, size_t keep)
{
    for (size_t i = keep; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].key_path);
        free(d->items[i].message);
    }
    if (d->count > keep)
        d->count = keep;
}

/* The quick load (no key positions: recording them for every key of a
 * 100,000-set file costs more than the rest of the parse), and when it made
 * any diag or failed, the full one, whose diags carry their positions (and
 * which alone is reported). */
static int load_lazy(const char *path, const char *mem, size_t mem_len, struct config **out,
                     struct config_diags *diags)
{
    struct config_diags local = {0};
    struct config_diags *d = diags != NULL ? diags : &local;
    size_t keep = d->count;
    int rc = load(path, mem, mem_len, out, d, true);

    if (rc != 0) {
        diags_truncate(d, keep);
        rc = load(path, mem, mem_len, out, d, false);
    }
    config_diags_free(&local);
    return rc;
}

int config_load(const char *path, struct config **out, struct config_diags *diags)
{
    return load_lazy(path, NULL, 0, out, diags);
}

int config_load_mem(const char *name, const char *text, size_t len, struct config **out,
                    struct config_diags *diags)
{
    return load_lazy(name, text != NULL ? text : "", len, out, diags);
}
