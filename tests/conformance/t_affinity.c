/* t_affinity.c — conformance (ABI 2.4, optional ops): prompt-cache affinity's key -> agent
 * memory. affinity_set remembers an agent for a key until now + ttl, a later set replaces it,
 * affinity_get answers it (NULL for a key never set or past its TTL), and malformed arguments
 * are refused with CP_ERR_INVALID. Affinity holds: a submitted task with a key is held for the
 * remembered agent (when it may have it): other agents' claims skip it until the hold ends
 * (then anyone may take it), the warm agent's claim takes it before older tasks. Times are real
 * (Redis expires keys on its own clock). A backend without the ops (memory_minor0) skips
 * these: nothing is remembered. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"

#define REQUIRE_AFFINITY()                                                                         \
    do {                                                                                           \
        if (!cx_has_affinity()) {                                                                  \
            print_message("affinity_get/affinity_set not provided: nothing is remembered\n");      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static int64_t real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_ok(const char *key, const char *agent, int64_t ttl_ms)
{
    struct cp_affinity a = {.key = key, .agent_id = agent, .ttl_ms = ttl_ms, .now_ms = real_now()};
    assert_rc(op_affinity_set(&a), 0);
}

static void assert_remembered(const char *key, const char *agent)
{
    const struct cp_result *r = op_affinity_get(key, real_now());
    assert_rc(r, 0);
    if (!agent) {
        assert_null(r->affinity_agent);
    } else {
        assert_non_null(r->affinity_agent);
        assert_string_equal(r->affinity_agent, agent);
    }
}

static void affinity_set_get_replace(void **state)
{
    (void)state;
    REQUIRE_AFFINITY();
    assert_remembered("conv-1", NULL);
    set_ok("conv-1", "agent-a", 60000);
    set_ok("conv:2/x@y", "agent-b", 60000);
    assert_remembered("conv-1", "agent-a");
    assert_remembered("conv:2/x@y", "agent-b");
    set_ok("conv-1", "agent-c", 60000); /* the agent that completed it last */
    assert_remembered("conv-1", "agent-c");
    assert_remembered("conv-3", NULL);
}

static void affinity_expires_with_its_ttl(void **state)
{
    (void)state;
    REQUIRE_AFFINITY();
    set_ok("short", "agent-a", 150);
    set_ok("long", "agent-b", 60000);
    assert_remembered("short", "agent-a");
    usleep(400 * 1000);
    assert_remembered("short", NULL);
    assert_remembered("long", "agent-b");
    set_ok("short", "agent-d", 60000); /* set again after it expired */
    assert_remembered("short", "agent-d");
}

