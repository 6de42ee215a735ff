/*
 * lifecycle_plan.c - the scheduler's decisions for one set, as plain data: the
 * state machine (pending / valid / due / renewing / backoff / expired /
 * unmanaged), when the next attempt may start (renewal moment, ARI point,
 * backoff, cooldowns), and the state file's JSON form. No I/O, no clock, no
 * locks: the caller passes `now` and random numbers and holds the lifecycle
 * mutex.
 *
 * Two guards against order storms: a backoff (retry_at) is never further than
 * retry_max from now nor past the certificate's "expiring soon" point (also
 * when read back from a state file), and a certificate that is due again the
 * moment it was issued counts as a failure (schedule.due_at_once) instead of
 * starting the next order at once.
 */
#include <stdio.h>
#include <string.h>

#include "lifecycle_priv.h"
#include "schedule.h"
#include "timeutil.h"

static void plan_success_reset(struct lc_set *s, int64_t now);

#define LC_ARI_DEFAULT_REFETCH (6 * 3600)
#define LC_ARI_MIN_REFETCH 60
#define LC_ARI_MAX_REFETCH 86400

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

void lc_copy_str(char *dst, size_t n, const char *src)
{
    size_t l = src != NULL ? strlen(src) : 0;

    if (n == 0)
        return;
    if (l >= n)
        l = n - 1;
    if (l > 0)
        memcpy(dst, src, l);
    dst[l] = '\0';
}

void lc_plan_update(struct lc_set *s, const struct config_set *cfg, const struct lc_cert_facts *cf,
                    int64_t now)
{
    int64_t next, moment;
    bool ari;

    if (!s->managed) {
        s->state = LC_UNMANAGED;
        s->renews_at = 0;
        s->next_attempt = 0;
        return;
    }
    lc_plan_cap_retry(s, cfg, cf, now);
    if (!cf->present) {
        s->renews_at = 0;
        next = now;
        if (s->retry_at != 0)
            next = max64(next, s->retry_at);
        if (s->last_failure != 0)
            next = max64(next, schedule_next_attempt(now, s->last_failure, true,
                                                     cfg->failure_cooldown, false));
        s->next_attempt = next;
        s->state = s->failures > 0 ? LC_BACKOFF : LC_PENDING;
    } else {
        ari = s->ari_valid && strcmp(s->ari_serial, cf->serial_hex) == 0;
        moment = schedule_renewal_moment(cf->not_before, cf->not_after, cfg->renew_before);
        moment -= lc_plan_spread(s, cfg, cf, moment);
        s->renews_at = schedule_due(moment, ari, s->ari_point);
        /* A certificate that no longer covers the configured domains is due now. */
        if (cf->names_differ && s->renews_at > cf->not_before)
            s->renews_at = cf->not_before;
        next = s->renews_at;
        if (s->retry_at != 0)
            next = max64(next, s->retry_at);
        if (s->last_failure != 0)
            next = max64(next, schedule_next_attempt(now, s->last_failure, false,
                                                     cfg->failure_cooldown, false));
        s->next_attempt = max64(next, 0);
        if (now >= cf->not_after)
            s->state = LC_EXPIRED;
        else if (s->failures > 0)
            s->state = LC_BACKOFF;
        else if (now >= s->renews_at)
            s->state = LC_DUE;
        else
            s->state = LC_VALID;
    }
    if (s->running)
        s->state = LC_RENEWING;
}

