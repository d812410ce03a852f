/* test_strategies_fleet.c — the fleet-aware strategies and what they see (ABI 2.4): the
 * `headroom` and `affinity` plugins loaded from their real .so files with the SDK's structs
 * alone (each key of headroom's order, affinity's warm agent, threshold, fallback and options),
 * and the core pieces that feed them: the per-agent recent-tasks window (p95, error rate,
 * bounds) and the affinity fields carried in a task's metadata. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cp/selection.h>

#include "affinity.h"
#include "agent_stats.h"
#include "plugin_dl.h"

/* ---- a host whose options the test sets ---- */

static const char *opt_keys[4], *opt_values[4];

static const char *test_option(const struct cp_host *host, const char *key)
{
    (void)host;
    for (int i = 0; i < 4 && opt_keys[i]; i++)
        if (strcmp(opt_keys[i], key) == 0) return opt_values[i];
    return NULL;
}

static void set_options(const char *k1, const char *v1, const char *k2, const char *v2)
{
    memset(opt_keys, 0, sizeof opt_keys);
    opt_keys[0] = k1, opt_values[0] = v1;
    opt_keys[1] = k2, opt_values[1] = v2;
}

struct loaded {
    void *dl;
    const struct cp_selection_ops *ops;
    void *state;
};

static int load_rc(const char *name, struct loaded *l, struct cp_err *err)
{
    static struct cp_host host;
    host = dl_host;
    host.option = test_option;
    l->ops = dl_open_plugin(name, CP_PLUGIN_SELECTION, &l->dl)->ops;
    assert_int_equal(l->ops->version, CP_SELECTION_OPS_VERSION);
    int rc = l->ops->create(&host, &l->state, err);
    if (rc != 0) dlclose(l->dl);
    return rc;
}

static struct loaded load(const char *name)
{
    struct loaded l = {0};
    struct cp_err err = {{0}};
    assert_int_equal(load_rc(name, &l, &err), 0);
    return l;
}

static void unload(struct loaded *l)
{
    l->ops->destroy(l->state);
    dlclose(l->dl);
}

static struct cp_agent_view agent(const char *id, uint32_t in_flight, uint32_t max)
{
    return (struct cp_agent_view){.size = sizeof(struct cp_agent_view),
                                  .agent_id = id,
                                  .status = CP_AGENT_READY,
                                  .metadata_json = "{}",
                                  .max_concurrent_tasks = max,
                                  .tasks_in_flight = in_flight};
}

static struct cp_candidate_stats stats(int64_t tokens, int64_t requests, double p95, double err)
{
    return (struct cp_candidate_stats){.size = sizeof(struct cp_candidate_stats),
                                       .quota_tokens_left = tokens,
                                       .quota_requests_left = requests,
                                       .latency_p95_ms = p95,
                                       .error_rate = err,
                                       .recent_tasks = p95 >= 0 ? 10 : 0};
}

/* select() over agents a[n] with stats st[n] (NULL: a host without them), for a task with
 * affinity key `key` (NULL: none) whose remembered agent is `warm`. */
static int pick(struct loaded *l, const struct cp_agent_view *a,
                const struct cp_candidate_stats *st, size_t n, const char *key, const char *warm)
{
    const struct cp_agent_view *list[16];
    const struct cp_candidate_stats *sp[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        list[i] = &a[i];
        sp[i] = st ? &st[i] : NULL;
    }
    struct cp_selection_task task = {.id = "task_000000000000000000000001",
                                     .task_type = "chat",
                                     .metadata_json = "{}",
                                     .affinity_key = key,
                                     .affinity_ttl_ms = key ? 600000 : 0};
    struct cp_selection_ctx ctx = {.capability_key = "",
                                   .now_ms = 1700000000000,
                                   .task_id = task.id,
                                   .task = &task,
                                   .hints_json = "{}",
                                   .stats = st ? sp : NULL,
                                   .affinity_agent = warm};
    int r = l->ops->select(l->state, list, n, &ctx);
    assert_in_range(r, 0, (int)n - 1);
    return r;
}

