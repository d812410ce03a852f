/* ops_tasks.c — the task operations: submit (an id, then offered to the held claims), list,
 * get (and wait for the result), transitions (metrics, the breaker fed, waiters answered, a
 * requeued task offered), and release of a task whose reply never reached its agent.
 *
 * Wake-ups run after the caller's callback: a woken claim may take the task at once and, with
 * the memory store, change the very record the caller is rendering. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "affinity.h"
#include "claims.h"
#include "clock.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "ops_internal.h"
#include "quota.h"
#include "scheduler.h"
#include "selection.h"
#include "xalloc.h"

/* 96 random bits per id. The bytes come from getrandom() in blocks of 4 KiB: one system call
 * per 341 tasks instead of one per task. */
void ops_new_task_id(char out[30])
{
    static unsigned char pool[4096];
    static size_t left;
    static const char hex[] = "0123456789abcdef";
    if (left < 12) {
        if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) {
            for (size_t i = 0; i < sizeof pool; i++)
                pool[i] = (unsigned char)random();
        }
        left = sizeof pool;
    }
    const unsigned char *rnd = pool + sizeof pool - left;
    left -= 12;
    memcpy(out, "task_", 5);
    for (int i = 0; i < 12; i++) {
        out[5 + 2 * i] = hex[rnd[i] >> 4];
        out[6 + 2 * i] = hex[rnd[i] & 15];
    }
    out[29] = '\0';
}

/* ---- submit ---- */

uint32_t ops_store_minor(const struct cp_core *core)
{
    return core->storage_plugin ? core->storage_plugin->desc->abi_minor : CP_ABI_MINOR;
}

int ops_submit_check(struct cp_core *core, const struct cp_task_view *in, cp_storage_cb cb,
                     void *cookie)
{
    if (in->strategy && !core_strategy(core, in->strategy)) {
        char names[320];
        selection_names(core, names, sizeof names);
        ops_fail(cb, cookie, CP_ERR_INVALID,
                 "strategy '%.128s' is not a loaded selection plugin; loaded strategies: %s",
                 in->strategy, names);
        return -1;
    }
    const char *feature = in->not_before_ms > 0                 ? "delayed tasks"
                          : in->idempotency_key                 ? "idempotency keys"
                          : in->backoff_type != CP_BACKOFF_NONE ? "retry backoff"
                                                                : NULL;
    if (feature && ops_store_minor(core) < 4) {
        ops_unsupported(core, cb, cookie, feature);
        return -1;
    }
    return 0;
}

void ops_unsupported(struct cp_core *core, cp_storage_cb cb, void *cookie, const char *what)
{
    ops_fail(cb, cookie, OPS_ERR_UNSUPPORTED,
             "the storage backend '%s' (plugin ABI %d.%u) does not support %s; it needs ABI "
             "%d.4 or later",
             core->storage_plugin ? core->storage_plugin->desc->name : "?", CP_ABI_MAJOR,
             ops_store_minor(core), what, CP_ABI_MAJOR);
}

void ops_submit_view(const struct cp_task_view *in, const char *id, int64_t now,
                     struct cp_task_view *t)
{
    *t = (struct cp_task_view){
        .size = sizeof(struct cp_task_view),
        .id = id,
        .task_type = in->task_type,
        .payload_json = in->payload_json,
        .required_capabilities = in->required_capabilities,
        .n_required = in->n_required,
        .status = CP_TASK_PENDING,
        .priority = in->priority,
        .created_at_ms = now,
        .pending_since_ms = now,
        .timeout_ms = in->timeout_ms < 1 ? 1 : in->timeout_ms,
        .max_retries = in->max_retries,
        .metadata_json = in->metadata_json,
        .strategy = in->strategy,
        .not_before_ms = in->not_before_ms > now ? in->not_before_ms : 0,
        .idempotency_key = in->idempotency_key,
        .backoff_type = in->backoff_type,
        .backoff_jitter = in->backoff_jitter,
        .backoff_ms = in->backoff_ms,
        .backoff_max_ms = in->backoff_max_ms,
        .est_input_tokens = in->est_input_tokens,
        .est_output_tokens = in->est_output_tokens,
        .tenant = in->tenant,
    };
}

void ops_task_stored(struct cp_core *core, const struct cp_task_view *t)
{
    metrics_task_event(t->task_type, MET_TASK_SUBMITTED);
    ops_emit_task(core, EVT_TASK_SUBMITTED, t, -1, NULL);
    if (t->not_before_ms > 0 && core->reaper) reaper_due(core->reaper, t->not_before_ms);
}

