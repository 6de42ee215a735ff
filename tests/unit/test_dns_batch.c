/*
 * test_dns_batch.c - the DNS batch layer (lib/dns_provider.h) and the order
 * flow's use of it (lib/acme_order.c):
 *
 *  - dns_batch_by_name: grouping by name (case-insensitive, first-appearance
 *    order, values in record order), stop at the first failure or keep going
 *    (first error kept), done[] per record, more than DNS_BATCH_MAX refused;
 *  - dns_provider_present_many / cleanup_many through the per-record fallback
 *    (the exec provider running a small recording script that fails on a
 *    chosen value) and through a provider's batch op (desec against a small
 *    deSEC stand-in on 127.0.0.1, reached through the provider's own test
 *    variable AUTOCERT_DESEC_BASE_URL): done[] exact after a failure in the
 *    middle, errors name the provider and never hold an option value;
 *  - dns_provider_new_resolvers: a set's resolvers become dns_resolvers only
 *    when the provider declares the key and the options lack it, first 8 only
 *    (seen through the provider's validation of dns_resolvers);
 *  - acme_order_obtain with a solver's present_all / cleanup_all against a
 *    scripted CA (same server): cleanup_all gets exactly the published records,
 *    after a present failure and after a failed authorization.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "acme.h"
#include "crypto.h"
#include "dns_provider.h"
#include "jsonu.h"

#define TOKEN "desec-SECRET-token-42"
#define ZONE "example.test"
#define BODY_MAX 65536
#define MAX_SETS 16
#define MAX_LOG 64

/* ---- the stand-in server: deSEC under /desec, a CA under /acme ---- */

struct conn {
    char body[BODY_MAX];
    size_t len;
    bool too_big;
};

static struct MHD_Daemon *daemon_;
static unsigned short port_;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char sub[64];
    json_object *records; /* array of zone-file strings */
} sets[MAX_SETS];
static char fail_sub[64];       /* deSEC answers 400 for this subname */
static char log_[MAX_LOG][128]; /* "METHOD path" of each deSEC request */
static size_t nlog;
static bool answered[3]; /* CA: challenge i was answered */

static const struct {
    const char *value;
    bool wildcard;
} authz_ids[3] = {{"a." ZONE, false}, {"a." ZONE, true}, {"b." ZONE, false}};

static int find_set(const char *sub)
{
    for (int i = 0; i < MAX_SETS; i++)
        if (sets[i].records != NULL && strcmp(sets[i].sub, sub) == 0)
            return i;
    return -1;
}

/* Stores (or with no records removes) the RRset at sub; -1 when full. */
static int put_set(const char *sub, json_object *records)
{
    int i = find_set(sub);

    if (i < 0)
        for (i = 0; i < MAX_SETS && sets[i].records != NULL; i++) {
        }
    if (i >= MAX_SETS)
        return -1;
    json_object_put(sets[i].records);
    sets[i].records = NULL;
    if (json_object_array_length(records) == 0)
        return 0;
    snprintf(sets[i].sub, sizeof sets[i].sub, "%s", sub);
    sets[i].records = json_object_get(records);
    return 0;
}

static void clear_sets(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_SETS; i++) {
        json_object_put(sets[i].records);
        sets[i].records = NULL;
    }
    nlog = 0;
    fail_sub[0] = '\0';
    pthread_mutex_unlock(&mu);
}

