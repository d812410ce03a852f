/* t_next.c — conformance (ABI 2.4, optional op): task_complete_next, a COMPLETE or FAIL and the
 * claim of the agent's next task as one operation. Each part must answer exactly what
 * task_transition and task_claim answer as two calls (compared here against the same scenario
 * run as two calls on a twin set of records), the claim only when the transition succeeded, and
 * a refused transition changes nothing. A backend without the op (memory_minor0, a plugin that
 * leaves it NULL) skips these: the host makes the two calls itself. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define REQUIRE_NEXT()                                                                             \
    do {                                                                                           \
        if (!cx_has_complete_next()) {                                                             \
            print_message("task_complete_next not provided: the host makes two calls\n");          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static struct cp_transition tr_of(int kind, const char *task_id, const char *agent, int64_t now)
{
    struct cp_transition tr = {.kind = kind,
                               .task_id = task_id,
                               .agent_id = agent,
                               .result_json = kind == CP_TR_COMPLETE ? "{\"ok\":1}" : NULL,
                               .error = "boom",
                               .latency_ms = -1,
                               .requeue = 1,
                               .pass_over_ms = 30000,
                               .now_ms = now};
    return tr;
}

static const struct cp_result *next_do(int kind, const char *task_id, const char *agent,
                                       const char *caps_csv, int64_t now)
{
    struct cp_transition tr = tr_of(kind, task_id, agent, now);
    uint32_t n = 0;
    const char *const *caps = caps_csv ? cx_caps(caps_csv, &n) : NULL;
    struct cp_claim c = {
        .agent_id = agent, .capabilities = caps, .n_capabilities = n, .now_ms = now};
    return op_complete_next(&tr, &c);
}

/* The parts that must agree between the one call and the two. */
static void assert_same_task(const struct cp_task_view *a, const struct cp_task_view *b)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->retries, b->retries);
    assert_int_equal(a->claimed_at_ms, b->claimed_at_ms);
    assert_int_equal(a->completed_at_ms, b->completed_at_ms);
    assert_int_equal(a->deadline_at_ms, b->deadline_at_ms);
    if (a->assigned_agent || b->assigned_agent) {
        assert_non_null(a->assigned_agent);
        assert_non_null(b->assigned_agent);
    }
}

static void assert_same_agent(const struct cp_agent_view *a, const struct cp_agent_view *b)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->tasks_in_flight, b->tasks_in_flight);
    assert_int_equal(a->tasks_completed, b->tasks_completed);
    assert_int_equal(a->tasks_failed, b->tasks_failed);
    assert_int_equal(a->last_heartbeat_ms, b->last_heartbeat_ms);
    assert_int_equal(a->last_assigned_ms, b->last_assigned_ms);
    assert_int_equal(!a->current_task_id, !b->current_task_id);
}

/* One scenario on agent `ag` (max 1) holding task `held`, with task `queued` pending: the one
 * call (prefix "x") and the two calls (prefix "y") must answer alike. */
