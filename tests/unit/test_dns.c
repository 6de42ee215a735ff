/* test_dns.c - DNS provider layer: registry lookups and aliases, option
 * validation (unknown keys with did-you-mean, missing required keys, common
 * keys with bad values, provider-specific checks), settings defaults and
 * parsing, secrets kept out of error messages, the TXT answer check, and the
 * exec provider end to end with a small shell script. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dns_common.h"
#include "dns_provider.h"
#include "error.h"
#include "timeutil.h"

#define SECRET "s3cr3t-VALUE-do-not-print"

static void test_registry_find(void **state)
{
    const struct dns_provider_ops *const *list = dns_provider_list();
    size_t n = 0;

    (void)state;
    assert_non_null(dns_provider_find("challtestsrv"));
    assert_non_null(dns_provider_find("exec"));
    assert_non_null(dns_provider_find("httpreq"));
    assert_string_equal(dns_provider_find("httpreq")->name, "httpreq");
    /* Case-sensitive, as GoDoxy. */
    assert_null(dns_provider_find("HTTPREQ"));
    assert_null(dns_provider_find("Exec"));
    assert_null(dns_provider_find("nope"));
    assert_null(dns_provider_find(""));
    assert_null(dns_provider_find(NULL));
    for (; list[n] != NULL; n++) {
        /* Every entry resolves to itself by name and by alias, names unique. */
        assert_ptr_equal(dns_provider_find(list[n]->name), list[n]);
        if (list[n]->alias != NULL)
            assert_ptr_equal(dns_provider_find(list[n]->alias), list[n]);
        assert_non_null(list[n]->options);
        /* one record at a time, or whole value sets (the layer derives the rest) */
        assert_true(list[n]->present != NULL || list[n]->add_values != NULL);
        assert_true(list[n]->cleanup != NULL || list[n]->remove_values != NULL);
        for (size_t j = 0; j < n; j++)
            assert_string_not_equal(list[j]->name, list[n]->name);
    }
    assert_true(n >= 3);
}

static void test_registry_alias(void **state)
{
    const struct dns_provider_ops *const *list = dns_provider_list();
    bool rfc2136_checked = false;

    (void)state;
    /* If dnsupdate is registered, its alias rfc2136 must resolve to it. */
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i]->name, "dnsupdate") == 0) {
            assert_ptr_equal(dns_provider_find("rfc2136"), list[i]);
            rfc2136_checked = true;
        }
    }
    if (!rfc2136_checked)
        assert_null(dns_provider_find("rfc2136"));
}

