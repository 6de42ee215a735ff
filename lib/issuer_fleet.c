/*
 * issuer_fleet.c - the issuer's side of a shared store. See issuer_fleet.h.
 */
#include "issuer_fleet.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "issuer.h"
#include "log.h"
#include "store.h"
#include "timeutil.h"

bool fleet_shared(const struct storage *st)
{
    return st != NULL && strcmp(st->ops->name, "files") != 0;
}

/* ---- the keeper ---- */

struct storage_keeper {
    struct storage *st;
    struct storage_lease *lease;
    int period_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool stop;
    bool lost;
};

static void *keeper_main(void *arg)
{
    struct storage_keeper *k = arg;
    struct timespec at;

    pthread_mutex_lock(&k->mu);
    clock_gettime(CLOCK_MONOTONIC, &at);
    while (!k->stop) {
        at.tv_sec += k->period_ms / 1000;
        at.tv_nsec += (long)(k->period_ms % 1000) * 1000000L;
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        while (!k->stop && pthread_cond_timedwait(&k->cond, &k->mu, &at) != ETIMEDOUT)
            ;
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->mu);
        struct ac_error e;

        ac_error_clear(&e);
        if (storage_call(k->st, lease_renew, k->lease, &e) != 0) {
            if (ac_error_is(&e, AC_ERR_FENCED)) {
                ac_warn(NULL, "store: lease of set %s lost: %s", k->lease->id, e.message);
                pthread_mutex_lock(&k->mu);
                k->lost = true;
                break;
            }
            /* the database is away: the order goes on; its commit is
             * accepted only while no other node took the lease */
            ac_warn(NULL, "store: lease of set %s not renewed: %s", k->lease->id, e.message);
        }
        pthread_mutex_lock(&k->mu);
        clock_gettime(CLOCK_MONOTONIC, &at);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

int storage_keeper_start(struct storage *st, struct storage_lease *lease, int period_ms,
                         struct storage_keeper **out, struct ac_error *e)
{
    struct storage_keeper *k = calloc(1, sizeof *k);
    pthread_condattr_t ca;

    *out = NULL;
    if (k == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    k->st = st;
    k->lease = lease;
    k->period_ms = period_ms > 100 ? period_ms : 100;
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->mu);
        free(k);
        ac_error_set(e, AC_ERR_INTERNAL, "cannot start the lease keeper thread");
        return -1;
    }
    *out = k;
    return 0;
}

bool storage_keeper_stop(struct storage_keeper *k)
{
    bool lost;

    if (k == NULL)
        return false;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    lost = k->lost;
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k);
    return lost;
}

/* ---- lease and lock ---- */

int fleet_acquire(struct fleet_hold *h, struct storage *st, const struct config_set *set,
                  int lease_ttl_s, struct ac_error *e)
{
    memset(h, 0, sizeof *h);
    h->st = st;
    h->shared = fleet_shared(st);
    storage_ref_init(&h->ref, set->name, set->cert_path, set->key_path,
                     (const char *const *)set->domains, set->domains_count);
    if (store_lock_acquire(set->cert_path, set->key_path, &h->lock, e) != 0)
        return -1;
    if (!h->shared)
        return 0;
    if (storage_call(st, lease_acquire, &h->ref, &h->lease, e) != 0) {
        h->lease = NULL;
        if (ac_error_is(e, AC_ERR_STORE_DOWN))
            ac_error_prefix(e, "no order without the set's lease");
        fleet_release(h);
        return -1;
    }
    if (storage_keeper_start(st, h->lease, lease_ttl_s * 1000 / 3, &h->keeper, e) != 0) {
        fleet_release(h);
        return -1;
    }
    return 0;
}

void fleet_release(struct fleet_hold *h)
{
    if (h->keeper != NULL)
        (void)storage_keeper_stop(h->keeper);
    h->keeper = NULL;
    if (h->lease != NULL)
        h->st->ops->lease_release(h->st, h->lease);
    h->lease = NULL;
    store_lock_release(h->lock);
    h->lock = NULL;
}

/* ---- adopting a pair another node committed ---- */

int fleet_adopt(struct fleet_hold *h, const struct config_set *set, int64_t have_not_after,
                int64_t *not_after, char *serial, size_t serial_n, struct ac_error *e)
{
    struct storage_pair p;
    struct crypto_chain *chain = NULL;
    struct crypto_key *key = NULL;
    struct crypto_cert_info info = {0};
    struct ac_error ie;
    int rc = 0;

    if (!h->shared)
        return 0;
    memset(&p, 0, sizeof p);
    ac_error_clear(&ie);
    if (storage_call(h->st, pair_get, &h->ref, &p, &ie) != 0) {
        ac_warn(set->name, "store: stored certificate not read (%s); ordering", ie.message);
        return 0;
    }
    if (p.chain == NULL || p.names_differ || p.not_after <= have_not_after ||
        p.not_after <= ac_now())
        goto out;
    if (crypto_chain_parse_pem(p.chain, p.chain_len, &chain, &ie) != 0 ||
        crypto_key_load(p.key, p.key_len, &key, &ie) != 0 ||
        issuer_check_leaf(chain->crts[0], key, (const char *const *)set->domains,
                          set->domains_count, ac_now(), &ie) != 0 ||
        crypto_cert_info_get(chain->crts[0], &info, &ie) != 0) {
        ac_warn(set->name, "store: the stored certificate is not usable (%s); ordering",
                ie.message);
        goto out;
    }
    if (store_pair_commit(set->cert_path, p.chain, p.chain_len, set->key_path, p.key, p.key_len,
                          e) != 0) {
        rc = -1;
        goto out;
    }
    *not_after = info.not_after;
    snprintf(serial, serial_n, "%s", info.serial_hex);
    rc = 1;
out:
    crypto_cert_info_free(&info);
    crypto_key_free(key);
    crypto_chain_free(chain);
    storage_pair_clear(&p);
    return rc;
}

/* ---- fenced writes ---- */

int fleet_marker_put(struct fleet_hold *h, const struct config_set *set, int64_t t,
                     struct ac_error *e)
{
    if (h->shared && storage_call(h->st, failure_put, h->lease, &h->ref, t, e) != 0)
        return -1;
    return store_failure_marker_write(set->cert_path, set->key_path, t, e);
}

void fleet_marker_clear(struct fleet_hold *h, const struct config_set *set)
{
    struct ac_error e;

    if (h->shared && storage_call(h->st, failure_clear, h->lease, &h->ref, &e) != 0)
        ac_warn(set->name, "store: failure marker not cleared: %s", e.message);
    store_failure_marker_remove(set->cert_path, set->key_path, NULL);
}

int fleet_commit(struct fleet_hold *h, const struct config_set *set, const char *chain,
                 size_t chain_len, const char *key, size_t key_len, int64_t not_after,
                 struct ac_error *e)
{
    if (h->shared && storage_call(h->st, pair_put, h->lease, &h->ref, chain, chain_len, key,
                                  key_len, not_after, e) != 0) {
        if (ac_error_is(e, AC_ERR_FENCED))
            ac_err(set->name, "store: the new certificate is refused: %s", e->message);
        return -1;
    }
    return store_pair_commit(set->cert_path, chain, chain_len, set->key_path, key, key_len, e);
}
