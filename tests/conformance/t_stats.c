/* t_stats.c — conformance: the stats counters after each kind of op (every test's teardown also
 * recounts them from the list ops). */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

static void stats_empty(void **state)
{
    (void)state;
    const struct cp_stats_view *s = stats();
    assert_int_equal(s->agents_total, 0);
    assert_int_equal(s->agents_available, 0);
    assert_int_equal(s->circuits_open, 0);
    assert_int_equal(s->tasks_total, 0);
    for (int i = 0; i < CP_AGENT_STATUS_COUNT; i++)
        assert_int_equal(s->agents_by_status[i], 0);
    for (int i = 0; i < CP_TASK_STATUS_COUNT; i++)
        assert_int_equal(s->tasks_by_status[i], 0);
    for (size_t i = 0; i < s->n_agents_by_capability; i++)
        assert_int_equal(s->agents_by_capability[i].count, 0);
    for (size_t i = 0; i < s->n_tasks_by_type; i++)
        assert_int_equal(s->tasks_by_type[i].count, 0);
}

static void stats_agents(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("a1", "code,debate", 1);
    in.provider = "anthropic";
    assert_rc(op_register(&in, T0), 0);
    in = agent_in("a2", "code", 2);
    in.provider = "openai";
    in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
    assert_rc(op_register(&in, T0), 0);

    const struct cp_stats_view *s = stats();
    assert_int_equal(s->agents_total, 2);
    assert_int_equal(s->agents_available, 2);
    assert_int_equal(s->agents_by_status[CP_AGENT_READY], 2);
    assert_int_equal(s->agents_by_health[CP_HEALTH_HEALTHY], 1);
    assert_int_equal(s->agents_by_health[CP_HEALTH_UNKNOWN], 1);
    assert_int_equal(count_of(s->agents_by_capability, s->n_agents_by_capability, "code"), 2);
    assert_int_equal(count_of(s->agents_by_capability, s->n_agents_by_capability, "debate"), 1);
    assert_int_equal(count_of(s->agents_by_provider, s->n_agents_by_provider, "anthropic"), 1);
    assert_int_equal(count_of(s->agents_by_provider, s->n_agents_by_provider, "openai"), 1);

    /* A claim to max makes a1 busy and unavailable; a2 (1 of 2) stays available. */
    submit(tid(1), "", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 1));
    assert_non_null(claim("a2", T0 + 1));
    s = stats();
    assert_int_equal(s->agents_by_status[CP_AGENT_BUSY], 1);
    assert_int_equal(s->agents_by_status[CP_AGENT_READY], 1);
    assert_int_equal(s->agents_available, 1);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 2);
    s = stats();
    assert_int_equal(s->agents_by_status[CP_AGENT_READY], 2);
    assert_int_equal(s->agents_available, 2);

    /* Circuit open: counted, and no longer available. */
    struct cp_health_view h = {.status = CP_HEALTH_DEGRADED,
                               .latency_ms = -1,
                               .circuit = CP_CIRCUIT_OPEN,
                               .retry_at_ms = T0 + 60000};
    assert_rc(op_set_health("a2", &h, -1, -1), 0);
    s = stats();
    assert_int_equal(s->circuits_open, 1);
    assert_int_equal(s->agents_available, 1);
    assert_int_equal(s->agents_by_health[CP_HEALTH_DEGRADED], 1);
    assert_int_equal(s->agents_by_health[CP_HEALTH_UNKNOWN], 0);

    /* Heartbeat status, offline by reap, unregister. */
    assert_rc(op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 3), 0);
    s = stats();
    assert_int_equal(s->agents_by_status[CP_AGENT_DRAINING], 1);
    assert_int_equal(s->agents_available, 0);
    reap(T0 + 30003, 30000, 0, NEVER);
    s = stats();
    assert_int_equal(s->agents_by_status[CP_AGENT_OFFLINE], 2);
    assert_int_equal(s->agents_by_status[CP_AGENT_DRAINING], 0);
    assert_int_equal(s->agents_by_health[CP_HEALTH_UNHEALTHY], 1); /* a1 has no probe */
    assert_rc(op_unregister("a1", T0 + 30004), 0);
    s = stats();
    assert_int_equal(s->agents_total, 1);
    assert_int_equal(count_of(s->agents_by_capability, s->n_agents_by_capability, "debate"), 0);
    assert_int_equal(count_of(s->agents_by_capability, s->n_agents_by_capability, "code"), 1);
    assert_int_equal(count_of(s->agents_by_provider, s->n_agents_by_provider, "anthropic"), 0);
}

