/*
 * budget.c - renewal budgets per CA account (budget.h): GCRA token buckets
 * for new orders and for certificates per registered domain, libpsl for the
 * registered domain, the state file.
 *
 * A bucket of `cap` tokens over `window` seconds is one number, tat (ms): a
 * token comes back every interval = window / cap; a request at t may take a
 * token when t >= tat - (window - interval); taking one sets
 * tat = max(tat, t) + interval. tat 0 is a full bucket.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "jsonu.h"
#include "set.h"
#include "store.h"

#define BUDGET_STATE_MAX (64 * 1024 * 1024)

struct dom_ent {
    char *name; /* NULL: free slot */
    int64_t tat;
};

struct budget {
    char *id;
    struct budget_limits lim;
    int64_t orders_tat;
    int64_t charged_ms;   /* the latest charge's time (0: none) */
    struct dom_ent *doms; /* open addressing, cap a power of two */
    size_t doms_n, doms_cap;
};

/* ---- limits ------------------------------------------------------------------ */

static bool url_is(const char *url, const char *want)
{
    size_t l = strlen(want);

    if (url == NULL || strncmp(url, want, l) != 0)
        return false;
    return url[l] == '\0' || (url[l] == '/' && url[l + 1] == '\0');
}

void budget_default_limits(const char *url, struct budget_limits *out)
{
    memset(out, 0, sizeof *out);
    if (url_is(url, BUDGET_LE_DIR_URL)) {
        out->orders_per_3h = BUDGET_LE_ORDERS_PER_3H;
        out->new_certs_per_domain_week = BUDGET_LE_CERTS_PER_DOMAIN_WEEK;
    } else if (url_is(url, BUDGET_LE_STAGING_DIR_URL)) {
        out->orders_per_3h = BUDGET_LE_STAGING_ORDERS_PER_3H;
        out->new_certs_per_domain_week = BUDGET_LE_STAGING_CERTS_PER_DOMAIN_WEEK;
    }
}

/* ---- registered domains ---------------------------------------------------------- */

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl_list;
static psl_ctx_t *psl_owned;

static void psl_load(void)
{
    psl_owned = psl_latest(NULL);
    psl_list = psl_owned != NULL ? psl_owned : psl_builtin();
}

