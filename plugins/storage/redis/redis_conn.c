/* redis_conn.c — the plugin's asynchronous Redis connections, kept alive on the host's event
 * loop: commands, pub/sub wake-ups, and (Sentinel) the +switch-master subscription. Reconnect
 * with capped exponential backoff; on every (re)connect AUTH/SELECT, check that the node is the
 * master (ROLE) and, in a cluster, that it serves the tag's slot (a key of the slot answers
 * MOVED if not), reload the scripts and raise the connection epoch, then release the claims
 * whose replies were lost (commands; redis_fence.c) or resubscribe (pub/sub); a watchdog drops
 * a connection whose connect or replies hang.
 *
 * Where the command connection goes: rs->master. It changes when Redis names the master (MOVED,
 * Sentinel's get-master-addr-by-name or +switch-master: the next connect goes there at once),
 * or when the current one fails (Sentinel: ask the sentinels again; otherwise the next of the
 * url's node and its `nodes` seeds, with backoff). The pub/sub connection follows it.
 *
 * Ownership: hiredis owns a redisAsyncContext once connected and frees it after the disconnect
 * callback; c->ac is cleared first whenever this file gives a context up, so a callback for a
 * context that is no longer c->ac is stale and ignored. While c->up is 0 no command is sent:
 * operations fail at once with CP_ERR_UNAVAILABLE, or wait in rs->queue while the connection
 * moves to a node Redis named (see redis_exec.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <cp/time.h>

#include <hiredis/adapters/libevent.h>

#include "redis_int.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define WATCHDOG_MS 250
#define WARN_EVERY_MS 10000

int64_t rs_mono_ms(void)
{
    return cp_monotonic_us() / 1000;
}

void rs_enter(struct rs *rs)
{
    rs->depth++;
}

void rs_leave(struct rs *rs)
{
    if (--rs->depth == 0 && rs->destroying && rs->inflight == 0) rs_free(rs);
}

void rs_warn_limited(struct rs *rs, int slot, const char *fmt, ...)
{
    struct rs_limit *l = &rs->limits[slot];
    int64_t now = rs_mono_ms();
    if (l->last_ms && now - l->last_ms < WARN_EVERY_MS) {
        l->suppressed++;
        return;
    }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->suppressed)
        rs->host->log(rs->host, CP_LOG_WARN, "%s (%llu more like it in the last %lld s)", msg,
                      (unsigned long long)l->suppressed, (long long)(now - l->last_ms) / 1000);
    else
        rs->host->log(rs->host, CP_LOG_WARN, "%s", msg);
    l->last_ms = now;
    l->suppressed = 0;
}

static void conn_retry(void *arg);
static void on_setup_reply(redisAsyncContext *ac, void *r, void *what);

static void addr_str(const struct rs_addr *a, char *buf, size_t n)
{
    if (a->port)
        rs_addr_format(a, buf, n);
    else
        snprintf(buf, n, "(unknown)");
}

/* What the next attempt of the command connection targets after a failure of `kind`. */
static void cmd_next_target(struct rs *rs, int kind)
{
    if (kind == RS_DOWN_MOVE) return; /* rs->master was named: go there */
    rs->switching = 0;
    if (rs->url.sentinel) {
        rs->master_known = 0; /* ask the sentinels again */
    } else {
        rs->master = rs->url.addrs[rs->next_seed];
        rs->next_seed = (rs->next_seed + 1) % rs->url.n_addrs;
    }
}

/* The connection is gone (or never came): schedule the next attempt. Idempotent. */
void rs_conn_lost(struct rs_conn *c, int kind, const char *why)
{
    struct rs *rs = c->rs;
    c->ac = NULL;
    c->up = 0;
    c->connecting_since = 0;
    c->moving = 0;
    if (rs->destroying) return;
    if (c->kind == RS_CONN_CMD) {
        if (kind == RS_DOWN_MOVE && ++rs->moves_in_row > RS_MAX_REDIRECTS) {
            rs_warn_limited(rs, RS_LIM_REDIRECT,
                            "redis: %d moves in a row without a working connection; backing off",
                            rs->moves_in_row);
            kind = RS_DOWN_IO;
            rs->moves_in_row = 0;
        }
        if (kind != RS_DOWN_MOVE) rs_queue_fail(rs, why ? why : "connection lost");
        cmd_next_target(rs, kind);
    }
    char where[RS_HOST_MAX + 16];
    addr_str(&c->addr, where, sizeof where);
    if (!c->down_since) {
        c->down_since = rs_mono_ms();
        if (kind == RS_DOWN_MOVE)
            rs->host->log(rs->host, CP_LOG_INFO, "redis %s connection leaves %s (%s)", c->name,
                          where, why ? why : "moved");
        else
            rs_warn_limited(rs, RS_LIM_LOST + c->kind,
                            "redis %s connection to %s lost (%s); reconnecting", c->name, where,
                            why ? why : "unknown error");
    } else {
        rs->host->log(rs->host, CP_LOG_DEBUG, "redis %s reconnect to %s failed (%s)", c->name,
                      where, why ? why : "unknown error");
    }
    if (c->retry) return;
    uint64_t delay;
    if (kind == RS_DOWN_MOVE) {
        delay = 0;
    } else {
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
        if (c->backoff_ms > BACKOFF_MAX_MS) c->backoff_ms = BACKOFF_MAX_MS;
        delay = c->backoff_ms;
    }
    c->retry = rs->host->timer_add(rs->host, delay, conn_retry, c);
    if (!c->retry)
        rs->host->log(rs->host, CP_LOG_ERROR,
                      "redis %s connection: cannot add a timer; not reconnecting", c->name);
}

