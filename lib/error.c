/* error.c - filling and classifying struct ac_error (see error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

void ac_error_vset(struct ac_error *e, const char *kind, const char *fmt, va_list ap)
{
    if (e == NULL)
        return;
    snprintf(e->kind, sizeof e->kind, "%s", kind ? kind : AC_ERR_INTERNAL);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    e->acme_type[0] = '\0';
    e->http_status = 0;
    e->retry_after = -1;
}

void ac_error_set(struct ac_error *e, const char *kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ac_error_vset(e, kind, fmt, ap);
    va_end(ap);
}

void ac_error_prefix(struct ac_error *e, const char *fmt, ...)
{
    char prefix[256];
    char old[AC_ERROR_MESSAGE_MAX];
    va_list ap;

    if (e == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->message, sizeof old);
    snprintf(e->message, sizeof e->message, "%s: %s", prefix, old);
}

void ac_error_clear(struct ac_error *e)
{
    if (e == NULL)
        return;
    memset(e, 0, sizeof *e);
    e->retry_after = -1;
}

bool ac_error_is(const struct ac_error *e, const char *kind)
{
    return e != NULL && strcmp(e->kind, kind) == 0;
}

static const struct {
    const char *kind;
    struct ac_error_kind_info info;
} kind_table[] = {
    {AC_ERR_CONFIG, {false, true}},
    {AC_ERR_KEY_UNREADABLE, {false, true}},
    {AC_ERR_LOCKED, {true, false}},
    {AC_ERR_CA_REJECTED, {false, true}},
    {AC_ERR_CA_UNAUTHORIZED, {false, true}},
    {AC_ERR_CA_EAB, {false, true}},
    {AC_ERR_CA_PROFILE, {false, true}},
    {AC_ERR_DNS_AUTH, {false, true}},
    {AC_ERR_CA_RATE_LIMITED, {true, false}},
    {AC_ERR_CA_BAD_NONCE, {true, false}},
    {AC_ERR_CA_NO_ACCOUNT, {true, false}},
    {AC_ERR_CA_SERVER, {true, false}},
    {AC_ERR_CA_CHALLENGE, {true, false}},
    {AC_ERR_DNS_PROPAGATION, {true, false}},
    {AC_ERR_NET, {true, false}},
    {AC_ERR_TIMEOUT, {true, false}},
    {AC_ERR_CA_BAD_CERT, {true, false}},
    {AC_ERR_DUE_AT_ONCE, {true, false}},
};

struct ac_error_kind_info ac_error_kind_info(const char *kind)
{
    struct ac_error_kind_info def = {true, false};

    if (kind == NULL)
        return def;
    for (size_t i = 0; i < sizeof kind_table / sizeof kind_table[0]; i++)
        if (strcmp(kind_table[i].kind, kind) == 0)
            return kind_table[i].info;
    return def;
}