static void same_as_two_calls(int kind)
{
    const char *names[2][4] = {{"xa", "x", "x1", "x2"}, {"ya", "y", "y1", "y2"}};
    const struct cp_result *one = NULL, *tr2 = NULL, *cl2 = NULL;
    for (int i = 0; i < 2; i++) {
        const char *ag = names[i][0];
        char cap[8], t1[40], t2[40];
        snprintf(cap, sizeof cap, "c%s", names[i][1]);
        snprintf(t1, sizeof t1, "%s", tid(i * 10 + 1));
        snprintf(t2, sizeof t2, "%s", tid(i * 10 + 2));
        reg(ag, cap, 1, T0);
        submit(t1, cap, CP_PRIORITY_NORMAL, T0 + 1);
        submit(t2, cap, CP_PRIORITY_NORMAL, T0 + 2);
        assert_str(claim_id(ag, T0 + 10), t1);
        if (i == 0) {
            one = next_do(kind, t1, ag, NULL, T0 + 20);
        } else {
            struct cp_transition tr = tr_of(kind, t1, ag, T0 + 20);
            tr2 = op_transition(&tr);
            cl2 = op_claim(ag, NULL, T0 + 20);
        }
    }
    assert_rc(one, 0);
    assert_rc(tr2, 0);
    assert_non_null(one->next_claim);
    assert_rc(one->next_claim, 0);
    assert_rc(cl2, 0);
    /* The transition's part: the task and its agent after it, and the statuses before. */
    assert_same_task(one->task, tr2->task);
    assert_non_null(one->agent);
    assert_same_agent(one->agent, tr2->agent);
    assert_int_equal(one->before, tr2->before);
    assert_int_equal(one->agent_status_before, tr2->agent_status_before);
    assert_int_equal(one->task_status_before, tr2->task_status_before);
    /* The claim's part. */
    assert_non_null(one->next_claim->task);
    assert_non_null(cl2->task);
    assert_str(one->next_claim->task->id, tid(2)); /* a failed task requeues behind it */
    assert_same_task(one->next_claim->task, cl2->task);
    assert_same_agent(one->next_claim->agent, cl2->agent);
    assert_int_equal(one->next_claim->before, cl2->before);
    assert_int_equal(one->next_claim->agent_status_before, cl2->agent_status_before);
    assert_int_equal(one->next_claim->task_status_before, cl2->task_status_before);
    /* And the records as stored. */
    assert_same_agent(agent("xa"), agent("ya"));
    assert_same_task(task(tid(1)), task(tid(11)));
    assert_same_task(task(tid(2)), task(tid(12)));
}

static void complete_next_same_as_two_calls(void **state)
{
    (void)state;
    REQUIRE_NEXT();
    same_as_two_calls(CP_TR_COMPLETE);
    const struct cp_agent_view *a = agent("xa");
    assert_int_equal(a->status, CP_AGENT_BUSY);
    assert_int_equal(a->tasks_in_flight, 1);
    assert_int_equal(a->tasks_completed, 1);
    assert_str(a->current_task_id, tid(2));
    assert_int_equal(task(tid(1))->status, CP_TASK_COMPLETED);
    assert_str(task(tid(1))->result_json, "{\"ok\":1}");
    assert_int_equal(task(tid(2))->status, CP_TASK_CLAIMED);
}

static void fail_next_same_as_two_calls(void **state)
{
    (void)state;
    REQUIRE_NEXT();
    /* Retries left and nobody else able: the failed task is pending again (not passed over),
     * behind the one that waited; the call claims that one. */
    same_as_two_calls(CP_TR_FAIL);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->attempt, 1);
    assert_int_equal(t->retries, 1);
    assert_null(t->passed_over_agent);
    assert_int_equal(agent("xa")->tasks_failed, 1);
}

static void complete_next_nothing_to_claim(void **state)
{
    (void)state;
    REQUIRE_NEXT();
    reg("a", "c", 2, T0);
    submit(tid(1), "c", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "d", CP_PRIORITY_NORMAL, T0); /* not for this agent */
    claim_id("a", T0 + 1);
    const struct cp_result *r = next_do(CP_TR_COMPLETE, tid(1), "a", NULL, T0 + 5);
    assert_rc(r, 0);
    assert_int_equal(r->task->status, CP_TASK_COMPLETED);
    assert_non_null(r->next_claim);
    assert_rc(r->next_claim, 0);
    assert_null(r->next_claim->task);
    assert_non_null(r->next_claim->agent);
    assert_int_equal(r->next_claim->agent->tasks_in_flight, 0);
    assert_int_equal(r->next_claim->agent->last_heartbeat_ms, T0 + 5);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
}

