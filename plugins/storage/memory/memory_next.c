/* memory_next.c — task_complete_next for the in-memory backend: the transition, then (when it
 * succeeded) the claim, inside one operation. The claim runs inside the transition's callback,
 * so the transition's result is still valid when both are answered together; nothing else runs
 * in between (the store is single-threaded and the host's loop does not turn). */
#include "memory_internal.h"

#if CP_ABI_TARGET_MINOR >= 4 /* memory_minor0.so (the 2.0 fixture) has no such op */

struct next_call {
    struct mem *m;
    const struct cp_claim *claim;
    const struct cp_result *done; /* the transition's result, while the claim runs */
    cp_storage_cb cb;
    void *cookie;
};

static void on_claimed(void *cookie, const struct cp_result *res)
{
    struct next_call *k = cookie;
    struct cp_result both = *k->done;
    both.next_claim = res;
    k->cb(k->cookie, &both);
}

static void on_transitioned(void *cookie, const struct cp_result *res)
{
    struct next_call *k = cookie;
    if (res->rc < 0) { /* no claim: answered as the transition alone */
        struct cp_result only = *res;
        only.next_claim = NULL;
        k->cb(k->cookie, &only);
        return;
    }
    k->done = res;
    mem_op_task_claim(k->m, k->claim, on_claimed, k);
}

void mem_op_task_complete_next(void *st, const struct cp_transition *tr,
                               const struct cp_claim *next, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    if (!tr || !next || (tr->kind != CP_TR_COMPLETE && tr->kind != CP_TR_FAIL)) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID,
                      "complete_next takes COMPLETE or FAIL and a claim");
        return;
    }
    mem_enter(m); /* records freed by either step wait until both are answered */
    struct next_call k = {m, next, NULL, cb, cookie};
    mem_op_task_transition(m, tr, on_transitioned, &k);
    mem_leave(m);
}

#endif
