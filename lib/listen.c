/*
 * listen.c - listening sockets of the library's servers (listen.h).
 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"

int listen_parse(const char *text, char *host, size_t host_len, int *port)
{
    char tmp[300];
    size_t n = strlen(text);

    if (config_parse_listen(text, host, host_len, port) == 0)
        return 0;
    /* port 0: parse the same text with port 1, then say 0 */
    if (n < 3 || n >= sizeof tmp || strcmp(text + n - 2, ":0") != 0)
        return -1;
    memcpy(tmp, text, n - 1);
    tmp[n - 1] = '1';
    tmp[n] = '\0';
    if (config_parse_listen(tmp, host, host_len, port) != 0)
        return -1;
    *port = 0;
    return 0;
}

/* Why bind(2)/listen(2) failed, in the words of the error line. */
static const char *bind_error(int err)
{
    switch (err) {
    case EADDRINUSE:
        return "address already in use";
    case EADDRNOTAVAIL:
        return "address not available on this host";
    case EACCES:
        return "permission denied";
    default:
        return strerror(err);
    }
}

int listen_open(const char *what, const char *text, const char *host, int port, int backlog,
                bool *v6, struct ac_error *e)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int fd, one = 1, err;

    memset(&ss, 0, sizeof ss);
    *v6 = false;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof *a6;
        *v6 = true;
    } else {
        ac_error_set(e, AC_ERR_CONFIG, "%s '%s': the host must be an IP address", what, text);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ac_error_set(e, AC_ERR_IO, "%s %s: %s", what, text, strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (*v6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
        err = errno;
        close(fd);
        ac_error_set(e, AC_ERR_IO, "%s %s: %s", what, text, bind_error(err));
        return -1;
    }
    return fd;
}

int listen_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}
