/* memory_tasks.c — task records of the in-memory backend: get, list and claim, and the record
 * moves (hold, requeue, finish, delete) that transitions and reap share. Submitting is
 * memory_submit.c.
 *
 * A task is one allocation holding its id and payload inline; its type, capability set and
 * agent names are interned, and "{}" metadata is shared, so a pending task with a 100-byte
 * payload costs about 360 bytes including its hash slot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* ---- record helpers ----------------------------------------------------------------------- */

void mem_task_view(const struct mem_task *t, struct cp_task_view *v)
{
    v->size = sizeof *v;
    v->id = TASK_ID(t);
    v->task_type = t->type->s;
    v->payload_json = TASK_PAYLOAD(t);
    v->required_capabilities = t->caps->caps;
    v->n_required = t->caps->n;
    v->status = t->status;
    v->priority = t->priority;
    v->created_at_ms = t->created_at;
    v->claimed_at_ms = t->claimed_at;
    v->started_at_ms = t->started_at;
    v->completed_at_ms = t->completed_at;
    v->pending_since_ms = t->pending_since;
    v->assigned_agent = t->assigned ? t->assigned->s : NULL;
    v->timeout_ms = t->timeout_ms;
    v->max_retries = t->max_retries;
    v->retries = t->retries;
    v->attempt = t->attempt;
    v->result_json = t->result;
    v->error = t->error;
    v->metadata_json = t->metadata;
    v->strategy = t->strategy;
    v->passed_over_agent = t->passed_over ? t->passed_over->s : NULL;
    v->passed_over_until_ms = t->passed_over ? t->passed_over_until : 0;
#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
    int active = t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING;
    const struct mem_task_ext *x = t->ext;
    v->deadline_at_ms = active ? t->deadline : 0;
    v->not_before_ms = t->not_before;
    v->progress_json = x ? x->progress : NULL;
    v->attempts = x && x->n_attempts ? x->attempts : NULL;
    v->n_attempts = x ? x->n_attempts : 0;
    v->idempotency_key = x ? x->idem_key : NULL;
    v->backoff_type = x ? x->backoff_type : CP_BACKOFF_NONE;
    v->backoff_jitter = x ? x->backoff_jitter : 0;
    v->backoff_ms = x ? x->backoff_ms : 0;
    v->backoff_max_ms = x ? x->backoff_max_ms : 0;
    v->est_input_tokens = x ? x->est_in : 0;
    v->est_output_tokens = x ? x->est_out : 0;
    v->usage_set = x ? x->usage_set : 0;
    v->usage_input_tokens = x ? x->usage_in : 0;
    v->usage_output_tokens = x ? x->usage_out : 0;
    v->usage_cached_tokens = x ? x->usage_cached : 0;
    v->tenant = t->caps->tenant->id;
#endif
}

void mem_task_stats(struct mem *m, const struct mem_task *t, int sign)
{
    uint64_t d = (uint64_t)(int64_t)sign;
    m->stats.tasks_total += d;
    m->stats.tasks_by_status[t->status] += d;
    m->stats.tasks_by_priority[t->priority] += d;
    t->type->count += d;
    t->type->by_status[t->status] += d;
}

static int task_eq(const void *item, const void *key)
{
    return strcmp(TASK_ID((const struct mem_task *)item), key) == 0;
}

uint32_t mem_task_hash(const struct mem *m, const char *id)
{
    return (uint32_t)mem_hash64(m->seed, id, strlen(id));
}

struct mem_task *mem_task_find(struct mem *m, const char *id)
{
    if (!id) return NULL;
    return mem_hash_get(&m->tasks, mem_task_hash(m, id), task_eq, id);
}

struct mem_agent *mem_task_unhold(struct mem *m, struct mem_task *t)
{
    struct mem_agent *a = t->holder;
    mem_theap_remove(&m->timeouts, t);
    if (!a) return NULL;
#if CP_ABI_TARGET_MINOR >= 4
    mem_quota_release(m, t); /* its claim's reservation, settled against reported usage */
#endif
    if (t->prev)
        t->prev->next = t->next;
    else
        a->held_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        a->held_tail = t->prev;
    t->prev = t->next = NULL;
    t->holder = NULL;
    mem_agent_stats(m, a, -1);
    a->in_flight--;
    mem_tenant_released(t);
    if (a->current == t) a->current = NULL;
    /* Back below its maximum: ready again, unless busy is what the agent itself reported. */
    if (a->status == CP_AGENT_BUSY && a->in_flight < a->max_concurrent &&
        a->reported != CP_AGENT_BUSY)
        a->status = CP_AGENT_READY;
    mem_agent_stats(m, a, 1);
    return a;
}

