/* redis_exec.c — running one operation on the command connection: send its formatted command,
 * and turn what comes back into exactly one callback.
 *
 * Besides the reply itself an operation may meet:
 *  - NOSCRIPT / "Function not found" (flushed scripts, a fresh replica): load and retry once;
 *  - MOVED (Redis Cluster: the slot is served elsewhere; the command did NOT run): the
 *    connection moves to the named node once the replies still in flight are in, and the
 *    operation is sent again there (at most RS_MAX_REDIRECTS times). Operations started while
 *    the connection moves wait in rs->queue instead of failing;
 *  - ASK (the slot is being migrated): a script touches keys on both sides of a migration, so
 *    it is not sent to the importing node; the operation fails, not applied (see docs/redis.md);
 *  - READONLY (the node became a replica): the connection is remade on the master;
 *  - wait_replicas: a write's reply is held until a WAIT sent after it says enough replicas
 *    have it (one WAIT covers every write sent before it in the same loop iteration);
 *  - a lost connection: the reply never comes.
 * A failure carries what the operation may have done (cp_result.outcome): NOT_APPLIED when it
 * was never sent or Redis said it did not run (MOVED, ASK, an error reply), UNKNOWN when it was
 * sent and its reply was lost, UNCONFIRMED when it ran but WAIT did not confirm it. A script call
 * carries the epoch of the connection it is sent on (stamped at each send), and a claim whose
 * outcome is UNKNOWN or UNCONFIRMED is handed to redis_fence.c, which releases it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define MAX_QUEUED 100000

struct rs_op {
    struct rs *rs;
    int script; /* a script id, RS_READ_AGENT / RS_READ_TASK (HMGET), or RS_RAW */
    char *cmd;  /* formatted RESP, freed with redisFreeCommand */
    int len;
    int retried;       /* NOSCRIPT: loaded again and resent once */
    int redirects;     /* MOVED hops so far */
    int maybe_applied; /* sent, and no reply has said it did not run */
    int write;         /* confirmed by WAIT when wait_replicas > 0 */
    int epoch_at;      /* offset of the epoch digits in cmd (script calls), or -1 */
    char *claim;       /* a claim: "agent\0token\0" (owned), released if its reply is lost */
    cp_storage_cb cb;
    void *cookie;
    rs_raw_cb raw;        /* set: the reply goes to raw() as it is (rs_send_raw); cb is unused */
    const char *what;     /* raw: the command, for the log */
    struct rs_op *next;   /* rs->queue */
    struct rs_wait *wait; /* the WAIT batch that confirms it, or NULL */
    struct rs_op *wprev, *wnext;
    redisReply *held; /* its reply while the WAIT is out (rs_reply_keep) */
};

struct rs_wait {
    struct rs *rs;
    struct rs_op *head, *tail; /* the writes it confirms, in send order */
    redisAsyncContext *ac;     /* where they were sent */
};

static const char *op_name(const struct rs_op *op)
{
    return op->raw                       ? op->what
           : op->script == RS_READ_AGENT ? "agent read"
           : op->script == RS_READ_TASK  ? "task read"
                                         : rs_scripts[op->script].name;
}

static void fail_v(cp_storage_cb cb, void *cookie, int rc, int outcome, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct cp_result res;
    memset(&res, 0, sizeof(res));
    res.size = sizeof(res);
    res.rc = rc;
    res.message = msg;
    res.outcome = outcome;
    cb(cookie, &res);
}

void rs_fail(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(cb, cookie, rc, CP_OUTCOME_NOT_APPLIED, fmt, ap);
    va_end(ap);
}

static void op_free(struct rs_op *op)
{
    free(op->claim);
    if (op->held) rs_reply_release(op->held);
    redisFreeCommand(op->cmd);
    free(op);
}

/* Ends op with CP_ERR_UNAVAILABLE (a raw op gets NULL: it decides itself) and frees it. */
static void op_fail(struct rs_op *op, int outcome, const char *fmt, ...) CP_PRINTF(3, 4);
static void op_fail(struct rs_op *op, int outcome, const char *fmt, ...)
{
    if (op->claim && outcome != CP_OUTCOME_NOT_APPLIED) { /* it may have claimed a task */
        rs_fence_lost(op->rs, op->claim);
        op->claim = NULL;
    }
    if (op->raw) {
        op->raw(op->rs, NULL, op->cookie);
    } else {
        va_list ap;
        va_start(ap, fmt);
        fail_v(op->cb, op->cookie, CP_ERR_UNAVAILABLE, outcome, fmt, ap);
        va_end(ap);
    }
    op_free(op);
}

