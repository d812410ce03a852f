/* test_config_validate_cli.c — core/config*.c: config_validate() (the non-loopback-without-auth
 * check, cross-key rules) and the command line (defaults < YAML < environment < flags, flag
 * errors, --help/--version, ./cpd.yaml, the shipped example config). */
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

    /* An exponential backoff whose maximum is shorter than its first delay. */
    assert_int_equal(load_text(&c,
                               "tasks: {retry_backoff: {type: exponential, seconds: 10,\n"
                               "                        max_seconds: 5}}\n",
                               err, sizeof err),
                     0);
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "tasks.retry_backoff.max_seconds");
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
        cmocka_unit_test_setup_teardown(test_validate_listen_and_auth, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_validate_cross_keys, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_precedence, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_cli_errors, config_test_setup, config_test_teardown),
        cmocka_unit_test_setup_teardown(test_cli_help_version, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_default_file_in_cwd, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_example_config, config_test_setup,
                                        config_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
