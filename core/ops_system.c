/* ops_system.c — the operations layer's life (creating and wiring claims, scheduler, health
 * monitor, event subscribers and reaper; start-up, drain, shutdown) and the system reads:
 * stats, held claims, the store's status, the system's health. */
#include <stddef.h>
#include <string.h>

#include "agent_stats.h"
#include "claims.h"
#include "health.h"
#include "log.h"
#include "ops_internal.h"
#include "quota.h"
#include "scheduler.h"

void ops_open(struct cp_core *core, probe_decode_fn decode)
{
    const struct claims_hooks ch = {core, ops_claims_claimed, ops_claims_release};
    const struct health_hooks hh = {core, ops_health_changed};
    core->events = events_new();
    core->feed = ops_feed_new(core);
    core->claims = claims_new(core, &ch);
    core->sched = sched_new(core, core->claims);
    core->health = health_new(core, &hh, decode);
    core->reaper = reaper_new(core);
    core->quotas = quotas_new(core);
    core->agent_stats = agent_stats_new();
}

/* Agents already in a shared store (Redis) at start-up get their probes scheduled here too:
 * every cpd process probes the agents it knows (see docs/redis.md). */
static void on_agents_listed(void *cookie, const struct cp_result *res)
{
    struct cp_core *core = cookie;
    if (res->rc < 0) {
        log_warn("start-up: cannot list agents to resume their probes (storage error %d)", res->rc);
        return;
    }
    for (size_t i = 0; i < res->n_agents; i++)
        if (res->agents[i]->health_probe_json) health_track(core->health, res->agents[i]);
}

void ops_start(struct cp_core *core)
{
    reaper_start(core->reaper);
    ops_tenants_configure(core);
    if (core->store->watch) core->store->watch(core->st, sched_store_changed, core->sched);
    struct cp_agent_filter all = {.status = -1};
    CORE_STORE(core, agent_list, &all, on_agents_listed, core);
    quotas_start(core->quotas);
}

void ops_drain(struct cp_core *core)
{
    if (core->sched) sched_drain(core->sched);
    if (core->reaper) reaper_stop(core->reaper);
    if (core->feed) ops_feed_stop(core->feed);
    quotas_stop(core->quotas);
}

void ops_close(struct cp_core *core)
{
    quotas_free(core->quotas);
    core->quotas = NULL;
    health_free(core->health);
    reaper_free(core->reaper);
    sched_free(core->sched);
    claims_free(core->claims);
    ops_feed_free(core->feed);
    events_free(core->events);
    agent_stats_free(core->agent_stats);
    core->agent_stats = NULL;
    core->health = NULL;
    core->reaper = NULL;
    core->sched = NULL;
    core->claims = NULL;
    core->events = NULL;
    core->feed = NULL;
}

/* ---- reads ---- */

void ops_stats(struct cp_core *core, cp_storage_cb cb, void *cookie)
{
    CORE_STORE(core, stats, cb, cookie);
}

size_t ops_held_claims(struct cp_core *core)
{
    return core->claims ? claims_held_count(core->claims) : 0;
}

void ops_storage_status(struct cp_core *core, struct ops_storage *out)
{
    out->backend = core->storage_plugin ? core->storage_plugin->desc->name : "closed";
    out->available = !core->store->is_available || core->store->is_available(core->st);
    out->fallback = core->storage_fallback;
    out->fallback_reason = core->storage_fallback_reason;
    memset(&out->conn, 0, sizeof out->conn);
    out->has_conn = core->store->version >= 2 && core->store->status;
    if (out->has_conn) {
        out->conn.size = sizeof out->conn;
        core->store->status(core->st, &out->conn);
        out->conn.mode[sizeof out->conn.mode - 1] = '\0';
        out->conn.address[sizeof out->conn.address - 1] = '\0';
    }
}

int ops_outcome(const struct cp_core *core, const struct cp_result *res)
{
    (void)core; /* a store of an older minor reaches the core through storage_compat.c, which
                   hands over full-size results (outcome 0 = not applied) */
    return res->size >= offsetof(struct cp_result, outcome) + sizeof res->outcome
               ? res->outcome
               : CP_OUTCOME_NOT_APPLIED;
}

int ops_system_health(uint64_t total, uint64_t degraded, uint64_t unhealthy)
{
    return health_system_status(total, degraded, unhealthy);
}

size_t ops_plugins(struct cp_core *core, struct ops_plugin *out, size_t max)
{
    static const int order[] = {CP_PLUGIN_STORAGE, CP_PLUGIN_SELECTION, CP_PLUGIN_PROBE};
    size_t n = 0;
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        for (size_t i = 0; i < core->plugins.n; i++) {
            const struct plugin *p = core->plugins.items[i];
            if ((int)p->desc->kind != order[k]) continue;
            if (n < max)
                out[n] = (struct ops_plugin){
                    .kind = order[k],
                    .name = p->desc->name,
                    .version = p->desc->version,
                    .path = p->path,
                    .abi_major = p->desc->abi_major,
                    .abi_minor = p->desc->abi_minor,
                    .options = p->options,
                    .n_options = p->n_options,
                    .is_default = order[k] == CP_PLUGIN_SELECTION &&
                                  strcmp(p->desc->name, core->cfg->selection_default) == 0,
                };
            n++;
        }
    }
    return n;
}
