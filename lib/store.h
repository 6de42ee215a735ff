/*
 * store.h - durable storage of everything autocert keeps on disk (DESIGN.md §5.3).
 *
 * Files: bounded reads, atomic writes (temp file opened O_CREAT|O_EXCL|O_NOFOLLOW|
 * O_CLOEXEC with the final mode, write, fsync, rename, fsync the directory), the
 * certificate chain + private key committed as ONE unit with crash recovery, the
 * ACME account key (created once, never silently replaced), and the per-set
 * companions that sit beside cert_path:
 *
 *   <cert dir>/.last_failure-<h>   failure marker (GoDoxy-compatible, RFC 3339)
 *   <cert dir>/.lock-<h>           per-set lock file (flock), holder's pid inside
 *   <cert dir>/.state-<h>.json     scheduler state (content owned by the scheduler)
 *   <cert dir>/.commit-<h>         pair commit journal (present only mid-commit)
 *
 * where <h> is 12 lowercase hex digits: the first 6 bytes of SHA-256 over
 * cert_path "|" key_path, the paths hashed exactly as written. For cert_path
 * "certs/cert.crt" and key_path "certs/priv.key": certs/.last_failure-68435196b59a.
 *
 * All functions return 0 on success and -1 on failure with `e` filled (when
 * non-NULL). They are thread-safe (no shared state) except
 * store_test_set_crash_point. Modes given are exact: the process umask does not
 * narrow or widen them.
 *
 * Who may change what: only the holder of a set's lock (store_lock_acquire)
 * stages, commits, recovers or deletes the set's pair files, journal and
 * failure marker; readers never delete anything (store_pair_recover_if_idle,
 * store_pair_read).
 */
#ifndef AUTOCERT_STORE_H
#define AUTOCERT_STORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "crypto.h"
#include "error.h"

/* Kind for "the file does not exist" (distinguishable from other I/O errors). */
#define AC_ERR_NOT_FOUND "io.not_found"

/* Longest path the store builds (companion files, staging names). */
#define STORE_PATH_MAX 4096

/* Reads a whole regular file of at most max_bytes bytes (symbolic links are
 * followed). On success *data is a new malloc'd buffer (free with free) of *len
 * bytes plus a NUL terminator not counted in *len. Never blocks on a FIFO or a
 * device: those are refused ("<path>: not a regular file (a FIFO): refused").
 * Errors: AC_ERR_NOT_FOUND (missing file), AC_ERR_IO (anything else, including
 * a file larger than max_bytes). *data untouched on failure. */
int store_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
                    struct ac_error *e);
/* store_read_file that also gives the file's stat, taken on the opened file
 * before it is read (st may be NULL; untouched on failure). */
int store_read_file_stat(const char *path, size_t max_bytes, char **data, size_t *len,
                         struct stat *st, struct ac_error *e);

/* "a FIFO", "a directory", "a character device" ... for messages. */
const char *store_file_type_name(mode_t mode);

/* Creates every missing parent directory of `path` with mode 0755 (exact).
 * Existing directories are left as they are. Errors: AC_ERR_IO. */
int store_mkdirs_for(const char *path, struct ac_error *e);

/* Replaces `path` atomically with `len` bytes of `data`, file mode `mode`
 * (exact). Missing parent directories are created (0755). Readers see the old
 * content or the new one, never a mix; after return the new content and the
 * directory entry are on stable storage. Copies data. Errors: AC_ERR_IO. */
int store_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                       struct ac_error *e);

/* Commits a certificate chain (mode 0644) and its private key (mode 0600) as one
 * unit: after a crash at any instant, store_pair_recover() leaves on disk either
 * the old pair or the new pair, never a mismatch or a truncated file. Steps:
 *   0 recover any earlier half-done commit of this set
 *   1 stage <key_path>.new     (write, fsync, fsync dir)
 *   2 stage <cert_path>.new    (write, fsync, fsync dir)
 *   3 write the journal <cert dir>/.commit-<h> (atomic, fsync)  <- commit point
 *     (it names both staged files and records their SHA-256)
 *   4 rename <key_path>.new  -> key_path
 *   5 rename <cert_path>.new -> cert_path
 *   6 fsync both directories
 *   7 remove the journal, fsync its directory
 * cert and key may live in different directories (created 0755 when missing).
 * Copies the data. Callers must hold the set's store_lock. A staged file that
 * vanished (removed by another process) is an error, never a success: before
 * step 3 the commit is rolled back, after it the journal is left for recovery.
 * Errors: AC_ERR_IO. */