static void test_common_options_list(void **state)
{
    static const char *const want[] = {"ttl", "propagation_timeout", "polling_interval",
                                       "http_timeout", "sequence_interval"};
    size_t n = 0;

    (void)state;
    while (dns_common_options[n] != NULL)
        n++;
    assert_int_equal(n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_true(dns_is_common_option(want[i]));
    assert_false(dns_is_common_option("endpoint"));
}

static void test_validate_ok(void **state)
{
    struct dns_option o[] = {{"endpoint", "http://127.0.0.1:1/x"},
                             {"username", SECRET},
                             {"password", SECRET},
                             {"ttl", "300"},
                             {"propagation_timeout", "2m"},
                             {"polling_interval", "5"}};
    struct ac_error e;

    (void)state;
    ac_error_clear(&e);
    assert_int_equal(dns_options_validate("httpreq", o, 6, &e), 0);
    assert_string_equal(e.kind, "");
}

static void test_validate_unknown_key(void **state)
{
    struct dns_option o[] = {{"endpoint", "http://127.0.0.1:1/x"}, {"pasword", SECRET}};
    struct dns_option o2[] = {{"endpoint", "http://127.0.0.1:1/x"}, {"propagation_timout", "60"}};
    struct dns_option o3[] = {{"endpoint", "http://127.0.0.1:1/x"}, {"zzzzqqqq", SECRET}};
    struct ac_error e;

    (void)state;
    assert_int_equal(dns_options_validate("httpreq", o, 2, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CONFIG);
    assert_non_null(strstr(e.message, "httpreq"));
    assert_non_null(strstr(e.message, "unknown option pasword"));
    assert_non_null(strstr(e.message, "did you mean password?"));
    assert_null(strstr(e.message, SECRET));

    assert_int_equal(dns_options_validate("httpreq", o2, 2, &e), -1);
    assert_non_null(strstr(e.message, "did you mean propagation_timeout?"));

    assert_int_equal(dns_options_validate("httpreq", o3, 2, &e), -1);
    assert_non_null(strstr(e.message, "unknown option zzzzqqqq"));
    assert_null(strstr(e.message, "did you mean"));
    assert_null(strstr(e.message, SECRET));
}

static void test_validate_missing_required(void **state)
{
    struct dns_option o[] = {{"username", SECRET}, {"password", SECRET}};
    struct dns_option empty[] = {{"program", ""}};
    struct ac_error e;

    (void)state;
    assert_int_equal(dns_options_validate("httpreq", o, 2, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CONFIG);
    assert_non_null(strstr(e.message, "httpreq"));
    assert_non_null(strstr(e.message, "missing required option endpoint"));
    assert_null(strstr(e.message, SECRET));

    assert_int_equal(dns_options_validate("exec", NULL, 0, &e), -1);
    assert_non_null(strstr(e.message, "missing required option program"));
    assert_int_equal(dns_options_validate("exec", empty, 1, &e), -1);
    assert_non_null(strstr(e.message, "missing required option program"));
}

static void test_validate_unknown_provider(void **state)
{
    struct ac_error e;

    (void)state;
    assert_int_equal(dns_options_validate("httpreqq", NULL, 0, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CONFIG);
    assert_non_null(strstr(e.message, "unknown DNS provider \"httpreqq\""));
    assert_non_null(strstr(e.message, "did you mean \"httpreq\""));
    assert_int_equal(dns_options_validate("Exec", NULL, 0, &e), -1);
    assert_non_null(strstr(e.message, "did you mean \"exec\""));
}

static void test_validate_common_values(void **state)
{
    static const char *const bad[] = {"abc", "-5", "", "1x", "0", "99999999999", "2 m", "10d"};
    static const char *const keys[] = {"ttl", "propagation_timeout", "polling_interval",
                                       "http_timeout"};
    struct ac_error e;

    (void)state;
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            struct dns_option o[] = {{"program", "/bin/true"}, {keys[k], bad[i]}};
            assert_int_equal(dns_options_validate("exec", o, 2, &e), -1);
            assert_string_equal(e.kind, AC_ERR_CONFIG);
            assert_non_null(strstr(e.message, keys[k]));
            assert_non_null(strstr(e.message, "exec"));
            if (bad[i][0] != '\0' && strcmp(bad[i], "0") != 0)
                assert_null(strstr(e.message, bad[i]));
        }
    }
    /* sequence_interval may be 0. */
    struct dns_option ok[] = {{"program", "/bin/true"}, {"sequence_interval", "0"}};
    assert_int_equal(dns_options_validate("exec", ok, 2, &e), 0);
    /* Duplicate keys are refused. */
    struct dns_option dup[] = {{"program", "/bin/true"}, {"program", "/bin/false"}};
    assert_int_equal(dns_options_validate("exec", dup, 2, &e), -1);
    assert_non_null(strstr(e.message, "given twice"));
    assert_null(strstr(e.message, "/bin/"));
}

static void test_validate_provider_specific(void **state)
{
    struct dns_option user_only[] = {{"endpoint", "http://127.0.0.1:1"}, {"username", SECRET}};
    struct dns_option bad_mode[] = {{"endpoint", "http://127.0.0.1:1"}, {"mode", SECRET}};
    struct dns_option bad_url[] = {{"endpoint", SECRET}};
    struct dns_option cts_bad[] = {{"url", SECRET}};
    struct ac_error e;

    (void)state;
    assert_int_equal(dns_options_validate("httpreq", user_only, 2, &e), -1);
    assert_non_null(strstr(e.message, "password"));
    assert_null(strstr(e.message, SECRET));
    assert_int_equal(dns_options_validate("httpreq", bad_mode, 2, &e), -1);
    assert_non_null(strstr(e.message, "option mode"));
    assert_null(strstr(e.message, SECRET));
    assert_int_equal(dns_options_validate("httpreq", bad_url, 1, &e), -1);
    assert_non_null(strstr(e.message, "option endpoint"));
    assert_null(strstr(e.message, SECRET));
    assert_int_equal(dns_options_validate("challtestsrv", cts_bad, 1, &e), -1);
    assert_non_null(strstr(e.message, "option url"));
    assert_null(strstr(e.message, SECRET));
    assert_int_equal(dns_options_validate("exec", bad_mode + 1, 1, &e), -1);
}

static void test_settings(void **state)
{
    struct dns_option o[] = {{"program", "/bin/true"},         {"ttl", "300"},
                             {"propagation_timeout", "1h30m"}, {"polling_interval", "3"},
                             {"http_timeout", "45s"},          {"sequence_interval", "2m"}};
    struct dns_provider *p = NULL;
    const struct dns_settings *s;
    struct ac_error e;

    (void)state;
    assert_int_equal(dns_provider_new("exec", o, 1, &p, &e), 0);
    s = dns_provider_settings(p);
    assert_int_equal(s->ttl, 120);
    assert_int_equal(s->propagation_timeout_ms, 60000);
    assert_int_equal(s->polling_interval_ms, 2000);
    assert_int_equal(s->http_timeout_ms, 30000);
    assert_int_equal(s->sequence_interval_ms, 0);
    assert_string_equal(dns_provider_name(p), "exec");
    dns_provider_free(p);

    assert_int_equal(dns_provider_new("exec", o, 6, &p, &e), 0);
    s = dns_provider_settings(p);
    assert_int_equal(s->ttl, 300);
    assert_int_equal(s->propagation_timeout_ms, 5400000);
    assert_int_equal(s->polling_interval_ms, 3000);
    assert_int_equal(s->http_timeout_ms, 45000);
    assert_int_equal(s->sequence_interval_ms, 120000);
    dns_provider_free(p);
    dns_provider_free(NULL);

    p = (struct dns_provider *)&e;
    assert_int_equal(dns_provider_new("nope", NULL, 0, &p, &e), -1);
    assert_null(p);
}

/* Wire answer with rcode and TXT records given as zone-file rdata. */
static size_t make_answer(uint8_t **wire, ldns_pkt_rcode rcode, const char *const *txts, size_t n)
{
    ldns_pkt *pkt = ldns_pkt_new();
    size_t len = 0;

    ldns_pkt_set_qr(pkt, true);
    ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
    for (size_t i = 0; i < n; i++) {
        char line[512];
        ldns_rr *rr = NULL;
        snprintf(line, sizeof line, "_acme-challenge.example.test. 60 IN TXT %s", txts[i]);
        assert_int_equal(ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL), LDNS_STATUS_OK);
        assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr));
    }
    assert_int_equal(ldns_pkt2wire(wire, pkt, &len), LDNS_STATUS_OK);
    ldns_pkt_free(pkt);
    return len;
}

