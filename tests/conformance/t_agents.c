/* t_agents.c — conformance: agent_register/get/list/heartbeat/unregister/set_health and the
 * health-follows-liveness rule of storage.h. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

static void register_new(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("claude-3", "debate,code", 2);
    in.model = "claude-3-opus";
    in.provider = "anthropic";
    in.metadata_json = "{\"version\":\"3.5\"}";
    const struct cp_result *r = op_register(&in, T0);
    assert_rc(r, 0);
    assert_int_equal(r->created, 1);
    const struct cp_agent_view *a = r->agent;
    assert_non_null(a);
    assert_str(a->agent_id, "claude-3");
    assert_int_equal(a->n_capabilities, 2);
    assert_str(a->capabilities[0], "code");
    assert_str(a->capabilities[1], "debate");
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_str(a->model, "claude-3-opus");
    assert_str(a->provider, "anthropic");
    assert_str(a->metadata_json, "{\"version\":\"3.5\"}");
    assert_null(a->health_probe_json);
    assert_int_equal(a->registered_at_ms, T0);
    assert_int_equal(a->last_heartbeat_ms, T0);
    assert_int_equal(a->last_assigned_ms, 0);
    assert_int_equal(a->max_concurrent_tasks, 2);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_null(a->current_task_id);
    assert_int_equal(a->tasks_completed, 0);
    assert_int_equal(a->tasks_failed, 0);
    assert_int_equal(a->latency_count, 0);
    assert_true(a->latency_sum_ms == 0);
    /* No probe: health follows liveness, so a live agent is healthy. */
    assert_int_equal(a->health.status, CP_HEALTH_HEALTHY);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_CLOSED);

    /* The stored agent is what get returns. */
    const struct cp_agent_view *g = agent("claude-3");
    assert_str(g->model, "claude-3-opus");
    assert_int_equal(g->registered_at_ms, T0);
    assert_int_equal(op_agent_get("nobody")->rc, CP_ERR_NOT_FOUND);
}

static void register_with_probe_starts_unknown(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("a1", "x", 1);
    in.health_probe_json = "{\"type\":\"http\",\"url\":\"http://127.0.0.1:9/health\"}";
    const struct cp_result *r = op_register(&in, T0);
    assert_rc(r, 0);
    assert_int_equal(r->agent->health.status, CP_HEALTH_UNKNOWN);
    assert_int_equal(r->agent->health.circuit, CP_CIRCUIT_CLOSED);
    assert_str(r->agent->health_probe_json, in.health_probe_json);
}

static void reregister_replaces_fields_keeps_counters(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("a1", "code", 1);
    in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
    assert_rc(op_register(&in, T0), 0);
    submit(tid(1), "code", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 10));
    struct cp_transition tr = {.kind = CP_TR_COMPLETE,
                               .task_id = tid(1),
                               .agent_id = "a1",
                               .latency_ms = 250,
                               .now_ms = T0 + 20};
    assert_rc(op_transition(&tr), 0);
    struct cp_health_view h = {.status = CP_HEALTH_DEGRADED,
                               .last_check_ms = T0 + 30,
                               .consecutive_failures = 1,
                               .latency_ms = 12.5,
                               .error = "slow",
                               .circuit = CP_CIRCUIT_CLOSED};
    assert_rc(op_set_health("a1", &h, -1, -1), 0);
    assert_rc(op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 40), 0);

    struct cp_agent_view again = agent_in("a1", "debate,review", 3);
    again.model = "m2";
    again.provider = "p2";
    again.metadata_json = "{\"k\":2}";
    again.health_probe_json = in.health_probe_json;
    const struct cp_result *r = op_register(&again, T0 + 1000);
    assert_rc(r, 0);
    assert_int_equal(r->created, 0);
    const struct cp_agent_view *a = r->agent;
    assert_int_equal(a->n_capabilities, 2);
    assert_str(a->capabilities[0], "debate");
    assert_str(a->capabilities[1], "review");
    assert_str(a->model, "m2");
    assert_str(a->provider, "p2");
    assert_str(a->metadata_json, "{\"k\":2}");
    assert_int_equal(a->max_concurrent_tasks, 3);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_int_equal(a->registered_at_ms, T0);
    assert_int_equal(a->last_heartbeat_ms, T0 + 1000);
    assert_int_equal(a->tasks_completed, 1);
    assert_int_equal(a->latency_count, 1);
    assert_true(a->latency_sum_ms == 250);
    assert_int_equal(a->health.status, CP_HEALTH_DEGRADED);
    assert_int_equal(a->health.consecutive_failures, 1);
    assert_str(a->health.error, "slow");

    const struct cp_stats_view *s = stats();
    assert_int_equal(s->agents_total, 1);
    assert_int_equal(count_of(s->agents_by_capability, s->n_agents_by_capability, "code"), 0);
    assert_int_equal(count_of(s->agents_by_capability, s->n_agents_by_capability, "debate"), 1);
    assert_int_equal(count_of(s->agents_by_provider, s->n_agents_by_provider, "p1"), 0);
    assert_int_equal(count_of(s->agents_by_provider, s->n_agents_by_provider, "p2"), 1);
}

