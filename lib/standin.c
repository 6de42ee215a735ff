/*
 * standin.c - self-signed stand-in certificates for sets that hold no
 * certificate yet (standin.h).
 *
 * Locking: a set's `standin` and `standin_off` are guarded by one of
 * STANDIN_LOCKS striped mutexes (chosen by the set's address), held for a
 * pointer check on the hot path and, once per set, across the making of the
 * stand-in (one P-256 signature, no I/O), so concurrent first handshakes make
 * one. The shared key is made once (pthread_once).
 *
 *     lookup (old snapshot: no cert)       writer (real certificate lands)
 *     lock(stripe)                         snap_lock { s->cert = c }
 *       off? -> unlock, return s->cert     lock(stripe)
 *       none? -> make, cache                 off = true; take standin
 *       ref++                              unlock(stripe); release it
 *     unlock(stripe)
 *
 * A stand-in made before the writer took the stripe is dropped by it; one
 * asked for after sees `off` and gets the real certificate.
 */
#include "standin.h"

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certset.h"
#include "crypto.h"
#include "log.h"
#include "set.h"
#include "timeutil.h"

#define STANDIN_LOCKS 64
/* After a failure to make a stand-in, handshakes for the set fail without
 * trying again (or logging) for this long. */
#define STANDIN_RETRY_S 60

static pthread_mutex_t stripes[STANDIN_LOCKS] = {
#define M1 PTHREAD_MUTEX_INITIALIZER
#define M8 M1, M1, M1, M1, M1, M1, M1, M1
    M8, M8, M8, M8, M8, M8, M8, M8,
#undef M8
#undef M1
};

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static struct crypto_key *shared_key; /* process lifetime */
static char *shared_key_pem;          /* PKCS#8 PEM of shared_key (gnutls_malloc) */
static size_t shared_key_len;
static struct ac_error key_error;

static void make_key(void)
{
    ac_error_clear(&key_error);
    if (crypto_key_generate(CRYPTO_KEY_EC256, &shared_key, &key_error) != 0)
        return;
    if (crypto_key_export_pkcs8_pem(shared_key, &shared_key_pem, &shared_key_len, &key_error) !=
        0) {
        crypto_key_free(shared_key);
        shared_key = NULL;
    }
}

static pthread_mutex_t *stripe_of(const struct acset *s)
{
    uintptr_t p = (uintptr_t)s;

    return &stripes[(p >> 6 ^ p >> 12) % STANDIN_LOCKS];
}

bool standin_eligible(const struct config_set *c)
{
    return config_set_is_managed(c) && strcmp(c->provider, CONFIG_PROVIDER_SELFSIGNED) != 0 &&
           c->domains_count > 0;
}

/* A new stand-in for s, or NULL (logged; tried again after
 * STANDIN_RETRY_S). */
static autocert_cert *make(const struct acset *s)
{
    int64_t now = ac_now();
    char *pem = NULL;
    size_t len = 0;
    autocert_cert *c = NULL;
    struct ac_error e;

    ac_error_clear(&e);
    pthread_once(&key_once, make_key);
    if (shared_key == NULL) {
        ac_err(s->cfg.name, "stand-in certificate: no key: %s", key_error.message);
        return NULL;
    }
    if (crypto_selfsigned_create(shared_key, (const char *const *)s->cfg.domains,
                                 s->cfg.domains_count, now - 3600, now + STANDIN_LIFETIME_S, NULL,
                                 &pem, &len, &e) != 0 ||
        certset_from_memory(s->cfg.name, 0, pem, len, shared_key_pem, shared_key_len, &c, &e) !=
            0) {
        ac_err(s->cfg.name, "stand-in certificate not made: %s", e.message);
        c = NULL;
    } else {
        ac_info(s->cfg.name, "no certificate yet: serving a self-signed stand-in for %s%s",
                s->cfg.domains[0], s->cfg.domains_count > 1 ? " and the other domains" : "");
    }
    free(pem);
    return c;
}

autocert_cert *standin_get(struct acset *s, autocert_cert *(*cert_now)(void *arg, struct acset *s),
                           void *arg)
{
    pthread_mutex_t *mu = stripe_of(s);
    autocert_cert *c = NULL, *stale = NULL;

    if (!s->standin_ok)
        return NULL;
    pthread_mutex_lock(mu);
    if (s->standin_off) {
        pthread_mutex_unlock(mu);
        return cert_now != NULL ? cert_now(arg, s) : NULL;
    }
    if (s->standin != NULL && autocert_cert_not_after(s->standin) <= ac_now()) {
        stale = s->standin;
        s->standin = NULL;
    }
    if (s->standin == NULL && ac_now() - s->standin_failed >= STANDIN_RETRY_S) {
        s->standin = make(s);
        s->standin_failed = s->standin == NULL ? ac_now() : 0;
    }
    c = autocert_cert_acquire(s->standin);
    pthread_mutex_unlock(mu);
    autocert_cert_release(stale);
    return c;
}

void standin_set_has_cert(struct acset *s, bool has_cert)
{
    pthread_mutex_t *mu = stripe_of(s);
    autocert_cert *old = NULL;

    pthread_mutex_lock(mu);
    s->standin_off = has_cert;
    if (has_cert) {
        old = s->standin;
        s->standin = NULL;
    }
    pthread_mutex_unlock(mu);
    if (old != NULL)
        ac_info(s->cfg.name, "certificate in service: stand-in dropped");
    autocert_cert_release(old);
}

bool standin_cached(struct acset *s)
{
    pthread_mutex_t *mu = stripe_of(s);
    bool yes;

    pthread_mutex_lock(mu);
    yes = s->standin != NULL;
    pthread_mutex_unlock(mu);
    return yes;
}

void standin_free(struct acset *s)
{
    autocert_cert_release(s->standin);
    s->standin = NULL;
}
