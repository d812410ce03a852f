/* cp/types.h — enums, their names, and the read-only views of agents and tasks that the host
 * and plugins exchange. Views borrow their strings: valid only during the call they are passed
 * to. Times are milliseconds since the epoch; 0 means "unset" (rendered as JSON null).
 *
 * Growth (see abi.h): a minor may append enum values below their capacity (CP_*_CAP), and
 * members at the end of the views. Whoever fills a view sets `size` to sizeof(struct ...) as it
 * was built; the reader reads no member past it. A plugin treats an enum value it does not know
 * as matching no rule (cp_agent_is_available() and cp_claim_allowed() say no); the host never
 * hands a plugin a value appended after the plugin's minor. */
#ifndef CP_TYPES_H
#define CP_TYPES_H

#include <stdint.h>
#include <string.h>

#include "abi.h" /* CP_ABI_TARGET_MINOR decides which appended members the views have */

#ifdef __cplusplus
extern "C" {
#endif

struct cp_quota_scope; /* cp/quota.h */

enum cp_agent_status {
    CP_AGENT_STARTING = 0,
    CP_AGENT_READY,
    CP_AGENT_BUSY,
    CP_AGENT_DRAINING,
    CP_AGENT_OFFLINE,
    CP_AGENT_FAILED,
    CP_AGENT_STATUS_COUNT
};

enum cp_task_status {
    CP_TASK_PENDING = 0,
    CP_TASK_CLAIMED,
    CP_TASK_RUNNING,
    CP_TASK_COMPLETED,
    CP_TASK_FAILED,
    CP_TASK_CANCELLED,
    CP_TASK_TIMEOUT,
    CP_TASK_STATUS_COUNT
};
#define CP_TASK_MASK(s) (1u << (s))

enum cp_priority {
    CP_PRIORITY_CRITICAL = 0,
    CP_PRIORITY_HIGH = 1,
    CP_PRIORITY_NORMAL = 2,
    CP_PRIORITY_LOW = 3,
    CP_PRIORITY_COUNT
};

/* Agent health; CP_HEALTH_CRITICAL only ever describes the whole system. */
enum cp_health {
    CP_HEALTH_HEALTHY = 0,
    CP_HEALTH_DEGRADED,
    CP_HEALTH_UNHEALTHY,
    CP_HEALTH_UNKNOWN,
    CP_HEALTH_CRITICAL,
    CP_HEALTH_COUNT
};

enum cp_circuit { CP_CIRCUIT_CLOSED = 0, CP_CIRCUIT_OPEN, CP_CIRCUIT_HALF_OPEN, CP_CIRCUIT_COUNT };

/* The capacities: within ABI major 2 no enum ever has more values than these, so arrays indexed
 * by an enum that cross the ABI (struct cp_stats_view) are sized by them. *_COUNT is how many
 * values these headers know; it grows with appended values, the capacity never does. */
#define CP_AGENT_STATUS_CAP 16
#define CP_TASK_STATUS_CAP 16
#define CP_PRIORITY_CAP 8
#define CP_HEALTH_CAP 8
#define CP_CIRCUIT_CAP 8
#if !defined(__cplusplus)
_Static_assert(CP_AGENT_STATUS_COUNT <= CP_AGENT_STATUS_CAP, "agent statuses exceed capacity");
_Static_assert(CP_TASK_STATUS_COUNT <= CP_TASK_STATUS_CAP, "task statuses exceed capacity");
_Static_assert(CP_PRIORITY_COUNT <= CP_PRIORITY_CAP, "priorities exceed capacity");
_Static_assert(CP_HEALTH_COUNT <= CP_HEALTH_CAP, "health values exceed capacity");
_Static_assert(CP_CIRCUIT_COUNT <= CP_CIRCUIT_CAP, "circuit states exceed capacity");
#endif

static const char *const cp_agent_status_names[CP_AGENT_STATUS_COUNT] = {
    "starting", "ready", "busy", "draining", "offline", "failed"};
static const char *const cp_task_status_names[CP_TASK_STATUS_COUNT] = {
    "pending", "claimed", "running", "completed", "failed", "cancelled", "timeout"};
static const char *const cp_priority_names[CP_PRIORITY_COUNT] = {"critical", "high", "normal",
                                                                 "low"};
static const char *const cp_health_names[CP_HEALTH_COUNT] = {"healthy", "degraded", "unhealthy",
                                                             "unknown", "critical"};
static const char *const cp_circuit_names[CP_CIRCUIT_COUNT] = {"closed", "open", "half_open"};

/* Index of `s` in `names`, or -1. */
static inline int cp_enum_parse(const char *const *names, int count, const char *s)
{
    for (int i = 0; s && i < count; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}
static inline const char *cp_agent_status_name(int s)
{
    return s >= 0 && s < CP_AGENT_STATUS_COUNT ? cp_agent_status_names[s] : "unknown";
}
static inline const char *cp_task_status_name(int s)
{
    return s >= 0 && s < CP_TASK_STATUS_COUNT ? cp_task_status_names[s] : "unknown";
}
static inline const char *cp_priority_name(int p)
{
    return p >= 0 && p < CP_PRIORITY_COUNT ? cp_priority_names[p] : "unknown";
}
static inline const char *cp_health_name(int h)
{
    return h >= 0 && h < CP_HEALTH_COUNT ? cp_health_names[h] : "unknown";
}
static inline const char *cp_circuit_name(int c)
{
    return c >= 0 && c < CP_CIRCUIT_COUNT ? cp_circuit_names[c] : "unknown";
}
static inline int cp_task_status_is_terminal(int s)
{
    return s == CP_TASK_COMPLETED || s == CP_TASK_FAILED || s == CP_TASK_CANCELLED ||
           s == CP_TASK_TIMEOUT;
}

/* Health and circuit-breaker state of one agent. Decided by the host (core/health.c); a storage
 * backend only stores it and uses `circuit`/`retry_at_ms` to refuse claims while open.
 * Embedded in struct cp_agent_view, so its size is fixed for the whole major: it grows into
 * `reserved`, which writers zero and backends store and return as they got it. */
struct cp_health_view {
    int32_t status; /* enum cp_health */
    int64_t last_check_ms;
    uint32_t consecutive_failures;
    uint32_t consecutive_successes;
    double latency_ms;         /* of the last probe; < 0 when none */
    const char *error;         /* last probe error, or NULL */
    int32_t circuit;           /* enum cp_circuit */
    uint32_t circuit_failures; /* consecutive failures seen by the breaker */
    uint32_t circuit_opens;    /* consecutive re-openings, for the doubling cooldown */
    int64_t opened_at_ms;
    int64_t retry_at_ms; /* when an open circuit turns half_open */
    int64_t reserved[4]; /* zero; a minor may give them a meaning (documented here) */
};

struct cp_agent_view {
    uint32_t size; /* sizeof(struct cp_agent_view) of the writer's build: members beyond it are
                      absent (read as 0/NULL) */
    const char *agent_id;
    const char *const *capabilities; /* sorted ascending (strcmp), unique */
    uint32_t n_capabilities;
    int32_t status; /* enum cp_agent_status */
    const char *model;
    const char *provider;
    const char *metadata_json;     /* a JSON object's text; never NULL */
    const char *health_probe_json; /* the registered probe object's text, or NULL */
    int64_t registered_at_ms;
    int64_t last_heartbeat_ms;
    int64_t last_assigned_ms; /* last claim by this agent; 0 = never */
    uint32_t max_concurrent_tasks;
    uint32_t tasks_in_flight;
    const char *current_task_id; /* most recently claimed task still in flight, or NULL */
    uint64_t tasks_completed;
    uint64_t tasks_failed;
    double latency_sum_ms; /* over finished tasks: avg = sum / count (0 when count is 0) */
    uint64_t latency_count;
    struct cp_health_view health;
#if CP_ABI_TARGET_MINOR >= 4
    /* Since 2.4: when an operator drained the agent (storage agent_drain()), 0 when not
     * drained. While drained its status reads draining unless it is offline or failed. */
    int64_t drained_at_ms;
    /* Since 2.4: the provider scopes the agent declared (quota_scopes, docs/fleet.md), or none.
     * struct cp_quota_scope (cp/quota.h). */
    const struct cp_quota_scope *quota_scopes;
    uint32_t n_quota_scopes;
#endif
};

/* How one attempt at a task ended (struct cp_attempt.outcome). Since 2.4. */
enum cp_attempt_outcome {
    CP_ATTEMPT_FAILED = 0,   /* its agent reported a failure */
    CP_ATTEMPT_TIMEOUT,      /* past its deadline */
    CP_ATTEMPT_OFFLINE,      /* its agent went silent (offline) */
    CP_ATTEMPT_REMOVED,      /* its agent was unregistered or removed (no retry counted) */
    CP_ATTEMPT_CANCELLED,    /* the task was cancelled while held */
    CP_ATTEMPT_COMPLETED,    /* the task completed */
    CP_ATTEMPT_RATE_LIMITED, /* since 2.4: its agent reported the provider's 429 (no retry
                                counted) */
    CP_ATTEMPT_OUTCOME_COUNT
};
static const char *const cp_attempt_outcome_names[CP_ATTEMPT_OUTCOME_COUNT] = {
    "failed",    "timeout",   "agent_offline", "agent_removed",
    "cancelled", "completed", "rate_limited"};
static inline const char *cp_attempt_outcome_name(int o)
{
    return o >= 0 && o < CP_ATTEMPT_OUTCOME_COUNT ? cp_attempt_outcome_names[o] : "unknown";
}

/* One ended attempt at a task (since 2.4): an element of cp_task_view.attempts. Frozen for the
 * major (arrays of it cross the ABI). */
struct cp_attempt {
    const char *agent_id; /* the agent that held it */
    int64_t started_ms;   /* its claimed_at */
    int64_t ended_ms;
    int32_t outcome;   /* enum cp_attempt_outcome */
    const char *error; /* the error it ended with, or NULL */
};
/* A backend keeps at most this many ended attempts per task: the most recent ones. */
#define CP_ATTEMPTS_MAX 32

/* A task's retry backoff (since 2.4): how long a task requeued by a failure waits. */
enum cp_backoff_type {
    CP_BACKOFF_NONE = 0,    /* claimable again at once */
    CP_BACKOFF_FIXED,       /* backoff_ms every time */
    CP_BACKOFF_EXPONENTIAL, /* backoff_ms, doubled per retry, at most backoff_max_ms */
    CP_BACKOFF_TYPE_COUNT
};
static const char *const cp_backoff_type_names[CP_BACKOFF_TYPE_COUNT] = {"none", "fixed",
                                                                         "exponential"};

struct cp_task_view {
    uint32_t size;  /* sizeof(struct cp_task_view) of the writer's build (as in cp_agent_view) */
    const char *id; /* "task_" + 24 lowercase hex digits */
    const char *task_type;
    const char *payload_json;                 /* JSON text; never NULL */
    const char *const *required_capabilities; /* sorted ascending, unique */
    uint32_t n_required;
    int32_t status;   /* enum cp_task_status */
    int32_t priority; /* enum cp_priority */
    int64_t created_at_ms;
    int64_t claimed_at_ms;
    int64_t started_at_ms;
    int64_t completed_at_ms;
    int64_t pending_since_ms;   /* when it (re)entered pending: the FIFO key within a priority */
    const char *assigned_agent; /* or NULL */
    int64_t timeout_ms;
    uint32_t max_retries;
    uint32_t retries;
    uint32_t attempt;
    const char *result_json;       /* or NULL */
    const char *error;             /* or NULL */
    const char *metadata_json;     /* never NULL */
    const char *strategy;          /* selection strategy for this task, or NULL */
    const char *passed_over_agent; /* agent that failed it last, or NULL */
    int64_t passed_over_until_ms;
#if CP_ABI_TARGET_MINOR >= 4
    /* Appended in 2.4. From an older backend they read as 0/NULL, which means "as before". */
    int64_t deadline_at_ms;    /* claimed/running: when it times out (claimed_at + timeout_ms,
                                  moved by task_extend); 0 otherwise */
    int64_t not_before_ms;     /* claimable from then on (delayed, scheduled, backed off); 0 = at
                                  once. Kept after it became claimable, as information */
    const char *progress_json; /* the attempt's last reported progress (a JSON object), or NULL */
    const struct cp_attempt *attempts; /* ended attempts, oldest first; NULL when none */
    uint32_t n_attempts;               /* at most CP_ATTEMPTS_MAX */
    const char *idempotency_key;       /* the key it was submitted with, or NULL */
    int32_t backoff_type;              /* enum cp_backoff_type */
    int32_t backoff_jitter;            /* 1: each delay is drawn from [half of it, all of it] */
    int64_t backoff_ms;                /* the first retry's delay */
    int64_t backoff_max_ms;            /* exponential: the longest delay (0: no cap) */
    /* Since 2.4 (provider quotas, docs/fleet.md): the tokens the task declares it needs
     * (est_tokens; 0: not declared), and what its model call used as the agent reported it
     * with complete or fail (usage; usage_set 0: not reported). */
    int64_t est_input_tokens, est_output_tokens;
    int32_t usage_set;
    int64_t usage_input_tokens, usage_output_tokens, usage_cached_tokens;
    /* tenants (2.4): whose task it is, for fair share; NULL = CP_TENANT_DEFAULT */
    const char *tenant;
    /* Prompt-cache affinity hold (2.4, docs/fleet.md). task_submit only, host-filled: the
     * task's affinity_key and how long to hold it for the agent the store remembers for that
     * key (affinity_hold_ms 0: not held). The submit's result reports a hold by next_due_ms
     * (when it ends). Backends do not report them in views (they read as NULL / 0). */
    const char *affinity_key;
    int64_t affinity_hold_ms;
#endif
};

#ifdef __cplusplus
}
#endif
#endif
