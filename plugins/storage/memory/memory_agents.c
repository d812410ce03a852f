/* memory_agents.c — agent records of the in-memory backend: register, get, list, heartbeat,
 * unregister, set_health, drain, and the status rules they share (an operator's drain shows
 * through every status but offline and failed, busy at max, health follows liveness for agents
 * without a probe, counters kept on every change).
 *
 * agent_list never sorts: register/unregister keep every agent in mem.order and in the ordered
 * set of each of its capabilities (memory_order.c), and the list walks the smallest set the
 * filter allows (all agents, or those of the rarest required capability), already in agent_id
 * order. Cost: O(size of that set), not O(n log n) over every agent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* ---- record helpers ----------------------------------------------------------------------- */

void mem_agent_view(const struct mem_agent *a, struct cp_agent_view *v)
{
    memset(v, 0, sizeof *v);
    v->size = sizeof *v;
    v->agent_id = a->id->s;
    v->capabilities = a->caps;
    v->n_capabilities = a->n_caps;
    v->status = a->status;
    v->model = a->model;
    v->provider = a->provider ? a->provider->s : NULL;
    v->metadata_json = a->metadata;
    v->health_probe_json = a->probe;
    v->registered_at_ms = a->registered_at;
    v->last_heartbeat_ms = a->last_heartbeat;
    v->last_assigned_ms = a->last_assigned;
    v->max_concurrent_tasks = a->max_concurrent;
    v->tasks_in_flight = a->in_flight;
    v->current_task_id = a->current ? TASK_ID(a->current) : NULL;
    v->tasks_completed = a->completed;
    v->tasks_failed = a->failed;
    v->latency_sum_ms = a->latency_sum;
    v->latency_count = a->latency_count;
    v->health = a->health;
#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
    v->drained_at_ms = a->drained_at;
    v->quota_scopes = a->scopes;
    v->n_quota_scopes = a->n_scopes;
#endif
}

/* cp_agent_is_available() on the record. */
static int agent_available(const struct mem_agent *a)
{
    return a->status == CP_AGENT_READY && a->in_flight < a->max_concurrent &&
           a->health.circuit != CP_CIRCUIT_OPEN;
}

void mem_agent_stats(struct mem *m, const struct mem_agent *a, int sign)
{
    uint64_t d = (uint64_t)(int64_t)sign; /* unsigned wrap-around makes -1 a subtraction */
    struct cp_stats_view *s = &m->stats;
    s->agents_total += d;
    if (agent_available(a)) s->agents_available += d;
    if (a->status >= 0 && a->status < CP_AGENT_STATUS_COUNT) s->agents_by_status[a->status] += d;
    if (a->health.status >= 0 && a->health.status < CP_HEALTH_COUNT)
        s->agents_by_health[a->health.status] += d;
    if (a->health.circuit == CP_CIRCUIT_OPEN) s->circuits_open += d;
}

/* The capability and provider maps change only when an agent is added, replaced or deleted. */
static void agent_name_stats(const struct mem_agent *a, int sign)
{
    uint64_t d = (uint64_t)(int64_t)sign;
    for (uint32_t i = 0; i < a->n_caps; i++)
        a->cap_names[i]->count += d;
    if (a->provider) a->provider->count += d;
}

/* The invariants every status change keeps (counters are the caller's): a status "resolved"
 * as cp/storage.h says — a drained agent shows draining unless offline or failed; ready at
 * the maximum is busy. */
static void agent_normalise(struct mem_agent *a)
{
    if (a->drained_at && a->status != CP_AGENT_OFFLINE && a->status != CP_AGENT_FAILED)
        a->status = CP_AGENT_DRAINING;
    if (a->status == CP_AGENT_READY && a->in_flight >= a->max_concurrent) a->status = CP_AGENT_BUSY;
    if (!a->probe)
        a->health.status = a->status == CP_AGENT_OFFLINE ? CP_HEALTH_UNHEALTHY : CP_HEALTH_HEALTHY;
}

