/* ops.h — the operations layer: one entry point per domain operation. Front ends (core/http
 * today; an event stream, a test) and the core's own timers go through here. Each op calls the
 * store once, runs every reaction to its outcome in one place — metrics, circuit breakers,
 * health tracking, wake-ups of held claims and result waiters, domain events (events.h) — then
 * calls its caller back. Nothing here knows HTTP or JSON.
 *
 * Calls. An op that reacts to its outcome takes a struct ops_call that the caller owns (no
 * allocation per op) and leaves alone until the callback has run or ops_call_cancel() returned.
 * The callback is called exactly once (unless cancelled), possibly before the op returns (the
 * memory store answers at once). Its result is borrowed: valid until the callback returns; the
 * caller may free the call's storage inside the callback. Arguments are borrowed until the op
 * function returns, except where an op says "until the callback".
 *
 * Errors (res->rc): those of the store (cp/storage.h), plus CP_ERR_INVALID with a message for
 * what only the core can check (an unknown strategy, a probe this server cannot run), and
 * OPS_ERR_UNSUPPORTED when the storage plugin lacks what the op needs (built for an older ABI
 * minor, or the op left NULL): nothing was changed.
 */
#ifndef CORE_OPS_H
#define CORE_OPS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <cp/storage.h>

#include "core.h"
#include "events.h"
#include "probe_def.h"

struct claimer;
struct waiter;

#define OPS_ERR_UNSUPPORTED (-ENOTSUP) /* the store cannot do this (see above) */

/* A held op (long-poll claim, wait_ms) tells its caller when it starts waiting (held = 1) and
 * when the wait is over and the answer is being prepared (held = 0, before the callback). */
typedef void (*ops_hold_cb)(void *cookie, int held);

struct ops_claim {
    const char *agent_id;
    const char *const *capabilities; /* sorted, unique; NULL: the agent's registered ones */
    uint32_t n_capabilities;
    uint64_t block_ms; /* 0: answer at once */
};

struct ops_select {
    const char *const *capabilities; /* sorted, unique */
    uint32_t n_capabilities;
    const char *const *exclude; /* agent ids never chosen */
    uint32_t n_exclude;
    const char *strategy;   /* a selection plugin's name; NULL: the configured default */
    const char *hints_json; /* the request's hints for the strategy: a JSON object of strings,
                               or NULL for none */
};

struct ops_call {
    /* Private to ops. */
    struct cp_core *core;
    cp_storage_cb cb;
    void *cookie;
    ops_hold_cb hold;
    int32_t kind;
    union {
        char submit_id[32]; /* the id ops gave, to tell created from found */
        struct {
            char (*ids)[32]; /* batch: the ids ops gave, to tell created from found */
            size_t n;
        } batch;
        struct {
            const struct ops_claim *in;
            int64_t arrived_ms;
            uint64_t seen_pending, seen_room, seen_quota; /* struct claims_seen */
            struct claimer *held;
            cp_storage_cb done; /* complete_next: the transition's answer */
            int32_t tr_kind;    /* complete_next: COMPLETE or FAIL */
        } claim;
        struct {
            const char *task_id;
            uint64_t wait_ms;
            struct waiter *waiter;
        } get;
        const char *agent_id;
        const struct ops_select *select;
        int drain;
    } u;
};

/* ---- lifecycle (main) ---- */

/* Create and wire claims, scheduler, health monitor, event subscribers and reaper on `core`
 * (cfg, base, plugins and store set). decode: turns stored probe text into a definition (the
 * front end that wrote it provides it; see health_new). */
void ops_open(struct cp_core *core, probe_decode_fn decode);
/* Start the reaper, follow the store's notifications, resume the probes of agents already in
 * the store (a shared store at start-up). */
void ops_start(struct cp_core *core);
/* Shutdown, first step: answer every held claim and waiter, stop the reaper. */
void ops_drain(struct cp_core *core);
/* Free what ops_open made; after the store is closed and the front ends are gone. */
void ops_close(struct cp_core *core);

