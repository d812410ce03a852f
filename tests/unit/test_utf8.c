/* test_utf8.c — core/http/utf8.c: strict UTF-8 at every boundary of RFC 3629 (overlong forms,
 * surrogates, U+10FFFF, sequences cut short), message sanitizing, and the JSON body check that
 * names the top-level member holding bad text — wherever in the body the bad byte falls (the
 * check passes plain ASCII eight bytes at a time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/utf8.h"

static size_t seq(const char *s)
{
    return utf8_sequence_len((const unsigned char *)s, strlen(s));
}

static void test_sequence_boundaries(void **state)
{
    (void)state;
    assert_int_equal(seq("\xc2\x80"), 2);         /* U+0080, the first two-byte character */
    assert_int_equal(seq("\xdf\xbf"), 2);         /* U+07FF */
    assert_int_equal(seq("\xc1\xbf"), 0);         /* overlong U+007F */
    assert_int_equal(seq("\xc0\x80"), 0);         /* overlong NUL */
    assert_int_equal(seq("\xe0\xa0\x80"), 3);     /* U+0800 */
    assert_int_equal(seq("\xe0\x9f\xbf"), 0);     /* overlong U+07FF */
    assert_int_equal(seq("\xed\x9f\xbf"), 3);     /* U+D7FF, the last before the surrogates */
    assert_int_equal(seq("\xed\xa0\x80"), 0);     /* U+D800 */
    assert_int_equal(seq("\xed\xbf\xbf"), 0);     /* U+DFFF */
    assert_int_equal(seq("\xee\x80\x80"), 3);     /* U+E000 */
    assert_int_equal(seq("\xef\xbf\xbf"), 3);     /* U+FFFF */
    assert_int_equal(seq("\xf0\x90\x80\x80"), 4); /* U+10000 */
    assert_int_equal(seq("\xf0\x8f\xbf\xbf"), 0); /* overlong U+FFFF */
    assert_int_equal(seq("\xf4\x8f\xbf\xbf"), 4); /* U+10FFFF, the last character */
    assert_int_equal(seq("\xf4\x90\x80\x80"), 0); /* U+110000 */
    assert_int_equal(seq("\xf5\x80\x80\x80"), 0);
    assert_int_equal(seq("\x80"), 0);     /* a continuation byte alone */
    assert_int_equal(seq("\xe2\x82"), 0); /* cut short */
    assert_int_equal(seq("\xf0\x9f\x98"), 0);
    assert_int_equal(seq("\xe2\x28\xa1"), 0); /* a bad continuation byte */
    /* `avail` bounds the look-ahead: a sequence that needs more bytes than given is cut short. */
    assert_int_equal(utf8_sequence_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
}