static void reregister_without_probe_is_healthy(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reap(T0 + 60000, 30000, 0, NEVER); /* offline -> unhealthy */
    assert_int_equal(agent("a1")->health.status, CP_HEALTH_UNHEALTHY);
    const struct cp_agent_view *a = reg("a1", "x", 1, T0 + 61000);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_int_equal(a->health.status, CP_HEALTH_HEALTHY);
}

static void list_sorted_and_filtered(void **state)
{
    (void)state;
    reg("charlie", "code,debate", 1, T0);
    reg("alpha", "debate", 1, T0);
    reg("bravo", "code", 1, T0);
    reg("delta", "", 1, T0);
    assert_rc(op_heartbeat("bravo", CP_AGENT_DRAINING, T0 + 1), 0);

    const struct cp_result *r = op_agent_list(NULL, -1);
    assert_rc(r, 0);
    assert_int_equal(r->n_agents, 4);
    assert_int_equal(r->total, 4);
    assert_str(r->agents[0]->agent_id, "alpha");
    assert_str(r->agents[1]->agent_id, "bravo");
    assert_str(r->agents[2]->agent_id, "charlie");
    assert_str(r->agents[3]->agent_id, "delta");

    r = op_agent_list("code", -1);
    assert_int_equal(r->n_agents, 2);
    assert_int_equal(r->total, 2);
    assert_str(r->agents[0]->agent_id, "bravo");
    assert_str(r->agents[1]->agent_id, "charlie");

    r = op_agent_list("code,debate", -1); /* every one required */
    assert_int_equal(r->n_agents, 1);
    assert_str(r->agents[0]->agent_id, "charlie");

    r = op_agent_list("missing", -1);
    assert_int_equal(r->n_agents, 0);
    assert_int_equal(r->total, 0);

    r = op_agent_list(NULL, CP_AGENT_DRAINING);
    assert_int_equal(r->n_agents, 1);
    assert_str(r->agents[0]->agent_id, "bravo");

    r = op_agent_list("code", CP_AGENT_READY);
    assert_int_equal(r->n_agents, 1);
    assert_str(r->agents[0]->agent_id, "charlie");
}

/* ABI 2.4: pages by agent_id after a cursor (an id that need not exist), of at most limit
 * agents, filtered by health; following next lists every match once. */
