/* affinity.c — selection strategy: prompt-cache affinity (docs/fleet.md, "Prompt-cache
 * affinity"). A task with an affinity_key (a conversation or debate id) goes to the agent that
 * last completed a task with that key — ctx->affinity_agent, which cpd reads from the store
 * (shared by every cpd process on it) — when that agent is among the candidates and stays
 * within the load threshold; otherwise, and for tasks without a key, to the fallback's pick.
 * The agent that completes the task becomes the warm one (cpd writes that, not this plugin).
 *
 * Options (selection.plugins entry `options`):
 *   max_load   0 < x <= 1, default 1: the warm agent is chosen only while
 *              tasks_in_flight + 1 <= max_load * max_concurrent_tasks (its load with the task);
 *   fallback   least_loaded (default) or headroom: the order used otherwise (rank.h).
 * Stateless apart from its options.
 */
#include <stdlib.h>
#include <string.h>

#include <cp/selection.h>

#include "rank.h"

struct aff_state {
    double max_load;
    int fallback_headroom;
};

static int aff_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct aff_state *st = malloc(sizeof *st);
    if (!st) return CP_ERR_NOMEM;
    st->max_load = 1.0;
    st->fallback_headroom = 0;
    const char *load = host && host->option ? host->option(host, "max_load") : NULL;
    const char *fb = host && host->option ? host->option(host, "fallback") : NULL;
    if (load) {
        char *end;
        double v = strtod(load, &end);
        if (end == load || *end || !(v > 0 && v <= 1)) {
            strcpy(err->msg, "max_load must be a number above 0 and at most 1");
            free(st);
            return CP_ERR_INVALID;
        }
        st->max_load = v;
    }
    if (fb) {
        if (strcmp(fb, "headroom") == 0) {
            st->fallback_headroom = 1;
        } else if (strcmp(fb, "least_loaded") != 0) {
            strcpy(err->msg, "fallback must be least_loaded or headroom");
            free(st);
            return CP_ERR_INVALID;
        }
    }
    *state = st;
    return 0;
}

static void aff_destroy(void *state)
{
    free(state);
}

/* The warm agent's index among the candidates while within the threshold, else -1. */
static int warm_index(const struct aff_state *st, const struct cp_agent_view *const *c, size_t n,
                      const struct cp_selection_ctx *ctx)
{
    const char *warm = ctx ? ctx->affinity_agent : NULL;
    if (!warm || !ctx->task || !ctx->task->affinity_key) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!c[i]->agent_id || strcmp(c[i]->agent_id, warm) != 0) continue;
        double with_task = (double)c[i]->tasks_in_flight + 1.0;
        if (with_task > st->max_load * (double)c[i]->max_concurrent_tasks + 1e-9) return -1;
        return (int)i;
    }
    return -1; /* not waiting now (busy elsewhere, at its limit, gone): the fallback's pick */
}

static int aff_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                      const struct cp_selection_ctx *ctx)
{
    const struct aff_state *st = state;
    if (!st || !candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    int warm = warm_index(st, candidates, n, ctx);
    if (warm >= 0) return warm;
    return (int)(st->fallback_headroom ? rank_best_headroom(candidates, n, ctx)
                                       : rank_best_least_loaded(candidates, n));
}

static const struct cp_selection_ops aff_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = aff_create,
    .destroy = aff_destroy,
    .select = aff_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "affinity", "1.0", &aff_ops);
