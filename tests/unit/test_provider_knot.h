/*
 * test_provider_knot.h - starts and stops a real Knot DNS server (knotd) for
 * the provider tests: a generated config in a temp dir, loopback only, zones
 * from strings, optional TSIG keys and an update ACL. Header-only (static
 * functions) so each test file stays self-contained.
 */
#ifndef AUTOCERT_TEST_PROVIDER_KNOT_H
#define AUTOCERT_TEST_PROVIDER_KNOT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"

struct knot_key {
    const char *name;
    const char *algorithm;
    char secret[64]; /* filled by knot_random_secret */
};

struct knot_zone {
    const char *name;
    const char *records; /* zone file lines after SOA/NS, "" for none */
};

struct knot {
    pid_t pid;
    char dir[128];
    char addr[64];
    uint16_t port;
    char server[96]; /* "addr:port" */
};

static __attribute__((unused)) int knot_random_secret(char *out, size_t outlen)
{
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw) || outlen < 48) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    b64_encode(raw, sizeof(raw), out);
    return 0;
}

/* A port free for both UDP and TCP on addr. */
static __attribute__((unused)) uint16_t knot_free_port(const char *addr)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
        uint16_t port = 0;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        inet_pton(AF_INET, addr, &sa.sin_addr);
        if (bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(u, (struct sockaddr *)&sa, &sl) == 0 &&
            bind(t, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            port = ntohs(sa.sin_port);
        close(u);
        close(t);
        if (port)
            return port;
    }
    return 0;
}

static __attribute__((unused)) int knot_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* Runs a shell command and returns its first `outlen` bytes of output. */
static __attribute__((unused)) int knot_sh(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    size_t got = 0, r;

    if (!p)
        return -1;
    while (got + 1 < outlen && (r = fread(out + got, 1, outlen - 1 - got, p)) > 0)
        got += r;
    out[got] = '\0';
    return pclose(p);
}

/* Starts knotd on addr (port 0 = a free one) serving `zones`; updates are
 * allowed for each key in `keys`, or from any loopback address when
 * key_count is 0. Returns 0 when the server answers. */
