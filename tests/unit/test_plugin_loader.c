/* test_plugin_loader.c — core/plugin_loader.c and core/host.c: every fixture .so in
 * tests/fixtures is refused with its reason in a one-line message naming the file; the good one
 * loads, is found, runs with a working host table and unloads cleanly. */
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

#include <event2/event.h>

#include <cp/probe.h>
#include <cp/selection.h>
#include <cp/storage.h>

#include "clock.h"
#include "plugin_loader.h"

#define FIXTURE(name) CP_FIXTURE_DIR "/" name ".so"

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (hay));                                \
    } while (0)

/* Load `path` as `kind` into a fresh set and expect a refusal naming the file and `reason`. */
static void expect_refused(const char *path, int kind, const char *reason)
{
    struct plugin_set set = {0};
    char err[512] = "";
    struct plugin *p = plugin_load(&set, path, kind, NULL, 0, err, sizeof err);
    if (p) fail_msg("%s was accepted", path);
    assert_int_equal(set.n, 0);
    char head[400];
    snprintf(head, sizeof head, "plugin %s: ", path);
    assert_true(strncmp(err, head, strlen(head)) == 0);
    assert_contains(err, reason);
    assert_null(strchr(err, '\n'));
}

static void test_resolve(void **state)
{
    (void)state;
    char err[256];
    char *p = plugin_resolve("round_robin", "/opt/cp/plugins", err, sizeof err);
    assert_string_equal(p, "/opt/cp/plugins/round_robin.so");
    free(p);
    p = plugin_resolve("./examples/strategies/libfastest.so", "/opt", err, sizeof err);
    assert_string_equal(p, "./examples/strategies/libfastest.so");
    free(p);
    p = plugin_resolve("/abs/x", NULL, err, sizeof err);
    assert_string_equal(p, "/abs/x");
    free(p);
    p = plugin_resolve("mine.so", "/opt", err, sizeof err);
    assert_string_equal(p, "mine.so");
    free(p);
    assert_null(plugin_resolve("", "/opt", err, sizeof err));
    assert_contains(err, "empty");
    assert_null(plugin_resolve("memory", NULL, err, sizeof err));
    assert_contains(err, "plugin memory: no plugin directory");
}

static void test_no_descriptor(void **state)
{
    (void)state;
    expect_refused(FIXTURE("no_descriptor"), CP_PLUGIN_SELECTION, "no cp_plugin_descriptor symbol");
}

static void test_abi_major(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "ABI major %d, this cpd speaks %d", CP_ABI_MAJOR + 1, CP_ABI_MAJOR);
    expect_refused(FIXTURE("abi_major"), CP_PLUGIN_SELECTION, want);
}

static void test_abi_minor(void **state)
{
    (void)state;
    char want[80];
    snprintf(want, sizeof want, "ABI %d.%d is newer than this cpd's %d.%d", CP_ABI_MAJOR,
             CP_ABI_MINOR + 1, CP_ABI_MAJOR, CP_ABI_MINOR);
    expect_refused(FIXTURE("abi_minor"), CP_PLUGIN_SELECTION, want);
}

static void test_bad_signature(void **state)
{
    (void)state;
    expect_refused(FIXTURE("bad_signature"), CP_PLUGIN_SELECTION,
                   "build signature 'cp-abi-1;ilp32;libevent-1.4' does not match this cpd's "
                   "'" CP_BUILD_SIGNATURE "'");
}

static void test_wrong_kind(void **state)
{
    (void)state;
    expect_refused(FIXTURE("good"), CP_PLUGIN_STORAGE,
                   "is a selection plugin, but a storage plugin was expected");
    expect_refused(FIXTURE("create_fails"), CP_PLUGIN_SELECTION,
                   "is a probe plugin, but a selection plugin was expected");
    expect_refused(FIXTURE("kind_99"), CP_PLUGIN_SELECTION, "unknown plugin kind 99");
}

