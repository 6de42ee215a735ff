/*
 * admin_server.c - the REST admin API on libmicrohttpd (admin_server.h).
 *
 * One thread per connection: a forced renewal (POST waits, GET streams
 * Server-Sent Events) occupies only its own connection's thread. Every
 * request first passes the checks that need only its head (first call of the
 * access handler): the connection caps and the request deadline
 * (admin_conn.c), the URI and header sizes, and the Host / Origin /
 * Sec-Fetch-Site policy (admin_guard.c). Request bodies are never needed and
 * are capped at ADMIN_MAX_BODY (413 beyond).
 */
#include "admin_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin_conn.h"
#include "admin_guard.h"
#include "buf.h"
#include "log.h"
#include "textsafe.h"

#define ADMIN_MAX_BODY 4096          /* request body; no endpoint takes one */
#define ADMIN_MAX_URI 2048           /* request target, query included (414 beyond) */
#define ADMIN_MAX_HEADER_BYTES 8192  /* request line + header lines (431 beyond) */
#define ADMIN_MHD_MEMORY (32 * 1024) /* libmicrohttpd's per-connection buffer */
#define ADMIN_ECHO_MAX 100           /* request text echoed in an answer or a log */
#define ADMIN_SSE_MAX (1024 * 1024)
#define ADMIN_SSE_KEEPALIVE_S 10
#define ADMIN_LOG "admin"

struct admin_server {
    struct MHD_Daemon *daemon;
    const struct config *cfg;
    autocert_manager *m;
    struct lifecycle *lc;
    char *token;   /* own copy of admin.token; NULL = no auth */
    bool loopback; /* the bound address is a loopback one */
    int port;
    struct admin_guard guard;  /* Host / Origin policy; fixed after start */
    struct admin_conns *conns; /* connection caps and request deadline */
    struct admin_limits limits;
    /* Requests hold it for reading while they use cfg/m/lc; rebind writes. */
    pthread_rwlock_t lock;
};

/* Per-request state (MHD's con_cls): made by uri_logged (or at the first call
 * of the access handler), freed in request_completed. */
struct request {
    size_t uri_len;
    size_t body_len;
    bool seen; /* the first call of the access handler happened */
    bool too_big;
};

bool admin_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (host == NULL)
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int admin_check_listen(const struct config *cfg, struct ac_error *e)
{
    char host[256];
    int port;
    const char *listen = cfg->admin.listen != NULL ? cfg->admin.listen : "127.0.0.1:8555";

    if (config_parse_listen(listen, host, sizeof host, &port) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "admin.listen '%s' is not host:port or [v6]:port", listen);
        return -1;
    }
    if (!admin_host_is_loopback(host) &&
        (cfg->admin.token == NULL || cfg->admin.token[0] == '\0')) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "admin.listen %s is not a loopback address and admin.token is not set: "
                     "refusing to expose the admin API without a token (set admin.token, or "
                     "listen on 127.0.0.1)",
                     listen);
        return -1;
    }
    return 0;
}

/* ---- responses ---- */

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned int status, char *body,
                                 const char *type, const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (body == NULL) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = strdup("{\"message\":\"out of memory\"}");
        if (body == NULL)
            return MHD_NO;
        type = "application/json";
    }
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"autocert\"");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned int status, char *body)
{
    return send_body(c, status, body, "application/json", NULL);
}

static enum MHD_Result send_message(struct MHD_Connection *c, unsigned int status, const char *msg)
{
    return send_json(c, status, admin_json_message(msg));
}

/* A refusal that ends the connection (the body, if any, is not read);
 * retry_after > 0 adds Retry-After. */
