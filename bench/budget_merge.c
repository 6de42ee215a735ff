/*
 * budget_merge.c - what sharing a CA budget's state file costs: the merge
 * every write does (lc_sched_save: flock, read and parse the file, apply this
 * process's charges since its last write, write atomically) with a state of
 * N registered domains that ordered within the week, the read back with
 * nothing to add (no write), the part of a merge done with the engine
 * mutex held, and pruning the in-memory per-domain table. (With Let's
 * Encrypt's 300 orders per 3 hours an account charges at most 16,800
 * registered domains a week.)
 *
 *     budget_merge [domains (default 100000)] [rounds (default 20)]
 *
 * The state file goes to a temp dir (TMPDIR or /tmp).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "lifecycle_priv.h"
#include "store.h"

#define T0 1700000000LL
#define ID "https://ca.bench/dir|key:bench"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000, rounds = argc > 2 ? atol(argv[2]) : 20;
    struct budget_limits lim = {300, 50};
    struct lc_sched q = {0};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct lc_ca_account *a;
    struct acset s;
    char *dom[1] = {"www.one.example"}, tmpl[256], key[300], path[STORE_PATH_MAX], name[64];
    const char *nm[1] = {name};
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    struct budget *b;
    double t, write_ms, read_ms, prune_ms, walk_ms, merge_ms;

    if (n < 1 || rounds < 1) {
        fprintf(stderr, "usage: budget_merge [domains] [rounds]\n");
        return 2;
    }
    snprintf(tmpl, sizeof tmpl, "%s/budget_bench_XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(key, sizeof key, "%s/acme.key", tmpl);
    if (budget_state_path(key, ID, path, sizeof path) != 0)
        return 1;
    a = lc_sched_account(&q, ID, &lim, path);
    if (a == NULL)
        return 1;
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "www.d%ld.example", i);
        if (budget_charge(a->b, nm, 1, true, T0) != 0)
            return 1;
    }
    a->dirty = true;
    lc_sched_save(&q, &mu, T0, NULL, false); /* no file yet: the whole state */
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    memset(&s, 0, sizeof s);
    s.cfg.name = "bench";
    s.cfg.domains = dom;
    s.cfg.domains_count = 1;
    s.managed = true;
    s.rec.acct = a;

    t = now_ms();
    for (long r = 0; r < rounds; r++) {
        pthread_mutex_lock(&mu);
        lc_sched_charge(&q, &s, false, T0 + 1);
        pthread_mutex_unlock(&mu);
        lc_sched_save(&q, &mu, T0 + 1, NULL, false);
    }
    write_ms = (now_ms() - t) / (double)rounds;
    t = now_ms();
    for (long r = 0; r < rounds; r++)
        lc_sched_save(&q, &mu, T0 + 1, NULL, true);
    read_ms = (now_ms() - t) / (double)rounds;

    b = budget_new(ID, &lim);
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "www.d%ld.example", i);
        if (budget_charge(b, nm, 1, true, T0) != 0)
            return 1;
    }
    {
        /* what a merge holds the engine mutex for: the stored budget merged
         * into the engine's (the same n domains) */
        struct budget *c = budget_new(ID, &lim);
        json_object *j = budget_to_json(b, T0);

        budget_from_json(c, j);
        json_object_put(j);
        t = now_ms();
        budget_merge(c, b);
        merge_ms = now_ms() - t;
        budget_free(c);
    }
    t = now_ms();
    (void)budget_prune(b, T0); /* nothing expired: the walk only */
    walk_ms = now_ms() - t;
    t = now_ms();
    (void)budget_prune(b, T0 + BUDGET_DOMAIN_WINDOW_S); /* all expired */
    prune_ms = now_ms() - t;

    printf("state file: %ld registered domains, %lld bytes\n", n, (long long)st.st_size);
    printf("merge with one charge to write (flock, read, parse, apply, write): %.2f ms\n",
           write_ms);
    printf("read back with nothing to add (flock, read, parse, no write): %.2f ms\n", read_ms);
    printf("engine mutex held by a merge (the state merged into the engine's): %.2f ms\n",
           merge_ms);
    printf("prune, nothing expired (walk): %.2f ms; all %ld expired (rebuild): %.2f ms\n", walk_ms,
           n, prune_ms);
    budget_free(b);
    lc_sched_free(&q);
    {
        char lock[STORE_PATH_MAX + 8];
        snprintf(lock, sizeof lock, "%s.lock", path);
        unlink(path);
        unlink(lock);
        rmdir(tmpl);
    }
    return 0;
}
