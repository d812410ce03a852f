/* test_scheduler_drain.c — an operator's drain and self-reported busy at the operations layer
 * (scheduler_helpers.h: ops over the real memory store): a drained agent's held claim is not
 * handed new tasks (they go to another claimer, or wait), the agent finishes what it holds, a
 * status event announces drain and undrain, and listing and select leave out exactly the
 * agents that may not claim (drained, busy by their own report). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler_helpers.h"

static struct claim_slot a, b; /* outlive each test body: the fixture drains after it */

struct drained {
    int rc, created, answered;
    int32_t status;
};

static void on_drained(void *cookie, const struct cp_result *res)
{
    struct drained *d = cookie;
    d->answered++;
    d->rc = res->rc;
    d->created = res->created;
    d->status = res->agent ? res->agent->status : -1;
}

static struct drained drain(const char *id, int on)
{
    struct ops_call call;
    struct drained d = {0};
    ops_agent_drain(&core, &call, id, on, on_drained, &d);
    assert_int_equal(d.answered, 1); /* the memory store answers at once */
    return d;
}

static void test_drain_events_and_errors(void **s)
{
    (void)s;
    reg_agent("a", "x", 1);
    size_t before = n_recorded;
    struct drained d = drain("a", 1);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.created, 1);
    assert_int_equal(d.status, CP_AGENT_DRAINING);
    int i = event_index(EVT_AGENT_STATUS, NULL, "a");
    assert_true(i >= (int)before);
    assert_int_equal(recorded[i].new_status, CP_AGENT_DRAINING);
    assert_int_equal(count_events(EVT_AGENT_STATUS, NULL, "a"), 1);
    /* Again: nothing changes, nothing announced. */
    assert_int_equal(drain("a", 1).created, 0);
    assert_int_equal(count_events(EVT_AGENT_STATUS, NULL, "a"), 1);
    d = drain("a", 0);
    assert_int_equal(d.status, CP_AGENT_READY);
    assert_int_equal(count_events(EVT_AGENT_STATUS, NULL, "a"), 2);
    assert_int_equal(recorded[n_recorded - 1].new_status, CP_AGENT_READY);
    assert_int_equal(drain("nobody", 1).rc, CP_ERR_NOT_FOUND);
}

static void test_held_claim_of_a_drained_agent_gets_no_task(void **s)
{
    (void)s;
    char t1[64], t2[64];
    reg_agent("a", "x", 1);
    reg_agent("b", "x", 1);
    claim_start(&a, "a", NULL, 60000);
    assert_int_equal(a.held, 1);
    drain("a", 1);
    /* The task goes to the other held claimer; a's claim is answered empty. */
    claim_start(&b, "b", NULL, 60000);
    submit_task(t1, "x", NULL, 60000, 0);
    assert_string_equal(b.task, t1);
    submit_task(t2, "x", NULL, 60000, 0);
    assert_int_equal(a.answered, 1);
    assert_string_equal(a.task, "");
    assert_int_equal(task_state(t2).status, CP_TASK_PENDING);
    assert_int_equal(ops_held_claims(&core), 0);
    /* A new claim from it: nothing, at once. */
    claim_start(&a, "a", NULL, 60000);
    assert_int_equal(a.answered, 1);
    assert_int_equal(a.holds, 0);
    assert_string_equal(a.task, "");
    /* Undrained: it takes the waiting task. */
    drain("a", 0);
    claim_start(&a, "a", NULL, 0);
    assert_string_equal(a.task, t2);
}

static void test_drained_agent_finishes_what_it_holds(void **s)
{
    (void)s;
    char t[64];
    reg_agent("a", "x", 1);
    submit_task(t, "x", NULL, 60000, 0);
    claim_start(&a, "a", NULL, 0);
    assert_string_equal(a.task, t);
    drain("a", 1);
    assert_int_equal(transition(CP_TR_START, t, "a"), 0);
    assert_int_equal(transition(CP_TR_COMPLETE, t, "a"), 0);
    assert_int_equal(task_state(t).status, CP_TASK_COMPLETED);
    struct agent_now now = agent_state("a");
    assert_int_equal(now.status, CP_AGENT_DRAINING);
    assert_int_equal(now.tasks_in_flight, 0);
}

struct listed {
    int answered;
    char ids[8][16];
    size_t n;
};

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct listed *l = cookie;
    l->answered++;
    assert_int_equal(res->rc, 0);
    l->n = 0;
    for (size_t i = 0; i < res->n_agents && i < 8; i++)
        strcpy(l->ids[l->n++], res->agents[i]->agent_id);
    if (res->agent) strcpy(l->ids[l->n++], res->agent->agent_id);
}

static void test_listing_and_select_follow_the_claim_rule(void **s)
{
    (void)s;
    reg_agent("a-busy", "x", 2);    /* reports busy, below its maximum */
    reg_agent("b-drained", "x", 2); /* drained by an operator */
    reg_agent("c-ready", "x", 2);
    struct ops_call call;
    struct drained d;
    ops_agent_heartbeat(&core, &call, "a-busy", CP_AGENT_BUSY, on_drained, &d);
    assert_int_equal(d.status, CP_AGENT_BUSY);
    drain("b-drained", 1);
    struct cp_agent_filter f = {.status = -1};
    struct listed l = {0};
    ops_agent_list(&core, &call, &f, 1, on_listed, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "c-ready");
    ops_agent_list(&core, &call, &f, 0, on_listed, &l);
    assert_int_equal(l.n, 3);
    struct ops_select sel = {.strategy = "least_loaded"};
    l = (struct listed){0};
    ops_agent_select(&core, &call, &sel, on_listed, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "c-ready");
    const char *ex[] = {"c-ready"};
    sel.exclude = ex;
    sel.n_exclude = 1;
    l = (struct listed){0};
    ops_agent_select(&core, &call, &sel, on_listed, &l);
    assert_int_equal(l.answered, 1);
    assert_int_equal(l.n, 0); /* nobody else may claim: no agent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drain_events_and_errors, sched_test_setup,
                                        sched_test_teardown),
        cmocka_unit_test_setup_teardown(test_held_claim_of_a_drained_agent_gets_no_task,
                                        sched_test_setup, sched_test_teardown),
        cmocka_unit_test_setup_teardown(test_drained_agent_finishes_what_it_holds, sched_test_setup,
                                        sched_test_teardown),
        cmocka_unit_test_setup_teardown(test_listing_and_select_follow_the_claim_rule,
                                        sched_test_setup, sched_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
