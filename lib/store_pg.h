/*
 * store_pg.h - the PostgreSQL store (issue 14), a struct storage backend
 * (storage.h) on libpq.
 *
 * Connections: every connection sets connect_timeout, TCP keepalives,
 * tcp_user_timeout and a statement_timeout, and is made in the background
 * (PQconnectStart/PQconnectPoll on the store's own thread): opening the store
 * never waits for the database, and while it is unreachable every operation
 * fails at once with AC_ERR_STORE_DOWN; the thread reconnects with backoff and
 * reports STORAGE_EV_RESYNC after each (re)connection, STORAGE_EV_DOWN when
 * lost. A separate connection LISTENs for notifications (payloads carry set
 * ids and challenge keys only, never secrets). The operations share one
 * connection under a mutex (they are short: one statement, or one small
 * transaction); an operation that finds the connection broken fails with
 * AC_ERR_STORE_DOWN and wakes the thread to reconnect. The thread also
 * heartbeats this node (autocert_nodes, every lease_ttl/3), fetches and
 * acknowledges the challenges other nodes put, and after a rekey (NOTIFY
 * "k:") moves a node whose key no longer opens the key check to refused.
 *
 * Tables (schema version 1): autocert_meta (schema_version, key_check),
 * autocert_sets (names, chain, key_ct, not_after, token, state, failure_at),
 * autocert_leases (holder, token from the sequence autocert_lease_token,
 * expires_at), autocert_accounts (path, key_ct), autocert_budgets (id, data),
 * autocert_challenges (kind, key, key_auth, expires_at),
 * autocert_challenge_acks (kind, key, node), autocert_nodes (node, seen_at).
 * A node's role needs SELECT, INSERT, UPDATE, DELETE on the tables and USAGE
 * on the sequence; creating or migrating needs the owner (migrate-schema).
 *
 * Schema: created and migrated at the first connection in one transaction
 * holding pg_advisory_xact_lock(STORE_PG_LOCK_ID); migrations are additive; a
 * database whose schema version is newer than this build knows is refused
 * (AC_ERR_STORE_SCHEMA). With params.migrate false the store only checks the
 * version (nodes running with DML-only grants) and a missing or older schema
 * is AC_ERR_STORE_SCHEMA naming `autocert store migrate-schema`.
 *
 * Encryption: private keys (certificate keys and account keys) are stored as
 * AES-256-GCM ciphertext (GnuTLS), 12-byte random nonce, associated data
 * "<id>|<kind>"; never in clear. The database keeps a key-check value (a
 * known plaintext encrypted with the key); a store opened with another key
 * fails with AC_ERR_STORE_KEY and never writes anything.
 */
#ifndef AUTOCERT_STORE_PG_H
#define AUTOCERT_STORE_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "storage.h"

#define STORE_PG_KEY_LEN 32
#define STORE_PG_LEASE_TTL_DEFAULT 120
#define STORE_PG_LEASE_TTL_MIN 5
#define STORE_PG_SCHEMA_VERSION 1

struct store_pg_params {
    const char *url;                     /* libpq URI or key=value string (secret) */
    unsigned char key[STORE_PG_KEY_LEN]; /* encryption key (secret) */
    int lease_ttl_s;                     /* >= STORE_PG_LEASE_TTL_MIN */
    const char *node_id;                 /* e.g. "host:pid" */
    int statement_timeout_ms;            /* 0: 10000 */
    int connect_timeout_s;               /* 0: 5 */
    bool migrate;                        /* create/migrate the schema (default true) */
};

/* Opens the store; returns at once (the connection is made in the
 * background). Errors only for bad parameters and ENOMEM. */
int store_pg_open(const struct store_pg_params *p, struct storage **out, struct ac_error *e);

/* Opens, waits up to timeout_ms for the first connection (schema and key
 * checked), for the CLI and tests. AC_ERR_STORE_DOWN when not reached. */
int store_pg_open_wait(const struct store_pg_params *p, int timeout_ms, struct storage **out,
                       struct ac_error *e);

/* Last connection error or state for status/logs ("connected", "connecting:
 * <libpq message without secrets>", "refused: encryption_key ..."). */
void store_pg_describe(struct storage *st, char *buf, size_t n);

/* Administration (the CLI's `autocert store ...`), each on its own
 * connection, synchronous, bounded by timeouts:
 *   migrate_schema: creates or migrates the schema (owner role), nothing else;
 *   rekey: re-encrypts every encrypted value from p->key to new_key in one
 *          transaction (the key-check value too); a wrong p->key changes
 *          nothing (AC_ERR_STORE_KEY). */
int store_pg_migrate_schema(const struct store_pg_params *p, struct ac_error *e);
int store_pg_rekey(const struct store_pg_params *p, const unsigned char new_key[STORE_PG_KEY_LEN],
                   struct ac_error *e);

/* Decodes a base64 text of exactly 32 bytes into key. -1 with a message
 * naming `what` (never the value) otherwise. */
int store_pg_parse_key(const char *b64, const char *what, unsigned char key[STORE_PG_KEY_LEN],
                       struct ac_error *e);

#ifdef AUTOCERT_TEST_HOOKS
/* TEST ONLY: sets the lease of set id to have expired (expiry in the past,
 * the token kept), so a test takes it over without waiting. 0 or -1. */
int store_pg_test_expire_lease(struct storage *st, const char *id);
#endif

#endif