static void complete_next_claims_with_given_capabilities(void **state)
{
    (void)state;
    REQUIRE_NEXT();
    reg("a", "c,d", 4, T0);
    submit(tid(1), "c", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "d", CP_PRIORITY_NORMAL, T0 + 1);
    submit(tid(3), "c", CP_PRIORITY_NORMAL, T0 + 2);
    claim_id("a", T0 + 3);
    const struct cp_result *r = next_do(CP_TR_COMPLETE, tid(1), "a", "c", T0 + 5);
    assert_rc(r, 0);
    assert_rc(r->next_claim, 0);
    assert_non_null(r->next_claim->task);
    assert_str(r->next_claim->task->id, tid(3)); /* t2 needs d, not in the claim's capabilities */
    /* Not sorted and unique: the claim's INVALID, the completion stands. */
    submit(tid(4), "c", CP_PRIORITY_NORMAL, T0 + 6);
    struct cp_transition tr = tr_of(CP_TR_COMPLETE, tid(3), "a", T0 + 7);
    const char *bad[] = {"d", "c"};
    struct cp_claim c = {
        .agent_id = "a", .capabilities = bad, .n_capabilities = 2, .now_ms = T0 + 7};
    r = op_complete_next(&tr, &c);
    assert_rc(r, 0);
    assert_int_equal(task(tid(3))->status, CP_TASK_COMPLETED);
    assert_non_null(r->next_claim);
    assert_rc(r->next_claim, CP_ERR_INVALID);
    assert_int_equal(task(tid(4))->status, CP_TASK_PENDING);
}

static void complete_next_refused_changes_nothing(void **state)
{
    (void)state;
    REQUIRE_NEXT();
    reg("a", "c", 1, T0);
    reg("b", "c", 1, T0);
    submit(tid(1), "c", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "c", CP_PRIORITY_NORMAL, T0 + 1);
    claim_id("a", T0 + 1);
    /* Not b's task: CONFLICT with the task as it is, no claim for b. */
    const struct cp_result *r = next_do(CP_TR_COMPLETE, tid(1), "b", NULL, T0 + 5);
    assert_rc(r, CP_ERR_CONFLICT);
    assert_null(r->next_claim);
    assert_int_equal(r->task->status, CP_TASK_CLAIMED);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
    assert_int_equal(agent("b")->tasks_in_flight, 0);
    assert_int_equal(agent("b")->last_heartbeat_ms, T0);
    /* Unknown task: NOT_FOUND, nothing claimed. */
    r = next_do(CP_TR_FAIL, tid(9), "a", NULL, T0 + 6);
    assert_rc(r, CP_ERR_NOT_FOUND);
    assert_null(r->next_claim);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
    /* Already completed: CONFLICT, nothing claimed. */
    tr_ok(CP_TR_COMPLETE, tid(1), "a", T0 + 7);
    r = next_do(CP_TR_COMPLETE, tid(1), "a", NULL, T0 + 8);
    assert_rc(r, CP_ERR_CONFLICT);
    assert_null(r->next_claim);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
    assert_int_equal(agent("a")->tasks_completed, 1);
    /* START is not a kind it takes. */
    claim_id("a", T0 + 9);
    r = next_do(CP_TR_START, tid(2), "a", NULL, T0 + 10);
    assert_rc(r, CP_ERR_INVALID);
    assert_int_equal(task(tid(2))->status, CP_TASK_CLAIMED);
}

static void complete_next_follows_the_claim_rule(void **state)
{
    (void)state;
    REQUIRE_NEXT();
    /* Busy by its own report: the slot comes back but the agent may not claim. */
    reg("a", "c", 3, T0);
    submit(tid(1), "c", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "c", CP_PRIORITY_NORMAL, T0 + 1);
    claim_id("a", T0 + 1);
    assert_rc(op_heartbeat("a", CP_AGENT_BUSY, T0 + 2), 0);
    const struct cp_result *r = next_do(CP_TR_COMPLETE, tid(1), "a", NULL, T0 + 5);
    assert_rc(r, 0);
    assert_rc(r->next_claim, 0);
    assert_null(r->next_claim->task);
    assert_int_equal(r->next_claim->agent->status, CP_AGENT_BUSY);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
}

const struct CMUnitTest conformance_next_tests[] = {
    CX_TEST(complete_next_same_as_two_calls),
    CX_TEST(fail_next_same_as_two_calls),
    CX_TEST(complete_next_nothing_to_claim),
    CX_TEST(complete_next_claims_with_given_capabilities),
    CX_TEST(complete_next_refused_changes_nothing),
    CX_TEST(complete_next_follows_the_claim_rule),
};
const size_t conformance_next_count =
    sizeof conformance_next_tests / sizeof *conformance_next_tests;
