/* health.c — the health monitor: feeds probe results (from health_probe.c) and task outcomes
 * through the pure rules (health_rules.c) into each agent's record in storage, turns lapsed
 * open circuits half_open, and reports every health it wrote through its hooks (ops).
 *
 * Per agent the monitor keeps one slot (a hash table keyed by agent_id): its probe, if any, and a
 * queue of outcomes waiting to be written. Each outcome is a read-modify-write of the agent's
 * health (agent_get, then agent_set_health); the queue runs one at a time per agent, so two
 * outcomes of one agent never overwrite each other inside this process.
 *
 * Ownership: the monitor owns slots, probes and queued ops. An op in flight in storage when the
 * monitor is freed is orphaned (op->hm = NULL) and freed by its own callback. Call health_free()
 * before the storage and probe plugins are unloaded. */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "health_probe.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#define TICK_MS 1000           /* how often lapsed open circuits are looked at */
#define MAX_QUEUE 64           /* outcomes waiting per agent; more are dropped with a warning */
#define ERR_LOG_EVERY_MS 10000 /* storage errors are logged at most this often */

enum op_kind { OP_PROBE, OP_TASK, OP_TICK };
#define OP_NO_PROBE 1 /* op_done(): the agent's record has no probe any more */

struct health_slot;

struct op {
    struct op *next;
    struct health_monitor *hm; /* NULL: orphaned by health_free(), only free it */
    struct health_slot *slot;
    int kind;
    int ok;
    double latency_ms;
    char *error;                                          /* OP_PROBE failures; owned */
    int32_t health_before, circuit_before, status_before; /* as read, for the hooks */
    char agent_id[];
};

struct health_slot {
    struct health_slot *next; /* hash chain */
    uint64_t hash;
    struct health_monitor *hm;
    struct health_probe *probe;
    struct op *head, *tail; /* head is in storage while `running` */
    size_t qlen;
    int running;
    int64_t open_retry_at; /* > 0: circuit open when last seen, half_open due at this time */
    char id[];
};

struct health_monitor {
    struct cp_core *core;
    struct health_hooks hooks;
    probe_decode_fn decode;
    struct health_rules rules;
    struct health_slot **buckets;
    size_t nbuckets, n;
    size_t n_open; /* slots with open_retry_at > 0 */
    struct event *tick;
    int64_t err_logged_at;
    uint64_t err_suppressed;
};

static void slot_run(struct health_slot *s);

/* ---- slots --------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct health_slot *slot_find(struct health_monitor *hm, const char *id)
{
    uint64_t h = hash_str(id);
    for (struct health_slot *s = hm->buckets[h & (hm->nbuckets - 1)]; s; s = s->next)
        if (s->hash == h && strcmp(s->id, id) == 0) return s;
    return NULL;
}

static void slots_grow(struct health_monitor *hm)
{
    size_t nb = hm->nbuckets * 2;
    struct health_slot **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < hm->nbuckets; i++) {
        struct health_slot *s = hm->buckets[i], *next;
        for (; s; s = next) {
            next = s->next;
            s->next = b[s->hash & (nb - 1)];
            b[s->hash & (nb - 1)] = s;
        }
    }
    free(hm->buckets);
    hm->buckets = b;
    hm->nbuckets = nb;
}

static struct health_slot *slot_get(struct health_monitor *hm, const char *id)
{
    struct health_slot *s = slot_find(hm, id);
    if (s) return s;
    size_t len = strlen(id);
    s = xcalloc(1, sizeof *s + len + 1);
    memcpy(s->id, id, len + 1);
    s->hash = hash_str(id);
    s->hm = hm;
    if (hm->n >= hm->nbuckets) slots_grow(hm);
    s->next = hm->buckets[s->hash & (hm->nbuckets - 1)];
    hm->buckets[s->hash & (hm->nbuckets - 1)] = s;
    hm->n++;
    return s;
}

/* Free `s` once nothing refers to it any more. Callers do not touch s afterwards. */
static void slot_maybe_free(struct health_slot *s)
{
    struct health_monitor *hm = s->hm;
    if (s->probe || s->head || s->open_retry_at) return;
    struct health_slot **pp = &hm->buckets[s->hash & (hm->nbuckets - 1)];
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    hm->n--;
    free(s);
}

static void tick_arm(struct health_monitor *hm)
{
    struct timeval tv = cp_ms_to_timeval(TICK_MS);
    if (hm->tick && !evtimer_pending(hm->tick, NULL)) evtimer_add(hm->tick, &tv);
}

