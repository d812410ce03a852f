/* ops_affinity.c — the reactions to a task's end that feed what strategies see: the agent's
 * recent-tasks window (agent_stats.c: p95 latency, error rate) and, for a completed task with an
 * affinity_key, the store's key -> agent memory (affinity.c). Called once per completion or
 * failure report, from ops_transition_reacted (both complete paths: alone and with `next`). */
#include "affinity.h"
#include "agent_stats.h"
#include "ops_internal.h"

void ops_task_finished_seen(struct cp_core *core, int32_t kind, const struct cp_result *res)
{
    const struct cp_task_view *t = res->task;
    const char *agent = res->agent ? res->agent->agent_id : NULL;
    if (!t || !agent) return;
    double latency = -1;
    if (t->completed_at_ms > 0 && t->claimed_at_ms > 0 && t->completed_at_ms >= t->claimed_at_ms)
        latency = (double)(t->completed_at_ms - t->claimed_at_ms);
    agent_stats_record(core->agent_stats, agent, latency, kind != CP_TR_COMPLETE);
    if (kind == CP_TR_COMPLETE) affinity_remember(core, t, agent);
}
