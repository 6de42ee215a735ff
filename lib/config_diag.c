/*
 * config_diag.c - diagnostics of the config loader: key positions recorded by
 * the pre-pass, positioned diags, small helpers (did-you-mean is lib/words.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "textsafe.h"

/* --- helpers --- */

char *cfg_strdup(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

/* --- positions and diagnostics --- */

static size_t pos_hash(const char *s)
{
    size_t h = 14695981039346656037u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void pos_ix_insert(size_t *ix, size_t cap, const char *path, size_t idx)
{
    size_t i = pos_hash(path) & (cap - 1);

    while (ix[i] != 0)
        i = (i + 1) & (cap - 1);
    ix[i] = idx + 1;
}

/* Indexes L->pos[idx] by its path (positions are looked up by path for every
 * diagnostic: a hash keeps 100,000 sets' diagnostics linear). -1 on ENOMEM. */
static int pos_ix_add(struct cfg_loader *L, size_t idx)
{
    if (2 * (idx + 1) >= L->pos_ix_cap) {
        size_t cap = L->pos_ix_cap ? L->pos_ix_cap * 2 : 256;
        size_t *n = calloc(cap, sizeof *n);

        if (n == NULL)
            return -1;
        for (size_t i = 0; i < idx; i++) /* insertion order: the first of a path wins */
            pos_ix_insert(n, cap, L->pos[i].path, i);
        free(L->pos_ix);
        L->pos_ix = n;
        L->pos_ix_cap = cap;
    }
    pos_ix_insert(L->pos_ix, L->pos_ix_cap, L->pos[idx].path, idx);
    return 0;
}

int cfg_pos_add(struct cfg_loader *L, const char *path, int line, int column)
{
    struct cfg_pos *n;

    if (L->pos_count == L->pos_cap) {
        size_t cap = L->pos_cap ? L->pos_cap * 2 : 64;

        n = realloc(L->pos, cap * sizeof *n);
        if (n == NULL)
            return -1;
        L->pos = n;
        L->pos_cap = cap;
    }
    n = &L->pos[L->pos_count];
    n->path = strdup(path);
    if (n->path == NULL)
        return -1;
    n->line = line;
    n->column = column;
    if (pos_ix_add(L, L->pos_count) != 0) {
        free(n->path);
        return -1;
    }
    L->pos_count++;
    return 0;
}

/* The first recorded position of exactly path, or NULL. */
static const struct cfg_pos *pos_find(const struct cfg_loader *L, const char *path)
{
    if (L->pos_ix_cap == 0)
        return NULL;
    for (size_t i = pos_hash(path) & (L->pos_ix_cap - 1);; i = (i + 1) & (L->pos_ix_cap - 1)) {
        if (L->pos_ix[i] == 0)
            return NULL;
        if (strcmp(L->pos[L->pos_ix[i] - 1].path, path) == 0)
            return &L->pos[L->pos_ix[i] - 1];
    }
}

/* The recorded position of path or its nearest parent; false when none. */
static bool cfg_pos_lookup(const struct cfg_loader *L, const char *path, int *line, int *column)
{
    char buf[256];
    const struct cfg_pos *f;
    size_t n;

    if (path == NULL)
        return false;
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        if ((f = pos_find(L, buf)) != NULL) {
            *line = f->line;
            *column = f->column;
            return true;
        }
        n = strlen(buf);
        while (n > 0 && buf[n - 1] != '.' && buf[n - 1] != '[')
            n--;
        if (n == 0)
            return false;
        buf[n - 1] = '\0';
    }
}

static void diag_add(struct cfg_loader *L, bool warning, int line, int column, const char *path,
                     const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void diag_add(struct cfg_loader *L, bool warning, int line, int column, const char *path,
                     const char *fmt, va_list ap)
{
    struct config_diags *d = L->diags;
    struct config_diag *items, *it;
    char raw[1024], msg[1024];
    int n;

    if (!warning)
        L->errors++;
    items = realloc(d->items, (d->count + 1) * sizeof *items);
    if (items == NULL)
        return;
    d->items = items;
    it = &items[d->count];
    memset(it, 0, sizeof *it);
    /* Values quoted from the file reach a terminal: escape what they hold. */
    n = vsnprintf(raw, sizeof raw, fmt, ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof raw)
        n = (int)sizeof raw - 1;
    ac_text_sanitize(msg, sizeof msg, raw, (size_t)n);
    it->file = cfg_strdup(L->file);
    it->key_path = cfg_strdup(path);
    it->message = strdup(msg);
    it->line = line;
    it->column = column;
    it->warning = warning;
    d->count++;
}

void cfg_diag_at(struct cfg_loader *L, bool warning, int line, int column, const char *path,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_add(L, warning, line, column, path, fmt, ap);
    va_end(ap);
}

void cfg_diag(struct cfg_loader *L, bool warning, const char *path, const char *fmt, ...)
{
    va_list ap;
    int line = 0, column = 0;

    cfg_pos_lookup(L, path, &line, &column);
    va_start(ap, fmt);
    diag_add(L, warning, line, column, path, fmt, ap);
    va_end(ap);
}

void config_diags_free(struct config_diags *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].key_path);
        free(d->items[i].message);
    }
    free(d->items);
    d->items = NULL;
    d->count = 0;
}

const char *cfg_field_path(const struct cfg_set_src *src, bool own, const char *key, char *buf,
                           size_t n)
{
    snprintf(buf, n, "%s.%s", own ? src->prefix : "autocert", key);
    return buf;
}
