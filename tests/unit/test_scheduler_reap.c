/* test_scheduler_reap.c — what follows a task's change at the scheduler's seam (ops + scheduler
 * over the real memory store, fake clock; scheduler_helpers.h): timeouts and requeues through
 * the reaper (a held claimer gets the requeued task, the breaker is fed, the last timeout is
 * final), the reaper's own timer, offline and unregistered agents giving their tasks back,
 * waiters on a task's result (wait_ms: answered when it finishes, when time is up, or never
 * once cancelled), and the domain events of a lifecycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "clock.h"
#include "metrics.h"
#include "ops_internal.h"
#include "scheduler_helpers.h"

static struct claim_slot a, b;
static struct get_slot g;

static void on_reaped(void *cookie, const struct cp_result *res)
{
    *(int *)cookie = res->rc;
}

static void reap_now(void)
{
    struct ops_call call;
    int rc = 1;
    struct cp_reap r = {.now_ms = clock_now_ms(),
                        .heartbeat_timeout_ms = cfg.heartbeat_timeout_ms,
                        .retention_ms = cfg.retention_ms,
                        .max_events = 1000};
    ops_reap(&core, &call, &r, on_reaped, &rc);
    assert_int_equal(rc, 0);
}

static int metrics_has(const char *line)
{
    struct evbuffer *buf = evbuffer_new();
    metrics_render(buf, NULL);
    evbuffer_add(buf, "", 1);
    int found = strstr((const char *)evbuffer_pullup(buf, -1), line) != NULL;
    evbuffer_free(buf);
    return found;
}

static void test_timeout_requeues_to_a_held_claimer_then_times_out(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    reg_agent("b", "x", 1);
    submit_task(t, "x", NULL, 1000, 2);
    claim_start(&a, "a", NULL, 0);
    assert_string_equal(a.task, t);
    claim_start(&b, "b", NULL, 60000);
    assert_int_equal(b.held, 1);

    clock_advance_fake(999);
    reap_now();
    assert_int_equal(task_state(t).status, CP_TASK_CLAIMED); /* not yet */
    clock_advance_fake(1);
    reap_now();
    /* requeued (retries 1 of 2) and offered at once to the held claimer */
    assert_string_equal(b.task, t);
    assert_int_equal(b.attempt, 2);
    struct task_now now = task_state(t);
    assert_int_equal(now.retries, 1);
    assert_string_equal(now.assigned, "b");
    assert_int_equal(count_events(EVT_TASK_TIMEOUT, t, "a"), 1);
    assert_int_equal(recorded[event_index(EVT_TASK_TIMEOUT, t, NULL)].new_status, CP_TASK_PENDING);
    assert_int_equal(recorded[event_index(EVT_TASK_TIMEOUT, t, NULL)].old_status, CP_TASK_CLAIMED);
    assert_int_equal(recorded[event_index(EVT_TASK_TIMEOUT, t, NULL)].attempt, 1);
    assert_true(event_index(EVT_TASK_TIMEOUT, t, "a") < event_index(EVT_TASK_CLAIMED, t, "b"));
    /* the breaker of the agent that let it time out was fed */
    assert_int_equal(agent_state("a").circuit_failures, 1);
    assert_int_equal(agent_state("a").tasks_in_flight, 0);
    assert_true(metrics_has("cp_tasks_timeout_total{task_type=\"t\"} 1\n"));

    /* a waiter on the result is answered when the last timeout makes it final */
    get_start(&g, t, 60000);
    assert_int_equal(g.held, 1);
    clock_advance_fake(1000);
    reap_now();
    assert_int_equal(task_state(t).status, CP_TASK_TIMEOUT);
    assert_int_equal(g.answered, 1);
    assert_int_equal(g.status, CP_TASK_TIMEOUT);
    assert_int_equal(count_events(EVT_TASK_TIMEOUT, t, "b"), 1);
    assert_int_equal(agent_state("b").circuit_failures, 1);
}

