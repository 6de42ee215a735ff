/* challtestsrv.c - DNS provider for pebble-challtestsrv (work in progress). */
#include <stdlib.h>

#include "dns.h"

static const struct dns_option_decl opts_decl[] = {
    {"url", true},
    {NULL, false},
};

static int c_create(const struct dns_option *opts, size_t n, void **state, struct ac_error *e)
{
    *state = NULL;
    return 0;
}

static int c_present(void *state, const struct dns_challenge *ch, struct ac_error *e)
{
    ac_error_set(e, AC_ERR_DNS_PROVIDER, "not implemented yet");
    return -1;
}

static void c_destroy(void *state)
{
}

const struct dns_provider_ops dns_challtestsrv_ops = {
    .name = "challtestsrv",
    .options = opts_decl,
    .create = c_create,
    .present = c_present,
    .cleanup = c_present,
    .destroy = c_destroy,
};
