/* scheduler.c — held claims (long poll), result waiters, wake-ups and the reaper timer.
 *
 * A held claim is a claimer that found nothing. When a task becomes pending (submit, requeue,
 * release, another process's notification), the claimers whose capabilities cover the task's
 * requirements are candidates; the task's strategy picks one, which then claims through the
 * store like any claim (the store stays the only arbiter, so nothing is handed out twice).
 * If that claim comes back empty (another process took the task, or this agent is passed
 * over), the next candidate is tried; each wake-up tries each claimer at most once.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"
#include "selection.h"

#define REAP_PERIOD_MS 250
#define REAP_BATCH 1000

enum { CLAIMER_HELD = 1, CLAIMER_CLAIMING };

/* One wake-up: the requirements of the task that became pending, shared by the claims it
 * starts; `gen` marks the claimers already tried for it. */
struct wake {
    int refs;
    uint64_t gen;
    char **req;
    uint32_t n_req;
    char *strategy;
};

struct claimer {
    TAILQ_ENTRY(claimer) link; /* in s->held while HELD */
    struct scheduler *s;
    int state;
    int expired, gone;
    char *agent_id;
    char **caps;
    uint32_t n_caps;
    struct cp_agent_view snap; /* the agent as last seen, for strategies */
    struct event *timer;
    claim_deliver_cb cb;
    void *cookie;
    int64_t arrived_ms;
    uint64_t tried_gen;
    struct wake *wake; /* while CLAIMING */
};

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
    TAILQ_HEAD(, claimer) held;
    TAILQ_HEAD(, waiter) waiters;
    size_t n_held;
    uint64_t next_gen;
    struct event *reap_timer;
    int reaping;
    int64_t last_cleanup_ms;
    int reap_error_logged;
};

static char **copy_strs(const char *const *src, uint32_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (uint32_t i = 0; i < n; i++) out[i] = strdup(src[i]);
    return out;
}

