/*
 * http01.c - the plain-HTTP side of a manager (autocert.h, "http-01
 * challenges and the HTTP-to-HTTPS redirect"): the answer of an http-01
 * request from the manager's challenge table, the redirect decision, and the
 * libmicrohttpd responder that combines them (what `autocert serve` runs on
 * serve.http_listen).
 *
 * The responder never touches a file: a request is either a challenge path
 * (GET/HEAD, answered from the table or 404) or redirected to https:// on the
 * same host, and only for a host some set covers (never an open redirect).
 * Its connection caps and request deadline are admin_conn.c's, the tracker
 * the admin API uses, with the limits of autocert.h (AUTOCERT_HTTP_*).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin_conn.h"
#include "api.h"
#include "autocert/autocert.h"
#include "challenge.h"
#include "issuer_fleet.h"
#include "config.h"
#include "http01.h"
#include "listen.h"
#include "log.h"
#include "manager.h"
#include "manager_priv.h"
#include "mhd_conn.h"
#include "sni.h"
#include "textsafe.h"

#define HTTP01_LOG "http"
#define HTTP01_MHD_MEMORY (16 * 1024) /* per-connection buffer (> AUTOCERT_HTTP_HEADER_MAX) */
#define HTTP01_LOCATION_MAX (AUTOCERT_HTTP_HEADER_MAX + 300)

_Static_assert(AUTOCERT_HTTP01_ANSWER_MAX == CHALLENGE_KEYAUTH_MAX + 1,
               "the public answer size is the table's key authorization size");

/* A token this node does not hold: with a shared store, another node may be
 * ordering (its answer reaches this node's table through a notification, but
 * the CA may ask first): one read of the store, bounded by its statement
 * timeout. */
static ssize_t answer_from_store(autocert_manager *m, const char *token, char *buf, size_t n)
{
    struct storage *st = manager_store(m);
    char *ka = NULL;
    size_t kl;
    struct ac_error e;

    if (!fleet_shared(st) ||
        storage_call(st, challenge_get, STORAGE_CH_HTTP01, token, &ka, &e) != 0)
        return -1;
    kl = strlen(ka);
    if (kl + 1 > n) {
        free(ka);
        return -1;
    }
    memcpy(buf, ka, kl + 1);
    free(ka);
    return (ssize_t)kl;
}

int autocert_http01_answer(autocert_manager *m, const char *path, char *buf, size_t n)
{
    size_t pl = strlen(AUTOCERT_HTTP01_PREFIX), len;
    ssize_t r;

    if (m == NULL || path == NULL || buf == NULL || n == 0 ||
        strncmp(path, AUTOCERT_HTTP01_PREFIX, pl) != 0)
        return -1;
    path += pl;
    len = strlen(path);
    if (!challenge_token_valid(path, len))
        return -1;
    r = challenge_http01_get(manager_challenges(m), path, len, buf, n);
    if (r < 0)
        r = answer_from_store(m, path, buf, n);
    return r < 0 || r > (ssize_t)AUTOCERT_HTTP01_ANSWER_MAX ? -1 : (int)r;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

/* A port after ':': 1-5 digits, 0-65535. */
static bool port_ok(const char *p)
{
    size_t n = strlen(p);
    long v;

    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return false;
    v = strtol(p, NULL, 10);
    return v <= 65535;
}

int http01_host_split(const char *host, char *url_host, size_t un, char *name, size_t nn)
{
    size_t len;
    const char *colon;

    if (host == NULL)
        return -1;
    len = strlen(host);
    if (len == 0 || len > 300)
        return -1;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        unsigned char a6[16];
        size_t in;

        if (end == NULL || (end[1] != '\0' && (end[1] != ':' || !port_ok(end + 2))))
            return -1;
        in = (size_t)(end - host - 1);
        if (in == 0 || in + 1 > nn || in + 3 > un)
            return -1;
        memcpy(name, host + 1, in);
        name[in] = '\0';
        if (inet_pton(AF_INET6, name, a6) != 1)
            return -1;
        memcpy(url_host, host, in + 2);
        url_host[in + 2] = '\0';
        return 0;
    }
    colon = strchr(host, ':');
    if (colon != NULL && !port_ok(colon + 1))
        return -1;
    len = colon != NULL ? (size_t)(colon - host) : len;
    if (len == 0 || len > 253 || len + 1 > nn || len + 1 > un)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!name_char(host[i]))
            return -1;
    memcpy(name, host, len);
    name[len] = '\0';
    memcpy(url_host, host, len);
    url_host[len] = '\0';
    return 0;
}

