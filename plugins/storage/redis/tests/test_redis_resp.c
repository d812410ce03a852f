/* test_redis_resp.c — rs_format_command() (redis_resp.c) makes exactly the bytes hiredis'
 * redisFormatCommandArgv() makes: empty and binary arguments, argument counts and lengths that
 * cross digit boundaries (9/10, 99/100...), and a seeded random mix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

static void same_as_hiredis(int argc, const char **argv, const size_t *lens)
{
    char *ours = NULL, *theirs = NULL;
    int n = rs_format_command(&ours, argc, argv, lens);
    int m = redisFormatCommandArgv(&theirs, argc, argv, lens);
    assert_int_equal(n, m);
    assert_memory_equal(ours, theirs, (size_t)n);
    free(ours);
    redisFreeCommand(theirs);
}

static void test_fixed_cases(void **s)
{
    (void)s;
    const char *hm[3] = {"HMGET", "{cp}a:agent-1", "id"};
    size_t hml[3] = {5, 13, 2};
    same_as_hiredis(3, hm, hml);
    const char *empty[2] = {"SET", ""};
    size_t el[2] = {3, 0};
    same_as_hiredis(2, empty, el);
    const char bin[] = {'a', '\0', '\r', '\n', 'z'};
    const char *b[1] = {bin};
    size_t bl[1] = {sizeof bin};
    same_as_hiredis(1, b, bl);
    same_as_hiredis(0, NULL, NULL);
}

static void test_digit_boundaries_and_random(void **s)
{
    (void)s;
    static char big[100001];
    memset(big, 'x', sizeof big);
    const size_t sizes[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 100000};
    const char *argv[120];
    size_t lens[120];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        argv[0] = big;
        lens[0] = sizes[i];
        same_as_hiredis(1, argv, lens);
    }
    for (int argc = 1; argc <= 120; argc++) { /* 9/10 and 99/100 arguments */
        for (int i = 0; i < argc; i++) {
            argv[i] = big;
            lens[i] = (size_t)i % 17;
        }
        same_as_hiredis(argc, argv, lens);
    }
    srand(7);
    for (int round = 0; round < 500; round++) {
        int argc = rand() % 40;
        for (int i = 0; i < argc; i++) {
            argv[i] = big;
            lens[i] = (size_t)(rand() % 3 ? rand() % 64 : rand() % 5000);
        }
        same_as_hiredis(argc, argv, lens);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_cases),
        cmocka_unit_test(test_digit_boundaries_and_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
