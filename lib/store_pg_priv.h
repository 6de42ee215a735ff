/*
 * store_pg_priv.h - internal to lib/store_pg*.c: the PostgreSQL store's
 * handle, its connection helpers, the schema and the encryption.
 *
 *   store_pg.c         open/free, the background thread (connect, schema,
 *                      LISTEN, heartbeat, events, reconnect), describe
 *   store_pg_conn.c    conninfo, non-blocking connect with a deadline, the
 *                      query helper (parameters, errors, "connection lost")
 *   store_pg_schema.c  schema creation/migration/check, key check, the
 *                      administration calls (migrate-schema, rekey), AEAD
 *   store_pg_ops.c     leases, pairs, state, failure markers, account keys,
 *                      budgets
 *   store_pg_chal.c    pending challenges, acknowledgements, wait_acks
 *
 * Connections: `ops` (the operations, any thread, under conn_mu) and
 * `listen` (owned by the thread: LISTEN, heartbeats, fetching what a
 * notification names, acknowledging challenges).
 */
#ifndef AUTOCERT_STORE_PG_PRIV_H
#define AUTOCERT_STORE_PG_PRIV_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "storage.h"
#include "store_pg.h"

/* pg_advisory_xact_lock key of schema creation/migration ("autocert" in
 * ASCII, as a bigint). */
#define STORE_PG_LOCK_ID 0x6175746f63657274LL
#define STORE_PG_CHANNEL "autocert"
#define STORE_PG_BACKOFF_MAX_MS 5000
#define STORE_PG_NONCE_LEN 12
#define STORE_PG_TAG_LEN 16
#define STORE_PG_PARAMS_MAX 12
#define STORE_PG_STATE_MAX (1024 * 1024)
#define STORE_PG_BUDGET_MAX (64 * 1024 * 1024)
#define STORE_PG_AAD_MAX 4200 /* "<account key path>|account" */

enum pg_state {
    PG_CONNECTING = 0, /* not reached yet, or reconnecting */
    PG_UP = 1,
    PG_REFUSED = 2, /* key or schema refused: see refuse_kind */
};

/* A libpq keyword/value list (strings owned). */
struct pg_conninfo {
    char **keys;
    char **values; /* secrets among them: never logged */
    size_t n;
};

struct pg_lease_ent {
    char id[13];
    char holder[160];
};

struct store_pg {
    struct storage base;

    /* copies of the parameters */
    struct pg_conninfo ci;
    unsigned char key[STORE_PG_KEY_LEN];
    char *node_id;
    int lease_ttl_s;
    int statement_timeout_ms;
    int connect_timeout_s;
    bool migrate;

    /* the operations' connection: conn_mu guards ops and its use */
    pthread_mutex_t conn_mu;
    PGconn *ops;
    char *key_check; /* the key-check value verified at connection (conn_mu) */

    /* state (state_mu): describe text, listener, the condition of open_wait */
    pthread_mutex_t state_mu;
    pthread_cond_t state_cv;
    atomic_int state;     /* enum pg_state */
    char refuse_kind[32]; /* AC_ERR_STORE_KEY or AC_ERR_STORE_SCHEMA */
    char desc[AC_ERROR_MESSAGE_MAX];
    unsigned long connections; /* successful (re)connections so far */
    storage_event_fn fn;
    void *fn_arg;

    /* the live leases as the last heartbeat read them (lease_mu): what
     * lease_holder answers, without a query (status pages list every set) */
    pthread_mutex_t lease_mu;
    struct pg_lease_ent *leases;
    size_t nleases;

    /* the thread */
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    atomic_bool broken; /* an operation saw the ops connection fail */
    int wake[2];        /* pipe: wakes the thread (stop, broken) */
};

/* Replaces the cached live leases with v[0..n) (taken; NULL: none). */
void pg_leases_set(struct store_pg *s, struct pg_lease_ent *v, size_t n);
/* This node took (holder: its id) or released (NULL) the lease of set id. */
void pg_leases_note(struct store_pg *s, const char *id, const char *holder);

/* ---- store_pg_conn.c ---- */

/* Parses url (libpq URI or key=value) and adds the store's keys (timeouts,
 * keepalives, statement_timeout through options, application_name). Errors
 * never quote the URL. */
int pg_conninfo_build(struct pg_conninfo *ci, const char *url, int connect_timeout_s,
                      int statement_timeout_ms, struct ac_error *e);
void pg_conninfo_free(struct pg_conninfo *ci);

/* Connects without blocking past deadline_ms (monotonic, pg_now_ms) nor past
 * a byte on wake_fd (-1: none). Returns a new connection or NULL with e
 * (AC_ERR_STORE_DOWN: libpq's message, which names no password). */
PGconn *pg_connect(const struct pg_conninfo *ci, int64_t deadline_ms, int wake_fd,
                   struct ac_error *e);

int64_t pg_now_ms(void);