/* True when a set of m covers name (no port, no brackets). */
static bool covered(autocert_manager *m, const char *name)
{
    unsigned char want[16], have[16];
    int fam = inet_pton(AF_INET, name, want) == 1    ? AF_INET
              : inet_pton(AF_INET6, name, want) == 1 ? AF_INET6
                                                     : 0;
    struct snapshot *s = manager_snap_get(m);
    bool found = false;

    if (fam != 0) {
        for (size_t i = 0; !found && i < s->count; i++)
            for (size_t d = 0; !found && d < s->sets[i]->cfg.domains_count; d++)
                found = inet_pton(fam, s->sets[i]->cfg.domains[d], have) == 1 &&
                        memcmp(want, have, fam == AF_INET ? 4 : 16) == 0;
    } else {
        found = s->sel != NULL && sni_index_lookup(s->sel, name, strlen(name)) >= 0;
    }
    manager_snap_put(s);
    return found;
}

int http01_redirect_port(const struct config *cfg)
{
    char host[256];
    int port;

    if (cfg == NULL)
        return 0;
    if (cfg->serve.https_port > 0)
        return cfg->serve.https_port == 443 ? 0 : cfg->serve.https_port;
    if (cfg->serve.listen != NULL &&
        config_parse_listen(cfg->serve.listen, host, sizeof host, &port) == 0 && port != 443)
        return port;
    return 0;
}

int autocert_http_redirect(autocert_manager *m, const char *host, const char *target, char *buf,
                           size_t n)
{
    char url_host[304], name[304];
    struct config *cfg;
    int port, w;

    if (m == NULL || buf == NULL || n == 0)
        return 400;
    buf[0] = '\0';
    if (http01_host_split(host, url_host, sizeof url_host, name, sizeof name) != 0)
        return 400;
    if (target == NULL || target[0] != '/')
        return 400;
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return 400;
    if (!covered(m, name))
        return 404;
    cfg = manager_config_ref(m);
    port = http01_redirect_port(cfg);
    config_free(cfg);
    if (port > 0)
        w = snprintf(buf, n, "https://%s:%d%s", url_host, port, target);
    else
        w = snprintf(buf, n, "https://%s%s", url_host, target);
    if (w < 0 || (size_t)w >= n) {
        buf[0] = '\0';
        return 400;
    }
    return 308;
}

/* ---- the responder ---- */

struct autocert_http {
    struct MHD_Daemon *daemon;
    autocert_manager *m;
    struct admin_conns *conns;
    int port;
};

/* Per request (MHD's con_cls): the request target as received. */
struct http_req {
    char *uri;
    bool too_long;
};

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (key != NULL && strcasecmp(key, "Host") == 0)
        (*(unsigned *)cls)++;
    return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, const char *type, const char *location, bool close_it)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (location != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    if (status == 503)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (close_it)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg,
                            bool close_it)
{
    return reply(c, status, msg, strlen(msg), "text/plain; charset=utf-8", NULL, close_it);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    autocert_http *h = cls;
    struct http_req *r = *con_cls;
    struct admin_conn *conn = mhd_conn_record(c);
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    char answer[AUTOCERT_HTTP01_ANSWER_MAX + 1], location[HTTP01_LOCATION_MAX];
    unsigned hosts = 0;
    int n;

    (void)version;
    (void)upload_data;
    if (*upload_data_size > 0) { /* a body is never read: the answer is out already */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!admin_conns_request_received(h->conns, conn))
        return MHD_NO; /* the deadline passed meanwhile: the reaper closed it */
    if (admin_conn_over(conn)) {
        admin_conns_note(h->conns, ADMIN_NOTE_OVERLOAD,
                         "answered 503 to %s: too many connections (limits: %u in all, %u per "
                         "address)",
                         admin_conn_peer(conn), AUTOCERT_HTTP_CONN_MAX, AUTOCERT_HTTP_CONN_PER_IP);
        return text(c, 503, "too many connections; try again\n", true);
    }
    if (r == NULL || r->uri == NULL)
        return text(c, 500, "out of memory\n", true);
    if (r->too_long)
        return text(c, 414, "request target too long\n", true);
    if (hs != NULL && hs->header_size > AUTOCERT_HTTP_HEADER_MAX)
        return text(c, 431, "request header too large\n", true);
    if (get && strncmp(url, AUTOCERT_HTTP01_PREFIX, strlen(AUTOCERT_HTTP01_PREFIX)) == 0) {
        n = autocert_http01_answer(h->m, url, answer, sizeof answer);
        if (n < 0)
            return text(c, 404, "no such challenge\n", false);
        ac_info(HTTP01_LOG, "answered an http-01 validation request from %s",
                admin_conn_peer(conn));
        return reply(c, 200, answer, (size_t)n, "application/octet-stream", NULL, false);
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &hosts);
    if (hosts != 1)
        return text(c, 400, hosts == 0 ? "a Host header is required\n" : "more than one Host\n",
                    true);
    switch (autocert_http_redirect(h->m, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                                   r->uri, location, sizeof location)) {
    case 308:
        return reply(c, 308, "", 0, "text/plain; charset=utf-8", location, false);
    case 404:
        return text(c, 404, "no site of this name here\n", false);
    default:
        return text(c, 400, "bad request\n", true);
    }
}

