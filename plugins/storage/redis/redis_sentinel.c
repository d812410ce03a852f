/* redis_sentinel.c — asking Sentinel where the master is, asynchronously on the host's loop,
 * and acting on its events (+selected-slave: hold operations; +switch-master: move at once)
 * (the blocking start-up version is in redis_startup.c).
 *
 * As Redis' Sentinel client guidelines describe: the sentinels are asked in turn, starting with
 * the one that answered last, each with a short timeout (at most 1 s); one that is down, does
 * not answer, refuses AUTH or does not know the master name is skipped. The first address
 * given is where the command connection goes; its setup then checks ROLE (a sentinel may lag
 * behind a failover), and a wrong role or a READONLY reply sends it back here. When no sentinel
 * answers, the command connection is down (503) and retries with backoff.
 *
 * One query at a time (rs->query). Its context is ours alone; callbacks for a context that is
 * no longer q->ac are stale and ignored (same scheme as redis_conn.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "redis_int.h"

#define ASK_TIMEOUT_MAX_MS 1000

struct rs_sentinel_query {
    struct rs *rs;
    int idx;   /* the sentinel asked now */
    int tried; /* how many of them were asked in this round */
    redisAsyncContext *ac;
    int64_t deadline;
    char why[200]; /* the last failure, for the log */
};

static void ask(struct rs_sentinel_query *q);

static void release(struct rs_sentinel_query *q)
{
    redisAsyncContext *ac = q->ac;
    q->ac = NULL;
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

static void finish(struct rs_sentinel_query *q)
{
    struct rs *rs = q->rs;
    release(q);
    if (rs->query == q) rs->query = NULL;
    free(q);
}

/* This sentinel failed (why): the next one, or the end of the round. */
static void next(struct rs_sentinel_query *q, const char *why)
{
    struct rs *rs = q->rs;
    char where[RS_HOST_MAX + 16];
    rs_addr_format(&rs->url.addrs[q->idx], where, sizeof where);
    snprintf(q->why, sizeof q->why, "sentinel %.60s: %.120s", where, why);
    rs->host->log(rs->host, CP_LOG_DEBUG, "redis: %s", q->why);
    release(q);
    if (++q->tried < rs->url.n_addrs) {
        q->idx = (q->idx + 1) % rs->url.n_addrs;
        ask(q);
        return;
    }
    char msg[260];
    snprintf(msg, sizeof msg, "no sentinel named master '%s' (last: %s)", rs->url.master_name,
             q->why);
    finish(q);
    rs_conn_lost(&rs->cmd, RS_DOWN_IO, msg);
}

static void on_addr(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_sentinel_query *q = ac->data;
    if (!q || q->ac != ac) return;
    struct rs *rs = q->rs;
    if (!reply) {
        next(q, "connection lost");
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "get-master-addr-by-name refused: %.120s", reply->str);
        next(q, why);
        return;
    }
    struct rs_addr m;
    int rc = rs_parse_master_addr(reply, &m);
    if (rc <= 0) {
        next(q, rc == 0 ? "does not know the master name" : "unexpected reply");
        return;
    }
    rs->sentinel_first = q->idx;
    rs->master = m;
    rs->master_known = 1;
    finish(q); /* frees ac after this callback (hiredis defers it) */
    rs_enter(rs);
    if (!rs->destroying) rs_conn_start(&rs->cmd);
    rs_leave(rs);
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_sentinel_query *q = ac->data;
    if (!q || q->ac != ac || !reply || reply->type != REDIS_REPLY_ERROR) return;
    char why[160];
    snprintf(why, sizeof why, "AUTH refused: %.120s", reply->str);
    next(q, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rs_sentinel_query *q = ac->data;
    if (!q || q->ac != ac || status == REDIS_OK) return;
    char why[160];
    snprintf(why, sizeof why, "%s", ac->errstr[0] ? ac->errstr : "connect failed");
    q->ac = NULL; /* hiredis frees it after this callback, and q may be gone by then */
    ((redisAsyncContext *)ac)->data = NULL;
    next(q, why);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct rs_sentinel_query *q = ac->data;
    if (!q || q->ac != ac) return;
    q->ac = NULL; /* being freed by hiredis */
    ((redisAsyncContext *)ac)->data = NULL;
    next(q, "connection closed");
}

static void ask(struct rs_sentinel_query *q)
{
    struct rs *rs = q->rs;
    const struct rs_addr *a = &rs->url.addrs[q->idx];
    int timeout = rs->timeout_ms < ASK_TIMEOUT_MAX_MS ? rs->timeout_ms : ASK_TIMEOUT_MAX_MS;
    q->deadline = rs_mono_ms() + timeout;
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
    if (!ac) {
        next(q, "out of memory");
        return;
    }
    if (ac->err || redisLibeventAttach(ac, rs->base) != REDIS_OK) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->err ? ac->errstr : "cannot attach to the event loop");
        redisAsyncFree(ac);
        next(q, why);
        return;
    }
    ac->data = q;
    q->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (rs->url.sentinel_password) {
        const char *argv[2] = {"AUTH", rs->url.sentinel_password};
        redisAsyncCommandArgv(ac, on_auth, NULL, 2, argv, NULL);
    }
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", rs->url.master_name};
    redisAsyncCommandArgv(ac, on_addr, NULL, 3, argv, NULL);
}

