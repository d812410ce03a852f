/* test_storage_compat.c — core/storage_compat.c with an in-test storage plugin that answers
 * whatever result a test lays out, byte by byte as a plugin of an older minor would: events
 * strided by their shorter size with the appended member read as NULL, stats counts below the
 * host's with the rest read as 0, results and views too short for the major refused, enum
 * values the plugin's minor does not know refused before it is called, optional ops absent or
 * forwarded, and a plugin of the host's own minor used without any wrapper.
 * (tests/conformance runs the whole storage suite against memory_minor0.so through it.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cp/storage.h>

#include "plugin_loader.h"
#include "storage_compat.h"

/* ---- an in-test plugin: each op answers `next` ------------------------------------------- */

static struct {
    const struct cp_result *next; /* what the next op answers */
    int calls, destroyed, watched;
    int32_t last_status;
} fk;

static void answer(cp_storage_cb cb, void *cookie)
{
    fk.calls++;
    cb(cookie, fk.next);
}

static void fk_agent_get(void *st, const char *id, cp_storage_cb cb, void *cookie)
{
    (void)st;
    (void)id;
    answer(cb, cookie);
}
static void fk_heartbeat(void *st, const char *id, int32_t status, int64_t now, cp_storage_cb cb,
                         void *cookie)
{
    (void)st;
    (void)id;
    (void)now;
    fk.last_status = status;
    answer(cb, cookie);
}
static void fk_transition(void *st, const struct cp_transition *tr, cp_storage_cb cb, void *cookie)
{
    (void)st;
    (void)tr;
    answer(cb, cookie);
}
static void fk_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie)
{
    (void)st;
    (void)r;
    answer(cb, cookie);
}
static void fk_stats(void *st, cp_storage_cb cb, void *cookie)
{
    (void)st;
    answer(cb, cookie);
}
static void fk_watch(void *st, void (*on_change)(void *, const char *, const char *), void *arg)
{
    (void)st;
    (void)on_change;
    (void)arg;
    fk.watched++;
}
static void fk_destroy(void *st)
{
    (void)st;
    fk.destroyed++;
}

static struct cp_storage_ops fk_ops = {
    .version = CP_STORAGE_OPS_VERSION,
    .destroy = fk_destroy,
    .agent_get = fk_agent_get,
    .agent_heartbeat = fk_heartbeat,
    .task_transition = fk_transition,
    .reap = fk_reap,
    .stats = fk_stats,
    .watch = fk_watch,
};

static struct cp_plugin_descriptor fk_desc = {
    CP_ABI_MAJOR, 0, CP_BUILD_SIGNATURE, CP_PLUGIN_STORAGE, "fake_store", "1", &fk_ops};
static struct plugin fk_plugin;
static const struct cp_storage_ops *ops; /* what the core would call */

/* ---- what the host received -------------------------------------------------------------- */

static struct seen {
    int calls, rc;
    char message[256];
    struct cp_result res; /* borrowed pointers only valid inside the callback: copied below */
    struct cp_event events[4];
    char strategy[4][32];
    int strategy_null[4];
    struct cp_stats_view stats;
} seen;

static void on_result(void *cookie, const struct cp_result *r)
{
    (void)cookie;
    seen.calls++;
    seen.rc = r->rc;
    snprintf(seen.message, sizeof seen.message, "%s", r->message ? r->message : "");
    seen.res = *r;
    assert_int_equal(r->size, sizeof *r);
    for (size_t i = 0; i < r->n_events && i < 4; i++) {
        seen.events[i] = r->events[i];
        assert_int_equal(r->events[i].size, sizeof r->events[i]);
        seen.strategy_null[i] = r->events[i].strategy == NULL;
        snprintf(seen.strategy[i], sizeof seen.strategy[i], "%s",
                 r->events[i].strategy ? r->events[i].strategy : "");
    }
    if (r->stats) seen.stats = *r->stats;
}

static int setup_minor(uint32_t minor)
{
    memset(&fk, 0, sizeof fk);
    memset(&seen, 0, sizeof seen);
    fk_desc.abi_minor = minor;
    fk_plugin = (struct plugin){.path = "fake_store.so", .desc = &fk_desc, .ops = &fk_ops};
    char err[128];
    if (storage_compat_wrap(&fk_plugin, err, sizeof err) != 0) return -1;
    ops = fk_plugin.ops;
    return 0;
}