void mem_task_set_status(struct mem *m, struct mem_task *t, int status)
{
    mem_task_stats(m, t, -1);
    t->status = (uint8_t)status;
    mem_task_stats(m, t, 1);
}

/* Drop the claim's assignment (the holder is already detached by mem_task_unhold()), and
 * what belonged to that attempt. */
static void task_unassign(struct mem *m, struct mem_task *t)
{
    mem_name_put(m, &m->ids, t->assigned);
    t->assigned = NULL;
    t->claimed_at = 0;
    t->started_at = 0;
    t->deadline = 0;
    if (t->ext && t->ext->progress) {
        mem_free_later(m, t->ext->progress);
        t->ext->progress = NULL;
    }
}

void mem_task_requeue(struct mem *m, struct mem_task *t, int64_t now, int64_t delay_ms)
{
    task_unassign(m, t);
    t->pending_since = now;
    t->not_before = 0;
    if (delay_ms > 0 && mem_theap_reserve(&m->waiting) == 0 &&
        __builtin_add_overflow(now, delay_ms, &t->not_before))
        t->not_before = INT64_MAX;
    mem_task_set_status(m, t, CP_TASK_PENDING);
    mem_pending_enqueue(m, t, now);
}

void mem_task_release(struct mem *m, struct mem_task *t)
{
    task_unassign(m, t);
    t->attempt--;
    mem_task_set_status(m, t, CP_TASK_PENDING);
    mem_pending_insert(m, t, 1);
}

void mem_task_finish(struct mem *m, struct mem_task *t, int status, int64_t now)
{
    t->completed_at = now;
    mem_task_set_status(m, t, status);
    mem_done_insert(m, t);
}

int mem_task_set_error(struct mem *m, struct mem_task *t, const char *error)
{
    char *e = NULL;
    if (error && !(e = mem_strdup(error))) return CP_ERR_NOMEM;
    mem_free_later(m, t->error);
    t->error = e;
    return 0;
}

void mem_task_delete(struct mem *m, struct mem_task *t)
{
    /* Only terminal tasks are deleted (retention, cap, purge); they sit on the done list. */
    if (t->ext && t->ext->idem_key) mem_hash_del(&m->idem, t->ext->idem_hash, t);
    mem_done_remove(m, t);
    mem_all_remove(m, t);
    mem_hash_del(&m->tasks, mem_task_hash(m, TASK_ID(t)), t);
    mem_task_stats(m, t, -1);
    t->next = m->grave_tasks;
    m->grave_tasks = t;
}

void mem_task_free(struct mem *m, struct mem_task *t)
{
    mem_capset_put(m, t->caps);
    mem_name_put(m, &m->types, t->type);
    mem_name_put(m, &m->ids, t->assigned);
    mem_name_put(m, &m->ids, t->passed_over);
    free(t->result);
    free(t->error);
    free(t->strategy);
    mem_free_json_object(m, t->metadata);
    mem_hold_drop(m, t);
    if (t->ext) {
        free(t->ext->progress);
        free(t->ext->idem_key);
        free(t->ext->qids);
        for (uint32_t i = 0; i < t->ext->n_attempts; i++) {
            free((char *)t->ext->attempts[i].agent_id);
            free((char *)t->ext->attempts[i].error);
        }
        free(t->ext->attempts);
        free(t->ext);
    }
    free(t);
}

/* ---- get, list ---------------------------------------------------------------------------- */

void mem_reply_task(cp_storage_cb cb, void *cookie, int rc, const char *msg,
                    const struct mem_task *t, const struct mem_agent *a, struct mem_before b)
{
    mem_reply_claim(cb, cookie, rc, msg, t, a, b, 0, 0);
}

void mem_reply_claim(cp_storage_cb cb, void *cookie, int rc, const char *msg,
                     const struct mem_task *t, const struct mem_agent *a, struct mem_before b,
                     int quota_held, int64_t due)
{
    struct cp_task_view tv;
    struct cp_agent_view av;
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
#if CP_ABI_TARGET_MINOR >= 4
    res.quota_held = quota_held;
    res.next_due_ms = due; /* quota: room returns; else the end of an affinity hold skipped */
#else
    (void)quota_held, (void)due;
#endif
    mem_result_before(&res, b);
    res.rc = rc;
    res.message = msg;
    if (t) {
        mem_task_view(t, &tv);
        res.task = &tv;
    }
    if (a) {
        mem_agent_view(a, &av);
        res.agent = &av;
    }
    cb(cookie, &res);
}

void mem_op_task_get(void *st, const char *task_id, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_task *t = mem_task_find(m, task_id);
    if (!t)
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "task not found");
    else
        mem_reply_task(cb, cookie, 0, NULL, t, NULL, MEM_NO_BEFORE);
    mem_leave(m);
}

