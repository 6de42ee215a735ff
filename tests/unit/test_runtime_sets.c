/*
 * test_runtime_sets.c - run-time sets on the public API
 * (autocert_manager_add_set / _remove_set: names, the YAML spec and its
 * positioned errors, inheritance from main, path and name clashes, the
 * selector, SNI, configuration reloads) and the admin API at scale
 * (/status and /info filters name, domain, state; limit and cursor pages
 * with Link: rel="next"; a bad cursor and a limit over the maximum; GoDoxy's
 * /info array without limit; /metrics counts by state and
 * admin.metrics_per_set).
 *
 * The configuration: main and extra[1], local sets with certificates; the
 * run-time sets "alpha", "beta", "gamma" (local, inheriting main's provider,
 * with certificates).
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka after the system headers */
#include <cmocka.h>

#include "autocert/autocert.h"
#include "autocert/autocert_admin.h"
#include "test_manager_certs.h"

static char dir[] = "/tmp/ac-rts-XXXXXX";
static char cfg_path[256];
static autocert_manager *mgr;

/* ---- helpers ---- */

struct diags {
    int errors, warnings;
    char first[1024];
};

static void collect(void *arg, const autocert_diag *d)
{
    struct diags *ds = arg;

    if (d->warning) {
        ds->warnings++;
        return;
    }
    if (ds->errors++ == 0)
        autocert_diag_format(d, ds->first, sizeof ds->first);
}

static void write_config(const char *extra_yaml)
{
    FILE *f = fopen(cfg_path, "w");

    assert_non_null(f);
    fprintf(f,
            "autocert:\n  provider: local\n  cert_path: %s/main.crt\n  key_path: %s/main.key\n"
            "  extra:\n    - cert_path: %s/x1.crt\n      key_path: %s/x1.key\n%s",
            dir, dir, dir, dir, extra_yaml != NULL ? extra_yaml : "");
    fclose(f);
}

static int add(const char *name, const char *file, autocert_error *err)
{
    char spec[512];

    snprintf(spec, sizeof spec, "cert_path: %s/%s.crt\nkey_path: %s/%s.key\n", dir, file, dir,
             file);
    return autocert_manager_add_set(mgr, name, spec, NULL, NULL, err);
}

struct answer {
    int status;
    char *body;
    char link[512];
};

static void request(const char *path, const char *query, struct answer *a)
{
    autocert_admin_response *r = NULL;
    const char *name, *value;
    char buf[4096];
    size_t used = 0, cap = 1 << 20;
    ssize_t n;

    memset(a, 0, sizeof *a);
    assert_int_equal(autocert_admin_handle_trusted(mgr, "GET", path, query, &r), 0);
    a->status = autocert_admin_response_status(r);
    for (size_t i = 0; autocert_admin_response_header(r, i, &name, &value) == 0; i++)
        if (strcmp(name, "Link") == 0)
            snprintf(a->link, sizeof a->link, "%s", value);
    a->body = malloc(cap);
    assert_non_null(a->body);
    while ((n = autocert_admin_response_read(r, buf, sizeof buf)) > 0) {
        assert_true(used + (size_t)n < cap);
        memcpy(a->body + used, buf, (size_t)n);
        used += (size_t)n;
    }
    a->body[used] = '\0';
    autocert_admin_response_free(r);
}

/* The "name" fields of a JSON array body, joined with ",". */
static void names_of(const char *body, char *out, size_t n)
{
    struct json_object *arr = json_tokener_parse(body);

    out[0] = '\0';
    assert_non_null(arr);
    assert_true(json_object_is_type(arr, json_type_array));
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *v;

        assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, i), "name", &v));
        snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? "," : "",
                 json_object_get_string(v));
    }
    json_object_put(arr);
}

/* The query of the Link target ("<path?query>; rel=\"next\"") into q. */
static void link_query(const char *link, const char *path, char *q, size_t n)
{
    const char *p = strchr(link, '<'), *e = strchr(link, '>');

    assert_non_null(p);
    assert_non_null(e);
    assert_non_null(strstr(link, "rel=\"next\""));
    assert_int_equal(strncmp(p + 1, path, strlen(path)), 0);
    p += 1 + strlen(path);
    assert_int_equal(*p, '?');
    snprintf(q, n, "%.*s", (int)(e - p - 1), p + 1);
}

/* ---- run-time sets ---- */

static void test_names(void **state)
{
    static const char *const bad[] = {"main",
                                      "extra1",
                                      "extra12",
                                      "Main",
                                      "-a",
                                      ".a",
                                      "a b",
                                      "a/b",
                                      "",
                                      "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
                                      "abcdefghij1234"};
    autocert_error err;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(add(bad[i], "n", &err), -1);
        assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    }
    assert_int_equal(autocert_manager_add_set(mgr, NULL, "provider: local\n", NULL, NULL, &err),
                     -1);
    assert_int_equal(autocert_manager_set_count(mgr), 2);
}

