/* t_random.c — conformance: a seeded random walk over every op, checking after each claim that
 * the backend handed out a best candidate (lowest priority, earliest pending_since, pass-over
 * respected) and, every few steps, the invariants that tie agents and tasks together. */
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define N_AGENTS 8
#define N_CAPS 4
#define STEPS 3000

static uint64_t rng_state;
static int has_probe[N_AGENTS]; /* set_health only for agents whose health the host owns */
static int v4;                  /* the walk uses the 2.4 members and ops too */

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? (uint32_t)(rng_state % n) : 0;
}

static const char *agent_name(unsigned i)
{
    static char buf[N_AGENTS][8];
    snprintf(buf[i], sizeof buf[i], "ag%u", i);
    return buf[i];
}

/* A random subset of c0..c3 as "c0,c2" (at most `max` members). */
static const char *random_caps(unsigned max)
{
    char buf[32] = "";
    unsigned n = 0;
    for (unsigned c = 0; c < N_CAPS; c++) {
        if (n < max && rnd(2)) {
            size_t len = strlen(buf);
            snprintf(buf + len, sizeof buf - len, "%sc%u", n ? "," : "", c);
            n++;
        }
    }
    return cx_strdup(buf);
}

static int has_caps(const struct cp_agent_view *a, const struct cp_task_view *t)
{
    return cp_caps_subset(t->required_capabilities, t->n_required, a->capabilities,
                          a->n_capabilities);
}

static const struct cp_agent_view *find_agent(const struct cp_result *al, const char *id)
{
    for (size_t i = 0; i < al->n_agents; i++)
        if (strcmp(al->agents[i]->agent_id, id) == 0) return al->agents[i];
    return NULL;
}

static void check_invariants(void)
{
    const struct cp_result *al = op_agent_list(NULL, -1);
    const struct cp_result *tl = op_task_list(-1, NULL, 100000);
    assert_rc(al, 0);
    assert_rc(tl, 0);
    uint32_t held[N_AGENTS] = {0};
    for (size_t i = 0; i < tl->n_tasks; i++) {
        const struct cp_task_view *t = tl->tasks[i];
        if (t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING) {
            assert_non_null(t->assigned_agent);
            const struct cp_agent_view *a = find_agent(al, t->assigned_agent);
            if (!a)
                fail_msg("task %s is %s by unregistered %s", t->id, cp_task_status_name(t->status),
                         t->assigned_agent);
            held[a->agent_id[2] - '0']++;
            assert_true(t->claimed_at_ms > 0);
            assert_true(t->attempt > 0);
        } else if (t->status == CP_TASK_PENDING) {
            assert_null(t->assigned_agent);
            assert_int_equal(t->claimed_at_ms, 0);
            assert_int_equal(t->completed_at_ms, 0);
        } else {
            assert_true(t->completed_at_ms > 0);
        }
    }
    for (size_t i = 0; i < al->n_agents; i++) {
        const struct cp_agent_view *a = al->agents[i];
        if (a->tasks_in_flight != held[a->agent_id[2] - '0'])
            fail_msg("%s: tasks_in_flight %u, holds %u", a->agent_id, a->tasks_in_flight,
                     held[a->agent_id[2] - '0']);
        if (a->current_task_id) {
            const struct cp_task_view *t = task(a->current_task_id);
            assert_true(t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING);
            assert_str(t->assigned_agent, a->agent_id);
        }
        if (!a->health_probe_json)
            assert_int_equal(a->health.status, a->status == CP_AGENT_OFFLINE ? CP_HEALTH_UNHEALTHY
                                                                             : CP_HEALTH_HEALTHY);
    }
}