int budget_registered_domain(const char *name, char *out, size_t n)
{
    char low[256];
    size_t l;
    const char *rd;
    unsigned char a6[16];
    struct in_addr a4;

    if (name == NULL)
        name = "";
    if (strncmp(name, "*.", 2) == 0)
        name += 2;
    l = strlen(name);
    if (l > 0 && name[l - 1] == '.')
        l--;
    if (l >= sizeof low)
        l = sizeof low - 1;
    for (size_t i = 0; i < l; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[l] = '\0';
    if (inet_pton(AF_INET, low, &a4) == 1)
        return snprintf(out, n, "%s", low) < (int)n ? 0 : -1;
    if (inet_pton(AF_INET6, low, a6) == 1) {
        char txt[INET6_ADDRSTRLEN];

        memset(a6 + 8, 0, 8);
        inet_ntop(AF_INET6, a6, txt, sizeof txt);
        return snprintf(out, n, "%s/64", txt) < (int)n ? 0 : -1;
    }
    pthread_once(&psl_once, psl_load);
    rd = psl_list != NULL ? psl_registrable_domain(psl_list, low) : NULL;
    if (rd == NULL || *rd == '\0')
        rd = low;
    return snprintf(out, n, "%s", rd) < (int)n ? 0 : -1;
}

/* ---- buckets ------------------------------------------------------------------ */

static int64_t interval_ms(int64_t cap, int64_t window)
{
    return (window * 1000 + cap - 1) / cap;
}

/* The first ms at which a token may be taken. */
static int64_t cell_ready(int64_t tat, int64_t cap, int64_t window)
{
    int64_t tau = window * 1000 - interval_ms(cap, window);

    return tat - tau;
}

static int64_t cell_take(int64_t tat, int64_t cap, int64_t window, int64_t now_ms)
{
    return (tat > now_ms ? tat : now_ms) + interval_ms(cap, window);
}

static size_t str_hash(const char *s)
{
    size_t h = 1469598103934665603u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct dom_ent *dom_find(const struct budget *b, const char *name)
{
    if (b->doms_cap == 0)
        return NULL;
    for (size_t i = str_hash(name) & (b->doms_cap - 1);; i = (i + 1) & (b->doms_cap - 1)) {
        if (b->doms[i].name == NULL)
            return NULL;
        if (strcmp(b->doms[i].name, name) == 0)
            return &b->doms[i];
    }
}

/* Builds the domain table again without the entries whose tat is at or
 * before now_ms (a full bucket: no information), sized for the rest at most a
 * quarter full (a power of two >= 64): after a rebuild a quarter of the table
 * is inserted before the next, so rebuilding costs O(1) per insert. Returns
 * how many were dropped, or -1 on ENOMEM (the table left as it was). */
static long dom_rebuild(struct budget *b, int64_t now_ms)
{
    size_t live = 0, cap = 64, dropped;
    struct dom_ent *v;

    for (size_t i = 0; i < b->doms_cap; i++)
        if (b->doms[i].name != NULL && b->doms[i].tat > now_ms)
            live++;
    while (cap < live * 4)
        cap *= 2;
    v = calloc(cap, sizeof *v);
    if (v == NULL)
        return -1;
    for (size_t k = 0; k < b->doms_cap; k++) {
        size_t i;
        if (b->doms[k].name == NULL)
            continue;
        if (b->doms[k].tat <= now_ms) {
            free(b->doms[k].name);
            continue;
        }
        for (i = str_hash(b->doms[k].name) & (cap - 1); v[i].name != NULL; i = (i + 1) & (cap - 1))
            ;
        v[i] = b->doms[k];
    }
    free(b->doms);
    b->doms = v;
    b->doms_cap = cap;
    dropped = b->doms_n - live;
    b->doms_n = live;
    return (long)dropped;
}

/* Drops the expired entries (dom_rebuild) when there are any: nothing is
 * rebuilt otherwise. Returns the number dropped (0 on ENOMEM). */
static size_t dom_prune(struct budget *b, int64_t now_ms)
{
    size_t expired = 0;
    long n;

    for (size_t i = 0; i < b->doms_cap; i++)
        if (b->doms[i].name != NULL && b->doms[i].tat <= now_ms)
            expired++;
    if (expired == 0)
        return 0;
    n = dom_rebuild(b, now_ms);
    return n > 0 ? (size_t)n : 0;
}

/* The entry of name, created (tat 0) when absent; NULL on ENOMEM. */
static struct dom_ent *dom_get(struct budget *b, const char *name)
{
    struct dom_ent *d = dom_find(b, name);
    size_t i;

    if (d != NULL)
        return d;
    /* a full table is built again, without the buckets that are full again
     * by the latest charge's time (older than anything asked since) */
    if ((b->doms_n + 1) * 2 > b->doms_cap && dom_rebuild(b, b->charged_ms) < 0)
        return NULL;
    for (i = str_hash(name) & (b->doms_cap - 1); b->doms[i].name != NULL;
         i = (i + 1) & (b->doms_cap - 1))
        ;
    b->doms[i].name = strdup(name);
    if (b->doms[i].name == NULL)
        return NULL;
    b->doms[i].tat = 0;
    b->doms_n++;
    return &b->doms[i];
}

size_t budget_prune(struct budget *b, int64_t now)
{
    return b != NULL ? dom_prune(b, now * 1000) : 0;
}

size_t budget_domains_count(const struct budget *b)
{
    return b != NULL ? b->doms_n : 0;
}

struct budget *budget_new(const char *id, const struct budget_limits *lim)
{
    struct budget *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->id = strdup(id != NULL ? id : "");
    if (b->id == NULL) {
        free(b);
        return NULL;
    }
    budget_set_limits(b, lim);
    return b;
}

void budget_free(struct budget *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->doms_cap; i++)
        free(b->doms[i].name);
    free(b->doms);
    free(b->id);
    free(b);
}

void budget_set_limits(struct budget *b, const struct budget_limits *lim)
{
    if (lim != NULL)
        b->lim = *lim;
    else
        memset(&b->lim, 0, sizeof b->lim);
}

const struct budget_limits *budget_limits_of(const struct budget *b)
{
    return &b->lim;
}

bool budget_active(const struct budget *b)
{
    return b != NULL && (b->lim.orders_per_3h > 0 || b->lim.new_certs_per_domain_week > 0);
}

/* Calls fn for each distinct registered domain of names[0..n). Names are few
 * per certificate (at most 100 at Let's Encrypt): quadratic dedupe. */
typedef int (*dom_fn)(struct budget *b, const char *rd, void *arg);

static int each_domain(struct budget *b, const char *const *names, size_t n, dom_fn fn, void *arg)
{
    char rd[300], prev[300];
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        bool seen = false;
        if (names[i] == NULL || budget_registered_domain(names[i], rd, sizeof rd) != 0)
            continue;
        for (size_t k = 0; k < i && !seen; k++)
            seen = names[k] != NULL && budget_registered_domain(names[k], prev, sizeof prev) == 0 &&
                   strcmp(prev, rd) == 0;
        if (!seen)
            rc = fn(b, rd, arg);
    }
    return rc;
}

