/* redis_harness.c — helpers of the Redis plugin's fault tests: throw-away redis-server
 * processes on free loopback ports, plugin instances loaded through the core's loader, and a
 * bounded event loop. */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <cmocka.h>

#include "redis_harness.h"

extern char **environ;

struct event_base *base;

/* ---- a throw-away redis-server -------------------------------------------------------------- */

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

redisContext *srv_client(const struct srv *s, const char *password)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (c && !c->err && password) {
        redisReply *r = redisCommand(c, "AUTH %s", password);
        if (r) freeReplyObject(r);
    }
    return c;
}

int srv_ping(const struct srv *s)
{
    redisContext *c = srv_client(s, NULL);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r != NULL; /* +PONG, or NOAUTH: either way it is up */
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

/* Start on s->port (0: a free one), optionally with a password. */
void srv_start(struct srv *s, const char *requirepass)
{
    if (!s->port) s->port = free_port();
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof s->dir, "/tmp/cp-redis-faults.XXXXXX");
        assert_non_null(mkdtemp(s->dir));
    }
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/redis.log", s->dir);
    const char *argv[20] = {REDIS_SERVER_BIN,
                            "--port",
                            port,
                            "--bind",
                            "127.0.0.1",
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--daemonize",
                            "no",
                            "--dir",
                            s->dir,
                            "--logfile",
                            log};
    int n = 15;
    if (requirepass) {
        argv[n++] = "--requirepass";
        argv[n++] = requirepass;
    }
    argv[n] = NULL;
    /* Not our stdout: a server outliving a crashed test must not hold ctest's pipe open. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&s->pid, REDIS_SERVER_BIN, &fa, NULL, (char **)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);

    for (int i = 0; i < 500 && !srv_ping(s); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a real process starting: nothing to inject */
    }
    assert_true(srv_ping(s));
}

void srv_stop(struct srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

void srv_cleanup(struct srv *s)
{
    srv_stop(s);
    if (s->dir[0]) {
        char log[128];
        snprintf(log, sizeof log, "%s/redis.log", s->dir);
        unlink(log);
        rmdir(s->dir);
        s->dir[0] = '\0';
    }
}

/* Servers live in static slots, so the teardown stops them even when a test failed half way. */
static struct srv servers[2];

struct srv *srv_new(void)
{
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++)
        if (!servers[i].pid && !servers[i].dir[0]) {
            servers[i].port = 0;
            return &servers[i];
        }
    fail_msg("no free server slot");
    return NULL;
}

int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) {
        srv_cleanup(&servers[i]);
        servers[i].port = 0;
    }
    harness_lua = NULL;
    memset(harness_extra, 0, sizeof harness_extra);
    return 0;
}

/* ---- plugin instances ---------------------------------------------------------------------- */

const char *harness_lua;
struct cfg_option harness_extra[3];

struct plugin *load(struct inst *in, const char *url, const char *prefix, const char *timeout_ms,
                    char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    snprintf(in->url, sizeof in->url, "%s", url);
    size_t n = 0;
    in->opts[n++] = (struct cfg_option){"url", in->url};
    in->opts[n++] = (struct cfg_option){"prefix", (char *)(prefix ? prefix : "faults:")};
    if (timeout_ms) in->opts[n++] = (struct cfg_option){"timeout_ms", (char *)timeout_ms};
    if (harness_lua) in->opts[n++] = (struct cfg_option){"lua", (char *)harness_lua};
    for (int i = 0; i < 3 && harness_extra[i].key; i++)
        in->opts[n++] = harness_extra[i];
    in->p = plugin_load(&in->set, REDIS_PLUGIN, CP_PLUGIN_STORAGE, in->opts, n, err, errlen);
    if (in->p) {
        in->ops = in->p->ops;
        in->st = in->p->state;
    }
    return in->p;
}

void load_ok(struct inst *in, const struct srv *s, const char *prefix, const char *timeout_ms)
{
    char url[96], err[512];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", s->port);
    if (!load(in, url, prefix, timeout_ms, err, sizeof err)) fail_msg("load: %s", err);
}

void unload(struct inst *in)
{
    plugin_set_unload(&in->set);
    memset(in, 0, sizeof *in);
}

/* ---- running the loop ---------------------------------------------------------------------- */

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until *flag becomes nonzero or `ms` pass; returns *flag. */
int run_until(const int *flag, int ms)
{
    struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 10000};
    event_add(ev, &tv);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (*flag) break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= ms) break;
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(ev);
    return *flag;
}

void run_for(int ms)
{
    int never = 0;
    run_until(&never, ms);
}

void on_res(void *cookie, const struct cp_result *r)
{
    struct res *x = cookie;
    x->calls++;
    x->rc = r->rc;
    snprintf(x->msg, sizeof x->msg, "%s", r->message ? r->message : "");
    if (r->task) snprintf(x->task_id, sizeof x->task_id, "%s", r->task->id);
    x->outcome = r->outcome;
}

int wait_res(struct res *x, int ms)
{
    run_until(&x->calls, ms);
    assert_int_equal(x->calls, 1);
    return x->rc;
}

void do_register(struct inst *in, const char *id, struct res *x)
{
    static const char *const caps[] = {"x"};
    struct cp_agent_view a = {.agent_id = id,
                              .capabilities = caps,
                              .n_capabilities = 1,
                              .model = "m",
                              .provider = "p",
                              .metadata_json = "{}",
                              .max_concurrent_tasks = 1};
    memset(x, 0, sizeof *x);
    in->ops->agent_register(in->st, &a, 1700000000000, on_res, x);
}

void do_submit(struct inst *in, unsigned n, struct res *x)
{
    char id[40];
    snprintf(id, sizeof id, "task_%024x", n);
    struct cp_task_view t = {.id = id,
                             .task_type = "t",
                             .payload_json = "{}",
                             .priority = CP_PRIORITY_NORMAL,
                             .created_at_ms = 1700000000000,
                             .pending_since_ms = 1700000000000,
                             .timeout_ms = 300000,
                             .max_retries = 3,
                             .metadata_json = "{}"};
    memset(x, 0, sizeof *x);
    in->ops->task_submit(in->st, &t, on_res, x);
}

void on_change(void *arg, const char *kind, const char *id)
{
    struct note *nt = arg;
    nt->n++;
    snprintf(nt->kind, sizeof nt->kind, "%s", kind);
    snprintf(nt->id, sizeof nt->id, "%s", id);
}

/* Runs the loop until the instance says it is reachable again (bounded: 8 s). */
int wait_available(struct inst *in)
{
    for (int i = 0; i < 800; i++) {
        if (in->ops->is_available(in->st)) return 1;
        run_for(10);
    }
    return in->ops->is_available(in->st);
}
