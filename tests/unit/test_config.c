/* test_config.c — core/config*.c: defaults < YAML < environment < flags, every bad-value path,
 * unknown keys, tokens, the non-loopback-without-auth check, fractional durations, the CLI. */
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

/* ---- fake environment, injected through getenv_fn ---- */

static const char *env_pairs[32][2];
static size_t n_env;

static void env_clear(void)
{
    n_env = 0;
}

static void env_set(const char *name, const char *value)
{
    env_pairs[n_env][0] = name;
    env_pairs[n_env][1] = value;
    n_env++;
}

static const char *fake_getenv(const char *name)
{
    for (size_t i = n_env; i-- > 0;) /* the last setting wins */
        if (strcmp(env_pairs[i][0], name) == 0) return env_pairs[i][1];
    return NULL;
}

/* ---- temp files ---- */

static char tmp_path[64];

static const char *write_yaml(const char *text)
{
    if (tmp_path[0]) unlink(tmp_path); /* the previous one of this test */
    strcpy(tmp_path, "/tmp/cpd-test-config-XXXXXX.yaml");
    int fd = mkstemps(tmp_path, 5);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return tmp_path;
}

static int setup(void **state)
{
    (void)state;
    env_clear();
    tmp_path[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (tmp_path[0]) unlink(tmp_path);
    return 0;
}

/* Load `text` over the defaults; returns rc and leaves the message in err. */
static int load_text(struct cp_config *cfg, const char *text, char *err, size_t errlen)
{
    config_defaults(cfg);
    err[0] = '\0';
    return config_load_yaml(cfg, write_yaml(text), err, errlen);
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (hay));                                \
    } while (0)

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
    assert_int_equal(c.n_selection_plugins, 3);
    assert_string_equal(c.selection_plugins[0].spec, "least_loaded");
    assert_string_equal(c.selection_plugins[1].spec, "round_robin");
    assert_string_equal(c.selection_plugins[2].spec, "random");
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
    "  options: {url: \"redis://10.0.0.1:6380\", prefix: \"x:\", db: 2}\n"
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
    "        pass_over_seconds: 1.5}\n"
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
    assert_int_equal(c.n_storage_options, 3);
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

struct bad_case {
    const char *yaml;
    const char *expect[3]; /* substrings of the message */
};

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
        {"storage: memory\n", {"'storage'", "is a value", "expected a mapping"}},
        {"selection: {default: \"a b\"}\n", {"selection.default='a b'", "plugin name"}},
        {"selection: {plugins: random}\n", {"'selection.plugins'", "is a value"}},
        {"selection: {plugins: [random, random]}\n",
         {"selection.plugins[1]='random'", "listed twice"}},
        {"selection: {plugins: [random, [x]]}\n", {"'selection.plugins[1]'", "is a list"}},
        {"probes: {plugins: [\"\"]}\n", {"probes.plugins[0]=''"}},
        {"probes: {exec: true}\n", {"'probes.exec'", "expected a mapping"}},
        {"tasks: {timeout_seconds: 1}\ntasks: {max_retries: 1}\n",
         {"key 'tasks' appears twice", "(line 2)"}},
        {"- listen\n- x\n", {"'(top level)'", "is a list"}},
        {"listen: [\n", {"is not valid YAML", "line"}},
        {"a: b: c\n", {"is not valid YAML"}},
        {"auth: {tokens: {x: y}}\n", {"'auth.tokens'", "is a mapping"}},
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
    env_pairs[n_env - 1][1] = "localhost:9090";
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

/* ---- validation ---- */