static void stats_tasks(void **state)
{
    (void)state;
    reg("a1", "", 10, T0);
    struct cp_task_view in = task_in(tid(1), "", CP_PRIORITY_HIGH, T0);
    in.task_type = "review";
    assert_rc(op_submit(&in), 0);
    submit(tid(2), "", CP_PRIORITY_NORMAL, T0 + 1);
    submit(tid(3), "", CP_PRIORITY_NORMAL, T0 + 2);
    const struct cp_stats_view *s = stats();
    assert_int_equal(s->tasks_total, 3);
    assert_int_equal(s->tasks_by_status[CP_TASK_PENDING], 3);
    assert_int_equal(s->tasks_by_priority[CP_PRIORITY_HIGH], 1);
    assert_int_equal(s->tasks_by_priority[CP_PRIORITY_NORMAL], 2);
    assert_int_equal(count_of(s->tasks_by_type, s->n_tasks_by_type, "review"), 1);
    assert_int_equal(count_of(s->tasks_by_type, s->n_tasks_by_type, "debate"), 2);

    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_str(claim_id("a1", T0 + 11), tid(2));
    s = stats();
    assert_int_equal(s->tasks_by_status[CP_TASK_PENDING], 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_CLAIMED], 2);
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 12);
    s = stats();
    assert_int_equal(s->tasks_by_status[CP_TASK_CLAIMED], 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_RUNNING], 1);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 13);
    tr_ok(CP_TR_FAIL, tid(2), "a1", T0 + 14); /* requeued */
    s = stats();
    assert_int_equal(s->tasks_by_status[CP_TASK_COMPLETED], 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_PENDING], 2);
    assert_int_equal(s->tasks_by_status[CP_TASK_CLAIMED], 0);
    assert_int_equal(s->tasks_by_status[CP_TASK_RUNNING], 0);
    tr_ok(CP_TR_CANCEL, tid(3), NULL, T0 + 15);
    s = stats();
    assert_int_equal(s->tasks_by_status[CP_TASK_CANCELLED], 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_PENDING], 1);
    assert_int_equal(s->tasks_total, 3);

    /* Retention deletes: counters drop, the type's count too. */
    reap(T0 + 13 + 1000, NEVER, 0, 1000);
    s = stats();
    assert_int_equal(s->tasks_total, 2);
    assert_int_equal(s->tasks_by_status[CP_TASK_COMPLETED], 0);
    assert_int_equal(s->tasks_by_priority[CP_PRIORITY_HIGH], 0);
    assert_int_equal(count_of(s->tasks_by_type, s->n_tasks_by_type, "review"), 0);
    reap(T0 + 15 + 1000, NEVER, 0, 1000);
    s = stats();
    assert_int_equal(s->tasks_total, 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_CANCELLED], 0);
    assert_int_equal(count_of(s->tasks_by_type, s->n_tasks_by_type, "debate"), 1);
}

static void stats_timeouts_and_failures(void **state)
{
    (void)state;
    reg("a1", "", 10, T0);
    struct cp_task_view in = task_in(tid(1), "", CP_PRIORITY_LOW, T0);
    in.timeout_ms = 100;
    in.max_retries = 1;
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(2), "", CP_PRIORITY_LOW, T0 + 1);
    in.max_retries = 1;
    assert_rc(op_submit(&in), 0);
    assert_non_null(claim("a1", T0 + 10));
    assert_non_null(claim("a1", T0 + 10));
    tr_ok(CP_TR_FAIL, tid(2), "a1", T0 + 20); /* retries 1 == max: failed */
    reap(T0 + 110, NEVER, 0, NEVER);
    const struct cp_stats_view *s = stats();
    assert_int_equal(s->tasks_by_status[CP_TASK_TIMEOUT], 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_FAILED], 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_CLAIMED], 0);
    assert_int_equal(s->tasks_by_priority[CP_PRIORITY_LOW], 2);
    assert_int_equal(s->agents_by_status[CP_AGENT_READY], 1);
}

const struct CMUnitTest conformance_stats_tests[] = {
    CX_TEST(stats_empty),
    CX_TEST(stats_agents),
    CX_TEST(stats_tasks),
    CX_TEST(stats_timeouts_and_failures),
};
const size_t conformance_stats_count =
    sizeof conformance_stats_tests / sizeof conformance_stats_tests[0];
