/* test_clock.c — core/clock.c (fake clock, ISO 8601 formatting) and core/log.c (the line format
 * and level filter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"

static void test_format_iso(void **state)
{
    (void)state;
    char buf[32];
    clock_format_iso(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    clock_format_iso(1795889194123LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-28T18:06:34.123Z");
    clock_format_iso(1795889194007LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-28T18:06:34.007Z");
    clock_format_iso(-1, buf, sizeof buf); /* floor, not truncation */
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    assert_int_equal(strlen(buf), 24);
    char small[8];
    clock_format_iso(0, small, sizeof small); /* truncated, still terminated */
    assert_string_equal(small, "1970-01");
}

static void test_fake_clock(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = clock_now_ms();
    assert_true(now >= before && now < before + 5000);
    clock_set_fake(1000);
    assert_int_equal(clock_now_ms(), 1000);
    clock_advance_fake(250);
    assert_int_equal(clock_now_ms(), 1250);
    clock_set_fake(0);
    assert_true(clock_now_ms() >= before);
}

/* Run `fn` with stderr redirected to a temp file; return what it wrote (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/cpd-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *out = calloc(1, 4096);
    assert_non_null(out);
    lseek(fd, 0, SEEK_SET);
    assert_true(read(fd, out, 4095) >= 0);
    close(fd);
    unlink(path);
    return out;
}

static void log_some(void)
{
    log_set_level(CP_LOG_INFO);
    log_debug("hidden %d", 1);
    log_info("hello %s", "world");
    log_error("two\nlines");
}

static void test_log_lines(void **state)
{
    (void)state;
    clock_set_fake(1795889194123LL);
    char *out = capture_stderr(log_some);
    clock_set_fake(0);
    assert_string_equal(out, "2026-11-28T18:06:34.123Z info hello world\n"
                             "2026-11-28T18:06:34.123Z error two lines\n");
    free(out);
    log_set_level(99);
    assert_int_equal(log_get_level(), CP_LOG_ERROR);
    log_set_level(CP_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_iso),
        cmocka_unit_test(test_fake_clock),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