/* Answers a deSEC request (mu held); returns the status, body in out. */
static unsigned desec(struct MHD_Connection *conn, const char *method, const char *path,
                      const struct conn *c, char *out, size_t outlen)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *rr = "/domains/" ZONE "/rrsets/";
    json_object *req = NULL;
    char sub[64];
    size_t sl;
    unsigned st = 400;

    if (nlog < MAX_LOG)
        snprintf(log_[nlog++], sizeof log_[0], "%s %s", method, path);
    snprintf(out, outlen, "{\"detail\":\"mock refuses\"}");
    if (auth == NULL || strcmp(auth, "Token " TOKEN) != 0)
        return 401;
    if (strcmp(path, "/domains/") == 0) {
        const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "owns_qname");
        size_t ql = q ? strlen(q) : 0;
        bool ours = ql > strlen(ZONE) && strcmp(q + ql - strlen(ZONE) - 1, "." ZONE) == 0;
        snprintf(out, outlen, ours ? "[{\"name\":\"" ZONE "\",\"minimum_ttl\":60}]" : "[]");
        return 200;
    }
    if (strncmp(path, rr, strlen(rr)) != 0)
        return 404;
    path += strlen(rr);
    if (c->len > 0)
        req = jsonu_parse(c->body, c->len, "mock", AC_ERR_INTERNAL, NULL);
    if (path[0] == '\0' && strcmp(method, "POST") == 0) { /* create an RRset */
        const char *s = req ? jsonu_str(req, "subname") : NULL;
        json_object *recs = req ? jsonu_arr(req, "records") : NULL;
        if (s == NULL || recs == NULL || strcmp(s, fail_sub) == 0 || find_set(s) >= 0 ||
            put_set(s, recs) != 0)
            goto out;
        snprintf(out, outlen, "{}");
        st = 201;
        goto out;
    }
    sl = strcspn(path, "/");
    if (sl == 0 || sl >= sizeof sub || strcmp(path + sl, "/TXT/") != 0)
        goto out;
    memcpy(sub, path, sl);
    sub[sl] = '\0';
    if (strcmp(sub, fail_sub) == 0)
        goto out;
    if (strcmp(method, "GET") == 0) {
        int i = find_set(sub);
        if (i < 0) {
            snprintf(out, outlen, "{\"detail\":\"Not found.\"}");
            st = 404;
        } else {
            snprintf(out, outlen, "{\"subname\":\"%s\",\"records\":%s}", sub,
                     json_object_to_json_string(sets[i].records));
            st = 200;
        }
    } else if (strcmp(method, "PATCH") == 0 && req && jsonu_arr(req, "records") &&
               find_set(sub) >= 0 && put_set(sub, jsonu_arr(req, "records")) == 0) {
        snprintf(out, outlen, "{}");
        st = 200;
    }
out:
    json_object_put(req);
    return st;
}

