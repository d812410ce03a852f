/* redis_int.h — internal interface of the Redis storage plugin (not installed, not public).
 *
 * Shape: redis_plugin.c owns the state, the options and the ops table; redis_url.c and
 * redis_parse.c read addresses and what Redis says about the master (pure, bounded);
 * redis_startup.c finds and checks the master at start-up (blocking); redis_conn.c keeps the
 * asynchronous connections (commands, pub/sub, Sentinel events) alive and on the master;
 * redis_sentinel.c asks the sentinels and follows their events; redis_exec.c runs one
 * operation (redirects, WAIT, outcomes); redis_fence.c makes the operations whose replies were
 * lost safe (connection epochs, claim tokens); redis_ops.c builds each storage operation's call;
 * redis_reply.c turns a script's reply into the borrowed views of struct cp_result.
 * Everything runs on the host's event loop thread: no locking.
 */
#ifndef CP_REDIS_INT_H
#define CP_REDIS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cp/storage.h"
#include "redis_scripts.h" /* generated: enum rs_script_id, rs_scripts[] */

struct rs;
struct rs_op;
struct rs_lost;

#define RS_EPOCH_DIGITS 12 /* the epoch in ARGV[1], zero-padded so it can be stamped in place */

/* ---- addresses and the url (redis_url.c, redis_parse.c: pure, bounded) ----------------- */

#define RS_HOST_MAX 256 /* longest host name + 1 */
#define RS_MAX_ADDRS 16 /* sentinels, or the node and its seeds */
#define RS_CLUSTER_SLOTS 16384
#define RS_MAX_REDIRECTS 5 /* MOVED/ASK hops for one operation, and moves in a row per connect */

struct rs_addr {
    char host[RS_HOST_MAX]; /* name or address; IPv6 without brackets */
    int port;
};

/* The parsed url and address options. Strings are owned (freed by rs_url_free). */
struct rs_url {
    int sentinel;                       /* 1: addrs are Sentinels to ask for master_name */
    struct rs_addr addrs[RS_MAX_ADDRS]; /* the node then the `nodes` seeds, or the sentinels */
    int n_addrs;
    char *master_name;       /* Sentinel's name of the master */
    char *user;              /* ACL user of the data nodes, or NULL */
    char *password;          /* of the data nodes, or NULL; never logged */
    char *sentinel_password; /* AUTH on the sentinels, or NULL; never logged */
    int db;
    char display[300]; /* "redis://host:port/db" or "redis+sentinel://h:p,h:p/name/db": no password
                        */
};

int rs_url_parse(const char *text, struct rs_url *u, struct cp_err *err);
/* Appends "host:port,host:port" (the `sentinels` or `nodes` option) to u->addrs. */
int rs_url_add_option_addrs(struct rs_url *u, const char *what, const char *list,
                            struct cp_err *err);
void rs_url_update_display(struct rs_url *u);
void rs_url_free(struct rs_url *u);
/* "host[:port]" or "[v6][:port]" in [s, s+n); default_port <= 0 makes the port required. */
int rs_addr_parse(const char *s, size_t n, int default_port, struct rs_addr *out);
/* Comma-separated addresses appended to out[*count..max): 0, or -1 (bad entry or too many). */
int rs_addr_list_parse(const char *s, size_t n, int default_port, struct rs_addr *out, int max,
                       int *count);