/* After a reap with room for all the work, nothing it should have found is left. */
static void check_reaped(const struct cp_reap *rp)
{
    const struct cp_result *al = op_agent_list(NULL, -1);
    const struct cp_result *tl = op_task_list(-1, NULL, 100000);
    for (size_t i = 0; i < tl->n_tasks; i++) {
        const struct cp_task_view *t = tl->tasks[i];
        if (t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING) {
            int64_t deadline = v4 ? t->deadline_at_ms : t->claimed_at_ms + t->timeout_ms;
            if (deadline <= rp->now_ms)
                fail_msg("reap left %s %s past its timeout", cp_task_status_name(t->status), t->id);
        } else if (cp_task_status_is_terminal(t->status)) {
            if (t->completed_at_ms + rp->retention_ms <= rp->now_ms)
                fail_msg("reap left %s %s past retention", cp_task_status_name(t->status), t->id);
        }
    }
    for (size_t i = 0; i < al->n_agents; i++) {
        const struct cp_agent_view *a = al->agents[i];
        if (a->status != CP_AGENT_OFFLINE &&
            a->last_heartbeat_ms + rp->heartbeat_timeout_ms <= rp->now_ms)
            fail_msg("reap left %s %s past the heartbeat timeout", cp_agent_status_name(a->status),
                     a->agent_id);
        if (rp->remove_stale && a->last_heartbeat_ms + 3 * rp->heartbeat_timeout_ms <= rp->now_ms)
            fail_msg("reap left stale agent %s", a->agent_id);
    }
}

static int may_claim(const struct cp_agent_view *a, int64_t now)
{
    if (a->status != CP_AGENT_READY || a->tasks_in_flight >= a->max_concurrent_tasks) return 0;
    return a->health.circuit != CP_CIRCUIT_OPEN || a->health.retry_at_ms <= now;
}

/* Claim by `id` and check the choice against the pending tasks listed just before. */
static void checked_claim(const char *id, int64_t now)
{
    const struct cp_result *ag = op_agent_get(id);
    const struct cp_result *tl = op_task_list(CP_TASK_PENDING, NULL, 100000);
    const struct cp_result *r = op_claim(id, NULL, now);
    if (ag->rc == CP_ERR_NOT_FOUND) {
        assert_int_equal(r->rc, CP_ERR_NOT_FOUND);
        return;
    }
    assert_rc(r, 0);
    const struct cp_agent_view *a = ag->agent;
    const struct cp_task_view *best = NULL;
    if (may_claim(a, now)) {
        for (size_t i = 0; i < tl->n_tasks; i++) {
            const struct cp_task_view *t = tl->tasks[i];
            if (!has_caps(a, t)) continue;
            /* A task that waited (v4) is a candidate once a reap made it due: not known here,
             * so it is no one's "best"; a claim that takes one is checked below. */
            if (v4 && t->not_before_ms > 0) continue;
            if (t->passed_over_agent && strcmp(t->passed_over_agent, id) == 0 &&
                now < t->passed_over_until_ms)
                continue;
            if (!best || t->priority < best->priority ||
                (t->priority == best->priority && t->pending_since_ms < best->pending_since_ms))
                best = t;
        }
    }
    if (v4 && r->task && r->task->not_before_ms > 0) {
        if (r->task->not_before_ms > now)
            fail_msg("%s claimed %s before its not_before", id, r->task->id);
        if (best && (r->task->priority > best->priority ||
                     (r->task->priority == best->priority &&
                      r->task->pending_since_ms > best->pending_since_ms)))
            fail_msg("%s claimed %s, due, behind %s", id, r->task->id, best->id);
        assert_int_equal(r->task->deadline_at_ms, now + r->task->timeout_ms);
        return;
    }
    if (!best) {
        if (r->task) fail_msg("%s claimed %s where nothing was claimable", id, r->task->id);
        return;
    }
    if (!r->task) fail_msg("%s claimed nothing; %s was claimable", id, best->id);
    if (r->task->priority != best->priority || r->task->pending_since_ms != best->pending_since_ms)
        fail_msg("%s claimed %s (priority %d, pending since %lld), best was %s (%d, %lld)", id,
                 r->task->id, r->task->priority, (long long)r->task->pending_since_ms, best->id,
                 best->priority, (long long)best->pending_since_ms);
    assert_str(r->task->assigned_agent, id);
}

