/* test_redis_fence.c — operations whose replies are lost are made safe (redis_fence.c), each
 * with functions (FCALL) and with scripts (EVALSHA), against a real redis-server:
 *  - a call carrying an older connection epoch than {prefix}conn:<instance> is refused without
 *    effect (sent directly, as a dropped connection's buffered command would run); a reconnect
 *    raises the epoch, so what the old connection sent is refused from then on;
 *  - claim_release with (agent, token) pairs puts back exactly the task claimed with that token:
 *    front of its band, attempt restored, no retry, the agent's slot back; it publishes
 *    "pending" and "room" as a release does; it is idempotent; the layout stays consistent;
 *  - through the plugin: a claim whose reply was lost (server stopped past the watchdog) and one
 *    not confirmed by WAIT are released by the plugin itself, and the host is told; so is the
 *    claim of a complete-and-claim-next call whose reply was lost (its completion stands). */
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
#include "redis_int.h" /* the record fields (redis_fields.c) */
#include "redis_scripts.h"

#define TAG "{fence:}"
#define T1 "task_000000000000000000000001"
#define T2 "task_000000000000000000000002"

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

/* A field of a record as stored (layout 4: "<n>\0<field>\0...", fields in the order of
 * redis_fields.c) as a string ("" when absent). */
static const char *hget(redisContext *c, const char *key, const char *field)
{
    static char out[8][128];
    static int next;
    char *buf = out[next++ % 8];
    int agent = strstr(key, "}a:") != NULL, pos = -1;
    int n = agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    for (int i = 0; i < n + (agent ? RS_AGENT_OWN_FIELDS : RS_TASK_OWN_FIELDS); i++) {
        const char *f = i < n ? (agent ? rs_agent_fields[i] : rs_task_fields[i])
                              : (agent ? rs_agent_own_fields[i - n] : rs_task_own_fields[i - n]);
        if (!strcmp(f, field)) pos = i + 1; /* after the count */
    }
    assert_true(pos > 0);
    redisReply *r = cmd(c, "GET %s", key);
    buf[0] = '\0';
    if (r->type == REDIS_REPLY_STRING) {
        const char *p = r->str, *end = r->str + r->len;
        for (int i = 0; i < pos && p < end; i++)
            p += strlen(p) + 1; /* each field ends with a zero byte */
        if (p < end && strcmp(p, "\x01")) snprintf(buf, 128, "%s", p);
    }
    freeReplyObject(r);
    return buf;
}

/* The plugin's instance id and the epoch of its command connection now. */
static void instance_of(redisContext *c, char inst[32], long long *epoch)
{
    redisReply *r = cmd(c, "KEYS %s", TAG "conn:*");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    snprintf(inst, 32, "%s", r->element[0]->str + strlen(TAG "conn:"));
    freeReplyObject(r);
    r = cmd(c, "GET %s%s", TAG "conn:", inst);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    *epoch = atoll(r->str);
    freeReplyObject(r);
    r = cmd(c, "TTL %s%s", TAG "conn:", inst);
    assert_true(r->integer > 0); /* it expires on its own */
    freeReplyObject(r);
}

/* One op called directly as cpd calls it: FCALL of its function or EVALSHA of its script, with
 * ARGV[1] = "<inst>:<epoch>", then args. */
static redisReply *call_op(redisContext *c, int functions, int script, const char *inst,
                           long long epoch, const char *const *args, int n)
{
    char sha[64] = "", argv1[64];
    snprintf(argv1, sizeof argv1, "%s:%012lld", inst, epoch);
    if (!functions) {
        redisReply *r = cmd(c, "SCRIPT LOAD %s", rs_scripts[script].text);
        snprintf(sha, sizeof sha, "%s", r->str);
        freeReplyObject(r);
    }
    const char *argv[32] = {functions ? "FCALL" : "EVALSHA",
                            functions ? rs_scripts[script].function : sha, "1", TAG, argv1};
    assert_true(n <= 27);
    for (int i = 0; i < n; i++)
        argv[5 + i] = args[i];
    redisReply *r = redisCommandArgv(c, 5 + n, argv, NULL);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("%s: %s", rs_scripts[script].name, r->str);
    return r;
}

/* A scenario's two tests: with functions (FCALL) and with scripts (lua=eval, EVALSHA). */
#define BOTH_FORMS(name, scenario)                                                                 \
    static void name##_functions(void **state)                                                     \
    {                                                                                              \
        (void)state;                                                                               \
        scenario(NULL);                                                                            \
    }                                                                                              \
    static void name##_eval(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        scenario("eval");                                                                          \
    }