static void conn_retry(void *arg)
{
    struct rs_conn *c = arg;
    c->retry = NULL;
    if (!c->rs->destroying && !c->ac) rs_conn_start(c);
}

/* Gives a context up: our callbacks must ignore it from now on (ac->data cleared first). */
static void release_ac(redisAsyncContext *ac)
{
    ac->data = NULL;
    redisAsyncFree(ac); /* pending operations are answered with NULL: CP_ERR_UNAVAILABLE */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rs_conn *c = ac->data;
    if (!c || c->ac != ac) return;
    if (status != REDIS_OK) { /* hiredis frees ac after this callback */
        rs_conn_lost(c, RS_DOWN_IO, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    /* Connected; usable once Redis has answered the setup (see on_ready): a stopped server
     * still accepts TCP connections. The watchdog keeps timing the connect until then. */
}

/* The setup's last reply arrived (PING, or the SUBSCRIBE confirmation): the connection works. */
static void conn_ready(struct rs_conn *c)
{
    struct rs *rs = c->rs;
    if (c->broken || !c->connecting_since) return;
    c->connecting_since = 0;
    c->up = 1;
    c->backoff_ms = 0;
    if (c->kind == RS_CONN_CMD) {
        rs_cmd_ready(rs);
        return;
    }
    if (c->down_since) {
        char where[RS_HOST_MAX + 16];
        addr_str(&c->addr, where, sizeof where);
        rs->host->log(rs->host, CP_LOG_INFO, "redis %s connection to %s back after %lld ms",
                      c->name, where, (long long)(rs_mono_ms() - c->down_since));
        c->down_since = 0;
    }
}

void rs_cmd_ready(struct rs *rs)
{
    rs->paused_until = 0;
    struct rs_conn *c = &rs->cmd;
    char now_at[RS_HOST_MAX + 16], was[RS_HOST_MAX + 16];
    addr_str(&rs->master, now_at, sizeof now_at);
    addr_str(&rs->last_up, was, sizeof was);
    rs->last_progress = rs_mono_ms();
    rs->moves_in_row = 0;
    rs->switching = 0;
    if (c->down_since) {
        rs->n_reconnects++;
        rs->host->log(rs->host, CP_LOG_INFO, "redis command connection to %s back after %lld ms",
                      now_at, (long long)(rs_mono_ms() - c->down_since));
        c->down_since = 0;
    }
    if (rs->last_up.port && !rs_addr_eq(&rs->last_up, &rs->master)) {
        rs->n_failovers++;
        rs->host->log(rs->host, CP_LOG_WARN, "redis: following the master to %s (was %s)", now_at,
                      was);
    }
    rs->last_up = rs->master;
    /* Wake-ups follow the master: resubscribe there if the pub/sub connection is elsewhere. */
    if (rs->sub.ac && !rs_addr_eq(&rs->sub.addr, &rs->master))
        rs_conn_break(&rs->sub, RS_DOWN_MOVE, "the master moved");
    rs_fence_flush(rs); /* the epoch is raised: undo the claims whose replies were lost */
    /* The feed key again at once (a restarted or promoted server may not have it: the scripts
     * would publish nothing), then the agent cache's load behind it. */
    rs_feed_cmd_ready(rs);
    rs_cache_restart(rs); /* writes may have been lost (a failover): read the agents again */
    rs_queue_flush(rs);
}

static void on_ready(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        on_setup_reply(ac, r, "PING");
        return;
    }
    conn_ready(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rs_conn *c = ac->data;
    if (!c || c->ac != ac) return;
    rs_conn_lost(c, c->broken ? c->broken_kind : RS_DOWN_IO,
                 c->broken            ? c->broken_why
                 : status == REDIS_OK ? "closed"
                                      : (ac->errstr[0] ? ac->errstr : "I/O error"));
}

static void drop_broken(void *arg)
{
    struct rs_conn *c = arg;
    struct rs *rs = c->rs;
    c->drop_timer = NULL;
    if (rs->destroying || !c->ac || !c->broken) return;
    rs_enter(rs); /* dropping runs callbacks, which may destroy() */
    rs_conn_drop(c, c->broken_kind, c->broken_why);
    rs_leave(rs);
}

void rs_conn_break(struct rs_conn *c, int kind, const char *why)
{
    struct rs *rs = c->rs;
    c->up = 0;
    if (c->broken || !c->ac) return;
    c->broken = "broken";
    c->broken_kind = kind;
    /* Cut to fit (a long server message is only for the log). */
    snprintf(c->broken_why, sizeof(c->broken_why), "%.*s", (int)sizeof(c->broken_why) - 1, why);
    /* Closed outside hiredis' callback (a subscribed context cannot be closed gracefully);
     * the watchdog does it too if the timer cannot be had. */
    if (!c->drop_timer) c->drop_timer = rs->host->timer_add(rs->host, 0, drop_broken, c);
}

/* Replies to AUTH / SELECT / SCRIPT LOAD / FUNCTION LOAD / SUBSCRIBE sent ahead of everything
 * else. An error here (wrong password, flushed ACL, READONLY...) closes the connection. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *what)
{
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac || reply->type != REDIS_REPLY_ERROR || c->broken) return;
    struct rs *rs = c->rs;
    char why[160];
    snprintf(why, sizeof why, "%s refused: %.120s", (const char *)what, reply->str);
    char where[RS_HOST_MAX + 16];
    addr_str(&c->addr, where, sizeof where);
    rs_warn_limited(rs, RS_LIM_SETUP, "redis %s connection to %s: %s", c->name, where, why);
    rs_conn_break(c, RS_DOWN_ROLE, why);
}

/* ROLE on the command connection: only a master is used (a replica in a cluster also answers
 * MOVED to the slot probe that follows, which then says where to go). */
static void on_role(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac || c->broken) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        on_setup_reply(ac, r, "ROLE");
        return;
    }
    c->role = rs_parse_role(reply);
    if (c->role == RS_ROLE_MASTER || (c->role == RS_ROLE_REPLICA && c->rs->cluster)) return;
    rs_conn_break(c, RS_DOWN_ROLE,
                  c->role == RS_ROLE_REPLICA    ? "it is a replica, not the master"
                  : c->role == RS_ROLE_SENTINEL ? "it is a Sentinel, not a data node"
                                                : "ROLE: unexpected reply");
}