static enum MHD_Result send_refusal(struct MHD_Connection *c, unsigned int status, const char *msg,
                                    int retry_after)
{
    char *body = admin_json_message(msg);
    struct MHD_Response *r;
    enum MHD_Result ret;
    char ra[16];

    if (body == NULL)
        return MHD_NO;
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (retry_after > 0) {
        snprintf(ra, sizeof ra, "%d", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Request text made safe to echo in an answer or a log line (valid UTF-8, no
 * control characters, at most ADMIN_ECHO_MAX - 1 bytes); returns buf. */
static const char *echo(char *buf, size_t n, const char *v)
{
    if (v == NULL)
        snprintf(buf, n, "(none)");
    else
        ac_text_sanitize(buf, n, v, strnlen(v, 4 * n));
    return buf;
}

/* The connection's record in the tracker (set in connection_notify). */
static struct admin_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return i != NULL ? i->socket_context : NULL;
}

/* ---- auth ---- */

static bool authorized(const struct admin_server *s, struct MHD_Connection *c)
{
    if (s->token == NULL || s->token[0] == '\0')
        return true;
    return admin_guard_bearer_ok(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), s->token);
}

/* ---- selection ---- */

/* Fills selected[] from ?name= / ?domain= (all when neither). Returns 0, or
 * sends the error answer and returns -1 (*ret set). */
static int select_sets(struct admin_server *s, struct MHD_Connection *c, bool *selected, size_t n,
                       enum MHD_Result *ret)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    const char *domain = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "domain");
    int idx;

    if (name != NULL && name[0] == '\0')
        name = NULL;
    if (domain != NULL && domain[0] == '\0')
        domain = NULL;
    if (name != NULL && domain != NULL) {
        *ret = send_message(c, MHD_HTTP_BAD_REQUEST, "give either name or domain, not both");
        return -1;
    }
    if (name == NULL && domain == NULL) {
        for (size_t i = 0; i < n; i++)
            selected[i] = true;
        return 0;
    }
    idx = name != NULL ? admin_find_set_by_name(s->cfg, name)
                       : admin_find_set_by_domain(s->cfg, s->lc, domain);
    if (idx < 0 || (size_t)idx >= n) {
        char msg[64 + ADMIN_ECHO_MAX], arg[ADMIN_ECHO_MAX];

        snprintf(msg, sizeof msg, "no certificate set %s '%s'",
                 name != NULL ? "named" : "covers domain",
                 echo(arg, sizeof arg, name != NULL ? name : domain));
        *ret = send_message(c, MHD_HTTP_NOT_FOUND, msg);
        return -1;
    }
    selected[idx] = true;
    return 0;
}

/* ---- POST /api/v1/cert/renew ---- */

static enum MHD_Result renew_wait(struct admin_server *s, struct MHD_Connection *c)
{
    size_t n = lifecycle_set_count(s->lc);
    bool *selected = calloc(n > 0 ? n : 1, sizeof *selected);
    struct lifecycle_result *res = calloc(n > 0 ? n : 1, sizeof *res);
    enum MHD_Result ret;
    int rc;

    if (selected == NULL || res == NULL) {
        ret = send_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto out;
    }
    if (select_sets(s, c, selected, n, &ret) != 0)
        goto out;
    ac_info(ADMIN_LOG, "forced renewal requested through the API");
    rc = lifecycle_force_renew(s->lc, selected, NULL, NULL, res);
    ret = send_json(c, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR,
                    admin_json_results(res, n));
out:
    free(selected);
    free(res);
    return ret;
}

/* ---- GET /api/v1/cert/renew: Server-Sent Events ---- */

struct sse {
    struct admin_server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ac_buf q; /* bytes not yet handed to MHD, from q_off */
    size_t q_off;
    bool done;
    pthread_t thread;
    bool started;
    bool *selected;
    size_t n;
    struct lifecycle_result *results;
};

static void sse_push(struct sse *x, const char *event, const char *json)
{
    pthread_mutex_lock(&x->mu);
    if (json != NULL)
        ac_buf_printf(&x->q, "event: %s\ndata: %s\n\n", event, json); /* dropped when full */
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void sse_progress(void *arg, const char *set_name, const char *message)
{
    struct sse *x = arg;
    char *json = admin_json_progress(set_name, message);

    sse_push(x, "progress", json);
    free(json);
}

static void *sse_worker(void *arg)
{
    struct sse *x = arg;
    char *json;

    sse_progress(x, "", "renewal started");
    pthread_rwlock_rdlock(&x->s->lock);
    if (x->s->lc != NULL && lifecycle_set_count(x->s->lc) == x->n)
        lifecycle_force_renew(x->s->lc, x->selected, sse_progress, x, x->results);
    else
        sse_progress(x, "", "configuration reloaded meanwhile; nothing renewed");
    pthread_rwlock_unlock(&x->s->lock);
    json = admin_json_results(x->results, x->n);
    pthread_mutex_lock(&x->mu);
    /* The result event must get through even when progress filled the queue. */
    x->q.max = x->q.len + (json != NULL ? strlen(json) : 0) + 64;
    pthread_mutex_unlock(&x->mu);
    sse_push(x, "result", json != NULL ? json : "{\"results\":[],\"message\":\"out of memory\"}");
    free(json);
    pthread_mutex_lock(&x->mu);
    x->done = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *x = cls;
    ssize_t out;

    pthread_mutex_lock(&x->mu);
    while (x->q.len == x->q_off && !x->done) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ADMIN_SSE_KEEPALIVE_S;
        if (pthread_cond_timedwait(&x->cv, &x->mu, &ts) == ETIMEDOUT && x->q.len == x->q_off &&
            !x->done) {
            static const char ka[] = ": keepalive\n\n";

            pthread_mutex_unlock(&x->mu);
            if (max < sizeof ka - 1)
                return 0;
            memcpy(buf, ka, sizeof ka - 1);
            return (ssize_t)(sizeof ka - 1);
        }
    }
    if (x->q.len > x->q_off) {
        size_t k = x->q.len - x->q_off;

        if (k > max)
            k = max;
        memcpy(buf, x->q.data + x->q_off, k);
        x->q_off += k;
        if (x->q_off == x->q.len) {
            ac_buf_reset(&x->q);
            x->q_off = 0;
        }
        out = (ssize_t)k;
    } else {
        out = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&x->mu);
    return out;
}