static void slot_note_circuit(struct health_slot *s, const struct cp_health_view *h)
{
    if (h->circuit == CP_CIRCUIT_OPEN) {
        if (!s->open_retry_at) {
            s->hm->n_open++;
            tick_arm(s->hm);
        }
        s->open_retry_at = h->retry_at_ms > 0 ? h->retry_at_ms : 1;
    } else if (s->open_retry_at) {
        s->open_retry_at = 0;
        s->hm->n_open--;
    }
}

/* ---- outcomes: one read-modify-write of the agent's health at a time per agent ---------- */

static void log_storage_error(struct health_monitor *hm, const char *what, const char *id, int rc,
                              const char *msg)
{
    int64_t now = clock_now_ms();
    if (hm->err_logged_at && now - hm->err_logged_at < ERR_LOG_EVERY_MS) {
        hm->err_suppressed++;
        return;
    }
    if (hm->err_suppressed)
        log_warn("health: %s for agent %s failed: %s (rc %d); %llu more since the last report",
                 what, id, msg ? msg : "storage error", rc, (unsigned long long)hm->err_suppressed);
    else
        log_warn("health: %s for agent %s failed: %s (rc %d)", what, id,
                 msg ? msg : "storage error", rc);
    hm->err_logged_at = now;
    hm->err_suppressed = 0;
}

static struct op *op_new(struct health_slot *s, int kind, int ok, double latency_ms,
                         const char *error)
{
    size_t len = strlen(s->id);
    struct op *op = xcalloc(1, sizeof *op + len + 1);
    memcpy(op->agent_id, s->id, len + 1);
    op->hm = s->hm;
    op->slot = s;
    op->kind = kind;
    op->ok = ok;
    op->latency_ms = latency_ms;
    if (error) op->error = xstrndup(error, 512);
    return op;
}

static void op_free(struct op *op)
{
    free(op->error);
    free(op);
}

/* Queue an outcome (takes ownership of op). May run it, and everything after, at once. */
static void slot_enqueue(struct health_slot *s, struct op *op)
{
    if (s->qlen >= MAX_QUEUE) {
        log_warn("health: agent %s has %zu health updates waiting for storage; dropping one", s->id,
                 s->qlen);
        op_free(op);
        return;
    }
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    s->qlen++;
    slot_run(s);
}

/* The head op finished with `rc`: pop it and run the next. Last thing its callers do. */
static void op_done(struct op *op, int rc)
{
    struct health_slot *s = op->slot;
    s->head = op->next;
    if (!s->head) s->tail = NULL;
    s->qlen--;
    s->running = 0;
    op_free(op);
    if (rc == OP_NO_PROBE && s->probe) {
        log_info("health: agent %s re-registered without a probe; its probe stops", s->id);
        health_probe_free(s->probe);
        s->probe = NULL;
    } else if (rc == CP_ERR_NOT_FOUND) {
        /* The agent is gone (unregistered or removed, maybe by another process). */
        if (s->probe) {
            log_info("health: agent %s is no longer registered; its probe stops", s->id);
            health_probe_free(s->probe);
            s->probe = NULL;
        }
        struct cp_health_view closed = {.circuit = CP_CIRCUIT_CLOSED};
        slot_note_circuit(s, &closed);
    } else if (rc == CP_ERR_UNAVAILABLE) {
        /* The store is down (or being destroyed): the waiting updates would fail the same way.
         * Probes keep running and write again once it is back. */
        for (struct op *o = s->head, *next; o; o = next) {
            next = o->next;
            op_free(o);
        }
        s->head = s->tail = NULL;
        s->qlen = 0;
    }
    if (s->head)
        slot_run(s);
    else
        slot_maybe_free(s);
}

static void on_set(void *cookie, const struct cp_result *res)
{
    struct op *op = cookie;
    if (!op->hm) {
        op_free(op);
        return;
    }
    struct health_monitor *hm = op->hm;
    if (res->rc < 0 && res->rc != CP_ERR_NOT_FOUND)
        log_storage_error(hm, "writing health", op->agent_id, res->rc, res->message);
    if (res->rc == 0 && res->agent && hm->hooks.changed)
        hm->hooks.changed(hm->hooks.arg, res->agent, op->health_before, op->circuit_before,
                          op->status_before);
    op_done(op, res->rc);
}

static void log_transition(const char *id, const struct cp_health_view *before,
                           const struct cp_health_view *after, int status)
{
    if (before->status != after->status)
        log_info("health: agent %s is %s (was %s)%s", id, cp_health_name(after->status),
                 cp_health_name(before->status),
                 status == CP_AGENT_FAILED  ? "; status failed"
                 : status == CP_AGENT_READY ? "; back to ready"
                                            : "");
    if (before->circuit != after->circuit)
        log_info("health: agent %s circuit %s (was %s)", id, cp_circuit_name(after->circuit),
                 cp_circuit_name(before->circuit));
}

