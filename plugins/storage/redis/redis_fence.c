/* redis_fence.c — making an operation whose reply was lost safe (docs/redis.md "Lost replies").
 *
 * When the command connection drops (watchdog, I/O error, failover) the operations in flight
 * are answered "may or may not have been applied" — and some of them may still be sitting in
 * Redis' socket buffer, to run later (a stopped server runs them once it continues). Two
 * mechanisms close that window:
 *  - connection epochs: each connect of the command connection takes the next epoch of this
 *    instance and raises {prefix}conn:<instance> to it (conn_epoch.lua, which begin() refuses
 *    if the stored epoch is newer: it never goes down) before any operation is sent; every
 *    script call carries the epoch of the connection it was sent on (stamped into its RESP at
 *    send time, so an operation re-sent after MOVED carries the new one), and begin() in
 *    common.lua refuses, without effect, a call whose epoch is older than the stored one. So an
 *    operation whose reply was lost either ran before the reconnect, or never runs.
 *  - claim tokens: each claim carries "<instance>:<n>", written into the task it claims. The
 *    claims whose outcome is unknown (reply lost) or unconfirmed (WAIT) are remembered here and
 *    released with ONE claim_release call once the connection works again (right after the
 *    epoch was raised): a task still claimed with that token goes back to pending at the front
 *    of its band, as if never handed out. The host hears of it through watch() ("pending" for
 *    the task, "room" for the agent), like a change made by another process.
 * Everything runs on the host's loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define EPOCH_TTL_S "86400" /* the epoch key outlives any connection; refreshed on each raise */
#define MAX_LOST 100000     /* claims remembered; beyond, their tasks wait for TASK_TIMEOUT */
#define PAIRS_PER_CALL 256  /* (agent, token) pairs per claim_release call */
#define RETRY_MS 1000       /* after an error reply to claim_release */

/* One claim whose outcome is unknown: "agent\0token\0" in one allocation. */
struct rs_lost {
    struct rs_lost *next;
    char *claim;
};

/* The reply of conn_epoch: anything but OK (an error, or STALE: a newer connection of ours
 * raised it, which cannot be) means this connection must not carry operations. */
static void on_raised(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac || c->broken) return;
    int ok = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
             reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer == 0;
    if (ok) return;
    char why[200];
    snprintf(why, sizeof why, "raising the connection epoch refused: %.120s",
             reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    rs_warn_limited(c->rs, RS_LIM_SETUP, "redis %s connection: %s", c->name, why);
    rs_conn_break(c, RS_DOWN_ROLE, why);
}

void rs_fence_connect(struct rs *rs, redisAsyncContext *ac)
{
    rs->epoch++;
    char argv1[sizeof rs->inst_epoch];
    snprintf(argv1, sizeof argv1, "%s:%0*llu", rs->inst, RS_EPOCH_DIGITS,
             (unsigned long long)(rs->epoch % 1000000000000ULL));
    const struct rs_script *sc = &rs_scripts[RS_CONN_EPOCH];
    const char *argv[6] = {rs->functions ? "FCALL" : "EVALSHA",
                           rs->functions ? sc->function : rs->shas[RS_CONN_EPOCH],
                           "1",
                           rs->tag,
                           argv1,
                           EPOCH_TTL_S};
    redisAsyncCommandArgv(ac, on_raised, NULL, 6, argv, NULL);
}

int rs_fence_arg_offset(const char *cmd, int len, int index)
{
    const char *p = memchr(cmd, '\n', (size_t)len), *end = cmd + len;
    if (!p) return -1;
    p++;
    for (int i = 0; p < end && *p == '$'; i++) {
        char *q;
        long n = strtol(p + 1, &q, 10);
        if (n < 0 || q + 2 > end || q[0] != '\r') return -1;
        p = q + 2;
        if (i == index) return (int)(p - cmd);
        if (n > end - p) return -1;
        p += n + 2;
    }
    return -1;
}

void rs_fence_stamp(const struct rs *rs, char *digits)
{
    char buf[RS_EPOCH_DIGITS + 1];
    snprintf(buf, sizeof buf, "%0*llu", RS_EPOCH_DIGITS,
             (unsigned long long)(rs->epoch % 1000000000000ULL));
    memcpy(digits, buf, RS_EPOCH_DIGITS);
}

static void lost_free(struct rs_lost *l)
{
    while (l) {
        struct rs_lost *next = l->next;
        free(l->claim);
        free(l);
        l = next;
    }
}

static void flush_later(struct rs *rs, uint64_t ms);

