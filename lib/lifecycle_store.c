/*
 * lifecycle_store.c - the engine's side of a shared store (issue 14).
 *
 * The store's thread reports events (lc_store_event): another node
 * committed a set's pair (the set is queued to pull it), a challenge was
 * published or withdrawn (the answer goes into this node's challenge table,
 * so that the CA may reach any node), the connection came (back) (every
 * managed set is queued to pull: notifications may have been missed) or was
 * lost. A pull (lc_store_pull, on a worker) compares the stored pair with the
 * one served: a newer stored pair is written to the set's files (the local
 * cache) and served; when the store has no pair for the set, or an older
 * one, this node's valid pair is imported under the set's lease, so that
 * adding store.url to a running node never causes an order.
 */
#include <stdlib.h>
#include <string.h>

#include "challenge.h"
#include "crypto.h"
#include "issuer.h"
#include "issuer_fleet.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "manager_priv.h"
#include "schedule.h"
#include "store.h"
#include "timeutil.h"

#define PULL_CHAIN_MAX (1024 * 1024)
#define PULL_KEY_MAX (64 * 1024)
/* A store away for less than this is not reported (start-up, a restart).
 * Builds with AUTOCERT_TEST_HOOKS read AUTOCERT_TEST_STORE_QUIET_S. */
#define LC_STORE_DOWN_QUIET_S 60

static int64_t quiet_s(void)
{
#ifdef AUTOCERT_TEST_HOOKS
    const char *v = getenv("AUTOCERT_TEST_STORE_QUIET_S");
    char *end = NULL;
    long n = v != NULL ? strtol(v, &end, 10) : 0;

    if (v != NULL && end != v && *end == '\0' && n > 0 && n <= LC_STORE_DOWN_QUIET_S)
        return n;
#endif
    return LC_STORE_DOWN_QUIET_S;
}

static void queue_pull(struct lifecycle *lc, struct acset *s, bool resync)
{
    if (!s->managed || s->removed)
        return;
    /* an attempt postponed while the store was away (not counted as a
     * failure) may run at once */
    if (resync && s->rec.failures == 0)
        s->rec.retry_at = 0;
    s->rec.store_pull = true;
    lc_queue(lc, s);
}

void lc_store_event(void *arg, enum storage_event ev, const char *id,
                    enum storage_challenge_kind kind, const char *key, const char *key_auth)
{
    autocert_manager *m = arg;
    struct lifecycle *lc = manager_engine(m);
    struct challenge_table *t = manager_challenges(m);
    struct snapshot *snap;
    struct ac_error e;

    switch (ev) {
    case STORAGE_EV_CHALLENGE:
        ac_error_clear(&e);
        if (key_auth == NULL) {
            if (kind == STORAGE_CH_HTTP01)
                challenge_http01_remove(t, key);
            else
                challenge_alpn_remove(t, key);
        } else if ((kind == STORAGE_CH_HTTP01 ? challenge_http01_add(t, key, key_auth, &e)
                                              : challenge_alpn_add(t, key, key_auth, &e)) != 0) {
            ac_warn(NULL, "store: a published challenge answer was not taken: %s", e.message);
        }
        return;
    case STORAGE_EV_DOWN:
        ac_warn(NULL, "store: the connection to the database was lost; serving what is in "
                      "memory and in the files, no order until it is back");
        return;
    case STORAGE_EV_PAIR:
    case STORAGE_EV_RESYNC:
        break;
    }
    if (ev == STORAGE_EV_RESYNC)
        ac_info(NULL, "store: connected; comparing every set with the store");
    pthread_mutex_lock(&lc->mu);
    snap = manager_snap_get(m);
    for (size_t i = 0; i < snap->count; i++)
        if (ev == STORAGE_EV_RESYNC || strcmp(snap->sets[i]->id, id) == 0)
            queue_pull(lc, snap->sets[i], ev == STORAGE_EV_RESYNC);
    manager_snap_put(snap);
    pthread_cond_signal(&lc->sched_cond); /* admissions may resume */
    pthread_mutex_unlock(&lc->mu);
}

