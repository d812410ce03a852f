/* redis_list.c — agent_list without a script, in two round trips: the candidate ids from one
 * index command, then every candidate's record by one MGET (layout 4: a record is one value), so
 * the records are one consistent snapshot. The filters the index does not apply, and the agent_id
 * order, are applied here.
 *
 * The index command: for the whole list, ZRANGE of every agent, SMEMBERS of one capability's
 * set, or SINTER of several; for a page (filter.limit > 0), ZRANGEBYLEX from `after` with
 * LIMIT of the agents index — or of the unwell index when only degraded/unhealthy agents are
 * asked for — so a page reads at most `limit` records whatever the fleet's size. Its capability,
 * status and health filters are applied to those records, so a page may come back short; its
 * `next` is the last candidate read when the index had `limit` of them.
 *
 * Why not one script: a script that reads N agents builds N Lua tables and Redis converts the
 * N x 28 elements back to RESP, ~12 us per agent (GET /agents/select with 1,000 agents: ~13 ms
 * of Redis per call); one native MGET costs Redis a fraction of that. The price:
 * an agent registered between the two round trips is not listed (as if the list had been taken
 * a moment earlier), and one deleted in between is left out.
 *
 * The list's state (struct list) is freed by whichever callback ends it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

struct list {
    cp_storage_cb cb;
    void *cookie;
    int32_t status;
    uint32_t limit;       /* > 0: a page */
    uint32_t health_mask; /* 0: any */
    char *after;          /* owned; the whole list's candidates are filtered by it here */
    char **caps;          /* owned; a page's candidates are filtered by them here */
    uint32_t n_caps;
    char *last; /* a page: the last candidate id, when the index had `limit` of them */
};

static void list_free(struct list *l)
{
    if (!l) return;
    for (uint32_t i = 0; l->caps && i < l->n_caps; i++)
        free(l->caps[i]);
    free(l->caps);
    free(l->after);
    free(l->last);
    free(l);
}

/* A reply that ends the list with an error: NULL (connection lost) or an error reply. */
static int failed(struct rs *rs, struct list *l, const redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR) return 0;
    if (!reply)
        rs_fail(l->cb, l->cookie, CP_ERR_UNAVAILABLE, "redis: connection to %s lost",
                rs->url.display);
    else
        rs_fail(l->cb, l->cookie, CP_ERR_UNAVAILABLE, "redis: %.200s", reply->str);
    list_free(l);
    return 1;
}

/* The filters the index command did not apply: after (whole list), health, capabilities (a
 * page). Keeps the order; compacts res->agents in place. */
static void filter_records(const struct list *l, struct cp_result *res)
{
    const struct cp_agent_view **v = (const struct cp_agent_view **)res->agents;
    size_t k = 0;
    for (size_t i = 0; i < res->n_agents; i++) {
        const struct cp_agent_view *a = v[i];
        int32_t h = a->health.status;
        if (l->after && strcmp(a->agent_id, l->after) <= 0) continue;
        if (l->health_mask && (h < 0 || h >= 32 || !(l->health_mask & (1u << h)))) continue;
        if (l->n_caps && !cp_caps_subset((const char *const *)l->caps, l->n_caps, a->capabilities,
                                         a->n_capabilities))
            continue;
        v[k++] = a;
    }
    res->n_agents = k;
    res->total = k;
    res->next = l->last;
}

static void on_records(struct rs *rs, const redisReply *reply, void *cookie)
{
    struct list *l = cookie;
    if (failed(rs, l, reply)) return;
    struct rs_arena arena = {NULL};
    struct cp_result res;
    int rc = rs_reply_parse_agent_list(reply, l->status, &arena, &res);
    if (rc == CP_ERR_UNAVAILABLE)
        rs->host->log(rs->host, CP_LOG_ERROR, "redis: agent list: %s", res.message);
    else if (rc == 0)
        filter_records(l, &res);
    l->cb(l->cookie, &res);
    rs_arena_free(&arena);
    list_free(l);
}