static void affinity_refuses_malformed_arguments(void **state)
{
    (void)state;
    REQUIRE_AFFINITY();
    int64_t now = real_now();
    struct cp_affinity bad[] = {
        {.key = "", .agent_id = "a", .ttl_ms = 1000, .now_ms = now},
        {.key = "k", .agent_id = "", .ttl_ms = 1000, .now_ms = now},
        {.key = "k", .agent_id = NULL, .ttl_ms = 1000, .now_ms = now},
        {.key = "k", .agent_id = "a", .ttl_ms = 0, .now_ms = now},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_rc(op_affinity_set(&bad[i]), CP_ERR_INVALID);
    assert_remembered("k", NULL); /* nothing was stored */
    assert_rc(op_affinity_get("", now), CP_ERR_INVALID);
}

/* ---- affinity holds (storage.h, "Affinity holds") ---- */

#define HOLD_MS 5000

/* Submit task n (capabilities caps_csv) at `at`; with a key, held for HOLD_MS when the store
 * says so. Returns the submit's next_due_ms (the hold's end, 0: not held). */
static int64_t submit_keyed(unsigned n, const char *caps_csv, const char *key, int64_t at)
{
    struct cp_task_view t = task_in(tid(n), caps_csv, CP_PRIORITY_NORMAL, at);
    t.affinity_key = key;
    t.affinity_hold_ms = key ? HOLD_MS : 0;
    const struct cp_result *r = op_submit(&t);
    assert_rc(r, 0);
    return r->next_due_ms;
}

static void hold_setup(int64_t now)
{
    reg("warm", "x", 1, now);
    reg("other", "x", 1, now);
    set_ok("conv-h", "warm", 600000);
}

static void affinity_hold_respected_until_it_ends(void **state)
{
    (void)state;
    REQUIRE_AFFINITY();
    int64_t now = real_now();
    hold_setup(now);
    assert_int_equal(submit_keyed(1, "x", "conv-h", now + 1), now + 1 + HOLD_MS);
    /* another agent's claim skips it and says when the hold ends */
    const struct cp_result *r = op_claim("other", NULL, now + 2);
    assert_rc(r, 0);
    assert_null(r->task);
    assert_int_equal(r->next_due_ms, now + 1 + HOLD_MS);
    assert_string_equal(claim_id("warm", now + 3), tid(1)); /* the warm agent takes it */
    /* a second turn: past its hold's end anyone may take it (nothing starves) */
    assert_int_equal(submit_keyed(2, "x", "conv-h", now + 10), now + 10 + HOLD_MS);
    assert_null(claim("other", now + 9 + HOLD_MS));
    assert_string_equal(claim_id("other", now + 11 + HOLD_MS), tid(2));
}

static void affinity_hold_warm_agent_finds_it_behind_older_tasks(void **state)
{
    (void)state;
    REQUIRE_AFFINITY();
    int64_t now = real_now();
    hold_setup(now);
    reg("big", "x", 4, now);
    assert_int_equal(submit_keyed(1, "x", NULL, now), 0);
    assert_int_equal(submit_keyed(2, "x", NULL, now + 1), 0);
    assert_true(submit_keyed(3, "x", "conv-h", now + 2) > 0);
    assert_int_equal(submit_keyed(4, "x", NULL, now + 3), 0);
    assert_string_equal(claim_id("warm", now + 4), tid(3)); /* before the two older tasks */
    /* the others serve the queue in order, the held task no longer in it */
    assert_string_equal(claim_id("big", now + 5), tid(1));
    assert_string_equal(claim_id("big", now + 6), tid(2));
    assert_string_equal(claim_id("big", now + 7), tid(4));
    assert_null(claim("big", now + 8));
    /* a held task skipped by others does not hide the tasks behind it */
    assert_true(submit_keyed(5, "x", "conv-h", now + 20) > 0);
    assert_int_equal(submit_keyed(6, "x", NULL, now + 21), 0);
    assert_string_equal(claim_id("big", now + 22), tid(6));
    tr_ok(CP_TR_COMPLETE, tid(3), "warm", now + 23);
    assert_string_equal(claim_id("warm", now + 24), tid(5));
}

static void affinity_hold_only_when_the_agent_may_have_it(void **state)
{
    (void)state;
    REQUIRE_AFFINITY();
    int64_t now = real_now();
    hold_setup(now);
    reg("ycap", "y", 1, now);
    set_ok("conv-y", "ycap", 600000);
    set_ok("conv-gone", "nobody", 600000);
    assert_int_equal(submit_keyed(1, "x", "conv-unknown", now), 0); /* nothing remembered */
    assert_int_equal(submit_keyed(2, "x", "conv-gone", now), 0);    /* agent not registered */
    assert_int_equal(submit_keyed(3, "x", "conv-y", now), 0);       /* lacks the capability */
    /* the load bound: in flight + held below 2 x max_concurrent_tasks (1 here) */
    assert_true(submit_keyed(4, "x", "conv-h", now + 1) > 0);
    assert_true(submit_keyed(5, "x", "conv-h", now + 2) > 0);
    assert_int_equal(submit_keyed(6, "x", "conv-h", now + 3), 0);
    /* tasks 1-3 and 6 are anyone's; 4 and 5 are the warm agent's, 4 first */
    assert_string_equal(claim_id("other", now + 4), tid(1));
    assert_string_equal(claim_id("warm", now + 5), tid(4));
    tr_ok(CP_TR_COMPLETE, tid(4), "warm", now + 6);
    assert_string_equal(claim_id("warm", now + 7), tid(5));
    /* a draining agent gets no hold */
    tr_ok(CP_TR_COMPLETE, tid(5), "warm", now + 9);
    if (cx_has_drain()) {
        assert_rc(op_drain("warm", 1, now + 10), 0);
        assert_int_equal(submit_keyed(7, "x", "conv-h", now + 11), 0);
    }
}

const struct CMUnitTest conformance_affinity_tests[] = {
    CX_TEST(affinity_hold_respected_until_it_ends),
    CX_TEST(affinity_hold_warm_agent_finds_it_behind_older_tasks),
    CX_TEST(affinity_hold_only_when_the_agent_may_have_it),
    CX_TEST(affinity_set_get_replace),
    CX_TEST(affinity_expires_with_its_ttl),
    CX_TEST(affinity_refuses_malformed_arguments),
};
const size_t conformance_affinity_count =
    sizeof conformance_affinity_tests / sizeof *conformance_affinity_tests;
