/*
 * log.h - process-wide logging: nowhere (the default: a library prints
 * nothing unless asked), text or JSON lines to stderr (ac_log_to_stderr,
 * autocert_log_to_stderr), the host's callback (autocert_log_set), or a line
 * sink (ac_log_set_sink, for tests). Thread-safe: each record is written with
 * one call.
 *
 * Messages must never contain secrets; ac_redact() masks one for display. As
 * a second line of defence every message has the registered secrets replaced
 * (secrets.h) and its control characters and invalid UTF-8 escaped
 * (textsafe.h: a newline becomes the two characters "\n"), in both formats,
 * so text from a CA or a DNS API can neither forge a log line nor send
 * terminal escapes. A message is cut at 4 KiB.
 */
#ifndef AUTOCERT_LOG_H
#define AUTOCERT_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "autocert/autocert.h"

enum ac_log_level { AC_LOG_DEBUG = 0, AC_LOG_INFO, AC_LOG_WARN, AC_LOG_ERROR };
enum ac_log_format { AC_LOG_TEXT = 0, AC_LOG_JSON };

typedef void (*ac_log_fn)(enum ac_log_level level, const char *line, void *arg);

/* Settings are process-wide; set them before starting threads. */
void ac_log_set_level(enum ac_log_level level);
void ac_log_set_format(enum ac_log_format format);
/* Sends every formatted line (no trailing newline) to fn; fn NULL: the
 * library logs nothing (until ac_log_to_stderr or autocert_log_set). */
void ac_log_set_sink(ac_log_fn fn, void *arg);
/* Lines to stderr in `format`, records at `level` and above. */
void ac_log_to_stderr(enum ac_log_format format, enum ac_log_level level);
enum ac_log_level ac_log_get_level(void);

/* Logs one record. `set` (may be NULL) names the certificate set it concerns;
 * in JSON it becomes a "set" field, in text a "[set] " prefix. */
void ac_log(enum ac_log_level level, const char *set, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void ac_vlog(enum ac_log_level level, const char *set, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define ac_debug(set, ...) ac_log(AC_LOG_DEBUG, set, __VA_ARGS__)
#define ac_info(set, ...) ac_log(AC_LOG_INFO, set, __VA_ARGS__)
#define ac_warn(set, ...) ac_log(AC_LOG_WARN, set, __VA_ARGS__)
#define ac_err(set, ...) ac_log(AC_LOG_ERROR, set, __VA_ARGS__)

/* Masks a secret for display into out (always NUL-terminated): under 12 bytes
 * "****"; otherwise the first 2 bytes, one '*' per middle byte, the last 2.
 * NULL or "" gives "". */
void ac_redact(const char *secret, char *out, size_t outlen);

#endif
