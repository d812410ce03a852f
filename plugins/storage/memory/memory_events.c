/* memory_events.c — what an operation of the in-memory backend reports besides its records:
 * the events it caused (reap, unregister, drain, the requeues of a removed agent) and the
 * statuses before it (ABI 2.4 `before`), and the replies that carry them. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

void mem_task_event(struct mem_events *ev, int kind, const char *agent_id, const struct mem_task *t,
                    int32_t before)
{
    struct cp_event e = {
        .size = sizeof e,
        .kind = kind,
        .agent_id = agent_id,
        .task_id = TASK_ID(t),
        .task_type = t->type->s,
        .task_status = t->status,
        .required_capabilities = t->caps->caps,
        .n_required = t->caps->n,
#if CP_ABI_TARGET_MINOR >= 1 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
        .strategy = t->strategy,
#endif
#if CP_ABI_TARGET_MINOR >= 4
        .status_before = before,
        .attempt = t->attempt,
#endif
    };
    (void)before;
    mem_events_add(ev, &e);
}

void mem_events_add(struct mem_events *ev, const struct cp_event *e)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 16;
        struct cp_event *v = realloc(ev->v, cap * sizeof *v);
        if (!v) return; /* the change is made; only its report is lost */
        ev->v = v;
        ev->cap = cap;
    }
    ev->v[ev->n++] = *e;
}

void mem_result_before(struct cp_result *res, struct mem_before b)
{
#if CP_ABI_TARGET_MINOR >= 4
    if (b.agent >= 0) {
        res->before |= CP_BEFORE_AGENT;
        res->agent_status_before = b.agent;
    }
    if (b.task >= 0) {
        res->before |= CP_BEFORE_TASK;
        res->task_status_before = b.task;
    }
#else
    (void)res, (void)b;
#endif
}

static void reply_events(cp_storage_cb cb, void *cookie, struct mem_events *ev,
                         int32_t agent_before, int64_t next_due_ms, int more)
{
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    mem_result_before(&res, (struct mem_before){agent_before, -1});
    res.events = ev->v;
    res.n_events = ev->n;
#if CP_ABI_TARGET_MINOR >= 4
    res.next_due_ms = next_due_ms;
    res.more = more;
#else
    (void)next_due_ms, (void)more;
#endif
    cb(cookie, &res);
    free(ev->v);
    ev->v = NULL;
    ev->n = ev->cap = 0;
}

void mem_reply_events(cp_storage_cb cb, void *cookie, struct mem_events *ev, int32_t agent_before)
{
    reply_events(cb, cookie, ev, agent_before, 0, 0);
}

void mem_reply_events_ex(cp_storage_cb cb, void *cookie, struct mem_events *ev, int64_t next_due_ms,
                         int more)
{
    reply_events(cb, cookie, ev, -1, next_due_ms, more);
}
