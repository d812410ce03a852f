/* tasks_tests.c — libcpclient against a real cpd: the task calls (CONTRACT §4), long polls,
 * interrupts and waits, with helper threads that each use their own client. Run by
 * test_client.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_test.h"

/* ---- tasks ----------------------------------------------------------------------------- */

void test_submit_get(void **state)
{
    (void)state;
    const char *caps[] = {"x-cap"};
    struct cpc_task_spec s = {.task_type = "debate",
                              .payload_json = "{\"question\": \"why?\", \"n\": 1.5}",
                              .required_capabilities = caps,
                              .n_required = 1,
                              .priority = "high",
                              .timeout_seconds = 12.5,
                              .has_max_retries = 1,
                              .max_retries = 0,
                              .metadata_json = "{\"pr\": \"123\"}",
                              .strategy = "round_robin"};
    char *id = NULL;
    ASSERT_OK(cp_client_task_submit(C, &s, &id));
    assert_int_equal(cp_client_last_status(C), 201);
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_string_equal(t->id, id);
    assert_string_equal(t->task_type, "debate");
    assert_non_null(strstr(t->payload_json, "\"question\":\"why?\""));
    assert_int_equal(t->n_required, 1);
    assert_string_equal(t->required_capabilities[0], "x-cap");
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->priority, CP_PRIORITY_HIGH);
    assert_true(t->created_at_ms > 0);
    assert_int_equal(t->claimed_at_ms, 0);
    assert_null(t->assigned_agent);
    assert_true(t->timeout_seconds > 12.4 && t->timeout_seconds < 12.6);
    assert_int_equal(t->max_retries, 0);
    assert_int_equal(t->retries, 0);
    assert_int_equal(t->attempt, 0);
    assert_null(t->result_json);
    assert_null(t->error);
    assert_non_null(strstr(t->metadata_json, "\"pr\":\"123\""));
    cp_client_task_free(t);
    ASSERT_OK(cp_client_task_cancel(C, id));
    free(id);

    /* Numeric priority and defaults. */
    s = (struct cpc_task_spec){.task_type = "t", .priority = "0"};
    ASSERT_OK(cp_client_task_submit(C, &s, &id));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->priority, CP_PRIORITY_CRITICAL);
    assert_string_equal(t->payload_json, "{}");
    assert_int_equal(t->max_retries, 3);
    assert_true(t->timeout_seconds > 0);
    cp_client_task_free(t);
    ASSERT_OK(cp_client_task_cancel(C, id));
    free(id);
}

void test_submit_errors(void **state)
{
    (void)state;
    char *id = (char *)1;
    struct cpc_task_spec s = {0};
    assert_int_equal(cp_client_task_submit(C, &s, &id), CPC_ERR_INVALID);
    assert_null(id);
    s.task_type = "t";
    s.payload_json = "{nope}";
    assert_int_equal(cp_client_task_submit(C, &s, &id), CPC_ERR_INVALID);
    assert_non_null(strstr(cp_client_last_message(C), "payload_json"));
    s.payload_json = NULL;
    s.priority = "whenever";
    expect_error(cp_client_task_submit(C, &s, &id), CPC_ERR_INVALID, 400, "invalid_field");
    assert_non_null(strstr(cp_client_last_message(C), "priority"));
    s.priority = NULL;
    s.timeout_seconds = -1;
    expect_error(cp_client_task_submit(C, &s, &id), CPC_ERR_INVALID, 400, NULL);
    struct cpc_task *t = (struct cpc_task *)1;
    expect_error(cp_client_task_get(C, "task_000000000000000000000000", &t), CPC_ERR_NOT_FOUND, 404,
                 "not_found");
    assert_null(t);
}

