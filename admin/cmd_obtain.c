/*
 * cmd_obtain.c - `autocert obtain`: obtains every managed set's missing
 * certificate (every one with --force), several sets at once, then exits.
 * Exit 0 when every selected set holds a certificate afterwards, 1 when any
 * issuance failed, 2 for usage or configuration errors. Runs hooks.deploy and
 * notify.webhook as the daemon does (obtained / renewed / failed) and waits for
 * them (at most LIFECYCLE_ONESHOT_DRAIN_MS) before exiting.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autocert/autocert.h"
#include "certset.h"
#include "cli.h"
#include "commands.h"
#include "crypto.h"
#include "issuer.h"
#include "lifecycle.h"
#include "log.h"
#include "schedule.h"
#include "timeutil.h"

/* Sets obtained at once. Each set mostly waits (DNS, the CA's validation and
 * issuance, the polling schedule), so the waits of all sets overlap; the HTTP
 * layer shares its connections between the threads. */
#define OBTAIN_MAX_PARALLEL 16

struct job {
    const struct config_set *set;
    bool had_cert;                  /* cert_path held a file before: "renewed" */
    struct crypto_key *account_key; /* borrowed from the account table */
    const struct issuer_session *session; /* borrowed from the session table, or NULL */
    struct issuer_gate *gate;             /* borrowed, shared by all jobs, or NULL */
    struct ac_error err;
    struct issuer_result res;
    int rc;
};

struct pool {
    struct job *jobs;
    size_t count;
    atomic_size_t next;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert obtain [-c FILE] [--force] [SET|DOMAIN ...]\n\n"
               "Obtains the certificate of every managed set that has none on disk (or whose\n"
               "certificate has expired or no longer covers its domains), several sets at\n"
               "once, then exits. With --force every selected set gets a new certificate.\n"
               "SET is main, extra[N] or extraN; DOMAIN selects the set that covers it.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --force         obtain even when a valid certificate is present\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "exit status: 0 success, 1 an issuance failed, 2 usage or configuration error\n");
}

/* True when the set's files hold a valid, unexpired pair for its domains. */
static bool has_usable_cert(const struct config_set *set, int idx)
{
    autocert_cert *c = NULL;
    struct ac_error e;
    const char *names[256];
    size_t n;
    bool ok;
    char until[32];

    if (certset_load(set, idx, &c, &e) != 0) {
        if (e.kind[0] != '\0')
            ac_warn(set->name, "existing certificate not usable: %s", e.message);
        return false;
    }
    n = autocert_cert_name_count(c);
    if (n > 256)
        n = 256;
    for (size_t i = 0; i < n; i++)
        names[i] = autocert_cert_name(c, i);
    ok = autocert_cert_not_after(c) > ac_now() &&
         !schedule_names_differ((const char *const *)set->domains, set->domains_count, names, n);
    if (ok) {
        ac_time_format_rfc3339(autocert_cert_not_after(c), until, sizeof until);
        printf("%s: certificate present, valid until %s (use --force to replace it)\n",
               set->name, until);
    } else {
        ac_info(set->name, "certificate on disk is expired or does not cover the configured "
                           "domains: obtaining a new one");
    }
    autocert_cert_release(c);
    return ok;
}

static bool file_present(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

/* The events the daemon would send for this job (DESIGN.md §5.7): obtained or
 * renewed (the deploy hook runs when files were written), or failed. */
static void notify_job(struct lifecycle_notifier *n, const struct job *j)
{
    if (j->rc == 0)
        lifecycle_notify(n, j->set, j->had_cert ? "renewed" : "obtained", j->res.not_after, NULL,
                         j->res.issued);
    else if (!ac_error_is(&j->err, AC_ERR_LOCKED) && !ac_error_is(&j->err, AC_ERR_CANCELLED))
        lifecycle_notify(n, j->set, "failed", 0, &j->err, false);
}

static void *worker(void *arg)
{
    struct pool *p = arg;
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->count) {
        struct job *j = &p->jobs[i];
        struct issuer_request req = {
            .set = j->set, .account_key = j->account_key, .session = j->session, .gate = j->gate};

        ac_error_clear(&j->err);
        j->rc = issuer_obtain(&req, &j->res, &j->err);
    }
    return NULL;
}

/* Loads each distinct account key once, before any thread runs. */
struct account {
    const char *path;
    struct crypto_key *key;
    struct ac_error err;
    int rc;
};

static struct account *account_for(struct account *accts, size_t *n, const struct config_set *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(accts[i].path, s->acme_key_path) == 0)
            return &accts[i];
    struct account *a = &accts[(*n)++];
    a->path = s->acme_key_path;
    ac_error_clear(&a->err);
    a->rc = issuer_account_key(s, &a->key, &a->err);
    return a;
}

/* Looks up directory and account once per (CA, account) before the threads
 * run. A failed lookup leaves the job without a session: the set then makes
 * its own attempt and reports its own error, as without sessions. */
