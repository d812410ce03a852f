/* test_config_yaml.c — core/config*.c: the defaults, the duration and role parsers, and the YAML
 * layer (every key, empty and null values, every bad-value path, a missing file). */
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

#include <cp/types.h>

#include "config.h"
#include "config_helpers.h"
#include "config_internal.h"

/* ---- defaults and value parsers ---- */

static void test_defaults(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_null(c.plugin_dir);
    assert_null(c.config_path);
    assert_string_equal(c.storage, "memory");
    assert_null(c.storage_fallback);
    assert_int_equal(c.n_storage_options, 0);
    assert_string_equal(c.selection_default, "least_loaded");
    assert_int_equal(c.n_selection_plugins, 5);
    assert_string_equal(c.selection_plugins[0].spec, "least_loaded");
    assert_string_equal(c.selection_plugins[1].spec, "round_robin");
    assert_string_equal(c.selection_plugins[2].spec, "random");
    assert_string_equal(c.selection_plugins[3].spec, "affinity");
    assert_string_equal(c.selection_plugins[4].spec, "headroom");
    assert_int_equal(c.n_probe_plugins, 2);
    assert_string_equal(c.probe_plugins[0].spec, "http");
    assert_string_equal(c.probe_plugins[1].spec, "tcp");
    assert_false(c.exec_probe_enabled);
    assert_int_equal(c.n_tokens, 0);
    assert_false(c.allow_anonymous);
    assert_int_equal(c.heartbeat_interval_ms, 10000);
    assert_int_equal(c.heartbeat_timeout_ms, 30000);
    assert_int_equal(c.probe_interval_ms, 30000);
    assert_int_equal(c.probe_timeout_ms, 10000);
    assert_int_equal(c.task_timeout_ms, 300000);
    assert_int_equal(c.cleanup_interval_ms, 60000);
    assert_int_equal(c.retention_ms, 86400000);
    assert_int_equal(c.pass_over_ms, 30000);
    assert_int_equal(c.max_task_retries, 3);
    assert_int_equal(c.unhealthy_threshold, 3);
    assert_int_equal(c.recovery_threshold, 2);
    assert_int_equal(c.slow_probe_ms, 5000);
    assert_int_equal(c.failure_threshold, 5);
    assert_int_equal(c.cooldown_ms, 30000);
    assert_int_equal(c.max_cooldown_ms, 300000);
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.max_capabilities, 64);
    assert_int_equal(c.max_required_caps, 32);
    assert_int_equal(c.log_level, CP_LOG_INFO);
    assert_int_equal(config_validate(&c, err, sizeof err), 0);
    config_free(&c);
    config_free(&c); /* idempotent */
}