/* ---- headroom ---- */

static void test_headroom_order(void **unused)
{
    (void)unused;
    struct loaded l = load("headroom");
    struct cp_agent_view a[3] = {agent("a", 0, 4), agent("b", 0, 4), agent("c", 0, 4)};
    /* 1. more tokens left wins, before free slots */
    a[1].tasks_in_flight = 3;
    struct cp_candidate_stats s1[3] = {stats(1000, 50, 10, 0), stats(90000, 1, 900, 0.5),
                                       stats(5000, 50, 10, 0)};
    assert_int_equal(pick(&l, a, s1, 3, NULL, NULL), 1);
    /* -1 (no quota applies) is unlimited room */
    struct cp_candidate_stats s1b[3] = {stats(1000, 50, 10, 0), stats(90000, 1, 900, 0.5),
                                        stats(-1, -1, 10, 0)};
    assert_int_equal(pick(&l, a, s1b, 3, NULL, NULL), 2);
    a[1].tasks_in_flight = 0;
    /* 1b. tokens tie: more requests left */
    struct cp_candidate_stats s2[3] = {stats(500, 3, 10, 0), stats(500, 9, 10, 0),
                                       stats(500, 4, 10, 0)};
    assert_int_equal(pick(&l, a, s2, 3, NULL, NULL), 1);
    /* 2. quota tie: more free slots */
    a[0].tasks_in_flight = 2, a[1].tasks_in_flight = 1, a[2].tasks_in_flight = 3;
    struct cp_candidate_stats s3[3] = {stats(-1, -1, 10, 0), stats(-1, -1, 500, 0),
                                       stats(-1, -1, 1, 0)};
    assert_int_equal(pick(&l, a, s3, 3, NULL, NULL), 1);
    /* 3. slots tie: lower p95; an unknown p95 after every known one */
    a[0].tasks_in_flight = a[1].tasks_in_flight = a[2].tasks_in_flight = 1;
    struct cp_candidate_stats s4[3] = {stats(-1, -1, -1, -1), stats(-1, -1, 800, 0),
                                       stats(-1, -1, 300, 0.9)};
    assert_int_equal(pick(&l, a, s4, 3, NULL, NULL), 2);
    /* 4. p95 tie: lower error rate */
    struct cp_candidate_stats s5[3] = {stats(-1, -1, 300, 0.2), stats(-1, -1, 300, 0.1),
                                       stats(-1, -1, 300, 0.3)};
    assert_int_equal(pick(&l, a, s5, 3, NULL, NULL), 1);
    /* 5. all equal: least_loaded's order, then agent_id */
    struct cp_candidate_stats s6[3] = {stats(7, 7, 300, 0), stats(7, 7, 300, 0),
                                       stats(7, 7, 300, 0)};
    a[0].tasks_completed = 9, a[1].tasks_completed = 4, a[2].tasks_completed = 4;
    assert_int_equal(pick(&l, a, s6, 3, NULL, NULL), 1);
    unload(&l);
}

static void test_headroom_without_stats(void **unused)
{
    (void)unused;
    /* A host that fills no stats (older than 2.4): free slots, then least_loaded's order. */
    struct loaded l = load("headroom");
    struct cp_agent_view a[3] = {agent("a", 1, 2), agent("b", 1, 8), agent("c", 0, 1)};
    assert_int_equal(pick(&l, a, NULL, 3, NULL, NULL), 1);
    struct cp_agent_view b[2] = {agent("a", 1, 2), agent("b", 0, 1)};
    assert_int_equal(pick(&l, b, NULL, 2, NULL, NULL), 1); /* tie on slots: fewer in flight */
    unload(&l);
}

/* ---- affinity ---- */

