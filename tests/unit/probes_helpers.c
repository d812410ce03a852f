/* probes_helpers.c — loading probe plugins and running checks for the test_probes_*.c files. */
#include <arpa/inet.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <cp/probe.h>
#include <cp/time.h>

#include "plugin_dl.h"
#include "probes_helpers.h"

int probes_setup(void **unused)
{
    (void)unused;
    signal(SIGPIPE, SIG_IGN);
    dl_base = event_base_new();
    return dl_base ? 0 : -1;
}

int probes_teardown(void **unused)
{
    (void)unused;
    event_base_free(dl_base);
    dl_base = NULL;
    return 0;
}

struct event_base *probes_base(void)
{
    return dl_base;
}

struct probe probe_load(const char *name)
{
    struct probe p = {0};
    p.ops = dl_open_plugin(name, CP_PLUGIN_PROBE, &p.dl)->ops;
    assert_int_equal(p.ops->version, CP_PROBE_OPS_VERSION);
    struct cp_err err = {{0}};
    assert_int_equal(p.ops->create(&dl_host, &p.state, &err), 0);
    return p;
}

void probe_unload(struct probe *p)
{
    p->ops->destroy(p->state);
    dlclose(p->dl);
}

static void on_result(void *cookie, int ok, double latency_ms, const char *error)
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

int run_until(const int *flag, int max_ms)
{
    struct event *guard = evtimer_new(dl_base, on_guard, NULL);
    struct timeval tv = cp_ms_to_timeval(max_ms);
    guard_fired = 0;
    evtimer_add(guard, &tv);
    while (!*flag && !guard_fired)
        event_base_loop(dl_base, EVLOOP_ONCE);
    event_free(guard);
    return *flag;
}

void run_for(int ms)
{
    static const int never = 0;
    run_until(&never, ms);
}

struct probe_run *check_start(struct probe *p, struct result *r, uint64_t timeout_ms,
                              const char *key, const char *value, const char *type)
{
    struct cp_kv items[] = {{"type", type}, {key, value}};
    struct cp_probe_spec spec = {"agent-1", items, 2, timeout_ms};
    char err[256];
    memset(r, 0, sizeof(*r));
    struct probe_run *run =
        probe_run_start(dl_base, p->ops, p->state, &spec, on_result, r, err, sizeof err);
    if (!run) fail_msg("start(%s=%s): %s", key, value, err);
    assert_int_equal(r->calls, 0); /* never from within start() */
    return run;
}

void check_run(struct probe *p, struct result *r, uint64_t timeout_ms, const char *key,
               const char *value, const char *type)
{
    check_start(p, r, timeout_ms, key, value, type);
    assert_true(run_until(&r->calls, (int)timeout_ms + 2000));
    run_for(20); /* and nothing calls done() a second time */
    assert_int_equal(r->calls, 1);
}

void expect_invalid(struct probe *p, const char *type, const char *key, const char *value,
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
    assert_int_equal(p->ops->start(p->state, &spec, on_result, NULL, &handle, &err),
                     CP_ERR_INVALID);
    assert_non_null(strstr(err.msg, msg_part));
}

void expect_valid(struct probe *p, const char *type, const char *key, const char *value)
{
    struct cp_kv items[] = {{"type", type}, {key, value}};
    struct cp_probe_spec spec = {"agent-1", items, 2, 1000};
    struct cp_err err = {{0}};
    if (p->ops->validate(p->state, &spec, &err) != 0)
        fail_msg("%s=%s rejected: %s", key, value, err.msg);
}

int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

int listening_socket(int *port, int backlog)
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
