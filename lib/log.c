/* log.c - text or JSON log lines (see log.h). */
#include "log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "secrets.h"
#include "textsafe.h"

#define LOG_MSG_MAX 4096

static enum ac_log_level min_level = AC_LOG_INFO;
static enum ac_log_format log_format = AC_LOG_TEXT;
static ac_log_fn sink_fn;
static void *sink_arg;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ac_log_set_level(enum ac_log_level level) { min_level = level; }
void ac_log_set_format(enum ac_log_format format) { log_format = format; }
enum ac_log_level ac_log_get_level(void) { return min_level; }

void ac_log_set_sink(ac_log_fn fn, void *arg)
{
    sink_fn = fn;
    sink_arg = arg;
}

static void timestamp(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
}

void ac_log(enum ac_log_level level, const char *set, const char *fmt, ...)
{
    char raw[LOG_MSG_MAX], scrubbed[LOG_MSG_MAX], msg[LOG_MSG_MAX], ts[40];
    char line[LOG_MSG_MAX + 200];
    va_list ap;
    int n;
    size_t len;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    /* Secrets out, then one line of valid UTF-8 without control characters:
     * outside text cannot forge a line or reach the terminal raw. */
    len = secrets_scrub(scrubbed, sizeof scrubbed, raw,
                        (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1);
    ac_text_sanitize(msg, sizeof msg, scrubbed, len);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(scrubbed, len);
    timestamp(ts, sizeof ts);

    if (log_format == AC_LOG_JSON) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "time", json_object_new_string(ts));
        json_object_object_add(o, "level", json_object_new_string(level_names[level]));
        if (set != NULL)
            json_object_object_add(o, "set", json_object_new_string(set));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        snprintf(line, sizeof line, "%s",
                 json_object_to_json_string_ext(
                     o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else if (set != NULL) {
        snprintf(line, sizeof line, "%s %-5s [%s] %s", ts, level_names[level], set, msg);
    } else {
        snprintf(line, sizeof line, "%s %-5s %s", ts, level_names[level], msg);
    }

    if (sink_fn != NULL) {
        sink_fn(level, line, sink_arg);
    } else {
        flockfile(stderr);
        fputs(line, stderr);
        fputc('\n', stderr);
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
