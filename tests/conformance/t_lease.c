/* t_lease.c — conformance (ABI 2.4): an attempt's lease (deadline_at set by a claim, moved by
 * task_extend, used by reap's timeouts) and progress, the attempts history, delayed tasks
 * (not_before: waiting until a reap makes them due) and the retry backoff. Skipped as "not
 * supported" for backends built for an older minor. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

static const struct cp_result *extend(const char *id, const char *agent_id, int64_t deadline,
                                      const char *progress, int64_t now)
{
    struct cp_extend x = {.task_id = id,
                          .agent_id = agent_id,
                          .deadline_ms = deadline,
                          .progress_json = progress,
                          .now_ms = now};
    return op_extend(&x);
}

static const struct cp_result *fail_at(const char *id, const char *agent_id, int64_t now,
                                       const char *error, uint32_t jitter)
{
    struct cp_transition tr = {.kind = CP_TR_FAIL,
                               .task_id = id,
                               .agent_id = agent_id,
                               .error = error,
                               .latency_ms = -1,
                               .requeue = 1,
                               .pass_over_ms = 30000,
                               .now_ms = now,
                               .jitter = jitter};
    return op_transition(&tr);
}

static void claim_sets_deadline(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.timeout_ms = 1000;
    assert_rc(op_submit(&in), 0);
    assert_int_equal(task(tid(1))->deadline_at_ms, 0);
    const struct cp_task_view *t = claim("a1", T0 + 100);
    assert_non_null(t);
    assert_int_equal(t->deadline_at_ms, T0 + 1100);
    assert_null(t->progress_json);
    assert_int_equal(task(tid(1))->deadline_at_ms, T0 + 1100);
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 200);
    assert_int_equal(task(tid(1))->deadline_at_ms, T0 + 1100);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 300);
    t = task(tid(1));
    assert_int_equal(t->deadline_at_ms, 0); /* only while claimed/running */
    assert_int_equal(t->n_attempts, 0);     /* a completed attempt is the task itself */
}

static void extend_moves_deadline(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.timeout_ms = 1000;
    assert_rc(op_submit(&in), 0);
    assert_non_null(claim("a1", T0 + 100)); /* deadline T0 + 1100 */

    const struct cp_result *r =
        extend(tid(1), "a1", T0 + 5000, "{\"percent\":40,\"message\":\"half\"}", T0 + 900);
    assert_rc(r, 0);
    assert_int_equal(r->task->deadline_at_ms, T0 + 5000);
    assert_str(r->task->progress_json, "{\"percent\":40,\"message\":\"half\"}");
    assert_non_null(r->agent);
    assert_str(r->agent->agent_id, "a1");
    assert_int_equal(agent("a1")->last_heartbeat_ms, T0 + 900); /* the holder's request */

    /* Progress NULL keeps the last one; the deadline may also move earlier. */
    r = extend(tid(1), NULL, T0 + 4000, NULL, T0 + 1000);
    assert_rc(r, 0);
    assert_int_equal(r->task->deadline_at_ms, T0 + 4000);
    assert_str(r->task->progress_json, "{\"percent\":40,\"message\":\"half\"}");
    assert_int_equal(agent("a1")->last_heartbeat_ms, T0 + 900); /* not the holder's */
    r = extend(tid(1), "a1", 0, NULL, T0 + 1200);               /* 0: its own timeout from now */
    assert_rc(r, 0);
    assert_int_equal(r->task->deadline_at_ms, T0 + 2200);
    r = extend(tid(1), NULL, T0 + 4000, NULL, T0 + 1300);
    assert_rc(r, 0);

    /* The timeout rule reads the deadline, not claimed_at + timeout_ms. */
    assert_int_equal(reap(T0 + 3999, NEVER, 0, NEVER)->n_events, 0);
    assert_int_equal(task(tid(1))->status, CP_TASK_CLAIMED);
    r = reap(T0 + 4000, NEVER, 0, NEVER);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_TIMEOUT, tid(1)));
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->deadline_at_ms, 0);
    assert_null(t->progress_json); /* progress belongs to the attempt */
}

