/*
 * config_pos.c - the libyaml pre-pass over a config file.
 *
 * libcyaml stops at the first error and keeps no positions, so before it runs
 * this pass walks the events once and:
 *   - reports YAML syntax errors with line and column;
 *   - refuses aliases and anchors, a second document and over-deep nesting;
 *   - records the position of every key and sequence entry by key path
 *     ("autocert.extra[1].key_path"; sequence indexes are 1-based) so that
 *     semantic errors can be positioned later;
 *   - reports a key written twice in one mapping at the second one (libcyaml
 *     would report it at the event before), naming the first;
 *   (those two not in the loader's quick first pass, L->quick: a file that
 *   makes any diag is loaded again with them, config_load.c load_lazy)
 *   - reports every unknown key inside our sections, with a did-you-mean;
 *   - blanks foreign top-level sections of a GoDoxy config.yml (entrypoint,
 *     providers ...) in place, byte for byte with spaces and keeping newlines,
 *     so libcyaml never sees them and every other position stays the same. One
 *     warning names them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"
#include "config_internal.h"
#include "words.h"

#define PATH_MAX_LEN 256
#define KEY_MAX_LEN 128

enum ctx {
    CTX_NONE = 0,
    CTX_ROOT,
    CTX_SET,
    CTX_EXTRA,
    CTX_EXTRA_SEQ,
    CTX_LIMITS_SEQ,
    CTX_LIMIT,
    CTX_OPTIONS,
    CTX_ADMIN,
    CTX_SERVE,
    CTX_HOOKS,
    CTX_NOTIFY,
    CTX_STORE,
};

struct frame {
    bool is_map;
    bool want_key;
    bool foreign; /* inside a blanked top-level section */
    enum ctx ctx;
    unsigned index; /* sequence entries seen */
    char path[PATH_MAX_LEN];
    char key[KEY_MAX_LEN];
};

static const char *const root_keys[] = {"autocert", "admin", "serve", "hooks",
                                        "notify",   "store", NULL};
/* clang-format off */
static const char *const set_keys[] = {
    "provider", "email", "domains", "cert_path", "key_path", "acme_key_path", "ca_dir_url",
    "ca_certs", "eab_kid", "eab_hmac", "certificate_key_type", "resolvers", "options",
    "profile", "renew_before", "order_timeout", "retry_min", "retry_max", "failure_cooldown",
    "challenge", "preferred_chain", "ocsp_stapling", "extra", "max_concurrent_orders",
    "acme_limits", NULL};
/* clang-format on */
static const char *const limit_keys[] = {"ca_dir_url", "orders_per_3h", "new_certs_per_domain_week",
                                         NULL};
static const char *const admin_keys[] = {"listen", "token", "metrics_per_set", NULL};
static const char *const serve_keys[] = {"listen", "http_listen", "https_port", NULL};
static const char *const hooks_keys[] = {"deploy", NULL};
static const char *const notify_keys[] = {"webhook", "headers", NULL};
static const char *const store_keys[] = {"url", "encryption_key", "lease_ttl", "node_id", NULL};

struct pass {
    struct cfg_loader *L;
    char *text;
    size_t len;
    struct frame stack[CFG_MAX_DEPTH];
    size_t depth;
    size_t foreign_start;  /* byte index of the foreign key being skipped */
    struct ac_buf foreign; /* names of the foreign sections */
    int foreign_line, foreign_col;
    bool has_content;
    bool root_seen;
    size_t *keys;            /* hash set of key paths: L->pos index + 1, 0 = free */
    size_t keys_cap, keys_n; /* keys_cap a power of two */
};

