/* tasks.c — the task endpoints an agent uses (docs/api.md): list, get, claim, the transitions
 * and the lease (extend): parse and validate, one operation (ops.h), render from its callback.
 * Long polls (claim block_ms, get wait_ms) are held by ops; this file only watches the
 * connection while they are. Submitting is tasks_submit.c, the operator's ops tasks_admin.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../xalloc.h"
#include "identity.h"
#include "render.h"
#include "routes.h"
#include "quota_fields.h"
#include "validate.h"

#define MAX_WAIT_MS 60000

static void claim_ctx_free(struct claim_ctx *c)
{
    strlist_free(&c->caps);
    free(c);
}

/* The client of a held long poll went away: ops forgets it, the request is only freed. */
static void on_gone(struct req *r)
{
    struct claim_ctx *c = r->ctx; /* a claim's (a wait has no context) */
    ops_call_cancel(&r->call);
    r->ctx = NULL;
    if (c) c->free(c);
    http_reply_buffer(r, 200, NULL);
}

void tasks_on_hold(void *cookie, int held)
{
    struct req *r = cookie;
    if (held)
        http_hold(r, on_gone);
    else
        http_unhold(r);
}

static void on_claim_written(struct req *r, int written)
{
    struct claim_ctx *c = r->ctx;
    if (!written) ops_task_release(r->core, c->task_id, c->in.agent_id, c->attempt);
    r->ctx = NULL;
    c->free(c);
}

void tasks_claim_pending(struct req *r, const struct cp_task_view *t)
{
    struct claim_ctx *c = r->ctx;
    snprintf(c->task_id, sizeof c->task_id, "%s", t->id);
    c->attempt = t->attempt;
    r->on_written = on_claim_written;
}

/* ---- list / get ---- */

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "tasks");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"tasks\":[");
    for (size_t i = 0; i < res->n_tasks; i++) {
        if (i) evbuffer_add(b, ",", 1);
        render_task(b, res->tasks[i]);
    }
    evbuffer_add_printf(b, "],\"total\":%llu}", (unsigned long long)res->total);
    http_reply_buffer(r, 200, b);
}

void tasks_list(struct req *r)
{
    struct cp_task_filter f = {-1, NULL, 50};
    const char *status = http_query(r, "status");
    const char *type = http_query(r, "task_type");
    uint64_t limit;
    if (status &&
        (f.status = cp_enum_parse(cp_task_status_names, CP_TASK_STATUS_COUNT, status)) < 0) {
        http_reply_error(r, 400, "invalid_field",
                         "status must be one of pending, claimed, "
                         "running, completed, failed, cancelled, timeout");
        return;
    }
    if (type && check_identifier(r, "task_type", type) < 0) return;
    if (query_uint(r, "limit", 1, 1000, 50, &limit) < 0) return;
    f.task_type = type;
    f.limit = (uint32_t)limit;
    ops_task_list(r->core, &f, on_listed, r);
}

static void on_got(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_task(b, res->task);
    http_reply_buffer(r, 200, b);
}

void tasks_get(struct req *r)
{
    uint64_t wait_ms;
    if (query_uint(r, "wait_ms", 0, MAX_WAIT_MS, 0, &wait_ms) < 0) return;
    ops_task_get(r->core, &r->call, r->params[0], wait_ms, tasks_on_hold, on_got, r);
}

/* ---- claim ---- */

static void on_claimed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct claim_ctx *c = r->ctx;
    if (res->rc < 0 || !res->task) {
        claim_ctx_free(c);
        r->ctx = NULL;
    }
    if (res->rc < 0) {
        http_reply_storage_error(r, res, res->rc == CP_ERR_NOT_FOUND ? "agent" : "claim");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"task\":");
    if (res->task) {
        render_task(b, res->task);
        tasks_claim_pending(r, res->task);
    } else {
        evbuffer_add(b, "null", 4);
    }
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