/* Ends op with its reply and frees it. */
static void op_deliver(struct rs_op *op, const redisReply *reply)
{
    struct rs *rs = op->rs;
    if (op->raw) {
        op->raw(rs, reply, op->cookie);
    } else {
        struct rs_arena arena = {NULL};
        struct cp_result res;
        int rc = op->script == RS_READ_AGENT  ? rs_reply_parse_agent(reply, &arena, &res)
                 : op->script == RS_READ_TASK ? rs_reply_parse_task(reply, &arena, &res)
                                              : rs_reply_parse(reply, &arena, &res);
        if (rc == CP_ERR_UNAVAILABLE)
            rs->host->log(rs->host, CP_LOG_ERROR, "redis: %s: %s", op_name(op), res.message);
        else
            rs_cache_saw(rs, op->script, op->cmd, op->len, &res); /* before the host reads */
        op->cb(op->cookie, &res);
        rs_arena_free(&arena);
    }
    op_free(op);
}

/* ---- WAIT batches ------------------------------------------------------------------------ */

static void wait_detach(struct rs_op *op)
{
    struct rs_wait *w = op->wait;
    if (!w) return;
    if (op->wprev)
        op->wprev->wnext = op->wnext;
    else
        w->head = op->wnext;
    if (op->wnext)
        op->wnext->wprev = op->wprev;
    else
        w->tail = op->wprev;
    op->wait = NULL;
    op->wprev = op->wnext = NULL;
}

/* Every write of w: delivered (confirmed) or failed UNCONFIRMED / UNKNOWN; then w is freed. */
static void wait_settle(struct rs *rs, struct rs_wait *w, int confirmed, const char *why)
{
    size_t failed = 0;
    while (w->head) {
        struct rs_op *op = w->head;
        wait_detach(op);
        if (!op->held) continue; /* its reply has not come: its own callback settles it */
        redisReply *held = op->held;
        op->held = NULL;
        if (confirmed) {
            op_deliver(op, held);
        } else {
            failed++;
            op_fail(op, CP_OUTCOME_UNCONFIRMED,
                    "redis: the write was not confirmed by %d replica(s) within %d ms (%s); it "
                    "may or may not have been applied",
                    rs->wait_replicas, rs->wait_timeout_ms, why);
        }
        rs_reply_release(held);
    }
    free(w);
    if (failed) {
        rs->n_unconfirmed += failed;
        rs_warn_limited(rs, RS_LIM_WAIT,
                        "redis: %zu write(s) not confirmed by %d replica(s) within %d ms (%s)",
                        failed, rs->wait_replicas, rs->wait_timeout_ms, why);
    }
}

static void on_wait(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    redisReply *reply = r;
    struct rs_wait *w = priv;
    struct rs *rs = w->rs;
    rs_enter(rs);
    rs->inflight--;
    rs->last_progress = rs_mono_ms();
    char why[96];
    int ok = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= rs->wait_replicas;
    if (!reply)
        snprintf(why, sizeof why, "connection lost");
    else if (reply->type == REDIS_REPLY_INTEGER)
        snprintf(why, sizeof why, "%lld acknowledged", (long long)reply->integer);
    else
        snprintf(why, sizeof why, "WAIT: %.60s", reply->str ? reply->str : "unexpected reply");
    wait_settle(rs, w, ok, why);
    if (rs->cmd.moving && rs->inflight == 0) rs_conn_break(&rs->cmd, RS_DOWN_MOVE, "MOVED");
    rs_leave(rs);
}