void mem_agent_set_status(struct mem *m, struct mem_agent *a, int32_t status)
{
    mem_agent_stats(m, a, -1);
    mem_agent_unlink(m, a);
    a->status = status;
    agent_normalise(a);
    mem_agent_link(m, a);
    mem_agent_stats(m, a, 1);
}

void mem_agent_touch(struct mem *m, struct mem_agent *a, int64_t now)
{
    mem_agent_unlink(m, a);
    a->last_heartbeat = now;
    mem_agent_link(m, a);
}

static int agent_eq(const void *item, const void *key)
{
    return strcmp(((const struct mem_agent *)item)->id->s, key) == 0;
}

static uint32_t agent_hash(const struct mem *m, const char *id)
{
    return (uint32_t)mem_hash64(m->seed, id, strlen(id));
}

struct mem_agent *mem_agent_find(struct mem *m, const char *id)
{
    if (!id) return NULL;
    return mem_hash_get(&m->agents, agent_hash(m, id), agent_eq, id);
}

/* Out of mem.order and the per-capability sets (the nodes stay with the agent until freed). */
static void agent_unorder(struct mem *m, struct mem_agent *a)
{
    if (!a->nodes) return;
    mem_order_remove(&m->order, a);
    for (uint32_t i = 0; i < a->n_caps; i++)
        mem_order_remove(a->cap_names[i]->agents, a);
}

void mem_agent_delete(struct mem *m, struct mem_agent *a, int64_t now, struct mem_events *ev)
{
    while (a->held_head) {
        struct mem_task *t = a->held_head;
        int32_t was = t->status;
        mem_task_unhold(m, t);
        mem_task_end_attempt(m, t, CP_ATTEMPT_REMOVED, now);
        mem_task_requeue(m, t, now, 0);
        mem_task_event(ev, CP_EVENT_TASK_REQUEUED, a->id->s, t, was);
    }
    mem_agent_stats(m, a, -1);
    agent_name_stats(a, -1);
    mem_agent_unlink(m, a);
    agent_unorder(m, a);
    mem_hash_del(&m->agents, agent_hash(m, a->id->s), a);
    a->prev = NULL;
    a->next = m->grave_agents;
    m->grave_agents = a;
}

/* ---- register ------------------------------------------------------------------------------ */

/* Everything a registration replaces, allocated before anything is changed. */
struct agent_fields {
    struct mem_name **cap_names;
    char *model;
    struct mem_name *provider;
    const char *metadata;
    char *probe;
    struct mem_onode *nodes;       /* 1 + n_caps: mem.order, then each capability's set */
    struct cp_quota_scope *scopes; /* quota_scopes (2.4) */
    uint32_t n_scopes;
};

static void fields_drop(struct mem *m, struct agent_fields *f, uint32_t n_caps)
{
    if (f->cap_names)
        for (uint32_t i = 0; i < n_caps; i++)
            mem_name_put(m, &m->caps, f->cap_names[i]);
    mem_free_later(m, f->cap_names);
    mem_free_later(m, f->model);
    mem_name_put(m, &m->providers, f->provider);
    mem_free_json_object(m, f->metadata);
    mem_free_later(m, f->probe);
    mem_free_later(m, f->scopes);
    free(f->nodes); /* unlinked (or never linked); only the store ever sees nodes */
}

static int fields_make(struct mem *m, const struct cp_agent_view *in, struct agent_fields *f)
{
    memset(f, 0, sizeof *f);
    uint32_t n = in->n_capabilities;
    /* One allocation: the name pointers, then the string pointers for views. */
    f->cap_names = malloc((size_t)n * (sizeof(struct mem_name *) + sizeof(char *)) + 1);
    if (!f->cap_names) return -1;
    for (uint32_t i = 0; i < n; i++)
        f->cap_names[i] = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct mem_name *c = f->cap_names[i] = mem_name_get(m, &m->caps, in->capabilities[i]);
        if (!c || (!c->agents && !(c->agents = calloc(1, sizeof *c->agents)))) goto fail;
    }
    if (!(f->nodes = mem_order_nodes(m, n + 1))) goto fail;
    f->model = mem_strdup(in->model ? in->model : "unknown");
    f->provider = mem_name_get(m, &m->providers, in->provider ? in->provider : "unknown");
    if (!f->model || !f->provider || mem_dup_json_object(in->metadata_json, &f->metadata) != 0)
        goto fail;
    if (in->health_probe_json && !(f->probe = mem_strdup(in->health_probe_json))) goto fail;
