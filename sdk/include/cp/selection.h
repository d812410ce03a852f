/* cp/selection.h — the selection-strategy plugin kind: pick one agent among candidates.
 *
 * The host builds the candidate list (alive, available, every required capability, circuit not
 * open, not excluded), sorted by agent_id, never empty, so a strategy only ranks. It is called
 * on the host's loop thread only; state needs no locking.
 */
#ifndef CP_SELECTION_H
#define CP_SELECTION_H

#include "plugin.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cp_selection_ctx {
    const char *const *capabilities; /* the required capabilities, sorted, unique */
    uint32_t n_capabilities;
    const char *capability_key; /* the same set as one string ("a,b"), "" when empty */
    const char *task_id;        /* the task being placed, or NULL for GET /agents/select */
    int64_t now_ms;
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
