/* cp/storage.h — the storage plugin kind: where agents and tasks live.
 *
 * A backend offers atomic *domain* operations, not get/put: several cpd processes may share one
 * backend (Redis), so every rule that reads-then-writes shared state runs inside the backend in
 * one step (one Lua script on Redis, one function call in memory). The host decides everything
 * else (validation, health, breakers, selection among held claimers, HTTP).
 *
 * Every operation is asynchronous: it takes a completion callback and a cookie. The memory
 * backend calls the callback before returning; Redis calls it when the reply arrives. The
 * callback is called exactly once per operation, also on errors (rc < 0), and also from
 * destroy() for operations still in flight (rc = CP_ERR_UNAVAILABLE).
 * Everything reachable from the struct cp_result is borrowed: valid only until the callback
 * returns. Everything the host passes in is borrowed until the operation function returns
 * (the backend copies what it keeps).
 *
 * Sizes: every struct a backend fills and hands back (cp_result and what it points to) carries
 * `size` first: set it to sizeof(struct ...) as built. The host reads nothing past it, which is
 * how a backend built for an older minor keeps working in a newer host (see abi.h). Arrays of
 * structs (cp_result.events) have one size for all their elements.
 *
 * Errors in cp_result.rc: 0, CP_ERR_NOT_FOUND, CP_ERR_CONFLICT (with .task or .agent holding the
 * current state and .message naming it), CP_ERR_INVALID, CP_ERR_NOMEM, CP_ERR_UNAVAILABLE (the
 * backend is unreachable and nothing was changed).
 *
 * The conformance suite (tests/conformance, `cp-storage-conformance path/to/backend.so`)
 * checks every rule written below; run it against your own backend.
 */
#ifndef CP_STORAGE_H
#define CP_STORAGE_H

#include "plugin.h"
#include "quota.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A counter keyed by name (capability, provider, task type). Frozen for the major (arrays of it
 * cross the ABI). */
struct cp_count {
    const char *name;
    uint64_t count;
};

/* Counters for /stats, kept up to date by every operation (never computed by a scan).
 * The by-enum arrays have room for every value the major may ever have (CP_*_CAP); n_* says how
 * many leading entries the backend filled — its CP_*_COUNT — and the host reads entries at or
 * past n_* as 0. */
struct cp_stats_view {
    uint32_t size; /* sizeof(struct cp_stats_view) of the backend's build */
    uint32_t n_agents_by_status;
    uint32_t n_agents_by_health;
    uint32_t n_tasks_by_status;
    uint32_t n_tasks_by_priority;
    uint64_t agents_total;
    uint64_t agents_available; /* see cp_agent_is_available() */
    uint64_t agents_by_status[CP_AGENT_STATUS_CAP];
    uint64_t agents_by_health[CP_HEALTH_CAP];
    uint64_t circuits_open; /* agents whose health.circuit is CP_CIRCUIT_OPEN */
    const struct cp_count *agents_by_capability;
    size_t n_agents_by_capability;
    const struct cp_count *agents_by_provider;
    size_t n_agents_by_provider;
    uint64_t tasks_total; /* every stored task, terminal ones until retention deletes them */
    uint64_t tasks_by_status[CP_TASK_STATUS_CAP];
    uint64_t tasks_by_priority[CP_PRIORITY_CAP];
    const struct cp_count *tasks_by_type;
    size_t n_tasks_by_type;
};

/* What an operation did besides its main effect, for the host to react to (wake held claimers,
 * feed circuit breakers, stop probes, count metrics). The host ignores kinds it does not know. */
enum cp_event_kind {
    CP_EVENT_TASK_REQUEUED = 1, /* task back to pending (offline/unregistered agent, timeout) */
    CP_EVENT_TASK_TIMEOUT,      /* claimed/running past its timeout; task_status: pending|timeout */
    CP_EVENT_AGENT_OFFLINE,     /* agent silent for heartbeat_timeout_ms: now offline */
    CP_EVENT_AGENT_REMOVED,     /* agent silent for 3 x heartbeat_timeout_ms: deleted */
    CP_EVENT_TASK_DELETED,      /* terminal task older than retention: deleted */
    CP_EVENT_TASK_DUE,          /* since 2.4: a delayed task's not_before came: claimable now */
};
struct cp_event {
    uint32_t size;         /* sizeof(struct cp_event) of the backend's build; the same for every
                              event of one result (the array's stride) */
    int32_t kind;          /* enum cp_event_kind */
    const char *agent_id;  /* the agent concerned (for task events: the agent that held it) */
    const char *task_id;   /* or NULL */
    const char *task_type; /* or NULL */
    int32_t task_status;   /* status after the event, or -1 */
    const char *const *required_capabilities; /* of the task, for waking claimers */
    uint32_t n_required;
#if CP_ABI_TARGET_MINOR >= 1
    const char *strategy; /* since 2.1: the task's selection strategy, or NULL */
#endif
#if CP_ABI_TARGET_MINOR >= 4
    /* Since 2.4: the status before the event (of the task for task events, of the agent for
     * agent events), or -1 when not known; the task's attempt after it (task events). From an
     * older backend they read as -1 and 0. */
    int32_t status_before;
    uint32_t attempt;
#endif
};

