/*
 * storage_files.c - the file store: storage.h's interface over store.h's
 * files (today's behaviour, the default backend). A lease is the set's flock
 * (token 0); the pair, state, marker and account key are store.h's files; a
 * budget is its state file updated under an flock on "<path>.lock"; pending
 * challenges are not kept (one node answers its own).
 *
 * The names a pair was written for are read back from the leaf's subject
 * alternative names (DNS and IP), so names_differ means "the certificate on
 * disk does not cover exactly the configured names".
 */
#include "storage.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include "set.h"
#include "store.h"

#define FILES_CHAIN_MAX (1024 * 1024)
#define FILES_KEY_MAX (64 * 1024)
#define FILES_BUDGET_MAX (64 * 1024 * 1024)
#define FILES_SAN_MAX 4096

struct storage_files {
    struct storage base;
};

void storage_ref_init(struct storage_ref *ref, const char *name, const char *cert_path,
                      const char *key_path, const char *const *names, size_t names_count)
{
    memset(ref, 0, sizeof *ref);
    acset_id_of(cert_path, key_path, ref->id);
    ref->name = name;
    ref->cert_path = cert_path;
    ref->key_path = key_path;
    ref->names = names;
    ref->names_count = names_count;
}

void storage_pair_clear(struct storage_pair *p)
{
    if (p == NULL)
        return;
    free(p->chain);
    if (p->key != NULL) {
        gnutls_memset(p->key, 0, p->key_len);
        free(p->key);
    }
    memset(p, 0, sizeof *p);
}

/* ---- leases ---- */

static int files_lease_acquire(struct storage *st, const struct storage_ref *ref,
                               struct storage_lease **out, struct ac_error *e)
{
    struct storage_lease *l = NULL;
    struct store_lock *lock = NULL;

    (void)st;
    l = calloc(1, sizeof *l);
    if (l == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (store_lock_acquire(ref->cert_path, ref->key_path, &lock, e) != 0) {
        free(l);
        return -1;
    }
    memcpy(l->id, ref->id, sizeof l->id);
    l->token = 0;
    l->backend = lock;
    *out = l;
    return 0;
}

static int files_lease_renew(struct storage *st, struct storage_lease *lease, struct ac_error *e)
{
    (void)st;
    (void)lease;
    (void)e;
    return 0; /* an flock lasts until released */
}

static void files_lease_release(struct storage *st, struct storage_lease *lease)
{
    (void)st;
    if (lease == NULL)
        return;
    store_lock_release(lease->backend);
    free(lease);
}

static int files_lease_holder(struct storage *st, const struct storage_ref *ref, char *buf,
                              size_t n, struct ac_error *e)
{
    (void)st;
    (void)ref;
    (void)e;
    if (n > 0)
        buf[0] = '\0';
    return 0;
}

/* ---- pair ---- */

void storage_name_canon(const char *in, char *out, size_t n)
{
    unsigned char ip[16];
    size_t len;

    if (inet_pton(AF_INET, in, ip) == 1 && inet_ntop(AF_INET, ip, out, (socklen_t)n) != NULL)
        return;
    if (inet_pton(AF_INET6, in, ip) == 1 && inet_ntop(AF_INET6, ip, out, (socklen_t)n) != NULL)
        return;
    snprintf(out, n, "%s", in);
    for (char *p = out; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    len = strlen(out);
    if (len > 1 && out[len - 1] == '.')
        out[len - 1] = '\0';
}

/* SAN i of crt in canonical text into out: 1 a DNS or IP name, 0 another
 * kind (skip), -1 past the last one. */
static int san_at(gnutls_x509_crt_t crt, unsigned int i, char *out, size_t n)
{
    char raw[FILES_SAN_MAX];
    size_t len = sizeof raw - 1;
    unsigned int critical = 0;
    int type = gnutls_x509_crt_get_subject_alt_name(crt, i, raw, &len, &critical);

    if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER)
        return -1;
    if (type == GNUTLS_SAN_DNSNAME) {
        raw[len] = '\0';
        storage_name_canon(raw, out, n);
        return 1;
    }
    if (type == GNUTLS_SAN_IPADDRESS && (len == 4 || len == 16))
        return inet_ntop(len == 4 ? AF_INET : AF_INET6, raw, out, (socklen_t)n) != NULL;
    return 0;
}

/* True when crt's name san (canonical) is one of ref's names. */
static bool ref_has(const struct storage_ref *ref, const char *san)
{
    char c[FILES_SAN_MAX];

    for (size_t i = 0; i < ref->names_count; i++) {
        storage_name_canon(ref->names[i], c, sizeof c);
        if (strcmp(c, san) == 0)
            return true;
    }
    return false;
}

/* True when crt has the configured name c (canonical) among its SANs. */
static bool crt_has(gnutls_x509_crt_t crt, const char *c)
{
    char san[FILES_SAN_MAX];
    int k;

    for (unsigned int i = 0; (k = san_at(crt, i, san, sizeof san)) >= 0; i++)
        if (k == 1 && strcmp(san, c) == 0)
            return true;
    return false;
}

/* True when crt's DNS and IP SANs are not exactly ref's names (as sets). */
static bool names_differ(gnutls_x509_crt_t crt, const struct storage_ref *ref)
{
    char san[FILES_SAN_MAX];
    int k;

    for (unsigned int i = 0; (k = san_at(crt, i, san, sizeof san)) >= 0; i++)
        if (k == 1 && !ref_has(ref, san))
            return true;
    for (size_t i = 0; i < ref->names_count; i++) {
        storage_name_canon(ref->names[i], san, sizeof san);
        if (!crt_has(crt, san))
            return true;
    }
    return false;
}

static int files_pair_get(struct storage *st, const struct storage_ref *ref,
                          struct storage_pair *out, struct ac_error *e)
{
    struct crypto_chain *chain = NULL;
    struct crypto_cert_info info;
    struct ac_error ignored;

