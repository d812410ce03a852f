/* health.c — the health and stats endpoints (docs/api.md): system health, one agent's health,
 * and /stats decoded into struct cpc_stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int nomem(cp_client *c)
{
    return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
}

static int by_agent_id(const void *a, const void *b)
{
    const struct cpc_health *x = a, *y = b;
    return strcmp(x->agent_id, y->agent_id);
}

/* A /health answer: the map of either form ("agents" or "unhealthy_agents"), the summary. */
static int decode_system_health(cp_client *c, struct json_object *resp,
                                struct cpc_system_health **out)
{
    struct json_object *agents = NULL, *summary = NULL, *by = NULL;
    int err = 0;
    struct cpc_system_health *h = calloc(1, sizeof *h);
    const char *next = cpc_get_str(resp, "next");
    if (!h || !(h->json = strdup(cpc_json_text(resp))) || (next && !(h->next = strdup(next)))) {
        cp_client_system_health_free(h);
        return nomem(c);
    }
    h->status = cp_enum_parse(cp_health_names, CP_HEALTH_COUNT, cpc_get_str(resp, "status"));
    h->full = json_object_object_get_ex(resp, "agents", &agents);
    if (!h->full) json_object_object_get_ex(resp, "unhealthy_agents", &agents);
    if (json_object_object_get_ex(resp, "summary", &summary) &&
        json_object_is_type(summary, json_type_object)) {
        int64_t total = cpc_get_i64(summary, "agents", 0);
        h->agents_total = total > 0 ? (uint64_t)total : 0;
        if (json_object_object_get_ex(summary, "by_health", &by) &&
            json_object_is_type(by, json_type_object))
            for (int i = 0; i < CP_HEALTH_CRITICAL; i++) {
                int64_t v = cpc_get_i64(by, cp_health_names[i], 0);
                h->by_health[i] = v > 0 ? (uint64_t)v : 0;
            }
    }
    if (agents && json_object_is_type(agents, json_type_object)) {
        size_t n = (size_t)json_object_object_length(agents);
        if (!(h->agents = calloc(n ? n : 1, sizeof *h->agents))) err = nomem(c);
        json_object_object_foreach(agents, id, val)
        {
            if (err || h->n_agents == n) break;
            err = cpc_decode_health(c, id, val, &h->agents[h->n_agents]);
            if (!err) h->n_agents++;
        }
        if (!err) qsort(h->agents, h->n_agents, sizeof *h->agents, by_agent_id);
        if (!err && !h->agents_total && h->full) h->agents_total = h->n_agents; /* older cpd */
    }
    if (err) {
        cp_client_system_health_free(h);
        return err;
    }
    *out = h;
    return CPC_OK;
}

static int health_request(cp_client *c, const struct cpc_health_query *q, struct json_object **resp)
{
    struct cpc_buf path = {0};
    char n[16];
    cpc_buf_add(&path, "/health");
    if (q && q->agents) cpc_buf_add_param(&path, "agents", q->agents);
    if (q && q->limit) {
        snprintf(n, sizeof n, "%u", q->limit);
        cpc_buf_add_param(&path, "limit", n);
    }
    if (q && q->after) cpc_buf_add_param(&path, "after", q->after);
    if (path.failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    int err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, resp, NULL);
    cpc_buf_free(&path);
    return err;
}

int cp_client_health_query(cp_client *c, const struct cpc_health_query *q,
                           struct cpc_system_health **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct json_object *resp;
    int err = health_request(c, q, &resp);
    if (err) return err;
    err = decode_system_health(c, resp, out);
    json_object_put(resp);
    return err;
}

int cp_client_health(cp_client *c, struct cpc_system_health **out)
{
    return cp_client_health_query(c, NULL, out);
}

/* The first page's object gathers every page's agents; "next" must move forward. */
int cp_client_health_all(cp_client *c, struct cpc_system_health **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct cpc_health_query q = {.agents = "all", .limit = CPC_AGENT_PAGE};
    struct json_object *first = NULL, *resp = NULL, *map = NULL, *agents;
    char *after = NULL;
    int err;
    for (;;) {
        q.after = after;
        if ((err = health_request(c, &q, &resp))) break;
        if (!json_object_object_get_ex(resp, "agents", &agents) ||
            !json_object_is_type(agents, json_type_object)) {
            err = cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without an \"agents\" map");
            break;
        }
        if (!first) {
            first = resp;
            map = agents;
        } else {
            json_object_object_foreach(agents, id, val)
                json_object_object_add(map, id, json_object_get(val));
        }
        const char *next = cpc_get_str(resp, "next");
        if (!next) break;
        if (after && strcmp(next, after) <= 0) {
            err = cpc_set_error(c, CPC_ERR_PROTOCOL, "the server's next does not move forward");
            break;
        }
        free(after);
        if (!(after = strdup(next))) {
            err = nomem(c);
            break;
        }
        if (resp != first) json_object_put(resp);
        resp = NULL;
    }
    free(after);
    if (resp && resp != first) json_object_put(resp);
    if (!err) {
        json_object_object_add(first, "next", NULL);
        err = decode_system_health(c, first, out);
    }
    if (first) json_object_put(first);
    return err;
}