static void sse_free(void *cls)
{
    struct sse *x = cls;

    if (x == NULL)
        return;
    if (x->started)
        pthread_join(x->thread, NULL);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    ac_buf_free(&x->q);
    free(x->selected);
    free(x->results);
    free(x);
}

static enum MHD_Result renew_stream(struct admin_server *s, struct MHD_Connection *c)
{
    struct sse *x = calloc(1, sizeof *x);
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (x == NULL)
        return send_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    x->s = s;
    x->n = lifecycle_set_count(s->lc);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    ac_buf_init(&x->q, ADMIN_SSE_MAX);
    x->selected = calloc(x->n > 0 ? x->n : 1, sizeof *x->selected);
    x->results = calloc(x->n > 0 ? x->n : 1, sizeof *x->results);
    if (x->selected == NULL || x->results == NULL) {
        sse_free(x);
        return send_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    if (select_sets(s, c, x->selected, x->n, &ret) != 0) {
        sse_free(x);
        return ret;
    }
    ac_info(ADMIN_LOG, "forced renewal requested through the API (event stream)");
    if (pthread_create(&x->thread, NULL, sse_worker, x) != 0) {
        sse_free(x);
        return send_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start the renewal");
    }
    x->started = true;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x, sse_free);
    if (r == NULL) {
        sse_free(x);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- POST /api/v1/cert/revoke?name=SET[&reason=R] ---- */

static enum MHD_Result revoke_set(struct admin_server *s, struct MHD_Connection *c)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    const char *reason_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reason");
    struct lifecycle_result res;
    int idx, reason;

    if (name == NULL || name[0] == '\0')
        return send_message(c, MHD_HTTP_BAD_REQUEST, "revoke needs ?name=SET");
    idx = admin_find_set(s->cfg, s->lc, name);
    if (idx < 0 || (size_t)idx >= lifecycle_set_count(s->lc))
        return send_message(c, MHD_HTTP_NOT_FOUND, "no such certificate set");
    reason = admin_parse_reason(reason_s);
    if (reason == -2)
        return send_message(c, MHD_HTTP_BAD_REQUEST,
                            "unknown revocation reason (use 0-10 or an RFC 5280 name)");
    memset(&res, 0, sizeof res);
    snprintf(res.name, sizeof res.name, "%s", s->cfg->sets[idx].name);
    ac_info(ADMIN_LOG, "revocation of %s requested through the API", res.name);
    res.ok = lifecycle_revoke(s->lc, (size_t)idx, reason, NULL, NULL, &res.error) == 0;
    return send_json(c, res.ok ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR,
                     admin_json_results(&res, 1));
}

/* ---- routing ---- */

static bool is(const char *method, const char *m)
{
    return strcmp(method, m) == 0;
}

static enum MHD_Result route(struct admin_server *s, struct MHD_Connection *c, const char *url,
                             const char *method)
{
    bool get = is(method, MHD_HTTP_METHOD_GET) || is(method, MHD_HTTP_METHOD_HEAD);

    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return send_body(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                             admin_json_message("method not allowed"), "application/json",
                             "GET, HEAD");
        return send_json(c, MHD_HTTP_OK, strdup("{\"ok\":true}"));
    }
    if (!authorized(s, c))
        return send_message(c, MHD_HTTP_UNAUTHORIZED, "unauthorized");