static void on_submitted(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    if (res->rc < 0) {
        call->cb(call->cookie, res);
        return;
    }
    /* A task found by its idempotency key has another id: nothing was stored. */
    struct cp_result r = *res;
    r.created = strcmp(res->task->id, call->u.submit_id) == 0;
    if (r.created) ops_task_stored(core, res->task);
    if (r.created && res->size >= offsetof(struct cp_result, next_due_ms) + sizeof(int64_t) &&
        res->next_due_ms > 0)
        metrics_affinity_held(); /* the store held it for its warm agent */
    call->cb(call->cookie, &r);
    if (r.created) sched_task_changed(core->sched, res->task);
}

void ops_task_submit(struct cp_core *core, struct ops_call *call, const struct cp_task_view *in,
                     cp_storage_cb cb, void *cookie)
{
    if (ops_submit_check(core, in, cb, cookie) < 0) return;
    ops_call_init(call, core, cb, cookie);
    ops_new_task_id(call->u.submit_id);
    struct cp_task_view t;
    ops_submit_view(in, call->u.submit_id, clock_now_ms(), &t);
    char key[CP_AFFINITY_KEY_MAX + 1]; /* affinity hold (docs/fleet.md): one submit at a time */
    t.affinity_hold_ms = affinity_hold_ms(core, t.strategy, t.metadata_json, key);
    t.affinity_key = t.affinity_hold_ms > 0 ? key : NULL;
    CORE_STORE(core, task_submit, &t, on_submitted, call);
}

/* ---- list / get ---- */

void ops_task_list(struct cp_core *core, const struct cp_task_filter *f, cp_storage_cb cb,
                   void *cookie)
{
    CORE_STORE(core, task_list, f, cb, cookie);
}

static void on_wait_over(void *cookie)
{
    struct ops_call *call = cookie;
    call->u.get.waiter = NULL;
    if (call->hold) call->hold(call->cookie, 0);
    CORE_STORE(call->core, task_get, call->u.get.task_id, call->cb, call->cookie);
}

static void on_got(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    if (res->rc < 0 || cp_task_status_is_terminal(res->task->status)) {
        call->cb(call->cookie, res);
        return;
    }
    call->u.get.waiter =
        sched_wait_task(call->core->sched, res->task->id, call->u.get.wait_ms, on_wait_over, call);
    if (call->hold) call->hold(call->cookie, 1);
}

void ops_task_get(struct cp_core *core, struct ops_call *call, const char *task_id,
                  uint64_t wait_ms, ops_hold_cb hold, cp_storage_cb cb, void *cookie)
{
    if (wait_ms == 0) {
        CORE_STORE(core, task_get, task_id, cb, cookie);
        return;
    }
    ops_call_init(call, core, cb, cookie);
    call->hold = hold;
    call->kind = OPS_CALL_WAIT;
    call->u.get.task_id = task_id;
    call->u.get.wait_ms = wait_ms;
    call->u.get.waiter = NULL;
    CORE_STORE(core, task_get, task_id, on_got, call);
}

/* ---- transitions ---- */

/* The status a task left: as the store reported it (ABI 2.4), else as far as the status after
 * tells. */
static int32_t status_before(int32_t kind, const struct cp_result *res)
{
    const struct cp_task_view *t = res->task;
    if (ops_task_before(res) >= 0) return ops_task_before(res);
    switch (kind) {
    case CP_TR_START:
        return CP_TASK_CLAIMED;
    case CP_TR_COMPLETE: /* keeps started_at */
        return t->started_at_ms > 0 ? CP_TASK_RUNNING : CP_TASK_CLAIMED;
    case CP_TR_FAIL: /* a retry clears started_at */
        return t->started_at_ms > 0 ? CP_TASK_RUNNING : -1;
    default:
        return -1;
    }
}

static const int transition_event[] = {
    [CP_TR_START] = EVT_TASK_STARTED,    [CP_TR_COMPLETE] = EVT_TASK_COMPLETED,
    [CP_TR_FAIL] = EVT_TASK_FAILED,      [CP_TR_CANCEL] = EVT_TASK_CANCELLED,
    [CP_TR_RELEASE] = EVT_TASK_RELEASED,
};