/* Answers a CA request; *loc gets a Location value or stays empty. */
static unsigned acme(const char *path, char *out, size_t outlen, char *loc, size_t loclen)
{
    unsigned p = port_;
    int i;

    snprintf(out, outlen, "{}");
    if (strcmp(path, "/dir") == 0) {
        snprintf(out, outlen,
                 "{\"newNonce\":\"http://127.0.0.1:%u/acme/nonce\","
                 "\"newAccount\":\"http://127.0.0.1:%u/acme/acct\","
                 "\"newOrder\":\"http://127.0.0.1:%u/acme/order\"}",
                 p, p, p);
    } else if (strcmp(path, "/nonce") == 0) {
        out[0] = '\0';
    } else if (strcmp(path, "/acct") == 0) {
        snprintf(loc, loclen, "http://127.0.0.1:%u/acme/acct/1", p);
        snprintf(out, outlen, "{\"status\":\"valid\"}");
    } else if (strcmp(path, "/order") == 0) {
        snprintf(loc, loclen, "http://127.0.0.1:%u/acme/order/1", p);
        snprintf(out, outlen,
                 "{\"status\":\"pending\",\"finalize\":\"http://127.0.0.1:%u/acme/fin\","
                 "\"authorizations\":[\"http://127.0.0.1:%u/acme/authz/0\","
                 "\"http://127.0.0.1:%u/acme/authz/1\",\"http://127.0.0.1:%u/acme/authz/2\"]}",
                 p, p, p, p);
        return 201;
    } else if (sscanf(path, "/authz/%d", &i) == 1 && i >= 0 && i < 3) {
        snprintf(out, outlen,
                 "{\"status\":\"%s\",\"identifier\":{\"type\":\"dns\",\"value\":\"%s\"},"
                 "\"wildcard\":%s,\"challenges\":[{\"type\":\"dns-01\","
                 "\"url\":\"http://127.0.0.1:%u/acme/chal/%d\",\"token\":\"tok%dXYZ\","
                 "\"status\":\"pending\"}]}",
                 answered[i] ? "invalid" : "pending", authz_ids[i].value,
                 authz_ids[i].wildcard ? "true" : "false", p, i, i);
    } else if (sscanf(path, "/chal/%d", &i) == 1 && i >= 0 && i < 3) {
        answered[i] = true;
        snprintf(out, outlen, "{\"type\":\"dns-01\",\"status\":\"processing\"}");
    } else {
        return 404;
    }
    return 200;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct conn *c = *con_cls;
    struct MHD_Response *r;
    enum MHD_Result ret;
    char out[8192], loc[128] = "";
    unsigned st;

    if (c == NULL) {
        if ((c = calloc(1, sizeof *c)) == NULL)
            return MHD_NO;
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (c->len + *upload_size >= sizeof c->body)
            c->too_big = true;
        else
            memcpy(c->body + c->len, upload, *upload_size);
        c->len += c->too_big ? 0 : *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&mu);
    if (c->too_big)
        st = 413, snprintf(out, sizeof out, "{}");
    else if (strncmp(url, "/desec/", 7) == 0)
        st = desec(conn, method, url + 6, c, out, sizeof out);
    else if (strncmp(url, "/acme/", 6) == 0)
        st = acme(url + 5, out, sizeof out, loc, sizeof loc);
    else
        st = 404, snprintf(out, sizeof out, "{}");
    pthread_mutex_unlock(&mu);
    r = MHD_create_response_from_buffer(strlen(out), out, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Replay-Nonce", "bm9uY2U");
    if (loc[0] != '\0')
        MHD_add_response_header(r, "Location", loc);
    ret = MHD_queue_response(conn, st, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

/* ---- the exec provider's recording script ---- */

static char dir_[64], script_[128], calls_[128];

static void write_script(void)
{
    FILE *f;

    snprintf(dir_, sizeof dir_, "/tmp/test_dns_batch.XXXXXX");
    assert_non_null(mkdtemp(dir_));
    snprintf(script_, sizeof script_, "%s/hook.sh", dir_);
    snprintf(calls_, sizeof calls_, "%s/calls", dir_);
    f = fopen(script_, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "echo \"$1 $2 $3\" >> '%s'\n"
            "case \"$1:$3\" in\n"
            "present:FAILP|cleanup:FAILC) echo \"refused $3\" >&2; exit 3;;\n"
            "esac\n"
            "exit 0\n",
            calls_);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(script_, 0700), 0);
}

/* The script's calls so far (a new string, free it), and forgets them. */
static char *take_calls(void)
{
    FILE *f = fopen(calls_, "r");
    char *s = calloc(1, 4096);
    size_t n = 0;

    assert_non_null(s);
    if (f != NULL) {
        n = fread(s, 1, 4095, f);
        fclose(f);
    }
    s[n] = '\0';
    unlink(calls_);
    return s;
}

static void expect_calls(const char *want)
{
    char *got = take_calls();

    assert_string_equal(got, want);
    free(got);
}

static int setup(void **state)
{
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;
    char base[96];

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                               MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, completed,
                               NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL)
        return -1;
    port_ = info->port;
    snprintf(base, sizeof base, "http://127.0.0.1:%u/desec", port_);
    setenv("AUTOCERT_DESEC_BASE_URL", base, 1);
    crypto_init();
    write_script();
    return 0;
}

static int teardown(void **state)
{
    MHD_stop_daemon(daemon_);
    clear_sets();
    unlink(calls_);
    unlink(script_);
    rmdir(dir_);
    return 0;
}

/* ---- dns_batch_by_name ---- */

struct rec {
    struct dns_challenge ch[DNS_BATCH_MAX + 1];
    const struct dns_challenge *p[DNS_BATCH_MAX + 1];
};

static void recs(struct rec *r, size_t n, const char *const *fqdns, const char *const *values)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r->ch[i].domain = "d";
        r->ch[i].fqdn = fqdns[i];
        r->ch[i].value = values[i];
        r->ch[i].token = "t";
        r->ch[i].key_auth = "t.k";
        r->p[i] = &r->ch[i];
    }
}

struct seen {
    char calls[8][160]; /* "fqdn=v1,v2" */
    size_t n;
    const char *fail[2]; /* names fn fails for */
};

static int by_name(void *arg, const char *fqdn, const char *const *values, size_t nv,
                   struct ac_error *e)
{
    struct seen *s = arg;
    size_t o;

