/*
 * config_internal.h - what the config_*.c files share (not a public header).
 *
 * Loading runs in stages, each in its own file:
 *   config_pos.c      libyaml pre-pass: syntax, aliases, one document, key
 *                     positions by key path, unknown keys (did-you-mean),
 *                     foreign GoDoxy top-level sections blanked out
 *   config_schema.c   libcyaml schema (options built from the DNS registry) and
 *                     the typed load of the cleaned text into struct cfg_raw
 *   config_env.c      ${VAR} expansion of scalar values
 *   config_load.c     config_load: read, the quick pass then (on a diag) the
 *                     full one, expansion, defaults, the extra merge
 *   config.c          the loaded object: ref/free, set copies and comparison,
 *                     lookups, secrets registration
 *   config_validate.c semantic checks, all reported at once
 *   config_print.c    effective configuration as YAML, diagnostics printed
 *   config_diag.c     positions, positioned diags
 * Did-you-mean hints come from lib/words.h (ac_suggest), shared with the DNS
 * provider layer.
 */
#ifndef AUTOCERT_CONFIG_INTERNAL_H
#define AUTOCERT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* The configuration file cap (64 MiB: 100,000 sets in GoDoxy's form take
 * about 10 MiB); the error names it. */
#define CFG_MAX_FILE_SIZE ((off_t)64 * 1024 * 1024)
#define CFG_MAX_FILE_SIZE_TEXT "64 MiB"
#define CFG_MAX_SCALAR 8192
#define CFG_MAX_LIST 1000
#define CFG_MAX_DEPTH 16

/* One recorded position: the key (or sequence entry) at `path`. */
struct cfg_pos {
    char *path;
    int line;   /* 1-based */
    int column; /* 1-based */
};

/* The load context every stage reports into. */
struct cfg_loader {
    const char *file;           /* borrowed */
    struct config_diags *diags; /* borrowed; never NULL inside the loader */
    size_t errors;              /* error diags added so far */
    struct cfg_pos *pos;        /* owned */
    size_t pos_count, pos_cap;
    size_t *pos_ix;        /* owned: hash of pos paths (index + 1; 0 empty) */
    size_t pos_ix_cap;     /* a power of two, > 2 * pos_count */
    const char **opt_keys; /* owned array of borrowed keys: the options union */
    size_t opt_count;
    /* the quick first attempt (config_load.c load): the pre-pass records no key
     * positions and leaves duplicate keys to libcyaml; any diag makes the
     * load start over with positions, so every message still has its place */
    bool quick;
    /* the environment variables ${...} named (config_source.c) */
    char **env_names;
    size_t env_count, env_cap;
};

/* One set as written (libcyaml output; every scalar a string, NULL if absent). */
struct cfg_raw_set {
    char *provider;
    char *email;
    char **domains;
    unsigned domains_count;
    char *cert_path;
    char *key_path;
    char *acme_key_path;
    char *ca_dir_url;
    char **ca_certs;
    unsigned ca_certs_count;
    char *eab_kid;
    char *eab_hmac;
    char *certificate_key_type;
    char **resolvers;
    unsigned resolvers_count;
    char **options; /* array of opt_count values (NULL = absent) */
    char *profile;
    char *preferred_chain;
    char *renew_before;
    char *order_timeout;
    char *retry_min;
    char *retry_max;
    char *failure_cooldown;
    char *challenge;
    char *ocsp_stapling;
    struct cfg_raw_set *extra; /* main only */
    unsigned extra_count;
    char *max_concurrent_orders;       /* main only */
    struct cfg_raw_limit *acme_limits; /* main only */
    unsigned acme_limits_count;
};

/* One autocert.acme_limits entry as written. */
struct cfg_raw_limit {
    char *ca_dir_url;
    char *orders_per_3h;
    char *new_certs_per_domain_week;
};

struct cfg_raw_admin {
    char *listen;
    char *token;
    char *metrics_per_set;
};
struct cfg_raw_serve {
    char *listen;
    char *http_listen;
    char *https_port;
};
struct cfg_raw_hooks {
    char *deploy;
};
struct cfg_raw_notify {
    char *webhook;
    char **headers;
    unsigned headers_count;
};

struct cfg_raw_store {
    char *url;
    char *encryption_key;
    char *lease_ttl;
    char *node_id;
};

struct cfg_raw {
    struct cfg_raw_set *autocert;
    struct cfg_raw_admin *admin;
    struct cfg_raw_serve *serve;
    struct cfg_raw_hooks *hooks;
    struct cfg_raw_notify *notify;
    struct cfg_raw_store *store;
};