static __attribute__((unused)) int knot_start(struct knot *k, const char *addr, uint16_t port, const struct knot_zone *zones,
                      size_t zone_count, const struct knot_key *keys, size_t key_count)
{
    char conf[8192], path[256], cmd[512], out[256];
    size_t used = 0;

    memset(k, 0, sizeof(*k));
    snprintf(k->dir, sizeof(k->dir), "/tmp/ac-knot-XXXXXX");
    if (!mkdtemp(k->dir))
        return -1;
    snprintf(k->addr, sizeof(k->addr), "%s", addr);
    k->port = port ? port : knot_free_port(addr);
    if (!k->port)
        return -1;
    snprintf(k->server, sizeof(k->server), "%s:%u", addr, k->port);

    used += (size_t)snprintf(conf + used, sizeof(conf) - used,
                             "server:\n  rundir: \"%s\"\n  listen: %s@%u\n"
                             "  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n"
                             "database:\n  storage: \"%s\"\n"
                             "control:\n  listen: \"%s/knot.sock\"\n"
                             "log:\n  - target: stderr\n    any: info\n",
                             k->dir, addr, k->port, k->dir, k->dir);
    if (key_count) {
        used += (size_t)snprintf(conf + used, sizeof(conf) - used, "key:\n");
        for (size_t i = 0; i < key_count; i++)
            used += (size_t)snprintf(conf + used, sizeof(conf) - used,
                                     "  - id: %s\n    algorithm: %s\n    secret: %s\n",
                                     keys[i].name, keys[i].algorithm, keys[i].secret);
        used += (size_t)snprintf(conf + used, sizeof(conf) - used, "acl:\n");
        for (size_t i = 0; i < key_count; i++)
            used += (size_t)snprintf(conf + used, sizeof(conf) - used,
                                     "  - id: acl%zu\n    key: %s\n    action: update\n", i,
                                     keys[i].name);
    } else {
        used += (size_t)snprintf(conf + used, sizeof(conf) - used,
                                 "acl:\n  - id: acl0\n    address: 127.0.0.0/8\n"
                                 "    action: update\n");
    }
    used += (size_t)snprintf(conf + used, sizeof(conf) - used, "zone:\n");
    for (size_t z = 0; z < zone_count; z++) {
        char zf[4096];
        used += (size_t)snprintf(conf + used, sizeof(conf) - used,
                                 "  - domain: %s\n    file: \"%s/%s.zone\"\n"
                                 "    zonefile-sync: -1\n    zonefile-load: whole\n"
                                 "    journal-content: none\n    acl: [",
                                 zones[z].name, k->dir, zones[z].name);
        for (size_t i = 0; i < (key_count ? key_count : 1); i++)
            used += (size_t)snprintf(conf + used, sizeof(conf) - used, "%sacl%zu", i ? ", " : "", i);
        used += (size_t)snprintf(conf + used, sizeof(conf) - used, "]\n");
        snprintf(zf, sizeof(zf),
                 "$ORIGIN %s.\n$TTL 60\n@ SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 60\n%s\n",
                 zones[z].name, zones[z].name, zones[z].name, zones[z].records);
        snprintf(path, sizeof(path), "%s/%s.zone", k->dir, zones[z].name);
        if (knot_write(path, zf) != 0)
            return -1;
    }
    snprintf(path, sizeof(path), "%s/knot.conf", k->dir);
    if (used >= sizeof(conf) || knot_write(path, conf) != 0)
        return -1;

    k->pid = fork();
    if (k->pid < 0)
        return -1;
    if (k->pid == 0) {
        char logp[256];
        snprintf(logp, sizeof(logp), "%s/knot.log", k->dir);
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("knotd", "knotd", "-c", path, (char *)NULL);
        execl("/usr/sbin/knotd", "knotd", "-c", path, (char *)NULL);
        _exit(127);
    }
    snprintf(cmd, sizeof(cmd), "kdig @%s -p %u +short +timeout=1 +retry=0 SOA %s 2>/dev/null", addr,
             k->port, zones[0].name);
    for (int i = 0; i < 100; i++) {
        if (knot_sh(cmd, out, sizeof(out)) == 0 && out[0])
            return 0;
        if (waitpid(k->pid, NULL, WNOHANG) == k->pid) {
            k->pid = 0;
            fprintf(stderr, "knotd exited; log in %s/knot.log\n", k->dir);
            return -1;
        }
        usleep(100 * 1000);
    }
    snprintf(cmd, sizeof(cmd), "tail -20 '%s/knot.log' >&2", k->dir);
    knot_sh(cmd, out, sizeof(out));
    return -1;
}

static __attribute__((unused)) void knot_stop(struct knot *k)
{
    char cmd[256], out[64];

    if (k->pid > 0) {
        kill(k->pid, SIGTERM);
        for (int i = 0; i < 50 && waitpid(k->pid, NULL, WNOHANG) == 0; i++)
            usleep(100 * 1000);
        kill(k->pid, SIGKILL);
        waitpid(k->pid, NULL, 0);
        k->pid = 0;
    }
    if (k->dir[0] && strncmp(k->dir, "/tmp/ac-knot-", 13) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
        knot_sh(cmd, out, sizeof(out));
    }
    k->dir[0] = '\0';
}

/* The TXT values at `name` as kdig prints them (+short), sorted, joined with
 * one space, quotes removed. "" when there are none. */
static __attribute__((unused)) int knot_txt(const struct knot *k, const char *name, char *out, size_t outlen)
{
    char cmd[512], raw[2048];
    size_t o = 0;

    snprintf(cmd, sizeof(cmd),
             "kdig @%s -p %u +short +timeout=2 +retry=0 TXT %s 2>/dev/null | tr -d '\"' | sort", k->addr,
             k->port, name);
    if (knot_sh(cmd, raw, sizeof(raw)) != 0)
        return -1;
    for (char *p = raw; *p && o + 1 < outlen; p++)
        out[o++] = *p == '\n' ? ' ' : *p;
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return 0;
}

#endif
