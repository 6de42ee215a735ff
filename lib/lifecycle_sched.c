/*
 * lifecycle_sched.c - the engine's one timer structure and the admission of
 * due orders (lifecycle_priv.h, struct lc_sched): a min-heap of the sets'
 * next moments, and per CA account a heap of the orders that are due, in
 * order of NotAfter, started while worker slots are free and the account's
 * budget (budget.h) allows.
 *
 *   timer heap (next moment)      account wait heap (NotAfter)
 *   pop when due --plan--> order due? ---------> head: budget ready? slot free?
 *        ^                   | ARI / forced: start        | yes: charge, start
 *        +---- arm ----------+ otherwise                  | held by its domain:
 *        +------------------------------------------------+ back to the timers
 *
 * Pure data and callbacks: no thread, no clock, no lock of its own (the
 * engine holds its mutex; the unit tests drive it with an injected clock).
 */
#include <stdlib.h>
#include <string.h>

#include "issuer_fleet.h"
#include "lifecycle_priv.h"
#include "log.h"
#include "schedule.h"
#include "store.h"

static bool ari_pending(const struct lc_set *r, const struct lc_cert_facts *cf)
{
    return r->ari_fetch_at != 0 && r->ari_support != 0 && cf->present;
}

/* Charges an order of s to account a, and remembers the charge until the
 * state is next written: with a shared store the charges are applied again
 * on the stored state, inside the store's lock, so that charges of several
 * nodes add up (a merge of two buckets could not tell one token taken on
 * each node from one taken on both). */