/* --- what a configuration was made from (config_source.c) --- */
/* Records that the file names environment variable name. -1 on ENOMEM. */
int cfg_source_note_env(struct cfg_loader *L, const char *name);
/* Seals cfg with the digest of text[0..len) and of the values of the
 * variables L noted, and takes L's list of names. -1 on ENOMEM. */
int cfg_source_seal(struct cfg_loader *L, struct config *cfg, const char *text, size_t len);
/* Frees L's list of names (when the load failed). */
void cfg_source_loader_free(struct cfg_loader *L);

/* --- the store: section (config_store.c) --- */
/* Fills cfg->store from raw (NULL: no section) and checks it. -1 on ENOMEM. */
int cfg_build_store(struct cfg_loader *L, struct config *cfg, const struct cfg_raw_store *raw);
void cfg_store_clear(struct config *cfg);

/* --- diagnostics (config_diag.c) --- */
/* Adds a diag positioned at `path` (or its nearest recorded parent). The
 * message must hold no secret. */
void cfg_diag(struct cfg_loader *L, bool warning, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a diag at an explicit position. */
void cfg_diag_at(struct cfg_loader *L, bool warning, int line, int column, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Records the position of `path` (copies it). 0 or -1 on ENOMEM. */
int cfg_pos_add(struct cfg_loader *L, const char *path, int line, int column);

/* --- options union (config_schema.c) --- */
/* Fills L->opt_keys with every provider's option keys plus the common ones. */
int cfg_options_union(struct cfg_loader *L);
/* Index of key in the union, or -1. */
int cfg_option_index(const struct cfg_loader *L, const char *key);

/* --- pre-pass (config_pos.c) --- */
/* Walks text with libyaml: reports syntax errors, aliases/anchors, more than
 * one document, unknown keys; records positions; blanks foreign top-level
 * sections in place (warning once). *has_content is false when nothing is
 * left for libcyaml. Returns 0, or -1 when errors were reported. */
int cfg_prepass(struct cfg_loader *L, char *text, size_t len, bool *has_content);

/* --- typed load (config_schema.c) --- */
/* Loads text into a new raw config (free with cfg_raw_free). -1 with a
 * positioned diag on a schema error. */
int cfg_raw_load(struct cfg_loader *L, const char *text, size_t len, struct cfg_raw **out);
void cfg_raw_free(struct cfg_loader *L, struct cfg_raw *raw);

/* --- ${VAR} expansion (config_env.c) --- */
/* Returns a new malloc'd expansion of value (NULL value gives NULL with 0), or
 * -1 with a diag naming the variable and path. */
int cfg_expand(struct cfg_loader *L, const char *path, const char *value, char **out);

/* --- validation (config_validate.c) --- */
/* Checks the merged config; reports every problem. Returns the error count
 * added. `own` tells, per set, which fields the set wrote itself. */
struct cfg_set_src {
    char prefix[40]; /* "autocert" or "autocert.extra[N]" */
    bool own_provider, own_email, own_domains, own_options, own_ca_dir_url;
    bool own_eab, own_cert_path, own_key_path, own_challenge;
};
size_t cfg_validate(struct cfg_loader *L, const struct config *cfg, const struct cfg_set_src *src);

/* Returns the path of a field: own ? prefix.key : "autocert.key". Into buf. */
const char *cfg_field_path(const struct cfg_set_src *src, bool own, const char *key, char *buf,
                           size_t n);

/* Helpers (config_diag.c). */
char *cfg_strdup(const char *s);

/* --- set helpers and secrets (config.c), shared with config_load.c --- */
/* Replaces *dst with a copy of src (when src is non-NULL). -1 on ENOMEM. */
int cfg_take(char **dst, const char *src);
/* *dst becomes a new copy of src[0..n) (NULL entries as ""; n 0: NULL).
 * -1 on ENOMEM (*dst then NULL). Free with cfg_free_list. */
int cfg_copy_list(char ***dst, size_t *dst_n, char *const *src, size_t n);
void cfg_free_list(char **l, size_t n);
void cfg_free_options(struct dns_option *o, size_t n);
/* d becomes a copy of s less name, cert_path and key_path (an extra's start).
 * -1 on ENOMEM (d then holds what was copied: clear it). */
int cfg_set_copy(struct config_set *d, const struct config_set *s);
/* Registers cfg's secret values with cfg as the owner (config_free removes
 * them). -1 on ENOMEM. */
int cfg_register_secrets(const struct config *cfg);

#endif
