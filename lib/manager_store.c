/*
 * manager_store.c - the manager's store (issue 14): the file store, or the
 * PostgreSQL store when the configuration has store.url. Made once with the
 * manager and kept for its life (a configuration reload that changes the
 * store: section is logged and takes effect at the next start). Its events
 * (another node's commit, a challenge published, a reconnection) go to the
 * renewal engine (lifecycle_store.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle_priv.h"
#include "log.h"
#include "manager_priv.h"
#include "storage.h"
#include "store_pg.h"

static void default_node_id(char *buf, size_t n)
{
    char host[256];

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(buf, n, "%s:%ld", host, (long)getpid());
}

int manager_store_open(autocert_manager *m, const struct config *cfg, struct ac_error *e)
{
    struct store_pg_params p;

    if (cfg->store.url == NULL || cfg->store.url[0] == '\0')
        return storage_files_new(&m->store, e);
    memset(&p, 0, sizeof p);
    if (store_pg_parse_key(cfg->store.encryption_key, "store.encryption_key", p.key, e) != 0)
        return -1;
    if (cfg->store.node_id != NULL)
        snprintf(m->node_id, sizeof m->node_id, "%s", cfg->store.node_id);
    else
        default_node_id(m->node_id, sizeof m->node_id);
    p.url = cfg->store.url;
    p.lease_ttl_s = cfg->store.lease_ttl;
    p.node_id = m->node_id;
    p.migrate = true;
    m->lease_ttl_s = cfg->store.lease_ttl;
    if (store_pg_open(&p, &m->store, e) != 0) {
        explicit_bzero(p.key, sizeof p.key);
        return -1;
    }
    explicit_bzero(p.key, sizeof p.key);
    m->store->ops->set_listener(m->store, lc_store_event, m);
    /* connected before the listener was set: its first comparison */
    if (m->store->ops->is_up(m->store))
        lc_store_event(m, STORAGE_EV_RESYNC, NULL, 0, NULL, NULL);
    ac_info(NULL, "store: PostgreSQL, node %s, lease %ds (connecting in the background)",
            m->node_id, m->lease_ttl_s);
    return 0;
}

void manager_store_close(autocert_manager *m)
{
    if (m->store != NULL)
        m->store->ops->free(m->store);
    m->store = NULL;
}

struct storage *manager_store(autocert_manager *m)
{
    return m != NULL ? m->store : NULL;
}

int manager_lease_ttl(const autocert_manager *m)
{
    return m->lease_ttl_s > 0 ? m->lease_ttl_s : STORE_PG_LEASE_TTL_DEFAULT;
}

const char *manager_node_id(const autocert_manager *m)
{
    return m->node_id;
}

void manager_store_check_reload(const struct config *old, const struct config *cfg)
{
    const char *a = old->store.url != NULL ? old->store.url : "";
    const char *b = cfg->store.url != NULL ? cfg->store.url : "";
    const char *ka = old->store.encryption_key != NULL ? old->store.encryption_key : "";
    const char *kb = cfg->store.encryption_key != NULL ? cfg->store.encryption_key : "";

    if (strcmp(a, b) != 0 || strcmp(ka, kb) != 0 || old->store.lease_ttl != cfg->store.lease_ttl)
        ac_warn(NULL, "store: the store: section changed; it takes effect at the next start");
}

int autocert_manager_store_info(autocert_manager *m, autocert_store_info *out)
{
    struct storage *st;

    if (m == NULL || out == NULL)
        return -1;
    memset(out, 0, sizeof *out);
    st = m->store;
    if (st == NULL || strcmp(st->ops->name, "files") == 0) {
        snprintf(out->backend, sizeof out->backend, "files");
        out->up = true;
        snprintf(out->detail, sizeof out->detail, "files");
        return 0;
    }
    snprintf(out->backend, sizeof out->backend, "%s", st->ops->name);
    out->up = st->ops->is_up(st);
    snprintf(out->node_id, sizeof out->node_id, "%s", m->node_id);
    store_pg_describe(st, out->detail, sizeof out->detail);
    return 0;
}
