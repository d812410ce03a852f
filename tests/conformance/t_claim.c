/* t_claim.c — conformance: task_claim — who may claim, which tasks match, in which order
 * (priority, FIFO, requeue to the tail, RELEASE to the front) and pass-over. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

static void claim_unknown_agent(void **state)
{
    (void)state;
    submit(tid(1), "", CP_PRIORITY_NORMAL, T0);
    assert_int_equal(op_claim("nobody", NULL, T0)->rc, CP_ERR_NOT_FOUND);
    assert_int_equal(task(tid(1))->status, CP_TASK_PENDING);
}

static void claim_effects(void **state)
{
    (void)state;
    reg("a1", "x", 2, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 1);
    const struct cp_result *r = op_claim("a1", NULL, T0 + 100);
    assert_rc(r, 0);
    const struct cp_task_view *t = r->task;
    assert_non_null(t);
    assert_str(t->id, tid(1));
    assert_int_equal(t->status, CP_TASK_CLAIMED);
    assert_str(t->assigned_agent, "a1");
    assert_int_equal(t->claimed_at_ms, T0 + 100);
    assert_int_equal(t->started_at_ms, 0);
    assert_int_equal(t->attempt, 1);
    assert_non_null(r->agent);
    assert_int_equal(r->agent->tasks_in_flight, 1);
    assert_str(r->agent->current_task_id, tid(1));
    assert_int_equal(r->agent->last_assigned_ms, T0 + 100);
    assert_int_equal(r->agent->last_heartbeat_ms, T0 + 100);
    assert_int_equal(r->agent->status, CP_AGENT_READY); /* 1 of 2 */

    /* The stored task and agent say the same. */
    assert_int_equal(task(tid(1))->status, CP_TASK_CLAIMED);
    assert_int_equal(agent("a1")->tasks_in_flight, 1);

    r = op_claim("a1", NULL, T0 + 200);
    assert_str(r->task->id, tid(2));
    assert_int_equal(r->agent->tasks_in_flight, 2);
    assert_str(r->agent->current_task_id, tid(2));
    assert_int_equal(r->agent->status, CP_AGENT_BUSY); /* reached max */
}

/* Claims that must get nothing, while the task stays pending and the heartbeat still counts. */
static void expect_no_claim(const char *agent_id, int64_t now)
{
    const struct cp_result *r = op_claim(agent_id, NULL, now);
    assert_rc(r, 0);
    assert_null(r->task);
    assert_non_null(r->agent);
    assert_str(r->agent->agent_id, agent_id);
    assert_int_equal(r->agent->last_heartbeat_ms, now);
    assert_int_equal(agent(agent_id)->last_heartbeat_ms, now);
}

static void claim_eligibility(void **state)
{
    (void)state;
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    reg("draining", "x", 1, T0);
    assert_rc(op_heartbeat("draining", CP_AGENT_DRAINING, T0), 0);
    expect_no_claim("draining", T0 + 1);
    reg("failed", "x", 1, T0);
    assert_rc(op_heartbeat("failed", CP_AGENT_FAILED, T0), 0);
    expect_no_claim("failed", T0 + 2);
    reg("busy", "x", 1, T0);
    assert_rc(op_heartbeat("busy", CP_AGENT_BUSY, T0), 0);
    expect_no_claim("busy", T0 + 3);
    reg("starting", "x", 1, T0);
    assert_rc(op_heartbeat("starting", CP_AGENT_STARTING, T0), 0);
    expect_no_claim("starting", T0 + 4);

    reg("open", "x", 1, T0);
    struct cp_health_view h = {.status = CP_HEALTH_HEALTHY,
                               .latency_ms = -1,
                               .circuit = CP_CIRCUIT_OPEN,
                               .circuit_failures = 5,
                               .opened_at_ms = T0,
                               .retry_at_ms = T0 + 30000};
    assert_rc(op_set_health("open", &h, -1, -1), 0);
    expect_no_claim("open", T0 + 29999);
    assert_int_equal(task(tid(1))->status, CP_TASK_PENDING);
    /* Open past retry_at counts as half_open, which may claim. */
    const struct cp_task_view *t = claim("open", T0 + 30000);
    assert_non_null(t);
    assert_str(t->id, tid(1));
}

static void claim_offline_and_half_open(void **state)
{
    (void)state;
    reg("gone", "x", 1, T0);
    reg("half", "x", 1, T0 + 50000);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    reap(T0 + 40000, 30000, 0, (int64_t)1 << 50);
    assert_int_equal(agent("gone")->status, CP_AGENT_OFFLINE);
    expect_no_claim("gone", T0 + 40001);
    assert_int_equal(agent("gone")->status, CP_AGENT_OFFLINE); /* a claim does not revive it */

    struct cp_health_view h = {.status = CP_HEALTH_HEALTHY,
                               .latency_ms = -1,
                               .circuit = CP_CIRCUIT_HALF_OPEN,
                               .retry_at_ms = T0};
    assert_rc(op_set_health("half", &h, -1, -1), 0);
    assert_non_null(claim("half", T0 + 50001));
}