/* Query parameters: text (copied pointer, NUL-terminated, borrowed), binary
 * (borrowed), an integer (formatted into the struct). */
struct pg_params {
    int n;
    const char *v[STORE_PG_PARAMS_MAX];
    int len[STORE_PG_PARAMS_MAX];
    int fmt[STORE_PG_PARAMS_MAX];
    char num[STORE_PG_PARAMS_MAX][24];
};
void pg_p_text(struct pg_params *p, const char *s);
void pg_p_bin(struct pg_params *p, const void *data, size_t len);
void pg_p_int(struct pg_params *p, int64_t v);

/* Runs sql with p (NULL: none) on conn; binary: results in binary format.
 * Returns the result when its status is PGRES_COMMAND_OK or PGRES_TUPLES_OK,
 * else NULL with e: AC_ERR_STORE_DOWN when the connection is lost, AC_ERR_TIMEOUT
 * for a statement timeout, AC_ERR_IO otherwise ("postgresql: <what>: <msg>"). */
PGresult *pg_exec(PGconn *conn, const char *what, const char *sql, const struct pg_params *p,
                  bool binary, struct ac_error *e);
/* pg_exec for commands whose result is not needed. 0 or -1. */
int pg_cmd(PGconn *conn, const char *what, const char *sql, const struct pg_params *p,
           struct ac_error *e);

/* Runs a constant script of several statements (no parameters). 0 or -1. */
int pg_script(PGconn *conn, const char *what, const char *sql, struct ac_error *e);

/* The associated data "<id>|<kind>" into buf; -1 with e when too long. */
int pg_aad(char *buf, size_t n, const char *id, const char *kind, struct ac_error *e);

/* Binary result helpers. */
int64_t pg_get_int8(const PGresult *r, int row, int col);
bool pg_get_bool(const PGresult *r, int row, int col);

/* The operations' connection: locks conn_mu and returns ops when the store
 * is up; otherwise unlocks and fails (AC_ERR_STORE_DOWN, or the refusal's
 * kind). */
PGconn *pg_ops_begin(struct store_pg *s, struct ac_error *e);
/* Unlocks conn_mu; when the connection was lost, marks the store down and
 * wakes the thread to reconnect. */
void pg_ops_end(struct store_pg *s);

/* ---- store_pg_schema.c ---- */

/* AES-256-GCM: out = nonce || ciphertext || tag (new malloc'd buffer). */
int pg_seal(const unsigned char key[STORE_PG_KEY_LEN], const char *aad, const void *in, size_t n,
            unsigned char **out, size_t *out_len, struct ac_error *e);
/* The inverse; AC_ERR_STORE_CORRUPT when it does not authenticate. out is
 * NUL-terminated (not counted), wipe it before free. */
int pg_open_sealed(const unsigned char key[STORE_PG_KEY_LEN], const char *aad,
                   const unsigned char *in, size_t n, unsigned char **out, size_t *out_len,
                   struct ac_error *e);

/* At every connection, on conn: creates/migrates the schema (migrate) or
 * checks it, then checks (or sets, on a fresh database) the key-check value,
 * returned in *key_check (malloc'd). AC_ERR_STORE_SCHEMA, AC_ERR_STORE_KEY,
 * or a connection/query error. */
int pg_schema_setup(PGconn *conn, bool migrate, const unsigned char key[STORE_PG_KEY_LEN],
                    char **key_check, struct ac_error *e);

/* ---- store_pg_ops.c / store_pg_chal.c: the ops table's parts ---- */
extern const struct storage_ops store_pg_ops;

int pg_challenge_put(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     const char *key_auth, int64_t expires_at, struct ac_error *e);
int pg_challenge_get(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     char **key_auth, struct ac_error *e);
int pg_challenge_del(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     struct ac_error *e);
int pg_challenge_ack(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     struct ac_error *e);
int pg_challenge_wait_acks(struct storage *st, enum storage_challenge_kind kind,
                           const char *const *keys, size_t n, int timeout_ms);

/* On the thread's connection: delivers challenge (kind, key) to the
 * listener (its key authorization, or NULL when gone) and acknowledges it
 * for this node when delivered. All live challenges when key is NULL (after
 * a reconnection). */
int pg_challenge_deliver(struct store_pg *s, PGconn *conn, int kind, const char *key,
                         struct ac_error *e);

/* ops in store_pg.c */
/* Sets the state, its text and (refusals) its kind under state_mu; wakes
 * open_wait. Lock order: conn_mu before state_mu. */
void pg_set_state(struct store_pg *s, int state, const char *kind, const char *desc);
void pg_free(struct storage *st);
void pg_set_listener(struct storage *st, storage_event_fn fn, void *arg);
bool pg_is_up(struct storage *st);
/* Calls the listener (under no lock of the store). */
void pg_emit(struct store_pg *s, enum storage_event ev, const char *id,
             enum storage_challenge_kind kind, const char *key, const char *key_auth);

#endif
