/* schedule.c - renewal moment, ARI point, backoff, cooldowns, name-set
 * comparison and "expiring soon": plain arithmetic on Unix seconds. */
#include "schedule.h"

#include <string.h>

#define DAY 86400

/* Days since 1970-01-01 of a proleptic Gregorian date; month and day may be
 * out of range (day overflow as in Go's time.Date). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe, mp;

    /* normalise the month first, then let the day overflow */
    y += (m - 1) >= 0 ? (m - 1) / 12 : -((12 - m) / 12);
    m = ((m - 1) % 12 + 12) % 12 + 1;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    mp = (m + 9) % 12;
    doy = (153 * mp + 2) / 5;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (d - 1);
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* Go's t.AddDate(0, -1, 0) in UTC. */
static int64_t month_before(int64_t t)
{
    int64_t days = t >= 0 ? t / DAY : -((-t + DAY - 1) / DAY);
    int64_t secs = t - days * DAY, y, m, d;

    civil_from_days(days, &y, &m, &d);
    return days_from_civil(y, m - 1, d) * DAY + secs;
}

int64_t schedule_renewal_moment(int64_t not_before, int64_t not_after, int64_t renew_before)
{
    int64_t month, third;

    if (renew_before > 0)
        return not_after - renew_before;
    month = not_after - month_before(not_after);
    third = not_after > not_before ? (not_after - not_before) / 3 : 0;
    return not_after - (third < month ? third : month);
}

int64_t schedule_ari_point(int64_t start, int64_t end, uint64_t random)
{
    if (end <= start)
        return start;
    return start + (int64_t)(random % ((uint64_t)end - (uint64_t)start));
}

int64_t schedule_due(int64_t configured_moment, bool has_ari, int64_t ari_point)
{
    return has_ari && ari_point < configured_moment ? ari_point : configured_moment;
}

int64_t schedule_backoff(int failures, int64_t retry_min, int64_t retry_max, bool callers_fault,
                         long retry_after, uint64_t random)
{
    int64_t d, jitter;

    if (retry_min < 1)
        retry_min = 1;
    if (retry_max < retry_min)
        retry_max = retry_min;
    if (callers_fault) {
        d = retry_max;
    } else {
        d = retry_min;
        for (int i = 1; i < failures && d < retry_max; i++)
            d = d > retry_max / 2 ? retry_max : d * 2;
        if (d > retry_max)
            d = retry_max;
        jitter = d / 10;
        if (jitter > 0)
            d += (int64_t)(random % (uint64_t)(2 * jitter + 1)) - jitter;
        if (d < retry_min)
            d = retry_min;
        if (d > retry_max)
            d = retry_max;
    }
    if (retry_after >= 0 && d < (int64_t)retry_after)
        d = (int64_t)retry_after < retry_max ? (int64_t)retry_after : retry_max;
    return d;
}

int64_t schedule_next_attempt(int64_t now, int64_t last_failure, bool first_obtain,
                              int64_t failure_cooldown, bool forced)
{
    int64_t cooldown = first_obtain ? SCHEDULE_FIRST_OBTAIN_COOLDOWN : failure_cooldown;

    if (forced || last_failure == 0 || cooldown <= 0)
        return now;
    return last_failure + cooldown > now ? last_failure + cooldown : now;
}

/* Compares two names ASCII case-insensitively, ignoring one trailing dot. */
static bool name_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    if (la != lb)
        return false;
    for (size_t i = 0; i < la; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

/* True when every name of `a` occurs in `b`. */
static bool subset(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        if (a[i] == NULL)
            continue;
        for (size_t j = 0; j < nb && !found; j++)
            found = b[j] != NULL && name_eq(a[i], b[j]);
        if (!found)
            return false;
    }
    return true;
}

bool schedule_names_differ(const char *const *want, size_t nw, const char *const *have,
                           size_t nh)
{
    return !subset(want, nw, have, nh) || !subset(have, nh, want, nw);
}

int64_t schedule_expiring_at(int64_t not_before, int64_t not_after)
{
    int64_t fifth = not_after > not_before ? (not_after - not_before) / 5 : 0;
    int64_t limit = fifth < 7 * DAY ? fifth : 7 * DAY;

    return not_after - limit + 1;
}

bool schedule_expiring_soon(int64_t now, int64_t not_before, int64_t not_after)
{
    return now >= schedule_expiring_at(not_before, not_after);
}
