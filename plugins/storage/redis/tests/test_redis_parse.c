/* test_redis_parse.c — what Redis, Sentinel and Cluster say about where the master is, read by
 * redis_parse.c, without a server: MOVED/ASK errors, ROLE, get-master-addr-by-name replies and
 * +switch-master messages built from RESP bytes by hiredis' own reader, well-formed and
 * hostile (wrong types, wrong counts, embedded NULs, overlong hosts, out-of-range numbers);
 * and the cluster hash slot against known values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

/* One reply parsed from RESP bytes (hiredis' reader); free with freeReplyObject. */
static redisReply *resp(const char *bytes, size_t len)
{
    redisReader *r = redisReaderCreate();
    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, bytes, len), REDIS_OK);
    void *reply = NULL;
    int rc = redisReaderGetReply(r, &reply);
    redisReaderFree(r);
    assert_int_equal(rc, REDIS_OK);
    assert_non_null(reply);
    return reply;
}
#define RESP(lit) resp(lit, sizeof(lit) - 1)

static int redirect(const char *msg, size_t len, int *ask, int *slot, struct rs_addr *to)
{
    return rs_parse_redirect(msg, len, ask, slot, to);
}
#define REDIRECT(lit, ask, slot, to) redirect(lit, sizeof(lit) - 1, ask, slot, to)

static void redirects(void **state)
{
    (void)state;
    int ask, slot;
    struct rs_addr to;
    assert_int_equal(REDIRECT("MOVED 13264 127.0.0.1:27526", &ask, &slot, &to), 0);
    assert_false(ask);
    assert_int_equal(slot, 13264);
    assert_string_equal(to.host, "127.0.0.1");
    assert_int_equal(to.port, 27526);
    assert_int_equal(REDIRECT("ASK 0 redis-7.example:7000", &ask, &slot, &to), 0);
    assert_true(ask);
    assert_int_equal(slot, 0);
    assert_string_equal(to.host, "redis-7.example");
    /* IPv6 as Redis prints it (no brackets: the port follows the last ':'), and the unknown
     * endpoint (empty host: the node's own). */
    assert_int_equal(REDIRECT("MOVED 16383 fe80::1:7001", &ask, &slot, &to), 0);
    assert_string_equal(to.host, "fe80::1");
    assert_int_equal(to.port, 7001);
    assert_int_equal(REDIRECT("MOVED 5 :7002", &ask, &slot, &to), 0);
    assert_string_equal(to.host, "");
    assert_int_equal(to.port, 7002);

    static const char *const bad[] = {
        "MOVED",
        "MOVED ",
        "MOVED 1",
        "MOVED 1 ",
        "MOVED x h:1",
        "MOVED -1 h:1",
        "MOVED 16384 h:1",
        "MOVED 99999999999999 h:1",
        "MOVED 1 h",
        "MOVED 1 h:",
        "MOVED 1 h:0",
        "MOVED 1 h:65536",
        "MOVED 1 h:1 extra",
        "MOVED 1 h:1x",
        "MOVED  1 h:1",
        "moved 1 h:1",
        "ASK",
        "ERR MOVED 1 h:1",
        "READONLY You can't write against a read only replica.",
        "MOVED 1 h/x:1",
        "MOVED 1 h,y:1",
        "MOVED 1 h\tx:1",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rs_parse_redirect(bad[i], strlen(bad[i]), &ask, &slot, &to) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    /* An embedded NUL, and a host longer than RS_HOST_MAX. */
    assert_int_equal(REDIRECT("MOVED 1 h\0x:1", &ask, &slot, &to), -1);
    char big[600];
    int n = snprintf(big, sizeof big, "MOVED 1 %0300d:1", 0);
    assert_int_equal(rs_parse_redirect(big, (size_t)n, &ask, &slot, &to), -1);
    n = snprintf(big, sizeof big, "MOVED 1 %0250d:1", 0);
    assert_int_equal(rs_parse_redirect(big, (size_t)n, &ask, &slot, &to), 0);
    /* The length bounds the parse: no read past it. */
    assert_int_equal(redirect("MOVED 1 h:12345", 12, &ask, &slot, &to), 0);
    assert_int_equal(to.port, 12);
}

static void roles(void **state)
{
    (void)state;
    struct {
        const char *bytes;
        int role;
        size_t len; /* 0: strlen (set for the case that holds a NUL) */
    } cases[] = {
        {"*3\r\n$6\r\nmaster\r\n:3129659\r\n*0\r\n", RS_ROLE_MASTER, 0},
        {"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9538\r\n$9\r\nconnected\r\n:3167038\r\n",
         RS_ROLE_REPLICA, 0},
        {"*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n", RS_ROLE_SENTINEL, 0},
        {"*1\r\n+master\r\n", RS_ROLE_MASTER, 0},
        {"*0\r\n", RS_ROLE_UNKNOWN, 0},
        {"*1\r\n$3\r\nmas\r\n", RS_ROLE_UNKNOWN, 0},
        {"*1\r\n$7\r\nmasterx\r\n", RS_ROLE_UNKNOWN, 0},
        {"*1\r\n$7\r\nmaster\0\r\n", RS_ROLE_UNKNOWN, 17},
        {"*1\r\n:1\r\n", RS_ROLE_UNKNOWN, 0},
        {"*1\r\n*0\r\n", RS_ROLE_UNKNOWN, 0},
        {"$6\r\nmaster\r\n", RS_ROLE_UNKNOWN, 0},
        {":1\r\n", RS_ROLE_UNKNOWN, 0},
        {"-ERR unknown command\r\n", RS_ROLE_UNKNOWN, 0},
        {"*-1\r\n", RS_ROLE_UNKNOWN, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].bytes);
        redisReply *r = resp(cases[i].bytes, len);
        if (rs_parse_role(r) != cases[i].role) fail_msg("case %zu", i);
        freeReplyObject(r);
    }
    assert_int_equal(rs_parse_role(NULL), RS_ROLE_UNKNOWN);
}