/* Sends the open batch's WAIT (end of the loop iteration in which its writes were sent). */
static void wait_flush(void *arg)
{
    struct rs *rs = arg;
    rs->wait_flush = NULL;
    struct rs_wait *w = rs->wait_open;
    rs->wait_open = NULL;
    if (!w) return;
    rs_enter(rs);
    if (!w->head) {
        free(w);
    } else if (w->ac == rs->cmd.ac && rs->cmd.ac && !rs->destroying) {
        char n[16], t[16];
        snprintf(n, sizeof n, "%d", rs->wait_replicas);
        snprintf(t, sizeof t, "%d", rs->wait_timeout_ms);
        const char *argv[3] = {"WAIT", n, t};
        if (redisAsyncCommandArgv(w->ac, on_wait, w, 3, argv, NULL) == REDIS_OK)
            rs->inflight++;
        else
            wait_settle(rs, w, 0, "WAIT could not be sent");
    } else {
        wait_settle(rs, w, 0, "connection lost before WAIT");
    }
    rs_leave(rs);
}

static void wait_join(struct rs *rs, struct rs_op *op)
{
    struct rs_wait *w = rs->wait_open;
    if (w && w->ac != rs->cmd.ac) { /* sent elsewhere: send that WAIT now */
        if (rs->wait_flush) rs->host->timer_cancel(rs->host, rs->wait_flush);
        wait_flush(rs);
        w = NULL;
    }
    if (!w) {
        if (!(w = calloc(1, sizeof(*w)))) return; /* unconfirmed: answered as without WAIT */
        w->rs = rs;
        w->ac = rs->cmd.ac;
        rs->wait_open = w;
        if (!rs->wait_flush) rs->wait_flush = rs->host->timer_add(rs->host, 0, wait_flush, rs);
    }
    op->wait = w;
    op->wprev = w->tail;
    if (w->tail)
        w->tail->wnext = op;
    else
        w->head = op;
    w->tail = op;
}

void rs_wait_cancel(struct rs *rs)
{
    if (rs->wait_flush) rs->host->timer_cancel(rs->host, rs->wait_flush);
    rs->wait_flush = NULL;
    struct rs_wait *w = rs->wait_open;
    rs->wait_open = NULL;
    if (w) wait_settle(rs, w, 0, "shutting down");
}

/* ---- sending ----------------------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *r, void *priv);

static int op_send(struct rs_op *op)
{
    struct rs *rs = op->rs;
    if (rs->destroying || !rs->cmd.up || !rs->cmd.ac) return -1;
    if (op->epoch_at >= 0) rs_fence_stamp(rs, op->cmd + op->epoch_at);
    if (redisAsyncFormattedCommand(rs->cmd.ac, on_reply, op, op->cmd, (size_t)op->len) != REDIS_OK)
        return -1;
    op->maybe_applied = 1;
    if (rs->inflight++ == 0) rs->last_progress = rs_mono_ms();
    if (op->write && rs->wait_replicas > 0) wait_join(rs, op);
    return 0;
}

static void queue_push(struct rs *rs, struct rs_op *op)
{
    op->next = NULL;
    if (rs->queue.tail)
        rs->queue.tail->next = op;
    else
        rs->queue.head = op;
    rs->queue.tail = op;
    rs->queue.n++;
}

static struct rs_op *queue_pop(struct rs *rs)
{
    struct rs_op *op = rs->queue.head;
    if (!op) return NULL;
    rs->queue.head = op->next;
    if (!rs->queue.head) rs->queue.tail = NULL;
    rs->queue.n--;
    op->next = NULL;
    return op;
}

void rs_queue_flush(struct rs *rs)
{
    struct rs_op *op;
    rs_enter(rs);
    while (rs->cmd.up && (op = queue_pop(rs)))
        if (op_send(op) != 0)
            op_fail(op, CP_OUTCOME_NOT_APPLIED, "redis: not sent: %s", "connection lost");
    rs_leave(rs);
}

void rs_queue_fail(struct rs *rs, const char *why)
{
    struct rs_op *op;
    rs_enter(rs);
    while ((op = queue_pop(rs)))
        op_fail(op, CP_OUTCOME_NOT_APPLIED, "redis: not sent: %.200s", why);
    rs_leave(rs);
}

/* Sends op now, or queues it while the connection moves to a node Redis named. 0, or -1 when
 * it can be neither (op untouched). */
static int op_dispatch(struct rs_op *op)
{
    struct rs *rs = op->rs;
    if (rs->destroying) return -1;
    if (rs->cmd.up) {
        if (rs->queue.head) rs_queue_flush(rs); /* in order: what waited goes first */
        return op_send(op);
    }
    if ((rs->switching || rs->cmd.moving) && rs->queue.n < MAX_QUEUED) {
        queue_push(rs, op);
        return 0;
    }
    return -1;
}

