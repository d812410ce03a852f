/* t_tasks.c — conformance: task_submit, task_get and task_list (order, filters, limit, total). */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

static void submit_and_get_round_trip(void **state)
{
    (void)state;
    struct cp_task_view in = task_in(tid(1), "debate,code", CP_PRIORITY_HIGH, T0);
    in.task_type = "review";
    in.payload_json = "{\"text\":\"hello\",\"n\":[1,2,3]}";
    in.timeout_ms = 45000;
    in.max_retries = 5;
    in.metadata_json = "{\"origin\":\"test\"}";
    in.strategy = "round_robin";
    const struct cp_result *r = op_submit(&in);
    assert_rc(r, 0);

    const struct cp_task_view *t = task(tid(1));
    assert_str(t->id, tid(1));
    assert_str(t->task_type, "review");
    assert_str(t->payload_json, in.payload_json);
    assert_int_equal(t->n_required, 2);
    assert_str(t->required_capabilities[0], "code");
    assert_str(t->required_capabilities[1], "debate");
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->priority, CP_PRIORITY_HIGH);
    assert_int_equal(t->created_at_ms, T0);
    assert_int_equal(t->pending_since_ms, T0);
    assert_int_equal(t->claimed_at_ms, 0);
    assert_int_equal(t->started_at_ms, 0);
    assert_int_equal(t->completed_at_ms, 0);
    assert_null(t->assigned_agent);
    assert_int_equal(t->timeout_ms, 45000);
    assert_int_equal(t->max_retries, 5);
    assert_int_equal(t->retries, 0);
    assert_int_equal(t->attempt, 0);
    assert_null(t->result_json);
    assert_null(t->error);
    assert_str(t->metadata_json, "{\"origin\":\"test\"}");
    assert_str(t->strategy, "round_robin");
    assert_null(t->passed_over_agent);

    /* Defaults that the host fills: empty requirements, "{}" metadata, no strategy. */
    submit(tid(2), "", CP_PRIORITY_LOW, T0 + 1);
    t = task(tid(2));
    assert_int_equal(t->n_required, 0);
    assert_str(t->metadata_json, "{}");
    assert_null(t->strategy);
    assert_int_equal(t->priority, CP_PRIORITY_LOW);

    assert_int_equal(op_task_get(tid(99))->rc, CP_ERR_NOT_FOUND);
}

static void submit_duplicate_conflicts(void **state)
{
    (void)state;
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    struct cp_task_view again = task_in(tid(1), "y", CP_PRIORITY_CRITICAL, T0 + 5);
    again.task_type = "other";
    const struct cp_result *r = op_submit(&again);
    assert_int_equal(r->rc, CP_ERR_CONFLICT);
    const struct cp_task_view *t = task(tid(1));
    assert_str(t->task_type, "debate");
    assert_int_equal(t->priority, CP_PRIORITY_NORMAL);
    assert_str(t->required_capabilities[0], "x");
    assert_int_equal(stats()->tasks_total, 1);
}

static void list_newest_first_limit_total(void **state)
{
    (void)state;
    /* Submitted out of creation order: the list follows created_at, newest first. */
    submit(tid(2), "", CP_PRIORITY_NORMAL, T0 + 2000);
    submit(tid(1), "", CP_PRIORITY_NORMAL, T0 + 1000);
    submit(tid(4), "", CP_PRIORITY_NORMAL, T0 + 4000);
    submit(tid(3), "", CP_PRIORITY_NORMAL, T0 + 3000);

    const struct cp_result *r = op_task_list(-1, NULL, 50);
    assert_rc(r, 0);
    assert_int_equal(r->n_tasks, 4);
    assert_int_equal(r->total, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_str(r->tasks[i]->id, tid(4 - i));

    r = op_task_list(-1, NULL, 2);
    assert_int_equal(r->n_tasks, 2);
    assert_int_equal(r->total, 4);
    assert_str(r->tasks[0]->id, tid(4));
    assert_str(r->tasks[1]->id, tid(3));
}

static void list_filters(void **state)
{
    (void)state;
    reg("a1", "", 5, T0);
    struct cp_task_view in = task_in(tid(1), "", CP_PRIORITY_NORMAL, T0 + 1);
    in.task_type = "alpha";
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(2), "", CP_PRIORITY_NORMAL, T0 + 2);
    in.task_type = "beta";
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(3), "", CP_PRIORITY_NORMAL, T0 + 3);
    in.task_type = "alpha";
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(4), "", CP_PRIORITY_NORMAL, T0 + 4);
    in.task_type = "alpha";
    assert_rc(op_submit(&in), 0);
    /* Claims go oldest first: tasks 1 and 2 become claimed. */
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_str(claim_id("a1", T0 + 11), tid(2));

    const struct cp_result *r = op_task_list(CP_TASK_PENDING, NULL, 50);
    assert_int_equal(r->n_tasks, 2);
    assert_int_equal(r->total, 2);
    assert_str(r->tasks[0]->id, tid(4));
    assert_str(r->tasks[1]->id, tid(3));

    r = op_task_list(-1, "alpha", 50);
    assert_int_equal(r->n_tasks, 3);
    assert_int_equal(r->total, 3);
    assert_str(r->tasks[0]->id, tid(4));
    assert_str(r->tasks[2]->id, tid(1));

    r = op_task_list(CP_TASK_CLAIMED, "alpha", 50);
    assert_int_equal(r->n_tasks, 1);
    assert_int_equal(r->total, 1);
    assert_str(r->tasks[0]->id, tid(1));

    r = op_task_list(CP_TASK_PENDING, "alpha", 1);
    assert_int_equal(r->n_tasks, 1);
    assert_int_equal(r->total, 2);
    assert_str(r->tasks[0]->id, tid(4));

    r = op_task_list(CP_TASK_COMPLETED, NULL, 50);
    assert_int_equal(r->n_tasks, 0);
    assert_int_equal(r->total, 0);
    r = op_task_list(-1, "gamma", 50);
    assert_int_equal(r->n_tasks, 0);
    assert_int_equal(r->total, 0);
}

const struct CMUnitTest conformance_task_tests[] = {
    CX_TEST(submit_and_get_round_trip),
    CX_TEST(submit_duplicate_conflicts),
    CX_TEST(list_newest_first_limit_total),
    CX_TEST(list_filters),
};
const size_t conformance_task_count =
    sizeof conformance_task_tests / sizeof conformance_task_tests[0];
