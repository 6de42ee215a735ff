/*
 * store_pg.c - the PostgreSQL store's handle and its one background thread:
 * it connects (never the caller), creates or checks the schema and the key
 * check, LISTENs, heartbeats this node, turns notifications into events, and
 * reconnects with backoff (at most 5 s) when the database goes away; every
 * operation meanwhile fails at once with AC_ERR_STORE_DOWN.
 *
 *   CONNECTING --connected, schema and key fine--> UP --lost--> CONNECTING
 *        |                                          |
 *        +--wrong key / schema refused--> REFUSED <-+ (key changed: rekey)
 *
 * A wrong key is final (until the store is opened again); a schema refusal is
 * retried (a DBA may run migrate-schema meanwhile).
 */
#include "store_pg_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define BACKOFF_FIRST_MS 200

void pg_emit(struct store_pg *s, enum storage_event ev, const char *id,
             enum storage_challenge_kind kind, const char *key, const char *key_auth)
{
    storage_event_fn fn;
    void *arg;

    pthread_mutex_lock(&s->state_mu);
    fn = s->fn;
    arg = s->fn_arg;
    pthread_mutex_unlock(&s->state_mu);
    if (fn != NULL)
        fn(arg, ev, id, kind, key, key_auth);
}

void pg_set_listener(struct storage *st, storage_event_fn fn, void *arg)
{
    struct store_pg *s = (struct store_pg *)st;

    pthread_mutex_lock(&s->state_mu);
    s->fn = fn;
    s->fn_arg = arg;
    pthread_mutex_unlock(&s->state_mu);
}

bool pg_is_up(struct storage *st)
{
    return atomic_load(&((struct store_pg *)st)->state) == PG_UP;
}

void store_pg_describe(struct storage *st, char *buf, size_t n)
{
    struct store_pg *s = (struct store_pg *)st;
    int state = atomic_load(&s->state);

    pthread_mutex_lock(&s->state_mu);
    if (state == PG_UP)
        snprintf(buf, n, "connected");
    else if (state == PG_REFUSED)
        snprintf(buf, n, "refused: %s", s->desc);
    else
        snprintf(buf, n, "connecting: %s", s->desc);
    pthread_mutex_unlock(&s->state_mu);
}

void pg_set_state(struct store_pg *s, int state, const char *kind, const char *desc)
{
    pthread_mutex_lock(&s->state_mu);
    atomic_store(&s->state, state);
    snprintf(s->desc, sizeof s->desc, "%s", desc);
    if (kind != NULL)
        snprintf(s->refuse_kind, sizeof s->refuse_kind, "%s", kind);
    if (state == PG_UP)
        s->connections++;
    pthread_cond_broadcast(&s->state_cv);
    pthread_mutex_unlock(&s->state_mu);
}

static void drain_wake(struct store_pg *s)
{
    char buf[64];

    while (read(s->wake[0], buf, sizeof buf) > 0) {
    }
}

/* Waits ms or until woken; true when the store is being freed. */
static bool wait_wake(struct store_pg *s, int ms)
{
    struct pollfd pfd = {.fd = s->wake[0], .events = POLLIN};
    int64_t until = pg_now_ms() + ms;

    while (!atomic_load(&s->stop)) {
        int64_t left = until - pg_now_ms();
        if (left <= 0)
            break;
        if (poll(&pfd, 1, (int)left) > 0)
            drain_wake(s);
    }
    return atomic_load(&s->stop);
}

void pg_leases_set(struct store_pg *s, struct pg_lease_ent *v, size_t n)
{
    struct pg_lease_ent *old;

    pthread_mutex_lock(&s->lease_mu);
    old = s->leases;
    s->leases = v;
    s->nleases = n;
    pthread_mutex_unlock(&s->lease_mu);
    free(old);
}