/* ---- agents (ops_agents.c) ---- */

/* Register (or re-register) `in`; with a probe, `probe` is its definition (checked first:
 * CP_ERR_INVALID naming the member) and in->health_probe_json its text as stored. Then its
 * probe (re)starts. res->created, res->agent. */
void ops_agent_register(struct cp_core *core, struct ops_call *call, const struct cp_agent_view *in,
                        const struct probe_def *probe, cp_storage_cb cb, void *cookie);
void ops_agent_get(struct cp_core *core, const char *agent_id, cp_storage_cb cb, void *cookie);
/* usable_only: only the agents that could take work now (cp_agent_may_claim()). */
void ops_agent_list(struct cp_core *core, struct ops_call *call, const struct cp_agent_filter *f,
                    int usable_only, cp_storage_cb cb, void *cookie);
/* status: what the agent reports, or -1 (CP_ERR_INVALID for offline: the server sets it). */
void ops_agent_heartbeat(struct cp_core *core, struct ops_call *call, const char *agent_id,
                         int32_t status, cp_storage_cb cb, void *cookie);
/* Its tasks go back to pending; its probe stops. agent_id: borrowed until the callback. */
void ops_agent_unregister(struct cp_core *core, struct ops_call *call, const char *agent_id,
                          cp_storage_cb cb, void *cookie);
/* One usable agent (cp_agent_may_claim()) with every capability, not excluded, chosen by the
 * strategy: res->agent, or rc 0 with res->agent NULL when there is none. sel: borrowed until
 * the callback. */
void ops_agent_select(struct cp_core *core, struct ops_call *call, const struct ops_select *sel,
                      cp_storage_cb cb, void *cookie);
/* An operator's drain (drain 1: no new tasks, it finishes what it holds; shown draining until
 * undrained, whatever it heartbeats) or undrain (0: back to the status it reported). res->agent
 * after, res->created 1 when the drain state changed. OPS_ERR_UNSUPPORTED when the store
 * predates it (storage ops version < 4). */
void ops_agent_drain(struct cp_core *core, struct ops_call *call, const char *agent_id, int drain,
                     cp_storage_cb cb, void *cookie);

/* What ops answers for a feature the storage plugin does not have (built for an older minor). */
#define OPS_ERR_UNSUPPORTED (-ENOTSUP)

/* ---- tenants (ops_tenants.c) ---- */

/* Set a tenant's weight and max_in_flight (res->tenants[0] after), remove its settings
 * (NOT_FOUND unless set), list every tenant (res->tenants, with waiting, in flight and tokens
 * served). OPS_ERR_UNSUPPORTED when the store has no tenants (older than 2.4). */
void ops_tenant_put(struct cp_core *core, const struct cp_tenant_view *t, cp_storage_cb cb,
                    void *cookie);
void ops_tenant_delete(struct cp_core *core, const char *tenant_id, cp_storage_cb cb, void *cookie);
void ops_tenant_list(struct cp_core *core, cp_storage_cb cb, void *cookie);
/* Give the store the configuration's tenants (tenants.list), at start-up (ops_start). */
void ops_tenants_configure(struct cp_core *core);

/* ---- tasks (ops_tasks.c) ---- */

/* Submit `in` (task_type, payload_json, required_capabilities, priority, timeout_ms,
 * max_retries, metadata_json, strategy; since 2.4 not_before_ms, idempotency_key and the
 * backoff; the rest is ignored): ops gives it its id, status pending and creation time.
 * res->task; res->created 1 when stored now, 0 when the task holding its idempotency key was
 * found. OPS_ERR_UNSUPPORTED when in uses 2.4 members the store does not know. */
void ops_task_submit(struct cp_core *core, struct ops_call *call, const struct cp_task_view *in,
                     cp_storage_cb cb, void *cookie);
/* Submit n tasks as one store operation (ops_tasks_batch.c): each as ops_task_submit() takes
 * it. res->tasks[i] is item i's task; the created ones are those whose id is res->tasks[i]->id
 * of the id ops gave (ops_batch_created() tells). in: borrowed until the callback. */
