/*
 * config_schema.c - the libcyaml schema of the config file and the typed load.
 *
 * Every scalar is loaded as a string (ports, durations and option values
 * included: libcyaml's integers accept octal and trailing junk) and parsed by
 * config_load.c. The `options` mapping is built at run time from the DNS provider
 * registry: the union of every provider's declared keys and the common keys,
 * each an optional string, stored in an array indexed like L->opt_keys.
 *
 * libcyaml reports no position in its error code; the line and column come
 * from the "Backtrace" messages of its log callback, which this file collects.
 */
#include <cyaml/cyaml.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "dns_provider.h"

#define SET_FIELDS 23 /* 22 set keys + extra */
#define STR_FLAGS (CYAML_FLAG_POINTER_NULL | CYAML_FLAG_OPTIONAL)

struct schema {
    cyaml_schema_value_t str_entry;
    cyaml_schema_field_t *opt_fields; /* opt_count + 1 */
    cyaml_schema_field_t extra_fields[SET_FIELDS];
    cyaml_schema_value_t extra_entry;
    cyaml_schema_field_t set_fields[SET_FIELDS + 3];
    cyaml_schema_field_t limit_fields[4];
    cyaml_schema_value_t limit_entry;
    cyaml_schema_field_t admin_fields[4];
    cyaml_schema_field_t serve_fields[4];
    cyaml_schema_field_t hooks_fields[2];
    cyaml_schema_field_t notify_fields[3];
    cyaml_schema_field_t store_fields[5];
    cyaml_schema_field_t root_fields[7];
    cyaml_schema_value_t root;
};

/* --- the options union --- */

static int add_key(struct cfg_loader *L, const char *key, size_t *cap)
{
    const char **n;

    if (cfg_option_index(L, key) >= 0)
        return 0;
    if (L->opt_count + 1 >= *cap) {
        *cap = *cap ? *cap * 2 : 64;
        n = realloc(L->opt_keys, *cap * sizeof *n);
        if (n == NULL)
            return -1;
        L->opt_keys = n;
    }
    L->opt_keys[L->opt_count++] = key;
    L->opt_keys[L->opt_count] = NULL;
    return 0;
}

int cfg_options_union(struct cfg_loader *L)
{
    const struct dns_provider_ops *const *list = dns_provider_list();
    size_t cap = 0;

    for (size_t i = 0; dns_common_options[i] != NULL; i++)
        if (add_key(L, dns_common_options[i], &cap) != 0)
            return -1;
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        const struct dns_option_decl *d = list[i]->options;

        for (size_t j = 0; d != NULL && d[j].key != NULL; j++)
            if (add_key(L, d[j].key, &cap) != 0)
                return -1;
    }
    return 0;
}

int cfg_option_index(const struct cfg_loader *L, const char *key)
{
    for (size_t i = 0; i < L->opt_count; i++)
        if (strcmp(L->opt_keys[i], key) == 0)
            return (int)i;
    return -1;
}

/* --- schema construction --- */

static cyaml_schema_field_t f_str(const char *key, size_t off)
{
    cyaml_schema_field_t f = {.key = key, .data_offset = (uint32_t)off};

    f.value.type = CYAML_STRING;
    f.value.flags = STR_FLAGS;
    f.value.data_size = sizeof(char);
    f.value.string.min = 0;
    f.value.string.max = CFG_MAX_SCALAR;
    return f;
}

static cyaml_schema_field_t f_seq(const char *key, size_t off, size_t count_off,
                                  const cyaml_schema_value_t *entry, uint32_t entry_size,
                                  uint32_t max)
{
    cyaml_schema_field_t f = {.key = key, .data_offset = (uint32_t)off};

    f.count_offset = (uint32_t)count_off;
    f.count_size = sizeof(unsigned);
    f.value.type = CYAML_SEQUENCE;
    f.value.flags = STR_FLAGS;
    f.value.data_size = entry_size;
    f.value.sequence.entry = entry;
    f.value.sequence.min = 0;
    f.value.sequence.max = max;
    return f;
}