static void test_spec_errors(void **state)
{
    struct diags d = {0};
    autocert_error err;
    char spec[512];

    (void)state;
    /* an unknown key on line 2: positioned in the spec, named after the set */
    snprintf(spec, sizeof spec, "cert_path: %s/e.crt\nkey_pth: %s/e.key\n", dir, dir);
    assert_int_equal(autocert_manager_add_set(mgr, "routes-e", spec, collect, &d, &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_int_equal(d.errors, 1);
    print_message("diag: %s\n", d.first);
    assert_non_null(strstr(d.first, "routes-e:2:"));
    assert_non_null(strstr(d.first, "key_pth"));
    assert_null(strstr(err.message, "extra[1]"));

    /* a semantic error: the key path is relative to the entry */
    memset(&d, 0, sizeof d);
    snprintf(spec, sizeof spec,
             "domains: [good.example.com, bad..example.com]\nprovider: cloudflare\n"
             "email: a@example.com\noptions: {auth_token: abcdefghijklmnop}\n"
             "cert_path: %s/e.crt\nkey_path: %s/e.key\n",
             dir, dir);
    assert_int_equal(autocert_manager_add_set(mgr, "routes-e", spec, collect, &d, &err), -1);
    print_message("diag: %s\n", d.first);
    assert_non_null(strstr(d.first, "routes-e:1:"));
    assert_non_null(strstr(d.first, "domains[2]"));
    assert_non_null(strstr(d.first, "bad..example.com"));
    assert_null(strstr(d.first, "abcdefghijklmnop")); /* a secret never shows */

    /* YAML syntax */
    memset(&d, 0, sizeof d);
    assert_int_equal(autocert_manager_add_set(mgr, "routes-e", "domains: [a\n", collect, &d, &err),
                     -1);
    assert_true(d.errors >= 1);

    /* the paths of another set: main's (defaults under main's) and extra[1]'s */
    assert_int_equal(add("clash", "main", &err), -1);
    print_message("clash: %s\n", err.message);
    assert_non_null(strstr(err.message, "main"));
    assert_int_equal(add("clash", "x1", &err), -1);
    assert_non_null(strstr(err.message, "extra[1]"));
    assert_int_equal(autocert_manager_set_count(mgr), 2);
}

static void test_add_find_lookup_remove(void **state)
{
    autocert_error err;
    autocert_status st;
    autocert_cert *c;
    size_t idx;

    (void)state;
    assert_int_equal(add("gamma", "gamma", &err), 0);
    assert_int_equal(add("alpha", "alpha", &err), 0);
    assert_int_equal(add("beta", "beta", &err), 0);
    assert_int_equal(add("beta", "beta2", &err), -1); /* the name is taken */
    assert_non_null(strstr(err.message, "beta"));
    assert_int_equal(add("beta2", "beta", &err), -1); /* the files are taken */
    assert_non_null(strstr(err.message, "beta"));
    assert_int_equal(autocert_manager_set_count(mgr), 5);
    /* YAML sets first, then run-time sets by name */
    static const char *const order[] = {"main", "extra[1]", "alpha", "beta", "gamma"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(autocert_manager_status(mgr, i, &st), 0);
        assert_string_equal(st.name, order[i]);
        assert_string_equal(st.provider, "local"); /* inherited from main */
        assert_true(st.has_cert);
        autocert_status_clear(&st);
    }
    assert_int_equal(autocert_manager_find(mgr, "beta", &idx, &err), 0);
    assert_int_equal(idx, 3);
    assert_int_equal(autocert_manager_find(mgr, "b.example.test", &idx, &err), 0);
    assert_int_equal(idx, 3);
    /* extraN names YAML extras only */
    assert_int_equal(autocert_manager_find(mgr, "extra2", &idx, &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_NO_MATCH);
    c = autocert_manager_lookup(mgr, "g.example.test", strlen("g.example.test"));
    assert_non_null(c);
    assert_string_equal(autocert_cert_set_name(c), "gamma");

    /* YAML sets cannot be removed at run time; unknown names are no match */
    assert_int_equal(autocert_manager_remove_set(mgr, "extra[1]", &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_CONFIG);
    assert_int_equal(autocert_manager_remove_set(mgr, "main", &err), -1);
    assert_int_equal(autocert_manager_remove_set(mgr, "nope", &err), -1);
    assert_string_equal(err.kind, AUTOCERT_E_NO_MATCH);

    assert_int_equal(autocert_manager_remove_set(mgr, "gamma", &err), 0);
    assert_int_equal(autocert_manager_set_count(mgr), 4);
    /* the handle taken before stays valid; handshakes now get main's */
    assert_string_equal(autocert_cert_subject(c), "G");
    autocert_cert_release(c);
    c = autocert_manager_lookup(mgr, "g.example.test", strlen("g.example.test"));
    assert_string_equal(autocert_cert_set_name(c), "main");
    autocert_cert_release(c);
    assert_int_equal(autocert_manager_find(mgr, "g.example.test", &idx, &err), -1);
    assert_int_equal(add("gamma", "gamma", &err), 0); /* back, for the tests below */
}

static void test_reload_keeps_runtime_sets(void **state)
{
    struct diags d = {0};
    autocert_error err;
    char extra[512];
    size_t idx;

    (void)state;
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, NULL, NULL, &err), 0);
    assert_int_equal(autocert_manager_set_count(mgr), 5);
    assert_int_equal(autocert_manager_find(mgr, "alpha", &idx, &err), 0);
    assert_int_equal(idx, 2);
    /* a new YAML extra on the files of a run-time set: refused, naming it */
    snprintf(extra, sizeof extra, "    - cert_path: %s/beta.crt\n      key_path: %s/beta.key\n",
             dir, dir);
    write_config(extra);
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, collect, &d, &err), -1);
    print_message("refused: %s\n", err.message);
    assert_non_null(strstr(err.message, "beta"));
    assert_int_equal(autocert_manager_set_count(mgr), 5);
    /* another new YAML extra: it goes before the run-time sets */
    snprintf(extra, sizeof extra, "    - cert_path: %s/x2.crt\n      key_path: %s/x2.key\n", dir,
             dir);
    write_config(extra);
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, NULL, NULL, &err), 0);
    assert_int_equal(autocert_manager_set_count(mgr), 6);
    assert_int_equal(autocert_manager_find(mgr, "extra2", &idx, &err), 0);
    assert_int_equal(idx, 2);
    assert_int_equal(autocert_manager_find(mgr, "alpha", &idx, &err), 0);
    assert_int_equal(idx, 3);
    write_config(NULL);
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, NULL, NULL, &err), 0);
    assert_int_equal(autocert_manager_set_count(mgr), 5);
}