    assert_true(s->n < 8);
    o = (size_t)snprintf(s->calls[s->n], sizeof s->calls[0], "%s=", fqdn);
    for (size_t i = 0; i < nv; i++)
        o += (size_t)snprintf(s->calls[s->n] + o, sizeof s->calls[0] - o, "%s%s", i ? "," : "",
                              values[i]);
    s->n++;
    for (size_t i = 0; i < 2; i++) {
        if (s->fail[i] != NULL && strcmp(s->fail[i], fqdn) == 0) {
            ac_error_set(e, AC_ERR_DNS_PROVIDER, "refused %s", fqdn);
            return -1;
        }
    }
    return 0;
}

static const char *const g_fqdns[] = {"_acme-challenge.a.x", "_acme-challenge.b.x",
                                      "_ACME-challenge.A.x", "_acme-challenge.c.x",
                                      "_acme-challenge.b.x"};
static const char *const g_values[] = {"v1", "v2", "v3", "v4", "v5"};

static void test_group_by_name(void **state)
{
    struct rec *r = malloc(sizeof *r);
    struct seen s = {0};
    bool done[5] = {false};
    struct ac_error e;

    assert_non_null(r);
    recs(r, 5, g_fqdns, g_values);
    ac_error_clear(&e);
    assert_int_equal(dns_batch_by_name(r->p, 5, done, false, by_name, &s, &e), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.calls[0], "_acme-challenge.a.x=v1,v3");
    assert_string_equal(s.calls[1], "_acme-challenge.b.x=v2,v5");
    assert_string_equal(s.calls[2], "_acme-challenge.c.x=v4");
    for (size_t i = 0; i < 5; i++)
        assert_true(done[i]);
    /* done may be NULL; n == 0 calls nothing */
    memset(&s, 0, sizeof s);
    assert_int_equal(dns_batch_by_name(r->p, 2, NULL, false, by_name, &s, &e), 0);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof s);
    assert_int_equal(dns_batch_by_name(r->p, 0, NULL, false, by_name, &s, &e), 0);
    assert_int_equal(s.n, 0);
    free(r);
}

static void test_group_failure(void **state)
{
    struct rec *r = malloc(sizeof *r);
    struct seen s = {.fail = {"_acme-challenge.b.x", "_acme-challenge.c.x"}};
    bool done[5] = {false};
    bool want_stop[5] = {true, false, true, false, false};
    bool want_keep[5] = {true, false, true, false, false};
    struct ac_error e;

    assert_non_null(r);
    recs(r, 5, g_fqdns, g_values);
    ac_error_clear(&e);
    assert_int_equal(dns_batch_by_name(r->p, 5, done, false, by_name, &s, &e), -1);
    assert_int_equal(s.n, 2); /* stopped at b: c never tried */
    assert_memory_equal(done, want_stop, sizeof done);
    assert_string_equal(e.kind, AC_ERR_DNS_PROVIDER);
    assert_string_equal(e.message, "refused _acme-challenge.b.x");

    memset(done, 0, sizeof done);
    memset(s.calls, 0, sizeof s.calls);
    s.n = 0;
    ac_error_clear(&e);
    assert_int_equal(dns_batch_by_name(r->p, 5, done, true, by_name, &s, &e), -1);
    assert_int_equal(s.n, 3); /* went on past b to c */
    assert_string_equal(s.calls[2], "_acme-challenge.c.x=v4");
    assert_memory_equal(done, want_keep, sizeof done);
    assert_string_equal(e.message, "refused _acme-challenge.b.x"); /* the first error */

    s.fail[0] = "_acme-challenge.c.x";
    s.fail[1] = NULL;
    memset(done, 0, sizeof done);
    s.n = 0;
    assert_int_equal(dns_batch_by_name(r->p, 5, done, true, by_name, &s, &e), -1);
    want_keep[1] = want_keep[4] = true;
    want_keep[3] = false;
    assert_memory_equal(done, want_keep, sizeof done);
    free(r);
}

