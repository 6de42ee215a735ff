/*
 * store_pair.c - the certificate chain + private key committed as one unit.
 *
 *   stage  key.new, cert.new      (each atomic + fsync; no journal: roll back)
 *   commit .commit-<h> journal    (atomic + fsync; from here on: roll forward)
 *   promote rename key.new -> key, cert.new -> cert, fsync dirs
 *   finish unlink journal, fsync dir
 *
 * store_pair_recover() decides by the journal alone: present means every staged
 * file is complete on disk, so it finishes the renames; absent means the commit
 * point was never reached, so the staged files are discarded.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonu.h"
#include "log.h"

#define JOURNAL_MAX 16384

static int crash_point;

void store_test_set_crash_point(int n) { crash_point = n; }

static void maybe_crash(int step)
{
    if (crash_point == step)
        _exit(0);
}

struct pair_paths {
    char cert_new[STORE_PATH_MAX];
    char key_new[STORE_PATH_MAX];
    char journal[STORE_PATH_MAX];
    char cert_dir[STORE_PATH_MAX];
    char key_dir[STORE_PATH_MAX];
    char cert_tmp_prefix[STORE_PATH_MAX]; /* ".<base>.new.tmp-" */
    char key_tmp_prefix[STORE_PATH_MAX];
    char journal_tmp_prefix[STORE_PATH_MAX];
};

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s != NULL ? s + 1 : p;
}