/* ---- the admin API at scale ---- */

static void test_pages(void **state)
{
    struct answer a;
    char names[512], q[512], all[512] = "";

    (void)state;
    /* without limit: the whole array, no Link */
    request("/api/v1/cert/status", NULL, &a);
    assert_int_equal(a.status, 200);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "main,extra[1],alpha,beta,gamma");
    assert_string_equal(a.link, "");
    free(a.body);
    /* pages of 2 through the Link header */
    snprintf(q, sizeof q, "limit=2");
    for (int page = 0; page < 3; page++) {
        request("/api/v1/cert/status", q, &a);
        assert_int_equal(a.status, 200);
        names_of(a.body, names, sizeof names);
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", page ? "|" : "", names);
        if (page < 2)
            link_query(a.link, "/api/v1/cert/status", q, sizeof q);
        else
            assert_string_equal(a.link, "");
        free(a.body);
    }
    assert_string_equal(all, "main,extra[1]|alpha,beta|gamma");
    /* a set added between pages appears in its place; none repeats */
    request("/api/v1/cert/info", "limit=3", &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "main,extra[1],alpha");
    link_query(a.link, "/api/v1/cert/info", q, sizeof q);
    assert_non_null(strstr(q, "limit=3"));
    free(a.body);
    autocert_error err;
    assert_int_equal(add("aa", "aa", &err), 0); /* before the cursor: not seen */
    assert_int_equal(add("bb", "bb", &err), 0); /* after it: seen */
    request("/api/v1/cert/info", q, &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "bb,beta,gamma");
    free(a.body);
    assert_int_equal(autocert_manager_remove_set(mgr, "aa", &err), 0);
    assert_int_equal(autocert_manager_remove_set(mgr, "bb", &err), 0);
}

static void test_filters(void **state)
{
    struct answer a;
    char names[512], q[512];

    (void)state;
    request("/api/v1/cert/status", "state=valid", &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, ""); /* local sets are unmanaged */
    free(a.body);
    request("/api/v1/cert/status", "state=unmanaged,valid&limit=4", &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "main,extra[1],alpha,beta");
    link_query(a.link, "/api/v1/cert/status", q, sizeof q);
    assert_non_null(strstr(q, "state=unmanaged,valid"));
    free(a.body);
    request("/api/v1/cert/status", q, &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "gamma");
    free(a.body);
    request("/api/v1/cert/status", "name=beta&state=unmanaged", &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "beta");
    free(a.body);
    request("/api/v1/cert/status", "domain=a.example.test", &a);
    names_of(a.body, names, sizeof names);
    assert_string_equal(names, "alpha");
    free(a.body);
    /* AND: name and domain of different sets give nothing */
    request("/api/v1/cert/status", "name=beta&domain=a.example.test", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "[]");
    free(a.body);
    request("/api/v1/cert/info", "name=beta&domain=a.example.test", &a);
    assert_int_equal(a.status, 404);
    free(a.body);
    request("/api/v1/cert/status", "domain=nowhere.example.org", &a);
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(a.body, "select.no_match"));
    free(a.body);
}

