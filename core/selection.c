/* selection.c — the glue between the core and selection plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cp/selection.h>

#include "agent_stats.h"
#include "clock.h"
#include "core.h"
#include "log.h"
#include "metrics.h"
#include "selection.h"
#include "xalloc.h"

struct plugin *core_strategy(struct cp_core *core, const char *name)
{
    if (!name || !*name) name = core->cfg->selection_default;
    return plugin_find(&core->plugins, CP_PLUGIN_SELECTION, name);
}

static size_t pick(struct cp_core *core, struct plugin *strategy,
                   const struct cp_agent_view *const *candidates, size_t n, const char *const *caps,
                   uint32_t n_caps, const struct cp_selection_task *task, const char *hints_json,
                   const char *affinity_agent);

size_t selection_pick(struct cp_core *core, struct plugin *strategy,
                      const struct cp_agent_view *const *candidates, size_t n,
                      const char *const *caps, uint32_t n_caps,
                      const struct cp_selection_task *task, const char *hints_json,
                      const char *affinity_agent)
{
    size_t idx =
        pick(core, strategy, candidates, n, caps, n_caps, task, hints_json, affinity_agent);
    if (task && task->affinity_key && n > 1) { /* a choice was made */
        const char *chosen = candidates[idx]->agent_id;
        metrics_affinity_placed(!affinity_agent ? METRICS_AFFINITY_COLD
                                : chosen && strcmp(chosen, affinity_agent) == 0
                                    ? METRICS_AFFINITY_WARM
                                    : METRICS_AFFINITY_OTHER);
    }
    return idx;
}

static size_t pick(struct cp_core *core, struct plugin *strategy,
                   const struct cp_agent_view *const *candidates, size_t n, const char *const *caps,
                   uint32_t n_caps, const struct cp_selection_task *task, const char *hints_json,
                   const char *affinity_agent)
{
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
    struct cp_selection_ctx ctx = {
        .capabilities = caps,
        .n_capabilities = n_caps,
        .capability_key = key,
        .task_id = task ? task->id : NULL,
        .now_ms = clock_now_ms(),
        .task = task,
        .hints_json = hints_json ? hints_json : "{}",
        .affinity_agent = affinity_agent,
    };
    /* What strategies see of each candidate besides its record (2.4): on the stack for the
     * usual few, else allocated (GET /agents/select may offer the whole fleet). */
    struct cp_candidate_stats local[64], *stats = n <= 64 ? local : xcalloc(n, sizeof *stats);
    const struct cp_candidate_stats *local_ptrs[64];
    const struct cp_candidate_stats **ptrs = n <= 64 ? local_ptrs : xcalloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        agent_stats_fill(core, core->agent_stats, candidates[i], &stats[i]);
        ptrs[i] = &stats[i];
    }
    ctx.stats = ptrs;
    const struct cp_selection_ops *ops = strategy->ops;
    int idx = ops->select(strategy->state, candidates, n, &ctx);
    if (stats != local) free(stats);
    if (ptrs != local_ptrs) free(ptrs);
    if (idx < 0 || (size_t)idx >= n) {
        log_warn("selection plugin %s answered %d for %zu candidates; using the first",
                 strategy->desc->name, idx, n);
        return 0;
    }
    return (size_t)idx;
}

void selection_names(struct cp_core *core, char *buf, size_t len)
{
    size_t used = 0;
    if (len) buf[0] = '\0';
    for (size_t i = 0; i < core->plugins.n; i++) {
        const struct plugin *p = core->plugins.items[i];
        if (p->desc->kind != CP_PLUGIN_SELECTION) continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", p->desc->name);
        if (w < 0 || (size_t)w >= len - used) {
            buf[used] = '\0'; /* cut at the last name that fitted */
            break;
        }
        used += (size_t)w;
    }
}
