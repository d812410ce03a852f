/* memory_affinity_hold.c — affinity holds in the in-memory backend (storage.h, "Affinity
 * holds"; docs/fleet.md): a new task with an affinity key is held for the agent that completed
 * the key last, for a bounded time. Claims by other agents step over it (mem_hold_skips, from
 * the band scan); the warm agent's claim takes its held tasks first (mem_hold_best).
 *
 * Ownership: a held task's extension names its agent (one reference on the interned agent id,
 * so the name outlives an unregistered agent) and links the task into that name's `held` list;
 * the hold ends — unlinked, reference dropped — when the task leaves its band
 * (mem_pending_remove: claimed, cancelled, deleted), when it is freed, or when it is found
 * expired. Nothing else points at a held task, so a hold never outlives its task. */
#include <string.h>

#include "memory_internal.h"

/* Agents hold at most this many tasks in flight plus held, per max_concurrent_tasks. */
#define HOLD_LOAD_FACTOR 2

static int held(const struct mem_task *t)
{
    return t->ext && t->ext->held_for;
}

void mem_hold_drop(struct mem *m, struct mem_task *t)
{
    if (!held(t)) return;
    struct mem_task_ext *e = t->ext;
    struct mem_name *n = e->held_for;
    if (e->hprev)
        e->hprev->ext->hnext = e->hnext;
    else
        n->held = e->hnext;
    if (e->hnext) e->hnext->ext->hprev = e->hprev;
    e->hprev = e->hnext = NULL;
    e->held_for = NULL;
    e->held_until = 0;
    mem_name_put(m, &m->ids, n);
}

/* Tasks still held for agent name n at now (expired holds end here). */
static uint32_t held_count(struct mem *m, struct mem_name *n, int64_t now)
{
    uint32_t k = 0;
    struct mem_task *t = n->held;
    while (t) {
        struct mem_task *next = t->ext->hnext;
        if (t->ext->held_until <= now)
            mem_hold_drop(m, t);
        else
            k++;
        t = next;
    }
    return k;
}

/* The agent may have a task held for it: a candidate for claims soon (starting, ready, busy),
 * not unhealthy, circuit not open, with the task's capabilities, and below the load bound. */
static int may_hold_for(struct mem *m, struct mem_agent *a, const struct mem_task *t, int64_t now)
{
    if (a->status != CP_AGENT_STARTING && a->status != CP_AGENT_READY && a->status != CP_AGENT_BUSY)
        return 0;
    if (a->health.status == CP_HEALTH_UNHEALTHY) return 0;
    if (a->health.circuit == CP_CIRCUIT_OPEN && a->health.retry_at_ms > now) return 0;
    if (!cp_caps_subset(t->caps->caps, t->caps->n, a->caps, a->n_caps)) return 0;
    uint64_t load = (uint64_t)a->in_flight + held_count(m, a->id, now);
    return load < (uint64_t)HOLD_LOAD_FACTOR * a->max_concurrent;
}

int64_t mem_hold_at_submit(struct mem *m, struct mem_task *t, const char *key, int64_t hold_ms,
                           int64_t now)
{
    if (!key || !*key || hold_ms <= 0 || t->waiting || t->status != CP_TASK_PENDING) return 0;
    const char *agent_id = mem_affinity_agent(m, key, now);
    struct mem_agent *a = agent_id ? mem_agent_find(m, agent_id) : NULL;
    if (!a || !may_hold_for(m, a, t, now)) return 0;
    struct mem_task_ext *e = mem_task_ext(t);
    if (!e) return 0; /* out of memory: simply not held */
    int64_t until;
    if (__builtin_add_overflow(now, hold_ms, &until)) until = INT64_MAX;
    e->held_for = a->id;
    a->id->refs++;
    e->held_until = until;
    e->hprev = NULL;
    e->hnext = a->id->held;
    if (e->hnext) e->hnext->ext->hprev = t;
    a->id->held = t;
    return until;
}

int mem_hold_skips(struct mem *m, const struct mem_task *t, const struct mem_name *agent,
                   int64_t now)
{
    if (!held(t) || t->ext->held_for == agent || t->ext->held_until <= now) return 0;
    if (!m->hold_skipped_due || t->ext->held_until < m->hold_skipped_due)
        m->hold_skipped_due = t->ext->held_until;
    return 1;
}

/* Claim order among held tasks: priority, then pending_since, then arrival. */
static int held_before(const struct mem_task *a, const struct mem_task *b)
{
    if (a->priority != b->priority) return a->priority < b->priority;
    if (a->pending_since != b->pending_since) return a->pending_since < b->pending_since;
    return a->seq < b->seq;
}

struct mem_task *mem_hold_best(struct mem *m, const struct mem_agent *a, const char *const *have,
                               uint32_t n_have, int64_t now)
{
    struct mem_task *best = NULL;
    struct mem_task *t = a->id->held;
    while (t) {
        struct mem_task *next = t->ext->hnext;
        if (t->ext->held_until <= now) {
            mem_hold_drop(m, t);
        } else if (!t->waiting && cp_caps_subset(t->caps->caps, t->caps->n, have, n_have) &&
                   !mem_tenant_full(t->caps->tenant) &&
                   !(t->passed_over == a->id && now < t->passed_over_until) &&
                   (!best || held_before(t, best))) {
            best = t;
        }
        t = next;
    }
    return best;
}
