/* t_transitions.c — conformance: task_transition — every kind from every state (allowed or
 * CONFLICT naming the state), the assigned-agent check, and each kind's effects on the task
 * and on the agent's counters. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

/* Task n in `status`, held (when held at all) by agent "w". Each task requires its own
 * capability "c<n>" and the claim names it, so the claim picks exactly this task. */
static const char *task_in_status(unsigned n, int status)
{
    char cap[16];
    snprintf(cap, sizeof cap, "c%u", n);
    const char *id = tid(n);
    int64_t at = T0 + (int64_t)n * 100;
    struct cp_task_view in = task_in(id, cap, CP_PRIORITY_NORMAL, at);
    if (status == CP_TASK_TIMEOUT) {
        in.timeout_ms = 10;
        in.max_retries = 0;
    }
    assert_rc(op_submit(&in), 0);
    if (status == CP_TASK_PENDING) return id;
    if (status == CP_TASK_CANCELLED) {
        tr_ok(CP_TR_CANCEL, id, NULL, at + 1);
        return id;
    }
    const struct cp_result *r = op_claim("w", cap, at + 1);
    assert_rc(r, 0);
    assert_non_null(r->task);
    assert_str(r->task->id, id);
    switch (status) {
    case CP_TASK_RUNNING:
        tr_ok(CP_TR_START, id, "w", at + 2);
        break;
    case CP_TASK_COMPLETED:
        tr_ok(CP_TR_COMPLETE, id, "w", at + 2);
        break;
    case CP_TASK_FAILED: {
        struct cp_transition tr = {.kind = CP_TR_FAIL,
                                   .task_id = id,
                                   .agent_id = "w",
                                   .latency_ms = -1,
                                   .requeue = 0,
                                   .error = "x",
                                   .now_ms = at + 2};
        assert_rc(op_transition(&tr), 0);
        break;
    }
    case CP_TASK_TIMEOUT:
        reap(at + 11, NEVER, 0, NEVER);
        break;
    }
    assert_int_equal(task(id)->status, status);
    return id;
}

static void transition_matrix(void **state)
{
    (void)state;
    reg("w", "", 1000, T0);
    static const int kinds[] = {CP_TR_START, CP_TR_COMPLETE, CP_TR_FAIL, CP_TR_CANCEL,
                                CP_TR_RELEASE};
    static const char *const kind_names[] = {"", "start", "complete", "fail", "cancel", "release"};
    /* allowed[kind] = mask of statuses it may leave */
    uint32_t allowed[6] = {0};
    allowed[CP_TR_START] = CP_TASK_MASK(CP_TASK_CLAIMED);
    allowed[CP_TR_COMPLETE] = CP_TASK_MASK(CP_TASK_CLAIMED) | CP_TASK_MASK(CP_TASK_RUNNING);
    allowed[CP_TR_FAIL] = allowed[CP_TR_COMPLETE];
    allowed[CP_TR_CANCEL] = allowed[CP_TR_COMPLETE] | CP_TASK_MASK(CP_TASK_PENDING);
    allowed[CP_TR_RELEASE] = CP_TASK_MASK(CP_TASK_CLAIMED);
    unsigned n = 1;
    for (int s = 0; s < CP_TASK_STATUS_COUNT; s++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++, n++) {
            int kind = kinds[k];
            const char *id = task_in_status(n, s);
            const struct cp_result *r = tr_do(kind, id, NULL, T0 + (int64_t)n * 100 + 50);
            int ok = (allowed[kind] & CP_TASK_MASK(s)) != 0;
            if (r->rc != (ok ? 0 : CP_ERR_CONFLICT))
                fail_msg("%s from %s: rc %d, want %d (%s)", kind_names[kind],
                         cp_task_status_name(s), r->rc, ok ? 0 : CP_ERR_CONFLICT,
                         r->message ? r->message : "no message");
            if (ok) continue;
            /* The conflict carries the current task and names its state. */
            assert_non_null(r->task);
            assert_int_equal(r->task->status, s);
            assert_non_null(r->message);
            if (!strstr(r->message, cp_task_status_name(s)))
                fail_msg("%s from %s: message '%s' does not name the state", kind_names[kind],
                         cp_task_status_name(s), r->message);
            assert_int_equal(task(id)->status, s);
        }
    }
    assert_int_equal(tr_do(CP_TR_COMPLETE, tid(9999), NULL, T0)->rc, CP_ERR_NOT_FOUND);
}