struct cp_result {
    uint32_t size; /* sizeof(struct cp_result) of the backend's build */
    int rc;
    const char *message;               /* detail when rc != 0, or NULL */
    int created;                       /* agent_register: 1 new agent, 0 re-registered */
    const struct cp_agent_view *agent; /* the agent after the operation, or NULL */
    const struct cp_task_view *task;   /* the task after the operation (current one on conflict) */
    const struct cp_agent_view *const *agents; /* agent_list */
    size_t n_agents;
    const struct cp_task_view *const *tasks; /* task_list */
    size_t n_tasks;
    uint64_t total; /* list operations: how many matched before `limit` was applied */
    const struct cp_stats_view *stats; /* stats */
    const struct cp_event *events;     /* reap, agent_unregister */
    size_t n_events;
#if CP_ABI_TARGET_MINOR >= 2
    /* Since 2.2: when rc is CP_ERR_UNAVAILABLE, whether the operation may have taken effect
     * (enum cp_outcome; 0 = not applied, as before). */
    int32_t outcome;
#endif
#if CP_ABI_TARGET_MINOR >= 4
    /* Since 2.4: what .agent and .task were before the operation, for a host that reports
     * changes (the event stream). agent_status_before is meaningful when `before` has
     * CP_BEFORE_AGENT, task_status_before when it has CP_BEFORE_TASK (the rules below say
     * which operations set them); 0 = neither reported (also from an older backend). */
    uint32_t before;
    int32_t agent_status_before; /* enum cp_agent_status */
    int32_t task_status_before;  /* enum cp_task_status */
    /* Since 2.4. reap: the earliest not_before of a task still waiting for it after this reap
     * (0: none), so the host can wake at that moment. task_purge: 1 when tasks that match may
     * remain (the call stopped at its limit or its scan budget); 0 when none do. */
    int64_t next_due_ms;
    int32_t more;
    /* Since 2.4: agent_list with a limit: the agent_id to pass as `after` for the next page, or
     * NULL when no agent past this page matches. */
    const char *next;
    /* Since 2.4. task_complete_next: the claim's result (as task_claim answers it) when the
     * transition succeeded, else NULL. Borrowed like the rest. */
    const struct cp_result *next_claim;
    /* Since 2.4 (provider quotas). task_claim: 1 when the agent's quotas kept it from taking a
     * task (then next_due_ms: when room returns by the clock — a window's use leaving it, a
     * pause ending — or 0 when only a task leaving its holder makes room). quota_list: the
     * quotas. */
    int32_t quota_held;
    const struct cp_quota_view *const *quotas;
    size_t n_quotas;
    /* Since 2.4. tenant_list: every tenant configured or having tasks, by id. */
    const struct cp_tenant_view *const *tenants;
    size_t n_tenants;
    /* Since 2.4. affinity_get: the agent remembered for the key, or NULL when none (never set,
     * or its TTL passed). */
    const char *affinity_agent;
#endif
};
#define CP_BEFORE_AGENT 1u
#define CP_BEFORE_TASK 2u

/* What a failed (CP_ERR_UNAVAILABLE) operation may have done, for a caller that reconciles. */
enum cp_outcome {
    CP_OUTCOME_NOT_APPLIED = 0, /* never reached the backend, or refused there: nothing changed */
    CP_OUTCOME_UNKNOWN = 1,     /* sent, but the reply was lost (connection dropped, hung) */
    CP_OUTCOME_UNCONFIRMED = 2, /* applied on the primary, not confirmed by replicas in time:
                                   a failover may still undo it */
};

typedef void (*cp_storage_cb)(void *cookie, const struct cp_result *res);

/* A backend's connection state (since 2.2: ops version 2, status()). Starts with its size so it
 * can grow: members are only appended, and a reader uses only those within `size`. */
struct cp_storage_status {
    uint32_t size;
    int32_t up;          /* 1: operations can reach the backend now */
    char mode[16];       /* e.g. "standalone", "sentinel", "cluster"; "" when not applicable */
    char address[272];   /* the server being used now ("host:port"), "" when none */
    uint64_t reconnects; /* connections re-made after a loss */
    uint64_t failovers;  /* moves to a different primary (Sentinel switch, Cluster failover) */
    uint64_t redirects;  /* MOVED redirections followed */
    uint64_t unconfirmed_writes; /* writes answered CP_OUTCOME_UNCONFIRMED */
};