void test_lifecycle(void **state)
{
    (void)state;
    char agent[64], cap[64];
    snprintf(agent, sizeof agent, "%s", uid("w"));
    snprintf(cap, sizeof cap, "%s", uid("lc"));
    const char *caps[] = {cap};
    register_agent(agent, caps, 1);
    char *id = submit("lc", caps, 1, "{\"text\": \"abc\"}");

    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t));
    assert_non_null(t);
    assert_string_equal(t->id, id);
    assert_int_equal(t->status, CP_TASK_CLAIMED);
    assert_string_equal(t->assigned_agent, agent);
    assert_int_equal(t->attempt, 1);
    assert_true(t->claimed_at_ms > 0);
    cp_client_task_free(t);

    expect_error(cp_client_task_start(C, id, uid("other")), CPC_ERR_CONFLICT, 409, "conflict");
    ASSERT_OK(cp_client_task_start(C, id, agent));
    expect_error(cp_client_task_start(C, id, agent), CPC_ERR_CONFLICT, 409, "conflict");
    assert_non_null(strstr(cp_client_last_message(C), "running"));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_RUNNING);
    assert_true(t->started_at_ms > 0);
    cp_client_task_free(t);

    ASSERT_OK(cp_client_task_complete(C, id, agent, "{\"reversed\": \"cba\"}", 250.0));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_COMPLETED);
    assert_string_equal(t->result_json, "{\"reversed\":\"cba\"}");
    assert_true(t->completed_at_ms > 0);
    cp_client_task_free(t);
    expect_error(cp_client_task_complete(C, id, agent, NULL, -1), CPC_ERR_CONFLICT, 409,
                 "conflict");
    expect_error(cp_client_task_cancel(C, id), CPC_ERR_CONFLICT, 409, "conflict");

    struct cpc_agent *a = NULL;
    ASSERT_OK(cp_client_agent_get(C, agent, &a));
    assert_int_equal(a->tasks_completed, 1);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_true(a->avg_latency_ms > 249.0 && a->avg_latency_ms < 251.0);
    cp_client_agent_free(a);
    assert_int_equal(cp_client_task_complete(C, id, agent, "nope", -1), CPC_ERR_INVALID);
    expect_error(cp_client_task_complete(C, "task_000000000000000000000000", NULL, "1", -1),
                 CPC_ERR_NOT_FOUND, 404, NULL);
    free(id);
}

void test_fail(void **state)
{
    (void)state;
    char agent[64], cap[64];
    snprintf(agent, sizeof agent, "%s", uid("f"));
    snprintf(cap, sizeof cap, "%s", uid("fc"));
    const char *caps[] = {cap};
    register_agent(agent, caps, 1);
    char *id = submit("f", caps, 1, NULL);
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_claim(C, agent, caps, 1, 0, &t));
    assert_non_null(t);
    cp_client_task_free(t);
    struct cpc_fail_result fr = {-2, 99};
    ASSERT_OK(cp_client_task_fail(C, id, agent, "model overloaded", 10, 1, &fr));
    assert_int_equal(fr.status, CP_TASK_PENDING);
    assert_int_equal(fr.retries, 1);
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_string_equal(t->error, "model overloaded");
    assert_null(t->assigned_agent);
    cp_client_task_free(t);
    /* The only capable agent may take it again (nobody else could). */
    ASSERT_OK(cp_client_task_claim(C, agent, caps, 1, 0, &t));
    assert_non_null(t);
    assert_int_equal(t->attempt, 2);
    cp_client_task_free(t);
    ASSERT_OK(cp_client_task_fail(C, id, agent, NULL, -1, 0, &fr));
    assert_int_equal(fr.status, CP_TASK_FAILED);
    assert_int_equal(fr.retries, 2);
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_FAILED);
    assert_string_equal(t->error, "Unknown error");
    cp_client_task_free(t);
    expect_error(cp_client_task_fail(C, id, agent, "again", -1, 1, &fr), CPC_ERR_CONFLICT, 409,
                 "conflict");
    assert_int_equal(fr.status, -1);
    free(id);
}

void test_cancel(void **state)
{
    (void)state;
    char agent[64], cap[64];
    snprintf(agent, sizeof agent, "%s", uid("c"));
    snprintf(cap, sizeof cap, "%s", uid("cc"));
    const char *caps[] = {cap};
    register_agent(agent, caps, 1);
    char *id = submit("c", caps, 1, NULL);
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t));
    cp_client_task_free(t);
    ASSERT_OK(cp_client_task_cancel(C, id));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_CANCELLED);
    cp_client_task_free(t);
    /* The agent that held it learns on completion. */
    expect_error(cp_client_task_complete(C, id, agent, "1", -1), CPC_ERR_CONFLICT, 409, NULL);
    assert_non_null(strstr(cp_client_last_message(C), "cancelled"));
    expect_error(cp_client_task_cancel(C, id), CPC_ERR_CONFLICT, 409, "conflict");
    expect_error(cp_client_task_cancel(C, "task_000000000000000000000000"), CPC_ERR_NOT_FOUND, 404,
                 "not_found");
    free(id);
}

