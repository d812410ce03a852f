/* t_admin.c — conformance (ABI 2.4): retry by hand, purging terminal tasks, idempotent submits
 * and batches of submits. Skipped as "not supported" for backends built for an older minor. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

static const struct cp_result *fail_final(const char *id, const char *agent_id, int64_t now)
{
    struct cp_transition tr = {.kind = CP_TR_FAIL,
                               .task_id = id,
                               .agent_id = agent_id,
                               .error = "broken",
                               .latency_ms = -1,
                               .requeue = 0,
                               .now_ms = now};
    return op_transition(&tr);
}

static void retry_by_hand(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_HIGH, T0);
    in.max_retries = 3;
    assert_rc(op_submit(&in), 0);
    assert_non_null(claim("a1", T0 + 10));
    assert_rc(fail_final(tid(1), "a1", T0 + 20), 0);
    assert_int_equal(task(tid(1))->status, CP_TASK_FAILED);
    assert_int_equal(stats()->tasks_by_status[CP_TASK_FAILED], 1);

    const struct cp_result *r = op_retry(tid(1), T0 + 5000);
    assert_rc(r, 0);
    const struct cp_task_view *t = r->task;
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->retries, 0);
    assert_int_equal(t->attempt, 1); /* attempts keep counting */
    assert_null(t->assigned_agent);
    assert_null(t->error);
    assert_null(t->result_json);
    assert_int_equal(t->claimed_at_ms, 0);
    assert_int_equal(t->completed_at_ms, 0);
    assert_int_equal(t->not_before_ms, 0);
    assert_int_equal(t->pending_since_ms, T0 + 5000);
    assert_int_equal(t->n_attempts, 1); /* the history is kept */
    assert_str(t->attempts[0].error, "broken");
    assert_int_equal(stats()->tasks_by_status[CP_TASK_FAILED], 0);
    assert_int_equal(stats()->tasks_by_status[CP_TASK_PENDING], 1);
    /* Not deleted by retention any more: it is not terminal. */
    assert_int_equal(reap(T0 + 5001, NEVER, 0, 0)->n_events, 0);
    assert_str(claim_id("a1", T0 + 5002), tid(1));
    assert_int_equal(task(tid(1))->attempt, 2);

    /* Only failed, timeout and cancelled tasks: */
    r = op_retry(tid(1), T0 + 5003);
    assert_int_equal(r->rc, CP_ERR_CONFLICT); /* claimed */
    assert_non_null(r->task);
    assert_int_equal(r->task->status, CP_TASK_CLAIMED);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 5004);
    assert_int_equal(op_retry(tid(1), T0 + 5005)->rc, CP_ERR_CONFLICT); /* completed */
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0);
    assert_int_equal(op_retry(tid(2), T0 + 5006)->rc, CP_ERR_CONFLICT); /* pending */
    assert_int_equal(op_retry(tid(9), T0 + 5007)->rc, CP_ERR_NOT_FOUND);

    tr_ok(CP_TR_CANCEL, tid(2), NULL, T0 + 5008);
    assert_rc(op_retry(tid(2), T0 + 5009), 0);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);

    in = task_in(tid(3), "x", CP_PRIORITY_CRITICAL, T0);
    in.max_retries = 1;
    in.timeout_ms = 100;
    assert_rc(op_submit(&in), 0);
    assert_str(claim_id("a1", T0 + 6000), tid(3));
    reap(T0 + 6100, NEVER, 0, NEVER);
    assert_int_equal(task(tid(3))->status, CP_TASK_TIMEOUT);
    r = op_retry(tid(3), T0 + 6200);
    assert_rc(r, 0);
    assert_int_equal(r->task->retries, 0);
    assert_int_equal(r->task->n_attempts, 1);
    assert_int_equal(r->task->attempts[0].outcome, CP_ATTEMPT_TIMEOUT);
}

static uint32_t purged(const struct cp_result *r)
{
    return (uint32_t)events_of(r, CP_EVENT_TASK_DELETED, NULL);
}

