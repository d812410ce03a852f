/* memory_reap.c — reap and stats for the in-memory backend: deadlines found through the
 * ordered indexes (deadline and not_before heaps, agents by last_heartbeat, terminal tasks by
 * completed_at),
 * and the counters read without a scan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "memory_internal.h"

/* A held task whose holder failed it by silence (timeout, offline): counted as a failure of
 * the holder, recorded as an attempt with `outcome`; pending again (after its backoff, drawn
 * with rnd) while retries remain, else `final`. */
static void requeue_failed(struct mem *m, struct mem_task *t, const char *error, int final,
                           int outcome, int64_t now, uint32_t rnd)
{
    struct mem_agent *a = mem_task_unhold(m, t);
    if (a) a->failed++;
    t->retries++;
    (void)mem_task_set_error(m, t, error); /* out of memory: the old error stays */
    mem_task_end_attempt(m, t, outcome, now);
    if (t->retries < t->max_retries)
        mem_task_requeue(m, t, now, mem_task_backoff(t, rnd));
    else
        mem_task_finish(m, t, final, now);
}

static uint64_t mem_terminal_count(const struct mem *m)
{
    return m->stats.tasks_by_status[CP_TASK_COMPLETED] + m->stats.tasks_by_status[CP_TASK_FAILED] +
           m->stats.tasks_by_status[CP_TASK_CANCELLED] + m->stats.tasks_by_status[CP_TASK_TIMEOUT];
}

/* malloc keeps freed memory for reuse; after a large deletion (a retention wave, a lowered
 * cap) most of it would stay in the process for good. Give it back once the reaper has caught
 * up, at most once per TRIM_AFTER deleted tasks (a trim walks the heap: ~ms per 100 MB). */
#define TRIM_AFTER 10000
static void mem_maybe_trim(struct mem *m, size_t deleted, int caught_up)
{
    m->deleted_since_trim += deleted;
    if (!caught_up || m->deleted_since_trim < TRIM_AFTER) return;
    m->deleted_since_trim = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void mem_op_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    if (!r) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "reap parameters are required");
        return;
    }
    mem_enter(m);
    int64_t now = r->now_ms, hbt = r->heartbeat_timeout_ms;
    size_t budget = r->max_events ? r->max_events : SIZE_MAX, work = 0;
    struct mem_events ev = {0};
    struct mem_task *t;
    struct mem_agent *a;
    uint32_t seed = 0, k = 0; /* the k-th requeue of this reap draws cp_jitter_mix(seed, k) */
#if CP_ABI_TARGET_MINOR >= 4  /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
    seed = r->jitter;