static void test_bad_name_and_ops(void **state)
{
    (void)state;
    expect_refused(FIXTURE("empty_name"), CP_PLUGIN_SELECTION, "plugin name is empty");
    expect_refused(FIXTURE("null_ops"), CP_PLUGIN_SELECTION, "'fixture_null_ops' has no ops table");
    expect_refused(FIXTURE("ops_version_0"), CP_PLUGIN_SELECTION, "has ops version 0");
    char want[128];
    snprintf(want, sizeof want, "has selection ops version %d, newer than this cpd's %d",
             CP_SELECTION_OPS_VERSION + 1, CP_SELECTION_OPS_VERSION);
    expect_refused(FIXTURE("ops_version_new"), CP_PLUGIN_SELECTION, want);
    expect_refused(FIXTURE("no_create"), CP_PLUGIN_SELECTION, "has no create()");
    expect_refused(FIXTURE("missing_op"), CP_PLUGIN_SELECTION,
                   "lacks the required selection op 'select'");
}

static void test_undefined_symbol(void **state)
{
    (void)state;
    expect_refused(FIXTURE("undefined_symbol"), CP_PLUGIN_SELECTION,
                   "cp_fixture_symbol_nobody_defines");
}

static void test_create_fails(void **state)
{
    (void)state;
    expect_refused(FIXTURE("create_fails"), CP_PLUGIN_PROBE,
                   "'fixture_create_fails' failed to start: option 'url' is missing");
    /* The plugin's options reach create() through the host table. */
    struct cfg_option opts[] = {{"url", "redis://x"}};
    struct plugin_set set = {0};
    char err[512];
    assert_null(
        plugin_load(&set, FIXTURE("create_fails"), CP_PLUGIN_PROBE, opts, 1, err, sizeof err));
    assert_contains(err, "option 'url' is unusable");
    assert_int_equal(set.n, 0);
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    char path[] = "/tmp/cpd-test-notso-XXXXXX.so";
    int fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    const char text[] = "this is not an ELF file\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    expect_refused(path, CP_PLUGIN_SELECTION, "not a loadable shared object: ");
    unlink(path);
    /* An empty file, a missing file and a directory. */
    strcpy(path, "/tmp/cpd-test-notso-XXXXXX.so");
    fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    close(fd);
    expect_refused(path, CP_PLUGIN_SELECTION, "not a loadable shared object");
    unlink(path);
    expect_refused("/nonexistent/dir/x.so", CP_PLUGIN_SELECTION,
                   "cannot open: No such file or directory");
    expect_refused("/tmp", CP_PLUGIN_SELECTION, "not a regular file");
    /* A bare file name is a file in the current directory, not a library-path search. */
    expect_refused("libc.so.6", CP_PLUGIN_SELECTION, "cannot open");
}

static int fired;
static void on_timer(void *arg)
{
    fired += *(int *)arg;
}

