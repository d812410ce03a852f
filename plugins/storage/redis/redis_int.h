/* redis_int.h — internal interface of the Redis storage plugin (not installed, not public).
 *
 * Shape: redis_plugin.c owns the state and the ops table; redis_url.c parses the url and does
 * the blocking start-up check; redis_conn.c keeps the two asynchronous connections (commands,
 * pub/sub) alive with backoff; redis_ops.c turns each storage operation into one EVALSHA;
 * redis_reply.c turns a script's reply into the borrowed views of struct cp_result.
 * Everything runs on the host's event loop thread: no locking.
 */
#ifndef CP_REDIS_INT_H
#define CP_REDIS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cp/storage.h"
#include "redis_scripts.h" /* generated: enum rs_script_id, rs_scripts[] */

struct rs;

/* A parsed redis:// url. Strings are owned (freed by rs_url_free). */
struct rs_url {
    char *host;
    int port;
    char *user;     /* ACL user, or NULL */
    char *password; /* or NULL; never logged */
    int db;
    char display[300]; /* "redis://host:port/db" — safe to log (no password) */
};

int rs_url_parse(const char *text, struct rs_url *u, struct cp_err *err);
void rs_url_free(struct rs_url *u);

/* Blocking start-up check: connect, AUTH, SELECT, PING, then FUNCTION LOAD REPLACE of the
 * library when *functions is 1 (left 1 when Redis took it, set to 0 when it refused: too old,
 * or an ACL), else SCRIPT LOAD of every script (their SHA1s into shas). Fills err (naming the
 * url, never the password) on failure. */
int rs_sync_check(const struct rs_url *u, int timeout_ms, char shas[][41], int *functions,
                  struct cp_err *err);

/* One asynchronous connection that reconnects by itself (100 ms doubling to 5 s). */
struct rs_conn {
    struct rs *rs;
    const char *name; /* "command" / "pubsub", for logs */
    int is_sub;
    redisAsyncContext *ac;    /* NULL while down */
    int up;                   /* usable: commands may be sent */
    const char *broken;       /* why the watchdog must close it (AUTH refused, READONLY) */
    int64_t connecting_since; /* monotonic ms of the pending connect, 0 when none */
    uint64_t backoff_ms;
    struct cp_timer *retry;
    int64_t down_since; /* monotonic ms, for the "back after" log line */
};

struct rs {
    const struct cp_host *host;
    struct event_base *base;
    struct rs_url url;
    char *tag;     /* "{prefix}": KEYS[1] of every script */
    char *channel; /* "{prefix}events" */
    char inst[17]; /* this process's instance id (hex) */
    char shas[RS_SCRIPT_COUNT][41];
    /* 1: each op is an FCALL of the library loaded at every connect (FUNCTION LOAD, Redis 7+:
     * the shared prelude runs once per load, not per call); 0: EVALSHA of its script. */
    int functions;
    int timeout_ms; /* connect timeout, and the longest wait for a reply before reconnecting */
    struct rs_conn cmd, sub;
    uint64_t inflight;     /* operations awaiting a reply on cmd */
    int64_t last_progress; /* monotonic ms of the last reply (or of the first send) */
    struct cp_timer *watchdog;
    int destroying;
    /* A callback may destroy() the instance: while `depth` > 0 (code that may run callbacks is
     * on the stack) or replies are still owed (`inflight`), the free waits (rs_leave). */
    int depth;
    void (*on_change)(void *arg, const char *kind, const char *id);
    void *on_change_arg;
};

/* Options (redis_options.c): the strings are borrowed from the host. */
struct rs_options {
    const char *url, *prefix;
    int timeout_ms;
    int functions; /* lua: auto (1) or eval (0) */
};
int rs_options_parse(const struct cp_host *host, struct rs_options *o, struct cp_err *err);
int rs_validate_options(const struct cp_host *host, struct cp_err *err);

int64_t rs_mono_ms(void);
void rs_enter(struct rs *rs);
void rs_leave(struct rs *rs); /* frees rs once destroyed, idle and unwound */
void rs_free(struct rs *rs);

/* Connections (redis_conn.c). */
void rs_conn_init(struct rs *rs, struct rs_conn *c, const char *name, int is_sub);
void rs_conn_start(struct rs_conn *c);                 /* begin connecting now */
void rs_conn_drop(struct rs_conn *c, const char *why); /* close now; pending ops fail */
void rs_conn_stop(struct rs_conn *c);                  /* destroy(): no reconnect */
void rs_watchdog_start(struct rs *rs);

