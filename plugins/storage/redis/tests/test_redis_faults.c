/* test_redis_faults.c — the Redis storage plugin against a real redis-server it starts and
 * breaks: unreachable at start-up (clear message, no password), AUTH and database selection,
 * the server killed and restarted (UNAVAILABLE, then reconnect with scripts and subscription
 * restored), a hung server (watchdog), a flushed script cache (NOSCRIPT retry), pub/sub
 * wake-ups between two instances, destroy() with operations in flight or from a callback, and
 * many pipelined operations. Loopback only; every wait is bounded.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "redis_harness.h"

/* ---- the tests ----------------------------------------------------------------------------- */

static void unreachable_at_start_names_url_not_password(void **state)
{
    (void)state;
    int port = free_port(); /* nothing listens there */
    char url[128], err[512], want[64];
    snprintf(url, sizeof url, "redis://:s3cretpw@127.0.0.1:%d/2", port);
    struct inst in;
    assert_null(load(&in, url, NULL, "500", err, sizeof err));
    snprintf(want, sizeof want, "redis://127.0.0.1:%d/2", port);
    if (!strstr(err, want) || !strstr(err, "cannot reach"))
        fail_msg("message does not name the url: %s", err);
    assert_null(strstr(err, "s3cretpw"));
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    char err[512];
    struct inst in;
    assert_null(load(&in, "http://127.0.0.1:6379", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "bad url"));
    assert_null(load(&in, "redis://127.0.0.1:99999", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "port"));
    assert_null(load(&in, "redis://127.0.0.1:6379/x", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "database"));
    assert_null(load(&in, "redis://127.0.0.1:6379", "a{b}", NULL, err, sizeof err));
    assert_non_null(strstr(err, "prefix"));
    assert_null(load(&in, "redis://127.0.0.1:6379", NULL, "soon", err, sizeof err));
    assert_non_null(strstr(err, "timeout_ms"));
    harness_lua = "fast";
    assert_null(load(&in, "redis://127.0.0.1:6379", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "lua"));
    harness_lua = NULL;
}

/* How often Redis ran `cmd` ("fcall", "evalsha") since its start. */
static long long calls_of(const struct srv *s, const char *cmd)
{
    redisContext *c = srv_client(s, NULL);
    redisReply *r = redisCommand(c, "INFO commandstats");
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, key) : NULL;
    long long n = p ? atoll(p + strlen(key)) : 0;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void auth_and_database(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, "pw%1");
    char url[128], err[512];
    struct inst in;
    snprintf(url, sizeof url, "redis://:wrongpass@127.0.0.1:%d", s->port);
    assert_null(load(&in, url, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "AUTH"));
    assert_null(strstr(err, "wrongpass"));

    snprintf(url, sizeof url, "redis://:pw%%251@127.0.0.1:%d/3", s->port); /* %25 = '%' */
    if (!load(&in, url, "authdb:", NULL, err, sizeof err)) fail_msg("load: %s", err);
    struct res x;
    do_register(&in, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    unload(&in);

    redisContext *c = srv_client(s, "pw%1");
    redisReply *r = redisCommand(c, "SELECT 3");
    freeReplyObject(r);
    r = redisCommand(c, "EXISTS {authdb:}a:agent-1");
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
    srv_cleanup(s);
}

static void outage_then_recovery(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a, b;
    load_ok(&a, s, "outage:", NULL);
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_true(a.ops->is_available(a.st));

    /* The server dies with an operation about to go out: it fails, nothing hangs. */
    srv_stop(s);
    do_register(&a, "agent-2", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_false(a.ops->is_available(a.st));
    /* While down, operations fail at once. */
    do_register(&a, "agent-3", &x);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.rc, CP_ERR_UNAVAILABLE);
    assert_non_null(strstr(x.msg, "unreachable"));

    /* Back (empty: no persistence): reconnects with backoff, scripts loaded again. */
    run_for(300);
    srv_start(s, NULL);
    assert_true(wait_available(&a));
    do_register(&a, "agent-4", &x);
    assert_int_equal(wait_res(&x, 5000), 0);

    /* The subscription came back too: another instance's submit wakes this one. */
    struct note note = {0};
    a.ops->watch(a.st, on_change, &note);
    load_ok(&b, s, "outage:", NULL);
    for (int i = 0; i < 100 && !note.n; i++) { /* the resubscribe may still be on its way */
        do_submit(&b, 100 + (unsigned)i, &x);
        assert_int_equal(wait_res(&x, 5000), 0);
        run_for(20);
    }
    assert_true(note.n > 0);
    assert_string_equal(note.kind, "pending");
    unload(&b);
    unload(&a);
    srv_cleanup(s);
}

