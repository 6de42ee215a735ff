/*
 * manager_runtime.c - run-time sets (manager_runtime.h): deriving a set from
 * its YAML spec under main, adding and removing it atomically (one new
 * snapshot each), and re-deriving the run-time sets at a configuration
 * reload.
 *
 * The document handed to the configuration loader:
 *
 *     autocert:
 *       provider: "..."        main's effective settings, every value
 *       ...                    double-quoted ("${" written "$${")
 *       extra:
 *         -
 *           <spec, each line indented by 6>     <- line `spec_line`
 */
#include "manager_runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "crypto.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "timeutil.h"

#define SPEC_INDENT 6
#define DOC_MAX (8 * 1024 * 1024) /* the loader refuses more than 1 MiB itself */
#define EXTRA_PATH "autocert.extra[1]"
#define EXTRA_NAME "extra[1]"

/* ---- names ---- */

int manager_runtime_name_check(const char *name, struct ac_error *e)
{
    size_t n = name != NULL ? strlen(name) : 0;
    const char *p;

    if (n == 0 || n > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n ||
        strchr("._-", name[0]) != NULL) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "a run-time set name is 1 to 63 characters of a-z, 0-9, '.', '_', '-', "
                     "starting with a letter or digit");
        return -1;
    }
    p = name + 5;
    if (strcmp(name, "main") == 0 ||
        (strncmp(name, "extra", 5) == 0 && *p != '\0' && strspn(p, "0123456789") == strlen(p))) {
        ac_error_set(e, AC_ERR_CONFIG, "'%s' is reserved for the sets of the configuration file",
                     name);
        return -1;
    }
    return 0;
}

/* ---- the document ---- */

/* A YAML double-quoted scalar; "${" becomes "$${" (the value is effective:
 * already expanded). */
static void quoted(struct ac_buf *b, const char *v)
{
    ac_buf_appends(b, "\"");
    for (const char *c = v != NULL ? v : ""; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;

        if (u == '"' || u == '\\')
            ac_buf_printf(b, "\\%c", u);
        else if (u < 0x20 || u == 0x7f)
            ac_buf_printf(b, "\\x%02x", u);
        else if (u == '$' && c[1] == '{')
            ac_buf_appends(b, "$$");
        else
            ac_buf_append(b, c, 1);
    }
    ac_buf_appends(b, "\"");
}

static void kv(struct ac_buf *b, const char *key, const char *v)
{
    if (v == NULL)
        return;
    ac_buf_printf(b, "  %s: ", key);
    quoted(b, v);
    ac_buf_appends(b, "\n");
}

static void kv_list(struct ac_buf *b, const char *key, char *const *v, size_t n)
{
    if (n == 0)
        return;
    ac_buf_printf(b, "  %s: [", key);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ac_buf_appends(b, ", ");
        quoted(b, v[i]);
    }
    ac_buf_appends(b, "]\n");
}

static void kv_secs(struct ac_buf *b, const char *key, int64_t secs)
{
    ac_buf_printf(b, "  %s: \"%llds\"\n", key, (long long)secs);
}

/* main's effective settings, then the spec as the one extra. Returns 0 with
 * the line of the spec's first line in *spec_line, or -1 (ENOMEM, too big). */
static int render(struct ac_buf *b, const struct config_set *s, const char *spec, size_t len,
                  int *spec_line)
{
    int lines = 0;

    ac_buf_appends(b, "autocert:\n");
    kv(b, "provider", s->provider);
    kv(b, "email", s->email);
    kv_list(b, "domains", s->domains, s->domains_count);
    kv(b, "cert_path", s->cert_path);
    kv(b, "key_path", s->key_path);
    kv(b, "acme_key_path", s->acme_key_path);
    kv(b, "ca_dir_url", s->ca_dir_url);
    kv_list(b, "ca_certs", s->ca_certs, s->ca_certs_count);
    kv(b, "eab_kid", s->eab_kid);
    kv(b, "eab_hmac", s->eab_hmac);
    kv(b, "certificate_key_type", crypto_key_type_name(s->key_type));
    kv_list(b, "resolvers", s->resolvers, s->resolvers_count);
    if (s->options_count > 0) {
        ac_buf_appends(b, "  options:\n");
        for (size_t i = 0; i < s->options_count; i++) {
            ac_buf_printf(b, "    %s: ", s->options[i].key);
            quoted(b, s->options[i].value);
            ac_buf_appends(b, "\n");
        }
    }
    kv(b, "profile", s->profile);
    kv(b, "preferred_chain", s->preferred_chain);
    if (s->renew_before > 0)
        kv_secs(b, "renew_before", s->renew_before);
    kv_secs(b, "order_timeout", s->order_timeout);
    kv_secs(b, "retry_min", s->retry_min);
    kv_secs(b, "retry_max", s->retry_max);
    kv_secs(b, "failure_cooldown", s->failure_cooldown);
    kv(b, "challenge", s->challenge);
    ac_buf_appends(b, "  extra:\n    -\n");
    for (size_t i = 0; b->data != NULL && i < b->len; i++)
        lines += b->data[i] == '\n';
    *spec_line = lines + 1;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(spec + i, '\n', len - i);
        size_t l = nl != NULL ? (size_t)(nl - (spec + i)) : len - i;

        ac_buf_printf(b, "%*s", SPEC_INDENT, "");
        if (ac_buf_append(b, spec + i, l) != 0 || ac_buf_appends(b, "\n") != 0)
            return -1;
        i += l + 1;
    }
    return b->data != NULL ? 0 : -1;
}