static void claim_at_max_gets_nothing(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0);
    assert_non_null(claim("a1", T0 + 1));
    expect_no_claim("a1", T0 + 2);
    assert_int_equal(task(tid(2))->status, CP_TASK_PENDING);
}

static void claim_matching(void **state)
{
    (void)state;
    submit(tid(1), "a,b", CP_PRIORITY_NORMAL, T0);
    reg("has-a", "a", 1, T0);
    reg("has-b", "b", 1, T0);
    reg("has-none", "", 1, T0);
    expect_no_claim("has-a", T0 + 1); /* missing b */
    expect_no_claim("has-b", T0 + 1);
    expect_no_claim("has-none", T0 + 1);
    reg("superset", "a,b,c", 1, T0);
    const struct cp_task_view *t = claim("superset", T0 + 2);
    assert_non_null(t);
    assert_str(t->id, tid(1));

    submit(tid(2), "a,b", CP_PRIORITY_NORMAL, T0);
    reg("exact", "b,a", 1, T0);
    assert_str(claim_id("exact", T0 + 3), tid(2));

    /* An empty requirement matches everyone, even an agent with no capabilities. */
    submit(tid(3), "", CP_PRIORITY_NORMAL, T0);
    assert_str(claim_id("has-none", T0 + 4), tid(3));

    /* The claim's own capabilities replace the registered ones. */
    submit(tid(4), "a,b", CP_PRIORITY_NORMAL, T0);
    const struct cp_result *r = op_claim("has-a", "b", T0 + 5);
    assert_rc(r, 0);
    assert_null(r->task);
    r = op_claim("has-a", "a,b", T0 + 6);
    assert_rc(r, 0);
    assert_non_null(r->task);
    assert_str(r->task->id, tid(4));
}

static void claim_order_priority_then_fifo(void **state)
{
    (void)state;
    reg("a1", "x,y", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_LOW, T0 + 1);
    submit(tid(2), "", CP_PRIORITY_NORMAL, T0 + 2);
    submit(tid(3), "y", CP_PRIORITY_HIGH, T0 + 3);
    submit(tid(4), "x,y", CP_PRIORITY_CRITICAL, T0 + 4);
    /* Same priority, created out of submission order: earliest pending_since first. */
    submit(tid(6), "x", CP_PRIORITY_NORMAL, T0 + 6);
    submit(tid(5), "x", CP_PRIORITY_NORMAL, T0 + 5);
    /* Same pending_since: arrival order. */
    submit(tid(7), "x", CP_PRIORITY_NORMAL, T0 + 7);
    submit(tid(8), "", CP_PRIORITY_NORMAL, T0 + 7);
    submit(tid(9), "x", CP_PRIORITY_NORMAL, T0 + 7);

    const unsigned want[] = {4, 3, 2, 5, 6, 7, 8, 9, 1};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct cp_task_view *t = claim("a1", T0 + 100 + i);
        assert_non_null(t);
        if (strcmp(t->id, tid(want[i])) != 0)
            fail_msg("claim %u: got %s, want %s", i, t->id, tid(want[i]));
        tr_ok(CP_TR_COMPLETE, t->id, "a1", T0 + 100 + i);
    }
    assert_null(claim("a1", T0 + 200));
}

static void requeue_goes_to_the_tail(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0 + 1);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 2);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    const struct cp_result *r = tr_ok(CP_TR_FAIL, tid(1), "a1", T0 + 20);
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    assert_int_equal(r->task->pending_since_ms, T0 + 20);
    /* Only one agent, so no pass-over: a1 may take it again, but after task 2. */
    assert_str(claim_id("a1", T0 + 30), tid(2));
    tr_ok(CP_TR_COMPLETE, tid(2), "a1", T0 + 31);
    assert_str(claim_id("a1", T0 + 32), tid(1));
}