static cyaml_schema_field_t f_map(const char *key, size_t off, uint32_t size,
                                  const cyaml_schema_field_t *fields)
{
    cyaml_schema_field_t f = {.key = key, .data_offset = (uint32_t)off};

    f.value.type = CYAML_MAPPING;
    f.value.flags = STR_FLAGS;
    f.value.data_size = size;
    f.value.mapping.fields = fields;
    return f;
}

static const cyaml_schema_field_t f_end = {.key = NULL};

#define SF(name) f_str(#name, offsetof(struct cfg_raw_set, name))
#define SQ(name)                                                                                   \
    f_seq(#name, offsetof(struct cfg_raw_set, name), offsetof(struct cfg_raw_set, name##_count),   \
          &s->str_entry, sizeof(char *), CFG_MAX_LIST)

/* Fills the set keys (without `extra`) into out; returns how many. */
static size_t set_fields(struct schema *s, const struct cfg_loader *L, cyaml_schema_field_t *out)
{
    size_t n = 0;

    out[n++] = SF(provider);
    out[n++] = SF(email);
    out[n++] = SQ(domains);
    out[n++] = SF(cert_path);
    out[n++] = SF(key_path);
    out[n++] = SF(acme_key_path);
    out[n++] = SF(ca_dir_url);
    out[n++] = SQ(ca_certs);
    out[n++] = SF(eab_kid);
    out[n++] = SF(eab_hmac);
    out[n++] = SF(certificate_key_type);
    out[n++] = SQ(resolvers);
    out[n++] = f_map("options", offsetof(struct cfg_raw_set, options),
                     (uint32_t)(L->opt_count * sizeof(char *)), s->opt_fields);
    out[n++] = SF(profile);
    out[n++] = SF(preferred_chain);
    out[n++] = SF(renew_before);
    out[n++] = SF(order_timeout);
    out[n++] = SF(retry_min);
    out[n++] = SF(retry_max);
    out[n++] = SF(failure_cooldown);
    out[n++] = SF(challenge);
    out[n++] = SF(ocsp_stapling);
    return n;
}

static struct schema *schema_new(const struct cfg_loader *L)
{
    struct schema *s = calloc(1, sizeof *s);
    size_t n;

    if (s == NULL)
        return NULL;
    s->opt_fields = calloc(L->opt_count + 1, sizeof *s->opt_fields);
    if (s->opt_fields == NULL) {
        free(s);
        return NULL;
    }
    s->str_entry.type = CYAML_STRING;
    s->str_entry.flags = CYAML_FLAG_POINTER;
    s->str_entry.data_size = sizeof(char);
    s->str_entry.string.max = CFG_MAX_SCALAR;
    for (size_t i = 0; i < L->opt_count; i++)
        s->opt_fields[i] = f_str(L->opt_keys[i], i * sizeof(char *));
    s->opt_fields[L->opt_count] = f_end;

    n = set_fields(s, L, s->extra_fields);
    s->extra_fields[n] = f_end;
    s->extra_entry.type = CYAML_MAPPING;
    s->extra_entry.flags = CYAML_FLAG_DEFAULT;
    s->extra_entry.data_size = sizeof(struct cfg_raw_set);
    s->extra_entry.mapping.fields = s->extra_fields;

    n = set_fields(s, L, s->set_fields);
    s->set_fields[n++] = f_seq("extra", offsetof(struct cfg_raw_set, extra),
                               offsetof(struct cfg_raw_set, extra_count), &s->extra_entry,
                               sizeof(struct cfg_raw_set), CYAML_UNLIMITED);
    s->set_fields[n++] =
        f_str("max_concurrent_orders", offsetof(struct cfg_raw_set, max_concurrent_orders));
    s->limit_fields[0] = f_str("ca_dir_url", offsetof(struct cfg_raw_limit, ca_dir_url));
    s->limit_fields[1] = f_str("orders_per_3h", offsetof(struct cfg_raw_limit, orders_per_3h));
    s->limit_fields[2] = f_str("new_certs_per_domain_week",
                               offsetof(struct cfg_raw_limit, new_certs_per_domain_week));
    s->limit_fields[3] = f_end;
    s->limit_entry.type = CYAML_MAPPING;
    s->limit_entry.flags = CYAML_FLAG_DEFAULT;
    s->limit_entry.data_size = sizeof(struct cfg_raw_limit);
    s->limit_entry.mapping.fields = s->limit_fields;
    s->set_fields[n++] = f_seq("acme_limits", offsetof(struct cfg_raw_set, acme_limits),
                               offsetof(struct cfg_raw_set, acme_limits_count), &s->limit_entry,
                               sizeof(struct cfg_raw_limit), CFG_MAX_LIST);
    s->set_fields[n] = f_end;

