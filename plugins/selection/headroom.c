/* headroom.c — selection strategy: the candidate with the most room (docs/fleet.md, "What
 * strategies can see"). The order (rank.h, rank_headroom), first difference wins:
 *   1. quota headroom: more tokens left this minute, then more requests left, on the tightest
 *      provider quota the agent is under (-1 = no quota applies: unlimited);
 *   2. more free task slots (max_concurrent_tasks - tasks_in_flight);
 *   3. lower recent p95 latency (an agent with no recent tasks after those with some);
 *   4. lower recent error rate (likewise);
 *   5. least_loaded's order (fewest in flight, fewest completed, least recently assigned,
 *      agent_id).
 * Keys 1, 3 and 4 come from ctx->stats (ABI 2.4). Stateless; no options.
 */
#include <cp/selection.h>

#include "rank.h"

static int hr_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    (void)host;
    (void)err;
    *state = NULL;
    return 0;
}

static void hr_destroy(void *state)
{
    (void)state;
}

static int hr_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                     const struct cp_selection_ctx *ctx)
{
    (void)state;
    if (!candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    return (int)rank_best_headroom(candidates, n, ctx);
}

static const struct cp_selection_ops hr_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = hr_create,
    .destroy = hr_destroy,
    .select = hr_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "headroom", "1.0", &hr_ops);