static void wrong_agent_conflicts(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reg("a2", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_str(claim_id("a1", T0 + 1), tid(1));
    static const int kinds[] = {CP_TR_START, CP_TR_COMPLETE, CP_TR_FAIL, CP_TR_CANCEL,
                                CP_TR_RELEASE};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const struct cp_result *r = tr_do(kinds[k], tid(1), "a2", T0 + 2);
        assert_int_equal(r->rc, CP_ERR_CONFLICT);
        assert_non_null(r->task);
        assert_str(r->task->assigned_agent, "a1");
    }
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_CLAIMED);
    assert_str(t->assigned_agent, "a1");
    assert_int_equal(agent("a1")->tasks_in_flight, 1);
    assert_int_equal(agent("a2")->last_heartbeat_ms, T0);

    /* A task with no assigned agent refuses any named agent. */
    submit(tid(2), "y", CP_PRIORITY_NORMAL, T0);
    assert_int_equal(tr_do(CP_TR_CANCEL, tid(2), "a1", T0 + 3)->rc, CP_ERR_CONFLICT);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);

    /* After a timeout hands the task to another agent, the old holder is refused. */
    struct cp_task_view in = task_in(tid(3), "z", CP_PRIORITY_NORMAL, T0);
    in.timeout_ms = 1000;
    assert_rc(op_submit(&in), 0);
    reg("b1", "z", 1, T0);
    reg("b2", "z", 1, T0);
    assert_str(claim_id("b1", T0 + 10), tid(3));
    reap(T0 + 1010, NEVER, 0, NEVER);
    assert_str(claim_id("b2", T0 + 1020), tid(3));
    assert_int_equal(tr_do(CP_TR_COMPLETE, tid(3), "b1", T0 + 1030)->rc, CP_ERR_CONFLICT);
    tr_ok(CP_TR_COMPLETE, tid(3), "b2", T0 + 1040);
}

static void start_sets_running(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 1));
    const struct cp_result *r = tr_ok(CP_TR_START, tid(1), "a1", T0 + 5);
    assert_int_equal(r->task->status, CP_TASK_RUNNING);
    assert_int_equal(r->task->started_at_ms, T0 + 5);
    assert_int_equal(r->task->claimed_at_ms, T0 + 1);
    assert_non_null(r->agent);
    assert_int_equal(r->agent->tasks_in_flight, 1);
    assert_int_equal(task(tid(1))->started_at_ms, T0 + 5);
}

static void complete_effects(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 100));
    assert_int_equal(agent("a1")->status, CP_AGENT_BUSY);
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 150);
    struct cp_transition tr = {.kind = CP_TR_COMPLETE,
                               .task_id = tid(1),
                               .agent_id = "a1",
                               .result_json = "{\"answer\":42}",
                               .latency_ms = 1234.5,
                               .now_ms = T0 + 2000};
    const struct cp_result *r = op_transition(&tr);
    assert_rc(r, 0);
    assert_int_equal(r->task->status, CP_TASK_COMPLETED);
    assert_str(r->task->result_json, "{\"answer\":42}");
    assert_int_equal(r->task->completed_at_ms, T0 + 2000);
    assert_non_null(r->agent);
    assert_str(r->agent->agent_id, "a1");
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->tasks_completed, 1);
    assert_int_equal(a->tasks_failed, 0);
    assert_int_equal(a->latency_count, 1);
    assert_true(a->latency_sum_ms == 1234.5);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_null(a->current_task_id);
    assert_int_equal(a->status, CP_AGENT_READY);       /* busy -> ready below max */
    assert_int_equal(a->last_heartbeat_ms, T0 + 2000); /* tr.agent_id is the holder */

    /* Latency measured from claimed_at; null result; no agent_id: heartbeat untouched. */
    assert_non_null(claim("a1", T0 + 3000));
    tr = (struct cp_transition){
        .kind = CP_TR_COMPLETE, .task_id = tid(2), .latency_ms = -1, .now_ms = T0 + 3500};
    r = op_transition(&tr);
    assert_rc(r, 0);
    assert_null(r->task->result_json);
    a = agent("a1");
    assert_int_equal(a->tasks_completed, 2);
    assert_int_equal(a->latency_count, 2);
    assert_true(a->latency_sum_ms == 1234.5 + 500);
    assert_int_equal(a->last_heartbeat_ms, T0 + 3000);
}