static void test_group_too_many(void **state)
{
    struct rec *r = malloc(sizeof *r);
    const char *f[DNS_BATCH_MAX + 1], *v[DNS_BATCH_MAX + 1];
    bool done[DNS_BATCH_MAX + 1] = {false};
    struct seen s = {0};
    struct ac_error e;

    assert_non_null(r);
    for (size_t i = 0; i < DNS_BATCH_MAX + 1; i++) {
        f[i] = i % 2 ? "_acme-challenge.a.x" : "_acme-challenge.b.x";
        v[i] = "v";
    }
    recs(r, DNS_BATCH_MAX + 1, f, v);
    ac_error_clear(&e);
    assert_int_equal(dns_batch_by_name(r->p, DNS_BATCH_MAX + 1, done, false, by_name, &s, &e), -1);
    assert_int_equal(s.n, 0);
    assert_string_equal(e.kind, AC_ERR_INTERNAL);
    for (size_t i = 0; i < DNS_BATCH_MAX + 1; i++)
        assert_false(done[i]);
    /* exactly DNS_BATCH_MAX is fine: two names, one value each (duplicates
     * at a name are given once) */
    assert_int_equal(dns_batch_by_name(r->p, DNS_BATCH_MAX, done, false, by_name, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.calls[0], "_acme-challenge.b.x=v");
    free(r);
}

/* ---- per-record fallback: exec ---- */

static struct dns_provider *exec_provider(void)
{
    struct dns_option o[] = {{"program", script_}};
    struct dns_provider *p = NULL;
    struct ac_error e;

    assert_int_equal(dns_provider_new("exec", o, 1, &p, &e), 0);
    return p;
}

static const char *const x_fqdns[] = {"_acme-challenge.a.x", "_acme-challenge.a.x",
                                      "_acme-challenge.b.x", "_acme-challenge.c.x"};

static void test_fallback_present_partial(void **state)
{
    const char *values[] = {"V1", "V2", "FAILP", "V4"};
    struct dns_provider *p = exec_provider();
    struct rec *r = malloc(sizeof *r);
    bool done[4] = {true, true, true, true}; /* cleared on entry */
    bool want[4] = {true, true, false, false};
    struct ac_error e;

    assert_non_null(r);
    recs(r, 4, x_fqdns, values);
    unlink(calls_); /* forget earlier calls */
    ac_error_clear(&e);
    assert_int_equal(dns_provider_present_many(p, r->p, 4, done, &e), -1);
    assert_memory_equal(done, want, sizeof done);
    expect_calls("present _acme-challenge.a.x. V1\n"
                 "present _acme-challenge.a.x. V2\n"
                 "present _acme-challenge.b.x. FAILP\n"); /* stopped: c never tried */
    assert_string_equal(e.kind, AC_ERR_DNS_PROVIDER);
    assert_non_null(strstr(e.message, "DNS provider exec: present _acme-challenge.b.x"));
    assert_non_null(strstr(e.message, "refused FAILP"));
    assert_null(strstr(e.message, dir_)); /* the program path is an option value */

    /* the caller cleans up exactly what was published */
    assert_int_equal(dns_provider_cleanup_many(p, r->p, 2, &e), 0);
    expect_calls("cleanup _acme-challenge.a.x. V1\n"
                 "cleanup _acme-challenge.a.x. V2\n");

    /* all published: done all set */
    values[2] = "V3";
    recs(r, 4, x_fqdns, values);
    assert_int_equal(dns_provider_present_many(p, r->p, 4, done, &e), 0);
    for (size_t i = 0; i < 4; i++)
        assert_true(done[i]);
    free(take_calls());
    dns_provider_free(p);
    free(r);
}

static void test_fallback_cleanup_goes_on(void **state)
{
    const char *values[] = {"V1", "FAILC", "V3", "FAILC"};
    struct dns_provider *p = exec_provider();
    struct rec *r = malloc(sizeof *r);
    bool done[DNS_BATCH_MAX + 1];
    struct ac_error e;

    assert_non_null(r);
    recs(r, 4, x_fqdns, values);
    unlink(calls_); /* forget earlier calls */
    ac_error_clear(&e);
    assert_int_equal(dns_provider_cleanup_many(p, r->p, 4, &e), -1);
    expect_calls("cleanup _acme-challenge.a.x. V1\n"
                 "cleanup _acme-challenge.a.x. FAILC\n"
                 "cleanup _acme-challenge.b.x. V3\n"
                 "cleanup _acme-challenge.c.x. FAILC\n");
    assert_non_null(strstr(e.message, "DNS provider exec: cleanup _acme-challenge.a.x"));
    assert_null(strstr(e.message, dir_));

    /* bad lists are refused before anything runs */
    assert_int_equal(dns_provider_present_many(p, r->p, DNS_BATCH_MAX + 1, done, &e), -1);
    assert_string_equal(e.kind, AC_ERR_INTERNAL);
    assert_int_equal(dns_provider_cleanup_many(p, r->p, DNS_BATCH_MAX + 1, &e), -1);
    r->ch[1].value = NULL;
    assert_int_equal(dns_provider_present_many(p, r->p, 4, done, &e), -1);
    assert_non_null(strstr(e.message, "DNS provider exec"));
    assert_int_equal(dns_provider_present_many(p, r->p, 0, done, &e), 0);
    expect_calls("");
    dns_provider_free(p);
    free(r);
}

/* ---- batch op: desec against the stand-in ---- */

static struct dns_provider *desec_provider(void)
{
    struct dns_option o[] = {{"token", TOKEN}, {"follow_cname", "false"}};
    struct dns_provider *p = NULL;
    struct ac_error e;

    assert_int_equal(dns_provider_new("desec", o, 2, &p, &e), 0);
    return p;
}

static size_t count_log(const char *prefix)
{
    size_t n = 0;

    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nlog; i++)
        n += strncmp(log_[i], prefix, strlen(prefix)) == 0;
    pthread_mutex_unlock(&mu);
    return n;
}