    s->admin_fields[0] = f_str("listen", offsetof(struct cfg_raw_admin, listen));
    s->admin_fields[1] = f_str("token", offsetof(struct cfg_raw_admin, token));
    s->admin_fields[2] = f_str("metrics_per_set", offsetof(struct cfg_raw_admin, metrics_per_set));
    s->admin_fields[3] = f_end;
    s->serve_fields[0] = f_str("listen", offsetof(struct cfg_raw_serve, listen));
    s->serve_fields[1] = f_str("http_listen", offsetof(struct cfg_raw_serve, http_listen));
    s->serve_fields[2] = f_str("https_port", offsetof(struct cfg_raw_serve, https_port));
    s->serve_fields[3] = f_end;
    s->hooks_fields[0] = f_str("deploy", offsetof(struct cfg_raw_hooks, deploy));
    s->hooks_fields[1] = f_end;
    s->notify_fields[0] = f_str("webhook", offsetof(struct cfg_raw_notify, webhook));
    s->notify_fields[1] = f_seq("headers", offsetof(struct cfg_raw_notify, headers),
                                offsetof(struct cfg_raw_notify, headers_count), &s->str_entry,
                                sizeof(char *), CFG_MAX_LIST);
    s->notify_fields[2] = f_end;
    s->store_fields[0] = f_str("url", offsetof(struct cfg_raw_store, url));
    s->store_fields[1] = f_str("encryption_key", offsetof(struct cfg_raw_store, encryption_key));
    s->store_fields[2] = f_str("lease_ttl", offsetof(struct cfg_raw_store, lease_ttl));
    s->store_fields[3] = f_str("node_id", offsetof(struct cfg_raw_store, node_id));
    s->store_fields[4] = f_end;

    s->root_fields[0] = f_map("autocert", offsetof(struct cfg_raw, autocert),
                              sizeof(struct cfg_raw_set), s->set_fields);
    s->root_fields[1] = f_map("admin", offsetof(struct cfg_raw, admin),
                              sizeof(struct cfg_raw_admin), s->admin_fields);
    s->root_fields[2] = f_map("serve", offsetof(struct cfg_raw, serve),
                              sizeof(struct cfg_raw_serve), s->serve_fields);
    s->root_fields[3] = f_map("hooks", offsetof(struct cfg_raw, hooks),
                              sizeof(struct cfg_raw_hooks), s->hooks_fields);
    s->root_fields[4] = f_map("notify", offsetof(struct cfg_raw, notify),
                              sizeof(struct cfg_raw_notify), s->notify_fields);
    s->root_fields[5] = f_map("store", offsetof(struct cfg_raw, store),
                              sizeof(struct cfg_raw_store), s->store_fields);
    s->root_fields[6] = f_end;
    s->root.type = CYAML_MAPPING;
    s->root.flags = CYAML_FLAG_POINTER;
    s->root.data_size = sizeof(struct cfg_raw);
    s->root.mapping.fields = s->root_fields;
    return s;
}

static void schema_free(struct schema *s)
{
    if (s == NULL)
        return;
    free(s->opt_fields);
    free(s);
}

/* --- the load and its log --- */

struct cyaml_log {
    char first[256];               /* the first error message (the cause) */
    int line, column;              /* from the innermost backtrace entry, 0 if none */
    char parts[CFG_MAX_DEPTH][72]; /* backtrace entries, innermost first */
    size_t nparts;
};

