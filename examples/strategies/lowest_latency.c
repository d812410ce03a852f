/* lowest_latency.c — a third-party selection strategy, built out of tree against the installed
 * SDK: the candidate whose finished tasks took the least time on average.
 *
 * Order, first difference wins:
 *   1. lowest average latency, latency_sum_ms / latency_count over the agent's finished
 *      (completed or failed) tasks. An agent with no finished task counts as
 *      `unknown_latency_ms` — 0 by default, so new agents are tried first and get measured
 *      (otherwise a fleet's first fast agent would take every task forever);
 *   2. fewest tasks_in_flight;
 *   3. agent_id, ascending (strcmp), so the choice is deterministic.
 *
 * Options (the entry's `options` in selection.plugins, read through host->option()):
 *   unknown_latency_ms  what an agent without history counts as (default 0), e.g.
 *     selection: {plugins: [least_loaded, {plugin: ./lowest_latency.so,
 *                                          options: {unknown_latency_ms: 500}}]}
 *
 * Build: see CMakeLists.txt (find_package(cp)) or Makefile (pkg-config cp).
 */
#include <stdlib.h>
#include <string.h>

#include <cp/selection.h>

struct ll_state {
    const struct cp_host *host; /* valid until destroy() returns; its free() releases us */
    double unknown_latency_ms;
};

static double avg_latency(const struct ll_state *st, const struct cp_agent_view *a)
{
    if (a->latency_count == 0) return st->unknown_latency_ms;
    return a->latency_sum_ms / (double)a->latency_count;
}

/* <0 when a ranks before b. */
static int ll_compare(const struct ll_state *st, const struct cp_agent_view *a,
                      const struct cp_agent_view *b)
{
    double la = avg_latency(st, a), lb = avg_latency(st, b);
    if (la != lb) return la < lb ? -1 : 1;
    if (a->tasks_in_flight != b->tasks_in_flight)
        return a->tasks_in_flight < b->tasks_in_flight ? -1 : 1;
    return strcmp(a->agent_id ? a->agent_id : "", b->agent_id ? b->agent_id : "");
}

static int ll_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct ll_state *st = malloc(sizeof *st);
    if (!st) return CP_ERR_NOMEM;
    st->host = host;
    st->unknown_latency_ms = 0;
    const char *opt = host->option ? host->option(host, "unknown_latency_ms") : NULL;
    if (opt) {
        char *end;
        double v = strtod(opt, &end);
        if (end == opt || *end || !(v >= 0)) {
            strcpy(err->msg, "unknown_latency_ms must be a number >= 0");
            free(st);
            return CP_ERR_INVALID;
        }
        st->unknown_latency_ms = v;
    }
    *state = st;
    host->log(host, CP_LOG_INFO, "lowest_latency ready (unknown agents count as %.1f ms)",
              st->unknown_latency_ms);
    return 0;
}

static void ll_destroy(void *state)
{
    struct ll_state *st = state;
    free(st);
}

static int ll_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                     const struct cp_selection_ctx *ctx)
{
    (void)ctx;
    const struct ll_state *st = state;
    if (!st || !candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (ll_compare(st, candidates[i], candidates[best]) < 0) best = i;
    return (int)best;
}

static const struct cp_selection_ops ll_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = ll_create,
    .destroy = ll_destroy,
    .select = ll_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "lowest_latency", "1.0", &ll_ops);
