/* redis_reply.c — a script's reply (see reply() in lua/common.lua) turned into struct cp_result.
 *
 * Strings in the result point into the redisReply (hiredis frees it after the callback); the
 * views and pointer arrays live in an arena freed after the callback too. A reply of the wrong
 * shape (a script from another version?) is CP_ERR_UNAVAILABLE with a message, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

/* ---- field readers ---------------------------------------------------------------------- */

struct rd {
    struct rs_arena *arena;
    const char *bad; /* first problem found, or NULL */
    int oom;
};

static const char *str(struct rd *d, const redisReply *r)
{
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) return r->str;
    d->bad = "expected a string";
    return NULL;
}

static const char *str_nn(struct rd *d, const redisReply *r)
{
    const char *s = str(d, r);
    return s ? s : "";
}

/* Integers come as RESP integers (from Lua numbers) or as the strings Redis stores (a record
 * replied as stored, e.g. "1700000000000" or "9.2233720368547758e+18"): doubles beyond int64
 * are clamped, never converted with overflow. */
static int64_t i64(struct rd *d, const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len <= 18) {
        /* The usual stored number: a plain decimal integer (at most 18 digits: no overflow). */
        size_t i = r->str[0] == '-';
        int64_t v = 0;
        for (; i < r->len && r->str[i] >= '0' && r->str[i] <= '9'; i++)
            v = v * 10 + (r->str[i] - '0');
        if (i == r->len && r->len > (size_t)(r->str[0] == '-')) return r->str[0] == '-' ? -v : v;
    }
    if (r->type == REDIS_REPLY_STRING) {
        char *end;
        double v = strtod(r->str, &end);
        if (end != r->str && !*end) {
            if (v >= 9223372036854775807.0) return INT64_MAX;
            if (v <= -9223372036854775808.0) return INT64_MIN;
            if (v != v) return 0; /* NaN */
            return (int64_t)v;
        }
    }
    if (r->type == REDIS_REPLY_NIL) return 0;
    d->bad = "expected a number";
    return 0;
}

static double f64(struct rd *d, const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) return (double)r->integer;
    if (r->type == REDIS_REPLY_STRING) {
        char *end;
        double v = strtod(r->str, &end);
        if (end != r->str && !*end) return v;
    }
    d->bad = "expected a number";
    return 0;
}