static void master_addrs(void **state)
{
    (void)state;
    struct rs_addr a;
    redisReply *r = RESP("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n");
    assert_int_equal(rs_parse_master_addr(r, &a), 1);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6380);
    freeReplyObject(r);
    r = RESP("*-1\r\n"); /* RESP2 nil array: the sentinel does not know the name */
    assert_int_equal(rs_parse_master_addr(r, &a), 0);
    freeReplyObject(r);
    r = RESP("$-1\r\n");
    assert_int_equal(rs_parse_master_addr(r, &a), 0);
    freeReplyObject(r);
    assert_int_equal(rs_parse_master_addr(NULL, &a), 0);

    static const char *const bad[] = {
        "*1\r\n$1\r\nh\r\n",
        "*3\r\n$1\r\nh\r\n$1\r\n1\r\n$1\r\n1\r\n",
        "*2\r\n$1\r\nh\r\n$1\r\nx\r\n",
        "*2\r\n$1\r\nh\r\n$5\r\n70000\r\n",
        "*2\r\n$1\r\nh\r\n$1\r\n0\r\n",
        "*2\r\n$1\r\nh\r\n:6379\r\n",
        "*2\r\n:1\r\n$4\r\n6379\r\n",
        "*2\r\n$0\r\n\r\n$4\r\n6379\r\n",
        "*2\r\n$3\r\nh h\r\n$4\r\n6379\r\n",
        "*2\r\n$3\r\nh/h\r\n$4\r\n6379\r\n",
        "*2\r\n$11\r\n12345678901\r\n$11\r\n12345678901\r\n",
        ":1\r\n",
        "-ERR no such master\r\n",
        "+OK\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i], strlen(bad[i]));
        if (rs_parse_master_addr(r, &a) != -1) fail_msg("accepted case %zu", i);
        freeReplyObject(r);
    }
    char big[700];
    int n = snprintf(big, sizeof big, "*2\r\n$300\r\n%0300d\r\n$4\r\n6379\r\n", 0);
    r = resp(big, (size_t)n);
    assert_int_equal(rs_parse_master_addr(r, &a), -1);
    freeReplyObject(r);
    r = RESP("*2\r\n$3\r\nh\0h\r\n$4\r\n6379\r\n");
    assert_int_equal(rs_parse_master_addr(r, &a), -1);
    freeReplyObject(r);
}

#define SWITCH(lit, name, to) rs_parse_switch_master(lit, sizeof(lit) - 1, name, to)

