/* ops_internal.h — shared by the ops_*.c files: domain event builders, the reactions to a
 * store's events, and the hooks through which claims and the health monitor report. Not for
 * other modules. */
#ifndef CORE_OPS_INTERNAL_H
#define CORE_OPS_INTERNAL_H

#include <stddef.h>

#include "events.h"
#include "ops.h"

/* call->kind of the ops that may hold (ops_call_cancel tells them apart). */
enum { OPS_CALL_CLAIM = 1000, OPS_CALL_WAIT };

static inline void ops_call_init(struct ops_call *call, struct cp_core *core, cp_storage_cb cb,
                                 void *cookie)
{
    call->core = core;
    call->cb = cb;
    call->cookie = cookie;
    call->hold = NULL;
}

/* Answer an op that fails before reaching the store: rc with a message (ops_internal.c). */
void ops_fail(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A random 32-bit number (the jitter of retry backoffs). */
uint32_t ops_random32(void);

/* Submitting, shared by ops_task_submit and ops_task_submit_batch (ops_tasks.c): a new id; the
 * checks of what the store can keep (answers cb and returns -1 when refused); the view the
 * store gets; the reactions to a task stored (metrics, event, the waiting task's due time). */
void ops_new_task_id(char out[30]);
int ops_submit_check(struct cp_core *core, const struct cp_task_view *in, cp_storage_cb cb,
                     void *cookie);
void ops_submit_view(const struct cp_task_view *in, const char *id, int64_t now,
                     struct cp_task_view *t);
void ops_task_stored(struct cp_core *core, const struct cp_task_view *t);
/* Answer OPS_ERR_UNSUPPORTED: the store (named, with its ABI minor) cannot do `what`. */
void ops_unsupported(struct cp_core *core, cp_storage_cb cb, void *cookie, const char *what);

/* Domain events (ops_internal.c). Each returns at once when nobody subscribed: callers may call
 * them unconditionally. old_status -1: not known. */
static inline int ops_events_on(const struct cp_core *core)
{
    return events_active(core->events);
}
void ops_emit_task_event(struct cp_core *core, int kind, const struct cp_task_view *t,
                         int32_t old_status, const char *agent_id);
static inline void ops_emit_task(struct cp_core *core, int kind, const struct cp_task_view *t,
                                 int32_t old_status, const char *agent_id)
{
    if (ops_events_on(core)) ops_emit_task_event(core, kind, t, old_status, agent_id);
}
void ops_emit_agent_event(struct cp_core *core, int kind, const char *agent_id,
                          const struct cp_agent_view *a, int32_t old_status, int32_t new_status);
static inline void ops_emit_agent(struct cp_core *core, int kind, const char *agent_id,
                                  const struct cp_agent_view *a, int32_t old_status,
                                  int32_t new_status)
{
    if (ops_events_on(core)) ops_emit_agent_event(core, kind, agent_id, a, old_status, new_status);
}
/* An agent's status change caused by a task (claimed, ended, released): EVT_AGENT_STATUS when
 * the store reported a status before that differs from the one after. */
void ops_emit_agent_moved(struct cp_core *core, const struct cp_result *res);

/* What the store reported as before the operation (cp_result.before, ABI 2.4), or -1. */
static inline int32_t ops_agent_before(const struct cp_result *res)
{
    return res->size >= offsetof(struct cp_result, task_status_before) &&
                   (res->before & CP_BEFORE_AGENT)
               ? res->agent_status_before
               : -1;
}
static inline int32_t ops_task_before(const struct cp_result *res)
{
    return res->size >= offsetof(struct cp_result, next_due_ms) && (res->before & CP_BEFORE_TASK)
               ? res->task_status_before
               : -1;
}

/* What the store's events (reap, unregister) call for: metrics and breaker feed for timeouts,
 * probes stopped for removed agents, wake-ups and waiters for requeued and finished tasks, one
 * domain event each (ops_reap.c). */
void ops_react_store_events(struct cp_core *core, const struct cp_event *ev, size_t n);

/* A transition's reactions (ops_tasks.c), split around its caller's answer: `reacted` before
 * (events, metrics, breaker), `woken` after (waiters and held claims, which may change the
 * store's records). Only for res->rc == 0. */
void ops_transition_reacted(struct cp_core *core, int32_t kind, const struct cp_result *res);
/* Provider quotas (ops_quotas.c): 1 when a FAIL's result is a 429's (the task pending again
 * with its last attempt rate_limited); the store's quota_list answer for the host's copy. */
int ops_rate_limited(int32_t kind, const struct cp_result *res);
void ops_quotas_seen(void *cookie, const struct cp_result *res);
/* A completion or failure report (kind) was applied: feed the agent's recent-tasks window and
 * remember a completed task's affinity key (ops_affinity.c). */
void ops_task_finished_seen(struct cp_core *core, int32_t kind, const struct cp_result *res);
void ops_transition_woken(struct cp_core *core, int32_t kind, const struct cp_result *res);
/* A claim (ops_claims.c): ops_claim_init sets `call` up as ops_task_claim does (before the
 * store is asked); ops_claim_answered takes the store's claim result: events, metrics, and
 * the answer or the hold. */
void ops_claim_init(struct cp_core *core, struct ops_call *call, const struct ops_claim *in,
                    ops_hold_cb hold, cp_storage_cb cb, void *cookie);
void ops_claim_answered(struct ops_call *call, const struct cp_result *res);

/* The hooks of claims (ops_claims.c) and of the health monitor (ops_agents.c). */
void ops_claims_claimed(void *core, const struct cp_result *res, int64_t waited_ms);
void ops_claims_release(void *core, const char *task_id, const char *agent_id, uint32_t attempt);
void ops_health_changed(void *core, const struct cp_agent_view *agent, int32_t health_before,
                        int32_t circuit_before, int32_t status_before);

/* The event stream's source (ops_feed.c). ops_feed_stop: the store is about to go; nothing
 * more is delivered and the store's feed is off. */
struct ops_feed *ops_feed_new(struct cp_core *core);
void ops_feed_stop(struct ops_feed *f);
void ops_feed_free(struct ops_feed *f);

/* The reaper's timer (ops_reap.c). reaper_due: also reap at at_ms (a waiting task's
 * not_before: the reap makes it due and wakes held claims then). */
struct reaper *reaper_new(struct cp_core *core);
void reaper_start(struct reaper *rp);
void reaper_due(struct reaper *rp, int64_t at_ms);
void reaper_stop(struct reaper *rp);
void reaper_free(struct reaper *rp);

#endif
