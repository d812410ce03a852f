/* ops_reap.c — the reaper (a timer that runs one store reap at a time: timeouts, offline and
 * stale agents, retention) and the reactions to the events a store reports, for the reaper's
 * passes and for unregistration alike.
 *
 * Batches: each store call does at most REAP_BATCH units of work, so one call never holds the
 * loop (or Redis) for long. A pass that used its whole budget is followed by another at once
 * (a zero timer: what is ready on the sockets is served first), until the store has caught up.
 * The removal of stale agents is due every CLEANUP_INTERVAL and stays due across those
 * follow-up calls until a call finishes within its budget, so removal keeps up with any fleet
 * within one interval.
 *
 * Logs: a mass transition is one info line per run of batches (counts, and the first few ids),
 * each agent's own line at debug. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "claims.h"
#include "clock.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "ops_internal.h"
#include "scheduler.h"
#include "xalloc.h"

#define REAP_PERIOD_MS 250
#define REAP_BATCH 1000

/* ---- the store's events ---- */

static void emit_store_event(struct cp_core *core, int kind, const struct cp_event *e)
{
    /* status_before and attempt: ABI 2.4 (storage_compat.c hands older events as -1 and 0) */
    struct domain_event d = {
        .kind = kind,
        .at_ms = clock_now_ms(),
        .agent_id = e->agent_id,
        .task_id = e->task_id,
        .task_type = e->task_type,
        .old_status = e->status_before,
        .new_status = e->task_status,
        .attempt = e->attempt,
        .old_circuit = -1,
        .new_circuit = -1,
        .priority = -1,
    };
    if (kind == EVT_AGENT_STATUS) d.new_status = CP_AGENT_OFFLINE;
    if (kind == EVT_AGENT_REMOVED) d.new_status = -1;
    events_emit(core->events, &d);
}

void ops_react_store_events(struct cp_core *core, const struct cp_event *ev, size_t n)
{
    int emit = ops_events_on(core), left = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cp_event *e = &ev[i];
        if (e->agent_id && e->kind != CP_EVENT_TASK_DELETED) /* its tasks or status changed */
            claims_room(core->claims, e->agent_id, NULL);
        /* a task left its holder: its quota places are back (claims held by a quota retry) */
        left |=
            e->task_id && (e->kind == CP_EVENT_TASK_TIMEOUT || e->kind == CP_EVENT_TASK_REQUEUED);
        switch (e->kind) {
        case CP_EVENT_TASK_TIMEOUT:
            metrics_task_event(e->task_type ? e->task_type : "unknown", MET_TASK_TIMEOUT);
            if (e->agent_id && core->health) health_task_outcome(core->health, e->agent_id, 0);
            if (emit) emit_store_event(core, EVT_TASK_TIMEOUT, e);
            sched_task_event(core->sched, e->task_id, e->required_capabilities, e->n_required,
                             e->strategy, e->task_status);
            break;
        case CP_EVENT_TASK_DUE:
            if (emit) emit_store_event(core, EVT_TASK_DUE, e);
            sched_task_event(core->sched, e->task_id, e->required_capabilities, e->n_required,
                             e->strategy, e->task_status);
            break;
        case CP_EVENT_TASK_REQUEUED:
            if (emit) emit_store_event(core, EVT_TASK_REQUEUED, e);
            sched_task_event(core->sched, e->task_id, e->required_capabilities, e->n_required,
                             e->strategy, e->task_status);
            break;
        case CP_EVENT_AGENT_OFFLINE:
            log_debug("agent %s is offline: no heartbeat for %.3g s", e->agent_id,
                      (double)core->cfg->heartbeat_timeout_ms / 1000.0);
            if (emit) emit_store_event(core, EVT_AGENT_STATUS, e);
            break;
        case CP_EVENT_AGENT_REMOVED:
            log_debug("agent %s removed: silent for 3 x HEARTBEAT_TIMEOUT", e->agent_id);
            if (core->health) health_untrack(core->health, e->agent_id);
            if (emit) emit_store_event(core, EVT_AGENT_REMOVED, e);
            break;
        default:
            break;
        }
    }
    if (left) quotas_room(core->quotas);
}

