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
