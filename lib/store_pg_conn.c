/*
 * store_pg_conn.c - the PostgreSQL store's connections: the connection
 * parameters (the user's URL plus timeouts and keepalives on every
 * connection), a non-blocking connect bounded by a deadline, and one query
 * helper that maps libpq's failures onto the store's error kinds.
 */
#include "log.h"
#include "store_pg_priv.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t pg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pg_conninfo_free(struct pg_conninfo *ci)
{
    for (size_t i = 0; i < ci->n; i++) {
        free(ci->keys[i]);
        if (ci->values[i] != NULL) {
            memset(ci->values[i], 0, strlen(ci->values[i]));
            free(ci->values[i]);
        }
    }
    free(ci->keys);
    free(ci->values);
    memset(ci, 0, sizeof *ci);
}

/* Sets key to value (replacing the user's), or appends value to the user's
 * when append (libpq's options). NULL-terminated arrays are kept. */
static int ci_set(struct pg_conninfo *ci, const char *key, const char *value, bool append)
{
    char *v;

    for (size_t i = 0; i < ci->n; i++) {
        if (strcmp(ci->keys[i], key) != 0)
            continue;
        if (append && ci->values[i] != NULL && ci->values[i][0] != '\0') {
            size_t n = strlen(ci->values[i]) + strlen(value) + 2;
            v = malloc(n);
            if (v == NULL)
                return -1;
            snprintf(v, n, "%s %s", ci->values[i], value);
        } else {
            v = strdup(value);
            if (v == NULL)
                return -1;
        }
        free(ci->values[i]);
        ci->values[i] = v;
        return 0;
    }
    char **k2 = realloc(ci->keys, (ci->n + 2) * sizeof *k2);
    if (k2 == NULL)
        return -1;
    ci->keys = k2;
    char **v2 = realloc(ci->values, (ci->n + 2) * sizeof *v2);
    if (v2 == NULL)
        return -1;
    ci->values = v2;
    ci->keys[ci->n] = strdup(key);
    ci->values[ci->n] = strdup(value);
    if (ci->keys[ci->n] == NULL || ci->values[ci->n] == NULL) {
        free(ci->keys[ci->n]);
        free(ci->values[ci->n]);
        return -1;
    }
    ci->n++;
    ci->keys[ci->n] = NULL;
    ci->values[ci->n] = NULL;
    return 0;
}

int pg_conninfo_build(struct pg_conninfo *ci, const char *url, int connect_timeout_s,
                      int statement_timeout_ms, struct ac_error *e)
{
    PQconninfoOption *opts = NULL;
    char *err = NULL, num[64];
    bool has_app = false;
    int rc = -1;

    memset(ci, 0, sizeof *ci);
    if (url == NULL || url[0] == '\0') {
        ac_error_set(e, AC_ERR_CONFIG, "store.url: empty");
        return -1;
    }
    opts = PQconninfoParse(url, &err);
    if (opts == NULL) {
        /* libpq's message can quote the string: never pass it on */
        ac_error_set(e, AC_ERR_CONFIG,
                     "store.url: not a valid PostgreSQL connection URI or "
                     "key=value string");
        goto out;
    }
    ci->keys = calloc(1, sizeof *ci->keys);
    ci->values = calloc(1, sizeof *ci->values);
    if (ci->keys == NULL || ci->values == NULL)
        goto nomem;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "application_name") == 0)
            has_app = true;
        if (ci_set(ci, o->keyword, o->val, false) != 0)
            goto nomem;
    }
    snprintf(num, sizeof num, "%d", connect_timeout_s);
    if (ci_set(ci, "connect_timeout", num, false) != 0 ||
        ci_set(ci, "keepalives", "1", false) != 0 ||
        ci_set(ci, "keepalives_idle", "10", false) != 0 ||
        ci_set(ci, "keepalives_interval", "5", false) != 0 ||
        ci_set(ci, "keepalives_count", "3", false) != 0)
        goto nomem;
    snprintf(num, sizeof num, "%d", statement_timeout_ms < 10000 ? 10000 : statement_timeout_ms);
    if (ci_set(ci, "tcp_user_timeout", num, false) != 0)
        goto nomem;
    snprintf(num, sizeof num, "-c statement_timeout=%d", statement_timeout_ms);
    if (ci_set(ci, "options", num, true) != 0)
        goto nomem;
    if (!has_app && ci_set(ci, "application_name", "autocert", false) != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    ac_error_set(e, AC_ERR_NOMEM, "out of memory");
out:
    if (err != NULL)
        PQfreemem(err);
    if (opts != NULL)
        PQconninfoFree(opts);
    if (rc != 0)
        pg_conninfo_free(ci);
    return rc;
}