static uint32_t u32(struct rd *d, const redisReply *r)
{
    int64_t v = i64(d, r);
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint64_t u64(struct rd *d, const redisReply *r)
{
    int64_t v = i64(d, r);
    return v < 0 ? 0 : (uint64_t)v;
}

static void *alloc(struct rd *d, size_t size)
{
    void *p = rs_arena_alloc(d->arena, size ? size : 1);
    if (!p) d->oom = 1;
    return p;
}

static int is_array(struct rd *d, const redisReply *r, size_t n)
{
    if (r->type == REDIS_REPLY_ARRAY && (n == 0 || r->elements == n)) return 1;
    d->bad = "unexpected array shape";
    return 0;
}

/* A set of names: an array, or encoded as the scripts store it ("a\nb\n", each name followed by
 * a newline; "" = empty), split here into a copy in the arena. */
static const char *const *names(struct rd *d, const redisReply *r, uint32_t *n)
{
    *n = 0;
    if (r->type == REDIS_REPLY_STRING) {
        size_t k = 0;
        for (size_t i = 0; i < r->len; i++)
            k += r->str[i] == '\n';
        if (r->len && r->str[r->len - 1] != '\n') {
            d->bad = "bad name set";
            return NULL;
        }
        const char **v = alloc(d, k * sizeof(*v));
        char *s = alloc(d, r->len + 1);
        if (!v || !s) return NULL;
        memcpy(s, r->str, r->len);
        for (size_t i = 0, start = 0, j = 0; i < r->len; i++) {
            if (s[i] != '\n') continue;
            s[i] = '\0';
            v[j++] = s + start;
            start = i + 1;
        }
        *n = (uint32_t)k;
        return v;
    }
    if (!is_array(d, r, 0)) return NULL;
    const char **v = alloc(d, r->elements * sizeof(*v));
    if (!v) return NULL;
    for (size_t i = 0; i < r->elements; i++)
        v[i] = str_nn(d, r->element[i]);
    *n = (uint32_t)r->elements;
    return v;
}

/* The packed rare members of a task (x_enc() in lua/common.lua; redis_fields.c); nil = none. */
static void rare_members(struct rd *d, const redisReply *r, struct cp_task_view *t)
{
    if (r->type == REDIS_REPLY_NIL) return;
    int rc = r->type == REDIS_REPLY_STRING ? rs_task_rare(r->str, r->len, d->arena, t)
                                           : RS_RECORD_MALFORMED;
    if (rc == RS_RECORD_NOMEM) d->oom = 1;
    if (rc == RS_RECORD_MALFORMED) d->bad = "bad packed task members";
}

/* ---- views (field order: agent_reply() / task_reply() in lua/common.lua) ---------------- */

enum {
    AGENT_FIELDS = RS_AGENT_FIELDS,
    TASK_FIELDS = RS_TASK_FIELDS,
    EVENT_FIELDS = 9,
    STAT_SCALARS = 26
};

/* A record as stored (its text, layout 4) into *row, in field order; 0 or -1 (d marked). */
static int stored(struct rd *d, const redisReply *r, int is_agent, redisReply *row)
{
    int rc = rs_record_row(r->str, r->len, is_agent, d->arena, row);
    if (rc == RS_RECORD_NOMEM) d->oom = 1;
    if (rc == RS_RECORD_MALFORMED) d->bad = "malformed record";
    return rc ? -1 : 0;
}

/* An agent: its text as stored, or a table replied in field order. */
static const struct cp_agent_view *agent(struct rd *d, const redisReply *r)
{
    redisReply row;
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (r->type == REDIS_REPLY_STRING) {
        if (stored(d, r, 1, &row) != 0) return NULL;
        r = &row;
    }
    if (!is_array(d, r, AGENT_FIELDS)) return NULL;
    struct cp_agent_view *a = alloc(d, sizeof(*a));
    if (!a) return NULL;
    a->size = sizeof(*a);
    redisReply **e = r->element;
    a->agent_id = str_nn(d, e[0]);
    a->capabilities = names(d, e[1], &a->n_capabilities);
    a->status = (int32_t)i64(d, e[2]);
    a->model = str(d, e[3]);
    a->provider = str(d, e[4]);
    a->metadata_json = str_nn(d, e[5]);
    a->health_probe_json = str(d, e[6]);
    a->registered_at_ms = i64(d, e[7]);
    a->last_heartbeat_ms = i64(d, e[8]);
    a->last_assigned_ms = i64(d, e[9]);
    a->max_concurrent_tasks = u32(d, e[10]);
    a->tasks_in_flight = u32(d, e[11]);
    a->current_task_id = str(d, e[12]);
    a->tasks_completed = u64(d, e[13]);
    a->tasks_failed = u64(d, e[14]);
    a->latency_sum_ms = f64(d, e[15]);
    a->latency_count = u64(d, e[16]);
    struct cp_health_view *h = &a->health;
    h->status = (int32_t)i64(d, e[17]);
    h->last_check_ms = i64(d, e[18]);
    h->consecutive_failures = u32(d, e[19]);
    h->consecutive_successes = u32(d, e[20]);
    h->latency_ms = f64(d, e[21]);
    h->error = str(d, e[22]);
    h->circuit = (int32_t)i64(d, e[23]);
    h->circuit_failures = u32(d, e[24]);
    h->circuit_opens = u32(d, e[25]);
    h->opened_at_ms = i64(d, e[26]);
    h->retry_at_ms = i64(d, e[27]);
    a->drained_at_ms = i64(d, e[28]); /* nil (a record from before 2.4): 0, not drained */
    /* e[29], the status the agent reported, is the scripts' own. */
    int qrc = rs_reply_scopes(e[30], d->arena, a); /* quota_scopes (2.4) */
    if (qrc == CP_ERR_NOMEM) d->oom = 1;
    if (qrc == CP_ERR_UNAVAILABLE) d->bad = "malformed quota_scopes";
    return a;
}

/* A task: its text as stored, or a table replied in field order (task_reply()). */
static struct cp_task_view *task(struct rd *d, const redisReply *r)
{
    redisReply row;
    int as_stored = r->type == REDIS_REPLY_STRING;
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (as_stored) {
        if (stored(d, r, 0, &row) != 0) return NULL;
        r = &row;
    }
    if (!is_array(d, r, TASK_FIELDS)) return NULL;
    struct cp_task_view *t = alloc(d, sizeof(*t));
    if (!t) return NULL;
    t->size = sizeof(*t);
    redisReply **e = r->element;
    t->id = str_nn(d, e[0]);
    t->task_type = str_nn(d, e[1]);
    t->payload_json = str_nn(d, e[2]);
    t->required_capabilities = names(d, e[3], &t->n_required);
    t->status = (int32_t)i64(d, e[4]);
    t->priority = (int32_t)i64(d, e[5]);
    t->created_at_ms = i64(d, e[6]);
    t->claimed_at_ms = i64(d, e[7]);
    t->started_at_ms = i64(d, e[8]);
    t->completed_at_ms = i64(d, e[9]);
    t->pending_since_ms = i64(d, e[10]);
    t->assigned_agent = str(d, e[11]);
    t->timeout_ms = i64(d, e[12]);
    t->max_retries = u32(d, e[13]);
    t->retries = u32(d, e[14]);
    t->attempt = u32(d, e[15]);
    t->result_json = str(d, e[16]);
    t->error = str(d, e[17]);
    t->metadata_json = str_nn(d, e[18]);
    t->strategy = str(d, e[19]);
    t->passed_over_agent = str(d, e[20]);
    t->passed_over_until_ms = i64(d, e[21]);
    t->deadline_at_ms = i64(d, e[22]);
    rare_members(d, e[23], t);
    if (as_stored) { /* as task_reply(): a pass-over time only with its agent, a deadline only
                        while held */
        if (!t->passed_over_agent) t->passed_over_until_ms = 0;
        if (t->status != CP_TASK_CLAIMED && t->status != CP_TASK_RUNNING) t->deadline_at_ms = 0;
    }
    return t;
}

static int cmp_agent(const void *x, const void *y)
{
    const struct cp_agent_view *a = *(const struct cp_agent_view *const *)x;
    const struct cp_agent_view *b = *(const struct cp_agent_view *const *)y;
    return strcmp(a->agent_id, b->agent_id);
}

/* agent_list replies in set order when it read a capability's set: sort by agent_id (byte
 * order, as storage.h requires) unless already sorted. */
static void sort_agents(const struct cp_agent_view **v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (!v[i - 1] || !v[i]) return; /* malformed; reported by the caller */
        if (strcmp(v[i - 1]->agent_id, v[i]->agent_id) > 0) {
            qsort(v, n, sizeof(*v), cmp_agent);
            return;
        }
    }
}