/* EXISTS <a key of the tag's slot> (cluster): MOVED names the node that serves it. */
static void on_probe(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac || c->broken) return;
    struct rs *rs = c->rs;
    if (reply->type != REDIS_REPLY_ERROR) {
        if (c->role != RS_ROLE_MASTER) rs_conn_break(c, RS_DOWN_ROLE, "a replica serves the slot");
        return;
    }
    int ask, slot;
    struct rs_addr to;
    if (rs_parse_redirect(reply->str, reply->len, &ask, &slot, &to) == 0) {
        if (ask) return; /* ours, migrating away: keys not yet moved are served here */
        if (!to.host[0]) snprintf(to.host, sizeof(to.host), "%s", c->addr.host);
        rs->n_redirects++;
        rs->master = to;
        rs->master_known = 1;
        rs->switching = 1;
        char dest[RS_HOST_MAX + 16];
        rs_addr_format(&to, dest, sizeof dest);
        char why[RS_HOST_MAX + 64];
        snprintf(why, sizeof why, "slot %d is served by %s", slot, dest);
        rs_conn_break(c, RS_DOWN_MOVE, why);
        return;
    }
    on_setup_reply(ac, r, "the slot check (EXISTS)");
}

/* Pub/sub: "<kind> <id> <instance>" on {prefix}events; our own messages are ignored. */
static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        on_setup_reply(ac, r, "SUBSCRIBE");
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    const redisReply *type = reply->element[0], *payload = reply->element[2];
    if (type->type == REDIS_REPLY_STRING && strcmp(type->str, "subscribe") == 0) {
        conn_ready(c);
        return;
    }
    if (type->type != REDIS_REPLY_STRING || strcmp(type->str, "message") != 0 ||
        payload->type != REDIS_REPLY_STRING)
        return;
    struct rs *rs = c->rs;
    char buf[512];
    if (payload->len >= sizeof(buf)) return;
    memcpy(buf, payload->str, payload->len);
    buf[payload->len] = '\0';
    char *kind = buf, *id = strchr(buf, ' ');
    char *inst = id ? strchr(id + 1, ' ') : NULL;
    if (!inst) return;
    *id++ = '\0';
    *inst++ = '\0';
    rs_enter(rs);
    if (strcmp(inst, rs->inst) != 0 && rs->on_change && !rs->destroying)
        rs->on_change(rs->on_change_arg, kind, id);
    rs_leave(rs);
}

