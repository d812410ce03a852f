/* test_probes.c — the built-in health probes (http, tcp, exec), loaded from their real .so files.
 *
 * The plugins are opened with dlopen()/dlsym() here (not through core's loader) and given a host
 * table over a real event_base. The http probe runs against an evhttp server in this process on
 * 127.0.0.1 (port 0: the kernel picks), the tcp probe against listening and closed loopback
 * ports, the exec probe against /bin/true, /bin/false and a `sleep 5` that must be killed.
 * Checked for each: the outcome, the error text, the latency, that done() is never called from
 * within start(), that cancel() and destroy() silence done() and free everything (ASan/LSan),
 * and that no child is left unreaped. The whole file runs in about three seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cp/probe.h>

#include "plugin_dl.h"

/* ---- loading ---- */

struct probe {
    void *dl;
    const struct cp_probe_ops *ops;
    void *state;
};

static struct probe load(const char *name)
{
    struct probe p = {0};
    p.ops = dl_open_plugin(name, CP_PLUGIN_PROBE, &p.dl)->ops;
    assert_int_equal(p.ops->version, CP_PROBE_OPS_VERSION);
    struct cp_err err = {{0}};
    assert_int_equal(p.ops->create(&dl_host, &p.state, &err), 0);
    return p;
}

static void unload(struct probe *p)
{
    p->ops->destroy(p->state);
    dlclose(p->dl);
}

/* ---- running checks ---- */

struct result {
    int calls, ok;
    double latency_ms;
    char error[256];
};

static void on_done(void *cookie, int ok, double latency_ms, const char *error)
{
    struct result *r = cookie;
    r->calls++;
    r->ok = ok;
    r->latency_ms = latency_ms;
    snprintf(r->error, sizeof(r->error), "%s", error ? error : "(null)");
}

static int guard_fired;
static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    guard_fired = 1;
}

/* Runs the loop until *flag is non-zero or max_ms pass; returns *flag. */
static int run_until(const int *flag, int max_ms)
{
    struct event *guard = evtimer_new(dl_base, on_guard, NULL);
    struct timeval tv = {max_ms / 1000, (max_ms % 1000) * 1000};
    guard_fired = 0;
    evtimer_add(guard, &tv);
    while (!*flag && !guard_fired)
        event_base_loop(dl_base, EVLOOP_ONCE);
    event_free(guard);
    return *flag;
}

static void run_for(int ms)
{
    static const int never = 0;
    run_until(&never, ms);
}

static void *start(struct probe *p, struct result *r, uint64_t timeout_ms, const char *key,
                   const char *value, const char *type)
{
    struct cp_kv items[] = {{"type", type}, {key, value}};
    struct cp_probe_spec spec = {"agent-1", items, 2, timeout_ms};
    struct cp_err err = {{0}};
    void *handle = NULL;
    memset(r, 0, sizeof(*r));
    int rc = p->ops->start(p->state, &spec, on_done, r, &handle, &err);
    if (rc != 0) fail_msg("start(%s=%s): %d %s", key, value, rc, err.msg);
    assert_non_null(handle);
    assert_int_equal(r->calls, 0); /* never from within start() */
    return handle;
}

/* Runs one check to completion. */
static void check(struct probe *p, struct result *r, uint64_t timeout_ms, const char *key,
                  const char *value, const char *type)
{
    start(p, r, timeout_ms, key, value, type);
    assert_true(run_until(&r->calls, (int)timeout_ms + 2000));
    run_for(20); /* and nothing calls done() a second time */
    assert_int_equal(r->calls, 1);
}

static void expect_invalid(struct probe *p, const char *type, const char *key, const char *value,
                           const char *msg_part)
{
    struct cp_kv items[] = {{"type", type}, {key, value}};
    struct cp_probe_spec spec = {"agent-1", items, value ? 2 : 1, 1000};
    struct cp_err err = {{0}};
    assert_int_equal(p->ops->validate(p->state, &spec, &err), CP_ERR_INVALID);
    if (!strstr(err.msg, msg_part))
        fail_msg("%s=%s: message \"%s\" lacks \"%s\"", key, value, err.msg, msg_part);
    /* start() refuses the same spec without side effects */
    void *handle = NULL;
    memset(&err, 0, sizeof(err));
    assert_int_equal(p->ops->start(p->state, &spec, on_done, NULL, &handle, &err), CP_ERR_INVALID);
    assert_non_null(strstr(err.msg, msg_part));
}