#if CP_ABI_TARGET_MINOR >= 4
    int ok;
    f->scopes = mem_scopes_dup(in->quota_scopes, in->n_quota_scopes, &ok);
    if (!ok) goto fail;
    f->n_scopes = f->scopes ? in->n_quota_scopes : 0;
#endif
    return 0;
fail:
    fields_drop(m, f, n);
    return -1;
}

/* Also links the agent into mem.order and its capabilities' sets: a->id must be set. */
static void fields_install(struct mem *m, struct mem_agent *a, struct agent_fields *f,
                           uint32_t n_caps)
{
    a->cap_names = f->cap_names;
    a->caps = (const char **)(f->cap_names + n_caps);
    for (uint32_t i = 0; i < n_caps; i++)
        a->caps[i] = f->cap_names[i]->s;
    a->n_caps = n_caps;
    a->model = f->model;
    a->provider = f->provider;
    a->metadata = f->metadata;
    a->probe = f->probe;
    a->nodes = f->nodes;
    a->scopes = f->scopes;
    a->n_scopes = f->n_scopes;
    struct mem_onode *nd = a->nodes;
    nd->agent = a;
    mem_order_insert(&m->order, nd);
    for (uint32_t i = 0; i < n_caps; i++) {
        nd = mem_order_next_node(nd);
        nd->agent = a;
        mem_order_insert(a->cap_names[i]->agents, nd);
    }
}

/* before: the agent's status before the operation, or -1 (not reported). */
static void reply_agent(cp_storage_cb cb, void *cookie, const struct mem_agent *a, int created,
                        int32_t before)
{
    struct cp_agent_view v;
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    mem_result_before(&res, (struct mem_before){before, -1});
    mem_agent_view(a, &v);
    res.agent = &v;
    res.created = created;
    cb(cookie, &res);
}

void mem_op_agent_register(void *st, const struct cp_agent_view *in, int64_t now_ms,
                           cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct agent_fields f;
    if (!in || !in->agent_id || !in->agent_id[0]) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "agent_id is required");
    } else if (!mem_caps_valid(in->capabilities, in->n_capabilities)) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "capabilities must be sorted and unique");
    } else if (fields_make(m, in, &f) != 0) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        struct mem_agent *a = mem_agent_find(m, in->agent_id);
        int created = !a;
        int32_t before = a ? a->status : -1;
        if (a) {
            struct agent_fields old = {a->cap_names, a->model, a->provider, a->metadata,
                                       a->probe,     a->nodes, a->scopes,   a->n_scopes};
            mem_agent_stats(m, a, -1);
            agent_name_stats(a, -1);
            mem_agent_unlink(m, a);
            agent_unorder(m, a); /* before fields_drop() may free a capability's set */
            fields_drop(m, &old, a->n_caps);
        } else {
            a = calloc(1, sizeof *a);
            struct mem_name *id = a ? mem_name_get(m, &m->ids, in->agent_id) : NULL;
            if (!id || mem_hash_put(&m->agents, agent_hash(m, in->agent_id), a) != 0) {
                mem_name_put(m, &m->ids, id);
                free(a);
                fields_drop(m, &f, in->n_capabilities);
                mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
                mem_leave(m);
                return;
            }
            a->id = id;
            a->registered_at = now_ms;
            a->health.status = CP_HEALTH_UNKNOWN;
            a->health.circuit = CP_CIRCUIT_CLOSED;
            a->health.latency_ms = -1;
        }
        fields_install(m, a, &f, in->n_capabilities);
        a->max_concurrent = in->max_concurrent_tasks;
        a->status = a->reported = CP_AGENT_READY; /* drained_at is kept */
        a->last_heartbeat = now_ms;
        agent_normalise(a);
        mem_agent_link(m, a);
        agent_name_stats(a, 1);
        mem_agent_stats(m, a, 1);
        reply_agent(cb, cookie, a, created, before);
    }
    mem_leave(m);
}