/* Sentinel's events: +selected-slave (a failover of our master begins: pause), +switch-master
 * "<name> <old ip> <old port> <new ip> <new port>" (it is done: move at once). */
static void on_switch(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        on_setup_reply(ac, r, "SUBSCRIBE +switch-master");
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    const redisReply *type = reply->element[0], *chan = reply->element[1],
                     *payload = reply->element[2];
    if (type->type == REDIS_REPLY_STRING && strcmp(type->str, "subscribe") == 0) {
        if (payload->type == REDIS_REPLY_INTEGER && payload->integer == 2) conn_ready(c);
        return;
    }
    if (type->type != REDIS_REPLY_STRING || strcmp(type->str, "message") != 0 ||
        chan->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING)
        return;
    struct rs *rs = c->rs;
    struct rs_addr to;
    int selected = strcmp(chan->str, "+selected-slave") == 0;
    int rc = selected
                 ? rs_parse_selected(payload->str, payload->len, rs->url.master_name, &to)
                 : rs_parse_switch_master(payload->str, payload->len, rs->url.master_name, &to);
    if (rc < 0) {
        rs_warn_limited(rs, RS_LIM_REDIRECT, "redis: malformed %.40s message ignored", chan->str);
        return;
    }
    if (rc == 0) return; /* another master */
    rs_enter(rs);
    if (!rs->destroying && !selected) rs_switch_to(rs, &to);
    if (!rs->destroying && selected && rs_addr_eq(&to, &rs->master)) rs_pause(rs);
    rs_leave(rs);
}

void rs_conn_init(struct rs *rs, struct rs_conn *c, const char *name, int kind)
{
    memset(c, 0, sizeof(*c));
    c->rs = rs;
    c->name = name;
    c->kind = kind;
}

static void setup_auth(redisAsyncContext *ac, const char *user, const char *password)
{
    if (!password) return;
    const char *argv[3] = {"AUTH", user ? user : password, password};
    redisAsyncCommandArgv(ac, on_setup_reply, "AUTH", user ? 3 : 2, argv, NULL);
}

void rs_conn_start(struct rs_conn *c)
{
    struct rs *rs = c->rs;
    if (c->kind == RS_CONN_CMD && rs->url.sentinel && !rs->master_known) {
        rs_sentinel_resolve(rs); /* connects here again once a sentinel named the master */
        return;
    }
    const struct rs_addr *a = c->kind == RS_CONN_WATCH ? &rs->url.addrs[c->target] : &rs->master;
    if (!a->port) {
        rs_conn_lost(c, RS_DOWN_IO, "the master is not known yet");
        return;
    }
    c->addr = *a;
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
    if (!ac) {
        rs_conn_lost(c, RS_DOWN_IO, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        release_ac(ac);
        rs_conn_lost(c, RS_DOWN_IO, why);
        return;
    }
    if (redisLibeventAttach(ac, rs->base) != REDIS_OK) {
        release_ac(ac);
        rs_conn_lost(c, RS_DOWN_IO, "cannot attach to the event loop");
        return;
    }
    ac->data = c;
    ac->c.reader->fn = &rs_reply_objects;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisEnableKeepAlive(&ac->c);
    c->ac = ac;
    c->broken = NULL;
    c->role = RS_ROLE_UNKNOWN;
    c->connecting_since = rs_mono_ms();
    /* Queued now, sent first once connected: nothing can overtake them on this connection. */
    if (c->kind == RS_CONN_WATCH) {
        setup_auth(ac, NULL, rs->url.sentinel_password);
        const char *argv[3] = {"SUBSCRIBE", "+switch-master", "+selected-slave"};
        redisAsyncCommandArgv(ac, on_switch, NULL, 3, argv, NULL);
        return;
    }
    setup_auth(ac, rs->url.user, rs->url.password);
    if (rs->url.db && !rs->cluster) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rs->url.db);
        const char *argv[2] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_setup_reply, "SELECT", 2, argv, NULL);
    }
    if (c->kind == RS_CONN_SUB) {
        const char *argv[2] = {"SUBSCRIBE", rs->channel};
        redisAsyncCommandArgv(ac, on_message, NULL, 2, argv, NULL);
        rs_feed_resubscribe(c);
        return;
    }
    const char *role[1] = {"ROLE"};
    redisAsyncCommandArgv(ac, on_role, NULL, 1, role, NULL);
    if (rs->cluster) {
        const char *argv[2] = {"EXISTS", rs->probe_key};
        redisAsyncCommandArgv(ac, on_probe, NULL, 2, argv, NULL);
    }
    if (rs->functions) {
        const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", rs_library};
        size_t lens[4] = {8, 4, 7, rs_library_len};
        redisAsyncCommandArgv(ac, on_setup_reply, "FUNCTION LOAD", 4, argv, lens);
    }
    for (int i = 0; !rs->functions && i < RS_SCRIPT_COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", rs_scripts[i].text};
        size_t lens[3] = {6, 4, rs_scripts[i].len};
        redisAsyncCommandArgv(ac, on_setup_reply, "SCRIPT LOAD", 3, argv, lens);
    }
    /* Before any operation: from now on, what an older connection left in Redis' buffers is
     * refused when it runs (a refused raise closes this connection like any setup error). */
    rs_fence_connect(rs, ac);
    const char *ping[1] = {"PING"};
    redisAsyncCommandArgv(ac, on_ready, NULL, 1, ping, NULL);
}

