/* schedule.h - the renewal scheduler's arithmetic (DESIGN.md §5.4): pure
 * functions of injected times (Unix seconds) and caller-supplied random numbers;
 * no I/O, no clock, no state. All are thread-safe. */
#ifndef AUTOCERT_SCHEDULE_H
#define AUTOCERT_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GoDoxy's minimum wait after a failure before a first obtain (seconds). */
#define SCHEDULE_FIRST_OBTAIN_COOLDOWN 15

/* The configured renewal moment: renew_before > 0 gives not_after - renew_before;
 * otherwise not_after - min(one calendar month, lifetime / 3), where "one
 * calendar month before" is Go's AddDate(0, -1, 0) on the UTC date (31 Mar 2023
 * -> 3 Mar by day overflow, 31 Mar 2024 -> 2 Mar, 31 May -> 1 May). A lifetime
 * <= 0 renews at not_after. */
int64_t schedule_renewal_moment(int64_t not_before, int64_t not_after, int64_t renew_before);

/* A point in [start, end) chosen from `random` (drawn once and persisted by the
 * caller); start when end <= start. */
int64_t schedule_ari_point(int64_t start, int64_t end, uint64_t random);

/* The moment renewal is due: the earlier of the configured moment and, when
 * has_ari, the ARI point (ARI only brings a renewal forward). */
int64_t schedule_due(int64_t configured_moment, bool has_ari, int64_t ari_point);

/* Delay in seconds before the next attempt after `failures` consecutive failures
 * (< 1 counts as 1): retry_min doubled per failure up to retry_max, with +-10 %
 * jitter from `random`, clamped to [retry_min, retry_max]; callers_fault gives
 * retry_max; the result is at least retry_after when retry_after >= 0, but a
 * Retry-After never makes it longer than retry_max (the result is always in
 * [retry_min, retry_max]). retry_min < 1 counts as 1; retry_max < retry_min
 * counts as retry_min. */
int64_t schedule_backoff(int failures, int64_t retry_min, int64_t retry_max, bool callers_fault,
                         long retry_after, uint64_t random);

/* The earliest moment an attempt may start: now, unless a failure was recorded
 * (last_failure != 0) and not `forced`, in which case not before last_failure +
 * cooldown, the cooldown being SCHEDULE_FIRST_OBTAIN_COOLDOWN for a first obtain
 * and failure_cooldown for a timed renewal. */
int64_t schedule_next_attempt(int64_t now, int64_t last_failure, bool first_obtain,
                              int64_t failure_cooldown, bool forced);

/* True when the two name lists differ as sets: ASCII case-insensitive, one
 * trailing dot ignored, duplicates and order ignored. NULL entries are skipped.
 * Borrowed arrays; quadratic, meant for certificate name lists (hundreds). */
bool schedule_names_differ(const char *const *want, size_t nw, const char *const *have,
                           size_t nh);

/* True when less than min(7 days, lifetime / 5) is left before not_after,
 * that is when now >= schedule_expiring_at(not_before, not_after). */
bool schedule_expiring_soon(int64_t now, int64_t not_before, int64_t not_after);

/* The first second at which the certificate counts as expiring soon:
 * not_after - min(7 days, lifetime / 5) + 1 (a lifetime <= 0 counts as 0). */
int64_t schedule_expiring_at(int64_t not_before, int64_t not_after);

#endif
