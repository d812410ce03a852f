/* ops_feed.c — the change stream behind the event stream (GET /events): domain events numbered
 * so that a number names the same change wherever it is read.
 *
 * Source. A store with a feed (storage ops version 4, feed(): Redis) reports every change any
 * process sharing it makes, already numbered by the store: this process's own changes come
 * back that way too, so every process tells the same changes in the same order under the same
 * numbers. A store without one (memory; any store of an older ABI) is not shared: this
 * process's own domain events are the changes, numbered here.
 *
 * Numbers. Increasing; local numbering starts at the wall clock in ms x 1000 when the source
 * is turned on (the Redis feed does the same when its counter is created), so numbers keep
 * growing across restarts as long as fewer than 1000 changes per ms were made on average.
 *
 * What counts as a change: heartbeats only when they change the status (then told as
 * EVT_AGENT_STATUS), health writes only when the health or the circuit changes.
 *
 * Cost: nothing while nobody subscribed (the source is off: no domain event is built, no
 * store feed). The first subscriber turns the source on, the last one off. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "ops_internal.h"
#include "xalloc.h"

struct ops_feed {
    struct cp_core *core;
    struct events *subs;
    int on;
    int stopped;      /* shutting down: never on again */
    int shared;       /* the store's feed is the source */
    uint64_t last_id; /* local numbering */
};

static void deliver(struct ops_feed *f, struct domain_event *e)
{
    events_emit(f->subs, e);
}

/* ---- local source: this process's domain events ----------------------------------------- */

static void on_local(void *arg, const struct domain_event *in)
{
    struct ops_feed *f = arg;
    struct domain_event e = *in;
    switch (e.kind) {
    case EVT_AGENT_HEARTBEAT:
        if (e.old_status < 0 || e.old_status == e.new_status) return;
        e.kind = EVT_AGENT_STATUS;
        break;
    case EVT_AGENT_HEALTH:
        if (e.old_status == e.new_status && e.old_circuit == e.new_circuit) return;
        break;
    default:
        break;
    }
    e.id = ++f->last_id;
    deliver(f, &e);
}

/* ---- shared source: the store's feed ----------------------------------------------------- */

static const int kind_of_change[CP_CHANGE_KIND_COUNT] = {
    [CP_CHANGE_GAP] = EVT_GAP,
    [CP_CHANGE_AGENT_REGISTERED] = EVT_AGENT_REGISTERED,
    [CP_CHANGE_AGENT_UNREGISTERED] = EVT_AGENT_UNREGISTERED,
    [CP_CHANGE_AGENT_STATUS] = EVT_AGENT_STATUS,
    [CP_CHANGE_AGENT_REMOVED] = EVT_AGENT_REMOVED,
    [CP_CHANGE_AGENT_HEALTH] = EVT_AGENT_HEALTH,
    [CP_CHANGE_TASK_SUBMITTED] = EVT_TASK_SUBMITTED,
    [CP_CHANGE_TASK_CLAIMED] = EVT_TASK_CLAIMED,
    [CP_CHANGE_TASK_STARTED] = EVT_TASK_STARTED,
    [CP_CHANGE_TASK_COMPLETED] = EVT_TASK_COMPLETED,
    [CP_CHANGE_TASK_FAILED] = EVT_TASK_FAILED,
    [CP_CHANGE_TASK_REQUEUED] = EVT_TASK_REQUEUED,
    [CP_CHANGE_TASK_RELEASED] = EVT_TASK_RELEASED,
    [CP_CHANGE_TASK_TIMEOUT] = EVT_TASK_TIMEOUT,
    [CP_CHANGE_TASK_CANCELLED] = EVT_TASK_CANCELLED,
    [CP_CHANGE_TASK_EXTENDED] = EVT_TASK_EXTENDED,
    [CP_CHANGE_TASK_DUE] = EVT_TASK_DUE,
    [CP_CHANGE_TASK_RETRIED] = EVT_TASK_RETRIED,
    [CP_CHANGE_QUOTA_PAUSED] = EVT_QUOTA_PAUSED,
    [CP_CHANGE_QUOTA_RESUMED] = EVT_QUOTA_RESUMED,
    [CP_CHANGE_QUOTA_CONCURRENCY] = EVT_QUOTA_CONCURRENCY,
};

static void on_store_change(void *arg, const struct cp_change *c)
{
    struct ops_feed *f = arg;
    if (!f->on || c->kind < 0 || c->kind >= CP_CHANGE_KIND_COUNT) return; /* a newer kind */
    struct domain_event e = {
        .kind = kind_of_change[c->kind],
        .id = c->seq,
        .at_ms = c->at_ms > 0 ? c->at_ms : clock_now_ms(),
        .agent_id = c->agent_id,
        .task_id = c->task_id,
        .task_type = c->task_type,
        .old_status = c->old_status,
        .new_status = c->new_status,
        .attempt = c->attempt,
        .old_circuit = c->old_circuit,
        .new_circuit = c->new_circuit,
        .priority = c->priority,
    };
    if (e.kind == EVT_GAP) e.id = 0;
    if (c->size >= offsetof(struct cp_change, quota_limit) + sizeof c->quota_limit) {
        e.quota_id = c->quota_id;
        e.quota_until_ms = c->quota_until_ms;
        e.quota_limit = c->quota_limit;
    }
    deliver(f, &e);
}

/* ---- on / off ------------------------------------------------------------------------------ */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void source_on(struct ops_feed *f)
{
    struct cp_core *core = f->core;
    if (f->stopped) return;
    f->on = 1;
    if (core->store->version >= 4 && core->store->feed) {
        int rc = core->store->feed(core->st, 1, on_store_change, f);
        if (rc == 0) {
            f->shared = 1;
            return;
        }
        log_warn("event stream: the store's change feed cannot be turned on (error %d); telling "
                 "this process's own changes only",
                 rc);
    }
    f->shared = 0;
    uint64_t start = wall_ms() * 1000;
    if (start > f->last_id) f->last_id = start;
    events_subscribe(core->events, on_local, f);
}

static void source_off(struct ops_feed *f)
{
    struct cp_core *core = f->core;
    f->on = 0;
    if (f->shared)
        core->store->feed(core->st, 0, NULL, NULL);
    else
        events_unsubscribe(core->events, on_local, f);
    f->shared = 0;
}

struct ops_feed *ops_feed_new(struct cp_core *core)
{
    struct ops_feed *f = xcalloc(1, sizeof *f);
    f->core = core;
    f->subs = events_new();
    return f;
}

void ops_feed_stop(struct ops_feed *f)
{
    if (f->on) source_off(f);
    f->stopped = 1;
}

void ops_feed_free(struct ops_feed *f)
{
    if (!f) return;
    if (f->on) source_off(f);
    events_free(f->subs);
    free(f);
}

void ops_feed_subscribe(struct cp_core *core, events_cb cb, void *arg)
{
    struct ops_feed *f = core->feed;
    events_subscribe(f->subs, cb, arg);
    if (!f->on) source_on(f);
}

void ops_feed_unsubscribe(struct cp_core *core, events_cb cb, void *arg)
{
    struct ops_feed *f = core->feed;
    if (!f || events_unsubscribe(f->subs, cb, arg) < 0) return;
    if (f->on && !events_active(f->subs)) source_off(f);
}

int ops_feed_shared(const struct cp_core *core)
{
    return core->feed && core->feed->shared;
}