    (void)st;
    memset(out, 0, sizeof *out);
    if (store_pair_read(ref->cert_path, FILES_CHAIN_MAX, &out->chain, &out->chain_len,
                        ref->key_path, FILES_KEY_MAX, &out->key, &out->key_len, e) != 0)
        return -1;
    if (out->chain == NULL || out->key == NULL) {
        /* half a pair is no pair */
        storage_pair_clear(out);
        return 0;
    }
    ac_error_clear(&ignored);
    memset(&info, 0, sizeof info);
    if (crypto_chain_parse_pem_lazy(out->chain, out->chain_len, &chain, &ignored) == 0) {
        if (crypto_cert_info_get(chain->crts[0], &info, &ignored) == 0) {
            out->not_after = info.not_after;
            crypto_cert_info_free(&info);
        }
        out->names_differ = names_differ(chain->crts[0], ref);
        crypto_chain_free(chain);
    }
    return 0;
}

static int files_pair_put(struct storage *st, const struct storage_lease *lease,
                          const struct storage_ref *ref, const char *chain, size_t chain_len,
                          const char *key, size_t key_len, int64_t not_after, struct ac_error *e)
{
    (void)st;
    (void)not_after;
    if (lease == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL, "set %s: pair written without its lease", ref->name);
        return -1;
    }
    return store_pair_commit(ref->cert_path, chain, chain_len, ref->key_path, key, key_len, e);
}

/* ---- state and failure marker ---- */

static int files_state_get(struct storage *st, const struct storage_ref *ref, json_object **out,
                           struct ac_error *e)
{
    (void)st;
    return store_state_read(ref->cert_path, ref->key_path, out, e);
}

static int files_state_put(struct storage *st, const struct storage_lease *lease,
                           const struct storage_ref *ref, json_object *state, struct ac_error *e)
{
    (void)st;
    (void)lease;
    return store_state_write(ref->cert_path, ref->key_path, state, e);
}

static int files_failure_get(struct storage *st, const struct storage_ref *ref, int64_t *t)
{
    (void)st;
    return store_failure_marker_read(ref->cert_path, ref->key_path, t);
}

static int files_failure_put(struct storage *st, const struct storage_lease *lease,
                             const struct storage_ref *ref, int64_t t, struct ac_error *e)
{
    (void)st;
    (void)lease;
    return store_failure_marker_write(ref->cert_path, ref->key_path, t, e);
}

static int files_failure_clear(struct storage *st, const struct storage_lease *lease,
                               const struct storage_ref *ref, struct ac_error *e)
{
    (void)st;
    (void)lease;
    return store_failure_marker_remove(ref->cert_path, ref->key_path, e);
}