void ops_task_submit_batch(struct cp_core *core, struct ops_call *call,
                           const struct cp_task_view *const *in, size_t n, cp_storage_cb cb,
                           void *cookie);
/* 1 when item i of the batch answered in res was stored by it (not found by its key). */
int ops_batch_created(const struct ops_call *call, const struct cp_result *res, size_t i);
void ops_task_list(struct cp_core *core, const struct cp_task_filter *f, cp_storage_cb cb,
                   void *cookie);
/* The task now or, with wait_ms, once it is terminal or wait_ms passed (then `hold` says when
 * the wait starts and ends). task_id: borrowed until the callback. */
void ops_task_get(struct cp_core *core, struct ops_call *call, const char *task_id,
                  uint64_t wait_ms, ops_hold_cb hold, cp_storage_cb cb, void *cookie);
/* START, COMPLETE, FAIL or CANCEL (tr->now_ms and pass_over_ms are set here). res->task after;
 * CP_ERR_CONFLICT with res->task as it is. */
void ops_task_transition(struct cp_core *core, struct ops_call *call,
                         const struct cp_transition *tr, cp_storage_cb cb, void *cookie);
/* A claimed task whose reply never reached its agent: back to pending at the front of its band,
 * if it is still that attempt. Nothing to call back. */
void ops_task_release(struct cp_core *core, const char *task_id, const char *agent_id,
                      uint32_t attempt);

/* ---- the task's lease and the operator's task ops (ops_tasks_admin.c, 2.4 stores) ---- */

/* The holder's lease: x->deadline_ms (0: now + the task's timeout) and progress (NULL: kept);
 * now_ms is set here. res->task after; CP_ERR_CONFLICT with res->task as for complete. */
void ops_task_extend(struct cp_core *core, struct ops_call *call, const struct cp_extend *x,
                     cp_storage_cb cb, void *cookie);
/* A failed, timed-out or cancelled task back to pending (retries 0, attempts kept). */
void ops_task_retry(struct cp_core *core, struct ops_call *call, const char *task_id,
                    cp_storage_cb cb, void *cookie);
/* Delete terminal tasks (one bounded store call: res->events, res->more). */
void ops_task_purge(struct cp_core *core, const struct cp_purge *p, cp_storage_cb cb, void *cookie);
/* The ABI minor of the storage plugin (what it knows of the task view and ops). */
uint32_t ops_store_minor(const struct cp_core *core);

/* ---- claims (ops_claims.c) ---- */

/* Claim the best pending task the agent may take. Found nothing and block_ms > 0 (and the agent
 * may claim): held until a task arrives for it or block_ms pass (`hold` says when). res->task
 * (NULL: nothing), res->agent; CP_ERR_NOT_FOUND for an unknown agent. `in`: borrowed until the
 * callback. */
void ops_task_claim(struct cp_core *core, struct ops_call *call, const struct ops_claim *in,
                    ops_hold_cb hold, cp_storage_cb cb, void *cookie);
/* Complete or fail (tr->kind COMPLETE or FAIL, as ops_task_transition takes it) and then claim
 * the agent's next task (as ops_task_claim, `next` borrowed until cb, held with next->block_ms
 * like any claim): the two-request task lifecycle (ops_next.c). One store operation when the
 * store has task_complete_next (one script on Redis), else the two calls; either way each part
 * gets exactly the reactions of its own op, the transition's first. `done` gets the
 * transition's result; when that failed (rc < 0) nothing was claimed and `cb` never comes (the
 * caller may free the call in `done` then, not otherwise). Else `cb` follows once with the
 * claim's result, and ops_call_cancel() applies while it is held. */
void ops_task_complete_next(struct cp_core *core, struct ops_call *call,
                            const struct cp_transition *tr, const struct ops_claim *next,
                            cp_storage_cb done, ops_hold_cb hold, cp_storage_cb cb, void *cookie);
