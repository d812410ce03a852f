/* test_health_rules.c — every transition of the pure health rules (core/health_rules.c) with an
 * injected clock: probe thresholds, recovery, slow probes, the circuit breaker and its doubling
 * cooldown, and the system-status boundaries of CONTRACT §5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health.h"

#define T0 1700000000000LL

static const struct health_rules rules = {
    .unhealthy_threshold = 3,
    .recovery_threshold = 2,
    .failure_threshold = 5,
    .slow_probe_ms = 5000,
    .cooldown_ms = 30000,
    .max_cooldown_ms = 300000,
};

static struct cp_health_view fresh(void)
{
    struct cp_health_view h = {0};
    h.status = CP_HEALTH_UNKNOWN;
    h.latency_ms = -1;
    h.circuit = CP_CIRCUIT_CLOSED;
    return h;
}

static void test_first_success_from_unknown_is_healthy(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 12.5, T0), -1);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY);
    assert_int_equal(h.consecutive_successes, 1);
    assert_int_equal(h.consecutive_failures, 0);
    assert_int_equal(h.last_check_ms, T0);
    assert_true(h.latency_ms == 12.5);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
}

static void test_failures_degrade_then_unhealthy_and_failed(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 10, T0);
    assert_int_equal(h.consecutive_successes, 1);

    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 10, T0 + 1000), -1);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);
    assert_int_equal(h.consecutive_failures, 1);
    assert_int_equal(h.consecutive_successes, 0);

    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 10, T0 + 2000), -1);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);
    assert_int_equal(h.consecutive_failures, 2);

    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 10, T0 + 3000),
                     CP_AGENT_FAILED);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(h.consecutive_failures, 3);
    assert_int_equal(h.last_check_ms, T0 + 3000);

    /* Still failing: stays unhealthy and keeps asking for failed. */
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 0, 10, T0 + 4000),
                     CP_AGENT_FAILED);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(h.consecutive_failures, 4);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED); /* 4 < failure_threshold */
}

static void test_recovery_needs_two_successes_then_ready(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    for (int i = 0; i < 3; i++)
        health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0 + i);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);

    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 5, T0 + 10), -1);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(h.consecutive_successes, 1);
    assert_int_equal(h.consecutive_failures, 0);

    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 5, T0 + 20),
                     CP_AGENT_READY);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY);
    assert_int_equal(h.consecutive_successes, 2);

    /* Once healthy, further successes change nothing and ask for no status. */
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 5, T0 + 30), -1);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY);
}

static void test_degraded_recovers_after_two_successes_without_status(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 5, T0 + 1), -1);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 5, T0 + 2), -1);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY);
}

static void test_failure_interrupts_recovery(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    for (int i = 0; i < 3; i++)
        health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0 + i);
    health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 5, T0 + 10);
    /* a failure during recovery: the count restarts, and it stays unhealthy (and failed) */
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 0, 5, T0 + 20),
                     CP_AGENT_FAILED);
    assert_int_equal(h.consecutive_failures, 1);
    assert_int_equal(h.consecutive_successes, 0);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 5, T0 + 30), -1);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 5, T0 + 40),
                     CP_AGENT_READY);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY);
}

static void test_slow_probe_degrades_but_counts_as_success(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 5000, T0), -1);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY); /* exactly 5000 ms is not slower */
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 5001, T0 + 1), -1);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);
    assert_int_equal(h.consecutive_successes, 2);
    assert_int_equal(h.consecutive_failures, 0);
    assert_int_equal(h.circuit_failures, 0);
    /* the next fast probe: the slow one counted, so recovery is immediate */
    health_apply_probe(&rules, &h, CP_AGENT_READY, 1, 100, T0 + 2);
    assert_int_equal(h.status, CP_HEALTH_HEALTHY);
}

static void test_slow_probe_from_unhealthy_recovers_to_degraded_and_ready(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    for (int i = 0; i < 3; i++)
        health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0 + i);
    health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 9000, T0 + 10);
    assert_int_equal(h.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 9000, T0 + 20),
                     CP_AGENT_READY);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);
}

