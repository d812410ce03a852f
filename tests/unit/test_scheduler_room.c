/* test_scheduler_room.c — claims that must wait rather than be answered at once (issue #18): an
 * agent at its concurrency limit (or reporting busy) is held until it has room — a task of it
 * ends, its status changes, another process says so ("room") — or until block_ms; a draining,
 * failed or unknown agent is still answered at once; a held claim whose wake-up claim failed in
 * the store keeps waiting. Over the real memory store with the store proxy of
 * scheduler_helpers.h. Every test counts the store claims: nobody polls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler.h"
#include "scheduler_helpers.h"

static struct claim_slot a, b; /* outlive each test body: the fixture drains after it */

/* Agent "a" (max 1) holding t1, with t2 pending behind it. */
static void agent_at_its_limit(char t1[64], char t2[64])
{
    reg_agent("a", "x", 1);
    submit_task(t1, "x", NULL, 60000, 0);
    submit_task(t2, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 0);
    assert_string_equal(a.task, t1);
    assert_int_equal(agent_state("a").status, CP_AGENT_BUSY);
}

static void test_claim_at_the_limit_waits_for_room(void **s)
{
    (void)s;
    char t1[64], t2[64], t3[64];
    agent_at_its_limit(t1, t2);
    claim_start(&b, "a", NULL, 5000);
    assert_int_equal(b.answered, 0); /* held, not answered null at once */
    assert_int_equal(b.held, 1);
    /* Tasks arriving meanwhile are not offered to it (it cannot take them). */
    submit_task(t3, "x", NULL, 60000, 0);
    RUN_UNTIL(b.answered, 100);
    assert_int_equal(b.answered, 0);
    assert_int_equal(px_claims_of("a"), 2);
    /* Its task ends: the held claim claims again and gets the next task. */
    assert_int_equal(transition(CP_TR_COMPLETE, t1, "a"), 0);
    RUN_UNTIL(b.answered, 3000);
    assert_int_equal(b.answered, 1);
    assert_int_equal(b.held, 0);
    assert_string_equal(b.task, t2);
    assert_int_equal(px_claims_of("a"), 3);
    assert_int_equal(count_events(EVT_TASK_CLAIMED, t2, "a"), 1);
}

static void test_claim_at_the_limit_ends_empty_at_block_ms(void **s)
{
    (void)s;
    char t1[64], t2[64];
    agent_at_its_limit(t1, t2);
    claim_start(&b, "a", NULL, 60);
    assert_int_equal(b.held, 1);
    RUN_UNTIL(b.answered, 3000);
    assert_int_equal(b.answered, 1);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.task, "");
    assert_int_equal(px_claims_of("a"), 2); /* waiting cost no claims */
    assert_int_equal(task_state(t2).status, CP_TASK_PENDING);
}

static void test_busy_by_its_own_word_waits_for_ready(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 2);
    heartbeat("a", CP_AGENT_BUSY);
    submit_task(t, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 5000);
    assert_int_equal(a.held, 1);
    heartbeat("a", CP_AGENT_BUSY); /* still busy: nothing to try */
    RUN_UNTIL(a.answered, 100);
    assert_int_equal(px_claims_of("a"), 1);
    heartbeat("a", CP_AGENT_READY);
    RUN_UNTIL(a.answered, 3000);
    assert_string_equal(a.task, t);
    assert_int_equal(px_claims_of("a"), 2);
}

static void test_agents_that_may_not_claim_are_answered_at_once(void **s)
{
    (void)s;
    char t[64];
    submit_task(t, "x", NULL, 60000, 0);
    reg_agent("d", "x", 1);
    heartbeat("d", CP_AGENT_DRAINING);
    claim_start(&a, "d", NULL, 5000);
    assert_int_equal(a.answered, 1);
    assert_int_equal(a.holds, 0);
    assert_string_equal(a.task, "");
    reg_agent("f", "x", 1);
    heartbeat("f", CP_AGENT_FAILED);
    claim_start(&b, "f", NULL, 5000);
    assert_int_equal(b.answered, 1);
    assert_int_equal(b.holds, 0);
    claim_start(&b, "nobody", NULL, 5000);
    assert_int_equal(b.rc, CP_ERR_NOT_FOUND);
    assert_int_equal(task_state(t).status, CP_TASK_PENDING);
}

/* The agent turns draining while its claim waits for room: answered (null) at once. */
static void test_held_for_room_then_draining(void **s)
{
    (void)s;
    char t1[64], t2[64];
    agent_at_its_limit(t1, t2);
    claim_start(&b, "a", NULL, 60000);
    assert_int_equal(b.held, 1);
    heartbeat("a", CP_AGENT_DRAINING);
    RUN_UNTIL(b.answered, 3000);
    assert_int_equal(b.answered, 1);
    assert_string_equal(b.task, "");
}

static void test_unregistered_while_held_for_room(void **s)
{
    (void)s;
    char t1[64], t2[64];
    agent_at_its_limit(t1, t2);
    claim_start(&b, "a", NULL, 60000);
    unregister("a");
    RUN_UNTIL(b.answered, 3000);
    assert_int_equal(b.answered, 1);
    assert_string_equal(b.task, "");
    assert_int_equal(task_state(t1).status, CP_TASK_PENDING);
}

