/*
 * admin_http.c - the REST admin API on its own libmicrohttpd server
 * (admin_server.h; public form autocert_admin_start in admin_public.c).
 *
 * One thread per connection: a forced renewal (POST waits) occupies only its
 * own connection's thread; an event stream (GET) is fed by a thread of its
 * own (admin_stream.c). Every request first passes the checks that need only
 * its head (first call of the access handler): the connection caps and the
 * request deadline (admin_conn.c), the URI and header sizes, then the
 * handler's own head checks (admin_api_precheck: Host / Origin /
 * Sec-Fetch-Site, the token rule, Content-Length). A refusal decided there is
 * sent at once with "Connection: close", the body unread. Otherwise the body
 * is counted (never needed; over ADMIN_MAX_BODY it gets 413) and the whole
 * request goes to admin_api_route, the code autocert_admin_handle runs too.
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

#include "admin_api.h"
#include "admin_conn.h"
#include "admin_guard.h"
#include "listen.h"
#include "log.h"
#include "manager.h"
#include "mhd_conn.h"
#include "textsafe.h"
#include "timeutil.h"

#define ADMIN_MAX_HEADER_BYTES 8192  /* request line + header lines (431 beyond) */
#define ADMIN_MHD_MEMORY (32 * 1024) /* libmicrohttpd's per-connection buffer */

struct admin_server {
    struct MHD_Daemon *daemon;
    autocert_manager *m; /* admin.token is read from its configuration per request */
    bool loopback;       /* the bound address is a loopback one */
    int port;
    struct admin_guard guard;  /* Host / Origin policy; fixed after start */
    struct admin_conns *conns; /* connection caps and request deadline */
    struct admin_limits limits;
};

/* Per-request state (MHD's con_cls): made by uri_logged (or at the first call
 * of the access handler), freed in request_completed. */
struct request {
    char uri[ADMIN_MAX_URI + 1]; /* the request target as received (cut) */
    size_t uri_len;              /* its real length, up to ADMIN_MAX_URI + 1 */
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

/* ---- sending a handler's response ---- */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    ssize_t n = autocert_admin_response_read(cls, buf, max);

    (void)pos;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_done(void *cls)
{
    autocert_admin_response_free(cls);
}

/* Queues r (takes ownership; NULL: out of memory). */
static enum MHD_Result send_response(struct MHD_Connection *c, autocert_admin_response *r)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;
    const char *name, *value;
    int status;

