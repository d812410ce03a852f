/* test_redis_ha.c — the Redis plugin's high-availability behaviour against real redis-server
 * processes (a single node, or a master and a replica): wait_replicas (WAIT after writes; too
 * few replicas = CP_ERR_UNAVAILABLE with outcome UNCONFIRMED, reads unaffected), the outcome
 * of failed operations (never sent = NOT_APPLIED, reply lost = UNKNOWN), the ROLE check at
 * start-up and on reconnect, status(), and warnings that repeat rate-limited to one line.
 * Sentinel and Cluster failovers run in tests/e2e/redis_ha_*.py. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_harness.h"

static void status_of(struct inst *in, struct cp_storage_status *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    assert_non_null(in->ops->status);
    in->ops->status(in->st, st);
    assert_int_equal(st->size, sizeof *st);
}

/* Does the record at key exist (layout 4: one value per record)? 1, 0, or -1 (no answer). */
static long long exists(const struct srv *s, const char *key)
{
    redisContext *c = srv_client(s, NULL);
    redisReply *r = redisCommand(c, "EXISTS %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void replicate(const struct srv *replica, const struct srv *master)
{
    redisContext *c = srv_client(replica, NULL);
    redisReply *r = redisCommand(c, "REPLICAOF 127.0.0.1 %d", master->port);
    freeReplyObject(r);
    for (int i = 0; i < 500; i++) { /* bounded: 10 s */
        r = redisCommand(c, "INFO replication");
        int up = r && r->str && strstr(r->str, "master_link_status:up") != NULL;
        freeReplyObject(r);
        if (up) break;
        run_for(20);
    }
    redisFree(c);
}

static void wait_replicas_confirms_writes(void **state)
{
    (void)state;
    struct srv *m = srv_new();
    srv_start(m, NULL);
    harness_extra[0] = (struct cfg_option){"wait_replicas", "1"};
    harness_extra[1] = (struct cfg_option){"wait_timeout_ms", "100"};
    struct inst a;
    load_ok(&a, m, "wait:", NULL);
    /* No replica: the write runs on the master, WAIT says 0 replicas have it. */
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_int_equal(x.outcome, CP_OUTCOME_UNCONFIRMED);
    if (!strstr(x.msg, "not confirmed by 1 replica(s) within 100 ms") ||
        !strstr(x.msg, "may or may not have been applied"))
        fail_msg("message: %s", x.msg);
    assert_int_equal(exists(m, "{wait:}a:agent-1"), 1); /* it was applied */
    /* Reads are not held for replicas. */
    memset(&x, 0, sizeof x);
    a.ops->agent_get(a.st, "agent-1", on_res, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    struct cp_storage_status st;
    status_of(&a, &st);
    assert_int_equal(st.unconfirmed_writes, 1);
    assert_true(st.up);
    /* Several writes sent together share one WAIT and fail together. */
    struct res many[5];
    memset(many, 0, sizeof many);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "agent-%d", 10 + i);
        struct cp_agent_view in = {.agent_id = id, .max_concurrent_tasks = 1};
        a.ops->agent_register(a.st, &in, 1000, on_res, &many[i]);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(wait_res(&many[i], 5000), CP_ERR_UNAVAILABLE);
        assert_int_equal(many[i].outcome, CP_OUTCOME_UNCONFIRMED);
    }
    status_of(&a, &st);
    assert_int_equal(st.unconfirmed_writes, 6);
    /* With a replica, writes are confirmed. */
    struct srv *r = srv_new();
    srv_start(r, NULL);
    replicate(r, m);
    do_register(&a, "agent-2", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_int_equal(exists(r, "{wait:}a:agent-2"), 1); /* on the replica already */
    status_of(&a, &st);
    assert_int_equal(st.unconfirmed_writes, 6);
    unload(&a);
    /* wait_timeout_ms must stay under half of timeout_ms (WAIT holds the connection). */
    harness_extra[1] = (struct cfg_option){"wait_timeout_ms", "3000"};
    char err[512];
    assert_null(load(&a, "redis://127.0.0.1:1", NULL, "5000", err, sizeof err));
    assert_non_null(strstr(err, "wait_timeout_ms"));
    harness_extra[0] = (struct cfg_option){"wait_replicas", "many"};
    harness_extra[1] = (struct cfg_option){NULL, NULL};
    assert_null(load(&a, "redis://127.0.0.1:1", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "wait_replicas"));
    srv_cleanup(r);
    srv_cleanup(m);
}

static void outcome_of_failures(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "outcome:", "300");
    struct res x;
    do_register(&a, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    /* Sent, then the server hangs: the watchdog drops the connection, the reply is lost. */
    kill(s->pid, SIGSTOP);
    do_register(&a, "agent-2", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_int_equal(x.outcome, CP_OUTCOME_UNKNOWN);
    assert_non_null(strstr(x.msg, "may or may not"));
    /* While down: never sent. */
    do_register(&a, "agent-3", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_int_equal(x.outcome, CP_OUTCOME_NOT_APPLIED);
    kill(s->pid, SIGCONT);
    assert_true(wait_available(&a));
    struct cp_storage_status st;
    status_of(&a, &st);
    assert_string_equal(st.mode, "standalone");
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%d", s->port);
    assert_string_equal(st.address, want);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.failovers, 0);
    /* A short status struct (an older host) is filled only as far as it reaches. */
    struct cp_storage_status small;
    memset(&small, 0xAB, sizeof small);
    small.size = offsetof(struct cp_storage_status, address);
    a.ops->status(a.st, &small);
    assert_int_equal(small.size, offsetof(struct cp_storage_status, address));
    assert_int_equal((unsigned char)small.address[0], 0xAB);
    /* An error reply from Redis: refused there, nothing applied. */
    redisContext *c = srv_client(s, NULL);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 1"));
    do_register(&a, "agent-4", &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_int_equal(x.outcome, CP_OUTCOME_NOT_APPLIED);
    assert_non_null(strstr(x.msg, "OOM"));
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 0"));
    redisFree(c);
    unload(&a);
    srv_cleanup(s);
}

static void only_a_master_is_used(void **state)
{
    (void)state;
    struct srv *m = srv_new();
    srv_start(m, NULL);
    struct srv *r = srv_new(); /* a free slot only once m holds its own */
    srv_start(r, NULL);
    replicate(r, m);
    struct inst a;
    char err[512], url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", r->port);
    assert_null(load(&a, url, NULL, "500", err, sizeof err));
    if (!strstr(err, "is a replica, not the master")) fail_msg("%s", err);
    /* A seed list: the replica first, then the master: the master is used. */
    char nodes[32];
    snprintf(nodes, sizeof nodes, "127.0.0.1:%d", m->port);
    harness_extra[0] = (struct cfg_option){"nodes", nodes};
    if (!load(&a, url, "roles:", "500", err, sizeof err)) fail_msg("%s", err);
    struct cp_storage_status st;
    status_of(&a, &st);
    assert_string_equal(st.address, nodes);
    /* The master is demoted (its replica promoted): the connection is made again on whichever
     * node says it is the master. */
    redisContext *c = srv_client(m, NULL);
    freeReplyObject(redisCommand(c, "CLIENT KILL TYPE normal"));
    freeReplyObject(redisCommand(c, "REPLICAOF 127.0.0.1 %d", r->port));
    redisFree(c);
    c = srv_client(r, NULL);
    freeReplyObject(redisCommand(c, "REPLICAOF NO ONE"));
    redisFree(c);
    struct res x;
    for (int i = 0; i < 100; i++) { /* bounded: at most 100 x (op + 100 ms) */
        do_register(&a, "agent-1", &x);
        if (wait_res(&x, 5000) == 0) break;
        run_for(100);
    }
    assert_int_equal(x.rc, 0);
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%d", r->port);
    status_of(&a, &st);
    assert_string_equal(st.address, want);
    assert_int_equal(st.failovers, 1);
    unload(&a);
    srv_cleanup(r);
    srv_cleanup(m);
}

/* Lines of fd 2 written while fn runs, containing `needle`. */
static int stderr_lines_with(void (*fn)(void *), void *arg, const char *needle)
{
    char path[] = "/tmp/cp-redis-ha-log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    static char buf[1 << 16];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unlink(path);
    buf[n > 0 ? n : 0] = '\0';
    int count = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        count += strstr(line, needle) != NULL;
    return count;
}

static void thirty_failing_writes(void *arg)
{
    struct inst *a = arg;
    for (int i = 0; i < 30; i++) {
        struct res x;
        do_register(a, "agent-x", &x);
        assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    }
}

static void repeated_errors_are_rate_limited(void **state)
{
    (void)state;
    struct srv *s = srv_new();
    srv_start(s, NULL);
    struct inst a;
    load_ok(&a, s, "limited:", NULL);
    struct res x;
    do_register(&a, "agent-0", &x); /* connected and set up before Redis runs out of memory */
    assert_int_equal(wait_res(&x, 5000), 0);
    redisContext *c = srv_client(s, NULL);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 1"));
    /* 30 refused writes: one warning line, not 30 (the next one would carry the count). */
    assert_int_equal(stderr_lines_with(thirty_failing_writes, &a, "OOM"), 1);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 0"));
    redisFree(c);
    unload(&a);
    srv_cleanup(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    host_set_event_base(base);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(wait_replicas_confirms_writes, teardown),
        cmocka_unit_test_teardown(outcome_of_failures, teardown),
        cmocka_unit_test_teardown(only_a_master_is_used, teardown),
        cmocka_unit_test_teardown(repeated_errors_are_rate_limited, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    event_base_free(base);
    return rc;
}
