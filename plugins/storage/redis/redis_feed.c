/* redis_feed.c — the change feed (storage op feed(), ABI 2.4): every change any cpd process
 * makes to the deployment, in Redis' order, for the host's event stream.
 *
 * The scripts publish their changes on the channel "{prefix}feed" while the key "{prefix}feed"
 * exists (common.lua, change()); the key is also the counter that numbers them, so a change has
 * the same number in every process. Every process subscribes to the channel on its pub/sub
 * connection (again after every reconnect; subscribe() says why always); one with its feed on
 * keeps the key alive (SET NX PX and PEXPIRE every RS_FEED_REFRESH_MS, TTL RS_FEED_TTL_MS) and
 * hands the messages over. When every process has turned its feed off,
 * the key expires within RS_FEED_TTL_MS and the scripts stop publishing: a process without an
 * event-stream client costs nothing, and every process costs one EXISTS per changing script
 * call while none streams.
 *
 * A change may be missed while the pub/sub connection is down or the key was lost (a failover
 * to a replica that had not received it): then the host is told CP_CHANGE_GAP.
 *
 * Counter start: the key is created at (wall clock ms) x 1000, so numbers keep growing when it
 * expires and is created again (as long as fewer than 1000 changes per ms were made in
 * between); an event-stream client's Last-Event-ID from before is then simply older than
 * anything kept.
 *
 * Messages are treated as hostile: parsed within bounds, ids checked against the host's
 * identifier rules, numbers range-checked; a malformed message is dropped as a gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_int.h"

#define RS_FEED_TTL_MS 30000
#define RS_FEED_REFRESH_MS 10000

struct rs_feed {
    int on;       /* the host's event stream reads it */
    int cache_on; /* the agent cache (redis_cache.c) reads it */
    void (*on_change)(void *arg, const struct cp_change *change);
    void *arg;
    struct cp_timer *refresh;
    int subscribing; /* SUBSCRIBE sent on the current pub/sub connection */
    int subscribed;  /* ... and confirmed */
    int ever;        /* confirmed at least once while the feed was on */
    int key_known;   /* a refresh found the key (or made it) */
    uint64_t last;   /* the number of the last change handed over */
    char *key;       /* "{prefix}feed": the flag, the counter and the channel */
};

/* ---- the feed --------------------------------------------------------------------------- */

static void tell_gap(struct rs *rs)
{
    struct rs_feed *f = rs->feed;
    if (f && f->cache_on) rs_cache_restart(rs);
    if (!f || !f->on || !f->on_change) return;
    struct cp_change gap = {.size = sizeof gap,
                            .kind = CP_CHANGE_GAP,
                            .seq = f->last,
                            .old_status = -1,
                            .new_status = -1,
                            .old_circuit = -1,
                            .new_circuit = -1,
                            .priority = -1};
    f->on_change(f->arg, &gap);
}

static void hand_over(void *arg, const struct cp_change *c)
{
    struct rs *rs = arg;
    struct rs_feed *f = rs->feed;
    if (!f || rs->destroying) return;
    if (c->seq <= f->last) return; /* a replay (re-subscribed to a message already seen) */
    f->last = c->seq;
    if (f->cache_on) rs_cache_change(rs, c);
    if (f->on && f->on_change) f->on_change(f->arg, c);
}

static void refresh(void *arg);

static void on_feed_message(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    struct rs_conn *c = ac->data;
    if (!reply || !c || c->ac != ac || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    struct rs *rs = c->rs;
    struct rs_feed *f = rs->feed;
    const redisReply *type = reply->element[0], *payload = reply->element[2];
    if (!f || type->type != REDIS_REPLY_STRING) return;
    rs_enter(rs);
    if (strcmp(type->str, "subscribe") == 0) {
        /* Back after a loss: what was published meanwhile never reached us, and the key may
         * have gone with the server (a restart, a failover): made again at once, not at the
         * next refresh (the gap is told here, not again when SET NX finds the key missing). */
        int back = (f->on || f->cache_on) && f->ever && !f->subscribed;
        f->subscribed = 1;
        f->ever = f->on || f->cache_on;
        if (back) {
            f->key_known = 0;
            if (f->refresh) rs->host->timer_cancel(rs->host, f->refresh);
            f->refresh = NULL;
            refresh(rs);
            tell_gap(rs); /* after the key: the cache's load goes out behind it */
        } else if (f->cache_on) {
            rs_cache_restart(rs); /* the first subscription since it was switched on */
        }
    } else if ((f->on || f->cache_on) && strcmp(type->str, "message") == 0 &&
               payload->type == REDIS_REPLY_STRING) {
        if (rs_feed_parse(payload->str, payload->len, hand_over, rs) < 0) {
            rs_warn_limited(rs, RS_LIM_OP_ERROR,
                            "redis: a malformed change feed message (%zu bytes) was dropped",
                            (size_t)payload->len);
            tell_gap(rs);
        }
    }
    rs_leave(rs);
}

/* The feed's state, made on first use; NULL when out of memory. */
static struct rs_feed *feed_state(struct rs *rs)
{
    if (rs->feed) return rs->feed;
    struct rs_feed *f = calloc(1, sizeof *f);
    size_t n = strlen(rs->tag) + sizeof "feed";
    char *key = f ? malloc(n) : NULL;
    if (!key) {
        free(f);
        return NULL;
    }
    snprintf(key, n, "%sfeed", rs->tag);
    f->key = key;
    return rs->feed = f;
}

/* Every pub/sub connection subscribes to the channel as soon as it is made, whether or not the
 * feed is on (messages are then dropped unread), so that turning the feed on needs only the key:
 * it is set on the command connection, ahead of every later call of this process, so the first
 * event-stream client sees every change made after it connected — a SUBSCRIBE sent only then
 * could be confirmed after the first changes were published. The cost: while some process
 * streams, every process receives the messages. It also stays subscribed: hiredis 0.14 forgets
 * a channel's callback when an UNSUBSCRIBE reply arrives, which would race a SUBSCRIBE sent
 * right after. */
static void subscribe(struct rs_conn *c)
{
    struct rs_feed *f = c->rs->feed;
    if (!f || !c->ac || f->subscribing) return;
    f->subscribing = 1;
    const char *argv[2] = {"SUBSCRIBE", f->key};
    redisAsyncCommandArgv(c->ac, on_feed_message, NULL, 2, argv, NULL);
}

void rs_feed_resubscribe(struct rs_conn *c)
{
    struct rs_feed *f = feed_state(c->rs);
    if (!f) return;                     /* out of memory: feed() will fail too */
    f->subscribing = f->subscribed = 0; /* a new connection */
    subscribe(c);
}

static void ignore(struct rs *rs, const redisReply *reply, void *cookie)
{
    (void)rs, (void)reply, (void)cookie;
}

static void on_refreshed(struct rs *rs, const redisReply *reply, void *cookie)
{
    (void)cookie;
    struct rs_feed *f = rs->feed;
    if (!f || !(f->on || f->cache_on) || !reply) return;
    /* SET NX answers OK only when the key was not there: after a refresh had found it, the
     * key was lost (expired while no process refreshed it, or a failover) and changes may
     * have gone unpublished. */
    if (reply->type == REDIS_REPLY_STATUS && f->key_known) {
        rs_enter(rs);
        tell_gap(rs);
        rs_leave(rs);
    }
    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_NIL) f->key_known = 1;
}

