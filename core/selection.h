/* selection.h — choosing one agent among candidates through a selection plugin. */
#ifndef CORE_SELECTION_H
#define CORE_SELECTION_H

#include <stddef.h>

#include <cp/selection.h>

struct cp_core;
struct plugin;

/* The selection plugin `name` (NULL or "" = the configured default), or NULL if unknown. */
struct plugin *core_strategy(struct cp_core *core, const char *name);

/* Index of the chosen candidate (candidates sorted by agent_id, n >= 1). task: the task being
 * placed, or NULL (GET /agents/select); hints_json: the request's hints as a JSON object's text,
 * or NULL for none ("{}"); affinity_agent: the agent remembered for the task's affinity key, or
 * NULL. The strategy also sees each candidate's stats (agent_stats.h). A strategy error or an
 * out-of-range answer falls back to 0 (logged): a broken plugin never stalls the scheduler. */
size_t selection_pick(struct cp_core *core, struct plugin *strategy,
                      const struct cp_agent_view *const *candidates, size_t n,
                      const char *const *caps, uint32_t n_caps,
                      const struct cp_selection_task *task, const char *hints_json,
                      const char *affinity_agent);

/* The names of the loaded selection plugins, ", "-separated, into buf (for error messages). */
void selection_names(struct cp_core *core, char *buf, size_t len);

#endif
