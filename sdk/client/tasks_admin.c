/* tasks_admin.c — the lease of a held task (POST /tasks/:id/extend with progress) and the
 * operator's task calls: retry by hand (POST /tasks/:id/retry) and purge (DELETE /tasks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int nomem(cp_client *c)
{
    return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
}

/* "/tasks/<escaped id><suffix>" (malloc'd into *out). */
static int path_of(cp_client *c, const char *task_id, const char *suffix, struct cpc_buf *b)
{
    int err = cpc_require(c, "task_id", task_id);
    if (err) return err;
    cpc_buf_add(b, "/tasks/");
    cpc_buf_add_escaped(b, task_id);
    cpc_buf_add(b, suffix);
    if (b->failed) {
        cpc_buf_free(b);
        return nomem(c);
    }
    return CPC_OK;
}

int cp_client_task_extend(cp_client *c, const char *task_id, const char *agent_id, double seconds,
                          double percent, const char *message, int64_t *deadline_ms)
{
    cpc_reset_error(c);
    if (deadline_ms) *deadline_ms = 0;
    if (percent > 100) return cpc_set_error(c, CPC_ERR_INVALID, "percent must be 0..100");
    struct cpc_buf path = {0};
    int err = path_of(c, task_id, "/extend", &path);
    if (err) return err;
    int failed = 0;
    struct json_object *body = json_object_new_object();
    if (agent_id) cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    if (seconds > 0) cpc_add(body, "seconds", json_object_new_double(seconds), &failed);
    if (percent >= 0 || message) {
        struct json_object *p = json_object_new_object();
        if (percent >= 0) cpc_add(p, "percent", json_object_new_double(percent), &failed);
        if (message) cpc_add(p, "message", json_object_new_string(message), &failed);
        cpc_add(body, "progress", p, &failed);
    }
    if (failed) {
        json_object_put(body);
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp = NULL;
    err = cpc_post(c, path.s, body, c->timeout_ms, 0, &resp);
    cpc_buf_free(&path);
    if (!err && deadline_ms) *deadline_ms = cpc_parse_time(cpc_get_str(resp, "deadline_at"));
    json_object_put(resp);
    return err;
}

int cp_client_task_retry(cp_client *c, const char *task_id)
{
    cpc_reset_error(c);
    struct cpc_buf path = {0};
    int err = path_of(c, task_id, "/retry", &path);
    if (err) return err;
    err = cpc_post(c, path.s, json_object_new_object(), c->timeout_ms, 0, NULL);
    cpc_buf_free(&path);
    return err;
}

int cp_client_task_purge(cp_client *c, const struct cpc_purge_query *q, uint64_t *purged, int *more)
{
    static const struct cpc_purge_query none = {0};
    cpc_reset_error(c);
    if (purged) *purged = 0;
    if (more) *more = 0;
    if (!q) q = &none;
    if (!(q->older_than_seconds >= 0))
        return cpc_set_error(c, CPC_ERR_INVALID, "older_than_seconds must not be negative");
    struct cpc_buf path = {0};
    char num[32];
    cpc_buf_add(&path, "/tasks");
    if (q->status) cpc_buf_add_param(&path, "status", q->status);
    if (q->task_type) cpc_buf_add_param(&path, "task_type", q->task_type);
    snprintf(num, sizeof num, "%.3f", q->older_than_seconds);
    cpc_buf_add_param(&path, "older_than", num);
    if (q->limit) {
        snprintf(num, sizeof num, "%u", q->limit);
        cpc_buf_add_param(&path, "limit", num);
    }
    if (path.failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp = NULL;
    int err = cpc_http(c, "DELETE", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    if (err) return err;
    struct json_object *m = NULL;
    if (purged) *purged = (uint64_t)cpc_get_i64(resp, "purged", 0);
    if (more) *more = json_object_object_get_ex(resp, "more", &m) && json_object_get_boolean(m);
    json_object_put(resp);
    return CPC_OK;
}
