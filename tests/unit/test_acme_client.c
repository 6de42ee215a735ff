/*
 * test_acme_client.c - the ACME client against a small scripted CA
 * (libmicrohttpd on 127.0.0.1) for what Pebble 2.4 cannot show: directory
 * profiles and renewalInfo, ARI with Retry-After, a rate-limit problem with
 * Retry-After through a signed request, an unknown profile, a malformed
 * directory, and the metrics observer.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme.h"
#include "crypto.h"

static struct MHD_Daemon *daemon_;
static unsigned short port_;
static struct crypto_key *key_;
static int observed_ok, observed_err;
static char last_endpoint[32];

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int marker;
    struct MHD_Response *r;
    enum MHD_Result ret;
    char body[1024];
    unsigned status = 200;
    const char *extra_name = NULL, *extra_value = NULL;

    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0; /* the scripted CA ignores request bodies */
        return MHD_YES;
    }
    if (strcmp(url, "/dir") == 0) {
        snprintf(body, sizeof body,
                 "{\"newNonce\":\"http://127.0.0.1:%u/nonce\","
                 "\"newAccount\":\"http://127.0.0.1:%u/acct\","
                 "\"newOrder\":\"http://127.0.0.1:%u/order\","
                 "\"revokeCert\":\"http://127.0.0.1:%u/revoke\","
                 "\"renewalInfo\":\"http://127.0.0.1:%u/ari/\","
                 "\"meta\":{\"profiles\":{\"classic\":\"90 days\",\"shortlived\":\"6 days\"}}}",
                 port_, port_, port_, port_, port_);
    } else if (strcmp(url, "/baddir") == 0) {
        snprintf(body, sizeof body, "{\"newNonce\":5,\"newAccount\":[],\"newOrder\":{}}");
    } else if (strcmp(url, "/nonce") == 0) {
        body[0] = '\0';
    } else if (strncmp(url, "/ari/", 5) == 0) {
        if (strcmp(url + 5, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE") != 0) {
            status = 404;
            snprintf(body, sizeof body, "{\"type\":\"urn:ietf:params:acme:error:malformed\"}");
        } else {
            snprintf(body, sizeof body,
                     "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
                     "\"end\":\"2025-01-03T04:00:00Z\"},"
                     "\"explanationURL\":\"https://acme.example.com/docs/ari\"}");
            extra_name = "Retry-After";
            extra_value = "21600";
        }
    } else if (strcmp(url, "/acct") == 0) {
        status = 429;
        snprintf(body, sizeof body,
                 "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
                 "\"detail\":\"too many registrations for this IP\"}");
        extra_name = "Retry-After";
        extra_value = "120";
    } else {
        status = 404;
        snprintf(body, sizeof body, "not found");
    }
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Replay-Nonce", "bm9uY2U");
    if (status >= 400 && strcmp(url, "/acct") == 0)
        MHD_add_response_header(r, "Content-Type", "application/problem+json");
    if (extra_name != NULL)
        MHD_add_response_header(r, extra_name, extra_value);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int setup(void **state)
{
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;
    struct ac_error e;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                               MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)10, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL)
        return -1;
    port_ = info->port;
    crypto_init();
    return crypto_key_generate(CRYPTO_KEY_EC256, &key_, &e);
}

static int teardown(void **state)
{
    MHD_stop_daemon(daemon_);
    crypto_key_free(key_);
    return 0;
}

static void observer(void *arg, const char *endpoint, const char *outcome)
{
    if (strcmp(outcome, "ok") == 0)
        observed_ok++;
    else
        observed_err++;
    snprintf(last_endpoint, sizeof last_endpoint, "%s", endpoint);
}

static struct acme_client *client(const char *path)
{
    char url[128];
    struct acme_client_opts o = {.directory_url = url, .timeout_ms = 5000};
    struct acme_client *c = NULL;
    struct ac_error e;

    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port_, path);
    assert_int_equal(acme_client_new(&o, key_, &c, &e), 0);
    acme_client_set_observer(c, observer, NULL);
    return c;
}

