/*
 * lifecycle_selfsigned.c - provider `selfsigned`, the development mode: no
 * CA, no order. At start (lifecycle_start) and when its certificate expires
 * (the scheduler wakes at the earliest NotAfter), each selfsigned set gets a
 * self-signed certificate for its domains, valid LC_SELFSIGNED_DAYS, with a
 * fresh key of its certificate_key_type, committed to its files through the
 * store's crash-safe pair commit under the set's lock, then loaded and
 * published. A certificate on disk that is still valid and covers the
 * configured domains is kept. The leaf's SHA-256 fingerprint is logged at
 * start and whenever a new one is written (clients pin or trust it by hand).
 * The set's state stays `unmanaged`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certset.h"
#include "crypto.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "schedule.h"
#include "set.h"
#include "store.h"
#include "timeutil.h"

#define LC_SELFSIGNED_DAYS 365

/* "AB:CD:..." of SHA-256(leaf DER) into out (96 bytes). */
static void fingerprint(autocert_cert *c, char out[96])
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *der = NULL;
    unsigned char md[32];
    size_t len = 0, o = 0;

    out[0] = '\0';
    if (autocert_cert_chain_der(c, 0, &der, &len) != 0)
        return;
    crypto_sha256(der, len, md);
    for (size_t i = 0; i < sizeof md; i++) {
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
        out[o++] = i + 1 < sizeof md ? ':' : '\0';
    }
}

/* True when c is within its dates and names every configured domain. */
static bool usable(const struct acset *s, autocert_cert *c, int64_t now)
{
    const char *names[256];
    size_t n = autocert_cert_name_count(c);

    if (now >= autocert_cert_not_after(c))
        return false;
    if (n > sizeof names / sizeof names[0])
        n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++)
        names[i] = autocert_cert_name(c, i);
    /* IP domains are IP SANs, not names: compare the DNS names only */
    for (size_t d = 0; d < s->cfg.domains_count; d++) {
        const char *want = s->cfg.domains[d];
        bool found = strchr(want, ':') != NULL || strspn(want, "0123456789.") == strlen(want);
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(names[i], want) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Writes a new self-signed pair for s and loads it. Returns 0 or -1 (e). */
static int write_pair(struct lifecycle *lc, struct acset *s, int64_t now, struct ac_error *e)
{
    const struct config_set *cfg = &s->cfg;
    struct crypto_key *k = NULL;
    struct store_lock *lock = NULL;
    char *pem = NULL, *key_pem = NULL;
    size_t len = 0, key_len = 0;
    int rc = -1;

    if (crypto_key_generate(cfg->key_type, &k, e) != 0 ||
        crypto_selfsigned_create(k, (const char *const *)cfg->domains, cfg->domains_count,
                                 now - 3600, now + LC_SELFSIGNED_DAYS * 86400, NULL, &pem, &len,
                                 e) != 0 ||
        crypto_key_export_pkcs8_pem(k, &key_pem, &key_len, e) != 0)
        goto out;
    if (store_lock_acquire(cfg->cert_path, cfg->key_path, &lock, e) != 0)
        goto out;
    rc = store_pair_commit(cfg->cert_path, pem, len, cfg->key_path, key_pem, key_len, e);
    store_lock_release(lock);
    if (rc == 0 && manager_acset_reload(lc->m, s, e) < 0)
        rc = -1;
out:
    crypto_key_free(k);
    if (key_pem != NULL) {
        memset(key_pem, 0, key_len);
        gnutls_free(key_pem);
    }
    free(pem);
    return rc;
}

/* Checks one selfsigned set; returns when it needs looking at again. */
static int64_t check_set(struct lifecycle *lc, struct acset *s, int64_t now, bool boot)
{
    autocert_cert *c = manager_acset_cert(lc->m, s);
    bool had = c != NULL;
    char fp[96], until[32];
    struct ac_error e;
    int64_t next;

    ac_error_clear(&e);
    if (c != NULL && usable(s, c, now)) {
        if (boot) {
            fingerprint(c, fp);
            ac_info(s->cfg.name, "self-signed certificate in %s (SHA-256 fingerprint %s)",
                    s->cfg.cert_path, fp);
        }
        next = autocert_cert_not_after(c);
        autocert_cert_release(c);
        return next;
    }
    autocert_cert_release(c);
    if (write_pair(lc, s, now, &e) != 0) {
        ac_err(s->cfg.name, "self-signed certificate not written: %s", e.message);
        return now + (s->cfg.retry_min > 0 ? s->cfg.retry_min : 60);
    }
    c = manager_acset_cert(lc->m, s);
    if (c == NULL)
        return now + (s->cfg.retry_min > 0 ? s->cfg.retry_min : 60);
    fingerprint(c, fp);
    next = autocert_cert_not_after(c);
    ac_time_format_rfc3339(next, until, sizeof until);
    ac_info(s->cfg.name,
            "self-signed certificate %s to %s, valid until %s (SHA-256 fingerprint %s)",
            had ? "renewed: written" : "written", s->cfg.cert_path, until, fp);
    (void)lc_post_event(lc, s, had ? "renewed" : "obtained", next, NULL, true);
    autocert_cert_release(c);
    return next;
}

int64_t lc_selfsigned_pass(struct lifecycle *lc, bool boot)
{
    struct acset **sets = NULL;
    size_t n = 0;
    int64_t earliest = INT64_MAX, now = ac_now(), t;

    if (manager_sets(lc->m, &sets, &n) != 0)
        return now + 60;
    for (size_t i = 0; i < n; i++) {
        if (!sets[i]->selfsigned)
            continue;
        t = check_set(lc, sets[i], now, boot);
        if (t < earliest)
            earliest = t;
    }
    manager_sets_free(sets, n);
    return earliest;
}