    if (r == NULL)
        r = admin_response_message(500, "out of memory", false);
    if (r == NULL)
        return MHD_NO;
    status = autocert_admin_response_status(r);
    if (autocert_admin_response_streaming(r)) {
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, r,
                                               stream_done);
        if (mr == NULL) {
            autocert_admin_response_free(r);
            return MHD_NO;
        }
    } else {
        size_t len;
        const char *body = admin_response_body(r, &len);

        mr = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        if (mr == NULL) {
            autocert_admin_response_free(r);
            return MHD_NO;
        }
    }
    for (size_t i = 0; autocert_admin_response_header(r, i, &name, &value) == 0; i++)
        MHD_add_response_header(mr, name, value);
    if (admin_response_close(r))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    if (!autocert_admin_response_streaming(r))
        autocert_admin_response_free(r); /* the stream's goes with mr (stream_done) */
    ret = MHD_queue_response(c, (unsigned int)status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static const char *mhd_header(void *arg, const char *name)
{
    return MHD_lookup_connection_value(arg, MHD_HEADER_KIND, name);
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

/* The handler's view of an MHD request. */
static void make_request(struct MHD_Connection *c, const struct request *r, const char *url,
                         const char *method, autocert_admin_request *req,
                         struct admin_req_meta *meta)
{
    const union MHD_ConnectionInfo *peer =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const char *q = memchr(r->uri, '?', strnlen(r->uri, sizeof r->uri));

    memset(req, 0, sizeof *req);
    req->method = method;
    req->path = url;
    req->query = q != NULL ? q + 1 : NULL;
    req->header = mhd_header;
    req->header_arg = c;
    req->body_len = r->body_len;
    if (peer != NULL && peer->client_addr != NULL) {
        req->peer = peer->client_addr;
        req->peer_len = peer->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                 : sizeof(struct sockaddr_in);
    }
    memset(meta, 0, sizeof *meta);
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &meta->host_count);
    meta->peer_text = admin_conn_peer(mhd_conn_record(c));
}

/* The API instance a request is answered by, with the token of cfg (the
 * manager's configuration, a reference held for the request). */
static void make_api(struct admin_server *s, const struct config *cfg, struct admin_api *a)
{
    memset(a, 0, sizeof *a);
    a->m = s->m;
    a->token = cfg->admin.token;
    a->guard = s->guard;
    a->conns = s->conns;
    a->owner = s;
}

/* The transport's own head checks (caps, sizes). Returns a refusal or NULL. */
static autocert_admin_response *check_transport(struct admin_server *s, struct MHD_Connection *c,
                                                struct admin_conn *conn, struct request *r,
                                                const char *url)
{
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    autocert_admin_response *f = NULL;

    if (admin_conn_over(conn) && strcmp(url, "/healthz") != 0) {
        admin_conns_note(s->conns, ADMIN_NOTE_OVERLOAD,
                         "answered 503 to %s: too many connections (limits: %u in all, %u per "
                         "address)",
                         admin_conn_peer(conn), s->limits.conn_soft_max, s->limits.conn_per_ip);
        f = admin_response_message(503, "too many connections to the admin API; try again", true);
        if (f != NULL && admin_response_add_header(f, "Retry-After", "1") != 0) {
            autocert_admin_response_free(f);
            f = NULL;
        }
        return f != NULL ? f : admin_response_message(500, "out of memory", true);
    }
    if (r->uri_len > ADMIN_MAX_URI)
        return admin_response_message(414, "request target too long", true);
    if (hs != NULL && hs->header_size > ADMIN_MAX_HEADER_BYTES)
        return admin_response_message(431, "request header too large", true);
    return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct admin_server *s = cls;
    struct request *r = *con_cls;
    struct admin_conn *conn = mhd_conn_record(c);
    autocert_admin_request req;
    struct admin_req_meta meta;
    struct admin_api api;
    autocert_admin_response *resp = NULL;
    struct config *cfg;
    int rc;

    (void)version;
    (void)upload_data;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
    }
    if (!r->seen) {
        r->seen = true;
        resp = check_transport(s, c, conn, r, url);
        if (resp == NULL) {
            cfg = manager_config_ref(s->m);
            if (cfg == NULL)
                return MHD_NO;
            make_request(c, r, url, method, &req, &meta);
            make_api(s, cfg, &api);
            rc = admin_api_precheck(&api, &req, &meta, &resp);
            config_free(cfg);
            if (rc != 0)
                return MHD_NO;
        }
        if (resp == NULL)
            return MHD_YES; /* the body (if any) next: the deadline runs on */
        if (!admin_conns_request_received(s->conns, conn)) {
            autocert_admin_response_free(resp);
            return MHD_NO; /* the reaper closed it meanwhile */
        }
        return send_response(c, resp);
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
    cfg = manager_config_ref(s->m);
    if (cfg == NULL)
        return MHD_NO;
    make_request(c, r, url, method, &req, &meta);
    make_api(s, cfg, &api);
    rc = admin_api_route(&api, &req, &meta, &resp);
    config_free(cfg);
    return send_response(c, rc == 0 ? resp : NULL);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line arrived. Its return value
 * becomes the request's con_cls. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct admin_server *s = cls;
    struct request *r = calloc(1, sizeof *r);

    if (r != NULL && uri != NULL) {
        r->uri_len = strnlen(uri, ADMIN_MAX_URI + 1);
        memcpy(r->uri, uri, r->uri_len <= ADMIN_MAX_URI ? r->uri_len : ADMIN_MAX_URI);
    }
    admin_conns_request_started(s->conns, mhd_conn_record(c));
    return r;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct admin_server *s = cls;

    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
    admin_conns_request_done(s->conns, mhd_conn_record(c));
}

/* A non-loopback address needs a token (configuration validation says the
 * same for admin.listen; a host may give another address). */
/* libmicrohttpd's own messages (mhd_conn_log) */
static struct mhd_log_tag mhd_tag = {ADMIN_LOG, "http server"};

static int check_listen(const char *listen, bool has_token, char *host, size_t host_len, int *port,
                        struct ac_error *e)
{
    if (listen_parse(listen, host, host_len, port) != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "admin.listen '%s' is not host:port or [v6]:port", listen);
        return -1;
    }
    if (!admin_host_is_loopback(host) && !has_token) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "admin.listen %s is not a loopback address and admin.token is not set: "
                     "refusing to expose the admin API without a token (set admin.token, or "
                     "listen on 127.0.0.1)",
                     listen);
        return -1;
    }
    return 0;
}

