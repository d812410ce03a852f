/* test_redis_layout.c — the Redis plugin's stored layout stays consistent under a random mix
 * of every operation: after each batch, tests/check_layout.lua checks each task and agent
 * against every index and counter of docs/redis.md (queues, capsets, status/type/created_at
 * indexes, inflight, af:, done, delayed, idem, liveness, capability sets, stats). The hot
 * operations (submit,
 * claim, start, complete) write the layout directly while the others go through the generic
 * record code of common.lua; this is where the two must agree. Runs the functions (FCALL) and
 * the scripts (EVALSHA). Deterministic (fixed seed, injected clock); loopback only.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_harness.h"

enum { AGENTS = 6, TASKS_MAX = 700, OPS = 5000, CHECK_EVERY = 250 };

static uint64_t rng = 88172645463325252ull;
static unsigned pick(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const CAPS[] = {"x", "y"};
static const char *const CAPS_X[] = {"x"};
static const char *const CAPS_Y[] = {"y"};

/* A capability set for agents and tasks: {}, {x}, {y} or {x, y}. */
static const char *const *caps_of(unsigned k, uint32_t *n)
{
    switch (k % 4) {
    case 0:
        *n = 0;
        return NULL;
    case 1:
        *n = 1;
        return CAPS_X;
    case 2:
        *n = 1;
        return CAPS_Y;
    default:
        *n = 2;
        return CAPS;
    }
}

/* A task handed out by a claim: most transitions go to one of these, as agents do. */
struct held {
    char task[40], agent[16];
    uint32_t attempt;
};

struct work {
    struct inst *in;
    int64_t now;
    char tasks[TASKS_MAX][40];
    unsigned n_tasks;
    struct held held[64];
    unsigned n_held;
    char claimer[16];
    struct res last;
    char dead[32][40]; /* tasks a transition ended failed or cancelled: for op_retry */
    unsigned n_dead;
};

static void on_claimed(void *cookie, const struct cp_result *r)
{
    struct work *w = cookie;
    if (r->rc == 0 && r->task) {
        struct held *h = &w->held[w->n_held < 64 ? w->n_held++ : pick(64)];
        snprintf(h->task, sizeof h->task, "%s", r->task->id);
        snprintf(h->agent, sizeof h->agent, "%s", w->claimer);
        h->attempt = r->task->attempt;
    }
    on_res(&w->last, r);
}

static void on_transitioned(void *cookie, const struct cp_result *r)
{
    struct work *w = cookie;
    if (r->rc == 0 && r->task &&
        (r->task->status == CP_TASK_FAILED || r->task->status == CP_TASK_CANCELLED))
        snprintf(w->dead[w->n_dead++ % 32], 40, "%s", r->task->id);
    on_res(&w->last, r);
}

static int run_op(struct work *w, void (*start)(struct work *w))
{
    memset(&w->last, 0, sizeof w->last);
    start(w);
    int rc = wait_res(&w->last, 5000);
    if (rc == CP_ERR_UNAVAILABLE || rc == CP_ERR_NOMEM) fail_msg("storage: %s", w->last.msg);
    return rc;
}

static void op_register(struct work *w)
{
    char id[16];
    snprintf(id, sizeof id, "ag%u", pick(AGENTS));
    uint32_t n;
    const char *const *caps = caps_of(pick(4), &n);
    struct cp_agent_view a = {.agent_id = id,
                              .capabilities = caps,
                              .n_capabilities = n,
                              .model = "m",
                              .provider = pick(2) ? "p" : "q",
                              .metadata_json = "{}",
                              .max_concurrent_tasks = 1 + pick(3)};
    w->in->ops->agent_register(w->in->st, &a, w->now, on_res, &w->last);
}

/* A new task (its id added to w->tasks), some of them delayed, keyed (from a small pool, so
 * that keys are found again) or backed off; NULL when the list is full. */
static const char *new_task(struct work *w, struct cp_task_view *t, char key[16])
{
    if (w->n_tasks == TASKS_MAX) return NULL;
    char *id = w->tasks[w->n_tasks++];
    snprintf(id, 40, "task_%024x", w->n_tasks);
    uint32_t n;
    const char *const *caps = caps_of(pick(4), &n);
    snprintf(key, 16, "k%u", pick(40));
    *t = (struct cp_task_view){.id = id,
                               .task_type = pick(2) ? "a" : "b",
                               .payload_json = "{\"n\":1}",
                               .required_capabilities = caps,
                               .n_required = n,
                               .priority = (int32_t)pick(4),
                               .created_at_ms = w->now - (int64_t)pick(50),
                               .timeout_ms = pick(3) ? 300000 : 200,
                               .max_retries = pick(3),
                               .metadata_json = "{}",
                               .strategy = pick(2) ? "least_loaded" : NULL,
                               .not_before_ms = pick(4) ? 0 : w->now + (int64_t)pick(300),
                               .idempotency_key = pick(3) ? NULL : key,
                               .backoff_type = (int32_t)pick(3),
                               .backoff_ms = pick(150),
                               .backoff_max_ms = 400,
                               .backoff_jitter = (int32_t)pick(2)};
    return id;
}

