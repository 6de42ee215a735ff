/*
 * api_manager.c - the public manager functions of autocert.h that go beyond
 * loading and lookups (manager.c): creation from a configuration, reload of
 * the configuration, the selector, the renewal engine and the one-off
 * operations, status copies and events. Thin wrappers over manager.h and
 * lifecycle.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer_fleet.h"
#include "api.h"
#include "cert.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "manager.h"
#include "manager_runtime.h"
#include "set.h"
#include "timeutil.h"

int autocert_manager_new_config(autocert_config *c, autocert_manager **out, autocert_error *err)
{
    char msg[AUTOCERT_ERROR_MESSAGE_MAX];

    *out = NULL;
    if (autocert_init() != 0) {
        autocert_config_free(c);
        api_error_set(err, AC_ERR_INTERNAL, "cannot initialise libcurl or GnuTLS");
        return -1;
    }
    if (autocert_manager_new_from_config(api_config(c), out, msg, sizeof msg) != 0) {
        api_error_set(err, AC_ERR_CONFIG, msg);
        return -1;
    }
    api_error_clear(err);
    return 0;
}

int autocert_manager_open(const char *config_path, autocert_diag_fn fn, void *arg,
                          autocert_manager **out, autocert_error *err)
{
    autocert_config *c = NULL;

    *out = NULL;
    if (autocert_config_load(config_path, fn, arg, &c, err) != 0)
        return -1;
    return autocert_manager_new_config(c, out, err);
}

const autocert_config *autocert_manager_config(const autocert_manager *m)
{
    return (const autocert_config *)(const void *)manager_config(m);
}

int autocert_manager_reload_config(autocert_manager *m, const char *path, autocert_diag_fn fn,
                                   void *arg, autocert_error *err)
{
    struct config *cur = manager_config_ref(m), *c = NULL;
    struct ac_error e;
    int rc = -1;

    ac_error_clear(&e);
    if (path == NULL)
        path = cur->path;
    if (config_source_unchanged(cur, path)) {
        /* the same file and environment: the same configuration (a reload
         * that only re-reads the sets' files need not parse 100,000 sets) */
        ac_info(NULL, "configuration file unchanged: kept as loaded");
        api_error_clear(err);
        rc = 0;
        goto out;
    }
    if (api_config_load(path, fn, arg, &c, err) != 0) {
        ac_err(NULL, "configuration reload refused: %s; the running configuration stays",
               err != NULL ? err->message : path);
        goto out;
    }
    if (manager_apply_config(m, c, &e) != 0) {
        api_error_from(err, &e);
        goto out;
    }
    api_error_clear(err);
    rc = 0;
out:
    config_free(cur);
    return rc;
}

int autocert_manager_find(autocert_manager *m, const char *selector, size_t *idx,
                          autocert_error *err)
{
    struct ac_error e;

    ac_error_clear(&e);
    if (manager_find(m, selector, idx, &e) != 0) {
        api_error_from(err, &e);
        return -1;
    }
    api_error_clear(err);
    return 0;
}

/* ---- run-time sets ---------------------------------------------------------------- */

int autocert_manager_add_set(autocert_manager *m, const char *name, const char *yaml,
                             autocert_diag_fn fn, void *arg, autocert_error *err)
{
    struct config_diags d = {0};
    struct ac_error e;
    int rc;

    ac_error_clear(&e);
    if (m == NULL || yaml == NULL) {
        api_error_set(err, AUTOCERT_E_CONFIG, "add_set: no manager or no YAML given");
        return -1;
    }
    rc = manager_add_set(m, name, yaml, strlen(yaml), &d, &e);
    api_diags_report(&d, fn, arg);
    config_diags_free(&d);
    if (rc != 0) {
        api_error_from(err, &e);
        return -1;
    }
    api_error_clear(err);
    return 0;
}

int autocert_manager_remove_set(autocert_manager *m, const char *name, autocert_error *err)
{
    struct ac_error e;

    ac_error_clear(&e);
    if (m == NULL || manager_remove_set(m, name, &e) != 0) {
        if (m == NULL)
            ac_error_set(&e, AC_ERR_CONFIG, "remove_set: no manager given");
        api_error_from(err, &e);
        return -1;
    }
    api_error_clear(err);
    return 0;
}

/* ---- the engine ---------------------------------------------------------------- */

int autocert_manager_start(autocert_manager *m, autocert_error *err)
{
    struct ac_error e;

    ac_error_clear(&e);
    if (lifecycle_start(manager_engine(m), &e) != 0 || manager_ocsp_start(m, &e) != 0) {
        api_error_from(err, &e);
        return -1;
    }
    api_error_clear(err);
    return 0;
}

