/* scheduler.h — what the core adds to the store's task operations: held claims (long poll),
 * waiters on a task's result (wait_ms), wake-ups when tasks become pending, and the reaper
 * timer. Knows nothing of HTTP: the HTTP layer holds requests through the callbacks below. */
#ifndef CORE_SCHEDULER_H
#define CORE_SCHEDULER_H

#include <stdint.h>

#include <cp/storage.h>

struct cp_core;
struct scheduler;
struct claimer;
struct waiter;

struct scheduler *sched_new(struct cp_core *core);
/* Stop timers and answer every held claim ({"task": null}) and waiter. */
void sched_free(struct scheduler *s);
/* Shutdown, first step: answer every held claim and waiter now, stop the reaper. */
void sched_drain(struct scheduler *s);
/* Start the reaper (timeouts, offline agents, cleanup, retention). */
void sched_start(struct scheduler *s);

/* Called exactly once per held claim, unless sched_cancel_claim() came first: with res->task set
 * (the claimed task) or NULL (time up, or shutdown). */
typedef void (*claim_deliver_cb)(void *cookie, const struct cp_result *res);

/* Hold a claim for up to block_ms. caps: the claim's capabilities (sorted; copied). `agent`: its
 * state from the failed claim (copied: the basis for choosing among claimers). */
struct claimer *sched_hold_claim(struct scheduler *s, const char *agent_id,
                                 const char *const *caps, uint32_t n_caps,
                                 const struct cp_agent_view *agent, uint64_t block_ms,
                                 int64_t arrived_ms, uint64_t seen_seq, claim_deliver_cb cb,
                                 void *cookie);
/* A counter that moves when a task became pending that claims in flight may have missed (its
 * wake-up ended without placing it). Read it before sending the claim that came back empty and
 * pass it as seen_seq: if it moved meanwhile, the held claim claims again. */
uint64_t sched_pending_seq(const struct scheduler *s);
/* The client went away. A claim in flight for it is released back to pending when it lands. */
void sched_cancel_claim(struct scheduler *s, struct claimer *c);

/* A delivered task never reached its claimer: back to pending at the front of its band. */
void sched_release(struct scheduler *s, const char *task_id, const char *agent_id,
                   uint32_t attempt);

/* Wait until task_id is terminal or wait_ms pass; then cb (once, unless cancelled). */
struct waiter *sched_wait_task(struct scheduler *s, const char *task_id, uint64_t wait_ms,
                               void (*cb)(void *cookie), void *cookie);
void sched_cancel_wait(struct scheduler *s, struct waiter *w);

/* React to the outcome of a store operation: wakes claimers for tasks that became pending,
 * waiters for tasks that became terminal, feeds circuit breakers and metrics. */
void sched_task_changed(struct scheduler *s, const struct cp_task_view *t);
void sched_handle_events(struct scheduler *s, const struct cp_event *ev, size_t n);

/* The store's watch() callback: another process made task `id` pending ("pending") or
 * terminal ("done"). Wakes local held claims / waiters as if it had happened here. */
void sched_store_changed(void *sched, const char *kind, const char *id);

/* Number of held claims (for tests and stats). */
size_t sched_held_count(const struct scheduler *s);

#endif