static void op_submit(struct work *w)
{
    struct cp_task_view t;
    char key[16];
    if (!new_task(w, &t, key)) {
        op_register(w);
        return;
    }
    w->in->ops->task_submit(w->in->st, &t, on_res, &w->last);
}

static void op_batch(struct work *w)
{
    struct cp_task_view t[4];
    const struct cp_task_view *p[4];
    char keys[4][16];
    unsigned n = 0, want = 1 + pick(4);
    while (n < want && new_task(w, &t[n], keys[n])) {
        p[n] = &t[n];
        n++;
    }
    w->in->ops->task_submit_batch(w->in->st, p, n, on_res, &w->last);
}

static void op_claim(struct work *w);

static void op_extend(struct work *w)
{
    if (!w->n_held) {
        op_claim(w);
        return;
    }
    const struct held *h = &w->held[pick(w->n_held)];
    struct cp_extend x = {.task_id = h->task,
                          .agent_id = pick(4) ? h->agent : NULL,
                          .deadline_ms = w->now + (int64_t)pick(500),
                          .progress_json = pick(2) ? "{\"percent\":50}" : NULL,
                          .now_ms = w->now};
    w->in->ops->task_extend(w->in->st, &x, on_res, &w->last);
}

static void op_retry(struct work *w)
{
    if (!w->n_tasks) {
        op_submit(w);
        return;
    }
    unsigned dead = w->n_dead < 32 ? w->n_dead : 32;
    struct cp_retry r = {.task_id =
                             dead && pick(4) ? w->dead[pick(dead)] : w->tasks[pick(w->n_tasks)],
                         .now_ms = w->now};
    w->in->ops->task_retry(w->in->st, &r, on_res, &w->last);
}

static void op_purge(struct work *w)
{
    static const uint32_t masks[] = {0, CP_TASK_MASK(CP_TASK_COMPLETED),
                                     CP_TASK_MASK(CP_TASK_FAILED) | CP_TASK_MASK(CP_TASK_TIMEOUT)};
    struct cp_purge p = {.status_mask = masks[pick(3)],
                         .task_type = pick(2) ? NULL : "a",
                         .ended_before_ms = w->now - (int64_t)pick(2000),
                         .limit = 1 + pick(5),
                         .now_ms = w->now};
    w->in->ops->task_purge(w->in->st, &p, on_res, &w->last);
}

static void op_claim(struct work *w)
{
    snprintf(w->claimer, sizeof w->claimer, "ag%u", pick(AGENTS));
    uint32_t n;
    unsigned k = pick(5);
    const char *const *caps = caps_of(k, &n);
    struct cp_claim c = {.agent_id = w->claimer,
                         .capabilities = k == 4 ? NULL : caps,
                         .n_capabilities = k == 4 ? 0 : n,
                         .now_ms = w->now};
    if (k != 4 && !caps) c.capabilities = CAPS, c.n_capabilities = 0;
    w->in->ops->task_claim(w->in->st, &c, on_claimed, w);
}

static void op_transition(struct work *w)
{
    if (!w->n_tasks) {
        op_submit(w);
        return;
    }
    char agent[16];
    snprintf(agent, sizeof agent, "ag%u", pick(AGENTS));
    const char *task = w->tasks[pick(w->n_tasks)];
    uint32_t attempt = pick(3);
    if (w->n_held && pick(4)) { /* a task handed out, by its agent (most of the time) */
        unsigned i = pick(w->n_held);
        task = w->held[i].task;
        if (pick(4)) snprintf(agent, sizeof agent, "%s", w->held[i].agent);
        attempt = w->held[i].attempt;
        if (pick(2)) w->held[i] = w->held[--w->n_held];
    }
    static const int32_t kinds[] = {CP_TR_START, CP_TR_COMPLETE, CP_TR_COMPLETE, CP_TR_FAIL,
                                    CP_TR_FAIL,  CP_TR_CANCEL,   CP_TR_RELEASE};
    unsigned jitter = pick(1u << 16) * 65536u + pick(1u << 16);
    struct cp_transition tr = {.kind = kinds[pick(sizeof kinds / sizeof kinds[0])],
                               .task_id = task,
                               .agent_id = pick(4) ? agent : NULL,
                               .result_json = pick(2) ? "{\"ok\":true}" : NULL,
                               .error = "boom",
                               .latency_ms = pick(2) ? -1 : 12.5,
                               .requeue = (int)pick(2),
                               .pass_over_ms = pick(2) ? 30000 : 0,
                               .expect_attempt = attempt,
                               .now_ms = w->now,
                               .jitter = jitter};
    w->in->ops->task_transition(w->in->st, &tr, on_transitioned, w);
}