static void list_pages(void **state)
{
    (void)state;
    const char *ids[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"};
    for (int i = 0; i < 6; i++) {
        struct cp_agent_view in = agent_in(ids[i], i % 2 ? "code" : "code,debate", 1);
        if (i >= 2 && i <= 3) /* probed: their health is what set_health says */
            in.health_probe_json = "{\"type\":\"http\",\"url\":\"http://127.0.0.1:9/h\"}";
        assert_rc(op_register(&in, T0), 0);
    }
    struct cp_health_view h = agent("charlie")->health;
    h.status = CP_HEALTH_DEGRADED;
    assert_rc(op_set_health("charlie", &h, -1, -1), 0);
    assert_rc(op_heartbeat("echo", CP_AGENT_DRAINING, T0 + 1), 0);
    for (int i = 0; i < 4; i++)
        assert_rc(op_heartbeat(ids[i], -1, T0 + 1), 0);
    /* delta keeps unknown (probed, never checked); foxtrot goes offline: unhealthy */
    assert_rc(op_reap(&(struct cp_reap){
                  .now_ms = T0 + 1000, .heartbeat_timeout_ms = 1000, .retention_ms = -1}),
              0);

    const struct cp_result *p = op_agent_page(NULL, -1, NULL, 2, 0);
    assert_rc(p, 0);
    assert_int_equal(p->n_agents, 2);
    assert_str(p->agents[0]->agent_id, "alpha");
    assert_str(p->agents[1]->agent_id, "bravo");
    assert_non_null(p->next);
    assert_str(p->next, "bravo");
    p = op_agent_page(NULL, -1, "bravo", 2, 0);
    assert_int_equal(p->n_agents, 2);
    assert_str(p->agents[0]->agent_id, "charlie");
    assert_str(p->agents[1]->agent_id, "delta");
    p = op_agent_page(NULL, -1, "d", 10, 0); /* not an id: the next one after it */
    assert_int_equal(p->n_agents, 3);
    assert_str(p->agents[0]->agent_id, "delta");
    assert_str(p->agents[2]->agent_id, "foxtrot");
    assert_null(p->next); /* fewer than limit candidates: nothing follows */
    p = op_agent_page(NULL, -1, "zulu", 3, 0);
    assert_rc(p, 0);
    assert_int_equal(p->n_agents, 0);
    assert_null(p->next);

    uint32_t unwell = (1u << CP_HEALTH_DEGRADED) | (1u << CP_HEALTH_UNHEALTHY);
    p = op_agent_page(NULL, -1, NULL, 10, unwell);
    assert_int_equal(p->n_agents, 2);
    assert_str(p->agents[0]->agent_id, "charlie");
    assert_str(p->agents[1]->agent_id, "foxtrot");
    assert_null(p->next);
    p = op_agent_page(NULL, -1, NULL, 0, 1u << CP_HEALTH_HEALTHY);
    assert_int_equal(p->n_agents, 3);
    assert_str(p->agents[2]->agent_id, "echo");
    assert_null(p->next);
    p = op_agent_page(NULL, -1, NULL, 1, 1u << CP_HEALTH_UNKNOWN);
    for (; p->n_agents == 0 && p->next;) /* a backend may answer short pages */
        p = op_agent_page(NULL, -1, p->next, 1, 1u << CP_HEALTH_UNKNOWN);
    assert_int_equal(p->n_agents, 1);
    assert_str(p->agents[0]->agent_id, "delta");

    check_agent_pages(NULL, -1);
    check_agent_pages("debate", -1);
    check_agent_pages("code", CP_AGENT_READY);
    check_agent_pages(NULL, CP_AGENT_DRAINING);
}

static void heartbeat_rules(void **state)
{
    (void)state;
    assert_int_equal(op_heartbeat("nobody", -1, T0)->rc, CP_ERR_NOT_FOUND);
    reg("a1", "x", 1, T0);

    const struct cp_result *r = op_heartbeat("a1", -1, T0 + 5);
    assert_rc(r, 0);
    assert_int_equal(agent("a1")->last_heartbeat_ms, T0 + 5);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);

    /* The agent takes the status it reports... */
    assert_rc(op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 6), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_DRAINING);
    /* ...and -1 leaves a non-offline status alone. */
    assert_rc(op_heartbeat("a1", -1, T0 + 7), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_DRAINING);
    assert_rc(op_heartbeat("a1", CP_AGENT_STARTING, T0 + 8), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_STARTING);
    assert_rc(op_heartbeat("a1", CP_AGENT_FAILED, T0 + 9), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_FAILED);
    /* Failed but not unhealthy (no probe: healthy while alive): a heartbeat may clear it. */
    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 10), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);

    /* Offline (by reap) returns to ready on a plain heartbeat... */
    reap(T0 + 10 + 30000, 30000, 0, NEVER);
    assert_int_equal(agent("a1")->status, CP_AGENT_OFFLINE);
    r = op_heartbeat("a1", -1, T0 + 40050);
    assert_rc(r, 0);
    assert_non_null(r->agent);
    assert_int_equal(r->agent->status, CP_AGENT_READY);
    assert_int_equal(r->agent->last_heartbeat_ms, T0 + 40050);
    /* ...or to the status it sends. */
    reap(T0 + 80000, 30000, 0, NEVER);
    assert_int_equal(agent("a1")->status, CP_AGENT_OFFLINE);
    assert_rc(op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 80001), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_DRAINING);
}