/* ---- get, list ----------------------------------------------------------------------------- */

void mem_op_agent_get(void *st, const char *agent_id, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_agent *a = mem_agent_find(m, agent_id);
    if (!a)
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "agent not found");
    else
        reply_agent(cb, cookie, a, 0, -1);
    mem_leave(m);
}

/* The smallest ordered set holding every agent that can match: mem.order, or the set of the
 * rarest required capability. NULL when a required capability has no agent at all. */
static const struct mem_order *list_source(struct mem *m, const char *const *need, uint32_t n_need)
{
    const struct mem_order *from = &m->order;
    for (uint32_t i = 0; i < n_need; i++) {
        const struct mem_name *c = mem_name_find(m, &m->caps, need[i]);
        if (!c || !c->agents || c->agents->n == 0) return NULL;
        if (c->agents->n < from->n) from = c->agents;
    }
    return from;
}

/* The paging members of the filter (ABI 2.4; absent when built for an older minor). */
struct page {
    const char *after;
    uint32_t limit, health_mask;
};
static struct page page_of(const struct cp_agent_filter *f)
{
    struct page p = {NULL, 0, 0};
#if CP_ABI_TARGET_MINOR >= 4
    if (f) p = (struct page){f->after, f->limit, f->health_mask};
#else
    (void)f;
#endif
    return p;
}

static int health_in(uint32_t mask, int32_t health)
{
    return !mask || (health >= 0 && health < 32 && (mask & (1u << health)));
}

/* Every match is found by walking the smallest ordered set the filter allows from the first id
 * after `after`, so a page costs O(log n + what it walks), and a page stops at its limit. */
void mem_op_agent_list(void *st, const struct cp_agent_filter *filter, cp_storage_cb cb,
                       void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    const char *const *need = filter ? filter->capabilities : NULL;
    uint32_t n_need = filter ? filter->n_capabilities : 0;
    int32_t status = filter ? filter->status : -1;
    struct page pg = page_of(filter);
    if (!mem_caps_valid(need, n_need)) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "capabilities must be sorted and unique");
        mem_leave(m);
        return;
    }
    /* The source set is already ordered by agent_id, so the matches come out sorted. */
    const struct mem_order *from = list_source(m, need, n_need);
    size_t n = from ? from->n : 0;
    if (pg.limit && pg.limit < n) n = pg.limit;
    struct cp_agent_view *views = malloc((n ? n : 1) * sizeof *views);
    const struct cp_agent_view **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    if (!views || !ptrs) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        size_t k = 0;
        const char *next = NULL;
        /* From a capability's set with one requirement, every member matches the capability. */
        int check_caps = n_need > 1 || (n_need == 1 && from == &m->order);
        for (const struct mem_onode *nd = from ? mem_order_after(from, pg.after) : NULL; nd;
             nd = nd->next[0]) {
            const struct mem_agent *a = nd->agent;
            if (status >= 0 && a->status != status) continue;
            if (!health_in(pg.health_mask, a->health.status)) continue;
            if (check_caps && !cp_caps_subset(need, n_need, a->caps, a->n_caps)) continue;
            if (pg.limit && k == pg.limit) { /* one more matches: there is a next page */
                next = ptrs[k - 1]->agent_id;
                break;
            }
            mem_agent_view(a, &views[k]);
            ptrs[k] = &views[k];
            k++;
        }
        struct cp_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        res.agents = ptrs;
        res.n_agents = k;
        res.total = k;
#if CP_ABI_TARGET_MINOR >= 4
        res.next = next;
#else
        (void)next;
