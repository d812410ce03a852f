/* test_redis_feed_parse.c — change feed messages (redis_feed_parse.c): well-formed ones handed
 * over in order with their numbers, and hostile ones (bad numbers, ids outside the identifier
 * rules, missing or extra fields, NUL bytes, oversized) refused whole, nothing handed over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

struct seen {
    size_t n;
    struct cp_change c[8];
    char agent[8][140], task[8][140], type[8][140], quota[8][140];
};

static void collect(void *arg, const struct cp_change *c)
{
    struct seen *s = arg;
    assert_true(s->n < 8);
    s->c[s->n] = *c;
    snprintf(s->agent[s->n], sizeof s->agent[0], "%s", c->agent_id ? c->agent_id : "(null)");
    snprintf(s->task[s->n], sizeof s->task[0], "%s", c->task_id ? c->task_id : "(null)");
    snprintf(s->type[s->n], sizeof s->type[0], "%s", c->task_type ? c->task_type : "(null)");
    snprintf(s->quota[s->n], sizeof s->quota[0], "%s", c->quota_id ? c->quota_id : "(null)");
    s->n++;
}

static int parse(const char *msg, struct seen *s)
{
    memset(s, 0, sizeof *s);
    return rs_feed_parse(msg, strlen(msg), collect, s);
}

static void test_well_formed(void **state)
{
    (void)state;
    struct seen s;
    const char *msg = "1795900227000007\n"
                      "6 1795900227000 ~ task_00ab x.type -1 0 -1 -1 0 2\n"
                      "7 1795900227001 agent-1 task_00ab x.type 0 1 -1 -1 1 -1\n"
                      "3 1795900227001 agent-1 ~ ~ 1 2 -1 -1 0 -1\n"
                      "5 1795900227002 a@b:c/d ~ ~ 0 2 0 1 0 -1";
    assert_int_equal(parse(msg, &s), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.c[0].seq, 1795900227000007ULL);
    assert_int_equal(s.c[3].seq, 1795900227000010ULL);
    assert_int_equal(s.c[0].kind, CP_CHANGE_TASK_SUBMITTED);
    assert_string_equal(s.agent[0], "(null)");
    assert_string_equal(s.task[0], "task_00ab");
    assert_string_equal(s.type[0], "x.type");
    assert_int_equal(s.c[0].old_status, -1);
    assert_int_equal(s.c[0].new_status, CP_TASK_PENDING);
    assert_int_equal(s.c[0].priority, CP_PRIORITY_NORMAL);
    assert_int_equal(s.c[1].kind, CP_CHANGE_TASK_CLAIMED);
    assert_int_equal(s.c[1].attempt, 1);
    assert_int_equal(s.c[1].at_ms, 1795900227001LL);
    assert_int_equal(s.c[2].kind, CP_CHANGE_AGENT_STATUS);
    assert_int_equal(s.c[2].new_status, CP_AGENT_BUSY);
    assert_int_equal(s.c[3].kind, CP_CHANGE_AGENT_HEALTH);
    assert_int_equal(s.c[3].old_circuit, CP_CIRCUIT_CLOSED);
    assert_int_equal(s.c[3].new_circuit, CP_CIRCUIT_OPEN);
    assert_string_equal(s.agent[3], "a@b:c/d");
    assert_int_equal(s.c[3].size, sizeof(struct cp_change));
    /* quota changes (lua/quota.lua): the quota id in the task's place, the limit in the
     * attempt's, the pause's end as a 12th field */
    assert_int_equal(parse("9\n18 1000 agent-1 q.main ~ -1 -1 -1 -1 0 -1 3000\n"
                           "20 1001 ~ q.main ~ -1 -1 -1 -1 2 -1 0",
                           &s),
                     0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.c[0].kind, CP_CHANGE_QUOTA_PAUSED);
    assert_string_equal(s.quota[0], "q.main");
    assert_string_equal(s.task[0], "(null)");
    assert_int_equal(s.c[0].quota_until_ms, 3000);
    assert_int_equal(s.c[0].attempt, 0);
    assert_int_equal(s.c[1].kind, CP_CHANGE_QUOTA_CONCURRENCY);
    assert_int_equal(s.c[1].quota_limit, 2);
    /* a 12th field only on a quota change, and a quota change needs it and a quota id */
    assert_int_equal(parse("5\n7 1 a t x 0 1 -1 -1 1 -1 5", &s), -1);
    assert_int_equal(parse("5\n19 1 ~ q ~ -1 -1 -1 -1 0 -1", &s), -1);
    assert_int_equal(parse("5\n19 1 ~ ~ ~ -1 -1 -1 -1 0 -1 0", &s), -1);
    assert_int_equal(parse("5\n18 1 ~ q ~ -1 -1 -1 -1 0 -1 -5", &s), -1);
    assert_int_equal(s.n, 0);
    /* a kind this build does not know is handed over (the host skips it) */
    assert_int_equal(parse("5\n99 1 ~ ~ ~ -1 -1 -1 -1 0 -1", &s), 0);
    assert_int_equal(s.c[0].kind, 99);
}

