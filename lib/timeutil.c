/* timeutil.c - clocks, RFC 3339, Retry-After, durations, and the per-thread
 * cancellation scope with its sleep (see timeutil.h). */
#include "timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AUTOCERT_TEST_HOOKS
static int64_t (*clock_fn)(void);

void ac_time_set_clock(int64_t (*fn_ms)(void)) { clock_fn = fn_ms; }
#endif

int64_t ac_now_ms(void)
{
    struct timespec ts;

#ifdef AUTOCERT_TEST_HOOKS
    if (clock_fn != NULL)
        return clock_fn();
#endif
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ac_now(void) { return ac_now_ms() / 1000; }

int64_t ac_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int ac_time_parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    time_t t;

    if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
        *p++ != '-' || digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *out = (int64_t)t - sign * (oh * 3600 + om * 60);
    return 0;
}

void ac_time_format_rfc3339(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

long ac_time_parse_retry_after(const char *value, int64_t now)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wday[4], mon[4];
    int d, y, h, mi, s, consumed = 0;
    struct tm tm;
    const char *p = value;
    long secs = 0;
    int64_t at;

    if (value == NULL || strnlen(value, 65) > 64)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p)) {
            secs = secs * 10 + (*p++ - '0');
            if (secs > AC_RETRY_AFTER_MAX_S)
                return -1;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        return *p == '\0' ? secs : -1;
    }
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (sscanf(p, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &d, mon, &y, &h, &mi, &s,
               &consumed) != 7 || consumed == 0)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_mon = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            tm.tm_mon = i;
    if (tm.tm_mon < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    at = (int64_t)timegm(&tm);
    if (at <= now)
        return 0;
    return at - now > AC_RETRY_AFTER_MAX_S ? -1 : (long)(at - now);
}

int ac_duration_parse(const char *s, int64_t *out)
{
    int64_t total = 0;
    const char *p = s;

    if (s == NULL || *s == '\0')
        return -1;
    while (*p != '\0') {
        int64_t v = 0, mult;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p)) {
            if (v > 1000000000LL)
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        switch (*p++) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default: return -1;
        }
        total += v * mult;
        if (total > 100LL * 365 * 86400)
            return -1;
    }
    *out = total;
    return 0;
}

void ac_duration_format(int64_t secs, char *out, size_t n)
{
    size_t o = 0;
    static const struct { int64_t mult; char unit; } units[] = {
        {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};

    if (secs <= 0) {
        snprintf(out, n, "0s");
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < 4 && o < n; i++) {
        if (secs >= units[i].mult) {
            int w = snprintf(out + o, n - o, "%lld%c", (long long)(secs / units[i].mult),
                             units[i].unit);
            if (w < 0)
                break;
            o += (size_t)w;
            secs %= units[i].mult;
        }
    }
}

/* ---- cancellation ---- */

static _Thread_local struct ac_cancel_scope cancel_scope;

void ac_cancel_enter(const atomic_bool *token, int64_t limit_ms, struct ac_cancel_scope *saved)
{
    *saved = cancel_scope;
    cancel_scope.token = token;
    if (limit_ms > 0 && (cancel_scope.limit_ms == 0 || limit_ms < cancel_scope.limit_ms))
        cancel_scope.limit_ms = limit_ms;
}

void ac_cancel_leave(const struct ac_cancel_scope *saved)
{
    cancel_scope = *saved;
}

const atomic_bool *ac_cancel_current(void)
{
    return cancel_scope.token;
}

bool ac_cancelled(const atomic_bool *token)
{
    return token != NULL && atomic_load_explicit(token, memory_order_acquire);
}

bool ac_cancel_requested(void)
{
    return ac_cancelled(cancel_scope.token) ||
           (cancel_scope.limit_ms != 0 && ac_mono_ms() >= cancel_scope.limit_ms);
}

int64_t ac_cancel_clamp_ms(int64_t ms)
{
    int64_t left;

    if (cancel_scope.limit_ms == 0)
        return ms;
    left = cancel_scope.limit_ms - ac_mono_ms();
    if (left < 0)
        left = 0;
    return ms < left ? ms : left;
}

int ac_cancel_check(const char *what, struct ac_error *e)
{
    if (!ac_cancel_requested())
        return 0;
    ac_error_set(e, AC_ERR_CANCELLED, "%s: cancelled", what);
    return -1;
}

#define AC_SLEEP_SLICE_MS 50

int ac_sleep_ms(int64_t ms, const atomic_bool *cancel)
{
    int64_t end = ac_mono_ms() + (ms > 0 ? ms : 0), limit = cancel_scope.limit_ms;

    for (;;) {
        int64_t now = ac_mono_ms(), left = end - now;
        struct timespec ts;

        if (ac_cancelled(cancel))
            return -1;
        if (left <= 0)
            return 0;
        if (limit != 0 && now >= limit)
            return -1;
        if (left > AC_SLEEP_SLICE_MS)
            left = AC_SLEEP_SLICE_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}
