/* ops_next.c — complete (or fail) and claim the agent's next task in one request: the
 * two-request task lifecycle (submit; complete with next). With a store that has
 * task_complete_next the two happen in one store operation (one script on Redis); with one
 * that does not, the transition and then the claim as two calls. Either way the transition gets
 * the reactions ops_task_transition gives it and the claim those of ops_task_claim, in that
 * order, and a claim that finds nothing is held like any claim (claims.c, ops_claims.c). */
#include <stddef.h>

#include "clock.h"
#include "ops_internal.h"

static void claim_failed(struct ops_call *call, int rc, const char *message)
{
    struct cp_result res = {.size = sizeof res, .rc = rc, .message = message};
    call->cb(call->cookie, &res);
}

/* The store's answer to task_complete_next: the transition's result, the claim's in
 * .next_claim. */
static void on_both(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* cb may free call */
    int32_t kind = call->u.claim.tr_kind;
    if (res->rc < 0) {
        call->u.claim.done(call->cookie, res);
        return;
    }
    const struct cp_result *next =
        res->size >= offsetof(struct cp_result, next_claim) + sizeof res->next_claim
            ? res->next_claim
            : NULL;
    ops_transition_reacted(core, kind, res);
    call->u.claim.done(call->cookie, res);
    if (next)
        ops_claim_answered(call, next);
    else
        claim_failed(call, CP_ERR_UNAVAILABLE, "the storage backend answered no claim");
    /* After both answers: a woken claim may change the records they borrow (memory). The
     * agent as the claim left it: a slot the claim took again wakes nobody. */
    struct cp_result after = *res;
    if (next && next->rc == 0 && next->agent) after.agent = next->agent;
    ops_transition_woken(core, kind, &after);
}

static void on_claimed(void *cookie, const struct cp_result *res)
{
    ops_claim_answered(cookie, res);
}

/* The two calls: the transition answered; now the claim. */
static void on_transitioned(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core;
    int32_t kind = call->u.claim.tr_kind;
    if (res->rc < 0) {
        call->u.claim.done(call->cookie, res);
        return;
    }
    ops_transition_reacted(core, kind, res);
    call->u.claim.done(call->cookie, res);
    ops_transition_woken(core, kind, res);
    const struct ops_claim *in = call->u.claim.in;
    struct cp_claim c = {in->agent_id, in->capabilities, in->n_capabilities, clock_now_ms(),
                         core->cfg->tenant_aging_ms};
    CORE_STORE(core, task_claim, &c, on_claimed, call);
}

void ops_task_complete_next(struct cp_core *core, struct ops_call *call,
                            const struct cp_transition *tr, const struct ops_claim *next,
                            cp_storage_cb done, ops_hold_cb hold, cp_storage_cb cb, void *cookie)
{
    if (tr->kind != CP_TR_COMPLETE && tr->kind != CP_TR_FAIL) {
        ops_fail(done, cookie, CP_ERR_INVALID, "only complete and fail claim the next task");
        return;
    }
    ops_claim_init(core, call, next, hold, cb, cookie);
    call->u.claim.done = done;
    call->u.claim.tr_kind = tr->kind;
    struct cp_transition t = *tr;
    t.now_ms = call->u.claim.arrived_ms;
    t.pass_over_ms = core->cfg->pass_over_ms;
    t.jitter = ops_random32();
    if (core->store->task_complete_next) {
        struct cp_claim c = {next->agent_id, next->capabilities, next->n_capabilities, t.now_ms,
                             core->cfg->tenant_aging_ms};
        CORE_STORE(core, task_complete_next, &t, &c, on_both, call);
    } else {
        CORE_STORE(core, task_transition, &t, on_transitioned, call);
    }
}