int store_pair_commit(const char *cert_path, const void *chain_pem, size_t chain_len,
                      const char *key_path, const void *key_pem, size_t key_len,
                      struct ac_error *e);

/* Recovery of a half-done commit, for a caller that holds the set's lock (the
 * committing writer, or store_pair_recover_if_idle). With the journal, finishes
 * the promotion (renames whichever .new files remain) and removes the journal;
 * when a staged file vanished (neither it nor the final file has the content
 * the journal recorded), the new pair is given up instead (the old one kept).
 * Without a journal, deletes stray .new staging files. Always removes leftover
 * temp files of the set: staging, journal and failure-marker temps, and state
 * temps older than an hour (the state file is written without the lock); never
 * the lock file. Idempotent; logs (ac_info) what it did. Errors: AC_ERR_IO. */
int store_pair_recover(const char *cert_path, const char *key_path, struct ac_error *e);

/* Recovery for a reader that does not hold the set's lock (every loader:
 * start-up, reload, `autocert info`). When nothing is left to recover it takes
 * no lock and returns 0. Otherwise it takes the set's lock (non-blocking) and
 * runs store_pair_recover; a set locked by a writer (another process, or
 * another lock in this process) is left alone, as is one whose lock cannot be
 * taken at all (read-only directory: a warning is logged), and 0 is returned:
 * read the pair with store_pair_read, which sees the committed pair either way.
 * Errors (only from the recovery itself): AC_ERR_IO. */
int store_pair_recover_if_idle(const char *cert_path, const char *key_path, struct ac_error *e);

/* A batch's listing of directories (start-up or reload of many sets):
 * store_pair_recover_if_idle_scan reads each directory once for the whole
 * batch instead of once per set, so loading n sets that share a directory
 * costs O(n log n), not O(n^2). A name the listing shows is checked again on
 * disk before anything is done with it; one that appears after the listing
 * was taken is left to the next load (as with a listing per set taken a
 * moment earlier). Thread-safe: the threads of one parallel load share it. */
struct store_scan;
/* Returns a new, empty listing (free with store_scan_free), or NULL (ENOMEM). */
struct store_scan *store_scan_new(void);
void store_scan_free(struct store_scan *scan);
/* store_pair_recover_if_idle with the directories' listings taken from scan
 * (NULL: read them now). */
int store_pair_recover_if_idle_scan(const char *cert_path, const char *key_path,
                                    struct store_scan *scan, struct ac_error *e);

/* Whether the pair's commit journal is in scan's listing of its directory
 * (no file system call once the directory is listed): 1 yes, 0 no, -1 cannot
 * tell (no listing: look on disk). A journal made after the listing was
 * taken is not seen (the next load sees it). */
int store_pair_journal_listed(const char *cert_path, const char *key_path, struct store_scan *scan);

/* Reads the pair as committed, without any lock: while the journal exists
 * (a commit past its commit point, running or interrupted), each staged .new
 * file is read in place of its final file (the final one when it was already
 * promoted). Returns 0 with new malloc'd buffers (NUL-terminated, free with
 * free; wipe the key first), each NULL when that file is absent; -1 with e
 * filled on any other read error (nothing returned). A commit that runs while
 * this reads can still give a mixed pair: check that the key matches the leaf
 * and read again if not. */
int store_pair_read(const char *cert_path, size_t chain_max, char **chain, size_t *chain_len,
                    const char *key_path, size_t key_max, char **key, size_t *key_len,
                    struct ac_error *e);

/* What one store_pair_read_scan saw: each file's stat taken on the opened
 * file before it was read (exists false and st zeroed when it was absent or
 * not read), and whether the commit journal was there (then the staged files
 * may have been read in place of the final ones). */
struct store_pair_seen {
    struct stat st[2]; /* [0] the certificate chain, [1] the key */
    bool exists[2];
    bool journal;
};
/* store_pair_read that asks scan's listing (may be NULL) whether the journal
 * is there instead of the disk, and reports what it saw in seen (may be
 * NULL). */
int store_pair_read_scan(const char *cert_path, size_t chain_max, char **chain, size_t *chain_len,
                         const char *key_path, size_t key_max, char **key, size_t *key_len,
                         struct store_scan *scan, struct store_pair_seen *seen, struct ac_error *e);

