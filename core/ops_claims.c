/* ops_claims.c — claiming: one store claim; when it finds nothing and the claim may wait, the
 * claimer is held (claims.c) until a task arrives for it or its time is up — also when the agent
 * lacks room (at its limit, busy, starting): then until it has room (claims_room). Claims sent
 * later for held claimers report back through the hooks below, so a task handed out either way is
 * counted and announced the same. */
#include "claims.h"
#include "clock.h"
#include "metrics.h"
#include "quota.h"
#include "ops_internal.h"
#include "scheduler.h"

static void call_hold(struct ops_call *call, int held)
{
    if (call->hold) call->hold(call->cookie, held);
}

static void on_held_delivered(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    call->u.claim.held = NULL;
    call_hold(call, 0);
    call->cb(call->cookie, res);
}

void ops_claim_answered(struct ops_call *call, const struct cp_result *res)
{
    struct cp_core *core = call->core;
    const struct ops_claim *in = call->u.claim.in;
    if (res->rc == 0 && res->task) {
        metrics_claim_wait(0);
        ops_emit_task(core, EVT_TASK_CLAIMED, res->task, CP_TASK_PENDING, NULL);
        ops_emit_agent_moved(core, res); /* ready -> busy at its maximum */
    }
    int64_t now = clock_now_ms();
    if (res->rc < 0 || res->task || in->block_ms == 0 || !res->agent ||
        (!cp_agent_may_claim(res->agent, now) && !claims_agent_may_wait(res->agent, now))) {
        call->cb(call->cookie, res);
        return;
    }
    /* Nothing now: hold the claim with its capabilities (default: the agent's own). */
    const char *const *caps = in->capabilities ? in->capabilities : res->agent->capabilities;
    uint32_t n = in->capabilities ? in->n_capabilities : res->agent->n_capabilities;
    struct claims_seen seen = {call->u.claim.seen_pending, call->u.claim.seen_room,
                               call->u.claim.seen_quota};
    call_hold(call, 1);
    struct claimer *held =
        claims_hold(core->claims, in->agent_id, caps, n, res->agent, in->block_ms,
                    call->u.claim.arrived_ms, seen, on_held_delivered, call);
    call->u.claim.held = held;
    if (res->size >= offsetof(struct cp_result, quota_held) + sizeof res->quota_held &&
        res->quota_held) { /* held back by a provider quota: woken when room returns */
        claims_mark_quota(core->claims, held);
        quotas_claim_held(core->quotas, res->next_due_ms);
    } else if (claims_hold_due(res) > 0) { /* it skipped a task held for another agent */
        claims_recheck_at(core->claims, held, res->next_due_ms);
    }
}

static void on_claimed(void *cookie, const struct cp_result *res)
{
    ops_claim_answered(cookie, res);
}

void ops_claim_init(struct cp_core *core, struct ops_call *call, const struct ops_claim *in,
                    ops_hold_cb hold, cp_storage_cb cb, void *cookie)
{
    ops_call_init(call, core, cb, cookie);
    call->hold = hold;
    call->kind = OPS_CALL_CLAIM;
    call->u.claim.in = in;
    call->u.claim.arrived_ms = clock_now_ms();
    struct claims_seen seen = claims_seen_now(core->claims);
    call->u.claim.seen_pending = seen.pending;
    call->u.claim.seen_room = seen.room;
    call->u.claim.seen_quota = seen.quota;
    call->u.claim.held = NULL;
}

void ops_task_claim(struct cp_core *core, struct ops_call *call, const struct ops_claim *in,
                    ops_hold_cb hold, cp_storage_cb cb, void *cookie)
{
    ops_claim_init(core, call, in, hold, cb, cookie);
    struct cp_claim c = {in->agent_id, in->capabilities, in->n_capabilities,
                         call->u.claim.arrived_ms, core->cfg->tenant_aging_ms};
    CORE_STORE(core, task_claim, &c, on_claimed, call);
}

void ops_call_cancel(struct ops_call *call)
{
    if (call->kind == OPS_CALL_CLAIM && call->u.claim.held) {
        claims_cancel(call->core->claims, call->u.claim.held);
        call->u.claim.held = NULL;
    } else if (call->kind == OPS_CALL_WAIT && call->u.get.waiter) {
        sched_cancel_wait(call->core->sched, call->u.get.waiter);
        call->u.get.waiter = NULL;
    }
}

/* claims' hook: a held claimer's claim got a task. */
void ops_claims_claimed(void *arg, const struct cp_result *res, int64_t waited_ms)
{
    struct cp_core *core = arg;
    if (waited_ms >= 0) metrics_claim_wait((double)waited_ms / 1000.0);
    ops_emit_task(core, EVT_TASK_CLAIMED, res->task, CP_TASK_PENDING, NULL);
    ops_emit_agent_moved(core, res);
}