static void op_heartbeat(struct work *w)
{
    char id[16];
    snprintf(id, sizeof id, "ag%u", pick(AGENTS));
    static const int32_t st[] = {-1, CP_AGENT_READY, CP_AGENT_DRAINING, CP_AGENT_BUSY};
    w->in->ops->agent_heartbeat(w->in->st, id, st[pick(4)], w->now, on_res, &w->last);
}

static void op_unregister(struct work *w)
{
    char id[16];
    snprintf(id, sizeof id, "ag%u", pick(AGENTS));
    w->in->ops->agent_unregister(w->in->st, id, w->now, on_res, &w->last);
}

static void op_reap(struct work *w)
{
    struct cp_reap r = {.now_ms = w->now,
                        .heartbeat_timeout_ms = 2000,
                        .remove_stale = (int)pick(2),
                        .retention_ms = 5000,
                        .max_events = 50,
                        .jitter = pick(1u << 16)};
    w->in->ops->reap(w->in->st, &r, on_res, &w->last);
}

static char *read_checker(void)
{
    FILE *f = fopen(REDIS_TESTS_DIR "/check_layout.lua", "rb");
    assert_non_null(f);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof text - 1);
    text[n] = '\0';
    return text;
}

static void check(const struct srv *s, const char *prefix, const char *when)
{
    redisContext *c = srv_client(s, NULL);
    char tag[64];
    snprintf(tag, sizeof tag, "{%s}", prefix);
    redisReply *r = redisCommand(c, "EVAL %s 1 %s", read_checker(), tag);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY)
        fail_msg("checker: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    if (r->elements > 1) {
        for (size_t i = 1; i < r->elements; i++)
            print_error("%s: %s\n", when, r->element[i]->str);
        fail_msg("%zu layout problems %s", r->elements - 1, when);
    }
    freeReplyObject(r);
    redisFree(c);
}

static void random_mix(const char *lua)
{
    struct srv *s = srv_new();
    srv_start(s, NULL);
    harness_lua = lua;
    struct inst in;
    load_ok(&in, s, "lay:", NULL);
    if (!lua) { /* functions mode: the library really loaded (no silent fall back to scripts) */
        redisContext *c = srv_client(s, NULL);
        redisReply *r = redisCommand(c, "FUNCTION LIST");
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 1);
        freeReplyObject(r);
        redisFree(c);
    }
    static struct work w;
    memset(&w, 0, sizeof w);
    w.in = &in;
    w.now = 1700000000000;
    for (unsigned i = 0; i < AGENTS; i++)
        run_op(&w, op_register);
    static void (*const ops[])(struct work *) = {
        op_submit,    op_submit,     op_submit,     op_claim,      op_claim,
        op_claim,     op_transition, op_transition, op_transition, op_transition,
        op_heartbeat, op_register,   op_unregister, op_reap,       op_reap,
        op_extend,    op_retry,      op_purge,      op_batch};
    int claimed = 0, completed = 0, extended = 0, retried = 0;
    for (unsigned i = 1; i <= OPS; i++) {
        void (*op)(struct work *) = ops[pick(sizeof ops / sizeof ops[0])];
        int rc = run_op(&w, op);
        if (op == op_claim && rc == 0 && w.last.task_id[0]) claimed++;
        if (op == op_transition && rc == 0) completed++;
        if (op == op_extend && rc == 0) extended++;
        if (op == op_retry && rc == 0) retried++;
        w.now += pick(40);
        if (i % CHECK_EVERY == 0) {
            char when[48];
            snprintf(when, sizeof when, "after %u operations", i);
            check(s, "lay:", when);
        }
    }
    /* The mix really exercised the paths (claims that got a task, transitions that applied). */
    print_message("%d claims got a task, %d transitions, %d extends, %d retries applied\n", claimed,
                  completed, extended, retried);
    assert_true(claimed > 150);
    assert_true(completed > 150);
    assert_true(extended > 20);
    assert_true(retried > 5);
    unload(&in);
    srv_cleanup(s);
}

static void layout_functions(void **state)
{
    (void)state;
    random_mix(NULL);
}

static void layout_scripts(void **state)
{
    (void)state;
    random_mix("eval");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    host_set_event_base(base);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(layout_functions, teardown),
        cmocka_unit_test_teardown(layout_scripts, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    event_base_free(base);
    return rc;
}
