/*
 * store_misc.c - the small per-set files: the ACME account key (created once,
 * never replaced), the GoDoxy-compatible failure marker, the per-set lock and
 * the scheduler's state file.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonu.h"
#include "log.h"
#include "timeutil.h"

#define ACCOUNT_KEY_MAX (64 * 1024)
#define MARKER_MAX 256
#define STATE_MAX (1024 * 1024)

/* ---- account key ---- */

static int load_key_file(const char *path, struct crypto_key **out, struct ac_error *e)
{
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    if (store_read_file(path, ACCOUNT_KEY_MAX, &data, &len, e) != 0) {
        if (!ac_error_is(e, AC_ERR_NOT_FOUND)) {
            char why[AC_ERROR_MESSAGE_MAX];
            snprintf(why, sizeof why, "%s", e->message);
            ac_error_set(e, AC_ERR_KEY_UNREADABLE, "account key: %s", why);
        }
        goto out;
    }
    if (len == 0 || crypto_key_load(data, len, out, e) != 0) {
        ac_error_set(e, AC_ERR_KEY_UNREADABLE,
                     "account key %s is unreadable (not a PEM or DER private key); "
                     "refusing to replace it: fix or remove the file", path);
        goto out;
    }
    rc = 0;
out:
    if (data != NULL) {
        gnutls_memset(data, 0, len);
        free(data);
    }
    return rc;
}

int store_account_key_load(const char *path, struct crypto_key **out, bool *created,
                           struct ac_error *e)
{
    struct crypto_key *k = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    bool lost_race = false;
    struct ac_error local;
    int rc = -1;

    if (e == NULL)
        e = &local; /* the NOT_FOUND kind decides whether to create */
    if (created != NULL)
        *created = false;
    if (load_key_file(path, &k, e) == 0)
        goto done;
    if (!ac_error_is(e, AC_ERR_NOT_FOUND))
        goto out;
    if (crypto_key_generate(CRYPTO_KEY_EC256, &k, e) != 0 ||
        crypto_key_export_account_der(k, &der, &der_len, e) != 0)
        goto out;
    /* Create-only: if another process created the key meanwhile, use theirs. */
    if (store_write_file(path, der, der_len, 0600, true, &lost_race, e) != 0) {
        if (!lost_race)
            goto out;
        crypto_key_free(k);
        k = NULL;
        if (load_key_file(path, &k, e) != 0)
            goto out;
        goto done;
    }
    if (created != NULL)
        *created = true;
    ac_info(NULL, "store: created a new ACME account key (EC P-256) at %s", path);
done:
    *out = k;
    k = NULL;
    rc = 0;
out:
    if (der != NULL) {
        gnutls_memset(der, 0, der_len);
        gnutls_free(der);
    }
    crypto_key_free(k);
    return rc;
}

/* ---- failure marker ---- */

int store_failure_marker_write(const char *cert_path, const char *key_path, int64_t t,
                               struct ac_error *e)
{
    char path[STORE_PATH_MAX], ts[64];

    if (store_failure_marker_path(cert_path, key_path, path, sizeof path) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        return -1;
    }
    ac_time_format_rfc3339(t, ts, sizeof ts);
    return store_write_atomic(path, ts, strlen(ts), 0600, e);
}

int store_failure_marker_read(const char *cert_path, const char *key_path, int64_t *t)
{
    char path[STORE_PATH_MAX];
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    if (store_failure_marker_path(cert_path, key_path, path, sizeof path) != 0 ||
        store_read_file(path, MARKER_MAX, &data, &len, NULL) != 0)
        goto out;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
                       data[len - 1] == ' ' || data[len - 1] == '\t'))
        data[--len] = '\0';
    if (strlen(data) != len || ac_time_parse_rfc3339(data, t) != 0)
        goto out;
    rc = 0;
out:
    free(data);
    return rc;
}

int store_failure_marker_remove(const char *cert_path, const char *key_path,
                                struct ac_error *e)
{
    char path[STORE_PATH_MAX];

