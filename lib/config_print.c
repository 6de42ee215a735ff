/*
 * config_print.c - the effective configuration as YAML (defaults applied,
 * extras merged, secrets redacted with ac_redact) and the diagnostics.
 *
 * Every string is printed double-quoted with YAML escapes, so the output loads
 * back as the same values (redacted secrets aside).
 */
#include <stdio.h>
#include <string.h>

#include "autocert/autocert.h"
#include "config_internal.h"
#include "log.h"
#include "timeutil.h"

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void kv(FILE *f, int ind, const char *key, const char *v)
{
    if (v == NULL)
        return;
    fprintf(f, "%*s%s: ", ind, "", key);
    put_str(f, v);
    fputc('\n', f);
}

static void kv_secret(FILE *f, int ind, const char *key, const char *v)
{
    char red[CFG_MAX_SCALAR * 4 + 1];

    if (v == NULL)
        return;
    ac_redact(v, red, sizeof red);
    kv(f, ind, key, red);
}

static void kv_dur(FILE *f, int ind, const char *key, int64_t secs)
{
    char d[64];

    ac_duration_format(secs, d, sizeof d);
    fprintf(f, "%*s%s: %s\n", ind, "", key, d);
}

static void list(FILE *f, int ind, const char *key, char *const *l, size_t n)
{
    if (n == 0)
        return;
    fprintf(f, "%*s%s:\n", ind, "", key);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%*s  - ", ind, "");
        put_str(f, l[i]);
        fputc('\n', f);
    }
}

/* Prints one set's keys at indentation ind (the first line gets `first`). */
static void print_set(FILE *f, const struct config_set *s, int ind)
{
    fprintf(f, "%*s# %s\n", ind, "", s->name);
    kv(f, ind, "provider", s->provider);
    kv(f, ind, "email", s->email);
    list(f, ind, "domains", s->domains, s->domains_count);
    kv(f, ind, "cert_path", s->cert_path);
    kv(f, ind, "key_path", s->key_path);
    kv(f, ind, "acme_key_path", s->acme_key_path);
    kv(f, ind, "ca_dir_url", s->ca_dir_url);
    list(f, ind, "ca_certs", s->ca_certs, s->ca_certs_count);
    kv(f, ind, "eab_kid", s->eab_kid);
    kv_secret(f, ind, "eab_hmac", s->eab_hmac);
    kv(f, ind, "certificate_key_type", crypto_key_type_name(s->key_type));
    list(f, ind, "resolvers", s->resolvers, s->resolvers_count);
    if (s->options_count > 0) {
        fprintf(f, "%*soptions:\n", ind, "");
        for (size_t i = 0; i < s->options_count; i++)
            kv_secret(f, ind + 2, s->options[i].key, s->options[i].value);
    }
    kv(f, ind, "profile", s->profile);
    kv(f, ind, "preferred_chain", s->preferred_chain);
    if (s->renew_before > 0)
        kv_dur(f, ind, "renew_before", s->renew_before);
    kv_dur(f, ind, "order_timeout", s->order_timeout);
    kv_dur(f, ind, "retry_min", s->retry_min);
    kv_dur(f, ind, "retry_max", s->retry_max);
    kv_dur(f, ind, "failure_cooldown", s->failure_cooldown);
    kv(f, ind, "challenge", s->challenge);
    kv(f, ind, "ocsp_stapling", s->ocsp_stapling ? "true" : "false");
}

