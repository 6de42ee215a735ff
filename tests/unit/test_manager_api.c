/*
 * test_manager_api.c - the public manager API that needs no CA: the one set
 * selector (autocert_manager_find: with main *.example.com and an extra
 * a.example.com, a.example.com selects the extra - the CLI's obtain and renew
 * used to disagree -, exact beats wildcard, ties go to the first set, names,
 * no match is an error, sets without configured domains by their
 * certificate's names), events (the host callback in order, the change fd
 * with its count), the log callback (records with level and set; nothing on
 * stderr without it), reload_config (unchanged sets keep their state, removed
 * sets go, a broken file is refused, a secret of a set still in use stays
 * masked), status copies, and names (states, events, revocation reasons).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "autocert/autocert.h"
#include "error.h"
#include "lifecycle_priv.h"
#include "manager.h"
#include "secrets.h"
#include "set.h"
#include "test_manager_certs.h"
#include "timeutil.h"

#define HMAC "c3VwZXJzZWNyZXRobWFjdmFsdWUxMjM0NQ"

struct fx {
    char dir[64];
    char cfg[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ac-api-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cfg, sizeof f->cfg, "%s/autocert.yml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* main *.example.com; extra[1] a.example.com; extra[2] a.example.com (tie)
 * and *.b.example.com; extra[3] custom with an EAB secret (optional). */
static void write_selector_config(const struct fx *f, bool with_extra3)
{
    FILE *c = fopen(f->cfg, "w");

    assert_non_null(c);
    fprintf(c,
            "autocert:\n"
            "  provider: pseudo\n"
            "  email: a@example.com\n"
            "  domains: [\"*.example.com\"]\n"
            "  cert_path: %s/main.crt\n"
            "  key_path: %s/main.key\n"
            "  extra:\n"
            "    - domains: [a.example.com]\n"
            "      cert_path: %s/a.crt\n"
            "      key_path: %s/a.key\n"
            "    - domains: [A.example.com, \"*.b.example.com\", 192.0.2.7]\n"
            "      cert_path: %s/c.crt\n"
            "      key_path: %s/c.key\n",
            f->dir, f->dir, f->dir, f->dir, f->dir, f->dir);
    if (with_extra3)
        fprintf(c,
                "    - provider: custom\n"
                "      ca_dir_url: https://127.0.0.1:1/dir\n"
                "      eab_kid: kid1\n"
                "      eab_hmac: " HMAC "\n"
                "      domains: [e.example.org]\n"
                "      cert_path: %s/e.crt\n"
                "      key_path: %s/e.key\n",
                f->dir, f->dir);
    fclose(c);
}

static autocert_manager *open_mgr(const struct fx *f)
{
    autocert_manager *m = NULL;
    autocert_error err;

    if (autocert_manager_open(f->cfg, NULL, NULL, &m, &err) != 0)
        fail_msg("open: %s", err.message);
    return m;
}

static long find(autocert_manager *m, const char *sel, autocert_error *err)
{
    size_t idx = 99;

    return autocert_manager_find(m, sel, &idx, err) == 0 ? (long)idx : -1;
}

