/*
 * acme_driver.c - drives the ACME client against a real CA (Pebble) for
 * tests/integration/test_acme_pebble.sh. The dns-01 solver publishes TXT
 * records through pebble-challtestsrv's management API (/set-txt, /clear-txt)
 * using our own HTTP client.
 *
 *   acme_driver --dir URL --ca PEM --key FILE [--mgmt URL] [--email E]
 *               [--eab-kid K --eab-hmac H] [--custom] [--orders N]
 *               [--out FILE] [--pause-file F] [--timeout-ms N] NAME...
 *
 * Prints "account <url>" after the account is ensured, "issued <i> <bytes>"
 * per certificate, "error <kind>: <message>" on failure (exit 1).
 * --key: loaded when it exists, else a new EC256 key is written there.
 * --pause-file: after the account step, creates F and waits until it is
 * removed (lets a test restart the CA in between). --orders 0: account only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme.h"
#include "autocert/autocert.h"
#include "buf.h"
#include "crypto.h"
#include "http.h"
#include "jsonu.h"

struct solver_state {
    struct http_client *http;
    const char *mgmt;
    int presented, cleaned, waited;
    int req_errors; /* ACME requests answered with an error (observer) */
    long wait_ms;   /* --wait-ms: wait() sleeps this long */
    int bad_value;  /* --bad-value: publish a wrong TXT value */
};

static void observe(void *arg, const char *endpoint, const char *outcome)
{
    struct solver_state *st = arg;

    if (strcmp(outcome, "error") == 0)
        st->req_errors++;
}

static int mgmt_post(struct solver_state *st, const char *path, const char *fqdn, const char *value,
                     struct ac_error *e)
{
    json_object *o = json_object_new_object();
    char host[300], url[512];
    struct http_header h = {"Content-Type", "application/json"};
    struct http_request req = {.method = "POST", .url = url, .headers = &h, .header_count = 1};
    struct http_response resp;
    const char *body;
    int rc = -1;

    snprintf(host, sizeof host, "%s.", fqdn);
    snprintf(url, sizeof url, "%s%s", st->mgmt, path);
    jsonu_add_str(o, "host", host);
    if (value != NULL)
        jsonu_add_str(o, "value", value);
    body = jsonu_string(o);
    req.body = body;
    req.body_len = strlen(body);
    if (http_do(st->http, &req, &resp, e) != 0)
        goto out;
    if (resp.status != 200) {
        ac_error_set(e, AC_ERR_DNS_PROVIDER, "challtestsrv %s: HTTP %ld", path, resp.status);
        http_response_free(&resp);
        goto out;
    }
    http_response_free(&resp);
    rc = 0;
out:
    json_object_put(o);
    return rc;
}

static int present(void *arg, const struct dns_challenge *ch, struct ac_error *e)
{
    struct solver_state *st = arg;

    st->presented++;
    return mgmt_post(st, "/set-txt", ch->fqdn,
                     st->bad_value ? "wrong-value-wrong-value-wrong-value-wrong00" : ch->value, e);
}

static int cleanup(void *arg, const struct dns_challenge *ch, struct ac_error *e)
{
    struct solver_state *st = arg;

    st->cleaned++;
    return mgmt_post(st, "/clear-txt", ch->fqdn, NULL, e);
}

static int wait_fn(void *arg, const struct dns_challenge *const *chs, size_t n, int64_t deadline_ms,
                   struct ac_error *e)
{
    struct solver_state *st = arg;

    st->waited++;
    if (st->wait_ms > 0)
        usleep((useconds_t)st->wait_ms * 1000);
    return 0;
}

static void on_progress(void *arg, const char *msg)
{
    fprintf(stderr, "progress: %s\n", msg);
}

static int load_key(const char *path, struct crypto_key **key, struct ac_error *e)
{
    FILE *f = fopen(path, "rb");
    unsigned char buf[16384], *der = NULL;
    size_t n, len;
    int rc;

    if (f != NULL) {
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        return crypto_key_load(buf, n, key, e);
    }
    if (crypto_key_generate(CRYPTO_KEY_EC256, key, e) != 0 ||
        crypto_key_export_account_der(*key, &der, &len, e) != 0)
        return -1;
    f = fopen(path, "wb");
    rc = f != NULL && fwrite(der, 1, len, f) == len ? 0 : -1;
    if (f != NULL)
        fclose(f);
    gnutls_free(der);
    if (rc != 0)
        ac_error_set(e, AC_ERR_IO, "cannot write %s", path);
    return rc;
}

/* Revokes the leaf of chain (reason 4, superseded); then a second time,
 * which must fail (alreadyRevoked). */