static void setup(struct srv **s, struct inst *in, const char *lua, const char *timeout_ms)
{
    *s = srv_new();
    srv_start(*s, NULL);
    harness_lua = lua;
    load_ok(in, *s, "fence:", timeout_ms);
    struct res x;
    do_register(in, "agent-1", &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    do_submit(in, 1, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
}

static void plugin_claim(struct inst *in, struct res *x)
{
    struct cp_claim cl = {.agent_id = "agent-1", .now_ms = 1700000001000};
    memset(x, 0, sizeof *x);
    in->ops->task_claim(in->st, &cl, on_res, x);
}

/* ---- the epoch ------------------------------------------------------------------------------ */

static void epoch_refusal(const char *lua)
{
    struct srv *s;
    struct inst a;
    setup(&s, &a, lua, NULL);
    redisContext *c = srv_client(s, NULL);
    char inst[32];
    long long epoch;
    instance_of(c, inst, &epoch);
    assert_true(epoch >= 1);

    /* A claim from an older connection of this instance: refused (STALE), nothing changed. */
    const char *claim[] = {"1700000001000", "agent-1", "0", "x:1"};
    redisReply *r = call_op(c, !lua, RS_TASK_CLAIM, inst, epoch - 1, claim, 4);
    assert_int_equal(r->element[0]->integer, 4);
    assert_non_null(strstr(r->element[1]->str, "dropped connection"));
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "0");
    assert_string_equal(hget(c, TAG "a:agent-1", "inf"), "0");
    /* The same with the current epoch claims. */
    r = call_op(c, !lua, RS_TASK_CLAIM, inst, epoch, claim, 4);
    assert_int_equal(r->element[0]->integer, 0);
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "1");
    assert_string_equal(hget(c, TAG "t:" T1, "ctk"), "x:1");

    /* Every write refuses the same way: a complete from the old epoch changes nothing. */
    const char *complete[] = {"1700000002000", "2", T1, "=agent-1", "={}", "", "-1", "1",
                              "30000",         "0"};
    r = call_op(c, !lua, RS_TASK_TRANSITION, inst, epoch - 1, complete, 10);
    assert_int_equal(r->element[0]->integer, 4);
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "1");

    /* A raise from an older connection never lowers the epoch. */
    const char *ttl[] = {"86400"};
    r = call_op(c, !lua, RS_CONN_EPOCH, inst, epoch - 1, ttl, 1);
    assert_int_equal(r->element[0]->integer, 4);
    freeReplyObject(r);
    long long still;
    instance_of(c, inst, &still);
    assert_int_equal(still, epoch);

    /* A reconnect raises the epoch: what the dropped connection sent is refused from then on. */
    r = cmd(c, "CLIENT KILL TYPE normal SKIPME yes");
    freeReplyObject(r);
    run_for(50);
    assert_true(wait_available(&a));
    struct res x;
    do_register(&a, "agent-2", &x); /* the connection works again */
    assert_int_equal(wait_res(&x, 5000), 0);
    long long after;
    char inst2[32];
    instance_of(c, inst2, &after);
    assert_string_equal(inst2, inst);
    assert_true(after > epoch);
    r = call_op(c, !lua, RS_TASK_TRANSITION, inst, epoch, complete, 10);
    assert_int_equal(r->element[0]->integer, 4);
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "1");
    redisFree(c);
    unload(&a);
    srv_cleanup(s);
}

BOTH_FORMS(epoch_refusal, epoch_refusal)

/* ---- claim_release -------------------------------------------------------------------------- */

struct notes {
    int n;
    char seen[16][96]; /* "kind id" */
};

static void collect(void *arg, const char *kind, const char *id)
{
    struct notes *nt = arg;
    if (nt->n < 16) snprintf(nt->seen[nt->n], sizeof nt->seen[0], "%s %s", kind, id);
    nt->n++;
}

static int noted(const struct notes *nt, const char *what)
{
    for (int i = 0; i < nt->n && i < 16; i++)
        if (strcmp(nt->seen[i], what) == 0) return 1;
    return 0;
}

static void check_layout(redisContext *c)
{
    FILE *f = fopen(REDIS_TESTS_DIR "/check_layout.lua", "rb");
    assert_non_null(f);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    redisReply *r = cmd(c, "EVAL %s 1 %s", text, TAG);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 1; i < r->elements; i++)
        print_error("layout: %s\n", r->element[i]->str);
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
}