static bool in_list(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

static enum ctx child_ctx(enum ctx parent, const char *key)
{
    switch (parent) {
    case CTX_ROOT:
        if (strcmp(key, "autocert") == 0)
            return CTX_SET;
        if (strcmp(key, "admin") == 0)
            return CTX_ADMIN;
        if (strcmp(key, "serve") == 0)
            return CTX_SERVE;
        if (strcmp(key, "hooks") == 0)
            return CTX_HOOKS;
        if (strcmp(key, "notify") == 0)
            return CTX_NOTIFY;
        if (strcmp(key, "store") == 0)
            return CTX_STORE;
        return CTX_NONE;
    case CTX_SET:
        if (strcmp(key, "extra") == 0)
            return CTX_EXTRA_SEQ;
        if (strcmp(key, "acme_limits") == 0)
            return CTX_LIMITS_SEQ;
        /* fall through */
    case CTX_EXTRA:
        if (strcmp(key, "options") == 0)
            return CTX_OPTIONS;
        return CTX_NONE;
    default:
        return CTX_NONE;
    }
}

static void blank(struct pass *p, size_t from, size_t to)
{
    if (to > p->len)
        to = p->len;
    for (size_t i = from; i < to; i++)
        if (p->text[i] != '\n' && p->text[i] != '\r')
            p->text[i] = ' ';
}

/* Reports an unknown key in a known section. */
static void check_key(struct pass *p, const struct frame *f, const char *key, const char *path)
{
    const char *const *keys = NULL;
    const char *hint;
    const char *what = "key";

    switch (f->ctx) {
    case CTX_SET:
        keys = set_keys;
        break;
    case CTX_EXTRA:
        if (strcmp(key, "extra") == 0) {
            cfg_diag(p->L, false, path,
                     "an extra cannot have its own 'extra': list every set under autocert.extra");
            return;
        }
        if (strcmp(key, "max_concurrent_orders") == 0 || strcmp(key, "acme_limits") == 0) {
            cfg_diag(p->L, false, path,
                     "'%s' is engine-wide: set it under autocert, not in an extra", key);
            return;
        }
        keys = set_keys;
        break;
    case CTX_LIMIT:
        keys = limit_keys;
        break;
    case CTX_ADMIN:
        keys = admin_keys;
        break;
    case CTX_SERVE:
        keys = serve_keys;
        break;
    case CTX_HOOKS:
        keys = hooks_keys;
        break;
    case CTX_NOTIFY:
        keys = notify_keys;
        break;
    case CTX_STORE:
        keys = store_keys;
        break;
    case CTX_OPTIONS:
        if (cfg_option_index(p->L, key) >= 0)
            return;
        hint = ac_suggest(key, p->L->opt_keys, p->L->opt_count);
        if (hint != NULL)
            cfg_diag(p->L, false, path, "unknown DNS provider option '%s' (did you mean '%s'?)",
                     key, hint);
        else
            cfg_diag(p->L, false, path,
                     "unknown DNS provider option '%s': no DNS provider takes it", key);
        return;
    default:
        return;
    }
    if (in_list(keys, key))
        return;
    hint = ac_suggest(key, keys, 0);
    if (hint != NULL)
        cfg_diag(p->L, false, path, "unknown %s '%s' (did you mean '%s'?)", what, key, hint);
    else
        cfg_diag(p->L, false, path, "unknown %s '%s': remove it", what, key);
}

static size_t path_hash(const char *s)
{
    size_t h = 1469598103934665603u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The L->pos index of key path `path` recorded earlier, or -1. */
static long key_find(const struct pass *p, const char *path)
{
    if (p->keys_cap == 0)
        return -1;
    for (size_t i = path_hash(path) & (p->keys_cap - 1);; i = (i + 1) & (p->keys_cap - 1)) {
        if (p->keys[i] == 0)
            return -1;
        if (strcmp(p->L->pos[p->keys[i] - 1].path, path) == 0)
            return (long)(p->keys[i] - 1);
    }
}

static void key_insert(size_t *keys, size_t cap, const char *path, size_t idx)
{
    size_t i = path_hash(path) & (cap - 1);

    while (keys[i] != 0)
        i = (i + 1) & (cap - 1);
    keys[i] = idx + 1;
}

/* Adds L->pos[idx] (a key) to the set. -1 on ENOMEM. */
static int key_add(struct pass *p, size_t idx)
{
    if (2 * (p->keys_n + 1) > p->keys_cap) {
        size_t cap = p->keys_cap ? p->keys_cap * 2 : 256;
        size_t *n = calloc(cap, sizeof *n);

        if (n == NULL)
            return -1;
        for (size_t i = 0; i < p->keys_cap; i++)
            if (p->keys[i] != 0)
                key_insert(n, cap, p->L->pos[p->keys[i] - 1].path, p->keys[i] - 1);
        free(p->keys);
        p->keys = n;
        p->keys_cap = cap;
    }
    key_insert(p->keys, p->keys_cap, p->L->pos[idx].path, idx);
    p->keys_n++;
    return 0;
}

/* out = a, or a + sep + b when sep is not '\0' and a is not empty, cut to
 * n - 1 bytes (snprintf's result, without its cost: this runs for every key
 * of a 100,000-set file). */
static void path_cat(char *out, size_t n, const char *a, char sep, const char *b)
{
    size_t la = strnlen(a, n - 1), lb;

    memmove(out, a, la);
    if (sep != '\0' && la > 0 && la < n - 1)
        out[la++] = sep;
    if (b != NULL) {
        lb = strnlen(b, n - 1 - la);
        memmove(out + la, b, lb);
        la += lb;
    }
    out[la] = '\0';
}

static void join_path(char *out, const char *parent, const char *key)
{
    path_cat(out, PATH_MAX_LEN, parent, '.', key);
}

/* A key scalar in the mapping at the top of the stack. */
static int on_key(struct pass *p, const yaml_event_t *ev)
{
    struct frame *f = &p->stack[p->depth - 1];
    const char *key = (const char *)ev->data.scalar.value;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    char path[PATH_MAX_LEN];
    long first;

    path_cat(f->key, sizeof f->key, key, '\0', NULL);
    f->want_key = false;
    if (f->foreign)
        return 0;
    join_path(path, f->path, f->key);
    if (f->ctx == CTX_ROOT) {
        if (!in_list(root_keys, key)) {
            if (p->foreign.len == 0) {
                p->foreign_line = line;
                p->foreign_col = col;
            } else if (ac_buf_appends(&p->foreign, ", ") != 0) {
                return -1;
            }
            if (ac_buf_appends(&p->foreign, f->key) != 0)
                return -1;
            p->foreign_start = ev->start_mark.index;
            f->foreign = true; /* until the value ends */
            return 0;
        }
        p->has_content = true;
    }
    if (p->L->quick) { /* no positions: a diag makes the loader start over */
        check_key(p, f, key, path);
        return 0;
    }
    first = key_find(p, path);
    if (first >= 0) {
        cfg_diag_at(p->L, false, line, col, path,
                    "duplicate key '%s' (first at line %d, column %d): keep one", key,
                    p->L->pos[first].line, p->L->pos[first].column);
        return 0;
    }
    if (cfg_pos_add(p->L, path, line, col) != 0 || key_add(p, p->L->pos_count - 1) != 0)
        return -1;
    check_key(p, f, key, path);
    return 0;
}

/* The end of a value in the frame at the top (a scalar, or a popped node). */
static void value_done(struct pass *p, size_t end_index)
{
    struct frame *f;

    if (p->depth == 0)
        return;
    f = &p->stack[p->depth - 1];
    if (!f->is_map)
        return;
    if (f->ctx == CTX_ROOT && f->foreign) {
        blank(p, p->foreign_start, end_index);
        f->foreign = false;
    }
    f->want_key = true;
}

/* A value starts (scalar or collection): compute its path and context. */
static int on_value_start(struct pass *p, const yaml_event_t *ev, char *path, enum ctx *ctx,
                          bool *foreign)
{
    struct frame *f;

    path[0] = '\0';
    *ctx = CTX_NONE;
    *foreign = false;
    if (p->depth == 0) {
        *ctx = CTX_ROOT;
        return 0;
    }
    f = &p->stack[p->depth - 1];
    *foreign = f->foreign;
    if (f->is_map) {
        join_path(path, f->path, f->key);
        *ctx = f->foreign ? CTX_NONE : child_ctx(f->ctx, f->key);
        return 0;
    }
    f->index++;
    snprintf(path, PATH_MAX_LEN, "%s[%u]", f->path, f->index);
    *ctx = f->ctx == CTX_EXTRA_SEQ ? CTX_EXTRA : f->ctx == CTX_LIMITS_SEQ ? CTX_LIMIT : CTX_NONE;
    if (f->foreign || p->L->quick)
        return 0;
    return cfg_pos_add(p->L, path, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1);
}

static int push(struct pass *p, const yaml_event_t *ev, bool is_map)
{
    char path[PATH_MAX_LEN];
    enum ctx ctx;
    bool foreign;
    struct frame *f;

    if (p->depth >= CFG_MAX_DEPTH) {
        cfg_diag_at(p->L, false, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, NULL,
                    "nesting deeper than %d levels", CFG_MAX_DEPTH);
        return -1;
    }
    if (on_value_start(p, ev, path, &ctx, &foreign) != 0)
        return -1;
    if (p->depth == 0) {
        p->root_seen = true;
        if (!is_map) {
            cfg_diag_at(p->L, false, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                        NULL, "the top level must be a mapping (autocert:, admin: ...)");
            return -1;
        }
    }
    f = &p->stack[p->depth++];
    memset(f, 0, sizeof *f);
    f->is_map = is_map;
    f->want_key = is_map;
    f->ctx = ctx;
    f->foreign = foreign;
    path_cat(f->path, sizeof f->path, path, '\0', NULL);
    return 0;
}

static int on_scalar(struct pass *p, const yaml_event_t *ev)
{
    char path[PATH_MAX_LEN];
    enum ctx ctx;
    bool foreign;

    if (p->depth > 0 && p->stack[p->depth - 1].is_map && p->stack[p->depth - 1].want_key)
        return on_key(p, ev);
    if (on_value_start(p, ev, path, &ctx, &foreign) != 0)
        return -1;
    if (p->depth == 0) {
        p->root_seen = true;
        if (ev->data.scalar.length > 0) {
            cfg_diag_at(p->L, false, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                        NULL, "the top level must be a mapping (autocert:, admin: ...)");
            return -1;
        }
        return 0;
    }
    value_done(p, ev->end_mark.index);
    return 0;
}

static bool has_anchor(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return ev->data.scalar.anchor != NULL;
    case YAML_SEQUENCE_START_EVENT:
        return ev->data.sequence_start.anchor != NULL;
    case YAML_MAPPING_START_EVENT:
        return ev->data.mapping_start.anchor != NULL;
    default:
        return false;
    }
}

/* Handles one event; 1 at stream end, 0 to go on, -1 on a fatal problem. */
static int on_event(struct pass *p, const yaml_event_t *ev, int *docs)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;

    if (ev->type == YAML_ALIAS_EVENT || has_anchor(ev)) {
        cfg_diag_at(p->L, false, line, col, NULL,
                    "YAML anchors and aliases are not allowed: write the value out");
        return -1;
    }
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            cfg_diag_at(p->L, false, line, col, NULL, "more than one YAML document: keep one");
            return -1;
        }
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(p, ev);
    case YAML_SEQUENCE_START_EVENT:
        return push(p, ev, false);
    case YAML_MAPPING_START_EVENT:
        if (p->depth > 0 && p->stack[p->depth - 1].is_map && p->stack[p->depth - 1].want_key) {
            cfg_diag_at(p->L, false, line, col, NULL, "a mapping key must be a plain string");
            return -1;
        }
        return push(p, ev, true);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (p->depth > 0)
            p->depth--;
        value_done(p, ev->end_mark.index);
        return 0;
    default:
        return 0;
    }
}

