/* health.h — the health monitor: runs each agent's probe on its interval through the probe
 * plugins, applies the thresholds of docs/api.md, and keeps each agent's circuit breaker (fed
 * by probes, task failures and timeouts). State lives in the agent's record in storage
 * (struct cp_health_view), so every cpd process sharing a store sees the same circuit. */
#ifndef CORE_HEALTH_H
#define CORE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include <cp/types.h>

#include "probe_def.h"

struct cp_core;
struct health_monitor;

/* What the owner (ops) does about the health the monitor writes. */
struct health_hooks {
    void *arg;
    /* The monitor wrote an agent's health: `agent` as the store returned it after the write,
     * with its health status and agent status from before. */
    void (*changed)(void *arg, const struct cp_agent_view *agent, int32_t health_before,
                    int32_t circuit_before, int32_t status_before);
};

/* hooks: may be NULL. decode: turns an agent's stored probe text into a definition (the front
 * end that wrote it provides it; NULL: agents with a probe are not probed, logged). */
struct health_monitor *health_new(struct cp_core *core, const struct health_hooks *hooks,
                                  probe_decode_fn decode);
/* Take the thresholds and the default probe interval/timeout from core->cfg again (SIGHUP):
 * probes that did not set their own interval_seconds/timeout_seconds follow the new default. */
void health_apply_config(struct health_monitor *hm);
void health_free(struct health_monitor *hm);

/* At registration: check a probe definition (type is a loaded probe plugin, exec only when
 * enabled, the plugin's own validate()). 0, or -1 with a message naming the member in err. */
int health_check_probe(struct health_monitor *hm, const struct probe_def *def, char *err,
                       size_t errlen);

/* After (re-)registration: (re)start probing per a->health_probe_json (nothing when NULL). */
void health_track(struct health_monitor *hm, const struct cp_agent_view *a);
/* After unregistration or removal: stop probing. */
void health_untrack(struct health_monitor *hm, const char *agent_id);
/* A task of this agent completed (ok = 1), failed or timed out (ok = 0): feeds its breaker. */
void health_task_outcome(struct health_monitor *hm, const char *agent_id, int ok);
/* The same, given the agent as the store returned it with the outcome (a task transition's
 * res->agent): spares reading it again when nothing else of this agent is queued. */
void health_task_outcome_seen(struct health_monitor *hm, const struct cp_agent_view *agent, int ok);

/* Pure rules, unit-tested with an injectable clock (now_ms). Each updates `h` in place and
 * returns the agent status the agent should take (-1 = unchanged):
 *  - a probe result: thresholds and slow-probe rule, then the breaker;
 *  - a task outcome: the breaker only;
 *  - tick: an open circuit whose retry_at has passed turns half_open. */
struct health_rules {
    uint32_t unhealthy_threshold, recovery_threshold, failure_threshold;
    int64_t slow_probe_ms, cooldown_ms, max_cooldown_ms;
};
int health_apply_probe(const struct health_rules *r, struct cp_health_view *h, int32_t status,
                       int ok, double latency_ms, int64_t now_ms);
void health_apply_task(const struct health_rules *r, struct cp_health_view *h, int ok,
                       int64_t now_ms);
int health_apply_tick(const struct health_rules *r, struct cp_health_view *h, int64_t now_ms);

/* System status from per-status counts (docs/api.md). */
int health_system_status(uint64_t total, uint64_t degraded, uint64_t unhealthy);

#endif
