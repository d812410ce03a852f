/* region_affinity.c — a third-party selection strategy that looks at the task it places: it
 * prefers agents whose metadata has the same `region` as the task's metadata (or, for
 * GET /agents/select, as the request's hint.region), and ranks the rest as least_loaded does.
 *
 * What is wanted: the task's metadata member <key> when a task is being placed (a held claim
 * offered a new task), else the hint of that name (GET /agents/select?hint.region=eu). Only
 * string values count; without one every candidate is equal on rule 1.
 *
 * Order, first difference wins:
 *   1. metadata.<key> equal to the wanted value;
 *   2. fewest tasks_in_flight;
 *   3. agent_id, ascending (strcmp), so the choice is deterministic.
 *
 * Options (the entry's `options` in selection.plugins):
 *   key    the metadata member compared (default "region"), e.g. {key: zone}
 *
 * Needs ABI 2.4 (struct cp_selection_ctx's task and hints_json) and json-c for reading the JSON
 * texts. Build: see CMakeLists.txt (find_package(cp)) or Makefile (pkg-config cp json-c).
 */
#include <stdlib.h>
#include <string.h>

#include <cp/selection.h>
#include <json-c/json.h>

#if CP_ABI_TARGET_MINOR < 4
#error "region_affinity reads cp_selection_ctx.task and hints_json: build it for ABI 2.4 or later"
#endif

#define KEY_MAX 64

struct ra_state {
    char key[KEY_MAX + 1];
};

/* The string member `key` of the JSON object `text`, copied into out (""/0 when absent, not a
 * string, or the text is no object). */
static int member(const char *text, const char *key, char *out, size_t len)
{
    out[0] = '\0';
    json_object *o = text ? json_tokener_parse(text) : NULL, *v;
    int found = o && json_object_is_type(o, json_type_object) &&
                json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string);
    if (found) {
        const char *s = json_object_get_string(v);
        size_t n = strlen(s);
        found = n < len;
        if (found) memcpy(out, s, n + 1);
    }
    json_object_put(o);
    return found;
}

static int ra_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct ra_state *st = calloc(1, sizeof *st);
    if (!st) return CP_ERR_NOMEM;
    const char *key = host->option ? host->option(host, "key") : NULL;
    if (!key) key = "region";
    if (!*key || strlen(key) > KEY_MAX) {
        strcpy(err->msg, "key must be 1-64 characters (a metadata member's name)");
        free(st);
        return CP_ERR_INVALID;
    }
    strcpy(st->key, key);
    *state = st;
    host->log(host, CP_LOG_INFO, "region_affinity ready (matching metadata.%s)", st->key);
    return 0;
}

static void ra_destroy(void *state)
{
    free(state);
}

static int ra_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                     const struct cp_selection_ctx *ctx)
{
    const struct ra_state *st = state;
    if (!st || !candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    char want[256], have[256];
    const char *source = ctx->task ? ctx->task->metadata_json : ctx->hints_json;
    int wanted = member(source, st->key, want, sizeof want);
    size_t best = 0;
    int best_match = -1;
    for (size_t i = 0; i < n; i++) {
        const struct cp_agent_view *a = candidates[i];
        int match = wanted && member(a->metadata_json, st->key, have, sizeof have) &&
                    strcmp(have, want) == 0;
        if (best_match >= 0) {
            const struct cp_agent_view *b = candidates[best];
            if (match != best_match) {
                if (match < best_match) continue;
            } else if (a->tasks_in_flight != b->tasks_in_flight) {
                if (a->tasks_in_flight > b->tasks_in_flight) continue;
            } else if (strcmp(a->agent_id, b->agent_id) >= 0) {
                continue;
            }
        }
        best = i;
        best_match = match;
    }
    return (int)best;
}

static const struct cp_selection_ops ra_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = ra_create,
    .destroy = ra_destroy,
    .select = ra_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "region_affinity", "1.0", &ra_ops);