static void random_step(int64_t now, unsigned *n_tasks)
{
    unsigned ai = rnd(N_AGENTS);
    const char *id = agent_name(ai);
    switch (rnd(10)) {
    case 0: {
        struct cp_agent_view in = agent_in(id, random_caps(N_CAPS), 1 + rnd(3));
        has_probe[ai] = rnd(3) == 0;
        if (has_probe[ai]) in.health_probe_json = "{\"type\":\"tcp\",\"address\":\"127.0.0.1:9\"}";
        assert_rc(op_register(&in, now), 0);
        break;
    }
    case 1: {
        static const int32_t st[] = {-1,
                                     -1,
                                     CP_AGENT_READY,
                                     CP_AGENT_BUSY,
                                     CP_AGENT_DRAINING,
                                     CP_AGENT_FAILED,
                                     CP_AGENT_STARTING};
        const struct cp_result *r = op_heartbeat(id, st[rnd(7)], now);
        assert_true(r->rc == 0 || r->rc == CP_ERR_NOT_FOUND);
        break;
    }
    case 2:
    case 3: {
        unsigned n = ++*n_tasks;
        struct cp_task_view in =
            task_in(tid(n), random_caps(2), (int)rnd(CP_PRIORITY_COUNT), now - rnd(5000));
        in.timeout_ms = 1000 + rnd(20000);
        in.max_retries = rnd(4);
        assert_rc(op_submit(&in), 0);
        break;
    }
    case 4:
    case 5:
        checked_claim(id, now);
        break;
    case 6: {
        if (*n_tasks == 0) break;
        static const int kinds[] = {CP_TR_START, CP_TR_COMPLETE, CP_TR_FAIL, CP_TR_CANCEL,
                                    CP_TR_RELEASE};
        const char *t = tid(1 + rnd(*n_tasks));
        const struct cp_result *g = op_task_get(t);
        const char *who = rnd(3) == 0 ? id : (g->rc == 0 ? g->task->assigned_agent : NULL);
        const struct cp_result *r = tr_do(kinds[rnd(5)], t, who, now);
        assert_true(r->rc == 0 || r->rc == CP_ERR_CONFLICT || r->rc == CP_ERR_NOT_FOUND);
        break;
    }
    case 7: {
        int full = rnd(2);
        struct cp_reap rp = {.now_ms = now,
                             .heartbeat_timeout_ms = 30000,
                             .remove_stale = (int)rnd(2),
                             .retention_ms = 20000,
                             .max_events = full ? 100000 : 1 + rnd(5)};
        assert_rc(op_reap(&rp), 0);
        if (full) check_reaped(&rp);
        break;
    }
    case 8: {
        if (!has_probe[ai]) break;
        struct cp_health_view h = {.status = (int32_t)rnd(CP_HEALTH_CRITICAL),
                                   .latency_ms = -1,
                                   .circuit = (int32_t)rnd(CP_CIRCUIT_COUNT),
                                   .retry_at_ms = now + (int64_t)rnd(20000)};
        const struct cp_result *r =
            op_set_health(id, &h, rnd(2) ? -1 : CP_AGENT_READY, rnd(2) ? -1 : CP_AGENT_FAILED);
        assert_true(r->rc == 0 || r->rc == CP_ERR_NOT_FOUND);
        break;
    }
    case 9:
        if (rnd(4) == 0) {
            const struct cp_result *r = op_unregister(id, now);
            assert_true(r->rc == 0 || r->rc == CP_ERR_NOT_FOUND);
        }
        break;
    }
}

