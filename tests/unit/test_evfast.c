/* test_evfast.c — core/evfast.c, cpd's stand-ins for evbuffer_add_printf, evutil_snprintf,
 * evutil_ascii_strcasecmp, evhttp_find_header and glibc's sscanf: the same bytes, return values
 * and stores as the originals (reached with dlsym(RTLD_NEXT)) for the formats evhttp uses, edge
 * cases around them and every other format; the same ordering as libevent's strcasecmp, high
 * bytes included; the same header found; and evhttp's own calls reach them (a real request and
 * reply through evhttp in this process). */
#include <dlfcn.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "evfast.h"

typedef int (*add_printf_fn)(struct evbuffer *, const char *, ...);
typedef int (*strcasecmp_fn)(const char *, const char *);

static add_printf_fn real_add_printf(void)
{
    add_printf_fn f = (add_printf_fn)dlsym(RTLD_NEXT, "evbuffer_add_printf");
    assert_non_null(f);
    assert_true(f != evbuffer_add_printf); /* libevent's, not ours */
    return f;
}

/* The text in b (NUL-terminated copy) and b emptied. */
static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static void same_header(const char *key, const char *value)
{
    struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
    int ra = evbuffer_add_printf(a, "%s: %s\r\n", key, value);
    int rb = real_add_printf()(b, "%s: %s\r\n", key, value);
    assert_int_equal(ra, rb);
    char *sa = take(a), *sb = take(b);
    assert_string_equal(sa, sb);
    free(sa), free(sb);
    evbuffer_free(a), evbuffer_free(b);
}

static void same_status(int major, int minor, int code, const char *reason)
{
    struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
    int ra = evbuffer_add_printf(a, "HTTP/%d.%d %d %s\r\n", major, minor, code, reason);
    int rb = real_add_printf()(b, "HTTP/%d.%d %d %s\r\n", major, minor, code, reason);
    assert_int_equal(ra, rb);
    char *sa = take(a), *sb = take(b);
    assert_string_equal(sa, sb);
    free(sa), free(sb);
    evbuffer_free(a), evbuffer_free(b);
}

static void test_reply_head_formats(void **unused)
{
    (void)unused;
    struct evfast_counts before, after;
    evfast_counts(&before);
    same_header("Content-Type", "application/json");
    same_header("Date", "Thu, 03 Dec 2026 17:00:00 GMT");
    same_header("", "");
    same_header("X", "caf\xc3\xa9 \t tab");
    char long_value[3000];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    same_header("Long", long_value); /* over the fast path's line: libevent's path */
    long_value[1018] = '\0';         /* lines of 1,023, 1,024 (fast) and 1,025 bytes (libevent's) */
    same_header("K", long_value);
    same_header("Ke", long_value);
    same_header("Key", long_value);
    same_status(1, 1, 200, "OK");
    same_status(1, 0, 404, "Not Found");
    same_status(0, 9, 0, "");
    same_status(-1, INT_MIN, INT_MAX, "Weird Reason Phrase");
    same_status(1, 1, 503, long_value);
    evfast_counts(&after);
    assert_int_equal(after.header_lines - before.header_lines, 6);
    assert_int_equal(after.status_lines - before.status_lines, 4);
}

/* A NULL string is printf's business ("(null)" in glibc): the fast path steps aside. */
static void test_null_strings_and_other_formats(void **unused)
{
    (void)unused;
    struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
    const char *none = NULL;
    assert_int_equal(evbuffer_add_printf(a, "%s: %s\r\n", "K", none),
                     real_add_printf()(b, "%s: %s\r\n", "K", none));
    assert_int_equal(evbuffer_add_printf(a, "HTTP/%d.%d %d %s\r\n", 1, 1, 200, none),
                     real_add_printf()(b, "HTTP/%d.%d %d %s\r\n", 1, 1, 200, none));
    assert_int_equal(evbuffer_add_printf(a, "%x\r\n", 4096u),
                     real_add_printf()(b, "%x\r\n", 4096u));
    assert_int_equal(evbuffer_add_printf(a, "%s %s HTTP/%d.%d\r\n", "GET", "/x", 1, 1),
                     real_add_printf()(b, "%s %s HTTP/%d.%d\r\n", "GET", "/x", 1, 1));
    assert_int_equal(evbuffer_add_printf(a, "%%%02X", 0xe9u),
                     real_add_printf()(b, "%%%02X", 0xe9u));
    assert_int_equal(evbuffer_add_printf(a, "plain"), real_add_printf()(b, "plain"));
    char *sa = take(a), *sb = take(b);
    assert_string_equal(sa, sb);
    assert_non_null(strstr(sa, "1000\r\nGET /x HTTP/1.1\r\n%E9plain"));
    free(sa), free(sb);
    evbuffer_free(a), evbuffer_free(b);
}