static void purge_terminal_tasks(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    /* Tasks 1..6 completed at T0 + 10 * n; 7 and 8 cancelled; 9 pending; 10 of another type. */
    for (unsigned n = 1; n <= 6; n++) {
        submit(tid(n), "x", CP_PRIORITY_NORMAL, T0 + n);
        assert_str(claim_id("a1", T0 + 10 * n - 1), tid(n));
        tr_ok(CP_TR_COMPLETE, tid(n), "a1", T0 + 10 * n);
    }
    submit(tid(7), "x", CP_PRIORITY_NORMAL, T0 + 7);
    tr_ok(CP_TR_CANCEL, tid(7), NULL, T0 + 15);
    submit(tid(8), "x", CP_PRIORITY_NORMAL, T0 + 8);
    tr_ok(CP_TR_CANCEL, tid(8), NULL, T0 + 100);
    submit(tid(9), "x", CP_PRIORITY_NORMAL, T0 + 9);
    struct cp_task_view in = task_in(tid(10), "", CP_PRIORITY_NORMAL, T0 + 10);
    in.task_type = "other";
    assert_rc(op_submit(&in), 0);
    tr_ok(CP_TR_CANCEL, tid(10), NULL, T0 + 16);

    /* Completed ones ended by T0 + 40, two per call, oldest first. */
    struct cp_purge p = {.status_mask = CP_TASK_MASK(CP_TASK_COMPLETED),
                         .ended_before_ms = T0 + 40,
                         .limit = 2,
                         .now_ms = T0 + 1000};
    const struct cp_result *r = op_purge(&p);
    assert_rc(r, 0);
    assert_int_equal(purged(r), 2);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(1)));
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(2)));
    assert_int_equal(r->more, 1);
    assert_int_equal(op_task_get(tid(1))->rc, CP_ERR_NOT_FOUND);
    r = op_purge(&p);
    assert_int_equal(purged(r), 2);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(3)));
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(4)));
    r = op_purge(&p);
    assert_int_equal(purged(r), 0);
    assert_int_equal(r->more, 0);
    assert_rc(op_task_get(tid(5)), 0);
    assert_rc(op_task_get(tid(7)), 0); /* cancelled: not in the mask */

    /* A type, any terminal status. */
    p = (struct cp_purge){.task_type = "other", .ended_before_ms = T0 + 1000, .now_ms = T0 + 1000};
    r = op_purge(&p);
    assert_int_equal(purged(r), 1);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(10)));
    assert_int_equal(r->more, 0);

    /* Every terminal one; pending tasks stay. */
    p = (struct cp_purge){.ended_before_ms = T0 + 1000, .now_ms = T0 + 1000};
    r = op_purge(&p);
    assert_int_equal(purged(r), 4); /* 5, 6, 7, 8 */
    assert_rc(op_task_get(tid(9)), 0);
    const struct cp_stats_view *s = stats();
    assert_int_equal(s->tasks_total, 1);
    assert_int_equal(s->tasks_by_status[CP_TASK_PENDING], 1);

    p.status_mask = CP_TASK_MASK(CP_TASK_PENDING);
    assert_int_equal(op_purge(&p)->rc, CP_ERR_INVALID);
}

static const struct cp_result *submit_keyed(unsigned n, const char *key, int64_t created)
{
    struct cp_task_view in = task_in(tid(n), "x", CP_PRIORITY_NORMAL, created);
    in.idempotency_key = key;
    return op_submit(&in);
}

static void idempotent_submit(void **state)
{
    (void)state;
    REQUIRE_V4();
    const struct cp_result *r = submit_keyed(1, "order-42", T0);
    assert_rc(r, 0);
    assert_int_equal(r->created, 1);
    assert_str(r->task->id, tid(1));
    assert_str(r->task->idempotency_key, "order-42");

    r = submit_keyed(2, "order-42", T0 + 1);
    assert_rc(r, 0);
    assert_int_equal(r->created, 0);
    assert_str(r->task->id, tid(1)); /* the first task; nothing stored */
    assert_int_equal(op_task_get(tid(2))->rc, CP_ERR_NOT_FOUND);
    assert_int_equal(stats()->tasks_total, 1);

    r = submit_keyed(3, "order-43", T0 + 2);
    assert_int_equal(r->created, 1);
    assert_str(r->task->id, tid(3));
    r = submit_keyed(4, NULL, T0 + 3);
    assert_int_equal(r->created, 1);
    assert_null(r->task->idempotency_key);

    /* The key lives as long as its task: a terminal task deleted by retention forgets it. */
    reg("a1", "x", 5, T0);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 20);
    r = submit_keyed(5, "order-42", T0 + 30);
    assert_str(r->task->id, tid(1)); /* still retained */
    assert_int_equal(r->task->status, CP_TASK_COMPLETED);
    reap(T0 + 100, NEVER, 0, 50);
    assert_int_equal(op_task_get(tid(1))->rc, CP_ERR_NOT_FOUND);
    r = submit_keyed(6, "order-42", T0 + 200);
    assert_int_equal(r->created, 1);
    assert_str(r->task->id, tid(6));

    /* ... and so does one deleted by a purge. */
    tr_ok(CP_TR_CANCEL, tid(3), NULL, T0 + 300);
    struct cp_purge p = {.ended_before_ms = T0 + 300, .now_ms = T0 + 300};
    assert_int_equal(purged(op_purge(&p)), 1);
    r = submit_keyed(7, "order-43", T0 + 400);
    assert_int_equal(r->created, 1);
    assert_str(r->task->id, tid(7));
}

