/* ops_agents.c — the agent operations: register (its probe checked, then tracked), get, list
 * (optionally only the usable ones), heartbeat, unregister (its probe stopped, its tasks
 * requeued and offered), select (the strategy's choice among the usable ones), and the hook
 * through which the health monitor reports what it wrote. */
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "clock.h"
#include "health.h"
#include "ops_internal.h"
#include "selection.h"
#include "xalloc.h"

/* ---- register ---- */

static void on_registered(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core;
    if (res->rc == 0) {
        if (core->health) health_track(core->health, res->agent);
        ops_emit_agent(core, EVT_AGENT_REGISTERED, NULL, res->agent, ops_agent_before(res),
                       res->agent->status);
    }
    call->cb(call->cookie, res);
}

void ops_agent_register(struct cp_core *core, struct ops_call *call, const struct cp_agent_view *in,
                        const struct probe_def *probe, cp_storage_cb cb, void *cookie)
{
    if (probe) {
        char err[256];
        if (!core->health) {
            ops_fail(cb, cookie, CP_ERR_INVALID, "health probes are not available");
            return;
        }
        if (health_check_probe(core->health, probe, err, sizeof err) < 0) {
            ops_fail(cb, cookie, CP_ERR_INVALID, "%s", err);
            return;
        }
    }
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, agent_register, in, clock_now_ms(), on_registered, call);
}

/* ---- get / list ---- */

void ops_agent_get(struct cp_core *core, const char *agent_id, cp_storage_cb cb, void *cookie)
{
    CORE_STORE(core, agent_get, agent_id, cb, cookie);
}

static void on_listed_usable(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    if (res->rc < 0) {
        call->cb(call->cookie, res);
        return;
    }
    int64_t now = clock_now_ms();
    const struct cp_agent_view **keep = xmalloc(res->n_agents * sizeof *keep);
    size_t n = 0;
    for (size_t i = 0; i < res->n_agents; i++)
        if (cp_agent_may_claim(res->agents[i], now)) keep[n++] = res->agents[i];
    struct cp_result out = *res;
    out.agents = keep;
    out.n_agents = n;
    out.total = n;
    call->cb(call->cookie, &out);
    free(keep);
}

void ops_agent_list(struct cp_core *core, struct ops_call *call, const struct cp_agent_filter *f,
                    int usable_only, cp_storage_cb cb, void *cookie)
{
    if (!usable_only) {
        CORE_STORE(core, agent_list, f, cb, cookie);
        return;
    }
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, agent_list, f, on_listed_usable, call);
}

/* ---- heartbeat ---- */

static void on_heartbeat(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    if (res->rc == 0)
        ops_emit_agent(core, EVT_AGENT_HEARTBEAT, NULL, res->agent, ops_agent_before(res),
                       res->agent->status);
    call->cb(call->cookie, res);
    /* A status change (busy -> ready...) may let its claims held for room claim. */
    if (res->rc == 0) claims_room(core->claims, res->agent->agent_id, res->agent);
}

void ops_agent_heartbeat(struct cp_core *core, struct ops_call *call, const char *agent_id,
                         int32_t status, cp_storage_cb cb, void *cookie)
{
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, agent_heartbeat, agent_id, status, clock_now_ms(), on_heartbeat, call);
}

/* ---- unregister ---- */

static void on_unregistered(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core;
    if (res->rc == 0) {
        if (core->health) health_untrack(core->health, call->u.agent_id);
        ops_emit_agent(core, EVT_AGENT_UNREGISTERED, call->u.agent_id, NULL, ops_agent_before(res),
                       -1);
        ops_react_store_events(core, res->events, res->n_events);
        claims_room(core->claims, call->u.agent_id, NULL); /* its held claims: answered */
    }
    call->cb(call->cookie, res);
}

void ops_agent_unregister(struct cp_core *core, struct ops_call *call, const char *agent_id,
                          cp_storage_cb cb, void *cookie)
{
    ops_call_init(call, core, cb, cookie);
    call->u.agent_id = agent_id;
    CORE_STORE(core, agent_unregister, agent_id, clock_now_ms(), on_unregistered, call);
}

/* ---- select ---- */

static int excluded(const struct ops_select *sel, const char *id)
{
    for (uint32_t i = 0; i < sel->n_exclude; i++)
        if (strcmp(sel->exclude[i], id) == 0) return 1;
    return 0;
}

