/* test_memory_order.c — the memory backend's ordered agent indexes (memory_order.c) against a
 * brute-force model: thousands of agents registered, re-registered with other capabilities,
 * given other statuses and unregistered in a seeded random order, and after every batch
 * agent_list with each kind of filter must return exactly the matching agents, sorted by
 * agent_id. Also: a capability nobody has, and the last holder of a capability leaving. The
 * memory sources are compiled into this test; ASan checks that every node is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cp/storage.h>

extern const struct cp_plugin_descriptor cp_plugin_descriptor;

#define N_AGENTS 3000
#define N_CAPS 6
#define ROUNDS 12

static const struct cp_storage_ops *ops;
static void *st;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* The model: who is registered, with which capabilities (bit c = "c<c>") and status. */
static struct {
    char id[16];
    int present;
    unsigned caps;
    int32_t status;
} model[N_AGENTS];

static const char *cap_names[N_CAPS] = {"c0", "c1", "c2", "c3", "c4", "c5"};

/* Skewed: c0 on most agents, c5 on very few, so "the rarest capability" matters. */
static unsigned random_caps(void)
{
    static const uint32_t per_mille[N_CAPS] = {900, 500, 250, 100, 30, 5};
    unsigned m = 0;
    for (int c = 0; c < N_CAPS; c++)
        if (rnd(1000) < per_mille[c]) m |= 1u << c;
    return m;
}

/* What the last op answered, copied in its callback (results are borrowed). */
static int last_rc;
static int32_t last_status;
static size_t last_n, last_total;
static char last_ids[N_AGENTS + 2][16];

static void on_result(void *cookie, const struct cp_result *res)
{
    (void)cookie;
    last_rc = res->rc;
    last_status = res->agent ? res->agent->status : -1;
    last_n = res->n_agents;
    last_total = res->total;
    for (size_t i = 0; i < res->n_agents && i < N_AGENTS + 2; i++)
        snprintf(last_ids[i], sizeof last_ids[i], "%s", res->agents[i]->agent_id);
}

static void do_register(int i)
{
    const char *caps[N_CAPS];
    uint32_t n = 0;
    for (int c = 0; c < N_CAPS; c++)
        if (model[i].caps & (1u << c)) caps[n++] = cap_names[c];
    struct cp_agent_view in;
    memset(&in, 0, sizeof in);
    in.agent_id = model[i].id;
    in.capabilities = caps;
    in.n_capabilities = n;
    in.max_concurrent_tasks = 1;
    ops->agent_register(st, &in, 1000, on_result, NULL);
    assert_int_equal(last_rc, 0);
    model[i].present = 1;
    model[i].status = CP_AGENT_READY;
}

static void do_unregister(int i)
{
    ops->agent_unregister(st, model[i].id, 2000, on_result, NULL);
    assert_int_equal(last_rc, 0);
    model[i].present = 0;
}

static void do_status(int i, int32_t status)
{
    ops->agent_heartbeat(st, model[i].id, status, 3000, on_result, NULL);
    assert_int_equal(last_rc, 0);
    model[i].status = last_status;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* agent_list(need, status) equals the model's answer, in agent_id order. */
static void check_list(unsigned need, int32_t status)
{
    const char *caps[N_CAPS];
    uint32_t n = 0;
    for (int c = 0; c < N_CAPS; c++)
        if (need & (1u << c)) caps[n++] = cap_names[c];
    struct cp_agent_filter f = {.capabilities = caps, .n_capabilities = n, .status = status};
    ops->agent_list(st, &f, on_result, NULL);
    assert_int_equal(last_rc, 0);
    static const char *want[N_AGENTS];
    size_t k = 0;
    for (int i = 0; i < N_AGENTS; i++)
        if (model[i].present && (model[i].caps & need) == need &&
            (status < 0 || model[i].status == status))
            want[k++] = model[i].id;
    qsort(want, k, sizeof *want, cmp_str);
    if (last_n != k)
        fail_msg("filter caps=%#x status=%d: %zu agents, want %zu", need, status, last_n, k);
    assert_int_equal(last_total, k);
    for (size_t j = 0; j < k; j++)
        if (strcmp(last_ids[j], want[j]) != 0)
            fail_msg("filter caps=%#x status=%d: agent %zu is %s, want %s", need, status, j,
                     last_ids[j], want[j]);
}

static void check_all_filters(void)
{
    check_list(0, -1);
    for (int c = 0; c < N_CAPS; c++)
        check_list(1u << c, -1);
    check_list(1u << 0 | 1u << 5, -1);
    check_list(1u << 1 | 1u << 2 | 1u << 3, -1);
    check_list(1u << 0, CP_AGENT_DRAINING);
    check_list(0, CP_AGENT_READY);
}

static int setup(void **state)
{
    (void)state;
    ops = cp_plugin_descriptor.ops;
    struct cp_err err;
    assert_int_equal(ops->create(NULL, &st, &err), 0);
    for (int i = 0; i < N_AGENTS; i++) {
        /* Ids that do not arrive in sorted order, of different lengths. */
        snprintf(model[i].id, sizeof model[i].id, "ag-%u-%d", (unsigned)rnd(100000), i);
        model[i].present = 0;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ops->destroy(st);
    st = NULL;
    return 0;
}

static void random_walk_matches_model(void **state)
{
    (void)state;
    for (int i = 0; i < N_AGENTS; i++) {
        model[i].caps = random_caps();
        do_register(i);
    }
    check_all_filters();
    for (int round = 0; round < ROUNDS; round++) {
        for (int step = 0; step < N_AGENTS / 2; step++) {
            int i = (int)rnd(N_AGENTS);
            uint32_t what = rnd(10);
            if (!model[i].present) {
                model[i].caps = random_caps();
                do_register(i);
            } else if (what < 3) {
                model[i].caps = random_caps(); /* re-register: other capabilities */
                do_register(i);
            } else if (what < 6) {
                do_unregister(i);
            } else {
                do_status(i, what < 8 ? CP_AGENT_DRAINING : CP_AGENT_READY);
            }
        }
        check_all_filters();
    }
}

static void missing_and_vanishing_capabilities(void **state)
{
    (void)state;
    check_list(1u << 5, -1); /* empty store */
    model[0].caps = 1u << 5;
    do_register(0);
    model[1].caps = 1u << 0 | 1u << 5;
    do_register(1);
    check_list(1u << 5, -1);
    check_list(1u << 0 | 1u << 5, -1);
    /* A capability no agent has ever had. */
    const char *none[] = {"zz-nobody"};
    struct cp_agent_filter f = {.capabilities = none, .n_capabilities = 1, .status = -1};
    ops->agent_list(st, &f, on_result, NULL);
    assert_int_equal(last_rc, 0);
    assert_int_equal(last_n, 0);
    /* The last holders of c5 leave (one by re-registering without it): its set goes away. */
    model[0].caps = 1u << 1;
    do_register(0);
    do_unregister(1);
    check_list(1u << 5, -1);
    check_list(1u << 1, -1);
    model[1].caps = 1u << 5; /* and comes back */
    do_register(1);
    check_list(1u << 5, -1);
    check_list(0, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(random_walk_matches_model, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_and_vanishing_capabilities, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