    if (strcmp(url, "/api/v1/cert/info") == 0 || strcmp(url, "/api/v1/cert/status") == 0 ||
        strcmp(url, "/metrics") == 0) {
        if (!get)
            return send_body(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                             admin_json_message("method not allowed"), "application/json",
                             "GET, HEAD");
        if (strcmp(url, "/metrics") == 0)
            return send_body(c, MHD_HTTP_OK, admin_metrics_text(s->lc),
                             "text/plain; version=0.0.4; charset=utf-8", NULL);
        if (strcmp(url, "/api/v1/cert/status") == 0)
            return send_json(c, MHD_HTTP_OK, admin_json_status(s->lc, s->cfg));
        size_t count = 0;
        char *body = admin_json_info(s->lc, s->cfg, &count);

        if (body != NULL && count == 0) {
            free(body);
            return send_message(c, MHD_HTTP_NOT_FOUND, "no certificate found");
        }
        return send_json(c, MHD_HTTP_OK, body);
    }
    if (strcmp(url, "/api/v1/cert/renew") == 0) {
        if (is(method, MHD_HTTP_METHOD_POST))
            return renew_wait(s, c);
        if (is(method, MHD_HTTP_METHOD_GET)) {
            /* A state change on a GET: without a token, only from a same-origin
             * page or a client that is not a browser (admin_guard.h). */
            if ((s->token == NULL || s->token[0] == '\0') &&
                !admin_guard_same_origin(
                    &s->guard, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site"))) {
                admin_conns_note(s->conns, ADMIN_NOTE_REFUSED,
                                 "refused GET /api/v1/cert/renew from %s: not same-origin",
                                 admin_conn_peer(conn_of(c)));
                return send_refusal(c, MHD_HTTP_FORBIDDEN,
                                    "the event-stream renewal (GET) needs the admin token or a "
                                    "same-origin request; use POST /api/v1/cert/renew",
                                    0);
            }
            return renew_stream(s, c);
        }
        return send_body(c, MHD_HTTP_METHOD_NOT_ALLOWED, admin_json_message("method not allowed"),
                         "application/json", "GET, POST");
    }
    if (strcmp(url, "/api/v1/cert/revoke") == 0) {
        if (is(method, MHD_HTTP_METHOD_POST))
            return revoke_set(s, c);
        return send_body(c, MHD_HTTP_METHOD_NOT_ALLOWED, admin_json_message("method not allowed"),
                         "application/json", "POST");
    }
    return send_message(c, MHD_HTTP_NOT_FOUND, "not found");
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (key != NULL && strcasecmp(key, "Host") == 0)
        (*(unsigned *)cls)++;
    return MHD_YES;
}

/* An answer decided from the request's head alone. */
struct refusal {
    unsigned int status;
    int retry_after; /* seconds; 0 = no Retry-After */
    char msg[160 + ADMIN_ECHO_MAX];
};

/* The checks that need only the request's head (first call of the access
 * handler). Returns true and fills *f when the request is to be refused. */
static bool check_head(struct admin_server *s, struct MHD_Connection *c, struct admin_conn *conn,
                       struct request *r, const char *url, struct refusal *f)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    char v_echo[ADMIN_ECHO_MAX];
    unsigned hosts = 0;
    enum admin_verdict v;