static void test_valid_and_sanitize(void **state)
{
    (void)state;
    assert_true(utf8_valid(""));
    assert_true(utf8_valid("plain ascii"));
    assert_true(utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_false(utf8_valid("caf\xc3"));
    assert_false(utf8_valid("\xff"));
    char msg[] = "a\xffz \xc3\xa9 \xed\xa0\x80 end\xe2\x82";
    utf8_sanitize(msg);
    assert_string_equal(msg, "a?z \xc3\xa9 ??? end??");
    assert_true(utf8_valid(msg));
}

static enum json_text_problem check(const char *text, struct json_text_issue *is)
{
    return json_text_check(text, strlen(text), is);
}

static void test_json_text_check_names_the_member(void **state)
{
    (void)state;
    struct json_text_issue is;
    assert_int_equal(check("{\"a\": \"x\", \"b\": [1, {\"c\": \"\\u00e9\"}]}", &is), JSON_TEXT_OK);
    assert_int_equal(check("{\"a\": \"\\ud83d\\ude00\"}", &is), JSON_TEXT_OK);
    assert_int_equal(check("{\"a\": \"\\\"'\\\\\"}", &is), JSON_TEXT_OK); /* ' inside a string */

    assert_int_equal(check("{\"ok\": 1, \"payload\": {\"q\": [\"\xff\"]}}", &is),
                     JSON_TEXT_BAD_UTF8);
    assert_non_null(is.member);
    assert_int_equal(is.member_len, 7);
    assert_memory_equal(is.member, "payload", 7);

    assert_int_equal(check("{\"meta\": {\"\xed\xa0\x80\": 1}}", &is), JSON_TEXT_BAD_UTF8);
    assert_memory_equal(is.member, "meta", 4); /* a nested member name belongs to its member */

    assert_int_equal(check("{\"a\": 1, \"\xc3\": 2}", &is), JSON_TEXT_BAD_UTF8);
    assert_null(is.member); /* a top-level member name itself */

    assert_int_equal(check("{\"e\": \"x\\ud800y\"}", &is), JSON_TEXT_LONE_SURROGATE);
    assert_memory_equal(is.member, "e", 1);
    assert_int_equal(is.offset, 8);
    assert_int_equal(check("{\"e\": \"\\udc00\\ud800\"}", &is), JSON_TEXT_LONE_SURROGATE);
    assert_int_equal(check("{\"e\": \"\\ud800\\u0041\"}", &is), JSON_TEXT_LONE_SURROGATE);
    assert_int_equal(check("{\"e\": \"\\ud800\"}", &is), JSON_TEXT_LONE_SURROGATE);
    assert_int_equal(check("{\"e\": \"\\uDBFF\\uDFFF\"}", &is), JSON_TEXT_OK);

    assert_int_equal(check("{'a': 1}", &is), JSON_TEXT_SINGLE_QUOTE);
    /* Escaped quotes and backslashes do not end strings early. */
    assert_int_equal(check("{\"a\\\"b\": \"c\\\\\", \"d\": \"\xff\"}", &is), JSON_TEXT_BAD_UTF8);
    assert_memory_equal(is.member, "d", 1);
}

/* A bad byte, a lone surrogate escape or a single quote at every offset of a long ASCII body
 * (every position within and across the eight-byte steps, and the tail) is found. */
static void test_json_text_check_at_every_offset(void **state)
{
    (void)state;
    struct json_text_issue is;
    const char *prefix = "{\"payload\": \"", *suffix = "\"}";
    for (size_t at = 0; at < 40; at++) {
        static const char *const bad[] = {"\xff", "\xc3", "\\ud800", "'"};
        static const enum json_text_problem want[] = {JSON_TEXT_BAD_UTF8, JSON_TEXT_BAD_UTF8,
                                                      JSON_TEXT_LONE_SURROGATE, JSON_TEXT_OK};
        for (size_t k = 0; k < 4; k++) {
            char body[128];
            int n = snprintf(body, sizeof body, "%s%.*s%s%.*s%s", prefix, (int)at,
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", bad[k],
                             (int)(40 - at), "0123456789012345678901234567890123456789", suffix);
            assert_true(n > 0 && (size_t)n < sizeof body);
            assert_int_equal(json_text_check(body, (size_t)n, &is), want[k]);
            if (want[k] != JSON_TEXT_OK) {
                assert_int_equal(is.offset, strlen(prefix) + at);
                assert_memory_equal(is.member, "payload", 7);
            }
        }
        /* and a single quote outside any string, at the same offsets */
        char body[128];
        int n = snprintf(body, sizeof body, "{\"k\": [%.*s'x']}", (int)at,
                         "1,2,3,4,5,6,7,8,9,1,2,3,4,5,6,7,8,9,1,2,3,4,5,6");
        assert_int_equal(json_text_check(body, (size_t)n, &is), JSON_TEXT_SINGLE_QUOTE);
        assert_int_equal(is.offset, 7 + at);
    }
    const char *plain = "{\"task_type\": \"bench\", \"payload\": {\"n\": [1, 2, 3]}}";
    assert_int_equal(json_text_check(plain, strlen(plain), &is), JSON_TEXT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_boundaries),
        cmocka_unit_test(test_valid_and_sanitize),
        cmocka_unit_test(test_json_text_check_names_the_member),
        cmocka_unit_test(test_json_text_check_at_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