static void test_answer_check(void **state)
{
    static const char *const two[] = {"\"valueA\"", "\"val\" \"ueB\""};
    uint8_t *wire = NULL;
    char desc[240];
    size_t len;

    (void)state;
    len = make_answer(&wire, LDNS_RCODE_NOERROR, two, 2);
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "valueA", desc, sizeof desc), 1);
    /* Character strings are concatenated. */
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "valueB", desc, sizeof desc), 1);
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "value", desc, sizeof desc), 0);
    assert_string_equal(desc, "NOERROR with values [\"valueA\", \"valueB\"]");
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "valueAx", desc, sizeof desc), 0);
    free(wire);

    len = make_answer(&wire, LDNS_RCODE_NXDOMAIN, NULL, 0);
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "v", desc, sizeof desc), 0);
    assert_string_equal(desc, "NXDOMAIN");
    free(wire);
    len = make_answer(&wire, LDNS_RCODE_REFUSED, NULL, 0);
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "v", desc, sizeof desc), 0);
    assert_string_equal(desc, "REFUSED");
    free(wire);
    len = make_answer(&wire, LDNS_RCODE_NOERROR, NULL, 0);
    assert_int_equal(dns_txt_answer_check_wire(wire, len, "v", desc, sizeof desc), 0);
    assert_string_equal(desc, "NOERROR with no TXT record");
    /* Truncated wire data does not parse. */
    assert_int_equal(dns_txt_answer_check_wire(wire, 5, "v", desc, sizeof desc), -1);
    free(wire);
}

static void test_propagation_bad_resolver(void **state)
{
    const char *bad[] = {"127.0.0.1:99999"};
    const char *bad2[] = {"127.0.0.1:"};
    struct ac_error e;

    (void)state;
    assert_int_equal(dns_propagation_wait("_acme-challenge.example.test", "v", bad, 1, 100, 50, &e),
                     -1);
    assert_non_null(strstr(e.message, "127.0.0.1:99999"));
    assert_int_equal(
        dns_propagation_wait("_acme-challenge.example.test", "v", bad2, 1, 100, 50, &e), -1);
    assert_non_null(strstr(e.message, "host:port"));
}

/* exec provider: a script records its arguments; a failing one reports its
 * status and the last stderr line. */
