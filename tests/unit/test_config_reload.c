/* test_config_reload.c — core/config_reload.c: restart-only keys keep their running values (and
 * are named), run-time keys move into the running struct in place (pointers into it stay
 * valid), tokens are swapped and only counted in the message. */
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

static void load(struct cp_config *c, const char *text)
{
    char err[512];
    if (load_text(c, text, err, sizeof err) != 0) fail_msg("%s", err);
}

static void test_plan_and_apply(void **state)
{
    (void)state;
    struct cp_config cur, next;
    load(&cur, "listen: 127.0.0.1:7000\n"
               "storage: {plugin: redis, options: {url: \"redis://a:1\"}}\n"
               "tasks: {timeout_seconds: 300}\n"
               "auth: {tokens: [\"OLDSECRET:admin\"]}\n");
    const char *url_before = cur.storage_options[0].value;
    const char *listen_before = cur.listen;
    load(&next, "listen: 127.0.0.1:7001\n"
                "storage: {plugin: memory, options: {url: \"redis://b:2\"}}\n"
                "selection: {plugins: [least_loaded]}\n"
                "tasks: {timeout_seconds: 60, max_terminal: 5}\n"
                "log: {level: debug}\n"
                "auth: {tokens: [\"NEWSECRET:admin\", \"OTHER:reader\"]}\n");
    char restart[512], changed[2048];
    assert_int_equal(config_reload_plan(&cur, &next, restart, sizeof restart), 0);
    assert_contains(restart, "listen");
    assert_contains(restart, "storage.plugin");
    assert_contains(restart, "storage.options");
    assert_contains(restart, "selection.plugins");
    assert_null(strstr(restart, "tasks"));
    /* next now runs with the running restart-only values */
    assert_string_equal(next.listen, "127.0.0.1:7000");
    assert_string_equal(next.storage, "redis");
    assert_string_equal(next.storage_options[0].value, "redis://a:1");
    assert_int_equal(next.n_selection_plugins, 5); /* the defaults, kept (restart-only) */
    char err[512];
    assert_int_equal(config_validate(&next, err, sizeof err), 0);

    config_reload_apply(&cur, &next, changed, sizeof changed);
    assert_contains(changed, "tasks.timeout_seconds 300 -> 60");
    assert_contains(changed, "tasks.max_terminal 100000 -> 5");
    assert_contains(changed, "log.level info -> debug");
    assert_contains(changed, "auth.tokens (1 -> 2 tokens)");
    assert_null(strstr(changed, "SECRET"));
    assert_null(strstr(changed, "listen"));
    assert_int_equal(cur.task_timeout_ms, 60000);
    assert_int_equal(cur.max_terminal, 5);
    assert_int_equal(cur.n_tokens, 2);
    assert_string_equal(cur.tokens[0].token, "NEWSECRET");
    /* What plugins and the server hold stays where it was. */
    assert_ptr_equal(cur.storage_options[0].value, url_before);
    assert_ptr_equal(cur.listen, listen_before);
    config_free(&next);
    config_free(&cur);
}

/* A plugin entry's options are restart-only, like the list; the running ones stay in place. */
static void test_plugin_options_need_a_restart(void **state)
{
    (void)state;
    struct cp_config cur, next;
    load(&cur, "selection: {plugins: [least_loaded, {plugin: x, options: {k: \"1\"}}]}\n");
    const char *running = cur.selection_plugins[1].options[0].value;
    load(&next, "selection: {plugins: [least_loaded, {plugin: x, options: {k: \"2\"}}]}\n");
    char restart[256], changed[256];
    assert_int_equal(config_reload_plan(&cur, &next, restart, sizeof restart), 0);
    assert_string_equal(restart, "selection.plugins");
    assert_string_equal(next.selection_plugins[1].options[0].value, "1");
    config_reload_apply(&cur, &next, changed, sizeof changed);
    assert_ptr_equal(cur.selection_plugins[1].options[0].value, running);
    config_free(&next);
    /* The same options in another order are no change. */
    load(&next, "selection: {plugins: [least_loaded, {plugin: x, options: {k: \"1\"}}]}\n");
    assert_int_equal(config_reload_plan(&cur, &next, restart, sizeof restart), 0);
    assert_string_equal(restart, "");
    config_free(&next);
    config_free(&cur);
}

static void test_nothing_changed(void **state)
{
    (void)state;
    struct cp_config cur, next;
    load(&cur, "tasks: {timeout_seconds: 30}\n");
    load(&next, "tasks: {timeout_seconds: 30}\n");
    char restart[256], changed[256];
    assert_int_equal(config_reload_plan(&cur, &next, restart, sizeof restart), 0);
    config_reload_apply(&cur, &next, changed, sizeof changed);
    assert_string_equal(restart, "");
    assert_string_equal(changed, "");
    config_free(&next);
    config_free(&cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_and_apply, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_plugin_options_need_a_restart, config_test_setup,
                                        config_test_teardown),
        cmocka_unit_test_setup_teardown(test_nothing_changed, config_test_setup,
                                        config_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
