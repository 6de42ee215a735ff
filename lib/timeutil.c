/* timeutil.c - clocks, RFC 3339, Retry-After and durations (see timeutil.h). */
#include "timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t (*clock_fn)(void);

void ac_time_set_clock(int64_t (*fn_ms)(void)) { clock_fn = fn_ms; }

int64_t ac_now_ms(void)
{
    struct timespec ts;

    if (clock_fn != NULL)
        return clock_fn();
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

    if (value == NULL)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p)) {
            if (secs > 100000000L)
                return -1;
            secs = secs * 10 + (*p++ - '0');
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
    int64_t at = (int64_t)timegm(&tm);
    return at <= now ? 0 : (long)(at - now);
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
