/* t_status.c — conformance: whose status wins (cp/storage.h, "Status"). A self-reported busy
 * agent gets no task and stays busy until it reports otherwise (a task ending does not undo
 * it, as it undoes the busy of an agent at its maximum); availability (the stats counter)
 * agrees with the claim rule; an operator's drain (agent_drain, ABI 2.4) outlasts heartbeats,
 * re-registration and health, lets liveness and a failing probe show through, and an undrain
 * returns the agent to what it reported. Drain cases are skipped for a backend without
 * agent_drain (built for an older minor: the host answers "not supported" there). */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

static const struct cp_health_view healthy = {
    .status = CP_HEALTH_HEALTHY, .latency_ms = -1, .circuit = CP_CIRCUIT_CLOSED};

static void complete(const char *task_id, const char *agent_id, int64_t now)
{
    tr_ok(CP_TR_COMPLETE, task_id, agent_id, now);
}

/* Busy by its own report: no task, not available, and it stays busy when a task of its ends. */
static void self_reported_busy_sticks(void **state)
{
    (void)state;
    reg("a1", "x", 2, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_int_equal(agent("a1")->status, CP_AGENT_READY); /* 1 of 2 */
    assert_int_equal(stats()->agents_available, 1);

    const struct cp_result *r = op_heartbeat("a1", CP_AGENT_BUSY, T0 + 20);
    assert_rc(r, 0);
    assert_int_equal(r->agent->status, CP_AGENT_BUSY);
    assert_false(cp_agent_is_available(r->agent)); /* below its maximum, yet busy */
    assert_int_equal(stats()->agents_available, 0);
    assert_null(claim("a1", T0 + 30));

    /* Its task ends: it stays busy (it said so), unlike a busy at the maximum. */
    complete(tid(1), "a1", T0 + 40);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->status, CP_AGENT_BUSY);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_null(claim("a1", T0 + 50));
    /* A heartbeat without a status changes nothing; one saying ready does. */
    assert_int_equal(op_heartbeat("a1", -1, T0 + 60)->agent->status, CP_AGENT_BUSY);
    assert_int_equal(op_heartbeat("a1", CP_AGENT_READY, T0 + 70)->agent->status, CP_AGENT_READY);
    assert_int_equal(stats()->agents_available, 1);
    assert_str(claim_id("a1", T0 + 80), tid(2));
}

/* Busy at the maximum is the claims' own: the task ending makes it ready again. */
static void busy_at_max_ends_with_the_task(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
    assert_int_equal(stats()->agents_available, 0);
    complete(tid(1), "a1", T0 + 20);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);
    assert_int_equal(stats()->agents_available, 1);
    /* A failure and a timeout end it the same way. */
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 30);
    assert_str(claim_id("a1", T0 + 40), tid(2));
    tr_ok(CP_TR_FAIL, tid(2), "a1", T0 + 50);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);
    /* Reported busy while at the maximum: still busy after the task. */
    assert_str(claim_id("a1", T0 + 60), tid(2));
    assert_rc(op_heartbeat("a1", CP_AGENT_BUSY, T0 + 70), 0);
    complete(tid(2), "a1", T0 + 80);
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
}

/* Re-registering (an agent restarting) resets what it reported: ready. */
static void reregister_resets_the_reported_status(void **state)
{
    (void)state;
    reg("a1", "x", 2, T0);
    assert_rc(op_heartbeat("a1", CP_AGENT_BUSY, T0 + 10), 0);
    assert_int_equal(reg("a1", "x", 2, T0 + 20)->status, CP_AGENT_READY);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0 + 30);
    assert_str(claim_id("a1", T0 + 40), tid(1));
    complete(tid(1), "a1", T0 + 50);
    assert_int_equal(agent("a1")->status, CP_AGENT_READY);
}