static int cmp_count(const void *x, const void *y)
{
    return strcmp(((const struct cp_count *)x)->name, ((const struct cp_count *)y)->name);
}

/* A flat [name, count, ...] array, sorted by name. */
static const struct cp_count *counts(struct rd *d, const redisReply *r, size_t *n)
{
    *n = 0;
    if (!is_array(d, r, 0) || r->elements % 2) {
        d->bad = "bad counter list";
        return NULL;
    }
    struct cp_count *v = alloc(d, r->elements / 2 * sizeof(*v));
    if (!v) return NULL;
    for (size_t i = 0; i < r->elements / 2; i++) {
        v[i].name = str_nn(d, r->element[2 * i]);
        v[i].count = u64(d, r->element[2 * i + 1]);
    }
    *n = r->elements / 2;
    qsort(v, *n, sizeof(*v), cmp_count);
    return v;
}

static const struct cp_stats_view *stats(struct rd *d, const redisReply *r)
{
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (!is_array(d, r, 4) || !is_array(d, r->element[0], STAT_SCALARS)) return NULL;
    struct cp_stats_view *s = alloc(d, sizeof(*s));
    if (!s) return NULL;
    s->size = sizeof(*s);
    s->n_agents_by_status = CP_AGENT_STATUS_COUNT;
    s->n_agents_by_health = CP_HEALTH_COUNT;
    s->n_tasks_by_status = CP_TASK_STATUS_COUNT;
    s->n_tasks_by_priority = CP_PRIORITY_COUNT;
    redisReply **v = r->element[0]->element;
    size_t k = 0;
    s->agents_total = u64(d, v[k++]);
    s->agents_available = u64(d, v[k++]);
    for (int i = 0; i < CP_AGENT_STATUS_COUNT; i++)
        s->agents_by_status[i] = u64(d, v[k++]);
    for (int i = 0; i < CP_HEALTH_COUNT; i++)
        s->agents_by_health[i] = u64(d, v[k++]);
    s->circuits_open = u64(d, v[k++]);
    s->tasks_total = u64(d, v[k++]);
    for (int i = 0; i < CP_TASK_STATUS_COUNT; i++)
        s->tasks_by_status[i] = u64(d, v[k++]);
    for (int i = 0; i < CP_PRIORITY_COUNT; i++)
        s->tasks_by_priority[i] = u64(d, v[k++]);
    s->agents_by_capability = counts(d, r->element[1], &s->n_agents_by_capability);
    s->agents_by_provider = counts(d, r->element[2], &s->n_agents_by_provider);
    s->tasks_by_type = counts(d, r->element[3], &s->n_tasks_by_type);
    return s;
}

