/* memory_transition.c — task_transition for the in-memory backend: the compare-and-set state
 * machine (start, complete, fail, cancel, release) with the holder's counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

#define FROM_ACTIVE (CP_TASK_MASK(CP_TASK_CLAIMED) | CP_TASK_MASK(CP_TASK_RUNNING))

static uint32_t allowed_from(int kind)
{
    switch (kind) {
    case CP_TR_START:
    case CP_TR_RELEASE:
        return CP_TASK_MASK(CP_TASK_CLAIMED);
    case CP_TR_COMPLETE:
    case CP_TR_FAIL:
        return FROM_ACTIVE;
    case CP_TR_CANCEL:
        return FROM_ACTIVE | CP_TASK_MASK(CP_TASK_PENDING);
    default:
        return 0;
    }
}

/* 1 when another registered agent that is not offline, failed or draining has every required
 * capability: only then is the failing agent passed over (else the task would wait for
 * nobody). Offline agents are on their own list, so only live ones are visited. */
static int other_capable(const struct mem *m, const struct mem_task *t,
                         const struct mem_agent *failing)
{
    for (const struct mem_agent *a = m->live.head; a; a = a->next) {
        if (a == failing || a->status == CP_AGENT_FAILED || a->status == CP_AGENT_DRAINING)
            continue;
        if (cp_caps_subset(t->caps->caps, t->caps->n, a->caps, a->n_caps)) return 1;
    }
    return 0;
}

/* The random number for this transition's backoff jitter (2.4). */
static uint32_t jitter_of(const struct cp_transition *tr)
{
#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
    return cp_jitter_mix(tr->jitter, 0);
#else
    (void)tr;
    return 0;
#endif
}

static void account_finish(struct mem_agent *a, const struct mem_task *t,
                           const struct cp_transition *tr, int failed)
{
    if (!a) return;
    double latency = tr->latency_ms;
    if (latency < 0) latency = (double)(tr->now_ms - t->claimed_at);
    if (failed)
        a->failed++;
    else
        a->completed++;
    a->latency_sum += latency;
    a->latency_count++;
}

/* Apply tr to t (already checked). Returns 0 or CP_ERR_NOMEM (nothing changed). */
static int apply(struct mem *m, struct mem_task *t, const struct cp_transition *tr,
                 struct mem_agent **agent_out)
{
    int64_t now = tr->now_ms;
    char *result = NULL;
    if (tr->kind == CP_TR_COMPLETE && tr->result_json && !(result = mem_strdup(tr->result_json)))
        return CP_ERR_NOMEM;
#if CP_ABI_TARGET_MINOR >= 4
    /* The usage the agent reports (kept on the task; settled against its claim's quota
     * reservation when the task leaves its holder below). */
    if ((tr->kind == CP_TR_COMPLETE || tr->kind == CP_TR_FAIL) && tr->usage_set) {
        struct mem_task_ext *x = mem_task_ext(t);
        if (!x) {
            free(result);
            return CP_ERR_NOMEM;
        }
        x->usage_set = 1;
        x->usage_in = tr->usage_input_tokens > 0 ? tr->usage_input_tokens : 0;
        x->usage_out = tr->usage_output_tokens > 0 ? tr->usage_output_tokens : 0;
        x->usage_cached = tr->usage_cached_tokens > 0 ? tr->usage_cached_tokens : 0;
        mem_tenant_settle(t, x->usage_in + x->usage_out); /* tenants: estimate -> actual */
    }
#endif
    if (tr->kind == CP_TR_FAIL && mem_task_set_error(m, t, tr->error) != 0) return CP_ERR_NOMEM;

    int was_pending = t->status == CP_TASK_PENDING;
    struct mem_agent *a = NULL;
    if (tr->kind == CP_TR_START) {
        a = t->holder;
        t->started_at = now;
        mem_task_set_status(m, t, CP_TASK_RUNNING);
        *agent_out = a;
        return 0;
    }
    if (was_pending)
        mem_pending_remove(m, t);
    else
        a = mem_task_unhold(m, t);
    if (a && tr->agent_id && strcmp(tr->agent_id, a->id->s) == 0) mem_agent_touch(m, a, now);

