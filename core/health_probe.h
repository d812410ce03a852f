/* health_probe.h — one agent's health probe, scheduled through its probe plugin: checks a probe
 * definition against what this server can run, then runs it on its interval and hands every
 * result to the callback its owner (the health monitor) gave. */
#ifndef CORE_HEALTH_PROBE_H
#define CORE_HEALTH_PROBE_H

#include <stddef.h>

#include "probe_def.h"

struct cp_core;
struct health_probe;

/* One result of a probe. May free the probe (the agent turned out to be gone), so it is the
 * last thing the probe does. error: NULL or "" when ok. */
typedef void (*probe_result_cb)(void *arg, const char *type, int ok, double latency_ms,
                                const char *error);

/* Check a definition: type is a loaded probe plugin (exec only when enabled), then the plugin's
 * own validate(). 0, or -1 with a message naming the member in err. */
int health_probe_check(struct cp_core *core, const struct probe_def *def, char *err, size_t errlen);

/* Start probing per def (taken: *def is left empty): first after ~100 ms, then every interval,
 * never two at once. agent_id is borrowed and must outlive the probe. NULL when the definition
 * cannot run or there is no event loop (logged). */
struct health_probe *health_probe_new(struct cp_core *core, const char *agent_id,
                                      struct probe_def *def, probe_result_cb cb, void *arg);
/* The configured defaults changed: a probe without its own interval/timeout takes the new ones
 * (from its next check on). */
void health_probe_apply_config(struct health_probe *p, struct cp_core *core);
/* Stop: cancel an in-flight check (its result never comes) and free. */
void health_probe_free(struct health_probe *p);

#endif