#endif

    /* Held tasks past claimed_at + timeout_ms, earliest deadline first. The holder's id stays
     * valid for the event: the agent record lives at least until this op returns. */
    while (work < budget && (t = mem_theap_top(&m->timeouts)) && mem_task_deadline(t) <= now) {
        a = t->holder;
        int32_t was = t->status;
        requeue_failed(m, t, "timeout", CP_TASK_TIMEOUT, CP_ATTEMPT_TIMEOUT, now,
                       cp_jitter_mix(seed, k++));
        mem_task_event(&ev, CP_EVENT_TASK_TIMEOUT, a ? a->id->s : NULL, t, was);
        work++;
    }

    /* Silent agents, least recently heard first; offline ones are on their own list. */
    while (hbt > 0 && work < budget && (a = m->live.head) &&
           mem_deadline_passed(a->last_heartbeat, hbt, now)) {
        struct cp_event e = {
            .size = sizeof e,
            .kind = CP_EVENT_AGENT_OFFLINE,
            .agent_id = a->id->s,
            .task_status = -1,
#if CP_ABI_TARGET_MINOR >= 4
            .status_before = a->status
#endif
        };
        mem_agent_set_status(m, a, CP_AGENT_OFFLINE);
        mem_events_add(&ev, &e);
        work++;
        while ((t = a->held_head)) {
            int32_t was = t->status;
            requeue_failed(m, t, "agent offline", CP_TASK_FAILED, CP_ATTEMPT_OFFLINE, now,
                           cp_jitter_mix(seed, k++));
            if (t->status == CP_TASK_PENDING)
                mem_task_event(&ev, CP_EVENT_TASK_REQUEUED, a->id->s, t, was);
            work++;
        }
    }

    int64_t stale;
    if (r->remove_stale && hbt > 0 && !__builtin_mul_overflow(hbt, 3, &stale)) {
        while (work < budget && (a = m->offline.head) &&
               mem_deadline_passed(a->last_heartbeat, stale, now)) {
            struct cp_event e = {
                .size = sizeof e,
                .kind = CP_EVENT_AGENT_REMOVED,
                .agent_id = a->id->s,
                .task_status = -1,
#if CP_ABI_TARGET_MINOR >= 4
                .status_before = a->status
#endif
            };
            mem_events_add(&ev, &e);
            work++;
            size_t before = ev.n;
            mem_agent_delete(m, a, now, &ev); /* the record waits in the graveyard */
            work += ev.n - before;
        }
    }

    /* Waiting tasks whose time came: into their bands, earliest first. */
    while (work < budget && (t = mem_theap_top(&m->waiting)) && t->not_before <= now) {
        mem_pending_remove(m, t); /* out of mem.waiting */
        mem_pending_insert(m, t, 0);
        mem_task_event(&ev, CP_EVENT_TASK_DUE, NULL, t, CP_TASK_PENDING);
        work++;
    }
    t = mem_theap_top(&m->waiting);
    int64_t next_due = t ? t->not_before : 0;

    while (r->retention_ms >= 0 && work < budget && (t = m->done_head) &&
           mem_deadline_passed(t->completed_at, r->retention_ms, now)) {
        mem_task_event(&ev, CP_EVENT_TASK_DELETED, t->assigned ? t->assigned->s : NULL, t,
                       t->status);
        mem_task_delete(m, t);
        work++;
    }

    /* The count cap: oldest terminal tasks first, whatever their age. */
    while (r->max_terminal > 0 && work < budget && (t = m->done_head) &&
           mem_terminal_count(m) > r->max_terminal) {
        mem_task_event(&ev, CP_EVENT_TASK_DELETED, t->assigned ? t->assigned->s : NULL, t,
                       t->status);
        mem_task_delete(m, t);
        work++;
    }

    size_t deleted = 0;
    for (size_t i = 0; i < ev.n; i++)
        deleted += ev.v[i].kind == CP_EVENT_TASK_DELETED;
    mem_reply_events_ex(cb, cookie, &ev, next_due, 0);
    mem_leave(m); /* the deleted records are freed here */
    mem_maybe_trim(m, deleted, work < budget);
}

void mem_op_stats(void *st, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct cp_stats_view s = m->stats;
    s.size = sizeof s;
    s.n_agents_by_status = CP_AGENT_STATUS_COUNT;
    s.n_agents_by_health = CP_HEALTH_COUNT;
    s.n_tasks_by_status = CP_TASK_STATUS_COUNT;
    s.n_tasks_by_priority = CP_PRIORITY_COUNT;
    struct cp_count *caps = mem_names_counts(&m->caps, &s.n_agents_by_capability);
    struct cp_count *prov = mem_names_counts(&m->providers, &s.n_agents_by_provider);
    struct cp_count *types = mem_names_counts(&m->types, &s.n_tasks_by_type);
    if (s.n_agents_by_capability == SIZE_MAX || s.n_agents_by_provider == SIZE_MAX ||
        s.n_tasks_by_type == SIZE_MAX) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        s.agents_by_capability = caps;
        s.agents_by_provider = prov;
        s.tasks_by_type = types;
        struct cp_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        res.stats = &s;
        cb(cookie, &res);
    }
    free(caps);
    free(prov);
    free(types);
    mem_leave(m);
}
