/* scale_lookup.c - the in-process half of bench/scale.py: opens a manager on
 * a configuration of N local sets written by bench/scale_gen.py (public API
 * only), loads them, checks that a sample of names picks the right set, then
 * times autocert_manager_lookup over pseudo-random names of those sets
 * (exact names and wildcard matches, half each). Prints
 *   scale_lookup sets=<n> load_s=<s> lookup_ns <ns>
 * (the last field is what scale.py reads).
 *
 * Usage: scale_lookup CONFIG [LOOKUPS]   (run in CONFIG's directory) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <autocert/autocert.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* site<i>.example<i%100>.com, or a name under its wildcard. */
static size_t name_of(size_t i, int wild, char *buf, size_t n)
{
    int k = wild ? snprintf(buf, n, "www.site%zu.example%zu.com", i, i % 100)
                 : snprintf(buf, n, "site%zu.example%zu.com", i, i % 100);
    return k > 0 ? (size_t)k : 0;
}

int main(int argc, char **argv)
{
    autocert_manager *m = NULL;
    char err[512], name[96];
    size_t n, lookups = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    uint64_t x = 88172645463325252ULL, sink = 0;
    double t0, t1;

    if (argc < 2) {
        fprintf(stderr, "usage: scale_lookup CONFIG [LOOKUPS]\n");
        return 2;
    }
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_WARN);
    t0 = now_s();
    if (autocert_manager_new(argv[1], &m, err, sizeof err) != 0) {
        fprintf(stderr, "scale_lookup: %s\n", err);
        return 1;
    }
    autocert_manager_load(m);
    t1 = now_s();
    n = autocert_manager_set_count(m);
    /* correctness: each sampled name selects its own set's certificate */
    for (size_t i = 0; i < n; i += n / 97 + 1) {
        for (int w = 0; w < 2; w++) {
            size_t len = name_of(i, w, name, sizeof name);
            autocert_cert *c = autocert_manager_lookup(m, name, len);
            const char *want = name + (w ? 4 : 0);
            int ok = 0;

            for (size_t k = 0; c != NULL && k < autocert_cert_name_count(c); k++)
                ok |= strcmp(autocert_cert_name(c, k), want) == 0;
            autocert_cert_release(c);
            if (!ok) {
                fprintf(stderr, "scale_lookup: %s got another set's certificate\n", name);
                return 1;
            }
        }
    }
    {
        /* names made before the clock starts: the figure is the lookup alone */
        enum { NQ = 65536 };
        static char qs[NQ][64];
        static size_t ql[NQ];
        double a, b;

        for (size_t q = 0; q < NQ; q++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ql[q] = name_of((size_t)(x % n), (int)(x >> 63), qs[q], sizeof qs[q]);
        }
        a = now_s();
        for (size_t q = 0; q < lookups; q++) {
            autocert_cert *c = autocert_manager_lookup(m, qs[q % NQ], ql[q % NQ]);
            sink += (uintptr_t)c;
            autocert_cert_release(c);
        }
        b = now_s();
        printf("scale_lookup sets=%zu load_s=%.3f sink=%u lookup_ns %.1f\n", n, t1 - t0,
               (unsigned)(sink & 1), (b - a) * 1e9 / (double)(lookups ? lookups : 1));
    }
    autocert_manager_free(m);
    return 0;
}
