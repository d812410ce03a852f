/* test_config_env_tokens.c — core/config*.c: auth tokens (from YAML and CONTROL_PLANE_TOKENS,
 * never echoed in errors) and the environment layer (every variable, bad values, empty = unset,
 * storage options over the file's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cp/plugin.h>

#include "config.h"
#include "config_helpers.h"

/* ---- tokens ---- */

static void test_tokens_never_in_errors(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"auth: {tokens: [{token: SECRETA, role: root}]}\n",
         {"auth.tokens[0] in ", "role 'root' is not allowed; expected admin, agent or reader"}},
        {"auth: {tokens: [\"SECRETA:root\"]}\n",
         {"auth.tokens[0] in ", "the role is not one of them; expected admin, agent or reader"}},
        {"auth: {tokens: [\"SECRETA:admin\", \"SECRETB\"]}\n",
         {"auth.tokens[1] in ", "is not token:role"}},
        {"auth: {tokens: [{token: SECRETA}]}\n", {"auth.tokens[0]", "the role is missing"}},
        {"auth: {tokens: [{role: admin}]}\n", {"auth.tokens[0]", "the token is empty"}},
        {"auth: {tokens: [{token: SECRETA, role: admin, extra: 1}]}\n",
         {"auth.tokens[0]", "unknown key 'extra'"}},
        {"auth: {tokens: [\"SECRETA:admin\", \"SECRETA:reader\"]}\n",
         {"auth.tokens[1]", "already listed as entry 1"}},
        {"auth: {tokens: [\"SECRET A:admin\"]}\n", {"auth.tokens[0]", "space"}},
        {"auth: {tokens: [\":admin\"]}\n", {"auth.tokens[0]", "token is empty"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cp_config c;
        char err[512];
        if (load_text(&c, cases[i].yaml, err, sizeof err) == 0) fail_msg("case %zu accepted", i);
        for (size_t j = 0; j < 3 && cases[i].expect[j]; j++)
            assert_contains(err, cases[i].expect[j]);
        assert_null(strstr(err, "SECRET"));
        assert_int_equal(c.n_tokens, 0);
        config_free(&c);
    }
}

static void test_env_tokens(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    /* Env replaces the file's tokens; split at the last ':'; spaces and a trailing comma ok. */
    assert_int_equal(load_text(&c, "auth: {tokens: [\"filetok:admin\"]}\n", err, sizeof err), 0);
    env_set("CONTROL_PLANE_TOKENS", "a:b:admin, t2:agent ,t3:READER,");
    assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), 0);
    assert_int_equal(c.n_tokens, 3);
    assert_string_equal(c.tokens[0].token, "a:b");
    assert_int_equal(c.tokens[0].role, ROLE_ADMIN);
    assert_string_equal(c.tokens[1].token, "t2");
    assert_int_equal(c.tokens[1].role, ROLE_AGENT);
    assert_string_equal(c.tokens[2].token, "t3");
    assert_int_equal(c.tokens[2].role, ROLE_READER);
    config_free(&c);

    static const char *const bad[][2] = {
        {"SECRETA:admin,SECRETB", "CONTROL_PLANE_TOKENS entry 2 is not token:role"},
        {"SECRETA:admin,,SECRETB:agent", "CONTROL_PLANE_TOKENS entry 2 is not token:role"},
        {"SECRETA:superuser", "CONTROL_PLANE_TOKENS entry 1: the role is not one of them"},
        {"SECRETA:admin,SECRETA:agent", "entry 2: the same token is already listed as entry 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        config_defaults(&c);
        env_clear();
        env_set("HEARTBEAT_INTERVAL", "5");
        env_set("CONTROL_PLANE_TOKENS", bad[i][0]);
        assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), -1);
        assert_contains(err, bad[i][1]);
        assert_null(strstr(err, "SECRET"));
        assert_int_equal(c.n_tokens, 0);
        assert_int_equal(c.heartbeat_interval_ms, 10000); /* nothing half-applied */
        config_free(&c);
    }
}

/* ---- environment ---- */