static void test_good_loads_and_runs(void **state)
{
    (void)state;
    struct plugin_set set = {0};
    struct cfg_option opts[] = {{"greeting", "hello"}, {"n", "3"}};
    char err[512] = "";
    struct plugin *p =
        plugin_load(&set, FIXTURE("good"), CP_PLUGIN_SELECTION, opts, 2, err, sizeof err);
    if (!p) fail_msg("good fixture refused: %s", err);
    assert_int_equal(set.n, 1);
    assert_ptr_equal(set.items[0], p);
    assert_string_equal(p->path, FIXTURE("good"));
    assert_string_equal(p->desc->name, "fixture_good");
    assert_string_equal(p->desc->version, "1.0");
    assert_ptr_equal(p->ops, p->desc->ops);
    assert_non_null(p->state);
    assert_ptr_equal(plugin_find(&set, CP_PLUGIN_SELECTION, "fixture_good"), p);
    assert_null(plugin_find(&set, CP_PLUGIN_STORAGE, "fixture_good"));
    assert_null(plugin_find(&set, CP_PLUGIN_SELECTION, "other"));

    /* Its select() really runs (returns the last index). */
    const struct cp_selection_ops *ops = p->ops;
    struct cp_selection_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    assert_int_equal(ops->select(p->state, NULL, 4, &ctx), 3);

    /* The host table. */
    const struct cp_host *h = &p->host;
    assert_int_equal(h->version, CP_HOST_VERSION);
    assert_ptr_equal(h->host_private, p);
    assert_string_equal(h->option(h, "greeting"), "hello");
    assert_string_equal(h->option(h, "n"), "3");
    assert_null(h->option(h, "missing"));
    h->log(h, CP_LOG_ERROR, "test line %d", 1);
    /* Without a loop: no event base, no timers. */
    host_set_event_base(NULL);
    assert_null(h->event_base(h));
    int one = 1;
    assert_null(h->timer_add(h, 0, on_timer, &one));

    /* With a loop: a timer fires once; a cancelled one never does. */
    struct event_base *base = event_base_new();
    assert_non_null(base);
    host_set_event_base(base);
    assert_ptr_equal(h->event_base(h), base);
    int ten = 10, hundred = 100;
    fired = 0;
    struct cp_timer *t1 = h->timer_add(h, 1, on_timer, &one);
    struct cp_timer *t2 = h->timer_add(h, 1, on_timer, &ten);
    assert_non_null(t1);
    assert_non_null(t2);
    h->timer_cancel(h, t2);
    event_base_dispatch(base);
    assert_int_equal(fired, 1);
    /* A timer still pending at unload is freed by the host (ASan would report a leak). */
    assert_non_null(h->timer_add(h, 60000, on_timer, &hundred));

    /* A second plugin with the same name, or the same file twice: refused. */
    assert_null(plugin_load(&set, FIXTURE("duplicate_name"), CP_PLUGIN_SELECTION, NULL, 0, err,
                            sizeof err));
    assert_contains(
        err, "plugin " FIXTURE("duplicate_name") ": a selection plugin named "
                                                 "'fixture_good' is already loaded (from " FIXTURE(
                                                     "good") ")");
    assert_null(plugin_load(&set, FIXTURE("good"), CP_PLUGIN_SELECTION, NULL, 0, err, sizeof err));
    assert_contains(err, "already loaded");
    assert_int_equal(set.n, 1);

    plugin_set_unload(&set);
    assert_int_equal(set.n, 0);
    assert_null(plugin_find(&set, CP_PLUGIN_SELECTION, "fixture_good"));
    assert_int_equal(fired, 1);
    event_base_free(base);
    host_set_event_base(NULL);

    /* After unloading, the name is free again. */
    p = plugin_load(&set, FIXTURE("duplicate_name"), CP_PLUGIN_SELECTION, NULL, 0, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p->desc->version, "2.0");
    plugin_set_unload(&set);
    plugin_set_unload(&set); /* idempotent */
}

static void test_failure_leaves_set_alone(void **state)
{
    (void)state;
    /* A refused plugin changes nothing in a set that already holds others. */
    struct plugin_set set = {0};
    char err[512];
    assert_non_null(
        plugin_load(&set, FIXTURE("good"), CP_PLUGIN_SELECTION, NULL, 0, err, sizeof err));
    assert_null(
        plugin_load(&set, FIXTURE("create_fails"), CP_PLUGIN_PROBE, NULL, 0, err, sizeof err));
    assert_int_equal(set.n, 1);
    plugin_set_unload(&set);
}

static void test_default_dir(void **state)
{
    (void)state;
    char *dir = plugin_default_dir();
    assert_non_null(dir);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    char expect[4200];
    snprintf(expect, sizeof expect, "%s/plugins", exe);
    struct stat st;
    if (stat(expect, &st) == 0 && S_ISDIR(st.st_mode))
        assert_string_equal(dir, expect);
    else
        assert_contains(dir, "/cp/plugins"); /* the install prefix's lib/cp/plugins */
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_no_descriptor),
        cmocka_unit_test(test_abi_major),
        cmocka_unit_test(test_abi_minor),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_wrong_kind),
        cmocka_unit_test(test_bad_name_and_ops),
        cmocka_unit_test(test_undefined_symbol),
        cmocka_unit_test(test_create_fails),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_good_loads_and_runs),
        cmocka_unit_test(test_failure_leaves_set_alone),
        cmocka_unit_test(test_default_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
