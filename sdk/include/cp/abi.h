/* cp/abi.h — the plugin ABI version, the build signature, and the rules for growing the ABI.
 *
 * A plugin is accepted only when its descriptor says
 *   abi_major == CP_ABI_MAJOR && abi_minor <= CP_ABI_MINOR
 * and its build signature equals the host's (same pointer model, same libevent major.minor,
 * since probe and storage plugins share the host's event_base).
 *
 * Three version numbers, each guarding one thing:
 *   - CP_ABI_MAJOR / CP_ABI_MINOR (in the descriptor) guard the *data*: the layout of every
 *     struct and the values of every enum. The major must match exactly. The minor says which
 *     appended struct members and enum values the plugin knows: the host never reads a member
 *     past the `size` a plugin-filled struct carries, and never hands a plugin an enum value
 *     appended after the plugin's minor.
 *   - CP_STORAGE_OPS_VERSION / CP_SELECTION_OPS_VERSION / CP_PROBE_OPS_VERSION (the `version`
 *     at the head of each ops table) guard the *operations*: which members the table has. The
 *     host calls an op only when the table's version is at least the one that appended it.
 *   - CP_HOST_VERSION (struct cp_host.version) guards the *host services*: a plugin checks it
 *     before calling a service appended after the version it was built with.
 *
 * What a MINOR release may do (old plugins keep loading and working, unchanged):
 *   - append a member at the end of a struct that the plugin fills and that carries a `size`
 *     first (struct cp_result, cp_agent_view, cp_task_view, cp_stats_view, cp_event), inside
 *     `#if CP_ABI_TARGET_MINOR >= <minor>`. The host reads a member only when the struct's size
 *     covers it; a shorter struct reads as if the member were zero/NULL, which must mean "as
 *     before". (cpd does this in core/storage_compat.c for storage plugins of older minors.)
 *   - append a member at the end of a struct that the host fills (filters, struct cp_claim,
 *     cp_transition, cp_reap, cp_selection_ctx, cp_probe_spec, cp_host), inside the same #if.
 *     Its zero value must mean "as before": an older plugin ignores it.
 *   - give meaning to a reserved member (cp_health_view.reserved): the struct keeps its size.
 *   - append an op at the end of an ops table (inside the #if) and bump that kind's
 *     CP_*_OPS_VERSION. An appended op is optional to the host: a table of an older version,
 *     or a NULL member, means "not supported". This is how storage grows new features.
 *   - append an enum value below its capacity (CP_*_CAP in types.h). Arrays that cross the ABI
 *     are sized by the capacity and come with a count of the entries filled.
 *   - add inline helpers.
 *   Then CP_ABI_MINOR goes up by one, and the changelog below says what was appended.
 * Anything else is a MAJOR release (reordering, removing or retyping a member, changing a
 * meaning, changing the descriptor, a new libevent major.minor): every plugin is rebuilt.
 * The descriptor (cp/plugin.h) starts with abi_major and abi_minor in every major, forever.
 *
 * Targeting an older minor: define CP_ABI_TARGET_MINOR (0 .. CP_ABI_MINOR) before including any
 * cp/ header, e.g. -DCP_ABI_TARGET_MINOR=0, and the headers present that minor's layouts, ops
 * versions and descriptor: the plugin then loads into every host of this major from that minor
 * on. Without it a plugin targets the minor of the headers it was built with.
 *
 * Changelog:
 *   1.0  first release: storage, selection and probe plugin kinds.
 *   2.0  (cpd 0.1.0) structs that plugins fill carry their size first (cp_result,
 *        cp_agent_view, cp_task_view, cp_stats_view, cp_event); cp_stats_view's by-enum arrays
 *        have fixed capacities (CP_*_CAP) and explicit counts; cp_health_view has reserved
 *        members; probes: the host enforces the deadline, delivers done() from its own loop
 *        callback (also when a probe calls it inside start()), measures the latency when the
 *        probe passes a negative one, and ends every check with release() (was cancel());
 *        host services alloc, free and now_ms retired (no plugin used them).
 *   2.1  struct cp_event gains `strategy` (the task's selection strategy), so a task that the
 *        reaper or an unregistration put back to pending wakes held claims with its own
 *        strategy; from a 2.0 backend it reads as NULL (the default strategy, as in 2.0).
 *   2.2  storage ops version 2: status() and struct cp_storage_status (the backend's connection:
 *        mode, server in use, reconnects, failovers, redirects, unconfirmed writes);
 *        cp_result.outcome (enum cp_outcome: whether a CP_ERR_UNAVAILABLE operation may have
 *        been applied); from an older backend it reads as CP_OUTCOME_NOT_APPLIED, as before.
 *   2.3  storage ops version 3: validate_options() (checks a storage plugin's options as
 *        create() would, without connecting: `cpd --check-config`); struct cp_reap gains
 *        max_terminal (a cap on stored terminal tasks; a backend older than 2.3 ignores it).
 *   2.4  storage ops version 4: feed() and struct cp_change (every change any process sharing
 *        the backend makes, in the backend's order, for the event stream); cp_result gains
 *        `before` with agent_status_before and task_status_before (the statuses before the
 *        operation), cp_event gains status_before; from an older backend they read as not
 *        reported.
 *   2.4  storage ops version 4: task_extend(), task_retry(), task_purge(), task_submit_batch();
 *        struct cp_task_view gains deadline_at_ms, not_before_ms, progress_json, attempts
 *        (struct cp_attempt), idempotency_key and the retry backoff; struct cp_result gains
 *        next_due_ms and more; cp_transition and cp_reap gain jitter; event kind
 *        CP_EVENT_TASK_DUE. A backend older than 2.4 has none of these: cpd reports leases,
 *        delays, backoff, retries by hand, purges, batches and idempotency keys as not
 *        supported with it.
 *   2.4  struct cp_selection_ctx gains `task` (struct cp_selection_task: the task being placed)
 *        and `hints_json` (GET /agents/select's hint.<key> parameters), which older strategies
 *        do not read. Storage ops version 4: agent_drain() (an operator's drain, kept until
 *        undrained; a backend without it answers "not supported"); struct cp_agent_view gains
 *        drained_at_ms (0 from an older backend: not drained). cp_agent_is_available() counts
 *        only agents that may claim (a busy agent below its maximum no longer counts).
 *   2.4  (also) agent_list pages: struct cp_agent_filter gains after, limit and
 *        health_mask, struct cp_result gains next (where the next page starts); from a backend
 *        older than 2.4 cpd reads the whole list and pages it itself.
 *   2.4  storage ops version 4: task_complete_next() (a completion or failure and the claim of
 *        the agent's next task as one operation) and cp_result.next_claim (that claim's
 *        result); a
 *        backend without it gets the two calls from cpd.
 *   2.4  provider quotas (cp/quota.h): storage ops quota_put(), quota_delete(), quota_list()
 *        and the quota rules of task_claim/task_transition; cp_task_view gains est_*_tokens
 *        and usage_*; cp_transition gains usage_* and rate_limited/retry_after_ms;
 *        cp_agent_view gains quota_scopes; cp_result gains quota_held, quotas, n_quotas;
 *        attempt outcome CP_ATTEMPT_RATE_LIMITED. A backend without the quota ops: cpd
 *        answers 501 not_supported for quotas.
 *   2.4  tenants: struct cp_task_view gains `tenant`, struct cp_claim gains aging_ms, storage
 *        ops version 4 gains tenant_put(), tenant_delete(), tenant_list() (struct
 *        cp_tenant_view, cp_result.tenants) for fair share between tenants; a backend older
 *        than 2.4 (or without the ops) ignores tenants: claims in priority/FIFO order as before.
 *   2.4  (also) prompt-cache affinity and what strategies see: struct cp_selection_task gains
 *        affinity_key and affinity_ttl_ms, struct cp_selection_ctx gains `stats` (struct
 *        cp_candidate_stats per candidate: quota headroom, recent p95 latency, error rate) and
 *        affinity_agent; storage ops version 4: affinity_get() / affinity_set() (struct
 *        cp_affinity) and cp_result.affinity_agent; a backend without them remembers nothing.
 *   2.4  (also) affinity holds: cp_task_view gains affinity_key and affinity_hold_ms (submit);
 *        task_claim skips tasks held for other agents and answers next_due_ms when it did.
 *   2.4  (also) quota changes on the change feed: CP_CHANGE_QUOTA_PAUSED / _RESUMED /
 *        _CONCURRENCY and struct cp_change gains quota_id, quota_until_ms, quota_limit.
 */