static void free_strs(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

int sched_agent_may_claim(const struct cp_agent_view *a, int64_t now_ms)
{
    if (a->status != CP_AGENT_READY || a->tasks_in_flight >= a->max_concurrent_tasks) return 0;
    return a->health.circuit != CP_CIRCUIT_OPEN || a->health.retry_at_ms <= now_ms;
}

/* ---- wake-ups ---- */

static void wake_unref(struct wake *w)
{
    if (--w->refs > 0) return;
    free_strs(w->req, w->n_req);
    free(w->strategy);
    free(w);
}

static void claimer_snapshot(struct claimer *c, const struct cp_agent_view *a)
{
    struct cp_agent_view v = {0};
    if (a) {
        v = *a;
        v.health.error = NULL;
    } else {
        v.status = CP_AGENT_READY;
        v.max_concurrent_tasks = 1;
    }
    /* Strings point at our own copies or constants; the source is borrowed. */
    v.agent_id = c->agent_id;
    v.capabilities = (const char *const *)c->caps;
    v.n_capabilities = c->n_caps;
    v.model = v.provider = "";
    v.metadata_json = "{}";
    v.health_probe_json = NULL;
    v.current_task_id = NULL;
    c->snap = v;
}

static void claimer_free(struct claimer *c)
{
    if (c->timer) event_free(c->timer);
    free_strs(c->caps, c->n_caps);
    free(c->agent_id);
    free(c);
}

static void deliver(struct claimer *c, const struct cp_result *res)
{
    struct cp_result none = {0};
    claim_deliver_cb cb = c->cb;
    void *cookie = c->cookie;
    c->s->n_held -= c->state == CLAIMER_HELD;
    claimer_free(c);
    cb(cookie, res ? res : &none);
}

static void wake_run(struct scheduler *s, struct wake *w);

static void on_wake_claim(void *cookie, const struct cp_result *res)
{
    struct claimer *c = cookie;
    struct scheduler *s = c->s;
    struct wake *w = c->wake;
    c->wake = NULL;
    if (c->gone) {
        if (res->rc == 0 && res->task)
            sched_release(s, res->task->id, c->agent_id, res->task->attempt);
        claimer_free(c);
        wake_unref(w);
        return;
    }
    if (res->rc == 0 && res->task) {
        metrics_claim_wait((double)(clock_now_ms() - c->arrived_ms) / 1000.0);
        deliver(c, res);
        wake_run(s, w); /* the task it got may not be the one that woke it */
        wake_unref(w);
        return;
    }
    c->tried_gen = w->gen;
    if (res->rc < 0) log_warn("held claim of %s: storage error %d", c->agent_id, res->rc);
    int64_t now = clock_now_ms();
    if (res->agent) claimer_snapshot(c, res->agent);
    if (c->expired || res->rc < 0 || (res->agent && !sched_agent_may_claim(res->agent, now))) {
        deliver(c, NULL);
    } else {
        c->state = CLAIMER_HELD;
        TAILQ_INSERT_TAIL(&s->held, c, link);
        s->n_held++;
        if (res->rc == 0) wake_run(s, w);
    }
    wake_unref(w);
}

static void wake_run(struct scheduler *s, struct wake *w)
{
    const struct cp_agent_view *views[64];
    struct claimer *cands[64];
    size_t n = 0;
    struct claimer *c;
    TAILQ_FOREACH(c, &s->held, link)
    {
        if (c->tried_gen == w->gen) continue;
        if (!cp_caps_subset((const char *const *)w->req, w->n_req,
                            (const char *const *)c->caps, c->n_caps))
            continue;
        cands[n] = c;
        views[n] = &c->snap;
        if (++n == 64) break; /* enough choice; the rest wait for the next task */
    }
    if (n == 0) return;
    /* Strategies expect candidates sorted by agent_id. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(cands[j - 1]->agent_id, cands[j]->agent_id) > 0;
             j--) {
            struct claimer *tc = cands[j];
            cands[j] = cands[j - 1], cands[j - 1] = tc;
            const struct cp_agent_view *tv = views[j];
            views[j] = views[j - 1], views[j - 1] = tv;
        }
    struct plugin *strategy = core_strategy(s->core, w->strategy);
    size_t idx = selection_pick(s->core, strategy, views, n, (const char *const *)w->req,
                                w->n_req, NULL);
    c = cands[idx];
    TAILQ_REMOVE(&s->held, c, link);
    s->n_held--;
    c->state = CLAIMER_CLAIMING;
    c->wake = w;
    w->refs++;
    struct cp_claim claim = {c->agent_id, (const char *const *)c->caps, c->n_caps,
                             clock_now_ms()};
    CORE_STORE(s->core, task_claim, &claim, on_wake_claim, c);
}

static void wake_for(struct scheduler *s, const char *const *req, uint32_t n_req,
                     const char *strategy)
{
    if (TAILQ_EMPTY(&s->held)) return;
    struct wake *w = calloc(1, sizeof *w);
    w->refs = 1;
    w->gen = ++s->next_gen;
    w->req = copy_strs(req, n_req);
    w->n_req = n_req;
    w->strategy = strategy ? strdup(strategy) : NULL;
    wake_run(s, w);
    wake_unref(w);
}

/* ---- held claims ---- */

static void on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct claimer *c = arg;
    if (c->state == CLAIMER_CLAIMING) {
        c->expired = 1;
        return;
    }
    TAILQ_REMOVE(&c->s->held, c, link);
    deliver(c, NULL);
}

struct claimer *sched_hold_claim(struct scheduler *s, const char *agent_id,
                                 const char *const *caps, uint32_t n_caps,
                                 const struct cp_agent_view *agent, uint64_t block_ms,
                                 int64_t arrived_ms, claim_deliver_cb cb, void *cookie)
{
    struct claimer *c = calloc(1, sizeof *c);
    c->s = s;
    c->agent_id = strdup(agent_id);
    c->caps = copy_strs(caps, n_caps);
    c->n_caps = n_caps;
    c->cb = cb;
    c->cookie = cookie;
    c->arrived_ms = arrived_ms;
    claimer_snapshot(c, agent);
    c->timer = evtimer_new(s->core->base, on_claim_timer, c);
    struct timeval tv = {(time_t)(block_ms / 1000), (suseconds_t)(block_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    c->state = CLAIMER_HELD;
    TAILQ_INSERT_TAIL(&s->held, c, link);
    s->n_held++;
    return c;
}

void sched_cancel_claim(struct scheduler *s, struct claimer *c)
{
    if (c->state == CLAIMER_CLAIMING) {
        c->gone = 1; /* freed, and its task released, when the claim lands */
        return;
    }
    TAILQ_REMOVE(&s->held, c, link);
    s->n_held--;
    claimer_free(c);
}

size_t sched_held_count(const struct scheduler *s)
{
    return s->n_held;
}

/* ---- release ---- */

static void on_released(void *cookie, const struct cp_result *res)
{
    struct scheduler *s = cookie;
    if (res->rc == 0 && res->task) {
        log_info("task %s released: its claimer disconnected before the reply", res->task->id);
        sched_task_changed(s, res->task);
    }
}

void sched_release(struct scheduler *s, const char *task_id, const char *agent_id,
                   uint32_t attempt)
{
    struct cp_transition tr = {.kind = CP_TR_RELEASE,
                               .task_id = task_id,
                               .agent_id = agent_id,
                               .latency_ms = -1,
                               .expect_attempt = attempt,
                               .now_ms = clock_now_ms()};
    CORE_STORE(s->core, task_transition, &tr, on_released, s);
}

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
        wake_for(s, t->required_capabilities, t->n_required, t->strategy);
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
            if (e->agent_id && s->core->health) health_task_outcome(s->core->health, e->agent_id, 0);
            /* pending again or terminal, as a requeue */
            __attribute__((fallthrough));
        case CP_EVENT_TASK_REQUEUED:
            if (e->task_status == CP_TASK_PENDING)
                wake_for(s, e->required_capabilities, e->n_required, NULL);
            else if (e->task_id && e->task_status >= 0 && cp_task_status_is_terminal(e->task_status))
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
    if (res->rc == 0 && res->task) sched_task_changed(cookie, res->task);
}

void sched_store_changed(void *sched, const char *kind, const char *id)
{
    struct scheduler *s = sched;
    if (strcmp(kind, "done") == 0)
        task_done(s, id);
    else if (strcmp(kind, "pending") == 0 && !TAILQ_EMPTY(&s->held))
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
    struct cp_reap r = {now, cfg->heartbeat_timeout_ms, 0, cfg->retention_ms, REAP_BATCH};
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
    TAILQ_INIT(&s->held);
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
    struct claimer *c;
    while ((c = TAILQ_FIRST(&s->held))) {
        TAILQ_REMOVE(&s->held, c, link);
        deliver(c, NULL);
    }
    struct waiter *w;
    while ((w = TAILQ_FIRST(&s->waiters))) waiter_fire(w);
    evtimer_del(s->reap_timer);
}

void sched_free(struct scheduler *s)
{
    if (!s) return;
    sched_drain(s);
    event_free(s->reap_timer);
    free(s);
}