static void drain_outlasts_heartbeats(void **state)
{
    (void)state;
    if (!cx_has_drain()) skip();
    reg("a1", "x", 1, T0);
    reg("a2", "y", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_int_equal(op_drain("nobody", 1, T0)->rc, CP_ERR_NOT_FOUND);

    const struct cp_result *r = op_drain("a1", 1, T0 + 10);
    assert_rc(r, 0);
    assert_int_equal(r->created, 1);
    assert_int_equal(r->agent->status, CP_AGENT_DRAINING);
    assert_int_equal(r->agent->drained_at_ms, T0 + 10);
    assert_int_equal(agent("a1")->drained_at_ms, T0 + 10);
    assert_int_equal(agent("a2")->drained_at_ms, 0);
    assert_null(claim("a1", T0 + 20));
    assert_int_equal(stats()->agents_available, 1);
    assert_int_equal(stats()->agents_by_status[CP_AGENT_DRAINING], 1);

    /* Whatever it heartbeats, it stays draining (its report is kept for later). */
    for (int32_t s = -1; s <= CP_AGENT_DRAINING; s++) {
        r = op_heartbeat("a1", s, T0 + 30 + s);
        assert_rc(r, 0);
        assert_int_equal(r->agent->status, CP_AGENT_DRAINING);
    }
    assert_null(claim("a1", T0 + 40));
    /* A repeated drain changes nothing: the first drain's time stays. */
    r = op_drain("a1", 1, T0 + 50);
    assert_int_equal(r->created, 0);
    assert_int_equal(r->agent->drained_at_ms, T0 + 10);
    const struct cp_result *l = op_agent_list(NULL, CP_AGENT_DRAINING);
    assert_int_equal(l->n_agents, 1);
    assert_str(l->agents[0]->agent_id, "a1");

    /* Undrain: back to what it reported last (draining, its own), then to ready. */
    r = op_drain("a1", 0, T0 + 60);
    assert_int_equal(r->created, 1);
    assert_int_equal(r->agent->drained_at_ms, 0);
    assert_int_equal(r->agent->status, CP_AGENT_DRAINING);
    assert_int_equal(op_drain("a1", 0, T0 + 61)->created, 0);
    assert_rc(op_heartbeat("a1", CP_AGENT_READY, T0 + 70), 0);
    assert_str(claim_id("a1", T0 + 80), tid(1));
}

static void undrain_returns_to_the_reported_status(void **state)
{
    (void)state;
    if (!cx_has_drain()) skip();
    static const int32_t reported[] = {-1, CP_AGENT_STARTING, CP_AGENT_READY, CP_AGENT_BUSY};
    static const int32_t after[] = {CP_AGENT_READY, CP_AGENT_STARTING, CP_AGENT_READY,
                                    CP_AGENT_BUSY};
    char id[8];
    for (size_t i = 0; i < sizeof reported / sizeof *reported; i++) {
        snprintf(id, sizeof id, "a%zu", i);
        reg(id, "x", 2, T0);
        assert_rc(op_drain(id, 1, T0 + 10), 0);
        if (reported[i] >= 0) assert_rc(op_heartbeat(id, reported[i], T0 + 20), 0);
        const struct cp_result *r = op_drain(id, 0, T0 + 30);
        assert_rc(r, 0);
        assert_int_equal(r->agent->status, after[i]);
    }
}

/* Drained with a task: it keeps and finishes it, and is still draining afterwards. */
static void drained_agent_finishes_its_tasks(void **state)
{
    (void)state;
    if (!cx_has_drain()) skip();
    reg("a1", "x", 2, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    const struct cp_result *r = op_drain("a1", 1, T0 + 20);
    assert_int_equal(r->agent->status, CP_AGENT_DRAINING);
    assert_int_equal(r->agent->tasks_in_flight, 1);
    assert_int_equal(task(tid(1))->status, CP_TASK_CLAIMED);
    assert_null(claim("a1", T0 + 30));
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 40);
    complete(tid(1), "a1", T0 + 50);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->status, CP_AGENT_DRAINING);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_int_equal(a->tasks_completed, 1);
    assert_null(claim("a1", T0 + 60));
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
    assert_rc(op_drain("a1", 0, T0 + 70), 0);
    assert_str(claim_id("a1", T0 + 80), tid(2));
}

/* Offline and failed show through a drain; the drain outlasts them, and re-registration. */
static void drain_under_liveness_and_health(void **state)
{
    (void)state;
    if (!cx_has_drain()) skip();
    reg("a1", "x", 1, T0);
    assert_rc(op_drain("a1", 1, T0 + 10), 0);
    reap(T0 + 100000, 30000, 0, (int64_t)1 << 50);
    assert_int_equal(agent("a1")->status, CP_AGENT_OFFLINE);
    assert_int_equal(agent("a1")->drained_at_ms, T0 + 10);
    /* Back: draining, not ready. */
    assert_int_equal(op_heartbeat("a1", -1, T0 + 100010)->agent->status, CP_AGENT_DRAINING);
    /* A failing probe: failed; its recovery (failed -> ready) lands on draining. */
    struct cp_health_view bad = healthy;
    bad.status = CP_HEALTH_UNHEALTHY;
    assert_int_equal(op_set_health("a1", &bad, CP_AGENT_FAILED, -1)->agent->status,
                     CP_AGENT_FAILED);
    assert_int_equal(op_set_health("a1", &healthy, CP_AGENT_READY, CP_AGENT_FAILED)->agent->status,
                     CP_AGENT_DRAINING);
    /* Re-registration keeps the drain. */
    const struct cp_agent_view *a = reg("a1", "x", 1, T0 + 100020);
    assert_int_equal(a->status, CP_AGENT_DRAINING);
    assert_int_equal(a->drained_at_ms, T0 + 10);
    /* Undrained while failed: stays failed, and recovery brings it to ready. */
    assert_rc(op_set_health("a1", &bad, CP_AGENT_FAILED, -1), 0);
    const struct cp_result *r = op_drain("a1", 0, T0 + 100030);
    assert_int_equal(r->created, 1);
    assert_int_equal(r->agent->status, CP_AGENT_FAILED);
    assert_int_equal(op_set_health("a1", &healthy, CP_AGENT_READY, CP_AGENT_FAILED)->agent->status,
                     CP_AGENT_READY);
    /* Drained while offline: offline stays, drained_at set. */
    reap(T0 + 300000, 30000, 0, (int64_t)1 << 50);
    r = op_drain("a1", 1, T0 + 300010);
    assert_int_equal(r->created, 1);
    assert_int_equal(r->agent->status, CP_AGENT_OFFLINE);
    assert_int_equal(op_heartbeat("a1", CP_AGENT_READY, T0 + 300020)->agent->status,
                     CP_AGENT_DRAINING);
}

const struct CMUnitTest conformance_status_tests[] = {
    CX_TEST(self_reported_busy_sticks),
    CX_TEST(busy_at_max_ends_with_the_task),
    CX_TEST(reregister_resets_the_reported_status),
    CX_TEST(drain_outlasts_heartbeats),
    CX_TEST(undrain_returns_to_the_reported_status),
    CX_TEST(drained_agent_finishes_its_tasks),
    CX_TEST(drain_under_liveness_and_health),
};
const size_t conformance_status_count =
    sizeof conformance_status_tests / sizeof conformance_status_tests[0];