typedef int (*snprintf_fn)(char *, size_t, const char *, ...);

/* "%zu" (the Content-Length): the same text, truncation, NUL and return value as libevent's,
 * for every buffer size; other formats go to libevent's own. */
static void test_size_format_like_libevent(void **unused)
{
    (void)unused;
    snprintf_fn real = (snprintf_fn)dlsym(RTLD_NEXT, "evutil_snprintf");
    assert_non_null(real);
    assert_true(real != evutil_snprintf);
    size_t values[] = {0, 7, 10, 99, 1000, 4294967296u, SIZE_MAX};
    struct evfast_counts before, after;
    evfast_counts(&before);
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        for (size_t cap = 0; cap <= 24; cap++) {
            char a[24], b[24];
            memset(a, '#', sizeof a), memset(b, '#', sizeof b);
            assert_int_equal(evutil_snprintf(a, cap, "%zu", values[i]),
                             real(b, cap, "%zu", values[i]));
            assert_memory_equal(a, b, sizeof a);
        }
    evfast_counts(&after);
    assert_int_equal(after.sizes - before.sizes, 7 * 25);
    char a[32], b[32];
    assert_int_equal(evutil_snprintf(a, sizeof a, "%d:%s", -5, "x"),
                     real(b, sizeof b, "%d:%s", -5, "x"));
    assert_string_equal(a, b);
    assert_string_equal(a, "-5:x");
    assert_int_equal(evutil_snprintf(a, sizeof a, "%zux", (size_t)3),
                     real(b, sizeof b, "%zux", (size_t)3));
    assert_string_equal(a, b);
}

typedef int (*sscanf_fn)(const char *, const char *, ...);
int __isoc99_sscanf(const char *s, const char *format, ...);

/* evhttp's version parse: the same count and stores as glibc's sscanf for the two fast versions
 * and for texts around them (which go to glibc's). */
static void test_version_parse_like_glibc(void **unused)
{
    (void)unused;
    sscanf_fn real = (sscanf_fn)dlsym(RTLD_NEXT, "__isoc99_sscanf");
    assert_non_null(real);
    assert_true(real != __isoc99_sscanf);
    const char *versions[] = {"HTTP/1.1",   "HTTP/1.0",          "HTTP/1.2",   "HTTP/1.10",
                              "HTTP/1.1 ",  "HTTP/1.",           "HTTP/2.0",   "HTTP/ 1.1",
                              "HTTP/01.1",  "http/1.1",          "HTTP/1.1\n", "",
                              "HTTP/-1.+1", "HTTP/99999999999.1"};
    struct evfast_counts before, after;
    evfast_counts(&before);
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        int a1 = -7, a2 = -7, b1 = -7, b2 = -7;
        char ac = '?', bc = '?';
        int ra = __isoc99_sscanf(versions[i], "HTTP/%d.%d%c", &a1, &a2, &ac);
        int rb = real(versions[i], "HTTP/%d.%d%c", &b1, &b2, &bc);
        assert_int_equal(ra, rb);
        assert_int_equal(a1, b1);
        assert_int_equal(a2, b2);
        assert_int_equal(ac, bc);
    }
    evfast_counts(&after);
    assert_int_equal(after.versions - before.versions, 2);
    int x = 0, y = 0;
    assert_int_equal(__isoc99_sscanf("12 34", "%d %d", &x, &y), 2); /* other formats: glibc's */
    assert_int_equal(x * 100 + y, 1234);
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static void test_strcasecmp_orders_like_libevent(void **unused)
{
    (void)unused;
    strcasecmp_fn real = (strcasecmp_fn)dlsym(RTLD_NEXT, "evutil_ascii_strcasecmp");
    assert_non_null(real);
    assert_true(real != evutil_ascii_strcasecmp);
    const char *words[] = {"",
                           "a",
                           "A",
                           "Content-Length",
                           "content-length",
                           "CONTENT-LENGTH",
                           "Content-Type",
                           "content-lengtH ",
                           "[",
                           "_",
                           "@",
                           "\x7f",
                           "\x80",
                           "\xc3\xa9",
                           "\xc3\x89",
                           "Z",
                           "z",
                           "ab",
                           "aB",
                           "Ab\xff"};
    size_t n = sizeof words / sizeof *words;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            assert_int_equal(sign(evutil_ascii_strcasecmp(words[i], words[j])),
                             sign(real(words[i], words[j])));
    /* every pair of single bytes */
    char x[2] = {0}, y[2] = {0};
    for (int c = 1; c < 256; c++)
        for (int d = 1; d < 256; d++) {
            x[0] = (char)c, y[0] = (char)d;
            assert_int_equal(sign(evutil_ascii_strcasecmp(x, y)), sign(real(x, y)));
        }
}