void test_claim_errors(void **state)
{
    (void)state;
    struct cpc_task *t = (struct cpc_task *)1;
    expect_error(cp_client_task_claim(C, uid("ghost"), NULL, 0, 0, &t), CPC_ERR_NOT_FOUND, 404,
                 "not_found");
    assert_null(t);
    assert_int_equal(cp_client_task_claim(C, "x", NULL, 0, 60001, &t), CPC_ERR_INVALID);
    assert_int_equal(cp_client_task_claim(C, "x", NULL, 0, -1, &t), CPC_ERR_INVALID);
    assert_int_equal(cp_client_task_claim(C, NULL, NULL, 0, 0, &t), CPC_ERR_INVALID);
    /* A draining agent gets no task, at once. */
    const char *agent = uid("dr");
    register_agent(agent, NULL, 0);
    ASSERT_OK(cp_client_agent_heartbeat(C, agent, CP_AGENT_DRAINING, NULL));
    char *id = submit("dr", NULL, 0, NULL);
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t));
    assert_null(t);
    ASSERT_OK(cp_client_task_cancel(C, id));
    free(id);
}

/* Runs fn(arg) on another thread after delay_ms, with its own client. */
struct later {
    pthread_t th;
    long delay_ms;
    void (*fn)(cp_client *c, void *arg);
    void *arg;
};

static void *later_main(void *p)
{
    struct later *l = p;
    usleep((useconds_t)l->delay_ms * 1000);
    cp_client *c = cp_client_new(url, NULL);
    if (c) l->fn(c, l->arg);
    cp_client_free(c);
    return NULL;
}

static void run_later(struct later *l)
{
    assert_int_equal(pthread_create(&l->th, NULL, later_main, l), 0);
}

struct submit_arg {
    const char *cap;
    char id[64];
};

static void later_submit(cp_client *c, void *p)
{
    struct submit_arg *a = p;
    const char *caps[] = {a->cap};
    struct cpc_task_spec s = {.task_type = "lp", .required_capabilities = caps, .n_required = 1};
    char *id = NULL;
    if (cp_client_task_submit(c, &s, &id) == CPC_OK) snprintf(a->id, sizeof a->id, "%s", id);
    free(id);
}

void test_claim_long_poll(void **state)
{
    (void)state;
    char agent[64], cap[64];
    snprintf(agent, sizeof agent, "%s", uid("lp"));
    snprintf(cap, sizeof cap, "%s", uid("lpc"));
    const char *caps[] = {cap};
    register_agent(agent, caps, 1);

    /* Nothing arrives: held for block_ms, then no task. */
    struct cpc_task *t = (struct cpc_task *)1;
    int64_t t0 = mono_ms();
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 400, &t));
    int64_t took = mono_ms() - t0;
    assert_null(t);
    assert_true(took >= 350 && took < 3000);

    /* A task arrives while held: answered at once. */
    struct submit_arg arg = {.cap = cap};
    struct later l = {.delay_ms = 300, .fn = later_submit, .arg = &arg};
    run_later(&l);
    t0 = mono_ms();
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 20000, &t));
    took = mono_ms() - t0;
    pthread_join(l.th, NULL);
    assert_non_null(t);
    assert_string_equal(t->id, arg.id);
    assert_true(took >= 250 && took < 5000);
    ASSERT_OK(cp_client_task_complete(C, t->id, agent, "true", -1));
    cp_client_task_free(t);
}

static void later_interrupt(cp_client *c, void *p)
{
    (void)c;
    cp_client_interrupt(p);
}

void test_interrupt(void **state)
{
    (void)state;
    const char *agent = uid("int");
    register_agent(agent, NULL, 0);
    struct cpc_task *t = NULL;
    struct later l = {.delay_ms = 300, .fn = later_interrupt, .arg = C};
    run_later(&l);
    int64_t t0 = mono_ms();
    int rc = cp_client_task_claim(C, agent, NULL, 0, 30000, &t);
    int64_t took = mono_ms() - t0;
    pthread_join(l.th, NULL);
    assert_int_equal(rc, CPC_ERR_INTERRUPTED);
    assert_null(t);
    assert_true(took < 3000);

    /* A pending interrupt spares ordinary calls and stops the next long poll at once. */
    cp_client_interrupt(C);
    ASSERT_OK(cp_client_agent_heartbeat(C, agent, -1, NULL));
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t)); /* block_ms 0: not a long poll */
    assert_null(t);
    t0 = mono_ms();
    assert_int_equal(cp_client_task_claim(C, agent, NULL, 0, 30000, &t), CPC_ERR_INTERRUPTED);
    assert_true(mono_ms() - t0 < 500);
    /* Consumed: the client is usable again and the agent still there. */
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 100, &t));
    assert_null(t);
    ASSERT_OK(cp_client_agent_unregister(C, agent));
}