static void heartbeat_keeps_unhealthy_failed_agent_failed(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("a1", "x", 1);
    in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
    assert_rc(op_register(&in, T0), 0);
    struct cp_health_view h = {.status = CP_HEALTH_UNHEALTHY,
                               .consecutive_failures = 3,
                               .latency_ms = -1,
                               .error = "refused"};
    assert_rc(op_set_health("a1", &h, CP_AGENT_FAILED, -1), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_FAILED);

    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 100), 0);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->status, CP_AGENT_FAILED);
    assert_int_equal(a->last_heartbeat_ms, T0 + 100); /* still alive */

    /* Gone offline while its probe fails: a heartbeat brings it back failed, not ready. */
    reap(T0 + 100 + 30000, 30000, 0, NEVER);
    assert_int_equal(agent("a1")->status, CP_AGENT_OFFLINE);
    assert_rc(op_heartbeat("a1", -1, T0 + 30150), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_FAILED);
    reap(T0 + 30150 + 30000, 30000, 0, NEVER);
    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 60200), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_FAILED);

    /* Once the probe recovers, the heartbeat decides again. */
    h.status = CP_HEALTH_HEALTHY;
    h.error = NULL;
    assert_rc(op_set_health("a1", &h, -1, -1), 0);
    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 60300), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);
}

static void heartbeat_busy_rules(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 1));
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
    /* Ready with in flight at max becomes busy. */
    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 2), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 3);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);
    /* An agent that says it is busy gets nothing until it says ready. */
    assert_rc(op_heartbeat("a1", CP_AGENT_BUSY, T0 + 4), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
    assert_null(claim("a1", T0 + 5));
    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 6), 0);
    const struct cp_task_view *t = claim("a1", T0 + 7);
    assert_non_null(t);
    assert_str(t->id, tid(2));
}

static void unregister_requeues(void **state)
{
    (void)state;
    assert_int_equal(op_unregister("nobody", T0)->rc, CP_ERR_NOT_FOUND);
    reg("a1", "x", 3, T0);
    reg("a2", "x", 1, T0);
    struct cp_task_view with_strategy = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    with_strategy.strategy = "random";
    assert_rc(op_submit(&with_strategy), 0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    submit(tid(3), "x", CP_PRIORITY_NORMAL, T0 + 2);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_str(claim_id("a1", T0 + 11), tid(2));
    tr_ok(CP_TR_START, tid(2), "a1", T0 + 12);

    const struct cp_result *r = op_unregister("a1", T0 + 100);
    assert_rc(r, 0);
    assert_int_equal(events_of(r, CP_EVENT_TASK_REQUEUED, NULL), 2);
    for (unsigned i = 1; i <= 2; i++) {
        const struct cp_event *e = event_for_task(r, CP_EVENT_TASK_REQUEUED, tid(i));
        assert_non_null(e);
        assert_str(e->agent_id, "a1");
        assert_int_equal(e->task_status, CP_TASK_PENDING);
        assert_int_equal(e->n_required, 1);
        assert_str(e->required_capabilities[0], "x");
        assert_event_strategy(e, i == 1 ? "random" : NULL);
        const struct cp_task_view *t = task(tid(i));
        assert_int_equal(t->status, CP_TASK_PENDING);
        assert_null(t->assigned_agent);
        assert_int_equal(t->retries, 0); /* no retry counted */
        assert_int_equal(t->pending_since_ms, T0 + 100);
        assert_int_equal(t->claimed_at_ms, 0);
        assert_int_equal(t->started_at_ms, 0);
    }
    assert_int_equal(op_agent_get("a1")->rc, CP_ERR_NOT_FOUND);
    assert_int_equal(stats()->agents_total, 1);
    /* Requeued tasks went to the tail: task 3 (pending since T0+2) comes first. */
    assert_str(claim_id("a2", T0 + 200), tid(3));
}

static void set_health_rules(void **state)
{
    (void)state;
    struct cp_health_view h = {.status = CP_HEALTH_DEGRADED,
                               .last_check_ms = T0 + 1,
                               .consecutive_failures = 2,
                               .consecutive_successes = 0,
                               .latency_ms = 33.5,
                               .error = "timeout",
                               .circuit = CP_CIRCUIT_OPEN,
                               .circuit_failures = 5,
                               .circuit_opens = 2,
                               .opened_at_ms = T0 + 1,
                               .retry_at_ms = T0 + 60001};
    assert_int_equal(op_set_health("nobody", &h, -1, -1)->rc, CP_ERR_NOT_FOUND);
    struct cp_agent_view in = agent_in("a1", "x", 1);
    in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
    assert_rc(op_register(&in, T0), 0);

    const struct cp_result *r = op_set_health("a1", &h, -1, -1);
    assert_rc(r, 0);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->status, CP_AGENT_READY); /* status -1: unchanged */
    assert_int_equal(a->health.status, CP_HEALTH_DEGRADED);
    assert_int_equal(a->health.last_check_ms, T0 + 1);
    assert_int_equal(a->health.consecutive_failures, 2);
    assert_true(a->health.latency_ms == 33.5);
    assert_str(a->health.error, "timeout");
    assert_int_equal(a->health.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(a->health.circuit_failures, 5);
    assert_int_equal(a->health.circuit_opens, 2);
    assert_int_equal(a->health.opened_at_ms, T0 + 1);
    assert_int_equal(a->health.retry_at_ms, T0 + 60001);

    /* expect_status guards the change. */
    assert_rc(op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 2), 0);
    h.circuit = CP_CIRCUIT_CLOSED;
    h.error = NULL;
    assert_rc(op_set_health("a1", &h, CP_AGENT_FAILED, CP_AGENT_READY), 0);
    a = agent("a1");
    assert_int_equal(a->status, CP_AGENT_DRAINING);
    assert_null(a->health.error); /* health is stored whole */
    assert_int_equal(a->health.circuit, CP_CIRCUIT_CLOSED);
    assert_rc(op_set_health("a1", &h, CP_AGENT_FAILED, CP_AGENT_DRAINING), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_FAILED);
    assert_rc(op_set_health("a1", &h, CP_AGENT_READY, -1), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);
}

