/* features_tests.c — libcpclient against a real cpd: idempotent submits with options, batches,
 * the lease (extend with progress), the attempts of a task, retry by hand and purge; and, behind
 * a proxy that loses the first answer to each submit (lossyproxy.py), the retries that reuse one
 * idempotency key. Run by test_client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_test.h"

/* How many tasks of this type the server holds. */
static uint64_t count_of_type(cp_client *c, const char *type)
{
    struct cpc_task_query q = {.task_type = type, .limit = 1};
    struct cpc_task_list *l = NULL;
    int rc = cp_client_task_list(c, &q, &l);
    if (rc != CPC_OK) fail_msg("list: %s", cp_client_last_message(c));
    uint64_t n = l->total;
    cp_client_task_list_free(l);
    return n;
}

void test_submit_options(void **state)
{
    (void)state;
    const char *type = uid("opt");
    char key[64];
    snprintf(key, sizeof key, "%s-key", type);
    struct cpc_task_spec s = {.task_type = type};
    struct cpc_task_options o = {.idempotency_key = key,
                                 .delay_seconds = 60,
                                 .backoff_type = "exponential",
                                 .backoff_seconds = 2,
                                 .backoff_max_seconds = 30,
                                 .backoff_jitter = 1};
    char *id = NULL, *again = NULL;
    int created = -1;
    ASSERT_OK(cp_client_task_submit_ex(C, &s, &o, &id, &created));
    assert_int_equal(created, 1);
    assert_int_equal(cp_client_last_status(C), 201);
    ASSERT_OK(cp_client_task_submit_ex(C, &s, &o, &again, &created));
    assert_int_equal(created, 0);
    assert_int_equal(cp_client_last_status(C), 200);
    assert_string_equal(again, id);
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_string_equal(t->idempotency_key, key);
    assert_true(t->not_before_ms > wall_ms() + 50000);
    assert_non_null(strstr(t->json, "\"retry_backoff\":{\"type\":\"exponential\",\"seconds\":2,"
                                    "\"max_seconds\":30,\"jitter\":true}"));
    assert_int_equal(t->n_attempts, 0);
    assert_null(t->progress_json);
    cp_client_task_free(t);
    free(id);
    free(again);
    assert_int_equal(count_of_type(C, type), 1);

    /* Without options a key is generated: two calls are two tasks. */
    ASSERT_OK(cp_client_task_submit(C, &s, &id));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_non_null(t->idempotency_key);
    assert_int_equal(strncmp(t->idempotency_key, "cpc-", 4), 0);
    cp_client_task_free(t);
    free(id);
    assert_int_equal(count_of_type(C, type), 2);

    /* What the server refuses. */
    o = (struct cpc_task_options){.run_at = "tomorrow"};
    expect_error(cp_client_task_submit_ex(C, &s, &o, &id, NULL), CPC_ERR_INVALID, 400,
                 "invalid_field");
    assert_non_null(strstr(cp_client_last_message(C), "run_at"));
    o = (struct cpc_task_options){.idempotency_key = "has space"};
    expect_error(cp_client_task_submit_ex(C, &s, &o, &id, NULL), CPC_ERR_INVALID, 400,
                 "invalid_field");
    assert_int_equal(cp_client_set_retries(C, -1, 0), CPC_ERR_INVALID);
}

