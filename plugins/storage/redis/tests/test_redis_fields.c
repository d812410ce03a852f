/* test_redis_fields.c — records as stored (layout 4: one JSON object of string fields, rec_enc()
 * in lua/common.lua) decoded by rs_record_row() (redis_record.c) into the field order
 * redis_reply.c reads (redis_fields.c): every field lands in its place by name, absent ones are
 * nil, the scripts' own fields are skipped, and a hostile text is refused, never half-read.
 * Also: every field name the C side reads is one the scripts write (lua/common.lua and the
 * scripts name each as a table key), so a renamed field cannot silently read as absent. */
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

/* A record naming every field of the list as "v<i>", plus fields the row does not read. */
static size_t full_record(char *out, size_t size, int is_agent)
{
    int n = is_agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    size_t k = (size_t)snprintf(out, size, "{\"qm\":\"0000000000000001:t\",\"ctk\":\"i:1\"");
    for (int i = n - 1; i >= 0; i--) /* any order: JSON objects have none */
        k += (size_t)snprintf(out + k, size - k, ",\"%s\":\"v%d\"",
                              is_agent ? rs_agent_fields[i] : rs_task_fields[i], i);
    k += (size_t)snprintf(out + k, size - k, "}");
    return k;
}

static void check_full(int is_agent)
{
    char text[4096];
    size_t len = full_record(text, sizeof text, is_agent);
    struct rs_arena arena = {0};
    redisReply row;
    assert_int_equal(rs_record_row(text, len, is_agent, &arena, &row), 0);
    int n = is_agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    assert_int_equal(row.type, REDIS_REPLY_ARRAY);
    assert_int_equal(row.elements, (size_t)n);
    for (int i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "v%d", i);
        assert_int_equal(row.element[i]->type, REDIS_REPLY_STRING);
        assert_string_equal(row.element[i]->str, want);
        assert_int_equal(row.element[i]->len, strlen(want));
    }
    rs_arena_free(&arena);
}

static void test_every_field_in_its_place(void **s)
{
    (void)s;
    check_full(1);
    check_full(0);
}

static void test_absent_null_and_numbers(void **s)
{
    (void)s;
    /* escapes as cjson writes them ("\/" included), a number as its text, null as absent */
    const char *text = "{\"id\":\"a\\/1\\n\",\"st\":1,\"model\":null,\"ls\":\"2.5\","
                       "\"caps\":\"x\\ny\\n\",\"md\":\"{\\\"k\\\":\\\"\\u00e9\\\"}\"}";
    struct rs_arena arena = {0};
    redisReply row;
    assert_int_equal(rs_record_row(text, strlen(text), 1, &arena, &row), 0);
    assert_string_equal(row.element[0]->str, "a/1\n");
    assert_string_equal(row.element[1]->str, "x\ny\n");
    assert_string_equal(row.element[2]->str, "1");
    assert_int_equal(row.element[3]->type, REDIS_REPLY_NIL); /* model: null */
    assert_string_equal(row.element[5]->str, "{\"k\":\"\xc3\xa9\"}");
    assert_string_equal(row.element[15]->str, "2.5");
    assert_int_equal(row.element[12]->type, REDIS_REPLY_NIL); /* cur: absent */
    rs_arena_free(&arena);
}

static void test_hostile_texts_refused(void **s)
{
    (void)s;
    const char *bad[] = {"",
                         "[]",
                         "\"id\"",
                         "{\"id\":",
                         "{\"id\":\"a\"} trailing",
                         "{\"id\":\"a\"}{}",
                         "{\"id\":{\"x\":\"y\"}}",
                         "{\"id\":[\"a\"]}",
                         "{\"id\":true}",
                         "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{}}}}}}",
                         "{\"id\":\"a\"", /* cut short */
                         "null"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct rs_arena arena = {0};
        redisReply row = {.type = REDIS_REPLY_NIL};
        int rc = rs_record_row(bad[i], strlen(bad[i]), i % 2, &arena, &row);
        if (rc != RS_RECORD_MALFORMED) fail_msg("accepted: %s", bad[i]);
        assert_int_equal(row.type, REDIS_REPLY_NIL); /* untouched */
        rs_arena_free(&arena);
    }
    /* the length given is the end: what follows it is not read */
    const char *text = "{\"id\":\"a\"}GARBAGE";
    struct rs_arena arena = {0};
    redisReply row;
    assert_int_equal(rs_record_row(text, 10, 1, &arena, &row), 0);
    assert_string_equal(row.element[0]->str, "a");
    rs_arena_free(&arena);
}

/* Every name the C side reads appears as a record field in the scripts (a table key "name ="
 * or ".name" or "'name'"). */
static int named(const char *lua, const char *name)
{
    char pat[3][32];
    snprintf(pat[0], sizeof pat[0], "%s = ", name);
    snprintf(pat[1], sizeof pat[1], ".%s", name);
    snprintf(pat[2], sizeof pat[2], "'%s'", name);
    for (int i = 0; i < 3; i++) {
        for (const char *p = strstr(lua, pat[i]); p; p = strstr(p + 1, pat[i])) {
            char after = p[strlen(pat[i])];
            char before = p > lua ? p[-1] : ' ';
            int word_end = i == 1 ? !(after == '_' || (after >= 'a' && after <= 'z')) : 1;
            int word_start = i == 0 ? !(before == '_' || (before >= 'a' && before <= 'z')) : 1;
            if (word_end && word_start) return 1;
        }
    }
    return 0;
}

static void test_names_written_by_the_scripts(void **s)
{
    (void)s;
    /* the scripts that write record fields, one after the other (static: a failed check
     * leaves nothing to free) */
    static const char *const files[] = {"common.lua", "agent_register.lua", "agent_set_health.lua",
                                        "task_transition.lua"};
    static char all[1 << 19];
    size_t k = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", REDIS_LUA_DIR, files[i]);
        const char *text = slurp(path);
        size_t n = strlen(text);
        assert_true(k + n + 1 < sizeof all);
        memcpy(all + k, text, n);
        k += n;
        all[k++] = '\n';
    }
    all[k] = '\0';
    for (int i = 0; i < RS_AGENT_FIELDS; i++)
        if (!named(all, rs_agent_fields[i]))
            fail_msg("agent field %s is written by no script", rs_agent_fields[i]);
    for (int i = 0; i < RS_TASK_FIELDS; i++)
        if (!named(all, rs_task_fields[i]))
            fail_msg("task field %s is written by no script", rs_task_fields[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_in_its_place),
        cmocka_unit_test(test_absent_null_and_numbers),
        cmocka_unit_test(test_hostile_texts_refused),
        cmocka_unit_test(test_names_written_by_the_scripts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