static void attach_sessions(struct job *jobs, size_t count, struct issuer_session **sessions,
                            size_t *nsessions)
{
    for (size_t i = 0; i < count; i++) {
        struct job *j = &jobs[i];
        struct ac_error e;

        if (!config_set_is_managed(j->set))
            continue;
        for (size_t k = 0; k < *nsessions && j->session == NULL; k++)
            if (issuer_session_fits(sessions[k], j->set, j->account_key))
                j->session = sessions[k];
        if (j->session != NULL)
            continue;
        ac_error_clear(&e);
        if (issuer_session_new(j->set, j->account_key, &sessions[*nsessions], &e) != 0) {
            ac_debug(j->set->name, "shared ACME account lookup failed: %s", e.message);
            continue;
        }
        j->session = sessions[(*nsessions)++];
    }
}

static int run_jobs(struct job *jobs, size_t count)
{
    struct pool pool = {.jobs = jobs, .count = count};
    pthread_t threads[OBTAIN_MAX_PARALLEL];
    size_t nthreads = count < OBTAIN_MAX_PARALLEL ? count : OBTAIN_MAX_PARALLEL;
    size_t started = 0;
    struct issuer_gate *gate = NULL;

    /* Only when every order runs at once: a queued one would hold the gate up. */
    if (count > 1 && count <= OBTAIN_MAX_PARALLEL && (gate = issuer_gate_new(count)) != NULL)
        for (size_t i = 0; i < count; i++)
            jobs[i].gate = gate;

    atomic_init(&pool.next, 0);
    /* the threads mostly wait: two malloc arenas do (about 1 MiB less RSS) */
    if (nthreads > 2)
        mallopt(M_ARENA_MAX, 2);
    for (; started < nthreads; started++)
        if (pthread_create(&threads[started], NULL, worker, &pool) != 0)
            break;
    if (started == 0)
        worker(&pool);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    issuer_gate_free(gate);
    return 0;
}

int cmd_obtain(int argc, char **argv)
{
    struct cli_opts o;
    struct config *cfg = NULL;
    struct job *jobs = NULL;
    struct account *accts = NULL;
    struct issuer_session **sessions = NULL;
    size_t njobs = 0, naccts = 0, nsessions = 0;
    bool *selected = NULL;
    struct lifecycle_notifier *notifier = NULL;
    struct ac_error ne;
    int status = EXIT_OK;

    if (cli_parse(argc, argv, "force", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if ((cfg = cli_load_config(o.config_path)) == NULL)
        return EXIT_USAGE;
    crypto_init();

    selected = calloc(cfg->sets_count, sizeof *selected);
    jobs = calloc(cfg->sets_count, sizeof *jobs);
    accts = calloc(cfg->sets_count, sizeof *accts);
    sessions = calloc(cfg->sets_count, sizeof *sessions);
    if (selected == NULL || jobs == NULL || accts == NULL || sessions == NULL) {
        fprintf(stderr, "obtain: out of memory\n");
        status = EXIT_FAILED;
        goto out;
    }
    for (int i = 0; i < o.nargs; i++) {
        int idx = cli_find_set(cfg, o.args[i]);
        if (idx < 0) {
            fprintf(stderr, "obtain: no set is named or covers '%s'\n", o.args[i]);
            status = EXIT_USAGE;
            goto out;
        }
        selected[idx] = true;
    }
    for (size_t i = 0; i < cfg->sets_count; i++) {
        const struct config_set *s = &cfg->sets[i];
        if (o.nargs > 0 && !selected[i])
            continue;
        if (strcmp(s->provider, CONFIG_PROVIDER_LOCAL) == 0) {
            printf("%s: local provider: certificates are managed outside autocert\n", s->name);
            continue;
        }
        if (!o.force && config_set_is_managed(s) && has_usable_cert(s, (int)i))
            continue;
        struct account *a = account_for(accts, &naccts, s);
        if (a->rc != 0) {
            printf("%s: failed: [%s] %s\n", s->name, a->err.kind, a->err.message);
            status = EXIT_FAILED;
            continue;
        }
        jobs[njobs].set = s;
        jobs[njobs].account_key = a->key;
        jobs[njobs].had_cert = file_present(s->cert_path);
        njobs++;
    }
    if (njobs > 0 && lifecycle_notifier_new(cfg, &notifier, &ne) != 0)
        ac_warn(NULL, "events: %s; no deploy hook or webhook will run", ne.message);
    attach_sessions(jobs, njobs, sessions, &nsessions);
    run_jobs(jobs, njobs);
    for (size_t i = 0; i < njobs; i++) {
        struct job *j = &jobs[i];
        char until[32];
        notify_job(notifier, j);
        if (j->rc != 0) {
            printf("%s: failed: [%s] %s\n", j->set->name, j->err.kind, j->err.message);
            status = EXIT_FAILED;
        } else if (j->res.issued) {
            ac_time_format_rfc3339(j->res.not_after, until, sizeof until);
            printf("%s: obtained certificate for %zu name(s), valid until %s -> %s\n",
                   j->set->name, j->set->domains_count, until, j->set->cert_path);
        } else {
            printf("%s: pseudo provider: nothing issued\n", j->set->name);
        }
    }
out:
    /* The deploy hook and the webhook of what happened, before exiting. */
    fflush(stdout);
    lifecycle_notifier_free(notifier, LIFECYCLE_ONESHOT_DRAIN_MS);
    for (size_t i = 0; i < nsessions; i++)
        issuer_session_free(sessions[i]);
    free(sessions);
    for (size_t i = 0; i < naccts; i++)
        crypto_key_free(accts[i].key);
    free(accts);
    free(jobs);
    free(selected);
    config_free(cfg);
    return status;
}
