/* helpers.c — the conformance suite's shorthands: default inputs and asserting wrappers, so each
 * test reads as the rule it checks. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

struct cp_agent_view agent_in(const char *id, const char *caps_csv, uint32_t max)
{
    struct cp_agent_view a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.agent_id = id;
    a.capabilities = cx_caps(caps_csv, &a.n_capabilities);
    a.model = "m1";
    a.provider = "p1";
    a.metadata_json = "{}";
    a.max_concurrent_tasks = max;
    return a;
}

const struct cp_agent_view *reg(const char *id, const char *caps_csv, uint32_t max, int64_t now)
{
    struct cp_agent_view in = agent_in(id, caps_csv, max);
    const struct cp_result *r = op_register(&in, now);
    assert_rc(r, 0);
    assert_non_null(r->agent);
    return r->agent;
}

const struct cp_agent_view *agent(const char *id)
{
    const struct cp_result *r = op_agent_get(id);
    assert_rc(r, 0);
    assert_non_null(r->agent);
    return r->agent;
}

struct cp_task_view task_in(const char *id, const char *caps_csv, int priority, int64_t created)
{
    struct cp_task_view t;
    memset(&t, 0, sizeof t);
    t.size = sizeof t;
    t.id = id;
    t.task_type = "debate";
    t.payload_json = "{\"n\":1}";
    t.required_capabilities = cx_caps(caps_csv, &t.n_required);
    t.status = CP_TASK_PENDING;
    t.priority = priority;
    t.created_at_ms = created;
    t.pending_since_ms = created;
    t.timeout_ms = 300000;
    t.max_retries = 3;
    t.metadata_json = "{}";
    return t;
}

const struct cp_task_view *submit(const char *id, const char *caps_csv, int priority,
                                  int64_t created)
{
    struct cp_task_view in = task_in(id, caps_csv, priority, created);
    const struct cp_result *r = op_submit(&in);
    assert_rc(r, 0);
    return r->task;
}

const struct cp_task_view *task(const char *id)
{
    const struct cp_result *r = op_task_get(id);
    assert_rc(r, 0);
    assert_non_null(r->task);
    return r->task;
}

const struct cp_task_view *claim(const char *agent_id, int64_t now)
{
    const struct cp_result *r = op_claim(agent_id, NULL, now);
    assert_rc(r, 0);
    assert_non_null(r->agent);
    return r->task;
}

const char *claim_id(const char *agent_id, int64_t now)
{
    const struct cp_task_view *t = claim(agent_id, now);
    if (!t) fail_msg("%s claimed nothing at %lld", agent_id, (long long)(now - T0));
    return t->id;
}

const struct cp_result *tr_do(int kind, const char *task_id, const char *agent_id, int64_t now)
{
    struct cp_transition tr;
    memset(&tr, 0, sizeof tr);
    tr.kind = kind;
    tr.task_id = task_id;
    tr.agent_id = agent_id;
    tr.latency_ms = -1;
    tr.requeue = 1;
    tr.pass_over_ms = 30000;
    tr.error = "boom";
    tr.now_ms = now;
    if (kind == CP_TR_RELEASE) {
        const struct cp_result *g = op_task_get(task_id);
        if (g->rc == 0) tr.expect_attempt = g->task->attempt;
    }
    return op_transition(&tr);
}

const struct cp_result *tr_ok(int kind, const char *task_id, const char *agent_id, int64_t now)
{
    const struct cp_result *r = tr_do(kind, task_id, agent_id, now);
    assert_rc(r, 0);
    assert_non_null(r->task);
    return r;
}

const struct cp_result *reap(int64_t now, int64_t hb_timeout, int remove_stale, int64_t retention)
{
    struct cp_reap r = {.now_ms = now,
                        .heartbeat_timeout_ms = hb_timeout,
                        .remove_stale = remove_stale,
                        .retention_ms = retention,
                        .max_events = 100000};
    const struct cp_result *res = op_reap(&r);
    assert_rc(res, 0);
    return res;
}

const struct cp_stats_view *stats(void)
{
    const struct cp_result *r = op_stats();
    assert_rc(r, 0);
    assert_non_null(r->stats);
    return r->stats;
}

uint64_t count_of(const struct cp_count *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].name && strcmp(v[i].name, name) == 0) return v[i].count;
    return 0;
}

size_t events_of(const struct cp_result *r, int kind, const struct cp_event **first)
{
    size_t n = 0;
    if (first) *first = NULL;
    for (size_t i = 0; i < r->n_events; i++) {
        if (r->events[i].kind != kind) continue;
        if (n++ == 0 && first) *first = &r->events[i];
    }
    return n;
}

void assert_event_strategy(const struct cp_event *e, const char *want)
{
    if (cx_backend_minor() < 1 || !want)
        assert_null(e->strategy);
    else
        assert_str(e->strategy, want);
}

const struct cp_event *event_for_task(const struct cp_result *r, int kind, const char *task_id)
{
    for (size_t i = 0; i < r->n_events; i++)
        if (r->events[i].kind == kind && r->events[i].task_id &&
            strcmp(r->events[i].task_id, task_id) == 0)
            return &r->events[i];
    return NULL;
}
