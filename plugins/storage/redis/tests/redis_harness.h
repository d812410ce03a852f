/* redis_harness.h — helpers of the Redis plugin's fault tests (redis_harness.c). Every wait is
 * bounded; servers are stopped by teardown() even when a test fails half way. */
#ifndef REDIS_HARNESS_H
#define REDIS_HARNESS_H

#include <stdint.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cp/storage.h"
#include "plugin_loader.h"

extern struct event_base *base;

/* A redis-server child process (no persistence) on a loopback port. */
struct srv {
    pid_t pid;
    int port;
    char dir[64];
};

int free_port(void);
struct srv *srv_new(void); /* a free static slot (at most 2 servers per test) */
/* Start on s->port (0: a free one), optionally with a password; waits until it answers. */
void srv_start(struct srv *s, const char *requirepass);
void srv_stop(struct srv *s); /* SIGKILL */
void srv_cleanup(struct srv *s);
redisContext *srv_client(const struct srv *s, const char *password);
int teardown(void **state); /* cmocka teardown: stops every server */

/* One plugin instance. */
struct inst {
    struct plugin_set set;
    struct plugin *p;
    const struct cp_storage_ops *ops;
    void *st;
    struct cfg_option opts[8];
    char url[128];
};
/* harness_lua: the "lua" option of the next load()s (NULL: not given, i.e. "auto");
 * harness_extra: up to 3 more options (key NULL: none). Reset by teardown(). */
extern const char *harness_lua;
extern struct cfg_option harness_extra[3];
struct plugin *load(struct inst *in, const char *url, const char *prefix, const char *timeout_ms,
                    char *err, size_t errlen);
void load_ok(struct inst *in, const struct srv *s, const char *prefix, const char *timeout_ms);
void unload(struct inst *in);

/* The loop: until *flag != 0 or ms pass (returns *flag); for ms. */
int run_until(const int *flag, int ms);
void run_for(int ms);
/* Until the instance is reachable again (bounded: 8 s). */
int wait_available(struct inst *in);

/* One operation's outcome. */
struct res {
    int calls;
    int rc;
    char msg[256];
    char task_id[64];
    int outcome; /* cp_result.outcome */
};
void on_res(void *cookie, const struct cp_result *r);
int wait_res(struct res *x, int ms); /* asserts exactly one callback */
void do_register(struct inst *in, const char *id, struct res *x);
void do_submit(struct inst *in, unsigned n, struct res *x);

/* watch() callback: counts and keeps the last notification. */
struct note {
    int n;
    char kind[16], id[64];
};
void on_change(void *arg, const char *kind, const char *id);

#endif
