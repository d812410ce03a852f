/* test_scheduler.c — held claims and their wake-ups at the scheduler's own seam (ops + claims +
 * scheduler over the real memory store; scheduler_helpers.h): a claim held until a task arrives
 * or its time is up, the strategy's choice among several held claimers, capabilities, a held
 * claim cancelled by its caller, the races of a shared store (a claim in flight when a task
 * arrives; a wake-up that ends unplaced while claims are in flight; a task taken by someone
 * else while the woken claim is on its way), and shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler_helpers.h"

static struct claim_slot a, b, c; /* outlive each test body: the fixture drains after it */

static void test_claim_finds_a_pending_task_at_once(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 5000);
    assert_int_equal(a.answered, 1);
    assert_int_equal(a.holds, 0); /* never held */
    assert_string_equal(a.task, t);
    assert_int_equal(a.attempt, 1);
    assert_int_equal(ops_held_claims(&core), 0);
    assert_int_equal(count_events(EVT_TASK_SUBMITTED, t, NULL), 1);
    assert_int_equal(count_events(EVT_TASK_CLAIMED, t, "a"), 1);
    assert_true(event_index(EVT_TASK_SUBMITTED, t, NULL) < event_index(EVT_TASK_CLAIMED, t, NULL));
}

static void test_held_claim_woken_by_a_submit(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    claim_start(&a, "a", NULL, 5000);
    assert_int_equal(a.answered, 0);
    assert_int_equal(a.held, 1);
    assert_int_equal(ops_held_claims(&core), 1);
    submit_task(t, "x", NULL, 60000, 0);
    /* the wake-up runs inside the submit (memory store): answered, hold ended first */
    assert_int_equal(a.answered, 1);
    assert_int_equal(a.held, 0);
    assert_string_equal(a.task, t);
    assert_int_equal(ops_held_claims(&core), 0);
    assert_string_equal(task_state(t).assigned, "a");
    assert_int_equal(count_events(EVT_TASK_CLAIMED, t, "a"), 1);
    assert_true(event_index(EVT_TASK_SUBMITTED, t, NULL) < event_index(EVT_TASK_CLAIMED, t, NULL));
}

static void test_held_claim_times_out_empty(void **s)
{
    (void)s;
    reg_agent("a", "x", 1);
    claim_start(&a, "a", NULL, 50);
    assert_int_equal(a.held, 1);
    RUN_UNTIL(a.answered, 3000);
    assert_int_equal(a.answered, 1);
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.task, "");
    assert_int_equal(ops_held_claims(&core), 0);
    assert_int_equal(px.claims, 1); /* waiting cost no claims */
}

static void test_no_block_answers_empty_and_unknown_agent(void **s)
{
    (void)s;
    reg_agent("a", "x", 1);
    claim_start(&a, "a", NULL, 0);
    assert_int_equal(a.answered, 1);
    assert_int_equal(a.holds, 0);
    assert_string_equal(a.task, "");
    claim_start(&b, "nobody", NULL, 5000);
    assert_int_equal(b.answered, 1);
    assert_int_equal(b.rc, CP_ERR_NOT_FOUND);
    assert_int_equal(b.holds, 0);
}

static void test_wake_offers_only_capable_claimers(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    reg_agent("b", "x,y", 2);
    claim_start(&a, "a", NULL, 5000);
    claim_start(&b, "b", NULL, 5000);
    assert_int_equal(ops_held_claims(&core), 2);
    submit_task(t, "y", NULL, 60000, 0);
    assert_string_equal(b.task, t);
    assert_int_equal(a.answered, 0);
    assert_int_equal(px_claims_of("a"), 1); /* never woken for a task it cannot take */
    assert_int_equal(ops_held_claims(&core), 1);
    /* a claim's own capabilities narrow the agent's */
    claim_start(&c, "b", "x", 5000);
    submit_task(t, "y", NULL, 60000, 0);
    assert_int_equal(c.answered, 0);
    assert_int_equal(task_state(t).status, CP_TASK_PENDING);
}