/* ---- account key, budgets ---- */

static int files_account_key_load(struct storage *st, const char *path, struct crypto_key **out,
                                  bool *created, struct ac_error *e)
{
    (void)st;
    return store_account_key_load(path, out, created, e);
}

static int files_budget_update(struct storage *st, const char *path,
                               char *(*merge)(const char *stored, void *arg), void *arg,
                               struct ac_error *e)
{
    char lock_path[STORE_PATH_MAX];
    char *data = NULL, *next = NULL;
    size_t len = 0;
    int fd = -1, rc = -1;

    (void)st;
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= (int)sizeof lock_path) {
        ac_error_set(e, AC_ERR_IO, "%s: path too long", path);
        goto out;
    }
    if (store_mkdirs_for(lock_path, e) != 0)
        goto out;
    fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        ac_error_set(e, AC_ERR_IO, "%s: cannot open lock file: %s", lock_path, strerror(errno));
        goto out;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            ac_error_set(e, AC_ERR_IO, "%s: flock failed: %s", lock_path, strerror(errno));
            goto out;
        }
    }
    if (store_read_file(path, FILES_BUDGET_MAX, &data, &len, e) != 0) {
        if (!ac_error_is(e, AC_ERR_NOT_FOUND))
            goto out;
        ac_error_clear(e);
        data = NULL;
    }
    next = merge(data, arg);
    if (next != NULL && store_write_atomic(path, next, strlen(next), 0600, e) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd); /* drops the flock */
    free(data);
    free(next);
    return rc;
}

/* ---- challenges: one node, nothing to share ---- */

static int files_challenge_put(struct storage *st, enum storage_challenge_kind kind,
                               const char *key, const char *key_auth, int64_t expires_at,
                               struct ac_error *e)
{
    (void)st, (void)kind, (void)key, (void)key_auth, (void)expires_at, (void)e;
    return 0;
}

static int files_challenge_get(struct storage *st, enum storage_challenge_kind kind,
                               const char *key, char **key_auth, struct ac_error *e)
{
    (void)st, (void)kind, (void)key_auth;
    ac_error_set(e, AC_ERR_NOT_FOUND, "no pending challenge for %s in the file store", key);
    return -1;
}

static int files_challenge_del(struct storage *st, enum storage_challenge_kind kind,
                               const char *key, struct ac_error *e)
{
    (void)st, (void)kind, (void)key, (void)e;
    return 0;
}

static int files_challenge_ack(struct storage *st, enum storage_challenge_kind kind,
                               const char *key, struct ac_error *e)
{
    (void)st, (void)kind, (void)key, (void)e;
    return 0;
}

static int files_challenge_wait_acks(struct storage *st, enum storage_challenge_kind kind,
                                     const char *const *keys, size_t n, int timeout_ms)
{
    (void)st, (void)kind, (void)keys, (void)n, (void)timeout_ms;
    return 0;
}

static void files_set_listener(struct storage *st, storage_event_fn fn, void *arg)
{
    (void)st, (void)fn, (void)arg;
}

static bool files_is_up(struct storage *st)
{
    (void)st;
    return true;
}

static void files_free(struct storage *st)
{
    free(st);
}

static const struct storage_ops files_ops = {
    .name = "files",
    .free = files_free,
    .lease_acquire = files_lease_acquire,
    .lease_renew = files_lease_renew,
    .lease_release = files_lease_release,
    .lease_holder = files_lease_holder,
    .pair_get = files_pair_get,
    .pair_put = files_pair_put,
    .state_get = files_state_get,
    .state_put = files_state_put,
    .failure_get = files_failure_get,
    .failure_put = files_failure_put,
    .failure_clear = files_failure_clear,
    .account_key_load = files_account_key_load,
    .budget_update = files_budget_update,
    .challenge_put = files_challenge_put,
    .challenge_get = files_challenge_get,
    .challenge_del = files_challenge_del,
    .challenge_ack = files_challenge_ack,
    .challenge_wait_acks = files_challenge_wait_acks,
    .set_listener = files_set_listener,
    .is_up = files_is_up,
};

int storage_files_new(struct storage **out, struct ac_error *e)
{
    struct storage_files *f = calloc(1, sizeof *f);

    if (f == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    f->base.ops = &files_ops;
    *out = &f->base;
    return 0;
}