/* The reactions to a transition, before its caller is answered: events, metrics, breaker. */
void ops_transition_reacted(struct cp_core *core, int32_t kind, const struct cp_result *res)
{
    const struct cp_task_view *t = res->task;
    if (t->status == CP_TASK_PENDING && t->not_before_ms > 0 && core->reaper)
        reaper_due(core->reaper, t->not_before_ms); /* a requeue that waits for its backoff */
    if (ops_events_on(core)) /* first: the breaker's write below is told as its consequence */
        ops_emit_task_event(core, transition_event[kind], t, status_before(kind, res),
                            res->agent ? res->agent->agent_id : NULL);
    ops_emit_agent_moved(core, res); /* its agent, busy -> ready */
    if (ops_rate_limited(kind, res)) {
        /* the provider's 429: backoff, not a failure (no breaker, no failure counted) */
        const struct cp_attempt *last = &t->attempts[t->n_attempts - 1];
        int64_t after = t->not_before_ms > last->ended_ms ? t->not_before_ms - last->ended_ms : 0;
        quotas_rate_limited(core->quotas, t, res->agent ? res->agent->agent_id : NULL, after);
    } else if (kind == CP_TR_COMPLETE || kind == CP_TR_FAIL) {
        metrics_task_event(t->task_type,
                           kind == CP_TR_COMPLETE ? MET_TASK_COMPLETED : MET_TASK_FAILED);
        if (core->health && res->agent)
            health_task_outcome_seen(core->health, res->agent, kind == CP_TR_COMPLETE);
        ops_task_finished_seen(core, kind, res);
    }
}

/* ... and after it: waiters and held claims woken (they may change the store's records). */
void ops_transition_woken(struct cp_core *core, int32_t kind, const struct cp_result *res)
{
    sched_task_changed(core->sched, res->task);
    /* A task leaving claimed/running gives its agent a slot: its claims held for room retry. */
    if (kind != CP_TR_START && res->agent)
        claims_room(core->claims, res->agent->agent_id, res->agent);
    /* ... and its quotas a slot: claims held back by a quota retry */
    if (kind != CP_TR_START) quotas_room(core->quotas);
}

static void on_transitioned(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    int32_t kind = call->kind;
    if (res->rc < 0) {
        call->cb(call->cookie, res);
        return;
    }
    ops_transition_reacted(core, kind, res);
    call->cb(call->cookie, res);
    ops_transition_woken(core, kind, res);
}

void ops_task_transition(struct cp_core *core, struct ops_call *call,
                         const struct cp_transition *tr, cp_storage_cb cb, void *cookie)
{
    if (tr->kind < CP_TR_START || tr->kind > CP_TR_CANCEL) {
        ops_fail(cb, cookie, CP_ERR_INVALID, "unknown transition %d", (int)tr->kind);
        return;
    }
    struct cp_transition t = *tr;
    t.now_ms = clock_now_ms();
    t.pass_over_ms = core->cfg->pass_over_ms;
    t.jitter = ops_random32();
    ops_call_init(call, core, cb, cookie);
    call->kind = t.kind;
    CORE_STORE(core, task_transition, &t, on_transitioned, call);
}

/* ---- release ---- */

struct release {
    struct cp_core *core;
    char agent_id[]; /* the claimer, for the event: the task's assignment is cleared */
};

static void on_released(void *cookie, const struct cp_result *res)
{
    struct release *rl = cookie;
    struct cp_core *core = rl->core;
    if (res->rc == 0 && res->task) { /* else claimed again meanwhile, or gone: nothing to do */
        log_info("task %s released: its claimer disconnected before the reply", res->task->id);
        ops_emit_task(core, EVT_TASK_RELEASED, res->task, CP_TASK_CLAIMED, rl->agent_id);
        ops_emit_agent_moved(core, res);
        sched_task_changed(core->sched, res->task);
        claims_room(core->claims, rl->agent_id, res->agent);
        free(rl);
        return;
    }
    free(rl);
}

void ops_task_release(struct cp_core *core, const char *task_id, const char *agent_id,
                      uint32_t attempt)
{
    size_t len = strlen(agent_id);
    struct release *rl = xmalloc(sizeof *rl + len + 1);
    rl->core = core;
    memcpy(rl->agent_id, agent_id, len + 1);
    struct cp_transition tr = {.kind = CP_TR_RELEASE,
                               .task_id = task_id,
                               .agent_id = agent_id,
                               .latency_ms = -1,
                               .expect_attempt = attempt,
                               .now_ms = clock_now_ms()};
    CORE_STORE(core, task_transition, &tr, on_released, rl);
}

void ops_claims_release(void *core, const char *task_id, const char *agent_id, uint32_t attempt)
{
    ops_task_release(core, task_id, agent_id, attempt);
}
