/* t_quota.c — provider quotas (ABI 2.4, optional: cp/quota.h and the quota rules of
 * cp/storage.h): definitions, the claim's check and reservation in one step, the sliding window
 * of one-second buckets (room back exactly when a second leaves it), settlement by usage, the
 * release of in-flight places whatever way a task leaves its holder, and the 429 (pause, AIMD). */
#include "conformance.h"

#define REQUIRE_QUOTAS()                                                                           \
    do {                                                                                           \
        if (!cx_has_quotas()) {                                                                    \
            print_message("provider quotas: not supported by this backend\n");                     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static const struct cp_quota_view *put(const char *id, const char *provider, const char *model,
                                       uint64_t rpm, uint64_t tpm, uint32_t mif)
{
    struct cp_quota_view q = {.size = sizeof q,
                              .id = id,
                              .scope = {provider, model, NULL},
                              .rpm = rpm,
                              .tpm = tpm,
                              .max_in_flight = mif};
    const struct cp_result *r = op_quota_put(&q);
    assert_rc(r, 0);
    assert_int_equal(r->n_quotas, 1);
    return r->quotas[0];
}

static const struct cp_quota_view *quota(const char *id, int64_t now)
{
    const struct cp_result *r = op_quota_list(now);
    assert_rc(r, 0);
    for (size_t i = 0; i < r->n_quotas; i++)
        if (strcmp(r->quotas[i]->id, id) == 0) return r->quotas[i];
    fail_msg("quota %s not listed", id);
    return NULL;
}

static const struct cp_task_view *submit_est(const char *id, int64_t in, int64_t out, int64_t now)
{
    struct cp_task_view t = task_in(id, "", CP_PRIORITY_NORMAL, now);
    t.est_input_tokens = in;
    t.est_output_tokens = out;
    const struct cp_result *r = op_submit(&t);
    assert_rc(r, 0);
    return r->task;
}

static void definitions(void **state)
{
    (void)state;
    REQUIRE_QUOTAS();
    struct cp_quota_view bad = {.size = sizeof bad, .id = "x"};
    assert_rc(op_quota_put(&bad), CP_ERR_INVALID);
    const struct cp_result *r;
    struct cp_quota_view q = {.size = sizeof q, .id = "b", .scope = {"p1", NULL, NULL}, .rpm = 5};
    r = op_quota_put(&q);
    assert_rc(r, 0);
    assert_int_equal(r->created, 1);
    put("a", "p2", "m", 0, 100, 2);
    q.rpm = 7;
    r = op_quota_put(&q);
    assert_int_equal(r->created, 0);
    assert_int_equal(r->quotas[0]->rpm, 7);
    r = op_quota_list(T0);
    assert_int_equal(r->n_quotas, 2);
    assert_str(r->quotas[0]->id, "a"); /* sorted by id */
    assert_str(r->quotas[0]->scope.model, "m");
    assert_int_equal(r->quotas[0]->max_in_flight, 2);
    assert_rc(op_quota_delete("a"), 0);
    assert_rc(op_quota_delete("a"), CP_ERR_NOT_FOUND);
    assert_int_equal(op_quota_list(T0)->n_quotas, 1);
}

static void rpm_window_slides_by_seconds(void **state)
{
    (void)state;
    REQUIRE_QUOTAS();
    put("q", "p1", NULL, 2, 0, 0);
    reg("a", "", 10, T0);
    reg("other", "", 10, T0);
    struct cp_agent_view o = agent_in("other", "", 10);
    o.provider = "p9";
    assert_rc(op_register(&o, T0), 0);
    for (unsigned i = 1; i <= 4; i++)
        submit(tid(i), "", CP_PRIORITY_NORMAL, T0);
    claim_id("a", T0 + 100);
    claim_id("a", T0 + 5000);
    const struct cp_result *r = op_claim("a", NULL, T0 + 6000);
    assert_rc(r, 0);
    assert_null(r->task);
    assert_int_equal(r->quota_held, 1);
    /* the first use leaves the window 61 s after its second began */
    assert_int_equal(r->next_due_ms, T0 + 61000);
    assert_int_equal(quota("q", T0 + 6000)->requests_used, 2);
    assert_int_equal(quota("q", T0 + 6000)->next_room_ms, T0 + 61000);
    /* an agent under no quota is not held back */
    assert_str(claim_id("other", T0 + 6000), tid(3));
    assert_null(claim("a", T0 + 60999));
    assert_str(claim_id("a", T0 + 61000), tid(4));
    assert_int_equal(quota("q", T0 + 61000)->requests_used, 2); /* T0+5 s and T0+61 s */
}

static void tokens_reserved_and_settled(void **state)
{
    (void)state;
    REQUIRE_QUOTAS();
    put("t", "p1", "m1", 0, 1000, 0);
    reg("a", "", 10, T0);
    submit_est(tid(1), 500, 100, T0);
    submit_est(tid(2), 500, 0, T0 + 1);
    assert_str(claim_id("a", T0), tid(1));
    assert_int_equal(quota("t", T0)->tokens_used, 600);
    const struct cp_result *r = op_claim("a", NULL, T0 + 10);
    assert_int_equal(r->quota_held, 1); /* 600 + 500 > 1000 */
    assert_null(r->task);
    struct cp_transition tr = {.kind = CP_TR_COMPLETE,
                               .task_id = tid(1),
                               .agent_id = "a",
                               .latency_ms = -1,
                               .now_ms = T0 + 20,
                               .usage_set = 1,
                               .usage_input_tokens = 100,
                               .usage_output_tokens = 50,
                               .usage_cached_tokens = 30};
    assert_rc(op_transition(&tr), 0);
    const struct cp_task_view *t = task(tid(1));
    assert_int_equal(t->usage_set, 1);
    assert_int_equal(t->usage_cached_tokens, 30);
    assert_int_equal(t->est_input_tokens, 500);
    const struct cp_quota_view *q = quota("t", T0 + 20);
    assert_int_equal(q->tokens_used, 150);
    assert_int_equal(q->in_flight, 0);
    assert_str(claim_id("a", T0 + 30), tid(2));
    assert_int_equal(quota("t", T0 + 30)->tokens_used, 650);
    /* larger than the whole tpm: only into an empty window */
    submit_est(tid(3), 5000, 0, T0 + 40);
    assert_null(claim("a", T0 + 50));
    assert_str(claim_id("a", T0 + 61000), tid(3));
}

static void in_flight_given_back_on_every_exit(void **state)
{
    (void)state;
    REQUIRE_QUOTAS();
    put("f", "p1", NULL, 0, 0, 1);
    reg("a", "", 10, T0);
    reg("b", "", 10, T0);
    struct cp_task_view t1 = task_in(tid(1), "", CP_PRIORITY_NORMAL, T0);
    t1.timeout_ms = 1000;
    assert_rc(op_submit(&t1), 0);
    submit(tid(2), "", CP_PRIORITY_NORMAL, T0 + 1);
    assert_str(claim_id("a", T0), tid(1));
    assert_int_equal(op_claim("b", NULL, T0 + 10)->quota_held, 1);
    /* a timeout frees the place */
    reap(T0 + 2000, 3600000, 0, 86400000);
    assert_int_equal(quota("f", T0 + 2000)->in_flight, 0);
    const char *got = claim_id("b", T0 + 2000);
    assert_true(strcmp(got, tid(1)) == 0 || strcmp(got, tid(2)) == 0);
    /* unregistering the holder frees it too */
    assert_rc(op_unregister("b", T0 + 2100), 0);
    assert_int_equal(quota("f", T0 + 2100)->in_flight, 0);
}

static void rate_limited_pause_and_aimd(void **state)
{
    (void)state;
    REQUIRE_QUOTAS();
    put("r", "p1", NULL, 0, 0, 4);
    reg("a", "", 10, T0);
    reg("b", "", 10, T0);
    for (unsigned i = 1; i <= 6; i++)
        submit(tid(i), "", CP_PRIORITY_NORMAL, T0 + i);
    assert_str(claim_id("a", T0 + 10), tid(1));
    struct cp_transition tr = {.kind = CP_TR_FAIL,
                               .task_id = tid(1),
                               .agent_id = "a",
                               .error = "429",
                               .latency_ms = -1,
                               .now_ms = T0 + 20,
                               .rate_limited = 1,
                               .retry_after_ms = 2000};
    const struct cp_result *r = op_transition(&tr);
    assert_rc(r, 0);
    assert_int_equal(r->task->status, CP_TASK_PENDING);
    assert_int_equal(r->task->retries, 0);
    assert_int_equal(r->task->not_before_ms, 0); /* the quota took the pause */
    assert_int_equal(r->task->attempts[r->task->n_attempts - 1].outcome, CP_ATTEMPT_RATE_LIMITED);
    assert_int_equal(agent("a")->tasks_failed, 0);
    const struct cp_quota_view *q = quota("r", T0 + 20);
    assert_int_equal(q->paused_until_ms, T0 + 2020);
    assert_int_equal(q->rate_limited, 1);
    r = op_claim("b", NULL, T0 + 30);
    assert_int_equal(r->quota_held, 1);
    assert_int_equal(r->next_due_ms, T0 + 2020);
    const char *g = claim_id("b", T0 + 2020); /* the pause is over */
    /* no retry time: the concurrency is halved (4 -> 2), then grows by one per completion */
    tr.task_id = g;
    tr.agent_id = "b";
    tr.retry_after_ms = 0;
    tr.now_ms = T0 + 2100;
    assert_rc(op_transition(&tr), 0);
    assert_int_equal(quota("r", T0 + 2100)->concurrency_limit, 2);
    const char *x = claim_id("a", T0 + 2200), *y = claim_id("a", T0 + 2201);
    assert_int_equal(op_claim("a", NULL, T0 + 2202)->quota_held, 1);
    tr_ok(CP_TR_COMPLETE, x, "a", T0 + 2300);
    assert_int_equal(quota("r", T0 + 2300)->concurrency_limit, 3);
    tr_ok(CP_TR_COMPLETE, y, "a", T0 + 2400);
    assert_int_equal(quota("r", T0 + 2400)->concurrency_limit, 0); /* back at max_in_flight */
}

static void scopes_and_key_ids(void **state)
{
    (void)state;
    REQUIRE_QUOTAS();
    struct cp_quota_view q = {.size = sizeof q, .id = "k", .scope = {"p1", NULL, "key1"}, .rpm = 1};
    assert_rc(op_quota_put(&q), 0);
    struct cp_quota_scope sc = {"p1", NULL, "key1"};
    struct cp_agent_view a = agent_in("a", "", 10);
    a.quota_scopes = &sc;
    a.n_quota_scopes = 1;
    const struct cp_result *r = op_register(&a, T0);
    assert_rc(r, 0);
    assert_int_equal(r->agent->n_quota_scopes, 1);
    assert_str(r->agent->quota_scopes[0].key_id, "key1");
    reg("b", "", 10, T0); /* p1 too, but no key: a quota with key_id does not cover it */
    for (unsigned i = 1; i <= 3; i++)
        submit(tid(i), "", CP_PRIORITY_NORMAL, T0 + i);
    claim_id("a", T0 + 10);
    assert_int_equal(op_claim("a", NULL, T0 + 11)->quota_held, 1);
    claim_id("b", T0 + 12);
    claim_id("b", T0 + 13);
}

const struct CMUnitTest conformance_quota_tests[] = {
    CX_TEST(definitions),
    CX_TEST(rpm_window_slides_by_seconds),
    CX_TEST(tokens_reserved_and_settled),
    CX_TEST(in_flight_given_back_on_every_exit),
    CX_TEST(rate_limited_pause_and_aimd),
    CX_TEST(scopes_and_key_ids),
};
const size_t conformance_quota_count =
    sizeof conformance_quota_tests / sizeof *conformance_quota_tests;