static void test_selector(void **state)
{
    struct fx *f = *state;
    autocert_manager *m;
    autocert_error err;

    write_selector_config(f, false);
    m = open_mgr(f);
    /* the mismatch of issue 11: the exact name of the extra beats main's wildcard */
    assert_int_equal(find(m, "a.example.com", &err), 1);
    assert_int_equal(find(m, "A.Example.COM.", &err), 1);  /* normalised */
    assert_int_equal(find(m, "b.example.com", &err), 0);   /* main's wildcard */
    assert_int_equal(find(m, "x.b.example.com", &err), 2); /* one more label */
    assert_int_equal(find(m, "192.0.2.7", &err), 2);       /* not an SNI name */
    /* names */
    assert_int_equal(find(m, "main", &err), 0);
    assert_int_equal(find(m, "extra[2]", &err), 2);
    assert_int_equal(find(m, "extra1", &err), 1);
    assert_int_equal(find(m, "EXTRA[1]", &err), 1);
    assert_int_equal(find(m, "extra[3]", &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_NO_MATCH);
    assert_string_equal(err.message, "no set named extra[3]");
    /* no match is an error, never main */
    assert_int_equal(find(m, "a.example.org", &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_NO_MATCH);
    assert_string_equal(err.message, "no set covers a.example.org");
    assert_int_equal(find(m, "y.x.b.example.com", &err), -1); /* two labels */
    assert_int_equal(find(m, "example.com", &err), -1);       /* never the bare zone */
    assert_int_equal(find(m, "", &err), -1);
    autocert_manager_free(m);
}

/* Local sets have no configured domains: their certificate's names select them. */
static void test_selector_by_certificate(void **state)
{
    struct fx *f = *state;
    static const char *const n0[] = {"www.example.net"};
    static const char *const n1[] = {"*.api.example.net"};
    char crt[2][128], key[2][128];
    autocert_manager *m;
    autocert_error err;
    FILE *c;

    for (int i = 0; i < 2; i++) {
        snprintf(crt[i], sizeof crt[i], "%s/l%d.crt", f->dir, i);
        snprintf(key[i], sizeof key[i], "%s/l%d.key", f->dir, i);
    }
    assert_int_equal(tmc_make(crt[0], key[0], "www.example.net", n0, 1), 0);
    assert_int_equal(tmc_make(crt[1], key[1], "x.api.example.net", n1, 1), 0);
    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c,
            "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n"
            "  extra:\n    - cert_path: %s\n      key_path: %s\n",
            crt[0], key[0], crt[1], key[1]);
    fclose(c);
    m = open_mgr(f);
    assert_int_equal(find(m, "v1.api.example.net", &err), -1); /* nothing loaded yet */
    assert_int_equal(autocert_manager_load(m), 2);
    assert_int_equal(find(m, "v1.api.example.net", &err), 1);
    assert_int_equal(find(m, "www.example.net", &err), 0);
    assert_int_equal(find(m, "mail.example.net", &err), -1);
    autocert_manager_free(m);
}

/* ---- events ---- */

struct seen {
    pthread_mutex_t mu;
    enum autocert_event_type type[32];
    char set[32][32];
    char err[32][48];
    size_t n;
};

static void on_event(void *arg, const autocert_event *ev)
{
    struct seen *s = arg;

    pthread_mutex_lock(&s->mu);
    if (s->n < 32) {
        s->type[s->n] = ev->type;
        snprintf(s->set[s->n], sizeof s->set[0], "%s", ev->set != NULL ? ev->set : "-");
        snprintf(s->err[s->n], sizeof s->err[0], "%s", ev->error != NULL ? ev->error->kind : "");
        s->n++;
    }
    pthread_mutex_unlock(&s->mu);
}

static size_t seen_count(struct seen *s)
{
    size_t n;

    pthread_mutex_lock(&s->mu);
    n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static bool wait_seen(struct seen *s, size_t n)
{
    for (int i = 0; i < 500 && seen_count(s) < n; i++)
        ac_sleep_ms(10, NULL);
    return seen_count(s) >= n;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

static void test_events_and_changed_fd(void **state)
{
    struct fx *f = *state;
    static const char *const n0[] = {"www.example.net"};
    char crt[128], key[128];
    struct seen s = {.n = 0};
    autocert_manager *m;
    struct acset *set;
    struct ac_error e;
    int fd;
    FILE *c;

    pthread_mutex_init(&s.mu, NULL);
    snprintf(crt, sizeof crt, "%s/l.crt", f->dir);
    snprintf(key, sizeof key, "%s/l.key", f->dir);
    assert_int_equal(tmc_make(crt, key, "www.example.net", n0, 1), 0);
    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n", crt, key);
    fclose(c);
    m = open_mgr(f);
    fd = autocert_manager_changed_fd(m);
    assert_true(fd >= 0);
    assert_false(readable(fd));
    autocert_manager_on_event(m, on_event, &s);

    assert_int_equal(autocert_manager_load(m), 1); /* the served certificates changed */
    assert_true(readable(fd));
    assert_true(wait_seen(&s, 1));
    assert_int_equal(s.type[0], AUTOCERT_EVENT_CHANGED);
    assert_string_equal(s.set[0], "-");

    /* events of a set, in order, then another change */
    set = manager_set_at(m, 0);
    ac_error_set(&e, AC_ERR_DNS_PROPAGATION, "not visible");
    lc_post_event(manager_engine(m), set, "obtained", 1, NULL, false);
    lc_post_event(manager_engine(m), set, "renewed", 2, NULL, false);
    lc_post_event(manager_engine(m), set, "failed", 3, &e, false);
    lc_post_event(manager_engine(m), set, "expiring", 4, NULL, false);
    acset_unref(set);
    assert_int_equal(tmc_make(crt, key, "www.example.net", n0, 1), 0);
    assert_int_equal(autocert_manager_reload(m), 1);
    assert_true(wait_seen(&s, 6));
    assert_int_equal(s.type[1], AUTOCERT_EVENT_OBTAINED);
    assert_int_equal(s.type[2], AUTOCERT_EVENT_RENEWED);
    assert_int_equal(s.type[3], AUTOCERT_EVENT_FAILED);
    assert_string_equal(s.err[3], AC_ERR_DNS_PROPAGATION);
    assert_int_equal(s.type[4], AUTOCERT_EVENT_EXPIRING);
    assert_int_equal(s.type[5], AUTOCERT_EVENT_CHANGED);
    assert_string_equal(s.set[1], "main");
    assert_string_equal(s.err[1], "");

    /* two changes so far; ack drains and re-arms */
    assert_int_equal(autocert_manager_changed_ack(m), 2);
    assert_false(readable(fd));
    assert_int_equal(autocert_manager_changed_ack(m), 0);
    assert_int_equal(autocert_manager_reload(m), 0); /* nothing changed: no change */
    assert_false(readable(fd));

    autocert_manager_on_event(m, NULL, NULL);
    autocert_manager_free(m);
    pthread_mutex_destroy(&s.mu);
    assert_string_equal(autocert_event_name(AUTOCERT_EVENT_CHANGED), "changed");
    assert_string_equal(autocert_event_name(AUTOCERT_EVENT_FAILED), "failed");
}

/* ---- logging ---- */

struct logged {
    int n, with_set, warn;
    char first[256];
};

static void log_fn(void *arg, enum autocert_log_level level, const char *set, const char *msg)
{
    struct logged *l = arg;

    if (l->n++ == 0)
        snprintf(l->first, sizeof l->first, "%s", msg);
    if (set != NULL && strcmp(set, "main") == 0)
        l->with_set++;
    if (level == AUTOCERT_LOG_WARN)
        l->warn++;
    assert_null(strchr(msg, '\n'));
}

static void test_log_callback(void **state)
{
    struct fx *f = *state;
    struct logged l = {0};
    autocert_manager *m;
    char path[128], buf[256];
    int saved, fd;
    ssize_t n;

    /* main's files are absent: load logs (info) and warns that main holds none */
    write_selector_config(f, false);
    autocert_log_set(log_fn, &l, AUTOCERT_LOG_INFO);
    m = open_mgr(f);
    autocert_manager_load(m);
    autocert_manager_free(m);
    autocert_log_set(NULL, NULL, AUTOCERT_LOG_INFO);
    assert_true(l.n > 0);
    assert_true(l.with_set > 0);
    assert_true(l.warn > 0);

    /* the warning level filters the info records */
    memset(&l, 0, sizeof l);
    autocert_log_set(log_fn, &l, AUTOCERT_LOG_WARN);
    m = open_mgr(f);
    autocert_manager_load(m);
    autocert_manager_free(m);
    autocert_log_set(NULL, NULL, AUTOCERT_LOG_INFO);
    assert_true(l.n > 0);
    assert_int_equal(l.n, l.warn);

    /* no callback: nothing on stderr */
    snprintf(path, sizeof path, "%s/stderr.txt", f->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    assert_true(dup2(fd, 2) == 2);
    m = open_mgr(f);
    autocert_manager_load(m);
    autocert_log(AUTOCERT_LOG_ERROR, "main", "host record %d", 1);
    autocert_manager_free(m);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    fd = open(path, O_RDONLY);
    n = read(fd, buf, sizeof buf);
    close(fd);
    assert_int_equal(n, 0);
}

/* ---- reload_config ---- */

static void test_reload_config(void **state)
{
    struct fx *f = *state;
    autocert_manager *m;
    autocert_error err;
    struct acset *main0, *main1, *e3;
    struct ac_error e;
    size_t before;
    FILE *c;

    write_selector_config(f, true);
    m = open_mgr(f);
    assert_int_equal(autocert_manager_set_count(m), 4);
    main0 = manager_set_at(m, 0);
    pthread_mutex_lock(&manager_engine(m)->mu);
    main0->rec.failures = 3; /* engine state that must survive */
    pthread_mutex_unlock(&manager_engine(m)->mu);

    assert_int_equal(find(m, "e.example.org", &err), 3);
    /* extra[3] (with its secret) is in use, say by a running order */
    e3 = manager_set_at(m, 3);
    before = secrets_count();

    /* extra[3] removed; the others unchanged */
    write_selector_config(f, false);
    assert_int_equal(autocert_manager_reload_config(m, NULL, NULL, NULL, &err), 0);
    assert_int_equal(autocert_manager_set_count(m), 3);
    main1 = manager_set_at(m, 0);
    assert_ptr_equal(main0, main1);
    assert_int_equal(main1->rec.failures, 3);
    assert_int_equal(find(m, "e.example.org", &err), -1);
    assert_true(e3->removed);
    /* the removed set's secret stays masked while the set lives */
    ac_error_set(&e, AC_ERR_INTERNAL, "hmac %s", e3->cfg.eab_hmac);
    assert_null(strstr(e.message, HMAC));
    assert_non_null(strstr(e.message, SECRETS_MASK));
    acset_unref(e3);
    assert_true(secrets_count() < before);

    /* a broken file is refused and the running configuration stays */
    c = fopen(f->cfg, "a");
    assert_non_null(c);
    fprintf(c, "  nonsense: [\n");
    fclose(c);
    assert_int_equal(autocert_manager_reload_config(m, NULL, NULL, NULL, &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_int_equal(autocert_manager_set_count(m), 3);
    assert_int_equal(find(m, "a.example.com", &err), 1);

    /* another file by path; main changed (new object, same files) */
    write_selector_config(f, false);
    c = fopen(f->cfg, "a");
    assert_non_null(c);
    fprintf(c, "  retry_min: 2m\n");
    fclose(c);
    assert_int_equal(autocert_manager_reload_config(m, f->cfg, NULL, NULL, &err), 0);
    acset_unref(main1);
    main1 = manager_set_at(m, 0);
    assert_ptr_not_equal(main0, main1);
    assert_string_equal(main0->id, main1->id);
    acset_unref(main0);
    acset_unref(main1);
    autocert_manager_free(m);
}

/* ---- status and names ---- */

static void test_status(void **state)
{
    struct fx *f = *state;
    static const char *const n0[] = {"www.example.net", "example.net"};
    char crt[128], key[128];
    autocert_manager *m;
    autocert_status st;
    FILE *c;

    snprintf(crt, sizeof crt, "%s/l.crt", f->dir);
    snprintf(key, sizeof key, "%s/l.key", f->dir);
    assert_int_equal(tmc_make(crt, key, "www.example.net", n0, 2), 0);
    c = fopen(f->cfg, "w");
    assert_non_null(c);
    fprintf(c, "autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\n", crt, key);
    fclose(c);
    m = open_mgr(f);
    assert_int_equal(autocert_manager_status(m, 1, &st), -1);
    assert_int_equal(autocert_manager_status(m, 0, &st), 0);
    assert_false(st.has_cert);
    autocert_status_clear(&st);
    autocert_manager_load(m);
    assert_int_equal(autocert_manager_status(m, 0, &st), 0);
    assert_string_equal(st.name, "main");
    assert_string_equal(st.provider, "local");
    assert_true(st.has_cert);
    assert_int_equal(st.state, AUTOCERT_STATE_UNMANAGED);
    assert_string_equal(st.subject, "www.example.net");
    assert_int_equal(st.dns_count, 2);
    assert_string_equal(st.cert_path, crt);
    assert_true(st.serial[0] != '\0');
    assert_string_equal(st.last_error.kind, "");
    autocert_status_clear(&st);
    autocert_status_clear(&st); /* twice is fine */
    autocert_manager_free(m);

    assert_string_equal(autocert_state_name(AUTOCERT_STATE_BACKOFF), "backoff");
    assert_string_equal(autocert_state_name((enum autocert_state)42), "unknown");
    assert_int_equal(autocert_revocation_reason("superseded"), 4);
    assert_int_equal(autocert_revocation_reason("4"), 4);
    assert_int_equal(autocert_revocation_reason(NULL), -1);
    assert_int_equal(autocert_revocation_reason("7"), -2);
    assert_int_equal(autocert_revocation_reason("nope"), -2);
    assert_non_null(autocert_version());
    assert_int_equal(autocert_init(), 0);
    assert_string_equal(autocert_provider_name(0), "local");
    assert_null(autocert_provider_name(100000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selector_by_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_changed_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