/* The 2.4 steps: delayed, keyed and backed-off submits, batches, extends, retries, purges. */
static void random_step_v4(int64_t now, unsigned *n_tasks)
{
    const char *id = agent_name(rnd(N_AGENTS));
    char key[16];
    snprintf(key, sizeof key, "k%u", rnd(30));
    switch (rnd(6)) {
    case 0:
    case 1: {
        unsigned n = ++*n_tasks;
        struct cp_task_view in =
            task_in(tid(n), random_caps(2), (int)rnd(CP_PRIORITY_COUNT), now - rnd(5000));
        in.timeout_ms = 1000 + rnd(20000);
        in.max_retries = rnd(4);
        in.not_before_ms = rnd(2) ? 0 : now + rnd(10000);
        in.idempotency_key = rnd(3) ? NULL : cx_strdup(key);
        in.backoff_type = (int32_t)rnd(CP_BACKOFF_TYPE_COUNT);
        in.backoff_ms = rnd(3000);
        in.backoff_max_ms = 4000;
        in.backoff_jitter = (int32_t)rnd(2);
        const struct cp_result *r = op_submit(&in);
        assert_rc(r, 0);
        if (!r->created) assert_str(r->task->idempotency_key, key);
        break;
    }
    case 2: {
        struct cp_task_view in[3];
        const struct cp_task_view *p[3];
        for (int i = 0; i < 3; i++) {
            in[i] = task_in(tid(++*n_tasks), random_caps(2), (int)rnd(CP_PRIORITY_COUNT), now);
            in[i].not_before_ms = rnd(2) ? 0 : now + rnd(5000);
            p[i] = &in[i];
        }
        const struct cp_result *r = op_submit_batch(p, 3);
        assert_rc(r, 0);
        assert_int_equal(r->n_tasks, 3);
        break;
    }
    case 3: {
        if (*n_tasks == 0) break;
        const char *t = tid(1 + rnd(*n_tasks));
        struct cp_extend x = {.task_id = t,
                              .agent_id = rnd(2) ? id : NULL,
                              .deadline_ms = rnd(3) ? now + rnd(30000) : 0,
                              .progress_json = rnd(2) ? "{\"percent\":5}" : NULL,
                              .now_ms = now};
        const struct cp_result *r = op_extend(&x);
        assert_true(r->rc == 0 || r->rc == CP_ERR_CONFLICT || r->rc == CP_ERR_NOT_FOUND);
        if (r->rc == 0 && x.deadline_ms) assert_int_equal(r->task->deadline_at_ms, x.deadline_ms);
        break;
    }
    case 4: {
        if (*n_tasks == 0) break;
        const struct cp_result *r = op_retry(tid(1 + rnd(*n_tasks)), now);
        assert_true(r->rc == 0 || r->rc == CP_ERR_CONFLICT || r->rc == CP_ERR_NOT_FOUND);
        if (r->rc == 0) assert_int_equal(r->task->status, CP_TASK_PENDING);
        break;
    }
    case 5: {
        struct cp_purge p = {.status_mask = rnd(2) ? 0 : CP_TASK_MASK(CP_TASK_COMPLETED),
                             .ended_before_ms = now - rnd(10000),
                             .limit = 1 + rnd(4),
                             .now_ms = now};
        assert_rc(op_purge(&p), 0);
        break;
    }
    }
}

static void walk(int use_v4)
{
    v4 = use_v4;
    rng_state = 0x9e3779b97f4a7c15ULL;
    int64_t now = T0;
    unsigned n_tasks = 0;
    memset(has_probe, 0, sizeof has_probe);
    for (unsigned i = 0; i < N_AGENTS; i++)
        reg(agent_name(i), random_caps(N_CAPS), 1 + rnd(3), now);
    for (unsigned step = 0; step < STEPS; step++) {
        now += rnd(1500);
        if (v4 && rnd(3) == 0)
            random_step_v4(now, &n_tasks);
        else
            random_step(now, &n_tasks);
        if (step % 50 == 49) check_invariants();
    }
    /* Drain: everything eventually ends or is deleted; the indexes must agree. */
    struct cp_reap rp = {.now_ms = now + 10000000,
                         .heartbeat_timeout_ms = 30000,
                         .remove_stale = 1,
                         .retention_ms = 20000};
    rp.max_events = 1000000;
    assert_rc(op_reap(&rp), 0);
    check_invariants();
    const struct cp_stats_view *s = stats();
    assert_int_equal(s->agents_total, 0);
    assert_int_equal(s->tasks_by_status[CP_TASK_CLAIMED], 0);
    assert_int_equal(s->tasks_by_status[CP_TASK_RUNNING], 0);
}

static void random_walk(void **state)
{
    (void)state;
    walk(0);
}

/* The same walk with the 2.4 operations mixed in (and the deadline as the timeout rule). */
static void random_walk_v4(void **state)
{
    (void)state;
    REQUIRE_V4();
    walk(1);
}

const struct CMUnitTest conformance_random_tests[] = {
    CX_TEST(random_walk),
    CX_TEST(random_walk_v4),
};
const size_t conformance_random_count =
    sizeof conformance_random_tests / sizeof conformance_random_tests[0];