/* ---- one pass ---- */

static void on_reaped(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    if (res->rc == 0) ops_react_store_events(call->core, res->events, res->n_events);
    call->cb(call->cookie, res);
}

void ops_reap(struct cp_core *core, struct ops_call *call, const struct cp_reap *r,
              cp_storage_cb cb, void *cookie)
{
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, reap, r, on_reaped, call);
}

/* ---- the timer ---- */

/* The ids a summary line names: enough to find a lone agent in the log without a debug level. */
#define TALLY_IDS 5
#define TALLY_ID_BYTES 129 /* identifiers are at most 128 bytes */

/* What one run of batches did, for its summary line. */
struct tally {
    uint64_t offline, removed, timeouts, requeued;
    char offline_ids[TALLY_IDS][TALLY_ID_BYTES];
    char removed_ids[TALLY_IDS][TALLY_ID_BYTES];
};

struct reaper {
    struct cp_core *core;
    struct event *timer;
    struct event *due; /* the earliest known not_before of a waiting task */
    int64_t due_at_ms; /* when `due` fires (0: not pending) */
    struct ops_call call;
    int reaping;
    int cleanup_due;  /* removal of stale agents is on until a removal pass caught up */
    int pass_removes; /* the pass in flight carries the removal */
    int again;        /* `due` fired during a pass: another one right after */
    int64_t last_cleanup_ms;
    int error_logged;
    struct tally tally;
};

static void reap_now(struct reaper *rp);

static void reap_schedule(struct reaper *rp, uint64_t ms)
{
    struct timeval tv = cp_ms_to_timeval((int64_t)ms);
    evtimer_add(rp->timer, &tv);
}

static void tally_id(char ids[][TALLY_ID_BYTES], uint64_t n, const char *id)
{
    if (n < TALLY_IDS) snprintf(ids[n], TALLY_ID_BYTES, "%s", id ? id : "?");
}

static void tally_events(struct tally *t, const struct cp_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (ev[i].kind) {
        case CP_EVENT_AGENT_OFFLINE:
            tally_id(t->offline_ids, t->offline++, ev[i].agent_id);
            break;
        case CP_EVENT_AGENT_REMOVED:
            tally_id(t->removed_ids, t->removed++, ev[i].agent_id);
            break;
        case CP_EVENT_TASK_TIMEOUT:
            t->timeouts++;
            break;
        case CP_EVENT_TASK_REQUEUED:
            t->requeued++;
            break;
        default:
            break;
        }
    }
}

/* "3 agents (a, b, c)" or "1204 agents (a, b, c, d, e, ...)" into buf. */
static void agents_phrase(char *buf, size_t size, uint64_t n, char ids[][TALLY_ID_BYTES])
{
    int len = snprintf(buf, size, "%llu agent%s (", (unsigned long long)n, n == 1 ? "" : "s");
    for (uint64_t i = 0; i < n && i < TALLY_IDS && len > 0 && (size_t)len < size; i++)
        len += snprintf(buf + len, size - (size_t)len, "%s%s", i ? ", " : "", ids[i]);
    if (len > 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, "%s)", n > TALLY_IDS ? ", ..." : "");
}

/* One info line for the run of batches that just ended: agents gone offline or removed, tasks
 * timed out or requeued. Silent when none of those happened (retention is not news). */
static void tally_log(struct reaper *rp)
{
    struct tally *t = &rp->tally;
    if (t->offline || t->removed || t->timeouts) {
        char off[1024] = "", rem[1024] = "", hbt[32];
        snprintf(hbt, sizeof hbt, "%.3g s", (double)rp->core->cfg->heartbeat_timeout_ms / 1000.0);
        if (t->offline) agents_phrase(off, sizeof off, t->offline, t->offline_ids);
        if (t->removed) agents_phrase(rem, sizeof rem, t->removed, t->removed_ids);
        log_info("reaper: %s%s%s%s%s%stasks: %llu timed out, %llu requeued", off,
                 t->offline ? " offline (no heartbeat for " : "", t->offline ? hbt : "",
                 t->offline ? "); " : "", rem,
                 t->removed ? " removed (silent for 3 x HEARTBEAT_TIMEOUT); " : "",
                 (unsigned long long)t->timeouts, (unsigned long long)t->requeued);
    }
    memset(t, 0, sizeof *t);
}

