/* redis_cache.c — the per-process agent cache: whole agent lists (agent_list without a limit:
 * GET /agents/select's candidates, cpd's start-up list) answered from memory instead of
 * reading every agent record from Redis per call (docs/redis.md, "Agent cache").
 *
 * What keeps it current, in this order of arrival on the command connection (so a later reply
 * always holds a later state, and applying replies as they come never goes back in time):
 *  - a full load, page by page (agent_list with a limit, the plain Redis path), when it is
 *    switched on, after every reconnect of the command connection (a failover may have lost
 *    writes), after every (re)subscription and every gap of the change feed, and every
 *    agent_cache_resync_ms (the fields no change publishes: last_heartbeat_ms, counters);
 *  - this process's own operations: the agent in every reply (register, heartbeat, drain,
 *    health, claim, transitions, extend, get), unregister's id, reap's events;
 *  - the change feed (redis_feed.c), which the cache keeps switched on while it is active:
 *    another process's register, unregister, removal, status or health/circuit change, and its
 *    task changes that move an agent's in-flight count (claim, complete, fail, requeue,
 *    release, timeout, cancel), have the agent read again (never applied from the message
 *    itself: see rs_cache_change()).
 * Re-reads are one MGET of the records, one batch in flight at a time; what changes while a
 * batch is out goes in the next one.
 *
 * When it answers: active, loaded since the last reconnect/gap, the pub/sub connection up, and
 * no re-read asked for by this process's own operations still out. Lists wait (struct waiter)
 * while it loads and while such re-reads are out (read-your-writes within a process: one round
 * trip), and go to Redis when it cannot be used otherwise (the pub/sub connection down, a load
 * failed). Claims never read it: a stale cache can only make select suggest an agent whose
 * claim is then refused, never change what a claim does.
 *
 * Modes (option agent_cache): auto (default) switches on at the first whole list after cpd's
 * own start-up list and off after agent_cache_idle_ms without one (then the feed key may expire
 * and the scripts stop publishing); on: from start-up, always; off: never. */
#include <stdlib.h>
#include <string.h>

#include "redis_agent_cache.h"
#include "redis_int.h"

#define RS_CACHE_PAGE 1000
#define RS_CACHE_TICK_MS 1000
#define RS_CACHE_MAX_DIRTY 4096 /* more re-reads waiting than this: a full load instead */

struct rs_cache {
    int mode;
    int64_t resync_ms, idle_ms;
    int active;     /* holds the feed; kept current */
    int ready;      /* loaded since the last reconnect / gap: lists may be answered */
    int loading;    /* a load's page is in flight */
    int load_again; /* a load was asked for while one ran: start over */
    int seen_list;  /* auto: cpd's start-up list has been made */
    uint64_t gen;   /* of the running (or last) load */
    int64_t last_used, last_load;
    struct cp_timer *tick;
    char **dirty; /* agent ids to re-read */
    size_t n_dirty, cap_dirty;
    int own_dirty;    /* some of `dirty` come from this process's own replies */
    int own_inflight; /* re-read batches holding such ids, in flight */
    int reading;      /* a re-read batch is in flight */
    struct rs_acache store;
    struct rs_own own; /* task changes of our own replies: their messages need no re-read */
    struct waiter *waiting, **waiting_tail;
    uint64_t n_loads, n_answered;
};

/* A whole list waiting for the cache (a load, or this process's own re-reads): the filter
 * copied (the host's is borrowed only until agent_list returns). */
struct waiter {
    struct waiter *next;
    struct cp_agent_filter f;
    char **caps;
    char *after;
    cp_storage_cb cb;
    void *cookie;
};

struct batch {
    char **ids;
    size_t n;
    int own;
};

static void batch_free(struct batch *b)
{
    for (size_t i = 0; b && i < b->n; i++)
        free(b->ids[i]);
    if (b) free(b->ids);
    free(b);
}

static void dirty_clear(struct rs_cache *c)
{
    for (size_t i = 0; i < c->n_dirty; i++)
        free(c->dirty[i]);
    c->n_dirty = 0;
    c->own_dirty = 0;
}

/* ---- lists waiting for the cache --------------------------------------------------------- */

static void waiter_free(struct waiter *w)
{
    for (uint32_t i = 0; w->caps && i < w->f.n_capabilities; i++)
        free(w->caps[i]);
    free(w->caps);
    free(w->after);
    free(w);
}