void pg_leases_note(struct store_pg *s, const char *id, const char *holder)
{
    struct pg_lease_ent *v;
    size_t i;

    pthread_mutex_lock(&s->lease_mu);
    for (i = 0; i < s->nleases && strcmp(s->leases[i].id, id) != 0; i++)
        ;
    if (holder == NULL) {
        if (i < s->nleases)
            s->leases[i] = s->leases[--s->nleases];
    } else if (i < s->nleases) {
        snprintf(s->leases[i].holder, sizeof s->leases[i].holder, "%s", holder);
    } else if ((v = realloc(s->leases, (s->nleases + 1) * sizeof *v)) != NULL) {
        s->leases = v;
        snprintf(v[i].id, sizeof v[i].id, "%s", id);
        snprintf(v[i].holder, sizeof v[i].holder, "%s", holder);
        s->nleases++;
    }
    pthread_mutex_unlock(&s->lease_mu);
}

/* The live leases of the fleet, for lease_holder. */
static void read_leases(struct store_pg *s, PGconn *lc)
{
    PGresult *r = pg_exec(lc, "leases",
                          "SELECT id, holder FROM autocert_leases WHERE expires_at > now() "
                          "AND holder <> ''",
                          NULL, false, NULL);
    struct pg_lease_ent *v = NULL;
    int n;

    if (r == NULL)
        return;
    n = PQntuples(r);
    if (n > 0 && (v = calloc((size_t)n, sizeof *v)) == NULL) {
        PQclear(r);
        return;
    }
    for (int i = 0; i < n; i++) {
        snprintf(v[i].id, sizeof v[i].id, "%s", PQgetvalue(r, i, 0));
        snprintf(v[i].holder, sizeof v[i].holder, "%s", PQgetvalue(r, i, 1));
    }
    PQclear(r);
    pg_leases_set(s, v, (size_t)n);
}

static int heartbeat(struct store_pg *s, PGconn *lc, struct ac_error *e)
{
    struct pg_params p = {0};

    pg_p_text(&p, s->node_id);
    if (pg_cmd(lc, "heartbeat",
               "INSERT INTO autocert_nodes (node, seen_at) VALUES ($1, now()) "
               "ON CONFLICT (node) DO UPDATE SET seen_at = now()",
               &p, e) != 0)
        return -1;
    read_leases(s, lc);
    /* tidy what nobody needs any more (any node may) */
    return pg_script(lc, "tidy",
                     "DELETE FROM autocert_challenges WHERE expires_at < now() - interval '1 "
                     "hour';"
                     "DELETE FROM autocert_challenge_acks a WHERE NOT EXISTS (SELECT 1 FROM "
                     "autocert_challenges c WHERE c.kind = a.kind AND c.key = a.key);"
                     "DELETE FROM autocert_nodes WHERE seen_at < now() - interval '1 day'",
                     e);
}

/* After "k:" (a rekey): true when this node's key still opens the check. */
static bool key_still_valid(struct store_pg *s, PGconn *lc)
{
    PGresult *r = pg_exec(lc, "key check", "SELECT v FROM autocert_meta WHERE k = 'key_check'",
                          NULL, false, NULL);
    bool ok = true;

    if (r != NULL) {
        pthread_mutex_lock(&s->conn_mu);
        ok = PQntuples(r) == 1 && s->key_check != NULL &&
             strcmp(PQgetvalue(r, 0, 0), s->key_check) == 0;
        pthread_mutex_unlock(&s->conn_mu);
        PQclear(r);
    }
    return ok;
}

enum loop_end { LOOP_LOST, LOOP_STOP, LOOP_REFUSED };
enum notify_end { NOTIFY_OK, NOTIFY_LOST, NOTIFY_REFUSED };

static enum notify_end handle_notify(struct store_pg *s, PGconn *lc, const PGnotify *n, int own_pid,
                                     struct ac_error *e)
{
    const char *pl = n->extra;

    if (strncmp(pl, "k:", 2) == 0 && !key_still_valid(s, lc)) {
        ac_error_set(e, AC_ERR_STORE_KEY,
                     "the database's encryption key was changed (autocert store rekey): restart "
                     "this node with the new encryption_key");
        return NOTIFY_REFUSED;
    }
    if (n->be_pid == own_pid)
        return NOTIFY_OK; /* our own write: nothing to reload */
    if (strncmp(pl, "p:", 2) == 0 && strlen(pl + 2) < 13) {
        pg_emit(s, STORAGE_EV_PAIR, pl + 2, 0, NULL, NULL);
    } else if (strncmp(pl, "c:", 2) == 0) {
        char *end = NULL;
        long kind = strtol(pl + 2, &end, 10);
        if (end != NULL && *end == ':' &&
            (kind == STORAGE_CH_HTTP01 || kind == STORAGE_CH_ALPN01) &&
            pg_challenge_deliver(s, lc, (int)kind, end + 1, e) != 0 &&
            PQstatus(lc) == CONNECTION_BAD)
            return NOTIFY_LOST;
    }
    return NOTIFY_OK;
}

