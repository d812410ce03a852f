/* ops_tasks_admin.c — the task operations of ABI 2.4 stores besides submitting: the holder's
 * lease (extend, with progress), a retry by hand and purging terminal tasks. Each is one store
 * operation; a store without it answers OPS_ERR_UNSUPPORTED and nothing changes. */
#include <string.h>

#include "clock.h"
#include "ops_internal.h"
#include "scheduler.h"

/* The op's table member, or an OPS_ERR_UNSUPPORTED answer naming `what`. */
#define STORE_HAS(core, op, what, cb, cookie)                                                      \
    ((core)->store->op ? 1 : (ops_unsupported((core), (cb), (cookie), (what)), 0))

static void on_extended(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    if (res->rc == 0)
        ops_emit_task(call->core, EVT_TASK_EXTENDED, res->task, res->task->status,
                      res->agent ? res->agent->agent_id : NULL);
    call->cb(call->cookie, res);
}

void ops_task_extend(struct cp_core *core, struct ops_call *call, const struct cp_extend *x,
                     cp_storage_cb cb, void *cookie)
{
    if (!STORE_HAS(core, task_extend, "extending a task's lease", cb, cookie)) return;
    struct cp_extend e = *x;
    e.now_ms = clock_now_ms();
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, task_extend, &e, on_extended, call);
}

static void on_retried(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    if (res->rc < 0) {
        call->cb(call->cookie, res);
        return;
    }
    ops_emit_task(core, EVT_TASK_RETRIED, res->task, ops_task_before(res), NULL);
    call->cb(call->cookie, res);
    sched_task_changed(core->sched, res->task); /* pending again: held claims may take it */
}

void ops_task_retry(struct cp_core *core, struct ops_call *call, const char *task_id,
                    cp_storage_cb cb, void *cookie)
{
    if (!STORE_HAS(core, task_retry, "retrying a task", cb, cookie)) return;
    struct cp_retry r = {.task_id = task_id, .now_ms = clock_now_ms()};
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, task_retry, &r, on_retried, call);
}

void ops_task_purge(struct cp_core *core, const struct cp_purge *p, cp_storage_cb cb, void *cookie)
{
    if (!STORE_HAS(core, task_purge, "purging tasks", cb, cookie)) return;
    struct cp_purge q = *p;
    q.now_ms = clock_now_ms();
    CORE_STORE(core, task_purge, &q, cb, cookie);
}