static void expect_valid(struct probe *p, const char *type, const char *key, const char *value)
{
    struct cp_kv items[] = {{"type", type}, {key, value}};
    struct cp_probe_spec spec = {"agent-1", items, 2, 1000};
    struct cp_err err = {{0}};
    if (p->ops->validate(p->state, &spec, &err) != 0)
        fail_msg("%s=%s rejected: %s", key, value, err.msg);
}

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

/* A loopback port on which nothing listens (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listening loopback socket; *port gets its port. */
static int listening_socket(int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int setup(void **unused)
{
    (void)unused;
    dl_base = event_base_new();
    server = evhttp_new(dl_base);
    evhttp_set_cb(server, "/ok", on_ok, NULL);
    evhttp_set_cb(server, "/err", on_err, NULL);
    evhttp_set_cb(server, "/slow", on_slow, NULL);
    slow_timer = evtimer_new(dl_base, on_slow_reply, NULL);
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
    (void)unused;
    drain_slow();
    event_free(slow_timer);
    evhttp_free(server);
    event_base_free(dl_base);
    return 0;
}

static void url(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", server_port, path);
}

/* ---- http ---- */

static void test_http_ok_and_500(void **unused)
{
    (void)unused;
    struct probe p = load("http");
    struct result r;
    char u[128], want_host[64];
    url(u, sizeof(u), "/ok");
    check(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.error, "(null)");
    assert_true(r.latency_ms >= 0 && r.latency_ms < 2000);
    assert_int_equal(hits_ok, 1);
    snprintf(want_host, sizeof(want_host), "127.0.0.1:%d", server_port);
    assert_string_equal(last_host_header, want_host);

    url(u, sizeof(u), "/err");
    check(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "HTTP 500");
    assert_int_equal(hits_err, 1);

    url(u, sizeof(u), "/nowhere?x=1");
    check(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "HTTP 404");

    /* several at once on the same instance */
    struct result rs[4];
    url(u, sizeof(u), "/ok");
    for (int i = 0; i < 4; i++)
        start(&p, &rs[i], 2000, "url", u, "http");
    for (int i = 0; i < 4; i++) {
        assert_true(run_until(&rs[i].calls, 3000));
        assert_int_equal(rs[i].ok, 1);
    }
    assert_int_equal(hits_ok, 5);
    unload(&p);
}

static void test_http_timeout(void **unused)
{
    (void)unused;
    struct probe p = load("http");
    struct result r;
    char u[128];
    url(u, sizeof(u), "/slow");
    check(&p, &r, 200, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.error, "timed out after 200 ms"));
    assert_true(r.latency_ms >= 190 && r.latency_ms < 450);
    assert_int_equal(hits_slow, 1);
    drain_slow(); /* the server answers a client that has gone: no crash, no leak */
    unload(&p);
}

static void test_http_refused(void **unused)
{
    (void)unused;
    struct probe p = load("http");
    struct result r;
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/health", closed_port());
    check(&p, &r, 2000, "url", u, "http");
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.error, "connection failed"));
    assert_true(r.latency_ms < 1000);
    unload(&p);
}

static void test_http_validate(void **unused)
{
    (void)unused;
    struct probe p = load("http");
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
    unload(&p);
}

static void test_http_localhost_name(void **unused)
{
    (void)unused;
    /* A name, resolved through evdns (/etc/hosts), not a blocking getaddrinfo(). */
    struct probe p = load("http");
    struct result r;
    char u[128];
    snprintf(u, sizeof(u), "http://localhost:%d/ok", server_port);
    int before = hits_ok;
    check(&p, &r, 2000, "url", u, "http");
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
        check(&p, &r, 2000, "url", u, "http");
        assert_int_equal(r.ok, 1);
        assert_int_equal(hits_ok, before + 2);
        assert_string_equal(last_host_header, want_host);
    }
    unload(&p);
}