static void test_circuit_opens_at_five_failures(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    for (int i = 1; i <= 4; i++) {
        health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0 + i);
        assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
        assert_int_equal(h.circuit_failures, (uint32_t)i);
    }
    health_apply_probe(&rules, &h, CP_AGENT_FAILED, 0, 5, T0 + 5);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(h.circuit_failures, 5);
    assert_int_equal(h.circuit_opens, 0);
    assert_int_equal(h.opened_at_ms, T0 + 5);
    assert_int_equal(h.retry_at_ms, T0 + 5 + 30000);
}

static void test_task_and_probe_failures_both_count_and_success_resets(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    health_apply_task(&rules, &h, 0, T0);
    health_apply_task(&rules, &h, 0, T0);
    health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0);
    health_apply_task(&rules, &h, 0, T0); /* a timeout is fed the same way */
    assert_int_equal(h.circuit_failures, 4);
    health_apply_task(&rules, &h, 1, T0);
    assert_int_equal(h.circuit_failures, 0);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
    /* a task outcome never touches the probe thresholds */
    assert_int_equal(h.consecutive_failures, 1);
    assert_int_equal(h.status, CP_HEALTH_DEGRADED);

    for (int i = 0; i < 5; i++)
        health_apply_task(&rules, &h, 0, T0 + 100);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(h.retry_at_ms, T0 + 100 + 30000);
}

static void test_tick_half_open_then_close(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    for (int i = 0; i < 5; i++)
        health_apply_task(&rules, &h, 0, T0);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);

    assert_int_equal(health_apply_tick(&rules, &h, T0 + 29999), -1);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);
    /* while open, outcomes do not close it early */
    health_apply_task(&rules, &h, 1, T0 + 10000);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);

    health_apply_tick(&rules, &h, T0 + 30000);
    assert_int_equal(h.circuit, CP_CIRCUIT_HALF_OPEN);
    health_apply_task(&rules, &h, 1, T0 + 31000);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
    assert_int_equal(h.circuit_failures, 0);
    assert_int_equal(h.circuit_opens, 0);

    /* closed again: it takes five fresh failures to reopen, with the base cooldown */
    for (int i = 0; i < 4; i++)
        health_apply_task(&rules, &h, 0, T0 + 40000);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
    health_apply_task(&rules, &h, 0, T0 + 40000);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(h.retry_at_ms, T0 + 40000 + 30000);
}

static void test_half_open_probe_success_closes(void **s)
{
    (void)s;
    struct cp_health_view h = fresh();
    for (int i = 0; i < 5; i++)
        health_apply_probe(&rules, &h, CP_AGENT_READY, 0, 5, T0);
    health_apply_tick(&rules, &h, T0 + 30000);
    assert_int_equal(h.circuit, CP_CIRCUIT_HALF_OPEN);
    health_apply_probe(&rules, &h, CP_AGENT_FAILED, 1, 5, T0 + 30001);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
}

static void test_late_outcome_counts_as_half_open(void **s)
{
    (void)s;
    /* no tick ran, but retry_at has passed: a success closes the circuit */
    struct cp_health_view h = fresh();
    for (int i = 0; i < 5; i++)
        health_apply_task(&rules, &h, 0, T0);
    health_apply_task(&rules, &h, 1, T0 + 30000);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
}

