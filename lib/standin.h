/*
 * standin.h - the self-signed stand-in certificate of a set that holds no
 * certificate yet (first start, CA down, issuance failing).
 *
 * A stand-in is made on the first handshake that needs it (one P-256
 * signature), cached in the set (struct acset: standin, standin_off) and
 * dropped as soon as the set's real certificate lands. All stand-ins of the
 * process share one EC P-256 key, made once. Subject CN = the set's first
 * domain, SANs = its domains (IP literals as IP SANs), valid from an hour ago
 * for STANDIN_LIFETIME_S; an expired one is made again. Stand-ins exist only
 * in memory: never written to disk, never in the snapshot's certs[], so
 * info, status, metrics, hooks and events never see them; only the lookups
 * (autocert_manager_lookup*) hand them out.
 *
 * Eligible: sets that ask a CA (managed: custom, acme or a DNS provider) and
 * list domains. local, pseudo and selfsigned sets get none.
 */
#ifndef AUTOCERT_STANDIN_H
#define AUTOCERT_STANDIN_H

#include <stdbool.h>

#include "autocert/autocert.h"
#include "config.h"

struct acset;

#define STANDIN_LIFETIME_S (30 * 86400)

/* True when a set with configuration c is served a stand-in while it holds
 * no certificate. */
bool standin_eligible(const struct config_set *c);

/* The stand-in of s (made now when s has none or its one expired): a new
 * reference (autocert_cert_release), or NULL when it cannot be made (logged;
 * not tried again for STANDIN_RETRY_S) or s is not eligible. When s holds its real certificate by
 * now (a reader of an older snapshot), returns a reference to that one instead (through
 * cert_now(arg, s)). Thread-safe: concurrent first calls for the same set
 * make one stand-in; the others wait for it. Never blocks on I/O. */
autocert_cert *standin_get(struct acset *s, autocert_cert *(*cert_now)(void *arg, struct acset *s),
                           void *arg);

/* Tells s whether it now holds a real certificate (has_cert) and drops its
 * stand-in when it does. Call after s->cert changed, without holding the
 * manager's snap_lock. */
void standin_set_has_cert(struct acset *s, bool has_cert);

/* True when s currently caches a stand-in (tests, status). */
bool standin_cached(struct acset *s);

/* Frees s's stand-in (acset_unref, no other reference to s left). */
void standin_free(struct acset *s);

#endif
