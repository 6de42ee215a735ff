/*
 * admin_public.c - the public face of the admin API (autocert_admin.h): the
 * server form over admin_http.c, the handler form over admin_api.c, and the
 * text helper for clients.
 */
#include "autocert/autocert_admin.h"

#include <stdlib.h>
#include <string.h>

#include "admin_api.h"
#include "admin_server.h"
#include "api.h"
#include "config.h"
#include "manager.h"
#include "textsafe.h"

struct autocert_admin {
    struct admin_server *srv;
};

int autocert_admin_start(autocert_manager *m, const char *listen, autocert_admin **out,
                         autocert_error *err)
{
    struct ac_error e;
    autocert_admin *a = NULL;
    int rc = -1;

    ac_error_clear(&e);
    api_error_clear(err);
    *out = NULL;
    if (m == NULL) {
        api_error_set(err, AUTOCERT_E_CONFIG, "autocert_admin_start: no manager");
        return -1;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        ac_error_set(&e, AC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (admin_server_open(m, listen, NULL, &a->srv, &e) != 0)
        goto out;
    *out = a;
    a = NULL;
    rc = 0;
out:
    free(a);
    if (rc != 0)
        api_error_from(err, &e);
    return rc;
}

int autocert_admin_port(const autocert_admin *a)
{
    return a != NULL ? admin_server_port(a->srv) : 0;
}

void autocert_admin_stop(autocert_admin *a)
{
    if (a == NULL)
        return;
    admin_server_stop(a->srv);
    free(a);
}

/* The handler form: the host's server may listen anywhere, so the guard
 * knows no address (admin_guard_init_handler). */
static int answer(autocert_manager *m, const autocert_admin_request *req, bool trusted,
                  autocert_admin_response **out)
{
    struct config *cfg = manager_config_ref(m);
    struct admin_api a;
    int rc;

    *out = NULL;
    if (cfg == NULL)
        return -1;
    memset(&a, 0, sizeof a);
    a.m = m;
    a.token = cfg->admin.token;
    a.trusted = trusted;
    admin_guard_init_handler(&a.guard, a.token == NULL || a.token[0] == '\0');
    rc = trusted ? 0 : admin_api_precheck(&a, req, NULL, out);
    if (rc == 0 && *out == NULL)
        rc = admin_api_route(&a, req, NULL, out);
    if (rc == 0 && strcmp(req->method, "HEAD") == 0)
        admin_response_drop_body(*out);
    config_free(cfg);
    return rc;
}

int autocert_admin_handle(autocert_manager *m, const autocert_admin_request *req,
                          autocert_admin_response **out)
{
    if (m == NULL || req == NULL || req->method == NULL || req->path == NULL) {
        *out = admin_response_message(400, "bad request", false);
        return *out != NULL ? 0 : -1;
    }
    return answer(m, req, false, out);
}

int autocert_admin_handle_trusted(autocert_manager *m, const char *method, const char *path,
                                  const char *query, autocert_admin_response **out)
{
    autocert_admin_request req = {.method = method, .path = path, .query = query};

    if (m == NULL || method == NULL || path == NULL) {
        *out = admin_response_message(400, "bad request", false);
        return *out != NULL ? 0 : -1;
    }
    return answer(m, &req, true, out);
}

size_t autocert_text_sanitize(char *dst, size_t n, const char *src, size_t len)
{
    return ac_text_sanitize(dst, n, src, len);
}
