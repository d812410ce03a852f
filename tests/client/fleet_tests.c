/* fleet_tests.c — libcpclient against a real cpd (memory store): provider quotas
 * (cp_client_quota_*), est_tokens on submit, usage on complete and a 429 reported as backoff
 * (cp/client_fleet.h). Run by test_client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_test.h"

void test_fleet(void **state)
{
    (void)state;
    char qid[64], prov[64], agent[64], cap[64];
    snprintf(qid, sizeof qid, "%s", uid("q"));
    snprintf(prov, sizeof prov, "%s", uid("prov"));
    snprintf(agent, sizeof agent, "%s", uid("fa"));
    snprintf(cap, sizeof cap, "%s", uid("fcap"));
    struct cpc_quota_spec qs = {.id = qid, .provider = prov, .rpm = 100, .tpm = 1000};
    struct cpc_quota_list *l = NULL;
    ASSERT_OK(cp_client_quota_put(C, &qs, &l));
    assert_int_equal(l->n, 1);
    assert_string_equal(l->quotas[0].id, qid);
    assert_int_equal(l->quotas[0].tokens_left, 1000);
    assert_int_equal(l->quotas[0].max_in_flight, -1);
    cp_client_quota_list_free(l);
    const char *caps[] = {cap};
    struct cpc_agent_spec as = {
        .agent_id = agent, .capabilities = caps, .n_capabilities = 1, .provider = prov};
    ASSERT_OK(cp_client_agent_register(C, &as, NULL, NULL));
    struct cpc_task_spec ts = {.task_type = "fleet",
                               .required_capabilities = caps,
                               .n_required = 1,
                               .priority = "critical"};
    struct cpc_task_options o = {.est_input_tokens = 300, .est_max_output = 100};
    char *id = NULL;
    ASSERT_OK(cp_client_task_submit_ex(C, &ts, &o, &id, NULL));
    struct cpc_task *t = NULL;
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t));
    assert_non_null(t);
    assert_string_equal(t->id, id);
    cp_client_task_free(t);
    ASSERT_OK(cp_client_quota_get(C, qid, &l));
    assert_int_equal(l->quotas[0].tokens_used, 400);
    assert_int_equal(l->quotas[0].in_flight, 1);
    cp_client_quota_list_free(l);
    struct cpc_usage u = {.input_tokens = 20, .output_tokens = 5, .cached_tokens = 10};
    ASSERT_OK(cp_client_task_complete_usage(C, id, agent, "{\"ok\":1}", -1, &u));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_non_null(strstr(t->json, "\"usage\":{\"input_tokens\":20,\"output_tokens\":5,"
                                    "\"cached_tokens\":10}"));
    cp_client_task_free(t);
    free(id);
    ASSERT_OK(cp_client_quota_get(C, qid, &l));
    assert_int_equal(l->quotas[0].tokens_used, 25);
    cp_client_quota_list_free(l);
    /* a 429: no retry counted, the quota paused */
    ts.task_type = "fleet429";
    ASSERT_OK(cp_client_task_submit(C, &ts, &id));
    ASSERT_OK(cp_client_task_claim(C, agent, NULL, 0, 0, &t));
    assert_string_equal(t->id, id);
    cp_client_task_free(t);
    ASSERT_OK(cp_client_task_rate_limited(C, id, agent, "429", 60000, NULL));
    ASSERT_OK(cp_client_task_get(C, id, &t));
    assert_int_equal(t->status, CP_TASK_PENDING);
    assert_int_equal(t->retries, 0);
    cp_client_task_free(t);
    ASSERT_OK(cp_client_quota_get(C, qid, &l));
    assert_true(l->quotas[0].paused_until_ms > wall_ms() + 30000);
    assert_int_equal(l->quotas[0].rate_limited, 1);
    cp_client_quota_list_free(l);
    ASSERT_OK(cp_client_task_cancel(C, id));
    free(id);
    ASSERT_OK(cp_client_quotas(C, &l));
    int seen = 0;
    for (size_t i = 0; i < l->n; i++)
        seen += strcmp(l->quotas[i].id, qid) == 0;
    assert_int_equal(seen, 1);
    cp_client_quota_list_free(l);
    ASSERT_OK(cp_client_quota_delete(C, qid));
    expect_error(cp_client_quota_delete(C, qid), CPC_ERR_NOT_FOUND, 404, "not_found");
    expect_error(cp_client_quota_put(C, &(struct cpc_quota_spec){.id = "x"}, NULL), CPC_ERR_INVALID,
                 0, NULL);
}
