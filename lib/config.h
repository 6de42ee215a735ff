/*
 * config.h - the effective configuration: the YAML file loaded (libcyaml),
 * `${VAR}` expanded, defaults applied, extras merged with main, validated.
 *
 * Contract: ../DESIGN.md §5.1 and the GoDoxy reference. Everything here is plain
 * data owned by the struct config; config_free() releases it all.
 */
#ifndef AUTOCERT_CONFIG_H
#define AUTOCERT_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto.h"
#include "dns_provider.h"

/* The provider kinds that are not DNS providers. */
#define CONFIG_PROVIDER_LOCAL "local"
#define CONFIG_PROVIDER_PSEUDO "pseudo"
#define CONFIG_PROVIDER_CUSTOM "custom"
/* An ACME set validated by http-01 or tls-alpn-01 (no DNS provider). */
#define CONFIG_PROVIDER_ACME "acme"
/* development mode: a self-signed certificate for the set's names, no CA */
#define CONFIG_PROVIDER_SELFSIGNED "selfsigned"

#define CONFIG_DEFAULT_CA "https://acme-v02.api.letsencrypt.org/directory"

/* Shortest admin.token accepted (characters; no surrounding whitespace). */
#define CONFIG_ADMIN_TOKEN_MIN 16
/* Longest preferred_chain value in bytes: a CN is at most 64 characters
 * (X.520 ub-common-name), at most 4 UTF-8 bytes each. */
#define CONFIG_PREFERRED_CHAIN_MAX 256

/* autocert.max_concurrent_orders: 1 .. this (the engine's worker bound). */
#define CONFIG_MAX_CONCURRENT_ORDERS_MAX 256

/* One autocert.acme_limits entry: the renewal budgets for one CA. A limit
 * left out is -1 (the CA's default: Let's Encrypt's for its URLs, none for
 * others); 0 means no budget of that kind. */
struct config_acme_limit {
    char *ca_dir_url;
    int64_t orders_per_3h;
    int64_t new_certs_per_domain_week;
};

/* One certificate set after defaults and the extra merge. */
struct config_set {
    char *name;     /* "main", "extra[1]", ... */
    char *provider; /* "local", "pseudo", "custom" or a DNS provider name */
    char *email;    /* NULL when absent */
    char **domains; /* as written (case kept) */
    size_t domains_count;
    char *cert_path;
    char *key_path;
    char *acme_key_path; /* main's for every extra */
    char *ca_dir_url;
    char **ca_certs; /* PEM files trusted for the CA's HTTPS */
    size_t ca_certs_count;
    char *eab_kid;  /* NULL when absent */
    char *eab_hmac; /* secret; NULL when absent */
    enum crypto_key_type key_type;
    char **resolvers; /* "host" or "host:port" */
    size_t resolvers_count;
    struct dns_option *options; /* DNS provider options (secrets), key/value owned */
    size_t options_count;
    char *profile;            /* ACME profile, NULL when absent */
    char *preferred_chain;    /* Issuer CN of the wanted chain's top certificate, or NULL */
    int64_t renew_before;     /* seconds before NotAfter; 0 = default rule */
    int64_t order_timeout;    /* seconds, default 600 */
    int64_t retry_min;        /* default 60 */
    int64_t retry_max;        /* default 21600 */
    int64_t failure_cooldown; /* default 3600 */
    char *challenge;          /* "dns-01" (a DNS provider, custom, local,
                               * pseudo), "http-01" or "tls-alpn-01"
                               * (provider acme) */
    bool ocsp_stapling;       /* default true: staple OCSP responses when the
                               * leaf names a responder (ocsp.h) */
};

struct config {
    atomic_uint refs;        /* config_ref / config_free */
    char *path;              /* the file it was loaded from */
    struct config_set *sets; /* sets[0] is main, then extras in order */
    size_t sets_count;
    /* autocert.max_concurrent_orders: orders (and ARI fetches) run at once;
     * default AUTOCERT_MAX_CONCURRENT_ORDERS */
    int max_concurrent_orders;
    struct config_acme_limit *acme_limits; /* autocert.acme_limits */
    size_t acme_limits_count;
    struct {
        bool present;         /* the file has an admin: section */
        char *listen;         /* default "127.0.0.1:8555"; an IP or localhost */
        char *token;          /* secret, NULL when absent; required off loopback,
                               * >= CONFIG_ADMIN_TOKEN_MIN chars, no surrounding
                               * whitespace */
        bool metrics_per_set; /* default true; false: /metrics leaves out the
                               * per-set series (very large fleets) */
    } admin;
    struct {
        char *listen;      /* NULL when the TLS listener is off; an IP host */
        char *http_listen; /* NULL when the HTTP responder is off; an IP host */
        int https_port;    /* port in redirects; 0 = serve.listen's (none
                            * when that is 443 or unset) */
    } serve;
    struct {
        char *deploy; /* shell command or NULL */
    } hooks;
    /* what it was made from (config_source.c): SHA-256 over the file and the
     * values of the environment variables it names */
    unsigned char source_digest[32];
    bool source_sealed;
    char **source_env; /* the variables' names */
    size_t source_env_count;
    struct {
        char *url;            /* libpq URI (secret); NULL: the file store */
        char *encryption_key; /* base64 of 32 bytes (secret); required with url */
        int lease_ttl;        /* seconds, default 120, >= 5 */
        char *node_id;        /* NULL: "<hostname>:<pid>" */
        char *url_password;   /* the password inside url, if any (a secret to mask) */
    } store;
    struct {
        char *webhook;  /* URL or NULL */
        char **headers; /* "Name: value" (secrets) */
        size_t headers_count;
    } notify;
};

