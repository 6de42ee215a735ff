/*
 * api_driver.c - drives the public manager API (autocert.h only) for
 * tests/integration/test_api_oneoff.sh, with the renewal engine never
 * started: one-off operations must run on their own workers.
 *
 *     api_driver -c FILE STEP...
 *
 * Steps, run in order on one manager:
 *   obtain           autocert_manager_obtain of every set
 *   renew SEL        autocert_manager_renew of SEL
 *   revoke SEL       autocert_manager_revoke of SEL (reason superseded)
 *   status           one line per set: "status NAME STATE SERIAL"
 *   start / stop     autocert_manager_start / _stop (the renewal engine)
 *   add NAME FILE    autocert_manager_add_set of NAME with the YAML in FILE
 *   remove NAME      autocert_manager_remove_set
 *   wait NAME STATE SECS  polls NAME's status every 100 ms until STATE (at
 *                    most SECS; the step fails otherwise)
 * Step lines also go to stderr, so that they order with the library's log.
 * Prints "note SET MSG" and "result SET ok|KIND" for the progress callbacks,
 * "event TYPE SET" for every event the host callback got (at the end),
 * "changed N" for the change fd's count, and "step STEP rc" after each step.
 * Exit 0 when every step succeeded.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <autocert/autocert.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char events[64][80];
static size_t nevents;

static void on_event(void *arg, const autocert_event *ev)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    if (nevents < 64)
        snprintf(events[nevents++], sizeof events[0], "%s %s", autocert_event_name(ev->type),
                 ev->set != NULL ? ev->set : "-");
    pthread_mutex_unlock(&mu);
}

static void on_note(void *arg, const char *set, const char *msg)
{
    (void)arg;
    printf("note %s %s\n", set, msg);
    fflush(stdout);
}

static void on_result(void *arg, const char *set, const autocert_error *err)
{
    (void)arg;
    printf("result %s %s%s%s\n", set, err != NULL ? err->kind : "ok", err != NULL ? " " : "",
           err != NULL ? err->message : "");
    fflush(stdout);
}

static void status(autocert_manager *m)
{
    for (size_t i = 0; i < autocert_manager_set_count(m); i++) {
        autocert_status st;

        if (autocert_manager_status(m, i, &st) != 0)
            continue;
        printf("status %s %s %s\n", st.name, autocert_state_name(st.state),
               st.has_cert ? st.serial : "-");
        autocert_status_clear(&st);
    }
}

/* Polls set `name` until it is in state `state`, at most secs seconds. */
static int wait_state(autocert_manager *m, const char *name, const char *state, int secs,
                      autocert_error *err)
{
    for (int t = 0; t < secs * 10; t++) {
        autocert_status st;
        size_t idx;
        bool there = false;

        if (autocert_manager_find(m, name, &idx, err) == 0 &&
            autocert_manager_status(m, idx, &st) == 0) {
            there = strcmp(autocert_state_name(st.state), state) == 0;
            autocert_status_clear(&st);
        }
        if (there)
            return 0;
        usleep(100000);
    }
    snprintf(err->kind, sizeof err->kind, "timeout");
    snprintf(err->message, sizeof err->message, "%s not %s after %d s", name, state, secs);
    return -1;
}

int main(int argc, char **argv)
{
    autocert_progress p = {.note = on_note, .result = on_result, .arg = NULL};
    autocert_manager *m = NULL;
    autocert_error err;
    int rc = 0;

    if (argc < 3 || strcmp(argv[1], "-c") != 0) {
        fprintf(stderr, "usage: api_driver -c FILE STEP...\n");
        return 2;
    }
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_INFO);
    if (autocert_manager_open(argv[2], NULL, NULL, &m, &err) != 0) {
        fprintf(stderr, "api_driver: %s\n", err.message);
        return 2;
    }
    autocert_manager_on_event(m, on_event, NULL);
    autocert_manager_load(m);
    for (int i = 3; i < argc; i++) {
        const char *step = argv[i];
        int r = 0;

        if (strcmp(argv[i], "obtain") == 0) {
            r = autocert_manager_obtain(m, NULL, 0, 0, &p, &err);
        } else if (strcmp(argv[i], "renew") == 0 && i + 1 < argc) {
            r = autocert_manager_renew(m, argv[++i], &p, &err);
        } else if (strcmp(argv[i], "revoke") == 0 && i + 1 < argc) {
            r = autocert_manager_revoke(m, argv[++i], autocert_revocation_reason("superseded"), &p,
                                        &err);
        } else if (strcmp(argv[i], "status") == 0) {
            status(m);
        } else if (strcmp(argv[i], "start") == 0) {
            r = autocert_manager_start(m, &err);
        } else if (strcmp(argv[i], "stop") == 0) {
            autocert_manager_stop(m);
        } else if (strcmp(argv[i], "add") == 0 && i + 2 < argc) {
            char yaml[65536];
            FILE *f = fopen(argv[i + 2], "r");
            size_t n = f != NULL ? fread(yaml, 1, sizeof yaml - 1, f) : 0;

            if (f != NULL)
                fclose(f);
            yaml[n] = '\0';
            r = autocert_manager_add_set(m, argv[i + 1], yaml, NULL, NULL, &err);
            i += 2;
        } else if (strcmp(argv[i], "remove") == 0 && i + 1 < argc) {
            r = autocert_manager_remove_set(m, argv[++i], &err);
        } else if (strcmp(argv[i], "wait") == 0 && i + 3 < argc) {
            r = wait_state(m, argv[i + 1], argv[i + 2], (int)strtol(argv[i + 3], NULL, 10), &err);
            i += 3;
        } else {
            fprintf(stderr, "api_driver: unknown step %s\n", argv[i]);
            r = -1;
            snprintf(err.kind, sizeof err.kind, "usage");
        }
        printf("step %s %d%s%s\n", step, r, r != 0 ? " " : "", r != 0 ? err.kind : "");
        fprintf(stderr, "step %s %d%s%s\n", step, r, r != 0 ? " " : "", r != 0 ? err.message : "");
        fflush(stdout);
        if (r != 0)
            rc = 1;
    }
    printf("changed %llu\n", (unsigned long long)autocert_manager_changed_ack(m));
    autocert_manager_free(m); /* delivers the events still queued */
    for (size_t i = 0; i < nevents; i++)
        printf("event %s\n", events[i]);
    return rc;
}
