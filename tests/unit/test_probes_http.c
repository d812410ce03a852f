/* test_probes_http.c — the built-in http probe, loaded from its real .so, against an evhttp
 * server in this process on 127.0.0.1 (port 0: the kernel picks): 200/500/404, several checks at
 * once, a timeout, a refused connection, names through evdns and an IPv6 literal, URL
 * validation, and a cancelled check staying silent and freeing everything (ASan/LSan). Checks
 * run as cpd runs them, through core/probe_host.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cp/probe.h>

#include "probes_helpers.h"

/* ---- a local HTTP server ---- */

static struct evhttp *server;
static int server_port;
static int hits_ok, hits_err, hits_slow;
static char last_host_header[128];
static struct evhttp_request *slow_reqs[8]; /* held by the slow handler, answered after 500 ms */
static int n_slow;
static struct event *slow_timer;

static void on_ok(struct evhttp_request *req, void *arg)
{
    (void)arg;
    hits_ok++;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    snprintf(last_host_header, sizeof(last_host_header), "%s", h ? h : "");
    evhttp_send_reply(req, 200, "OK", NULL);
}
static void on_err(struct evhttp_request *req, void *arg)
{
    (void)arg;
    hits_err++;
    evhttp_send_reply(req, 500, "Internal Server Error", NULL);
}
static void on_slow_reply(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    for (int i = 0; i < n_slow; i++) /* also valid when the client has gone */
        evhttp_send_reply(slow_reqs[i], 200, "OK", NULL);
    n_slow = 0;
}
static void on_slow(struct evhttp_request *req, void *arg)
{
    (void)arg;
    hits_slow++;
    if (n_slow == 8) {
        evhttp_send_reply(req, 503, "Busy", NULL);
        return;
    }
    slow_reqs[n_slow++] = req;
    struct timeval tv = {0, 500 * 1000};
    evtimer_add(slow_timer, &tv);
}

/* Lets the slow handler answer what it holds, so no server-side request is left behind. */
static void drain_slow(void)
{
    for (int i = 0; i < 300 && n_slow > 0; i++)
        run_for(10);
    assert_int_equal(n_slow, 0);
}

static int setup(void **unused)
{
    if (probes_setup(unused) != 0) return -1;
    server = evhttp_new(probes_base());
    evhttp_set_cb(server, "/ok", on_ok, NULL);
    evhttp_set_cb(server, "/err", on_err, NULL);
    evhttp_set_cb(server, "/slow", on_slow, NULL);
    slow_timer = evtimer_new(probes_base(), on_slow_reply, NULL);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
    if (!bs) return -1;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len);
    server_port = ntohs(sa.sin_port);
    return 0;
}

static int teardown(void **unused)
{
    drain_slow();
    event_free(slow_timer);
    evhttp_free(server);
    return probes_teardown(unused);
}

static void url(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", server_port, path);
}

/* ---- http ---- */

static void test_http_ok_and_500(void **unused)
{
    (void)unused;
    struct probe p = probe_load("http");
    struct result r;
    char u[128], want_host[64];
    url(u, sizeof(u), "/ok");
    check_run(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.error, "(null)");
    assert_true(r.latency_ms >= 0 && r.latency_ms < 2000);
    assert_int_equal(hits_ok, 1);
    snprintf(want_host, sizeof(want_host), "127.0.0.1:%d", server_port);
    assert_string_equal(last_host_header, want_host);

    url(u, sizeof(u), "/err");
    check_run(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "HTTP 500");
    assert_int_equal(hits_err, 1);

    url(u, sizeof(u), "/nowhere?x=1");
    check_run(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "HTTP 404");

    /* several at once on the same instance */
    struct result rs[4];
    url(u, sizeof(u), "/ok");
    for (int i = 0; i < 4; i++)
        check_start(&p, &rs[i], 2000, "url", u, "http");
    for (int i = 0; i < 4; i++) {
        assert_true(run_until(&rs[i].calls, 3000));
        assert_int_equal(rs[i].ok, 1);
    }
    assert_int_equal(hits_ok, 5);
    probe_unload(&p);
}

static void test_http_timeout(void **unused)
{
    (void)unused;
    struct probe p = probe_load("http");
    struct result r;
    char u[128];
    url(u, sizeof(u), "/slow");
    check_run(&p, &r, 200, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.error, "timed out after 200 ms"));
    assert_true(r.latency_ms >= 190 && r.latency_ms < 450);
    assert_int_equal(hits_slow, 1);
    drain_slow(); /* the server answers a client that has gone: no crash, no leak */
    probe_unload(&p);
}