/* Key path from the backtrace ("autocert.extra[1].domains"). */
static void backtrace_path(const struct cyaml_log *lg, char *out, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = lg->nparts; i-- > 0 && o + 1 < n;) {
        const char *p = lg->parts[i];

        snprintf(out + o, n - o, p[0] == '[' || o == 0 ? "%s" : ".%s", p);
        o = strlen(out);
    }
}

/* Records "in mapping field 'x' (...)" as "x", "in sequence entry 'N'" as "[N]". */
static void backtrace_part(struct cyaml_log *lg, const char *msg)
{
    const char *q = strchr(msg, '\''), *e;

    if (q == NULL || lg->nparts >= CFG_MAX_DEPTH)
        return;
    e = strchr(q + 1, '\'');
    if (e == NULL || e - q - 1 > 60)
        return;
    snprintf(lg->parts[lg->nparts++], sizeof lg->parts[0],
             strstr(msg, "sequence entry") != NULL ? "[%.*s]" : "%.*s", (int)(e - q - 1), q + 1);
}

/* Finds "line: N" / "column: N" (libcyaml's backtrace form) in msg. */
static int find_num(const char *msg, const char *label)
{
    const char *p = strstr(msg, label);
    long v = 0;

    if (p == NULL)
        return 0;
    p += strlen(label);
    while (*p == ' ' || *p == ':')
        p++;
    while (*p >= '0' && *p <= '9' && v < 10000000) {
        v = v * 10 + (*p - '0');
        p++;
    }
    return (int)v;
}

static void cyaml_log_cb(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

static void cyaml_log_cb(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    struct cyaml_log *lg = ctx;
    char msg[512];
    size_t n;

    if (level < CYAML_LOG_ERROR)
        return;
    vsnprintf(msg, sizeof msg, fmt, args);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (strstr(msg, "(line") != NULL) {
        if (lg->line == 0) {
            lg->line = find_num(msg, "line");
            lg->column = find_num(msg, "column");
        }
        backtrace_part(lg, msg);
        return;
    }
    if (lg->first[0] == '\0' && strstr(msg, "Backtrace") == NULL && n > 0) {
        const char *m = msg;

        if (strncmp(m, "Load: ", 6) == 0)
            m += 6;
        snprintf(lg->first, sizeof lg->first, "%s", m);
    }
}

/* libcyaml grows a sequence by one entry per realloc, which copies the
 * whole array each time wherever realloc cannot grow in place (always under
 * AddressSanitizer): quadratic in the number of `extra:` entries. The
 * loader's allocator gives a block that grows capacity to spare (doubling)
 * and remembers it, so 100,000 entries cost O(n) copies. Only blocks that
 * were grown (sequences) are remembered; everything is plain malloc memory,
 * so free() of a string (expand_slot) stays right. */
struct grow_entry {
    void *p;
    size_t cap;
};

struct grow_tab {
    struct grow_entry *v; /* open addressing on p; p NULL = empty */
    size_t cap, n;
    bool broken; /* out of memory for the table: plain realloc from here on */
};

static size_t grow_slot(const struct grow_tab *t, const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (t->cap - 1);
}

static struct grow_entry *grow_find(struct grow_tab *t, const void *p)
{
    if (t->cap == 0 || p == NULL)
        return NULL;
    for (size_t k = grow_slot(t, p); t->v[k].p != NULL; k = (k + 1) & (t->cap - 1))
        if (t->v[k].p == p)
            return &t->v[k];
    return NULL;
}

/* Removes the entry e (backward-shift deletion keeps probe chains whole). */
static void grow_remove(struct grow_tab *t, struct grow_entry *e)
{
    size_t i = (size_t)(e - t->v), j = i;

    t->v[i].p = NULL;
    t->n--;
    for (;;) {
        size_t k;
        j = (j + 1) & (t->cap - 1);
        if (t->v[j].p == NULL)
            return;
        k = grow_slot(t, t->v[j].p);
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            t->v[i] = t->v[j];
            t->v[j].p = NULL;
            i = j;
        }
    }
}

