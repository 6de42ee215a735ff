/*
 * set.c - the certificate set object (set.h): creation from a configuration
 * copy, reference counting, the store id and the local-file stamps.
 */
#include "set.h"

#include "standin.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void acset_id_of(const char *cert_path, const char *key_path, char *id)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    gnutls_hash_hd_t h;

    memset(id, '0', ACSET_ID_LEN);
    id[ACSET_ID_LEN] = '\0';
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0)
        return;
    gnutls_hash(h, cert_path, strlen(cert_path));
    gnutls_hash(h, "|", 1);
    gnutls_hash(h, key_path, strlen(key_path));
    gnutls_hash_deinit(h, md);
    for (size_t i = 0; i < ACSET_ID_LEN / 2; i++) {
        id[2 * i] = hex[md[i] >> 4];
        id[2 * i + 1] = hex[md[i] & 15];
    }
}

int acset_new(const struct config_set *cfg, struct acset **out, struct ac_error *e)
{
    struct acset *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL || config_set_dup(&s->cfg, cfg) != 0) {
        free(s);
        ac_error_set(e, AC_ERR_NOMEM, "acset_new: out of memory");
        return -1;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->read_ms, 0);
    atomic_init(&s->cancel, false);
    acset_id_of(s->cfg.cert_path, s->cfg.key_path, s->id);
    s->managed = config_set_is_managed(&s->cfg);
    s->local = strcmp(s->cfg.provider, CONFIG_PROVIDER_LOCAL) == 0;
    s->selfsigned = strcmp(s->cfg.provider, CONFIG_PROVIDER_SELFSIGNED) == 0;
    s->standin_ok = standin_eligible(&s->cfg);
    s->rec.managed = s->managed;
    s->rec.ari_support = -1;
    *out = s;
    return 0;
}

int acset_keep_secrets(struct acset *s)
{
    return config_set_dup_register(&s->cfg);
}

struct acset *acset_ref(struct acset *s)
{
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void acset_unref(struct acset *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    autocert_cert_release(s->cert);
    standin_free(s);
    free(s->load_error);
    free(s->rec.last_error);
    free(s->rec.force_err);
    config_set_dup_free(&s->cfg);
    if (s->spec != NULL) {
        memset(s->spec, 0, s->spec_len);
        free(s->spec);
    }
    free(s);
}

bool acset_same_files(const struct acset *a, const struct acset *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->cfg.cert_path, b->cfg.cert_path) == 0 &&
           strcmp(a->cfg.key_path, b->cfg.key_path) == 0;
}

void acset_stamp_from(struct lc_filestamp *st, const struct stat *sb)
{
    memset(st, 0, sizeof *st);
    if (sb == NULL)
        return;
    st->exists = true;
    st->dev = sb->st_dev;
    st->ino = sb->st_ino;
    st->size = sb->st_size;
    st->mtime = sb->st_mtim;
    st->ctime = sb->st_ctim;
}

static void stamp_one(const char *path, struct lc_filestamp *st)
{
    struct stat sb;

    acset_stamp_from(st, stat(path, &sb) == 0 ? &sb : NULL);
}

void acset_stamp(const struct acset *s, struct lc_filestamp st[2])
{
    stamp_one(s->cfg.cert_path, &st[0]);
    stamp_one(s->cfg.key_path, &st[1]);
}

bool acset_stamp_differs(const struct lc_filestamp *a, const struct lc_filestamp *b)
{
    return a->exists != b->exists || a->dev != b->dev || a->ino != b->ino || a->size != b->size ||
           a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec ||
           a->ctime.tv_sec != b->ctime.tv_sec || a->ctime.tv_nsec != b->ctime.tv_nsec;
}

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

int acset_ptrset_init(struct acset_ptrset *ps, struct acset *const *v, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n + 2)
        cap *= 2;
    ps->slots = calloc(cap, sizeof *ps->slots);
    ps->cap = ps->slots != NULL ? cap : 0;
    if (ps->slots == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t k = ptr_hash(v[i]) & (cap - 1);
        while (ps->slots[k] != NULL && ps->slots[k] != v[i])
            k = (k + 1) & (cap - 1);
        ps->slots[k] = v[i];
    }
    return 0;
}

bool acset_ptrset_has(const struct acset_ptrset *ps, const struct acset *s)
{
    if (ps->cap == 0 || s == NULL)
        return false;
    for (size_t k = ptr_hash(s) & (ps->cap - 1); ps->slots[k] != NULL; k = (k + 1) & (ps->cap - 1))
        if (ps->slots[k] == s)
            return true;
    return false;
}

void acset_ptrset_free(struct acset_ptrset *ps)
{
    free(ps->slots);
    ps->slots = NULL;
    ps->cap = 0;
}

void acset_error_put(struct ac_error **slot, const struct ac_error *e)
{
    if (e == NULL || e->kind[0] == '\0') {
        free(*slot);
        *slot = NULL;
        return;
    }
    if (*slot == NULL && (*slot = malloc(sizeof **slot)) == NULL)
        return;
    **slot = *e;
}

void acset_error_get(const struct ac_error *slot, struct ac_error *out)
{
    if (slot != NULL)
        *out = *slot;
    else
        ac_error_clear(out);
}
