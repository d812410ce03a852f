/* harness_copy.c — deep copies of what a backend hands back: results are only lent for the
 * duration of the callback, so the harness copies them (into the per-test memory of
 * cx_alloc) before the callback returns, and checks the sizes the backend declared. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conformance.h"

/* ---- deep copies ------------------------------------------------------------------------------
 */

static const char *const *copy_caps(const char *const *v, uint32_t n)
{
    if (!v) return NULL;
    const char **out = cx_alloc((n + 1) * sizeof *out);
    for (uint32_t i = 0; i < n; i++)
        out[i] = cx_strdup(v[i]);
    return out;
}

static struct cp_agent_view *copy_agent(const struct cp_agent_view *a)
{
    if (!a) return NULL;
    struct cp_agent_view *c = cx_alloc(sizeof *c);
    *c = *a;
    c->agent_id = cx_strdup(a->agent_id);
    c->capabilities = copy_caps(a->capabilities, a->n_capabilities);
    c->model = cx_strdup(a->model);
    c->provider = cx_strdup(a->provider);
    c->metadata_json = cx_strdup(a->metadata_json);
    c->health_probe_json = cx_strdup(a->health_probe_json);
    c->current_task_id = cx_strdup(a->current_task_id);
    c->health.error = cx_strdup(a->health.error);
    if (a->quota_scopes && a->n_quota_scopes) {
        struct cp_quota_scope *s = cx_alloc(a->n_quota_scopes * sizeof *s);
        for (uint32_t i = 0; i < a->n_quota_scopes; i++)
            s[i] = (struct cp_quota_scope){cx_strdup(a->quota_scopes[i].provider),
                                           cx_strdup(a->quota_scopes[i].model),
                                           cx_strdup(a->quota_scopes[i].key_id)};
        c->quota_scopes = s;
    } else {
        c->quota_scopes = NULL;
        c->n_quota_scopes = 0;
    }
    return c;
}

static struct cp_task_view *copy_task(const struct cp_task_view *t)
{
    if (!t) return NULL;
    struct cp_task_view *c = cx_alloc(sizeof *c);
    *c = *t;
    c->id = cx_strdup(t->id);
    c->task_type = cx_strdup(t->task_type);
    c->payload_json = cx_strdup(t->payload_json);
    c->required_capabilities = copy_caps(t->required_capabilities, t->n_required);
    c->assigned_agent = cx_strdup(t->assigned_agent);
    c->result_json = cx_strdup(t->result_json);
    c->error = cx_strdup(t->error);
    c->metadata_json = cx_strdup(t->metadata_json);
    c->strategy = cx_strdup(t->strategy);
    c->passed_over_agent = cx_strdup(t->passed_over_agent);
    c->progress_json = cx_strdup(t->progress_json);
    c->idempotency_key = cx_strdup(t->idempotency_key);
    c->tenant = cx_strdup(t->tenant);
    if (t->n_attempts) {
        struct cp_attempt *v = cx_alloc(t->n_attempts * sizeof *v);
        for (uint32_t i = 0; i < t->n_attempts; i++) {
            v[i] = t->attempts[i];
            v[i].agent_id = cx_strdup(t->attempts[i].agent_id);
            v[i].error = cx_strdup(t->attempts[i].error);
        }
        c->attempts = v;
    } else {
        c->attempts = NULL;
    }
    return c;
}

