/*
 * ocsp_sync.c - what OCSP stapling costs at scale: the fetcher's sync with a
 * snapshot of N sets whose certificates all name a responder (first sync:
 * N new jobs; again: all kept; one certificate replaced), and the copy of a
 * staple a handshake makes (lock, allocate, copy, free).
 *
 *     ocsp_sync [sets (default 100000)]
 *
 * Fixtures: scripts/ocsp_fixtures.py (python3-cryptography) in a temp dir,
 * AUTOCERT_SOURCE_DIR or the current directory as the source tree. The
 * responder URL points at a loopback socket that never accepts, so the
 * fetcher thread sits in its first request while the syncs are measured.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "certset.h"
#include "manager_priv.h"
#include "ocsp.h"
#include "set.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    const char *src = getenv("AUTOCERT_SOURCE_DIR") ? getenv("AUTOCERT_SOURCE_DIR") : ".";
    char dir[] = "/tmp/ac-ocsp-bench-XXXXXX", cmd[1024], path[256];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned char *chain, *key;
    size_t cl, kl;
    struct snapshot *s;
    struct acset *sets;
    struct ocsp_fetcher *f;
    struct ac_error e;
    autocert_cert *spare = NULL;
    double t0, t1;
    const unsigned char staple[1500] = {0x30};
    const size_t copies = 1000000;

    if (n == 0 || mkdtemp(dir) == NULL || lfd < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        return 1;
    snprintf(cmd, sizeof cmd,
             "python3 '%s/scripts/ocsp_fixtures.py' pki '%s' http://127.0.0.1:%d/ bench.test", src,
             dir, ntohs(a.sin_port));
    if (system(cmd) != 0)
        return 1;
    snprintf(path, sizeof path, "%s/chain.pem", dir);
    chain = slurp(path, &cl);
    snprintf(path, sizeof path, "%s/leaf.key", dir);
    key = slurp(path, &kl);
    s = calloc(1, sizeof *s + n * sizeof s->certs[0] + n * sizeof s->sets[0]);
    sets = calloc(n, sizeof *sets);
    if (chain == NULL || key == NULL || s == NULL || sets == NULL)
        return 1;
    s->count = n;
    s->sets = (struct acset **)(void *)&s->certs[n];
    t0 = now_ms();
    for (size_t i = 0; i < n; i++) {
        sets[i].cfg.name = "bench";
        sets[i].cfg.ocsp_stapling = true;
        s->sets[i] = &sets[i];
        if (certset_from_memory("bench", (int)i, chain, cl, key, kl, &s->certs[i], &e) != 0) {
            fprintf(stderr, "%s\n", e.message);
            return 1;
        }
    }
    if (certset_from_memory("bench", 0, chain, cl, key, kl, &spare, &e) != 0)
        return 1;
    t1 = now_ms();
    printf("%zu handles made in %.0f ms\n", n, t1 - t0);

    f = ocsp_fetcher_new();
    if (f == NULL || ocsp_fetcher_start(f, &e) != 0)
        return 1;
    t0 = now_ms();
    ocsp_fetcher_sync(f, s);
    t1 = now_ms();
    printf("sync, %zu new jobs: %.1f ms\n", n, t1 - t0);
    t0 = now_ms();
    ocsp_fetcher_sync(f, s);
    t1 = now_ms();
    printf("sync, %zu jobs kept: %.1f ms\n", n, t1 - t0);
    {
        autocert_cert *old = s->certs[n / 2];
        s->certs[n / 2] = spare;
        t0 = now_ms();
        ocsp_fetcher_sync(f, s);
        t1 = now_ms();
        printf("sync, one certificate replaced: %.1f ms\n", t1 - t0);
        s->certs[n / 2] = old;
        ocsp_fetcher_sync(f, s); /* the replacement's job goes */
        autocert_cert_release(spare);
    }

    cert_staple_set(s->certs[0], staple, sizeof staple, time(NULL) - 10, time(NULL) + 3600);
    t0 = now_ms();
    for (size_t i = 0; i < copies; i++) {
        unsigned char *der = NULL;
        size_t len = 0;
        if (cert_staple_copy(s->certs[0], time(NULL), malloc, &der, &len, NULL) != 1)
            return 1;
        free(der);
    }
    t1 = now_ms();
    printf("staple copy (%zu bytes, lock + malloc + memcpy + free): %.0f ns\n", sizeof staple,
           (t1 - t0) * 1e6 / (double)copies);

    ocsp_fetcher_free(f);
    for (size_t i = 0; i < n; i++)
        autocert_cert_release(s->certs[i]);
    free(s);
    free(sets);
    free(chain);
    free(key);
    close(lfd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