void rs_sentinel_resolve(struct rs *rs)
{
    if (rs->query || rs->destroying) return;
    struct rs_sentinel_query *q = calloc(1, sizeof(*q));
    if (!q) {
        rs_conn_lost(&rs->cmd, RS_DOWN_IO, "out of memory");
        return;
    }
    q->rs = rs;
    q->idx = rs->sentinel_first % rs->url.n_addrs;
    rs->query = q;
    ask(q);
}

void rs_sentinel_cancel(struct rs *rs)
{
    if (rs->query) finish(rs->query);
}

void rs_sentinel_tick(struct rs *rs, int64_t now)
{
    struct rs_sentinel_query *q = rs->query;
    if (q && q->ac && now > q->deadline) {
        char why[64];
        snprintf(
            why, sizeof why, "no answer within %lld ms",
            (long long)(rs->timeout_ms < ASK_TIMEOUT_MAX_MS ? rs->timeout_ms : ASK_TIMEOUT_MAX_MS));
        next(q, why);
    }
}

/* ---- following Sentinel's events (the watch connections: redis_conn.c) ---- */

void rs_switch_to(struct rs *rs, const struct rs_addr *to)
{
    char dest[RS_HOST_MAX + 16];
    rs_addr_format(to, dest, sizeof dest);
    if (rs_addr_eq(to, &rs->master) && !rs->paused_until && (rs->cmd.ac || rs->switching))
        return; /* there already, or on the way */
    rs->host->log(rs->host, CP_LOG_WARN, "redis: Sentinel switched master '%s' to %s",
                  rs->url.master_name, dest);
    rs_sentinel_cancel(rs);
    rs->paused_until = 0;
    rs->master = *to;
    rs->master_known = 1;
    rs->switching = 1;
    /* At once: the old master may still take writes that the switch will discard. Operations
     * in flight there are answered CP_OUTCOME_UNKNOWN. */
    if (rs->cmd.ac) {
        rs_conn_drop(&rs->cmd, RS_DOWN_MOVE, "+switch-master");
    } else if (!rs->cmd.retry || rs->cmd.backoff_ms) {
        if (rs->cmd.retry) rs->host->timer_cancel(rs->host, rs->cmd.retry);
        rs->cmd.retry = NULL;
        rs_conn_start(&rs->cmd);
    }
}

void rs_pause(struct rs *rs)
{
    if (rs->paused_until || !rs->cmd.up) return; /* down already: nothing goes out anyway */
    char at[RS_HOST_MAX + 16];
    rs_addr_format(&rs->master, at, sizeof at);
    rs->host->log(rs->host, CP_LOG_WARN,
                  "redis: Sentinel is failing master '%s' (%s) over; holding operations until "
                  "+switch-master (at most %d ms)",
                  rs->url.master_name, at, rs->timeout_ms);
    rs->paused_until = rs_mono_ms() + rs->timeout_ms;
    /* Writes sent to the old master from now on could be confirmed by a replica that is not
     * the one promoted, and then lost: nothing more goes out, operations queue. */
    rs->switching = 1;
    rs->cmd.up = 0;
}

void rs_resume(struct rs *rs, const char *why)
{
    if (!rs->paused_until) return;
    rs->paused_until = 0;
    rs->host->log(rs->host, CP_LOG_WARN, "redis: resuming operations on %s (%s)",
                  rs->url.master_name, why);
    if (rs->cmd.ac && !rs->cmd.broken && !rs->cmd.moving && !rs->cmd.connecting_since) {
        rs->cmd.up = 1;
        rs->switching = 0;
        rs_queue_flush(rs);
    }
}