static void watch_sees_other_processes_only(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a, b;
    load_ok(&a, s, "watch:", NULL);
    load_ok(&b, s, "watch:", NULL);
    struct note nt = {0};
    a.ops->watch(a.st, on_change, &nt);
    run_for(100); /* both subscriptions confirmed */

    struct res x;
    do_submit(&a, 1, &x); /* a's own: not reported to a */
    assert_int_equal(wait_res(&x, 5000), 0);
    do_submit(&b, 2, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    run_until(&nt.n, 5000);
    /* Messages arrive in publish order, so a's own (first) was seen and ignored. */
    assert_int_equal(nt.n, 1);
    assert_string_equal(nt.kind, "pending");
    assert_string_equal(nt.id, "task_000000000000000000000002");

    struct cp_transition tr = {.kind = CP_TR_CANCEL,
                               .task_id = "task_000000000000000000000002",
                               .latency_ms = -1,
                               .now_ms = 1700000001000};
    memset(&x, 0, sizeof x);
    b.ops->task_transition(b.st, &tr, on_res, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    nt.n = 0;
    run_until(&nt.n, 5000);
    assert_string_equal(nt.kind, "done");
    assert_string_equal(nt.id, "task_000000000000000000000002");
    unload(&b);
    unload(&a);
    srv_cleanup(s);
}

/* lua=eval: every op an EVALSHA of its script; a flushed script cache is reloaded. */
static void script_flush_is_retried(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    harness_lua = "eval";
    load_ok(&a, s, "flush:", NULL);
    redisContext *c = srv_client(s, NULL);
    redisReply *r = redisCommand(c, "SCRIPT FLUSH");
    freeReplyObject(r);
    redisFree(c);
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    do_register(&a, "agent-1", &x); /* loaded again by the retry */
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_true(calls_of(s, "evalsha") >= 2);
    assert_int_equal(calls_of(s, "fcall"), 0);
    unload(&a);
    srv_cleanup(s);
}

/* The default on Redis 7: the library of functions (FCALL); FUNCTION FLUSH is survived the
 * same way (FUNCTION LOAD REPLACE, then the call again). */
static void function_flush_is_retried(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "fflush:", NULL);
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    redisContext *c = srv_client(s, NULL);
    redisReply *r = redisCommand(c, "FUNCTION FLUSH");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    do_register(&a, "agent-1", &x); /* loaded again by the retry */
    assert_int_equal(wait_res(&x, 5000), 0);
    do_register(&a, "agent-2", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_true(calls_of(s, "fcall") >= 3);
    assert_int_equal(calls_of(s, "evalsha"), 0);
    unload(&a);
    srv_cleanup(s);
}

static void hung_server_is_dropped(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "hung:", "300");
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    kill(s->pid, SIGSTOP);
    do_register(&a, "agent-2", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_false(a.ops->is_available(a.st));
    kill(s->pid, SIGCONT);
    assert_true(wait_available(&a));
    do_register(&a, "agent-3", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    unload(&a);
    srv_cleanup(s);
}

static void replica_after_failover_reconnects(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "replica:", NULL);
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    /* Demoted to a (read-only) replica, as after a failover. */
    redisContext *c = srv_client(s, NULL);
    redisReply *r = redisCommand(c, "REPLICAOF 127.0.0.1 1");
    freeReplyObject(r);
    do_register(&a, "agent-2", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_non_null(strstr(x.msg, "READONLY"));
    /* Promoted again: the plugin dropped the connection and comes back by itself. */
    r = redisCommand(c, "REPLICAOF NO ONE");
    freeReplyObject(r);
    redisFree(c);
    run_for(50);
    assert_true(wait_available(&a));
    do_register(&a, "agent-3", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    unload(&a);
    srv_cleanup(s);
}

static void destroy_answers_in_flight(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "destroy:", NULL);
    struct res x[50];
    for (unsigned i = 0; i < 50; i++)
        do_submit(&a, i, &x[i]);
    unload(&a); /* before the loop ever ran: every reply is still owed */
    for (unsigned i = 0; i < 50; i++) {
        assert_int_equal(x[i].calls, 1);
        assert_int_equal(x[i].rc, CP_ERR_UNAVAILABLE);
    }
    srv_cleanup(s);
}

struct killer {
    struct inst *in;
    struct res r;
};

static void destroy_in_callback(void *cookie, const struct cp_result *res)
{
    struct killer *k = cookie;
    on_res(&k->r, res);
    k->in->ops->destroy(k->in->st);
    k->in->p->state = NULL; /* plugin_set_unload must not destroy it again */
}

static void destroy_from_a_callback(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "destroycb:", NULL);
    struct killer k = {&a, {0}};
    struct res rest[5];
    struct cp_task_view t = {.id = "task_000000000000000000000001",
                             .task_type = "t",
                             .payload_json = "{}",
                             .timeout_ms = 1000,
                             .max_retries = 1,
                             .metadata_json = "{}"};
    a.ops->task_submit(a.st, &t, destroy_in_callback, &k);
    for (unsigned i = 0; i < 5; i++)
        do_submit(&a, 10 + i, &rest[i]);
    run_until(&k.r.calls, 5000);
    assert_int_equal(k.r.calls, 1);
    assert_int_equal(k.r.rc, 0);
    run_for(50);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(rest[i].calls, 1);
        /* Already answered before the destroy, or answered UNAVAILABLE by it. */
        assert_true(rest[i].rc == 0 || rest[i].rc == CP_ERR_UNAVAILABLE);
    }
    unload(&a);
    srv_cleanup(s);
}

struct got {
    int calls, rc;
    int64_t timeout_ms, pou;
    char agent[64];
};

static void on_got(void *cookie, const struct cp_result *r)
{
    struct got *g = cookie;
    g->calls++;
    g->rc = r->rc;
    if (r->task) {
        g->timeout_ms = r->task->timeout_ms;
        g->pou = r->task->passed_over_until_ms;
    }
    if (r->agent) snprintf(g->agent, sizeof g->agent, "%s", r->agent->agent_id);
}

static void odd_inputs(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "odd:", NULL);
    /* A capability with a newline cannot be stored (it separates names): INVALID. */
    static const char *const bad[] = {"a\nb"};
    struct cp_agent_view in = {.agent_id = "x",
                               .capabilities = bad,
                               .n_capabilities = 1,
                               .metadata_json = "{}",
                               .max_concurrent_tasks = 1};
    struct got g = {0};
    a.ops->agent_register(a.st, &in, 1700000000000, on_got, &g);
    run_until(&g.calls, 5000);
    assert_int_equal(g.rc, CP_ERR_INVALID);

    /* Ids are opaque bytes: spaces, braces, UTF-8. */
    static const char *const caps[] = {"c {1}", "\xc3\xa9t\xc3\xa9"};
    in = (struct cp_agent_view){.agent_id = "agent {x} \xe2\x9c\x93",
                                .capabilities = caps,
                                .n_capabilities = 2,
                                .metadata_json = "{}",
                                .max_concurrent_tasks = 1};
    memset(&g, 0, sizeof g);
    a.ops->agent_register(a.st, &in, 1700000000000, on_got, &g);
    run_until(&g.calls, 5000);
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.agent, "agent {x} \xe2\x9c\x93");

    /* "Never" as INT64_MAX stays a huge positive number (Lua numbers are doubles). */
    struct cp_task_view t = {.id = "task_000000000000000000000001",
                             .task_type = "t",
                             .payload_json = "{}",
                             .required_capabilities = caps,
                             .n_required = 2,
                             .created_at_ms = 1700000000000,
                             .timeout_ms = INT64_MAX,
                             .max_retries = 5,
                             .metadata_json = "{}"};
    memset(&g, 0, sizeof g);
    a.ops->task_submit(a.st, &t, on_got, &g);
    run_until(&g.calls, 5000);
    assert_int_equal(g.rc, 0);
    assert_true(g.timeout_ms > ((int64_t)1 << 62));
    static const char *const other_caps[] = {"c {1}", "z", "\xc3\xa9t\xc3\xa9"}; /* strcmp order */
    in.agent_id = "other";
    in.capabilities = other_caps;
    in.n_capabilities = 3;
    memset(&g, 0, sizeof g);
    a.ops->agent_register(a.st, &in, 1700000000000, on_got, &g);
    run_until(&g.calls, 5000);
    assert_int_equal(g.rc, 0);
    struct cp_claim c = {.agent_id = "agent {x} \xe2\x9c\x93", .now_ms = 1700000000001};
    memset(&g, 0, sizeof g);
    a.ops->task_claim(a.st, &c, on_got, &g);
    run_until(&g.calls, 5000);
    assert_int_equal(g.rc, 0);
    struct cp_transition tr = {.kind = CP_TR_FAIL,
                               .task_id = t.id,
                               .agent_id = c.agent_id,
                               .latency_ms = -1,
                               .requeue = 1,
                               .pass_over_ms = INT64_MAX,
                               .now_ms = 1700000000002};
    memset(&g, 0, sizeof g);
    a.ops->task_transition(a.st, &tr, on_got, &g);
    run_until(&g.calls, 5000);
    assert_int_equal(g.rc, 0);
    if (!(g.pou > ((int64_t)1 << 62))) /* passed over "forever", not negative */
        fail_msg("passed_over_until_ms %lld", (long long)g.pou);
    unload(&a);
    srv_cleanup(s);
}

