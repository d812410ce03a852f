/* t_reap.c — conformance: reap — task timeouts with retries, agents going offline (their tasks
 * requeued), stale agents removed, terminal tasks deleted after retention, and the work limit
 * taking the oldest first. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define NEVER ((int64_t)365 * 86400 * 1000)

static void timeout_requeues_then_times_out(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    struct cp_task_view in = task_in(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    in.timeout_ms = 1000;
    in.max_retries = 2;
    in.strategy = "round_robin";
    assert_rc(op_submit(&in), 0);
    assert_non_null(claim("a1", T0 + 100));
    tr_ok(CP_TR_START, tid(1), "a1", T0 + 200);

    const struct cp_result *r = reap(T0 + 1099, NEVER, 0, NEVER);
    assert_int_equal(r->n_events, 0);
    assert_int_equal(task(tid(1))->status, CP_TASK_RUNNING);

    r = reap(T0 + 1100, NEVER, 0, NEVER); /* claimed_at + timeout_ms <= now */
    const struct cp_event *e = event_for_task(r, CP_EVENT_TASK_TIMEOUT, tid(1));
    assert_non_null(e);
    assert_str(e->agent_id, "a1");
    assert_int_equal(e->task_status, CP_TASK_PENDING);
    assert_str(e->task_type, "debate");
    assert_int_equal(e->n_required, 1);
    assert_str(e->required_capabilities[0], "x");
    assert_event_strategy(e, "round_robin");
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->retries, 1);
    assert_str(t->error, "timeout");
    assert_null(t->assigned_agent);
    assert_int_equal(t->claimed_at_ms, 0);
    assert_int_equal(t->started_at_ms, 0);
    assert_int_equal(t->pending_since_ms, T0 + 1100);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->tasks_in_flight, 0);
    assert_int_equal(a->tasks_failed, 1);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_null(a->current_task_id);

    /* Reaping again changes nothing. */
    assert_int_equal(reap(T0 + 1100, NEVER, 0, NEVER)->n_events, 0);

    /* Second timeout: retries reach max_retries, status timeout. */
    assert_non_null(claim("a1", T0 + 2000));
    r = reap(T0 + 3000, NEVER, 0, NEVER);
    e = event_for_task(r, CP_EVENT_TASK_TIMEOUT, tid(1));
    assert_non_null(e);
    assert_int_equal(e->task_status, CP_TASK_TIMEOUT);
    t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_TIMEOUT);
    assert_int_equal(t->retries, 2);
    assert_int_equal(t->completed_at_ms, T0 + 3000);
    assert_int_equal(agent("a1")->tasks_failed, 2);
}

static void offline_requeues_tasks(void **state)
{
    (void)state;
    reg("a1", "x", 3, T0);
    reg("a2", "x", 1, T0 + 50000);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    struct cp_task_view in = task_in(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    in.max_retries = 1; /* the requeue-as-failure ends it */
    assert_rc(op_submit(&in), 0);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_str(claim_id("a1", T0 + 20), tid(2)); /* last_heartbeat = T0 + 20 */
    assert_rc(op_heartbeat("a1", CP_AGENT_DRAINING, T0 + 20), 0);

    const struct cp_result *r = reap(T0 + 30019, 30000, 0, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_OFFLINE, NULL), 0);

    r = reap(T0 + 30020, 30000, 0, NEVER);
    const struct cp_event *e;
    assert_int_equal(events_of(r, CP_EVENT_AGENT_OFFLINE, &e), 1);
    assert_str(e->agent_id, "a1");
    assert_null(e->task_id);
    e = event_for_task(r, CP_EVENT_TASK_REQUEUED, tid(1));
    assert_non_null(e);
    assert_str(e->agent_id, "a1");
    assert_int_equal(e->task_status, CP_TASK_PENDING);
    assert_null(event_for_task(r, CP_EVENT_TASK_REQUEUED, tid(2)));

    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->status, CP_AGENT_OFFLINE);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_null(a->current_task_id);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->retries, 1);
    assert_str(t->error, "agent offline");
    assert_null(t->assigned_agent);
    assert_int_equal(t->pending_since_ms, T0 + 30020);
    t = task(tid(2));
    assert_int_equal(t->status, CP_TASK_FAILED);
    assert_int_equal(t->retries, 1);
    assert_str(t->error, "agent offline");
    assert_int_equal(t->completed_at_ms, T0 + 30020);

    /* Already offline: no second event. a2 (heard at T0+50000) is still alive. */
    r = reap(T0 + 40000, 30000, 0, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_OFFLINE, NULL), 0);
    assert_int_equal(agent("a2")->status, CP_AGENT_READY);
    assert_str(claim_id("a2", T0 + 40001), tid(1));
}

