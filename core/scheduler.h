/* scheduler.h — what follows a task's change of state: a task that became pending is offered to
 * the held claims (claims.h), one that became terminal answers the waiters on its result
 * (wait_ms); other processes' changes, read from the store's notifications, are handled alike.
 * Knows nothing of HTTP; ops calls it after every store operation that changed a task. */
#ifndef CORE_SCHEDULER_H
#define CORE_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include <cp/storage.h>

struct cp_core;
struct claims;
struct scheduler;
struct waiter;

/* `claims`: the held claims to wake (borrowed; outlives the scheduler). */
struct scheduler *sched_new(struct cp_core *core, struct claims *claims);
/* Answers every waiter first (sched_drain). */
void sched_free(struct scheduler *s);
/* Shutdown, first step: answer every held claim and waiter now. */
void sched_drain(struct scheduler *s);

/* Wait until task_id is terminal or wait_ms pass; then cb (once, unless cancelled). */
struct waiter *sched_wait_task(struct scheduler *s, const char *task_id, uint64_t wait_ms,
                               void (*cb)(void *cookie), void *cookie);
void sched_cancel_wait(struct scheduler *s, struct waiter *w);

/* Task t changed here: pending wakes held claims, terminal answers its waiters. */
void sched_task_changed(struct scheduler *s, const struct cp_task_view *t);
/* The same from a store event (reap, unregister): the task's id, requirements, strategy (NULL =
 * the default) and status after (status -1: unknown, nothing to do). */
void sched_task_event(struct scheduler *s, const char *task_id, const char *const *req,
                      uint32_t n_req, const char *strategy, int32_t status);

/* The store's watch() callback: another process made task `id` pending ("pending") or terminal
 * ("done"). Wakes local held claims / waiters as if it had happened here. */
void sched_store_changed(void *sched, const char *kind, const char *id);

#endif
