/* selection.h — choosing one agent among candidates through a selection plugin. */
#ifndef CORE_SELECTION_H
#define CORE_SELECTION_H

#include <stddef.h>

#include <cp/types.h>

struct cp_core;
struct plugin;

/* The selection plugin `name` (NULL or "" = the configured default), or NULL if unknown. */
struct plugin *core_strategy(struct cp_core *core, const char *name);

/* Index of the chosen candidate (candidates sorted by agent_id, n >= 1). A strategy error or an
 * out-of-range answer falls back to 0 (logged): a broken plugin never stalls the scheduler. */
size_t selection_pick(struct cp_core *core, struct plugin *strategy,
                      const struct cp_agent_view *const *candidates, size_t n,
                      const char *const *caps, uint32_t n_caps, const char *task_id);

#endif
