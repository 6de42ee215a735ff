/*
 * mhd_conn.h - what the two libmicrohttpd servers (the admin API, the
 * http-01 responder) share: the connection tracker's record kept in each
 * connection's socket context, and libmicrohttpd's own messages sent to our
 * log at debug level.
 */
#ifndef AUTOCERT_MHD_CONN_H
#define AUTOCERT_MHD_CONN_H

#include <microhttpd.h>
#include <stdarg.h>

#include "admin_conn.h"

/* MHD_OPTION_NOTIFY_CONNECTION with the server's tracker as its argument:
 * opens the tracker's record of a new connection (kept in its socket
 * context) and closes it with the connection. */
void mhd_conn_notify(void *conns, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);

/* The connection's record in the tracker (NULL before mhd_conn_notify). */
struct admin_conn *mhd_conn_record(struct MHD_Connection *c);

/* Where libmicrohttpd's messages go: the log's set name and a prefix. */
struct mhd_log_tag {
    const char *set;
    const char *what;
};

/* MHD_OPTION_EXTERNAL_LOGGER with a struct mhd_log_tag as its argument:
 * libmicrohttpd's messages at debug level only (its "Failed to bind" and
 * per-connection notes would mislead next to our own error lines), one
 * line, control characters escaped. */
__attribute__((format(printf, 2, 0))) void mhd_conn_log(void *tag, const char *fmt, va_list ap);

#endif