static int dom_ready(struct budget *b, const char *rd, void *arg)
{
    int64_t *ready = arg;
    const struct dom_ent *d = dom_find(b, rd);
    int64_t t;

    if (d == NULL)
        return 0;
    t = cell_ready(d->tat, b->lim.new_certs_per_domain_week, BUDGET_DOMAIN_WINDOW_S);
    if (t > *ready)
        *ready = t;
    return 0;
}

int64_t budget_ready_at(const struct budget *b, const char *const *names, size_t n, bool new_names,
                        int64_t now)
{
    int64_t ready = now * 1000;

    if (!budget_active(b))
        return now;
    if (b->lim.orders_per_3h > 0) {
        int64_t t = cell_ready(b->orders_tat, b->lim.orders_per_3h, BUDGET_ORDERS_WINDOW_S);
        if (t > ready)
            ready = t;
    }
    if (new_names && b->lim.new_certs_per_domain_week > 0)
        (void)each_domain((struct budget *)b, names, n, dom_ready, &ready);
    return (ready + 999) / 1000; /* the first whole second at or after it */
}

static int dom_charge(struct budget *b, const char *rd, void *arg)
{
    int64_t now_ms = *(const int64_t *)arg;
    struct dom_ent *d = dom_get(b, rd);

    if (d == NULL)
        return -1;
    d->tat = cell_take(d->tat, b->lim.new_certs_per_domain_week, BUDGET_DOMAIN_WINDOW_S, now_ms);
    return 0;
}

int budget_charge(struct budget *b, const char *const *names, size_t n, bool new_names, int64_t now)
{
    int64_t now_ms = now * 1000;

    if (!budget_active(b))
        return 0;
    if (now_ms > b->charged_ms)
        b->charged_ms = now_ms;
    if (b->lim.orders_per_3h > 0)
        b->orders_tat =
            cell_take(b->orders_tat, b->lim.orders_per_3h, BUDGET_ORDERS_WINDOW_S, now_ms);
    if (new_names && b->lim.new_certs_per_domain_week > 0)
        return each_domain(b, names, n, dom_charge, &now_ms);
    return 0;
}

/* ---- state ------------------------------------------------------------------ */

