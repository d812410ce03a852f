/* test_probes_exec.c — the built-in exec probe, loaded from its real .so, against /bin/true,
 * /bin/false, JSON-array commands and a `sleep 5` that must be killed with its process group:
 * exit statuses, no inherited environment, the host's deadline killing the group, cancelled
 * checks, command validation, and that no child is ever left unreaped. Checks run as cpd runs
 * them, through core/probe_host.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <cp/probe.h>
#include <cp/time.h>

#include "probes_helpers.h"

/* ---- exec ---- */

/* 1 when this process has no child at all, running or zombie (nothing is reaped here). */
static int no_children(void)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    errno = 0;
    return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

static void assert_no_children(void)
{
    assert_true(no_children());
}

static void test_exec(void **unused)
{
    (void)unused;
    struct probe p = probe_load("exec");
    struct result r;
    check_run(&p, &r, 2000, "command", "/bin/true", "exec");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.error, "(null)");
    assert_true(r.latency_ms >= 0 && r.latency_ms < 1000);

    check_run(&p, &r, 2000, "command", "/bin/false", "exec");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "exit status 1");

    /* JSON array form: no splitting, no shell */
    check_run(&p, &r, 2000, "command", "[\"sh\", \"-c\", \"exit 3\"]", "exec");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "exit status 3");
    check_run(&p, &r, 2000, "command", "  true  ", "exec"); /* PATH lookup, blanks trimmed */
    assert_int_equal(r.ok, 1);

    /* The host's environment (tokens!) is not passed on: only PATH. */
    setenv("CP_TEST_SECRET", "s3cret", 1);
    check_run(&p, &r, 2000, "command", "[\"sh\", \"-c\", \"test -z \\\"$CP_TEST_SECRET\\\"\"]",
              "exec");
    assert_int_equal(r.ok, 1);
    unsetenv("CP_TEST_SECRET");

    check_run(&p, &r, 2000, "command", "/nonexistent/cpd-probe-cmd --x", "exec");
    assert_int_equal(r.ok, 0);
    /* posix_spawnp() reports the failed exec; under valgrind (no vfork) the child exits 127 */
    if (strcmp(r.error, "exit status 127") != 0)
        assert_non_null(strstr(r.error, "cannot run '/nonexistent/cpd-probe-cmd': No such file"));
    probe_unload(&p);
    assert_no_children();
}

static void test_exec_timeout_kills(void **unused)
{
    (void)unused;
    struct probe p = probe_load("exec");
    struct result r;
    int64_t t0_us = cp_monotonic_us();
    check_run(&p, &r, 200, "command", "sleep 5", "exec");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "timed out after 200 ms");
    assert_true(r.latency_ms >= 190 && r.latency_ms < 450);

    /* The whole process group is killed: a grandchild too. */
    char pidfile[] = "/tmp/cp-probe-XXXXXX";
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "[\"sh\", \"-c\", \"sleep 7 & echo $! > %s; wait\"]", pidfile);
    check_run(&p, &r, 300, "command", cmd, "exec");
    assert_string_equal(r.error, "timed out after 300 ms");
    char buf[32] = {0};
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    unlink(pidfile);
    pid_t grandchild = (pid_t)atoi(buf);
    assert_true(grandchild > 0);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        char path[64], stat[256] = {0};
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)grandchild);
        FILE *f = fopen(path, "r");
        if (!f) {
            gone = 1;
            break;
        }
        size_t n = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
        const char *rp = memchr(stat, ')', n);
        if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X')) gone = 1; /* dead, unreaped */
        if (!gone) run_for(10);
    }
    assert_true(gone);

    /* The killed children get reaped on the loop, before destroy() even runs. */
    for (int i = 0; i < 100 && !no_children(); i++)
        run_for(10);
    assert_no_children();
    probe_unload(&p);
    assert_true(cp_monotonic_us() - t0_us < 3000000); /* nobody waited for `sleep 5` */
}

static void test_exec_cancel(void **unused)
{
    (void)unused;
    struct probe p = probe_load("exec");
    struct result r1, r2, r3;
    probe_run_cancel(check_start(&p, &r1, 2000, "command", "sleep 5", "exec"));
    struct probe_run *run2 = check_start(&p, &r2, 300, "command", "sleep 5", "exec");
    run_for(50);
    probe_run_cancel(run2);
    struct probe_run *run3 = check_start(&p, &r3, 2000, "command", "sleep 5", "exec");
    run_for(400); /* past run2's deadline: still silent */
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    probe_run_cancel(run3); /* kills r3's child; destroy() waits for any straggler */
    probe_unload(&p);
    assert_int_equal(r3.calls, 0);
    assert_no_children();
}

static void test_exec_validate(void **unused)
{
    (void)unused;
    struct probe p = probe_load("exec");
    expect_invalid(&p, "exec", "command", NULL, "health_probe.command is required");
    expect_invalid(&p, "exec", "command", "", "health_probe.command is required");
    expect_invalid(&p, "exec", "command", "   \t ", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[]", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[1, 2]", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[\"\", \"x\"]", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[\"a\\u0000b\"]", "health_probe.command must be");
    expect_invalid(&p, "exec", "url", "/bin/true", "health_probe.command is required");
    expect_valid(&p, "exec", "command", "/usr/bin/test -f /etc/hostname");
    expect_valid(&p, "exec", "command", "[ -f /etc/hostname ]"); /* a string, not JSON */
    expect_valid(&p, "exec", "command", "[\"/bin/echo\", \"two words\"]");
    probe_unload(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_exec_timeout_kills),
        cmocka_unit_test(test_exec_cancel),
        cmocka_unit_test(test_exec_validate),
    };
    return cmocka_run_group_tests(tests, probes_setup, probes_teardown);
}