/* The connected loop: notifications, heartbeats, until lost or stopped. */
static enum loop_end run_connected(struct store_pg *s, PGconn *lc, int own_pid, struct ac_error *e)
{
    int64_t every = (int64_t)s->lease_ttl_s * 1000 / 3, next = pg_now_ms() + every;

    for (;;) {
        struct pollfd pfd[2] = {{.fd = PQsocket(lc), .events = POLLIN},
                                {.fd = s->wake[0], .events = POLLIN}};
        int64_t left = next - pg_now_ms();
        PGnotify *n;

        if (atomic_load(&s->stop))
            return LOOP_STOP;
        if (atomic_load(&s->broken)) {
            ac_error_set(e, AC_ERR_STORE_DOWN, "the connection was lost");
            return LOOP_LOST;
        }
        if (poll(pfd, 2, left > 0 ? (int)left : 0) < 0 && errno != EINTR) {
            ac_error_set(e, AC_ERR_STORE_DOWN, "poll: %s", strerror(errno));
            return LOOP_LOST;
        }
        if (pfd[1].revents & POLLIN)
            drain_wake(s);
        if (pfd[0].revents != 0 && PQconsumeInput(lc) == 0) {
            ac_error_set(e, AC_ERR_STORE_DOWN, "the connection was lost");
            return LOOP_LOST;
        }
        while ((n = PQnotifies(lc)) != NULL) {
            enum notify_end k = handle_notify(s, lc, n, own_pid, e);
            PQfreemem(n);
            if (k == NOTIFY_REFUSED)
                return LOOP_REFUSED;
            if (k == NOTIFY_LOST)
                return LOOP_LOST;
        }
        if (PQstatus(lc) == CONNECTION_BAD) {
            ac_error_set(e, AC_ERR_STORE_DOWN, "the connection was lost");
            return LOOP_LOST;
        }
        if (pg_now_ms() >= next) {
            if (heartbeat(s, lc, e) != 0 && PQstatus(lc) == CONNECTION_BAD)
                return LOOP_LOST;
            next = pg_now_ms() + every;
        }
    }
}

/* Connects both connections and checks schema and key. 0, or -1 with e. */
static int connect_all(struct store_pg *s, PGconn **ops, PGconn **lc, char **kc, struct ac_error *e)
{
    int64_t deadline = pg_now_ms() + (int64_t)s->connect_timeout_s * 1000;

    *ops = pg_connect(&s->ci, deadline, s->wake[0], e);
    if (*ops == NULL)
        return -1;
    *lc = pg_connect(&s->ci, deadline, s->wake[0], e);
    if (*lc == NULL)
        return -1;
    if (pg_schema_setup(*ops, s->migrate, s->key, kc, e) != 0)
        return -1;
    if (pg_cmd(*lc, "listen", "LISTEN " STORE_PG_CHANNEL, NULL, e) != 0 ||
        heartbeat(s, *lc, e) != 0)
        return -1;
    return 0;
}

/* After a failed connection attempt: records it, waits the backoff (a wrong
 * key: until the store is freed). True when the thread must end. */
static bool connect_failed(struct store_pg *s, const struct ac_error *e, int *backoff, char *last,
                           size_t last_n)
{
    bool key = ac_error_is(e, AC_ERR_STORE_KEY);
    bool schema = ac_error_is(e, AC_ERR_STORE_SCHEMA);

    if (key || schema) {
        if (strcmp(last, e->message) != 0)
            ac_err(NULL, "store: %s", e->message);
        pg_set_state(s, PG_REFUSED, e->kind, e->message);
    } else if (!ac_error_is(e, AC_ERR_CANCELLED)) {
        /* once per distinct cause, not at every retry */
        if (strcmp(last, e->message) != 0)
            ac_warn(NULL, "store: %s (retrying every %d s at most)", e->message,
                    STORE_PG_BACKOFF_MAX_MS / 1000);
        pg_set_state(s, atomic_load(&s->state) == PG_REFUSED ? PG_REFUSED : PG_CONNECTING, NULL,
                     e->message);
    }
    snprintf(last, last_n, "%s", e->message);
    if (key) {
        while (!wait_wake(s, 60000)) {
        }
        return true;
    }
    if (wait_wake(s, schema ? STORE_PG_BACKOFF_MAX_MS : *backoff))
        return true;
    *backoff = *backoff * 2 > STORE_PG_BACKOFF_MAX_MS ? STORE_PG_BACKOFF_MAX_MS : *backoff * 2;
    return false;
}