void config_print(const struct config *cfg, FILE *f)
{
    if (cfg == NULL || f == NULL)
        return;
    fprintf(f, "autocert:\n");
    if (cfg->sets_count > 0)
        print_set(f, &cfg->sets[0], 2);
    if (cfg->sets_count > 1) {
        fprintf(f, "  extra:\n");
        for (size_t i = 1; i < cfg->sets_count; i++) {
            fprintf(f, "    -\n");
            print_set(f, &cfg->sets[i], 6);
        }
    }
    if (cfg->max_concurrent_orders != AUTOCERT_MAX_CONCURRENT_ORDERS)
        fprintf(f, "  max_concurrent_orders: %d\n", cfg->max_concurrent_orders);
    if (cfg->acme_limits_count > 0) {
        fprintf(f, "  acme_limits:\n");
        for (size_t i = 0; i < cfg->acme_limits_count; i++) {
            const struct config_acme_limit *l = &cfg->acme_limits[i];

            fprintf(f, "    -\n");
            kv(f, 6, "ca_dir_url", l->ca_dir_url);
            if (l->orders_per_3h >= 0)
                fprintf(f, "      orders_per_3h: %lld\n", (long long)l->orders_per_3h);
            if (l->new_certs_per_domain_week >= 0)
                fprintf(f, "      new_certs_per_domain_week: %lld\n",
                        (long long)l->new_certs_per_domain_week);
        }
    }
    fprintf(f, "admin:\n");
    kv(f, 2, "listen", cfg->admin.listen);
    kv_secret(f, 2, "token", cfg->admin.token);
    kv(f, 2, "metrics_per_set", cfg->admin.metrics_per_set ? "true" : "false");
    if (cfg->serve.listen != NULL || cfg->serve.http_listen != NULL) {
        fprintf(f, "serve:\n");
        if (cfg->serve.listen != NULL)
            kv(f, 2, "listen", cfg->serve.listen);
        if (cfg->serve.http_listen != NULL)
            kv(f, 2, "http_listen", cfg->serve.http_listen);
        if (cfg->serve.https_port > 0)
            fprintf(f, "  https_port: %d\n", cfg->serve.https_port);
    }
    if (cfg->hooks.deploy != NULL) {
        fprintf(f, "hooks:\n");
        kv(f, 2, "deploy", cfg->hooks.deploy);
    }
    if (cfg->store.url != NULL) {
        fprintf(f, "store:\n");
        kv_secret(f, 2, "url", cfg->store.url);
        kv_secret(f, 2, "encryption_key", cfg->store.encryption_key);
        fprintf(f, "  lease_ttl: %ds\n", cfg->store.lease_ttl);
        if (cfg->store.node_id != NULL)
            kv(f, 2, "node_id", cfg->store.node_id);
    }
    if (cfg->notify.webhook != NULL || cfg->notify.headers_count > 0) {
        fprintf(f, "notify:\n");
        kv(f, 2, "webhook", cfg->notify.webhook);
        if (cfg->notify.headers_count > 0) {
            fprintf(f, "  headers:\n");
            for (size_t i = 0; i < cfg->notify.headers_count; i++) {
                const char *h = cfg->notify.headers[i];
                const char *c = strchr(h, ':');
                char red[CFG_MAX_SCALAR * 4 + 1], line[CFG_MAX_SCALAR * 4 + 300];
                const char *v = c ? c + 1 : "";

                while (*v == ' ' || *v == '\t')
                    v++;
                ac_redact(v, red, sizeof red);
                snprintf(line, sizeof line, "%.*s: %s", c ? (int)(c - h) : 0, h, red);
                fprintf(f, "    - ");
                put_str(f, line);
                fputc('\n', f);
            }
        }
    }
}

size_t config_diag_format(const struct config_diag *it, char *out, size_t n)
{
    char pos[48] = "";
    int w;

    if (n == 0)
        return 0;
    if (it->line > 0)
        snprintf(pos, sizeof pos, ":%d:%d", it->line, it->column);
    w = snprintf(out, n, "%s%s%s: %s%s%s", it->warning ? "warning: " : "",
                 it->file ? it->file : "?", pos, it->key_path ? it->key_path : "",
                 it->key_path ? ": " : "", it->message ? it->message : "");
    if (w < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)w < n ? (size_t)w : n - 1;
}

void config_diags_print(const struct config_diags *d, FILE *f)
{
    char line[2048];

    if (d == NULL || f == NULL)
        return;
    for (size_t i = 0; i < d->count; i++) {
        config_diag_format(&d->items[i], line, sizeof line);
        fprintf(f, "%s\n", line);
    }
}