void tasks_claim(struct req *r)
{
    const char *agent_id;
    double block = 0;
    struct strlist caps;
    int has_caps = 0;
    if (get_string(r, "agent_id", 1, &agent_id) < 0 ||
        check_identifier(r, "agent_id", agent_id) < 0 || auth_agent(r, agent_id) < 0 ||
        get_number(r, "block_ms", 0, MAX_WAIT_MS, &block) < 0 ||
        get_id_list(r, "capabilities", r->core->cfg->max_capabilities, &has_caps, &caps) < 0)
        return;
    struct claim_ctx *c = xcalloc(1, sizeof *c);
    c->free = claim_ctx_free;
    c->caps = caps;
    c->in = (struct ops_claim){agent_id, has_caps ? (const char *const *)c->caps.items : NULL,
                               c->caps.n, (uint64_t)block};
    r->ctx = c;
    ops_task_claim(r->core, &r->call, &c->in, tasks_on_hold, on_claimed, r);
}

/* ---- transitions ---- */

static void reply_conflict(struct req *r, const struct cp_task_view *t)
{
    const char *who = NULL;
    json_object *v = NULL;
    if (json_object_object_get_ex(r->body, "agent_id", &v) && v) who = json_object_get_string(v);
    if (who && (t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING) &&
        (!t->assigned_agent || strcmp(t->assigned_agent, who) != 0))
        http_reply_error(r, 409, "conflict", "task %s is %s by agent %s, not %s", t->id,
                         cp_task_status_name(t->status),
                         t->assigned_agent ? t->assigned_agent : "(none)", who);
    else
        http_reply_error(r, 409, "conflict", "task %s is %s", t->id,
                         cp_task_status_name(t->status));
}

/* The body of a transition's answer, without its closing brace (tasks_next.c appends). */
void tasks_render_transition(struct evbuffer *b, int kind, const struct cp_task_view *t)
{
    switch (kind) {
    case CP_TR_START:
        render_literal(b, "{\"started\":true");
        break;
    case CP_TR_COMPLETE:
        render_literal(b, "{\"completed\":true");
        break;
    case CP_TR_CANCEL:
        render_literal(b, "{\"cancelled\":true");
        break;
    case CP_TR_FAIL:
        evbuffer_add_printf(b, "{\"failed\":true,\"status\":\"%s\",\"retries\":%u",
                            cp_task_status_name(t->status), (unsigned)t->retries);
        break;
    }
}