/* 1 when lists may be answered from the cache now. */
static int usable(const struct rs *rs)
{
    const struct rs_cache *c = rs->cache;
    return c->active && c->ready && !c->own_dirty && !c->own_inflight && rs->sub.up && rs->cmd.up &&
           rs_feed_subscribed(rs) && !rs->destroying;
}

/* 1 when a list should wait: the cache is loading, or our own re-reads are out. */
static int worth_waiting(const struct rs *rs)
{
    const struct rs_cache *c = rs->cache;
    return c->active && rs->cmd.up && !rs->destroying &&
           (c->loading || (c->ready && (c->own_dirty || c->own_inflight)));
}

static int wait_for_cache(struct rs *rs, const struct cp_agent_filter *f, cp_storage_cb cb,
                          void *cookie)
{
    struct rs_cache *c = rs->cache;
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) return 0;
    w->f = *f;
    w->cb = cb;
    w->cookie = cookie;
    int oom = 0;
    if (f->n_capabilities && !(w->caps = calloc(f->n_capabilities, sizeof *w->caps))) oom = 1;
    for (uint32_t i = 0; !oom && i < f->n_capabilities; i++)
        oom = !(w->caps[i] = strdup(f->capabilities[i]));
    if (!oom && f->after && !(w->after = strdup(f->after))) oom = 1;
    if (oom) {
        waiter_free(w);
        return 0;
    }
    w->f.capabilities = (const char *const *)w->caps;
    w->f.after = w->after;
    if (!c->waiting) c->waiting_tail = &c->waiting;
    *c->waiting_tail = w;
    c->waiting_tail = &w->next;
    return 1;
}

/* Answers the waiting lists from the cache when it may be used, or (force, or when it is no
 * longer worth waiting) from Redis. */
static void serve_waiting(struct rs *rs, int force)
{
    struct rs_cache *c = rs->cache;
    int from_cache = !force && usable(rs);
    if (!from_cache && !force && worth_waiting(rs)) return;
    struct waiter *w = c->waiting;
    c->waiting = NULL;
    c->waiting_tail = &c->waiting;
    while (w) {
        struct waiter *next = w->next;
        if (!from_cache || rs_acache_list(&c->store, &w->f, w->cb, w->cookie) != 0)
            rs_agent_list_store(rs, &w->f, w->cb, w->cookie);
        else
            c->n_answered++;
        waiter_free(w);
        w = next;
    }
}

/* ---- full loads ------------------------------------------------------------------------- */

static void load_page(struct rs *rs, const char *after);

static void on_page(void *cookie, const struct cp_result *res)
{
    struct rs *rs = cookie;
    struct rs_cache *c = rs->cache;
    if (!c) return;
    if (!c->active) {
        c->loading = 0;
        return;
    }
    if (res->rc < 0) { /* the tick tries again; a reconnect starts one */
        c->loading = c->load_again = 0;
        rs_warn_limited(rs, RS_LIM_OP_ERROR, "redis: agent cache: load failed: %s",
                        res->message ? res->message : "error");
        serve_waiting(rs, 1);
        return;
    }
    if (c->load_again) {
        c->load_again = 0;
        c->gen++;
        load_page(rs, NULL);
        return;
    }
    for (size_t i = 0; i < res->n_agents; i++)
        if (rs_acache_put(&c->store, res->agents[i], c->gen) < 0) {
            c->loading = 0;
            c->ready = 0;
            rs_warn_limited(rs, RS_LIM_OP_ERROR, "redis: agent cache: out of memory");
            serve_waiting(rs, 1);
            return;
        }
    if (res->next) {
        load_page(rs, res->next);
        return;
    }
    rs_acache_sweep(&c->store, c->gen);
    c->loading = 0;
    if (!c->ready)
        rs->host->log(rs->host, CP_LOG_INFO,
                      "redis: agent cache: %zu agents loaded (%zu KiB); whole agent lists are "
                      "answered from it",
                      c->store.n, c->store.bytes / 1024);
    c->ready = 1;
    c->last_load = rs_mono_ms();
    c->n_loads++;
    serve_waiting(rs, 0);
}

