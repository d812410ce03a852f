/* test_redis_fields.c — the field lists of the HMGET record reads (redis_fields.c) against the
 * order the Lua scripts reply records in (A_FIELDS and T_READ in lua/common.lua): a mismatch
 * would make GET /agents/:id or /tasks/:id on Redis return fields under the wrong names. */
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
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The quoted names of the Lua table constructor that follows `decl` ("local A_FIELDS = {"),
 * in order, into out (at most max); returns how many. */
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

static void test_agent_fields_match_common_lua(void **s)
{
    (void)s;
    char names[64][16];
    const char *lua = slurp(REDIS_LUA_DIR "/common.lua");
    int n = lua_names(lua, "local A_FIELDS = {", names, 64);
    assert_int_equal(n, RS_AGENT_FIELDS);
    for (int i = 0; i < n; i++)
        assert_string_equal(rs_agent_fields[i], names[i]);
}

static void test_task_fields_match_common_lua(void **s)
{
    (void)s;
    char names[64][16];
    const char *lua = slurp(REDIS_LUA_DIR "/common.lua");
    /* T_READ is task_reply()'s fields, then two the scripts use internally (cm, qs). */
    int n = lua_names(lua, "local T_READ = {", names, 64);
    assert_int_equal(n, RS_TASK_FIELDS + 2);
    for (int i = 0; i < RS_TASK_FIELDS; i++)
        assert_string_equal(rs_task_fields[i], names[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_fields_match_common_lua),
        cmocka_unit_test(test_task_fields_match_common_lua),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