static void on_select_listed(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    const struct ops_select *sel = call->u.select;
    if (res->rc < 0) {
        call->cb(call->cookie, res);
        return;
    }
    int64_t now = clock_now_ms();
    const struct cp_agent_view **cands = xmalloc((res->n_agents + 1) * sizeof *cands);
    size_t n = 0;
    for (size_t i = 0; i < res->n_agents; i++)
        if (cp_agent_may_claim(res->agents[i], now) && !excluded(sel, res->agents[i]->agent_id))
            cands[n++] = res->agents[i];
    struct cp_result out = {.size = sizeof out};
    if (n > 0) {
        struct cp_core *core = call->core;
        size_t idx =
            selection_pick(core, core_strategy(core, sel->strategy), cands, n, sel->capabilities,
                           sel->n_capabilities, NULL, sel->hints_json, NULL);
        out.agent = cands[idx];
    }
    call->cb(call->cookie, &out);
    free(cands);
}

void ops_agent_select(struct cp_core *core, struct ops_call *call, const struct ops_select *sel,
                      cp_storage_cb cb, void *cookie)
{
    if (!core_strategy(core, sel->strategy)) {
        char names[320];
        selection_names(core, names, sizeof names);
        ops_fail(cb, cookie, CP_ERR_INVALID, "unknown strategy '%.128s'; loaded strategies: %s",
                 sel->strategy ? sel->strategy : "", names);
        return;
    }
    ops_call_init(call, core, cb, cookie);
    call->u.select = sel;
    struct cp_agent_filter f = {
        .capabilities = sel->capabilities, .n_capabilities = sel->n_capabilities, .status = -1};
    CORE_STORE(core, agent_list, &f, on_select_listed, call);
}

/* ---- drain ---- */

static void on_drained(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    const struct cp_agent_view *a = res->rc == 0 ? res->agent : NULL;
    if (a) {
        /* A status change to announce: drained and now draining, or undrained and no longer
         * (an offline or failed agent's status does not move either way). */
        int32_t before = ops_agent_before(res);
        if (before >= 0
                ? before != a->status
                : res->created && a->status != CP_AGENT_OFFLINE && a->status != CP_AGENT_FAILED &&
                      (call->u.drain ? a->status == CP_AGENT_DRAINING
                                     : a->status != CP_AGENT_DRAINING))
            ops_emit_agent(core, EVT_AGENT_STATUS, NULL, a, before, a->status);
    }
    call->cb(call->cookie, res);
    /* Its held claims: answered null when drained, may claim when undrained. */
    if (a) claims_room(core->claims, a->agent_id, a);
}

void ops_agent_drain(struct cp_core *core, struct ops_call *call, const char *agent_id, int drain,
                     cp_storage_cb cb, void *cookie)
{
    if (core->store->version < 4 || !core->store->agent_drain) {
        ops_fail(cb, cookie, OPS_ERR_UNSUPPORTED,
                 "the storage plugin '%s' does not support draining (built for ABI %u.%u; "
                 "draining needs 2.4)",
                 core->storage_plugin ? core->storage_plugin->desc->name : "?",
                 core->storage_plugin ? core->storage_plugin->desc->abi_major : 0,
                 core->storage_plugin ? core->storage_plugin->desc->abi_minor : 0);
        return;
    }
    ops_call_init(call, core, cb, cookie);
    call->u.drain = drain;
    CORE_STORE(core, agent_drain, agent_id, drain, clock_now_ms(), on_drained, call);
}

/* ---- the health monitor's writes ---- */

void ops_health_changed(void *arg, const struct cp_agent_view *agent, int32_t health_before,
                        int32_t circuit_before, int32_t status_before)
{
    struct cp_core *core = arg;
    if (agent->status != status_before) claims_room(core->claims, agent->agent_id, agent);
    if (!ops_events_on(core)) return;
    struct domain_event e = {
        .kind = EVT_AGENT_HEALTH,
        .at_ms = clock_now_ms(),
        .agent_id = agent->agent_id,
        .old_status = health_before,
        .new_status = agent->health.status,
        .old_circuit = circuit_before,
        .new_circuit = agent->health.circuit,
        .priority = -1,
        .agent = agent,
    };
    events_emit(core->events, &e);
    if (agent->status != status_before)
        ops_emit_agent_event(core, EVT_AGENT_STATUS, NULL, agent, status_before, agent->status);
}
