/* scheduler_internal.h — the scheduler's state, shared by scheduler.c (waiters, reactions,
 * reaper) and claims.c (held claims and wake-ups). Not for other modules. */
#ifndef CORE_SCHEDULER_INTERNAL_H
#define CORE_SCHEDULER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "scheduler.h"

struct event;
struct claimer;
struct held_group;
struct waiter;

struct scheduler {
    struct cp_core *core;
    TAILQ_HEAD(, held_group) groups; /* held claims, one group per capability set */
    TAILQ_HEAD(, claimer) claiming;  /* claimers whose store claim is in flight */
    TAILQ_HEAD(, waiter) waiters;
    size_t n_held;
    uint64_t next_gen;
    uint64_t next_hold; /* arrival order of held claimers (ties of equal agent_id) */
    /* Bumped when a task became pending and its wake-up may have ended without placing it (no
     * held claimer left to try): a claim in flight then may have missed it (claims.c). */
    uint64_t pending_seq;
    struct event *reap_timer;
    int reaping;
    int64_t last_cleanup_ms;
    int reap_error_logged;
};

/* Task `task_id` (requirements req) became pending: offer it to the held claims (claims.c).
 * `t`: the task as it became pending (its pass-over lets an empty claim prove the task gone),
 * or NULL when only the id and requirements are known. */
void claims_wake(struct scheduler *s, const char *task_id, const char *const *req, uint32_t n_req,
                 const char *strategy, const struct cp_task_view *t);
/* A task became pending and no wake-up will offer it (claims.c): claims in flight re-check. */
void claims_missed(struct scheduler *s, const char *const *req, uint32_t n_req);
/* 1 when no claim is held or in flight (nothing to wake). */
int claims_idle(const struct scheduler *s);
/* Answer every held claim with no task (shutdown). */
void claims_drain(struct scheduler *s);

#endif