/* The change feed's records (enum cp_change_kind, struct cp_change). */
#include "storage_feed.h"

/* The arguments of the operations (filters, claims, transitions, reaping, 2.4 task ops). */
#include "storage_args.h"

/* The delay before a task requeued by its `retries`-th failure becomes claimable (since 2.4):
 * FIXED: base_ms; EXPONENTIAL: base_ms * 2^(retries - 1), at most max_ms (0: no cap). With
 * jitter, a value in [half of it, all of it] chosen by rnd (a uniform 32-bit number). Written
 * once here; Redis' backoff_ms() in common.lua mirrors it. */
static inline int64_t cp_backoff_delay_ms(int32_t type, int64_t base_ms, int64_t max_ms,
                                          int32_t jitter, uint32_t retries, uint32_t rnd)
{
    if (base_ms <= 0 || retries == 0) return 0;
    int64_t d = base_ms;
    if (type == CP_BACKOFF_EXPONENTIAL) {
        for (uint32_t i = 1; i < retries && (max_ms <= 0 || d < max_ms) && d < INT64_MAX / 4; i++)
            d *= 2;
        if (max_ms > 0 && d > max_ms) d = max_ms;
    } else if (type != CP_BACKOFF_FIXED) {
        return 0;
    }
    if (jitter) d = d - d / 2 + (int64_t)((double)(d / 2) * ((double)rnd / 4294967296.0));
    return d;
}
/* The random number for the k-th requeue of one operation (0, 1, ...) from the host's seed. */
static inline uint32_t cp_jitter_mix(uint32_t seed, uint32_t k)
{
    return (uint32_t)(seed + k * 2654435761u);
}