    switch (tr->kind) {
    case CP_TR_COMPLETE:
        mem_free_later(m, t->result);
        t->result = result;
        account_finish(a, t, tr, 0);
#if CP_ABI_TARGET_MINOR >= 4
        mem_quota_success(m, t);
#endif
        mem_task_finish(m, t, CP_TASK_COMPLETED, now);
        break;
    case CP_TR_FAIL:
#if CP_ABI_TARGET_MINOR >= 4
        if (tr->rate_limited) { /* the provider's 429: backoff, not a failure (docs/fleet.md) */
            mem_task_end_attempt(m, t, CP_ATTEMPT_RATE_LIMITED, now);
            if (!tr->usage_set) mem_tenant_settle(t, 0); /* no call was made: refund the charge */
            int paused = mem_quota_rate_limited(m, t, tr->retry_after_ms, now);
            mem_task_requeue(m, t, now, paused ? 0 : tr->retry_after_ms);
            break;
        }
#endif
        t->retries++;
        account_finish(a, t, tr, 1);
        mem_task_end_attempt(m, t, CP_ATTEMPT_FAILED, now);
        if (tr->requeue && t->retries < t->max_retries) {
            struct mem_name *old = t->passed_over;
            t->passed_over = NULL;
            t->passed_over_until = 0;
            if (a && other_capable(m, t, a)) {
                t->passed_over = a->id;
                a->id->refs++;
                if (__builtin_add_overflow(now, tr->pass_over_ms, &t->passed_over_until))
                    t->passed_over_until = INT64_MAX;
            }
            mem_name_put(m, &m->ids, old);
            mem_task_requeue(m, t, now, mem_task_backoff(t, jitter_of(tr)));
        } else {
            mem_task_finish(m, t, CP_TASK_FAILED, now);
        }
        break;
    case CP_TR_CANCEL:
        mem_task_end_attempt(m, t, CP_ATTEMPT_CANCELLED, now); /* none when it was pending */
        mem_task_finish(m, t, CP_TASK_CANCELLED, now);
        break;
    case CP_TR_RELEASE:
        /* The claim never reached the agent: undo it, back to its old place in the queue. */
        mem_task_release(m, t);
        break;
    }
    *agent_out = a;
    return 0;
}

void mem_op_task_transition(void *st, const struct cp_transition *tr, cp_storage_cb cb,
                            void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    char msg[320];
    uint32_t allowed = tr ? allowed_from(tr->kind) : 0;
    struct mem_task *t = tr ? mem_task_find(m, tr->task_id) : NULL;
    struct mem_agent *a = NULL;
    if (!tr || !allowed) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "unknown transition");
    } else if (!t) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "task not found");
    } else if (!(allowed & CP_TASK_MASK(t->status))) {
        snprintf(msg, sizeof msg, "task is %s", cp_task_status_name(t->status));
        mem_reply_task(cb, cookie, CP_ERR_CONFLICT, msg, t, NULL, MEM_NO_BEFORE);
    } else if (tr->agent_id && (!t->assigned || strcmp(t->assigned->s, tr->agent_id) != 0)) {
        if (t->assigned)
            snprintf(msg, sizeof msg, "task is %s and assigned to %.128s, not %.128s",
                     cp_task_status_name(t->status), t->assigned->s, tr->agent_id);
        else
            snprintf(msg, sizeof msg, "task is %s and assigned to no agent",
                     cp_task_status_name(t->status));
        mem_reply_task(cb, cookie, CP_ERR_CONFLICT, msg, t, NULL, MEM_NO_BEFORE);
    } else if (tr->kind == CP_TR_RELEASE && t->attempt != tr->expect_attempt) {
        snprintf(msg, sizeof msg, "task is %s at attempt %u, not %u",
                 cp_task_status_name(t->status), (unsigned)t->attempt,
                 (unsigned)tr->expect_attempt);
        mem_reply_task(cb, cookie, CP_ERR_CONFLICT, msg, t, NULL, MEM_NO_BEFORE);
    } else {
        struct mem_before b = {t->holder ? t->holder->status : -1, t->status};
        if (apply(m, t, tr, &a) != 0) {
            mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
        } else {
            if (!a) b.agent = -1; /* reported only with the agent */
            mem_reply_task(cb, cookie, 0, NULL, t, a, b);
        }
    }
    mem_leave(m);
}
