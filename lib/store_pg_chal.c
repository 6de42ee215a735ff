/*
 * store_pg_chal.c - pending http-01 / tls-alpn-01 key authorizations in the
 * PostgreSQL store, so that any node of a fleet answers a challenge. A put
 * stores the key authorization, clears earlier acknowledgements, acknowledges
 * for this node and NOTIFYs "c:<kind>:<key>" (never the key authorization),
 * all in one transaction; every other node's thread fetches it, hands it to
 * its listener and acknowledges. The ordering node waits (wait_acks) until
 * every node seen within the last lease interval acknowledged, or its
 * timeout.
 */
#include "store_pg_priv.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define CH_KEY_MAX 1024 /* a token (43 chars) or a DNS name / IP (<= 253) */
#define WAIT_POLL_MS 50

static int check_key(const char *key, struct ac_error *e)
{
    if (key == NULL || key[0] == '\0' || strlen(key) > CH_KEY_MAX) {
        ac_error_set(e, AC_ERR_INTERNAL, "challenge key empty or longer than %d bytes", CH_KEY_MAX);
        return -1;
    }
    return 0;
}

int pg_challenge_put(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     const char *key_auth, int64_t expires_at, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGconn *c;
    int rc = -1;

    if (check_key(key, e) != 0)
        return -1;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_int(&p, kind);
    pg_p_text(&p, key);
    pg_p_text(&p, key_auth);
    pg_p_int(&p, expires_at);
    pg_p_text(&p, s->node_id);
    if (pg_cmd(c, "challenge", "BEGIN", NULL, e) != 0)
        goto out;
    /* one statement: the parameters are shared by its parts */
    if (pg_cmd(c, "challenge",
               "WITH up AS (INSERT INTO autocert_challenges (kind, key, key_auth, expires_at) "
               "VALUES ($1::int, $2, $3, to_timestamp($4::bigint)) ON CONFLICT (kind, key) DO "
               "UPDATE SET key_auth = EXCLUDED.key_auth, expires_at = EXCLUDED.expires_at "
               "RETURNING 1), "
               "clear AS (DELETE FROM autocert_challenge_acks WHERE kind = $1::int AND key = $2 "
               "AND node <> $5) "
               "INSERT INTO autocert_challenge_acks (kind, key, node) VALUES ($1::int, $2, $5) "
               "ON CONFLICT DO NOTHING",
               &p, e) != 0)
        goto fail;
    struct pg_params q = {0};
    pg_p_int(&q, kind);
    pg_p_text(&q, key);
    if (pg_cmd(c, "challenge",
               "SELECT pg_notify('" STORE_PG_CHANNEL "', 'c:' || $1::text || ':' || $2)", &q,
               e) != 0 ||
        pg_cmd(c, "challenge", "COMMIT", NULL, e) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
out:
    pg_ops_end(s);
    return rc;
}

int pg_challenge_get(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     char **key_auth, struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGresult *r;
    PGconn *c;
    int rc = -1;

    if (check_key(key, e) != 0)
        return -1;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_int(&p, kind);
    pg_p_text(&p, key);
    r = pg_exec(c, "challenge",
                "SELECT key_auth FROM autocert_challenges WHERE kind = $1::int AND key = $2 "
                "AND expires_at > now()",
                &p, false, e);
    if (r != NULL) {
        if (PQntuples(r) == 1) {
            *key_auth = strdup(PQgetvalue(r, 0, 0));
            if (*key_auth != NULL)
                rc = 0;
            else
                ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        } else {
            ac_error_set(e, AC_ERR_NOT_FOUND, "no pending challenge for %s", key);
        }
        PQclear(r);
    }
    pg_ops_end(s);
    return rc;
}

int pg_challenge_del(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    struct pg_params p = {0};
    PGconn *c;
    int rc = -1;

    if (check_key(key, e) != 0)
        return -1;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    pg_p_int(&p, kind);
    pg_p_text(&p, key);
    if (pg_cmd(c, "challenge", "BEGIN", NULL, e) != 0)
        goto out;
    if (pg_cmd(c, "challenge",
               "WITH d AS (DELETE FROM autocert_challenges WHERE kind = $1::int AND key = $2) "
               "DELETE FROM autocert_challenge_acks WHERE kind = $1::int AND key = $2",
               &p, e) != 0 ||
        pg_cmd(c, "challenge",
               "SELECT pg_notify('" STORE_PG_CHANNEL "', 'c:' || $1::text || ':' || $2)", &p,
               e) != 0 ||
        pg_cmd(c, "challenge", "COMMIT", NULL, e) != 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        goto out;
    }
    rc = 0;
out:
    pg_ops_end(s);
    return rc;
}

/* Inserts this node's acknowledgement of (kind, key) while it is pending. */
static int ack_on(PGconn *c, const char *node, int kind, const char *key, struct ac_error *e)
{
    struct pg_params p = {0};

    pg_p_int(&p, kind);
    pg_p_text(&p, key);
    pg_p_text(&p, node);
    return pg_cmd(c, "challenge ack",
                  "INSERT INTO autocert_challenge_acks (kind, key, node) "
                  "SELECT $1::int, $2, $3 WHERE EXISTS (SELECT 1 FROM autocert_challenges "
                  "WHERE kind = $1::int AND key = $2) ON CONFLICT DO NOTHING",
                  &p, e);
}

int pg_challenge_ack(struct storage *st, enum storage_challenge_kind kind, const char *key,
                     struct ac_error *e)
{
    struct store_pg *s = (struct store_pg *)st;
    PGconn *c;
    int rc;

    if (check_key(key, e) != 0)
        return -1;
    if ((c = pg_ops_begin(s, e)) == NULL)
        return -1;
    rc = ack_on(c, s->node_id, (int)kind, key, e);
    pg_ops_end(s);
    return rc;
}

/* The number of nodes seen within the lease interval that have not
 * acknowledged every key of keys_json; -1 when it cannot be read. */
static int unacked(struct store_pg *s, int kind, const char *keys_json)
{
    struct pg_params p = {0};
    PGresult *r;
    PGconn *c;
    int n = -1;

    if ((c = pg_ops_begin(s, NULL)) == NULL)
        return -1;
    pg_p_int(&p, kind);
    pg_p_text(&p, keys_json);
    pg_p_int(&p, s->lease_ttl_s);
    r = pg_exec(c, "challenge acks",
                "SELECT count(*) FROM autocert_nodes nd "
                "WHERE nd.seen_at > now() - make_interval(secs => $3::int) "
                "AND EXISTS (SELECT 1 FROM json_array_elements_text($2::json) AS k(key) "
                "WHERE NOT EXISTS (SELECT 1 FROM autocert_challenge_acks a "
                "WHERE a.kind = $1::int AND a.key = k.key AND a.node = nd.node))",
                &p, false, NULL);
    if (r != NULL) {
        n = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    pg_ops_end(s);
    return n;
}

int pg_challenge_wait_acks(struct storage *st, enum storage_challenge_kind kind,
                           const char *const *keys, size_t n, int timeout_ms)
{
    struct store_pg *s = (struct store_pg *)st;
    json_object *arr = json_object_new_array();
    int64_t until = pg_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    const char *txt;
    int left = -1;

    if (arr == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, json_object_new_string(keys[i]));
    txt = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN);
    for (;;) {
        struct timespec ts = {0, WAIT_POLL_MS * 1000000L};
        left = unacked(s, (int)kind, txt);
        if (left <= 0 || pg_now_ms() >= until)
            break;
        nanosleep(&ts, NULL);
    }
    json_object_put(arr);
    return left;
}

/* Hands one challenge to the listener and acknowledges it when delivered. */
static int deliver_one(struct store_pg *s, PGconn *c, int kind, const char *key,
                       const char *key_auth, struct ac_error *e)
{
    bool listening;

    pthread_mutex_lock(&s->state_mu);
    listening = s->fn != NULL;
    pthread_mutex_unlock(&s->state_mu);
    pg_emit(s, STORAGE_EV_CHALLENGE, NULL, (enum storage_challenge_kind)kind, key, key_auth);
    if (!listening || key_auth == NULL)
        return 0;
    return ack_on(c, s->node_id, kind, key, e);
}

int pg_challenge_deliver(struct store_pg *s, PGconn *c, int kind, const char *key,
                         struct ac_error *e)
{
    struct pg_params p = {0};
    PGresult *r;
    int rc = 0;

    if (key != NULL) {
        pg_p_int(&p, kind);
        pg_p_text(&p, key);
        r = pg_exec(c, "challenge",
                    "SELECT key_auth FROM autocert_challenges WHERE kind = $1::int "
                    "AND key = $2 AND expires_at > now()",
                    &p, false, e);
        if (r == NULL)
            return -1;
        rc = deliver_one(s, c, kind, key, PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : NULL, e);
        PQclear(r);
        return rc;
    }
    r = pg_exec(c, "challenges",
                "SELECT kind, key, key_auth FROM autocert_challenges WHERE expires_at > now()",
                NULL, false, e);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = deliver_one(s, c, (int)strtol(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1),
                         PQgetvalue(r, i, 2), e);
    PQclear(r);
    return rc;
}