/* libpq's message on one line, without the trailing newline. */
static void one_line(const char *in, char *out, size_t n)
{
    size_t j = 0;

    for (size_t i = 0; in != NULL && in[i] != '\0' && j + 1 < n; i++) {
        char c = in[i];
        if (c == '\n' || c == '\t' || c == '\r') {
            if (j > 0 && out[j - 1] != ' ' && in[i + 1] != '\0')
                out[j++] = ' ';
            continue;
        }
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
}

/* libpq's default notice processor writes to stderr (NOTICEs of the
 * schema's IF NOT EXISTS, a server's FATAL on shutdown): a library must not.
 * They go to the debug log, on one line. */
static void notice(void *arg, const char *message)
{
    char line[AC_ERROR_MESSAGE_MAX];

    (void)arg;
    one_line(message, line, sizeof line);
    ac_debug(NULL, "store: postgresql says: %s", line);
}

PGconn *pg_connect(const struct pg_conninfo *ci, int64_t deadline_ms, int wake_fd,
                   struct ac_error *e)
{
    PGconn *c =
        PQconnectStartParams((const char *const *)ci->keys, (const char *const *)ci->values, 0);
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    char msg[AC_ERROR_MESSAGE_MAX];

    if (c == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    PQsetNoticeProcessor(c, notice, NULL);
    if (PQstatus(c) == CONNECTION_BAD)
        goto fail;
    while (ps != PGRES_POLLING_OK) {
        struct pollfd pfd[2];
        int64_t left = deadline_ms - pg_now_ms();
        int k;

        if (ps == PGRES_POLLING_FAILED)
            goto fail;
        if (left <= 0) {
            ac_error_set(e, AC_ERR_STORE_DOWN, "postgresql: connection timed out");
            PQfinish(c);
            return NULL;
        }
        pfd[0].fd = PQsocket(c);
        pfd[0].events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        pfd[0].revents = 0;
        pfd[1].fd = wake_fd;
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        k = poll(pfd, wake_fd >= 0 ? 2 : 1, (int)(left > 1000 ? 1000 : left));
        if (k < 0 && errno != EINTR)
            goto fail;
        if (wake_fd >= 0 && (pfd[1].revents & POLLIN)) {
            ac_error_set(e, AC_ERR_CANCELLED, "postgresql: connection cancelled");
            PQfinish(c);
            return NULL;
        }
        if (k > 0)
            ps = PQconnectPoll(c);
    }
    return c;
fail:
    one_line(PQerrorMessage(c), msg, sizeof msg);
    ac_error_set(e, AC_ERR_STORE_DOWN, "postgresql: %s", msg[0] != '\0' ? msg : "cannot connect");
    PQfinish(c);
    return NULL;
}

void pg_p_text(struct pg_params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void pg_p_bin(struct pg_params *p, const void *data, size_t len)
{
    p->v[p->n] = data;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->n++;
}

void pg_p_int(struct pg_params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    pg_p_text(p, p->num[p->n]);
}

/* Fills e from a failed result (r may be NULL) and frees r. */
static void result_error(PGconn *conn, PGresult *r, const char *what, struct ac_error *e)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[AC_ERROR_MESSAGE_MAX];

    one_line(primary != NULL ? primary : PQerrorMessage(conn), msg, sizeof msg);
    if (PQstatus(conn) == CONNECTION_BAD || (state != NULL && strncmp(state, "08", 2) == 0) ||
        (state != NULL && strncmp(state, "57P", 3) == 0))
        ac_error_set(e, AC_ERR_STORE_DOWN, "postgresql: %s: connection lost: %s", what, msg);
    else if (state != NULL && strcmp(state, "57014") == 0)
        ac_error_set(e, AC_ERR_TIMEOUT, "postgresql: %s: statement timeout", what);
    else if (state != NULL && strcmp(state, "42501") == 0)
        ac_error_set(e, AC_ERR_STORE_DENIED, "postgresql: %s: %s (the role's grants)", what, msg);
    else if (state != NULL && strcmp(state, "42P01") == 0)
        ac_error_set(e, AC_ERR_STORE_SCHEMA,
                     "postgresql: %s: %s (run `autocert store migrate-schema`)", what, msg);
    else
        ac_error_set(e, AC_ERR_IO, "postgresql: %s: %s", what, msg);
    PQclear(r);
}

PGresult *pg_exec(PGconn *conn, const char *what, const char *sql, const struct pg_params *p,
                  bool binary, struct ac_error *e)
{
    PGresult *r =
        PQexecParams(conn, sql, p != NULL ? p->n : 0, NULL, p != NULL ? p->v : NULL,
                     p != NULL ? p->len : NULL, p != NULL ? p->fmt : NULL, binary ? 1 : 0);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    result_error(conn, r, what, e);
    return NULL;
}

int pg_script(PGconn *conn, const char *what, const char *sql, struct ac_error *e)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    result_error(conn, r, what, e);
    return -1;
}

int pg_aad(char *buf, size_t n, const char *id, const char *kind, struct ac_error *e)
{
    int k = snprintf(buf, n, "%s|%s", id, kind);

    if (k < 0 || (size_t)k >= n) {
        ac_error_set(e, AC_ERR_IO, "%s name too long for the PostgreSQL store (%zu bytes)", kind,
                     strlen(id));
        return -1;
    }
    return 0;
}

int pg_cmd(PGconn *conn, const char *what, const char *sql, const struct pg_params *p,
           struct ac_error *e)
{
    PGresult *r = pg_exec(conn, what, sql, p, false, e);

    if (r == NULL)
        return -1;
    PQclear(r);
    return 0;
}

int64_t pg_get_int8(const PGresult *r, int row, int col)
{
    const unsigned char *b = (const unsigned char *)PQgetvalue(r, row, col);
    uint64_t v = 0;

    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return (int64_t)v;
}

bool pg_get_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetlength(r, row, col) == 1 &&
           PQgetvalue(r, row, col)[0] != 0;
}

PGconn *pg_ops_begin(struct store_pg *s, struct ac_error *e)
{
    int state;

    pthread_mutex_lock(&s->conn_mu);
    state = atomic_load(&s->state);
    if (state == PG_UP && s->ops != NULL)
        return s->ops;
    pthread_mutex_unlock(&s->conn_mu);
    pthread_mutex_lock(&s->state_mu);
    if (state == PG_REFUSED)
        ac_error_set(e, s->refuse_kind, "%s", s->desc);
    else
        ac_error_set(e, AC_ERR_STORE_DOWN, "the PostgreSQL store is not reachable (%s)", s->desc);
    pthread_mutex_unlock(&s->state_mu);
    return NULL;
}

void pg_ops_end(struct store_pg *s)
{
    bool lost = s->ops != NULL && PQstatus(s->ops) == CONNECTION_BAD;

    if (lost && atomic_load(&s->state) == PG_UP) {
        pg_set_state(s, PG_CONNECTING, NULL, "the connection was lost");
        atomic_store(&s->broken, true);
        if (write(s->wake[1], "b", 1) < 0) {
            /* the thread also notices on its own connection */
        }
    }
    pthread_mutex_unlock(&s->conn_mu);
}