/* Apply the head op to the agent as read from storage: write the new health when it changed,
 * else finish the op. `agent` is borrowed for the duration of the call. */
static void op_apply(struct op *op, const struct cp_agent_view *agent)
{
    struct health_monitor *hm = op->hm;
    const struct cp_health_view before = agent->health;
    struct cp_health_view h = before; /* strings borrowed from agent: valid in this call */
    int32_t cur = agent->status;
    int32_t status = -1, expect = -1;
    int64_t now = clock_now_ms();
    int write = 1;

    switch (op->kind) {
    case OP_PROBE: {
        if (!agent->health_probe_json) { /* e.g. re-registered through another cpd */
            op_done(op, OP_NO_PROBE);
            return;
        }
        h.error = op->ok ? NULL : op->error;
        int want = health_apply_probe(&hm->rules, &h, cur, op->ok, op->latency_ms, now);
        /* failed: not over offline (liveness is the reaper's; it would flip back and forth);
         * ready: only a failed agent comes back, and only if still failed when written. */
        if (want == CP_AGENT_FAILED && cur != CP_AGENT_FAILED && cur != CP_AGENT_OFFLINE) {
            status = CP_AGENT_FAILED;
        } else if (want == CP_AGENT_READY && cur == CP_AGENT_FAILED) {
            status = CP_AGENT_READY;
            expect = CP_AGENT_FAILED;
        }
        break;
    }
    case OP_TASK:
        health_apply_task(&hm->rules, &h, op->ok, now);
        write = h.circuit != before.circuit || h.circuit_failures != before.circuit_failures ||
                h.circuit_opens != before.circuit_opens;
        break;
    default: /* OP_TICK */
        health_apply_tick(&hm->rules, &h, now);
        write = h.circuit != before.circuit;
        break;
    }
    slot_note_circuit(op->slot, &h);
    if (!write) {
        op_done(op, 0);
        return;
    }
    log_transition(op->agent_id, &before, &h, status);
    op->health_before = before.status;
    op->circuit_before = before.circuit;
    op->status_before = cur;
    CORE_STORE(hm->core, agent_set_health, op->agent_id, &h, status, expect, on_set, op);
}

static void on_get(void *cookie, const struct cp_result *res)
{
    struct op *op = cookie;
    if (!op->hm) {
        op_free(op);
        return;
    }
    if (res->rc < 0 || !res->agent) {
        if (res->rc != CP_ERR_NOT_FOUND)
            log_storage_error(op->hm, "reading health", op->agent_id, res->rc, res->message);
        op_done(op, res->rc < 0 ? res->rc : CP_ERR_NOT_FOUND);
        return;
    }
    op_apply(op, res->agent);
}

static void slot_run(struct health_slot *s)
{
    if (s->running || !s->head) return;
    s->running = 1;
    struct op *op = s->head;
    CORE_STORE(s->hm->core, agent_get, op->agent_id, on_get, op);
}

/* ---- the circuit tick ------------------------------------------------------------------ */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct health_monitor *hm = arg;
    int64_t now = clock_now_ms();
    size_t n_due = 0;
    struct health_slot **due = hm->n_open ? xmalloc(hm->n_open * sizeof *due) : NULL;

    /* Collect first: running an op may free its slot and unlink it from the table. */
    for (size_t i = 0; due && i < hm->nbuckets; i++)
        for (struct health_slot *s = hm->buckets[i]; s; s = s->next)
            if (s->open_retry_at && s->open_retry_at <= now && n_due < hm->n_open) due[n_due++] = s;
    for (size_t i = 0; i < n_due; i++) {
        struct health_slot *s = due[i];
        struct cp_health_view closed = {.circuit = CP_CIRCUIT_CLOSED};
        slot_note_circuit(s, &closed); /* the op re-notes it if it is still open */
        slot_enqueue(s, op_new(s, OP_TICK, 1, 0, NULL));
    }
    free(due);
    if (hm->n_open) tick_arm(hm);
}

int health_check_probe(struct health_monitor *hm, const struct probe_def *def, char *err,
                       size_t errlen)
{
    if (!hm || !def || !err || errlen == 0) return -1;
    return health_probe_check(hm->core, def, err, errlen);
}

/* One result of a slot's probe (probe_result_cb). May free the probe and the slot (when the
 * agent turns out to be gone), so it is the last thing the probe does. */
static void on_probe_result(void *arg, const char *type, int ok, double latency_ms,
                            const char *error)
{
    struct health_slot *s = arg;
    metrics_probe_result(type, ok, latency_ms / 1000.0);
    if (!ok && (!error || !*error)) error = "probe failed";
    slot_enqueue(s, op_new(s, OP_PROBE, ok, latency_ms, ok ? NULL : error));
}

/* ---- the module's interface ------------------------------------------------------------ */

