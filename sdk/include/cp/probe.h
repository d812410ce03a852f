/* cp/probe.h — the health-probe plugin kind. The descriptor's name is the probe `type` that
 * agents give in "health_probe": {"type": "<name>", ...}.
 *
 * Probes are asynchronous on the host's event loop (host->event_base / host->timer_add); a
 * probe must never block. start() must call done() exactly once, later (never from within
 * start()), unless cancel() is called first — after cancel() done() is never called.
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
    uint64_t timeout_ms; /* the probe must report failure by then */
};

static inline const char *cp_probe_spec_get(const struct cp_probe_spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_items; i++)
        if (strcmp(spec->items[i].key, key) == 0) return spec->items[i].value;
    return NULL;
}

/* ok: 1 pass, 0 fail. latency_ms: how long the check took. error: why it failed, or NULL;
 * borrowed for the call. */
typedef void (*cp_probe_done_cb)(void *cookie, int ok, double latency_ms, const char *error);

struct cp_probe_ops {
    CP_OPS_HEADER;
    /* At registration: 0 if the spec is usable, else CP_ERR_INVALID with err->msg naming the
     * member (answered to the client as 400 invalid_field). */
    int (*validate)(void *state, const struct cp_probe_spec *spec, struct cp_err *err);
    /* Begin one check. On success *handle identifies it for cancel(). */
    int (*start)(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done,
                 void *cookie, void **handle, struct cp_err *err);
    void (*cancel)(void *state, void *handle);
};
#define CP_PROBE_OPS_VERSION 1

#ifdef __cplusplus
}
#endif
#endif
