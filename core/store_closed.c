/* store_closed.c — the storage ops table cpd switches to once its real store is destroyed at
 * shutdown: every operation answers CP_ERR_UNAVAILABLE at once, so late callbacks (a reply
 * that failed to write, a probe result) never reach a freed backend. */
#pragma GCC diagnostic ignored "-Wunused-parameter" /* the ops ignore their arguments */

#include "core.h"
#include "store_closed.h"

static void closed(cp_storage_cb cb, void *cookie)
{
    struct cp_result res = {
        .size = sizeof res, .rc = CP_ERR_UNAVAILABLE, .message = "cpd is shutting down"};
    cb(cookie, &res);
}

#define CLOSED_OP(name, ...)                                                                       \
    static void name(void *st, __VA_ARGS__, cp_storage_cb cb, void *cookie)                        \
    {                                                                                              \
        (void)st;                                                                                  \
        closed(cb, cookie);                                                                        \
    }

CLOSED_OP(c_agent_register, const struct cp_agent_view *in, int64_t now)
CLOSED_OP(c_agent_get, const char *id)
CLOSED_OP(c_agent_list, const struct cp_agent_filter *f)
CLOSED_OP(c_agent_heartbeat, const char *id, int32_t status, int64_t now)
CLOSED_OP(c_agent_unregister, const char *id, int64_t now)
CLOSED_OP(c_agent_set_health, const char *id, const struct cp_health_view *h, int32_t status,
          int32_t expect)
CLOSED_OP(c_task_submit, const struct cp_task_view *t)
CLOSED_OP(c_task_get, const char *id)
CLOSED_OP(c_task_list, const struct cp_task_filter *f)
CLOSED_OP(c_task_claim, const struct cp_claim *c)
CLOSED_OP(c_task_transition, const struct cp_transition *tr)
CLOSED_OP(c_reap, const struct cp_reap *r)
CLOSED_OP(c_agent_drain, const char *id, int drain, int64_t now)

static void c_stats(void *st, cp_storage_cb cb, void *cookie)
{
    (void)st;
    closed(cb, cookie);
}

static int c_is_available(void *st)
{
    (void)st;
    return 0;
}

const struct cp_storage_ops store_closed_ops = {
    .version = CP_STORAGE_OPS_VERSION,
    .agent_register = c_agent_register,
    .agent_get = c_agent_get,
    .agent_list = c_agent_list,
    .agent_heartbeat = c_agent_heartbeat,
    .agent_unregister = c_agent_unregister,
    .agent_set_health = c_agent_set_health,
    .task_submit = c_task_submit,
    .task_get = c_task_get,
    .task_list = c_task_list,
    .task_claim = c_task_claim,
    .task_transition = c_task_transition,
    .reap = c_reap,
    .stats = c_stats,
    .is_available = c_is_available,
    .agent_drain = c_agent_drain,
};