int64_t lc_store_watch(struct lifecycle *lc, int64_t now)
{
    struct storage *st = manager_store(lc->m);
    struct snapshot *snap;
    size_t n = 0;

    if (st->ops->is_up(st)) {
        lc->store_down_since = 0;
        return INT64_MAX;
    }
    if (lc->store_down_since == 0)
        lc->store_down_since = now;
    if (now - lc->store_down_since < quiet_s())
        return lc->store_down_since + quiet_s();
    if (lc->store_down_logged != 0 && now - lc->store_down_logged < 3600)
        return lc->store_down_logged + 3600;
    snap = manager_snap_get(lc->m);
    for (size_t i = 0; i < snap->count; i++) {
        struct lc_cert_facts cf;

        if (!snap->sets[i]->managed)
            continue;
        lc_cert_facts(lc, snap->sets[i], &cf);
        if (!cf.present || now >= schedule_expiring_at(cf.not_before, cf.not_after))
            n++;
    }
    manager_snap_put(snap);
    lc->store_down_logged = now;
    if (n > 0)
        ac_err(NULL,
               "store: the database has been unreachable for %lld s: %zu set(s) expiring soon "
               "or without a certificate get no order until it is back",
               (long long)(now - lc->store_down_since), n);
    else
        ac_warn(NULL, "store: the database has been unreachable for %lld s; no order is placed",
                (long long)(now - lc->store_down_since));
    return now + 3600;
}

/* Puts this node's pair (its files, valid now) into the store under the
 * set's lease. */
static void import_local(struct lifecycle *lc, struct acset *s, const struct lc_cert_facts *cf)
{
    struct storage *st = manager_store(lc->m);
    struct fleet_hold h;
    struct storage_pair p;
    char *chain = NULL, *key = NULL;
    size_t chain_len = 0, key_len = 0;
    struct ac_error e;

    ac_error_clear(&e);
    if (fleet_acquire(&h, st, &s->cfg, manager_lease_ttl(lc->m), &e) != 0) {
        ac_debug(s->cfg.name, "store: not imported now: %s", e.message);
        return;
    }
    /* under the lease: another node may have imported a newer one meanwhile */
    memset(&p, 0, sizeof p);
    if (storage_call(st, pair_get, &h.ref, &p, &e) != 0 ||
        (p.chain != NULL && !p.names_differ && p.not_after >= cf->not_after)) {
        storage_pair_clear(&p);
        goto out;
    }
    storage_pair_clear(&p);
    if (store_pair_read(s->cfg.cert_path, PULL_CHAIN_MAX, &chain, &chain_len, s->cfg.key_path,
                        PULL_KEY_MAX, &key, &key_len, &e) != 0 ||
        chain == NULL || key == NULL) {
        ac_debug(s->cfg.name, "store: nothing to import: %s", e.message);
        goto out;
    }
    if (storage_call(st, pair_put, h.lease, &h.ref, chain, chain_len, key, key_len, cf->not_after,
                     &e) != 0) {
        ac_warn(s->cfg.name, "store: this node's certificate was not imported: %s", e.message);
        goto out;
    }
    ac_info(s->cfg.name, "store: this node's certificate (serial %s) imported", cf->serial_hex);
out:
    free(chain);
    if (key != NULL) {
        explicit_bzero(key, key_len);
        free(key);
    }
    fleet_release(&h);
}

/* The store's failure marker is authoritative: mirrored into the set's
 * .last_failure file (so that the cooldowns hold with the database down) and
 * into the engine's record. */
static void mirror_marker(struct lifecycle *lc, struct acset *s, struct storage *st,
                          const struct storage_ref *ref)
{
    int64_t t = 0;
    struct ac_error e;

    ac_error_clear(&e);
    if (storage_call(st, failure_get, ref, &t) != 0) {
        store_failure_marker_remove(s->cfg.cert_path, s->cfg.key_path, NULL);
        return;
    }
    if (store_failure_marker_write(s->cfg.cert_path, s->cfg.key_path, t, &e) != 0)
        ac_debug(s->cfg.name, "store: failure marker not mirrored: %s", e.message);
    pthread_mutex_lock(&lc->mu);
    if (t > s->rec.last_failure)
        s->rec.last_failure = t;
    pthread_mutex_unlock(&lc->mu);
}