void rs_fence_lost(struct rs *rs, char *claim)
{
    struct rs_lost *l = NULL;
    if (rs->destroying || rs->n_lost >= MAX_LOST || !(l = malloc(sizeof *l))) {
        if (!rs->destroying)
            rs_warn_limited(rs, RS_LIM_OP_ERROR,
                            "redis: cannot remember the lost claim of %.100s; its task waits for "
                            "its timeout",
                            claim);
        free(claim);
        return;
    }
    l->claim = claim;
    l->next = rs->lost;
    rs->lost = l;
    rs->n_lost++;
    /* The reply was lost with the connection: rs_cmd_ready() releases it after the reconnect.
     * Unconfirmed by WAIT on a working connection: now. */
    if (rs->cmd.up) flush_later(rs, 0);
}

static void on_flush_timer(void *arg)
{
    struct rs *rs = arg;
    rs->fence_timer = NULL;
    rs_fence_flush(rs);
}

static void flush_later(struct rs *rs, uint64_t ms)
{
    if (!rs->fence_timer && !rs->destroying)
        rs->fence_timer = rs->host->timer_add(rs->host, ms, on_flush_timer, rs);
}

/* The claims of one claim_release call. */
struct release_batch {
    struct rs_lost *head;
    size_t n;
};

static void batch_restore(struct rs *rs, struct release_batch *b)
{
    struct rs_lost *tail = b->head;
    while (tail && tail->next)
        tail = tail->next;
    if (tail) {
        tail->next = rs->lost;
        rs->lost = b->head;
        rs->n_lost += b->n;
    }
    b->head = NULL;
}

static void on_released(struct rs *rs, const redisReply *reply, void *cookie)
{
    struct release_batch *b = cookie;
    rs->releasing = 0;
    struct rs_arena arena = {NULL};
    struct cp_result res;
    int rc = reply ? rs_reply_parse(reply, &arena, &res) : CP_ERR_UNAVAILABLE;
    if (rc != 0 || rs->destroying) {
        /* Not run, or not known to have run: it is idempotent, so send it again — after the
         * reconnect (connection lost), or in a moment (an error reply: OOM, BUSY...). */
        if (reply && !rs->destroying)
            rs_warn_limited(rs, RS_LIM_OP_ERROR, "redis: releasing %zu lost claim(s): %.200s", b->n,
                            rc == 0       ? ""
                            : res.message ? res.message
                                          : "error");
        batch_restore(rs, b);
        if (reply && rs->cmd.up) flush_later(rs, RETRY_MS);
    } else {
        lost_free(b->head);
        if (res.n_events)
            rs->host->log(rs->host, CP_LOG_INFO,
                          "redis: released %zu task(s) whose claim replies were lost (%zu "
                          "claim(s) checked)",
                          res.n_events, b->n);
        rs->n_released += res.n_events;
        /* Tell the host as another process's change would: the task is claimable, its agent
         * has room (wakes the claims held for either). */
        for (size_t i = 0; i < res.n_events && rs->on_change && !rs->destroying; i++) {
            const struct cp_event *e = &res.events[i];
            if (e->task_id) rs->on_change(rs->on_change_arg, "pending", e->task_id);
            if (e->agent_id && rs->on_change) rs->on_change(rs->on_change_arg, "room", e->agent_id);
        }
        if (rs->lost && rs->cmd.up) flush_later(rs, 0); /* more than one call's worth */
    }
    rs_arena_free(&arena);
    free(b);
}

void rs_fence_flush(struct rs *rs)
{
    if (!rs->lost || rs->releasing || rs->destroying || !rs->cmd.up) return;
    struct release_batch *b = calloc(1, sizeof *b);
    if (!b) {
        flush_later(rs, RETRY_MS);
        return;
    }
    struct rs_args a;
    rs_args_begin(&a, rs, RS_CLAIM_RELEASE);
    struct rs_lost **tail = &b->head;
    while (rs->lost && b->n < PAIRS_PER_CALL) {
        struct rs_lost *l = rs->lost;
        rs->lost = l->next;
        rs->n_lost--;
        l->next = NULL;
        *tail = l;
        tail = &l->next;
        b->n++;
        const char *agent = l->claim, *token = agent + strlen(agent) + 1;
        args_str(&a, agent);
        args_str(&a, token);
    }
    rs->releasing = 1;
    if (rs_op_start_raw(rs, RS_CLAIM_RELEASE, &a, on_released, b) != 0) {
        rs->releasing = 0;
        batch_restore(rs, b);
        free(b);
        flush_later(rs, RETRY_MS);
    }
}

void rs_fence_stop(struct rs *rs)
{
    if (rs->fence_timer) rs->host->timer_cancel(rs->host, rs->fence_timer);
    rs->fence_timer = NULL;
    if (rs->n_lost)
        rs->host->log(rs->host, CP_LOG_WARN,
                      "redis: %zu claim(s) whose replies were lost were not released before "
                      "shutdown; their tasks are requeued by their timeout",
                      rs->n_lost);
}

void rs_fence_free(struct rs *rs)
{
    lost_free(rs->lost);
    rs->lost = NULL;
    rs->n_lost = 0;
}
