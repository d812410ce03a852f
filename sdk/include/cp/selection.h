/* cp/selection.h — the selection-strategy plugin kind: pick one agent among candidates.
 *
 * The host builds the candidate list (alive, available, every required capability, circuit not
 * open, not excluded), sorted by agent_id, never empty, so a strategy only ranks. It is called
 * on the host's loop thread only; state needs no locking. The context says what is being
 * placed: since 2.4 the task itself (type, priority, metadata, payload size) or, for
 * GET /agents/select, the request's hints. A strategy's own options come from the config
 * (selection.plugins entries with `options`) through host->option() in create().
 */
#ifndef CP_SELECTION_H
#define CP_SELECTION_H

#include "plugin.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The task being placed (since 2.4), as a strategy may weigh it. Filled by the host; a later
 * minor may append members (a strategy reads only those it knows). Strings are borrowed for the
 * duration of select(). */
struct cp_selection_task {
    const char *id; /* "task_" + 24 hex digits */
    const char *task_type;
    const char *const *required_capabilities; /* sorted, unique */
    uint32_t n_required;
    int32_t priority;          /* enum cp_priority */
    const char *metadata_json; /* the task's metadata: a JSON object's text, never NULL */
    uint64_t payload_bytes;    /* length of the payload's JSON text */
    /* Appended in 2.4 (prompt-cache affinity). The task's affinity_key (a conversation or
     * debate id), or NULL when it has none; its affinity_ttl_seconds in milliseconds (0 when
     * it has no key). */
    const char *affinity_key;
    int64_t affinity_ttl_ms;
};

/* What the host knows of one candidate besides its record (since 2.4): ctx->stats[i] describes
 * candidates[i]. Host-filled; `size` is sizeof as the host was built, and a later minor may
 * append members (a strategy reads only those it knows and that `size` covers). */
struct cp_candidate_stats {
    uint32_t size;
    /* Room left on the provider quotas the agent is under, the tightest one: requests this
     * minute and tokens this minute. -1: unknown (no quota applies, or none is known). */
    int64_t quota_requests_left;
    int64_t quota_tokens_left;
    /* Over the agent's recent finished tasks (at most `recent_tasks` of them, seen by this cpd
     * process): the 95th percentile of their latency in ms, and the share that failed (0..1).
     * Both -1 when recent_tasks is 0. */
    double latency_p95_ms;
    double error_rate;
    uint32_t recent_tasks;
};

struct cp_selection_ctx {
    const char *const *capabilities; /* the required capabilities, sorted, unique */
    uint32_t n_capabilities;
    const char *capability_key; /* the same set as one string ("a,b"), "" when empty */
    const char *task_id;        /* the task being placed, or NULL for GET /agents/select */
    int64_t now_ms;
#if CP_ABI_TARGET_MINOR >= 4
    /* Since 2.4. The task being placed (task_id's), or NULL for GET /agents/select. */
    const struct cp_selection_task *task;
    /* Since 2.4. GET /agents/select's hint.<key>=<value> query parameters as a JSON object of
     * strings ({"region": "eu"}), read like an agent's or a task's metadata_json: a strategy
     * that matches agents to a task's metadata can match them to a request's hints the same
     * way. "{}" when there are none, and when placing a task. Never NULL. */
    const char *hints_json;
    /* Since 2.4. Per candidate, what the host knows of it besides its record: stats[i] is about
     * candidates[i]. Never NULL (nor any stats[i]) when the host is 2.4 or later. */
    const struct cp_candidate_stats *const *stats;
    /* Since 2.4. When the task has an affinity_key: the agent that last completed a task with
     * that key (within its TTL), whether or not it is among the candidates; NULL when none is
     * remembered, or the task has no key. */
    const char *affinity_agent;
#endif
};

struct cp_selection_ops {
    CP_OPS_HEADER;
    /* Returns the index (0 .. n-1) of the chosen candidate, or a negative CP_ERR_*.
     * candidates[i] are borrowed for the duration of the call. n >= 1. */
    int (*select)(void *state, const struct cp_agent_view *const *candidates, size_t n,
                  const struct cp_selection_ctx *ctx);
};
#define CP_SELECTION_OPS_VERSION 1

#ifdef __cplusplus
}
#endif
#endif
