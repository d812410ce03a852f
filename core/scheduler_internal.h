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
    uint64_t pending_seq; /* bumped whenever any task becomes pending (here or elsewhere) */
    struct event *reap_timer;
    int reaping;
    int64_t last_cleanup_ms;
    int reap_error_logged;
};

/* Task `task_id` (requirements req) became pending: offer it to the held claims (claims.c). */
void claims_wake(struct scheduler *s, const char *task_id, const char *const *req,
                 uint32_t n_req, const char *strategy);
/* 1 when no claim is held or in flight (nothing to wake). */
int claims_idle(const struct scheduler *s);
/* Answer every held claim with no task (shutdown). */
void claims_drain(struct scheduler *s);

#endif