/* FNV-1a over s, continuing from h. */
static uint64_t fnv64(uint64_t h, const char *s)
{
    for (; s != NULL && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int64_t lc_plan_spread(struct lc_set *s, const struct config_set *cfg,
                       const struct lc_cert_facts *cf, int64_t moment)
{
    int64_t max = (cf->not_after - moment) / LC_SPREAD_DIVISOR;
    char key[80];

    if (max < 0)
        max = 0;
    snprintf(key, sizeof key, "%s", cf->serial_hex);
    if (key[0] == '\0')
        snprintf(key, sizeof key, "na%lld", (long long)cf->not_after);
    if (strcmp(s->spread_serial, key) != 0) {
        /* drawn once per certificate: a hash of the set's files and the
         * serial (splitmix64 finaliser), so that a restart before the state
         * file is written draws the same point */
        uint64_t h = fnv64(fnv64(1469598103934665603ULL, cfg->cert_path), key);

        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebULL;
        h ^= h >> 31;
        s->spread_s = (int64_t)(h % (uint64_t)(max + 1));
        lc_copy_str(s->spread_serial, sizeof s->spread_serial, key);
    }
    /* a window that shrank (renew_before changed, a state file from another
     * configuration) caps it */
    if (s->spread_s > max)
        return max;
    return s->spread_s < 0 ? 0 : s->spread_s;
}

void lc_plan_cap_retry(struct lc_set *s, const struct config_set *cfg,
                       const struct lc_cert_facts *cf, int64_t now)
{
    int64_t max = cfg->retry_max > 0 ? cfg->retry_max : 1, soon;

    if (s->retry_at == 0)
        return;
    if (s->retry_at > now + max)
        s->retry_at = now + max;
    if (cf != NULL && cf->present) {
        soon = schedule_expiring_at(cf->not_before, cf->not_after);
        if (soon > now && s->retry_at > soon)
            s->retry_at = soon;
    }
}

void lc_plan_failure(struct lc_set *s, const struct config_set *cfg, const struct ac_error *e,
                     bool first_obtain, int64_t now, uint64_t random)
{
    struct ac_error_kind_info info;
    int64_t delay;

    (void)first_obtain; /* the cooldown is applied by lc_plan_update */
    if (ac_error_is(e, AC_ERR_LOCKED) || ac_error_is(e, AC_ERR_STORE_DOWN)) {
        /* Another process or node renews this set, or the shared store
         * (which gives the set's lease) is away: look again soon, count
         * nothing. */
        s->retry_at = now + (cfg->retry_min > 0 ? cfg->retry_min : 1);
        s->next_attempt = s->retry_at;
        return;
    }
    if (ac_error_is(e, AC_ERR_CANCELLED))
        return;
    if (s->failures < 1000000)
        s->failures++;
    s->has_last_error = true;
    acset_error_put(&s->last_error, e);
    s->last_error_at = now;
    s->last_failure = now;
    info = ac_error_kind_info(e->kind);
    delay = schedule_backoff(s->failures, cfg->retry_min, cfg->retry_max, info.callers_fault,
                             e->retry_after, random);
    s->retry_at = now + delay;
}

bool lc_plan_success(struct lc_set *s, const struct config_set *cfg, const struct lc_cert_facts *cf,
                     int64_t now, uint64_t random)
{
    int failures = s->failures;
    int64_t due = 0;
    struct ac_error e;
    char until[32], moment[32];

    if (cf != NULL && cf->present) {
        due = schedule_renewal_moment(cf->not_before, cf->not_after, cfg->renew_before);
        if (cf->names_differ && due > cf->not_before)
            due = cf->not_before;
    }
    plan_success_reset(s, now);
    if (cf == NULL || (cf->present && due > now))
        return true;
    /* Due again the moment it was issued: ordering again now would loop. */
    if (!cf->present) {
        ac_error_set(&e, AC_ERR_DUE_AT_ONCE,
                     "the new certificate is not in service (it did not load); not ordering "
                     "again before the backoff");
    } else {
        ac_time_format_rfc3339(cf->not_after, until, sizeof until);
        ac_time_format_rfc3339(due, moment, sizeof moment);
        ac_error_set(&e, AC_ERR_DUE_AT_ONCE,
                     "the new certificate (valid until %s) is due for renewal at once (%s%s); "
                     "is the host clock right, renew_before shorter than the lifetime? Not "
                     "ordering again before the backoff",
                     until,
                     cf->names_differ ? "its names differ from the configured domains, " : "",
                     moment);
    }
    s->failures = failures;
    lc_plan_failure(s, cfg, &e, false, now, random);
    return false;
}

static void plan_success_reset(struct lc_set *s, int64_t now)
{
    s->failures = 0;
    s->has_last_error = false;
    acset_error_put(&s->last_error, NULL);
    s->last_error_at = 0;
    s->last_failure = 0;
    s->retry_at = 0;
    s->last_success = now;
    s->ari_valid = false;
    s->ari_serial[0] = '\0';
    s->ari_fetch_at = now; /* fetch the new certificate's window */
}

void lc_plan_ari(struct lc_set *s, const char *serial, int64_t start, int64_t end, long retry_after,
                 int64_t now, uint64_t random)
{
    long ra = retry_after;
    bool same = s->ari_valid && strcmp(s->ari_serial, serial) == 0 && s->ari_start == start &&
                s->ari_end == end;

    if (!same) {
        s->ari_valid = true;
        lc_copy_str(s->ari_serial, sizeof s->ari_serial, serial);
        s->ari_start = start;
        s->ari_end = end;
        s->ari_point = schedule_ari_point(start, end, random);
    }
    if (ra < 0)
        ra = LC_ARI_DEFAULT_REFETCH;
    if (ra < LC_ARI_MIN_REFETCH)
        ra = LC_ARI_MIN_REFETCH;
    if (ra > LC_ARI_MAX_REFETCH)
        ra = LC_ARI_MAX_REFETCH;
    s->ari_fetch_at = now + ra;
}

json_object *lc_state_to_json(const struct lc_set *s)
{
    json_object *o = json_object_new_object();
    json_object *err = NULL, *ari = NULL;

    if (o == NULL)
        return NULL;
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "failures", json_object_new_int(s->failures));
    json_object_object_add(o, "last_success", json_object_new_int64(s->last_success));
    json_object_object_add(o, "retry_at", json_object_new_int64(s->retry_at));
    if (s->has_last_error && s->last_error != NULL) {
        err = json_object_new_object();
        if (err != NULL) {
            json_object_object_add(err, "kind", json_object_new_string(s->last_error->kind));
            json_object_object_add(err, "message", json_object_new_string(s->last_error->message));
            json_object_object_add(err, "at", json_object_new_int64(s->last_error_at));
            json_object_object_add(o, "last_error", err);
        }
    }
    if (s->ari_valid) {
        ari = json_object_new_object();
        if (ari != NULL) {
            json_object_object_add(ari, "serial", json_object_new_string(s->ari_serial));
            json_object_object_add(ari, "start", json_object_new_int64(s->ari_start));
            json_object_object_add(ari, "end", json_object_new_int64(s->ari_end));
            json_object_object_add(ari, "point", json_object_new_int64(s->ari_point));
            json_object_object_add(ari, "fetch_at", json_object_new_int64(s->ari_fetch_at));
            json_object_object_add(o, "ari", ari);
        }
    }
    if (s->spread_serial[0] != '\0') {
        json_object *sp = json_object_new_object();
        if (sp != NULL) {
            json_object_object_add(sp, "serial", json_object_new_string(s->spread_serial));
            json_object_object_add(sp, "seconds", json_object_new_int64(s->spread_s));
            json_object_object_add(o, "spread", sp);
        }
    }
    return o;
}

static bool get_i64(json_object *o, const char *key, int64_t *out)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

void lc_state_from_json(struct lc_set *s, json_object *o)
{
    json_object *err = NULL, *ari = NULL, *sp = NULL;
    int64_t v;
    const char *str;

    if (o == NULL || !json_object_is_type(o, json_type_object))
        return;
    if (get_i64(o, "failures", &v) && v >= 0 && v < 1000000)
        s->failures = (int)v;
    if (get_i64(o, "last_success", &v) && v >= 0)
        s->last_success = v;
    if (get_i64(o, "retry_at", &v) && v >= 0)
        s->retry_at = v;
    if (json_object_object_get_ex(o, "last_error", &err) &&
        json_object_is_type(err, json_type_object)) {
        str = get_str(err, "kind");
        if (str != NULL) {
            const char *msg = get_str(err, "message");
            struct ac_error le;

            /* Through ac_error_set: a state file written by an older version
             * may hold an unscrubbed secret or raw control characters. */
            ac_error_set(&le, str, "%s", msg != NULL ? msg : "");
            acset_error_put(&s->last_error, &le);
            s->has_last_error = true;
            if (get_i64(err, "at", &v))
                s->last_error_at = v;
        }
    }
    if (json_object_object_get_ex(o, "spread", &sp) && json_object_is_type(sp, json_type_object)) {
        str = get_str(sp, "serial");
        if (str != NULL && get_i64(sp, "seconds", &v) && v >= 0) {
            lc_copy_str(s->spread_serial, sizeof s->spread_serial, str);
            s->spread_s = v;
        }
    }
    if (json_object_object_get_ex(o, "ari", &ari) && json_object_is_type(ari, json_type_object)) {
        str = get_str(ari, "serial");
        if (str != NULL && get_i64(ari, "start", &s->ari_start) &&
            get_i64(ari, "end", &s->ari_end) && get_i64(ari, "point", &s->ari_point)) {
            lc_copy_str(s->ari_serial, sizeof s->ari_serial, str);
            s->ari_valid = true;
            if (!get_i64(ari, "fetch_at", &s->ari_fetch_at))
                s->ari_fetch_at = 0;
        }
    }
}
