/*
 * mhd_conn.c - the libmicrohttpd glue both servers share (mhd_conn.h).
 */
#include "mhd_conn.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "textsafe.h"

void mhd_conn_notify(void *conns, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *peer =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        *socket_context = admin_conns_open(conns, fd != NULL ? fd->connect_fd : -1,
                                           peer != NULL ? peer->client_addr : NULL);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        admin_conns_close(conns, *socket_context);
        *socket_context = NULL;
    }
}

struct admin_conn *mhd_conn_record(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return i != NULL ? i->socket_context : NULL;
}

void mhd_conn_log(void *tag, const char *fmt, va_list ap)
{
    const struct mhd_log_tag *t = tag;
    char line[512], safe[600];
    size_t n;

    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    ac_text_sanitize(safe, sizeof safe, line, n);
    ac_debug(t->set, "%s: %s", t->what, safe);
}