struct work_arg {
    const char *agent;
    const char *task_id;
};

static void later_work(cp_client *c, void *p)
{
    struct work_arg *w = p;
    struct cpc_task *t = NULL;
    if (cp_client_task_claim(c, w->agent, NULL, 0, 5000, &t) == CPC_OK && t) {
        cp_client_task_start(c, t->id, w->agent);
        cp_client_task_complete(c, t->id, w->agent, "{\"done\": true}", -1);
    }
    cp_client_task_free(t);
}

void test_wait(void **state)
{
    (void)state;
    char agent[64], cap[64];
    snprintf(agent, sizeof agent, "%s", uid("wt"));
    snprintf(cap, sizeof cap, "%s", uid("wtc"));
    const char *caps[] = {cap};
    register_agent(agent, caps, 1);
    char *id = submit("wt", caps, 1, NULL);

    /* Deadline passes: TIMEOUT with the task as last seen. */
    struct cpc_task *t = NULL;
    int64_t t0 = mono_ms();
    assert_int_equal(cp_client_task_wait(C, id, 300, &t), CPC_ERR_TIMEOUT);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 250 && took < 3000);
    assert_non_null(t);
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_non_null(strstr(cp_client_last_message(C), "pending"));
    cp_client_task_free(t);
    assert_int_equal(cp_client_task_wait(C, id, 0, &t), CPC_ERR_TIMEOUT);
    cp_client_task_free(t);

    /* Another agent thread finishes it: the wait returns as soon as it is terminal. */
    struct work_arg w = {.agent = agent, .task_id = id};
    struct later l = {.delay_ms = 300, .fn = later_work, .arg = &w};
    run_later(&l);
    t0 = mono_ms();
    ASSERT_OK(cp_client_task_wait(C, id, 20000, &t));
    took = mono_ms() - t0;
    pthread_join(l.th, NULL);
    assert_int_equal(t->status, CP_TASK_COMPLETED);
    assert_string_equal(t->result_json, "{\"done\":true}");
    assert_true(took < 5000);
    cp_client_task_free(t);
    /* Terminal already: at once. */
    ASSERT_OK(cp_client_task_wait(C, id, -1, &t));
    cp_client_task_free(t);
    expect_error(cp_client_task_wait(C, "task_000000000000000000000000", 1000, &t),
                 CPC_ERR_NOT_FOUND, 404, "not_found");
    assert_null(t);
    free(id);
}

static int task_list_has(const struct cpc_task_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->tasks[i].id, id) == 0) return 1;
    return 0;
}

void test_task_list(void **state)
{
    (void)state;
    char type[64];
    snprintf(type, sizeof type, "%s", uid("tl"));
    char *ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = submit(type, NULL, 0, NULL);
    ASSERT_OK(cp_client_task_cancel(C, ids[0]));
    struct cpc_task_list *l = NULL;
    struct cpc_task_query q = {.task_type = type};
    ASSERT_OK(cp_client_task_list(C, &q, &l));
    assert_int_equal(l->n, 3);
    assert_int_equal(l->total, 3);
    assert_string_equal(l->tasks[0].id, ids[2]); /* newest first */
    cp_client_task_list_free(l);
    q.status = "pending";
    ASSERT_OK(cp_client_task_list(C, &q, &l));
    assert_int_equal(l->n, 2);
    assert_false(task_list_has(l, ids[0]));
    cp_client_task_list_free(l);
    q.status = "cancelled";
    q.limit = 1;
    ASSERT_OK(cp_client_task_list(C, &q, &l));
    assert_int_equal(l->n, 1);
    assert_string_equal(l->tasks[0].id, ids[0]);
    cp_client_task_list_free(l);
    q = (struct cpc_task_query){.task_type = type, .limit = 2};
    ASSERT_OK(cp_client_task_list(C, &q, &l));
    assert_int_equal(l->n, 2);
    assert_int_equal(l->total, 3);
    cp_client_task_list_free(l);
    ASSERT_OK(cp_client_task_list(C, NULL, &l));
    assert_true(l->n >= 3);
    cp_client_task_list_free(l);
    q.status = "lost";
    expect_error(cp_client_task_list(C, &q, &l), CPC_ERR_INVALID, 400, NULL);
    q = (struct cpc_task_query){.limit = 1001};
    expect_error(cp_client_task_list(C, &q, &l), CPC_ERR_INVALID, 400, NULL);
    for (int i = 0; i < 3; i++) {
        if (i) ASSERT_OK(cp_client_task_cancel(C, ids[i]));
        free(ids[i]);
    }
}