void rs_addr_format(const struct rs_addr *a, char *buf, size_t size); /* "h:p", "[v6]:p" */
static inline int rs_addr_eq(const struct rs_addr *a, const struct rs_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* "MOVED <slot> <host>:<port>" / "ASK ...": 0 with *ask, *slot, *to filled (to->host may be ""
 * = the current node's host), -1 when msg is not a well-formed redirection. */
int rs_parse_redirect(const char *msg, size_t len, int *ask, int *slot, struct rs_addr *to);
enum { RS_ROLE_UNKNOWN = 0, RS_ROLE_MASTER, RS_ROLE_REPLICA, RS_ROLE_SENTINEL };
int rs_parse_role(const redisReply *r); /* the reply of ROLE */
/* The reply of SENTINEL get-master-addr-by-name: 1 with *out, 0 for nil (unknown name), -1. */
int rs_parse_master_addr(const redisReply *r, struct rs_addr *out);
/* A +switch-master message: 1 with *to (the new master) when it is about `name`, 0 when it is
 * about another master, -1 when malformed. */
int rs_parse_switch_master(const char *msg, size_t len, const char *name, struct rs_addr *to);
/* A +selected-slave message ("slave <ip>:<port> <ip> <port> @ <name> <master ip> <master
 * port>"): 1 with *master (the master being failed over) when it is about `name`, 0 when it is
 * about another master, -1 when malformed. */
int rs_parse_selected(const char *msg, size_t len, const char *name, struct rs_addr *master);
int rs_key_slot(const char *key, size_t len); /* Redis Cluster's hash slot (hash tags honoured) */

/* ---- start-up (redis_startup.c) ---------------------------------------------------------- */

/* Blocking, at create() only: finds the master (asking the sentinels in turn, or trying the
 * node and its seeds, following MOVED), checks it (AUTH, SELECT, ROLE master, owner of the
 * tag's slot in a cluster) and loads the library (functions) or the scripts (shas). Sets
 * rs->master, rs->cluster, rs->functions (0 when Redis refused FUNCTION LOAD: the reason is
 * then in *warn). Fills err (naming the url, never a password) on failure. */
int rs_startup_locate(struct rs *rs, char *warn, size_t warn_size, struct cp_err *err);

/* ---- connections (redis_conn.c, redis_sentinel.c) ---------------------------------------- */

/* Why a connection went down, which decides what the next attempt does. */
enum rs_down {
    RS_DOWN_IO = 0, /* refused, closed, timed out: back off; ask the sentinels / next seed */
    RS_DOWN_ROLE,   /* not the master (READONLY, ROLE, refused setup): back off, ask again */
    RS_DOWN_MOVE,   /* rs->master was just named (MOVED, +switch-master): go there now */
};

/* One asynchronous connection that reconnects by itself (100 ms doubling to 5 s). */
struct rs_conn {
    struct rs *rs;
    const char *name;      /* "command" / "pubsub" / "sentinel", for logs */
    int kind;              /* RS_CONN_CMD, RS_CONN_SUB, RS_CONN_WATCH */
    redisAsyncContext *ac; /* NULL while down */
    int up;                /* usable: commands may be sent */
    const char *broken;    /* why the watchdog must close it (setup refused, READONLY...) */
    int broken_kind;       /* enum rs_down of `broken` */
    char broken_why[160];
    int64_t connecting_since; /* monotonic ms of the pending connect, 0 when none */
    uint64_t backoff_ms;
    struct cp_timer *retry;
    struct cp_timer *drop_timer; /* closes a broken connection outside hiredis' callbacks */
    int64_t down_since;          /* monotonic ms, for the "back after" log line */
    struct rs_addr addr;         /* where ac connects (or last connected) */
    int moving;                  /* cmd: redirected; closes once the replies in flight are in */
    int role;                    /* cmd setup: what ROLE said */
    int target;                  /* watch: its sentinel (index in url.addrs) */
};
enum { RS_CONN_CMD = 0, RS_CONN_SUB, RS_CONN_WATCH };

/* A FIFO of operations waiting for the command connection (redirected, or sent while it moves). */
struct rs_opq {
    struct rs_op *head, *tail;
    size_t n;
};

/* Rate-limited warning: at most one line per interval per slot, with the count of the others. */
struct rs_limit {
    int64_t last_ms;
    uint64_t suppressed;
};
/* RS_LIM_LOST + a connection's kind: one slot per connection. */
enum {
    RS_LIM_OP_ERROR = 0,
    RS_LIM_REDIRECT,
    RS_LIM_WAIT,
    RS_LIM_SETUP,
    RS_LIM_LOST,
    RS_LIM_COUNT = RS_LIM_LOST + 3
};

/* The version of the key layout this plugin writes (redis_startup.c, docs/redis.md). */
enum { RS_LAYOUT_VERSION = 4 };
/* The upgrade to layout 4 at start-up (redis_upgrade.c): records into one value each, older
 * processes fenced, the version set (unless a newer one is there). 0, or -1 with why. */
int rs_layout_upgrade4(struct rs *rs, redisContext *c, char *why, size_t n);

struct rs {
    const struct cp_host *host;
    struct event_base *base;
    struct rs_url url;
    char *tag;       /* "{prefix}": KEYS[1] of every script */
    char *channel;   /* "{prefix}events" */
    char *probe_key; /* "{prefix}seq": a key of the tag's slot, for the ownership check */
    char inst[17];   /* this process's instance id (hex) */
    /* ARGV[1] of every script call: "<inst>:" + RS_EPOCH_DIGITS zeros, the epoch stamped into
     * the formatted command when it is sent (redis_fence.c). */
    char inst_epoch[17 + 1 + RS_EPOCH_DIGITS + 1];
    char *conn_key;       /* "{prefix}conn:<inst>": the epoch of our newest command connection */
    uint64_t epoch;       /* of the command connection now (0 before the first async connect) */
    uint64_t claim_seq;   /* the <n> of claim tokens "<inst>:<n>" */
    struct rs_lost *lost; /* claims whose outcome is unknown, to release (redis_fence.c) */
    size_t n_lost;
    int releasing; /* a claim_release call is in flight */
    struct cp_timer *fence_timer;
    uint64_t n_released; /* tasks released that way */
    char shas[RS_SCRIPT_COUNT][41];
    /* 1: each op is an FCALL of the library loaded at every connect (FUNCTION LOAD, Redis 7+:
     * the shared prelude runs once per load, not per call); 0: EVALSHA of its script. */
    int functions;
    int timeout_ms; /* connect timeout, and the longest wait for a reply before reconnecting */
    int cluster;    /* the nodes run Redis Cluster: check slot ownership, follow MOVED */
    int slot;       /* the tag's hash slot */
    int wait_replicas, wait_timeout_ms; /* WAIT after writes; 0: no WAIT */

    struct rs_addr master;           /* where the command and pub/sub connections go */
    struct rs_addr last_up;          /* where the command connection last came up ("" before) */
    int master_known;                /* Sentinel: rs->master was named since the last failure */
    int switching;                   /* cmd is moving to a node Redis named: operations queue */
    int next_seed;                   /* standalone/cluster: the next of url.addrs to try */
    int moves_in_row;                /* RS_DOWN_MOVE reconnects since the last working connection */
    int sentinel_first;              /* the sentinel to ask first (the last one that answered) */
    struct rs_sentinel_query *query; /* a running get-master-addr-by-name round, or NULL */

    struct rs_conn cmd, sub;
    struct rs_conn watch[RS_MAX_ADDRS]; /* Sentinel: one subscription per sentinel */
    int64_t paused_until;      /* a Sentinel failover began: writes wait (monotonic ms), or 0 */
    struct rs_opq queue;       /* ops waiting for cmd (it is moving to a named node) */
    struct rs_wait *wait_open; /* the WAIT batch that writes sent now join */
    struct cp_timer *wait_flush;
    uint64_t inflight;     /* replies owed on cmd (operations and WAITs) */
    int64_t last_progress; /* monotonic ms of the last reply (or of the first send) */
    struct cp_timer *watchdog;
    int destroying;
    /* A callback may destroy() the instance: while `depth` > 0 (code that may run callbacks is
     * on the stack) or replies are still owed (`inflight`), the free waits (rs_leave). */
    int depth;
    void (*on_change)(void *arg, const char *kind, const char *id);
    void *on_change_arg;
    struct rs_feed *feed;   /* the change feed (redis_feed.c), or NULL until first turned on */
    struct rs_cache *cache; /* the agent cache (redis_cache.c) */

    uint64_t n_reconnects, n_failovers, n_redirects, n_unconfirmed;
    struct rs_limit limits[RS_LIM_COUNT];
};

/* Logs a warning unless one of this slot was logged less than 10 s ago (then counts it). */
void rs_warn_limited(struct rs *rs, int slot, const char *fmt, ...) CP_PRINTF(3, 4);
/* Options (redis_options.c): the strings are borrowed from the host. */
struct rs_options {
    const char *url, *prefix;
    int timeout_ms;
    int wait_replicas, wait_timeout_ms;
    int functions;                 /* lua: auto (1) or eval (0) */
    int agent_cache;               /* RS_CACHE_AUTO / ON / OFF */
    int64_t agent_cache_resync_ms; /* 0: never */
    int64_t agent_cache_idle_ms;   /* auto: off after this long without a whole list */
};
enum { RS_CACHE_AUTO = 0, RS_CACHE_ON, RS_CACHE_OFF };
int rs_options_parse(const struct cp_host *host, struct rs_options *o, struct cp_err *err);
/* The url option with the address options applied (u is filled; rs_url_free() it either way). */
int rs_options_url(const struct cp_host *host, const struct rs_options *o, struct rs_url *u,
                   struct cp_err *err);
int rs_validate_options(const struct cp_host *host, struct cp_err *err);

int64_t rs_mono_ms(void);
void rs_enter(struct rs *rs);
void rs_leave(struct rs *rs); /* frees rs once destroyed, idle and unwound */
void rs_free(struct rs *rs);

/* Connections (redis_conn.c). */
void rs_conn_init(struct rs *rs, struct rs_conn *c, const char *name, int kind);
void rs_conn_start(struct rs_conn *c); /* begin connecting now */
/* Close now (pending ops fail); `kind` (enum rs_down) decides what the next attempt does. */
void rs_conn_drop(struct rs_conn *c, int kind, const char *why);
/* Mark it for the watchdog to close (from inside hiredis callbacks); the first reason wins. */
void rs_conn_break(struct rs_conn *c, int kind, const char *why);
void rs_conn_stop(struct rs_conn *c); /* destroy(): no reconnect */
void rs_watchdog_start(struct rs *rs);
/* The command connection works on rs->master (called once its setup is answered). */
void rs_cmd_ready(struct rs *rs);
/* MOVED named the master: move the command connection there once its replies are in. */
void rs_move_to(struct rs *rs, const struct rs_addr *to, const char *why);
/* +switch-master named the master: move there now. */
void rs_switch_to(struct rs *rs, const struct rs_addr *to);
/* +selected-slave: Sentinel is about to promote a replica of our master. Nothing more is sent
 * to it (operations queue) until +switch-master, or until timeout_ms pass (then resume). */
void rs_pause(struct rs *rs);
void rs_resume(struct rs *rs, const char *why);

/* Sentinel (redis_sentinel.c): asks the sentinels in turn for url.master_name, then connects
 * the command connection there (rs_conn_start with the address known), or reports the
 * failure through conn_lost; each watch connection subscribes to +selected-slave (a failover
 * begins: rs_pause) and +switch-master (it is done: rs_switch_to). */
void rs_sentinel_resolve(struct rs *rs);
void rs_sentinel_cancel(struct rs *rs);
void rs_sentinel_tick(struct rs *rs, int64_t now); /* the watchdog: query deadlines */
void rs_conn_lost(struct rs_conn *c, int kind, const char *why);

/* Operations waiting for the command connection (redis_exec.c). */
void rs_queue_flush(struct rs *rs);                 /* send them: cmd is up */
void rs_queue_fail(struct rs *rs, const char *why); /* answer them CP_ERR_UNAVAILABLE */
void rs_wait_cancel(struct rs *rs);                 /* destroy(): no more WAIT batches */

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
/* The fields of an agent and of a task in the order redis_reply.c reads a record: a script's
 * reply of a record as a table (agent_reply() / task_reply() in lua/common.lua), or a record as
 * stored (one value, layout 4: the first fields of A_REC / T_REC in lua/common.lua) put in this
 * order by rs_record_row(). */
enum { RS_AGENT_FIELDS = 31, RS_TASK_FIELDS = 24 };
extern const char *const rs_agent_fields[RS_AGENT_FIELDS];
extern const char *const rs_task_fields[RS_TASK_FIELDS];
/* The scripts' own fields, after those of the reply (the layout 4 upgrade writes them too). */
enum { RS_AGENT_OWN_FIELDS = 1, RS_TASK_OWN_FIELDS = 10 };
extern const char *const rs_agent_own_fields[RS_AGENT_OWN_FIELDS];
extern const char *const rs_task_own_fields[RS_TASK_OWN_FIELDS];
/* The packed est ("<input> <max_output>") and usage ("<input> <output> <cached>") members of a
 * task (x_enc() in lua/common.lua; not NUL-terminated, len 0: none) into t. */
void rs_task_tokens(const char *est, size_t est_len, const char *us, size_t us_len,
                    struct cp_task_view *t);
/* The record text (JSON object of string fields) into *row: an array of RS_AGENT_FIELDS or
 * RS_TASK_FIELDS values in the arena, in field order, nil where the record lacks the field
 * (redis_record.c). 0, RS_RECORD_MALFORMED or RS_RECORD_NOMEM. */
enum { RS_RECORD_MALFORMED = -1, RS_RECORD_NOMEM = -2 };
int rs_record_row(const char *text, size_t len, int is_agent, struct rs_arena *arena,
                  redisReply *row);
/* The packed rare members of a task (x_enc() in lua/common.lua: not_before, progress, ended
 * attempts, idempotency key, backoff, est, usage, tenant) into t, copies in the arena
 * (redis_fields.c). 0, RS_RECORD_MALFORMED or RS_RECORD_NOMEM. */
int rs_task_rare(const char *s, size_t len, struct rs_arena *arena, struct cp_task_view *t);
/* The reply of a GET of one record (redis_ops.c): the record, or CP_ERR_NOT_FOUND (nil). */
int rs_reply_parse_agent(const redisReply *reply, struct rs_arena *arena, struct cp_result *res);
int rs_reply_parse_task(const redisReply *reply, struct rs_arena *arena, struct cp_result *res);
/* The EXEC reply of GETs of agents (redis_list.c): the agents that still exist and have
 * `status` (-1: any), sorted by agent_id. */
int rs_reply_parse_agent_list(const redisReply *reply, int32_t status, struct rs_arena *arena,
                              struct cp_result *res);

/* An argument vector for one command (redis_args.c). */
/* Room inside the vector itself for a typical command (argument slots, and bytes for its
 * formatted numbers and optional strings): most operations then build their command without a
 * single allocation. A vector lives where it was declared (never copied: argv may point into it)
 * and starts zeroed (memset or args_begin). */
#define RS_ARGS_SMALL 24
#define RS_ARGS_POOL 256
struct rs_args {
    const char **argv;
    size_t *lens;
    int argc, cap;
    char **owned;
    int n_owned, cap_owned;
    int oom;
    size_t pool_used;
    const char *argv_small[RS_ARGS_SMALL];
    size_t lens_small[RS_ARGS_SMALL];
    char pool[RS_ARGS_POOL];
    const char *invalid; /* why the arguments cannot be sent, or NULL */
    /* A claim: its agent and token (borrowed), remembered by the op in case its reply is lost. */
    const char *claim_agent, *claim_token;
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

/* Running operations (redis_exec.c). What an op's reply is: the reply of script `script`, or
 * (script < 0) one record read with HMGET, RS_READ_AGENT or RS_READ_TASK, or a raw command's
 * (rs_send_raw). */
enum { RS_READ_AGENT = -1, RS_READ_TASK = -2, RS_RAW = -3 };
/* Sends the command built in `a` (and frees `a`); the callback runs exactly once. */
void rs_op_start(struct rs *rs, int script, struct rs_args *a, cp_storage_cb cb, void *cookie);
/* The same for a script call whose reply goes to raw() as it is (an error reply as it came,
 * NULL when the connection was lost); never held for WAIT. -1, and raw() never runs, when it
 * cannot be sent. */
typedef void (*rs_raw_cb)(struct rs *rs, const redisReply *reply, void *cookie);
int rs_op_start_raw(struct rs *rs, int script, struct rs_args *a, rs_raw_cb raw, void *cookie);
/* Answers cb at once: rc with a formatted message, outcome CP_OUTCOME_NOT_APPLIED. */
void rs_fail(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...) CP_PRINTF(4, 5);
/* Keeps a reply of the command connection past its callback (hiredis frees it on return);
 * rs_reply_release frees it later. Only with rs_reply_objects, for the reply being handled. */
void rs_reply_keep(redisReply *reply);
void rs_reply_release(redisReply *reply);
/* A raw command's reply (rs_raw_cb) is as Redis sent it: NULL when the connection was lost, an
 * error reply as it came (already logged). */
/* Send one command on the command connection (pipelined after what is already queued); raw()
 * then runs exactly once. -1, and raw() never runs, when it cannot be sent. */
int rs_send_raw(struct rs *rs, const char *what, int argc, const char **argv, const size_t *lens,
                rs_raw_cb raw, void *cookie);

/* One MGET of the records of agents ids[0..n) (lens NULL: C strings) on the command connection
 * (redis_list.c): one consistent snapshot; its reply an array of each record's text, nil for one
 * deleted. 0, or -1 (nothing sent, cb never runs). */
int rs_send_agent_records(struct rs *rs, const char *what, size_t n, const char *const *ids,
                          const size_t *lens, rs_raw_cb cb, void *cookie);

/* The change feed (redis_feed.c). */
typedef void (*rs_feed_cb)(void *arg, const struct cp_change *change);
/* A published message (common.lua, change()) to its changes, each handed to cb in order:
 * 0, or -1 when it is malformed (then nothing is handed over). */
int rs_feed_parse(const char *msg, size_t len, rs_feed_cb cb, void *arg);
int rs_feed(void *st, int on, rs_feed_cb on_change, void *arg); /* storage op feed() */
void rs_feed_resubscribe(struct rs_conn *c); /* a new pub/sub connection: subscribe if on */
void rs_feed_stop(struct rs *rs);            /* destroy(): no more timer, nothing handed over */
void rs_feed_free(struct rs *rs);
/* The agent cache's use of the feed: keeps the key alive and hands it every change while on.
 * 1 when the subscription is confirmed (the cache may load now), 0 when rs_cache_restart()
 * will be called once it is, or CP_ERR_*. */
int rs_feed_cache(struct rs *rs, int on);
int rs_feed_subscribed(const struct rs *rs);
void rs_feed_cmd_ready(struct rs *rs); /* a new command connection: the key refreshed now */

/* The agent cache (redis_cache.c): agent_list without a limit answered from memory. */
/* 0 or CP_ERR_NOMEM */
int rs_cache_create(struct rs *rs, int mode, int64_t resync_ms, int64_t idle_ms);
/* 1 when the cache took the list (answered now, or once its load or this process's own
 * re-reads are in), 0: ask Redis. */
int rs_cache_list(struct rs *rs, const struct cp_agent_filter *f, cp_storage_cb cb, void *cookie);
void rs_cache_change(struct rs *rs, const struct cp_change *c); /* a feed change */
/* This process's operation `script` (formatted as cmd) was answered res. */
void rs_cache_saw(struct rs *rs, int script, const char *cmd, int len, const struct cp_result *res);
/* Reconnected, (re)subscribed, or a gap: not used until loaded again (load started). */
void rs_cache_restart(struct rs *rs);
void rs_cache_stop(struct rs *rs); /* destroy() */
void rs_cache_free(struct rs *rs);
/* Lost replies (redis_fence.c). */
/* Queues, on a new command connection after the scripts are loaded and before any operation,
 * the raise of its epoch (the next of this instance); a refusal closes the connection. */
void rs_fence_connect(struct rs *rs, redisAsyncContext *ac);
/* Where argument `index` of a formatted command starts, or -1. */
int rs_fence_arg_offset(const char *cmd, int len, int index);
/* Writes the current epoch (RS_EPOCH_DIGITS digits) at `digits` in a formatted command. */
void rs_fence_stamp(const struct rs *rs, char *digits);
/* A claim's outcome is unknown (claim = "agent\0token\0", owned): release it once connected. */
void rs_fence_lost(struct rs *rs, char *claim);
/* Sends the claim_release call for what is remembered (cmd is up): after each reconnect. */
void rs_fence_flush(struct rs *rs);
void rs_fence_stop(struct rs *rs); /* destroy() */
void rs_fence_free(struct rs *rs); /* rs_free() */

/* The start of a script call's arguments: FCALL name (or EVALSHA sha), 1, the tag, ARGV[1]. */
void rs_args_begin(struct rs_args *a, struct rs *rs, int script);

/* Operations (redis_ops.c): the cp_storage_ops members. */
void rs_agent_register(void *st, const struct cp_agent_view *in, int64_t now_ms, cp_storage_cb cb,
                       void *cookie);
void rs_agent_get(void *st, const char *agent_id, cp_storage_cb cb, void *cookie);
void rs_agent_list(void *st, const struct cp_agent_filter *filter, cp_storage_cb cb, void *cookie);
/* agent_list read from Redis, never from the agent cache (capabilities already checked). */
void rs_agent_list_store(struct rs *rs, const struct cp_agent_filter *filter, cp_storage_cb cb,
                         void *cookie);
void rs_agent_drain(void *st, const char *agent_id, int drain, int64_t now_ms, cp_storage_cb cb,
                    void *cookie);
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
void rs_task_complete_next(void *st, const struct cp_transition *tr, const struct cp_claim *next,
                           cp_storage_cb cb, void *cookie);
void rs_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie);
/* redis_tenants.c: the tenant ops, and the tenants of a reply (borrowing r's strings; 0,
 * CP_ERR_NOMEM, or CP_ERR_UNAVAILABLE when malformed). */
void rs_tenant_put(void *st, const struct cp_tenant_view *t, cp_storage_cb cb, void *cookie);
void rs_tenant_delete(void *st, const char *tenant_id, cp_storage_cb cb, void *cookie);
void rs_tenant_list(void *st, cp_storage_cb cb, void *cookie);
int rs_reply_tenants(const redisReply *r, struct rs_arena *arena,
                     const struct cp_tenant_view *const **out, size_t *n);
/* redis_quota.c: the provider-quota ops; an agent's quota_scopes as an argument and from its
 * record (the field qsc); a reply's 17th member {quota_held, quotas} (borrowing r's strings;
 * 0, CP_ERR_NOMEM, or CP_ERR_UNAVAILABLE when malformed). */
void rs_quota_put(void *st, const struct cp_quota_view *q, cp_storage_cb cb, void *cookie);
void rs_quota_delete(void *st, const char *quota_id, cp_storage_cb cb, void *cookie);
void rs_quota_list(void *st, int64_t now_ms, cp_storage_cb cb, void *cookie);
void rs_args_scopes(struct rs_args *a, const struct cp_agent_view *in);
int rs_reply_scopes(const redisReply *r, struct rs_arena *arena, struct cp_agent_view *a);
int rs_reply_quotas(const redisReply *r, struct rs_arena *arena, struct cp_result *res);
/* redis_affinity.c: prompt-cache affinity's key -> agent memory (plain GET / SET PX). */
void rs_affinity_get(void *st, const char *key, int64_t now_ms, cp_storage_cb cb, void *cookie);
void rs_affinity_set(void *st, const struct cp_affinity *a, cp_storage_cb cb, void *cookie);
void rs_stats(void *st, cp_storage_cb cb, void *cookie);
void rs_task_extend(void *st, const struct cp_extend *x, cp_storage_cb cb, void *cookie);
void rs_task_retry(void *st, const struct cp_retry *r, cp_storage_cb cb, void *cookie);
void rs_task_purge(void *st, const struct cp_purge *p, cp_storage_cb cb, void *cookie);
void rs_task_submit_batch(void *st, const struct cp_task_view *const *tasks, size_t n,
                          cp_storage_cb cb, void *cookie);

#endif