static void test_affinity_prefers_warm_agent(void **unused)
{
    (void)unused;
    set_options(NULL, NULL, NULL, NULL);
    struct loaded l = load("affinity");
    /* "c" is the most loaded: least_loaded would never pick it. */
    struct cp_agent_view a[3] = {agent("a", 0, 4), agent("b", 0, 4), agent("c", 3, 4)};
    assert_int_equal(pick(&l, a, NULL, 3, "conv-1", "c"), 2);
    /* No key, no remembered agent, or the warm agent not waiting: the fallback (least_loaded) */
    assert_int_equal(pick(&l, a, NULL, 3, NULL, "c"), 0);
    assert_int_equal(pick(&l, a, NULL, 3, "conv-1", NULL), 0);
    assert_int_equal(pick(&l, a, NULL, 3, "conv-1", "zz"), 0);
    a[0].tasks_in_flight = 2;
    assert_int_equal(pick(&l, a, NULL, 3, "conv-1", "zz"), 1);
    unload(&l);
}

static void test_affinity_threshold_and_fallback(void **unused)
{
    (void)unused;
    /* max_load 0.5: the warm agent takes the task only while in_flight + 1 <= 0.5 * max. */
    set_options("max_load", "0.5", "fallback", "headroom");
    struct loaded l = load("affinity");
    struct cp_agent_view a[3] = {agent("a", 0, 4), agent("b", 1, 4), agent("c", 0, 2)};
    struct cp_candidate_stats s[3] = {stats(10, 10, 5, 0), stats(10, 10, 5, 0),
                                      stats(99999, 10, 5, 0)};
    assert_int_equal(pick(&l, a, s, 3, "debate-7", "b"), 1); /* 2 <= 2 */
    a[1].tasks_in_flight = 2;                                /* 3 > 2: over the threshold */
    assert_int_equal(pick(&l, a, s, 3, "debate-7", "b"), 2); /* headroom: most tokens left */
    unload(&l);
    /* Bad options are refused at create(), naming the option. */
    const char *bad[][2] = {
        {"max_load", "0"}, {"max_load", "1.5"}, {"max_load", "x"}, {"fallback", "random"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        set_options(bad[i][0], bad[i][1], NULL, NULL);
        struct loaded b = {0};
        struct cp_err err = {{0}};
        assert_int_equal(load_rc("affinity", &b, &err), CP_ERR_INVALID);
        assert_non_null(strstr(err.msg, bad[i][0]));
    }
    set_options(NULL, NULL, NULL, NULL);
}

/* ---- what core feeds them ---- */

static void test_agent_stats_window(void **unused)
{
    (void)unused;
    struct agent_stats *s = agent_stats_new();
    struct cp_agent_view a = agent("w1", 0, 1), other = agent("nobody", 0, 1);
    struct cp_candidate_stats out;
    agent_stats_fill(NULL, s, &other, &out);
    assert_int_equal(out.size, sizeof out);
    assert_int_equal(out.recent_tasks, 0);
    assert_true(out.latency_p95_ms < 0 && out.error_rate < 0);
    assert_int_equal(out.quota_tokens_left, -1); /* until the quota module is wired in */
    assert_int_equal(out.quota_requests_left, -1);
    for (int i = 1; i <= 100; i++) /* latencies 1..100 ms, 1 in 10 failed */
        agent_stats_record(s, "w1", (double)i, i % 10 == 0);
    agent_stats_fill(NULL, s, &a, &out);
    /* The window keeps the last 64: 37..100; nearest-rank p95 of 64 values is the 61st. */
    assert_int_equal(out.recent_tasks, AGENT_STATS_WINDOW);
    assert_true(out.latency_p95_ms > 96.5 && out.latency_p95_ms < 97.5);
    assert_true(out.error_rate > 6.0 / 64 - 1e-9 && out.error_rate < 7.0 / 64 + 1e-9);
    /* A failure with no latency counts for the error rate only. */
    agent_stats_record(s, "w2", -1, 1);
    struct cp_agent_view b = agent("w2", 0, 1);
    agent_stats_fill(NULL, s, &b, &out);
    assert_int_equal(out.recent_tasks, 1);
    assert_true(out.error_rate == 1.0 && out.latency_p95_ms < 0);
    /* Bounded: past AGENT_STATS_MAX_AGENTS the least recently heard one goes ("w1"). */
    char id[32];
    for (int i = 0; i < AGENT_STATS_MAX_AGENTS; i++) {
        snprintf(id, sizeof id, "x%d", i);
        agent_stats_record(s, id, 1, 0);
        if (i == 0) agent_stats_record(s, "w2", 1, 0); /* w2 heard after w1 */
    }
    agent_stats_fill(NULL, s, &a, &out);
    assert_int_equal(out.recent_tasks, 0);
    agent_stats_free(s);
}

static int by_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The p95 and error rate kept incrementally agree with sorting the window after every record:
 * duplicates, unknown latencies and values leaving the window included. */
static void test_agent_stats_p95_incremental(void **unused)
{
    (void)unused;
    struct agent_stats *s = agent_stats_new();
    struct cp_agent_view a = agent("w1", 0, 1);
    float ring[AGENT_STATS_WINDOW];
    int ring_failed[AGENT_STATS_WINDOW];
    uint32_t n = 0, at = 0;
    unsigned seed = 12345;
    for (int i = 0; i < 5000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 8) % 1000;
        /* few distinct values (many duplicates), 1 in 10 unknown, a NaN now and then */
        double latency = r < 100 ? -1 : r < 110 ? NAN : (double)(r % 37) * 2.5;
        int failed = (int)(r % 7 == 0);
        agent_stats_record(s, "w1", latency, failed);
        ring[at] = latency >= 0 ? (float)latency : -1.0f;
        ring_failed[at] = failed;
        at = (at + 1) % AGENT_STATS_WINDOW;
        if (n < AGENT_STATS_WINDOW) n++;
        float known[AGENT_STATS_WINDOW];
        uint32_t k = 0, nf = 0;
        for (uint32_t j = 0; j < n; j++) {
            if (ring[j] >= 0) known[k++] = ring[j];
            nf += (uint32_t)ring_failed[j];
        }
        qsort(known, k, sizeof *known, by_float);
        double want = k ? known[(95u * k + 99u) / 100u - 1] : -1;
        struct cp_candidate_stats out;
        agent_stats_fill(NULL, s, &a, &out);
        assert_int_equal(out.recent_tasks, n);
        assert_true(out.latency_p95_ms == want);
        assert_true(out.error_rate == (double)nf / (double)n);
    }
    agent_stats_free(s);
}

