/* test_health_circuit.c — the health monitor's task outcomes (core/health.c) with an in-test
 * store on a real event loop: outcomes opening a circuit and the tick turning it half_open (also
 * for an open circuit read back from storage), per-agent serialisation with an asynchronous
 * store, an unavailable store, orphaned ops at health_free(), and outcomes applied to the agent
 * the store returned with them (no read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "clock.h"
#include "health.h"
#include "health_helpers.h"

static void test_task_outcomes_open_circuit_and_tick_half_opens(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("t1");
    health_task_outcome(hm, "t1", 0);
    health_task_outcome(hm, "t1", 0);
    health_task_outcome(hm, "t1", 1);
    assert_int_equal(a->health.circuit_failures, 0);
    int sets = store.sets;
    health_task_outcome(hm, "t1", 1); /* nothing changes: nothing written */
    assert_int_equal(store.sets, sets);
    for (int i = 0; i < 5; i++)
        health_task_outcome(hm, "t1", 0);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(a->health.retry_at_ms, T0 + 30000);
    /* the hook tells the circuit it left (the event stream's health_update) */
    assert_int_equal(hooks_seen.circuit_before, CP_CIRCUIT_CLOSED);
    assert_int_equal(hooks_seen.circuit_after, CP_CIRCUIT_OPEN);
    /* an outcome for an agent that does not exist is dropped quietly */
    health_task_outcome(hm, "nobody", 0);

    RUN_UNTIL(0, 1300);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_OPEN); /* retry_at not reached */
    clock_advance_fake(30000);
    RUN_UNTIL(a->health.circuit == CP_CIRCUIT_HALF_OPEN, 2500);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_HALF_OPEN);
    health_task_outcome(hm, "t1", 1);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_CLOSED);
    assert_int_equal(hooks_seen.circuit_before, CP_CIRCUIT_HALF_OPEN);
    assert_int_equal(hooks_seen.circuit_after, CP_CIRCUIT_CLOSED);
}

static void test_tracking_an_open_circuit_from_storage(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("restored");
    a->health.circuit = CP_CIRCUIT_OPEN;
    a->health.retry_at_ms = T0 - 1;
    track("restored", NULL); /* e.g. after a restart */
    RUN_UNTIL(a->health.circuit == CP_CIRCUIT_HALF_OPEN, 2500);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_HALF_OPEN);
}

static void test_async_store_serialises_per_agent(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("q");
    store.async = 1;
    for (int i = 0; i < 4; i++)
        health_task_outcome(hm, "q", 0);
    assert_int_equal(store.gets, 1); /* one read-modify-write at a time */
    while (flush_one()) {
    }
    assert_int_equal(store.max_gets_in_flight, 1);
    assert_int_equal(store.gets, 4);
    assert_int_equal(a->health.circuit_failures, 4); /* no lost update */
}

static void test_unavailable_store_drops_queue_and_recovers(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("down");
    store.async = 1;
    store.down = 1;
    for (int i = 0; i < 3; i++)
        health_task_outcome(hm, "down", 0);
    while (flush_one()) {
    }
    assert_int_equal(store.gets, 1);
    store.down = 0;
    health_task_outcome(hm, "down", 0);
    while (flush_one()) {
    }
    assert_int_equal(a->health.circuit_failures, 1);
}

static void test_free_with_ops_in_flight(void **s)
{
    (void)s;
    add_agent("f");
    store.async = 1;
    health_task_outcome(hm, "f", 0);
    health_task_outcome(hm, "f", 0);
    health_free(hm); /* one op is in the store, one queued */
    hm = NULL;
    assert_int_equal(store.n_deferred, 1);
    while (flush_one()) { /* the orphaned op frees itself; no new op is issued */
    }
    assert_int_equal(store.gets, 1);
    assert_int_equal(store.sets, 0);
}

/* The agent as a transition returned it. */
static struct cp_agent_view seen(const struct fake_agent *a)
{
    struct cp_agent_view v = {
        .size = sizeof v, .agent_id = a->id, .status = a->status, .health = a->health};
    return v;
}

static void test_outcome_on_the_returned_agent_skips_the_read(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("seen");
    struct cp_agent_view v = seen(a);
    health_task_outcome_seen(hm, &v, 1); /* success, closed circuit: no storage call at all */
    assert_int_equal(store.gets, 0);
    assert_int_equal(store.sets, 0);
    v = seen(a);
    health_task_outcome_seen(hm, &v, 0); /* a failure is written, still without a read */
    assert_int_equal(store.gets, 0);
    assert_int_equal(store.sets, 1);
    assert_int_equal(a->health.circuit_failures, 1);
    for (int i = 0; i < 4; i++) {
        v = seen(a);
        health_task_outcome_seen(hm, &v, 0);
    }
    assert_int_equal(a->health.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(store.gets, 0);

    /* While another update of the agent is in storage the view may be stale: queue and read. */
    struct fake_agent *b = add_agent("busy");
    store.async = 1;
    health_task_outcome(hm, "busy", 0);
    v = seen(b);
    health_task_outcome_seen(hm, &v, 0);
    assert_int_equal(store.gets, 1); /* the second waits for the first */
    while (flush_one()) {
    }
    assert_int_equal(store.gets, 2);
    assert_int_equal(b->health.circuit_failures, 2); /* no lost update */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_task_outcomes_open_circuit_and_tick_half_opens,
                                        health_test_setup, health_test_teardown),
        cmocka_unit_test_setup_teardown(test_tracking_an_open_circuit_from_storage,
                                        health_test_setup, health_test_teardown),
        cmocka_unit_test_setup_teardown(test_async_store_serialises_per_agent, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_store_drops_queue_and_recovers,
                                        health_test_setup, health_test_teardown),
        cmocka_unit_test_setup_teardown(test_free_with_ops_in_flight, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_outcome_on_the_returned_agent_skips_the_read,
                                        health_test_setup, health_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