static void test_directory_profiles_ari(void **state)
{
    struct acme_client *c = client("/dir");
    struct acme_renewal_info ri;
    struct ac_error e;

    observed_ok = observed_err = 0;
    assert_false(acme_has_renewal_info(c));
    assert_int_equal(acme_directory_load(c, &e), 0);
    assert_int_equal(observed_ok, 1);
    assert_string_equal(last_endpoint, "directory");
    assert_int_equal(acme_directory_load(c, &e), 0); /* cached */
    assert_int_equal(observed_ok, 1);
    assert_true(acme_has_renewal_info(c));
    assert_int_equal(acme_profile_count(c), 2);
    assert_string_equal(acme_profile_name(c, 1), "shortlived");
    assert_string_equal(acme_profile_description(c, 0), "90 days");
    assert_null(acme_profile_name(c, 2));

    assert_int_equal(acme_renewal_info_get(c, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &ri, &e), 0);
    assert_int_equal(ri.start, 1735790400);
    assert_int_equal(ri.end, 1735876800);
    assert_int_equal(ri.retry_after, 21600);
    assert_string_equal(ri.explanation_url, "https://acme.example.com/docs/ari");
    assert_string_equal(last_endpoint, "renewalInfo");
    acme_renewal_info_free(&ri);

    assert_int_equal(acme_renewal_info_get(c, "unknown.id", &ri, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_REJECTED);
    assert_int_equal(e.http_status, 404);
    assert_int_equal(acme_renewal_info_get(c, "../../etc", &ri, &e), -1);
    acme_client_free(c);
}

static void test_rate_limited_account(void **state)
{
    struct acme_client *c = client("/dir");
    struct ac_error e;

    observed_err = 0;
    assert_int_equal(acme_account_ensure(c, "a@example.test", NULL, NULL, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_RATE_LIMITED);
    assert_int_equal(e.retry_after, 120);
    assert_int_equal(e.http_status, 429);
    assert_string_equal(e.acme_type, "urn:ietf:params:acme:error:rateLimited");
    assert_non_null(strstr(e.message, "too many registrations"));
    assert_true(observed_err >= 1);
    assert_string_equal(last_endpoint, "newAccount");
    assert_null(acme_account_url(c));
    acme_client_free(c);
}

static void test_unknown_profile(void **state)
{
    struct acme_client *c = client("/dir");
    const char *ids[] = {"a.example.test"};
    unsigned char csr[4] = {1, 2, 3, 4};
    struct acme_order_params p = {.identifiers = ids, .count = 1, .profile = "tlsserver",
                                  .csr_der = csr, .csr_len = sizeof csr};
    char *chain = (char *)"x";
    size_t len = 9;
    struct ac_error e;

    assert_int_equal(acme_order_obtain(c, &p, NULL, &chain, &len, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_PROFILE);
    assert_non_null(strstr(e.message, "tlsserver"));
    assert_null(chain);
    assert_int_equal(len, 0);
    acme_client_free(c);
}

static void test_bad_directory(void **state)
{
    struct acme_client *c = client("/baddir");
    struct ac_error e;

    assert_int_equal(acme_directory_load(c, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_BAD_RESPONSE);
    assert_int_equal(acme_account_ensure(c, NULL, NULL, NULL, &e), -1);
    assert_string_equal(e.kind, AC_ERR_CA_BAD_RESPONSE);
    acme_client_free(c);

    c = client("/missing");
    assert_int_equal(acme_directory_load(c, &e), -1);
    assert_int_equal(e.http_status, 404);
    acme_client_free(c);
}

static void test_bad_args(void **state)
{
    struct acme_client_opts o = {0};
    struct acme_client *c = (struct acme_client *)1;
    struct ac_error e;

    assert_int_equal(acme_client_new(&o, key_, &c, &e), -1);
    assert_null(c);
    assert_string_equal(e.kind, AC_ERR_CONFIG);
    acme_client_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory_profiles_ari),
        cmocka_unit_test(test_rate_limited_account),
        cmocka_unit_test(test_unknown_profile),
        cmocka_unit_test(test_bad_directory),
        cmocka_unit_test(test_bad_args),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