static int done_count;
static void count_done(void *cookie, const struct cp_result *r)
{
    (void)cookie;
    assert_int_equal(r->rc, 0);
    done_count++;
}

static void pipelined_many(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "pipe:", NULL);
    enum { N = 20000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    done_count = 0;
    for (unsigned i = 0; i < N; i++) {
        char id[40];
        snprintf(id, sizeof id, "task_%024x", i);
        struct cp_task_view t = {.id = id,
                                 .task_type = "t",
                                 .payload_json = "{\"n\":1}",
                                 .priority = (int32_t)(i % 4),
                                 .created_at_ms = 1700000000000 + i,
                                 .timeout_ms = 300000,
                                 .max_retries = 3,
                                 .metadata_json = "{}"};
        a.ops->task_submit(a.st, &t, count_done, NULL);
    }
    for (int i = 0; i < 3000 && done_count < N; i++)
        run_for(10);
    assert_int_equal(done_count, N);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s_el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("%d pipelined submits in %.3f s (%.0f/s)\n", N, s_el, N / s_el);
    unload(&a);
    srv_cleanup(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    host_set_event_base(base);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(unreachable_at_start_names_url_not_password, teardown),
        cmocka_unit_test_teardown(bad_options_are_refused, teardown),
        cmocka_unit_test_teardown(auth_and_database, teardown),
        cmocka_unit_test_teardown(outage_then_recovery, teardown),
        cmocka_unit_test_teardown(watch_sees_other_processes_only, teardown),
        cmocka_unit_test_teardown(script_flush_is_retried, teardown),
        cmocka_unit_test_teardown(function_flush_is_retried, teardown),
        cmocka_unit_test_teardown(hung_server_is_dropped, teardown),
        cmocka_unit_test_teardown(replica_after_failover_reconnects, teardown),
        cmocka_unit_test_teardown(destroy_answers_in_flight, teardown),
        cmocka_unit_test_teardown(destroy_from_a_callback, teardown),
        cmocka_unit_test_teardown(odd_inputs, teardown),
        cmocka_unit_test_teardown(pipelined_many, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    event_base_free(base);
    return rc;
}