static void batch_submit(void **state)
{
    (void)state;
    REQUIRE_V4();
    assert_rc(submit_keyed(1, "k1", T0), 0);

    struct cp_task_view in[5];
    const struct cp_task_view *ptr[5];
    in[0] = task_in(tid(2), "x", CP_PRIORITY_LOW, T0 + 1);
    in[1] = task_in(tid(3), "x", CP_PRIORITY_NORMAL, T0 + 1);
    in[1].idempotency_key = "k1"; /* found: task 1 */
    in[2] = task_in(tid(4), "", CP_PRIORITY_CRITICAL, T0 + 1);
    in[2].idempotency_key = "k2";
    in[3] = task_in(tid(5), "x", CP_PRIORITY_NORMAL, T0 + 1);
    in[3].idempotency_key = "k2"; /* found: task 4, an earlier item of this batch */
    in[4] = task_in(tid(6), "x", CP_PRIORITY_NORMAL, T0 + 1);
    in[4].not_before_ms = T0 + 1000;
    for (int i = 0; i < 5; i++)
        ptr[i] = &in[i];
    const struct cp_result *r = op_submit_batch(ptr, 5);
    assert_rc(r, 0);
    assert_int_equal(r->n_tasks, 5);
    assert_str(r->tasks[0]->id, tid(2));
    assert_str(r->tasks[1]->id, tid(1));
    assert_str(r->tasks[2]->id, tid(4));
    assert_str(r->tasks[3]->id, tid(4));
    assert_str(r->tasks[4]->id, tid(6));
    assert_int_equal(r->tasks[4]->not_before_ms, T0 + 1000);
    assert_int_equal(stats()->tasks_total, 4);
    assert_int_equal(op_task_get(tid(3))->rc, CP_ERR_NOT_FOUND);

    reg("a1", "x", 5, T0);
    assert_str(claim_id("a1", T0 + 10), tid(4));
    assert_str(claim_id("a1", T0 + 11), tid(1));
    assert_str(claim_id("a1", T0 + 12), tid(2));
    assert_null(claim("a1", T0 + 13)); /* task 6 waits */

    /* Nothing is stored when an item is refused. */
    in[0] = task_in(tid(10), "x", CP_PRIORITY_NORMAL, T0 + 20);
    in[1] = task_in(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 20); /* id taken */
    r = op_submit_batch(ptr, 2);
    assert_int_equal(r->rc, CP_ERR_CONFLICT);
    in[1] = task_in(tid(10), "x", CP_PRIORITY_NORMAL, T0 + 20); /* twice in the batch */
    assert_true(op_submit_batch(ptr, 2)->rc < 0);
    in[1] = task_in(tid(11), "b,a", CP_PRIORITY_NORMAL, T0 + 20);
    in[1].required_capabilities = (const char *const[]){"b", "a"}; /* not sorted */
    assert_int_equal(op_submit_batch(ptr, 2)->rc, CP_ERR_INVALID);
    assert_int_equal(op_task_get(tid(10))->rc, CP_ERR_NOT_FOUND);
    assert_int_equal(stats()->tasks_total, 4);

    r = op_submit_batch(ptr, 0);
    assert_rc(r, 0);
    assert_int_equal(r->n_tasks, 0);
}

const struct CMUnitTest conformance_admin_tests[] = {
    CX_TEST(retry_by_hand),
    CX_TEST(purge_terminal_tasks),
    CX_TEST(idempotent_submit),
    CX_TEST(batch_submit),
};
const size_t conformance_admin_count =
    sizeof conformance_admin_tests / sizeof conformance_admin_tests[0];
