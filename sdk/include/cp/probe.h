/* cp/probe.h — the health-probe plugin kind. The descriptor's name is the probe `type` that
 * agents give in "health_probe": {"type": "<name>", ...}.
 *
 * Probes are asynchronous on the host's event loop (host->event_base / host->timer_add); a
 * probe must never block. A check: start() begins it, and the probe calls done() when it knows
 * the outcome — from any of its own callbacks, or already inside start() (a connect refused at
 * once). Everything else is the host's, so a probe is only its own logic:
 *   - the host delivers the outcome later, from its own loop callback;
 *   - it enforces spec->timeout_ms: a check without an outcome by then fails with
 *     "timed out after <N> ms" (a probe need not keep a timer of its own);
 *   - it measures the latency (start() to done()) when the probe passes a negative one;
 *   - only the first done() of a check counts;
 *   - it ends every check that start() began (returned 0) with exactly one release(handle):
 *     after the outcome, at the deadline, or when the agent's probe stops. release() is never
 *     called from inside the probe's own callbacks, so it may free everything the check holds
 *     (connection, bufferevent, child process). done() must not be called after release().
 * When start() fails, nothing was begun: no release() follows and a done() it made is ignored.
 * destroy() is called only once every check was released.
 */
#ifndef CP_PROBE_H
#define CP_PROBE_H

#include "plugin.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One key/value of the agent's health_probe object; non-string JSON values arrive as their
 * JSON text (numbers as written, arrays as "[...]"). */
struct cp_kv {
    const char *key;
    const char *value;
};

struct cp_probe_spec {
    const char *agent_id;
    const struct cp_kv *items; /* every member of the health_probe object, "type" included */
    size_t n_items;
    uint64_t timeout_ms; /* the host's deadline for the check (the probe may size its own I/O
                            timeouts by it) */
};

static inline const char *cp_probe_spec_get(const struct cp_probe_spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_items; i++)
        if (strcmp(spec->items[i].key, key) == 0) return spec->items[i].value;
    return NULL;
}

/* ok: 1 pass, 0 fail. latency_ms: how long the check took, or < 0 for "measure it" (the host
 * takes the time from start() to this call). error: why it failed, or NULL; borrowed for the
 * call (the host copies it). */
typedef void (*cp_probe_done_cb)(void *cookie, int ok, double latency_ms, const char *error);

struct cp_probe_ops {
    CP_OPS_HEADER;
    /* At registration: 0 if the spec is usable, else CP_ERR_INVALID with err->msg naming the
     * member (answered to the client as 400 invalid_field). */
    int (*validate)(void *state, const struct cp_probe_spec *spec, struct cp_err *err);
    /* Begin one check. On success *handle identifies it for release(). */
    int (*start)(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done, void *cookie,
                 void **handle, struct cp_err *err);
    /* End the check: free what it holds (kill what it runs). Called once per begun check. */
    void (*release)(void *state, void *handle);
};
#define CP_PROBE_OPS_VERSION 1

#ifdef __cplusplus
}
#endif
#endif