int rs_send_agent_records(struct rs *rs, const char *what, size_t n, const char *const *ids,
                          const size_t *lens, rs_raw_cb cb, void *cookie)
{
    size_t tl = strlen(rs->tag), total = 0;
    if (n == 0 || n >= INT_MAX) return -1;
    for (size_t i = 0; i < n; i++)
        total += tl + 2 + (lens ? lens[i] : strlen(ids[i]));
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *alens = malloc((n + 1) * sizeof *alens);
    char *buf = malloc(total);
    int rc = -1;
    if (argv && alens && buf) {
        argv[0] = "MGET", alens[0] = 4;
        char *p = buf;
        for (size_t i = 0; i < n; i++) {
            size_t il = lens ? lens[i] : strlen(ids[i]);
            memcpy(p, rs->tag, tl);
            memcpy(p + tl, "a:", 2);
            memcpy(p + tl + 2, ids[i], il);
            argv[i + 1] = p, alens[i + 1] = tl + 2 + il;
            p += tl + 2 + il;
        }
        rc = rs_send_raw(rs, what, (int)(n + 1), argv, alens, cb, cookie);
    }
    free(argv);
    free(alens);
    free(buf);
    return rc;
}

static void on_ids(struct rs *rs, const redisReply *reply, void *cookie)
{
    struct list *l = cookie;
    if (failed(rs, l, reply)) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        struct cp_result res;
        memset(&res, 0, sizeof(res));
        res.size = sizeof(res);
        if (reply->type != REDIS_REPLY_ARRAY) {
            res.rc = CP_ERR_UNAVAILABLE;
            res.message = "redis: malformed agent list reply";
        }
        l->cb(l->cookie, &res);
        list_free(l);
        return;
    }
    const redisReply *end = reply->element[reply->elements - 1];
    if (l->limit && reply->elements >= l->limit && end->type == REDIS_REPLY_STRING &&
        !(l->last = strndup(end->str, end->len))) {
        rs_fail(l->cb, l->cookie, CP_ERR_NOMEM, "redis: out of memory");
        list_free(l);
        return;
    }
    /* One MGET of every candidate's record: one command, so one consistent snapshot. */
    const char **ids = malloc(reply->elements * sizeof *ids);
    size_t *lens = malloc(reply->elements * sizeof *lens);
    int ok = ids && lens;
    for (size_t i = 0; ok && i < reply->elements; i++) {
        const redisReply *id = reply->element[i];
        ok = id->type == REDIS_REPLY_STRING;
        if (ok) ids[i] = id->str, lens[i] = id->len;
    }
    ok = ok && rs_send_agent_records(rs, "agent list (MGET)", reply->elements, ids, lens,
                                     on_records, l) == 0;
    free(ids);
    free(lens);
    if (ok) return;
    rs_fail(l->cb, l->cookie, CP_ERR_UNAVAILABLE, "redis: %s is unreachable", rs->url.display);
    list_free(l);
}

/* Only degraded and/or unhealthy agents: the unwell index holds every candidate. */
static int unwell_only(uint32_t mask)
{
    uint32_t unwell = (1u << CP_HEALTH_DEGRADED) | (1u << CP_HEALTH_UNHEALTHY);
    return mask && (mask & ~unwell) == 0;
}

/* "<tag><name>" (malloc'd) or NULL. */
static char *tag_key(const struct rs *rs, const char *name, size_t name_len)
{
    size_t tl = strlen(rs->tag);
    char *key = malloc(tl + name_len + 1);
    if (!key) return NULL;
    memcpy(key, rs->tag, tl);
    memcpy(key + tl, name, name_len);
    key[tl + name_len] = '\0';
    return key;
}

/* The list's own copies of what it filters by later (the filter is borrowed). 0, or -1. */
static int list_init(struct list *l, const struct cp_agent_filter *f, cp_storage_cb cb,
                     void *cookie)
{
    l->cb = cb;
    l->cookie = cookie;
    l->status = f ? f->status : -1;
    if (!f) return 0;
    l->limit = f->limit;
    l->health_mask = f->health_mask;
    if (f->after && !f->limit && !(l->after = strdup(f->after))) return -1;
    if (f->limit && f->n_capabilities) {
        if (!(l->caps = calloc(f->n_capabilities, sizeof *l->caps))) return -1;
        for (; l->n_caps < f->n_capabilities; l->n_caps++)
            if (!(l->caps[l->n_caps] = strdup(f->capabilities[l->n_caps]))) return -1;
    }
    return 0;
}

