/*
 * timeutil.h - wall-clock access that tests can replace, RFC 3339 and HTTP-date
 * parsing (always UTC, timegm, never mktime), and duration strings.
 */
#ifndef AUTOCERT_TIMEUTIL_H
#define AUTOCERT_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Current Unix time in seconds (and milliseconds) from the process clock:
 * CLOCK_REALTIME unless a test installed its own with ac_time_set_clock. */
int64_t ac_now(void);
int64_t ac_now_ms(void);
/* Monotonic milliseconds, for timeouts (never replaced). */
int64_t ac_mono_ms(void);
/* fn NULL restores the real clock. For tests; not thread-safe to change. */
void ac_time_set_clock(int64_t (*fn_ms)(void));

/* Parses RFC 3339 ("2025-01-02T03:04:05Z", fractional seconds and numeric
 * offsets allowed) into Unix seconds. Returns 0 or -1 on bad syntax. */
int ac_time_parse_rfc3339(const char *s, int64_t *out);
/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (out >= 21 bytes). */
void ac_time_format_rfc3339(int64_t t, char *out, size_t n);

/* Parses an HTTP Retry-After value: delay-seconds or an IMF-fixdate, relative to
 * `now`. Returns seconds to wait (>= 0), or -1 when unparseable. */
long ac_time_parse_retry_after(const char *value, int64_t now);

/* Parses a duration "90s", "15m", "1h30m", "30d" (units s m h d, combinable,
 * each number a decimal without sign). Returns 0 and seconds, or -1. */
int ac_duration_parse(const char *s, int64_t *out);
/* Formats seconds compactly ("1h30m", "0s"). */
void ac_duration_format(int64_t secs, char *out, size_t n);

#endif
