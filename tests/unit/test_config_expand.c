/* test_config_expand.c — core/config_expand.c through the YAML layer: ${VAR} in values (unset
 * or empty is an error naming the variable; "$$" is a literal '$'; keys are not expanded), and
 * token_file entries (read, newline dropped, refused when group/others may read them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_helpers.h"

static int load_env(struct cp_config *cfg, const char *text, char *err, size_t errlen)
{
    config_defaults(cfg);
    err[0] = '\0';
    return config_load_yaml_env(cfg, write_yaml(text), fake_getenv, err, errlen);
}

static void test_variables_are_expanded(void **state)
{
    (void)state;
    env_set("ADMIN_TOKEN", "s3cret-admin");
    env_set("PORT", "9191");
    env_set("REDIS_PW", "pa$$word");
    struct cp_config c;
    char err[512];
    int rc = load_env(&c,
                      "listen: \"127.0.0.1:${PORT}\"\n"
                      "storage: {plugin: memory, options: {url: \"redis://:${REDIS_PW}@h:1\","
                      " prefix: 'cost$$5:'}}\n"
                      "auth: {tokens: [{token: \"${ADMIN_TOKEN}\", role: admin},"
                      " \"x${PORT}y:reader\", \"a$b:agent\"]}\n",
                      err, sizeof err);
    if (rc != 0) fail_msg("%s", err);
    assert_string_equal(c.listen, "127.0.0.1:9191");
    assert_int_equal(c.n_tokens, 3);
    assert_string_equal(c.tokens[0].token, "s3cret-admin");
    assert_string_equal(c.tokens[1].token, "x9191y");
    assert_string_equal(c.tokens[2].token, "a$b"); /* a lone '$' stays */
    const char *url = NULL, *prefix = NULL;
    for (size_t i = 0; i < c.n_storage_options; i++) {
        if (!strcmp(c.storage_options[i].key, "url")) url = c.storage_options[i].value;
        if (!strcmp(c.storage_options[i].key, "prefix")) prefix = c.storage_options[i].value;
    }
    assert_non_null(url);
    assert_string_equal(url, "redis://:pa$$word@h:1"); /* a variable's value is not re-read */
    assert_string_equal(prefix, "cost$5:");
    config_free(&c);
}

static void test_unset_variable_is_an_error(void **state)
{
    (void)state;
    env_set("EMPTY", "");
    static const struct bad_case cases[] = {
        {"auth: {tokens: [{token: \"${ADMIN_TOKEN}\", role: admin}]}\n",
         {"${ADMIN_TOKEN}", "ADMIN_TOKEN is not set", "line 1"}},
        {"listen: \"${EMPTY}\"\n", {"EMPTY is empty", NULL, NULL}},
        {"log: {level: \"${LEVEL\"}\n", {"without a variable name", "$$", NULL}},
        {"log: {level: \"${}\"}\n", {"without a variable name", NULL, NULL}},
        {"log: {level: \"${9X}\"}\n", {"without a variable name", NULL, NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cp_config c;
        char err[512];
        if (load_env(&c, cases[i].yaml, err, sizeof err) == 0) fail_msg("case %zu accepted", i);
        for (size_t j = 0; j < 3 && cases[i].expect[j]; j++)
            assert_contains(err, cases[i].expect[j]);
        assert_int_equal(c.n_tokens, 0);
        config_free(&c);
    }
}

static void test_keys_are_not_expanded(void **state)
{
    (void)state;
    env_set("K", "listen");
    struct cp_config c;
    char err[512];
    assert_int_equal(load_env(&c, "${K}: 127.0.0.1:1\n", err, sizeof err), -1);
    assert_contains(err, "unknown key '${K}'");
    config_free(&c);
}

static const char *write_token_file(const char *text, mode_t mode)
{
    static char path[64];
    strcpy(path, "/tmp/cpd-test-token-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_token_file(void **state)
{
    (void)state;
    char yaml[256], err[512];
    struct cp_config c;
    const char *path = write_token_file("from-a-file\n", 0600);
    snprintf(yaml, sizeof yaml, "auth: {tokens: [{token_file: \"%s\", role: agent}]}\n", path);
    if (load_env(&c, yaml, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(c.n_tokens, 1);
    assert_string_equal(c.tokens[0].token, "from-a-file");
    assert_int_equal(c.tokens[0].role, ROLE_AGENT);
    config_free(&c);

    /* The path itself may come from the environment. */
    env_set("TOKFILE", path);
    if (load_env(&c, "auth: {tokens: [{token_file: \"${TOKFILE}\", role: reader}]}\n", err,
                 sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.tokens[0].token, "from-a-file");
    config_free(&c);

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(load_env(&c, yaml, err, sizeof err), -1);
    assert_contains(err, "accessible by group or others (mode 0640)");
    assert_contains(err, "chmod 600");
    assert_contains(err, path);
    assert_null(strstr(err, "from-a-file"));
    config_free(&c);
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(load_env(&c, yaml, err, sizeof err), -1);
    assert_contains(err, "mode 0604");
    config_free(&c);
    unlink(path);

    assert_int_equal(load_env(&c, yaml, err, sizeof err), -1); /* gone now */
    assert_contains(err, "cannot read token_file");
    assert_contains(err, "No such file");
    config_free(&c);

    path = write_token_file("\n", 0600);
    snprintf(yaml, sizeof yaml, "auth: {tokens: [{token_file: \"%s\", role: agent}]}\n", path);
    assert_int_equal(load_env(&c, yaml, err, sizeof err), -1);
    assert_contains(err, "is empty");
    config_free(&c);
    unlink(path);

    path = write_token_file("two words\n", 0600);
    snprintf(yaml, sizeof yaml, "auth: {tokens: [{token_file: \"%s\", role: agent}]}\n", path);
    assert_int_equal(load_env(&c, yaml, err, sizeof err), -1);
    assert_contains(err, "space");
    assert_null(strstr(err, "two words"));
    config_free(&c);
    snprintf(yaml, sizeof yaml, "auth: {tokens: [{token_file: \"%s\", token: x, role: agent}]}\n",
             path);
    assert_int_equal(load_env(&c, yaml, err, sizeof err), -1);
    assert_contains(err, "both token and token_file");
    config_free(&c);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_variables_are_expanded, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_unset_variable_is_an_error, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_keys_are_not_expanded, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_token_file, config_test_setup, config_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
