/* scheduler.c — result waiters (wait_ms), reactions to store outcomes (wake held claims, feed
 * breakers and metrics), other processes' notifications, and the reaper timer. Held claims and
 * wake-ups are in claims.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "scheduler_internal.h"

#define REAP_PERIOD_MS 250
#define REAP_BATCH 1000

struct waiter {
    TAILQ_ENTRY(waiter) link;
    struct scheduler *s;
    char *task_id;
    struct event *timer;
    void (*cb)(void *cookie);
    void *cookie;
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
    struct waiter *w = calloc(1, sizeof *w);
    w->s = s;
    w->task_id = strdup(task_id);
    w->cb = cb;
    w->cookie = cookie;
    w->timer = evtimer_new(s->core->base, on_wait_timer, w);
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000};
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

/* ---- reactions ---- */

void sched_task_changed(struct scheduler *s, const struct cp_task_view *t)
{
    if (t->status == CP_TASK_PENDING)
        claims_wake(s, t->id, t->required_capabilities, t->n_required, t->strategy, t);
    else if (cp_task_status_is_terminal(t->status))
        task_done(s, t->id);
}

void sched_handle_events(struct scheduler *s, const struct cp_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cp_event *e = &ev[i];
        switch (e->kind) {
        case CP_EVENT_TASK_TIMEOUT:
            metrics_task_event(e->task_type ? e->task_type : "unknown", MET_TASK_TIMEOUT);
            if (e->agent_id && s->core->health)
                health_task_outcome(s->core->health, e->agent_id, 0);
            /* pending again or terminal, as a requeue */
            __attribute__((fallthrough));
        case CP_EVENT_TASK_REQUEUED:
            if (e->task_status == CP_TASK_PENDING)
                claims_wake(s, e->task_id, e->required_capabilities, e->n_required, NULL, NULL);
            else if (e->task_id && e->task_status >= 0 &&
                     cp_task_status_is_terminal(e->task_status))
                task_done(s, e->task_id);
            break;
        case CP_EVENT_AGENT_OFFLINE:
            log_info("agent %s is offline: no heartbeat for %.3g s", e->agent_id,
                     (double)s->core->cfg->heartbeat_timeout_ms / 1000.0);
            break;
        case CP_EVENT_AGENT_REMOVED:
            log_info("agent %s removed: silent for 3 x HEARTBEAT_TIMEOUT", e->agent_id);
            if (s->core->health) health_untrack(s->core->health, e->agent_id);
            break;
        default:
            break;
        }
    }
}

static void on_remote_task(void *cookie, const struct cp_result *res)
{
    if (res->rc == 0 && res->task)
        sched_task_changed(cookie, res->task);
    else if (res->rc < 0)
        claims_missed(cookie, NULL, 0); /* unknown: every claim in flight re-checks */
}

/* Another process made task `id` pending. Nothing held or in flight here: only the HTTP layer's
 * claims in flight may have missed it (claims_missed moves pending_seq for them). Else the
 * task is read first; a claim in flight that missed it is held by the time that read answers
 * (same connection, in order) or is covered by the wake-up ending unplaced (claims.c). */
void sched_store_changed(void *sched, const char *kind, const char *id)
{
    struct scheduler *s = sched;
    if (strcmp(kind, "done") == 0)
        task_done(s, id);
    else if (strcmp(kind, "pending") == 0 && claims_idle(s))
        claims_missed(s, NULL, 0);
    else if (strcmp(kind, "pending") == 0)
        CORE_STORE(s->core, task_get, id, on_remote_task, s);
}

/* ---- reaper ---- */

static void reap_schedule(struct scheduler *s, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(s->reap_timer, &tv);
}

static void on_reaped(void *cookie, const struct cp_result *res)
{
    struct scheduler *s = cookie;
    s->reaping = 0;
    if (res->rc < 0) {
        if (!s->reap_error_logged)
            log_warn("reaper: storage error %d (%s); retrying", res->rc,
                     res->message ? res->message : "");
        s->reap_error_logged = 1;
        return;
    }
    s->reap_error_logged = 0;
    sched_handle_events(s, res->events, res->n_events);
    if (res->n_events >= REAP_BATCH) reap_schedule(s, 0); /* more to do */
}

static void on_reap_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct scheduler *s = arg;
    reap_schedule(s, REAP_PERIOD_MS);
    if (s->reaping) return;
    const struct cp_config *cfg = s->core->cfg;
    int64_t now = clock_now_ms();
    struct cp_reap r = {now,        cfg->heartbeat_timeout_ms, 0, cfg->retention_ms,
                        REAP_BATCH, cfg->max_terminal};
    if (now - s->last_cleanup_ms >= cfg->cleanup_interval_ms) {
        r.remove_stale = 1;
        s->last_cleanup_ms = now;
    }
    s->reaping = 1;
    CORE_STORE(s->core, reap, &r, on_reaped, s);
}

struct scheduler *sched_new(struct cp_core *core)
{
    struct scheduler *s = calloc(1, sizeof *s);
    s->core = core;
    TAILQ_INIT(&s->groups);
    TAILQ_INIT(&s->claiming);
    TAILQ_INIT(&s->waiters);
    s->reap_timer = evtimer_new(core->base, on_reap_timer, s);
    s->last_cleanup_ms = clock_now_ms();
    return s;
}

void sched_start(struct scheduler *s)
{
    reap_schedule(s, REAP_PERIOD_MS);
    if (s->core->store->watch) s->core->store->watch(s->core->st, sched_store_changed, s);
}

void sched_drain(struct scheduler *s)
{
    claims_drain(s);
    struct waiter *w;
    while ((w = TAILQ_FIRST(&s->waiters)))
        waiter_fire(w);
    evtimer_del(s->reap_timer);
}

void sched_free(struct scheduler *s)
{
    if (!s) return;
    sched_drain(s);
    event_free(s->reap_timer);
    free(s);
}