/* One problem found while loading. */
struct config_diag {
    char *file;
    int line;       /* 1-based; 0 when unknown */
    int column;     /* 1-based; 0 when unknown */
    char *key_path; /* "autocert.extra[1].key_path", or NULL */
    char *message;  /* what is wrong and what to do; no secrets */
    bool warning;   /* true: reported but not an error */
};

struct config_diags {
    struct config_diag *items;
    size_t count;
};

/* Loads and validates `path`. Returns 0 and a new config (config_free) with
 * warnings (if any) in *diags, or -1 with every error found in *diags (*out
 * untouched). diags may be NULL; otherwise free it with config_diags_free. */
int config_load(const char *path, struct config **out, struct config_diags *diags);
/* The same for a document held in memory (len bytes of text, copied); name
 * stands for the file in diagnostics and in cfg->path. */
int config_load_mem(const char *name, const char *text, size_t len, struct config **out,
                    struct config_diags *diags);
/* True when the file at path (cfg's own path) holds exactly the bytes cfg
 * was loaded from and the environment variables its ${...} name have the
 * same values: loading it again would give the same configuration. One read
 * and one SHA-256, no parse. False on any doubt (another path, a read error,
 * a configuration loaded from memory that is not a file). */
bool config_source_unchanged(const struct config *cfg, const char *path);
/* A configuration is reference-counted: config_load returns one reference,
 * config_ref takes another (returns cfg; NULL is fine), config_free drops one
 * and the last one frees everything (and unregisters its secrets). */
struct config *config_ref(struct config *cfg);
void config_free(struct config *cfg);

/* Deep copy of a set's configuration into dst (zeroed first). Returns 0, or
 * -1 on ENOMEM (dst then holds nothing). Release with config_set_dup_free.
 * The copy's secrets are masked while the configuration it came from lives;
 * a copy that outlives it registers them itself (config_set_dup_register). */
int config_set_dup(struct config_set *dst, const struct config_set *src);
/* Registers the secrets of copy s (eab_hmac, option values) under s, so that
 * they stay masked until config_set_dup_free. Returns 0 or -1 (ENOMEM). */
int config_set_dup_register(struct config_set *s);
void config_set_dup_free(struct config_set *dst);
/* True when a and b are the same configuration (every field equal). */
bool config_set_equal(const struct config_set *a, const struct config_set *b);
void config_diags_free(struct config_diags *d);
/* Formats one diagnostic as "file:line:col: key.path: message" (warnings
 * prefixed "warning: "; without a known position "file: key.path: message";
 * without a key path the "key.path: " part is left out) into out (always
 * NUL-terminated, cut to n). Returns the length written. */
size_t config_diag_format(const struct config_diag *it, char *out, size_t n);
/* Prints every diagnostic as config_diag_format does, one per line. */
void config_diags_print(const struct config_diags *d, FILE *f);

/* Prints the effective configuration as YAML, secrets redacted. */
void config_print(const struct config *cfg, FILE *f);

/* The acme_limits entry for directory URL url (a trailing slash ignored),
 * or NULL. */
const struct config_acme_limit *config_acme_limit_find(const struct config *cfg, const char *url);

/* True for providers that obtain certificates from a CA (custom, acme or a DNS
 * provider); false for local, pseudo and selfsigned. */
bool config_set_is_managed(const struct config_set *s);

/* Finds a set by name: "main", "extra[N]" or "extraN" (1-based). NULL if none. */
const struct config_set *config_find_set(const struct config *cfg, const char *name);

/* Parses "host:port" or "[v6]:port" into host (without brackets) and port.
 * Returns 0 or -1. */
int config_parse_listen(const char *s, char *host, size_t host_len, int *port);

#endif