typedef const char *(*find_header_fn)(const struct evkeyvalq *, const char *);

/* The same header found (the first of equal names, by pointer) or none, as libevent's. */
static void test_find_header_like_libevent(void **unused)
{
    (void)unused;
    find_header_fn real = (find_header_fn)dlsym(RTLD_NEXT, "evhttp_find_header");
    assert_non_null(real);
    assert_true(real != evhttp_find_header);
    struct evkeyvalq h;
    TAILQ_INIT(&h);
    assert_null(evhttp_find_header(&h, "Host"));
    const char *names[] = {"Host", "Content-Type",   "content-length",    "X-A",
                           "x-a",  "Content-Length", "\xc3\xa9t\xc3\xa9", "hOST"};
    const char *values[] = {"h1", "ct", "cl1", "xa1", "xa2", "cl2", "ete", "h2"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        assert_int_equal(evhttp_add_header(&h, names[i], values[i]), 0);
    const char *keys[] = {"host",
                          "HOST",
                          "Content-Length",
                          "CONTENT-TYPE",
                          "X-a",
                          "\xc3\xa9T\xc3\xa9",
                          "\xc3\x89t\xc3\xa9",
                          "Content",
                          "Hosts",
                          "",
                          "Date",
                          "content-type "};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_ptr_equal(evhttp_find_header(&h, keys[i]), real(&h, keys[i]));
    assert_string_equal(evhttp_find_header(&h, "HOST"), "h1");
    assert_string_equal(evhttp_find_header(&h, "Content-Length"), "cl1");
    assert_null(evhttp_find_header(&h, "\xc3\x89t\xc3\xa9")); /* ASCII case only */
    evhttp_clear_headers(&h);
}

/* ---- evhttp's own calls reach this file ---- */

struct round_trip {
    struct event_base *base;
    int status;
    char content_type[64];
    char body[64];
};

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"ok\":true}", 11);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 201, "Created", b);
    evbuffer_free(b);
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct round_trip *rt = arg;
    if (req) {
        rt->status = evhttp_request_get_response_code(req);
        const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "content-type");
        snprintf(rt->content_type, sizeof rt->content_type, "%s", ct ? ct : "");
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        if (n >= sizeof rt->body) n = sizeof rt->body - 1;
        evbuffer_remove(in, rt->body, n);
        rt->body[n] = '\0';
    }
    event_base_loopexit(rt->base, NULL);
}

static void test_evhttp_uses_them(void **unused)
{
    (void)unused;
    assert_int_equal(evfast_active(), 1);
    struct round_trip rt = {.base = event_base_new()};
    struct evhttp *http = evhttp_new(rt.base);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(sock);
    evhttp_set_gencb(http, on_request, NULL);
    struct sockaddr_storage ss;
    ev_socklen_t len = sizeof ss;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len),
                     0);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    struct evhttp_connection *c =
        evhttp_connection_base_new(rt.base, NULL, "127.0.0.1", (ev_uint16_t)port);
    struct evhttp_request *req = evhttp_request_new(on_response, &rt);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "localhost");
    struct evfast_counts before, after;
    evfast_counts(&before);
    assert_int_equal(evhttp_make_request(c, req, EVHTTP_REQ_GET, "/x"), 0);
    struct timeval limit = {10, 0};
    event_base_loopexit(rt.base, &limit);
    event_base_dispatch(rt.base);
    evfast_counts(&after);
    assert_int_equal(rt.status, 201);
    assert_string_equal(rt.content_type, "application/json");
    assert_string_equal(rt.body, "{\"ok\":true}");
    /* the reply's status line, its headers (and the request's), header look-ups */
    assert_true(after.status_lines - before.status_lines == 1);
    assert_true(after.sizes - before.sizes == 1);       /* the reply's Content-Length */
    assert_true(after.versions - before.versions == 2); /* the request's and the reply's */
    assert_true(after.header_lines - before.header_lines >= 4);
    assert_true(after.strcasecmps > before.strcasecmps);
    evhttp_connection_free(c);
    evhttp_free(http);
    event_base_free(rt.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_head_formats),
        cmocka_unit_test(test_null_strings_and_other_formats),
        cmocka_unit_test(test_size_format_like_libevent),
        cmocka_unit_test(test_version_parse_like_glibc),
        cmocka_unit_test(test_strcasecmp_orders_like_libevent),
        cmocka_unit_test(test_find_header_like_libevent),
        cmocka_unit_test(test_evhttp_uses_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