static void extend_conflicts(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    reg("a2", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_int_equal(extend(tid(9), NULL, T0 + 9000, NULL, T0)->rc, CP_ERR_NOT_FOUND);
    const struct cp_result *r = extend(tid(1), NULL, T0 + 9000, NULL, T0);
    assert_int_equal(r->rc, CP_ERR_CONFLICT); /* pending */
    assert_non_null(r->task);
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    assert_non_null(claim("a1", T0 + 10));
    r = extend(tid(1), "a2", T0 + 9000, "{\"percent\":1}", T0 + 20);
    assert_int_equal(r->rc, CP_ERR_CONFLICT); /* another agent's */
    assert_non_null(r->task);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->deadline_at_ms, T0 + 10 + 300000);
    assert_null(t->progress_json);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 30);
    assert_int_equal(extend(tid(1), "a1", T0 + 9000, NULL, T0 + 40)->rc, CP_ERR_CONFLICT);
}

static void attempts_record_how_each_ended(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.timeout_ms = 1000;
    in.max_retries = 10;
    assert_rc(op_submit(&in), 0);

    assert_non_null(claim("a1", T0 + 100));
    assert_rc(fail_at(tid(1), "a1", T0 + 200, "boom", 0), 0);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->n_attempts, 1);
    assert_str(t->attempts[0].agent_id, "a1");
    assert_int_equal(t->attempts[0].started_ms, T0 + 100);
    assert_int_equal(t->attempts[0].ended_ms, T0 + 200);
    assert_int_equal(t->attempts[0].outcome, CP_ATTEMPT_FAILED);
    assert_str(t->attempts[0].error, "boom");

    assert_non_null(claim("a1", T0 + 300)); /* no other agent: no pass-over */
    reap(T0 + 1300, NEVER, 0, NEVER);       /* times out */
    assert_non_null(claim("a1", T0 + 1400));
    assert_rc(extend(tid(1), "a1", T0 + 1000000, NULL, T0 + 1400), 0); /* no timeout now */
    reap(T0 + 40000, 30000, 0, NEVER); /* a1 silent since T0 + 1400: offline */
    assert_rc(op_heartbeat("a1", -1, T0 + 40001), 0);
    assert_non_null(claim("a1", T0 + 40002));
    assert_rc(op_unregister("a1", T0 + 40003), 0); /* requeued, no retry counted */
    reg("a1", "x", 1, T0 + 40004);
    assert_non_null(claim("a1", T0 + 40005));
    tr_ok(CP_TR_CANCEL, tid(1), NULL, T0 + 40006);

    t = task(tid(1));
    assert_int_equal(t->n_attempts, 5);
    static const int want[] = {CP_ATTEMPT_FAILED, CP_ATTEMPT_TIMEOUT, CP_ATTEMPT_OFFLINE,
                               CP_ATTEMPT_REMOVED, CP_ATTEMPT_CANCELLED};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t->attempts[i].outcome, want[i]);
        assert_str(t->attempts[i].agent_id, "a1");
    }
    assert_str(t->attempts[1].error, "timeout");
    assert_int_equal(t->attempts[1].started_ms, T0 + 300);
    assert_int_equal(t->attempts[1].ended_ms, T0 + 1300);
    assert_str(t->attempts[2].error, "agent offline");
    assert_int_equal(t->attempts[3].ended_ms, T0 + 40003);
    assert_int_equal(t->attempts[4].ended_ms, T0 + 40006);
    assert_int_equal(t->retries, 3);
    assert_int_equal(t->attempt, 5);

    /* A final failure is recorded too. */
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 50000);
    struct cp_task_view in2 = task_in(tid(3), "x", CP_PRIORITY_NORMAL, T0 + 50001);
    in2.max_retries = 1;
    assert_rc(op_submit(&in2), 0);
    tr_ok(CP_TR_CANCEL, tid(2), NULL, T0 + 50002); /* never held: no attempt */
    assert_int_equal(task(tid(2))->n_attempts, 0);
    assert_str(claim_id("a1", T0 + 50003), tid(3));
    assert_rc(fail_at(tid(3), "a1", T0 + 50004, "final", 0), 0);
    t = task(tid(3));
    assert_int_equal(t->status, CP_TASK_FAILED);
    assert_int_equal(t->n_attempts, 1);
    assert_str(t->attempts[0].error, "final");
}

