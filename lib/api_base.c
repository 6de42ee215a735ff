/*
 * api_base.c - the public functions that need no manager (autocert.h): the
 * version, process-wide initialisation, errors, configurations and their
 * diagnostics, provider names, revocation reasons, state names. Thin
 * wrappers over the internal modules; the internal error and log paths
 * already scrub secrets and escape control characters, so what reaches the
 * host here is clean.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "config.h"
#include "crypto.h"
#include "dns_provider.h"
#include "lifecycle.h"

#ifndef AUTOCERT_VERSION_STRING
#define AUTOCERT_VERSION_STRING "0.2.0"
#endif

const char *autocert_version(void)
{
    return AUTOCERT_VERSION_STRING;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_run(void)
{
    init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && crypto_init() == 0 ? 0 : -1;
}

int autocert_init(void)
{
    pthread_once(&init_once, init_run);
    return init_rc;
}

void api_error_set(autocert_error *out, const char *kind, const char *msg)
{
    if (out == NULL)
        return;
    snprintf(out->kind, sizeof out->kind, "%s", kind != NULL ? kind : "");
    snprintf(out->message, sizeof out->message, "%s", msg != NULL ? msg : "");
}

void api_error_from(autocert_error *out, const struct ac_error *e)
{
    if (e == NULL || e->kind[0] == '\0')
        api_error_set(out, AC_ERR_INTERNAL, e != NULL ? e->message : "");
    else
        api_error_set(out, e->kind, e->message);
}

void api_error_clear(autocert_error *out)
{
    api_error_set(out, "", "");
}

/* ---- configurations ---------------------------------------------------------- */

size_t autocert_diag_format(const autocert_diag *d, char *buf, size_t n)
{
    char pos[48] = "";
    int w;

    if (d == NULL)
        return 0;
    if (d->line > 0)
        snprintf(pos, sizeof pos, ":%d:%d", d->line, d->column);
    w = snprintf(buf, n, "%s%s%s: %s%s%s", d->warning ? "warning: " : "",
                 d->file != NULL ? d->file : "?", pos, d->key_path != NULL ? d->key_path : "",
                 d->key_path != NULL ? ": " : "", d->message != NULL ? d->message : "");
    if (w < 0) {
        if (n > 0)
            buf[0] = '\0';
        return 0;
    }
    return (size_t)w;
}

void api_diags_report(const struct config_diags *d, autocert_diag_fn fn, void *arg)
{
    for (size_t i = 0; fn != NULL && i < d->count; i++) {
        const struct config_diag *it = &d->items[i];
        autocert_diag ad = {.file = it->file,
                            .line = it->line,
                            .column = it->column,
                            .key_path = it->key_path,
                            .message = it->message,
                            .warning = it->warning};
        fn(arg, &ad);
    }
}

void api_diags_error(const struct config_diags *d, const char *path, autocert_error *err)
{
    const struct config_diag *first = NULL;
    size_t nerr = 0, k;
    char msg[AUTOCERT_ERROR_MESSAGE_MAX];

    for (size_t i = 0; i < d->count; i++)
        if (!d->items[i].warning) {
            if (first == NULL)
                first = &d->items[i];
            nerr++;
        }
    if (first == NULL) {
        snprintf(msg, sizeof msg, "%s: cannot load the configuration", path);
    } else {
        k = config_diag_format(first, msg, sizeof msg);
        if (nerr > 1 && k < sizeof msg)
            snprintf(msg + k, sizeof msg - k, " (and %zu more errors)", nerr - 1);
    }
    api_error_set(err, AC_ERR_CONFIG, msg);
}

int api_config_load(const char *path, autocert_diag_fn fn, void *arg, struct config **out,
                    autocert_error *err)
{
    struct config_diags d = {0};
    int rc;

    *out = NULL;
    if (path == NULL) {
        api_error_set(err, AC_ERR_CONFIG, "no configuration file given");
        return -1;
    }
    rc = config_load(path, out, &d);
    api_diags_report(&d, fn, arg);
    if (rc != 0)
        api_diags_error(&d, path, err);
    else
        api_error_clear(err);
    config_diags_free(&d);
    return rc;
}

int autocert_config_load(const char *path, autocert_diag_fn fn, void *arg, autocert_config **out,
                         autocert_error *err)
{
    struct config *c = NULL;
    int rc = api_config_load(path, fn, arg, &c, err);

    *out = (autocert_config *)(void *)c;
    return rc;
}

void autocert_config_free(autocert_config *c)
{
    config_free(api_config(c));
}

void autocert_config_print(const autocert_config *c, FILE *f)
{
    config_print(api_config_c(c), f);
}

const char *autocert_config_get(const autocert_config *cc, const char *key)
{
    const struct config *c = api_config_c(cc);

    if (c == NULL || key == NULL)
        return NULL;
    if (strcmp(key, "path") == 0)
        return c->path;
    if (strcmp(key, "admin.listen") == 0)
        return c->admin.listen;
    if (strcmp(key, "serve.listen") == 0)
        return c->serve.listen;
    if (strcmp(key, "serve.http_listen") == 0)
        return c->serve.http_listen;
    if (strcmp(key, "hooks.deploy") == 0)
        return c->hooks.deploy;
    if (strcmp(key, "notify.webhook") == 0)
        return c->notify.webhook;
    return NULL; /* secrets (admin.token, store.url) and unknown keys */
}

bool autocert_config_has(const autocert_config *cc, const char *key)
{
    const struct config *c = api_config_c(cc);

    if (c == NULL || key == NULL)
        return false;
    if (strcmp(key, "admin.token") == 0)
        return c->admin.token != NULL && c->admin.token[0] != '\0';
    if (strcmp(key, "admin") == 0)
        return c->admin.present;
    if (strcmp(key, "challenge.http-01") == 0 || strcmp(key, "challenge.tls-alpn-01") == 0) {
        for (size_t i = 0; i < c->sets_count; i++)
            if (c->sets[i].provider != NULL && c->sets[i].challenge != NULL &&
                strcmp(c->sets[i].provider, CONFIG_PROVIDER_ACME) == 0 &&
                strcmp(c->sets[i].challenge, key + strlen("challenge.")) == 0)
                return true;
        return false;
    }
    return autocert_config_get(cc, key) != NULL;
}

const char *autocert_provider_name(size_t i)
{
    static const char *const fixed[] = {CONFIG_PROVIDER_LOCAL, CONFIG_PROVIDER_PSEUDO,
                                        CONFIG_PROVIDER_SELFSIGNED, CONFIG_PROVIDER_CUSTOM,
                                        CONFIG_PROVIDER_ACME};
    const struct dns_provider_ops *const *l = dns_provider_list();
    size_t k = sizeof fixed / sizeof fixed[0];

    if (i < k)
        return fixed[i];
    for (size_t p = 0; l != NULL && l[p] != NULL; p++) {
        if (i == k)
            return l[p]->name;
        k++;
        if (l[p]->alias != NULL) {
            if (i == k)
                return l[p]->alias;
            k++;
        }
    }
    return NULL;
}

/* ---- names -------------------------------------------------------------------- */

int autocert_revocation_reason(const char *s)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};
    char *end;
    long v;

    if (s == NULL || s[0] == '\0')
        return -1;
    if (isdigit((unsigned char)s[0])) {
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0 || v > 10 || v == 7)
            return -2;
        return (int)v;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i] != NULL && strcasecmp(names[i], s) == 0)
            return (int)i;
    return -2;
}

const char *autocert_state_name(enum autocert_state s)
{
    return lifecycle_state_name((enum lifecycle_state)s);
}