/* Parsed script reply (redis_reply.c): res points into `reply` and into the arena. */
struct rs_arena {
    struct rs_arena_block *head;
};
void *rs_arena_alloc(struct rs_arena *a, size_t size);
void rs_arena_free(struct rs_arena *a);
/* 0, or CP_ERR_NOMEM / CP_ERR_UNAVAILABLE (malformed reply) with res->message set. */
int rs_reply_parse(const redisReply *reply, struct rs_arena *arena, struct cp_result *res);
/* RESP for one command (redis_resp.c): its length with *out malloc'ed (free with free() or
 * redisFreeCommand()), or -1 when out of memory. Byte-for-byte what redisFormatCommandArgv()
 * makes. */
int rs_format_command(char **out, int argc, const char **argv, const size_t *lens);
/* The reply of an HMGET of rs_agent_fields / rs_task_fields (redis_ops.c): the record, or
 * CP_ERR_NOT_FOUND when it does not exist. */
enum { RS_AGENT_FIELDS = 28, RS_TASK_FIELDS = 22 };
extern const char *const rs_agent_fields[RS_AGENT_FIELDS];
extern const char *const rs_task_fields[RS_TASK_FIELDS];
int rs_reply_parse_agent(const redisReply *reply, struct rs_arena *arena, struct cp_result *res);
int rs_reply_parse_task(const redisReply *reply, struct rs_arena *arena, struct cp_result *res);
/* The EXEC reply of HGETALLs of agents (redis_list.c): the agents that still exist and have
 * `status` (-1: any), sorted by agent_id. */
int rs_reply_parse_agent_list(const redisReply *reply, int32_t status, struct rs_arena *arena,
                              struct cp_result *res);

/* An argument vector for one command (redis_args.c). */
struct rs_args {
    const char **argv;
    size_t *lens;
    int argc, cap;
    char **owned;
    int n_owned, cap_owned;
    int oom;
    const char *invalid; /* why the arguments cannot be sent, or NULL */
};
void args_add(struct rs_args *a, const char *s, size_t len);
char *args_own(struct rs_args *a, size_t size);  /* owned by the vector */
void args_str(struct rs_args *a, const char *s); /* NULL marks the vector invalid */
void args_opt(struct rs_args *a, const char *s); /* "" for NULL, else "=" + s */
void args_i64(struct rs_args *a, int64_t v);
void args_f64(struct rs_args *a, double v);
void args_names(struct rs_args *a, const char *const *names, uint32_t n); /* rs_caps_valid */
void args_free(struct rs_args *a);
int rs_caps_valid(const char *const *names, uint32_t n); /* sorted, unique, non-empty, no \n */

/* Reply objects in one allocation each (redis_objects.c), for reader->fn of async contexts. */
extern redisReplyObjectFunctions rs_reply_objects;

/* redis_ops.c, for the operations that are not one script call (redis_list.c). */
void rs_fail(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...) CP_PRINTF(4, 5);
/* A raw command's reply as Redis sent it: NULL when the connection was lost, an error reply as
 * it came (already logged). */
typedef void (*rs_raw_cb)(struct rs *rs, const redisReply *reply, void *cookie);
/* Send one command on the command connection (pipelined after what is already queued); raw()
 * then runs exactly once. -1, and raw() never runs, when it cannot be sent. */
int rs_send_raw(struct rs *rs, const char *what, int argc, const char **argv, const size_t *lens,
                rs_raw_cb raw, void *cookie);

/* Operations (redis_ops.c): the cp_storage_ops members. */
void rs_agent_register(void *st, const struct cp_agent_view *in, int64_t now_ms, cp_storage_cb cb,
                       void *cookie);
void rs_agent_get(void *st, const char *agent_id, cp_storage_cb cb, void *cookie);
void rs_agent_list(void *st, const struct cp_agent_filter *filter, cp_storage_cb cb, void *cookie);
void rs_agent_heartbeat(void *st, const char *agent_id, int32_t status, int64_t now_ms,
                        cp_storage_cb cb, void *cookie);
void rs_agent_unregister(void *st, const char *agent_id, int64_t now_ms, cp_storage_cb cb,
                         void *cookie);
void rs_agent_set_health(void *st, const char *agent_id, const struct cp_health_view *health,
                         int32_t status, int32_t expect_status, cp_storage_cb cb, void *cookie);
void rs_task_submit(void *st, const struct cp_task_view *task, cp_storage_cb cb, void *cookie);
void rs_task_get(void *st, const char *task_id, cp_storage_cb cb, void *cookie);
void rs_task_list(void *st, const struct cp_task_filter *filter, cp_storage_cb cb, void *cookie);
void rs_task_claim(void *st, const struct cp_claim *claim, cp_storage_cb cb, void *cookie);
void rs_task_transition(void *st, const struct cp_transition *tr, cp_storage_cb cb, void *cookie);
void rs_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie);
void rs_stats(void *st, cp_storage_cb cb, void *cookie);

#endif