/*
 * The rules every backend implements (the conformance suite checks each one):
 *
 * Status. An agent's status is set by the agent (register: ready; heartbeat), by the host
 * (health: failed and back), by the reaper (offline), by claims (busy at the maximum) and, since
 * 2.4, by an operator's drain. Besides its status a backend keeps two things (each backend in
 * its own way; only drained_at is in the view):
 *   - reported: the status the agent itself reported last (register and an offline agent's
 *     plain heartbeat: ready);
 *   - drained_at: when an operator drained it (agent_drain), 0 when not drained.
 * Wherever the rules below say "resolved", a status `s` becomes: offline or failed as it is;
 * else draining while drained_at != 0; else s, and ready with tasks_in_flight >=
 * max_concurrent_tasks becomes busy. So an operator's drain outlasts heartbeats (until
 * agent_drain(.., 0, ..)), while liveness and a failing probe still show through it.
 * An agent that is busy — at its maximum, or because it reported busy — may not claim (see
 * cp_claim_allowed()); a self-reported busy stays busy until it reports otherwise.
 *
 * agent_register(in): in carries agent_id, capabilities, model, provider, metadata_json,
 *   health_probe_json, max_concurrent_tasks (other members ignored). New id: stored with status
 *   ready, registered_at = last_heartbeat = now, counters 0, health {unknown, circuit closed},
 *   not drained; .created = 1. Existing id: those fields replaced, counters, registered_at,
 *   health and drained_at kept, status ready resolved, last_heartbeat = now; .created = 0.
 *   Either way reported = ready. .agent = the stored agent.
 *   Health without a probe: an agent whose health_probe_json is NULL has health.status healthy
 *   while not offline and unhealthy while offline; the backend keeps it so on every status
 *   change (and in the counters). An agent with a probe starts unknown; the host sets it.
 * agent_get(id): .agent, or NOT_FOUND.
 * agent_list(filter): every agent matching, sorted by agent_id; .total = n_agents.
 *   Since 2.4: with filter.after, only agents whose agent_id is greater (strcmp) than it — an id
 *   that need not exist. With filter.health_mask, only agents whose health.status has its bit
 *   set. With filter.limit > 0 the answer is a page: at most limit agents, and .next = the
 *   agent_id to continue after (the last one the backend examined), or NULL when nothing past
 *   the page matches. A page may hold fewer than limit agents (even none) while .next is set:
 *   a backend bounds its work per call (it may stop after examining limit candidates when the
 *   filter is applied after reading records); following .next until NULL lists every match
 *   exactly once, in order. A .next that leads to an empty last page is allowed.
 * agent_heartbeat(id, status, now): NOT_FOUND if unknown. last_heartbeat = now. status -1: an
 *   offline agent returns to ready (reported = ready). status >= 0 (never offline; the host
 *   refuses it): reported = status, and the agent takes it. Except: an agent with a
 *   health_probe_json whose health.status is unhealthy and that is failed or offline becomes
 *   (stays) failed, whatever status it sends (its probe decides, not its heartbeat). The new
 *   status is resolved (drained: draining).
 * agent_unregister(id, now): NOT_FOUND if unknown. Deletes it; each of its claimed/running tasks
 *   returns to pending with assignment cleared, retries unchanged, pending_since = now (no
 *   backoff), its attempt added as REMOVED (2.4); one CP_EVENT_TASK_REQUEUED event each.
 * agent_set_health(id, health, status, expect_status): NOT_FOUND if unknown. Stores health
 *   (whole). When status >= 0 and (expect_status < 0 or the current status == expect_status)
 *   the agent's status becomes `status`, resolved.
 * agent_drain(id, drain, now) (since 2.4, ops version 4): NOT_FOUND if unknown. drain 1:
 *   drained_at = now unless already drained (the first drain's time is kept); the status is
 *   resolved (draining unless offline or failed). drain 0: drained_at = 0; a draining status
 *   becomes the reported status, resolved. Tasks the agent holds are not touched.
 *   .created = 1 when drained_at changed (0 for a repeated drain or undrain). .agent = after.
 *
 * task_submit(task): stores the task as given (the host fills every member; status pending,
 *   pending_since = created_at). CONFLICT if the id exists. Since 2.4:
 *   - not_before_ms > created_at: the task waits (pending, but not claimable) until a reap at
 *     now >= not_before_ms makes it due; then pending_since = not_before_ms (it queues behind
 *     the tasks that became pending before that moment). Otherwise it is claimable at once.
 *   - idempotency_key: when a stored task has that key, nothing is stored and rc 0 answers
 *     that task (.created 0; the host tells it by its id). Else the task is stored with the key
 *     (.created 1). The key is forgotten when its task is deleted (retention, cap, purge).
 *   - backoff_*, attempts (must be none), deadline, progress: kept as given where they apply.
 * task_get(id): .task, or NOT_FOUND.
 * task_list(filter): matching tasks, newest created first, at most limit; .total = all matching.
 * task_claim(claim): NOT_FOUND if the agent is unknown. last_heartbeat = now (always). The agent
 *   may claim when status is ready, tasks_in_flight < max_concurrent_tasks, and its circuit is
 *   not open (open with retry_at <= now counts as half_open, which may claim). Otherwise, or
 *   when nothing matches, rc 0 with .task NULL and .agent set. Candidates: pending tasks whose
 *   required_capabilities are a subset of the claim's capabilities, skipping those whose
 *   passed_over_agent is this agent while now < passed_over_until. The best is the lowest
 *   priority number, then the earliest pending_since, then the earliest arrival in pending.
 *   It becomes claimed: assigned_agent, claimed_at = now, started_at = 0, attempt + 1,
 *   deadline_at = now + timeout_ms (2.4; 0 when timeout_ms <= 0), progress none. A waiting
 *   task (not_before in the future, not yet due) is never a candidate. The
 *   agent: tasks_in_flight + 1, current_task_id, last_assigned = now, busy when in flight
 *   reaches max_concurrent_tasks. Cost: no scan of all pending tasks (index by capability set).
 *   Affinity holds (2.4, optional for a backend): a task submitted (task_submit, claimable at
 *   once) with affinity_key and affinity_hold_ms > 0, whose key the affinity memory names an
 *   agent for (affinity_get at created_at), is held for that agent until created_at +
 *   affinity_hold_ms when the agent is registered with the task's capabilities, its status is
 *   starting, ready or busy, its health is not unhealthy, its circuit is not open (past
 *   retry_at counts as closed) and its tasks in flight plus the tasks still held for it are
 *   fewer than 2 x max_concurrent_tasks; the submit answers next_due_ms = the hold's end (0:
 *   not held). While held, claims by other agents skip the task (rc 0 with .task NULL and
 *   next_due_ms = the earliest end of a hold skipped, when they found nothing else); the
 *   agent's own claim takes its held tasks first (best first by the order above, among those
 *   it may claim), before any other task. A hold ends when it expires or its task leaves
 *   pending; it is never renewed.
 * task_transition(tr):
 *   NOT_FOUND if the task is unknown. CONFLICT when the task's status is not one the kind
 *   allows, or tr.agent_id is set and is not the assigned agent (or the task has none).
 *   When the task leaves claimed/running, its assigned agent (if still registered):
 *   tasks_in_flight - 1; current_task_id cleared if it was this task; busy -> ready when below
 *   max_concurrent_tasks, unless busy is what it reported; last_heartbeat = now when tr.agent_id
 *   is that agent.
 *   START: claimed -> running, started_at = now.
 *   COMPLETE: -> completed, result, completed_at = now. Agent: tasks_completed + 1, latency
 *     sum/count += latency (measured from claimed_at when tr.latency_ms < 0).
 *   FAIL: retries + 1, error kept. Agent: tasks_failed + 1, latency as COMPLETE. When
 *     tr.requeue and retries < max_retries: -> pending, assigned_agent/claimed_at/started_at
 *     cleared, pending_since = now, and — when another registered agent that is not offline,
 *     failed or draining has every required capability — passed_over_agent = the failing agent
 *     until now + pass_over_ms. Otherwise -> failed, completed_at = now.
 *     Since 2.4, the attempt is added to attempts (outcome FAILED, the error, ended now;
 *     the oldest dropped beyond CP_ATTEMPTS_MAX) and the progress cleared on requeue; a requeue
 *     waits for its backoff: delay = cp_backoff_delay_ms(backoff..., retries,
 *     cp_jitter_mix(tr.jitter, 0)); delay > 0: not_before = now + delay and the task waits as a
 *     delayed submit does (pending_since = not_before), else not_before = 0.
 *   CANCEL: pending|claimed|running -> cancelled, completed_at = now (no agent counters). A held
 *     task's attempt is added to attempts (CANCELLED, since 2.4); a waiting one stops waiting.
 *   RELEASE: claimed with attempt == expect_attempt -> pending, attempt - 1, assignment cleared,
 *     pending_since and its place unchanged (front of its band). No agent counters but in flight.
 *   .task = the task after; .agent = the assigned agent after (NULL if none or unregistered).
 * reap(r): at most about max_events of work, oldest first:
 *   - claimed/running tasks with deadline_at <= now (2.4; claimed_at + timeout_ms before):
 *     retries + 1, error "timeout"; pending (as FAIL with requeue, no pass-over) while
 *     retries < max_retries, else status timeout with completed_at = now. Agent:
 *     tasks_in_flight - 1, tasks_failed + 1. Event CP_EVENT_TASK_TIMEOUT (agent_id = the
 *     holder, task_status after). Attempt TIMEOUT; a requeue waits for its backoff as FAIL's
 *     does (the k-th requeue of this reap uses cp_jitter_mix(r.jitter, k)).
 *   - agents not offline with last_heartbeat + heartbeat_timeout_ms <= now: status offline,
 *     event CP_EVENT_AGENT_OFFLINE; each of their claimed/running tasks is requeued like a
 *     failure with error "agent offline" (retries + 1; pending while retries < max_retries,
 *     else failed): CP_EVENT_TASK_REQUEUED when pending. Attempt OFFLINE, backoff as timeouts.
 *   - remove_stale: agents with last_heartbeat + 3 x heartbeat_timeout_ms <= now are deleted
 *     (their tasks requeued as unregister does): CP_EVENT_AGENT_REMOVED.
 *   - (2.4) waiting tasks with not_before <= now become due: claimable, pending_since =
 *     not_before, earliest first; CP_EVENT_TASK_DUE each. .next_due_ms = the earliest
 *     not_before of a task still waiting (0: none).
 *   - terminal tasks with completed_at + retention_ms <= now are deleted: CP_EVENT_TASK_DELETED.
 *   - max_terminal > 0: while more than max_terminal terminal tasks are stored, the oldest
 *     (earliest completed_at) is deleted as retention does: CP_EVENT_TASK_DELETED.
 *   Found through indexes ordered by deadline — never a scan of every task or agent.
 * stats(): .stats.
 *
 * Since 2.4, a successful operation also says what it changed from (cp_result.before):
 *   CP_BEFORE_AGENT with agent_status_before: agent_register of an existing agent,
 *   agent_heartbeat, agent_unregister, agent_set_health, task_claim (the claimer), and
 *   task_transition when .agent is set (the status of that agent before);
 *   CP_BEFORE_TASK with task_status_before: task_claim when it claimed a task (pending),
 *   task_transition. Each cp_event of reap and agent_unregister has status_before.
 * Since 2.4 (ops version 4; each may be NULL: the host then reports the feature as not
 * supported):
 * task_extend(x): NOT_FOUND, or CONFLICT (with .task) unless the task is claimed/running and
 *   (x.agent_id NULL or) assigned to x.agent_id. deadline_at = x.deadline_ms, or now +
 *   timeout_ms when it is 0 (the timeout rule of reap uses it; timeout_ms <= 0: no deadline);
 *   progress_json = x.progress_json unless NULL. The assigned agent's
 *   last_heartbeat = now when x.agent_id is that agent. .task after, .agent the holder.
 * task_retry(r): NOT_FOUND, or CONFLICT (with .task) unless the task is failed, timeout or
 *   cancelled. It returns to pending as a new arrival: retries 0, assignment, claimed_at,
 *   started_at, completed_at, result, error, progress, pass-over and not_before cleared,
 *   pending_since = now; attempts kept. .task after.
 * task_purge(p): deletes terminal tasks whose status is in p.status_mask (0: any terminal) and
 *   type is p.task_type (NULL: any) with completed_at <= p.ended_before_ms, oldest first, at
 *   most p.limit, looking at no more than about 10 x limit terminal tasks (bounded work per
 *   call). One CP_EVENT_TASK_DELETED each (as retention's); .more = 1 when matching tasks may
 *   remain. Their idempotency keys are forgotten.
 * task_submit_batch(tasks, n): task_submit for each, in order, as one operation (one round
 *   trip, one script on Redis). rc 0: .tasks[i] is item i's task, the stored one or the one
 *   found by its idempotency key (an earlier item of the same batch included); .n_tasks = n.
 *   rc < 0: nothing stored (validation fails every item before anything is stored), except
 *   CP_ERR_NOMEM in memory, where the first .n_tasks items may have been stored.
 * Provider quotas (since 2.4; cp/quota.h, docs/fleet.md). The quotas of an agent are those
 *   that cp_quota_covers() its provider, model and quota_scopes. task_claim, when the agent may
 *   claim and has quotas: none may be paused (paused_until > now), at its concurrency
 *   (concurrency_limit, else max_in_flight) or out of requests (requests_used + 1 > rpm);
 *   then the best task (as without quotas) must fit the tokens of every quota
 *   (tokens_used + cp_quota_task_tokens(est) <= tpm; a task larger than tpm fits an empty
 *   window only). Otherwise nothing is claimed and .quota_held = 1 with .next_due_ms. A claim
 *   reserves one request and the task's tokens in the current second's bucket of each, in
 *   flight + 1, in the same step. When the task leaves its holder (any way): in flight - 1 on
 *   the quotas it reserved on, and when the transition carried usage (usage_set), the
 *   reservation's bucket (if still in the window) is corrected by input + output - reserved
 *   (never below 0). COMPLETE grows a cut concurrency_limit by one (at max_in_flight, or the
 *   level before the cut, the cut ends: 0). FAIL with rate_limited: no retry and no failure
 *   counted, attempt RATE_LIMITED, the task back to pending; the quotas it reserved on count
 *   the 429 and, with retry_after_ms > 0, pause until now + retry_after_ms (the later of two
 *   pauses), else cut their concurrency to half of what it was (at least 1). When none of its
 *   quotas took the pause the task itself waits retry_after_ms (not_before), else it is
 *   claimable at once by agents under other quotas.
 * quota_put(q): stores the definition (id, scope, rpm, tpm, max_in_flight); an existing id
 *   keeps its live state (.created 0), a new one starts empty (.created 1). INVALID without
 *   id or scope.provider. .quotas = {the quota}.
 * quota_delete(id): NOT_FOUND, or deleted (reservations on it are forgotten).
 * quota_list(now): every quota with its live state as of now, sorted by id.
 * task_complete_next(tr, next): task_transition(tr) (tr.kind COMPLETE or FAIL, else INVALID)
 *   and, only when it succeeded, task_claim(next) in the same atomic step (one script on
 *   Redis): nothing can happen between the two that could not happen between two calls, and
 *   each part follows its own rules exactly. The result is the transition's (rc, .task, .agent
 *   after the transition, before) with .next_claim = the claim's result (its own rc, .task,
 *   .agent, before), or .next_claim NULL when the transition failed (then no claim was made).
 * Tenants (2.4, with tenant_put/tenant_delete/tenant_list): every task belongs to a tenant
 *   (cp_task_view.tenant; NULL = CP_TENANT_DEFAULT). task_claim serves the best effective band
 *   first (priority, one band higher once the task has been pending claim.aging_ms); within
 *   a band, among tenants with a claimable task for this agent and fewer claimed/running tasks
 *   than their max_in_flight, the least service in that band (tokens charged there / weight;
 *   back from idle in a band, a tenant starts at the service being served there), then the
 *   lower tenant id, then the oldest. A claim charges, in its effective band, the task's
 *   est_input_tokens + est_output_tokens (1 when both are 0); a COMPLETE or FAIL with usage_set
 *   corrects it to the usage (in+out), a rate_limited FAIL without usage to 0. tenant_put(t): sets
 * t.id's weight (0 reads as 1) and max_in_flight (INVALID on an empty id); .tenants[0] after.
 *   tenant_delete(id): NOT_FOUND unless put; back to weight 1, no limit. tenant_list: .tenants.
 */