/* ---- diagnostics ---- */

/* s with every EXTRA_NAME replaced by name: a new string or NULL. */
static char *rename_text(const char *s, const char *name)
{
    struct ac_buf b;
    const char *p;

    ac_buf_init(&b, 4 * strlen(s) + 4096);
    while ((p = strstr(s, EXTRA_NAME)) != NULL) {
        ac_buf_append(&b, s, (size_t)(p - s));
        ac_buf_appends(&b, name);
        s = p + strlen(EXTRA_NAME);
    }
    ac_buf_appends(&b, s);
    return ac_buf_steal(&b, NULL);
}

/* Appends the diagnostics of the document, moved into the spec, to out.
 * Returns the number of errors. */
static size_t map_diags(const struct config_diags *in, const char *name, int spec_line,
                        struct config_diags *out)
{
    size_t errors = 0;

    for (size_t i = 0; i < in->count; i++) {
        const struct config_diag *d = &in->items[i];
        const char *kp = d->key_path;
        bool in_spec = d->line >= spec_line ||
                       (kp != NULL && strncmp(kp, EXTRA_PATH, strlen(EXTRA_PATH)) == 0);
        struct config_diag *v, *it;

        if (!in_spec && d->warning)
            continue; /* about main: reported when the file was loaded */
        errors += !d->warning;
        if (out == NULL)
            continue;
        v = realloc(out->items, (out->count + 1) * sizeof *v);
        if (v == NULL)
            continue;
        out->items = v;
        it = &out->items[out->count];
        memset(it, 0, sizeof *it);
        it->warning = d->warning;
        it->file = strdup(name);
        if (kp != NULL && strncmp(kp, EXTRA_PATH, strlen(EXTRA_PATH)) == 0) {
            kp += strlen(EXTRA_PATH);
            kp += *kp == '.';
            it->key_path = *kp != '\0' ? strdup(kp) : NULL;
        } else if (kp != NULL) {
            it->key_path = strdup(kp);
        }
        if (d->line >= spec_line) {
            it->line = d->line - spec_line + 1;
            it->column = d->column > SPEC_INDENT ? d->column - SPEC_INDENT : 1;
        }
        it->message = rename_text(d->message != NULL ? d->message : "", name);
        if (it->file == NULL || it->message == NULL) {
            free(it->file);
            free(it->key_path);
            free(it->message);
            continue;
        }
        out->count++;
    }
    return errors;
}

int manager_runtime_derive(const struct config_set *main_set, const char *name, const char *spec,
                           size_t len, struct config_set *out, struct config_diags *diags,
                           struct ac_error *e)
{
    struct config_diags d = {0}, mine = {0};
    struct config_diags *sink = diags != NULL ? diags : &mine;
    struct config *cfg = NULL;
    struct ac_buf b;
    char *doc = NULL;
    size_t doc_len = 0, before = sink->count;
    int spec_line = 0, rc = -1;