static void on_pass_done(void *cookie, const struct cp_result *res)
{
    struct reaper *rp = cookie;
    rp->reaping = 0;
    if (res->rc < 0) {
        if (!rp->error_logged)
            log_warn("reaper: storage error %d (%s); retrying", res->rc,
                     res->message ? res->message : "");
        rp->error_logged = 1;
        return;
    }
    rp->error_logged = 0;
    tally_events(&rp->tally, res->events, res->n_events);
    if (res->next_due_ms > 0) reaper_due(rp, res->next_due_ms);
    /* A store stops at about max_events of work: a full batch means there may be more. */
    int more = res->n_events >= REAP_BATCH;
    if (rp->pass_removes && !more) rp->cleanup_due = 0;
    if (more) {
        reap_schedule(rp, 0);
        return;
    }
    tally_log(rp);
    if (rp->again) {
        rp->again = 0;
        reap_now(rp);
    }
}

static void on_reap_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct reaper *rp = arg;
    reap_schedule(rp, REAP_PERIOD_MS);
    if (!rp->reaping) reap_now(rp);
}

/* A waiting task's time came: reap now (that makes it due and wakes held claims), or right
 * after the pass in progress. */
static void on_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct reaper *rp = arg;
    rp->due_at_ms = 0;
    if (rp->reaping)
        rp->again = 1;
    else
        reap_now(rp);
}

void reaper_due(struct reaper *rp, int64_t at_ms)
{
    /* Only a future moment: one already past is the periodic pass's (or the next one's). */
    int64_t now = clock_now_ms();
    if (!rp || at_ms <= now || (rp->due_at_ms && rp->due_at_ms <= at_ms)) return;
    rp->due_at_ms = at_ms;
    struct timeval tv = cp_ms_to_timeval(at_ms - now);
    evtimer_add(rp->due, &tv);
}

static void reap_now(struct reaper *rp)
{
    const struct cp_config *cfg = rp->core->cfg;
    int64_t now = clock_now_ms();
    struct cp_reap r = {.now_ms = now,
                        .heartbeat_timeout_ms = cfg->heartbeat_timeout_ms,
                        .retention_ms = cfg->retention_ms,
                        .max_events = REAP_BATCH,
                        .max_terminal = cfg->max_terminal,
                        .jitter = ops_random32()};
    if (now - rp->last_cleanup_ms >= cfg->cleanup_interval_ms) {
        rp->cleanup_due = 1;
        rp->last_cleanup_ms = now;
    }
    r.remove_stale = rp->cleanup_due;
    rp->pass_removes = rp->cleanup_due;
    rp->reaping = 1;
    ops_reap(rp->core, &rp->call, &r, on_pass_done, rp);
}

struct reaper *reaper_new(struct cp_core *core)
{
    struct reaper *rp = xcalloc(1, sizeof *rp);
    rp->core = core;
    rp->timer = xevtimer_new(core->base, on_reap_timer, rp);
    rp->due = xevtimer_new(core->base, on_due, rp);
    rp->last_cleanup_ms = clock_now_ms();
    return rp;
}

void reaper_start(struct reaper *rp)
{
    reap_schedule(rp, REAP_PERIOD_MS);
}

void reaper_stop(struct reaper *rp)
{
    evtimer_del(rp->timer);
    evtimer_del(rp->due);
    rp->due_at_ms = 0;
}

/* A pass still in the store has been answered by then: the store is destroyed first. */
void reaper_free(struct reaper *rp)
{
    if (!rp) return;
    event_free(rp->timer);
    event_free(rp->due);
    free(rp);
}