static void test_validate_listen_and_auth(void **state)
{
    (void)state;
    struct cp_config c;
    char err[1024];
    static const char *const ok_loopback[] = {"127.0.0.1:1", "127.8.9.10:65535", "localhost:80",
                                              "LOCALHOST:80", "[::1]:8080"};
    static const char *const public[] = {"0.0.0.0:8080", "10.1.2.3:8080", "[::]:8080",
                                         "example.com:80", "127.0.0.1.evil.com:80"};
    for (size_t i = 0; i < sizeof ok_loopback / sizeof *ok_loopback; i++) {
        config_defaults(&c);
        free(c.listen);
        c.listen = strdup(ok_loopback[i]);
        if (config_validate(&c, err, sizeof err) != 0)
            fail_msg("%s refused: %s", ok_loopback[i], err);
        config_free(&c);
    }
    for (size_t i = 0; i < sizeof public / sizeof *public; i++) {
        assert_int_equal(load_text(&c, "", err, sizeof err), 0);
        free(c.listen);
        c.listen = strdup(public[i]);
        assert_int_equal(config_validate(&c, err, sizeof err), -1);
        assert_contains(err, public[i]);
        assert_contains(err, "auth.allow_anonymous: true");
        assert_contains(err, "auth.tokens");
        c.allow_anonymous = 1;
        assert_int_equal(config_validate(&c, err, sizeof err), 0);
        c.allow_anonymous = 0;
        env_set("CONTROL_PLANE_TOKENS", "t:admin");
        assert_int_equal(config_load_env(&c, fake_getenv, err, sizeof err), 0);
        env_clear();
        assert_int_equal(config_validate(&c, err, sizeof err), 0);
        config_free(&c);
    }
    assert_int_equal(
        load_text(&c, "listen: 0.0.0.0:8080\nauth: {allow_anonymous: yes}\n", err, sizeof err), 0);
    assert_int_equal(config_validate(&c, err, sizeof err), 0);
    config_free(&c);
}

static void test_validate_cross_keys(void **state)
{
    (void)state;
    struct cp_config c;
    char err[1024];
    assert_int_equal(load_text(&c, "circuit: {cooldown_seconds: 60, max_cooldown_seconds: 30}\n",
                               err, sizeof err),
                     0);
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "circuit.cooldown_seconds");
    config_free(&c);

    /* exec listed without being enabled: refused; enabling adds it once. */
    assert_int_equal(load_text(&c, "probes: {plugins: [http, exec]}\n", err, sizeof err), 0);
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "probes.exec.enabled");
    config_free(&c);
    assert_int_equal(
        load_text(&c, "probes: {plugins: [http, exec], exec: {enabled: true}}\n", err, sizeof err),
        0);
    assert_int_equal(c.n_probe_plugins, 2);
    assert_int_equal(config_validate(&c, err, sizeof err), 0);
    config_free(&c);

    assert_int_equal(load_text(&c, "selection: {plugins: []}\n", err, sizeof err), 0);
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "selection.plugins is empty");
    config_free(&c);

    config_defaults(&c);
    c.heartbeat_timeout_ms = 0;
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "agents.heartbeat_timeout_seconds must be > 0");
    config_free(&c);
}

/* ---- command line and precedence ---- */

static int run_args(struct cp_config *c, struct config_cli *cli, char *err, size_t errlen, ...)
{
    char *argv[16] = {"cpd"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    memset(c, 0, sizeof *c);
    err[0] = '\0';
    return config_from_args(c, cli, argc, argv, fake_getenv, err, errlen);
}

static void test_precedence(void **state)
{
    (void)state;
    struct cp_config c;
    struct config_cli cli;
    char err[512];
    const char *path = write_yaml("listen: 127.0.0.2:7001\n"
                                  "agents: {heartbeat_timeout_seconds: 40,\n"
                                  "         heartbeat_interval_seconds: 4}\n"
                                  "tasks: {max_retries: 5}\n");
    /* YAML over defaults. */
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--config", path, NULL), 0);
    assert_string_equal(c.config_path, path);
    assert_string_equal(c.listen, "127.0.0.2:7001");
    assert_int_equal(c.heartbeat_timeout_ms, 40000);
    assert_int_equal(c.heartbeat_interval_ms, 4000);
    assert_int_equal(c.max_task_retries, 5);
    assert_int_equal(c.task_timeout_ms, 300000); /* default */
    assert_false(cli.check_only);
    /* Env over YAML; flags over env. Calling again over a used struct must not leak. */
    env_set("HEARTBEAT_TIMEOUT", "50");
    env_set("CONTROL_PLANE_LISTEN", "127.0.0.3:7002");
    assert_int_equal(config_from_args(&c, &cli, 3, (char *[]){"cpd", "--config", (char *)path},
                                      fake_getenv, err, sizeof err),
                     0);
    assert_string_equal(c.listen, "127.0.0.3:7002");
    assert_int_equal(c.heartbeat_timeout_ms, 50000);
    assert_int_equal(c.heartbeat_interval_ms, 4000);
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--config", path, "--listen",
                              "127.0.0.4:7003", "--check-config", NULL),
                     0);
    assert_string_equal(c.listen, "127.0.0.4:7003");
    assert_int_equal(c.heartbeat_timeout_ms, 50000);
    assert_true(cli.check_only);
    config_free(&c);
    assert_int_equal(
        run_args(&c, &cli, err, sizeof err, "--listen=127.0.0.5:7004", "--config=/dev/null", NULL),
        0);
    assert_string_equal(c.listen, "127.0.0.5:7004");
    assert_string_equal(c.config_path, "/dev/null");
    config_free(&c);
}