static const char *set_records(const char *sub)
{
    static char out[512];
    int i;

    pthread_mutex_lock(&mu);
    i = find_set(sub);
    snprintf(out, sizeof out, "%s",
             i < 0 ? "absent"
                   : json_object_to_json_string_ext(sets[i].records, JSON_C_TO_STRING_PLAIN));
    pthread_mutex_unlock(&mu);
    return out;
}

static const char *const d_fqdns[] = {"_acme-challenge.a." ZONE, "_acme-challenge.b." ZONE,
                                      "_acme-challenge.a." ZONE, "_acme-challenge.c." ZONE};
static const char *const d_values[] = {"V1", "V2", "V3", "V4"};

static void test_batch_present_partial(void **state)
{
    struct dns_provider *p = desec_provider();
    struct rec *r = malloc(sizeof *r);
    bool done[4] = {false};
    bool want[4] = {true, false, true, false};
    struct ac_error e;

    assert_non_null(r);
    recs(r, 4, d_fqdns, d_values);
    clear_sets();
    pthread_mutex_lock(&mu);
    snprintf(fail_sub, sizeof fail_sub, "_acme-challenge.b");
    pthread_mutex_unlock(&mu);
    ac_error_clear(&e);
    assert_int_equal(dns_provider_present_many(p, r->p, 4, done, &e), -1);
    assert_memory_equal(done, want, sizeof done);
    /* one write for a's two values; b refused; c never asked */
    assert_string_equal(set_records("_acme-challenge.a"), "[\"\\\"V1\\\"\",\"\\\"V3\\\"\"]");
    assert_int_equal(count_log("POST "), 1);
    assert_int_equal(count_log("GET /domains/" ZONE "/rrsets/_acme-challenge.c/"), 0);
    assert_non_null(strstr(e.message, "DNS provider desec: present _acme-challenge.b." ZONE));
    assert_null(strstr(e.message, TOKEN));

    /* cleanup of the published records: one write removes both */
    {
        const struct dns_challenge *pub[2] = {r->p[0], r->p[2]};
        assert_int_equal(dns_provider_cleanup_many(p, pub, 2, &e), 0);
    }
    assert_string_equal(set_records("_acme-challenge.a"), "absent");
    assert_int_equal(count_log("PATCH "), 1);
    dns_provider_free(p);
    free(r);
}

static void test_batch_cleanup_goes_on(void **state)
{
    struct dns_provider *p = desec_provider();
    struct rec *r = malloc(sizeof *r);
    bool done[4] = {false};
    struct ac_error e;

    assert_non_null(r);
    recs(r, 4, d_fqdns, d_values);
    clear_sets();
    ac_error_clear(&e);
    assert_int_equal(dns_provider_present_many(p, r->p, 4, done, &e), 0);
    for (size_t i = 0; i < 4; i++)
        assert_true(done[i]);
    assert_int_equal(count_log("POST "), 3); /* one write per name */
    assert_string_equal(set_records("_acme-challenge.c"), "[\"\\\"V4\\\"\"]");

    pthread_mutex_lock(&mu);
    snprintf(fail_sub, sizeof fail_sub, "_acme-challenge.b");
    pthread_mutex_unlock(&mu);
    assert_int_equal(dns_provider_cleanup_many(p, r->p, 4, &e), -1);
    assert_string_equal(set_records("_acme-challenge.a"), "absent");
    assert_string_equal(set_records("_acme-challenge.b"), "[\"\\\"V2\\\"\"]");
    assert_string_equal(set_records("_acme-challenge.c"), "absent"); /* went on past b */
    assert_non_null(strstr(e.message, "DNS provider desec: cleanup"));
    assert_null(strstr(e.message, TOKEN));
    dns_provider_free(p);
    free(r);
}