static void test_parse_seconds(void **state)
{
    (void)state;
    assert_int_equal(config_parse_seconds("30"), 30000);
    assert_int_equal(config_parse_seconds("0.5"), 500);
    assert_int_equal(config_parse_seconds(".25"), 250);
    assert_int_equal(config_parse_seconds("2."), 2000);
    assert_int_equal(config_parse_seconds("1.2345"), 1235);
    assert_int_equal(config_parse_seconds("0.0004"), 0);
    assert_int_equal(config_parse_seconds("0"), 0);
    assert_int_equal(config_parse_seconds("315360000"), 315360000000LL);
    const char *bad[] = {"",    "abc", "-1",    "+1",        "1e3",
                         " 1",  "1 ",  "1s",    "0x10",      "inf",
                         "nan", ".",   "1.2.3", "315360001", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(config_parse_seconds(bad[i]), -1);
    assert_int_equal(config_parse_seconds(NULL), -1);
}

static void test_role_parse(void **state)
{
    (void)state;
    assert_int_equal(config_role_parse("admin"), ROLE_ADMIN);
    assert_int_equal(config_role_parse("agent"), ROLE_AGENT);
    assert_int_equal(config_role_parse("reader"), ROLE_READER);
    assert_int_equal(config_role_parse("Admin"), ROLE_ADMIN);
    assert_int_equal(config_role_parse("root"), -1);
    assert_int_equal(config_role_parse(""), -1);
    assert_int_equal(config_role_parse(NULL), -1);
}

/* ---- YAML ---- */

static const char full_yaml[] =
    "# every key\n"
    "listen: 0.0.0.0:9000\n"
    "plugin_dir: /opt/cp/plugins\n"
    "storage:\n"
    "  plugin: redis\n"
    "  fallback: memory\n"
    "  options: {url: \"redis://10.0.0.1:6380\", prefix: \"x:\", db: 2,\n"
    "            sentinels: [\"10.0.0.1:26379\", 10.0.0.2]}\n"
    "selection:\n"
    "  default: round_robin\n"
    "  plugins: [round_robin, ./examples/strategies/libfastest.so]\n"
    "probes:\n"
    "  plugins: [http]\n"
    "  interval_seconds: 12.5\n"
    "  timeout_seconds: 0.25\n"
    "  exec: {enabled: true}\n"
    "agents: {heartbeat_interval_seconds: 2, heartbeat_timeout_seconds: 6,\n"
    "         cleanup_interval_seconds: 7}\n"
    "tasks: {timeout_seconds: 100, max_retries: 0, retention_seconds: 3600,\n"
    "        pass_over_seconds: 1.5,\n"
    "        retry_backoff: {type: exponential, seconds: 0.5, max_seconds: 60, jitter: true}}\n"
    "health: {unhealthy_threshold: 4, recovery_threshold: 1, slow_probe_seconds: 2}\n"
    "circuit: {failure_threshold: 9, cooldown_seconds: 10, max_cooldown_seconds: 20}\n"
    "auth:\n"
    "  tokens:\n"
    "    - {token: \"adm-secret\", role: admin}\n"
    "    - \"agt-secret:agent\"\n"
    "    - token: rd-secret\n"
    "      role: reader\n"
    "  allow_anonymous: false\n"
    "limits: {max_body_bytes: 2048, max_capabilities: 8, max_required_capabilities: 4}\n"
    "log: {level: debug}\n";

static void test_yaml_every_key(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    assert_int_equal(load_text(&c, full_yaml, err, sizeof err), 0);
    assert_string_equal(c.config_path, tmp_path);
    assert_string_equal(c.listen, "0.0.0.0:9000");
    assert_string_equal(c.plugin_dir, "/opt/cp/plugins");
    assert_string_equal(c.storage, "redis");
    assert_string_equal(c.storage_fallback, "memory");
    assert_int_equal(c.n_storage_options, 4);
    assert_string_equal(c.storage_options[3].key, "sentinels"); /* a list, joined with ',' */
    assert_string_equal(c.storage_options[3].value, "10.0.0.1:26379,10.0.0.2");
    assert_string_equal(c.storage_options[0].key, "url");
    assert_string_equal(c.storage_options[0].value, "redis://10.0.0.1:6380");
    assert_string_equal(c.storage_options[1].value, "x:");
    assert_string_equal(c.storage_options[2].key, "db");
    assert_string_equal(c.storage_options[2].value, "2");
    assert_string_equal(c.selection_default, "round_robin");
    assert_int_equal(c.n_selection_plugins, 2);
    assert_string_equal(c.selection_plugins[1].spec, "./examples/strategies/libfastest.so");
    assert_int_equal(c.n_probe_plugins, 2); /* http + exec added by exec.enabled */
    assert_string_equal(c.probe_plugins[0].spec, "http");
    assert_string_equal(c.probe_plugins[1].spec, "exec");
    assert_true(c.exec_probe_enabled);
    assert_int_equal(c.probe_interval_ms, 12500);
    assert_int_equal(c.probe_timeout_ms, 250);
    assert_int_equal(c.heartbeat_interval_ms, 2000);
    assert_int_equal(c.heartbeat_timeout_ms, 6000);
    assert_int_equal(c.cleanup_interval_ms, 7000);
    assert_int_equal(c.task_timeout_ms, 100000);
    assert_int_equal(c.max_task_retries, 0);
    assert_int_equal(c.retention_ms, 3600000);
    assert_int_equal(c.pass_over_ms, 1500);
    assert_int_equal(c.backoff_type, CP_BACKOFF_EXPONENTIAL);
    assert_int_equal(c.backoff_ms, 500);
    assert_int_equal(c.backoff_max_ms, 60000);
    assert_true(c.backoff_jitter);
    assert_int_equal(c.unhealthy_threshold, 4);
    assert_int_equal(c.recovery_threshold, 1);
    assert_int_equal(c.slow_probe_ms, 2000);
    assert_int_equal(c.failure_threshold, 9);
    assert_int_equal(c.cooldown_ms, 10000);
    assert_int_equal(c.max_cooldown_ms, 20000);
    assert_int_equal(c.n_tokens, 3);
    assert_string_equal(c.tokens[0].token, "adm-secret");
    assert_int_equal(c.tokens[0].role, ROLE_ADMIN);
    assert_string_equal(c.tokens[1].token, "agt-secret");
    assert_int_equal(c.tokens[1].role, ROLE_AGENT);
    assert_string_equal(c.tokens[2].token, "rd-secret");
    assert_int_equal(c.tokens[2].role, ROLE_READER);
    assert_false(c.allow_anonymous);
    assert_int_equal(c.max_body_bytes, 2048);
    assert_int_equal(c.max_capabilities, 8);
    assert_int_equal(c.max_required_caps, 4);
    assert_int_equal(c.log_level, CP_LOG_DEBUG);
    /* Non-loopback, but tokens are configured. */
    assert_int_equal(config_validate(&c, err, sizeof err), 0);
    config_free(&c);
}

static void test_yaml_empty_and_nulls(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    assert_int_equal(load_text(&c, "", err, sizeof err), 0);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    config_free(&c);
    assert_int_equal(load_text(&c, "# only a comment\n", err, sizeof err), 0);
    config_free(&c);
    assert_int_equal(load_text(&c,
                               "plugin_dir: ~\ntasks:\nstorage: {fallback: none, options: ~}\n"
                               "auth: {tokens: ~}\n",
                               err, sizeof err),
                     0);
    assert_null(c.plugin_dir);
    assert_null(c.storage_fallback);
    assert_int_equal(c.task_timeout_ms, 300000);
    config_free(&c);
}

static void test_yaml_bad_values(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"tasks:\n  timeot: 3\n",
         {"config: unknown key 'tasks.timeot' in ", "(line 2)", "timeout_seconds"}},
        {"listn: 1\n", {"unknown key 'listn'", "(line 1)", "at the top level"}},
        {"probes: {exec: {enabled: true, command: x}}\n", {"unknown key 'probes.exec.command'"}},
        {"storage: {plugin: memory, options: {url: x}, fallbak: memory}\n",
         {"unknown key 'storage.fallbak'"}},
        {"tasks: {timeout_seconds: abc}\n",
         {"config: tasks.timeout_seconds='abc' in ", "(line 1) is not a duration; expected "
                                                     "seconds > 0, e.g. 30 or 0.5"}},
        {"tasks: {timeout_seconds: 0}\n", {"tasks.timeout_seconds='0'", "not a duration"}},
        {"tasks: {retention_seconds: -5}\n", {"tasks.retention_seconds='-5'"}},
        {"agents: {heartbeat_timeout_seconds: 0.0001}\n", {"heartbeat_timeout_seconds='0.0001'"}},
        {"tasks: {timeout_seconds: [1, 2]}\n",
         {"'tasks.timeout_seconds'", "is a list", "expected a single value"}},
        {"tasks: {max_retries: 1001}\n", {"tasks.max_retries='1001'", "from 0 to 1000"}},
        {"tasks: {max_retries: 2.5}\n", {"tasks.max_retries='2.5'"}},
        {"tasks: {max_retries: -1}\n", {"tasks.max_retries='-1'"}},
        {"health: {unhealthy_threshold: 0}\n",
         {"health.unhealthy_threshold='0'", "from 1 to 1000"}},
        {"circuit: {failure_threshold: x}\n", {"circuit.failure_threshold='x'"}},
        {"limits: {max_body_bytes: 10}\n", {"limits.max_body_bytes='10'", "1024"}},
        {"limits: {max_capabilities: 99999}\n", {"limits.max_capabilities='99999'"}},
        {"auth: {allow_anonymous: maybe}\n", {"auth.allow_anonymous='maybe'", "true or false"}},
        {"log: {level: loud}\n", {"log.level='loud'", "debug, info, warn or error"}},
        {"listen: localhost\n", {"listen='localhost'", "host:port"}},
        {"listen: 127.0.0.1:0\n", {"listen='127.0.0.1:0'"}},
        {"listen: 127.0.0.1:65536\n", {"listen='127.0.0.1:65536'"}},
        {"listen: \":8080\"\n", {"listen=':8080'"}},
        {"listen: \"::1:8080\"\n", {"listen='::1:8080'"}},
        {"plugin_dir: \"\"\n", {"plugin_dir=''", "is empty"}},
        {"storage: {plugin: \"bad name\"}\n", {"storage.plugin='bad name'", "path to a .so"}},
        {"storage: {fallback: redis}\n", {"storage.fallback='redis'", "memory or none"}},
        {"storage: {options: [a, b]}\n", {"'storage.options'", "is a list"}},
        {"storage: {options: {url: {a: 1}}}\n", {"'storage.options.url'", "is a mapping"}},
        {"storage: {options: {nodes: [a, [b]]}}\n",
         {"'storage.options.nodes'", "is a list", "strings without ','"}},
        {"storage: {options: {nodes: [\"a,b\"]}}\n", {"'storage.options.nodes'", "without ','"}},
        {"storage: memory\n", {"'storage'", "is a value", "expected a mapping"}},
        {"selection: {default: \"a b\"}\n", {"selection.default='a b'", "plugin name"}},
        {"selection: {plugins: random}\n", {"'selection.plugins'", "is a value"}},
        {"selection: {plugins: [random, random]}\n",
         {"selection.plugins[1]='random'", "listed twice"}},
        {"selection: {plugins: [random, [x]]}\n", {"'selection.plugins[1]'", "is a list"}},
        {"probes: {plugins: [\"\"]}\n", {"probes.plugins[0]=''"}},
        {"selection: {plugins: [{options: {a: 1}}]}\n",
         {"'selection.plugins[0]'", "needs 'plugin'"}},
        {"selection: {plugins: [{plugin: [x]}]}\n", {"'selection.plugins[0]'", "needs 'plugin'"}},
        {"selection: {plugins: [{plugin: x, optoins: {a: 1}}]}\n",
         {"'selection.plugins[0]'", "unknown or repeated key 'optoins'", "plugin and options"}},
        {"selection: {plugins: [{plugin: x, plugin: y}]}\n", {"repeated key 'plugin'"}},
        {"selection: {plugins: [{plugin: x, options: [a]}]}\n",
         {"'selection.plugins[0].options'", "is a list"}},
        {"probes: {plugins: [{plugin: x, options: {\"a b\": 1}}]}\n",
         {"probes.plugins[0].options.a b='a b'", "not an option name"}},
        {"selection: {plugins: [x, {plugin: x}]}\n", {"selection.plugins[1]='x'", "listed twice"}},
        {"probes: {exec: true}\n", {"'probes.exec'", "expected a mapping"}},
        {"tasks: {timeout_seconds: 1}\ntasks: {max_retries: 1}\n",
         {"key 'tasks' appears twice", "(line 2)"}},
        {"- listen\n- x\n", {"'(top level)'", "is a list"}},
        {"listen: [\n", {"is not valid YAML", "line"}},
        {"a: b: c\n", {"is not valid YAML"}},
        {"auth: {tokens: {x: y}}\n", {"'auth.tokens'", "is a mapping"}},
        {"tasks: {retry_backoff: {type: linear}}\n",
         {"tasks.retry_backoff.type='linear'", "none, fixed or exponential"}},
        {"tasks: {retry_backoff: {seconds: 0}}\n", {"tasks.retry_backoff.seconds='0'"}},
        {"tasks: {retry_backoff: {factor: 2}}\n", {"unknown key 'tasks.retry_backoff.factor'"}},
        {"tasks: {retry_backoff: fast}\n", {"'tasks.retry_backoff'", "expected a mapping"}},
        {"quotas: [{id: q, scope: {provider: p}, rpm: -1}]\n", {"quotas[].rpm", "(line 1)"}},
        {"quotas: [{scope: {provider: p}}]\n", {"quotas[].id is required"}},
        {"quotas: [{id: q}]\n", {"quotas[].scope"}},
        {"quotas: [{id: q, scope: {provider: p, region: eu}}]\n", {"unknown key 'region'"}},
        {"quotas: [{id: q, scope: {provider: p}}, {id: q, scope: {provider: r}}]\n",
         {"quota id 'q' appears twice"}},
        {"quotas: {id: q}\n", {"quotas must be a list"}},
        {"tasks: {est_tokens: {t: {input: x}}}\n", {"tasks.est_tokens.*.input"}},
        {"tasks: {est_tokens: {t: {inputs: 1}}}\n", {"not 'inputs'"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cp_config c;
        char err[512];
        if (load_text(&c, cases[i].yaml, err, sizeof err) == 0)
            fail_msg("case %zu accepted: %s", i, cases[i].yaml);
        assert_contains(err, tmp_path); /* every YAML error names the file */
        for (size_t j = 0; j < 3 && cases[i].expect[j]; j++)
            assert_contains(err, cases[i].expect[j]);
        assert_null(strchr(err, '\n'));
        /* Nothing half-applied: still the defaults. */
        assert_string_equal(c.listen, "127.0.0.1:8080");
        assert_null(c.config_path);
        assert_int_equal(c.task_timeout_ms, 300000);
        config_free(&c);
    }
}

/* quotas: and tasks.est_tokens: (config_quotas.c). */
static void test_yaml_quotas(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    assert_int_equal(
        load_text(&c,
                  "quotas:\n"
                  "  - {id: oa, scope: {provider: openai, model: gpt-4o, key_id: k1},\n"
                  "     rpm: 500, tpm: 200000, max_in_flight: 40}\n"
                  "  - {id: an, scope: {provider: anthropic}}\n"
                  "tasks:\n"
                  "  est_tokens:\n"
                  "    summarize: {input: 4000, max_output: 500}\n"
                  "    \"*\": {input: 10}\n",
                  err, sizeof err),
        0);
    assert_int_equal(c.n_quotas, 2);
    assert_string_equal(c.quotas[0].id, "oa");
    assert_string_equal(c.quotas[0].model, "gpt-4o");
    assert_string_equal(c.quotas[0].key_id, "k1");
    assert_int_equal(c.quotas[0].rpm, 500);
    assert_int_equal(c.quotas[0].tpm, 200000);
    assert_int_equal(c.quotas[0].max_in_flight, 40);
    assert_null(c.quotas[1].model);
    assert_int_equal(c.quotas[1].rpm, 0);
    const struct cfg_est *e = config_est_tokens(&c, "summarize");
    assert_non_null(e);
    assert_int_equal(e->input, 4000);
    assert_int_equal(e->max_output, 500);
    e = config_est_tokens(&c, "other");
    assert_non_null(e);
    assert_int_equal(e->input, 10);
    assert_int_equal(e->max_output, 0);
    struct cp_config copy;
    assert_int_equal(cfg_clone(&copy, &c), 0); /* a reload's copy owns its strings */
    assert_string_equal(copy.quotas[0].provider, "openai");
    config_free(&copy);
    config_free(&c);
}

/* selection.plugins / probes.plugins entries may carry their plugin's options. */
static void test_yaml_plugin_options(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    assert_int_equal(load_text(&c,
                               "selection:\n"
                               "  plugins:\n"
                               "    - least_loaded\n"
                               "    - plugin: /opt/x/lowest_latency.so\n"
                               "      options: {unknown_latency_ms: 500, tags: [a, b]}\n"
                               "    - {plugin: round_robin}\n"
                               "probes:\n"
                               "  plugins: [http, {plugin: grpc, options: {tls: \"on\"}}]\n",
                               err, sizeof err),
                     0);
    assert_int_equal(c.n_selection_plugins, 3);
    assert_string_equal(c.selection_plugins[0].spec, "least_loaded");
    assert_int_equal(c.selection_plugins[0].n_options, 0);
    assert_string_equal(c.selection_plugins[1].spec, "/opt/x/lowest_latency.so");
    assert_int_equal(c.selection_plugins[1].n_options, 2);
    assert_string_equal(c.selection_plugins[1].options[0].key, "unknown_latency_ms");
    assert_string_equal(c.selection_plugins[1].options[0].value, "500");
    assert_string_equal(c.selection_plugins[1].options[1].key, "tags");
    assert_string_equal(c.selection_plugins[1].options[1].value, "a,b");
    assert_string_equal(c.selection_plugins[2].spec, "round_robin");
    assert_int_equal(c.selection_plugins[2].n_options, 0);
    assert_int_equal(c.n_probe_plugins, 2);
    assert_string_equal(c.probe_plugins[1].spec, "grpc");
    assert_string_equal(c.probe_plugins[1].options[0].value, "on");
    assert_int_equal(c.n_storage_options, 0); /* not mixed with storage's */
    config_free(&c);

    /* At most CFG_MAX_OPTIONS per entry. */
    char doc[2048] = "selection: {plugins: [{plugin: x, options: {";
    for (int i = 0; i <= CFG_MAX_OPTIONS; i++) {
        size_t len = strlen(doc);
        snprintf(doc + len, sizeof doc - len, "%so%d: 1", i ? ", " : "", i);
    }
    strcat(doc, "}}]}\n");
    assert_int_equal(load_text(&c, doc, err, sizeof err), -1);
    assert_contains(err, "one option too many");
    config_free(&c);
}

static void test_yaml_missing_file(void **state)
{
    (void)state;
    struct cp_config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_yaml(&c, "/nonexistent/cpd.yaml", err, sizeof err), -1);
    assert_string_equal(err,
                        "config: cannot read /nonexistent/cpd.yaml: No such file or directory");
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_parse_seconds, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_role_parse, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_every_key, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_empty_and_nulls, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_bad_values, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_quotas, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_plugin_options, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_yaml_missing_file, config_test_setup,
                                        config_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