static void acct_charge(struct lc_ca_account *a, const struct acset *s, bool new_names, int64_t now)
{
    struct lc_charge *c;

    if (budget_charge(a->b, (const char *const *)s->cfg.domains, s->cfg.domains_count, new_names,
                      now) != 0)
        ac_warn(s->cfg.name, "engine: out of memory; order not counted in the budget");
    a->dirty = true;
    if (a->state_path == NULL)
        return; /* never written: nothing to apply again */
    c = realloc(a->pend, (a->npend + 1) * sizeof *c);
    if (c == NULL)
        return;
    a->pend = c;
    c = &a->pend[a->npend];
    c->now = now;
    c->new_names = new_names;
    c->n = s->cfg.domains_count;
    c->names = calloc(c->n + 1, sizeof *c->names);
    if (c->names == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        if ((c->names[i] = strdup(s->cfg.domains[i])) == NULL) {
            for (size_t k = 0; k < i; k++)
                free(c->names[k]);
            free(c->names);
            return;
        }
    a->npend++;
}

/* Forgets the first n remembered charges of a. */
static void acct_pend_drop(struct lc_ca_account *a, size_t n)
{
    for (size_t i = 0; i < n && i < a->npend; i++) {
        for (size_t k = 0; k < a->pend[i].n; k++)
            free(a->pend[i].names[k]);
        free(a->pend[i].names);
    }
    if (n >= a->npend) {
        free(a->pend);
        a->pend = NULL;
        a->npend = 0;
        return;
    }
    memmove(a->pend, a->pend + n, (a->npend - n) * sizeof *a->pend);
    a->npend -= n;
}

struct lc_ca_account *lc_sched_account(struct lc_sched *q, const char *id,
                                       const struct budget_limits *lim, const char *state_path)
{
    struct lc_ca_account *a = NULL, **v;
    struct ac_error e;

    for (size_t i = 0; i < q->nacct; i++)
        if (strcmp(q->acct[i]->id, id) == 0) {
            budget_set_limits(q->acct[i]->b, lim);
            return q->acct[i];
        }
    v = realloc(q->acct, (q->nacct + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    q->acct = v;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->id = strdup(id);
    a->state_path = state_path != NULL ? strdup(state_path) : NULL;
    a->b = budget_new(id, lim);
    if (a->id == NULL || a->b == NULL || (state_path != NULL && a->state_path == NULL)) {
        budget_free(a->b);
        free(a->id);
        free(a->state_path);
        free(a);
        return NULL;
    }
    if (a->state_path != NULL) {
        ac_error_clear(&e);
        if (budget_load(a->b, a->state_path, &e) != 0)
            ac_warn(NULL, "renewal budget state ignored: %s", e.message);
        a->loaded = true;
    }
    q->acct[q->nacct++] = a;
    return a;
}

void lc_sched_forget(struct lc_sched *q, struct acset *s)
{
    struct lc_set *r = &s->rec;

    dueheap_remove(&q->timers, &r->timer_slot);
    if (r->wait_slot != 0 && r->acct != NULL)
        dueheap_remove(&r->acct->wait, &r->wait_slot);
    r->wait_slot = 0;
}

void lc_sched_arm(struct lc_sched *q, struct acset *s, const struct lc_cert_facts *cf, int64_t now)
{
    struct lc_set *r = &s->rec;
    int64_t wake = INT64_MAX, at, soon;

    if (!s->managed || s->removed) {
        lc_sched_forget(q, s);
        return;
    }
    if (r->running || s->queued) {
        dueheap_remove(&q->timers, &r->timer_slot);
        return;
    }
    if (r->wait_slot != 0) {
        /* waiting for its account: look again at its "expiring soon" point */
        if (r->wait_expiring_at > now)
            wake = r->wait_expiring_at;
    } else {
        at = r->next_attempt;
        if (r->budget_at > at)
            at = r->budget_at;
        wake = r->force_pending ? now : at;
        if (cf->present) {
            soon = schedule_expiring_at(cf->not_before, cf->not_after);
            if (r->expiring_notified != cf->not_after && soon < wake)
                wake = soon;
            if (r->budget_at != 0 && soon > now && soon < wake)
                wake = soon; /* a budget hold ends at the "expiring soon" point */
        }
        if (ari_pending(r, cf) && r->ari_fetch_at < wake)
            wake = r->ari_fetch_at;
    }
    if (wake == INT64_MAX) {
        dueheap_remove(&q->timers, &r->timer_slot);
        return;
    }
    if (dueheap_set(&q->timers, s, &r->timer_slot, wake) != 0)
        ac_err(s->cfg.name, "engine: out of memory; renewal timer not set");
}

/* s's order is due: into its account's line (or started when it has no
 * account: memory ran out). */
static void wait_put(struct lc_sched *q, const struct lc_sched_ops *ops, struct acset *s,
                     const struct lc_cert_facts *cf, int64_t now)
{
    struct lc_set *r = &s->rec;
    int64_t key = cf->present ? cf->not_after : 0;

    if (r->acct == NULL) {
        ops->start(ops->arg, s);
        return;
    }
    r->wait_new_names = !(cf->present && !cf->names_differ);
    r->wait_expiring_at = cf->present ? schedule_expiring_at(cf->not_before, cf->not_after) : 0;
    if (r->wait_expiring_at != 0 && now >= r->wait_expiring_at)
        key = INT64_MIN; /* passes the budget: first in line */
    if (dueheap_set(&r->acct->wait, s, &r->wait_slot, key) != 0) {
        ops->start(ops->arg, s);
        return;
    }
    lc_sched_arm(q, s, cf, now);
}

/* A timer of s came at now. */
static void timer_due(struct lc_sched *q, const struct lc_sched_ops *ops, struct acset *s,
                      int64_t now)
{
    struct lc_set *r = &s->rec;
    struct lc_cert_facts cf;

    if (s->removed || !s->managed) {
        lc_sched_forget(q, s);
        return;
    }
    if (r->running || s->queued)
        return; /* re-armed when its turn ends */
    ops->facts(ops->arg, s, &cf);
    lc_plan_update(r, &s->cfg, &cf, now);
    if (cf.present && r->expiring_notified != cf.not_after &&
        now >= schedule_expiring_at(cf.not_before, cf.not_after)) {
        r->expiring_notified = cf.not_after;
        ops->expiring(ops->arg, s, &cf);
    }
    if (r->wait_slot != 0) {
        /* its "expiring soon" point came while it waited: first in line,
         * past the budget */
        if (r->wait_expiring_at != 0 && now >= r->wait_expiring_at)
            (void)dueheap_set(&r->acct->wait, s, &r->wait_slot, INT64_MIN);
        lc_sched_arm(q, s, &cf, now);
        return;
    }
    if (r->force_pending) {
        r->budget_at = 0;
        ops->start(ops->arg, s);
        return;
    }
    if (r->next_attempt <= now &&
        (r->budget_at == 0 || r->budget_at <= now ||
         (cf.present && now >= schedule_expiring_at(cf.not_before, cf.not_after)))) {
        r->budget_at = 0;
        wait_put(q, ops, s, &cf, now);
        return;
    }
    if (ari_pending(r, &cf) && r->ari_fetch_at <= now) {
        ops->start(ops->arg, s);
        return;
    }
    lc_sched_arm(q, s, &cf, now);
}

/* Starts the orders waiting for account a while slots and its budget allow.
 * Returns the moment its budget frees the head (0 when nothing waits for
 * the budget). */
static int64_t admit(struct lc_sched *q, const struct lc_sched_ops *ops, struct lc_ca_account *a,
                     int64_t now, size_t *free_slots)
{
    /* with a shared store, what the fleet spent is not known before the
     * account's first merge: only orders past the budget start until then */
    bool hold = q->hold_unsynced && !a->synced && a->state_path != NULL && budget_active(a->b);

    while (a->wait.n > 0) {
        struct acset *s = dueheap_top(&a->wait)->item;
        struct lc_set *r = &s->rec;
        const char *const *names = (const char *const *)s->cfg.domains;
        bool bypass = r->wait_expiring_at != 0 && now >= r->wait_expiring_at;

        if (hold && !bypass)
            return 0; /* the line's head: the others are not past it either */

        if (!bypass && budget_active(a->b)) {
            int64_t ready =
                budget_ready_at(a->b, names, s->cfg.domains_count, r->wait_new_names, now);
            if (ready > now) {
                int64_t orders = budget_ready_at(a->b, NULL, 0, false, now);
                struct lc_cert_facts cf;

                if (orders > now)
                    return orders; /* the account's orders: the whole line waits */
                /* held by the budget of one of its registered domains: out
                 * of the line until then */
                dueheap_remove(&a->wait, &r->wait_slot);
                r->budget_at = ready;
                ops->facts(ops->arg, s, &cf);
                lc_sched_arm(q, s, &cf, now);
                continue;
            }
        }
        if (*free_slots == 0)
            return 0;
        lc_sched_forget(q, s);
        if (budget_active(a->b))
            acct_charge(a, s, r->wait_new_names, now);
        r->charged = true;
        r->bypassed = bypass;
        r->budget_at = 0;
        (*free_slots)--;
        ops->start(ops->arg, s);
    }
    return 0;
}

int64_t lc_sched_tick(struct lc_sched *q, const struct lc_sched_ops *ops, int64_t now,
                      size_t *free_slots)
{
    int64_t next = INT64_MAX;
    const struct dueheap_ent *top;
    struct acset *s;

    while ((s = dueheap_pop_due(&q->timers, now)) != NULL)
        timer_due(q, ops, s, now);
    for (size_t i = 0; i < q->nacct; i++) {
        struct lc_ca_account *a = q->acct[i];

        a->wake = admit(q, ops, a, now, free_slots);
        if (a->wake != 0 && a->wake < next)
            next = a->wake;
    }
    top = dueheap_top(&q->timers);
    if (top != NULL && top->due < next)
        next = top->due;
    return next;
}

void lc_sched_charge(struct lc_sched *q, struct acset *s, bool new_names, int64_t now)
{
    struct lc_set *r = &s->rec;

    (void)q;
    if (r->charged) {
        r->charged = false;
        return;
    }
    if (r->acct == NULL || !budget_active(r->acct->b))
        return;
    acct_charge(r->acct, s, new_names, now);
}

/* An account's stored budget state (the state file with the file store, the
 * row with a shared one) merged with its budget here, both ways: what other
 * processes or nodes spent is counted here, what this one spent is written.
 * Every process using the same state (a daemon, a one-off CLI run, other
 * daemons on the same files, the nodes of a fleet) works this way, so their
 * charges add up whoever writes last. */
struct budget_sync {
    struct lc_ca_account *a;
    pthread_mutex_t *mu;
    int64_t now;
    size_t applied; /* charges of a->pend applied to the stored state */
    bool ok;        /* the merge ran (not out of memory) */
};

/* The stored state (NULL: none) with this process's charges since its last
 * write applied again; this process's budget takes the result. Returns the
 * text to store, or NULL to leave the stored state as it is: nothing to add
 * to it. Without a stored state (none yet, lost, or unreadable) this
 * process's own state is stored: it holds its charges already. */
static char *budget_sync_merge(const char *stored, void *arg)
{
    struct budget_sync *bs = arg;
    struct lc_ca_account *a = bs->a;
    json_object *o = stored != NULL ? json_tokener_parse(stored) : NULL, *j = NULL;
    struct budget *nb = NULL;
    char *out = NULL;
    bool write;

    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    /* the stored state parsed without the engine mutex (a large state is
     * tens of ms); a->id is fixed for the account's life */
    if (o != NULL) {
        nb = budget_new(a->id, NULL);
        if (nb == NULL)
            goto out;
        budget_from_json(nb, o);
    }
    pthread_mutex_lock(bs->mu);
    write = o == NULL || a->npend > 0;
    if (o == NULL) {
        j = budget_to_json(a->b, bs->now); /* ours: it holds our charges */
        bs->ok = j != NULL;
    } else {
        budget_set_limits(nb, budget_limits_of(a->b));
        for (size_t i = 0; i < a->npend; i++)
            (void)budget_charge(nb, (const char *const *)a->pend[i].names, a->pend[i].n,
                                a->pend[i].new_names, a->pend[i].now);
        budget_merge(a->b, nb);
        bs->ok = true;
    }
    if (bs->ok) {
        (void)budget_prune(a->b, bs->now);
        bs->applied = a->npend;
    }
    pthread_mutex_unlock(bs->mu);
    if (bs->ok && write) {
        const char *txt;
        if (j == NULL)
            j = budget_to_json(nb, bs->now);
        txt = j != NULL ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : NULL;
        out = txt != NULL ? strdup(txt) : NULL;
        bs->ok = out != NULL;
    }
out:
    json_object_put(j);
    json_object_put(o);
    budget_free(nb);
    return out;
}

/* Merges each account's budget with its stored state (budget_sync_merge):
 * all those with a budget, or the ones charged since their last write (dirty,
 * or charges not written yet: a failed write). One merge of an account
 * at a time: an account being merged by another thread is left dirty (its
 * charges since then are written by the next save). */
static void sched_sync(struct lc_sched *q, pthread_mutex_t *mu, int64_t now, struct storage *st,
                       bool all)
{
    bool shared = fleet_shared(st);

    for (size_t i = 0;; i++) {
        struct budget_sync bs = {NULL, mu, now, 0, false};
        const char *path = NULL;
        struct ac_error e;
        bool unwritten;
        int rc;

        pthread_mutex_lock(mu);
        if (i >= q->nacct) {
            pthread_mutex_unlock(mu);
            return;
        }
        bs.a = q->acct[i];
        if ((bs.a->dirty || bs.a->npend > 0 || (all && budget_active(bs.a->b))) &&
            bs.a->state_path != NULL && !bs.a->syncing) {
            bs.a->dirty = false;
            bs.a->syncing = true;
            path = bs.a->state_path; /* fixed for the account's life */
        }
        pthread_mutex_unlock(mu);
        if (path == NULL)
            continue;
        ac_error_clear(&e);
        rc = st->ops->budget_update(st, path, budget_sync_merge, &bs, &e);
        if (rc == 0 && !bs.ok)
            ac_error_set(&e, AC_ERR_NOMEM, "out of memory");
        pthread_mutex_lock(mu);
        bs.a->syncing = false;
        unwritten = bs.a->npend > 0;
        if (rc == 0 && bs.ok) {
            acct_pend_drop(bs.a, bs.applied);
            bs.a->synced = true;
        } else if (!shared) {
            /* its charges stay in a->pend: written with the next charge, at
             * the next periodic merge or at the engine's stop, not at once
             * again (a state file that cannot be written now) */
            bs.a->synced = true;
        }
        pthread_mutex_unlock(mu);
        if (rc != 0 || !bs.ok) {
            if (shared)
                ac_debug(NULL, "renewal budget not shared now: %s", e.message);
            else if (unwritten)
                ac_warn(NULL, "renewal budget state not written: %s", e.message);
            else /* a periodic read back: nothing of ours is lost */
                ac_debug(NULL, "renewal budget state not read: %s", e.message);
        }
    }
}

bool lc_sched_unsynced(const struct lc_sched *q)
{
    for (size_t i = 0; i < q->nacct; i++)
        if (!q->acct[i]->synced && q->acct[i]->state_path != NULL && budget_active(q->acct[i]->b))
            return true;
    return false;
}

void lc_sched_save(struct lc_sched *q, pthread_mutex_t *mu, int64_t now, struct storage *st,
                   bool all)
{
    struct storage *files = NULL;
    struct ac_error e;

    if (st == NULL) {
        ac_error_clear(&e);
        if (storage_files_new(&files, &e) != 0) {
            ac_warn(NULL, "renewal budget state not written: %s", e.message);
            return;
        }
        st = files;
    }
    sched_sync(q, mu, now, st, all);
    if (files != NULL)
        files->ops->free(files);
}

void lc_sched_free(struct lc_sched *q)
{
    for (size_t i = 0; i < q->nacct; i++) {
        struct lc_ca_account *a = q->acct[i];

        dueheap_free(&a->wait);
        acct_pend_drop(a, a->npend);
        budget_free(a->b);
        free(a->id);
        free(a->state_path);
        free(a);
    }
    free(q->acct);
    q->acct = NULL;
    q->nacct = 0;
    dueheap_free(&q->timers);
}
