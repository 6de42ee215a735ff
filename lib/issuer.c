/*
 * issuer.c - one set's issuance: lock, marker, account, order, commit.
 * See issuer.h.
 */
#include "issuer.h"

#include <arpa/inet.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme.h"
#include "cert.h"
#include "challenge.h"
#include "dns_provider.h"
#include "issuer_fleet.h"
#include "log.h"
#include "schedule.h"
#include "store.h"
#include "timeutil.h"

#define CHAIN_MAX_BYTES (1024 * 1024)

/* State behind the acme_solver callbacks for one order. */
struct solver_ctx {
    const struct issuer_request *req;
    struct dns_provider *dns;
    struct fleet_hold *hold;
};

/* How long the ordering node waits for the other nodes of a fleet to
 * acknowledge a published challenge before telling the CA to validate. */
#define FLEET_ACK_WAIT_MS 5000

static void progress(const struct issuer_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(const struct issuer_request *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ac_info(r->set->name, "%s", msg);
    if (r->progress != NULL)
        r->progress(r->progress_arg, r->set->name, msg);
}

static void solver_progress(void *arg, const char *message)
{
    struct solver_ctx *ctx = arg;

    progress(ctx->req, "%s", message);
}

static int solver_present(void *arg, const struct dns_challenge *ch, struct ac_error *e)
{
    struct solver_ctx *ctx = arg;

    progress(ctx->req, "publishing TXT record at %s via %s", ch->fqdn, dns_provider_name(ctx->dns));
    return dns_provider_present(ctx->dns, ch, e);
}

static int solver_cleanup(void *arg, const struct dns_challenge *ch, struct ac_error *e)
{
    struct solver_ctx *ctx = arg;

    return dns_provider_cleanup(ctx->dns, ch, e);
}

/* http-01 / tls-alpn-01: the answer goes into the manager's challenge table,
 * where the HTTP responder and the TLS adapters find it. */
static int solver_arm(void *arg, const char *type, const char *identifier, const char *token,
                      const char *key_auth, struct ac_error *e)
{
    struct solver_ctx *ctx = arg;
    struct challenge_table *t = ctx->req->challenges;
    bool http = strcmp(type, "http-01") == 0;
    const char *key = http ? token : identifier;
    enum storage_challenge_kind kind = http ? STORAGE_CH_HTTP01 : STORAGE_CH_ALPN01;
    int missing;

    if (http) {
        progress(ctx->req,
                 "answering http-01 for %s at /.well-known/acme-challenge/%s (the CA connects "
                 "to port 80 of %s)",
                 identifier, token, identifier);
        if (challenge_http01_add(t, token, key_auth, e) != 0)
            return -1;
    } else {
        progress(ctx->req, "answering tls-alpn-01 for %s (the CA connects to port 443 of %s)",
                 identifier, identifier);
        if (challenge_alpn_add(t, identifier, key_auth, e) != 0)
            return -1;
    }
    if (ctx->hold == NULL || !ctx->hold->shared)
        return 0;
    /* the CA may reach any node of the fleet: publish the answer, then give
     * the others up to 5 s to take it */
    if (storage_call(ctx->hold->st, challenge_put, kind, key, key_auth,
                     ac_now() + ctx->req->set->order_timeout + 60, e) != 0) {
        ac_error_prefix(e, "publishing the %s answer for the other nodes", type);
        return -1;
    }
    missing = storage_call(ctx->hold->st, challenge_wait_acks, kind, &key, 1, FLEET_ACK_WAIT_MS);
    if (missing > 0)
        progress(ctx->req, "%d node(s) did not acknowledge the %s answer within %d s", missing,
                 type, FLEET_ACK_WAIT_MS / 1000);
    return 0;
}

static void solver_disarm(void *arg, const char *type, const char *identifier, const char *token)
{
    struct solver_ctx *ctx = arg;
    struct challenge_table *t = ctx->req->challenges;

    if (strcmp(type, "http-01") == 0)
        challenge_http01_remove(t, token);
    else
        challenge_alpn_remove(t, identifier);
    if (ctx->hold != NULL && ctx->hold->shared) {
        struct ac_error e;
        bool http = strcmp(type, "http-01") == 0;

        if (storage_call(ctx->hold->st, challenge_del,
                         http ? STORAGE_CH_HTTP01 : STORAGE_CH_ALPN01, http ? token : identifier,
                         &e) != 0)
            ac_debug(ctx->req->set->name, "store: answer not withdrawn: %s", e.message);
    }
}

/* All records of the order at once: one write per name (or zone) where the
 * provider's API takes a batch. */
static int solver_present_all(void *arg, const struct dns_challenge *const *chs, size_t n,
                              bool *published, struct ac_error *e)
{
    struct solver_ctx *ctx = arg;

    if (n > 0)
        progress(ctx->req, "publishing %zu TXT record(s) at %s%s via %s", n, chs[0]->fqdn,
                 n > 1 ? " and more" : "", dns_provider_name(ctx->dns));
    return dns_provider_present_many(ctx->dns, chs, n, published, e);
}

static int solver_cleanup_all(void *arg, const struct dns_challenge *const *chs, size_t n,
                              struct ac_error *e)
{
    struct solver_ctx *ctx = arg;

    return dns_provider_cleanup_many(ctx->dns, chs, n, e);
}

/* Waits until every configured resolver sees every value; one deadline for all
 * records (the provider's propagation_timeout, never past the order's). */
static int solver_wait(void *arg, const struct dns_challenge *const *chs, size_t n,
                       int64_t deadline_ms, struct ac_error *e)
{
    struct solver_ctx *ctx = arg;
    const struct config_set *set = ctx->req->set;
    const struct dns_settings *st = dns_provider_settings(ctx->dns);
    int64_t end = ac_mono_ms() + st->propagation_timeout_ms;

    if (end > deadline_ms)
        end = deadline_ms;
    for (size_t i = 0; i < n; i++) {
        int64_t left = end - ac_mono_ms();
        if (left < 0)
            left = 0;
        if (dns_propagation_wait(chs[i]->fqdn, chs[i]->value, (const char *const *)set->resolvers,
                                 set->resolvers_count, left, st->polling_interval_ms, e) != 0)
            return -1;
    }
    progress(ctx->req, "TXT records visible on %s",
             set->resolvers_count > 0 ? "every configured resolver" : "the authoritative servers");
    return 0;
}

int issuer_account_key(const struct config_set *set, struct storage *st, struct crypto_key **out,
                       struct ac_error *e)
{
    bool created = false;

    if (fleet_shared(st)) {
        /* one account for the fleet: the store's, created once */
        if (storage_call(st, account_key_load, set->acme_key_path, out, &created, e) != 0)
            return -1;
        if (created)
            ac_info(set->name, "created a new ACME account key for the fleet (store, %s)",
                    set->acme_key_path);
        return 0;
    }
    if (store_account_key_load(set->acme_key_path, out, &created, e) != 0)
        return -1;
    if (created)
        ac_info(set->name, "created a new ACME account key at %s", set->acme_key_path);
    return 0;
}

/* The directory and account of one (CA, account key) pair: a client that
 * only ever serves as the source of acme_client_adopt. */
struct issuer_session {
    struct config_set set; /* own copy (config_set_dup) */
    struct crypto_key *account_key;
    struct acme_client *client;
};

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool issuer_session_fits(const struct issuer_session *s, const struct config_set *set,
                         const struct crypto_key *account_key)
{
    return s != NULL && s->account_key == account_key && issuer_same_account(&s->set, set);
}

bool issuer_same_account(const struct config_set *o, const struct config_set *set)
{
    if (!str_eq(o->acme_key_path, set->acme_key_path) || !str_eq(o->ca_dir_url, set->ca_dir_url) ||
        !str_eq(o->email, set->email) || !str_eq(o->eab_kid, set->eab_kid) ||
        !str_eq(o->eab_hmac, set->eab_hmac) || o->ca_certs_count != set->ca_certs_count)
        return false;
    for (size_t i = 0; i < set->ca_certs_count; i++)
        if (!str_eq(o->ca_certs[i], set->ca_certs[i]))
            return false;
    return true;
}

static int new_client(const struct issuer_request *r, struct acme_client **out, struct ac_error *e)
{
    const struct config_set *set = r->set;
    struct acme_client_opts opts = {
        .directory_url = set->ca_dir_url,
        .ca_files = (const char *const *)set->ca_certs,
        .ca_count = set->ca_certs_count,
    };

    if (acme_client_new(&opts, r->account_key, out, e) != 0)
        return -1;
    if (r->observer != NULL)
        acme_client_set_observer(*out, r->observer, r->observer_arg);
    return 0;
}

static int make_client(const struct issuer_request *r, struct acme_client **out, struct ac_error *e)
{
    const struct config_set *set = r->set;
    bool shared = issuer_session_fits(r->session, set, r->account_key);

    if (new_client(r, out, e) != 0)
        return -1;
    if (shared ? acme_client_adopt(*out, r->session->client, e) != 0
               : acme_account_ensure(*out, set->email, set->eab_kid, set->eab_hmac, e) != 0) {
        ac_error_prefix(e, "ACME account at %s", set->ca_dir_url);
        acme_client_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int issuer_session_new(const struct config_set *set, struct crypto_key *account_key,
                       struct issuer_session **out, struct ac_error *e)
{
    struct issuer_request r = {.account_key = account_key};
    struct issuer_session *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL || config_set_dup(&s->set, set) != 0) {
        free(s);
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (config_set_dup_register(&s->set) != 0) { /* it may outlive the configuration */
        config_set_dup_free(&s->set);
        free(s);
        ac_error_set(e, AC_ERR_NOMEM, "out of memory");
        return -1;
    }
    r.set = &s->set;
    s->account_key = account_key;
    if (make_client(&r, &s->client, e) != 0) {
        config_set_dup_free(&s->set);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void issuer_session_free(struct issuer_session *s)
{
    if (s == NULL)
        return;
    acme_client_free(s->client);
    config_set_dup_free(&s->set);
    free(s);
}

static int pseudo_obtain(const struct issuer_request *r)
{
    const struct config_set *set = r->set;

    progress(r, "pseudo provider: would create an account for %s at %s",
             set->email ? set->email : "(no email)", set->ca_dir_url);
    for (size_t i = 0; i < set->domains_count; i++)
        progress(r, "pseudo provider: would solve dns-01 for %s", set->domains[i]);
    progress(r, "pseudo provider: would write %s and %s; nothing was issued", set->cert_path,
             set->key_path);
    return 0;
}

/* Canonical text of an identifier for comparison: IP literals as inet_ntop
 * writes them, names as given (schedule_names_differ ignores case and one
 * trailing dot). */
static void id_canonical(const char *id, char *out, size_t n)
{
    unsigned char ip[16];

    if (inet_pton(AF_INET, id, ip) == 1 && inet_ntop(AF_INET, ip, out, (socklen_t)n) != NULL)
        return;
    if (inet_pton(AF_INET6, id, ip) == 1 && inet_ntop(AF_INET6, ip, out, (socklen_t)n) != NULL)
        return;
    snprintf(out, n, "%s", id);
}

#define LEAF_MAX_SANS (ISSUER_MAX_IDS + 8)

/* The DNS and IP SANs of crt as canonical text into names[] (each
 * ISSUER_NAME_MAX bytes). Returns the count, or -1 when there are more than
 * LEAF_MAX_SANS. */
static int leaf_sans(gnutls_x509_crt_t crt, char (*names)[ISSUER_NAME_MAX])
{
    int count = 0;

    for (unsigned i = 0; i < 4096; i++) {
        char buf[ISSUER_NAME_MAX];
        size_t len = sizeof buf - 1;
        unsigned int critical;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, &critical);

        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (type == GNUTLS_SAN_DNSNAME) {
            if (count >= LEAF_MAX_SANS)
                return -1;
            buf[len < sizeof buf ? len : sizeof buf - 1] = '\0';
            snprintf(names[count++], ISSUER_NAME_MAX, "%s", buf);
        } else if (type == GNUTLS_SAN_IPADDRESS && (len == 4 || len == 16)) {
            if (count >= LEAF_MAX_SANS)
                return -1;
            inet_ntop(len == 4 ? AF_INET : AF_INET6, buf, names[count++], ISSUER_NAME_MAX);
        } else if (type == GNUTLS_E_SHORT_MEMORY_BUFFER) {
            if (count >= LEAF_MAX_SANS)
                return -1;
            snprintf(names[count++], ISSUER_NAME_MAX, "(a SAN over %d bytes)", ISSUER_NAME_MAX - 1);
        }
    }
    return count;
}

/* Appends up to a few names of `a` missing from `b` to out. */
static void list_missing(const char *const *a, size_t na, const char *const *b, size_t nb,
                         char *out, size_t n)
{
    size_t o = strlen(out), shown = 0;

    for (size_t i = 0; i < na && o + 1 < n; i++) {
        const char *one[1] = {a[i]};
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++) {
            const char *other[1] = {b[j]};
            found = !schedule_names_differ(one, 1, other, 1);
        }
        if (found)
            continue;
        if (shown++ == 3) {
            snprintf(out + o, n - o, ", ...");
            return;
        }
        int w = snprintf(out + o, n - o, "%s%.100s", o > 0 && out[o - 1] != ' ' ? ", " : "", a[i]);
        if (w < 0)
            return;
        o += (size_t)w < n - o ? (size_t)w : n - o - 1;
    }
}

int issuer_check_leaf(gnutls_x509_crt_t leaf, const struct crypto_key *key, const char *const *ids,
                      size_t n_ids, int64_t now, struct ac_error *e)
{
    char tsans[LEAF_MAX_SANS][ISSUER_NAME_MAX];
    char want[ISSUER_MAX_IDS][ISSUER_NAME_MAX];
    const char *wp[ISSUER_MAX_IDS], *hp[LEAF_MAX_SANS];
    char when[32], detail[512] = "";
    int64_t nb = gnutls_x509_crt_get_activation_time(leaf);
    int64_t na = gnutls_x509_crt_get_expiration_time(leaf);
    int nh;

    if (key != NULL && !crypto_key_matches_cert(key, leaf)) {
        ac_error_set(e, AC_ERR_CA_BAD_CERT,
                     "certificate from the CA: its public key is not the CSR's key");
        return -1;
    }
    if (nb == (int64_t)-1 || na == (int64_t)-1 || na <= nb) {
        ac_error_set(e, AC_ERR_CA_BAD_CERT, "certificate from the CA: unusable validity period");
        return -1;
    }
    if (nb > now + ISSUER_CLOCK_SKEW_S) {
        ac_time_format_rfc3339(nb, when, sizeof when);
        ac_error_set(e, AC_ERR_CA_BAD_CERT,
                     "certificate from the CA is not valid yet (notBefore %s; %d s of clock skew "
                     "allowed; is the host clock right?)",
                     when, ISSUER_CLOCK_SKEW_S);
        return -1;
    }
    if (na <= now) {
        ac_time_format_rfc3339(na, when, sizeof when);
        ac_error_set(e, AC_ERR_CA_BAD_CERT,
                     "certificate from the CA has already expired (notAfter %s; is the host "
                     "clock right?)",
                     when);
        return -1;
    }
    if (n_ids > ISSUER_MAX_IDS) {
        ac_error_set(e, AC_ERR_INTERNAL, "certificate check: more than %d identifiers",
                     ISSUER_MAX_IDS);
        return -1;
    }
    nh = leaf_sans(leaf, tsans);
    if (nh < 0) {
        ac_error_set(e, AC_ERR_CA_BAD_CERT,
                     "certificate from the CA has more than %d names; %zu were ordered",
                     LEAF_MAX_SANS, n_ids);
        return -1;
    }
    for (size_t i = 0; i < n_ids; i++) {
        id_canonical(ids[i], want[i], sizeof want[i]);
        wp[i] = want[i];
    }
    for (int i = 0; i < nh; i++)
        hp[i] = tsans[i];
    if (schedule_names_differ(wp, n_ids, hp, (size_t)nh)) {
        list_missing(hp, (size_t)nh, wp, n_ids, detail, sizeof detail);
        if (detail[0] != '\0') {
            size_t o = strlen(detail);
            snprintf(detail + o, sizeof detail - o, " not ordered");
        }
        size_t o = strlen(detail);
        char miss[256] = "";
        list_missing(wp, n_ids, hp, (size_t)nh, miss, sizeof miss);
        if (miss[0] != '\0')
            snprintf(detail + o, sizeof detail - o, "%s%s missing", o > 0 ? "; " : "", miss);
        ac_error_set(e, AC_ERR_CA_BAD_CERT,
                     "certificate from the CA does not name exactly the ordered identifiers: %s",
                     detail);
        return -1;
    }
    return 0;
}

/* Order, finalize, download with a fresh certificate key; commit the pair. */
static int run_order(const struct issuer_request *r, struct acme_client *client,
                     struct solver_ctx *ctx, struct issuer_result *res, struct ac_error *e)
{
    const struct config_set *set = r->set;
    struct crypto_key *cert_key = NULL;
    unsigned char *csr = NULL;
    size_t csr_len = 0, chain_len = 0, key_len = 0;
    char *chain = NULL, *key_pem = NULL;
    struct crypto_chain *parsed = NULL;
    struct crypto_cert_info info = {0};
    struct dns_provider *dns = ctx->dns;
    struct acme_solver solver = {
        .arg = ctx,
        .present = dns ? solver_present : NULL,
        .cleanup = dns ? solver_cleanup : NULL,
        .wait = dns ? solver_wait : NULL,
        .progress = solver_progress,
        .present_all = dns ? solver_present_all : NULL,
        .cleanup_all = dns ? solver_cleanup_all : NULL,
        .arm = solver_arm,
        .disarm = solver_disarm,
    };
    struct acme_order_params params = {
        .identifiers = (const char *const *)set->domains,
        .count = set->domains_count,
        .profile = set->profile,
        .replaces = r->replaces,
        .challenge = set->challenge,
        .preferred_chain = set->preferred_chain,
        .timeout_ms = set->order_timeout * 1000,
    };
    int rc = -1;

    if (crypto_key_generate(set->key_type, &cert_key, e) != 0 ||
        crypto_csr_create(cert_key, (const char *const *)set->domains, set->domains_count, &csr,
                          &csr_len, e) != 0)
        goto out;
    params.csr_der = csr;
    params.csr_len = csr_len;
    if (acme_order_obtain(client, &params, &solver, &chain, &chain_len, e) != 0)
        goto out;
    if (crypto_chain_parse_pem(chain, chain_len, &parsed, e) != 0) {
        if (e != NULL)
            snprintf(e->kind, sizeof e->kind, "%s", AC_ERR_CA_BAD_CERT);
        ac_error_prefix(e, "certificate from the CA");
        goto out;
    }
    if (issuer_check_leaf(parsed->crts[0], cert_key, (const char *const *)set->domains,
                          set->domains_count, ac_now(), e) != 0)
        goto out;
    if (crypto_cert_info_get(parsed->crts[0], &info, e) != 0 ||
        crypto_key_export_pkcs8_pem(cert_key, &key_pem, &key_len, e) != 0)
        goto out;
    if (fleet_commit(ctx->hold, set, chain, chain_len, key_pem, key_len, info.not_after, e) != 0)
        goto out;
    res->not_before = info.not_before;
    res->not_after = info.not_after;
    snprintf(res->serial_hex, sizeof res->serial_hex, "%s", info.serial_hex);
    res->issued = true;
    if (r->want_cert) {
        struct ac_error ce;

        /* takes cert_key, also on failure */
        if (cert_new(set->name, 0, parsed, cert_key, &res->cert, &ce) != 0) {
            res->cert = NULL;
            ac_debug(set->name, "new certificate not kept in memory: %s", ce.message);
        }
        cert_key = NULL;
    }
    rc = 0;
out:
    crypto_cert_info_free(&info);
    crypto_chain_free(parsed);
    if (key_pem != NULL)
        gnutls_free(key_pem);
    free(chain);
    free(csr);
    crypto_key_free(cert_key);
    return rc;
}

static int obtain(const struct issuer_request *r, struct solver_ctx *ctx, struct issuer_result *res,
                  struct ac_error *e)
{
    const struct config_set *set = r->set;
    struct fleet_hold hold;
    struct acme_client *client = NULL;
    char expiry[32];
    int rc = -1;

    if (strcmp(set->provider, CONFIG_PROVIDER_LOCAL) == 0) {
        ac_error_set(e, AC_ERR_CONFIG,
                     "%s uses the local provider: it loads existing files and never issues",
                     set->name);
        return -1;
    }
    if (strcmp(set->provider, CONFIG_PROVIDER_PSEUDO) == 0)
        return pseudo_obtain(r);

    if (fleet_acquire(&hold, r->store, set, r->lease_ttl_s, e) != 0)
        return -1;
    ctx->hold = &hold;
    if (!r->forced) {
        int a = fleet_adopt(&hold, set, r->have_not_after, &res->not_after, res->serial_hex,
                            sizeof res->serial_hex, e);

        if (a < 0)
            goto out;
        if (a > 0) {
            res->issued = true;
            res->adopted = true;
            progress(r, "the stored certificate (serial %s) was renewed by another node: taken",
                     res->serial_hex);
            fleet_marker_clear(&hold, set);
            rc = 0;
            goto out;
        }
    }
    if (fleet_marker_put(&hold, set, ac_now(), e) != 0)
        goto out;
    if (strcmp(set->provider, CONFIG_PROVIDER_ACME) == 0 && r->challenges == NULL) {
        ac_error_set(e, AC_ERR_INTERNAL,
                     "%s uses provider acme (%s) but nothing answers its challenges here",
                     set->name, set->challenge != NULL ? set->challenge : "no challenge");
        goto out;
    }
    if (strcmp(set->provider, CONFIG_PROVIDER_CUSTOM) != 0 &&
        strcmp(set->provider, CONFIG_PROVIDER_ACME) != 0 &&
        dns_provider_new_resolvers(set->provider, set->options, set->options_count,
                                   (const char *const *)set->resolvers, set->resolvers_count,
                                   &ctx->dns, e) != 0) {
        ac_error_prefix(e, "DNS provider %s", set->provider);
        goto out;
    }
    progress(r, "obtaining a certificate for %zu name(s) from %s", set->domains_count,
             set->ca_dir_url);
    if (make_client(r, &client, e) != 0 || run_order(r, client, ctx, res, e) != 0)
        goto out;
    fleet_marker_clear(&hold, set);
    ac_time_format_rfc3339(res->not_after, expiry, sizeof expiry);
    progress(r, "certificate obtained (serial %s, valid until %s), written to %s", res->serial_hex,
             expiry, set->cert_path);
    rc = 0;
out:
    acme_client_free(client);
    dns_provider_free(ctx->dns);
    ctx->dns = NULL;
    ctx->hold = NULL;
    fleet_release(&hold);
    return rc;
}

/* After a failure with the request's token set, the error says "cancelled"
 * whatever layer noticed it (a provider may have wrapped it in its own kind). */
static void cancel_kind(const struct issuer_request *r, struct ac_error *e)
{
    if (e == NULL || !ac_cancelled(r->cancel) || ac_error_is(e, AC_ERR_CANCELLED))
        return;
    snprintf(e->kind, sizeof e->kind, "%s", AC_ERR_CANCELLED);
    e->retry_after = -1;
}

int issuer_obtain(const struct issuer_request *r, struct issuer_result *res, struct ac_error *e)
{
    struct solver_ctx ctx = {.req = r};
    struct issuer_result local_res;
    struct ac_cancel_scope saved;
    int rc;

    if (res == NULL)
        res = &local_res;
    memset(res, 0, sizeof *res);
    ac_cancel_enter(r->cancel, 0, &saved);
    rc = obtain(r, &ctx, res, e);
    ac_cancel_leave(&saved);
    if (rc != 0)
        cancel_kind(r, e);
    return rc;
}

int issuer_revoke(const struct issuer_request *r, int reason, struct ac_error *e)
{
    const struct config_set *set = r->set;
    struct acme_client *client = NULL;
    struct crypto_chain *chain = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0, len = 0;
    char *pem = NULL;
    struct ac_cancel_scope saved;
    int rc = -1;

    if (!config_set_is_managed(set)) {
        ac_error_set(e, AC_ERR_CONFIG, "%s uses the %s provider: it has no CA to revoke at",
                     set->name, set->provider);
        return -1;
    }
    if (store_read_file(set->cert_path, CHAIN_MAX_BYTES, &pem, &len, e) != 0 ||
        crypto_chain_parse_pem(pem, len, &chain, e) != 0 ||
        crypto_cert_der(chain->crts[0], &der, &der_len, e) != 0)
        goto out;
    ac_cancel_enter(r->cancel, 0, &saved);
    if (make_client(r, &client, e) != 0 || acme_revoke(client, der, der_len, reason, e) != 0) {
        ac_cancel_leave(&saved);
        cancel_kind(r, e);
        goto out;
    }
    ac_cancel_leave(&saved);
    progress(r, "certificate in %s revoked", set->cert_path);
    rc = 0;
out:
    acme_client_free(client);
    if (der != NULL)
        gnutls_free(der);
    crypto_chain_free(chain);
    free(pem);
    return rc;
}