#ifndef CP_ABI_H
#define CP_ABI_H

#define CP_ABI_MAJOR 2
#define CP_ABI_MINOR 4

#ifndef CP_ABI_TARGET_MINOR
#define CP_ABI_TARGET_MINOR CP_ABI_MINOR
#endif
#if CP_ABI_TARGET_MINOR < 0 || CP_ABI_TARGET_MINOR > CP_ABI_MINOR
#error "CP_ABI_TARGET_MINOR must be between 0 and CP_ABI_MINOR"
#endif

#define CP_STRINGIFY_(x) #x
#define CP_STRINGIFY(x) CP_STRINGIFY_(x)

#if defined(__LP64__) || defined(_LP64)
#define CP_ABI_DATA_MODEL "lp64"
#else
#define CP_ABI_DATA_MODEL "ilp32"
#endif

/* libevent 2.1 is part of the signature: plugins may use the host's struct event_base. */
#define CP_BUILD_SIGNATURE                                                                         \
    "cp-abi-" CP_STRINGIFY(CP_ABI_MAJOR) ";" CP_ABI_DATA_MODEL ";libevent-2.1"

#if defined(__GNUC__)
#define CP_PLUGIN_EXPORT __attribute__((visibility("default")))
#define CP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CP_PLUGIN_EXPORT
#define CP_PRINTF(fmt, args)
#endif

#endif