static int fill(char *buf, size_t n, const char *a, const char *b, const char *c)
{
    int k = snprintf(buf, n, "%s%s%s", a, b, c);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

static int pair_paths_init(const char *cert_path, const char *key_path,
                           struct pair_paths *pp, struct ac_error *e)
{
    if (cert_path == NULL || key_path == NULL || *cert_path == '\0' || *key_path == '\0' ||
        strcmp(cert_path, key_path) == 0) {
        ac_error_set(e, AC_ERR_IO, "certificate and key paths must be distinct and non-empty");
        return -1;
    }
    if (fill(pp->cert_new, sizeof pp->cert_new, cert_path, ".new", "") != 0 ||
        fill(pp->key_new, sizeof pp->key_new, key_path, ".new", "") != 0 ||
        store_journal_path(cert_path, key_path, pp->journal, sizeof pp->journal) != 0 ||
        store_dirname(cert_path, pp->cert_dir, sizeof pp->cert_dir) != 0 ||
        store_dirname(key_path, pp->key_dir, sizeof pp->key_dir) != 0 ||
        fill(pp->cert_tmp_prefix, sizeof pp->cert_tmp_prefix, ".", base_of(cert_path),
             ".new.tmp-") != 0 ||
        fill(pp->key_tmp_prefix, sizeof pp->key_tmp_prefix, ".", base_of(key_path),
             ".new.tmp-") != 0 ||
        fill(pp->journal_tmp_prefix, sizeof pp->journal_tmp_prefix, ".",
             base_of(pp->journal), ".tmp-") != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", cert_path);
        return -1;
    }
    return 0;
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static int fsync_dirs(const struct pair_paths *pp, struct ac_error *e)
{
    if (store_fsync_dir(pp->key_dir, e) != 0)
        return -1;
    if (strcmp(pp->key_dir, pp->cert_dir) != 0 && store_fsync_dir(pp->cert_dir, e) != 0)
        return -1;
    return 0;
}

static int promote(const char *from, const char *to, struct ac_error *e)
{
    if (!exists(from))
        return 0;
    if (rename(from, to) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: rename to %s failed: %s", from, to, strerror(errno));
        return -1;
    }
    return 1;
}

static int remove_file(const char *p, struct ac_error *e)
{
    if (unlink(p) != 0 && errno != ENOENT) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot remove: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

/* The journal must name exactly this set's staging files. */
static int check_journal(const struct pair_paths *pp, struct ac_error *e)
{
    char *data = NULL;
    size_t len = 0;
    json_object *j = NULL;
    const char *k, *c;
    int rc = -1;

    if (store_read_file(pp->journal, JOURNAL_MAX, &data, &len, e) != 0)
        goto out;
    j = jsonu_parse(data, len, "commit journal", AC_ERR_IO, e);
    if (j == NULL)
        goto out;
    k = jsonu_str(j, "key_new");
    c = jsonu_str(j, "cert_new");
    if (k == NULL || c == NULL || strcmp(k, pp->key_new) != 0 || strcmp(c, pp->cert_new) != 0) {
        ac_error_set(e, AC_ERR_IO, "%s: commit journal names other files; remove it by hand "
                     "after checking the certificate and key", pp->journal);
        goto out;
    }
    rc = 0;
out:
    json_object_put(j);
    free(data);
    return rc;
}

static int recover(const char *cert_path, const char *key_path, const struct pair_paths *pp,
                   struct ac_error *e)
{
    int nk, nc, nt;

    nt = store_remove_prefixed(pp->key_dir, pp->key_tmp_prefix) +
         store_remove_prefixed(pp->cert_dir, pp->cert_tmp_prefix) +
         store_remove_prefixed(pp->cert_dir, pp->journal_tmp_prefix);
    if (nt > 0)
        ac_info(NULL, "store: removed %d leftover temporary file(s) of %s", nt, cert_path);

    if (!exists(pp->journal)) {
        bool had_k = exists(pp->key_new), had_c = exists(pp->cert_new);
        if (!had_k && !had_c)
            return 0;
        if (remove_file(pp->key_new, e) != 0 || remove_file(pp->cert_new, e) != 0 ||
            fsync_dirs(pp, e) != 0)
            return -1;
        ac_info(NULL, "store: discarded an uncommitted staged pair (%s%s%s); kept %s and %s",
                had_k ? pp->key_new : "", had_k && had_c ? ", " : "",
                had_c ? pp->cert_new : "", cert_path, key_path);
        return 0;
    }
    if (check_journal(pp, e) != 0)
        return -1;
    nk = promote(pp->key_new, key_path, e);
    if (nk < 0)
        return -1;
    nc = promote(pp->cert_new, cert_path, e);
    if (nc < 0)
        return -1;
    if (fsync_dirs(pp, e) != 0 || remove_file(pp->journal, e) != 0 ||
        store_fsync_dir(pp->cert_dir, e) != 0)
        return -1;
    ac_info(NULL, "store: completed an interrupted commit of %s and %s (%d file(s) promoted)",
            cert_path, key_path, nk + nc);
    return 0;
}

int store_pair_recover(const char *cert_path, const char *key_path, struct ac_error *e)
{
    struct pair_paths *pp = NULL;
    int rc = -1;

    pp = malloc(sizeof *pp);
    if (pp == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (pair_paths_init(cert_path, key_path, pp, e) != 0)
        goto out;
    if (recover(cert_path, key_path, pp, e) != 0) {
        ac_error_prefix(e, "store_pair_recover");
        goto out;
    }
    rc = 0;
out:
    free(pp);
    return rc;
}

static int write_journal(const struct pair_paths *pp, struct ac_error *e)
{
    json_object *j = json_object_new_object();
    const char *s;
    int rc = -1;

    if (j == NULL || jsonu_add_str(j, "key_new", pp->key_new) != 0 ||
        jsonu_add_str(j, "cert_new", pp->cert_new) != 0) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    s = jsonu_string(j);
    if (store_write_atomic(pp->journal, s, strlen(s), 0600, e) != 0)
        goto out;
    rc = 0;
out:
    json_object_put(j);
    return rc;
}

int store_pair_commit(const char *cert_path, const void *chain_pem, size_t chain_len,
                      const char *key_path, const void *key_pem, size_t key_len,
                      struct ac_error *e)
{
    struct pair_paths *pp = NULL;
    bool committed = false;
    int rc = -1;

    pp = malloc(sizeof *pp);
    if (pp == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (pair_paths_init(cert_path, key_path, pp, e) != 0)
        goto out;
    /* Step 0: an earlier half-done commit must be settled before re-staging. */
    if (recover(cert_path, key_path, pp, e) != 0)
        goto out;
    if (store_write_atomic(pp->key_new, key_pem, key_len, 0600, e) != 0)
        goto out;
    maybe_crash(1);
    if (store_write_atomic(pp->cert_new, chain_pem, chain_len, 0644, e) != 0)
        goto out;
    maybe_crash(2);
    if (write_journal(pp, e) != 0)
        goto out;
    committed = true;
    maybe_crash(3);
    if (promote(pp->key_new, key_path, e) < 0)
        goto out;
    maybe_crash(4);
    if (promote(pp->cert_new, cert_path, e) < 0)
        goto out;
    maybe_crash(5);
    if (fsync_dirs(pp, e) != 0)
        goto out;
    maybe_crash(6);
    if (remove_file(pp->journal, e) != 0 || store_fsync_dir(pp->cert_dir, e) != 0)
        goto out;
    maybe_crash(7);
    rc = 0;
out:
    if (rc != 0 && pp != NULL) {
        if (!committed) {
            /* Roll back: the old pair is untouched. */
            unlink(pp->key_new);
            unlink(pp->cert_new);
        } else {
            /* Past the commit point: the journal lets a later recovery finish. */
            ac_warn(NULL, "store: commit of %s interrupted after the commit point; "
                    "it will be completed by the next recovery", cert_path);
        }
        ac_error_prefix(e, "store_pair_commit");
    }
    free(pp);
    return rc;
}