static void test_http_refused(void **unused)
{
    (void)unused;
    struct probe p = probe_load("http");
    struct result r;
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/health", closed_port());
    check_run(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.error, "connection failed"));
    assert_true(r.latency_ms < 1000);
    probe_unload(&p);
}

static void test_http_validate(void **unused)
{
    (void)unused;
    struct probe p = probe_load("http");
    expect_invalid(&p, "http", "url", NULL, "health_probe.url is required");
    expect_invalid(&p, "http", "url", "", "health_probe.url is required");
    expect_invalid(&p, "http", "url", "https://127.0.0.1/health", "https is not supported");
    expect_invalid(&p, "http", "url", "ftp://127.0.0.1/x", "health_probe.url must be an http://");
    expect_invalid(&p, "http", "url", "127.0.0.1:80/health", "health_probe.url must be an http");
    expect_invalid(&p, "http", "url", "not a url", "health_probe.url");
    expect_invalid(&p, "http", "url", "http:///path", "health_probe.url must name a host");
    expect_invalid(&p, "http", "url", "http://h:0/", "health_probe.url port must be 1-65535");
    expect_invalid(&p, "http", "url", "http://u:pw@h/", "must not contain credentials");
    expect_invalid(&p, "http", "url", "123", "health_probe.url");
    expect_invalid(&p, "http", "address", "127.0.0.1:80", "health_probe.url is required");
    expect_valid(&p, "http", "url", "http://127.0.0.1:8080/health");
    expect_valid(&p, "http", "url", "HTTP://agent-1.internal/health?deep=1");
    expect_valid(&p, "http", "url", "http://[::1]:8080/");
    expect_valid(&p, "http", "url", "http://localhost");
    probe_unload(&p);
}

static void test_http_localhost_name(void **unused)
{
    (void)unused;
    /* A name, resolved through evdns (/etc/hosts), not a blocking getaddrinfo(). */
    struct probe p = probe_load("http");
    struct result r;
    char u[128];
    snprintf(u, sizeof(u), "http://localhost:%d/ok", server_port);
    int before = hits_ok;
    check_run(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 1);
    assert_int_equal(hits_ok, before + 1);

    /* An IPv6 literal in brackets, when this host has ::1. */
    struct evhttp_bound_socket *bs6 = evhttp_bind_socket_with_handle(server, "::1", 0);
    if (bs6) {
        struct sockaddr_in6 sa6;
        socklen_t len = sizeof(sa6);
        getsockname(evhttp_bound_socket_get_fd(bs6), (struct sockaddr *)&sa6, &len);
        char want_host[64];
        snprintf(want_host, sizeof(want_host), "[::1]:%d", ntohs(sa6.sin6_port));
        snprintf(u, sizeof(u), "http://%s/ok", want_host);
        check_run(&p, &r, 2000, "url", u, "http");
        assert_int_equal(r.ok, 1);
        assert_int_equal(hits_ok, before + 2);
        assert_string_equal(last_host_header, want_host);
    }
    probe_unload(&p);
}

static void test_http_cancel(void **unused)
{
    (void)unused;
    struct probe p = probe_load("http");
    struct result r1, r2, r3;
    char u[128];
    url(u, sizeof(u), "/ok");
    /* cancelled before the loop ever ran */
    probe_run_cancel(check_start(&p, &r1, 2000, "url", u, "http"));
    /* cancelled while the server holds the request */
    url(u, sizeof(u), "/slow");
    int before = hits_slow;
    struct probe_run *run2 = check_start(&p, &r2, 300, "url", u, "http");
    for (int i = 0; i < 100 && hits_slow == before; i++)
        run_for(5);
    assert_int_equal(hits_slow, before + 1);
    probe_run_cancel(run2);
    run_for(400); /* past the deadline: still silent */
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    /* cancelled with the request in flight, then destroy(): silent and leak-free */
    struct probe_run *run3 = check_start(&p, &r3, 2000, "url", u, "http");
    run_for(20);
    probe_run_cancel(run3);
    probe_unload(&p);
    run_for(20);
    assert_int_equal(r3.calls, 0);
    drain_slow();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_ok_and_500),     cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_http_refused),        cmocka_unit_test(test_http_validate),
        cmocka_unit_test(test_http_localhost_name), cmocka_unit_test(test_http_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
