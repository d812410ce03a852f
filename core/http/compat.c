/* compat.c — the two reads the original project's dashboard makes, in its shapes, so that its
 * frontend shows cpd's real numbers: GET /queue (tasks as "jobs") and GET /api/control-plane
 * /metrics (counters). One store read each; the mapping from cpd's states is in docs/api.md.
 *
 *   task status  pending -> queued; claimed, running -> running; completed -> completed;
 *                failed, timeout, cancelled -> failed (cpd never pauses a task: no "paused")
 *   progress     0 while queued, 100 once terminal; while running, the percent of the progress
 *                its holder last reported (POST /tasks/:id/extend), else metadata.progress when
 *                it is a number from 0 to 100, else 0
 *   name         metadata.name when it is a string, else the task type
 *   started_at   started_at, else claimed_at (claimed, not started yet), else null */
#include <json-c/json.h>

#include "render.h"
#include "routes.h"
#include "validate.h"

static const char *job_status(int32_t s)
{
    switch (s) {
    case CP_TASK_PENDING:
        return "queued";
    case CP_TASK_CLAIMED:
    case CP_TASK_RUNNING:
        return "running";
    case CP_TASK_COMPLETED:
        return "completed";
    default:
        return "failed";
    }
}

/* The stored JSON text as an object (json-c; NULL when absent or not JSON). */
static json_object *parse_stored(json_tokener *tok, const char *text)
{
    if (!text) return NULL;
    json_tokener_reset(tok);
    return json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
}

/* o.key when it is a number from 0 to 100. */
static int percent_of(json_object *o, const char *key, double *out)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return 0;
    double p = json_object_get_double(v);
    if (!(p >= 0 && p <= 100)) return 0;
    *out = p;
    return 1;
}

static void render_job(struct evbuffer *b, const struct cp_task_view *t, json_tokener *tok)
{
    json_object *md = parse_stored(tok, t->metadata_json);
    json_object *v = NULL;
    const char *name = t->task_type;
    if (md && json_object_object_get_ex(md, "name", &v) && json_object_is_type(v, json_type_string))
        name = json_object_get_string(v);
    double progress = cp_task_status_is_terminal(t->status) ? 100 : 0;
    if (t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING) {
        json_object *reported = parse_stored(tok, t->progress_json);
        if (!percent_of(reported, "percent", &progress)) percent_of(md, "progress", &progress);
        json_object_put(reported);
    }
    render_literal(b, "{\"id\":");
    render_string(b, t->id);
    render_literal(b, ",\"type\":");
    render_string(b, t->task_type);
    render_literal(b, ",\"name\":");
    render_string(b, name);
    evbuffer_add_printf(b, ",\"status\":\"%s\",\"progress\":", job_status(t->status));
    render_number(b, progress);
    render_literal(b, ",\"started_at\":");
    render_time(b, t->started_at_ms > 0 ? t->started_at_ms : t->claimed_at_ms);
    render_literal(b, ",\"agents_assigned\":[");
    if (t->assigned_agent) render_string(b, t->assigned_agent);
    render_literal(b, "]}");
    json_object_put(md);
}

static void on_queue_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "tasks");
        return;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) xalloc_die("json_tokener_new", sizeof(void *));
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"jobs\":[");
    for (size_t i = 0; i < res->n_tasks; i++) {
        if (i) render_literal(b, ",");
        render_job(b, res->tasks[i], tok);
    }
    evbuffer_add_printf(b, "],\"total\":%llu}", (unsigned long long)res->total);
    json_tokener_free(tok);
    http_reply_buffer(r, 200, b);
}

void compat_queue(struct req *r)
{
    uint64_t limit;
    if (query_uint(r, "limit", 1, 1000, 50, &limit) < 0) return;
    struct cp_task_filter f = {-1, NULL, (uint32_t)limit};
    ops_task_list(r->core, &f, on_queue_listed, r);
}

static void on_metrics_stats(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "stats");
        return;
    }
    const struct cp_stats_view *s = res->stats;
    const uint64_t *t = s->tasks_by_status;
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add_printf(
        b,
        "{\"active_jobs\":%llu,\"queued_jobs\":%llu,\"completed_jobs\":%llu,"
        "\"failed_jobs\":%llu,\"agents_available\":%llu,\"agents_busy\":%llu,"
        "\"total_agents\":%llu}",
        (unsigned long long)(t[CP_TASK_CLAIMED] + t[CP_TASK_RUNNING]),
        (unsigned long long)t[CP_TASK_PENDING], (unsigned long long)t[CP_TASK_COMPLETED],
        (unsigned long long)(t[CP_TASK_FAILED] + t[CP_TASK_TIMEOUT] + t[CP_TASK_CANCELLED]),
        (unsigned long long)s->agents_available,
        (unsigned long long)s->agents_by_status[CP_AGENT_BUSY],
        (unsigned long long)s->agents_total);
    http_reply_buffer(r, 200, b);
}

void compat_metrics(struct req *r)
{
    ops_stats(r->core, on_metrics_stats, r);
}