    f->retry_after = 0;
    if (admin_conn_over(conn) && strcmp(url, "/healthz") != 0) {
        admin_conns_note(s->conns, ADMIN_NOTE_OVERLOAD,
                         "answered 503 to %s: too many connections (limits: %u in all, %u per "
                         "address)",
                         admin_conn_peer(conn), s->limits.conn_soft_max, s->limits.conn_per_ip);
        f->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        f->retry_after = 1;
        snprintf(f->msg, sizeof f->msg, "too many connections to the admin API; try again");
        return true;
    }
    if (r->uri_len > ADMIN_MAX_URI) {
        f->status = MHD_HTTP_URI_TOO_LONG;
        snprintf(f->msg, sizeof f->msg, "request target too long");
        return true;
    }
    if (hs != NULL && hs->header_size > ADMIN_MAX_HEADER_BYTES) {
        f->status = MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
        snprintf(f->msg, sizeof f->msg, "request header too large");
        return true;
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &hosts);
    v = admin_guard_check(&s->guard, host, hosts, origin, site);
    if (v != ADMIN_ALLOW) {
        f->status = MHD_HTTP_FORBIDDEN;
        if (v == ADMIN_BAD_HOST) {
            f->status = MHD_HTTP_MISDIRECTED_REQUEST;
            if (hosts > 1)
                snprintf(f->msg, sizeof f->msg, "more than one Host header");
            else
                snprintf(f->msg, sizeof f->msg, "Host '%s' is not served here",
                         echo(v_echo, sizeof v_echo, host));
        } else if (v == ADMIN_BAD_ORIGIN) {
            snprintf(f->msg, sizeof f->msg, "cross-origin request refused (Origin '%s')",
                     echo(v_echo, sizeof v_echo, origin));
        } else {
            snprintf(f->msg, sizeof f->msg,
                     "cross-site request refused (Sec-Fetch-Site: cross-site)");
        }
        admin_conns_note(s->conns, ADMIN_NOTE_REFUSED, "refused a request from %s: %s",
                         admin_conn_peer(conn), f->msg);
        return true;
    }
    if (cl != NULL) {
        char *end;
        unsigned long long len;

        errno = 0;
        len = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || len > ADMIN_MAX_BODY) {
            r->too_big = true;
            f->status = MHD_HTTP_CONTENT_TOO_LARGE;
            snprintf(f->msg, sizeof f->msg, "request body too large");
            return true;
        }
    }
    return false;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct admin_server *s = cls;
    struct request *r = *con_cls;
    struct admin_conn *conn = conn_of(c);
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
    }
    if (!r->seen) {
        struct refusal f;

        r->seen = true;
        if (!check_head(s, c, conn, r, url, &f))
            return MHD_YES; /* the body (if any) next: the deadline runs on */
        if (!admin_conns_request_received(s->conns, conn))
            return MHD_NO; /* the reaper closed it meanwhile */
        return send_refusal(c, f.status, f.msg, f.retry_after);
    }
    if (*upload_data_size > 0) {
        r->body_len += *upload_data_size;
        if (r->body_len > ADMIN_MAX_BODY)
            r->too_big = true;
        *upload_data_size = 0; /* consumed (and ignored: no endpoint takes a body) */
        return MHD_YES;
    }
    if (!admin_conns_request_received(s->conns, conn))
        return MHD_NO; /* the deadline passed meanwhile; the reaper closed it */
    if (r->too_big)
        return send_message(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    pthread_rwlock_rdlock(&s->lock);
    if (s->lc == NULL && strcmp(url, "/healthz") != 0)
        ret = send_message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "reloading; try again");
    else
        ret = route(s, c, url, method);
    pthread_rwlock_unlock(&s->lock);
    return ret;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line arrived. Its return value
 * becomes the request's con_cls. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct admin_server *s = cls;
    struct request *r = calloc(1, sizeof *r);

    if (r != NULL)
        r->uri_len = uri != NULL ? strnlen(uri, ADMIN_MAX_URI + 1) : 0;
    admin_conns_request_started(s->conns, conn_of(c));
    return r;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct admin_server *s = cls;

    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
    admin_conns_request_done(s->conns, conn_of(c));
}

/* MHD_OPTION_NOTIFY_CONNECTION: keeps the tracker's record in the
 * connection's socket context. */
static void connection_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct admin_server *s = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *peer =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        *socket_context = admin_conns_open(s->conns, fd != NULL ? fd->connect_fd : -1,
                                           peer != NULL ? peer->client_addr : NULL);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        admin_conns_close(s->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* libmicrohttpd's own messages: debug level only (its "Failed to bind" and
 * per-connection notes would mislead next to our own error lines). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512], safe[600];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    ac_text_sanitize(safe, sizeof safe, line, n);
    ac_debug(ADMIN_LOG, "http server: %s", safe);
}

/* Why bind(2)/listen(2) failed, in the words of the error line. */
static const char *bind_error(int err)
{
    switch (err) {
    case EADDRINUSE:
        return "address already in use";
    case EADDRNOTAVAIL:
        return "address not available on this host";
    case EACCES:
        return "permission denied";
    default:
        return strerror(err);
    }
}

/* The listening socket, bound and listening, or -1 with e ("admin.listen
 * ADDR: why"). */
static int open_listener(const char *listen_text, const struct sockaddr *sa, socklen_t len,
                         int backlog, struct ac_error *e)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1, err;

    if (fd < 0) {
        ac_error_set(e, AC_ERR_IO, "admin.listen %s: %s", listen_text, strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, sa, len) != 0 || listen(fd, backlog) != 0) {
        err = errno;
        close(fd);
        ac_error_set(e, AC_ERR_IO, "admin.listen %s: %s", listen_text, bind_error(err));
        return -1;
    }
    return fd;
}

/* The port a socket is bound to. */
static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