/* The reaper runs on its own timer once ops are started. */
static void test_reaper_timer_reaps(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 1000, 0);
    claim_start(&a, "a", NULL, 0);
    ops_start(&core);
    clock_advance_fake(5000);
    RUN_UNTIL(task_state(t).status == CP_TASK_TIMEOUT, 3000);
    assert_int_equal(task_state(t).status, CP_TASK_TIMEOUT);
    assert_int_equal(count_events(EVT_TASK_TIMEOUT, t, "a"), 1);
}

static void on_stats(void *cookie, const struct cp_result *res)
{
    assert_int_equal(res->rc, 0);
    *(uint64_t *)cookie = res->stats->agents_total;
}

static uint64_t agents_total(void)
{
    uint64_t n = UINT64_MAX;
    ops_stats(&core, on_stats, &n);
    return n;
}

/* A fleet larger than one reaper batch goes offline and is removed in one cleanup interval:
 * the fake clock stands still after the interval has come, so every batch after the first runs
 * in the same interval (before the removal rode only on the interval's first pass). */
static void test_removal_keeps_up_within_one_interval(void **s)
{
    (void)s;
    events_free(core.events); /* 2,600 registrations: more than the recorder holds */
    core.events = events_new();
    char id[32];
    for (int i = 0; i < 2600; i++) {
        snprintf(id, sizeof id, "agent-%04d", i);
        reg_agent(id, "x", 1);
    }
    assert_int_equal(agents_total(), 2600);
    ops_start(&core);
    clock_advance_fake(cfg.cleanup_interval_ms + 3 * cfg.heartbeat_timeout_ms);
    RUN_UNTIL(agents_total() == 0, 5000);
    assert_int_equal(agents_total(), 0);
}

static void test_offline_agent_gives_its_task_to_a_held_claimer(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 600000, 3);
    claim_start(&a, "a", NULL, 0);
    clock_advance_fake(cfg.heartbeat_timeout_ms - 1000);
    reg_agent("b", "x", 1); /* b is fresh */
    claim_start(&b, "b", NULL, 600000);
    clock_advance_fake(1000);
    reap_now();
    assert_int_equal(agent_state("a").status, CP_AGENT_OFFLINE);
    int i = (int)n_recorded - 1; /* a's last status change (its claim made it busy first) */
    while (i >= 0 && (recorded[i].kind != EVT_AGENT_STATUS || strcmp(recorded[i].agent, "a")))
        i--;
    assert_true(i >= 0);
    assert_string_equal(recorded[i].agent, "a");
    assert_int_equal(recorded[i].old_status, CP_AGENT_BUSY);
    assert_int_equal(recorded[i].new_status, CP_AGENT_OFFLINE);
    int r = event_index(EVT_TASK_REQUEUED, t, "a");
    assert_true(r > i);
    assert_int_equal(recorded[r].old_status, CP_TASK_CLAIMED);
    assert_int_equal(count_events(EVT_TASK_REQUEUED, t, "a"), 1);
    assert_string_equal(b.task, t);
}

static void test_unregister_requeues_and_wakes(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    reg_agent("b", "x", 1);
    submit_task(t, "x", NULL, 600000, 3);
    claim_start(&a, "a", NULL, 0);
    claim_start(&b, "b", NULL, 60000);
    struct ops_call call;
    int rc = 1;
    ops_agent_unregister(&core, &call, "a", on_reaped, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(count_events(EVT_AGENT_UNREGISTERED, NULL, "a"), 1);
    assert_int_equal(recorded[event_index(EVT_AGENT_UNREGISTERED, NULL, "a")].old_status,
                     CP_AGENT_BUSY);
    assert_int_equal(count_events(EVT_TASK_REQUEUED, t, "a"), 1);
    assert_true(event_index(EVT_AGENT_UNREGISTERED, NULL, NULL) <
                event_index(EVT_TASK_REQUEUED, t, NULL));
    assert_string_equal(b.task, t);
}

static void test_waiter_answered_on_completion(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 60000, 0);
    get_start(&g, t, 60000);
    assert_int_equal(g.answered, 0);
    assert_int_equal(g.held, 1);
    claim_start(&a, "a", NULL, 0);
    assert_int_equal(transition(CP_TR_START, t, "a"), 0);
    assert_int_equal(g.answered, 0); /* running is not the end */
    assert_int_equal(transition(CP_TR_COMPLETE, t, "a"), 0);
    assert_int_equal(g.answered, 1);
    assert_int_equal(g.holds, 1);
    assert_int_equal(g.status, CP_TASK_COMPLETED);
    /* a finished task is answered at once, without waiting */
    get_start(&g, t, 60000);
    assert_int_equal(g.answered, 1);
    assert_int_equal(g.holds, 0);
}

