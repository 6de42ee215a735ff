/*
 * admin_scale.c - the admin API and run-time sets at a number of sets: adds N
 * run-time sets (local, each with its own copy of one certificate) to a
 * manager, then prints
 *   - the time of one autocert_manager_add_set / _remove_set at N sets,
 *   - the size and build time of GET /metrics with and without the per-set
 *     series (admin.metrics_per_set), and the bytes per set,
 *   - the time of GET /api/v1/cert/status?limit=100 (first page, and a page
 *     from a cursor in the middle) and of the whole array.
 *
 *     admin_scale DIR [N]     (DIR: an empty scratch directory; N default 2000)
 *
 * Names are "site-NNNNNN" (11 characters, like "extra[NNNNN]").
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autocert/autocert.h"
#include "autocert/autocert_admin.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* GET path?query in-process: body length and the Link header's cursor. */
static size_t get(autocert_manager *m, const char *path, const char *query, double *ms,
                  char *cursor, size_t n)
{
    autocert_admin_response *r = NULL;
    const char *name, *value;
    char buf[65536];
    size_t total = 0;
    ssize_t k;
    double t0 = now_ms();

    if (autocert_admin_handle_trusted(m, "GET", path, query, &r) != 0)
        return 0;
    while ((k = autocert_admin_response_read(r, buf, sizeof buf)) > 0)
        total += (size_t)k;
    *ms = now_ms() - t0;
    if (cursor != NULL) {
        cursor[0] = '\0';
        for (size_t i = 0; autocert_admin_response_header(r, i, &name, &value) == 0; i++) {
            const char *c = strstr(value, "cursor=");

            if (strcmp(name, "Link") == 0 && c != NULL)
                snprintf(cursor, n, "%.*s", (int)strcspn(c + 7, ">&"), c + 7);
        }
    }
    autocert_admin_response_free(r);
    return total;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL;
    long n = argc > 2 ? atol(argv[2]) : 2000;
    char cfg[512], spec[512], name[32], q[256], cursor[256];
    autocert_manager *m = NULL;
    autocert_error err;
    double t0, ms, add_ms = 0, remove_ms = 0;
    size_t bytes_on, bytes_off;
    FILE *f;

    if (dir == NULL || n < 1) {
        fprintf(stderr, "usage: admin_scale DIR [N]\n");
        return 2;
    }
    if (chdir(dir) != 0 ||
        system("certtool --generate-privkey --ecc --outfile k.pem >/dev/null 2>&1 && "
               "printf 'cn = site\\ndns_name = site.example.com\\nexpiration_days = 90\\n' "
               ">t.tmpl && certtool --generate-self-signed --load-privkey k.pem "
               "--template t.tmpl --outfile c.pem >/dev/null 2>&1 && mkdir -p s") != 0) {
        fprintf(stderr, "admin_scale: cannot make the certificate in %s\n", dir);
        return 1;
    }
    snprintf(cfg, sizeof cfg, "autocert.yml");
    f = fopen(cfg, "w");
    fprintf(f, "autocert:\n  provider: local\n  cert_path: c.pem\n  key_path: k.pem\n");
    fclose(f);
    if (autocert_manager_open(cfg, NULL, NULL, &m, &err) != 0) {
        fprintf(stderr, "admin_scale: %s\n", err.message);
        return 1;
    }
    autocert_manager_load(m);
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "site-%06ld", i);
        snprintf(spec, sizeof spec, "cert_path: s/%s.crt\nkey_path: s/%s.key\n", name, name);
        char a[64], b[64];
        snprintf(a, sizeof a, "s/%s.crt", name);
        snprintf(b, sizeof b, "s/%s.key", name);
        if (link("c.pem", a) != 0 || link("k.pem", b) != 0) {
            perror("link");
            return 1;
        }
        t0 = now_ms();
        if (autocert_manager_add_set(m, name, spec, NULL, NULL, &err) != 0) {
            fprintf(stderr, "add %s: %s\n", name, err.message);
            return 1;
        }
        if (i == n - 1)
            add_ms = now_ms() - t0;
    }
    t0 = now_ms();
    autocert_manager_remove_set(m, "site-000000", &err);
    remove_ms = now_ms() - t0;
    snprintf(spec, sizeof spec, "cert_path: s/site-000000.crt\nkey_path: s/site-000000.key\n");
    autocert_manager_add_set(m, "site-000000", spec, NULL, NULL, &err);
    printf("sets: %zu (1 YAML + %ld run-time)\n", autocert_manager_set_count(m), n);
    printf("add_set at %ld sets: %.2f ms; remove_set: %.2f ms\n", n, add_ms, remove_ms);

    bytes_on = get(m, "/metrics", NULL, &ms, NULL, 0);
    printf("/metrics per-set on:  %zu bytes (%.0f bytes/set), %.1f ms\n", bytes_on,
           (double)bytes_on / (double)(n + 1), ms);
    f = fopen(cfg, "a");
    fprintf(f, "admin:\n  metrics_per_set: false\n");
    fclose(f);
    if (autocert_manager_reload_config(m, NULL, NULL, NULL, &err) != 0) {
        fprintf(stderr, "reload: %s\n", err.message);
        return 1;
    }
    bytes_off = get(m, "/metrics", NULL, &ms, NULL, 0);
    printf("/metrics per-set off: %zu bytes, %.1f ms\n", bytes_off, ms);
    printf("extrapolated to 100,000 sets: %.1f MB with per-set series, %zu bytes without\n",
           ((double)bytes_off + (double)(bytes_on - bytes_off) / (double)(n + 1) * 100000.0) / 1e6,
           bytes_off);

    size_t b1 = get(m, "/api/v1/cert/status", "limit=100", &ms, cursor, sizeof cursor);
    printf("/status?limit=100 first page: %zu bytes, %.1f ms\n", b1, ms);
    snprintf(q, sizeof q, "limit=100&cursor=%s", cursor);
    for (int i = 0; i < 5; i++)
        (void)get(m, "/api/v1/cert/status", q, &ms, cursor, sizeof cursor),
            snprintf(q, sizeof q, "limit=100&cursor=%s", cursor);
    b1 = get(m, "/api/v1/cert/status", q, &ms, NULL, 0);
    printf("/status?limit=100 from a cursor: %zu bytes, %.1f ms\n", b1, ms);
    b1 = get(m, "/api/v1/cert/status", "name=site-000500", &ms, NULL, 0);
    printf("/status?name=site-000500: %zu bytes, %.1f ms\n", b1, ms);
    b1 = get(m, "/api/v1/cert/status", NULL, &ms, NULL, 0);
    printf("/status (whole array): %zu bytes, %.1f ms\n", b1, ms);
    autocert_manager_free(m);
    return 0;
}