static void release_goes_to_the_front(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0 + 1);
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 2);
    submit(tid(3), "x", CP_PRIORITY_NORMAL, T0 + 1); /* same pending_since as 1, arrived later */
    assert_str(claim_id("a1", T0 + 10), tid(1));

    struct cp_transition tr = {.kind = CP_TR_RELEASE,
                               .task_id = tid(1),
                               .expect_attempt = 2,
                               .latency_ms = -1,
                               .now_ms = T0 + 11};
    const struct cp_result *r = op_transition(&tr);
    assert_int_equal(r->rc, CP_ERR_CONFLICT); /* the attempt handed out was 1 */
    assert_int_equal(task(tid(1))->status, CP_TASK_CLAIMED);

    tr.expect_attempt = 1;
    r = op_transition(&tr);
    assert_rc(r, 0);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->attempt, 0);
    assert_null(t->assigned_agent);
    assert_int_equal(t->claimed_at_ms, 0);
    assert_int_equal(t->pending_since_ms, T0 + 1);
    assert_int_equal(t->retries, 0);
    const struct cp_agent_view *a = agent("a1");
    assert_int_equal(a->tasks_in_flight, 0);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_int_equal(a->tasks_completed, 0);
    assert_int_equal(a->tasks_failed, 0);
    assert_int_equal(a->latency_count, 0);

    /* Back at the front, ahead of task 3 which has the same pending_since. */
    t = claim("a1", T0 + 20);
    assert_non_null(t);
    assert_str(t->id, tid(1));
    assert_int_equal(t->attempt, 1);
    tr_ok(CP_TR_COMPLETE, tid(1), "a1", T0 + 21);
    assert_str(claim_id("a1", T0 + 22), tid(3));
}