static void test_cli_errors(void **state)
{
    (void)state;
    struct cp_config c;
    struct config_cli cli;
    char err[512];
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--frobnicate", NULL), -1);
    assert_string_equal(err, "config: unknown flag '--frobnicate'; try --help");
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "extra", NULL), -1);
    assert_contains(err, "unknown argument 'extra'");
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--listen", NULL), -1);
    assert_contains(err, "--listen needs a value");
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--config", NULL), -1);
    assert_contains(err, "--config needs a value");
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--listen", "bad", NULL), -1);
    assert_contains(err, "config: --listen='bad' is not a listen address");
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--config", "/nonexistent.yaml", NULL),
                     -1);
    assert_contains(err, "cannot read /nonexistent.yaml");
    config_free(&c);
    /* Non-loopback without tokens: refused after all layers are applied... */
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--listen", "0.0.0.0:8080", NULL), -1);
    assert_contains(err, "auth.allow_anonymous");
    config_free(&c);
    /* ...and fine with a token from the environment. */
    env_set("CONTROL_PLANE_TOKENS", "tok:admin");
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--listen", "0.0.0.0:8080", NULL), 0);
    config_free(&c);
    env_clear();
    env_set("PROBE_TIMEOUT", "soon");
    assert_int_equal(run_args(&c, &cli, err, sizeof err, NULL), -1);
    assert_contains(err, "PROBE_TIMEOUT='soon'");
    config_free(&c);
}

static void test_cli_help_version(void **state)
{
    (void)state;
    struct cp_config c;
    struct config_cli cli;
    char err[512];
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--help", NULL), 1);
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--listen", "x:1", "-h", NULL), 1);
    config_free(&c);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--version", NULL), 1);
    config_free(&c);
}

static void test_default_file_in_cwd(void **state)
{
    (void)state;
    char dir[] = "/tmp/cpd-test-cwd-XXXXXX", old[4096], file[64];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(old, sizeof old));
    assert_int_equal(chdir(dir), 0);
    struct cp_config c;
    struct config_cli cli;
    char err[512];
    /* No ./cpd.yaml: defaults. */
    assert_int_equal(run_args(&c, &cli, err, sizeof err, NULL), 0);
    assert_null(c.config_path);
    config_free(&c);
    snprintf(file, sizeof file, "%s/cpd.yaml", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("tasks: {timeout_seconds: 9}\n", f);
    fclose(f);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, NULL), 0);
    assert_string_equal(c.config_path, "cpd.yaml");
    assert_int_equal(c.task_timeout_ms, 9000);
    config_free(&c);
    /* --config wins over ./cpd.yaml. */
    assert_int_equal(run_args(&c, &cli, err, sizeof err, "--config", "/dev/null", NULL), 0);
    assert_int_equal(c.task_timeout_ms, 300000);
    config_free(&c);
    /* A bad ./cpd.yaml names the file. */
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("tasks: {timeot: 9}\n", f);
    fclose(f);
    assert_int_equal(run_args(&c, &cli, err, sizeof err, NULL), -1);
    assert_contains(err, "config: unknown key 'tasks.timeot' in cpd.yaml (line 1)");
    config_free(&c);
    unlink(file);
    assert_int_equal(chdir(old), 0);
    rmdir(dir);
}

static void test_example_config(void **state)
{
    (void)state;
    struct cp_config c;
    struct config_cli cli;
    char err[512];
    assert_int_equal(
        run_args(&c, &cli, err, sizeof err, "--config", CP_SOURCE_DIR "/examples/cpd.yaml", NULL),
        0);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.storage, "memory");
    assert_null(c.plugin_dir);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_seconds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_empty_and_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_never_in_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_every_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_empty_is_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_options_override_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_listen_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_cross_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_help_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_file_in_cwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