/* least_loaded (the default): among held claimers, the one with the fewest tasks in flight. */
static void test_default_strategy_picks_the_least_loaded(void **s)
{
    (void)s;
    char t1[64], t2[64], t3[64];
    reg_agent("a", "x", 2);
    reg_agent("b", "x", 2);
    reg_agent("c", "x", 2);
    submit_task(t1, "x", NULL, 60000, 0);
    submit_task(t2, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 0);
    claim_start(&c, "c", NULL, 0);
    assert_string_equal(a.task, t1);
    assert_string_equal(c.task, t2);
    claim_start(&a, "a", NULL, 5000);
    claim_start(&b, "b", NULL, 5000);
    claim_start(&c, "c", NULL, 5000);
    assert_int_equal(ops_held_claims(&core), 3);
    submit_task(t3, "x", NULL, 60000, 0);
    assert_string_equal(b.task, t3);
    assert_int_equal(a.answered + c.answered, 0);
    assert_int_equal(px_claims_of("a") + px_claims_of("c"), 4); /* no wasted wake claim */
}

/* A task's own strategy decides among held claimers: round_robin rotates over them. */
static void test_task_strategy_round_robin_rotates(void **s)
{
    (void)s;
    char t[64], first[64] = "";
    reg_agent("a", "x", 5);
    reg_agent("b", "x", 5);
    int got_a = 0, got_b = 0;
    for (int i = 0; i < 4; i++) {
        claim_start(&a, "a", NULL, 5000);
        claim_start(&b, "b", NULL, 5000);
        submit_task(t, "x", "round_robin", 60000, 0);
        assert_int_equal(a.answered + b.answered, 1);
        const char *winner = a.answered ? "a" : "b";
        got_a += a.answered, got_b += b.answered;
        if (i > 0) assert_string_not_equal(winner, first);
        snprintf(first, sizeof first, "%s", winner);
        ops_call_cancel(a.answered ? &b.call : &a.call); /* the loser leaves */
    }
    assert_int_equal(got_a, 2);
    assert_int_equal(got_b, 2);
    assert_int_equal(ops_held_claims(&core), 0);
}

static void test_cancelled_held_claim_is_never_answered(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    claim_start(&a, "a", NULL, 100);
    ops_call_cancel(&a.call);
    assert_int_equal(ops_held_claims(&core), 0);
    submit_task(t, "x", NULL, 60000, 0);
    RUN_UNTIL(0, 200); /* past its block time too */
    assert_int_equal(a.answered, 0);
    assert_int_equal(task_state(t).status, CP_TASK_PENDING);
}

/* The claim was evaluated before the task became pending, and its reply arrives after the task's
 * wake-up found nobody held: the claim is held, sees that a wake-up went unplaced meanwhile
 * (pending_seq moved) and claims once more. */
static void test_claim_in_flight_when_a_task_arrives(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    px.claim_mode = PX_DEFER_REPLY;
    claim_start(&a, "a", NULL, 5000); /* evaluated: nothing pending */
    submit_task(t, "x", NULL, 60000, 0);
    assert_int_equal(task_state(t).status, CP_TASK_PENDING);
    px.claim_mode = PX_PASS;
    assert_true(px_flush_one()); /* the empty reply lands: held, then re-checks */
    assert_int_equal(a.held, 1);
    RUN_UNTIL(a.answered, 2000);
    assert_string_equal(a.task, t);
    assert_int_equal(px_claims_of("a"), 2);

    /* Without a pending task meanwhile, an empty reply is simply held: no second claim. */
    reg_agent("b", "x", 1);
    px.claim_mode = PX_DEFER_REPLY;
    claim_start(&b, "b", NULL, 5000);
    px.claim_mode = PX_PASS;
    px_flush_one();
    RUN_UNTIL(0, 100);
    assert_int_equal(b.held, 1);
    assert_int_equal(px_claims_of("b"), 1);
    ops_call_cancel(&b.call);
}

/* A held claimer's own claim (its re-check) is in flight, evaluated before a task arrived; the
 * task's wake-up finds no one held and ends unplaced: when the empty claim lands, it claims
 * again rather than sitting on a pending task. */
static void test_wake_up_ended_unplaced_while_a_claim_was_in_flight(void **s)
{
    (void)s;
    char other[64], t[64];
    reg_agent("a", "x", 1);
    px.claim_mode = PX_DEFER_REPLY;
    claim_start(&a, "a", NULL, 5000);
    submit_task(other, "zz", NULL, 60000, 0); /* nobody can take it: pending_seq moves */
    px_flush_one();                           /* a is held and re-checks from the loop */
    assert_int_equal(a.held, 1);
    RUN_UNTIL(px.deferred == 1, 2000); /* its re-check claim: evaluated, reply held back */
    assert_int_equal(px.deferred, 1);
    assert_int_equal(ops_held_claims(&core), 0); /* in flight, not held */
    submit_task(t, "x", NULL, 60000, 0);         /* its wake-up: nobody held */
    assert_int_equal(task_state(t).status, CP_TASK_PENDING);
    px.claim_mode = PX_PASS;
    px_flush_one(); /* the empty reply: it claims again and gets the task */
    assert_int_equal(a.answered, 1);
    assert_string_equal(a.task, t);
    assert_int_equal(px_claims_of("a"), 3);
}

