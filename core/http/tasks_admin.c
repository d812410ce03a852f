/* tasks_admin.c — the operator's task endpoints: POST /tasks/:id/retry (a failed, timed-out or
 * cancelled task back to pending) and DELETE /tasks (purge terminal tasks, bounded per call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../xalloc.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

#define PURGE_MAX_LIMIT 10000
#define PURGE_DEFAULT_LIMIT 1000

static void on_retried(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc == CP_ERR_CONFLICT && res->task) {
        http_reply_error(r, 409, "conflict",
                         "task %s is %s; only failed, timeout and cancelled tasks can be retried",
                         res->task->id, cp_task_status_name(res->task->status));
        return;
    }
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"retried\":true,\"status\":");
    render_string(b, cp_task_status_name(res->task->status));
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

void tasks_retry(struct req *r)
{
    if (check_identifier(r, "task id", r->params[0]) < 0) return;
    ops_task_retry(r->core, &r->call, r->params[0], on_retried, r);
}

static void on_purged(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "tasks");
        return;
    }
    size_t purged = 0;
    for (size_t i = 0; i < res->n_events; i++)
        purged += res->events[i].kind == CP_EVENT_TASK_DELETED;
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add_printf(b, "{\"purged\":%zu,\"more\":%s}", purged, res->more ? "true" : "false");
    http_reply_buffer(r, 200, b);
}

void tasks_purge(struct req *r)
{
    struct cp_purge p = {0};
    const char *status = http_query(r, "status");
    const char *type = http_query(r, "task_type");
    const char *older = http_query(r, "older_than");
    uint64_t limit;
    if (status) {
        int s = cp_enum_parse(cp_task_status_names, CP_TASK_STATUS_COUNT, status);
        if (s < 0 || !cp_task_status_is_terminal(s)) {
            http_reply_error(r, 400, "invalid_field",
                             "status must be one of completed, failed, cancelled, timeout (only "
                             "finished tasks are purged)");
            return;
        }
        p.status_mask = CP_TASK_MASK(s);
    }
    if (type && check_identifier(r, "task_type", type) < 0) return;
    double secs = 0;
    if (older) {
        char *end;
        secs = strtod(older, &end);
        if (!*older || *end || !(secs >= 0) || secs > 3153600000.0) {
            http_reply_error(r, 400, "invalid_field",
                             "older_than must be a number of seconds from 0 (e.g. 3600)");
            return;
        }
    }
    if (query_uint(r, "limit", 1, PURGE_MAX_LIMIT, PURGE_DEFAULT_LIMIT, &limit) < 0) return;
    p.task_type = type;
    p.ended_before_ms = clock_now_ms() - (int64_t)(secs * 1000.0 + 0.5);
    p.limit = (uint32_t)limit;
    ops_task_purge(r->core, &p, on_purged, r);
}
