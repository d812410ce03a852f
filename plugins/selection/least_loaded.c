/* least_loaded.c — selection strategy: the candidate with the least work (docs/api.md).
 *
 * Order, first difference wins:
 *   1. fewest tasks_in_flight;
 *   2. fewest tasks_completed (spreads work over a fleet that is idle most of the time);
 *   3. least recently assigned: smallest last_assigned_ms, 0 ("never") before any time;
 *   4. agent_id, ascending (strcmp), so the choice is deterministic.
 * Stateless: create() leaves *state NULL.
 */
#include <cp/selection.h>

#include "rank.h" /* rank_least_loaded(): the order above, shared with headroom */

static int ll_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    (void)host;
    (void)err;
    *state = NULL;
    return 0;
}

static void ll_destroy(void *state)
{
    (void)state;
}

static int ll_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                     const struct cp_selection_ctx *ctx)
{
    (void)state;
    (void)ctx;
    if (!candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (rank_least_loaded(candidates[i], candidates[best]) < 0) best = i;
    return (int)best;
}

static const struct cp_selection_ops ll_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = ll_create,
    .destroy = ll_destroy,
    .select = ll_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "least_loaded", "1.0", &ll_ops);