static void fail_effects(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.max_retries = 2;
    assert_rc(op_submit(&in), 0);

    assert_non_null(claim("a1", T0 + 100));
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 110);
    struct cp_transition tr = {.kind = CP_TR_FAIL,
                               .task_id = tid(1),
                               .agent_id = "a1",
                               .error = "model overloaded",
                               .latency_ms = 40,
                               .requeue = 1,
                               .pass_over_ms = 30000,
                               .now_ms = T0 + 200};
    const struct cp_result *r = op_transition(&tr);
    assert_rc(r, 0);
    const struct cp_task_view *t = r->task;
    assert_int_equal(t->status, CP_TASK_PENDING); /* retries 1 < 2 */
    assert_int_equal(t->retries, 1);
    assert_str(t->error, "model overloaded");
    assert_null(t->assigned_agent);
    assert_int_equal(t->claimed_at_ms, 0);
    assert_int_equal(t->started_at_ms, 0);
    assert_int_equal(t->pending_since_ms, T0 + 200);
    assert_int_equal(t->completed_at_ms, 0);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->tasks_failed, 1);
    assert_int_equal(a->tasks_completed, 0);
    assert_int_equal(a->latency_count, 1);
    assert_true(a->latency_sum_ms == 40);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_int_equal(a->last_heartbeat_ms, T0 + 200);

    /* The second failure uses up the retries: failed, completed_at set. */
    t = claim("a1", T0 + 300);
    assert_non_null(t);
    assert_int_equal(t->attempt, 2);
    tr.now_ms = T0 + 400;
    tr.latency_ms = -1;
    r = op_transition(&tr);
    assert_rc(r, 0);
    assert_int_equal(r->task->status, CP_TASK_FAILED);
    assert_int_equal(r->task->retries, 2);
    assert_int_equal(r->task->completed_at_ms, T0 + 400);
    a = agent("a1");
    assert_int_equal(a->tasks_failed, 2);
    assert_true(a->latency_sum_ms == 40 + 100);

    /* requeue = 0 fails at once even with retries left. */
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 500));
    tr = (struct cp_transition){.kind = CP_TR_FAIL,
                                .task_id = tid(2),
                                .error = "bad input",
                                .latency_ms = -1,
                                .requeue = 0,
                                .now_ms = T0 + 600};
    r = op_transition(&tr);
    assert_rc(r, 0);
    assert_int_equal(r->task->status, CP_TASK_FAILED);
    assert_int_equal(r->task->retries, 1);
    assert_str(r->task->error, "bad input");
    assert_int_equal(r->task->completed_at_ms, T0 + 600);
}

static void cancel_effects(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    /* From pending: it leaves the queue. */
    const struct cp_result *r = tr_ok(CP_TR_CANCEL, tid(1), NULL, T0 + 10);
    assert_int_equal(r->task->status, CP_TASK_CANCELLED);
    assert_int_equal(r->task->completed_at_ms, T0 + 10);
    assert_null(r->agent);
    /* From claimed: the agent's in flight drops, no completed/failed counted. */
    assert_str(claim_id("a1", T0 + 20), tid(2));
    r = tr_ok(CP_TR_CANCEL, tid(2), NULL, T0 + 30);
    assert_int_equal(r->task->status, CP_TASK_CANCELLED);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->tasks_in_flight, 0);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_int_equal(a->tasks_completed, 0);
    assert_int_equal(a->tasks_failed, 0);
    assert_int_equal(a->latency_count, 0);
    assert_null(claim("a1", T0 + 40));
    /* An agent completing a cancelled task is refused. */
    assert_int_equal(tr_do(CP_TR_COMPLETE, tid(2), "a1", T0 + 50)->rc, CP_ERR_CONFLICT);
}

static void current_task_cleared_only_for_that_task(void **state)
{
    (void)state;
    reg("a1", "x", 2, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_str(claim_id("a1", T0 + 11), tid(2));
    assert_str(agent("a1")->current_task_id, tid(2));
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 12);
    assert_str(agent("a1")->current_task_id, tid(2));
    assert_int_equal(agent("a1")->tasks_in_flight, 1);
    tr_ok(CP_TR_COMPLETE, tid(2), "a1", T0 + 13);
    assert_null(agent("a1")->current_task_id);
}

static void transition_of_unregistered_holder(void **state)
{
    (void)state;
    /* A completed task keeps naming its agent after the agent is gone; transitions on other
     * tasks are unaffected. */
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 1));
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 2);
    assert_rc(op_unregister("a1", T0 + 3), 0);
    assert_str(task(tid(1))->assigned_agent, "a1");
    assert_int_equal(tr_do(CP_TR_CANCEL, tid(1), NULL, T0 + 4)->rc, CP_ERR_CONFLICT);
}

const struct CMUnitTest conformance_transition_tests[] = {
    CX_TEST(transition_matrix),
    CX_TEST(wrong_agent_conflicts),
    CX_TEST(start_sets_running),
    CX_TEST(complete_effects),
    CX_TEST(fail_effects),
    CX_TEST(cancel_effects),
    CX_TEST(current_task_cleared_only_for_that_task),
    CX_TEST(transition_of_unregistered_holder),
};
const size_t conformance_transition_count =
    sizeof conformance_transition_tests / sizeof conformance_transition_tests[0];