    memset(out, 0, sizeof *out);
    if (manager_runtime_name_check(name, e) != 0)
        return -1;
    if (spec == NULL || len > MANAGER_SPEC_MAX || memchr(spec, '\0', len) != NULL) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "set %s: the YAML spec is missing, holds a NUL byte or "
                     "is over 64 KiB",
                     name);
        return -1;
    }
    ac_buf_init(&b, DOC_MAX);
    if (render(&b, main_set, spec, len, &spec_line) != 0 ||
        (doc = ac_buf_steal(&b, &doc_len)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "set %s: out of memory", name);
        goto out;
    }
    if (config_load_mem(name, doc, doc_len, &cfg, &d) != 0 || cfg->sets_count != 2) {
        size_t n = map_diags(&d, name, spec_line, sink);
        char first[AUTOCERT_ERROR_MESSAGE_MAX] = "";

        for (size_t i = before; i < sink->count && first[0] == '\0'; i++)
            if (!sink->items[i].warning)
                config_diag_format(&sink->items[i], first, sizeof first);
        if (n > 1)
            ac_error_set(e, AC_ERR_CONFIG, "%s (and %zu more errors)", first, n - 1);
        else
            ac_error_set(e, AC_ERR_CONFIG, "%s", first[0] ? first : "the YAML spec is invalid");
        goto out;
    }
    (void)map_diags(&d, name, spec_line, sink); /* warnings */
    if (config_set_dup(out, &cfg->sets[1]) != 0 || config_set_dup_register(out) != 0) {
        config_set_dup_free(out);
        memset(out, 0, sizeof *out);
        ac_error_set(e, AC_ERR_NOMEM, "set %s: out of memory", name);
        goto out;
    }
    free(out->name);
    if ((out->name = strdup(name)) == NULL) {
        config_set_dup_free(out);
        memset(out, 0, sizeof *out);
        ac_error_set(e, AC_ERR_NOMEM, "set %s: out of memory", name);
        goto out;
    }
    rc = 0;
out:
    if (doc != NULL) {
        memset(doc, 0, doc_len);
        free(doc);
    }
    if (b.data != NULL)
        memset(b.data, 0, b.len);
    ac_buf_free(&b);
    config_free(cfg);
    config_diags_free(&d);
    config_diags_free(&mine);
    return rc;
}

/* ---- the manager's array ---- */

/* First position of the run-time sets. write_lock held. */
static size_t rt_first(const autocert_manager *m)
{
    return m->cfg->sets_count < m->count ? m->cfg->sets_count : m->count;
}

/* Where name is (found: *at its position, returns true) or would go among
 * the run-time sets of v[first..n). */
static bool rt_search(struct acset *const *v, size_t first, size_t n, const char *name, size_t *at)
{
    size_t lo = first, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid]->cfg.name, name);

        if (c == 0) {
            *at = mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return false;
}

/* The set among v[0..n) whose cert_path or key_path is one of c's, or NULL;
 * *what names c's field. */
static const struct acset *path_clash(struct acset *const *v, size_t n, const struct config_set *c,
                                      const char **what, const char **theirs)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_set *o = &v[i]->cfg;
        const char *mine[2] = {c->cert_path, c->key_path};
        const char *other[2] = {o->cert_path, o->key_path};

        for (int a = 0; a < 2; a++)
            for (int k = 0; k < 2; k++)
                if (strcmp(mine[a], other[k]) == 0) {
                    *what = a == 0 ? "cert_path" : "key_path";
                    *theirs = k == 0 ? "cert_path" : "key_path";
                    return v[i];
                }
    }
    return NULL;
}

/* A new run-time set from its derived configuration c: spec copied, secrets
 * registered, engine record and certificate read from disk. write_lock
 * held. */
static int rt_make(autocert_manager *m, const struct config_set *c, const char *spec, size_t len,
                   struct acset **out, struct ac_error *e)
{
    struct acset *s = NULL;

    *out = NULL;
    if (acset_new(c, &s, e) != 0)
        return -1;
    s->runtime = true;
    s->spec = malloc(len + 1);
    if (s->spec == NULL || acset_keep_secrets(s) != 0) {
        acset_unref(s);
        ac_error_set(e, AC_ERR_NOMEM, "set %s: out of memory", c->name);
        return -1;
    }
    memcpy(s->spec, spec, len);
    s->spec[len] = '\0';
    s->spec_len = len;
    lc_set_init(s, ac_now());
    (void)manager_refresh_locked(m, s, true, NULL); /* logged */
    *out = s;
    return 0;
}

/* Makes v[0..n) the manager's array and publishes it. Returns 0, or -1 (the
 * old array stays; v is the caller's). write_lock held. */
static int swap_publish(autocert_manager *m, struct acset **v, size_t n, struct acset ***old,
                        size_t *nold)
{
    *old = m->sets;
    *nold = m->count;
    m->sets = v;
    m->count = n;
    if (manager_snap_publish(m) == 0)
        return 0;
    m->sets = *old;
    m->count = *nold;
    *old = NULL;
    *nold = 0;
    return -1;
}