static void stale_agents_removed(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reg("a2", "x", 1, T0 + 1000);
    const struct cp_result *r = reap(T0 + 30000, 30000, 1, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_OFFLINE, NULL), 1);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_REMOVED, NULL), 0);

    r = reap(T0 + 89999, 30000, 1, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_REMOVED, NULL), 0);
    r = reap(T0 + 90000, 30000, 1, NEVER); /* 3 x heartbeat_timeout */
    const struct cp_event *e;
    assert_int_equal(events_of(r, CP_EVENT_AGENT_REMOVED, &e), 1);
    assert_str(e->agent_id, "a1");
    assert_int_equal(op_agent_get("a1")->rc, CP_ERR_NOT_FOUND);
    assert_rc(op_agent_get("a2"), 0);
    assert_int_equal(stats()->agents_total, 1);

    /* Without remove_stale nothing is deleted, however old. */
    r = reap(T0 + 500000, 30000, 0, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_REMOVED, NULL), 0);
    assert_int_equal(agent("a2")->status, CP_AGENT_OFFLINE);
}

static void stale_agent_tasks_requeued(void **state)
{
    (void)state;
    /* An agent silent for 3 x the timeout at the first reap goes offline and is removed; its
     * task comes back to pending either way. */
    reg("a1", "x", 1, T0);
    reg("a2", "x", 1, T0 + 100000);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0));
    const struct cp_result *r = reap(T0 + 100000, 30000, 1, NEVER);
    assert_int_equal(events_of(r, CP_EVENT_AGENT_REMOVED, NULL), 1);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_REQUEUED, tid(1)));
    assert_int_equal(op_agent_get("a1")->rc, CP_ERR_NOT_FOUND);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_null(t->assigned_agent);
    assert_str(claim_id("a2", T0 + 100001), tid(1));
}

static void retention_deletes_terminal_tasks(void **state)
{
    (void)state;
    const int64_t keep = 86400000;
    reg("a1", "", 5, T0);
    submit(tid(1), "", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "", CP_PRIORITY_NORMAL, T0 + 1);
    struct cp_task_view in = task_in(tid(3), "", CP_PRIORITY_NORMAL, T0 + 2);
    in.timeout_ms = 100 * keep; /* stays claimed through every reap below */
    assert_rc(op_submit(&in), 0);
    submit(tid(4), "", CP_PRIORITY_NORMAL, T0 + 3); /* stays pending */
    assert_str(claim_id("a1", T0 + 10), tid(1));
    assert_str(claim_id("a1", T0 + 11), tid(2));
    assert_str(claim_id("a1", T0 + 12), tid(3));
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 100);
    tr_ok(CP_TR_CANCEL, tid(2), NULL, T0 + 200);

    const struct cp_result *r = reap(T0 + 100 + keep - 1, NEVER, 0, keep);
    assert_int_equal(events_of(r, CP_EVENT_TASK_DELETED, NULL), 0);
    r = reap(T0 + 100 + keep, NEVER, 0, keep);
    const struct cp_event *e;
    assert_int_equal(events_of(r, CP_EVENT_TASK_DELETED, &e), 1);
    assert_str(e->task_id, tid(1));
    assert_int_equal(e->task_status, CP_TASK_COMPLETED);
    assert_int_equal(op_task_get(tid(1))->rc, CP_ERR_NOT_FOUND);
    assert_int_equal(stats()->tasks_total, 3);

    r = reap(T0 + 200 + keep, NEVER, 0, keep);
    e = event_for_task(r, CP_EVENT_TASK_DELETED, tid(2));
    assert_non_null(e);
    assert_int_equal(e->task_status, CP_TASK_CANCELLED);
    assert_int_equal(op_task_get(tid(2))->rc, CP_ERR_NOT_FOUND);
    r = reap(T0 + 10 * keep, NEVER, 0, keep);
    assert_int_equal(events_of(r, CP_EVENT_TASK_DELETED, NULL), 0);
    assert_rc(op_task_get(tid(3)), 0);
    assert_rc(op_task_get(tid(4)), 0);
    assert_int_equal(stats()->tasks_total, 2);
}

/* tasks.max_terminal: beyond the cap the oldest terminal tasks go, whatever their age; tasks
 * that are not terminal are never touched. */