void rs_conn_drop(struct rs_conn *c, int kind, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (!ac) return;
    char copy[160];
    snprintf(copy, sizeof copy, "%s", why); /* why may live in c (broken_why) */
    rs_conn_lost(c, kind, copy);
    release_ac(ac);
}

void rs_conn_stop(struct rs_conn *c)
{
    struct rs *rs = c->rs;
    if (c->retry) {
        rs->host->timer_cancel(rs->host, c->retry);
        c->retry = NULL;
    }
    if (c->drop_timer) {
        rs->host->timer_cancel(rs->host, c->drop_timer);
        c->drop_timer = NULL;
    }
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    c->up = 0;
    if (ac) release_ac(ac);
}

void rs_move_to(struct rs *rs, const struct rs_addr *to, const char *why)
{
    struct rs_conn *c = &rs->cmd;
    rs->master = *to;
    rs->master_known = 1;
    rs->switching = 1;
    if (!c->ac) return; /* the next connect goes there */
    c->up = 0;
    c->moving = 1;
    /* Replies still in flight are awaited (each says whether its operation ran); redis_exec.c
     * calls rs_conn_break once the last is in. */
    if (rs->inflight == 0) rs_conn_break(c, RS_DOWN_MOVE, why);
}

/* Drops a connection whose connect, or whose oldest reply, takes longer than timeout_ms (a
 * hung or partitioned server would otherwise hold requests until TCP gives up). Monotonic
 * time: the host's clock may be a test's fake. */
static void watchdog_tick(void *arg)
{
    struct rs *rs = arg;
    rs->watchdog = NULL;
    if (rs->destroying) return;
    rs_enter(rs); /* dropping a connection runs callbacks, which may destroy() */
    int64_t now = rs_mono_ms();
    if (rs->paused_until && now > rs->paused_until) rs_resume(rs, "no +switch-master in time");
    for (int i = 0; i < 2 + RS_MAX_ADDRS; i++) {
        struct rs_conn *c = i == 0 ? &rs->cmd : i == 1 ? &rs->sub : &rs->watch[i - 2];
        if (c->ac && c->broken)
            rs_conn_drop(c, c->broken_kind, c->broken_why);
        else if (c->ac && c->connecting_since && now - c->connecting_since > rs->timeout_ms)
            rs_conn_drop(c, RS_DOWN_IO, "connect timed out");
    }
    if (rs->cmd.ac && rs->inflight > 0 && now - rs->last_progress > rs->timeout_ms) {
        char why[96];
        snprintf(why, sizeof(why), "no reply for %lld ms", (long long)(now - rs->last_progress));
        rs_conn_drop(&rs->cmd, RS_DOWN_IO, why);
    }
    rs_sentinel_tick(rs, now);
    rs_watchdog_start(rs);
    rs_leave(rs);
}

void rs_watchdog_start(struct rs *rs)
{
    if (!rs->watchdog && !rs->destroying)
        rs->watchdog = rs->host->timer_add(rs->host, WATCHDOG_MS, watchdog_tick, rs);
}
