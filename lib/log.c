/* log.c - the library's log records: to nowhere (the default), to stderr as
 * text or JSON lines, to the host's callback, or (tests) to a line sink. See
 * log.h and autocert.h. */
#include "log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "secrets.h"
#include "textsafe.h"

#define LOG_MSG_MAX 4096

enum log_dest { LOG_NONE = 0, LOG_STDERR, LOG_HOST, LOG_LINE };

/* Process-wide settings, set before threads start (autocert.h). */
static enum ac_log_level min_level = AC_LOG_INFO;
static enum ac_log_format log_format = AC_LOG_TEXT;
static enum log_dest dest = LOG_NONE;
static ac_log_fn sink_fn;
static void *sink_arg;
static autocert_log_fn host_fn;
static void *host_arg;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ac_log_set_level(enum ac_log_level level)
{
    min_level = level;
}
void ac_log_set_format(enum ac_log_format format)
{
    log_format = format;
}
enum ac_log_level ac_log_get_level(void)
{
    return min_level;
}

void ac_log_set_sink(ac_log_fn fn, void *arg)
{
    sink_fn = fn;
    sink_arg = arg;
    dest = fn != NULL ? LOG_LINE : LOG_NONE;
}

void ac_log_to_stderr(enum ac_log_format format, enum ac_log_level level)
{
    log_format = format;
    min_level = level;
    dest = LOG_STDERR;
}

void autocert_log_set(autocert_log_fn fn, void *arg, enum autocert_log_level level)
{
    host_fn = fn;
    host_arg = arg;
    min_level = (enum ac_log_level)level;
    dest = fn != NULL ? LOG_HOST : LOG_NONE;
}

void autocert_log_to_stderr(enum autocert_log_format format, enum autocert_log_level level)
{
    ac_log_to_stderr(format == AUTOCERT_LOG_JSON ? AC_LOG_JSON : AC_LOG_TEXT,
                     (enum ac_log_level)level);
}

void autocert_log(enum autocert_log_level level, const char *set, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ac_vlog((enum ac_log_level)level, set, fmt, ap);
    va_end(ap);
}

static void timestamp(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void ac_log(enum ac_log_level level, const char *set, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ac_vlog(level, set, fmt, ap);
    va_end(ap);
}

void ac_vlog(enum ac_log_level level, const char *set, const char *fmt, va_list ap)
{
    char raw[LOG_MSG_MAX], scrubbed[LOG_MSG_MAX], msg[LOG_MSG_MAX], ts[40];
    char line[LOG_MSG_MAX + 200];
    int n;
    size_t len;

    if (level < min_level || dest == LOG_NONE || (int)level < 0 || level > AC_LOG_ERROR)
        return;
    n = vsnprintf(raw, sizeof raw, fmt, ap);
    if (n < 0)
        n = 0;
    /* Secrets out, then one line of valid UTF-8 without control characters:
     * outside text cannot forge a line or reach the terminal raw. */
    len = secrets_scrub(scrubbed, sizeof scrubbed, raw,
                        (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1);
    ac_text_sanitize(msg, sizeof msg, scrubbed, len);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(scrubbed, len);
    if (dest == LOG_HOST) {
        autocert_log_fn fn = host_fn;

        if (fn != NULL)
            fn(host_arg, (enum autocert_log_level)level, set, msg);
        return;
    }
    timestamp(ts, sizeof ts);

    if (log_format == AC_LOG_JSON) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "time", json_object_new_string(ts));
        json_object_object_add(o, "level", json_object_new_string(level_names[level]));
        if (set != NULL)
            json_object_object_add(o, "set", json_object_new_string(set));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        snprintf(line, sizeof line, "%s",
                 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else if (set != NULL) {
        snprintf(line, sizeof line, "%s %-5s [%s] %s", ts, level_names[level], set, msg);
    } else {
        snprintf(line, sizeof line, "%s %-5s %s", ts, level_names[level], msg);
    }

    if (dest == LOG_LINE) {
        if (sink_fn != NULL)
            sink_fn(level, line, sink_arg);
    } else {
        /* one write per record (stderr is unbuffered): the newline goes with
         * the line, so records of processes sharing the file never run
         * together */
        size_t end = strnlen(line, sizeof line - 2);

        line[end] = '\n';
        line[end + 1] = '\0';
        flockfile(stderr);
        fputs(line, stderr);
        funlockfile(stderr);
    }
}

void ac_redact(const char *secret, char *out, size_t outlen)
{
    size_t n, o = 0;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (secret == NULL || secret[0] == '\0')
        return;
    n = strlen(secret);
    if (n < 12) {
        snprintf(out, outlen, "****");
        return;
    }
    for (size_t i = 0; i < n && o + 1 < outlen; i++)
        out[o++] = (i < 2 || i >= n - 2) ? secret[i] : '*';
    out[o] = '\0';
}
