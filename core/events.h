/* events.h — domain events: one per change the operations layer (ops) makes or learns of, handed
 * to whoever subscribed (a stream endpoint, a test). Synchronous, on the event loop, in the order
 * the changes happened. With no subscriber, ops builds no event at all (events_active()). */
#ifndef CORE_EVENTS_H
#define CORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <cp/types.h>

enum domain_event_kind {
    EVT_AGENT_REGISTERED = 1, /* new_status: its status; old_status: before a re-registration,
                                 -1 for a new agent */
    EVT_AGENT_UNREGISTERED,   /* by request (old_status: its status); its tasks follow as
                                 EVT_TASK_REQUEUED */
    EVT_AGENT_HEARTBEAT,      /* alive; old/new_status: its status before and after */
    EVT_AGENT_STATUS,         /* a status change that is not a heartbeat's: offline (reaper),
                                 failed / back to ready (health), busy / ready (a task claimed
                                 or ended) */
    EVT_AGENT_REMOVED,        /* silent for 3 x heartbeat timeout: deleted by the reaper */
    EVT_AGENT_HEALTH,         /* health written: old/new_status are enum cp_health, and
                                 old/new_circuit enum cp_circuit */
    EVT_TASK_SUBMITTED,
    EVT_TASK_CLAIMED,   /* agent: the claimer */
    EVT_TASK_STARTED,   /* claimed -> running */
    EVT_TASK_COMPLETED, /* -> completed */
    EVT_TASK_FAILED,    /* a failure report: new_status pending (retried) or failed */
    EVT_TASK_REQUEUED,  /* back to pending: its agent went offline, was unregistered or removed */
    EVT_TASK_RELEASED,  /* back to pending: the claim's reply never reached its agent */
    EVT_TASK_TIMEOUT,   /* past its timeout: new_status pending (retried) or timeout */
    EVT_TASK_CANCELLED,
    EVT_GAP, /* the event stream only (ops_feed): events may have been missed before this one */
    EVT_TASK_EXTENDED,     /* its holder moved its deadline (and maybe its progress): task after */
    EVT_TASK_DUE,          /* a waiting task (delayed, scheduled, backed off) became claimable */
    EVT_TASK_RETRIED,      /* retried by hand: failed/timeout/cancelled -> pending */
    EVT_QUOTA_PAUSED,      /* a provider quota paused by a 429's retry time (quota_id, until) */
    EVT_QUOTA_RESUMED,     /* its pause is over */
    EVT_QUOTA_CONCURRENCY, /* its concurrency limit changed (an AIMD cut, or grown back) */
    EVT_KIND_COUNT
};

/* Everything is borrowed for the duration of the callback. Statuses are enum cp_agent_status
 * for agent events, enum cp_task_status for task events, enum cp_health for EVT_AGENT_HEALTH;
 * -1 where not known (a store of an ABI older than 2.4 does not report the status before). */
struct domain_event {
    int kind;    /* enum domain_event_kind */
    uint64_t id; /* its number in the event stream (ops_feed); 0 before it is numbered */
    int64_t at_ms;
    const char *agent_id;  /* the agent concerned (task events: the agent that held it), or NULL */
    const char *task_id;   /* task events, else NULL */
    const char *task_type; /* task events when known, else NULL */
    int32_t old_status, new_status;
    uint32_t attempt;                  /* task events: the task's attempt after the change */
    int32_t old_circuit, new_circuit;  /* EVT_AGENT_HEALTH (enum cp_circuit), else -1 */
    int32_t priority;                  /* EVT_TASK_SUBMITTED: enum cp_priority, else -1 */
    const struct cp_agent_view *agent; /* the agent after the change, when at hand, or NULL */
    const struct cp_task_view *task;   /* the task after the change, when at hand, or NULL */
    /* EVT_QUOTA_*: the quota, its pause's end (0: none) and concurrency limit (0: none) */
    const char *quota_id;
    int64_t quota_until_ms;
    uint32_t quota_limit;
};

typedef void (*events_cb)(void *arg, const struct domain_event *e);

struct events {
    size_t n;   /* live subscribers */
    size_t cap; /* slots in subs (some may be empty while emitting) */
    struct events_sub {
        events_cb cb;
        void *arg;
    } * subs;
    int emitting;
};

struct events *events_new(void);
void events_free(struct events *ev);
/* Add a subscriber (the same cb/arg pair twice gets every event twice). */
void events_subscribe(struct events *ev, events_cb cb, void *arg);
/* Remove one cb/arg subscription; safe from inside a callback (that subscriber gets no further
 * event, the others still get the current one). 0, or -1 when it was not subscribed. */
int events_unsubscribe(struct events *ev, events_cb cb, void *arg);
/* Hand e to every subscriber, in subscription order. */
void events_emit(struct events *ev, const struct domain_event *e);

/* 1 when someone listens: the only cost ops pays per change when nobody does. */
static inline int events_active(const struct events *ev)
{
    return ev && ev->n != 0;
}

const char *events_kind_name(int kind);

#endif
