/*
 * manager_runtime.h - sets a host adds and removes at run time
 * (autocert_manager_add_set / _remove_set), kept apart from the sets of the
 * configuration file.
 *
 * A run-time set is given as one entry of `autocert.extra` in YAML (the
 * "spec"). It is derived exactly as a YAML extra is: the spec is placed as the
 * only extra under main's effective settings and the whole document goes
 * through config_load_mem, so it inherits main's settings and gets the same
 * checks and messages (positions relative to the spec, key paths without the
 * "autocert.extra[N]." prefix, the set's name where the loader says
 * "extra[N]").
 *
 * The manager's array holds the YAML sets first (their count is
 * m->cfg->sets_count), then the run-time sets sorted by name (strcmp). A
 * configuration reload re-derives every run-time set against the new main
 * (manager_runtime_reapply_locked) and keeps them after the YAML sets.
 */
#ifndef AUTOCERT_MANAGER_RUNTIME_H
#define AUTOCERT_MANAGER_RUNTIME_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "manager.h"

struct acset;

/* Longest spec accepted (bytes). */
#define MANAGER_SPEC_MAX (64 * 1024)

/* Checks a run-time set name: [a-z0-9][a-z0-9._-]{0,62}, never "main" nor
 * "extraN". Returns 0, or -1 with e (AC_ERR_CONFIG naming the rule). */
int manager_runtime_name_check(const char *name, struct ac_error *e);

/* Derives the configuration of run-time set `name` from spec (len bytes)
 * under main set `main_set`. Every problem goes into diags (errors and
 * warnings, positioned in the spec; file = the name). Returns 0 and *out
 * (config_set_dup_free it), or -1 (AC_ERR_CONFIG: the first error and the
 * count, in e). */
int manager_runtime_derive(const struct config_set *main_set, const char *name, const char *spec,
                           size_t len, struct config_set *out, struct config_diags *diags,
                           struct ac_error *e);

/* Adds run-time set `name` (autocert_manager_add_set). Returns 0, or -1 with
 * e; diags as manager_runtime_derive. */
int manager_add_set(autocert_manager *m, const char *name, const char *spec, size_t len,
                    struct config_diags *diags, struct ac_error *e);

/* Removes run-time set `name` (autocert_manager_remove_set). Returns 0, or
 * -1 with e (AC_ERR_NO_MATCH; AC_ERR_CONFIG for a set of the configuration
 * file). */
int manager_remove_set(autocert_manager *m, const char *name, struct ac_error *e);

/* For a configuration reload (write_lock held): the run-time sets of m
 * derived against cfg's main, each the old set when its configuration did
 * not change, else a new loaded set; checked against cfg's YAML sets
 * (paths). Returns 0 with a new array of references in *out (*n entries,
 * changed[i] true for new ones; manager_sets_free), or -1 with e (nothing
 * changed). */
int manager_runtime_reapply_locked(autocert_manager *m, const struct config *cfg,
                                   struct acset ***out, bool **changed, size_t *n,
                                   struct ac_error *e);

#endif
