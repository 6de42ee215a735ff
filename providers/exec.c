/*
 * exec.c - lego's "exec" DNS provider: runs an external program.
 *
 * Options: program (required), mode (optional, "RAW"). Default mode runs
 *     program present <fqdn>. <value>      /  program cleanup <fqdn>. <value>
 * RAW mode runs
 *     program present <domain> <token> <key_auth>   (and cleanup alike).
 * The program is run directly (fork + execv, no shell; a name without '/' is
 * looked up in PATH beforehand), with the environment inherited, stdin from
 * /dev/null, in its own process group. Its stdout and stderr are captured
 * (the last EXEC_CAPTURE_MAX bytes of each). It is killed (the whole group)
 * after http_timeout when that option is set, else after 60 s.
 *
 * Errors (AC_ERR_DNS_PROVIDER) give the exit status and the last line of the
 * program's stderr (or stdout when stderr is empty); the program path itself is
 * an option value and is never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns_common.h"
#include "dns_provider.h"
#include "timeutil.h"

#define EXEC_CAPTURE_MAX 8192
#define EXEC_DEFAULT_TIMEOUT_MS 60000
#define EXEC_LINE_MAX 300
#define EXEC_DRAIN_MS 200

static const struct dns_option_decl exec_options[] = {
    {"program", true},
    {"mode", false},
    {NULL, false},
};

struct exec_state {
    char *program; /* resolved path */
    int raw;
    int64_t timeout_ms;
};

/* Tail buffer: keeps the last EXEC_CAPTURE_MAX bytes written. */
struct tail {
    char data[EXEC_CAPTURE_MAX];
    size_t len;
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
    if (n >= sizeof t->data) { /* only the last sizeof t->data bytes matter */
        t->len = 0;
        p += n - sizeof t->data;
        n = sizeof t->data;
    }
    if (t->len + n > sizeof t->data) {
        size_t drop = t->len + n - sizeof t->data;
        memmove(t->data, t->data + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->data + t->len, p, n);
    t->len += n;
}

/* Last non-empty line of t, printable ASCII only, into out. */
static void tail_last_line(const struct tail *t, char *out, size_t outlen)
{
    size_t end = t->len, start, o = 0;

    while (end > 0 && (t->data[end - 1] == '\n' || t->data[end - 1] == '\r' ||
                       t->data[end - 1] == ' ' || t->data[end - 1] == '\t'))
        end--;
    start = end;
    while (start > 0 && t->data[start - 1] != '\n')
        start--;
    for (size_t i = start; i < end && o + 1 < outlen; i++) {
        unsigned char c = (unsigned char)t->data[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

static int exec_validate(const struct dns_option *opts, size_t n, struct ac_error *e)
{
    const char *mode = dns_opt_get(opts, n, "mode");

    if (mode != NULL && mode[0] != '\0' && strcmp(mode, "RAW") != 0) {
        ac_error_set(e, AC_ERR_CONFIG, "DNS provider exec: option mode: must be \"RAW\" or empty");
        return -1;
    }
    return 0;
}

/* Resolves program: with a '/', as given; else the first executable in PATH.
 * Returns a new string or NULL. */
static char *resolve_program(const char *program)
{
    const char *path = getenv("PATH");
    char cand[PATH_MAX];

    if (strchr(program, '/') != NULL)
        return access(program, X_OK) == 0 ? strdup(program) : NULL;
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t len = strcspn(path, ":");
        int w;
        if (len == 0)
            w = snprintf(cand, sizeof cand, "./%s", program);
        else
            w = snprintf(cand, sizeof cand, "%.*s/%s", (int)len, path, program);
        if (w > 0 && (size_t)w < sizeof cand && access(cand, X_OK) == 0)
            return strdup(cand);
        path += len;
        if (*path == ':')
            path++;
    }
    return NULL;
}

static int exec_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    struct exec_state *s = NULL;
    const char *mode = dns_opt_get(opts, n, "mode");
    struct dns_settings set;
    int rc = -1;

    *state = NULL;
    if (dns_settings_parse("exec", opts, n, &set, e) != 0)
        goto out;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    s->program = resolve_program(dns_opt_get(opts, n, "program"));
    if (s->program == NULL) {
        ac_error_set(
            e, AC_ERR_CONFIG,
            "DNS provider exec: option program: not an executable file (or not found in PATH)");
        goto out;
    }
    s->raw = mode != NULL && strcmp(mode, "RAW") == 0;
    s->timeout_ms = dns_opt_get(opts, n, "http_timeout") != NULL ? set.http_timeout_ms
                                                                 : EXEC_DEFAULT_TIMEOUT_MS;
    *state = s;
    s = NULL;
    rc = 0;
out:
    if (s != NULL)
        free(s->program);
    free(s);
    return rc;
}

static void exec_destroy(void *state)
{
    struct exec_state *s = state;

    if (s == NULL)
        return;
    free(s->program);
    free(s);
}

/* Child side after fork: only async-signal-safe calls. */
static void child_exec(const char *path, char *const argv[], int out_w, int err_w)
{
    int devnull = open("/dev/null", O_RDONLY);

    setpgid(0, 0);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        if (devnull != STDIN_FILENO)
            close(devnull);
    }
    dup2(out_w, STDOUT_FILENO);
    dup2(err_w, STDERR_FILENO);
    if (out_w != STDOUT_FILENO && out_w != STDERR_FILENO)
        close(out_w);
    if (err_w != STDOUT_FILENO && err_w != STDERR_FILENO)
        close(err_w);
    execv(path, argv);
    _exit(127);
}

/* Reads both pipes until EOF or the deadline. When the child has exited but a
 * process it left behind keeps a pipe open, reading stops EXEC_DRAIN_MS later
 * (*reaped then says so and *status holds the exit status). Returns 0, or -1
 * on timeout. */
static int collect(pid_t pid, int out_r, int err_r, int64_t deadline, struct tail *out,
                   struct tail *err, int *reaped, int *status)
{
    struct pollfd pf[2] = {{.fd = out_r, .events = POLLIN}, {.fd = err_r, .events = POLLIN}};
    struct tail *dst[2] = {out, err};
    char chunk[4096];
    int open_count = 2;
    int64_t drain_until = 0;