static void test_http_cancel(void **unused)
{
    (void)unused;
    struct probe p = load("http");
    struct result r1, r2, r3;
    char u[128];
    url(u, sizeof(u), "/ok");
    /* cancelled before the loop ever ran */
    void *h1 = start(&p, &r1, 2000, "url", u, "http");
    p.ops->cancel(p.state, h1);
    /* cancelled while the server holds the request */
    url(u, sizeof(u), "/slow");
    int before = hits_slow;
    void *h2 = start(&p, &r2, 300, "url", u, "http");
    for (int i = 0; i < 100 && hits_slow == before; i++)
        run_for(5);
    assert_int_equal(hits_slow, before + 1);
    p.ops->cancel(p.state, h2);
    run_for(400); /* past the deadline: still silent */
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    /* destroy() with a check in flight: silent and leak-free */
    start(&p, &r3, 2000, "url", u, "http");
    run_for(20);
    unload(&p);
    run_for(20);
    assert_int_equal(r3.calls, 0);
    drain_slow();
}

/* ---- tcp ---- */

static void test_tcp(void **unused)
{
    (void)unused;
    struct probe p = load("tcp");
    struct result r;
    char addr[64];
    int port, fd = listening_socket(&port, 16);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    check(&p, &r, 2000, "address", addr, "tcp");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.error, "(null)");
    assert_true(r.latency_ms >= 0 && r.latency_ms < 1000);

    snprintf(addr, sizeof(addr), "localhost:%d", port); /* resolved through evdns */
    check(&p, &r, 2000, "address", addr, "tcp");
    assert_int_equal(r.ok, 1);
    close(fd);

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port());
    check(&p, &r, 2000, "address", addr, "tcp");
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.error, "connect failed"));
    assert_non_null(strstr(r.error, "refused"));

    /* cancel: before the loop runs, and destroy with one in flight */
    struct result r2, r3;
    fd = listening_socket(&port, 16);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    p.ops->cancel(p.state, start(&p, &r2, 2000, "address", addr, "tcp"));
    run_for(50);
    assert_int_equal(r2.calls, 0);
    start(&p, &r3, 2000, "address", addr, "tcp");
    unload(&p);
    run_for(50);
    assert_int_equal(r3.calls, 0);
    close(fd);
}

static void test_tcp_timeout(void **unused)
{
    (void)unused;
    /* A listener whose accept queue is full drops further SYNs: the connect hangs. */
    int port, fd = listening_socket(&port, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    run_for(50);
    struct probe p = load("tcp");
    struct result r;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    check(&p, &r, 200, "address", addr, "tcp");
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(fd);
    unload(&p);
    if (r.ok) skip(); /* this network stack does not drop SYNs on a full queue */
    assert_non_null(strstr(r.error, "timed out after 200 ms"));
    assert_true(r.latency_ms >= 190 && r.latency_ms < 450);
}

static void test_tcp_validate(void **unused)
{
    (void)unused;
    struct probe p = load("tcp");
    expect_invalid(&p, "tcp", "address", NULL, "health_probe.address is required");
    expect_invalid(&p, "tcp", "address", "", "health_probe.address is required");
    expect_invalid(&p, "tcp", "address", "127.0.0.1", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "127.0.0.1:", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", ":80", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "h:0", "health_probe.address port must be 1-65535");
    expect_invalid(&p, "tcp", "address", "h:70000", "health_probe.address port must be 1-65535");
    expect_invalid(&p, "tcp", "address", "h:80x", "health_probe.address port must be 1-65535");
    expect_invalid(&p, "tcp", "address", "::1:80", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "[nothost]:80", "health_probe.address must be host");
    expect_invalid(&p, "tcp", "address", "a b:80", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "http://h:80", "health_probe.address must be host");
    expect_valid(&p, "tcp", "address", "127.0.0.1:6379");
    expect_valid(&p, "tcp", "address", "[::1]:6379");
    expect_valid(&p, "tcp", "address", "redis-1.internal:6379");
    unload(&p);
}

/* ---- exec ---- */

/* 1 when this process has no child at all, running or zombie (nothing is reaped here). */
static int no_children(void)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    errno = 0;
    return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

static void assert_no_children(void)
{
    assert_true(no_children());
}

static void test_exec(void **unused)
{
    (void)unused;
    struct probe p = load("exec");
    struct result r;
    check(&p, &r, 2000, "command", "/bin/true", "exec");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.error, "(null)");
    assert_true(r.latency_ms >= 0 && r.latency_ms < 1000);

    check(&p, &r, 2000, "command", "/bin/false", "exec");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "exit status 1");

    /* JSON array form: no splitting, no shell */
    check(&p, &r, 2000, "command", "[\"sh\", \"-c\", \"exit 3\"]", "exec");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "exit status 3");
    check(&p, &r, 2000, "command", "  true  ", "exec"); /* PATH lookup, blanks trimmed */
    assert_int_equal(r.ok, 1);

    /* The host's environment (tokens!) is not passed on: only PATH. */
    setenv("CP_TEST_SECRET", "s3cret", 1);
    check(&p, &r, 2000, "command", "[\"sh\", \"-c\", \"test -z \\\"$CP_TEST_SECRET\\\"\"]", "exec");
    assert_int_equal(r.ok, 1);
    unsetenv("CP_TEST_SECRET");

    check(&p, &r, 2000, "command", "/nonexistent/cpd-probe-cmd --x", "exec");
    assert_int_equal(r.ok, 0);
    /* posix_spawnp() reports the failed exec; under valgrind (no vfork) the child exits 127 */
    if (strcmp(r.error, "exit status 127") != 0)
        assert_non_null(strstr(r.error, "cannot run '/nonexistent/cpd-probe-cmd': No such file"));
    unload(&p);
    assert_no_children();
}

