/* health_internal.h — between the health monitor (health.c) and the probe runner that schedules
 * one agent's probe through its probe plugin (health_probe.c). Not for other modules. */
#ifndef CORE_HEALTH_INTERNAL_H
#define CORE_HEALTH_INTERNAL_H

#include <stddef.h>

struct cp_core;
struct json_object;
struct health_slot;  /* health.c: one agent's state in the monitor */
struct health_probe; /* health_probe.c: one agent's probe schedule */

/* Check a "health_probe" object: type is a loaded probe plugin (exec only when enabled),
 * interval_seconds / timeout_seconds positive numbers, then the plugin's validate(). 0, or -1
 * with a message naming the member in err. */
int health_probe_validate(struct cp_core *core, struct json_object *probe, char *err,
                          size_t errlen);

/* Parse `json` (the stored probe object's text) and start probing: first after ~100 ms, then
 * every interval, never two at once. Results go to health_slot_probe_result(slot, ...).
 * agent_id is borrowed and must outlive the probe (it is the slot's). NULL when the object is
 * unusable or there is no event loop (logged). */
struct health_probe *health_probe_new(struct cp_core *core, struct health_slot *slot,
                                      const char *agent_id, const char *json);
/* The configured defaults changed: a probe without its own interval/timeout takes the new ones
 * (from its next check on). */
void health_probe_apply_config(struct health_probe *p, struct cp_core *core);
/* Stop: cancel an in-flight check (its done() never comes) and free. */
void health_probe_free(struct health_probe *p);

/* health.c: one result of the slot's probe. May free the probe and the slot (when the agent
 * turns out to be gone), so it is the last thing its caller does with either. */
void health_slot_probe_result(struct health_slot *slot, const char *type, int ok, double latency_ms,
                              const char *error);

#endif
