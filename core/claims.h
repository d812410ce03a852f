/* claims.h — held claims (long poll) and the wake-ups that hand them tasks that became pending.
 * Below the scheduler and ops: it claims through the store itself, for the claimers it holds,
 * and reports what its owner must react to (a task handed out, a task to release) through the
 * hooks given to claims_new(). Knows nothing of HTTP. */
#ifndef CORE_CLAIMS_H
#define CORE_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include <cp/storage.h>

struct cp_core;
struct claims;
struct claimer;

/* What the owner (ops) does about the outcomes of claims sent for held claimers. */
struct claims_hooks {
    void *arg;
    /* A held claimer's store claim returned res->task (claimed for res->agent): called before
     * the claimer is answered. waited_ms: from the claim's arrival to now, or -1 when the
     * claimer has gone (the task is released right after, through release). */
    void (*claimed)(void *arg, const struct cp_result *res, int64_t waited_ms);
    /* A task was handed to a claimer that had gone: put it back (RELEASE, guarded by attempt). */
    void (*release)(void *arg, const char *task_id, const char *agent_id, uint32_t attempt);
};

struct claims *claims_new(struct cp_core *core, const struct claims_hooks *hooks);
/* Answers every held claim first (claims_drain). A claim in flight in the store when this is
 * called must have landed before (the store is destroyed first at shutdown). */
void claims_free(struct claims *cl);

/* Called exactly once per held claim, unless claims_cancel() came first: with res->task set (the
 * claimed task) or NULL (time up, shutdown, the agent may no longer claim). */
typedef void (*claims_deliver_cb)(void *cookie, const struct cp_result *res);

/* A claim that finds the agent unable to claim (cp_agent_may_claim() says no) is still held
 * when all the agent lacks is room: it is starting, ready or busy (at its limit, or reporting
 * busy itself) and its circuit is not open (or open past retry_at: half-open). It then waits for
 * claims_room() about its agent, or the end of block_ms; a draining, offline or failed agent, or
 * one whose circuit is open, is answered at once. */
int claims_agent_may_wait(const struct cp_agent_view *a, int64_t now_ms);

/* What a claim saw before it was sent: claims_pending_seq() and claims_room_seq(). If either
 * moved for it meanwhile, the claim held after it claims once more. */
struct claims_seen {
    uint64_t pending, room, quota;
};

/* Hold a claim for up to block_ms. caps: the claim's capabilities (sorted; copied). `agent`: its
 * state from the empty claim (copied: the basis for choosing among claimers; an agent that may
 * not claim now is held for room, see claims_agent_may_wait). seen: what the claim saw before
 * it was sent. Never answers before it returns. */
struct claimer *claims_hold(struct claims *cl, const char *agent_id, const char *const *caps,
                            uint32_t n_caps, const struct cp_agent_view *agent, uint64_t block_ms,
                            int64_t arrived_ms, struct claims_seen seen, claims_deliver_cb cb,
                            void *cookie);
/* The claimer went away; cb is never called. A claim in flight for it is released when it
 * lands with a task. */
void claims_cancel(struct claims *cl, struct claimer *c);

/* A counter that moves when a task became pending that claims in flight may have missed (its
 * wake-up ended without placing it). Read it before sending a claim; pass it to claims_hold()
 * if that claim comes back empty: if it moved meanwhile, the held claim claims again. */
uint64_t claims_pending_seq(const struct claims *cl);
/* A counter that moves with every claims_room(). */
uint64_t claims_room_seq(const struct claims *cl);
/* A counter that moves with every claims_quota_room(). */
uint64_t claims_quota_seq(const struct claims *cl);
static inline struct claims_seen claims_seen_now(const struct claims *cl)
{
    struct claims_seen s = {claims_pending_seq(cl), claims_room_seq(cl), claims_quota_seq(cl)};
    return s;
}
size_t claims_held_count(const struct claims *cl);

/* Agent agent_id may be able to claim again (a task of it left claimed/running, its status
 * changed, it was unregistered): its claims held for room claim again. `after`: the agent as it
 * is now when known (nothing to do while it still may only wait), else NULL. */
void claims_room(struct claims *cl, const char *agent_id, const struct cp_agent_view *after);

/* Provider quotas (quota.h): a claim the store answered with quota_held is held like any
 * other, marked so that claims_quota_room() — room back in a quota (a task left its holder, a
 * window rolled over, a pause ended) — makes it claim again; a wake-up offering a task skips
 * to the next candidate when a quota held the claimer back. */
void claims_quota_room(struct claims *cl);
/* Affinity holds (docs/fleet.md): held claimer c's claim skipped a task held for another agent
 * whose hold ends at due_ms (the claim's next_due_ms): it claims again then. */
void claims_recheck_at(struct claims *cl, struct claimer *c, int64_t due_ms);
/* An empty claim's next_due_ms when a quota did not hold it back (the end of an affinity hold
 * it skipped), else 0; 0 from a backend older than 2.4. */
static inline int64_t claims_hold_due(const struct cp_result *res)
{
    if (res->size < offsetof(struct cp_result, quota_held) + sizeof res->quota_held) return 0;
    return res->quota_held || res->task ? 0 : res->next_due_ms;
}
/* Mark a claimer held by claims_hold() as held back by a quota. */
void claims_mark_quota(struct claims *cl, struct claimer *c);

/* Task `task_id` (requirements req, sorted) became pending: offer it to the held claims. `t`:
 * the task as it became pending (its pass-over lets an empty claim prove the task gone), or
 * NULL when only the id and requirements are known. strategy: the task's (NULL: default). */
void claims_wake(struct claims *cl, const char *task_id, const char *const *req, uint32_t n_req,
                 const char *strategy, const struct cp_task_view *t);
/* A task with requirements req (NULL, 0: unknown, any) became pending and no wake-up offers
 * it: claims in flight claim again, and claims_pending_seq() moves. */
void claims_missed(struct claims *cl, const char *const *req, uint32_t n_req);
/* 1 when no claim is held or in flight (nothing to wake). */
int claims_idle(const struct claims *cl);
/* Answer every held claim with no task (shutdown). */
void claims_drain(struct claims *cl);

#endif
