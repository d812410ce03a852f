/* test_redis_agent_cache.c — the agent cache's store (redis_agent_cache.c): records copied whole
 * (the caller's strings may go), replaced in place, listed in agent_id order with agent_list's
 * filters, deleted, swept by load generation, and its memory count back to zero when empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_agent_cache.h"

struct got {
    size_t n;
    char ids[64][32];
    int32_t status[64];
    uint32_t inflight[64];
    char cap0[64][32];
};

static void collect(void *arg, const struct cp_result *res)
{
    struct got *g = arg;
    assert_int_equal(res->rc, 0);
    assert_int_equal(res->total, res->n_agents);
    g->n = res->n_agents;
    assert_true(g->n <= 64);
    for (size_t i = 0; i < g->n; i++) {
        snprintf(g->ids[i], sizeof g->ids[i], "%s", res->agents[i]->agent_id);
        g->status[i] = res->agents[i]->status;
        g->inflight[i] = res->agents[i]->tasks_in_flight;
        snprintf(g->cap0[i], sizeof g->cap0[i], "%s",
                 res->agents[i]->n_capabilities ? res->agents[i]->capabilities[0] : "");
    }
}

/* Puts agent `id` from strings on the heap that are wiped right after (the store must copy). */
static void put(struct rs_acache *c, const char *id, const char *cap, int32_t status,
                uint32_t inflight, int32_t health, uint64_t gen)
{
    char *idc = strdup(id), *capc = cap ? strdup(cap) : NULL, *md = strdup("{\"k\":1}");
    const char *caps[1] = {capc};
    struct cp_agent_view v = {.size = sizeof v,
                              .agent_id = idc,
                              .capabilities = cap ? caps : NULL,
                              .n_capabilities = cap ? 1 : 0,
                              .status = status,
                              .metadata_json = md,
                              .model = "m",
                              .max_concurrent_tasks = 4,
                              .tasks_in_flight = inflight};
    v.health.status = health;
    v.health.error = "probe error";
    assert_int_equal(rs_acache_put(c, &v, gen), 0);
    memset(idc, 'X', strlen(idc));
    if (capc) memset(capc, 'X', strlen(capc));
    free(idc);
    free(capc);
    free(md);
}

static void list(const struct rs_acache *c, const struct cp_agent_filter *f, struct got *g)
{
    memset(g, 0, sizeof *g);
    assert_int_equal(rs_acache_list(c, f, collect, g), 0);
}

static void test_order_filters_and_copies(void **state)
{
    (void)state;
    struct rs_acache c;
    memset(&c, 0, sizeof c);
    put(&c, "b", "gpu", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 1);
    put(&c, "d", "cpu", CP_AGENT_BUSY, 4, CP_HEALTH_DEGRADED, 1);
    put(&c, "a", "gpu", CP_AGENT_OFFLINE, 0, CP_HEALTH_UNHEALTHY, 1);
    put(&c, "c", NULL, CP_AGENT_READY, 1, CP_HEALTH_HEALTHY, 1);
    struct got g;
    list(&c, NULL, &g);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.ids[0], "a");
    assert_string_equal(g.ids[1], "b");
    assert_string_equal(g.ids[2], "c");
    assert_string_equal(g.ids[3], "d");
    assert_string_equal(g.cap0[1], "gpu"); /* copied: the caller's string was wiped */
    const char *gpu[1] = {"gpu"};
    struct cp_agent_filter f = {.capabilities = gpu, .n_capabilities = 1, .status = -1};
    list(&c, &f, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "a");
    assert_string_equal(g.ids[1], "b");
    f.status = CP_AGENT_READY;
    list(&c, &f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ids[0], "b");
    struct cp_agent_filter h = {.status = -1, .health_mask = 1u << CP_HEALTH_DEGRADED};
    list(&c, &h, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ids[0], "d");
    struct cp_agent_filter after = {.status = -1, .after = "b"};
    list(&c, &after, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "c");
    after.after = "bb"; /* not an agent: from the next one */
    list(&c, &after, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "c");
    struct cp_agent_view *v = rs_acache_get(&c, "c");
    assert_non_null(v);
    assert_string_equal(v->metadata_json, "{\"k\":1}");
    assert_string_equal(v->health.error, "probe error");
    /* quota_scopes (2.4) are copied too */
    char *prov = strdup("openai"), *key = strdup("k1");
    struct cp_quota_scope sc[2] = {{prov, NULL, key}, {"anthropic", "opus", NULL}};
    struct cp_agent_view s = {.size = sizeof s,
                              .agent_id = "s",
                              .metadata_json = "{}",
                              .quota_scopes = sc,
                              .n_quota_scopes = 2};
    assert_int_equal(rs_acache_put(&c, &s, 1), 0);
    memset(prov, 'X', strlen(prov));
    memset(key, 'X', strlen(key));
    free(prov);
    free(key);
    v = rs_acache_get(&c, "s");
    assert_non_null(v);
    assert_int_equal(v->n_quota_scopes, 2);
    assert_string_equal(v->quota_scopes[0].provider, "openai");
    assert_null(v->quota_scopes[0].model);
    assert_string_equal(v->quota_scopes[0].key_id, "k1");
    assert_string_equal(v->quota_scopes[1].model, "opus");
    assert_null(rs_acache_get(&c, "zz"));
    rs_acache_clear(&c);
}

