/* test_redis_objects.c — replies parsed with cpd's reply objects (redis_objects.c) equal the
 * same bytes parsed with hiredis' own: strings (empty, binary, long), status and error replies,
 * integers, nil, empty and nested arrays, a reply fed in one-byte pieces, and a protocol error
 * in the middle of an array (the half-built reply must be freed: ASan checks the leak), strings
 * larger than an arena chunk, and replies in a row on one reader (each its own arena). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

static void assert_same(const redisReply *a, const redisReply *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case REDIS_REPLY_INTEGER:
        assert_true(a->integer == b->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->str, b->str, a->len + 1); /* NUL-terminated, as hiredis */
        break;
    case REDIS_REPLY_ARRAY:
        assert_int_equal(a->elements, b->elements);
        for (size_t i = 0; i < a->elements; i++)
            assert_same(a->element[i], b->element[i]);
        break;
    default:
        break;
    }
}

/* Parse `bytes` with both sets of functions, `step` bytes at a time; compare. */
static void parse_both(const char *bytes, size_t len, size_t step)
{
    redisReader *ours = redisReaderCreate(), *theirs = redisReaderCreate();
    ours->fn = &rs_reply_objects;
    void *a = NULL, *b = NULL;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(redisReaderFeed(ours, bytes + off, n), REDIS_OK);
        assert_int_equal(redisReaderFeed(theirs, bytes + off, n), REDIS_OK);
    }
    assert_int_equal(redisReaderGetReply(ours, &a), REDIS_OK);
    assert_int_equal(redisReaderGetReply(theirs, &b), REDIS_OK);
    assert_non_null(a);
    assert_non_null(b);
    assert_same(a, b);
    rs_reply_objects.freeObject(a);
    freeReplyObject(b);
    redisReaderFree(ours);
    redisReaderFree(theirs);
}

static void test_every_kind(void **s)
{
    (void)s;
    static const char *const cases[] = {
        "+OK\r\n",
        "-ERR something failed\r\n",
        ":-9223372036854775807\r\n",
        "$0\r\n\r\n",
        "$-1\r\n",
        "$5\r\na\r\nb\0\r\n",
        "*0\r\n",
        "*-1\r\n",
        "*3\r\n$2\r\nid\r\n$-1\r\n:7\r\n",
        "*2\r\n*2\r\n$1\r\na\r\n*0\r\n*1\r\n*1\r\n+deep\r\n",
    };
    static const size_t lens[] = {5, 23, 23, 6, 5, 11, 4, 5, 21, 34};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parse_both(cases[i], lens[i], lens[i]);
        parse_both(cases[i], lens[i], 1);
    }
}

static void test_large_array_of_records(void **s)
{
    (void)s;
    /* 200 records of 28 fields, like an agent list's EXEC reply. */
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "*200\r\n");
    for (int i = 0; i < 200; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "*56\r\n");
        for (int f = 0; f < 28; f++)
            len += (size_t)snprintf(buf + len, cap - len, "$4\r\nf%03d\r\n$%d\r\n%0*d\r\n", f,
                                    i % 40 + 1, i % 40 + 1, 0);
    }
    parse_both(buf, len, len);
    parse_both(buf, len, 7);
    free(buf);
}

static void test_strings_larger_than_a_chunk(void **s)
{
    (void)s;
    /* A nested array of strings of 1 byte up to 200 KiB: bigger than the largest chunk. */
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    static const size_t sizes[] = {1, 3000, 70000, 5, 200000, 0, 65536};
    size_t n = sizeof sizes / sizeof sizes[0];
    len += (size_t)snprintf(buf + len, cap - len, "*2\r\n:1\r\n*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "$%zu\r\n", sizes[i]);
        memset(buf + len, 'a' + (int)i, sizes[i]);
        len += sizes[i];
        memcpy(buf + len, "\r\n", 2);
        len += 2;
    }
    parse_both(buf, len, len);
    parse_both(buf, len, 4093);
    free(buf);
}

static void test_replies_in_a_row(void **s)
{
    (void)s;
    const char *bytes = "*2\r\n$1\r\na\r\n:5\r\n+OK\r\n*1\r\n*1\r\n$3\r\nabc\r\n$-1\r\n";
    redisReader *r = redisReaderCreate();
    r->fn = &rs_reply_objects;
    assert_int_equal(redisReaderFeed(r, bytes, strlen(bytes)), REDIS_OK);
    int types[] = {REDIS_REPLY_ARRAY, REDIS_REPLY_STATUS, REDIS_REPLY_ARRAY, REDIS_REPLY_NIL};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        void *reply = NULL;
        assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
        assert_non_null(reply);
        assert_int_equal(((redisReply *)reply)->type, types[i]);
        if (i == 2) assert_string_equal(((redisReply *)reply)->element[0]->element[0]->str, "abc");
        rs_reply_objects.freeObject(reply);
    }
    redisReaderFree(r);
}

static void test_protocol_error_frees_the_partial_reply(void **s)
{
    (void)s;
    redisReader *r = redisReaderCreate();
    r->fn = &rs_reply_objects;
    const char *bad = "*3\r\n$1\r\na\r\n$1\r\nb\r\n?junk\r\n";
    void *reply = NULL;
    assert_int_equal(redisReaderFeed(r, bad, strlen(bad)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_null(reply);
    redisReaderFree(r); /* frees the half-built array through freeObject */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_large_array_of_records),
        cmocka_unit_test(test_strings_larger_than_a_chunk),
        cmocka_unit_test(test_replies_in_a_row),
        cmocka_unit_test(test_protocol_error_frees_the_partial_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