static void load_page(struct rs *rs, const char *after)
{
    struct rs_cache *c = rs->cache;
    c->loading = 1;
    struct cp_agent_filter f = {.status = -1, .limit = RS_CACHE_PAGE, .after = after};
    rs_agent_list(rs, &f, on_page, rs); /* a page: the Redis path (may answer at once) */
}

static void reload(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    if (!c || !c->active || rs->destroying) return;
    if (c->loading) {
        c->load_again = 1;
        return;
    }
    c->gen++;
    load_page(rs, NULL);
}

/* ---- re-reads --------------------------------------------------------------------------- */

static void flush(struct rs *rs);

static const struct cp_agent_view *find_sorted(const struct cp_result *res, const char *id)
{
    size_t lo = 0, hi = res->n_agents;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(res->agents[mid]->agent_id, id);
        if (cmp == 0) return res->agents[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void on_batch(struct rs *rs, const redisReply *reply, void *cookie)
{
    struct batch *b = cookie;
    struct rs_cache *c = rs->cache;
    if (!c) {
        batch_free(b);
        return;
    }
    c->reading = 0;
    if (b->own) c->own_inflight--;
    if (!c->active) {
        batch_free(b);
        return;
    }
    struct rs_arena arena = {NULL};
    struct cp_result res;
    int rc = reply && reply->type == REDIS_REPLY_ARRAY
                 ? rs_reply_parse_agent_list(reply, -1, &arena, &res)
                 : CP_ERR_UNAVAILABLE;
    if (rc == 0) {
        for (size_t i = 0; i < b->n && rc == 0; i++) {
            const struct cp_agent_view *a = find_sorted(&res, b->ids[i]);
            if (a)
                rc = rs_acache_put(&c->store, a, c->gen) < 0 ? CP_ERR_NOMEM : 0;
            else
                rs_acache_del(&c->store, b->ids[i]);
        }
    }
    rs_arena_free(&arena);
    batch_free(b);
    if (rc != 0) { /* not known now: lists go to Redis until loaded again */
        c->ready = 0;
        if (reply) reload(rs); /* else the reconnect reloads */
        serve_waiting(rs, 0);
        return;
    }
    flush(rs);
    serve_waiting(rs, 0);
}

/* Sends what is dirty as one MGET of their records, unless a batch is already out. */
static void flush(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    if (!c || !c->active || c->reading || !c->n_dirty || rs->destroying) return;
    struct batch *b = calloc(1, sizeof *b);
    if (!b) {
        c->ready = 0;
        return;
    }
    b->ids = c->dirty;
    b->n = c->n_dirty;
    b->own = c->own_dirty;
    c->dirty = NULL;
    c->n_dirty = c->cap_dirty = 0;
    c->own_dirty = 0;
    if (rs_send_agent_records(rs, "agent cache (MGET)", b->n, (const char *const *)b->ids, NULL,
                              on_batch, b) == 0) {
        c->reading = 1;
        if (b->own) c->own_inflight++;
        return;
    }
    batch_free(b);
    c->ready = 0; /* the reconnect reloads */
    serve_waiting(rs, 0);
}

static void mark_dirty(struct rs *rs, const char *id, int own)
{
    struct rs_cache *c = rs->cache;
    if (own) c->own_dirty = 1;
    for (size_t i = 0; i < c->n_dirty && i < 64; i++) /* the usual duplicates are recent */
        if (strcmp(c->dirty[c->n_dirty - 1 - i], id) == 0) goto out;
    if (c->n_dirty >= RS_CACHE_MAX_DIRTY) {
        dirty_clear(c);
        reload(rs);
        return;
    }
    if (c->n_dirty == c->cap_dirty) {
        size_t cap = c->cap_dirty ? c->cap_dirty * 2 : 16;
        char **d = realloc(c->dirty, cap * sizeof *d);
        if (!d) {
            c->ready = 0;
            reload(rs);
            return;
        }
        c->dirty = d;
        c->cap_dirty = cap;
    }
    if (!(c->dirty[c->n_dirty] = strdup(id))) {
        c->ready = 0;
        reload(rs);
        return;
    }
    c->n_dirty++;
out:
    flush(rs);
}

/* ---- what keeps it current ------------------------------------------------------------- */

void rs_cache_change(struct rs *rs, const struct cp_change *ch)
{
    struct rs_cache *c = rs->cache;
    if (!c || !c->active || !ch->agent_id) return;
    struct cp_agent_view *v = rs_acache_get(&c->store, ch->agent_id);
    switch (ch->kind) {
    /* Read again, never applied from the message: a message may arrive after the reply of a
     * later change (they come on two connections) — an unregister's after this process
     * registered the agent again — and a read holds the state after both. A change the copy
     * already shows (usually our own, from its reply) needs no read. */
    case CP_CHANGE_AGENT_REGISTERED:
        mark_dirty(rs, ch->agent_id, 0);
        break;
    case CP_CHANGE_AGENT_UNREGISTERED:
    case CP_CHANGE_AGENT_REMOVED:
        if (v) mark_dirty(rs, ch->agent_id, 0);
        break;
    case CP_CHANGE_AGENT_STATUS:
        if (!v || v->status != ch->new_status) mark_dirty(rs, ch->agent_id, 0);
        break;
    case CP_CHANGE_AGENT_HEALTH:
        if (!v || v->health.status != ch->new_status || v->health.circuit != ch->new_circuit)
            mark_dirty(rs, ch->agent_id, 0);
        break;
    case CP_CHANGE_TASK_CLAIMED:
    case CP_CHANGE_TASK_COMPLETED:
    case CP_CHANGE_TASK_FAILED:
    case CP_CHANGE_TASK_REQUEUED:
    case CP_CHANGE_TASK_RELEASED:
    case CP_CHANGE_TASK_TIMEOUT:
    case CP_CHANGE_TASK_CANCELLED:
        /* Its in-flight count moved: read again unless ours (the reply's agent is in). */
        if (v && !rs_own_take(&c->own, ch->task_id, ch->attempt, ch->new_status))
            mark_dirty(rs, ch->agent_id, 0);
        break;
    default: /* submitted, started, extended, due, retried: no agent's count changes */
        break;
    }
}

/* The agent id of an agent_unregister call: its 7th argument (FCALL name 1 tag inst now id). */
static char *unregistered_id(const char *cmd, int len)
{
    int at = rs_fence_arg_offset(cmd, len, 6);
    if (at < 0) return NULL;
    /* the bulk string's length is in the "$<n>\r\n" just before it */
    const char *p = cmd + at - 3;
    while (p > cmd && p[-1] != '$')
        p--;
    long n = strtol(p, NULL, 10);
    if (n <= 0 || n > 1024 || at + n > len) return NULL;
    return strndup(cmd + at, (size_t)n);
}

void rs_cache_saw(struct rs *rs, int script, const char *cmd, int len, const struct cp_result *res)
{
    struct rs_cache *c = rs->cache;
    if (!c || !c->active) return;
    int ok = 1;
    if (res->rc == 0 || res->rc == CP_ERR_CONFLICT) {
        if (res->agent) ok = rs_acache_put(&c->store, res->agent, c->gen) == 0;
        if (res->next_claim && res->next_claim->agent)
            ok = ok && rs_acache_put(&c->store, res->next_claim->agent, c->gen) == 0;
    }
    if (res->rc == 0 && res->task && res->agent)
        rs_own_add(&c->own, res->task->id, res->task->attempt, res->task->status);
    if (res->next_claim && res->next_claim->rc == 0 && res->next_claim->task)
        rs_own_add(&c->own, res->next_claim->task->id, res->next_claim->task->attempt,
                   res->next_claim->task->status);
    if (res->rc == 0 && script == RS_AGENT_UNREGISTER) {
        char *id = unregistered_id(cmd, len);
        if (id)
            rs_acache_del(&c->store, id);
        else
            ok = 0;
        free(id);
    }
    for (size_t i = 0; res->rc == 0 && i < res->n_events; i++) {
        const struct cp_event *e =
            (const struct cp_event *)(const void *)((const char *)res->events +
                                                    i * res->events[0].size);
        if (!e->agent_id) continue;
        if (e->task_id) rs_own_add(&c->own, e->task_id, e->attempt, e->task_status);
        if (e->kind == CP_EVENT_AGENT_REMOVED) {
            rs_acache_del(&c->store, e->agent_id);
            continue;
        }
        struct cp_agent_view *v = rs_acache_get(&c->store, e->agent_id);
        if (e->kind == CP_EVENT_AGENT_OFFLINE && v) v->status = CP_AGENT_OFFLINE;
        /* offline, or a task of it requeued / timed out: its in-flight count went down */
        if (v) mark_dirty(rs, e->agent_id, 1);
    }
    if (!ok) { /* out of memory, or an unreadable call: known again after a load */
        c->ready = 0;
        reload(rs);
    }
}

/* ---- switching on and off, the tick ------------------------------------------------------ */

static void tick(void *arg);

static void activate(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    c->active = 1;
    c->ready = 0;
    c->last_used = rs_mono_ms();
    if (!c->tick) c->tick = rs->host->timer_add(rs->host, RS_CACHE_TICK_MS, tick, rs);
    int subscribed = rs_feed_cache(rs, 1); /* the key first: the scripts publish from now on */
    if (subscribed == 1) reload(rs);       /* else when the subscription is confirmed */
    if (subscribed < 0) c->active = 0;
}

static void deactivate(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    c->active = c->ready = 0;
    rs->host->log(rs->host, CP_LOG_INFO,
                  "redis: agent cache: off (no whole agent list for %d s; %llu lists answered "
                  "from it, %llu full loads)",
                  (int)(c->idle_ms / 1000), (unsigned long long)c->n_answered,
                  (unsigned long long)c->n_loads);
    rs_feed_cache(rs, 0);
    dirty_clear(c);
    serve_waiting(rs, 1);
    rs_acache_clear(&c->store);
}

static void tick(void *arg)
{
    struct rs *rs = arg;
    struct rs_cache *c = rs->cache;
    if (!c) return;
    c->tick = NULL;
    if (rs->destroying || !c->active) return;
    int64_t now = rs_mono_ms();
    if (c->mode == RS_CACHE_AUTO && now - c->last_used > c->idle_ms) {
        deactivate(rs);
        return;
    }
    if (!c->loading && rs->cmd.up && rs_feed_subscribed(rs) &&
        (!c->ready || (c->resync_ms && now - c->last_load >= c->resync_ms)))
        reload(rs);
    c->tick = rs->host->timer_add(rs->host, RS_CACHE_TICK_MS, tick, rs);
}

void rs_cache_restart(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    if (!c || !c->active) return;
    c->ready = 0;
    dirty_clear(c);
    reload(rs);
    serve_waiting(rs, 0); /* the reload may have failed at once */
}

int rs_cache_list(struct rs *rs, const struct cp_agent_filter *f, cp_storage_cb cb, void *cookie)
{
    struct rs_cache *c = rs->cache;
    if (!c || c->mode == RS_CACHE_OFF || (f && f->limit) || rs->destroying) return 0;
    if (!c->active) {
        if (c->mode == RS_CACHE_AUTO && !c->seen_list) {
            c->seen_list = 1; /* cpd's own start-up list does not switch it on */
            return 0;
        }
        activate(rs);
    }
    c->last_used = rs_mono_ms();
    struct cp_agent_filter none = {.status = -1};
    if (!f) f = &none;
    if (usable(rs) && !c->waiting) {
        if (rs_acache_list(&c->store, f, cb, cookie) != 0) return 0;
        c->n_answered++;
        return 1;
    }
    /* Loading (at 100,000 agents a second or so), or our own re-reads out (one round trip):
     * waiting costs less than reading every agent from Redis. */
    return worth_waiting(rs) && wait_for_cache(rs, f, cb, cookie);
}

int rs_cache_create(struct rs *rs, int mode, int64_t resync_ms, int64_t idle_ms)
{
    struct rs_cache *c = calloc(1, sizeof *c);
    if (!c) return CP_ERR_NOMEM;
    c->mode = mode;
    c->resync_ms = resync_ms;
    c->idle_ms = idle_ms;
    rs->cache = c;
    if (mode == RS_CACHE_ON) activate(rs);
    return 0;
}

void rs_cache_stop(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    if (!c) return;
    c->active = c->ready = 0;
    if (c->tick) rs->host->timer_cancel(rs->host, c->tick);
    c->tick = NULL;
    serve_waiting(rs, 1); /* destroying: answered unavailable at once */
}

void rs_cache_free(struct rs *rs)
{
    struct rs_cache *c = rs->cache;
    if (!c) return;
    dirty_clear(c);
    free(c->dirty);
    rs_acache_clear(&c->store);
    free(c);
    rs->cache = NULL;
}