static void test_replace_delete_sweep(void **state)
{
    (void)state;
    struct rs_acache c;
    memset(&c, 0, sizeof c);
    put(&c, "x", "gpu", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 1);
    put(&c, "y", "gpu", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 1);
    put(&c, "x", "cpu", CP_AGENT_BUSY, 3, CP_HEALTH_HEALTHY, 2); /* in place */
    struct got g;
    list(&c, NULL, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "x");
    assert_int_equal(g.status[0], CP_AGENT_BUSY);
    assert_int_equal(g.inflight[0], 3);
    assert_string_equal(g.cap0[0], "cpu");
    /* A load of generation 2 saw x only: y goes. */
    assert_int_equal(rs_acache_sweep(&c, 2), 1);
    list(&c, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ids[0], "x");
    assert_int_equal(rs_acache_del(&c, "x"), 1);
    assert_int_equal(rs_acache_del(&c, "x"), 0);
    list(&c, NULL, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(c.n, 0);
    rs_acache_clear(&c);
}

/* Many agents in random order, deletions in between: always sorted, every id found, the
 * memory count back to the tables alone once everything is deleted. */
static void test_many(void **state)
{
    (void)state;
    struct rs_acache c;
    memset(&c, 0, sizeof c);
    enum { N = 5000 };
    char id[32];
    unsigned r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        snprintf(id, sizeof id, "agent-%05u", (r >> 8) % 100000);
        put(&c, id, "gpu", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 1);
        if (i % 7 == 0) rs_acache_del(&c, id);
    }
    for (size_t i = 1; i < c.n; i++)
        assert_true(strcmp(c.sorted[i - 1]->v.agent_id, c.sorted[i]->v.agent_id) < 0);
    for (size_t i = 0; i < c.n; i++)
        assert_ptr_equal(rs_acache_get(&c, c.sorted[i]->v.agent_id), &c.sorted[i]->v);
    size_t tables = c.n_buckets * sizeof *c.buckets + c.cap_sorted * sizeof *c.sorted +
                    c.n_cap_buckets * sizeof *c.cap_buckets;
    while (c.n) {
        snprintf(id, sizeof id, "%s", c.sorted[c.n / 2]->v.agent_id);
        assert_int_equal(rs_acache_del(&c, id), 1);
    }
    assert_int_equal(c.n_caps, 0); /* every capability list went with its last agent */
    assert_int_equal(c.bytes, tables);
    rs_acache_clear(&c);
}

/* Capability lists: a list asking for a capability walks that capability's agents only, an
 * agent re-put with other capabilities moves between lists, a capability nobody has lists
 * nothing, and a sweep leaves no list pointing at a freed agent. */
static void test_capability_lists(void **state)
{
    (void)state;
    struct rs_acache c;
    memset(&c, 0, sizeof c);
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "n%03d", i);
        put(&c, id, i % 100 == 0 ? "rare" : "common", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 1);
    }
    const char *rare[1] = {"rare"}, *none[1] = {"nobody"}, *common[1] = {"common"};
    struct cp_agent_filter f = {.capabilities = rare, .n_capabilities = 1, .status = -1};
    struct got g;
    list(&c, &f, &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.ids[0], "n000");
    assert_string_equal(g.ids[2], "n200");
    f.after = "n000";
    list(&c, &f, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "n100");
    f.after = NULL;
    put(&c, "n100", "common", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 2); /* moves */
    put(&c, "n001", "rare", CP_AGENT_READY, 0, CP_HEALTH_HEALTHY, 2);
    list(&c, &f, &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.ids[0], "n000");
    assert_string_equal(g.ids[1], "n001");
    assert_string_equal(g.ids[2], "n200");
    f.capabilities = none;
    list(&c, &f, &g);
    assert_int_equal(g.n, 0);
    /* Generation 2 saw n100 and n001 only: everything else goes, lists included. */
    assert_int_equal(rs_acache_sweep(&c, 2), 298);
    f.capabilities = common;
    list(&c, &f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ids[0], "n100");
    f.capabilities = rare;
    list(&c, &f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ids[0], "n001");
    assert_int_equal(c.n_caps, 2);
    rs_acache_clear(&c);
}

/* The own-change ring: a change is matched once, on all of task, attempt and status; the oldest
 * are pushed out. */
static void test_own_changes(void **state)
{
    (void)state;
    static struct rs_own o;
    rs_own_add(&o, "task_1", 1, 1);
    assert_int_equal(rs_own_take(&o, "task_1", 1, 2), 0); /* another status: another change */
    assert_int_equal(rs_own_take(&o, "task_1", 2, 1), 0); /* another attempt */
    assert_int_equal(rs_own_take(&o, "task_2", 1, 1), 0);
    assert_int_equal(rs_own_take(&o, NULL, 1, 1), 0);
    assert_int_equal(rs_own_take(&o, "task_1", 1, 1), 1);
    assert_int_equal(rs_own_take(&o, "task_1", 1, 1), 0); /* taken */
    char id[32];
    for (int i = 0; i < RS_OWN_SLOTS + 1; i++) {
        snprintf(id, sizeof id, "task_%d", i);
        rs_own_add(&o, id, 1, 3);
    }
    assert_int_equal(rs_own_take(&o, "task_0", 1, 3), 0); /* pushed out */
    assert_int_equal(rs_own_take(&o, "task_1", 1, 3), 1);
    snprintf(id, sizeof id, "task_%d", RS_OWN_SLOTS);
    assert_int_equal(rs_own_take(&o, id, 1, 3), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_filters_and_copies),
        cmocka_unit_test(test_replace_delete_sweep),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_capability_lists),
        cmocka_unit_test(test_own_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