static void test_waiter_times_out_or_is_cancelled(void **s)
{
    (void)s;
    char t[64];
    submit_task(t, "x", NULL, 60000, 0);
    get_start(&g, t, 50);
    RUN_UNTIL(g.answered, 3000);
    assert_int_equal(g.answered, 1);
    assert_int_equal(g.status, CP_TASK_PENDING);
    get_start(&g, t, 100);
    ops_call_cancel(&g.call);
    assert_int_equal(transition(CP_TR_CANCEL, t, NULL), 0);
    RUN_UNTIL(0, 200);
    assert_int_equal(g.answered, 0);
    get_start(&g, "task_000000000000000000000000", 1000); /* unknown: answered at once */
    assert_int_equal(g.answered, 1);
    assert_int_equal(g.rc, CP_ERR_NOT_FOUND);
}

/* One event per change, in order, with the statuses each change went between. */
static void test_lifecycle_events(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 60000, 2);
    claim_start(&a, "a", NULL, 0);
    assert_int_equal(transition(CP_TR_START, t, "a"), 0);
    assert_int_equal(transition(CP_TR_FAIL, t, "a"), 0); /* retried: pending again */
    claim_start(&a, "a", NULL, 0);
    assert_int_equal(transition(CP_TR_COMPLETE, t, "a"), 0);
    assert_int_equal(transition(CP_TR_CANCEL, t, NULL), CP_ERR_CONFLICT); /* no event */
    static const struct {
        int kind;
        const char *agent;
        int32_t old_status, new_status;
        uint32_t attempt;
    } want[] = {
        {EVT_AGENT_REGISTERED, "a", -1, CP_AGENT_READY, 0},
        {EVT_TASK_SUBMITTED, "", -1, CP_TASK_PENDING, 0},
        {EVT_TASK_CLAIMED, "a", CP_TASK_PENDING, CP_TASK_CLAIMED, 1},
        {EVT_AGENT_STATUS, "a", CP_AGENT_READY, CP_AGENT_BUSY, 0}, /* at its maximum (1) */
        {EVT_TASK_STARTED, "a", CP_TASK_CLAIMED, CP_TASK_RUNNING, 1},
        {EVT_TASK_FAILED, "a", CP_TASK_RUNNING, CP_TASK_PENDING, 1}, /* retried */
        {EVT_AGENT_STATUS, "a", CP_AGENT_BUSY, CP_AGENT_READY, 0},
        {EVT_TASK_CLAIMED, "a", CP_TASK_PENDING, CP_TASK_CLAIMED, 2},
        {EVT_AGENT_STATUS, "a", CP_AGENT_READY, CP_AGENT_BUSY, 0},
        {EVT_TASK_COMPLETED, "a", CP_TASK_CLAIMED, CP_TASK_COMPLETED, 2},
        {EVT_AGENT_STATUS, "a", CP_AGENT_BUSY, CP_AGENT_READY, 0},
    };
    size_t n = sizeof want / sizeof want[0];
    /* the breaker's writes (the failure, then the success) add health events; look past them */
    size_t k = 0;
    for (size_t i = 0; i < n_recorded; i++) {
        if (recorded[i].kind == EVT_AGENT_HEALTH) continue;
        assert_true(k < n);
        assert_int_equal(recorded[i].kind, want[k].kind);
        assert_int_equal(recorded[i].old_status, want[k].old_status);
        assert_int_equal(recorded[i].new_status, want[k].new_status);
        assert_int_equal(recorded[i].attempt, want[k].attempt);
        assert_string_equal(recorded[i].agent, want[k].agent);
        k++;
    }
    assert_int_equal(k, n);
    int i = event_index(EVT_AGENT_HEALTH, NULL, "a"); /* the failure fed the breaker */
    assert_true(i > event_index(EVT_TASK_FAILED, t, NULL));
    assert_int_equal(recorded[i].new_status, CP_HEALTH_HEALTHY); /* no probe: healthy */
}

