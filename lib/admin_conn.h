/*
 * admin_conn.h - the admin API's connection bookkeeping: limits on open
 * connections (total, per client address), the whole-request deadline, and
 * rate-limited warnings about both.
 *
 * libmicrohttpd (0.9.75) only knows an idle timeout, which a client resets
 * with every byte it sends, and its per-address limit closes connections
 * without an answer. So admin_server.c tells this tracker what happens to
 * each connection and the tracker does the rest:
 *
 *   accepted ──► receiving ──(whole request in)──► answering ──(answer sent)──┐
 *                    ▲   └──(deadline passed)──► 408 (if a request line came)  │
 *                    │                            and closed                   │
 *                    └───────────── keep-alive: next request ◄─────────────────┘
 *
 * A reaper thread closes (shutdown(2)) every connection that is still
 * receiving when its deadline passes: request_deadline_ms after it was
 * accepted or after its previous answer went out. The deadline never covers
 * our own answer (a forced renewal may take order_timeout).
 *
 * A connection accepted while conn_soft_max connections are already open, or
 * while its client address already holds conn_per_ip, is "over": its request
 * gets 503 (except GET /healthz, which the slots between conn_soft_max and
 * conn_max keep reachable) and it has only over_deadline_ms to send it.
 * Beyond conn_max, libmicrohttpd stops accepting and new clients wait in the
 * kernel's listen queue (backlog) until a slot frees up: no reset.
 *
 * Thread-safe: every function may be called from any thread.
 */
#ifndef AUTOCERT_ADMIN_CONN_H
#define AUTOCERT_ADMIN_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Defaults (docs/admin-api.md, "Limits"). */
#define ADMIN_CONN_MAX 256              /* open connections, hard cap */
#define ADMIN_CONN_SOFT_MAX 192         /* beyond: 503, except /healthz */
#define ADMIN_CONN_PER_IP 64            /* per client address: beyond, 503 except /healthz */
#define ADMIN_REQUEST_DEADLINE_MS 10000 /* whole request (line, headers, body) */
#define ADMIN_OVER_DEADLINE_MS 2000     /* the same for a connection over a cap */
#define ADMIN_IDLE_TIMEOUT_S 30         /* no byte moving either way while answering */
#define ADMIN_LOG_INTERVAL_S 10         /* at most one warning per kind per interval */
#define ADMIN_LISTEN_BACKLOG 512        /* kernel queue of not yet accepted connections */

struct admin_limits {
    unsigned conn_max;
    unsigned conn_soft_max;
    unsigned conn_per_ip;
    unsigned request_deadline_ms;
    unsigned over_deadline_ms;
    unsigned idle_timeout_s;
    unsigned log_interval_s;
    unsigned backlog;
    const char *what; /* the server named in warnings (a literal); NULL: "admin API" */
};

/* Fills l with the ADMIN_* defaults above. */
void admin_limits_default(struct admin_limits *l);

/* What a rate-limited warning is about. */
enum admin_note {
    ADMIN_NOTE_OVERLOAD = 0, /* a request answered 503 (a connection cap) */
    ADMIN_NOTE_DEADLINE,     /* a connection closed at the request deadline */
    ADMIN_NOTE_REFUSED,      /* a request refused by the Host/Origin checks */
    ADMIN_NOTE_COUNT
};

struct admin_conns;
struct admin_conn;

/* Starts the tracker (and its reaper thread) for the limits l (copied).
 * Returns 0, or -1 (out of memory, no thread). Free with admin_conns_free. */
int admin_conns_new(const struct admin_limits *l, struct admin_conns **out);
/* Stops the reaper and frees t; every connection must have been closed
 * (admin_conns_close) before. NULL is a no-op. */
void admin_conns_free(struct admin_conns *t);

/* A connection was accepted on socket fd from peer (borrowed). Returns its
 * record, valid until admin_conns_close; NULL when the tracker is full
 * (cannot happen while at most conn_max connections are open). */
struct admin_conn *admin_conns_open(struct admin_conns *t, int fd, const struct sockaddr *peer);
/* The connection is about to be closed (its socket is still open). */
void admin_conns_close(struct admin_conns *t, struct admin_conn *c);
/* The request line of a request arrived (a 408 is sent if it then misses
 * its deadline). NULL c is a no-op. */
void admin_conns_request_started(struct admin_conns *t, struct admin_conn *c);
/* The whole request arrived, or is being refused: the deadline stops. Returns
 * false when the reaper closed the connection already (answer nothing). */
bool admin_conns_request_received(struct admin_conns *t, struct admin_conn *c);
/* The answer went out: the deadline for the next request starts now. */
void admin_conns_request_done(struct admin_conns *t, struct admin_conn *c);

/* Accepted over a cap (fixed at admin_conns_open; NULL counts as over). */
bool admin_conn_over(const struct admin_conn *c);
/* The client's address as text ("?" for NULL); valid while c is open. */
const char *admin_conn_peer(const struct admin_conn *c);

/* Logs a warning about kind at most once per log_interval_s; the ones held
 * back are counted and reported with the next line of that kind (or by the
 * reaper once the interval has passed). */
void admin_conns_note(struct admin_conns *t, enum admin_note kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Counters, for tests and debugging. */
struct admin_conn_stats {
    unsigned open;                          /* connections open now */
    unsigned long reaped;                   /* closed at the deadline, ever */
    unsigned long events[ADMIN_NOTE_COUNT]; /* admin_conns_note calls and reaps */
    unsigned long lines[ADMIN_NOTE_COUNT];  /* warning lines written */
};
void admin_conns_stats(struct admin_conns *t, struct admin_conn_stats *st);

#endif