int manager_add_set(autocert_manager *m, const char *name, const char *spec, size_t len,
                    struct config_diags *diags, struct ac_error *e)
{
    struct config_set c;
    struct acset *s = NULL, **v = NULL, **old = NULL;
    const struct acset *clash;
    const char *what = NULL, *theirs = NULL;
    bool *changed = NULL, locked = false;
    size_t at = 0, n = 0, nold = 0;
    int rc = -1;

    memset(&c, 0, sizeof c);
    pthread_mutex_lock(&m->write_lock);
    locked = true;
    if (manager_runtime_derive(&m->cfg->sets[0], name, spec, len, &c, diags, e) != 0)
        goto out;
    if (rt_search(m->sets, rt_first(m), m->count, name, &at)) {
        ac_error_set(e, AC_ERR_CONFIG, "a run-time set named %s exists: remove it first", name);
        goto out;
    }
    clash = path_clash(m->sets, m->count, &c, &what, &theirs);
    if (clash != NULL) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "set %s: %s %s is also the %s of %s: every cert_path and key_path must be "
                     "distinct",
                     name, what, what[0] == 'c' ? c.cert_path : c.key_path, theirs,
                     clash->cfg.name);
        goto out;
    }
    n = m->count + 1;
    v = calloc(n + 1, sizeof *v);
    changed = calloc(n + 1, sizeof *changed);
    if (v == NULL || changed == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "set %s: out of memory", name);
        goto out;
    }
    if (rt_make(m, &c, spec, len, &s, e) != 0)
        goto out;
    for (size_t i = 0, k = 0; i < n; i++)
        v[i] = i == at ? acset_ref(s) : acset_ref(m->sets[k++]);
    if (swap_publish(m, v, n, &old, &nold) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "set %s: cannot publish: out of memory", name);
        goto out;
    }
    v = NULL;
    lc_sets_replaced(m->engine, NULL, 0, &s, 1); /* wakes the scheduler */
    pthread_mutex_unlock(&m->write_lock);
    locked = false;
    ac_info(name, "run-time set added (%zu domain(s), provider %s)", c.domains_count, c.provider);
    changed[at] = true;
    manager_notify(m, changed, n);
    rc = 0;
out:
    if (locked)
        pthread_mutex_unlock(&m->write_lock);
    manager_sets_free(v, v != NULL ? n : 0);
    manager_sets_free(old, nold);
    acset_unref(s);
    config_set_dup_free(&c);
    free(changed);
    return rc;
}

int manager_remove_set(autocert_manager *m, const char *name, struct ac_error *e)
{
    struct acset *s = NULL, **v = NULL, **old = NULL;
    bool *changed = NULL;
    size_t at = 0, n = 0, nold = 0;
    int rc = -1;

    pthread_mutex_lock(&m->write_lock);
    if (name == NULL || !rt_search(m->sets, rt_first(m), m->count, name, &at)) {
        size_t yaml = rt_first(m);
        bool from_file = false;

        for (size_t i = 0; name != NULL && i < yaml && !from_file; i++)
            from_file = strcmp(m->sets[i]->cfg.name, name) == 0;
        if (from_file)
            ac_error_set(e, AC_ERR_CONFIG,
                         "%s comes from the configuration file: remove it there and reload", name);
        else
            ac_error_set(e, AC_ERR_NO_MATCH, "no run-time set named %s",
                         name != NULL ? name : "(null)");
        goto out;
    }
    n = m->count - 1;
    v = calloc(n + 1, sizeof *v);
    changed = calloc(n + 1, sizeof *changed);
    if (v == NULL || changed == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "remove %s: out of memory", name);
        goto out;
    }
    s = acset_ref(m->sets[at]);
    for (size_t i = 0, k = 0; i < m->count; i++)
        if (i != at)
            v[k++] = acset_ref(m->sets[i]);
    if (swap_publish(m, v, n, &old, &nold) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "remove %s: cannot publish: out of memory", name);
        goto out;
    }
    v = NULL;
    /* out of the queue, forced renewals answered, then its order stopped */
    lc_sets_replaced(m->engine, &s, 1, m->sets, m->count);
    atomic_store(&s->cancel, true);
    changed[0] = true; /* a set went: the CHANGED event */
    rc = 0;