void tasks_reply_transition(struct req *r, int kind, const struct cp_result *res)
{
    if (res->rc == CP_ERR_CONFLICT && res->task) {
        reply_conflict(r, res->task);
        return;
    }
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    tasks_render_transition(b, kind, res->task);
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

static void on_transitioned(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    int kind = (int)(intptr_t)r->ctx;
    r->ctx = NULL;
    tasks_reply_transition(r, kind, res);
}

static void transition(struct req *r, int kind)
{
    const char *agent_id = NULL, *error = NULL;
    char *result = NULL;
    double latency = -1;
    int requeue = 1;
    if (check_identifier(r, "task id", r->params[0]) < 0) return;
    if (kind != CP_TR_CANCEL && (get_string(r, "agent_id", 0, &agent_id) < 0 ||
                                 (agent_id && check_identifier(r, "agent_id", agent_id) < 0)))
        return;
    if (kind != CP_TR_CANCEL && auth_agent_fence(r, &agent_id) < 0) return;
    if ((kind == CP_TR_COMPLETE || kind == CP_TR_FAIL) &&
        get_number(r, "latency_ms", 0, 1e12, &latency) < 0)
        return;
    if (kind == CP_TR_FAIL &&
        (get_string(r, "error", 0, &error) < 0 || get_bool(r, "requeue", &requeue) < 0))
        return;
    struct next_ctx *next = NULL; /* "next": claim the agent's next task too (tasks_next.c) */
    if ((kind == CP_TR_COMPLETE || kind == CP_TR_FAIL) && tasks_next_parse(r, agent_id, &next) < 0)
        return;
    if (kind == CP_TR_COMPLETE && get_json_text(r, "result", 0, NULL, &result) < 0) {
        if (next) tasks_next_free(next);
        return;
    }
    struct cp_transition tr = {.kind = kind,
                               .task_id = r->params[0],
                               .agent_id = agent_id,
                               .result_json = result,
                               .error = error ? error : "Unknown error",
                               .latency_ms = latency,
                               .requeue = requeue};
    if ((kind == CP_TR_COMPLETE || kind == CP_TR_FAIL) &&
        (quota_fields_usage(r, &tr) < 0 ||
         (kind == CP_TR_FAIL && quota_fields_rate_limited(r, &tr) < 0))) {
        if (next) tasks_next_free(next);
        free(result);
        return;
    }
    if (next) {
        tasks_next_run(r, next, &tr);
    } else {
        r->ctx = (void *)(intptr_t)kind;
        ops_task_transition(r->core, &r->call, &tr, on_transitioned, r);
    }
    free(result);
}

void tasks_start(struct req *r)
{
    transition(r, CP_TR_START);
}
void tasks_complete(struct req *r)
{
    transition(r, CP_TR_COMPLETE);
}
void tasks_fail(struct req *r)
{
    transition(r, CP_TR_FAIL);
}
void tasks_cancel(struct req *r)
{
    transition(r, CP_TR_CANCEL);
}

/* ---- the lease ---- */

#define MAX_PROGRESS_MESSAGE 1024

/* "progress": {"percent": 0-100, "message": "..."} as compact JSON text (malloc'd), NULL when
 * absent; -1 after replying 400. */
static int get_progress(struct req *r, char **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(r->body, "progress", &v) || !v) return 0;
    if (!json_object_is_type(v, json_type_object)) {
        http_reply_error(r, 400, "invalid_field",
                         "progress must be an object {\"percent\": 0-100, \"message\": \"...\"}");
        return -1;
    }
    json_object *p = xjson_object();
    json_object_object_foreach(v, k, val)
    {
        if (strcmp(k, "percent") == 0) {
            double d = json_object_get_double(val);
            if ((!json_object_is_type(val, json_type_int) &&
                 !json_object_is_type(val, json_type_double)) ||
                !(d >= 0 && d <= 100)) {
                json_object_put(p);
                http_reply_error(r, 400, "invalid_field",
                                 "progress.percent must be a number from 0 to 100");
                return -1;
            }
            json_object_object_add(p, "percent", json_object_get(val));
        } else if (strcmp(k, "message") == 0) {
            if (!json_object_is_type(val, json_type_string) ||
                json_object_get_string_len(val) > MAX_PROGRESS_MESSAGE ||
                (size_t)json_object_get_string_len(val) != strlen(json_object_get_string(val))) {
                json_object_put(p);
                http_reply_error(r, 400, "invalid_field",
                                 "progress.message must be a string of at most %d bytes",
                                 MAX_PROGRESS_MESSAGE);
                return -1;
            }
            json_object_object_add(p, "message", json_object_get(val));
        } else if (!json_object_is_type(val, json_type_null)) {
            json_object_put(p);
            http_reply_error(r, 400, "invalid_field",
                             "progress.%.40s is not known; expected percent and message", k);
            return -1;
        }
    }
    *out = xstrdup(
        json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(p);
    return 0;
}

static void on_extended(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc == CP_ERR_CONFLICT && res->task) {
        reply_conflict(r, res->task);
        return;
    }
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"extended\":true,\"deadline_at\":");
    render_time(b, res->task->deadline_at_ms);
    render_literal(b, ",\"progress\":");
    const char *progress = res->task->progress_json ? res->task->progress_json : "null";
    evbuffer_add(b, progress, strlen(progress));
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

void tasks_extend(struct req *r)
{
    const char *agent_id = NULL;
    char *progress = NULL;
    double secs = 0;
    if (check_identifier(r, "task id", r->params[0]) < 0 ||
        get_string(r, "agent_id", 0, &agent_id) < 0 ||
        (agent_id && check_identifier(r, "agent_id", agent_id) < 0) ||
        auth_agent_fence(r, &agent_id) < 0 ||
        get_number(r, "seconds", 0.001, 31536000, &secs) < 0 || get_progress(r, &progress) < 0)
        return;
    struct cp_extend x = {.task_id = r->params[0],
                          .agent_id = agent_id,
                          .deadline_ms =
                              secs > 0 ? clock_now_ms() + (int64_t)(secs * 1000 + 0.5) : 0,
                          .progress_json = progress};
    ops_task_extend(r->core, &r->call, &x, on_extended, r);
    free(progress);
}