void test_submit_affinity(void **state)
{
    (void)state;
    const char *type = uid("aff");
    struct cpc_task_spec s = {.task_type = type, .metadata_json = "{\"turn\":3}"};
    struct cpc_task_affinity aff = {.key = "debate-9:judge", .ttl_seconds = 45};
    char *id = NULL;
    int created = -1;
    ASSERT_OK(cp_client_task_submit_affinity(C, &s, NULL, &aff, &id, &created));
    assert_int_equal(created, 1);
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_non_null(strstr(t->metadata_json, "\"affinity_key\":\"debate-9:judge\""));
    assert_non_null(strstr(t->metadata_json, "\"affinity_ttl_seconds\":45"));
    assert_non_null(strstr(t->metadata_json, "\"turn\":3"));
    cp_client_task_free(t);
    free(id);
    /* A TTL without a key is refused before sending; a bad key by the server. */
    aff = (struct cpc_task_affinity){.ttl_seconds = 5};
    expect_error(cp_client_task_submit_affinity(C, &s, NULL, &aff, &id, NULL), CPC_ERR_INVALID, 0,
                 NULL);
    aff = (struct cpc_task_affinity){.key = "no spaces please"};
    expect_error(cp_client_task_submit_affinity(C, &s, NULL, &aff, &id, NULL), CPC_ERR_INVALID, 400,
                 "invalid_field");
    assert_non_null(strstr(cp_client_last_message(C), "affinity_key"));
}

void test_batch(void **state)
{
    (void)state;
    const char *type = uid("batch");
    struct cpc_task_spec specs[3] = {{.task_type = type, .priority = "low"},
                                     {.task_type = "bad type"},
                                     {.task_type = type, .payload_json = "{\"n\":3}"}};
    struct cpc_task_options opts[3] = {{0}, {0}, {.idempotency_key = uid("k")}};
    struct cpc_batch_result *r = NULL;
    ASSERT_OK(cp_client_task_submit_batch(C, specs, opts, 3, &r));
    assert_int_equal(r->n, 3);
    assert_int_equal(r->created, 2);
    assert_int_equal(r->failed, 1);
    assert_non_null(r->items[0].task_id);
    assert_true(r->items[0].created);
    assert_null(r->items[1].task_id);
    assert_string_equal(r->items[1].code, "invalid_field");
    assert_non_null(strstr(r->items[1].error, "task_type"));
    char *kept = strdup(r->items[2].task_id);
    cp_client_batch_result_free(r);
    /* The keyed item again: found. */
    ASSERT_OK(cp_client_task_submit_batch(C, &specs[2], &opts[2], 1, &r));
    assert_int_equal(r->existing, 1);
    assert_string_equal(r->items[0].task_id, kept);
    cp_client_batch_result_free(r);
    free(kept);
    assert_int_equal(count_of_type(C, type), 2);

    /* JSON objects, e.g. the lines of a JSONL file. */
    char line0[160], line1[160];
    snprintf(line0, sizeof line0, "{\"task_type\": \"%s\", \"priority\": \"high\"}", type);
    snprintf(line1, sizeof line1, "{\"task_type\": \"%s\", \"idempotency_key\": \"%s\"}", type,
             uid("jk"));
    const char *lines[] = {line0, line1};
    ASSERT_OK(cp_client_task_submit_batch_json(C, lines, 2, &r));
    assert_int_equal(r->created, 2);
    cp_client_batch_result_free(r);
    assert_int_equal(count_of_type(C, type), 4);
    const char *bad[] = {"[1, 2]"};
    assert_int_equal(cp_client_task_submit_batch_json(C, bad, 1, &r), CPC_ERR_INVALID);
    assert_null(r);
    assert_int_equal(cp_client_task_submit_batch(C, specs, NULL, 0, &r), CPC_ERR_INVALID);
}