static void test_exec_timeout_kills(void **unused)
{
    (void)unused;
    struct probe p = load("exec");
    struct result r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    check(&p, &r, 200, "command", "sleep 5", "exec");
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.error, "timed out after 200 ms");
    assert_true(r.latency_ms >= 190 && r.latency_ms < 450);

    /* The whole process group is killed: a grandchild too. */
    char pidfile[] = "/tmp/cp-probe-XXXXXX";
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "[\"sh\", \"-c\", \"sleep 7 & echo $! > %s; wait\"]", pidfile);
    check(&p, &r, 300, "command", cmd, "exec");
    assert_string_equal(r.error, "timed out after 300 ms");
    char buf[32] = {0};
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    unlink(pidfile);
    pid_t grandchild = (pid_t)atoi(buf);
    assert_true(grandchild > 0);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        char path[64], stat[256] = {0};
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)grandchild);
        FILE *f = fopen(path, "r");
        if (!f) {
            gone = 1;
            break;
        }
        size_t n = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
        const char *rp = memchr(stat, ')', n);
        if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X')) gone = 1; /* dead, unreaped */
        if (!gone) run_for(10);
    }
    assert_true(gone);

    /* The killed children get reaped on the loop, before destroy() even runs. */
    for (int i = 0; i < 100 && !no_children(); i++)
        run_for(10);
    assert_no_children();
    unload(&p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3); /* nobody waited for `sleep 5` */
}

static void test_exec_cancel(void **unused)
{
    (void)unused;
    struct probe p = load("exec");
    struct result r1, r2, r3;
    p.ops->cancel(p.state, start(&p, &r1, 2000, "command", "sleep 5", "exec"));
    void *h = start(&p, &r2, 300, "command", "sleep 5", "exec");
    run_for(50);
    p.ops->cancel(p.state, h);
    start(&p, &r3, 2000, "command", "sleep 5", "exec");
    run_for(400);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    unload(&p); /* kills and reaps r3's child and any straggler */
    assert_int_equal(r3.calls, 0);
    assert_no_children();
}

static void test_exec_validate(void **unused)
{
    (void)unused;
    struct probe p = load("exec");
    expect_invalid(&p, "exec", "command", NULL, "health_probe.command is required");
    expect_invalid(&p, "exec", "command", "", "health_probe.command is required");
    expect_invalid(&p, "exec", "command", "   \t ", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[]", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[1, 2]", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[\"\", \"x\"]", "health_probe.command must be");
    expect_invalid(&p, "exec", "command", "[\"a\\u0000b\"]", "health_probe.command must be");
    expect_invalid(&p, "exec", "url", "/bin/true", "health_probe.command is required");
    expect_valid(&p, "exec", "command", "/usr/bin/test -f /etc/hostname");
    expect_valid(&p, "exec", "command", "[ -f /etc/hostname ]"); /* a string, not JSON */
    expect_valid(&p, "exec", "command", "[\"/bin/echo\", \"two words\"]");
    unload(&p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as cpd does: a peer that hangs up must not kill the process */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_ok_and_500),
        cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_http_validate),
        cmocka_unit_test(test_http_localhost_name),
        cmocka_unit_test(test_http_cancel),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_tcp_timeout),
        cmocka_unit_test(test_tcp_validate),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_exec_timeout_kills),
        cmocka_unit_test(test_exec_cancel),
        cmocka_unit_test(test_exec_validate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