static void test_cooldown_doubles_and_caps(void **s)
{
    (void)s;
    const int64_t expect[] = {30000, 60000, 120000, 240000, 300000, 300000};
    struct cp_health_view h = fresh();
    int64_t now = T0;
    for (int i = 0; i < 5; i++)
        health_apply_task(&rules, &h, 0, now);
    for (size_t k = 0; k < sizeof expect / sizeof expect[0]; k++) {
        assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);
        assert_int_equal(h.opened_at_ms, now);
        assert_int_equal(h.retry_at_ms - h.opened_at_ms, expect[k]);
        assert_int_equal(h.circuit_opens, (uint32_t)k);
        now = h.retry_at_ms;
        health_apply_tick(&rules, &h, now);
        assert_int_equal(h.circuit, CP_CIRCUIT_HALF_OPEN);
        now += 5;
        health_apply_task(&rules, &h, 0, now); /* one failure in half_open reopens */
    }
    /* and a success after all that resets the doubling */
    health_apply_tick(&rules, &h, h.retry_at_ms);
    health_apply_task(&rules, &h, 1, h.retry_at_ms);
    assert_int_equal(h.circuit, CP_CIRCUIT_CLOSED);
    assert_int_equal(h.circuit_opens, 0);
    for (int i = 0; i < 5; i++)
        health_apply_task(&rules, &h, 0, now);
    assert_int_equal(h.retry_at_ms - now, 30000);
}

static void test_cooldown_never_overflows(void **s)
{
    (void)s;
    struct health_rules r = rules;
    r.max_cooldown_ms = INT64_MAX / 2;
    struct cp_health_view h = fresh();
    h.circuit = CP_CIRCUIT_HALF_OPEN;
    h.circuit_opens = 4000000000u;
    health_apply_task(&r, &h, 0, T0);
    assert_int_equal(h.circuit, CP_CIRCUIT_OPEN);
    assert_true(h.retry_at_ms > T0);
    assert_true(h.retry_at_ms - T0 <= r.max_cooldown_ms);
}

static void test_system_status_thresholds(void **s)
{
    (void)s;
    assert_int_equal(health_system_status(0, 0, 0), CP_HEALTH_HEALTHY);
    assert_int_equal(health_system_status(4, 0, 0), CP_HEALTH_HEALTHY);
    assert_int_equal(health_system_status(4, 1, 0), CP_HEALTH_DEGRADED);
    /* exactly a quarter unhealthy: not "more than a quarter" */
    assert_int_equal(health_system_status(4, 0, 1), CP_HEALTH_DEGRADED);
    assert_int_equal(health_system_status(8, 0, 2), CP_HEALTH_DEGRADED);
    assert_int_equal(health_system_status(8, 0, 3), CP_HEALTH_UNHEALTHY);
    /* exactly half: unhealthy, not critical */
    assert_int_equal(health_system_status(4, 0, 2), CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_system_status(10, 0, 5), CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_system_status(10, 0, 6), CP_HEALTH_CRITICAL);
    assert_int_equal(health_system_status(4, 0, 3), CP_HEALTH_CRITICAL);
    assert_int_equal(health_system_status(1, 0, 1), CP_HEALTH_CRITICAL);
    /* odd totals: 3 of 7 is not more than half, 2 of 7 is more than a quarter */
    assert_int_equal(health_system_status(7, 0, 3), CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_system_status(7, 0, 4), CP_HEALTH_CRITICAL);
    assert_int_equal(health_system_status(7, 0, 2), CP_HEALTH_UNHEALTHY);
    assert_int_equal(health_system_status(9, 0, 2), CP_HEALTH_DEGRADED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_success_from_unknown_is_healthy),
        cmocka_unit_test(test_failures_degrade_then_unhealthy_and_failed),
        cmocka_unit_test(test_recovery_needs_two_successes_then_ready),
        cmocka_unit_test(test_degraded_recovers_after_two_successes_without_status),
        cmocka_unit_test(test_failure_interrupts_recovery),
        cmocka_unit_test(test_slow_probe_degrades_but_counts_as_success),
        cmocka_unit_test(test_slow_probe_from_unhealthy_recovers_to_degraded_and_ready),
        cmocka_unit_test(test_circuit_opens_at_five_failures),
        cmocka_unit_test(test_task_and_probe_failures_both_count_and_success_resets),
        cmocka_unit_test(test_tick_half_open_then_close),
        cmocka_unit_test(test_half_open_probe_success_closes),
        cmocka_unit_test(test_late_outcome_counts_as_half_open),
        cmocka_unit_test(test_cooldown_doubles_and_caps),
        cmocka_unit_test(test_cooldown_never_overflows),
        cmocka_unit_test(test_system_status_thresholds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