struct cp_storage_ops {
    CP_OPS_HEADER;

    void (*agent_register)(void *st, const struct cp_agent_view *in, int64_t now_ms,
                           cp_storage_cb cb, void *cookie);
    void (*agent_get)(void *st, const char *agent_id, cp_storage_cb cb, void *cookie);
    void (*agent_list)(void *st, const struct cp_agent_filter *filter, cp_storage_cb cb,
                       void *cookie);
    void (*agent_heartbeat)(void *st, const char *agent_id, int32_t status, int64_t now_ms,
                            cp_storage_cb cb, void *cookie);
    void (*agent_unregister)(void *st, const char *agent_id, int64_t now_ms, cp_storage_cb cb,
                             void *cookie);
    void (*agent_set_health)(void *st, const char *agent_id, const struct cp_health_view *health,
                             int32_t status, int32_t expect_status, cp_storage_cb cb, void *cookie);

    void (*task_submit)(void *st, const struct cp_task_view *task, cp_storage_cb cb, void *cookie);
    void (*task_get)(void *st, const char *task_id, cp_storage_cb cb, void *cookie);
    void (*task_list)(void *st, const struct cp_task_filter *filter, cp_storage_cb cb,
                      void *cookie);
    void (*task_claim)(void *st, const struct cp_claim *claim, cp_storage_cb cb, void *cookie);
    void (*task_transition)(void *st, const struct cp_transition *tr, cp_storage_cb cb,
                            void *cookie);

