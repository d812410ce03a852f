/* operator_tests.c — libcpclient against a real cpd: the operator's calls (loaded plugins,
 * select hints). Run by test_client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_test.h"

void test_plugins(void **state)
{
    (void)state;
    struct cpc_plugin_list *l = NULL;
    ASSERT_OK(cp_client_plugins(C, &l));
    assert_true(l->n >= 3);
    assert_string_equal(l->plugins[0].kind, "storage");
    int least_loaded = 0, http_probe = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct cpc_plugin *p = &l->plugins[i];
        assert_non_null(p->name);
        assert_non_null(p->path);
        assert_non_null(strstr(p->path, ".so"));
        assert_non_null(p->abi_version);
        assert_true(p->abi_version[0] == '2' && p->abi_version[1] == '.');
        if (!strcmp(p->kind, "selection") && !strcmp(p->name, "least_loaded")) {
            least_loaded = 1;
            assert_true(p->is_default);
            assert_int_equal(p->n_options, 0);
        } else {
            assert_false(p->is_default);
        }
        http_probe |= !strcmp(p->kind, "probe") && !strcmp(p->name, "http");
    }
    assert_true(least_loaded && http_probe);
    assert_non_null(strstr(l->json, "\"plugins\""));
    cp_client_plugin_list_free(l);
    cp_client_plugin_list_free(NULL);
    assert_int_equal(cp_client_plugins(C, NULL), CPC_ERR_INVALID);
}

void test_select_hints(void **state)
{
    (void)state;
    char cap[64], id[64];
    snprintf(cap, sizeof cap, "%s", uid("hcap"));
    snprintf(id, sizeof id, "%s", uid("h1"));
    const char *caps[] = {cap};
    register_agent(id, caps, 1);
    /* The default strategy ignores hints; they are sent and checked all the same. */
    const char *keys[] = {"region", "zone"}, *values[] = {"eu west", "a&b=c"};
    struct cpc_select_query q = {.capabilities = caps,
                                 .n_capabilities = 1,
                                 .hint_keys = keys,
                                 .hint_values = values,
                                 .n_hints = 2};
    struct cpc_agent *a = NULL;
    ASSERT_OK(cp_client_agent_select(C, &q, &a));
    assert_string_equal(a->agent_id, id);
    cp_client_agent_free(a);
    const char *bad[] = {"no good"};
    q.hint_keys = bad;
    q.n_hints = 1;
    expect_error(cp_client_agent_select(C, &q, &a), CPC_ERR_INVALID, 400, "invalid_field");
    assert_non_null(strstr(cp_client_last_message(C), "hint."));
    q.n_hints = 0;
    q.strategy = "no_such_strategy";
    expect_error(cp_client_agent_select(C, &q, &a), CPC_ERR_INVALID, 400, "invalid_field");
    assert_non_null(strstr(cp_client_last_message(C), "least_loaded"));
}

void test_drain(void **state)
{
    (void)state;
    char id[64], cap[64];
    snprintf(id, sizeof id, "%s", uid("dr"));
    snprintf(cap, sizeof cap, "%s", uid("dcap"));
    const char *caps[] = {cap};
    register_agent(id, caps, 1);
    struct cpc_agent *a = NULL;
    int64_t before = wall_ms();
    ASSERT_OK(cp_client_agent_drain(C, id, &a));
    assert_int_equal(a->status, CP_AGENT_DRAINING);
    assert_true(a->drained_at_ms >= before - 5000 && a->drained_at_ms <= wall_ms() + 5000);
    cp_client_agent_free(a);
    /* Its heartbeat does not end the drain. */
    int status = -1;
    ASSERT_OK(cp_client_agent_heartbeat(C, id, CP_AGENT_READY, &status));
    assert_int_equal(status, CP_AGENT_DRAINING);
    ASSERT_OK(cp_client_agent_get(C, id, &a));
    assert_true(a->drained_at_ms > 0);
    cp_client_agent_free(a);
    /* Not selectable; no task for it. */
    struct cpc_select_query q = {.capabilities = caps, .n_capabilities = 1};
    expect_error(cp_client_agent_select(C, &q, &a), CPC_ERR_NOT_FOUND, 404, "no_agent");
    /* Critical, so that the claim below takes it before tasks other tests left pending. */
    struct cpc_task_spec ts = {.task_type = "drained-work",
                               .required_capabilities = caps,
                               .n_required = 1,
                               .priority = "critical"};
    char *t = NULL;
    ASSERT_OK(cp_client_task_submit(C, &ts, &t));
    struct cpc_task *task = NULL;
    ASSERT_OK(cp_client_task_claim(C, id, NULL, 0, 0, &task));
    assert_null(task);
    ASSERT_OK(cp_client_agent_undrain(C, id, NULL));
    ASSERT_OK(cp_client_agent_get(C, id, &a));
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_int_equal(a->drained_at_ms, 0);
    cp_client_agent_free(a);
    ASSERT_OK(cp_client_task_claim(C, id, NULL, 0, 0, &task));
    assert_non_null(task);
    assert_string_equal(task->id, t);
    cp_client_task_free(task);
    free(t);
    expect_error(cp_client_agent_drain(C, "nobody-here", &a), CPC_ERR_NOT_FOUND, 404, "not_found");
    assert_null(a);
    assert_int_equal(cp_client_agent_undrain(C, NULL, NULL), CPC_ERR_INVALID);
}

void test_tenants(void **state)
{
    (void)state;
    char tenant[64];
    snprintf(tenant, sizeof tenant, "%s", uid("tenant"));
    struct cpc_tenant *t = NULL;
    ASSERT_OK(cp_client_tenant_put(C, tenant, 3, 2, &t));
    assert_string_equal(t->id, tenant);
    assert_int_equal(t->weight, 3);
    assert_int_equal(t->max_in_flight, 2);
    assert_true(t->configured);
    cp_client_tenant_free(t);
    struct cpc_task_spec s = {.task_type = "tenanted"};
    struct cpc_task_options o = {.tenant = tenant};
    char *id = NULL;
    ASSERT_OK(cp_client_task_submit_ex(C, &s, &o, &id, NULL));
    struct cpc_task *task = NULL;
    ASSERT_OK(cp_client_task_get(C, id, &task));
    assert_string_equal(task->tenant, tenant);
    cp_client_task_free(task);
    free(id);
    ASSERT_OK(cp_client_tenant_get(C, tenant, &t));
    assert_int_equal(t->waiting, 1);
    assert_non_null(strstr(t->json, "\"tokens_served\""));
    cp_client_tenant_free(t);
    struct cpc_tenant_list *l = NULL;
    ASSERT_OK(cp_client_tenant_list(C, &l));
    int found = 0;
    for (size_t i = 0; i < l->n; i++)
        found |= !strcmp(l->tenants[i].id, tenant) && l->tenants[i].weight == 3;
    assert_true(found);
    cp_client_tenant_list_free(l);
    ASSERT_OK(cp_client_tenant_delete(C, tenant, &t));
    assert_int_equal(t->weight, 1);
    assert_false(t->configured);
    cp_client_tenant_free(t);
    assert_int_equal(cp_client_tenant_delete(C, tenant, NULL), CPC_ERR_NOT_FOUND);
    assert_int_equal(cp_client_tenant_put(C, tenant, 0, 0, NULL), CPC_ERR_INVALID);
    assert_int_equal(cp_client_tenant_put(C, "bad id", 1, 0, NULL), CPC_ERR_INVALID);
    assert_int_equal(cp_client_tenant_get(C, uid("nobody"), &t), CPC_ERR_NOT_FOUND);
    assert_null(t);
}