    while (open_count > 0) {
        int64_t now = ac_mono_ms(), left = deadline - now;
        int r;
        if (left <= 0 || ac_cancel_requested())
            return *reaped ? 0 : -1;
        if (!*reaped && waitpid(pid, status, WNOHANG) == pid) {
            *reaped = 1;
            drain_until = now + EXEC_DRAIN_MS;
        }
        if (*reaped && now >= drain_until)
            return 0;
        r = poll(pf, 2, left > 100 ? 100 : (int)left);
        if (r < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < 2 && r > 0; i++) {
            ssize_t got;
            if (pf[i].fd < 0 || (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
                continue;
            got = read(pf[i].fd, chunk, sizeof chunk);
            if (got > 0) {
                tail_add(dst[i], chunk, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                pf[i].fd = -1;
                open_count--;
            }
        }
    }
    return 0;
}

/* Waits for pid until the deadline; kills its group on timeout or when the
 * thread's cancel token is set. */
static int reap(pid_t pid, int64_t deadline, int *status, int *timed_out)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (*timed_out || ac_mono_ms() >= deadline) {
            *timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return 0;
        }
        if (ac_sleep_ms(10, ac_cancel_current()) != 0)
            *timed_out = 1; /* cancelled: killed on the next turn */
    }
}

static int exec_run(struct exec_state *s, const char *action, const struct dns_challenge *ch,
                    struct ac_error *e)
{
    char *fqdn_dot = NULL;
    char *argv[6];
    int out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    struct tail *out = NULL, *err = NULL;
    int status = 0, timed_out = 0, reaped = 0, rc = -1;
    int64_t deadline;
    pid_t pid;
    size_t flen;

    out = calloc(1, sizeof *out);
    err = calloc(1, sizeof *err);
    if (out == NULL || err == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    argv[0] = s->program;
    argv[1] = (char *)action;
    if (s->raw) {
        if (ch->domain == NULL || ch->token == NULL || ch->key_auth == NULL) {
            ac_error_set(e, AC_ERR_INTERNAL, "RAW mode needs domain, token and key authorization");
            goto out;
        }
        argv[2] = (char *)ch->domain;
        argv[3] = (char *)ch->token;
        argv[4] = (char *)ch->key_auth;
        argv[5] = NULL;
    } else {
        flen = strlen(ch->fqdn);
        fqdn_dot = malloc(flen + 2);
        if (fqdn_dot == NULL) {
            ac_error_set(e, AC_ERR_NOMEM, "out of memory");
            goto out;
        }
        memcpy(fqdn_dot, ch->fqdn, flen);
        fqdn_dot[flen] = '.';
        fqdn_dot[flen + 1] = '\0';
        argv[2] = fqdn_dot;
        argv[3] = (char *)ch->value;
        argv[4] = NULL;
    }
    if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(err_p, O_CLOEXEC) != 0) {
        ac_error_set(e, AC_ERR_IO, "cannot create pipes: %s", strerror(errno));
        goto out;
    }
    deadline = ac_mono_ms() + ac_cancel_clamp_ms(s->timeout_ms);
    pid = fork();
    if (pid < 0) {
        ac_error_set(e, AC_ERR_IO, "fork failed: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_exec(s->program, argv, out_p[1], err_p[1]);
    close(out_p[1]);
    close(err_p[1]);
    out_p[1] = err_p[1] = -1;
    if (collect(pid, out_p[0], err_p[0], deadline, out, err, &reaped, &status) != 0)
        timed_out = 1;
    if (!reaped && reap(pid, deadline, &status, &timed_out) != 0) {
        ac_error_set(e, AC_ERR_IO, "waiting for the program failed: %s", strerror(errno));
        goto out;
    }
    if (timed_out && ac_cancel_requested()) {
        ac_error_set(e, AC_ERR_CANCELLED, "program (option program) killed: cancelled");
        goto out;
    }
    if (timed_out) {
        ac_error_set(e, AC_ERR_TIMEOUT, "program (option program) killed after %lld ms",
                     (long long)s->timeout_ms);
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[EXEC_LINE_MAX];
        char how[48];
        tail_last_line(err->len > 0 ? err : out, line, sizeof line);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && line[0] == '\0')
            snprintf(line, sizeof line, "could not be executed");
        if (WIFEXITED(status))
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof how, "ended abnormally");
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "program (option program) %s%s%s", how,
                     line[0] != '\0' ? ": " : "", line);
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (out_p[i] >= 0)
            close(out_p[i]);
        if (err_p[i] >= 0)
            close(err_p[i]);
    }
    free(fqdn_dot);
    free(out);
    free(err);
    return rc;
}

static int exec_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return exec_run(state, "present", ch, e);
}

static int exec_cleanup(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    return exec_run(state, "cleanup", ch, e);
}

const struct dns_provider_ops dns_exec_ops = {
    .name = "exec",
    .alias = NULL,
    .options = exec_options,
    .validate = exec_validate,
    .create = exec_create,
    .present = exec_present,
    .cleanup = exec_cleanup,
    .destroy = exec_destroy,
};