static int setup_old(void **s)
{
    (void)s;
    return setup_minor(0);
}

static int teardown(void **s)
{
    (void)s;
    ops->destroy(fk_plugin.state); /* the wrapper's, when there is one: ASan checks it is freed */
    assert_int_equal(fk.destroyed, 1);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* A 2.0 event is struct cp_event without `strategy`. */
#define EVENT_2_0 offsetof(struct cp_event, strategy)

static void test_events_strided_by_their_size(void **s)
{
    (void)s;
    assert_true(storage_compat_active(&fk_plugin));
    static const char *const caps[] = {"x"};
    unsigned char buf[3 * EVENT_2_0];
    for (int i = 0; i < 3; i++) {
        struct cp_event e = {.size = EVENT_2_0,
                             .kind = CP_EVENT_TASK_REQUEUED + i,
                             .agent_id = "a1",
                             .task_id = i == 1 ? NULL : "task_1",
                             .task_type = "t",
                             .task_status = CP_TASK_PENDING,
                             .required_capabilities = caps,
                             .n_required = 1};
        memcpy(buf + (size_t)i * EVENT_2_0, &e, EVENT_2_0); /* no strategy member at all */
    }
    /* What lies past the 2.0 events must not be read as anyone's strategy. */
    struct cp_result r = {
        .size = sizeof r, .events = (const struct cp_event *)(const void *)buf, .n_events = 3};
    fk.next = &r;
    struct cp_reap rp = {.now_ms = 1};
    ops->reap(fk_plugin.state, &rp, on_result, NULL);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.rc, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(seen.events[i].kind, CP_EVENT_TASK_REQUEUED + i);
        assert_string_equal(seen.events[i].agent_id, "a1");
        assert_int_equal(seen.events[i].task_status, CP_TASK_PENDING);
        assert_int_equal(seen.events[i].n_required, 1);
        assert_true(seen.strategy_null[i]);
    }
    assert_null(seen.events[1].task_id);
}

static void test_events_of_this_minor_pass_through(void **s)
{
    (void)s;
    struct cp_event ev[2] = {
        {.size = sizeof ev[0], .kind = CP_EVENT_TASK_TIMEOUT, .strategy = "random"},
        {.size = sizeof ev[1], .kind = CP_EVENT_AGENT_OFFLINE, .task_status = -1}};
    struct cp_result r = {.size = sizeof r, .events = ev, .n_events = 2};
    fk.next = &r;
    struct cp_reap rp = {.now_ms = 1};
    ops->reap(fk_plugin.state, &rp, on_result, NULL);
    assert_string_equal(seen.strategy[0], "random");
    assert_true(seen.strategy_null[1]);
}

static void test_malformed_sizes_refused(void **s)
{
    (void)s;
    unsigned char small[EVENT_2_0 - 8];
    memset(small, 0, sizeof small);
    uint32_t too_small = (uint32_t)sizeof small;
    memcpy(small, &too_small, sizeof too_small);
    struct cp_result r = {
        .size = sizeof r, .events = (const struct cp_event *)(const void *)small, .n_events = 1};
    fk.next = &r;
    struct cp_reap rp = {.now_ms = 1};
    ops->reap(fk_plugin.state, &rp, on_result, NULL);
    assert_int_equal(seen.rc, CP_ERR_UNAVAILABLE);
    assert_non_null(strstr(seen.message, "storage plugin 'fake_store' (ABI 2.0) returned an "
                                         "event of"));
    assert_int_equal(seen.res.n_events, 0);

    struct cp_result tiny = {.size = 8, .rc = 0};
    fk.next = &tiny;
    ops->agent_get(fk_plugin.state, "a1", on_result, NULL);
    assert_int_equal(seen.rc, CP_ERR_UNAVAILABLE);
    assert_non_null(strstr(seen.message, "returned a result of 8 bytes"));

    struct cp_agent_view half = {.size = sizeof half / 2, .agent_id = "a1"};
    struct cp_result with_agent = {.size = sizeof with_agent, .agent = &half};
    fk.next = &with_agent;
    ops->agent_get(fk_plugin.state, "a1", on_result, NULL);
    assert_int_equal(seen.rc, CP_ERR_UNAVAILABLE);
    assert_non_null(strstr(seen.message, "returned an agent view of"));
    assert_null(seen.res.agent);

    struct cp_agent_view whole = {.size = sizeof whole, .agent_id = "a1"};
    with_agent.agent = &whole;
    ops->agent_get(fk_plugin.state, "a1", on_result, NULL);
    assert_int_equal(seen.rc, 0);
    assert_ptr_equal(seen.res.agent, &whole); /* the right size: not copied */
}