static const struct cp_event *events(struct rd *d, const redisReply *r, size_t *n)
{
    *n = 0;
    if (!is_array(d, r, 0)) return NULL;
    struct cp_event *v = alloc(d, r->elements * sizeof(*v));
    if (!v) return NULL;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (!is_array(d, e, EVENT_FIELDS)) return NULL;
        v[i].size = sizeof(v[i]);
        v[i].kind = (int32_t)i64(d, e->element[0]);
        v[i].agent_id = str(d, e->element[1]);
        v[i].task_id = str(d, e->element[2]);
        v[i].task_type = str(d, e->element[3]);
        v[i].task_status = (int32_t)i64(d, e->element[4]);
        v[i].required_capabilities = names(d, e->element[5], &v[i].n_required);
        v[i].strategy = str(d, e->element[6]);
        v[i].status_before =
            e->element[7]->type == REDIS_REPLY_NIL ? -1 : (int32_t)i64(d, e->element[7]);
        v[i].attempt = u32(d, e->element[8]);
    }
    *n = r->elements;
    return v;
}

/* The end of a parse: a reply that was malformed or ran out of memory anywhere gives nothing
 * but the error (the views may point at half-read data). */
static int finish(const struct rd *d, struct cp_result *res, const char *malformed)
{
    if (!d->oom && !d->bad) return 0;
    memset(res, 0, sizeof(*res));
    res->size = sizeof(*res);
    res->rc = d->oom ? CP_ERR_NOMEM : CP_ERR_UNAVAILABLE;
    res->message = d->oom ? "redis: out of memory" : malformed;
    return res->rc;
}

/* The before-statuses of a reply (nil: not reported). */
static void befores(struct rd *d, const redisReply *agent, const redisReply *task,
                    struct cp_result *res)
{
    if (agent->type != REDIS_REPLY_NIL) {
        res->before |= CP_BEFORE_AGENT;
        res->agent_status_before = (int32_t)i64(d, agent);
    }
    if (task->type != REDIS_REPLY_NIL) {
        res->before |= CP_BEFORE_TASK;
        res->task_status_before = (int32_t)i64(d, task);
    }
}

/* The short form (reply() in lua/common.lua): {rc, message, agent, task, agent before, task
 * before, created}, and for task_complete_next the claim's reply (short too) as an 8th. */
static void parse_short(struct rd *d, const redisReply *reply, struct cp_result *res)
{
    redisReply **e = reply->element;
    res->agent = agent(d, e[2]);
    res->task = task(d, e[3]);
    befores(d, e[4], e[5], res);
    res->created = (int)i64(d, e[6]);
    if (reply->elements == 8 && res->rc == 0) {
        /* The claim's reply: one level only (its own 8th member would be malformed). */
        struct cp_result *next = alloc(d, sizeof *next);
        if (next) {
            /* short, or long when a quota held the claim (17 members) */
            if (e[7]->type != REDIS_REPLY_ARRAY || (e[7]->elements != 7 && e[7]->elements != 17))
                d->bad = "redis: malformed claim in a complete_next reply";
            else {
                int nrc = rs_reply_parse(e[7], d->arena, next);
                if (nrc == CP_ERR_NOMEM) d->oom = 1;
                if (nrc == CP_ERR_UNAVAILABLE) d->bad = next->message; /* malformed */
            }
            res->next_claim = next;
        }
    }
}

