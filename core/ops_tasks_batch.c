/* ops_tasks_batch.c — a batch of submits as one store operation (task_submit_batch: one round
 * trip, one script on Redis), with the same checks and reactions as a single submit for each
 * task the batch stored. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ops_internal.h"
#include "scheduler.h"
#include "xalloc.h"

int ops_batch_created(const struct ops_call *call, const struct cp_result *res, size_t i)
{
    return i < res->n_tasks && i < call->u.batch.n && res->tasks[i] &&
           strcmp(res->tasks[i]->id, call->u.batch.ids[i]) == 0;
}

static void on_batch(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    char(*ids)[32] = call->u.batch.ids;
    size_t n = call->u.batch.n;
    /* What the store stored, told before the callback, woken after it (see ops_tasks.c). */
    char *created = xcalloc(res->n_tasks ? res->n_tasks : 1, 1);
    for (size_t i = 0; i < res->n_tasks && i < n; i++) {
        /* An earlier item of the batch may have found this one by its key: a task counts once. */
        created[i] = ops_batch_created(call, res, i);
        if (created[i]) ops_task_stored(core, res->tasks[i]);
    }
    size_t n_tasks = res->n_tasks;
    const struct cp_task_view *const *tasks = res->tasks;
    call->cb(call->cookie, res);
    for (size_t i = 0; i < n_tasks; i++)
        if (created[i]) sched_task_changed(core->sched, tasks[i]);
    free(created);
    free(ids);
}

void ops_task_submit_batch(struct cp_core *core, struct ops_call *call,
                           const struct cp_task_view *const *in, size_t n, cp_storage_cb cb,
                           void *cookie)
{
    if (!core->store->task_submit_batch) {
        ops_unsupported(core, cb, cookie, "batches of tasks");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (ops_submit_check(core, in[i], cb, cookie) < 0) return;
    struct cp_task_view *views = xcalloc(n ? n : 1, sizeof *views);
    const struct cp_task_view **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
    ops_call_init(call, core, cb, cookie);
    call->u.batch.ids = xcalloc(n ? n : 1, sizeof *call->u.batch.ids);
    call->u.batch.n = n;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        ops_new_task_id(call->u.batch.ids[i]);
        ops_submit_view(in[i], call->u.batch.ids[i], now, &views[i]);
        ptrs[i] = &views[i];
    }
    CORE_STORE(core, task_submit_batch, ptrs, n, on_batch, call);
    free(views);
    free(ptrs);
}