static void test_bad_requests(void **state)
{
    static const char *const bad[] = {"limit=1001", "limit=0", "limit=-1", "limit=abc", "limit=10x",
                                      "limit= 5", "state=bogus", "cursor=%%%", "cursor=abc",
                                      /* a well-formed base64url of something else */
                                      "cursor=djI6eTox", "cursor=djE6cjpOT1BF", "cursor=djE6eTo"};
    struct answer a;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        request("/api/v1/cert/status", bad[i], &a);
        if (a.status != 400)
            fail_msg("%s: %d %s", bad[i], a.status, a.body);
        struct json_object *o = json_tokener_parse(a.body), *m;
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "message", &m));
        json_object_put(o);
        free(a.body);
    }
    request("/api/v1/cert/status", "limit=1000", &a);
    assert_int_equal(a.status, 200);
    free(a.body);
}

static void test_info_shape(void **state)
{
    static const char *const keys[] = {"subject",   "issuer",          "not_before", "not_after",
                                       "dns_names", "email_addresses", "name",       "state",
                                       "renews_at", "serial",          "key_type",   "cert_path"};
    struct json_object *arr, *o;
    struct answer a;

    (void)state;
    request("/api/v1/cert/info", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.link, "");
    arr = json_tokener_parse(a.body);
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 5);
    o = json_object_array_get_idx(arr, 0);
    assert_int_equal(json_object_object_length(o), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_true(json_object_object_get_ex(o, keys[i], NULL));
    json_object_put(arr);
    free(a.body);
}

static void test_metrics(void **state)
{
    struct answer a;
    autocert_error err;

    (void)state;
    request("/metrics", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "autocert_sets{state=\"unmanaged\"} 5\n"));
    assert_non_null(strstr(a.body, "autocert_sets{state=\"valid\"} 0\n"));
    assert_non_null(strstr(a.body, "autocert_cert_state{set=\"gamma\",state=\"unmanaged\"} 1"));
    free(a.body);
    /* admin.metrics_per_set: false drops the per-set series */
    FILE *f = fopen(cfg_path, "a");
    assert_non_null(f);
    fprintf(f, "admin:\n  metrics_per_set: false\n");
    fclose(f);
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, NULL, NULL, &err), 0);
    request("/metrics", NULL, &a);
    assert_non_null(strstr(a.body, "autocert_sets{state=\"unmanaged\"} 5\n"));
    assert_null(strstr(a.body, "{set="));
    assert_non_null(strstr(a.body, "autocert_orders_total"));
    free(a.body);
    /* a bad value is a positioned configuration error */
    write_config("admin:\n  metrics_per_set: maybe\n");
    struct diags d = {0};
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, collect, &d, &err), -1);
    print_message("bad value: %s\n", d.first);
    assert_non_null(strstr(d.first, "admin.metrics_per_set"));
    write_config(NULL);
    assert_int_equal(autocert_manager_reload_config(mgr, NULL, NULL, NULL, &err), 0);
}

static int setup(void **state)
{
    static const struct {
        const char *file, *cn, *san;
    } pairs[] = {{"main", "main", "www.example.test"}, {"x1", "X1", "x1.example.test"},
                 {"x2", "X2", "x2.example.test"},      {"alpha", "A", "a.example.test"},
                 {"beta", "B", "b.example.test"},      {"gamma", "G", "g.example.test"},
                 {"aa", "AA", "aa.example.test"},      {"bb", "BB", "bb.example.test"}};
    char crt[256], key[256];
    autocert_error err;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *sans[1] = {pairs[i].san};

        snprintf(crt, sizeof crt, "%s/%s.crt", dir, pairs[i].file);
        snprintf(key, sizeof key, "%s/%s.key", dir, pairs[i].file);
        assert_int_equal(tmc_make(crt, key, pairs[i].cn, sans, 1), 0);
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/autocert.yml", dir);
    write_config(NULL);
    assert_int_equal(autocert_manager_open(cfg_path, NULL, NULL, &mgr, &err), 0);
    assert_int_equal(autocert_manager_load(mgr), 2);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    autocert_manager_free(mgr);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_add_find_lookup_remove),
        cmocka_unit_test(test_reload_keeps_runtime_sets),
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_info_shape),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