static void test_stats_counts_below_the_hosts(void **s)
{
    (void)s;
    struct cp_stats_view st;
    memset(&st, 0xff, sizeof st); /* what a plugin left unfilled past its counts */
    st.size = sizeof st;
    st.n_agents_by_status = 2;
    st.n_agents_by_health = 1;
    st.n_tasks_by_status = 3;
    st.n_tasks_by_priority = 4;
    st.agents_by_status[0] = 5;
    st.agents_by_status[1] = 6;
    st.agents_by_health[0] = 7;
    for (int i = 0; i < 3; i++)
        st.tasks_by_status[i] = 10 + (uint64_t)i;
    for (int i = 0; i < 4; i++)
        st.tasks_by_priority[i] = 20 + (uint64_t)i;
    st.agents_by_capability = st.agents_by_provider = st.tasks_by_type = NULL;
    st.n_agents_by_capability = st.n_agents_by_provider = st.n_tasks_by_type = 0;
    struct cp_result r = {.size = sizeof r, .stats = &st};
    fk.next = &r;
    ops->stats(fk_plugin.state, on_result, NULL);
    assert_int_equal(seen.rc, 0);
    const struct cp_stats_view *o = &seen.stats;
    assert_int_equal(o->n_agents_by_status, CP_AGENT_STATUS_COUNT);
    assert_int_equal(o->n_tasks_by_status, CP_TASK_STATUS_COUNT);
    assert_int_equal(o->agents_by_status[1], 6);
    for (int i = 2; i < CP_AGENT_STATUS_CAP; i++)
        assert_int_equal(o->agents_by_status[i], 0);
    for (int i = 1; i < CP_HEALTH_CAP; i++)
        assert_int_equal(o->agents_by_health[i], 0);
    assert_int_equal(o->tasks_by_status[2], 12);
    for (int i = 3; i < CP_TASK_STATUS_CAP; i++)
        assert_int_equal(o->tasks_by_status[i], 0);
    assert_int_equal(o->tasks_by_priority[3], 23);

    st.n_tasks_by_status = CP_TASK_STATUS_CAP + 1;
    ops->stats(fk_plugin.state, on_result, NULL);
    assert_int_equal(seen.rc, CP_ERR_UNAVAILABLE);
    assert_non_null(strstr(seen.message, "counts exceed the capacities"));
}

static void test_unknown_enum_values_refused(void **s)
{
    (void)s;
    struct cp_result ok = {.size = sizeof ok};
    fk.next = &ok;
    ops->agent_heartbeat(fk_plugin.state, "a1", CP_AGENT_STATUS_COUNT, 1, on_result, NULL);
    assert_int_equal(fk.calls, 0); /* never reached the plugin */
    assert_int_equal(seen.rc, CP_ERR_INVALID);
    char want[128];
    snprintf(want, sizeof want,
             "storage plugin 'fake_store' (ABI 2.0) does not know agent status %d",
             CP_AGENT_STATUS_COUNT);
    assert_string_equal(seen.message, want);
    ops->agent_heartbeat(fk_plugin.state, "a1", -1, 1, on_result, NULL); /* "unchanged" */
    assert_int_equal(fk.calls, 1);
    assert_int_equal(fk.last_status, -1);
    ops->agent_heartbeat(fk_plugin.state, "a1", CP_AGENT_DRAINING, 1, on_result, NULL);
    assert_int_equal(fk.calls, 2);
    struct cp_transition tr = {.kind = CP_TR_RELEASE + 1, .task_id = "t"};
    ops->task_transition(fk_plugin.state, &tr, on_result, NULL);
    assert_int_equal(fk.calls, 2);
    assert_non_null(strstr(seen.message, "does not know transition kind 6"));
    tr.kind = CP_TR_COMPLETE;
    ops->task_transition(fk_plugin.state, &tr, on_result, NULL);
    assert_int_equal(fk.calls, 3);

    /* The tables end at the headers' counts, one entry per minor. */
    assert_int_equal(storage_compat_enum_count(COMPAT_AGENT_STATUS, CP_ABI_MINOR),
                     CP_AGENT_STATUS_COUNT);
    assert_int_equal(storage_compat_enum_count(COMPAT_TASK_STATUS, CP_ABI_MINOR),
                     CP_TASK_STATUS_COUNT);
    assert_int_equal(storage_compat_enum_count(COMPAT_PRIORITY, CP_ABI_MINOR), CP_PRIORITY_COUNT);
    assert_int_equal(storage_compat_enum_count(COMPAT_HEALTH, CP_ABI_MINOR), CP_HEALTH_COUNT);
    assert_int_equal(storage_compat_enum_count(COMPAT_CIRCUIT, CP_ABI_MINOR), CP_CIRCUIT_COUNT);
    assert_int_equal(storage_compat_enum_count(COMPAT_TRANSITION, CP_ABI_MINOR), CP_TR_RELEASE);
    assert_int_equal(storage_compat_enum_count(COMPAT_AGENT_STATUS, CP_ABI_MINOR + 1), 0);
}

