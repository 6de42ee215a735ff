/*
 * timeutil.h - wall-clock access that tests can replace, RFC 3339 and HTTP-date
 * parsing (always UTC, timegm, never mktime), duration strings, and the
 * cancellation scope every wait of an order honours (ac_sleep_ms).
 */
#ifndef AUTOCERT_TIMEUTIL_H
#define AUTOCERT_TIMEUTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* Current Unix time in seconds (and milliseconds) from the process clock:
 * CLOCK_REALTIME unless a test installed its own with ac_time_set_clock. */
int64_t ac_now(void);
int64_t ac_now_ms(void);
/* Monotonic milliseconds, for timeouts (never replaced). */
int64_t ac_mono_ms(void);
#ifdef AUTOCERT_TEST_HOOKS
/* TEST ONLY (built with -DAUTOCERT_TEST_HOOKS=ON): replaces the clock of
 * ac_now/ac_now_ms; fn NULL restores the real one. Not thread-safe to change. */
void ac_time_set_clock(int64_t (*fn_ms)(void));
#endif

/* Parses RFC 3339 ("2025-01-02T03:04:05Z", fractional seconds and numeric
 * offsets allowed) into Unix seconds. Returns 0 or -1 on bad syntax. */
int ac_time_parse_rfc3339(const char *s, int64_t *out);
/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (out >= 21 bytes). */
void ac_time_format_rfc3339(int64_t t, char *out, size_t n);

/* The longest Retry-After the parser accepts (one year): a longer one, in
 * either form, counts as absent. Callers cap further (retry_max ...). */
#define AC_RETRY_AFTER_MAX_S (365L * 86400)

/* Parses an HTTP Retry-After value: delay-seconds or an IMF-fixdate, relative to
 * `now`. Returns seconds to wait (0 .. AC_RETRY_AFTER_MAX_S), or -1 when
 * unparseable, over 64 bytes or beyond AC_RETRY_AFTER_MAX_S. */
long ac_time_parse_retry_after(const char *value, int64_t now);

/* Parses a duration "90s", "15m", "1h30m", "30d" (units s m h d, combinable,
 * each number a decimal without sign). Returns 0 and seconds, or -1. */
int ac_duration_parse(const char *s, int64_t *out);
/* Formats seconds compactly ("1h30m", "0s"). */
void ac_duration_format(int64_t secs, char *out, size_t n);

/* ---- cancellation --------------------------------------------------------
 *
 * A cancel token is a borrowed `const atomic_bool *` (issuer_request.cancel):
 * any thread may set it; the thread doing the work sees it at its next wait.
 * Each thread has a current cancel scope: the token its waits watch (NULL =
 * none) and a time limit (ac_mono_ms, 0 = none) that caps every wait and
 * request timeout. issuer_obtain and issuer_revoke install the request's
 * token for their duration; the DNS cleanup after a cancelled order runs in a
 * scope without a token but with a short limit, so records are still removed
 * quickly. Who consults the scope: http_do (before a request and from
 * libcurl's progress callback, at least once a second), the ACME poll sleeps,
 * the DNS propagation check, and every provider wait (through ac_sleep_ms
 * with ac_cancel_current()). Scopes nest; the functions are thread-safe (the
 * scope is thread-local) and async-signal-unsafe. */
struct ac_cancel_scope {
    const atomic_bool *token;
    int64_t limit_ms;
};

/* Makes {token, limit_ms} the calling thread's scope, saving the previous one
 * in *saved (restore it with ac_cancel_leave). limit_ms 0 keeps the current
 * limit; an earlier current limit is kept too (scopes only tighten). */
void ac_cancel_enter(const atomic_bool *token, int64_t limit_ms, struct ac_cancel_scope *saved);
void ac_cancel_leave(const struct ac_cancel_scope *saved);
/* The calling thread's token (borrowed), or NULL. */
const atomic_bool *ac_cancel_current(void);
/* True when token is non-NULL and set. */
bool ac_cancelled(const atomic_bool *token);
/* True when the calling thread's token is set, or its limit has passed. */
bool ac_cancel_requested(void);
/* ms cut to what is left before the thread's limit (>= 0); ms itself when no
 * limit is set. */
int64_t ac_cancel_clamp_ms(int64_t ms);
/* When ac_cancel_requested(): sets e to AC_ERR_CANCELLED "<what>: cancelled"
 * and returns -1; else returns 0. */
int ac_cancel_check(const char *what, struct ac_error *e);

/* Sleeps ms milliseconds, waking at least every 50 ms to look at `cancel`
 * (NULL: none) and at the thread's limit. Returns 0 after the full time, -1
 * when cancel was set or the limit cut the sleep short. The one sleep of
 * every wait in an order: providers pass ac_cancel_current(). */
int ac_sleep_ms(int64_t ms, const atomic_bool *cancel);

#endif