/* Publishes the connections, runs until lost or stopped, tears down. */
static enum loop_end connected(struct store_pg *s, PGconn *ops, PGconn *lc, char *kc,
                               struct ac_error *e)
{
    int own_pid = PQbackendPID(ops);
    enum loop_end end;

    pthread_mutex_lock(&s->conn_mu);
    s->ops = ops;
    s->key_check = kc;
    pg_set_state(s, PG_UP, NULL, "connected");
    pthread_mutex_unlock(&s->conn_mu);
    ac_info(NULL, "store: connected to PostgreSQL (node %s)", s->node_id);
    pg_emit(s, STORAGE_EV_RESYNC, NULL, 0, NULL, NULL);
    /* challenges put while this node was away */
    if (pg_challenge_deliver(s, lc, 0, NULL, e) != 0)
        ac_warn(NULL, "store: %s", e->message);
    ac_error_clear(e);
    end = run_connected(s, lc, own_pid, e);
    if (end == LOOP_STOP) {
        struct pg_params p = {0};
        pg_p_text(&p, s->node_id);
        (void)pg_cmd(lc, "leave", "DELETE FROM autocert_nodes WHERE node = $1", &p, NULL);
    }
    pthread_mutex_lock(&s->conn_mu);
    if (end == LOOP_REFUSED)
        pg_set_state(s, PG_REFUSED, AC_ERR_STORE_KEY, e->message);
    else
        pg_set_state(s, PG_CONNECTING, NULL, end == LOOP_STOP ? "closed" : e->message);
    pg_leases_set(s, NULL, 0); /* not known while away */
    PQfinish(s->ops);
    s->ops = NULL;
    free(s->key_check);
    s->key_check = NULL;
    pthread_mutex_unlock(&s->conn_mu);
    PQfinish(lc);
    return end;
}

static void *pg_thread(void *arg)
{
    struct store_pg *s = arg;
    int backoff = BACKOFF_FIRST_MS;
    char last[AC_ERROR_MESSAGE_MAX] = "";

    while (!atomic_load(&s->stop)) {
        struct ac_error e;
        PGconn *ops = NULL, *lc = NULL;
        char *kc = NULL;
        enum loop_end end;

        ac_error_clear(&e);
        atomic_store(&s->broken, false);
        if (connect_all(s, &ops, &lc, &kc, &e) != 0) {
            if (ops != NULL)
                PQfinish(ops);
            if (lc != NULL)
                PQfinish(lc);
            free(kc);
            if (connect_failed(s, &e, &backoff, last, sizeof last))
                break;
            continue;
        }
        backoff = BACKOFF_FIRST_MS;
        last[0] = '\0';
        end = connected(s, ops, lc, kc, &e);
        if (end == LOOP_STOP)
            break;
        pg_emit(s, STORAGE_EV_DOWN, NULL, 0, NULL, NULL);
        if (end == LOOP_REFUSED) {
            ac_err(NULL, "store: %s", e.message);
            while (!wait_wake(s, 60000)) {
            }
            break;
        }
        ac_warn(NULL, "store: PostgreSQL connection lost: %s", e.message);
    }
    return NULL;
}

static void pg_destroy(struct store_pg *s)
{
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pg_conninfo_free(&s->ci);
    free(s->node_id);
    gnutls_memset(s->key, 0, sizeof s->key);
    pthread_mutex_destroy(&s->conn_mu);
    pthread_mutex_destroy(&s->state_mu);
    pg_leases_set(s, NULL, 0);
    pthread_mutex_destroy(&s->lease_mu);
    pthread_cond_destroy(&s->state_cv);
    free(s);
}