static void test_env_every_variable(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    config_defaults(&c);
    env_set("REDIS_URL", "redis://127.0.0.1:7000/1");
    env_set("CONTROL_PLANE_PREFIX", "t:");
    env_set("HEARTBEAT_INTERVAL", "0.5");
    env_set("HEARTBEAT_TIMEOUT", "1.5");
    env_set("PROBE_INTERVAL", "3");
    env_set("PROBE_TIMEOUT", "0.1");
    env_set("TASK_TIMEOUT", "2");
    env_set("MAX_TASK_RETRIES", "7");
    env_set("CLEANUP_INTERVAL", "0.25");
    env_set("CONTROL_PLANE_LISTEN", "127.0.0.1:0");
    assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), -1);
    assert_contains(err, "CONTROL_PLANE_LISTEN='127.0.0.1:0' is not a listen address");
    env_set("CONTROL_PLANE_LISTEN", "localhost:9090"); /* the last setting wins */
    env_set("CONTROL_PLANE_STORAGE", "/opt/x/mystore.so");
    env_set("CONTROL_PLANE_PLUGIN_DIR", "/opt/x");
    env_set("CONTROL_PLANE_LOG_LEVEL", "warn");
    env_set("CONTROL_PLANE_TOKENS", "tk:admin");
    assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), 0);
    assert_int_equal(c.n_storage_options, 2);
    assert_string_equal(c.storage_options[0].key, "url");
    assert_string_equal(c.storage_options[0].value, "redis://127.0.0.1:7000/1");
    assert_string_equal(c.storage_options[1].key, "prefix");
    assert_string_equal(c.storage_options[1].value, "t:");
    assert_int_equal(c.heartbeat_interval_ms, 500);
    assert_int_equal(c.heartbeat_timeout_ms, 1500);
    assert_int_equal(c.probe_interval_ms, 3000);
    assert_int_equal(c.probe_timeout_ms, 100);
    assert_int_equal(c.task_timeout_ms, 2000);
    assert_int_equal(c.max_task_retries, 7);
    assert_int_equal(c.cleanup_interval_ms, 250);
    assert_string_equal(c.listen, "localhost:9090");
    assert_string_equal(c.storage, "/opt/x/mystore.so");
    assert_string_equal(c.plugin_dir, "/opt/x");
    assert_int_equal(c.log_level, CP_LOG_WARN);
    assert_int_equal(c.n_tokens, 1);
    config_free(&c);
}

static void test_env_bad_values(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"HEARTBEAT_TIMEOUT", "abc",
         "config: HEARTBEAT_TIMEOUT='abc' is not a duration; expected seconds > 0, e.g. 30 or 0.5"},
        {"HEARTBEAT_INTERVAL", "0", "config: HEARTBEAT_INTERVAL='0' is not a duration"},
        {"PROBE_INTERVAL", "-3", "config: PROBE_INTERVAL='-3' is not a duration"},
        {"PROBE_TIMEOUT", "10s", "config: PROBE_TIMEOUT='10s' is not a duration"},
        {"TASK_TIMEOUT", "1e9", "config: TASK_TIMEOUT='1e9' is not a duration"},
        {"CLEANUP_INTERVAL", " ", "config: CLEANUP_INTERVAL=' ' is not a duration"},
        {"MAX_TASK_RETRIES", "x",
         "config: MAX_TASK_RETRIES='x' is not allowed; expected a whole number from 0 to 1000"},
        {"MAX_TASK_RETRIES", "-1", "config: MAX_TASK_RETRIES='-1'"},
        {"MAX_TASK_RETRIES", "4294967297", "config: MAX_TASK_RETRIES='4294967297'"},
        {"CONTROL_PLANE_LISTEN", "nohost", "config: CONTROL_PLANE_LISTEN='nohost'"},
        {"CONTROL_PLANE_STORAGE", "my store", "config: CONTROL_PLANE_STORAGE='my store'"},
        {"CONTROL_PLANE_LOG_LEVEL", "trace", "config: CONTROL_PLANE_LOG_LEVEL='trace'"},
        {"CONTROL_PLANE_TOKENS", "nocolon", "config: CONTROL_PLANE_TOKENS entry 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cp_config c;
        char err[512];
        config_defaults(&c);
        env_clear();
        env_set("TASK_TIMEOUT", "42"); /* valid, but must not be half-applied */
        env_set(cases[i][0], cases[i][1]);
        assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), -1);
        assert_contains(err, cases[i][2]);
        assert_int_equal(c.task_timeout_ms, 300000);
        config_free(&c);
    }
}

static void test_env_empty_is_unset(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    config_defaults(&c);
    env_set("HEARTBEAT_TIMEOUT", "");
    env_set("CONTROL_PLANE_TOKENS", "");
    env_set("REDIS_URL", "");
    assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), 0);
    assert_int_equal(c.heartbeat_timeout_ms, 30000);
    assert_int_equal(c.n_storage_options, 0);
    config_free(&c);
}

static void test_env_options_override_file(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    assert_int_equal(load_text(&c,
                               "storage: {plugin: redis, options: {url: \"redis://file:1\", "
                               "prefix: f}}\n",
                               err, sizeof err),
                     0);
    env_set("REDIS_URL", "redis://env:2");
    assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), 0);
    assert_int_equal(c.n_storage_options, 2);
    assert_string_equal(c.storage_options[0].value, "redis://env:2");
    assert_string_equal(c.storage_options[1].value, "f");
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tokens_never_in_errors, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_env_tokens, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_env_every_variable, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_env_bad_values, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_env_empty_is_unset, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_env_options_override_file, config_test_setup,
                                        config_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