/* Room came while the claim was on its way (it was evaluated at the limit, its reply still out):
 * held, it claims once more at once instead of waiting for block_ms. */
static void test_room_while_the_claim_was_in_flight(void **s)
{
    (void)s;
    char t1[64], t2[64];
    agent_at_its_limit(t1, t2);
    px.claim_mode = PX_DEFER_REPLY;
    claim_start(&b, "a", NULL, 60000);
    px.claim_mode = PX_PASS;
    assert_int_equal(transition(CP_TR_COMPLETE, t1, "a"), 0);
    assert_int_equal(px_flush_one(), 1); /* "at the limit": held for room... */
    RUN_UNTIL(b.answered, 3000);         /* ...and claims again at once */
    assert_string_equal(b.task, t2);
    assert_int_equal(px_claims_of("a"), 3);
}

/* Another process completed the task and said "room": the held claim claims again. */
static void test_room_from_another_process(void **s)
{
    (void)s;
    char t1[64], t2[64];
    agent_at_its_limit(t1, t2);
    claim_start(&b, "a", NULL, 60000);
    assert_int_equal(transition_elsewhere(CP_TR_COMPLETE, t1, "a"), 0);
    RUN_UNTIL(b.answered, 100);
    assert_int_equal(b.answered, 0); /* nobody told this process yet */
    sched_store_changed(core.sched, "room", "a");
    RUN_UNTIL(b.answered, 3000);
    assert_string_equal(b.task, t2);
}

static void quota_put_ok(void *cookie, const struct cp_result *res)
{
    (void)cookie;
    assert_int_equal(res->rc, 0);
}

/* A claim held back by a provider quota, whose room came back while it was in flight (the
 * other process's "quota" message read before the claim's reply: two connections): the held
 * claim claims again at once instead of waiting for the next room or block_ms. */
static void test_quota_room_while_the_claim_was_in_flight(void **s)
{
    (void)s;
    struct cp_quota_view q = {
        .size = sizeof q, .id = "q", .scope = {"p", NULL, NULL}, .max_in_flight = 1};
    core.store->quota_put(core.st, &q, quota_put_ok, NULL);
    char t1[64], t2[64];
    reg_agent("a", "x", 5);
    submit_task(t1, "x", NULL, 60000, 0);
    submit_task(t2, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 0);
    assert_string_equal(a.task, t1);
    px.claim_mode = PX_DEFER_REPLY;
    claim_start(&b, "a", NULL, 60000); /* the store holds it back: the quota's place is t1's */
    px.claim_mode = PX_PASS;
    assert_int_equal(transition_elsewhere(CP_TR_COMPLETE, t1, "a"), 0);
    sched_store_changed(core.sched, "quota", "q");
    assert_int_equal(px_flush_one(), 1); /* held by the quota... */
    RUN_UNTIL(b.answered, 3000);         /* ...and claims again at once */
    assert_string_equal(b.task, t2);
    assert_int_equal(px_claims_of("a"), 3);
}

/* The wake-up claim of a held claimer fails in the store (its reply lost): the claim is not
 * answered null at once — it keeps waiting, and the next task reaches it. */
static void test_wake_up_claim_failed_keeps_waiting(void **s)
{
    (void)s;
    char t1[64], t2[64];
    reg_agent("a", "x", 1);
    claim_start(&a, "a", NULL, 60000);
    assert_int_equal(a.held, 1);
    px.claim_mode = PX_FAIL;
    submit_task(t1, "x", NULL, 60000, 0);
    px.claim_mode = PX_PASS;
    RUN_UNTIL(a.answered, 200);
    assert_int_equal(a.answered, 0);
    assert_int_equal(a.held, 1);
    assert_int_equal(ops_held_claims(&core), 1);
    assert_int_equal(px_claims_of("a"), 2);
    submit_task(t2, "x", NULL, 60000, 0);
    RUN_UNTIL(a.answered, 3000);
    assert_int_equal(a.answered, 1);
    assert_string_equal(a.task, t1); /* the best pending one: t1 was still there */
}

/* A held claim whose block_ms ends while its failing claim is out is answered then (null). */
static void test_failed_claim_still_ends_at_block_ms(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    claim_start(&a, "a", NULL, 80);
    px.claim_mode = PX_FAIL;
    submit_task(t, "x", NULL, 60000, 0);
    RUN_UNTIL(a.answered, 3000);
    px.claim_mode = PX_PASS;
    assert_int_equal(a.answered, 1);
    assert_string_equal(a.task, "");
    assert_int_equal(px_claims_of("a"), 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sched_test_setup, sched_test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_claim_at_the_limit_waits_for_room),
        T(test_claim_at_the_limit_ends_empty_at_block_ms),
        T(test_busy_by_its_own_word_waits_for_ready),
        T(test_agents_that_may_not_claim_are_answered_at_once),
        T(test_held_for_room_then_draining),
        T(test_unregistered_while_held_for_room),
        T(test_room_while_the_claim_was_in_flight),
        T(test_room_from_another_process),
        T(test_quota_room_while_the_claim_was_in_flight),
        T(test_wake_up_claim_failed_keeps_waiting),
        T(test_failed_claim_still_ends_at_block_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