/* The woken claimer's claim reaches the store after another agent took the task: its empty
 * answer proves the task gone, so the wake-up stops instead of waking the next claimer. */
static void test_task_taken_while_the_woken_claim_is_on_its_way(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    reg_agent("b", "x", 1);
    reg_agent("c", "x", 1);
    claim_start(&a, "a", NULL, 5000);
    claim_start(&b, "b", NULL, 5000);
    px.claim_mode = PX_DEFER_CALL;
    submit_task(t, "x", NULL, 60000, 0); /* a (first by id, equal load) is woken */
    assert_int_equal(px.deferred, 1);
    px.claim_mode = PX_PASS;
    claim_start(&c, "c", NULL, 0); /* c takes it meanwhile */
    assert_string_equal(c.task, t);
    px_flush_one(); /* a's claim: empty */
    assert_int_equal(a.answered + b.answered, 0);
    assert_int_equal(px_claims_of("b"), 1); /* b was not woken for a task that is gone */
    assert_int_equal(ops_held_claims(&core), 2);
    assert_int_equal(a.held, 1);
}

/* A held claim whose caller went away while its wake claim was in flight: the task it got is
 * released (back to pending, the attempt given back) and offered to the next held claimer. */
static void test_undelivered_claim_is_released(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    reg_agent("b", "x", 1);
    claim_start(&a, "a", NULL, 5000);
    claim_start(&b, "b", NULL, 5000);
    px.claim_mode = PX_DEFER_CALL;
    submit_task(t, "x", NULL, 60000, 0); /* a is woken */
    ops_call_cancel(&a.call);            /* and gone while its claim is on its way */
    px.claim_mode = PX_PASS;
    px_flush_one();
    assert_int_equal(a.answered, 0);
    assert_int_equal(count_events(EVT_TASK_CLAIMED, t, "a"), 1);
    assert_int_equal(count_events(EVT_TASK_RELEASED, t, "a"), 1);
    assert_string_equal(b.task, t); /* woken by the release */
    assert_int_equal(b.attempt, 1); /* the released attempt was given back */
    assert_int_equal(count_events(EVT_TASK_CLAIMED, t, "b"), 1);
    assert_int_equal(agent_state("a").tasks_in_flight, 0);
    assert_int_equal(ops_held_claims(&core), 0);
}

static void test_release_is_guarded_by_the_attempt(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 0);
    ops_task_release(&core, t, "a", 2); /* not the attempt handed out: nothing happens */
    assert_int_equal(task_state(t).status, CP_TASK_CLAIMED);
    assert_int_equal(count_events(EVT_TASK_RELEASED, NULL, NULL), 0);
    ops_task_release(&core, t, "a", 1);
    struct task_now now = task_state(t);
    assert_int_equal(now.status, CP_TASK_PENDING);
    assert_int_equal(now.attempt, 0);
    assert_int_equal(count_events(EVT_TASK_RELEASED, t, "a"), 1);
}

static void test_drain_answers_held_claims_empty(void **s)
{
    (void)s;
    reg_agent("a", "x", 1);
    reg_agent("b", "y", 1);
    claim_start(&a, "a", NULL, 60000);
    claim_start(&b, "b", NULL, 60000);
    ops_drain(&core);
    assert_int_equal(a.answered, 1);
    assert_int_equal(b.answered, 1);
    assert_string_equal(a.task, "");
    assert_int_equal(a.held + b.held, 0);
    assert_int_equal(ops_held_claims(&core), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sched_test_setup, sched_test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_claim_finds_a_pending_task_at_once),
        T(test_held_claim_woken_by_a_submit),
        T(test_held_claim_times_out_empty),
        T(test_no_block_answers_empty_and_unknown_agent),
        T(test_wake_offers_only_capable_claimers),
        T(test_default_strategy_picks_the_least_loaded),
        T(test_task_strategy_round_robin_rotates),
        T(test_cancelled_held_claim_is_never_answered),
        T(test_claim_in_flight_when_a_task_arrives),
        T(test_wake_up_ended_unplaced_while_a_claim_was_in_flight),
        T(test_task_taken_while_the_woken_claim_is_on_its_way),
        T(test_undelivered_claim_is_released),
        T(test_release_is_guarded_by_the_attempt),
        T(test_drain_answers_held_claims_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