void autocert_manager_stop(autocert_manager *m)
{
    if (m != NULL) {
        lifecycle_stop(manager_engine(m), true);
        manager_ocsp_stop(m);
    }
}

/* A one-off operation: the host's progress callbacks, and the first failure. */
struct op {
    const autocert_progress *p;
    struct lifecycle_result *res;
    size_t n;
};

static void op_note(void *arg, const char *set, const char *message)
{
    struct op *o = arg;

    if (o->p != NULL && o->p->note != NULL)
        o->p->note(o->p->arg, set, message);
}

/* Reports every result with a name through p->result; the first failure
 * into err. Returns 0 when all succeeded. */
static int op_results(struct op *o, autocert_error *err)
{
    autocert_error one;
    int rc = 0;

    api_error_clear(err);
    for (size_t i = 0; i < o->n; i++) {
        struct lifecycle_result *r = &o->res[i];
        if (r->name[0] == '\0')
            continue;
        if (!r->ok) {
            api_error_from(&one, &r->error);
            if (rc == 0)
                api_error_from(err, &r->error);
            rc = -1;
        }
        if (o->p != NULL && o->p->result != NULL)
            o->p->result(o->p->arg, r->name, r->ok ? NULL : &one);
    }
    return rc;
}

/* selected[] (count entries) for the selectors; -1 with err when one selects
 * nothing. */
static int select_sets(autocert_manager *m, const char *const *selectors, size_t n, bool *selected,
                       size_t count, autocert_error *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t idx;

        if (autocert_manager_find(m, selectors[i], &idx, err) != 0)
            return -1;
        if (idx < count)
            selected[idx] = true;
    }
    return 0;
}

int autocert_manager_obtain(autocert_manager *m, const char *const *selectors, size_t n,
                            unsigned flags, const autocert_progress *p, autocert_error *err)
{
    struct op o = {p, NULL, 0};
    bool *selected = NULL;
    int rc = -1;

    o.n = manager_set_count(m);
    o.res = calloc(o.n + 1, sizeof *o.res);
    selected = calloc(o.n + 1, sizeof *selected);
    if (o.res == NULL || selected == NULL) {
        api_error_set(err, AUTOCERT_E_NOMEM, "out of memory");
        goto out;
    }
    if (select_sets(m, selectors, n, selected, o.n, err) != 0)
        goto out;
    for (size_t i = 0; i < o.n && n > 0; i++) {
        struct acset *s = selected[i] ? manager_set_at(m, i) : NULL;
        bool bad = s != NULL && !s->managed;

        if (bad) {
            char msg[512];
            snprintf(msg, sizeof msg,
                     "%s uses the %s provider: autocert does not obtain its "
                     "certificate",
                     s->cfg.name, s->cfg.provider);
            api_error_set(err, AUTOCERT_E_CONFIG, msg);
        }
        acset_unref(s);
        if (bad)
            goto out;
    }
    lifecycle_obtain(manager_engine(m), n > 0 ? selected : NULL,
                     (flags & AUTOCERT_OBTAIN_FORCE) != 0, op_note, &o, o.res);
    rc = op_results(&o, err);
out:
    free(o.res);
    free(selected);
    return rc;
}

int autocert_manager_renew(autocert_manager *m, const char *selector, const autocert_progress *p,
                           autocert_error *err)
{
    struct op o = {p, NULL, 0};
    bool *selected = NULL;
    int rc = -1;

    o.n = manager_set_count(m);
    o.res = calloc(o.n + 1, sizeof *o.res);
    selected = calloc(o.n + 1, sizeof *selected);
    if (o.res == NULL || selected == NULL) {
        api_error_set(err, AUTOCERT_E_NOMEM, "out of memory");
        goto out;
    }
    if (selector != NULL && select_sets(m, &selector, 1, selected, o.n, err) != 0)
        goto out;
    lifecycle_force_renew(manager_engine(m), selector != NULL ? selected : NULL, op_note, &o,
                          o.res);
    rc = op_results(&o, err);
out:
    free(o.res);
    free(selected);
    return rc;
}

int autocert_manager_revoke(autocert_manager *m, const char *selector, int reason,
                            const autocert_progress *p, autocert_error *err)
{
    struct op o = {p, NULL, 0};
    struct lifecycle_result res;
    size_t idx;
    const char *name;

    if (autocert_manager_find(m, selector, &idx, err) != 0)
        return -1;
    memset(&res, 0, sizeof res);
    name = manager_set_name(m, idx);
    snprintf(res.name, sizeof res.name, "%s", name != NULL ? name : "?");
    res.ok = lifecycle_revoke(manager_engine(m), idx, reason, op_note, &o, &res.error) == 0;
    o.res = &res;
    o.n = 1;
    return op_results(&o, err);
}