/* A page's index command: ZRANGEBYLEX <index> (<after>|- + LIMIT 0 <limit>. 0, or -1 (no
 * memory); keys[0], keys[1] are the caller's to free. */
static int page_command(struct rs *rs, const struct cp_agent_filter *f, const char **argv,
                        size_t *lens, char **keys, char *count, size_t count_size)
{
    const char *index = unwell_only(f->health_mask) ? "unwell" : "agents";
    if (!(keys[0] = tag_key(rs, index, strlen(index)))) return -1;
    if (f->after) {
        size_t al = strlen(f->after);
        if (!(keys[1] = malloc(al + 2))) return -1;
        keys[1][0] = '(';
        memcpy(keys[1] + 1, f->after, al + 1);
    }
    snprintf(count, count_size, "%u", (unsigned)f->limit);
    argv[0] = "ZRANGEBYLEX", argv[1] = keys[0], argv[2] = keys[1] ? keys[1] : "-", argv[3] = "+";
    argv[4] = "LIMIT", argv[5] = "0", argv[6] = count;
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    return 0;
}

void rs_agent_list(void *st, const struct cp_agent_filter *filter, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    uint32_t n = filter ? filter->n_capabilities : 0;
    const char *const *caps = filter ? filter->capabilities : NULL;
    if (!rs_caps_valid(caps, n)) {
        rs_fail(cb, cookie, CP_ERR_INVALID, "capabilities must be sorted and unique");
        return;
    }
    if (rs_cache_list(rs, filter, cb, cookie)) return; /* a whole list, from the agent cache */
    rs_agent_list_store(rs, filter, cb, cookie);
}

void rs_agent_list_store(struct rs *rs, const struct cp_agent_filter *filter, cp_storage_cb cb,
                         void *cookie)
{
    uint32_t n = filter ? filter->n_capabilities : 0;
    const char *const *caps = filter ? filter->capabilities : NULL;
    int paged = filter && filter->limit > 0;
    uint32_t n_keys = paged ? 2 : n ? n : 1;
    struct list *l = calloc(1, sizeof(*l));
    const char **argv = calloc(n + 7, sizeof(*argv));
    size_t *lens = calloc(n + 7, sizeof(*lens));
    char **keys = calloc(n_keys, sizeof(*keys));
    char count[16];
    int argc = 0, oom = !l || !argv || !lens || !keys || list_init(l, filter, cb, cookie) < 0;
    if (!oom && paged) {
        oom = page_command(rs, filter, argv, lens, keys, count, sizeof count) < 0;
        argc = 7;
    } else if (!oom && n == 0) { /* every agent: the agents index, already in agent_id order */
        oom = !(keys[0] = tag_key(rs, "agents", 6));
        argv[0] = "ZRANGE", argv[1] = keys[0], argv[2] = "0", argv[3] = "-1";
        lens[0] = 6, lens[1] = oom ? 0 : strlen(keys[0]), lens[2] = 1, lens[3] = 2;
        argc = 4;
    } else if (!oom) { /* one capability's set, or the intersection of several */
        argv[0] = n == 1 ? "SMEMBERS" : "SINTER", lens[0] = strlen(argv[0]);
        argc = 1;
        for (uint32_t i = 0; i < n && !oom; i++) {
            size_t cl = strlen(caps[i]);
            char *key = malloc(3 + cl + 1);
            if ((oom = !key)) break;
            memcpy(key, "ac:", 3);
            memcpy(key + 3, caps[i], cl + 1);
            keys[i] = tag_key(rs, key, 3 + cl);
            free(key);
            if ((oom = !keys[i])) break;
            argv[argc] = keys[i], lens[argc++] = strlen(keys[i]);
        }
    }
    int sent = !oom && rs_send_raw(rs, "agent list (ids)", argc, argv, lens, on_ids, l) == 0;
    for (uint32_t i = 0; keys && i < n_keys; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    free(lens);
    if (sent) return;
    list_free(l);
    if (oom)
        rs_fail(cb, cookie, CP_ERR_NOMEM, "redis: out of memory");
    else
        rs_fail(cb, cookie, CP_ERR_UNAVAILABLE, "redis: %s is unreachable", rs->url.display);
}