int cp_client_agent_health(cp_client *c, const char *agent_id, struct cpc_health **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    int err = cpc_require(c, "agent_id", agent_id);
    if (err) return err;
    struct cpc_buf path = {0};
    cpc_buf_add(&path, "/health/");
    cpc_buf_add_escaped(&path, agent_id);
    if (path.failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp;
    err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    if (err) return err;
    struct cpc_health *h = malloc(sizeof *h);
    if (!h)
        err = nomem(c);
    else if ((err = cpc_decode_health(c, agent_id, resp, h)))
        free(h);
    else
        *out = h;
    json_object_put(resp);
    return err;
}

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

/* {"name": n, ...} -> counts[] indexed by the enum's names. */
static void enum_counts(struct json_object *o, const char *const *names, int count, uint64_t *out)
{
    for (int i = 0; i < count; i++) {
        int64_t v = o ? cpc_get_i64(o, names[i], 0) : 0;
        out[i] = v > 0 ? (uint64_t)v : 0;
    }
}

static int by_name(const void *a, const void *b)
{
    const struct cpc_count *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* {"name": n, ...} -> a sorted array of struct cpc_count. -1 on allocation failure. */
static int named_counts(struct json_object *o, struct cpc_count **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!o) return 0;
    size_t len = (size_t)json_object_object_length(o);
    struct cpc_count *v = calloc(len ? len : 1, sizeof *v);
    if (!v) return -1;
    *out = v;
    json_object_object_foreach(o, key, val)
    {
        if (*n == len) break;
        if (!(v[*n].name = strdup(key))) return -1;
        int64_t cnt = json_object_get_int64(val);
        v[*n].count = cnt > 0 ? (uint64_t)cnt : 0;
        (*n)++;
    }
    qsort(v, *n, sizeof *v, by_name);
    return 0;
}

static void free_counts(struct cpc_count *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

void cp_client_stats_free(struct cpc_stats *s)
{
    if (!s) return;
    free_counts(s->agents_by_capability, s->n_agents_by_capability);
    free_counts(s->agents_by_provider, s->n_agents_by_provider);
    free_counts(s->tasks_by_type, s->n_tasks_by_type);
    free(s->json);
    free(s);
}

static uint64_t u64(struct json_object *o, const char *key)
{
    int64_t v = o ? cpc_get_i64(o, key, 0) : 0;
    return v > 0 ? (uint64_t)v : 0;
}

int cp_client_stats(cp_client *c, struct cpc_stats **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct json_object *resp;
    int err = cpc_http(c, "GET", "/stats", NULL, c->timeout_ms, 0, &resp, NULL);
    if (err) return err;
    struct json_object *reg = member(resp, "registry"), *sch = member(resp, "scheduler"),
                       *hl = member(resp, "health");
    if (!reg || !sch || !hl) {
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_PROTOCOL,
                             "stats without registry, scheduler and health objects");
    }
    struct cpc_stats *s = calloc(1, sizeof *s);
    if (!s || !(s->json = strdup(cpc_json_text(resp)))) err = -1;
    if (!err) {
        s->total_agents = u64(reg, "total_agents");
        s->available_agents = u64(reg, "available_agents");
        enum_counts(member(reg, "by_status"), cp_agent_status_names, CP_AGENT_STATUS_COUNT,
                    s->agents_by_status);
        s->pending_tasks = u64(sch, "pending_tasks");
        s->running_tasks = u64(sch, "running_tasks");
        s->total_tasks = u64(sch, "total");
        enum_counts(member(sch, "by_status"), cp_task_status_names, CP_TASK_STATUS_COUNT,
                    s->tasks_by_status);
        enum_counts(member(sch, "by_priority"), cp_priority_names, CP_PRIORITY_COUNT,
                    s->tasks_by_priority);
        s->system_health =
            cp_enum_parse(cp_health_names, CP_HEALTH_COUNT, cpc_get_str(hl, "system_health"));
        s->healthy_count = u64(hl, "healthy_count");
        s->degraded_count = u64(hl, "degraded_count");
        s->unhealthy_count = u64(hl, "unhealthy_count");
        s->circuits_open = u64(hl, "circuits_open");
        err = named_counts(member(reg, "by_capability"), &s->agents_by_capability,
                           &s->n_agents_by_capability);
        if (!err)
            err = named_counts(member(reg, "by_provider"), &s->agents_by_provider,
                               &s->n_agents_by_provider);
        if (!err)
            err = named_counts(member(sch, "by_type"), &s->tasks_by_type, &s->n_tasks_by_type);
    }
    json_object_put(resp);
    if (err) {
        cp_client_stats_free(s);
        return nomem(c);
    }
    *out = s;
    return CPC_OK;
}