static void test_affinity_metadata(void **unused)
{
    (void)unused;
    char key[CP_AFFINITY_KEY_MAX + 1];
    int64_t ttl;
    assert_false(affinity_from_metadata("{\"region\":\"eu\"}", key, &ttl));
    char *md = affinity_metadata_with("{\"region\":\"eu\"}", "conv:42/turns", 90.5);
    assert_non_null(md);
    assert_non_null(strstr(md, "\"region\""));
    assert_true(affinity_from_metadata(md, key, &ttl));
    assert_string_equal(key, "conv:42/turns");
    assert_int_equal(ttl, 90500);
    free(md);
    assert_null(affinity_metadata_with("[1]", "k", 1));
    /* Hostile metadata: a key that is not one is ignored. */
    assert_false(affinity_from_metadata("{\"affinity_key\":\"has space\"}", key, &ttl));
    assert_false(affinity_from_metadata("{\"affinity_key\":7}", key, &ttl));
    assert_false(affinity_from_metadata("{\"affinity_key\":", key, &ttl));
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_false(affinity_key_valid(longkey));
    longkey[CP_AFFINITY_KEY_MAX] = '\0';
    assert_true(affinity_key_valid(longkey));
    assert_false(affinity_key_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headroom_order),
        cmocka_unit_test(test_headroom_without_stats),
        cmocka_unit_test(test_affinity_prefers_warm_agent),
        cmocka_unit_test(test_affinity_threshold_and_fallback),
        cmocka_unit_test(test_agent_stats_window),
        cmocka_unit_test(test_agent_stats_p95_incremental),
        cmocka_unit_test(test_affinity_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