    if (store_failure_marker_path(cert_path, key_path, path, sizeof path) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- per-set lock ---- */

struct store_lock {
    int fd;
};

static long read_holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    char *end = NULL;
    long pid;

    if (n <= 0)
        return -1;
    buf[n] = '\0';
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || pid <= 0)
        return -1;
    return pid;
}

int store_lock_acquire(const char *cert_path, const char *key_path, struct store_lock **out,
                       struct ac_error *e)
{
    char path[STORE_PATH_MAX], pidtxt[32];
    struct store_lock *l = NULL;
    int fd = -1, rc = -1, k;

    if (store_lock_path(cert_path, key_path, path, sizeof path) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        goto out;
    }
    if (store_mkdirs_for(path, e) != 0)
        goto out;
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot open lock file: %s", path, strerror(errno));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            long pid = read_holder_pid(fd);
            if (pid < 0)
                ac_error_set(e, AC_ERR_LOCKED, "certificate set is being renewed by another "
                             "autocert process (pid unknown; lock %s)", path);
            else if (pid == (long)getpid())
                ac_error_set(e, AC_ERR_LOCKED, "certificate set is already being renewed "
                             "in this process (pid %ld)", pid);
            else
                ac_error_set(e, AC_ERR_LOCKED, "certificate set is being renewed by another "
                             "autocert process (pid %ld)", pid);
        } else {
            ac_error_set(e, AC_ERR_IO, "%s: flock failed: %s", path, strerror(errno));
        }
        goto out;
    }
    (void)fchmod(fd, 0600);
    k = snprintf(pidtxt, sizeof pidtxt, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pidtxt, (size_t)k, 0) != k) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot write pid: %s", path, strerror(errno));
        goto out;
    }
    l = malloc(sizeof *l);
    if (l == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    l->fd = fd;
    fd = -1;
    *out = l;
    rc = 0;
out:
    if (fd >= 0)
        close(fd); /* also drops the flock when we took it */
    return rc;
}

void store_lock_release(struct store_lock *lock)
{
    if (lock == NULL)
        return;
    /* Clear the pid first so a waiter never names a process that let go. */
    if (ftruncate(lock->fd, 0) != 0) {
        /* harmless: the flock is what excludes */
    }
    close(lock->fd);
    free(lock);
}

/* ---- state file ---- */

int store_state_read(const char *cert_path, const char *key_path, json_object **out,
                     struct ac_error *e)
{
    char path[STORE_PATH_MAX];
    char *data = NULL;
    size_t len = 0;
    json_object *j = NULL;
    struct ac_error local;
    int rc = -1;

    if (e == NULL)
        e = &local; /* the NOT_FOUND kind means "no state yet" */
    *out = NULL;
    if (store_state_path(cert_path, key_path, path, sizeof path) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        goto out;
    }
    if (store_read_file(path, STATE_MAX, &data, &len, e) != 0) {
        if (ac_error_is(e, AC_ERR_NOT_FOUND)) {
            ac_error_clear(e);
            rc = 0;
        }
        goto out;
    }
    j = jsonu_parse(data, len, path, AC_ERR_IO, e);
    if (j == NULL)
        goto out;
    if (!json_object_is_type(j, json_type_object)) {
        ac_error_set(e, AC_ERR_IO, "%s: state file is not a JSON object", path);
        goto out;
    }
    *out = j;
    j = NULL;
    rc = 0;
out:
    json_object_put(j);
    free(data);
    return rc;
}

int store_state_write(const char *cert_path, const char *key_path, json_object *state,
                      struct ac_error *e)
{
    char path[STORE_PATH_MAX];
    const char *s;

    if (store_state_path(cert_path, key_path, path, sizeof path) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        return -1;
    }
    s = jsonu_string(state);
    if (s == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "state: cannot serialise");
        return -1;
    }
    return store_write_atomic(path, s, strlen(s), 0600, e);
}
