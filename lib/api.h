/*
 * api.h - helpers shared by the public wrappers (lib/api_*.c): filling the
 * host's autocert_error from internal errors, reporting configuration
 * diagnostics, and the opaque autocert_config handle (a struct config).
 */
#ifndef AUTOCERT_API_H
#define AUTOCERT_API_H

#include "autocert/autocert.h"
#include "config.h"
#include "error.h"

/* Fill out (NULL: nothing) with kind and message (copied, cut to fit). */
void api_error_set(autocert_error *out, const char *kind, const char *msg);
/* From an internal error (already scrubbed and escaped); a kind-less e gives
 * "internal". */
void api_error_from(autocert_error *out, const struct ac_error *e);
void api_error_clear(autocert_error *out);

/* Every diagnostic of d through fn (NULL: none). */
void api_diags_report(const struct config_diags *d, autocert_diag_fn fn, void *arg);
/* AUTOCERT_E_CONFIG "first error (and N more errors)" into err. */
void api_diags_error(const struct config_diags *d, const char *path, autocert_error *err);
/* config_load with its diagnostics through fn and the first error in err. */
int api_config_load(const char *path, autocert_diag_fn fn, void *arg, struct config **out,
                    autocert_error *err);

struct acset;
/* autocert_manager_status for a set object (borrowed; also one no longer in
 * the manager's array). Returns 0, or -1 when s or out is NULL. */
int api_status_of(autocert_manager *m, struct acset *s, autocert_status *out);

/* autocert_config is the internal struct config behind an opaque name. */
static inline struct config *api_config(autocert_config *c)
{
    return (struct config *)(void *)c;
}
static inline const struct config *api_config_c(const autocert_config *c)
{
    return (const struct config *)(const void *)c;
}

#endif