static void refresh(void *arg)
{
    struct rs *rs = arg;
    struct rs_feed *f = rs->feed;
    if (!f) return;
    f->refresh = NULL;
    if (!(f->on || f->cache_on) || rs->destroying) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char start[32], ttl[16];
    snprintf(start, sizeof start, "%lld",
             ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) * 1000LL);
    snprintf(ttl, sizeof ttl, "%d", RS_FEED_TTL_MS);
    const char *set[6] = {"SET", f->key, start, "NX", "PX", ttl};
    size_t set_lens[6] = {3, strlen(f->key), strlen(start), 2, 2, strlen(ttl)};
    const char *pexpire[3] = {"PEXPIRE", f->key, ttl};
    size_t pexpire_lens[3] = {7, strlen(f->key), strlen(ttl)};
    if (rs_send_raw(rs, "feed key (SET NX)", 6, set, set_lens, on_refreshed, NULL) == 0)
        (void)rs_send_raw(rs, "feed key (PEXPIRE)", 3, pexpire, pexpire_lens, ignore, NULL);
    f->refresh = rs->host->timer_add(rs->host, RS_FEED_REFRESH_MS, refresh, rs);
}

int rs_feed(void *st, int on, void (*on_change)(void *arg, const struct cp_change *c), void *arg)
{
    struct rs *rs = st;
    if (rs->destroying) return CP_ERR_UNAVAILABLE;
    struct rs_feed *f = feed_state(rs);
    if (!f) return CP_ERR_NOMEM;
    if (on) {
        f->on_change = on_change;
        f->arg = arg;
        if (f->on) return 0;
        int running = f->cache_on; /* the key is kept already */
        f->on = 1;
        if (running) return 0;
        f->ever = f->subscribed;
        f->key_known = 0;
        refresh(rs);         /* the key first: the scripts publish from the next call on */
        subscribe(&rs->sub); /* if not yet (no-op when subscribing or subscribed) */
        return 0;
    }
    /* Off: the key is left to expire (other processes may still stream). */
    f->on = 0;
    f->on_change = NULL;
    if (!f->cache_on) rs_feed_stop(rs);
    return 0;
}

int rs_feed_cache(struct rs *rs, int on)
{
    if (rs->destroying) return CP_ERR_UNAVAILABLE;
    struct rs_feed *f = feed_state(rs);
    if (!f) return CP_ERR_NOMEM;
    if (!on) {
        f->cache_on = 0;
        if (!f->on && f->refresh) rs->host->timer_cancel(rs->host, f->refresh);
        if (!f->on) f->refresh = NULL;
        return 0;
    }
    if (f->cache_on) return f->subscribed;
    int running = f->on;
    f->cache_on = 1;
    if (!running) {
        f->ever = f->subscribed;
        f->key_known = 0;
        refresh(rs);
        subscribe(&rs->sub);
    }
    return f->subscribed;
}

void rs_feed_cmd_ready(struct rs *rs)
{
    struct rs_feed *f = rs->feed;
    if (!f || !(f->on || f->cache_on) || rs->destroying) return;
    if (f->refresh) rs->host->timer_cancel(rs->host, f->refresh);
    f->refresh = NULL;
    refresh(rs); /* SET NX answering OK after the key was known: a gap (on_refreshed) */
}

int rs_feed_subscribed(const struct rs *rs)
{
    return rs->feed && rs->feed->subscribed;
}

void rs_feed_stop(struct rs *rs)
{
    struct rs_feed *f = rs->feed;
    if (!f) return;
    f->on = 0;
    f->cache_on = 0;
    f->on_change = NULL;
    if (f->refresh) rs->host->timer_cancel(rs->host, f->refresh);
    f->refresh = NULL;
}

void rs_feed_free(struct rs *rs)
{
    if (!rs->feed) return;
    free(rs->feed->key);
    free(rs->feed);
    rs->feed = NULL;
}
