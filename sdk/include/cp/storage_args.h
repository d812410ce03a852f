/* cp/storage_args.h — what the host passes to the storage operations (cp/storage.h): filters,
 * claims, transitions, reaping and the 2.4 task operations. Host-filled; members are only
 * appended, zero meaning "as before", so a backend built for an older minor reads a prefix.
 * Included by cp/storage.h; not meant to be included on its own. */
#ifndef CP_STORAGE_ARGS_H
#define CP_STORAGE_ARGS_H

#include "abi.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cp_agent_filter {
    const char *const *capabilities; /* the agent must have every one; sorted, unique */
    uint32_t n_capabilities;
    int32_t status; /* only this enum cp_agent_status, or -1 for any */
#if CP_ABI_TARGET_MINOR >= 4
    /* Since 2.4 (a backend older than 2.4 ignores them; cpd pages its answers itself). */
    const char *after;    /* only agents whose agent_id sorts after this one (strcmp); NULL:
                             from the first */
    uint32_t limit;       /* a page: at most this many in .agents, .next says where the next
                             page starts; 0: every match, in one answer */
    uint32_t health_mask; /* only agents whose health.status h has bit (1u << h) set; 0: any */
#endif
};

struct cp_task_filter {
    int32_t status;        /* enum cp_task_status, or -1 for any */
    const char *task_type; /* or NULL for any */
    uint32_t limit;        /* at most this many in .tasks (newest created first) */
};

struct cp_claim {
    const char *agent_id;
    const char *const *capabilities; /* sorted, unique; NULL = the agent's registered ones */
    uint32_t n_capabilities;
    int64_t now_ms;
#if CP_ABI_TARGET_MINOR >= 4
    /* tenants (2.4): a pending task that waited this long counts one priority band higher
     * (0: never). */
    int64_t aging_ms;
#endif
};

enum cp_transition_kind {
    CP_TR_START = 1, /* claimed -> running */
    CP_TR_COMPLETE,  /* claimed|running -> completed */
    CP_TR_FAIL,      /* claimed|running -> pending (retry) or failed */
    CP_TR_CANCEL,    /* pending|claimed|running -> cancelled */
    CP_TR_RELEASE,   /* claimed -> pending: the claim's reply never reached the agent */
};

struct cp_transition {
    int32_t kind; /* enum cp_transition_kind */
    const char *task_id;
    const char *agent_id;    /* NULL = any; else must be the assigned agent (CONFLICT if not) */
    const char *result_json; /* COMPLETE: JSON text, or NULL for null */
    const char *error;       /* FAIL: message */
    double latency_ms;       /* COMPLETE/FAIL: < 0 = measure now_ms - claimed_at_ms */
    int requeue;             /* FAIL: 1 = retry while retries remain */
    int64_t pass_over_ms;    /* FAIL: how long the failing agent is passed over (30000) */
    uint32_t expect_attempt; /* RELEASE: the attempt that was handed out (CONFLICT if changed) */
    int64_t now_ms;
#if CP_ABI_TARGET_MINOR >= 4
    uint32_t jitter; /* since 2.4, FAIL: a random number for the backoff's jitter */
    /* Since 2.4, COMPLETE/FAIL: what the model call used (usage_set 1), stored on the task and
     * settled against the quota reservation of its claim (docs/fleet.md). */
    int32_t usage_set;
    int64_t usage_input_tokens, usage_output_tokens, usage_cached_tokens;
    /* Since 2.4, FAIL: the provider answered 429 (rate_limited 1): the task returns to pending
     * without a retry counted, and the quotas of its claim pause until now + retry_after_ms
     * (> 0) or cut their concurrency in half (0). */
    int32_t rate_limited;
    int64_t retry_after_ms;
#endif
};

struct cp_reap {
    int64_t now_ms;
    int64_t heartbeat_timeout_ms; /* agents silent this long turn offline */
    int remove_stale;             /* also delete agents silent 3 x heartbeat_timeout_ms */
    int64_t retention_ms;         /* delete terminal tasks completed this long ago */
    uint32_t max_events;          /* do at most about this much work; the host calls again */
    /* Appended in ABI 2.3 (older plugins ignore it): keep at most this many terminal tasks;
     * the oldest (by completed_at) beyond it are deleted whatever their age. 0 = no cap. */
    uint64_t max_terminal;
#if CP_ABI_TARGET_MINOR >= 4
    uint32_t jitter; /* since 2.4: a random number for the backoff's jitter of requeues */
#endif
};

/* The arguments of the 2.4 task operations (host-filled; members are only appended, zero
 * meaning "as before"). */
struct cp_extend {
    const char *task_id;
    const char *agent_id;      /* NULL = any; else must be the assigned agent (CONFLICT if not) */
    int64_t deadline_ms;       /* the new deadline (absolute); 0: now_ms + the task's timeout_ms */
    const char *progress_json; /* a JSON object to store as the progress, or NULL: unchanged */
    int64_t now_ms;
};
struct cp_retry {
    const char *task_id;
    int64_t now_ms;
};
struct cp_purge {
    uint32_t status_mask;    /* CP_TASK_MASK() of terminal statuses; 0 = every terminal one */
    const char *task_type;   /* or NULL for any */
    int64_t ended_before_ms; /* only tasks with completed_at <= this */
    uint32_t limit;          /* delete at most this many (0 = 1000) */
    int64_t now_ms;
};

#if CP_ABI_TARGET_MINOR >= 4
/* A tenant (2.4, tenant_put/tenant_list): its share and, in tenant_list answers, what it has
 * now. A task without a tenant belongs to CP_TENANT_DEFAULT. Grows by appending (size first). */
#define CP_TENANT_DEFAULT "default"
struct cp_tenant_view {
    uint32_t size;
    const char *id;
    uint32_t weight;        /* its share relative to the others' (>= 1; 1 when not configured) */
    uint32_t max_in_flight; /* at most this many claimed/running tasks (0: no limit) */
    int32_t configured;     /* tenant_list: 1 when tenant_put set it, 0 when only its tasks exist */
    uint64_t waiting;       /* tenant_list: claimable pending tasks */
    uint64_t in_flight;     /* tenant_list: claimed/running tasks */
    uint64_t tokens_served; /* tenant_list: tokens charged to it by claims (estimated, then
                               corrected by reported usage) since the backend started */
};
#endif
/* Prompt-cache affinity (since 2.4, affinity_set): remember that agent_id last completed a task
 * with affinity key `key`, for ttl_ms from now_ms (a later set for the same key replaces it). */
#define CP_AFFINITY_KEY_MAX 128   /* bytes of an affinity key */
#define CP_AFFINITY_AGENT_MAX 256 /* bytes of an agent id a backend stores for a key */
struct cp_affinity {
    const char *key;      /* the task's affinity_key: 1..128 bytes of [A-Za-z0-9._:-] */
    const char *agent_id; /* the agent that completed it */
    int64_t ttl_ms;       /* > 0 */
    int64_t now_ms;
};

#ifdef __cplusplus
}
#endif
#endif