static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    autocert_http *h = cls;
    struct http_req *r = calloc(1, sizeof *r);

    if (r != NULL && uri != NULL) {
        size_t len = strnlen(uri, AUTOCERT_HTTP_HEADER_MAX + 1);

        r->too_long = len > AUTOCERT_HTTP_HEADER_MAX;
        r->uri = strndup(uri, r->too_long ? 1 : len);
    }
    admin_conns_request_started(h->conns, mhd_conn_record(c));
    return r;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    autocert_http *h = cls;
    struct http_req *r = *con_cls;

    (void)toe;
    if (r != NULL) {
        free(r->uri);
        free(r);
    }
    *con_cls = NULL;
    admin_conns_request_done(h->conns, mhd_conn_record(c));
}

/* libmicrohttpd's own messages (mhd_conn_log) */
static struct mhd_log_tag mhd_tag = {HTTP01_LOG, "http responder"};

int autocert_http_start(autocert_manager *m, const char *addr, autocert_http **out,
                        autocert_error *err)
{
    struct ac_error e;
    struct config *cfg = NULL;
    struct admin_limits lim;
    autocert_http *h = NULL;
    char host[256], where[300];
    int port, fd = -1, rc = -1;
    bool v6;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

    ac_error_clear(&e);
    api_error_clear(err);
    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL) {
        api_error_set(err, AUTOCERT_E_CONFIG, "autocert_http_start: no manager");
        return -1;
    }
    cfg = manager_config_ref(m);
    if (addr == NULL)
        addr = cfg != NULL ? cfg->serve.http_listen : NULL;
    if (addr == NULL) {
        ac_error_set(&e, AC_ERR_CONFIG,
                     "serve.http_listen is not set: give the HTTP responder an address");
        goto out;
    }
    snprintf(where, sizeof where, "%s", addr);
    if (listen_parse(where, host, sizeof host, &port) != 0) {
        ac_error_set(&e, AC_ERR_CONFIG,
                     "serve.http_listen '%s' is not host:port or [v6]:port with an IP host", where);
        goto out;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        ac_error_set(&e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    h->m = m;
    admin_limits_default(&lim);
    lim.conn_max = AUTOCERT_HTTP_CONN_MAX;
    lim.conn_soft_max = AUTOCERT_HTTP_CONN_MAX;
    lim.conn_per_ip = AUTOCERT_HTTP_CONN_PER_IP;
    lim.request_deadline_ms = AUTOCERT_HTTP_DEADLINE_MS;
    lim.idle_timeout_s = AUTOCERT_HTTP_IDLE_S;
    lim.what = "HTTP responder";
    fd = listen_open("serve.http_listen", where, host, port, ADMIN_LISTEN_BACKLOG, &v6, &e);
    if (fd < 0)
        goto out;
    h->port = listen_bound_port(fd);
    if (admin_conns_new(&lim, &h->conns) != 0) {
        ac_error_set(&e, AC_ERR_NOMEM, "HTTP responder: out of memory");
        goto out;
    }
    if (v6)
        flags |= MHD_USE_IPv6;
    /* one connection over the cap is still accepted, to be answered 503 */
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_conn_log, &mhd_tag,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)AUTOCERT_HTTP_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)AUTOCERT_HTTP_CONN_MAX + 16, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP01_MHD_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, h,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        mhd_conn_notify, h->conns, MHD_OPTION_END);
    if (h->daemon == NULL) {
        fd = -1; /* MHD may have closed it */
        ac_error_set(&e, AC_ERR_IO, "serve.http_listen %s: cannot start the HTTP server", where);
        goto out;
    }
    fd = -1;
    ac_info(HTTP01_LOG, "HTTP responder (http-01, redirect to https) listening on %s", where);
    *out = h;
    h = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (h != NULL) {
        admin_conns_free(h->conns);
        free(h);
    }
    config_free(cfg);
    if (rc != 0)
        api_error_from(err, &e);
    return rc;
}

int autocert_http_port(const autocert_http *h)
{
    return h != NULL ? h->port : 0;
}

void autocert_http_stop(autocert_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon); /* closes the listener and every connection */
    admin_conns_free(h->conns);
    free(h);
}