void test_lease_attempts_retry_purge(void **state)
{
    (void)state;
    const char *cap = uid("lease-cap");
    const char *agent = uid("lease-agent");
    const char *type = uid("lease");
    register_agent(agent, &cap, 1);
    /* critical: claimed before the tasks other tests left pending (they require nothing) */
    struct cpc_task_spec s = {.task_type = type,
                              .required_capabilities = &cap,
                              .n_required = 1,
                              .priority = "critical",
                              .timeout_seconds = 30,
                              .has_max_retries = 1,
                              .max_retries = 1};
    char *id = NULL;
    ASSERT_OK(cp_client_task_submit(C, &s, &id));
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t));
    assert_non_null(t);
    assert_string_equal(t->id, id);
    assert_true(t->deadline_at_ms >= t->claimed_at_ms + 29900);
    assert_int_equal(t->n_attempts, 1);
    assert_int_equal(t->attempts[0].outcome, -1); /* in progress */
    cp_client_task_free(t);

    int64_t deadline = 0;
    ASSERT_OK(cp_client_task_extend(C, id, agent, 600, 75, "almost", &deadline));
    assert_true(deadline > wall_ms() + 590000);
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->deadline_at_ms, deadline);
    assert_non_null(strstr(t->progress_json, "\"message\":\"almost\""));
    cp_client_task_free(t);
    expect_error(cp_client_task_extend(C, id, "someone-else", 0, -1, NULL, NULL), CPC_ERR_CONFLICT,
                 409, "conflict");
    expect_error(cp_client_task_extend(C, id, agent, 0, 150, NULL, NULL), CPC_ERR_INVALID, 0, NULL);

    ASSERT_OK(cp_client_task_fail(C, id, agent, "disk full", -1, 0, NULL));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_FAILED);
    assert_int_equal(t->n_attempts, 1);
    assert_int_equal(t->attempts[0].outcome, CP_ATTEMPT_FAILED);
    assert_string_equal(t->attempts[0].agent_id, agent);
    assert_string_equal(t->attempts[0].error, "disk full");
    assert_true(t->attempts[0].ended_at_ms >= t->attempts[0].started_at_ms);
    cp_client_task_free(t);

    ASSERT_OK(cp_client_task_retry(C, id));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->retries, 0);
    assert_int_equal(t->n_attempts, 1);
    cp_client_task_free(t);
    expect_error(cp_client_task_retry(C, id), CPC_ERR_CONFLICT, 409, "conflict");

    ASSERT_OK(cp_client_task_cancel(C, id));
    uint64_t purged = 9;
    int more = 9;
    struct cpc_purge_query q = {.status = "cancelled", .task_type = type, .older_than_seconds = 0};
    ASSERT_OK(cp_client_task_purge(C, &q, &purged, &more));
    assert_int_equal(purged, 1);
    assert_int_equal(more, 0);
    expect_error(cp_client_task_get(C, id, &t), CPC_ERR_NOT_FOUND, 404, "not_found");
    q.status = "pending";
    expect_error(cp_client_task_purge(C, &q, &purged, &more), CPC_ERR_INVALID, 400,
                 "invalid_field");
    free(id);
}

/* ---- behind a proxy that loses the first answer to each submit ------------------------- */

void test_lossy_submit(void **state)
{
    (void)state;
    const char *type = uid("lossy");
    struct cpc_task_spec s = {.task_type = type};
    char *id = NULL;
    /* The first attempt's connection drops after cpd stored the task; the retry (same key)
     * answers that task (200). */
    int created = -1;
    ASSERT_OK(cp_client_task_submit_ex(C, &s, NULL, &id, &created));
    assert_int_equal(created, 0);
    assert_int_equal(count_of_type(C, type), 1);
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_string_equal(t->task_type, type);
    cp_client_task_free(t);
    free(id);

    /* A batch answered 503 (outcome unknown) the first time: retried, nothing twice. */
    struct cpc_task_spec specs[3] = {{.task_type = type}, {.task_type = type}, {.task_type = type}};
    struct cpc_batch_result *r = NULL;
    ASSERT_OK(cp_client_task_submit_batch(C, specs, NULL, 3, &r));
    assert_int_equal(r->existing, 3); /* the lost first attempt stored them */
    cp_client_batch_result_free(r);
    assert_int_equal(count_of_type(C, type), 4);

    /* Without retries the loss is the caller's: an error, yet the task was stored. (A fresh
     * client: libcurl itself sends a request again when a kept-alive connection dies.) */
    cp_client *once = cp_client_new(url, NULL);
    assert_non_null(once);
    assert_int_equal(cp_client_set_retries(once, 0, 0), CPC_OK);
    assert_int_equal(cp_client_task_submit(once, &s, &id), CPC_ERR_TRANSPORT);
    assert_null(id);
    cp_client_free(once);
    assert_int_equal(count_of_type(C, type), 5);
}