json_object *budget_to_json(const struct budget *b, int64_t now)
{
    json_object *o = json_object_new_object(), *doms = json_object_new_object();
    int64_t now_ms = now * 1000;

    if (o == NULL || doms == NULL) {
        json_object_put(o);
        json_object_put(doms);
        return NULL;
    }
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "account", json_object_new_string(b->id));
    json_object_object_add(o, "orders_tat_ms", json_object_new_int64(b->orders_tat));
    for (size_t i = 0; i < b->doms_cap; i++)
        if (b->doms[i].name != NULL && b->doms[i].tat > now_ms)
            json_object_object_add(doms, b->doms[i].name, json_object_new_int64(b->doms[i].tat));
    json_object_object_add(o, "domains_tat_ms", doms);
    return o;
}

static int64_t tat_in(int64_t have, int64_t got, bool merge)
{
    return merge && have > got ? have : got;
}

/* budget_from_json (merge false) and budget_merge_json (merge true). */
static void from_json(struct budget *b, json_object *o, bool merge)
{
    json_object *v = NULL, *doms = NULL;

    if (o == NULL || !json_object_is_type(o, json_type_object))
        return;
    if (json_object_object_get_ex(o, "orders_tat_ms", &v) && json_object_is_type(v, json_type_int))
        b->orders_tat = tat_in(b->orders_tat, json_object_get_int64(v), merge);
    if (!json_object_object_get_ex(o, "domains_tat_ms", &doms) ||
        !json_object_is_type(doms, json_type_object))
        return;
    json_object_object_foreach(doms, key, val)
    {
        struct dom_ent *d;
        if (!json_object_is_type(val, json_type_int))
            continue;
        d = dom_get(b, key);
        if (d == NULL)
            return;
        d->tat = tat_in(d->tat, json_object_get_int64(val), merge);
    }
}

void budget_from_json(struct budget *b, json_object *o)
{
    from_json(b, o, false);
}

void budget_merge_json(struct budget *b, json_object *o)
{
    from_json(b, o, true);
}

void budget_merge(struct budget *b, const struct budget *from)
{
    if (from->orders_tat > b->orders_tat)
        b->orders_tat = from->orders_tat;
    for (size_t i = 0; i < from->doms_cap; i++) {
        struct dom_ent *d;
        if (from->doms[i].name == NULL || from->doms[i].tat == 0)
            continue;
        d = dom_get(b, from->doms[i].name);
        if (d == NULL)
            return;
        if (from->doms[i].tat > d->tat)
            d->tat = from->doms[i].tat;
    }
}

int budget_state_path(const char *acme_key_path, const char *id, char *buf, size_t n)
{
    char dir[STORE_PATH_MAX], h[ACSET_ID_LEN + 1];

    if (store_dirname(acme_key_path, dir, sizeof dir) != 0)
        return -1;
    acset_id_of(id, "budget", h);
    return snprintf(buf, n, "%s/.budget-%s.json", dir, h) < (int)n ? 0 : -1;
}

int budget_load(struct budget *b, const char *path, struct ac_error *e)
{
    char *data = NULL;
    size_t len = 0;
    json_object *j = NULL;
    int rc = -1;

    if (store_read_file(path, BUDGET_STATE_MAX, &data, &len, e) != 0) {
        if (ac_error_is(e, AC_ERR_NOT_FOUND)) {
            ac_error_clear(e);
            rc = 0;
        }
        goto out;
    }
    j = jsonu_parse(data, len, path, AC_ERR_IO, e);
    if (j == NULL)
        goto out;
    budget_from_json(b, j);
    rc = 0;
out:
    json_object_put(j);
    free(data);
    return rc;
}

int budget_save(const struct budget *b, const char *path, int64_t now, struct ac_error *e)
{
    json_object *j = budget_to_json(b, now);
    const char *s;
    int rc;

    if (j == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "budget: out of memory");
        return -1;
    }
    s = jsonu_string(j);
    if (s == NULL) {
        json_object_put(j);
        ac_error_set(e, AC_ERR_NOMEM, "budget: cannot serialise");
        return -1;
    }
    rc = store_write_atomic(path, s, strlen(s), 0600, e);
    json_object_put(j);
    return rc;
}
