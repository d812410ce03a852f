/* test_strategies.c — the built-in selection strategies, loaded from their real .so files.
 *
 * The plugins are opened with dlopen()/dlsym() here (not through core's loader) and given a
 * minimal host table, so this tests exactly the contract of sdk/include/cp/selection.h and
 * CONTRACT §6: least_loaded's order and each tie-break, round_robin's per-capability-set
 * cursors, random's uniformity (chi-square).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cp/selection.h>

#include "plugin_dl.h"

struct loaded {
    void *dl;
    const struct cp_selection_ops *ops;
    void *state;
};

static struct loaded load(const char *name)
{
    struct loaded l = {0};
    l.ops = dl_open_plugin(name, CP_PLUGIN_SELECTION, &l.dl)->ops;
    assert_int_equal(l.ops->version, CP_SELECTION_OPS_VERSION);
    struct cp_err err = {{0}};
    assert_int_equal(l.ops->create(&dl_host, &l.state, &err), 0); /* dl_base NULL: no loop */
    return l;
}

static void unload(struct loaded *l)
{
    l->ops->destroy(l->state);
    dlclose(l->dl);
}

static int pick(struct loaded *l, struct cp_agent_view *agents, size_t n, const char *key)
{
    const struct cp_agent_view *list[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        list[i] = &agents[i];
    struct cp_selection_ctx ctx = {.capability_key = key, .now_ms = 1700000000000};
    int r = l->ops->select(l->state, list, n, &ctx);
    assert_in_range(r, 0, (int)n - 1);
    return r;
}

static struct cp_agent_view agent(const char *id, uint32_t in_flight, uint64_t completed,
                                  int64_t last_assigned)
{
    return (struct cp_agent_view){.size = sizeof(struct cp_agent_view),
                                  .agent_id = id,
                                  .status = CP_AGENT_READY,
                                  .metadata_json = "{}",
                                  .max_concurrent_tasks = 4,
                                  .tasks_in_flight = in_flight,
                                  .tasks_completed = completed,
                                  .last_assigned_ms = last_assigned};
}

static void test_least_loaded_order(void **unused)
{
    (void)unused;
    struct loaded l = load("least_loaded");
    /* 1. fewest in flight wins over everything else */
    struct cp_agent_view a[] = {agent("a", 2, 0, 0), agent("b", 1, 900, 5000), agent("c", 3, 0, 0)};
    assert_int_equal(pick(&l, a, 3, ""), 1);
    /* 2. in-flight tie: fewest completed */
    struct cp_agent_view b[] = {agent("a", 1, 7, 0), agent("b", 1, 3, 9000), agent("c", 1, 5, 0)};
    assert_int_equal(pick(&l, b, 3, ""), 1);
    /* 3. tie again: least recently assigned; 0 (never) first */
    struct cp_agent_view c[] = {agent("a", 0, 2, 3000), agent("b", 0, 2, 0),
                                agent("c", 0, 2, 1000)};
    assert_int_equal(pick(&l, c, 3, ""), 1);
    struct cp_agent_view d[] = {agent("a", 0, 2, 3000), agent("b", 0, 2, 2000),
                                agent("c", 0, 2, 1000)};
    assert_int_equal(pick(&l, d, 3, ""), 2);
    /* 4. complete tie: agent_id order (also when handed an unsorted list) */
    struct cp_agent_view e[] = {agent("a", 0, 0, 0), agent("b", 0, 0, 0)};
    assert_int_equal(pick(&l, e, 2, ""), 0);
    struct cp_agent_view f[] = {agent("m", 0, 0, 0), agent("k", 0, 0, 0), agent("z", 0, 0, 0)};
    assert_int_equal(pick(&l, f, 3, ""), 1);
    /* a single candidate */
    assert_int_equal(pick(&l, f, 1, ""), 0);
    /* stateless: same input, same answer */
    for (int i = 0; i < 10; i++)
        assert_int_equal(pick(&l, b, 3, "x"), 1);
    unload(&l);
}

static void test_round_robin_each_once(void **unused)
{
    (void)unused;
    struct loaded l = load("round_robin");
    struct cp_agent_view a[] = {agent("a1", 0, 0, 0), agent("a2", 3, 0, 0), agent("a3", 0, 9, 0),
                                agent("a4", 0, 0, 0), agent("a5", 1, 0, 0)};
    for (int round = 0; round < 3; round++) {
        int seen[5] = {0};
        for (int i = 0; i < 5; i++) {
            int r = pick(&l, a, 5, "code");
            seen[r]++;
            assert_int_equal(r, i); /* stable agent_id order, restarting after the last */
        }
        for (int i = 0; i < 5; i++)
            assert_int_equal(seen[i], 1);
    }
    unload(&l);
}

static void test_round_robin_cursor_per_key(void **unused)
{
    (void)unused;
    struct loaded l = load("round_robin");
    struct cp_agent_view a[] = {agent("a", 0, 0, 0), agent("b", 0, 0, 0), agent("c", 0, 0, 0)};
    /* Interleaved calls for two capability sets do not disturb each other. */
    assert_int_equal(pick(&l, a, 3, "code"), 0);
    assert_int_equal(pick(&l, a, 3, "code"), 1);
    assert_int_equal(pick(&l, a, 3, "code,debate"), 0);
    assert_int_equal(pick(&l, a, 3, ""), 0);
    assert_int_equal(pick(&l, a, 3, "code"), 2);
    assert_int_equal(pick(&l, a, 3, "code,debate"), 1);
    assert_int_equal(pick(&l, a, 3, "code"), 0);
    assert_int_equal(pick(&l, a, 3, ""), 1);
    /* A NULL key is the empty set. */
    const struct cp_agent_view *list[] = {&a[0], &a[1], &a[2]};
    struct cp_selection_ctx ctx = {.capability_key = NULL};
    assert_int_equal(l.ops->select(l.state, list, 3, &ctx), 2);
    unload(&l);
}

static void test_round_robin_list_changes(void **unused)
{
    (void)unused;
    struct loaded l = load("round_robin");
    struct cp_agent_view all[] = {agent("a", 0, 0, 0), agent("b", 0, 0, 0), agent("c", 0, 0, 0),
                                  agent("d", 0, 0, 0)};
    struct cp_agent_view no_a[] = {all[1], all[2], all[3]};
    struct cp_agent_view no_b[] = {all[0], all[2], all[3]};
    /* The cursor is an agent_id, not an index: a changing list still visits each once. */
    assert_string_equal(all[pick(&l, all, 4, "k")].agent_id, "a");
    assert_string_equal(no_a[pick(&l, no_a, 3, "k")].agent_id, "b");
    assert_string_equal(no_b[pick(&l, no_b, 3, "k")].agent_id, "c");
    assert_string_equal(all[pick(&l, all, 4, "k")].agent_id, "d");
    assert_string_equal(no_a[pick(&l, no_a, 3, "k")].agent_id, "b"); /* wraps past missing a */
    /* The agent chosen last left: continue after its id. */
    struct cp_agent_view no_c[] = {all[0], all[1], all[3]};
    assert_string_equal(all[pick(&l, all, 4, "k")].agent_id, "c");
    assert_string_equal(no_c[pick(&l, no_c, 3, "k")].agent_id, "d");
    unload(&l);
}

static void test_round_robin_bounded_keys(void **unused)
{
    (void)unused;
    struct loaded l = load("round_robin");
    struct cp_agent_view a[] = {agent("a", 0, 0, 0), agent("b", 0, 0, 0)};
    assert_int_equal(pick(&l, a, 2, "first"), 0);
    assert_int_equal(pick(&l, a, 2, "kept"), 0);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        pick(&l, a, 2, key);
        if (i % 1000 == 0) assert_int_equal(pick(&l, a, 2, "kept"), (i / 1000 + 1) % 2);
    }
    /* "first" was the least recently used key and has been forgotten: it starts over. */
    assert_int_equal(pick(&l, a, 2, "first"), 0);
    unload(&l); /* ASan/LSan: the evicted cursors were freed */
}

