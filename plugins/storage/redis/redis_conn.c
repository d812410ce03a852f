/* redis_conn.c — the plugin's two asynchronous Redis connections (commands; pub/sub wake-ups),
 * kept alive on the host's event loop: reconnect with capped exponential backoff, AUTH/SELECT,
 * reload the scripts (commands) or resubscribe (pub/sub) on every (re)connect, and a watchdog
 * that drops a connection whose connect or replies hang.
 *
 * Ownership: hiredis owns a redisAsyncContext once connected and frees it after the disconnect
 * callback; c->ac is cleared first whenever this file gives a context up, so a callback for a
 * context that is no longer c->ac is stale and ignored. While c->up is 0 no command is sent:
 * operations fail at once with CP_ERR_UNAVAILABLE (see redis_ops.c).
 */
#include <stdio.h>
#include <string.h>
#include <cp/time.h>

#include <hiredis/adapters/libevent.h>

#include "redis_int.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define WATCHDOG_MS 250

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

static void conn_retry(void *arg);
static void on_setup_reply(redisAsyncContext *ac, void *r, void *what);

/* The connection is gone (or never came): schedule the next attempt. Idempotent. */
static void conn_lost(struct rs_conn *c, const char *why)
{
    struct rs *rs = c->rs;
    c->ac = NULL;
    c->up = 0;
    c->connecting_since = 0;
    if (rs->destroying) return;
    if (!c->down_since) {
        c->down_since = rs_mono_ms();
        rs->host->log(rs->host, CP_LOG_WARN, "redis %s connection to %s lost (%s); reconnecting",
                      c->name, rs->url.display, why ? why : "unknown error");
    } else {
        rs->host->log(rs->host, CP_LOG_DEBUG, "redis %s reconnect to %s failed (%s)", c->name,
                      rs->url.display, why ? why : "unknown error");
    }
    if (c->retry) return;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (c->backoff_ms > BACKOFF_MAX_MS) c->backoff_ms = BACKOFF_MAX_MS;
    c->retry = rs->host->timer_add(rs->host, c->backoff_ms, conn_retry, c);
    if (!c->retry)
        rs->host->log(rs->host, CP_LOG_ERROR,
                      "redis %s connection: cannot add a timer; not "
                      "reconnecting",
                      c->name);
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
        conn_lost(c, ac->errstr[0] ? ac->errstr : "connect failed");
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
    if (c == &rs->cmd) rs->last_progress = rs_mono_ms();
    if (c->down_since) {
        rs->host->log(rs->host, CP_LOG_INFO, "redis %s connection to %s back after %lld ms",
                      c->name, rs->url.display, (long long)(rs_mono_ms() - c->down_since));
        c->down_since = 0;
    }
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
    conn_lost(c, status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "I/O error"));
}

/* Replies to AUTH / SELECT / SCRIPT LOAD / SUBSCRIBE sent ahead of everything else. An error
 * here (wrong password, flushed ACL...) closes the connection; the backoff retries. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *what)
{
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac || reply->type != REDIS_REPLY_ERROR) return;
    struct rs *rs = c->rs;
    rs->host->log(rs->host, CP_LOG_ERROR, "redis %s connection to %s: %s refused: %.200s", c->name,
                  rs->url.display, (const char *)what, reply->str);
    /* Nothing more is sent; the watchdog closes it outside hiredis' callback (a subscribed
     * context cannot be closed gracefully). */
    c->up = 0;
    c->broken = "setup refused";
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

void rs_conn_init(struct rs *rs, struct rs_conn *c, const char *name, int is_sub)
{
    memset(c, 0, sizeof(*c));
    c->rs = rs;
    c->name = name;
    c->is_sub = is_sub;
}

void rs_conn_start(struct rs_conn *c)
{
    struct rs *rs = c->rs;
    redisAsyncContext *ac = redisAsyncConnect(rs->url.host, rs->url.port);
    if (!ac) {
        conn_lost(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        release_ac(ac);
        conn_lost(c, why);
        return;
    }
    if (redisLibeventAttach(ac, rs->base) != REDIS_OK) {
        release_ac(ac);
        conn_lost(c, "cannot attach to the event loop");
        return;
    }
    ac->data = c;
    ac->c.reader->fn = &rs_reply_objects;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisEnableKeepAlive(&ac->c);
    c->ac = ac;
    c->broken = NULL;
    c->connecting_since = rs_mono_ms();
    /* Queued now, sent first once connected: nothing can overtake them on this connection. */
    if (rs->url.password) {
        const char *argv[3] = {"AUTH", rs->url.user ? rs->url.user : rs->url.password,
                               rs->url.password};
        redisAsyncCommandArgv(ac, on_setup_reply, "AUTH", rs->url.user ? 3 : 2, argv, NULL);
    }
    if (rs->url.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rs->url.db);
        const char *argv[2] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_setup_reply, "SELECT", 2, argv, NULL);
    }
    if (c->is_sub) {
        const char *argv[2] = {"SUBSCRIBE", rs->channel};
        redisAsyncCommandArgv(ac, on_message, NULL, 2, argv, NULL);
        return;
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
    const char *ping[1] = {"PING"};
    redisAsyncCommandArgv(ac, on_ready, NULL, 1, ping, NULL);
}

void rs_conn_drop(struct rs_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (!ac) return;
    conn_lost(c, why);
    release_ac(ac);
}

void rs_conn_stop(struct rs_conn *c)
{
    struct rs *rs = c->rs;
    if (c->retry) {
        rs->host->timer_cancel(rs->host, c->retry);
        c->retry = NULL;
    }
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    c->up = 0;
    if (ac) release_ac(ac);
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
    struct rs_conn *conns[2] = {&rs->cmd, &rs->sub};
    for (int i = 0; i < 2; i++) {
        struct rs_conn *c = conns[i];
        if (c->ac && c->broken)
            rs_conn_drop(c, c->broken);
        else if (c->ac && c->connecting_since && now - c->connecting_since > rs->timeout_ms)
            rs_conn_drop(c, "connect timed out");
    }
    if (rs->cmd.ac && rs->inflight > 0 && now - rs->last_progress > rs->timeout_ms) {
        char why[96];
        snprintf(why, sizeof(why), "no reply for %lld ms", (long long)(now - rs->last_progress));
        rs_conn_drop(&rs->cmd, why);
    }
    rs_watchdog_start(rs);
    rs_leave(rs);
}

void rs_watchdog_start(struct rs *rs)
{
    if (!rs->watchdog && !rs->destroying)
        rs->watchdog = rs->host->timer_add(rs->host, WATCHDOG_MS, watchdog_tick, rs);
}
