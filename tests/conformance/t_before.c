/* t_before.c — conformance: what an operation reports it changed from (ABI 2.4: cp_result.before
 * with agent_status_before / task_status_before, cp_event.status_before and .attempt), which the
 * host's event stream tells as "old_status". A backend built for an older minor reports nothing
 * (the host reads "not reported"): then only that is checked. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

static int reports(void)
{
    return cx_backend_minor() >= 4;
}

static void agent_before(const struct cp_result *r, int32_t want)
{
    if (!reports()) {
        assert_int_equal(r->before & CP_BEFORE_AGENT, 0);
        return;
    }
    assert_true(r->before & CP_BEFORE_AGENT);
    assert_int_equal(r->agent_status_before, want);
}

static void task_before(const struct cp_result *r, int32_t want)
{
    if (!reports()) {
        assert_int_equal(r->before & CP_BEFORE_TASK, 0);
        return;
    }
    assert_true(r->before & CP_BEFORE_TASK);
    assert_int_equal(r->task_status_before, want);
}

static void nothing_before(const struct cp_result *r)
{
    assert_int_equal(r->before, 0);
}

/* Register (new: nothing; again: the status it had), heartbeat, set_health, unregister. */
static void agent_ops_report_status_before(void **state)
{
    (void)state;
    struct cp_agent_view in = agent_in("a1", "x", 1);
    const struct cp_result *r = op_register(&in, T0);
    assert_rc(r, 0);
    assert_int_equal(r->before & CP_BEFORE_AGENT, 0); /* a new agent had none */
    r = op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 1);
    assert_rc(r, 0);
    agent_before(r, CP_AGENT_READY);
    assert_int_equal(r->before & CP_BEFORE_TASK, 0);
    r = op_heartbeat("a1", -1, T0 + 2); /* no change: before == after */
    agent_before(r, CP_AGENT_DRAINING);
    r = op_register(&in, T0 + 3);
    assert_rc(r, 0);
    agent_before(r, CP_AGENT_DRAINING);
    struct cp_health_view h = agent("a1")->health;
    h.status = CP_HEALTH_DEGRADED;
    h.error = NULL;
    r = op_set_health("a1", &h, CP_AGENT_FAILED, -1);
    assert_rc(r, 0);
    agent_before(r, CP_AGENT_READY);
    assert_int_equal(r->agent->status, CP_AGENT_FAILED);
    r = op_unregister("a1", T0 + 4);
    assert_rc(r, 0);
    agent_before(r, CP_AGENT_FAILED);
    /* reads and refusals report nothing */
    nothing_before(op_agent_get("nobody"));
    nothing_before(op_heartbeat("nobody", -1, T0 + 5));
}

/* Claim: the agent before (ready), the task before (pending); nothing claimed: only the agent.
 * Transitions: the task before, and its agent's before when the agent is in the result. */
static void task_ops_report_status_before(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    nothing_before(op_task_get(tid(1)));
    const struct cp_result *r = op_claim("a1", NULL, T0 + 10);
    assert_rc(r, 0);
    assert_non_null(r->task);
    agent_before(r, CP_AGENT_READY);
    assert_int_equal(r->agent->status, CP_AGENT_BUSY); /* at its maximum */
    task_before(r, CP_TASK_PENDING);
    r = op_claim("a1", NULL, T0 + 11); /* busy: nothing */
    assert_null(r->task);
    agent_before(r, CP_AGENT_BUSY);
    assert_int_equal(r->before & CP_BEFORE_TASK, 0);

    r = tr_ok(CP_TR_START, tid(1), "a1", T0 + 20);
    task_before(r, CP_TASK_CLAIMED);
    agent_before(r, CP_AGENT_BUSY);
    r = tr_ok(CP_TR_FAIL, tid(1), "a1", T0 + 30); /* retried: pending again */
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    task_before(r, CP_TASK_RUNNING);
    agent_before(r, CP_AGENT_BUSY);
    assert_int_equal(r->agent->status, CP_AGENT_READY);
    r = tr_ok(CP_TR_CANCEL, tid(1), NULL, T0 + 40);
    task_before(r, CP_TASK_PENDING);
    assert_int_equal(r->before & CP_BEFORE_AGENT, 0); /* no agent held it */

    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 50);
    assert_non_null(claim("a1", T0 + 60));
    r = tr_ok(CP_TR_COMPLETE, tid(2), "a1", T0 + 70);
    task_before(r, CP_TASK_CLAIMED);
    agent_before(r, CP_AGENT_BUSY);
    r = tr_do(CP_TR_COMPLETE, tid(2), "a1", T0 + 80); /* a conflict reports nothing */
    assert_rc(r, CP_ERR_CONFLICT);
    nothing_before(r);
}

/* Reap and unregister events: the status before and the task's attempt. */
static void events_report_status_before(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reg("a2", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.timeout_ms = 1000;
    assert_rc(op_submit(&in), 0);
    assert_non_null(claim("a1", T0 + 100));
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 200);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a2", T0 + 100));

    const struct cp_result *r = reap(T0 + 1100, NEVER, 0, NEVER);
    const struct cp_event *e = event_for_task(r, CP_EVENT_TASK_TIMEOUT, tid(1));
    assert_non_null(e);
    assert_int_equal(e->status_before, reports() ? CP_TASK_RUNNING : -1);
    assert_int_equal(e->attempt, reports() ? 1u : 0u);

    /* a2 goes silent: offline (before: busy), its claimed task requeued */
    reg("a1", "x", 1, T0 + 1200);
    r = reap(T0 + 1500, 1000, 0, NEVER);
    const struct cp_event *off = NULL;
    for (size_t i = 0; i < r->n_events; i++)
        if (r->events[i].kind == CP_EVENT_AGENT_OFFLINE && strcmp(r->events[i].agent_id, "a2") == 0)
            off = &r->events[i];
    assert_non_null(off);
    assert_int_equal(off->status_before, reports() ? CP_AGENT_BUSY : -1);
    e = event_for_task(r, CP_EVENT_TASK_REQUEUED, tid(2));
    assert_non_null(e);
    assert_int_equal(e->status_before, reports() ? CP_TASK_CLAIMED : -1);
    assert_int_equal(e->attempt, reports() ? 1u : 0u);

    /* a1 claims again and unregisters: its task requeued, claimed before */
    assert_non_null(claim("a1", T0 + 1600));
    r = op_unregister("a1", T0 + 1700);
    assert_rc(r, 0);
    assert_int_equal(r->n_events, 1);
    assert_int_equal(r->events[0].status_before, reports() ? CP_TASK_CLAIMED : -1);
    agent_before(r, CP_AGENT_BUSY);
}

const struct CMUnitTest conformance_before_tests[] = {
    CX_TEST(agent_ops_report_status_before),
    CX_TEST(task_ops_report_status_before),
    CX_TEST(events_report_status_before),
};
const size_t conformance_before_count =
    sizeof conformance_before_tests / sizeof conformance_before_tests[0];