#endif
        cb(cookie, &res);
    }
    free(views);
    free(ptrs);
    mem_leave(m);
}

/* ---- heartbeat, unregister, set_health ----------------------------------------------------- */

void mem_op_agent_heartbeat(void *st, const char *agent_id, int32_t status, int64_t now_ms,
                            cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_agent *a = mem_agent_find(m, agent_id);
    if (!a) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "agent not found");
    } else if (status < -1 || status >= CP_AGENT_STATUS_COUNT || status == CP_AGENT_OFFLINE) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "an agent cannot report this status");
    } else {
        int32_t before = a->status;
        mem_agent_touch(m, a, now_ms);
        int32_t next = a->status;
        /* While its probe fails, a heartbeat keeps the agent alive but cannot make it usable:
         * a failed or offline agent with a failing probe is (back to) failed. */
        int probe_failing = a->probe && a->health.status == CP_HEALTH_UNHEALTHY;
        if (status >= 0)
            a->reported = status;
        else if (a->status == CP_AGENT_OFFLINE)
            a->reported = CP_AGENT_READY;
        if (probe_failing && (a->status == CP_AGENT_FAILED || a->status == CP_AGENT_OFFLINE))
            next = CP_AGENT_FAILED;
        else if (status < 0 && a->status == CP_AGENT_OFFLINE)
            next = CP_AGENT_READY;
        else if (status >= 0)
            next = status;
        mem_agent_set_status(m, a, next); /* resolved: a drained agent stays draining */
        reply_agent(cb, cookie, a, 0, before);
    }
    mem_leave(m);
}

void mem_op_agent_unregister(void *st, const char *agent_id, int64_t now_ms, cp_storage_cb cb,
                             void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_agent *a = mem_agent_find(m, agent_id);
    if (!a) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "agent not found");
    } else {
        struct mem_events ev = {0};
        int32_t before = a->status;
        mem_agent_delete(m, a, now_ms, &ev);
        mem_reply_events(cb, cookie, &ev, before);
    }
    mem_leave(m);
}

void mem_op_agent_drain(void *st, const char *agent_id, int drain, int64_t now_ms, cp_storage_cb cb,
                        void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_agent *a = mem_agent_find(m, agent_id);
    if (!a) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "agent not found");
    } else {
        int changed = drain ? !a->drained_at : a->drained_at != 0;
        int32_t was = a->status, next = a->status;
        if (drain && !a->drained_at) a->drained_at = now_ms ? now_ms : 1;
        if (!drain && a->drained_at) {
            a->drained_at = 0;
            if (next == CP_AGENT_DRAINING) next = a->reported;
        }
        mem_agent_set_status(m, a, next); /* resolved: draining while drained */
        reply_agent(cb, cookie, a, changed, was);
    }
    mem_leave(m);
}

static int health_valid(const struct cp_health_view *h)
{
    return h && h->status >= 0 && h->status < CP_HEALTH_COUNT && h->circuit >= 0 &&
           h->circuit < CP_CIRCUIT_COUNT;
}

void mem_op_agent_set_health(void *st, const char *agent_id, const struct cp_health_view *health,
                             int32_t status, int32_t expect_status, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_agent *a = mem_agent_find(m, agent_id);
    char *error = NULL;
    if (!a) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "agent not found");
    } else if (!health_valid(health) || status >= CP_AGENT_STATUS_COUNT) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "invalid health or status");
    } else if (health->error && !(error = mem_strdup(health->error))) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        int32_t before = a->status;
        mem_agent_stats(m, a, -1);
        mem_free_later(m, a->health_error);
        a->health = *health;
        a->health.error = a->health_error = error;
        mem_agent_stats(m, a, 1);
        int32_t next = a->status;
        if (status >= 0 && (expect_status < 0 || a->status == expect_status)) next = status;
        mem_agent_set_status(m, a, next); /* also re-applies health-follows-liveness */
        reply_agent(cb, cookie, a, 0, before);
    }
    mem_leave(m);
}