/* Agent events: a heartbeat (the status it leaves the agent in), and what the health monitor
 * reports writing (through its hook: health, and the agent's status when that changed). */
static void test_agent_events(void **s)
{
    (void)s;
    reg_agent("a", "x", 1);
    struct ops_call call;
    int rc = 1;
    ops_agent_heartbeat(&core, &call, "a", CP_AGENT_DRAINING, on_reaped, &rc);
    assert_int_equal(rc, 0);
    int i = event_index(EVT_AGENT_HEARTBEAT, NULL, "a");
    assert_true(i >= 0);
    assert_int_equal(recorded[i].old_status, CP_AGENT_READY); /* the store's before (ABI 2.4) */
    assert_int_equal(recorded[i].new_status, CP_AGENT_DRAINING);

    struct cp_agent_view v = {.agent_id = "a", .status = CP_AGENT_FAILED};
    v.health.status = CP_HEALTH_UNHEALTHY;
    ops_health_changed(&core, &v, CP_HEALTH_DEGRADED, CP_CIRCUIT_CLOSED, CP_AGENT_READY);
    i = event_index(EVT_AGENT_HEALTH, NULL, "a");
    assert_int_equal(recorded[i].old_status, CP_HEALTH_DEGRADED);
    assert_int_equal(recorded[i].new_status, CP_HEALTH_UNHEALTHY);
    i = event_index(EVT_AGENT_STATUS, NULL, "a");
    assert_int_equal(recorded[i].old_status, CP_AGENT_READY);
    assert_int_equal(recorded[i].new_status, CP_AGENT_FAILED);
    v.status = CP_AGENT_READY; /* health alone: no status event */
    ops_health_changed(&core, &v, CP_HEALTH_UNHEALTHY, CP_CIRCUIT_CLOSED, CP_AGENT_READY);
    assert_int_equal(count_events(EVT_AGENT_HEALTH, NULL, "a"), 2);
    assert_int_equal(count_events(EVT_AGENT_STATUS, NULL, "a"), 1);

    /* without subscribers nothing is delivered (and nothing is built) */
    size_t before = n_recorded;
    assert_int_equal(events_unsubscribe(core.events, NULL, NULL), -1);
    events_free(core.events);
    core.events = events_new();
    ops_agent_heartbeat(&core, &call, "a", -1, on_reaped, &rc);
    ops_health_changed(&core, &v, CP_HEALTH_UNHEALTHY, CP_CIRCUIT_CLOSED, CP_AGENT_FAILED);
    assert_int_equal(n_recorded, before);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sched_test_setup, sched_test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_timeout_requeues_to_a_held_claimer_then_times_out),
        T(test_reaper_timer_reaps),
        T(test_removal_keeps_up_within_one_interval),
        T(test_offline_agent_gives_its_task_to_a_held_claimer),
        T(test_unregister_requeues_and_wakes),
        T(test_waiter_answered_on_completion),
        T(test_waiter_times_out_or_is_cancelled),
        T(test_lifecycle_events),
        T(test_agent_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