void mem_op_task_list(void *st, const struct cp_task_filter *filter, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    int32_t status = filter ? filter->status : -1;
    const char *type = filter ? filter->task_type : NULL;
    uint32_t limit = filter ? filter->limit : 0;
    if (status >= CP_TASK_STATUS_COUNT) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "unknown task status");
        mem_leave(m);
        return;
    }
    /* The total comes from the counters; the walk (newest first) stops once it has `limit`
     * tasks or every match. */
    uint64_t total;
    struct mem_name *tn = NULL;
    if (type) {
        tn = mem_name_find(m, &m->types, type);
        total = !tn ? 0 : status >= 0 ? tn->by_status[status] : tn->count;
    } else {
        total = status >= 0 ? m->stats.tasks_by_status[status] : m->stats.tasks_total;
    }
    size_t want = limit < total ? limit : (size_t)total;
    struct cp_task_view *views = malloc((want ? want : 1) * sizeof *views);
    const struct cp_task_view **ptrs = malloc((want ? want : 1) * sizeof *ptrs);
    if (!views || !ptrs) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        size_t k = 0;
        for (struct mem_task *t = m->all_tail; t && k < want; t = t->cprev) {
            if ((status >= 0 && t->status != status) || (type && t->type != tn)) continue;
            mem_task_view(t, &views[k]);
            ptrs[k] = &views[k];
            k++;
        }
        struct cp_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        res.tasks = ptrs;
        res.n_tasks = k;
        res.total = total;
        cb(cookie, &res);
    }
    free(views);
    free(ptrs);
    mem_leave(m);
}

/* ---- claim --------------------------------------------------------------------------------- */

void mem_op_task_claim(void *st, const struct cp_claim *claim, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_agent *a = claim ? mem_agent_find(m, claim->agent_id) : NULL;
    if (!claim) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "claim is required");
    } else if (!a) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "agent not found");
    } else if (claim->capabilities && !mem_caps_valid(claim->capabilities, claim->n_capabilities)) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "capabilities must be sorted and unique");
    } else if (mem_theap_reserve(&m->timeouts) != 0) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        int64_t now = claim->now_ms;
        int32_t before = a->status;
        mem_agent_touch(m, a, now);
        struct mem_task *t = NULL;
        int quota_held = 0;
        int64_t due = 0;
        if (cp_claim_allowed(a->status, a->in_flight, a->max_concurrent, &a->health, now)) {
            const char *const *have = claim->capabilities ? claim->capabilities : a->caps;
            uint32_t n_have = claim->capabilities ? claim->n_capabilities : a->n_caps;
#if CP_ABI_TARGET_MINOR >= 4
            /* provider quotas: checked and reserved in this same step (docs/fleet.md) */
            quota_held = m->n_quotas && mem_quota_blocked(m, a, now, &due);
            /* affinity holds: tasks held for this agent first, others' held tasks skipped */
            m->hold_skipped_due = 0;
            if (!quota_held && !(t = mem_hold_best(m, a, have, n_have, now)))
                t = mem_pending_best(m, have, n_have, a->id, now, claim->aging_ms);
            if (t && m->n_quotas && mem_quota_check(m, a, t, now, &due)) {
                t = NULL;
                quota_held = 1;
            }
            if (!t && !quota_held) due = m->hold_skipped_due;
#else
            t = mem_pending_best(m, have, n_have, a->id, now, 0);
#endif
        }
        if (t) {
#if CP_ABI_TARGET_MINOR >= 4
            mem_quota_reserve(m, a, t, now);
#endif
            mem_pending_remove(m, t);
            mem_tenant_claimed(m, t);
            t->assigned = a->id;
            a->id->refs++;
            t->holder = a;
            t->claimed_at = now;
            t->started_at = 0;
            t->attempt++;
            t->deadline = 0;
            if (t->timeout_ms > 0 && __builtin_add_overflow(now, t->timeout_ms, &t->deadline))
                t->deadline = INT64_MAX;
            mem_task_set_status(m, t, CP_TASK_CLAIMED);
            t->prev = a->held_tail;
            t->next = NULL;
            if (a->held_tail)
                a->held_tail->next = t;
            else
                a->held_head = t;
            a->held_tail = t;
            mem_theap_push(&m->timeouts, t);
            mem_agent_stats(m, a, -1);
            a->in_flight++;
            a->current = t;
            a->last_assigned = now;
            if (a->in_flight >= a->max_concurrent) a->status = CP_AGENT_BUSY;
            mem_agent_stats(m, a, 1);
        }
        mem_reply_claim(cb, cookie, 0, NULL, t, a,
                        (struct mem_before){before, t ? CP_TASK_PENDING : -1}, quota_held, due);
    }
    mem_leave(m);
}