#ifdef AUTOCERT_TEST_HOOKS
/* TEST ONLY (built with -DAUTOCERT_TEST_HOOKS=ON): makes store_pair_commit
 * call _exit(0) right after step n (1..7); 0 disables. Not thread-safe. The
 * same builds honour AUTOCERT_TEST_COMMIT_PAUSE=<step>:<dir>: after step
 * <step>, store_pair_commit creates <dir>/paused and waits until <dir>/resume
 * exists (at most 10 minutes). */
void store_test_set_crash_point(int n);
#endif

/* Loads the ACME account key at `path`. Missing file: generates an EC P-256
 * key, writes it as GoDoxy does (SEC1 DER) with mode 0600 (parents 0755) and
 * sets *created = true. Existing file: loads it (DER or PEM; SEC1, PKCS#8 or
 * PKCS#1), *created = false. A file that cannot be read or parsed is an error
 * (AC_ERR_KEY_UNREADABLE naming the path) and is never replaced.
 * Returns a new key in *out (free with crypto_key_free). `created` may be NULL. */
int store_account_key_load(const char *path, struct crypto_key **out, bool *created,
                           struct ac_error *e);

/* Companion file paths for a set, written into buf (n bytes, NUL-terminated).
 * Return 0, or -1 when buf is too small. */
int store_failure_marker_path(const char *cert_path, const char *key_path, char *buf, size_t n);
int store_lock_path(const char *cert_path, const char *key_path, char *buf, size_t n);
int store_state_path(const char *cert_path, const char *key_path, char *buf, size_t n);
int store_journal_path(const char *cert_path, const char *key_path, char *buf, size_t n);

/* Failure marker: write stores `t` (Unix seconds) as RFC 3339, mode 0600
 * (atomic). read returns 0 and the time in *t, or -1 when the marker is absent
 * or unparseable (no error object: both mean "no recent failure"). remove
 * deletes it; an absent marker is success. */
int store_failure_marker_write(const char *cert_path, const char *key_path, int64_t t,
                               struct ac_error *e);
int store_failure_marker_read(const char *cert_path, const char *key_path, int64_t *t);
int store_failure_marker_remove(const char *cert_path, const char *key_path, struct ac_error *e);

/* Per-set exclusive lock (flock LOCK_EX|LOCK_NB on <cert dir>/.lock-<h>, created
 * 0600, the holder's pid written inside). Excludes other processes and other
 * acquisitions in this process (each acquisition opens its own file
 * description). Held elsewhere: AC_ERR_LOCKED, message naming the holder's pid
 * ("certificate set is being renewed by another autocert process (pid 1234)").
 * Other failures: AC_ERR_IO. Returns a new lock in *out; release with
 * store_lock_release (NULL does nothing), which also frees it. The lock file
 * is left in place (unlinking it would race with other acquirers). */
struct store_lock;
int store_lock_acquire(const char *cert_path, const char *key_path, struct store_lock **out,
                       struct ac_error *e);
void store_lock_release(struct store_lock *lock);

/* Scheduler state (JSON object, at most 1 MiB). read: returns 0 and a new object
 * in *out (json_object_put it), or 0 and *out = NULL when no state file exists;
 * a corrupt file is an error (AC_ERR_IO). write: serialises `state` (borrowed)
 * atomically with mode 0600. */
int store_state_read(const char *cert_path, const char *key_path, json_object **out,
                     struct ac_error *e);
int store_state_write(const char *cert_path, const char *key_path, json_object *state,
                      struct ac_error *e);

/* ---- Internal to lib/store*.c (not for other modules) ---- */

/* Directory part of path ("." when it has no '/', "/" for "/x"). 0 or -1. */
int store_dirname(const char *path, char *buf, size_t n);
/* fsyncs directory `dir`. Errors: AC_ERR_IO. */
int store_fsync_dir(const char *dir, struct ac_error *e);
/* store_write_atomic, and with exclusive = true: fails with errno EEXIST kept
 * in the message (kind AC_ERR_IO, *exists = true) instead of replacing an
 * existing file. `exists` may be NULL. */
int store_write_file(const char *path, const void *data, size_t len, mode_t mode, bool exclusive,
                     bool *exists, struct ac_error *e);

#endif
