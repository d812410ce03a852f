/* t_affinity.c — conformance (ABI 2.4, optional ops): prompt-cache affinity's key -> agent
 * memory. affinity_set remembers an agent for a key until now + ttl, a later set replaces it,
 * affinity_get answers it (NULL for a key never set or past its TTL), and malformed arguments
 * are refused with CP_ERR_INVALID. Times are real (Redis expires keys on its own clock). A
 * backend without the ops (memory_minor0) skips these: nothing is remembered. */
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

const struct CMUnitTest conformance_affinity_tests[] = {
    CX_TEST(affinity_set_get_replace),
    CX_TEST(affinity_expires_with_its_ttl),
    CX_TEST(affinity_refuses_malformed_arguments),
};
const size_t conformance_affinity_count =
    sizeof conformance_affinity_tests / sizeof *conformance_affinity_tests;