int cfg_prepass(struct cfg_loader *L, char *text, size_t len, bool *has_content)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct pass *p = NULL;
    int rc = -1, r, docs = 0;
    size_t errors_before = L->errors;

    *has_content = false;
    if (!yaml_parser_initialize(&parser)) {
        cfg_diag_at(L, false, 0, 0, NULL, "cannot initialise the YAML parser");
        return -1;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        cfg_diag_at(L, false, 0, 0, NULL, "out of memory");
        goto out;
    }
    p->L = L;
    p->text = text;
    p->len = len;
    ac_buf_init(&p->foreign, 4096);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            cfg_diag_at(L, false, (int)parser.problem_mark.line + 1,
                        (int)parser.problem_mark.column + 1, NULL, "YAML syntax error: %s%s%s",
                        parser.problem ? parser.problem : "unknown problem",
                        parser.context ? " " : "", parser.context ? parser.context : "");
            goto out;
        }
        r = on_event(p, &ev, &docs);
        yaml_event_delete(&ev);
        if (r < 0) {
            if (L->errors == errors_before)
                cfg_diag_at(L, false, 0, 0, NULL, "out of memory while reading the file");
            goto out;
        }
        if (r == 1)
            break;
    }
    if (p->foreign.len > 0)
        cfg_diag_at(L, true, p->foreign_line, p->foreign_col, NULL,
                    "ignoring top-level sections autocert does not use: %.*s", (int)p->foreign.len,
                    p->foreign.data);
    *has_content = p->has_content;
    rc = L->errors == errors_before ? 0 : -1;
out:
    if (p != NULL) {
        ac_buf_free(&p->foreign);
        free(p->keys);
    }
    free(p);
    yaml_parser_delete(&parser);
    return rc;
}