static void attempts_keep_the_last_32(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.max_retries = 100;
    assert_rc(op_submit(&in), 0);
    for (int i = 0; i < 40; i++) {
        int64_t at = T0 + 1000 * (i + 1);
        assert_non_null(claim("a1", at));
        assert_rc(fail_at(tid(1), "a1", at + 1, "again", 0), 0);
    }
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->n_attempts, CP_ATTEMPTS_MAX);
    assert_int_equal(t->attempts[0].started_ms, T0 + 1000 * 9); /* the 9th of 40 */
    assert_int_equal(t->attempts[CP_ATTEMPTS_MAX - 1].started_ms, T0 + 1000 * 40);
    assert_int_equal(t->retries, 40);
}

static void delayed_task_waits_until_due(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 5, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.not_before_ms = T0 + 5000;
    const struct cp_result *r = op_submit(&in);
    assert_rc(r, 0);
    assert_int_equal(r->task->not_before_ms, T0 + 5000);
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    assert_int_equal(stats()->tasks_by_status[CP_TASK_PENDING], 1);
    assert_null(claim("a1", T0 + 1000));
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 4000); /* due at once, earlier than tid(1) */
    /* Only tid(2) can be had before tid(1) is due. */
    assert_str(claim_id("a1", T0 + 4001), tid(2));
    assert_null(claim("a1", T0 + 4999));

    r = reap(T0 + 4999, NEVER, 0, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_TASK_DUE, NULL), 0);
    assert_int_equal(r->next_due_ms, T0 + 5000);
    submit(tid(3), "x", CP_PRIORITY_NORMAL, T0 + 4500); /* became pending before it was due */
    submit(tid(4), "x", CP_PRIORITY_NORMAL, T0 + 6000); /* after */

    r = reap(T0 + 7000, NEVER, 0, NEVER);
    const struct cp_event *e = event_for_task(r, CP_EVENT_TASK_DUE, tid(1));
    assert_non_null(e);
    assert_int_equal(e->task_status, CP_TASK_PENDING);
    assert_int_equal(e->n_required, 1);
    assert_str(e->required_capabilities[0], "x");
    assert_int_equal(r->next_due_ms, 0);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->pending_since_ms, T0 + 5000); /* queued as of its due time */
    assert_int_equal(t->not_before_ms, T0 + 5000);    /* kept, as information */
    assert_str(claim_id("a1", T0 + 7001), tid(3));
    assert_str(claim_id("a1", T0 + 7002), tid(1));
    assert_str(claim_id("a1", T0 + 7003), tid(4));
    assert_int_equal(reap(T0 + 8000, NEVER, 0, NEVER)->n_events, 0);
}

static void delayed_in_priority_order_and_cancel(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 5, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_LOW, T0);
    in.not_before_ms = T0 + 1000;
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(2), "x", CP_PRIORITY_CRITICAL, T0);
    in.not_before_ms = T0 + 3000;
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(3), "x", CP_PRIORITY_NORMAL, T0);
    in.not_before_ms = T0 + 2000;
    assert_rc(op_submit(&in), 0);
    in = task_in(tid(4), "x", CP_PRIORITY_NORMAL, T0);
    in.not_before_ms = T0 + 2500;
    assert_rc(op_submit(&in), 0);
    tr_ok(CP_TR_CANCEL, tid(4), NULL, T0 + 10); /* a waiting task can be cancelled */
    assert_int_equal(task(tid(4))->status, CP_TASK_CANCELLED);
    /* A not_before in the past (or now) is claimable at once. */
    in = task_in(tid(5), "x", CP_PRIORITY_LOW, T0 + 20);
    in.not_before_ms = T0 + 20;
    assert_rc(op_submit(&in), 0);
    assert_str(claim_id("a1", T0 + 30), tid(5));

    const struct cp_result *r = reap(T0 + 3000, NEVER, 0, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_TASK_DUE, NULL), 3);
    assert_null(event_for_task(r, CP_EVENT_TASK_DUE, tid(4)));
    /* Among due tasks: priority first. */
    assert_str(claim_id("a1", T0 + 3001), tid(2));
    assert_str(claim_id("a1", T0 + 3002), tid(3));
    assert_str(claim_id("a1", T0 + 3003), tid(1));
}

