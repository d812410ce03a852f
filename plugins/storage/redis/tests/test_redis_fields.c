/* test_redis_fields.c — records as stored (layout 4: "<n>\0<field>\0...", rec_text() in
 * lua/common.lua) split by rs_record_row() (redis_record.c) into the field order redis_reply.c
 * reads (redis_fields.c): the order against the scripts' (A_REC and T_REC in lua/common.lua; a
 * mismatch would give GET /agents/:id or /tasks/:id fields under the wrong names), absent and
 * missing fields as nil, the scripts' own fields skipped, and hostile texts refused whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The quoted names of the Lua table constructor that follows `decl` ("local A_REC = {"), in
 * order, into out (at most max); returns how many. */
static int lua_names(const char *text, const char *decl, char out[][16], int max)
{
    const char *p = strstr(text, decl);
    assert_non_null(p);
    const char *end = strchr(p, '}');
    assert_non_null(end);
    int n = 0;
    for (p += strlen(decl); p < end && n < max; p++) {
        if (*p != '\'') continue;
        const char *q = strchr(p + 1, '\'');
        assert_true(q && q < end && q - p - 1 < 16);
        memcpy(out[n], p + 1, (size_t)(q - p - 1));
        out[n++][q - p - 1] = '\0';
        p = q;
    }
    return n;
}

static void test_field_order_matches_common_lua(void **s)
{
    (void)s;
    char names[64][16];
    const char *lua = slurp(REDIS_LUA_DIR "/common.lua");
    /* the reply's fields first, then the scripts' own (agents: wr; tasks: cm qs qk ...) */
    int n = lua_names(lua, "local A_REC = {", names, 64);
    assert_true(n > RS_AGENT_FIELDS);
    for (int i = 0; i < RS_AGENT_FIELDS; i++)
        assert_string_equal(rs_agent_fields[i], names[i]);
    n = lua_names(lua, "local T_REC = {", names, 64);
    assert_true(n > RS_TASK_FIELDS);
    for (int i = 0; i < RS_TASK_FIELDS; i++)
        assert_string_equal(rs_task_fields[i], names[i]);
}

/* A record of n fields "v<i>" (with field `absent` as 0x01) into out; its length. */
static size_t record(char *out, size_t size, int n, int absent)
{
    size_t k = (size_t)snprintf(out, size, "%d", n) + 1;
    for (int i = 0; i < n; i++)
        k += (size_t)(i == absent ? snprintf(out + k, size - k, "\x01")
                                  : snprintf(out + k, size - k, "v%d", i)) +
             1; /* each field's terminating zero, written by snprintf */
    return k;
}

static void check_row(int is_agent, int n, int absent)
{
    char text[2048];
    size_t len = record(text, sizeof text, n, absent);
    struct rs_arena arena = {0};
    redisReply row;
    assert_int_equal(rs_record_row(text, len, is_agent, &arena, &row), 0);
    int want = is_agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    assert_int_equal(row.type, REDIS_REPLY_ARRAY);
    assert_int_equal(row.elements, (size_t)want);
    for (int i = 0; i < want; i++) {
        if (i >= n || i == absent) {
            assert_int_equal(row.element[i]->type, REDIS_REPLY_NIL);
            continue;
        }
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(row.element[i]->type, REDIS_REPLY_STRING);
        assert_int_equal(row.element[i]->len, strlen(v));
        assert_string_equal(row.element[i]->str, v); /* zero-terminated in place */
    }
    rs_arena_free(&arena);
}

static void test_rows(void **s)
{
    (void)s;
    /* as written: the reply's fields and the scripts' own (skipped); assigned_agent absent */
    check_row(1, RS_AGENT_FIELDS + RS_AGENT_OWN_FIELDS, -1);
    check_row(0, RS_TASK_FIELDS + RS_TASK_OWN_FIELDS, 11);
    check_row(1, 29, 4); /* a shorter record: the missing fields are nil */
    check_row(0, 1, -1);
}

static void test_hostile_texts_refused(void **s)
{
    (void)s;
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        {"", 0},          {"x", 1},     {"3", 1}, /* no zero after the count */
        {"0\0", 2},                               /* no fields */
        {"65\0", 3},                              /* too many */
        {"1000\0a\0", 7},                         /* count too long */
        {"2\0a\0", 4},                            /* fewer fields than it says */
        {"2\0a\0b", 5},                           /* the last one cut short */
        {"1\0a\0b\0", 6},                         /* more than it says */
        {"-1\0a\0", 5},   {"\0a\0", 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct rs_arena arena = {0};
        redisReply row = {.type = REDIS_REPLY_NIL};
        if (rs_record_row(bad[i].text, bad[i].len, (int)(i % 2), &arena, &row) !=
            RS_RECORD_MALFORMED)
            fail_msg("accepted bad record #%zu", i);
        assert_int_equal(row.type, REDIS_REPLY_NIL); /* untouched */
        rs_arena_free(&arena);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_order_matches_common_lua),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_hostile_texts_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
