/*
 * store.c - file primitives of the store: bounded reads, directory creation with
 * exact modes, atomic (and create-only) writes with fsync of file and directory,
 * and the per-set companion file names (<cert dir>/.<kind>-<12 hex>).
 * The pair commit lives in store_pair.c; key, marker, lock and state in
 * store_misc.c.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int store_dirname(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    size_t len;

    if (slash == NULL) {
        len = 1;
        path = ".";
    } else if (slash == path) {
        len = 1;
    } else {
        len = (size_t)(slash - path);
    }
    if (len + 1 > n)
        return -1;
    memcpy(buf, path, len);
    buf[len] = '\0';
    return 0;
}

const char *store_file_type_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "not a file";
}

int store_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
                    struct ac_error *e)
{
    return store_read_file_stat(path, max_bytes, data, len, NULL, e);
}

int store_read_file_stat(const char *path, size_t max_bytes, char **data, size_t *len,
                         struct stat *st_out, struct ac_error *e)
{
    int fd = -1, rc = -1, flags;
    char *p = NULL;
    size_t have = 0, cap;
    struct stat st;

    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            ac_error_set(e, AC_ERR_NOT_FOUND, "%s: file does not exist", path);
        else
            ac_error_set(e, AC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ac_error_set(e, AC_ERR_IO, "%s: not a regular file (%s): refused", path,
                     store_file_type_name(st.st_mode));
        goto out;
    }
    /* O_NONBLOCK stays: it does nothing to a regular file (a file system
     * that answers EAGAIN anyway gets it cleared below) */
    if ((uint64_t)st.st_size > max_bytes) {
        ac_error_set(e, AC_ERR_IO, "%s: file too large (%lld bytes, limit %zu)", path,
                     (long long)st.st_size, max_bytes);
        goto out;
    }
    /* The size may change under us: read at most max_bytes + 1 to notice. */
    cap = (size_t)st.st_size + 1;
    p = malloc(cap + 1);
    if (p == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (have == cap) {
            char *q;
            if (cap > max_bytes) {
                ac_error_set(e, AC_ERR_IO, "%s: file too large (limit %zu)", path, max_bytes);
                goto out;
            }
            cap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            q = realloc(p, cap + 1);
            if (q == NULL) {
                ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", path);
                goto out;
            }
            p = q;
        }
        ssize_t r = read(fd, p + have, cap - have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && (flags = fcntl(fd, F_GETFL)) >= 0 &&
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
                continue;
            ac_error_set(e, AC_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        have += (size_t)r;
        /* a regular file that gave exactly its size and less than asked:
         * that is its end (no second read to hear it) */
        if (have < cap && have == (size_t)st.st_size)
            break;
    }
    if (have > max_bytes) {
        ac_error_set(e, AC_ERR_IO, "%s: file too large (limit %zu)", path, max_bytes);
        goto out;
    }
    p[have] = '\0';
    *data = p;
    *len = have;
    if (st_out != NULL)
        *st_out = st;
    p = NULL;
    rc = 0;
out:
    free(p);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* mkdir one directory with an exact mode; an existing directory is fine. */
static int mkdir_one(const char *dir, struct ac_error *e)
{
    struct stat st;

    if (mkdir(dir, 0755) == 0) {
        if (chmod(dir, 0755) != 0) {
            ac_error_set(e, AC_ERR_IO, "%s: chmod failed: %s", dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    ac_error_set(e, AC_ERR_IO, "%s: cannot create directory: %s", dir,
                 errno == EEXIST ? "exists and is not a directory" : strerror(errno));
    return -1;
}

int store_mkdirs_for(const char *path, struct ac_error *e)
{
    char dir[STORE_PATH_MAX];
    struct stat st;

    if (store_dirname(path, dir, sizeof dir) != 0) {
        ac_error_set(e, AC_ERR_IO, "path too long");
        return -1;
    }
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    /* Create each prefix in turn; skip the leading '/' and empty components. */
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        int rc = mkdir_one(dir, e);
        *p = '/';
        if (rc != 0)
            return -1;
    }
    return mkdir_one(dir, e);
}

int store_fsync_dir(const char *dir, struct ac_error *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
        return -1;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        ac_error_set(e, AC_ERR_IO, "%s: fsync of directory failed: %s", dir, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Opens a fresh temp file "<dir>/.<base>.tmp-<16 hex>" with an exact mode. */
static int open_temp(const char *path, mode_t mode, char *tmp, size_t n, struct ac_error *e)
{
    char dir[STORE_PATH_MAX];
    const char *base = strrchr(path, '/');

    base = base != NULL ? base + 1 : path;
    if (store_dirname(path, dir, sizeof dir) != 0 || *base == '\0') {
        ac_error_set(e, AC_ERR_IO, "%s: invalid path", path);
        return -1;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)tmp ^ (uint64_t)attempt;
        int k = snprintf(tmp, n, "%s/.%s.tmp-%016llx", dir, base, (unsigned long long)r);
        if (k < 0 || (size_t)k >= n) {
            ac_error_set(e, AC_ERR_IO, "%s: path too long", path);
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) {
            if (fchmod(fd, mode) != 0) {
                ac_error_set(e, AC_ERR_IO, "%s: chmod failed: %s", tmp, strerror(errno));
                close(fd);
                unlink(tmp);
                return -1;
            }
            return fd;
        }
        if (errno != EEXIST) {
            ac_error_set(e, AC_ERR_IO, "%s: cannot create temporary file: %s", path,
                         strerror(errno));
            return -1;
        }
    }
    ac_error_set(e, AC_ERR_IO, "%s: cannot create a unique temporary file", path);
    return -1;
}

int store_write_file(const char *path, const void *data, size_t len, mode_t mode, bool exclusive,
                     bool *exists, struct ac_error *e)
{
    char tmp[STORE_PATH_MAX], dir[STORE_PATH_MAX];
    int fd = -1, rc = -1;
    bool have_tmp = false;

    if (exists != NULL)
        *exists = false;
    if (store_mkdirs_for(path, e) != 0)
        goto out;
    if (store_dirname(path, dir, sizeof dir) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", path);
        goto out;
    }
    fd = open_temp(path, mode, tmp, sizeof tmp, e);
    if (fd < 0)
        goto out;
    have_tmp = true;
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        ac_error_set(e, AC_ERR_IO, "%s: close failed: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (exclusive) {
        /* link() never replaces: a file that appeared meanwhile wins. */
        if (link(tmp, path) != 0) {
            if (errno == EEXIST && exists != NULL)
                *exists = true;
            ac_error_set(e, AC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            goto out;
        }
    } else if (rename(tmp, path) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
        goto out;
    } else {
        have_tmp = false;
    }
    if (store_fsync_dir(dir, e) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (have_tmp)
        unlink(tmp);
    return rc;
}

int store_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                       struct ac_error *e)
{
    return store_write_file(path, data, len, mode, false, NULL, e);
}

/* "<cert dir>/<prefix><12 hex><suffix>"; GoDoxy's filepath.Join drops a "." dir. */
static int companion_path(const char *cert_path, const char *key_path, const char *prefix,
                          const char *suffix, char *buf, size_t n)
{
    unsigned char md[32];
    char dir[STORE_PATH_MAX], in[512];
    size_t cl = strlen(cert_path), kl = strlen(key_path);
    gnutls_hash_hd_t h;
    int k;

    if (cl + 1 + kl <= sizeof in) {
        /* the common case: one call, no hash context to allocate (this runs
         * for every set of a load or reload) */
        memcpy(in, cert_path, cl);
        in[cl] = '|';
        memcpy(in + cl + 1, key_path, kl);
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, in, cl + 1 + kl, md) != 0)
            return -1;
    } else {
        if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0)
            return -1;
        gnutls_hash(h, cert_path, cl);
        gnutls_hash(h, "|", 1);
        gnutls_hash(h, key_path, kl);
        gnutls_hash_deinit(h, md);
    }
    if (store_dirname(cert_path, dir, sizeof dir) != 0)
        return -1;
    if (strchr(cert_path, '/') == NULL)
        k = snprintf(buf, n, "%s%02x%02x%02x%02x%02x%02x%s", prefix, md[0], md[1], md[2], md[3],
                     md[4], md[5], suffix);
    else
        k = snprintf(buf, n, "%s%s%s%02x%02x%02x%02x%02x%02x%s", dir,
                     strcmp(dir, "/") == 0 ? "" : "/", prefix, md[0], md[1], md[2], md[3], md[4],
                     md[5], suffix);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int store_failure_marker_path(const char *cert_path, const char *key_path, char *buf, size_t n)
{
    return companion_path(cert_path, key_path, ".last_failure-", "", buf, n);
}

int store_lock_path(const char *cert_path, const char *key_path, char *buf, size_t n)
{
    return companion_path(cert_path, key_path, ".lock-", "", buf, n);
}

int store_state_path(const char *cert_path, const char *key_path, char *buf, size_t n)
{
    return companion_path(cert_path, key_path, ".state-", ".json", buf, n);
}

int store_journal_path(const char *cert_path, const char *key_path, char *buf, size_t n)
{
    return companion_path(cert_path, key_path, ".commit-", "", buf, n);
}