/* Complete and fail with next: the next task comes with the answer, a held next claim is
 * woken by a submit, null when nothing comes, errors change nothing. */
void test_complete_next(void **state)
{
    (void)state;
    char agent[64], cap[64];
    snprintf(agent, sizeof agent, "%s", uid("cn"));
    snprintf(cap, sizeof cap, "%s", uid("cnc"));
    const char *caps[] = {cap};
    register_agent(agent, caps, 1);
    char *id1 = submit("cn", caps, 1, NULL), *id2 = submit("cn", caps, 1, NULL);
    struct cpc_task *t = NULL, *next = NULL;
    ASSERT_OK(cp_client_task_claim(C, agent, caps, 1, 0, &t));
    assert_string_equal(t->id, id1);
    cp_client_task_free(t);
    /* The next task with the completion (registered capabilities, no wait). */
    ASSERT_OK(cp_client_task_complete_next(C, id1, agent, "{\"n\":1}", -1, NULL, &next));
    assert_non_null(next);
    assert_string_equal(next->id, id2);
    assert_int_equal(next->status, CP_TASK_CLAIMED);
    assert_string_equal(next->assigned_agent, agent);
    cp_client_task_free(next);
    ASSERT_OK(cp_client_task_get(C, id1, &t));
    assert_int_equal(t->status, CP_TASK_COMPLETED);
    cp_client_task_free(t);
    /* fail with next, held until a submit arrives. */
    struct submit_arg arg = {.cap = cap};
    struct later l = {.delay_ms = 300, .fn = later_submit, .arg = &arg};
    run_later(&l);
    struct cpc_next n = {caps, 1, 20000};
    struct cpc_fail_result fr = {-2, 99};
    int64_t t0 = mono_ms();
    ASSERT_OK(cp_client_task_fail_next(C, id2, agent, "nope", -1, 0, &n, &fr, &next));
    int64_t took = mono_ms() - t0;
    pthread_join(l.th, NULL);
    assert_int_equal(fr.status, CP_TASK_FAILED);
    assert_int_equal(fr.retries, 1);
    assert_non_null(next);
    assert_string_equal(next->id, arg.id);
    assert_true(took >= 250 && took < 10000);
    /* Nothing more: null after block_ms. */
    n.block_ms = 300;
    char *id3 = strdup(next->id);
    cp_client_task_free(next);
    t0 = mono_ms();
    ASSERT_OK(cp_client_task_complete_next(C, id3, agent, NULL, -1, &n, &next));
    assert_null(next);
    assert_true(mono_ms() - t0 >= 250);
    /* Refused: completed already (nothing claimed); bad next and no agent: refused locally. */
    char *id4 = submit("cn", caps, 1, NULL);
    next = (struct cpc_task *)1;
    expect_error(cp_client_task_complete_next(C, id3, agent, NULL, -1, NULL, &next),
                 CPC_ERR_CONFLICT, 409, "conflict");
    assert_null(next);
    ASSERT_OK(cp_client_task_get(C, id4, &t));
    assert_int_equal(t->status, CP_TASK_PENDING);
    cp_client_task_free(t);
    n.block_ms = -1;
    assert_int_equal(cp_client_task_complete_next(C, id4, agent, NULL, -1, &n, &next),
                     CPC_ERR_INVALID);
    assert_int_equal(cp_client_task_complete_next(C, id4, NULL, NULL, -1, NULL, &next),
                     CPC_ERR_INVALID);
    /* Leave nothing claimed for the other tests. */
    ASSERT_OK(cp_client_task_cancel(C, id4));
    free(id1);
    free(id2);
    free(id3);
    free(id4);
}