static void test_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                                               /* empty */
        "12",                                             /* no line */
        "x\n6 1 ~ ~ ~ -1 0 -1 -1 0 1",                    /* first number */
        "0\n6 1 ~ ~ ~ -1 0 -1 -1 0 1",                    /* numbers start at 1 */
        "5\n6 1 ~ ~ ~ -1 0 -1 -1 0",                      /* a field missing */
        "5\n6 1 ~ ~ ~ -1 0 -1 -1 0 1 9",                  /* a field too many */
        "5\n0 1 ~ ~ ~ -1 0 -1 -1 0 1",                    /* a gap is never published */
        "5\n6 -1 ~ ~ ~ -1 0 -1 -1 0 1",                   /* negative time */
        "5\n6 1 ~ ~ ~ -1 0 -1 -1 -1 1",                   /* negative attempt */
        "5\n6 1 ~ ~ ~ -1 99999 -1 -1 0 1",                /* status out of range */
        "5\n6 1 ~ ~ ~ -1 0x1 -1 -1 0 1",                  /* not decimal */
        "5\n6 1 a\"b ~ ~ -1 0 -1 -1 0 1",                 /* quote in an id */
        "5\n6 1 <script> ~ ~ -1 0 -1 -1 0 1",             /* markup in an id */
        "5\n6 1 ~  ~ -1 0 -1 -1 0 1",                     /* empty id */
        "5\n6 1 ~ ~ ~ -1 0 -1 -1 0 1\n7 1 ~ ~ ~ -1",      /* a good line then a bad one */
        "18446744073709551615\n6 1 ~ ~ ~ -1 0 -1 -1 0 1", /* overflow */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct seen s;
        if (parse(bad[i], &s) != -1) fail_msg("accepted bad message %zu: %s", i, bad[i]);
        assert_int_equal(s.n, 0);
    }
    /* an id of 129 characters, and one of 128 */
    char msg[512];
    char id[130];
    memset(id, 'a', 129);
    id[129] = '\0';
    snprintf(msg, sizeof msg, "5\n3 1 %s ~ ~ 1 2 -1 -1 0 -1", id);
    struct seen s;
    assert_int_equal(parse(msg, &s), -1);
    id[128] = '\0';
    snprintf(msg, sizeof msg, "5\n3 1 %s ~ ~ 1 2 -1 -1 0 -1", id);
    assert_int_equal(parse(msg, &s), 0);
    /* a NUL byte inside */
    static const char nul[] = "5\n3 1 a\0b ~ ~ 1 2 -1 -1 0 -1";
    assert_int_equal(rs_feed_parse(nul, sizeof nul - 1, collect, &s), -1);
    /* oversized: refused without being read */
    size_t big = (8u << 20) + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, '1', big);
    assert_int_equal(rs_feed_parse(huge, big, collect, &s), -1);
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