int admin_server_start_limits(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                              const struct admin_limits *limits, struct admin_server **out,
                              struct ac_error *e)
{
    struct admin_server *s = NULL;
    struct sockaddr_storage ss;
    socklen_t ss_len;
    char host[256];
    int port, fd = -1, rc = -1;
    bool locked = false;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;
    const char *listen = cfg->admin.listen != NULL ? cfg->admin.listen : "127.0.0.1:8555";

    *out = NULL;
    if (admin_check_listen(cfg, e) != 0)
        return -1;
    config_parse_listen(listen, host, sizeof host, &port);
    memset(&ss, 0, sizeof ss);
    if (strcasecmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        ss_len = sizeof *a;
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        ss_len = sizeof *a;
        flags |= MHD_USE_IPv6;
    } else {
        ac_error_set(e, AC_ERR_CONFIG, "admin.listen '%s': the host must be an IP address", listen);
        return -1;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->m = m;
    s->lc = lc;
    s->limits = *limits;
    s->loopback = admin_host_is_loopback(host);
    if (cfg->admin.token != NULL && cfg->admin.token[0] != '\0' &&
        (s->token = strdup(cfg->admin.token)) == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_rwlock_init(&s->lock, NULL);
    locked = true;
    /* Our own socket: bind errors are ours to word (and MHD logs none). */
    fd = open_listener(listen, (struct sockaddr *)&ss, ss_len, (int)limits->backlog, e);
    if (fd < 0)
        goto out;
    s->port = bound_port(fd);
    if (s->port == 0)
        s->port = port;
    config_parse_listen(listen, host, sizeof host, &port); /* as written, for the guard */
    if (admin_guard_init(&s->guard, host, s->loopback, s->port) != 0 ||
        admin_conns_new(limits, &s->conns) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "admin API: out of memory");
        goto out;
    }
    s->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                         MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned int)limits->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned int)limits->conn_max, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)ADMIN_MHD_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, s,
                         MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
                         MHD_OPTION_NOTIFY_CONNECTION, connection_notify, s, MHD_OPTION_END);
    if (s->daemon == NULL) {
        /* MHD may or may not have closed fd on its failure paths: leak it
         * rather than risk closing a descriptor someone else now owns. */
        fd = -1;
        ac_error_set(e, AC_ERR_IO, "admin.listen %s: cannot start the HTTP server", listen);
        goto out;
    }
    fd = -1; /* MHD_stop_daemon closes it */
    ac_info(ADMIN_LOG, "admin API listening on %s%s", listen,
            s->token != NULL ? " (bearer token required)" : "");
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (s != NULL) {
        admin_conns_free(s->conns);
        if (locked)
            pthread_rwlock_destroy(&s->lock);
        free(s->token);
        free(s);
    }
    return rc;
}

int admin_server_start(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                       struct admin_server **out, struct ac_error *e)
{
    struct admin_limits l;

    admin_limits_default(&l);
    return admin_server_start_limits(cfg, m, lc, &l, out, e);
}

int admin_server_port(const struct admin_server *s)
{
    return s != NULL ? s->port : 0;
}

void admin_server_stop(struct admin_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon); /* every connection is closed when it returns */
    admin_conns_free(s->conns);
    pthread_rwlock_destroy(&s->lock);
    if (s->token != NULL) {
        memset(s->token, 0, strlen(s->token));
        free(s->token);
    }
    free(s);
}

void admin_server_rebind(struct admin_server *s, const struct config *cfg, autocert_manager *m,
                         struct lifecycle *lc)
{
    if (s == NULL)
        return;
    pthread_rwlock_wrlock(&s->lock);
    s->cfg = cfg;
    s->m = m;
    s->lc = lc;
    if (cfg != NULL) {
        const char *t = cfg->admin.token;

        if ((t == NULL || t[0] == '\0') && !s->loopback) {
            ac_warn(ADMIN_LOG, "reload: admin.token removed while the admin API listens on a "
                               "non-loopback address; keeping the old token");
        } else if (t == NULL || s->token == NULL || strcmp(t, s->token) != 0) {
            char *copy = t != NULL && t[0] != '\0' ? strdup(t) : NULL;

            if (t != NULL && t[0] != '\0' && copy == NULL) {
                ac_warn(ADMIN_LOG, "reload: out of memory; keeping the old admin token");
            } else {
                if (s->token != NULL)
                    memset(s->token, 0, strlen(s->token));
                free(s->token);
                s->token = copy;
            }
        }
    }
    pthread_rwlock_unlock(&s->lock);
}