int admin_server_open(autocert_manager *m, const char *listen, const struct admin_limits *limits,
                      struct admin_server **out, struct ac_error *e)
{
    struct admin_server *s = NULL;
    struct config *cfg = manager_config_ref(m);
    struct admin_limits defaults;
    char host[256];
    int port, fd = -1, rc = -1;
    bool has_token, v6;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;

    *out = NULL;
    if (cfg == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (limits == NULL) {
        admin_limits_default(&defaults);
        limits = &defaults;
    }
    if (listen == NULL)
        listen = cfg->admin.listen != NULL ? cfg->admin.listen : ADMIN_DEFAULT_LISTEN;
    has_token = cfg->admin.token != NULL && cfg->admin.token[0] != '\0';
    if (check_listen(listen, has_token, host, sizeof host, &port, e) != 0)
        goto out;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    s->m = m;
    s->limits = *limits;
    s->loopback = admin_host_is_loopback(host);
    /* Our own socket: bind errors are ours to word (and MHD logs none). */
    fd =
        listen_open("admin.listen", listen, strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host,
                    port, (int)limits->backlog, &v6, e);
    if (fd < 0)
        goto out;
    if (v6)
        flags |= MHD_USE_IPv6;
    s->port = listen_bound_port(fd);
    if (s->port == 0)
        s->port = port;
    if (admin_guard_init(&s->guard, host, s->loopback, s->port) != 0 ||
        admin_conns_new(limits, &s->conns) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "admin API: out of memory");
        goto out;
    }
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_conn_log, &mhd_tag,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)limits->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)limits->conn_max, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)ADMIN_MHD_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, s,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        mhd_conn_notify, s->conns, MHD_OPTION_END);
    if (s->daemon == NULL) {
        /* MHD may or may not have closed fd on its failure paths: leak it
         * rather than risk closing a descriptor someone else now owns. */
        fd = -1;
        ac_error_set(e, AC_ERR_IO, "admin.listen %s: cannot start the HTTP server", listen);
        goto out;
    }
    fd = -1; /* MHD closes it (or admin_server_stop, after a quiesce) */
    ac_info(ADMIN_LOG, "admin API listening on %s%s", listen,
            has_token ? " (bearer token required)" : "");
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (s != NULL) {
        admin_conns_free(s->conns);
        free(s);
    }
    config_free(cfg);
    return rc;
}

int admin_server_start_limits(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                              const struct admin_limits *limits, struct admin_server **out,
                              struct ac_error *e)
{
    (void)lc;
    return admin_server_open(m, cfg != NULL ? cfg->admin.listen : NULL, limits, out, e);
}

int admin_server_start(const struct config *cfg, autocert_manager *m, struct lifecycle *lc,
                       struct admin_server **out, struct ac_error *e)
{
    return admin_server_start_limits(cfg, m, lc, NULL, out, e);
}

int admin_server_port(const struct admin_server *s)
{
    return s != NULL ? s->port : 0;
}

/* Connections open now (0 when unknown). */
static unsigned open_connections(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

    return i != NULL ? i->num_connections : 0;
}

void admin_server_stop(struct admin_server *s)
{
    MHD_socket lfd;
    int64_t until;

    if (s == NULL)
        return;
    /* Streams still read get their last event; then no new connection, and
     * the answers under way may go out (bounded) before everything closes. */
    admin_streams_stop(s);
    lfd = MHD_quiesce_daemon(s->daemon);
    until = ac_mono_ms() + ADMIN_STOP_GRACE_MS;
    while (open_connections(s->daemon) > 0 && ac_mono_ms() < until)
        ac_sleep_ms(20, NULL);
    MHD_stop_daemon(s->daemon); /* every connection is closed when it returns */
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    admin_conns_free(s->conns);
    free(s);
}

void admin_server_rebind(struct admin_server *s, const struct config *cfg, autocert_manager *m,
                         struct lifecycle *lc)
{
    /* The token is read from the manager's configuration per request. */
    (void)s;
    (void)cfg;
    (void)m;
    (void)lc;
}