static void check_uniform(struct loaded *l, size_t n, int picks, double critical)
{
    struct cp_agent_view a[8];
    char ids[8][24];
    int counts[8] = {0};
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "r%zu", i);
        a[i] = agent(ids[i], 0, 0, 0);
    }
    for (int i = 0; i < picks; i++)
        counts[pick(l, a, n, "")]++;
    double expected = (double)picks / (double)n, chi2 = 0;
    for (size_t i = 0; i < n; i++)
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    if (chi2 >= critical) fail_msg("chi-square %.2f >= %.3f for n=%zu", chi2, critical, n);
}

static void test_random_uniform(void **unused)
{
    (void)unused;
    struct loaded l = load("random");
    /* Critical values of chi-square at p = 0.001: df 4 -> 18.467, df 2 -> 13.816. A correct
     * generator fails this one time in a thousand. */
    check_uniform(&l, 5, 10000, 18.467);
    check_uniform(&l, 3, 10000, 13.816);
    struct cp_agent_view one[] = {agent("only", 0, 0, 0)};
    for (int i = 0; i < 100; i++)
        assert_int_equal(pick(&l, one, 1, ""), 0);
    unload(&l);
}

static void test_random_instances_differ(void **unused)
{
    (void)unused;
    /* Seeded from getrandom(): two instances do not produce the same sequence. */
    struct loaded l1 = load("random"), l2 = load("random");
    struct cp_agent_view a[8];
    char ids[8][24];
    for (int i = 0; i < 8; i++) {
        snprintf(ids[i], sizeof(ids[i]), "r%d", i);
        a[i] = agent(ids[i], 0, 0, 0);
    }
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += pick(&l1, a, 8, "") == pick(&l2, a, 8, "");
    assert_true(same < 64); /* chance of a false failure: 8^-64 */
    unload(&l1);
    unload(&l2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_least_loaded_order),
        cmocka_unit_test(test_round_robin_each_once),
        cmocka_unit_test(test_round_robin_cursor_per_key),
        cmocka_unit_test(test_round_robin_list_changes),
        cmocka_unit_test(test_round_robin_bounded_keys),
        cmocka_unit_test(test_random_uniform),
        cmocka_unit_test(test_random_instances_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
