/* memory_admin.c — the operator's task operations in the in-memory backend (2.4): a retry by
 * hand (a failed, timed-out or cancelled task back to pending, its attempts kept) and purging
 * terminal tasks (bounded work per call: the oldest first along the done list). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

#define RETRYABLE                                                                                  \
    (CP_TASK_MASK(CP_TASK_FAILED) | CP_TASK_MASK(CP_TASK_TIMEOUT) | CP_TASK_MASK(CP_TASK_CANCELLED))
#define TERMINAL (RETRYABLE | CP_TASK_MASK(CP_TASK_COMPLETED))
#define PURGE_DEFAULT_LIMIT 1000
#define PURGE_SCAN_FACTOR 10 /* terminal tasks looked at per task a purge may delete */

void mem_op_task_retry(void *st, const struct cp_retry *r, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    char msg[64];
    struct mem_task *t = r ? mem_task_find(m, r->task_id) : NULL;
    if (!r) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "retry is required");
    } else if (!t) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "task not found");
    } else if (!(RETRYABLE & CP_TASK_MASK(t->status))) {
        snprintf(msg, sizeof msg, "task is %s", cp_task_status_name(t->status));
        mem_reply_task(cb, cookie, CP_ERR_CONFLICT, msg, t, NULL, MEM_NO_BEFORE);
    } else {
        int32_t was = t->status;
        mem_done_remove(m, t);
        mem_name_put(m, &m->ids, t->passed_over);
        t->passed_over = NULL;
        t->passed_over_until = 0;
        mem_free_later(m, t->result);
        t->result = NULL;
        (void)mem_task_set_error(m, t, NULL); /* clearing never allocates */
        t->completed_at = 0;
        t->retries = 0;
        /* Unassigned, claimable at once, a new arrival at the tail of its band. */
        mem_task_requeue(m, t, r->now_ms, 0);
        mem_reply_task(cb, cookie, 0, NULL, t, NULL, (struct mem_before){-1, was});
    }
    mem_leave(m);
}

void mem_op_task_purge(void *st, const struct cp_purge *p, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    if (!p || (p->status_mask & ~TERMINAL)) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "only terminal tasks can be purged");
        return;
    }
    mem_enter(m);
    uint32_t mask = p->status_mask ? p->status_mask : TERMINAL;
    size_t limit = p->limit ? p->limit : PURGE_DEFAULT_LIMIT;
    size_t budget = limit * PURGE_SCAN_FACTOR, scanned = 0, deleted = 0;
    const struct mem_name *type = p->task_type ? mem_name_find(m, &m->types, p->task_type) : NULL;
    struct mem_events ev = {0};
    struct mem_task *t = (p->task_type && !type) ? NULL : m->done_head;
    while (t && t->completed_at <= p->ended_before_ms && deleted < limit && scanned < budget) {
        struct mem_task *next = t->next;
        scanned++;
        if ((mask & CP_TASK_MASK(t->status)) && (!type || t->type == type)) {
            mem_task_event(&ev, CP_EVENT_TASK_DELETED, t->assigned ? t->assigned->s : NULL, t,
                           t->status);
            mem_task_delete(m, t);
            deleted++;
        }
        t = next;
    }
    int more = t && t->completed_at <= p->ended_before_ms;
    mem_reply_events_ex(cb, cookie, &ev, 0, more);
    mem_leave(m);
}