/* The caller of a held op (claim, get with wait_ms) has gone: its callback never comes. A claim
 * whose task is being handed out meanwhile is released. Only while held (after hold(1)). */
void ops_call_cancel(struct ops_call *call);

/* ---- the reaper and the store's events (ops_reap.c) ---- */

/* One reaper pass: timeouts (requeue or time out, breaker fed), offline and stale agents,
 * retention. res->events as the store reported them. */
void ops_reap(struct cp_core *core, struct ops_call *call, const struct cp_reap *r,
              cp_storage_cb cb, void *cookie);

/* ---- the event stream's changes (ops_feed.c) ---- */

/* Subscribe cb (events.h) to every change, numbered: e->id increases and names the same change
 * in every process sharing a store with a change feed (Redis), else in this process only
 * (numbers start at the wall clock in ms x 1000). Heartbeats come only when they change the
 * status (as EVT_AGENT_STATUS), health only when health or circuit changes. EVT_GAP (id 0):
 * changes may have been missed before the next one (the store's feed was interrupted). The
 * first subscriber turns the source on, the last one off; nothing is built while off. */
void ops_feed_subscribe(struct cp_core *core, events_cb cb, void *arg);
void ops_feed_unsubscribe(struct cp_core *core, events_cb cb, void *arg);
/* 1 while the numbers are the store's (shared by every process on it). */
int ops_feed_shared(const struct cp_core *core);

/* ---- the system (ops_system.c) ---- */

void ops_stats(struct cp_core *core, cp_storage_cb cb, void *cookie);
size_t ops_held_claims(struct cp_core *core);

struct ops_storage {
    const char *backend; /* the storage plugin's name ("closed" at shutdown) */
    int available;       /* reachable now */
    int fallback;        /* the configured store was unreachable at start-up: on memory */
    const char *fallback_reason;
    /* The store's connection state (storage ops version 2 status(), e.g. Redis' master and
     * failover counters); has_conn 0 when the store does not report one. Strings are
     * NUL-terminated whatever the plugin left in them. */
    int has_conn;
    struct cp_storage_status conn;
};
void ops_storage_status(struct cp_core *core, struct ops_storage *out);
/* One loaded plugin, as GET /plugins shows it. Strings borrowed from the plugin set. */
struct ops_plugin {
    int kind; /* enum cp_plugin_kind */
    const char *name, *version, *path;
    uint32_t abi_major, abi_minor;    /* what the plugin was built for */
    const struct cfg_option *options; /* its config options (callers show the keys only) */
    size_t n_options;
    int is_default; /* the configured default strategy */
};
/* The loaded plugins, storage first, then selection, then probes (each in load order): fills
 * at most `max` and returns how many there are. */
size_t ops_plugins(struct cp_core *core, struct ops_plugin *out, size_t max);

/* What a failed (CP_ERR_UNAVAILABLE) operation may have done: enum cp_outcome, read only from a
 * store whose ops version has cp_result.outcome (2+); NOT_APPLIED otherwise. */
int ops_outcome(const struct cp_core *core, const struct cp_result *res);
/* The system's health from its agents' (docs/api.md): enum cp_health. */
int ops_system_health(uint64_t total, uint64_t degraded, uint64_t unhealthy);

/* Provider quotas (ops_quotas.c, docs/fleet.md). Each answers OPS_ERR_UNSUPPORTED when the
 * store has no quotas. put: the definition (id, scope, rpm, tpm, max_in_flight), res->quotas[0]
 * after, res->created; delete: CP_ERR_NOT_FOUND or 0; list: res->quotas with their live state. */
struct cp_quota_view;
int ops_quotas_supported(const struct cp_core *core);
void ops_quota_put(struct cp_core *core, struct ops_call *call, const struct cp_quota_view *q,
                   cp_storage_cb cb, void *cookie);
void ops_quota_delete(struct cp_core *core, struct ops_call *call, const char *id, cp_storage_cb cb,
                      void *cookie);
void ops_quota_list(struct cp_core *core, cp_storage_cb cb, void *cookie);

#endif