    void (*reap)(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie);
    void (*stats)(void *st, cp_storage_cb cb, void *cookie);

    /* Optional (may be NULL). Tells the host about changes it did not make itself — by *other*
     * processes sharing this backend, or by the backend on its own (e.g. Redis releasing the
     * claims whose replies were lost): kind "pending" (a task became claimable; id = task id),
     * "done" (a task became terminal; id = task id) or "room" (an agent's status changed or
     * its tasks in flight went down, so a claim waiting for it to have room may now claim;
     * id = agent id). Unknown kinds are ignored. Called on the host's loop. */
    void (*watch)(void *st, void (*on_change)(void *arg, const char *kind, const char *id),
                  void *arg);
    /* Optional (may be NULL = always reachable): 1 when the backend is reachable now. */
    int (*is_available)(void *st);

#if CP_ABI_TARGET_MINOR >= 2
    /* Since 2.2 (ops version 2). Optional (may be NULL): the backend's connection state for
     * /health, /stats, /metrics. Synchronous and cheap (no I/O). The caller sets out->size to
     * sizeof(*out) as it knows it; the backend fills at most that many bytes and sets
     * out->size to what it filled. */
    void (*status)(void *st, struct cp_storage_status *out);
#endif
#if CP_ABI_TARGET_MINOR >= 3
    /* Since 2.3 (ops version 3). Optional (may be NULL): check this plugin's options
     * (host->option) as create() would, without connecting anywhere or keeping anything;
     * `cpd --check-config` calls it instead of create(). 0, or CP_ERR_INVALID with err->msg
     * naming the option. */
    int (*validate_options)(const struct cp_host *host, struct cp_err *err);
#endif
#if CP_ABI_TARGET_MINOR >= 4
    /* Since 2.4 (ops version 4). Optional (may be NULL: the backend has no feed of its own, and
     * the host reports the changes it makes itself — all of them when no other process shares
     * the backend). on = 1: from now on, call on_change on the host's loop for every change any
     * process sharing the backend makes (this one's included), in the backend's order, each
     * with a `seq` greater than the last; CP_CHANGE_GAP when changes may have been missed.
     * on = 0: stop (on_change is not called after this returns). The change is borrowed for
     * the call. A backend may cost every process a little while any has its feed on. 0, or
     * CP_ERR_NOMEM / CP_ERR_UNAVAILABLE (then nothing is called). */
    int (*feed)(void *st, int on, void (*on_change)(void *arg, const struct cp_change *change),
                void *arg);
    /* Since 2.4 (ops version 4). Optional (may be NULL): not supported. Rules above. */
    void (*task_extend)(void *st, const struct cp_extend *x, cp_storage_cb cb, void *cookie);
    void (*task_retry)(void *st, const struct cp_retry *r, cp_storage_cb cb, void *cookie);
    void (*task_purge)(void *st, const struct cp_purge *p, cp_storage_cb cb, void *cookie);
    void (*task_submit_batch)(void *st, const struct cp_task_view *const *tasks, size_t n,
                              cp_storage_cb cb, void *cookie);
    /* Since 2.4 (ops version 4). Optional (may be NULL: the host answers "not supported"): an
     * operator's drain (drain 1) or undrain (drain 0); rules above. */
    void (*agent_drain)(void *st, const char *agent_id, int drain, int64_t now_ms, cp_storage_cb cb,
                        void *cookie);
    /* Since 2.4 (ops version 4). Optional (may be NULL: the host makes the two calls itself):
     * a COMPLETE or FAIL and the claim of the agent's next task, as one operation. Rules above. */
    void (*task_complete_next)(void *st, const struct cp_transition *tr,
                               const struct cp_claim *next, cp_storage_cb cb, void *cookie);
    /* Since 2.4 (ops version 4). Optional (all three NULL: the host answers 501 not_supported
     * for quotas): provider quotas (docs/fleet.md), rules above. */
    void (*quota_put)(void *st, const struct cp_quota_view *q, cp_storage_cb cb, void *cookie);
    void (*quota_delete)(void *st, const char *quota_id, cp_storage_cb cb, void *cookie);
    void (*quota_list)(void *st, int64_t now_ms, cp_storage_cb cb, void *cookie);
    /* Since 2.4 (ops version 4). Optional (all three or none; NULL: tenants are ignored, the
     * host answers "not supported"). Rules in the tenants paragraph above. */
    void (*tenant_put)(void *st, const struct cp_tenant_view *t, cp_storage_cb cb, void *cookie);
    void (*tenant_delete)(void *st, const char *tenant_id, cp_storage_cb cb, void *cookie);
    void (*tenant_list)(void *st, cp_storage_cb cb, void *cookie);
    /* Since 2.4 (ops version 4). Optional (may be NULL: prompt-cache affinity is then not
     * remembered; the `affinity` strategy falls back to its default pick). The key -> agent
     * memory of prompt-cache affinity, shared by every process on the backend: affinity_set
     * remembers a->agent_id for a->key until a->now_ms + a->ttl_ms (replacing what was there);
     * affinity_get answers .affinity_agent for `key` (NULL when none or expired at now_ms). A
     * backend bounds what it keeps (expired entries go; it may forget the oldest ones early). */
    void (*affinity_get)(void *st, const char *key, int64_t now_ms, cp_storage_cb cb, void *cookie);
    void (*affinity_set)(void *st, const struct cp_affinity *a, cp_storage_cb cb, void *cookie);
#endif
    /* Ops appended by later minors go here, at the end, each inside
     * `#if CP_ABI_TARGET_MINOR >= <minor>` with CP_STORAGE_OPS_VERSION bumped under the same
     * condition. Each is optional to the host: a table of an older version lacks it (cpd reads
     * it as NULL), and NULL means "not supported". */
};
#if CP_ABI_TARGET_MINOR >= 4
#define CP_STORAGE_OPS_VERSION 4
#elif CP_ABI_TARGET_MINOR >= 3
#define CP_STORAGE_OPS_VERSION 3
#elif CP_ABI_TARGET_MINOR >= 2
#define CP_STORAGE_OPS_VERSION 2
#else
#define CP_STORAGE_OPS_VERSION 1
#endif

