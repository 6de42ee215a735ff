/*
 * config_source.c - what a loaded configuration was made from: the file's
 * bytes and the values of the environment variables its ${...} name (both
 * AUTOCERT_<NAME> and <NAME>, as config_env.c looks them up). A reload of a
 * file that is byte for byte the same, with the same values, would build the
 * same configuration: config_source_unchanged tells so from one read and one
 * hash, without parsing (a 100,000-set file takes most of a second to parse).
 */
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "store.h"

int cfg_source_note_env(struct cfg_loader *L, const char *name)
{
    char **v;

    for (size_t i = 0; i < L->env_count; i++)
        if (strcmp(L->env_names[i], name) == 0)
            return 0;
    if (L->env_count == L->env_cap) {
        size_t cap = L->env_cap ? L->env_cap * 2 : 8;

        v = realloc(L->env_names, cap * sizeof *v);
        if (v == NULL)
            return -1;
        L->env_names = v;
        L->env_cap = cap;
    }
    if ((L->env_names[L->env_count] = strdup(name)) == NULL)
        return -1;
    L->env_count++;
    return 0;
}

void cfg_source_loader_free(struct cfg_loader *L)
{
    for (size_t i = 0; i < L->env_count; i++)
        free(L->env_names[i]);
    free(L->env_names);
    L->env_names = NULL;
    L->env_count = L->env_cap = 0;
}

/* One variable into the hash: its name, then each of the two lookups' value
 * (or that it is unset), each field length-prefixed so that no two inputs
 * collide by concatenation. */
static void hash_field(gnutls_hash_hd_t h, const char *s)
{
    unsigned char len[8];
    size_t n = s != NULL ? strlen(s) + 1 : 0; /* 0: unset */

    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    gnutls_hash(h, len, sizeof len);
    if (s != NULL)
        gnutls_hash(h, s, n - 1);
}

static int digest(const char *text, size_t len, char *const *names, size_t n, unsigned char out[32])
{
    gnutls_hash_hd_t h;
    char pref[256];

    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0)
        return -1;
    hash_field(h, NULL);
    gnutls_hash(h, text, len);
    for (size_t i = 0; i < n; i++) {
        snprintf(pref, sizeof pref, "AUTOCERT_%s", names[i]);
        hash_field(h, names[i]);
        hash_field(h, getenv(pref));
        hash_field(h, getenv(names[i]));
    }
    gnutls_hash_deinit(h, out);
    return 0;
}

int cfg_source_seal(struct cfg_loader *L, struct config *cfg, const char *text, size_t len)
{
    if (digest(text, len, L->env_names, L->env_count, cfg->source_digest) != 0)
        return 0; /* no digest: every reload parses, as before */
    cfg->source_env = L->env_names;
    cfg->source_env_count = L->env_count;
    L->env_names = NULL;
    L->env_count = L->env_cap = 0;
    cfg->source_sealed = true;
    return 0;
}

bool config_source_unchanged(const struct config *cfg, const char *path)
{
    unsigned char d[32];
    char *text = NULL;
    size_t len = 0;
    bool same;

    if (cfg == NULL || !cfg->source_sealed || path == NULL || cfg->path == NULL ||
        strcmp(path, cfg->path) != 0 ||
        store_read_file(path, (size_t)CFG_MAX_FILE_SIZE, &text, &len, NULL) != 0)
        return false;
    same = digest(text, len, cfg->source_env, cfg->source_env_count, d) == 0 &&
           memcmp(d, cfg->source_digest, sizeof d) == 0;
    free(text);
    return same;
}