out:
    pthread_mutex_unlock(&m->write_lock);
    if (rc == 0) {
        ac_info(name, "run-time set removed (its files stay on disk)");
        manager_notify(m, changed, n);
    }
    manager_sets_free(v, v != NULL ? n : 0);
    manager_sets_free(old, nold);
    acset_unref(s);
    free(changed);
    return rc;
}

/* ---- configuration reload ---- */

/* FNV-1a of a string. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* An open-addressing table of the YAML sets' paths: slot -> "set index * 2 +
 * (key_path ? 1 : 0)" + 1, 0 = empty. */
struct pathtab {
    size_t *slot;
    size_t mask;
};

static const char *tab_path(const struct config *cfg, size_t v)
{
    const struct config_set *s = &cfg->sets[(v - 1) / 2];

    return (v - 1) % 2 ? s->key_path : s->cert_path;
}

static int tab_build(struct pathtab *t, const struct config *cfg)
{
    size_t want = 4 * cfg->sets_count + 8, size = 16;

    while (size < want)
        size *= 2;
    t->slot = calloc(size, sizeof *t->slot);
    t->mask = size - 1;
    if (t->slot == NULL)
        return -1;
    for (size_t v = 1; v <= 2 * cfg->sets_count; v++) {
        size_t h = (size_t)hash_str(tab_path(cfg, v)) & t->mask;

        while (t->slot[h] != 0)
            h = (h + 1) & t->mask;
        t->slot[h] = v;
    }
    return 0;
}

/* The YAML set (and its field) holding path, or NULL. */
static const struct config_set *tab_find(const struct pathtab *t, const struct config *cfg,
                                         const char *path, const char **field)
{
    for (size_t h = (size_t)hash_str(path) & t->mask; t->slot[h] != 0; h = (h + 1) & t->mask)
        if (strcmp(tab_path(cfg, t->slot[h]), path) == 0) {
            *field = (t->slot[h] - 1) % 2 ? "key_path" : "cert_path";
            return &cfg->sets[(t->slot[h] - 1) / 2];
        }
    return NULL;
}

int manager_runtime_reapply_locked(autocert_manager *m, const struct config *cfg,
                                   struct acset ***out, bool **changed_out, size_t *n_out,
                                   struct ac_error *e)
{
    size_t first = rt_first(m), n = m->count - first;
    struct acset **v = calloc(n + 1, sizeof *v);
    bool *changed = calloc(n + 1, sizeof *changed);
    struct pathtab t = {0};
    struct config_set c;
    int rc = -1;

    *out = NULL;
    *changed_out = NULL;
    *n_out = 0;
    memset(&c, 0, sizeof c);
    if (v == NULL || changed == NULL || (n > 0 && tab_build(&t, cfg) != 0)) {
        ac_error_set(e, AC_ERR_NOMEM, "reload: out of memory");
        n = 0;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct acset *o = m->sets[first + i];
        const struct config_set *clash;
        const char *field = NULL;

        if (manager_runtime_derive(&cfg->sets[0], o->cfg.name, o->spec, o->spec_len, &c, NULL, e) !=
            0) {
            char msg[sizeof e->message];

            snprintf(msg, sizeof msg, "%s", e->message);
            ac_error_set(e, AC_ERR_CONFIG, "run-time set %s does not fit the new configuration: %s",
                         o->cfg.name, msg);
            goto fail;
        }
        clash = tab_find(&t, cfg, c.cert_path, &field);
        if (clash == NULL)
            clash = tab_find(&t, cfg, c.key_path, &field);
        if (clash != NULL) {
            ac_error_set(e, AC_ERR_CONFIG,
                         "run-time set %s uses the %s of %s (%s): every cert_path and key_path "
                         "must be distinct; remove the run-time set first",
                         o->cfg.name, field, clash->name,
                         strcmp(field, "cert_path") == 0 ? clash->cert_path : clash->key_path);
            goto fail;
        }
        if (config_set_equal(&c, &o->cfg)) {
            v[i] = acset_ref(o);
        } else if (rt_make(m, &c, o->spec, o->spec_len, &v[i], e) != 0) {
            goto fail;
        } else {
            changed[i] = true;
        }
        config_set_dup_free(&c);
        memset(&c, 0, sizeof c);
    }
    *out = v;
    *changed_out = changed;
    *n_out = n;
    v = NULL;
    changed = NULL;
    rc = 0;
    goto out;
fail:
    config_set_dup_free(&c);
out:
    manager_sets_free(v, n);
    free(changed);
    free(t.slot);
    return rc;
}