static void set_health_ready_at_max_is_busy(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("a1", "x", 1);
    in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
    assert_rc(op_register(&in, T0), 0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 1));
    struct cp_health_view h = {.status = CP_HEALTH_UNHEALTHY, .latency_ms = -1};
    assert_rc(op_set_health("a1", &h, CP_AGENT_FAILED, -1), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_FAILED);
    h.status = CP_HEALTH_HEALTHY;
    assert_rc(op_set_health("a1", &h, CP_AGENT_READY, CP_AGENT_FAILED), 0);
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
}

static void health_follows_liveness(void **state)
{
    (void)state;
    reg("plain", "x", 1, T0);
    struct cp_agent_view in = agent_in("probed", "x", 1);
    in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
    assert_rc(op_register(&in, T0), 0);
    struct cp_health_view h = {.status = CP_HEALTH_HEALTHY, .latency_ms = 1};
    assert_rc(op_set_health("probed", &h, -1, -1), 0);

    const struct cp_result *r = reap(T0 + 30000, 30000, 0, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_OFFLINE, NULL), 2);
    assert_int_equal(agent("plain")->status, CP_AGENT_OFFLINE);
    assert_int_equal(agent("plain")->health.status, CP_HEALTH_UNHEALTHY);
    /* With a probe, the host decides health; going offline does not change it. */
    assert_int_equal(agent("probed")->status, CP_AGENT_OFFLINE);
    assert_int_equal(agent("probed")->health.status, CP_HEALTH_HEALTHY);
    const struct cp_stats_view *s = stats();
    assert_int_equal(s->agents_by_health[CP_HEALTH_UNHEALTHY], 1);
    assert_int_equal(s->agents_by_health[CP_HEALTH_HEALTHY], 1);

    assert_rc(op_heartbeat("plain", -1, T0 + 30001), 0);
    assert_int_equal(agent("plain")->health.status, CP_HEALTH_HEALTHY);
    assert_int_equal(stats()->agents_by_health[CP_HEALTH_HEALTHY], 2);
}

const struct CMUnitTest conformance_agent_tests[] = {
    CX_TEST(register_new),
    CX_TEST(register_with_probe_starts_unknown),
    CX_TEST(reregister_replaces_fields_keeps_counters),
    CX_TEST(reregister_without_probe_is_healthy),
    CX_TEST(list_sorted_and_filtered),
    CX_TEST(list_pages),
    CX_TEST(heartbeat_rules),
    CX_TEST(heartbeat_keeps_unhealthy_failed_agent_failed),
    CX_TEST(heartbeat_busy_rules),
    CX_TEST(unregister_requeues),
    CX_TEST(set_health_rules),
    CX_TEST(set_health_ready_at_max_is_busy),
    CX_TEST(health_follows_liveness),
};
const size_t conformance_agent_count =
    sizeof conformance_agent_tests / sizeof conformance_agent_tests[0];