static const struct cp_count *copy_counts(const struct cp_count *v, size_t n)
{
    struct cp_count *c = cx_alloc((n + 1) * sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = (struct cp_count){cx_strdup(v[i].name), v[i].count};
    return c;
}

/* The sizes the host relies on (cp/storage.h "Sizes"): every struct the backend fills says how
 * big it is, and the stats say how many entries of each by-enum array they filled. NULL when
 * all is well, else what is wrong (checked after the callback, never inside it). */
const char *cx_bad_sizes(const struct cp_result *r)
{
    static char msg[200];
#define SIZE_IS(what, have, want)                                                                  \
    if ((have) != (want)) {                                                                        \
        snprintf(msg, sizeof msg, "%s is %u, expected %zu", what, (unsigned)(have),                \
                 (size_t)(want));                                                                  \
        return msg;                                                                                \
    }
    SIZE_IS("cp_result.size", r->size, sizeof *r);
    if (r->agent) SIZE_IS("cp_result.agent->size", r->agent->size, sizeof *r->agent);
    if (r->task) SIZE_IS("cp_result.task->size", r->task->size, sizeof *r->task);
    for (size_t i = 0; i < r->n_agents; i++)
        SIZE_IS("cp_result.agents[i]->size", r->agents[i]->size, sizeof *r->agents[i]);
    for (size_t i = 0; i < r->n_tasks; i++)
        SIZE_IS("cp_result.tasks[i]->size", r->tasks[i]->size, sizeof *r->tasks[i]);
    if (r->task && r->task->n_attempts > CP_ATTEMPTS_MAX) {
        snprintf(msg, sizeof msg, "a task has %u attempts, more than CP_ATTEMPTS_MAX",
                 (unsigned)r->task->n_attempts);
        return msg;
    }
    for (size_t i = 0; i < r->n_events; i++)
        SIZE_IS("cp_result.events[i].size", r->events[i].size, sizeof r->events[i]);
    if (r->stats) {
        const struct cp_stats_view *s = r->stats;
        SIZE_IS("cp_stats_view.size", s->size, sizeof *s);
        SIZE_IS("cp_stats_view.n_agents_by_status", s->n_agents_by_status, CP_AGENT_STATUS_COUNT);
        SIZE_IS("cp_stats_view.n_agents_by_health", s->n_agents_by_health, CP_HEALTH_COUNT);
        SIZE_IS("cp_stats_view.n_tasks_by_status", s->n_tasks_by_status, CP_TASK_STATUS_COUNT);
        SIZE_IS("cp_stats_view.n_tasks_by_priority", s->n_tasks_by_priority, CP_PRIORITY_COUNT);
    }
#undef SIZE_IS
    return NULL;
}

struct cp_result *cx_copy_result(const struct cp_result *r)
{
    struct cp_result *c = cx_alloc(sizeof *c);
    *c = *r;
    c->message = cx_strdup(r->message);
    c->next = cx_strdup(r->next);
    c->agent = copy_agent(r->agent);
    c->task = copy_task(r->task);
    const struct cp_agent_view **agents = cx_alloc((r->n_agents + 1) * sizeof *agents);
    for (size_t i = 0; i < r->n_agents; i++)
        agents[i] = copy_agent(r->agents[i]);
    c->agents = agents;
    const struct cp_task_view **tasks = cx_alloc((r->n_tasks + 1) * sizeof *tasks);
    for (size_t i = 0; i < r->n_tasks; i++)
        tasks[i] = copy_task(r->tasks[i]);
    c->tasks = tasks;
    if (r->stats) {
        struct cp_stats_view *s = cx_alloc(sizeof *s);
        *s = *r->stats;
        s->agents_by_capability =
            copy_counts(r->stats->agents_by_capability, r->stats->n_agents_by_capability);
        s->agents_by_provider =
            copy_counts(r->stats->agents_by_provider, r->stats->n_agents_by_provider);
        s->tasks_by_type = copy_counts(r->stats->tasks_by_type, r->stats->n_tasks_by_type);
        c->stats = s;
    }
    struct cp_event *ev = cx_alloc((r->n_events + 1) * sizeof *ev);
    for (size_t i = 0; i < r->n_events; i++) {
        ev[i] = r->events[i];
        ev[i].agent_id = cx_strdup(r->events[i].agent_id);
        ev[i].task_id = cx_strdup(r->events[i].task_id);
        ev[i].task_type = cx_strdup(r->events[i].task_type);
        ev[i].required_capabilities =
            copy_caps(r->events[i].required_capabilities, r->events[i].n_required);
        ev[i].strategy = cx_strdup(r->events[i].strategy);
    }
    c->events = ev;
    /* provider quotas (2.4) */
    const struct cp_quota_view **qs = cx_alloc((r->n_quotas + 1) * sizeof *qs);
    for (size_t i = 0; i < r->n_quotas; i++) {
        struct cp_quota_view *q = cx_alloc(sizeof *q);
        *q = *r->quotas[i];
        q->id = cx_strdup(q->id);
        q->scope = (struct cp_quota_scope){cx_strdup(q->scope.provider), cx_strdup(q->scope.model),
                                           cx_strdup(q->scope.key_id)};
        qs[i] = q;
    }
    c->quotas = qs;
    /* task_complete_next (2.4): the claim's result, one level deep. */
    c->next_claim =
        r->size >= offsetof(struct cp_result, next_claim) + sizeof r->next_claim && r->next_claim
            ? cx_copy_result(r->next_claim)
            : NULL;
    /* tenant_put/tenant_list (2.4) */
    int has_tenants = r->size >= offsetof(struct cp_result, n_tenants) + sizeof r->n_tenants;
    size_t nt = has_tenants && r->tenants ? r->n_tenants : 0;
    struct cp_tenant_view *tv = cx_alloc((nt + 1) * sizeof *tv);
    const struct cp_tenant_view **tp = cx_alloc((nt + 1) * sizeof *tp);
    for (size_t i = 0; i < nt; i++) {
        tv[i] = *r->tenants[i];
        tv[i].id = cx_strdup(r->tenants[i]->id);
        tp[i] = &tv[i];
    }
    c->tenants = tp;
    c->n_tenants = nt;
    c->affinity_agent = r->size >= offsetof(struct cp_result, affinity_agent) + sizeof(char *)
                            ? cx_strdup(r->affinity_agent)
                            : NULL;
    return c;
}
