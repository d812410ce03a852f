/* test_config_bindings.c — agent tokens bound to agent ids: the CONTROL_PLANE_TOKENS form
 * (token:agent=id|pattern, '=' being impossible in an id, tokens with '=' still plain), the
 * YAML form, the checks, and auth_token_may_act_as() (exact ids and '*' patterns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_helpers.h"
#include "http/auth.h"

static void test_env_form(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    config_defaults(&c);
    env_set("CONTROL_PLANE_TOKENS",
            "t1:agent=worker-7, t2:agent=gpu-*|a:b@c/d ,dG9r==:agent=w1,YmFz==:admin,plain:agent");
    if (config_load_env(&c, fake_getenv, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(c.n_tokens, 5);
    assert_string_equal(c.tokens[0].token, "t1");
    assert_int_equal(c.tokens[0].n_agents, 1);
    assert_string_equal(c.tokens[0].agents[0], "worker-7");
    assert_int_equal(c.tokens[1].n_agents, 2);
    assert_string_equal(c.tokens[1].agents[1], "a:b@c/d");
    assert_string_equal(c.tokens[2].token, "dG9r==");
    assert_string_equal(c.tokens[2].agents[0], "w1");
    assert_string_equal(c.tokens[3].token, "YmFz==");
    assert_int_equal(c.tokens[3].role, ROLE_ADMIN);
    assert_int_equal(c.tokens[3].n_agents, 0);
    assert_int_equal(c.tokens[4].n_agents, 0);

    assert_true(auth_token_may_act_as(&c.tokens[0], "worker-7"));
    assert_false(auth_token_may_act_as(&c.tokens[0], "worker-70"));
    assert_false(auth_token_may_act_as(&c.tokens[0], "worker-"));
    assert_true(auth_token_may_act_as(&c.tokens[1], "gpu-"));
    assert_true(auth_token_may_act_as(&c.tokens[1], "gpu-east/1"));
    assert_false(auth_token_may_act_as(&c.tokens[1], "xgpu-1"));
    assert_true(auth_token_may_act_as(&c.tokens[1], "a:b@c/d"));
    assert_true(auth_token_may_act_as(&c.tokens[3], "anyone")); /* admin */
    assert_true(auth_token_may_act_as(&c.tokens[4], "anyone")); /* unbound agent */
    assert_true(auth_token_may_act_as(NULL, "anyone"));         /* auth off */

    /* A clone (reload, env layer) keeps the bindings. */
    struct cp_config copy;
    config_defaults(&copy);
    char restart[256], changed[512];
    assert_int_equal(config_reload_plan(&c, &copy, restart, sizeof restart), 0);
    config_reload_apply(&c, &copy, changed, sizeof changed);
    assert_contains(changed, "auth.tokens (5 -> 0 tokens)");
    config_free(&copy);
    config_free(&c);
}

static void test_bad_env_bindings(void **state)
{
    (void)state;
    static const char *const bad[] = {"t:agent=",  "t:agent=a||b", "t:agent=a b",
                                      "t:admin=x", "t:reader=x",   "t:agent=a,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct cp_config c;
        char err[512];
        config_defaults(&c);
        env_clear();
        env_set("CONTROL_PLANE_TOKENS", bad[i]);
        int rc = config_load_env(&c, fake_getenv, err, sizeof err);
        if (i == 5) { /* a trailing comma is fine */
            assert_int_equal(rc, 0);
        } else if (rc == 0) {
            fail_msg("case %zu (%s) accepted", i, bad[i]);
        }
        config_free(&c);
    }
}

static void test_yaml_form(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    if (load_text(&c,
                  "auth: {tokens: [{token: tk, role: agent, agents: [w1, \"g-*\"]},"
                  " {token: one, role: agent, agents: solo}]}\n",
                  err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.tokens[0].n_agents, 2);
    assert_string_equal(c.tokens[0].agents[1], "g-*");
    assert_int_equal(c.tokens[1].n_agents, 1);
    config_free(&c);
    assert_int_equal(load_text(&c, "auth: {tokens: [{token: tk, role: reader, agents: [w]}]}\n",
                               err, sizeof err),
                     -1);
    assert_contains(err, "only agent tokens can be bound");
    assert_null(strstr(err, "tk"));
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env_form, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_bad_env_bindings, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_form, config_test_setup, config_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