/* ---- status and events ------------------------------------------------------------ */

static char **dup_strings(char *const *v, size_t n)
{
    char **out = calloc(n + 1, sizeof *out);

    for (size_t i = 0; out != NULL && i < n; i++)
        if ((out[i] = strdup(v[i])) == NULL) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

int autocert_manager_status(autocert_manager *m, size_t idx, autocert_status *out)
{
    struct acset *s = manager_set_at(m, idx);
    int rc = s != NULL ? api_status_of(m, s, out) : -1;

    acset_unref(s);
    return rc;
}

/* The OCSP staple of the certificate s serves now. */
static void api_status_ocsp(autocert_manager *m, struct acset *s, autocert_status *out)
{
    autocert_cert *c = manager_acset_cert(m, s);
    struct cert_staple_view v;

    if (c == NULL)
        return;
    cert_staple_state(c, ac_now(), &v);
    COPY(out->ocsp_state, v.state);
    out->ocsp_this_update = v.this_update;
    out->ocsp_next_update = v.next_update;
    COPY(out->ocsp_error, v.error);
    autocert_cert_release(c);
}

/* The lease holder of s in a shared store (from the store's cache). */
static void api_status_lease(autocert_manager *m, struct acset *s, autocert_status *out)
{
    struct storage *st = manager_store(m);
    struct storage_ref ref;
    struct ac_error e;

    if (!fleet_shared(st))
        return;
    storage_ref_init(&ref, s->cfg.name, s->cfg.cert_path, s->cfg.key_path,
                     (const char *const *)s->cfg.domains, s->cfg.domains_count);
    if (storage_call(st, lease_holder, &ref, out->lease_holder, sizeof out->lease_holder, &e) !=
        0)
        out->lease_holder[0] = '\0';
}

int api_status_of(autocert_manager *m, struct acset *s, autocert_status *out)
{
    struct lifecycle_status st;

    if (out == NULL || s == NULL)
        return -1;
    memset(out, 0, sizeof *out);
    lifecycle_acset_status(manager_engine(m), s, &st);
    COPY(out->name, st.name);
    COPY(out->provider, st.provider);
    out->state = (enum autocert_state)st.state;
    out->domains = dup_strings(s->cfg.domains, s->cfg.domains_count);
    out->domain_count = out->domains != NULL ? s->cfg.domains_count : 0;
    out->has_cert = st.has_cert;
    COPY(out->subject, st.subject);
    COPY(out->issuer, st.issuer);
    out->not_before = st.not_before;
    out->not_after = st.not_after;
    COPY(out->serial, st.serial_hex);
    COPY(out->key_type, st.key_type);
    out->dns_names = st.dns_names; /* taken over */
    out->dns_count = st.dns_count;
    out->email_addresses = st.email_addresses;
    out->email_count = st.email_count;
    COPY(out->cert_path, s->cfg.cert_path);
    out->renews_at = st.renews_at;
    out->next_attempt = st.next_attempt;
    out->failures = st.failures;
    if (st.has_last_error)
        api_error_from(&out->last_error, &st.last_error);
    else
        api_error_clear(&out->last_error);
    out->last_error_at = st.has_last_error ? st.last_error_at : 0;
    out->last_success = st.last_success;
    api_status_ocsp(m, s, out);
    COPY(out->waiting, st.waiting);
    out->waiting_until = st.waiting_until;
    api_status_lease(m, s, out);
    return 0;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

void autocert_status_clear(autocert_status *st)
{
    if (st == NULL)
        return;
    free_strings(st->domains, st->domain_count);
    free_strings(st->dns_names, st->dns_count);
    free_strings(st->email_addresses, st->email_count);
    st->domains = st->dns_names = st->email_addresses = NULL;
    st->domain_count = st->dns_count = st->email_count = 0;
}

void autocert_manager_on_event(autocert_manager *m, void (*fn)(void *arg, const autocert_event *ev),
                               void *arg)
{
    lifecycle_on_event(manager_engine(m), fn, arg);
}

int autocert_manager_changed_fd(autocert_manager *m)
{
    return lifecycle_changed_fd(manager_engine(m));
}

uint64_t autocert_manager_changed_ack(autocert_manager *m)
{
    return lifecycle_changed_ack(manager_engine(m));
}