static void on_script_reload(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    (void)priv;
    if (reply && c && reply->type == REDIS_REPLY_ERROR)
        rs_warn_limited(c->rs, RS_LIM_OP_ERROR, "redis: reloading the scripts failed: %.200s",
                        reply->str);
}

/* An error reply: 1 when the operation goes on (resent, or queued after MOVED), 0 when it
 * ends with this error. */
static int on_error(redisAsyncContext *ac, redisReply *reply, struct rs_op *op)
{
    struct rs *rs = op->rs;
    int current = ac == rs->cmd.ac;
    int ask, slot;
    struct rs_addr to;
    if (rs_parse_redirect(reply->str, reply->len, &ask, &slot, &to) == 0) {
        op->maybe_applied = 0; /* Redis did not run it */
        if (!to.host[0]) snprintf(to.host, sizeof(to.host), "%s", rs->cmd.addr.host);
        char dest[RS_HOST_MAX + 16];
        rs_addr_format(&to, dest, sizeof dest);
        if (ask) {
            rs_warn_limited(rs, RS_LIM_REDIRECT,
                            "redis: slot %d is being migrated to %s; operations that need the "
                            "whole slot answer 503 until the migration ends",
                            slot, dest);
            return 0;
        }
        rs->n_redirects++;
        if (current && !rs->cmd.broken) {
            if (!rs_addr_eq(&to, &rs->master) || !rs->cmd.moving)
                rs_warn_limited(rs, RS_LIM_REDIRECT, "redis: slot %d moved to %s; following", slot,
                                dest);
            rs_move_to(rs, &to, "MOVED");
        }
        if (op->raw || op->redirects >= RS_MAX_REDIRECTS) return 0;
        op->redirects++;
        queue_push(rs, op); /* sent again once connected to the new owner */
        return 1;
    }
    /* The script cache or the functions were flushed (SCRIPT FLUSH, FUNCTION FLUSH, a failover
     * to a fresh replica): load again and retry once; both go out back to back. */
    int gone = op->script < 0  ? 0
               : rs->functions ? strstr(reply->str, "Function not found") != NULL
                               : strncmp(reply->str, "NOSCRIPT", 8) == 0;
    if (!op->retried && gone && current && rs->cmd.up && !rs->destroying) {
        op->retried = 1;
        if (rs->functions) {
            const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", rs_library};
            size_t lens[4] = {8, 4, 7, rs_library_len};
            redisAsyncCommandArgv(ac, on_script_reload, NULL, 4, argv, lens);
        } else {
            const struct rs_script *s = &rs_scripts[op->script];
            const char *argv[3] = {"SCRIPT", "LOAD", s->text};
            size_t lens[3] = {6, 4, s->len};
            redisAsyncCommandArgv(ac, on_script_reload, NULL, 3, argv, lens);
        }
        if (op_send(op) == 0) return 1;
    }
    rs_warn_limited(rs, RS_LIM_OP_ERROR, "redis: %s: %.200s", op_name(op), reply->str);
    /* A failover turned our server into a replica: find the master again instead of failing
     * every write on this connection. */
    if (strncmp(reply->str, "READONLY", 8) == 0 && current)
        rs_conn_break(&rs->cmd, RS_DOWN_ROLE, "the server is a read-only replica");
    return 0;
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    struct rs_op *op = priv;
    struct rs *rs = op->rs;
    rs_enter(rs);
    rs->inflight--;
    rs->last_progress = rs_mono_ms();
    if (!reply) {
        wait_detach(op);
        op_fail(op, CP_OUTCOME_UNKNOWN,
                "redis: connection lost before the reply; the operation may or may not have "
                "been applied");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        wait_detach(op);
        if (!on_error(ac, reply, op)) {
            if (op->raw) {
                op->raw(rs, reply, op->cookie);
                op_free(op);
            } else {
                op_fail(op, CP_OUTCOME_NOT_APPLIED, "redis: %.200s", reply->str);
            }
        } else if (rs->cmd.up && !rs->cmd.moving) {
            rs_queue_flush(rs); /* redirected by an old connection: the current one takes it */
        }
    } else if (op->wait) {
        op->held = reply; /* kept past this callback until the WAIT answers */
        rs_reply_keep(reply);
    } else {
        op_deliver(op, reply);
    }
    if (rs->cmd.moving && rs->inflight == 0) rs_conn_break(&rs->cmd, RS_DOWN_MOVE, "MOVED");
    rs_leave(rs);
}