static int grow_add(struct grow_tab *t, void *p, size_t cap)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        struct grow_entry *v = calloc(nc, sizeof *v), *old = t->v;
        size_t oc = t->cap;

        if (v == NULL)
            return -1;
        t->v = v;
        t->cap = nc;
        for (size_t i = 0; i < oc; i++)
            if (old[i].p != NULL) {
                size_t k = grow_slot(t, old[i].p);
                while (v[k].p != NULL)
                    k = (k + 1) & (nc - 1);
                v[k] = old[i];
            }
        free(old);
    }
    {
        size_t k = grow_slot(t, p);
        while (t->v[k].p != NULL)
            k = (k + 1) & (t->cap - 1);
        t->v[k].p = p;
        t->v[k].cap = cap;
        t->n++;
    }
    return 0;
}

static void *grow_mem(void *ctx, void *ptr, size_t size)
{
    struct grow_tab *t = ctx;
    struct grow_entry *e;
    size_t cap;
    void *q;

    if (t == NULL || t->broken)
        return cyaml_mem(NULL, ptr, size);
    e = grow_find(t, ptr);
    if (size == 0) {
        if (e != NULL)
            grow_remove(t, e);
        free(ptr);
        return NULL;
    }
    if (ptr == NULL) /* a first block: exact (strings, mappings) */
        return malloc(size);
    if (e != NULL && size <= e->cap)
        return ptr;
    cap = e != NULL ? e->cap : size;
    while (cap < size)
        cap *= 2;
    if (cap < size + size / 2)
        cap = size + size / 2;
    q = realloc(ptr, cap);
    if (q == NULL)
        return NULL;
    if (e != NULL)
        grow_remove(t, e);
    if (grow_add(t, q, cap) != 0)
        t->broken = true; /* q stays valid; growth is exact from now on */
    return q;
}

static cyaml_config_t make_config(struct cyaml_log *lg)
{
    cyaml_config_t c = {0};

    c.log_fn = cyaml_log_cb;
    c.log_ctx = lg;
    c.mem_fn = cyaml_mem;
    c.log_level = CYAML_LOG_ERROR;
    c.flags = CYAML_CFG_NO_ALIAS;
    return c;
}

int cfg_raw_load(struct cfg_loader *L, const char *text, size_t len, struct cfg_raw **out)
{
    struct schema *s = NULL;
    struct cyaml_log lg = {0};
    cyaml_config_t c = make_config(&lg);
    cyaml_data_t *data = NULL;
    struct grow_tab grow = {NULL, 0, 0, false};
    cyaml_err_t err;
    char path[512];
    int rc = -1;

    s = schema_new(L);
    if (s == NULL) {
        cfg_diag_at(L, false, 0, 0, NULL, "out of memory");
        goto out;
    }
    c.mem_fn = grow_mem;
    c.mem_ctx = &grow;
    err = cyaml_load_data((const uint8_t *)text, len, &c, &s->root, &data, NULL);
    free(grow.v); /* the blocks are plain malloc memory: no table needed to free them */
    if (err != CYAML_OK) {
        /* Secrets: libcyaml's messages name keys and events, not values,
         * except "Invalid value" messages for numbers, which we never use. */
        backtrace_path(&lg, path, sizeof path);
        cfg_diag_at(L, false, lg.line, lg.column, path[0] ? path : NULL, "%s%s%s",
                    cyaml_strerror(err), lg.first[0] ? ": " : "", lg.first);
        goto out;
    }
    *out = (struct cfg_raw *)data;
    data = NULL;
    rc = 0;
out:
    schema_free(s);
    return rc;
}

void cfg_raw_free(struct cfg_loader *L, struct cfg_raw *raw)
{
    struct schema *s;
    struct cyaml_log lg = {0};
    cyaml_config_t c = make_config(&lg);

    if (raw == NULL)
        return;
    s = schema_new(L);
    if (s == NULL)
        return; /* cannot happen in practice; leaks rather than crashes */
    cyaml_free(&c, &s->root, raw, 0);
    schema_free(s);
}