int rs_reply_parse(const redisReply *reply, struct rs_arena *arena, struct cp_result *res)
{
    memset(res, 0, sizeof(*res));
    res->size = sizeof(*res);
    struct rd d = {arena, NULL, 0};
    /* The short form: 7 members (8 with complete_next's claim). The long one: 14; the tenant
     * ops add their tenants as a 16th (after a nil 15th), the quota ops and a claim held by a
     * quota {quota_held, quotas} as a 17th (after nil 15th and 16th). */
    if (!reply || reply->type != REDIS_REPLY_ARRAY ||
        !(reply->elements == 7 || reply->elements == 8 || reply->elements == 14 ||
          reply->elements == 16 || reply->elements == 17)) {
        res->rc = CP_ERR_UNAVAILABLE;
        res->message = "redis: malformed script reply";
        return res->rc;
    }
    redisReply **e = reply->element;
    /* STALE (4): a call of a dropped connection, refused by begin() without effect. Its reply
     * is normally read by nobody (that connection is gone); not applied. */
    static const int codes[] = {0, CP_ERR_NOT_FOUND, CP_ERR_CONFLICT, CP_ERR_INVALID,
                                CP_ERR_UNAVAILABLE};
    int64_t code = i64(&d, e[0]);
    res->rc = code >= 0 && code < 5 ? codes[code] : CP_ERR_INVALID;
    res->message = str(&d, e[1]);
    if (reply->elements <= 8) {
        parse_short(&d, reply, res);
        return finish(&d, res, "redis: malformed script reply");
    }
    res->created = (int)i64(&d, e[2]);
    res->agent = agent(&d, e[3]);
    res->task = task(&d, e[4]);
    if (is_array(&d, e[5], 0) && e[5]->elements) {
        const struct cp_agent_view **v = alloc(&d, e[5]->elements * sizeof(*v));
        for (size_t i = 0; v && i < e[5]->elements; i++)
            v[i] = agent(&d, e[5]->element[i]);
        if (v && !d.bad) sort_agents(v, e[5]->elements);
        res->agents = v;
        res->n_agents = v ? e[5]->elements : 0;
    }
    if (is_array(&d, e[6], 0) && e[6]->elements) {
        const struct cp_task_view **v = alloc(&d, e[6]->elements * sizeof(*v));
        for (size_t i = 0; v && i < e[6]->elements; i++)
            v[i] = task(&d, e[6]->element[i]);
        res->tasks = v;
        res->n_tasks = v ? e[6]->elements : 0;
    }
    res->total = u64(&d, e[7]);
    res->stats = stats(&d, e[8]);
    res->events = events(&d, e[9], &res->n_events);
    befores(&d, e[10], e[11], res); /* what the agent and the task were before */
    res->next_due_ms = i64(&d, e[12]);
    res->more = (int32_t)i64(&d, e[13]);
    if (reply->elements == 17 && res->rc == 0) {
        int qrc = rs_reply_quotas(e[16], arena, res);
        if (qrc == CP_ERR_NOMEM) d.oom = 1;
        if (qrc == CP_ERR_UNAVAILABLE) d.bad = "redis: malformed quotas";
    }
    if (reply->elements == 16 && res->rc == 0) {
        int trc = rs_reply_tenants(e[15], arena, &res->tenants, &res->n_tenants);
        if (trc == CP_ERR_NOMEM) d.oom = 1;
        if (trc == CP_ERR_UNAVAILABLE) d.bad = "redis: malformed tenants";
    }
    return finish(&d, res, "redis: malformed script reply");
}

/* One record read by GET: nil = no such record. */
static int parse_record(const redisReply *reply, int is_agent, struct rs_arena *arena,
                        struct cp_result *res)
{
    memset(res, 0, sizeof(*res));
    res->size = sizeof(*res);
    struct rd d = {arena, NULL, 0};
    if (reply->type == REDIS_REPLY_NIL) {
        res->rc = CP_ERR_NOT_FOUND;
        res->message = is_agent ? "agent not found" : "task not found";
        return res->rc;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        res->rc = CP_ERR_UNAVAILABLE;
        res->message = "redis: malformed record read";
        return res->rc;
    }
    if (is_agent)
        res->agent = agent(&d, reply);
    else
        res->task = task(&d, reply);
    return finish(&d, res, "redis: malformed record read");
}

int rs_reply_parse_agent(const redisReply *reply, struct rs_arena *arena, struct cp_result *res)
{
    return parse_record(reply, 1, arena, res);
}

int rs_reply_parse_task(const redisReply *reply, struct rs_arena *arena, struct cp_result *res)
{
    return parse_record(reply, 0, arena, res);
}

int rs_reply_parse_agent_list(const redisReply *reply, int32_t status, struct rs_arena *arena,
                              struct cp_result *res)
{
    memset(res, 0, sizeof(*res));
    res->size = sizeof(*res);
    struct rd d = {arena, NULL, 0};
    if (!is_array(&d, reply, 0)) return finish(&d, res, "redis: malformed agent list reply");
    const struct cp_agent_view **v =
        reply->elements ? alloc(&d, reply->elements * sizeof(*v)) : NULL;
    size_t n = 0;
    for (size_t i = 0; v && i < reply->elements && !d.bad; i++) {
        const redisReply *e = reply->element[i];
        if (e->type == REDIS_REPLY_NIL) continue; /* deleted since its id was read */
        if (e->type != REDIS_REPLY_STRING) {
            d.bad = "unexpected agent record";
            break;
        }
        const struct cp_agent_view *a = agent(&d, e);
        if (a && (status < 0 || a->status == status)) v[n++] = a;
    }
    if (!d.bad && !d.oom) sort_agents(v, n);
    res->agents = v;
    res->n_agents = n;
    res->total = n;
    return finish(&d, res, "redis: malformed agent list reply");
}
