/*
 * config_env.c - `${VAR}` expansion of one scalar value, after parsing.
 *
 * `${NAME}` anywhere in a value is replaced by $AUTOCERT_NAME if set, else by
 * $NAME; `$${` is a literal `${`; any other `$` is kept. An unset variable, an
 * unterminated `${` or a bad name is an error naming the variable and the key
 * path (never the value, which may be a secret).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config_internal.h"

#define VAR_NAME_MAX 128

static bool name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static const char *lookup(const char *name)
{
    char pref[VAR_NAME_MAX + 16];
    const char *v;

    snprintf(pref, sizeof pref, "AUTOCERT_%s", name);
    v = getenv(pref);
    if (v != NULL)
        return v;
    return getenv(name);
}

int cfg_expand(struct cfg_loader *L, const char *path, const char *value, char **out)
{
    struct ac_buf b;
    const char *p;
    int rc = -1;

    *out = NULL;
    if (value == NULL)
        return 0;
    if (strchr(value, '$') == NULL) {
        /* nothing to expand (a raw scalar is at most CFG_MAX_SCALAR bytes,
         * far below the expanded cap): the value as written, in one copy */
        *out = strdup(value);
        if (*out == NULL) {
            cfg_diag(L, false, path, "out of memory");
            return -1;
        }
        return 0;
    }
    ac_buf_init(&b, CFG_MAX_SCALAR * 4);
    for (p = value; *p != '\0';) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            if (ac_buf_append(&b, "${", 2) != 0)
                goto nomem;
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            char name[VAR_NAME_MAX + 1];
            size_t n;
            const char *v;

            if (end == NULL) {
                cfg_diag(L, false, path, "unterminated '${' (write '$${' for a literal '${')");
                goto out;
            }
            n = (size_t)(end - (p + 2));
            if (n == 0 || n > VAR_NAME_MAX) {
                cfg_diag(L, false, path, "bad variable reference: the name must be 1-%d characters",
                         VAR_NAME_MAX);
                goto out;
            }
            memcpy(name, p + 2, n);
            name[n] = '\0';
            for (size_t i = 0; i < n; i++) {
                if (!name_char(name[i], i == 0)) {
                    cfg_diag(L, false, path,
                             "bad variable name in '${...}': use letters, digits and '_'");
                    goto out;
                }
            }
            v = lookup(name);
            if (cfg_source_note_env(L, name) != 0)
                goto nomem;
            if (v == NULL) {
                cfg_diag(L, false, path,
                         "environment variable %s is not set (nor AUTOCERT_%s): set it or "
                         "change the value",
                         name, name);
                goto out;
            }
            if (ac_buf_appends(&b, v) != 0)
                goto nomem;
            p = end + 1;
        } else {
            if (ac_buf_append(&b, p, 1) != 0)
                goto nomem;
            p++;
        }
    }
    *out = ac_buf_steal(&b, NULL);
    if (*out == NULL)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    cfg_diag(L, false, path, "value too long after expanding variables");
out:
    ac_buf_free(&b);
    return rc;
}