static void test_optional_ops(void **s)
{
    (void)s;
    assert_non_null(ops->watch); /* the plugin has it: forwarded */
    ops->watch(fk_plugin.state, NULL, NULL);
    assert_int_equal(fk.watched, 1);
    assert_null(ops->is_available); /* the plugin lacks it: absent */
}

static int fk_status_calls;
static void fk_status(void *st, struct cp_storage_status *out)
{
    (void)st;
    fk_status_calls++;
    out->up = 1;
}

/* 2.2 appended cp_result.outcome and the status op: a 2.1 result reads as "not applied" (never
 * the bytes past its size), and status() is called only when the plugin's table has it. */
static void test_outcome_and_status_of_older_minors(void **s)
{
    (void)s;
    struct cp_result r = {.rc = CP_ERR_UNAVAILABLE, .outcome = CP_OUTCOME_UNCONFIRMED};
    r.size = (uint32_t)offsetof(struct cp_result, outcome); /* a 2.1 result */
    fk.next = &r;
    ops->agent_get(fk_plugin.state, "a1", on_result, NULL);
    assert_int_equal(seen.rc, CP_ERR_UNAVAILABLE);
    assert_int_equal(seen.res.outcome, CP_OUTCOME_NOT_APPLIED);
    assert_null(ops->status); /* fk has none */

    ops->destroy(fk_plugin.state);
    fk_ops.status = fk_status; /* a 2.2 table with status, wrapped for its older result size */
    assert_int_equal(setup_minor(1), 0);
    assert_non_null(ops->status);
    struct cp_storage_status st = {.size = sizeof st};
    ops->status(fk_plugin.state, &st);
    assert_int_equal(fk_status_calls, 1);
    assert_int_equal(st.up, 1);

    ops->destroy(fk_plugin.state);
    fk_ops.version = 1; /* a table of ops version 1 has no status member to read */
    assert_int_equal(setup_minor(1), 0);
    assert_null(ops->status);
    fk_ops.version = CP_STORAGE_OPS_VERSION;
    fk_ops.status = NULL;
}

static void test_this_minor_is_not_wrapped(void **s)
{
    (void)s;
    assert_int_equal(setup_minor(CP_ABI_MINOR), 0);
    assert_false(storage_compat_active(&fk_plugin));
    assert_ptr_equal(ops, &fk_ops);
    assert_null(fk_plugin.state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_strided_by_their_size, setup_old, teardown),
        cmocka_unit_test_setup_teardown(test_events_of_this_minor_pass_through, setup_old,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_sizes_refused, setup_old, teardown),
        cmocka_unit_test_setup_teardown(test_stats_counts_below_the_hosts, setup_old, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_enum_values_refused, setup_old, teardown),
        cmocka_unit_test_setup_teardown(test_optional_ops, setup_old, teardown),
        cmocka_unit_test_setup_teardown(test_outcome_and_status_of_older_minors, setup_old,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_this_minor_is_not_wrapped, NULL, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
