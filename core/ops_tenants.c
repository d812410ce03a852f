/* ops_tenants.c — tenants (fair share between them): set, remove and list them in the store,
 * and give the store the configuration's tenants at start-up. The store does the sharing in
 * its claim (cp/storage.h, "Tenants"); cpd only passes the configured aging with each claim
 * (claims.c, ops_claims.c, ops_next.c). A store without the tenant ops (older than 2.4) ignores
 * tenants: these ops answer OPS_ERR_UNSUPPORTED and claims stay in priority/FIFO order. */
#include <string.h>

#include "config.h"
#include "log.h"
#include "ops_internal.h"

static int supported(struct cp_core *core, cp_storage_cb cb, void *cookie)
{
    if (core->store->version >= 4 && core->store->tenant_put && core->store->tenant_delete &&
        core->store->tenant_list)
        return 1;
    ops_unsupported(core, cb, cookie, "tenants");
    return 0;
}

void ops_tenant_put(struct cp_core *core, const struct cp_tenant_view *t, cp_storage_cb cb,
                    void *cookie)
{
    if (supported(core, cb, cookie)) CORE_STORE(core, tenant_put, t, cb, cookie);
}

void ops_tenant_delete(struct cp_core *core, const char *tenant_id, cp_storage_cb cb, void *cookie)
{
    if (supported(core, cb, cookie)) CORE_STORE(core, tenant_delete, tenant_id, cb, cookie);
}

void ops_tenant_list(struct cp_core *core, cp_storage_cb cb, void *cookie)
{
    if (supported(core, cb, cookie)) CORE_STORE(core, tenant_list, cb, cookie);
}

static void on_config_tenant(void *cookie, const struct cp_result *res)
{
    const char *id = cookie;
    if (res->rc < 0)
        log_warn("tenant '%s' from the configuration was not stored: %s", id,
                 res->message ? res->message : "storage error");
}

void ops_tenants_configure(struct cp_core *core)
{
    const struct cp_config *cfg = core->cfg;
    if (!cfg->n_tenants) return;
    if (core->store->version < 4 || !core->store->tenant_put) {
        log_warn("tenants.list: the storage plugin does not support tenants (it needs ABI 2.4); "
                 "tasks are claimed in priority order without fair share");
        return;
    }
    for (size_t i = 0; i < cfg->n_tenants; i++) {
        struct cp_tenant_view t = {.size = sizeof t,
                                   .id = cfg->tenants[i].id,
                                   .weight = cfg->tenants[i].weight,
                                   .max_in_flight = cfg->tenants[i].max_in_flight};
        CORE_STORE(core, tenant_put, &t, on_config_tenant, cfg->tenants[i].id);
    }
}