static void max_terminal_deletes_oldest(void **state)
{
    (void)state;
    reg("a1", "", 10, T0);
    /* Completed in the order 2, 1, 4, 3, 5 (completed_at decides, not creation). */
    static const unsigned done_order[] = {2, 1, 4, 3, 5};
    for (unsigned i = 1; i <= 5; i++)
        submit(tid(i), "", CP_PRIORITY_NORMAL, T0 + i);
    for (unsigned i = 1; i <= 5; i++)
        assert_str(claim_id("a1", T0 + 10), tid(i));
    for (unsigned i = 0; i < 5; i++)
        tr_ok(i == 3 ? CP_TR_CANCEL : CP_TR_COMPLETE, tid(done_order[i]), i == 3 ? NULL : "a1",
              T0 + 100 + 10 * i);
    submit(tid(6), "", CP_PRIORITY_NORMAL, T0 + 200); /* pending */
    submit(tid(7), "", CP_PRIORITY_NORMAL, T0 + 201);
    assert_str(claim_id("a1", T0 + 300), tid(6)); /* claimed */

    struct cp_reap rp = {.now_ms = T0 + 1000,
                         .heartbeat_timeout_ms = NEVER,
                         .retention_ms = NEVER,
                         .max_terminal = 0};
    assert_int_equal(events_of(op_reap(&rp), CP_EVENT_TASK_DELETED, NULL), 0); /* 0: no cap */
    rp.max_terminal = 5;
    assert_int_equal(events_of(op_reap(&rp), CP_EVENT_TASK_DELETED, NULL), 0); /* at the cap */

    rp.max_terminal = 3;
    const struct cp_result *r = op_reap(&rp);
    assert_rc(r, 0);
    assert_int_equal(events_of(r, CP_EVENT_TASK_DELETED, NULL), 2);
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(2)));
    assert_non_null(event_for_task(r, CP_EVENT_TASK_DELETED, tid(1)));
    assert_int_equal(op_task_get(tid(2))->rc, CP_ERR_NOT_FOUND);
    assert_int_equal(op_task_get(tid(1))->rc, CP_ERR_NOT_FOUND);
    for (unsigned i = 3; i <= 7; i++)
        assert_rc(op_task_get(tid(i)), 0);
    assert_int_equal(stats()->tasks_total, 5);
    assert_int_equal(events_of(op_reap(&rp), CP_EVENT_TASK_DELETED, NULL), 0);

    /* With a work limit the cap is reached over several calls, oldest first. */
    rp.max_terminal = 1;
    rp.max_events = 1;
    static const unsigned next[] = {4, 3};
    unsigned seen = 0;
    for (unsigned round = 0; round < 10 && seen < 2; round++) {
        r = op_reap(&rp);
        assert_rc(r, 0);
        assert_true(r->n_events <= 2);
        for (size_t i = 0; i < r->n_events; i++) {
            assert_int_equal(r->events[i].kind, CP_EVENT_TASK_DELETED);
            assert_str(r->events[i].task_id, tid(next[seen]));
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    assert_rc(op_task_get(tid(5)), 0);
    assert_int_equal(task(tid(6))->status, CP_TASK_CLAIMED);
    assert_int_equal(task(tid(7))->status, CP_TASK_PENDING);
    assert_int_equal(stats()->tasks_total, 3);
}

static void max_events_oldest_first(void **state)
{
    (void)state;
    reg("a1", "", 10, T0);
    /* Five tasks with deadlines in a known order, claimed in another order. */
    static const int64_t timeouts[] = {5000, 1000, 4000, 2000, 3000};
    for (unsigned i = 0; i < 5; i++) {
        struct cp_task_view in = task_in(tid(i + 1), "", CP_PRIORITY_NORMAL, T0 + i);
        in.timeout_ms = timeouts[i];
        in.max_retries = 1;
        assert_rc(op_submit(&in), 0);
    }
    for (unsigned i = 0; i < 5; i++)
        assert_str(claim_id("a1", T0 + 10), tid(i + 1));
    static const unsigned order[] = {2, 4, 5, 3, 1}; /* by claimed_at + timeout_ms */
    struct cp_reap rp = {.now_ms = T0 + 10000,
                         .heartbeat_timeout_ms = NEVER,
                         .retention_ms = NEVER,
                         .max_events = 1};
    unsigned seen = 0;
    for (unsigned round = 0; round < 20 && seen < 5; round++) {
        const struct cp_result *r = op_reap(&rp);
        assert_rc(r, 0);
        assert_true(r->n_events <= 2); /* "about" max_events */
        for (size_t i = 0; i < r->n_events; i++) {
            assert_int_equal(r->events[i].kind, CP_EVENT_TASK_TIMEOUT);
            assert_str(r->events[i].task_id, tid(order[seen]));
            seen++;
        }
    }
    assert_int_equal(seen, 5);
    for (unsigned i = 1; i <= 5; i++)
        assert_int_equal(task(tid(i))->status, CP_TASK_TIMEOUT);
    assert_int_equal(agent("a1")->tasks_in_flight, 0);
}

const struct CMUnitTest conformance_reap_tests[] = {
    CX_TEST(timeout_requeues_then_times_out),
    CX_TEST(offline_requeues_tasks),
    CX_TEST(stale_agents_removed),
    CX_TEST(stale_agent_tasks_requeued),
    CX_TEST(retention_deletes_terminal_tasks),
    CX_TEST(max_events_oldest_first),
    CX_TEST(max_terminal_deletes_oldest),
};
const size_t conformance_reap_count =
    sizeof conformance_reap_tests / sizeof conformance_reap_tests[0];