/* ---- dns_provider_new_resolvers ---- */

static int new_res(const char *name, const struct dns_option *o, size_t n, const char *const *res,
                   size_t nres, struct ac_error *e)
{
    struct dns_provider *p = (struct dns_provider *)1;
    int rc;

    ac_error_clear(e);
    rc = dns_provider_new_resolvers(name, o, n, res, nres, &p, e);
    if (rc == 0)
        assert_non_null(p);
    else
        assert_null(p);
    dns_provider_free(p);
    return rc;
}

static void test_resolvers_injected(void **state)
{
    struct dns_option d[] = {
        {"token", TOKEN}, {"follow_cname", "false"}, {"dns_resolvers", "127.0.0.1:5300"}};
    struct dns_option x[] = {{"program", script_}};
    const char *bad[] = {"[::1"}; /* refused by dns_resolvers validation */
    struct ac_error e;

    /* declared and absent: the set's resolvers are used (and validated) */
    assert_int_equal(new_res("desec", d, 2, bad, 1, &e), -1);
    assert_non_null(strstr(e.message, "dns_resolvers"));
    assert_null(strstr(e.message, TOKEN));
    /* an explicit dns_resolvers wins */
    assert_int_equal(new_res("desec", d, 3, bad, 1, &e), 0);
    /* not declared (exec): not passed */
    assert_int_equal(new_res("exec", x, 1, bad, 1, &e), 0);
    /* none given */
    assert_int_equal(new_res("desec", d, 2, NULL, 0, &e), 0);
    assert_int_equal(new_res("nosuch", d, 2, bad, 1, &e), -1);
}

static void test_resolvers_cap(void **state)
{
    struct dns_option d[] = {{"token", TOKEN}, {"follow_cname", "false"}};
    const char *res[10] = {"127.0.0.1:5301", "127.0.0.2", "[::1]:53",  "127.0.0.4:53",
                           "127.0.0.5",      "127.0.0.6", "127.0.0.7", "127.0.0.8",
                           "127.0.0.9",      "127.0.0.10"};
    struct ac_error e;

    assert_int_equal(new_res("desec", d, 2, res, 10, &e), 0); /* first 8 taken */
    res[8] = "[::1";
    assert_int_equal(new_res("desec", d, 2, res, 9, &e), 0); /* the 9th never seen */
    res[7] = "[::1";
    assert_int_equal(new_res("desec", d, 2, res, 9, &e), -1); /* the 8th is */
    assert_non_null(strstr(e.message, "dns_resolvers"));
}

/* ---- acme_order_obtain: present_all / cleanup_all ---- */

struct fake {
    int present, cleanup, present_all, cleanup_all;
    bool publish[3];
    bool fail;
    char given[3][160];   /* "fqdn value" given to present_all */
    char cleaned[3][160]; /* given to cleanup_all */
    size_t ngiven, ncleaned;
};

static int f_present(void *arg, const struct dns_challenge *ch, struct ac_error *e)
{
    ((struct fake *)arg)->present++;
    return 0;
}

static int f_cleanup(void *arg, const struct dns_challenge *ch, struct ac_error *e)
{
    ((struct fake *)arg)->cleanup++;
    return 0;
}

static int f_present_all(void *arg, const struct dns_challenge *const *chs, size_t n,
                         bool *published, struct ac_error *e)
{
    struct fake *f = arg;

    f->present_all++;
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_false(published[i]);
        snprintf(f->given[i], sizeof f->given[0], "%s %s", chs[i]->fqdn, chs[i]->value);
        published[i] = f->publish[i];
    }
    f->ngiven = n;
    if (!f->fail)
        return 0;
    ac_error_set(e, AC_ERR_DNS_PROVIDER, "fake batch refused");
    return -1;
}

static int f_cleanup_all(void *arg, const struct dns_challenge *const *chs, size_t n,
                         struct ac_error *e)
{
    struct fake *f = arg;