void pg_free(struct storage *st)
{
    struct store_pg *s = (struct store_pg *)st;

    if (s == NULL)
        return;
    atomic_store(&s->stop, true);
    if (write(s->wake[1], "s", 1) < 0) {
        /* the thread polls the flag at least every heartbeat */
    }
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    pg_destroy(s);
}

int store_pg_open(const struct store_pg_params *p, struct storage **out, struct ac_error *e)
{
    struct store_pg *s = NULL;
    char host[256], node[300];

    if (p->lease_ttl_s != 0 && p->lease_ttl_s < STORE_PG_LEASE_TTL_MIN) {
        ac_error_set(e, AC_ERR_CONFIG, "store.lease_ttl: %ds is below the minimum of %ds",
                     p->lease_ttl_s, STORE_PG_LEASE_TTL_MIN);
        return -1;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    s->base.ops = &store_pg_ops;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_mutex_init(&s->state_mu, NULL);
    pthread_mutex_init(&s->lease_mu, NULL);
    pthread_cond_init(&s->state_cv, NULL);
    atomic_init(&s->state, PG_CONNECTING);
    snprintf(s->desc, sizeof s->desc, "not connected yet");
    memcpy(s->key, p->key, sizeof s->key);
    s->lease_ttl_s = p->lease_ttl_s > 0 ? p->lease_ttl_s : STORE_PG_LEASE_TTL_DEFAULT;
    s->statement_timeout_ms = p->statement_timeout_ms > 0 ? p->statement_timeout_ms : 10000;
    s->connect_timeout_s = p->connect_timeout_s > 0 ? p->connect_timeout_s : 5;
    s->migrate = p->migrate;
    if (p->node_id != NULL && p->node_id[0] != '\0') {
        snprintf(node, sizeof node, "%s", p->node_id);
    } else {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(node, sizeof node, "%s:%ld", host, (long)getpid());
    }
    s->node_id = strdup(node);
    if (s->node_id == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (pg_conninfo_build(&s->ci, p->url, s->connect_timeout_s, s->statement_timeout_ms, e) != 0)
        goto fail;
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        ac_error_set(e, AC_ERR_IO, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, pg_thread, s) != 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "cannot start the store's thread");
        goto fail;
    }
    s->thread_started = true;
    *out = &s->base;
    return 0;
fail:
    pg_destroy(s);
    return -1;
}

int store_pg_open_wait(const struct store_pg_params *p, int timeout_ms, struct storage **out,
                       struct ac_error *e)
{
    struct storage *st = NULL;
    struct store_pg *s;
    int64_t until = pg_now_ms() + timeout_ms;
    int state;

    if (store_pg_open(p, &st, e) != 0)
        return -1;
    s = (struct store_pg *)st;
    pthread_mutex_lock(&s->state_mu);
    while ((state = atomic_load(&s->state)) == PG_CONNECTING || state == PG_REFUSED) {
        int64_t left = until - pg_now_ms();
        struct timespec ts;
        if (state == PG_REFUSED || left <= 0)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (left > 200)
            left = 200;
        ts.tv_nsec += (long)(left % 1000) * 1000000;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&s->state_cv, &s->state_mu, &ts);
    }
    if (state == PG_REFUSED)
        ac_error_set(e, s->refuse_kind, "%s", s->desc);
    else if (state != PG_UP)
        ac_error_set(e, AC_ERR_STORE_DOWN, "the PostgreSQL store could not be reached: %s",
                     s->desc);
    pthread_mutex_unlock(&s->state_mu);
    if (state != PG_UP) {
        pg_free(st);
        return -1;
    }
    *out = st;
    return 0;
}

#ifdef AUTOCERT_TEST_HOOKS
int store_pg_test_expire_lease(struct storage *st, const char *id)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGconn *c = pg_ops_begin(s, NULL);
    int rc;

    if (c == NULL)
        return -1;
    pg_p_text(&p, id);
    rc = pg_cmd(c, "test",
                "UPDATE autocert_leases SET expires_at = now() - interval '1 second' "
                "WHERE id = $1",
                &p, NULL);
    pg_ops_end(s);
    return rc;
}
#endif