static void release_by_token(const char *lua)
{
    struct srv *s;
    struct inst a, b;
    setup(&s, &a, lua, NULL);
    redisContext *c = srv_client(s, NULL);
    char inst[32], token[64];
    long long epoch;
    instance_of(c, inst, &epoch);
    load_ok(&b, s, "fence:", NULL); /* another process: hears the release on pub/sub */
    struct notes nb = {0};
    b.ops->watch(b.st, collect, &nb);
    struct res x;
    do_submit(&a, 2, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    plugin_claim(&a, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_string_equal(x.task_id, T1);
    /* At its limit now: a second claim gets nothing and marks the agent (`wr`). */
    plugin_claim(&a, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_string_equal(x.task_id, "");

    snprintf(token, sizeof token, "%s", hget(c, TAG "t:" T1, "ctk"));
    assert_int_equal(strncmp(token, inst, strlen(inst)), 0); /* "<instance>:<n>" */
    assert_int_equal(token[strlen(inst)], ':');
    assert_string_equal(hget(c, TAG "a:agent-1", "wr"), "1");

    /* A token that matches nothing (another claim, another agent): no change. */
    const char *wrong[] = {"agent-1", "x:999", "agent-2", token};
    redisReply *r = call_op(c, !lua, RS_CLAIM_RELEASE, inst, epoch, wrong, 4);
    assert_int_equal(r->element[0]->integer, 0);
    assert_int_equal(r->element[9]->elements, 0);
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "1");

    /* The claim's own token: back to pending as if never handed out. */
    const char *pair[] = {"agent-1", token};
    r = call_op(c, !lua, RS_CLAIM_RELEASE, inst, epoch, pair, 2);
    assert_int_equal(r->element[0]->integer, 0);
    assert_int_equal(r->element[9]->elements, 1);
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "0");
    assert_string_equal(hget(c, TAG "t:" T1, "att"), "0");
    assert_string_equal(hget(c, TAG "t:" T1, "re"), "0");
    assert_string_equal(hget(c, TAG "t:" T1, "ag"), "");
    assert_string_equal(hget(c, TAG "a:agent-1", "inf"), "0");
    assert_string_equal(hget(c, TAG "a:agent-1", "cur"), "");
    assert_string_equal(hget(c, TAG "a:agent-1", "st"), "1"); /* busy -> ready */
    assert_string_equal(hget(c, TAG "a:agent-1", "wr"), "");
    check_layout(c);
    /* Other processes hear it as from a release: the task is claimable, the agent has room. */
    for (int i = 0; i < 200 && !(noted(&nb, "pending " T1) && noted(&nb, "room agent-1")); i++)
        run_for(10);
    assert_true(noted(&nb, "pending " T1));
    assert_true(noted(&nb, "room agent-1"));

    /* Idempotent: the same pair again changes nothing. */
    r = call_op(c, !lua, RS_CLAIM_RELEASE, inst, epoch, pair, 2);
    assert_int_equal(r->element[9]->elements, 0);
    freeReplyObject(r);
    /* Its old place: claimed again before T2, which arrived later. */
    plugin_claim(&a, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_string_equal(x.task_id, T1);
    assert_string_equal(hget(c, TAG "t:" T1, "att"), "1");
    r = call_op(c, !lua, RS_CLAIM_RELEASE, inst, epoch, pair, 2); /* the old token: no match */
    assert_int_equal(r->element[9]->elements, 0);
    freeReplyObject(r);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "1");
    check_layout(c);
    redisFree(c);
    unload(&b);
    unload(&a);
    srv_cleanup(s);
}

BOTH_FORMS(release_by_token, release_by_token)

/* ---- through the plugin --------------------------------------------------------------------- */

/* Redis stops (SIGSTOP) with the call `send` makes in its socket buffer; the watchdog answers
 * it "unknown"; Redis continues (SIGCONT) and runs it before the reconnect's epoch; returns once
 * the plugin is back and the host (watching into *na) was told `release_note`. */
static void lose_reply(struct srv *s, struct inst *a, struct notes *na,
                       void (*send)(struct inst *in, struct res *x), const char *release_note)
{
    a->ops->watch(a->st, collect, na);
    struct res x;
    kill(s->pid, SIGSTOP);
    send(a, &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_int_equal(x.outcome, CP_OUTCOME_UNKNOWN);
    kill(s->pid, SIGCONT);
    assert_true(wait_available(a));
    for (int i = 0; i < 300 && !noted(na, release_note); i++)
        run_for(10);
    assert_true(noted(na, release_note));
}

/* T1 completed by agent-1 with a claim of its next task, in one call. */
static void complete_t1_next(struct inst *in, struct res *x)
{
    struct cp_transition tr = {.kind = CP_TR_COMPLETE,
                               .task_id = T1,
                               .agent_id = "agent-1",
                               .latency_ms = -1,
                               .now_ms = 1700000002000};
    struct cp_claim cl = {.agent_id = "agent-1", .now_ms = 1700000002000};
    memset(x, 0, sizeof *x);
    in->ops->task_complete_next(in->st, &tr, &cl, on_res, x);
}

/* Redis stops with the claim in its socket buffer; the watchdog answers it "unknown"; Redis
 * continues and runs it (the task is claimed for an agent that never heard of it); the plugin
 * reconnects and releases it, and tells the host. */
static void lost_claim_is_released(const char *lua)
{
    struct srv *s;
    struct inst a;
    setup(&s, &a, lua, "300");
    struct notes na = {0};
    lose_reply(s, &a, &na, plugin_claim, "pending " T1);
    assert_true(noted(&na, "room agent-1"));
    struct res x;
    redisContext *c = srv_client(s, NULL);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "0");
    assert_string_equal(hget(c, TAG "t:" T1, "att"), "0");
    assert_string_equal(hget(c, TAG "a:agent-1", "inf"), "0");
    check_layout(c);
    redisFree(c);
    plugin_claim(&a, &x); /* and the agent gets it through a claim of its own */
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_string_equal(x.task_id, T1);
    unload(&a);
    srv_cleanup(s);
}

BOTH_FORMS(lost_claim_is_released, lost_claim_is_released)

/* The same for complete-and-claim-next (one script: the completion, then a claim carrying its
 * token): Redis runs the buffered call after the watchdog answered it "unknown"; the completion
 * stands (it may have been applied: the caller was told so), and the claim it made is released
 * like a lost claim's. */
static void lost_complete_next_releases_its_claim(const char *lua)
{
    struct srv *s;
    struct inst a;
    setup(&s, &a, lua, "300");
    struct res x;
    do_submit(&a, 2, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    plugin_claim(&a, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_string_equal(x.task_id, T1);
    struct notes na = {0};
    lose_reply(s, &a, &na, complete_t1_next, "pending " T2);
    redisContext *c = srv_client(s, NULL);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "3"); /* completed: it ran */
    assert_string_equal(hget(c, TAG "t:" T2, "st"), "0"); /* its claim undone */
    assert_string_equal(hget(c, TAG "t:" T2, "att"), "0");
    assert_string_equal(hget(c, TAG "a:agent-1", "inf"), "0");
    assert_string_equal(hget(c, TAG "a:agent-1", "tc"), "1");
    check_layout(c);
    redisFree(c);
    plugin_claim(&a, &x);
    assert_int_equal(wait_res(&x, 5000), 0);
    assert_string_equal(x.task_id, T2);
    unload(&a);
    srv_cleanup(s);
}

BOTH_FORMS(lost_complete_next, lost_complete_next_releases_its_claim)

/* wait_replicas without a replica: the claim ran on the master, WAIT did not confirm it — the
 * caller is told "unconfirmed", and the plugin releases the task at once. */
static void unconfirmed_claim_is_released(void **state)
{
    (void)state;
    struct srv *s;
    struct inst a;
    setup(&s, &a, NULL, NULL); /* the agent and the task, written without WAIT */
    unload(&a);
    harness_extra[0] = (struct cfg_option){"wait_replicas", "1"};
    harness_extra[1] = (struct cfg_option){"wait_timeout_ms", "100"};
    load_ok(&a, s, "fence:", NULL);
    struct res x;
    plugin_claim(&a, &x);
    assert_int_equal(wait_res(&x, 5000), CP_ERR_UNAVAILABLE);
    assert_int_equal(x.outcome, CP_OUTCOME_UNCONFIRMED);
    redisContext *c = srv_client(s, NULL);
    for (int i = 0; i < 300 && strcmp(hget(c, TAG "t:" T1, "st"), "0") != 0; i++)
        run_for(10);
    assert_string_equal(hget(c, TAG "t:" T1, "st"), "0");
    assert_string_equal(hget(c, TAG "a:agent-1", "inf"), "0");
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
        cmocka_unit_test_teardown(epoch_refusal_functions, teardown),
        cmocka_unit_test_teardown(epoch_refusal_eval, teardown),
        cmocka_unit_test_teardown(release_by_token_functions, teardown),
        cmocka_unit_test_teardown(release_by_token_eval, teardown),
        cmocka_unit_test_teardown(lost_claim_is_released_functions, teardown),
        cmocka_unit_test_teardown(lost_claim_is_released_eval, teardown),
        cmocka_unit_test_teardown(unconfirmed_claim_is_released, teardown),
        cmocka_unit_test_teardown(lost_complete_next_functions, teardown),
        cmocka_unit_test_teardown(lost_complete_next_eval, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    event_base_free(base);
    return rc;
}