static void switch_master(void **state)
{
    (void)state;
    struct rs_addr a;
    assert_int_equal(SWITCH("mymaster 127.0.0.1 6379 127.0.0.1 6380", "mymaster", &a), 1);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6380);
    assert_int_equal(SWITCH("other 127.0.0.1 6379 10.0.0.2 6380", "mymaster", &a), 0);
    assert_int_equal(SWITCH("mymaster2 127.0.0.1 6379 10.0.0.2 6380", "mymaster", &a), 0);
    assert_int_equal(SWITCH("mymaster 127.0.0.1 6379 10.0.0.2 6380", "mymaster2", &a), 0);
    static const char *const bad[] = {
        "",
        "mymaster",
        "mymaster 127.0.0.1 6379 127.0.0.1",
        "mymaster 127.0.0.1 6379 127.0.0.1 6380 extra",
        "mymaster 127.0.0.1 6379 127.0.0.1 6380 ",
        "mymaster  127.0.0.1 6379 127.0.0.1 6380",
        "mymaster 127.0.0.1 6379 127.0.0.1 0",
        "mymaster 127.0.0.1 6379 127.0.0.1 65536",
        "mymaster 127.0.0.1 6379 127.0.0.1 63a0",
        "mymaster 127.0.0.1 6379 h/x 6380",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rs_parse_switch_master(bad[i], strlen(bad[i]), "mymaster", &a) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(SWITCH("mymaster 1 2 h\0x 6380", "mymaster", &a), -1);
    char big[700];
    int n = snprintf(big, sizeof big, "mymaster 1 2 %0300d 6380", 0);
    assert_int_equal(rs_parse_switch_master(big, (size_t)n, "mymaster", &a), -1);
}

#define SELECTED(lit, name, m) rs_parse_selected(lit, sizeof(lit) - 1, name, m)

static void selected_slave(void **state)
{
    (void)state;
    struct rs_addr m;
    assert_int_equal(
        SELECTED("slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379", "mymaster", &m),
        1);
    assert_string_equal(m.host, "127.0.0.1");
    assert_int_equal(m.port, 6379);
    assert_int_equal(SELECTED("slave h:1 h 1 @ other 10.0.0.1 6379", "mymaster", &m), 0);
    static const char *const bad[] = {
        "",
        "slave h:1 h 1",
        "slave h:1 h 1 @ ",
        "slave h:1 h 1 @ mymaster",
        "slave h:1 h 1 @ mymaster 127.0.0.1",
        "slave h:1 h 1 @ mymaster 127.0.0.1 0",
        "slave h:1 h 1 @ mymaster 127.0.0.1 6379 x",
        "slave h:1 h 1 @ mymaster h/x 6379",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rs_parse_selected(bad[i], strlen(bad[i]), "mymaster", &m) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    char big[1200];
    int n = snprintf(big, sizeof big, "slave h:1 h 1 @ mymaster %0400d 6379", 0);
    assert_int_equal(rs_parse_selected(big, (size_t)n, "mymaster", &m), -1);
}

static void key_slots(void **state)
{
    (void)state;
    /* The CRC16 check value (0x31C3), and the slot the cluster named for the default
     * prefix (MOVED 13264). */
    assert_int_equal(rs_key_slot("123456789", 9), 0x31C3);
    assert_int_equal(rs_key_slot("{aragora:cp:}", 13), 13264);
    assert_int_equal(rs_key_slot("aragora:cp:", 11), 13264);
    assert_int_equal(rs_key_slot("{aragora:cp:}t:task_1", 21), 13264);
    /* Hash tag rules: the first '{' to the next '}', if not empty. */
    assert_int_equal(rs_key_slot("foo{}{bar}", 10), rs_key_slot("foo{}{bar}", 10));
    assert_int_not_equal(rs_key_slot("foo{}{bar}", 10), rs_key_slot("bar", 3));
    assert_int_equal(rs_key_slot("foo{{bar}}zap", 13), rs_key_slot("{bar", 4));
    assert_int_equal(rs_key_slot("foo{bar}{zap}", 13), rs_key_slot("bar", 3));
    assert_int_equal(rs_key_slot("{", 1), rs_key_slot("{", 1));
    assert_true(rs_key_slot("", 0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redirects),      cmocka_unit_test(roles),
        cmocka_unit_test(master_addrs),   cmocka_unit_test(switch_master),
        cmocka_unit_test(selected_slave), cmocka_unit_test(key_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
