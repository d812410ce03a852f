/* test_redis_args.c — argument vectors (redis_args.c): numbers written by hand read as printf
 * writes them (zero, signs, digit boundaries, INT64_MIN/MAX), and a vector that outgrows its own
 * slots and bytes (hundreds of arguments, long optional strings) keeps every argument intact
 * and frees what it allocated (ASan checks the leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

static void assert_arg(const struct rs_args *a, int i, const char *want)
{
    assert_true(i < a->argc);
    assert_int_equal(a->lens[i], strlen(want));
    assert_memory_equal(a->argv[i], want, strlen(want));
}

static void test_numbers_as_printf_writes_them(void **s)
{
    (void)s;
    static const int64_t values[] = {
        0, 1, -1, 9, 10, -10, 99, 100, 123456789, -987654321, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    struct rs_args a;
    memset(&a, 0, sizeof a);
    size_t n = sizeof values / sizeof values[0];
    for (size_t i = 0; i < n; i++)
        args_i64(&a, values[i]);
    assert_int_equal(a.argc, (int)n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)values[i]);
        assert_arg(&a, (int)i, want);
    }
    assert_false(a.oom);
    args_free(&a);
}

static void test_a_vector_outgrows_its_own_room(void **s)
{
    (void)s;
    struct rs_args a;
    memset(&a, 0, sizeof a);
    char longer[600];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        switch (i % 3) {
        case 0:
            args_i64(&a, (int64_t)i * 1000003);
            break;
        case 1:
            args_opt(&a, i % 2 ? longer + i : "v");
            break;
        default:
            args_str(&a, "name");
        }
    }
    assert_false(a.oom);
    assert_null(a.invalid);
    assert_int_equal(a.argc, 300);
    for (int i = 0; i < 300; i++) {
        char want[700];
        if (i % 3 == 0)
            snprintf(want, sizeof want, "%lld", (long long)i * 1000003);
        else if (i % 3 == 1)
            snprintf(want, sizeof want, "=%s", i % 2 ? longer + i : "v");
        else
            snprintf(want, sizeof want, "name");
        assert_arg(&a, i, want);
    }
    args_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_as_printf_writes_them),
        cmocka_unit_test(test_a_vector_outgrows_its_own_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