static void test_exec_provider(void **state)
{
    char dir[] = "/tmp/test_dns_execXXXXXX";
    char script[256], log[256], failing[256], buf[512];
    struct dns_provider *p = NULL;
    struct ac_error e;
    FILE *f;
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof script, "%s/hook.sh", dir);
    snprintf(log, sizeof log, "%s/args", dir);
    snprintf(failing, sizeof failing, "%s/fail.sh", dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\necho \"$#|$1|$2|$3|$4\" >> '%s'\n", log);
    fclose(f);
    chmod(script, 0700);
    f = fopen(failing, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\necho noise >&2\necho 'zone not found' >&2\nexit 3\n");
    fclose(f);
    chmod(failing, 0700);

    struct dns_option o[] = {{"program", script}};
    struct dns_challenge ch = {"example.test", "_acme-challenge.example.test", "VALUE", "TOK",
                               "TOK.THUMB"};
    assert_int_equal(dns_provider_new("exec", o, 1, &p, &e), 0);
    assert_int_equal(dns_provider_present(p, &ch, &e), 0);
    assert_int_equal(dns_provider_cleanup(p, &ch, &e), 0);
    dns_provider_free(p);

    struct dns_option raw[] = {{"program", script}, {"mode", "RAW"}};
    assert_int_equal(dns_provider_new("exec", raw, 2, &p, &e), 0);
    assert_int_equal(dns_provider_present(p, &ch, &e), 0);
    dns_provider_free(p);

    f = fopen(log, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, "3|present|_acme-challenge.example.test.|VALUE|\n"
                             "3|cleanup|_acme-challenge.example.test.|VALUE|\n"
                             "4|present|example.test|TOK|TOK.THUMB\n");

    struct dns_option fo[] = {{"program", failing}};
    assert_int_equal(dns_provider_new("exec", fo, 1, &p, &e), 0);
    assert_int_equal(dns_provider_present(p, &ch, &e), -1);
    assert_string_equal(e.kind, AC_ERR_DNS_PROVIDER);
    assert_non_null(strstr(e.message, "exited with status 3: zone not found"));
    assert_non_null(strstr(e.message, "exec"));
    assert_null(strstr(e.message, failing)); /* the program path is an option value */
    dns_provider_free(p);

    struct dns_option missing[] = {{"program", "/nonexistent/" SECRET}};
    assert_int_equal(dns_provider_new("exec", missing, 1, &p, &e), -1);
    assert_null(p);
    assert_non_null(strstr(e.message, "option program"));
    assert_null(strstr(e.message, SECRET));

    unlink(script);
    unlink(failing);
    unlink(log);
    rmdir(dir);
}

static void test_exec_timeout(void **state)
{
    char dir[] = "/tmp/test_dns_execXXXXXX";
    char script[256];
    struct dns_provider *p = NULL;
    struct ac_error e;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof script, "%s/slow.sh", dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nif [ \"$1\" = cleanup ]; then sleep 3 & exit 0; fi\nsleep 30\n");
    fclose(f);
    chmod(script, 0700);
    struct dns_option o[] = {{"program", script}, {"http_timeout", "2"}};
    struct dns_challenge ch = {"example.test", "_acme-challenge.example.test", "V", "T", "T.K"};
    /* A program that exits leaving a child with our pipes open: success, soon. */
    assert_int_equal(dns_provider_new("exec", o, 2, &p, &e), 0);
    int64_t m0 = ac_mono_ms();
    assert_int_equal(dns_provider_cleanup(p, &ch, &e), 0);
    assert_true(ac_mono_ms() - m0 < 1500);
    dns_provider_free(p);
    assert_int_equal(dns_provider_new("exec", o, 2, &p, &e), 0);
    time_t t0 = time(NULL);
    assert_int_equal(dns_provider_present(p, &ch, &e), -1);
    assert_true(time(NULL) - t0 < 10);
    assert_string_equal(e.kind, AC_ERR_TIMEOUT);
    assert_non_null(strstr(e.message, "killed after 2000 ms"));
    dns_provider_free(p);
    unlink(script);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_find),
        cmocka_unit_test(test_registry_alias),
        cmocka_unit_test(test_common_options_list),
        cmocka_unit_test(test_validate_ok),
        cmocka_unit_test(test_validate_unknown_key),
        cmocka_unit_test(test_validate_missing_required),
        cmocka_unit_test(test_validate_unknown_provider),
        cmocka_unit_test(test_validate_common_values),
        cmocka_unit_test(test_validate_provider_specific),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_answer_check),
        cmocka_unit_test(test_propagation_bad_resolver),
        cmocka_unit_test(test_exec_provider),
        cmocka_unit_test(test_exec_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