static void pass_over_when_another_agent_can(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reg("a2", "x,y", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    const struct cp_result *r = tr_ok(CP_TR_FAIL, tid(1), "a1", T0 + 20);
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    const struct cp_task_view *t = task(tid(1));
    assert_str(t->passed_over_agent, "a1");
    assert_int_equal(t->passed_over_until_ms, T0 + 20 + 30000);

    /* a1 is passed over, but still gets other tasks behind this one. */
    submit(tid(2), "x", CP_PRIORITY_NORMAL, T0 + 25);
    assert_str(claim_id("a1", T0 + 30), tid(2));
    tr_ok(CP_TR_COMPLETE, tid(2), "a1", T0 + 31);
    expect_no_claim("a1", T0 + 30019);
    /* The pass-over expires at passed_over_until. */
    assert_str(claim_id("a1", T0 + 30020), tid(1));
}

static void pass_over_other_agent_takes_it(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reg("a2", "x", 1, T0);
    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    tr_ok(CP_TR_FAIL, tid(1), "a1", T0 + 20);
    expect_no_claim("a1", T0 + 21);
    assert_str(claim_id("a2", T0 + 22), tid(1));
}

static void no_pass_over_without_another_capable_agent(void **state)
{
    (void)state;
    reg("a1", "x", 1, T0);
    reg("lacks", "y", 1, T0);
    reg("draining", "x", 1, T0);
    assert_rc(op_heartbeat("draining", CP_AGENT_DRAINING, T0), 0);
    reg("failed", "x", 1, T0);
    assert_rc(op_heartbeat("failed", CP_AGENT_FAILED, T0), 0);
    reg("offline", "x", 1, T0 - 100000);
    reap(T0 - 50000, 30000, 0, (int64_t)1 << 50);
    assert_int_equal(agent("offline")->status, CP_AGENT_OFFLINE);

    submit(tid(1), "x", CP_PRIORITY_NORMAL, T0);
    assert_str(claim_id("a1", T0 + 10), tid(1));
    const struct cp_result *r = tr_ok(CP_TR_FAIL, tid(1), "a1", T0 + 20);
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    assert_null(task(tid(1))->passed_over_agent);
    assert_str(claim_id("a1", T0 + 21), tid(1));
}

/* The claim rule over every agent status, load and circuit state — and, for a backend with
 * agent_drain (ABI 2.4), the same grid drained by an operator: each backend's claim (the memory
 * store's C, Redis' Lua) must decide exactly as cp_agent_may_claim() in cp/storage.h does on
 * the agent as stored, and cp_agent_is_available() (what the stats count as available, and
 * what GET /agents lists with a closed circuit) must say the same. A busy agent below its
 * maximum is one that reported busy itself: it may not claim and is not available. Each agent
 * has its own capabilities, so only it can take its task. */
static void claim_rule_grid(void **state)
{
    (void)state;
    static const int32_t statuses[] = {CP_AGENT_STARTING, CP_AGENT_READY,  CP_AGENT_BUSY,
                                       CP_AGENT_DRAINING, CP_AGENT_FAILED, CP_AGENT_OFFLINE};
    static const uint32_t loads[][2] = {{1, 0}, {1, 1}, {2, 1}}; /* max, in flight */
    const int64_t t1 = T0 + 100000, now = T0 + 200000;
    const struct cp_health_view circuits[] = {
        {.status = CP_HEALTH_HEALTHY, .latency_ms = -1, .circuit = CP_CIRCUIT_CLOSED},
        {.status = CP_HEALTH_HEALTHY,
         .latency_ms = -1,
         .circuit = CP_CIRCUIT_OPEN,
         .opened_at_ms = T0,
         .retry_at_ms = now + 1000}, /* open */
        {.status = CP_HEALTH_HEALTHY,
         .latency_ms = -1,
         .circuit = CP_CIRCUIT_OPEN,
         .opened_at_ms = T0,
         .retry_at_ms = now}, /* open, retry_at come: half_open */
        {.status = CP_HEALTH_HEALTHY,
         .latency_ms = -1,
         .circuit = CP_CIRCUIT_HALF_OPEN,
         .retry_at_ms = T0},
    };
    const size_t n_s = sizeof statuses / sizeof *statuses, n_l = sizeof loads / sizeof *loads,
                 n_c = sizeof circuits / sizeof *circuits;
    const int n_d = cx_has_drain() ? 2 : 1; /* drained by an operator, or not */
    unsigned next_task = 1, allowed = 0;
    char id[16], caps[48], filler[24], own[40];
    /* Offline agents first: registered and loaded at T0, then silent past the timeout. */
    for (int offline = 1; offline >= 0; offline--) {
        for (int d = 0; d < n_d; d++)
            for (size_t si = 0; si < n_s; si++) {
                if ((statuses[si] == CP_AGENT_OFFLINE) != offline) continue;
                for (size_t li = 0; li < n_l; li++)
                    for (size_t ci = 0; ci < n_c; ci++) {
                        int64_t at = offline ? T0 : t1;
                        snprintf(id, sizeof id, "g%d%zu%zu%zu", d, si, li, ci);
                        snprintf(filler, sizeof filler, "k%s", id);
                        snprintf(caps, sizeof caps, "%s,%s", filler, id);
                        reg(id, caps, loads[li][0], at);
                        for (uint32_t k = 0; k < loads[li][1]; k++) {
                            submit(tid(next_task), filler, CP_PRIORITY_CRITICAL, at);
                            assert_str(claim_id(id, at + 1), tid(next_task));
                            next_task++;
                        }
                        if (!offline) assert_rc(op_heartbeat(id, statuses[si], at + 2), 0);
                        if (d) assert_rc(op_drain(id, 1, at + 3), 0);
                    }
            }
        if (offline) reap(T0 + 60000, 30000, 0, (int64_t)1 << 50);
    }
    for (int d = 0; d < n_d; d++)
        for (size_t si = 0; si < n_s; si++)
            for (size_t li = 0; li < n_l; li++)
                for (size_t ci = 0; ci < n_c; ci++) {
                    snprintf(id, sizeof id, "g%d%zu%zu%zu", d, si, li, ci);
                    assert_rc(op_set_health(id, &circuits[ci], -1, -1), 0);
                    snprintf(own, sizeof own, "%s", tid(next_task++));
                    submit(own, id, CP_PRIORITY_NORMAL, t1 + 3);
                    const struct cp_agent_view *before = agent(id);
                    int want = cp_agent_may_claim(before, now);
                    if (d)
                        assert_int_equal(before->drained_at_ms,
                                         statuses[si] == CP_AGENT_OFFLINE ? T0 + 3 : t1 + 3);
                    /* Without the clock (a closed circuit), availability is the claim rule. */
                    if (ci == 0) assert_int_equal(cp_agent_is_available(before), want);
                    const struct cp_result *r = op_claim(id, NULL, now);
                    assert_rc(r, 0);
                    if ((r->task != NULL) != want)
                        fail_msg("agent %s (status %s, %u of %u in flight, circuit %s, retry_at "
                                 "now%+lld ms, drained %d): claimed %d, cp_agent_may_claim says %d",
                                 id, cp_agent_status_name(before->status), before->tasks_in_flight,
                                 before->max_concurrent_tasks,
                                 cp_circuit_name(before->health.circuit),
                                 (long long)(before->health.retry_at_ms - now), d, r->task != NULL,
                                 want);
                    if (want) assert_str(r->task->id, own);
                    allowed += (unsigned)want;
                }
    /* ready below max with the circuit closed, half_open or open past retry_at: 2 loads x 3;
     * never when drained, nor when busy by its own report below the maximum */
    assert_int_equal(allowed, 6);
}

const struct CMUnitTest conformance_claim_tests[] = {
    CX_TEST(claim_unknown_agent),
    CX_TEST(claim_effects),
    CX_TEST(claim_eligibility),
    CX_TEST(claim_offline_and_half_open),
    CX_TEST(claim_at_max_gets_nothing),
    CX_TEST(claim_rule_grid),
    CX_TEST(claim_matching),
    CX_TEST(claim_order_priority_then_fifo),
    CX_TEST(requeue_goes_to_the_tail),
    CX_TEST(release_goes_to_the_front),
    CX_TEST(pass_over_when_another_agent_can),
    CX_TEST(pass_over_other_agent_takes_it),
    CX_TEST(no_pass_over_without_another_capable_agent),
};
const size_t conformance_claim_count =
    sizeof conformance_claim_tests / sizeof conformance_claim_tests[0];
