/* test_redis_url.c — the address options without a server (redis_url.c): redis:// and
 * redis+sentinel:// urls, host:port lists, and hostile input (overlong, odd bytes, too many
 * addresses, bad escapes): every bad input is refused with a message that names no password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_int.h"

static void parses(const char *text, struct rs_url *u)
{
    struct cp_err err = {{0}};
    int rc = rs_url_parse(text, u, &err);
    if (rc != 0) fail_msg("%s: %s", text, err.msg);
}

static void refused(const char *text, const char *why)
{
    struct rs_url u;
    struct cp_err err = {{0}};
    assert_int_equal(rs_url_parse(text, &u, &err), CP_ERR_INVALID);
    if (!strstr(err.msg, why)) fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.msg, why);
    assert_null(strstr(err.msg, "s3cret"));
    assert_int_equal(u.n_addrs, 0); /* freed and cleared */
}

static void plain_urls(void **state)
{
    (void)state;
    struct rs_url u;
    parses("redis://localhost", &u);
    assert_false(u.sentinel);
    assert_int_equal(u.n_addrs, 1);
    assert_string_equal(u.addrs[0].host, "localhost");
    assert_int_equal(u.addrs[0].port, 6379);
    assert_string_equal(u.display, "redis://localhost:6379/0");
    rs_url_free(&u);

    parses("redis://ops:s3cret%40x@10.0.0.5:6380/2", &u);
    assert_string_equal(u.user, "ops");
    assert_string_equal(u.password, "s3cret@x");
    assert_int_equal(u.db, 2);
    assert_string_equal(u.display, "redis://ops@10.0.0.5:6380/2");
    rs_url_free(&u);

    parses("redis://:pw@[::1]:7000/", &u);
    assert_null(u.user);
    assert_string_equal(u.addrs[0].host, "::1");
    assert_int_equal(u.addrs[0].port, 7000);
    assert_string_equal(u.display, "redis://[::1]:7000/0");
    rs_url_free(&u);
}

static void sentinel_urls(void **state)
{
    (void)state;
    struct rs_url u;
    parses("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,[::1]:5000/mymaster/3", &u);
    assert_true(u.sentinel);
    assert_int_equal(u.n_addrs, 3);
    assert_string_equal(u.addrs[1].host, "10.0.0.2");
    assert_int_equal(u.addrs[1].port, 26380);
    assert_string_equal(u.addrs[2].host, "::1");
    assert_string_equal(u.master_name, "mymaster");
    assert_int_equal(u.db, 3);
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.display,
                        "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,[::1]:5000/mymaster/3");
    rs_url_free(&u);

    parses("redis+sentinel://s1,s2:1/m", &u); /* default port 26379 */
    assert_int_equal(u.addrs[0].port, 26379);
    assert_int_equal(u.addrs[1].port, 1);
    assert_int_equal(u.db, 0);
    rs_url_free(&u);
}

static void bad_urls(void **state)
{
    (void)state;
    refused(NULL, "must start with");
    refused("http://x", "must start with");
    refused("redis:/x", "must start with");
    refused("redis://", "empty host");
    refused("redis://:s3cret@", "empty host");
    refused("redis://h:0", "port");
    refused("redis://h:65536", "port");
    refused("redis://h:12ab", "port");
    refused("redis://h:-1", "port");
    refused("redis://h:", "port");
    refused("redis://::1:6379", "bad host"); /* IPv6 needs brackets */
    refused("redis://[::1", "bad host");
    refused("redis://[zz]:1", "bad host");
    refused("redis://h/x", "database");
    refused("redis://h/-1", "database");
    refused("redis://h/99999999", "database");
    refused("redis://h/1/2", "database");
    refused("redis://h?db=1", "query");
    refused("redis://h/1#x", "query");
    refused("redis://s3cret@h", "user info");
    refused("redis://:s3cret%4@h", "escape");
    refused("redis://:s3cret%00@h", "escape"); /* an escaped NUL would cut the password */
    refused("redis://u%zz:s3cret@h", "escape");
    refused("redis://h\x01st", "bad host");
    refused("redis://h st", "bad host");
    refused("redis+sentinel://h:1", "master_name");
    refused("redis+sentinel://h:1/", "master_name");
    refused("redis+sentinel://h:1/bad name", "master_name");
    refused("redis+sentinel://h:1/m/x", "database");
    refused("redis+sentinel://h:1,/m", "sentinel");
    refused("redis+sentinel://,h:1/m", "sentinel");
    refused("redis+sentinel://h:1,,h:2/m", "sentinel");
    /* 17 sentinels: one too many */
    char many[512] = "redis+sentinel://";
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh%d:1", i ? "," : "", i);
    strcat(many, "/m");
    refused(many, "at most 16");
    /* Overlong: a 300-byte host, a 5000-byte url, a 200-byte master name. */
    char big[6000];
    memset(big, 'a', sizeof big);
    memcpy(big, "redis://", 8);
    big[8 + 300] = '\0';
    refused(big, "bad host");
    big[8 + 300] = 'a';
    big[5000] = '\0';
    refused(big, "4096");
    snprintf(big, sizeof big, "redis+sentinel://h:1/%0200d", 0);
    refused(big, "master_name");
}

static void option_lists(void **state)
{
    (void)state;
    struct rs_url u;
    struct cp_err err = {{0}};
    parses("redis://a:1", &u);
    assert_int_equal(rs_url_add_option_addrs(&u, "nodes", "b:2, c ,[::2]:3", &err), 0);
    assert_int_equal(u.n_addrs, 4);
    assert_string_equal(u.addrs[2].host, "c");
    assert_int_equal(u.addrs[2].port, 6379);
    assert_string_equal(u.addrs[3].host, "::2");
    assert_int_equal(rs_url_add_option_addrs(&u, "nodes", "d:99999", &err), CP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "nodes"));
    assert_int_equal(rs_url_add_option_addrs(&u, "nodes", "d:1,", &err), CP_ERR_INVALID);
    char many[400] = "";
    for (int i = 0; i < 13; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sn%d:1", i ? "," : "", i);
    assert_int_equal(rs_url_add_option_addrs(&u, "nodes", many, &err), CP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "at most 16"));
    rs_url_free(&u);

    struct rs_addr a;
    assert_int_equal(rs_addr_parse("h", 1, 0, &a), -1); /* the port is required */
    assert_int_equal(rs_addr_parse("h:5", 3, 0, &a), 0);
    assert_int_equal(rs_addr_parse("", 0, 1, &a), -1);
    assert_int_equal(rs_addr_parse("[]:1", 4, 1, &a), -1);
    assert_int_equal(rs_addr_parse("[::1]x", 6, 1, &a), -1);
    assert_int_equal(rs_addr_parse("h:5", 2, 0, &a), -1); /* length bounds the parse: "h:" */
    char buf[64];
    assert_int_equal(rs_addr_parse("[fe80::1]:7", 11, 0, &a), 0);
    rs_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "[fe80::1]:7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_urls),
        cmocka_unit_test(sentinel_urls),
        cmocka_unit_test(bad_urls),
        cmocka_unit_test(option_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