/* A new op like `tmpl` carrying argv as RESP, sent or queued: 0, or CP_ERR_NOMEM /
 * CP_ERR_UNAVAILABLE when it was not (then nothing is left to free and no callback will run).
 * tmpl->claim (heap, or NULL) becomes the op's, freed with it either way. */
static int op_create_send(struct rs_op *tmpl, int argc, const char **argv, const size_t *lens)
{
    struct rs_op *op = malloc(sizeof(*op));
    char *cmd = NULL;
    int len = op ? rs_format_command(&cmd, argc, argv, lens) : -1;
    if (len < 0) {
        free(tmpl->claim);
        free(op);
        return CP_ERR_NOMEM;
    }
    *op = *tmpl;
    op->cmd = cmd;
    op->len = len;
    op->epoch_at = -1;
    if (tmpl->script >= 0) { /* ARGV[1] "<inst>:<epoch>" is the 5th argument (rs_args_begin) */
        int at = rs_fence_arg_offset(cmd, len, 4);
        if (at < 0 || len - at < (int)strlen(tmpl->rs->inst_epoch)) {
            op_free(op);
            return CP_ERR_INVALID;
        }
        op->epoch_at = at + (int)strlen(tmpl->rs->inst_epoch) - RS_EPOCH_DIGITS;
    }
    if (op_dispatch(op) != 0) {
        op_free(op);
        return CP_ERR_UNAVAILABLE;
    }
    return 0;
}

static int is_write(int script)
{
    return script >= 0 && script != RS_TASK_LIST && script != RS_STATS;
}

void rs_op_start(struct rs *rs, int script, struct rs_args *a, cp_storage_cb cb, void *cookie)
{
    if (a->oom) {
        args_free(a);
        rs_fail(cb, cookie, CP_ERR_NOMEM, "redis: out of memory");
        return;
    }
    if (a->invalid) {
        const char *why = a->invalid;
        args_free(a);
        rs_fail(cb, cookie, CP_ERR_INVALID, "%s", why);
        return;
    }
    struct rs_op tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.rs = rs;
    tmpl.script = script;
    tmpl.write = is_write(script);
    tmpl.cb = cb;
    tmpl.cookie = cookie;
    if (a->claim_agent && a->claim_token) { /* kept by the op: "agent\0token\0" */
        size_t na = strlen(a->claim_agent) + 1, nt = strlen(a->claim_token) + 1;
        if (!(tmpl.claim = malloc(na + nt))) {
            args_free(a);
            rs_fail(cb, cookie, CP_ERR_NOMEM, "redis: out of memory");
            return;
        }
        memcpy(tmpl.claim, a->claim_agent, na);
        memcpy(tmpl.claim + na, a->claim_token, nt);
    }
    int rc = op_create_send(&tmpl, a->argc, a->argv, a->lens);
    args_free(a);
    if (rc == CP_ERR_NOMEM)
        rs_fail(cb, cookie, CP_ERR_NOMEM, "redis: out of memory");
    else if (rc)
        rs_fail(cb, cookie, CP_ERR_UNAVAILABLE, "redis: %s is unreachable", rs->url.display);
}

int rs_send_raw(struct rs *rs, const char *what, int argc, const char **argv, const size_t *lens,
                rs_raw_cb raw, void *cookie)
{
    struct rs_op tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.rs = rs;
    tmpl.script = RS_RAW;
    tmpl.raw = raw;
    tmpl.what = what;
    tmpl.cookie = cookie;
    return op_create_send(&tmpl, argc, argv, lens) ? -1 : 0;
}

int rs_op_start_raw(struct rs *rs, int script, struct rs_args *a, rs_raw_cb raw, void *cookie)
{
    int bad = a->oom || a->invalid;
    struct rs_op tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.rs = rs;
    tmpl.script = script;
    tmpl.raw = raw;
    tmpl.what = rs_scripts[script].name;
    tmpl.cookie = cookie;
    int rc = bad ? -1 : op_create_send(&tmpl, a->argc, a->argv, a->lens);
    args_free(a);
    return rc ? -1 : 0;
}
