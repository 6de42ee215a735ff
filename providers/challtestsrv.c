/*
 * challtestsrv.c - DNS provider for pebble-challtestsrv, Pebble's test DNS
 * server, through its HTTP management API.
 *
 * Option: url (required), the management API base, e.g. http://127.0.0.1:8055.
 * present:  POST {url}/set-txt   {"host":"<fqdn>.","value":"<value>"}
 * cleanup:  POST {url}/clear-txt {"host":"<fqdn>."}, then set-txt again for
 *           every other value still presented at that host.
 *
 * challtestsrv's set-txt appends a value to the host's list, but clear-txt
 * removes ALL values of a host. To delete exactly one value, this file keeps a
 * process-wide record of the values it presented per (url, host) (with a count,
 * so a value presented twice needs two cleanups), clears the host and re-adds
 * the remaining ones. The record is shared by every instance in the process
 * (two certificate sets may use the same name) and guarded by one mutex held
 * across the HTTP calls, so a present cannot slip between a clear and the
 * re-adds. Values presented by another process at the same host are lost on a
 * cleanup: challtestsrv is a test server.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dns_api.h"
#include "dns_common.h"
#include "dns_provider.h"
#include "http.h"
#include "jsonu.h"

#define CTS_URL_MAX 2048

static const struct dns_option_decl cts_options[] = {
    {"url", true},
    {NULL, false},
};

struct cts_state {
    struct dns_api api; /* base: the management API url (trailing / removed) */
};

struct cts_value {
    struct cts_value *next;
    char *url;
    char *host;
    char *value;
    unsigned count;
};

static pthread_mutex_t cts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cts_value *cts_values; /* guarded by cts_lock */

static int cts_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *url = dns_opt_get(opts, n, "url");

    if (url == NULL || strlen(url) >= CTS_URL_MAX ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "DNS provider challtestsrv: option url: must be an http:// or https:// URL");
        return -1;
    }
    return 0;
}

static int cts_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct cts_state *s = NULL;

    *state = NULL;
    if (cts_validate(opts, n, e) != 0)
        return -1;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    /* the url is the default base: cts_validate checked it (a test server:
     * plain http:// anywhere) */
    if (dns_api_init(&s->api, "challtestsrv", opts, n, NULL, "option url",
                     dns_opt_get(opts, n, "url"), e) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void cts_destroy(void *state)
{
    struct cts_state *s = state;

    if (s == NULL)
        return;
    dns_api_free(&s->api);
    free(s);
}

/* POSTs {"host":host[,"value":value]} to {url}/{path}; 200 expected. */
static int cts_post(const struct cts_state *s, const char *path, const char *host,
                    const char *value, struct ac_error *e)
{
    static const struct http_header accept[] = {{"Accept", "application/json"}};
    json_object *body = json_object_new_object();
    char rel[64];
    struct dns_api_req rq = {.method = "POST", .path = rel, .headers = accept, .header_count = 1};
    struct http_response resp;
    int rc = -1;

    memset(&resp, 0, sizeof resp);
    if (body == NULL || jsonu_add_str(body, "host", host) != 0 ||
        (value != NULL && jsonu_add_str(body, "value", value) != 0)) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (dns_api_pathf(&s->api, e, rel, sizeof rel, "/%s", path) != 0)
        goto out;
    rq.json_body = jsonu_string(body);
    if (dns_api_send(&s->api, &rq, &resp, e) != 0)
        goto out;
    if (resp.status < 200 || resp.status > 299) {
        dns_http_status_error(&resp, path, NULL, e);
        goto out;
    }
    rc = 0;
out:
    http_response_free(&resp);
    json_object_put(body);
    return rc;
}

static char *host_of(const char *fqdn)
{
    size_t len = strlen(fqdn);
    char *h = malloc(len + 2);

    if (h == NULL)
        return NULL;
    memcpy(h, fqdn, len);
    h[len] = '.';
    h[len + 1] = '\0';
    return h;
}

static struct cts_value **find_value(const char *url, const char *host, const char *value)
{
    struct cts_value **pp;

    for (pp = &cts_values; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->url, url) == 0 && strcasecmp((*pp)->host, host) == 0 &&
            strcmp((*pp)->value, value) == 0)
            return pp;
    return NULL;
}

static int cts_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct cts_state *s = state;
    struct cts_value **pp, *v = NULL;
    char *host = host_of(ch->fqdn);
    int rc = -1;

    if (host == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&cts_lock);
    if (cts_post(s, "set-txt", host, ch->value, e) != 0)
        goto out;
    pp = find_value(s->api.base, host, ch->value);
    if (pp != NULL) {
        (*pp)->count++;
    } else {
        v = calloc(1, sizeof *v);
        if (v == NULL || (v->url = strdup(s->api.base)) == NULL ||
            (v->host = strdup(host)) == NULL || (v->value = strdup(ch->value)) == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        v->count = 1;
        v->next = cts_values;
        cts_values = v;
        v = NULL;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&cts_lock);
    if (v != NULL) {
        free(v->url);
        free(v->host);
        free(v->value);
        free(v);
    }
    free(host);
    return rc;
}

static int cts_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    struct cts_state *s = state;
    struct cts_value **pp;
    char *host = host_of(ch->fqdn);
    int rc = -1;

    if (host == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&cts_lock);
    pp = find_value(s->api.base, host, ch->value);
    if (pp != NULL && (*pp)->count > 1) {
        /* Presented more than once: one copy stays. */
        (*pp)->count--;
        rc = 0;
        goto out;
    }
    if (cts_post(s, "clear-txt", host, NULL, e) != 0)
        goto out;
    if (pp != NULL) {
        struct cts_value *v = *pp;
        *pp = v->next;
        free(v->url);
        free(v->host);
        free(v->value);
        free(v);
    }
    for (struct cts_value *v = cts_values; v != NULL; v = v->next) {
        if (strcmp(v->url, s->api.base) != 0 || strcasecmp(v->host, host) != 0)
            continue;
        if (cts_post(s, "set-txt", host, v->value, e) != 0) {
            ac_error_prefix(e, "re-adding another value after clear-txt");
            goto out;
        }
    }
    rc = 0;
out:
    pthread_mutex_unlock(&cts_lock);
    free(host);
    return rc;
}

const struct dns_provider_ops dns_challtestsrv_ops = {
    .name = "challtestsrv",
    .alias = NULL,
    .options = cts_options,
    .validate = cts_validate,
    .create = cts_create,
    .present = cts_present,
    .cleanup = cts_cleanup,
    .destroy = cts_destroy,
};