    f->cleanup_all++;
    assert_true(n <= 3);
    for (size_t i = 0; i < n; i++)
        snprintf(f->cleaned[i], sizeof f->cleaned[0], "%s %s", chs[i]->fqdn, chs[i]->value);
    f->ncleaned = n;
    return 0;
}

static int run_order(struct fake *f, struct ac_error *e)
{
    const char *ids[] = {"a." ZONE, "*.a." ZONE, "b." ZONE};
    unsigned char csr[4] = {1, 2, 3, 4};
    struct acme_order_params prm = {
        .identifiers = ids, .count = 3, .csr_der = csr, .csr_len = sizeof csr, .timeout_ms = 20000};
    struct acme_solver s = {.arg = f,
                            .present = f_present,
                            .cleanup = f_cleanup,
                            .present_all = f_present_all,
                            .cleanup_all = f_cleanup_all};
    struct acme_client_opts o = {.timeout_ms = 5000};
    struct acme_client *c = NULL;
    struct crypto_key *key = NULL;
    char url[96], *chain = NULL;
    size_t len = 0;
    int rc;

    pthread_mutex_lock(&mu);
    memset(answered, 0, sizeof answered);
    pthread_mutex_unlock(&mu);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/acme/dir", port_);
    o.directory_url = url;
    assert_int_equal(crypto_key_generate(CRYPTO_KEY_EC256, &key, e), 0);
    assert_int_equal(acme_client_new(&o, key, &c, e), 0);
    assert_int_equal(acme_account_ensure(c, NULL, NULL, NULL, e), 0);
    rc = acme_order_obtain(c, &prm, &s, &chain, &len, e);
    assert_null(chain);
    acme_client_free(c);
    crypto_key_free(key);
    return rc;
}

static void test_order_cleanup_after_present_failure(void **state)
{
    struct fake f = {.publish = {true, false, true}, .fail = true};
    struct ac_error e;

    assert_int_equal(run_order(&f, &e), -1);
    assert_non_null(strstr(e.message, "fake batch refused"));
    assert_int_equal(f.present_all, 1);
    assert_int_equal(f.cleanup_all, 1);
    assert_int_equal(f.present + f.cleanup, 0);
    assert_int_equal(f.ncleaned, 2);
    assert_string_equal(f.cleaned[0], f.given[0]);
    assert_string_equal(f.cleaned[1], f.given[2]);
    assert_non_null(strstr(f.given[0], "_acme-challenge.a." ZONE " "));
    assert_non_null(strstr(f.given[1], "_acme-challenge.a." ZONE " "));
    assert_string_not_equal(f.given[0], f.given[1]); /* apex and wildcard: two values */
    pthread_mutex_lock(&mu);
    assert_false(answered[0] || answered[1] || answered[2]); /* nothing answered */
    pthread_mutex_unlock(&mu);

    /* nothing published: no cleanup call at all */
    memset(&f, 0, sizeof f);
    f.fail = true;
    assert_int_equal(run_order(&f, &e), -1);
    assert_int_equal(f.present_all, 1);
    assert_int_equal(f.cleanup_all, 0);
}

static void test_order_cleanup_after_invalid_authz(void **state)
{
    struct fake f = {.publish = {true, true, true}};
    struct ac_error e;

    assert_int_equal(run_order(&f, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_CHALLENGE);
    pthread_mutex_lock(&mu);
    assert_true(answered[0] && answered[1] && answered[2]);
    pthread_mutex_unlock(&mu);
    assert_int_equal(f.cleanup_all, 1);
    assert_int_equal(f.present + f.cleanup, 0);
    assert_int_equal(f.ncleaned, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(f.cleaned[i], f.given[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_by_name),
        cmocka_unit_test(test_group_failure),
        cmocka_unit_test(test_group_too_many),
        cmocka_unit_test(test_fallback_present_partial),
        cmocka_unit_test(test_fallback_cleanup_goes_on),
        cmocka_unit_test(test_batch_present_partial),
        cmocka_unit_test(test_batch_cleanup_goes_on),
        cmocka_unit_test(test_resolvers_injected),
        cmocka_unit_test(test_resolvers_cap),
        cmocka_unit_test(test_order_cleanup_after_present_failure),
        cmocka_unit_test(test_order_cleanup_after_invalid_authz),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
