/* cp/storage_feed.h — the change feed's records (storage op feed(), since 2.4). Included by
 * cp/storage.h; not meant to be included on its own. */
#ifndef CP_STORAGE_FEED_H
#define CP_STORAGE_FEED_H

#include <stdint.h>

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The change feed (since 2.4, feed()): what an operation of any process sharing the backend
 * changed, one record per change, for the host's event stream. Statuses are enum
 * cp_agent_status for agent changes, enum cp_task_status for task changes, enum cp_health for
 * CP_CHANGE_AGENT_HEALTH; -1 where not applicable. */
enum cp_change_kind {
    CP_CHANGE_GAP = 0,            /* changes may have been missed here (the feed's connection
                                     was lost and is back): a reader reloads what it shows */
    CP_CHANGE_AGENT_REGISTERED,   /* new_status ready; old_status: before a re-registration,
                                     -1 for a new agent */
    CP_CHANGE_AGENT_UNREGISTERED, /* old_status: its status when it was deleted */
    CP_CHANGE_AGENT_STATUS,       /* old_status -> new_status, whatever the cause (heartbeat,
                                     claim, end of a task, health, offline) */
    CP_CHANGE_AGENT_REMOVED,      /* silent for 3 x heartbeat timeout: deleted by a reap */
    CP_CHANGE_AGENT_HEALTH,       /* health old_status -> new_status and/or circuit
                                     old_circuit -> new_circuit changed */
    CP_CHANGE_TASK_SUBMITTED,     /* new_status pending */
    CP_CHANGE_TASK_CLAIMED,       /* agent_id: the claimer */
    CP_CHANGE_TASK_STARTED,
    CP_CHANGE_TASK_COMPLETED,
    CP_CHANGE_TASK_FAILED,   /* a failure report: new_status pending (retried) or failed */
    CP_CHANGE_TASK_REQUEUED, /* back to pending: its agent went offline, was unregistered or
                                removed */
    CP_CHANGE_TASK_RELEASED, /* back to pending: the claim's reply never reached its agent */
    CP_CHANGE_TASK_TIMEOUT,  /* past its timeout: new_status pending (retried) or timeout */
    CP_CHANGE_TASK_CANCELLED,
    CP_CHANGE_TASK_EXTENDED, /* its holder moved its deadline (and maybe its progress) */
    CP_CHANGE_TASK_DUE,      /* a waiting task (delayed, scheduled, backed off) became claimable */
    CP_CHANGE_TASK_RETRIED,  /* retried by hand: old_status failed/timeout/cancelled -> pending */
    CP_CHANGE_QUOTA_PAUSED,  /* provider quota quota_id paused until quota_until_ms (a 429) */
    CP_CHANGE_QUOTA_RESUMED, /* its pause ended */
    CP_CHANGE_QUOTA_CONCURRENCY, /* its concurrency limit is now quota_limit (AIMD; 0: none) */
    CP_CHANGE_KIND_COUNT
};
struct cp_change {
    uint32_t size; /* sizeof(struct cp_change) of the backend's build */
    int32_t kind;  /* enum cp_change_kind; the host skips kinds it does not know */
    uint64_t seq;  /* the change's place in the backend's order: increasing, the same number in
                      every process (ids of the event stream); see feed() */
    int64_t at_ms; /* when it was made (the clock of the process that made it) */
    const char *agent_id;  /* the agent concerned (task changes: the task's agent), or NULL */
    const char *task_id;   /* task changes, else NULL */
    const char *task_type; /* task changes, else NULL */
    int32_t old_status, new_status;
    int32_t old_circuit, new_circuit; /* CP_CHANGE_AGENT_HEALTH (enum cp_circuit), else -1 */
    uint32_t attempt;                 /* task changes: the task's attempt after the change */
    int32_t priority;                 /* CP_CHANGE_TASK_SUBMITTED: enum cp_priority, else -1 */
    /* quota changes (CP_CHANGE_QUOTA_*), else NULL / 0: the quota, its pause's end, its
     * concurrency limit after the change. The host reads them only when `size` covers them. */
    const char *quota_id;
    int64_t quota_until_ms;
    uint32_t quota_limit;
};

#ifdef __cplusplus
}
#endif
#endif
