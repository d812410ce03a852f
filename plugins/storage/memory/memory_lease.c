/* memory_lease.c — what belongs to one attempt at a task in the in-memory backend (2.4): its
 * lease (task_extend moves the deadline, carries progress), the record of how it ended (the
 * task's attempts) and the backoff before the next one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

struct mem_task_ext *mem_task_ext(struct mem_task *t)
{
    if (!t->ext) t->ext = calloc(1, sizeof *t->ext);
    return t->ext;
}

int64_t mem_task_backoff(const struct mem_task *t, uint32_t rnd)
{
    const struct mem_task_ext *e = t->ext;
    if (!e) return 0;
    return cp_backoff_delay_ms(e->backoff_type, e->backoff_ms, e->backoff_max_ms, e->backoff_jitter,
                               t->retries, rnd);
}

void mem_task_end_attempt(struct mem *m, struct mem_task *t, int outcome, int64_t now)
{
    (void)m;
    struct mem_task_ext *e;
    if (!t->assigned || !(e = mem_task_ext(t))) return;
    char *agent = mem_strdup(t->assigned->s);
    char *error = t->error ? mem_strdup(t->error) : NULL;
    if (!agent || (t->error && !error)) goto nomem;
    if (e->n_attempts == CP_ATTEMPTS_MAX) { /* the oldest goes */
        free((char *)e->attempts[0].agent_id);
        free((char *)e->attempts[0].error);
        memmove(e->attempts, e->attempts + 1, (CP_ATTEMPTS_MAX - 1) * sizeof *e->attempts);
        e->n_attempts--;
    } else if (e->n_attempts == e->cap_attempts) {
        uint32_t cap = e->cap_attempts ? e->cap_attempts * 2 : 2;
        if (cap > CP_ATTEMPTS_MAX) cap = CP_ATTEMPTS_MAX;
        struct cp_attempt *v = realloc(e->attempts, cap * sizeof *v);
        if (!v) goto nomem;
        e->attempts = v;
        e->cap_attempts = cap;
    }
    e->attempts[e->n_attempts++] = (struct cp_attempt){
        .agent_id = agent,
        .started_ms = t->claimed_at,
        .ended_ms = now,
        .outcome = outcome,
        .error = error,
    };
    return;
nomem: /* the task's change stands; only its record in the history is lost */
    free(agent);
    free(error);
}

void mem_op_task_extend(void *st, const struct cp_extend *x, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    char msg[320];
    struct mem_task *t = x ? mem_task_find(m, x->task_id) : NULL;
    char *progress = NULL;
    if (!x) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "extend is required");
    } else if (!t) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "task not found");
    } else if (t->status != CP_TASK_CLAIMED && t->status != CP_TASK_RUNNING) {
        snprintf(msg, sizeof msg, "task is %s", cp_task_status_name(t->status));
        mem_reply_task(cb, cookie, CP_ERR_CONFLICT, msg, t, NULL, MEM_NO_BEFORE);
    } else if (x->agent_id && (!t->assigned || strcmp(t->assigned->s, x->agent_id) != 0)) {
        snprintf(msg, sizeof msg, "task is %s and assigned to %.128s, not %.128s",
                 cp_task_status_name(t->status), t->assigned ? t->assigned->s : "no agent",
                 x->agent_id);
        mem_reply_task(cb, cookie, CP_ERR_CONFLICT, msg, t, NULL, MEM_NO_BEFORE);
    } else if ((x->progress_json && !(progress = mem_strdup(x->progress_json))) ||
               (progress && !mem_task_ext(t)) || mem_theap_reserve(&m->timeouts) != 0) {
        free(progress);
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        int64_t old = t->deadline;
        t->deadline = x->deadline_ms;
        if (t->deadline == 0 && t->timeout_ms > 0 &&
            __builtin_add_overflow(x->now_ms, t->timeout_ms, &t->deadline))
            t->deadline = INT64_MAX;
        if (old <= 0)
            mem_theap_push(&m->timeouts, t); /* it had none: it may now time out */
        else if (t->deadline <= 0)
            mem_theap_remove(&m->timeouts, t);
        else
            mem_theap_update(&m->timeouts, t);
        if (progress) {
            mem_free_later(m, t->ext->progress);
            t->ext->progress = progress;
        }
        struct mem_agent *a = t->holder;
        if (a && x->agent_id && strcmp(x->agent_id, a->id->s) == 0)
            mem_agent_touch(m, a, x->now_ms);
        mem_reply_task(cb, cookie, 0, NULL, t, a, MEM_NO_BEFORE);
    }
    mem_leave(m);
}