void lc_store_pull(struct lifecycle *lc, struct acset *s)
{
    struct storage *st = manager_store(lc->m);
    struct storage_ref ref;
    struct storage_pair p;
    struct lc_cert_facts cf, now_cf;
    struct crypto_chain *chain = NULL;
    struct crypto_key *key = NULL;
    struct crypto_cert_info info = {0};
    struct store_lock *lock = NULL;
    struct ac_error e;
    bool valid;

    if (!fleet_shared(st) || !s->managed)
        return;
    storage_ref_init(&ref, s->cfg.name, s->cfg.cert_path, s->cfg.key_path,
                     (const char *const *)s->cfg.domains, s->cfg.domains_count);
    memset(&p, 0, sizeof p);
    ac_error_clear(&e);
    if (storage_call(st, pair_get, &ref, &p, &e) != 0) {
        ac_debug(s->cfg.name, "store: not compared: %s", e.message);
        return;
    }
    mirror_marker(lc, s, st, &ref);
    lc_cert_facts(lc, s, &cf);
    valid = cf.present && !cf.names_differ && cf.not_after > ac_now();
    if (p.chain == NULL || p.names_differ || p.not_after < cf.not_after) {
        if (valid)
            import_local(lc, s, &cf);
        goto out;
    }
    /* the same checks as a pair from the CA: the key is the leaf's, the leaf
     * is valid now and names exactly the set's domains */
    if (crypto_chain_parse_pem(p.chain, p.chain_len, &chain, &e) != 0 ||
        crypto_key_load(p.key, p.key_len, &key, &e) != 0 ||
        issuer_check_leaf(chain->crts[0], key, (const char *const *)s->cfg.domains,
                          s->cfg.domains_count, ac_now(), &e) != 0 ||
        crypto_cert_info_get(chain->crts[0], &info, &e) != 0) {
        ac_warn(s->cfg.name, "store: the stored certificate is not usable: %s", e.message);
        goto out;
    }
    if (cf.present && strcmp(info.serial_hex, cf.serial_hex) == 0)
        goto out; /* the one served */
    if (store_lock_acquire(s->cfg.cert_path, s->cfg.key_path, &lock, &e) != 0) {
        ac_debug(s->cfg.name, "store: not pulled now: %s", e.message);
        goto out;
    }
    if (store_pair_commit(s->cfg.cert_path, p.chain, p.chain_len, s->cfg.key_path, p.key, p.key_len,
                          &e) != 0) {
        ac_err(s->cfg.name, "store: the stored certificate was not written to the files: %s",
               e.message);
        goto out;
    }
    store_lock_release(lock);
    lock = NULL;
    if (manager_acset_reload(lc->m, s, &e) < 0) {
        ac_err(s->cfg.name, "store: the stored certificate was written but not loaded: %s",
               e.message);
        goto out;
    }
    /* a new certificate in service, as after an order of this node's */
    store_failure_marker_remove(s->cfg.cert_path, s->cfg.key_path, NULL);
    pthread_mutex_lock(&lc->mu);
    lc_cert_facts(lc, s, &now_cf);
    if (!lc_plan_success(&s->rec, &s->cfg, &now_cf, ac_now(), lc_rand64()))
        ac_err(s->cfg.name, "%s", s->rec.last_error != NULL ? s->rec.last_error->message : "");
    pthread_mutex_unlock(&lc->mu);
    ac_info(s->cfg.name, "in service: certificate committed by another node (serial %s)",
            info.serial_hex);
    lc_post_event(lc, s, cf.present ? "renewed" : "obtained", info.not_after, NULL, true);
out:
    store_lock_release(lock);
    crypto_cert_info_free(&info);
    crypto_key_free(key);
    crypto_chain_free(chain);
    storage_pair_clear(&p);
}
