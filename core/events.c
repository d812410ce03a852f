/* events.c — the subscriber list of events.h. Unsubscribing while an event is being handed out
 * only empties the slot; the list is compacted when the outermost emit returns. */
#include "events.h"

#include <stdlib.h>

#include "xalloc.h"

static const char *const kind_names[EVT_KIND_COUNT] = {
    [EVT_AGENT_REGISTERED] = "agent_registered", [EVT_AGENT_UNREGISTERED] = "agent_unregistered",
    [EVT_AGENT_HEARTBEAT] = "agent_heartbeat",   [EVT_AGENT_STATUS] = "agent_status",
    [EVT_AGENT_REMOVED] = "agent_removed",       [EVT_AGENT_HEALTH] = "agent_health",
    [EVT_TASK_SUBMITTED] = "task_submitted",     [EVT_TASK_CLAIMED] = "task_claimed",
    [EVT_TASK_STARTED] = "task_started",         [EVT_TASK_COMPLETED] = "task_completed",
    [EVT_TASK_FAILED] = "task_failed",           [EVT_TASK_REQUEUED] = "task_requeued",
    [EVT_TASK_RELEASED] = "task_released",       [EVT_TASK_TIMEOUT] = "task_timeout",
    [EVT_TASK_CANCELLED] = "task_cancelled",     [EVT_GAP] = "gap",
    [EVT_TASK_EXTENDED] = "task_extended",       [EVT_TASK_DUE] = "task_due",
    [EVT_TASK_RETRIED] = "task_retried",         [EVT_QUOTA_PAUSED] = "quota_paused",
    [EVT_QUOTA_RESUMED] = "quota_resumed",       [EVT_QUOTA_CONCURRENCY] = "quota_concurrency",
};

const char *events_kind_name(int kind)
{
    return kind > 0 && kind < EVT_KIND_COUNT ? kind_names[kind] : "unknown";
}

struct events *events_new(void)
{
    return xcalloc(1, sizeof(struct events));
}

void events_free(struct events *ev)
{
    if (!ev) return;
    free(ev->subs);
    free(ev);
}

/* Drop the slots emptied during an emit, keeping the order. */
static void compact(struct events *ev)
{
    size_t w = 0;
    for (size_t i = 0; i < ev->cap; i++)
        if (ev->subs[i].cb) ev->subs[w++] = ev->subs[i];
    for (size_t i = w; i < ev->cap; i++)
        ev->subs[i] = (struct events_sub){0};
}

void events_subscribe(struct events *ev, events_cb cb, void *arg)
{
    /* While emitting, append past every slot so the event being handed out does not reach the
     * newcomer; otherwise the live subscribers are packed at the front. */
    size_t at = ev->emitting ? ev->cap : ev->n;
    if (at >= ev->cap) {
        size_t cap = ev->cap ? 2 * ev->cap : 4;
        if (cap <= at) cap = at + 1;
        ev->subs = xrealloc(ev->subs, cap * sizeof *ev->subs);
        for (size_t i = ev->cap; i < cap; i++)
            ev->subs[i] = (struct events_sub){0};
        ev->cap = cap;
    }
    ev->subs[at] = (struct events_sub){cb, arg};
    ev->n++;
}

int events_unsubscribe(struct events *ev, events_cb cb, void *arg)
{
    for (size_t i = 0; i < ev->cap; i++) {
        if (ev->subs[i].cb && ev->subs[i].cb == cb && ev->subs[i].arg == arg) {
            ev->subs[i] = (struct events_sub){0};
            ev->n--;
            if (!ev->emitting) compact(ev);
            return 0;
        }
    }
    return -1;
}

void events_emit(struct events *ev, const struct domain_event *e)
{
    if (!events_active(ev)) return;
    size_t end = ev->cap; /* subscribers added meanwhile wait for the next event */
    ev->emitting++;
    for (size_t i = 0; i < end; i++)
        if (ev->subs[i].cb) ev->subs[i].cb(ev->subs[i].arg, e);
    if (--ev->emitting == 0) compact(ev);
}
