/* selection.c — the glue between the core and selection plugins. */
#include <stdlib.h>
#include <string.h>

#include <cp/selection.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "selection.h"

struct plugin *core_strategy(struct cp_core *core, const char *name)
{
    if (!name || !*name) name = core->cfg->selection_default;
    return plugin_find(&core->plugins, CP_PLUGIN_SELECTION, name);
}

size_t selection_pick(struct cp_core *core, struct plugin *strategy,
                      const struct cp_agent_view *const *candidates, size_t n,
                      const char *const *caps, uint32_t n_caps, const char *task_id)
{
    (void)core;
    if (n <= 1 || !strategy) return 0;
    char key[4096];
    size_t len = 0;
    key[0] = '\0';
    for (uint32_t i = 0; i < n_caps; i++) {
        size_t l = strlen(caps[i]);
        if (len + l + 2 >= sizeof key) break;
        if (i) key[len++] = ',';
        memcpy(key + len, caps[i], l + 1);
        len += l;
    }
    struct cp_selection_ctx ctx = {caps, n_caps, key, task_id, clock_now_ms()};
    const struct cp_selection_ops *ops = strategy->ops;
    int idx = ops->select(strategy->state, candidates, n, &ctx);
    if (idx < 0 || (size_t)idx >= n) {
        log_warn("selection plugin %s answered %d for %zu candidates; using the first",
                 strategy->desc->name, idx, n);
        return 0;
    }
    return (size_t)idx;
}