static int revoke_leaf(struct acme_client *c, const char *chain, size_t len, struct ac_error *e)
{
    struct crypto_chain *ch = NULL;
    unsigned char *der = NULL;
    size_t dlen = 0;
    struct ac_error e2;
    int rc = -1;

    if (crypto_chain_parse_pem(chain, len, &ch, e) != 0 ||
        crypto_cert_der(ch->crts[0], &der, &dlen, e) != 0 || acme_revoke(c, der, dlen, 4, e) != 0)
        goto out;
    printf("revoked\n");
    if (acme_revoke(c, der, dlen, 4, &e2) == 0) {
        ac_error_set(e, AC_ERR_INTERNAL, "second revocation succeeded");
        goto out;
    }
    printf("revoke again: %s\n", e2.kind);
    rc = 0;
out:
    gnutls_free(der);
    crypto_chain_free(ch);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *ca = NULL, *keyfile = NULL, *email = NULL, *eab_kid = NULL,
               *eab_hmac = NULL, *out = NULL, *pause = NULL;
    struct solver_state st = {0};
    struct acme_solver solver = {.arg = &st,
                                 .present = present,
                                 .cleanup = cleanup,
                                 .wait = wait_fn,
                                 .progress = on_progress};
    struct acme_client_opts o = {0};
    struct acme_client *c = NULL;
    struct crypto_key *akey = NULL;
    struct ac_error e;
    long orders = 1, timeout_ms = 120000;
    int i, rc = 1, custom = 0, revoke = 0;
    const char *const *names;
    size_t nnames;

    /* the library is silent unless asked */
    autocert_log_to_stderr(AUTOCERT_LOG_TEXT, AUTOCERT_LOG_INFO);
    ac_error_clear(&e);
    crypto_init();
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--custom") == 0) {
            custom = 1;
            continue;
        }
        if (strcmp(a, "--revoke") == 0) {
            revoke = 1;
            continue;
        }
        if (strcmp(a, "--bad-value") == 0) {
            st.bad_value = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "missing value for %s\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--ca") == 0)
            ca = v;
        else if (strcmp(a, "--key") == 0)
            keyfile = v;
        else if (strcmp(a, "--mgmt") == 0)
            st.mgmt = v;
        else if (strcmp(a, "--email") == 0)
            email = v;
        else if (strcmp(a, "--eab-kid") == 0)
            eab_kid = v;
        else if (strcmp(a, "--eab-hmac") == 0)
            eab_hmac = v;
        else if (strcmp(a, "--orders") == 0)
            orders = strtol(v, NULL, 10);
        else if (strcmp(a, "--wait-ms") == 0)
            st.wait_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--timeout-ms") == 0)
            timeout_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--pause-file") == 0)
            pause = v;
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    names = (const char *const *)argv + i;
    nnames = (size_t)(argc - i);
    if (dir == NULL || keyfile == NULL || (orders > 0 && nnames == 0) ||
        (!custom && orders > 0 && st.mgmt == NULL)) {
        fprintf(stderr, "usage: see acme_driver.c\n");
        return 2;
    }
    if (custom) {
        solver.present = NULL;
        solver.cleanup = NULL;
        solver.wait = NULL;
    }
    if (load_key(keyfile, &akey, &e) != 0)
        goto out;
    o.directory_url = dir;
    o.ca_files = &ca;
    o.ca_count = ca != NULL ? 1 : 0;
    if (http_client_new(&(struct http_client_opts){0}, &st.http, &e) != 0 ||
        acme_client_new(&o, akey, &c, &e) != 0)
        goto out;
    acme_client_set_observer(c, observe, &st);
    if (acme_account_ensure(c, email, eab_kid, eab_hmac, &e) != 0)
        goto out;
    printf("account %s\n", acme_account_url(c));
    fflush(stdout);
    if (pause != NULL) {
        FILE *f = fopen(pause, "w");
        if (f != NULL)
            fclose(f);
        while (access(pause, F_OK) == 0)
            usleep(100000);
    }
    for (long n = 0; n < orders; n++) {
        struct crypto_key *ckey = NULL;
        unsigned char *csr = NULL;
        size_t csr_len = 0, chain_len = 0;
        char *chain = NULL;
        struct acme_order_params p = {
            .identifiers = names, .count = nnames, .timeout_ms = timeout_ms};
        int orc;

        if (crypto_key_generate(CRYPTO_KEY_EC256, &ckey, &e) != 0 ||
            crypto_csr_create(ckey, names, nnames, &csr, &csr_len, &e) != 0) {
            crypto_key_free(ckey);
            goto out;
        }
        p.csr_der = csr;
        p.csr_len = csr_len;
        orc = acme_order_obtain(c, &p, &solver, &chain, &chain_len, &e);
        free(csr);
        crypto_key_free(ckey);
        if (orc != 0)
            goto out;
        printf("issued %ld %zu\n", n + 1, chain_len);
        fflush(stdout);
        if (out != NULL) {
            FILE *f = fopen(out, "w");
            if (f != NULL) {
                fwrite(chain, 1, chain_len, f);
                fclose(f);
            }
        }
        if (revoke && revoke_leaf(c, chain, chain_len, &e) != 0) {
            free(chain);
            goto out;
        }
        free(chain);
    }
    printf("solver presented=%d cleaned=%d waited=%d\n", st.presented, st.cleaned, st.waited);
    printf("request errors %d\n", st.req_errors);
    rc = 0;
out:
    if (rc != 0) {
        printf("error %s: %s\n", e.kind, e.message);
        printf("solver presented=%d cleaned=%d waited=%d\n", st.presented, st.cleaned, st.waited);
    }
    acme_client_free(c);
    http_client_free(st.http);
    crypto_key_free(akey);
    return rc;
}
