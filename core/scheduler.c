/* scheduler.c — result waiters (wait_ms), and the dispatch of a task's change of state: pending
 * wakes the held claims (claims.c), terminal answers the waiters; other processes' changes come
 * in as the store's notifications. */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "claims.h"
#include "clock.h"
#include "core.h"
#include "quota.h"
#include "xalloc.h"

struct waiter {
    TAILQ_ENTRY(waiter) link;
    struct scheduler *s;
    char *task_id;
    struct event *timer;
    void (*cb)(void *cookie);
    void *cookie;
};

struct scheduler {
    struct cp_core *core;
    struct claims *claims;
    TAILQ_HEAD(, waiter) waiters;
};

/* ---- waiters ---- */

static void waiter_fire(struct waiter *w)
{
    TAILQ_REMOVE(&w->s->waiters, w, link);
    void (*cb)(void *) = w->cb;
    void *cookie = w->cookie;
    event_free(w->timer);
    free(w->task_id);
    free(w);
    cb(cookie);
}

static void on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    waiter_fire(arg);
}

struct waiter *sched_wait_task(struct scheduler *s, const char *task_id, uint64_t wait_ms,
                               void (*cb)(void *cookie), void *cookie)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    w->s = s;
    w->task_id = xstrdup(task_id);
    w->cb = cb;
    w->cookie = cookie;
    w->timer = xevtimer_new(s->core->base, on_wait_timer, w);
    struct timeval tv = cp_ms_to_timeval((int64_t)wait_ms);
    evtimer_add(w->timer, &tv);
    TAILQ_INSERT_TAIL(&s->waiters, w, link);
    return w;
}

void sched_cancel_wait(struct scheduler *s, struct waiter *w)
{
    TAILQ_REMOVE(&s->waiters, w, link);
    event_free(w->timer);
    free(w->task_id);
    free(w);
}

static void task_done(struct scheduler *s, const char *task_id)
{
    struct waiter *w = TAILQ_FIRST(&s->waiters);
    while (w) {
        struct waiter *next = TAILQ_NEXT(w, link);
        if (strcmp(w->task_id, task_id) == 0) waiter_fire(w);
        w = next;
    }
}

/* ---- a task's change of state ---- */

void sched_task_changed(struct scheduler *s, const struct cp_task_view *t)
{
    /* A task waiting for its not_before wakes nobody yet: the reap that makes it due does. */
    if (t->status == CP_TASK_PENDING && t->not_before_ms > 0 && t->not_before_ms > clock_now_ms())
        return;
    if (t->status == CP_TASK_PENDING)
        claims_wake(s->claims, t->id, t->required_capabilities, t->n_required, t->strategy, t);
    else if (cp_task_status_is_terminal(t->status))
        task_done(s, t->id);
}

static void on_remote_task(void *cookie, const struct cp_result *res)
{
    struct scheduler *s = cookie;
    if (res->rc == 0 && res->task)
        sched_task_changed(s, res->task);
    else if (res->rc < 0)
        claims_missed(s->claims, NULL, 0); /* unknown: every claim in flight re-checks */
}

/* A store event (reaper, unregistration) made a task pending: it names the task but carries
 * no more of it than its requirements, and strategies weigh the whole task (type, metadata,
 * priority). With claims held or in flight it is read first, as another process's change is
 * (sched_store_changed, below); with none, only claims ops has in flight may have missed it. */
void sched_task_event(struct scheduler *s, const char *task_id, const char *const *req,
                      uint32_t n_req, const char *strategy, int32_t status)
{
    (void)strategy; /* the task as read names it */
    if (status == CP_TASK_PENDING && task_id && !claims_idle(s->claims))
        CORE_STORE(s->core, task_get, task_id, on_remote_task, s);
    else if (status == CP_TASK_PENDING)
        claims_missed(s->claims, req, n_req);
    else if (task_id && status >= 0 && cp_task_status_is_terminal(status))
        task_done(s, task_id);
}

/* Another process made task `id` pending. Nothing held or in flight here: only ops' claims in
 * flight may have missed it (claims_missed moves pending_seq for them). Else the task is read
 * first; a claim in flight that missed it is held by the time that read answers (same
 * connection, in order) or is covered by the wake-up ending unplaced (claims.c).
 * "room": agent `id` may be able to claim again (claims_room). "quota": a task under quota `id`
 * left its holder, or the quota changed: claims held by a quota try again (quotas_room). */
void sched_store_changed(void *sched, const char *kind, const char *id)
{
    struct scheduler *s = sched;
    if (strcmp(kind, "done") == 0)
        task_done(s, id);
    else if (strcmp(kind, "room") == 0)
        claims_room(s->claims, id, NULL);
    else if (strcmp(kind, "quota") == 0)
        quotas_room(s->core->quotas);
    else if (strcmp(kind, "pending") == 0 && claims_idle(s->claims))
        claims_missed(s->claims, NULL, 0);
    else if (strcmp(kind, "pending") == 0)
        CORE_STORE(s->core, task_get, id, on_remote_task, s);
}

struct scheduler *sched_new(struct cp_core *core, struct claims *claims)
{
    struct scheduler *s = xcalloc(1, sizeof *s);
    s->core = core;
    s->claims = claims;
    TAILQ_INIT(&s->waiters);
    return s;
}

void sched_drain(struct scheduler *s)
{
    claims_drain(s->claims);
    struct waiter *w;
    while ((w = TAILQ_FIRST(&s->waiters)))
        waiter_fire(w);
}

void sched_free(struct scheduler *s)
{
    if (!s) return;
    sched_drain(s);
    free(s);
}