static void backoff_delays_requeues(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.max_retries = 10;
    in.timeout_ms = 500;
    in.backoff_type = CP_BACKOFF_EXPONENTIAL;
    in.backoff_ms = 1000;
    in.backoff_max_ms = 3000;
    const struct cp_result *r = op_submit(&in);
    assert_rc(r, 0);
    assert_int_equal(r->task->backoff_type, CP_BACKOFF_EXPONENTIAL);
    assert_int_equal(r->task->backoff_ms, 1000);
    assert_int_equal(r->task->backoff_max_ms, 3000);

    int64_t now = T0 + 100;
    static const int64_t delays[] = {1000, 2000, 3000, 3000};
    for (int i = 0; i < 4; i++) {
        assert_non_null(claim("a1", now));
        assert_rc(fail_at(tid(1), "a1", now + 10, "boom", 0), 0);
        const struct cp_task_view *t = task(tid(1));
        assert_int_equal(t->status, CP_TASK_PENDING);
        assert_int_equal(t->not_before_ms, now + 10 + delays[i]);
        assert_null(claim("a1", now + 10 + delays[i] - 1)); /* waiting */
        r = reap(now + 10 + delays[i], NEVER, 0, NEVER);
        assert_non_null(event_for_task(r, CP_EVENT_TASK_DUE, tid(1)));
        now += 10 + delays[i] + 1;
    }
    /* A timeout's requeue waits too (retries 5: the cap). */
    assert_non_null(claim("a1", now));
    r = reap(now + 500, NEVER, 0, NEVER);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_TIMEOUT, tid(1)));
    assert_int_equal(task(tid(1))->not_before_ms, now + 500 + 3000);
    assert_int_equal(r->next_due_ms, now + 500 + 3000);
    assert_null(claim("a1", now + 501));

    /* Unregistering requeues without a backoff (no retry counted). */
    r = reap(now + 3500, NEVER, 0, NEVER);
    assert_non_null(claim("a1", now + 3501));
    assert_rc(op_unregister("a1", now + 3502), 0);
    assert_int_equal(task(tid(1))->not_before_ms, 0);
    reg("a1", "x", 1, now + 3503);
    assert_non_null(claim("a1", now + 3504));
}

static void backoff_fixed_with_jitter(void **state)
{
    (void)state;
    REQUIRE_V4();
    reg("a1", "x", 1, T0);
    for (unsigned n = 1; n <= 4; n++) {
        struct cp_task_view in = task_in(tid(n), "x", CP_PRIORITY_NORMAL, T0 + n);
        in.backoff_type = CP_BACKOFF_FIXED;
        in.backoff_ms = 1000;
        in.backoff_jitter = 1;
        assert_rc(op_submit(&in), 0);
        assert_str(claim_id("a1", T0 + 100 * n), tid(n));
        uint32_t jitter = n == 1 ? 0 : n == 2 ? 0xffffffffu : 0x80000000u * (n - 3) + 12345u;
        assert_rc(fail_at(tid(n), "a1", T0 + 100 * n + 1, "x", jitter), 0);
        const struct cp_task_view *t = task(tid(n));
        int64_t delay = t->not_before_ms - (T0 + 100 * n + 1);
        assert_true(delay >= 500 && delay <= 1000);
        assert_int_equal(t->backoff_jitter, 1);
    }
    /* Without a backoff a requeue is claimable at once, not_before 0. */
    submit(tid(9), "y", CP_PRIORITY_NORMAL, T0);
    reg("a2", "y", 1, T0);
    assert_str(claim_id("a2", T0 + 1), tid(9));
    assert_rc(fail_at(tid(9), "a2", T0 + 2, "x", 0), 0);
    assert_int_equal(task(tid(9))->not_before_ms, 0);
    assert_str(claim_id("a2", T0 + 3), tid(9));
}

const struct CMUnitTest conformance_lease_tests[] = {
    CX_TEST(claim_sets_deadline),
    CX_TEST(extend_moves_deadline),
    CX_TEST(extend_conflicts),
    CX_TEST(attempts_record_how_each_ended),
    CX_TEST(attempts_keep_the_last_32),
    CX_TEST(delayed_task_waits_until_due),
    CX_TEST(delayed_in_priority_order_and_cancel),
    CX_TEST(backoff_delays_requeues),
    CX_TEST(backoff_fixed_with_jitter),
};
const size_t conformance_lease_count =
    sizeof conformance_lease_tests / sizeof conformance_lease_tests[0];