/* The availability rule, for stats.agents_available (a pure function of the agent's record):
 * the claim rule below without its clock — ready, below max_concurrent_tasks, circuit not open.
 * A busy agent (at its maximum, or busy by its own report), a draining, starting, failed or
 * offline one is not available. Listing available agents and GET /agents/select use
 * cp_agent_may_claim() itself (an open circuit past retry_at counts there), so what is listed
 * and selected is exactly what may claim. (Before 2.4 a busy agent below its maximum counted.) */
static inline int cp_agent_is_available(const struct cp_agent_view *a)
{
    return a->status == CP_AGENT_READY && a->tasks_in_flight < a->max_concurrent_tasks &&
           a->health.circuit != CP_CIRCUIT_OPEN;
}

/* The claim rule of task_claim (above), written once: an agent may claim when it is ready,
 * below max_concurrent_tasks, and its circuit is not open — an open circuit whose retry_at has
 * come counts as half_open, which may claim. Any other status (also one a later minor appends)
 * may not. A backend applies it inside its atomic claim (memory calls cp_claim_allowed() on its
 * record; Redis' task_claim.lua is a line-by-line mirror); the host calls cp_agent_may_claim()
 * on the agent a claim returned, to tell "may not claim" from "nothing matched". The
 * conformance case claim_rule_grid checks a backend against this function over every status,
 * load and circuit state. */
static inline int cp_claim_allowed(int32_t status, uint32_t tasks_in_flight,
                                   uint32_t max_concurrent_tasks,
                                   const struct cp_health_view *health, int64_t now_ms)
{
    if (status != CP_AGENT_READY || tasks_in_flight >= max_concurrent_tasks) return 0;
    return health->circuit != CP_CIRCUIT_OPEN || health->retry_at_ms <= now_ms;
}
static inline int cp_agent_may_claim(const struct cp_agent_view *a, int64_t now_ms)
{
    return cp_claim_allowed(a->status, a->tasks_in_flight, a->max_concurrent_tasks, &a->health,
                            now_ms);
}

/* 1 when every one of `need` (sorted, unique) is in `have` (sorted, unique). */
static inline int cp_caps_subset(const char *const *need, uint32_t n_need, const char *const *have,
                                 uint32_t n_have)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < n_need; i++) {
        while (j < n_have && strcmp(have[j], need[i]) < 0)
            j++;
        if (j == n_have || strcmp(have[j], need[i]) != 0) return 0;
        j++;
    }
    return 1;
}

#ifdef __cplusplus
}
#endif
#endif