struct health_monitor *health_new(struct cp_core *core, const struct health_hooks *hooks,
                                  probe_decode_fn decode)
{
    struct health_monitor *hm = xcalloc(1, sizeof *hm);
    hm->core = core;
    if (hooks) hm->hooks = *hooks;
    hm->decode = decode;
    hm->nbuckets = 64;
    hm->buckets = xcalloc(hm->nbuckets, sizeof *hm->buckets);
    health_apply_config(hm);
    if (core->base) hm->tick = xevtimer_new(core->base, tick_cb, hm);
    return hm;
}

void health_apply_config(struct health_monitor *hm)
{
    if (!hm) return;
    const struct cp_config *cfg = hm->core->cfg;
    hm->rules.unhealthy_threshold = cfg->unhealthy_threshold;
    hm->rules.recovery_threshold = cfg->recovery_threshold;
    hm->rules.failure_threshold = cfg->failure_threshold;
    hm->rules.slow_probe_ms = cfg->slow_probe_ms;
    hm->rules.cooldown_ms = cfg->cooldown_ms;
    hm->rules.max_cooldown_ms = cfg->max_cooldown_ms;
    for (size_t i = 0; hm->buckets && i < hm->nbuckets; i++)
        for (struct health_slot *s = hm->buckets[i]; s; s = s->next)
            if (s->probe) health_probe_apply_config(s->probe, hm->core);
}

void health_free(struct health_monitor *hm)
{
    if (!hm) return;
    if (hm->tick) event_free(hm->tick);
    for (size_t i = 0; i < hm->nbuckets; i++) {
        struct health_slot *s = hm->buckets[i], *next;
        for (; s; s = next) {
            next = s->next;
            if (s->probe) health_probe_free(s->probe);
            struct op *o = s->head;
            if (o && s->running) { /* in storage: its callback frees it */
                o->hm = NULL;
                o = o->next;
            }
            for (struct op *on; o; o = on) {
                on = o->next;
                op_free(o);
            }
            free(s);
        }
    }
    free(hm->buckets);
    free(hm);
}

/* The stored probe object's text, decoded by the front end that wrote it, then started. */
static struct health_probe *probe_start(struct health_monitor *hm, struct health_slot *s,
                                        const char *text)
{
    struct probe_def def = {0};
    char err[256] = "no probe decoder";
    if (!hm->decode || hm->decode(text, &def, err, sizeof err) < 0) {
        log_warn("health: agent %s: not probing: %s", s->id, err);
        probe_def_clear(&def);
        return NULL;
    }
    return health_probe_new(hm->core, s->id, &def, on_probe_result, s); /* takes def */
}

void health_track(struct health_monitor *hm, const struct cp_agent_view *a)
{
    if (!hm || !a || !a->agent_id) return;
    struct health_slot *s = slot_get(hm, a->agent_id);
    if (s->probe) {
        health_probe_free(s->probe);
        s->probe = NULL;
    }
    if (a->health_probe_json) s->probe = probe_start(hm, s, a->health_probe_json);
    slot_note_circuit(s, &a->health);
    slot_maybe_free(s);
}

void health_untrack(struct health_monitor *hm, const char *agent_id)
{
    struct health_slot *s = hm && agent_id ? slot_find(hm, agent_id) : NULL;
    if (!s) return;
    if (s->probe) {
        health_probe_free(s->probe);
        s->probe = NULL;
    }
    struct cp_health_view closed = {.circuit = CP_CIRCUIT_CLOSED};
    slot_note_circuit(s, &closed);
    slot_maybe_free(s);
}

void health_task_outcome(struct health_monitor *hm, const char *agent_id, int ok)
{
    if (!hm || !agent_id) return;
    struct health_slot *s = slot_get(hm, agent_id);
    slot_enqueue(s, op_new(s, OP_TASK, ok ? 1 : 0, 0, NULL));
}

/* The store just returned the agent with the task's outcome (one atomic operation), so when no
 * other update of this agent is queued here the view is as fresh as an agent_get would be: apply
 * the outcome to it and skip the read. A success with a closed circuit and no failures then
 * costs no storage call at all (on Redis: one FCALL fewer per task lifecycle). */
void health_task_outcome_seen(struct health_monitor *hm, const struct cp_agent_view *agent, int ok)
{
    if (!hm || !agent || !agent->agent_id) return;
    struct health_slot *s = slot_get(hm, agent->agent_id);
    struct op *op = op_new(s, OP_TASK, ok ? 1 : 0, 0, NULL);
    if (s->running || s->head) {
        slot_enqueue(s, op);
        return;
    }
    s->head = s->tail = op;
    s->qlen = 1;
    s->running = 1;
    op_apply(op, agent);
}
