/* tasks_submit.c — POST /tasks and POST /tasks/batch: a task body (task_fields.c) for each task,
 * one operation (ops.h), then 201 {"task_id"} — or 200 with the same id when an idempotency key
 * found the task it was first submitted with — and, for a batch, each item's task_id or error
 * in the order given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../xalloc.h"
#include "render.h"
#include "routes.h"
#include "task_fields.h"
#include "validate.h"

#define MAX_BATCH 1000

static const char *idempotency_header(struct req *r)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Idempotency-Key");
}

/* ---- one task ---- */

static void on_submitted(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"task_id\":");
    render_string(b, res->task->id);
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, res->created ? 201 : 200, b);
}

void tasks_submit(struct req *r)
{
    struct task_body body;
    struct field_error e;
    if (task_body_parse(r->core->cfg, r->body, idempotency_header(r), &body, &e) < 0) {
        http_reply_error(r, 400, e.code, "%s", e.msg);
        return;
    }
    ops_task_submit(r->core, &r->call, &body.view, on_submitted, r);
    task_body_free(&body);
}

/* ---- a batch ---- */

/* What the reply needs of each item once the store answered (the bodies are gone by then). */
struct batch {
    size_t n;
    struct field_error *errors; /* errors[i].code NULL: item i went to the store */
};

static void batch_free(struct batch *bt)
{
    free(bt->errors);
    free(bt);
}

/* {"results": [...], "created": c, "existing": x, "failed": f}; res NULL when no item was valid. */
static void reply_batch(struct req *r, struct batch *bt, const struct cp_result *res)
{
    struct evbuffer *b = xevbuffer_new();
    size_t k = 0, created = 0, existing = 0, failed = 0;
    render_literal(b, "{\"results\":[");
    for (size_t i = 0; i < bt->n; i++) {
        if (i) evbuffer_add(b, ",", 1);
        const struct field_error *e = &bt->errors[i];
        if (e->code || !res || k >= res->n_tasks) {
            failed++;
            render_literal(b, "{\"error\":");
            render_string(b, e->code ? e->msg : "the storage backend did not store this task");
            render_literal(b, ",\"code\":");
            render_string(b, e->code ? e->code : "internal");
            evbuffer_add(b, "}", 1);
            continue;
        }
        int c = ops_batch_created(&r->call, res, k);
        created += c;
        existing += !c;
        render_literal(b, "{\"task_id\":");
        render_string(b, res->tasks[k++]->id);
        evbuffer_add_printf(b, ",\"created\":%s}", c ? "true" : "false");
    }
    evbuffer_add_printf(b, "],\"created\":%zu,\"existing\":%zu,\"failed\":%zu}", created, existing,
                        failed);
    batch_free(bt);
    r->ctx = NULL;
    http_reply_buffer(r, 200, b);
}

static void on_batch(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        batch_free(r->ctx);
        r->ctx = NULL;
        http_reply_storage_error(r, res, "tasks");
        return;
    }
    reply_batch(r, r->ctx, res);
}

void tasks_submit_batch(struct req *r)
{
    json_object *tasks = NULL;
    if (idempotency_header(r)) {
        http_reply_error(r, 400, "invalid_field",
                         "the Idempotency-Key header names one task; give each task of a batch "
                         "its own idempotency_key");
        return;
    }
    if (!json_object_object_get_ex(r->body, "tasks", &tasks) || !tasks) {
        http_reply_error(r, 400, "missing_field", "tasks is required");
        return;
    }
    size_t n = json_object_is_type(tasks, json_type_array) ? json_object_array_length(tasks) : 0;
    if (!json_object_is_type(tasks, json_type_array) || n < 1 || n > MAX_BATCH) {
        http_reply_error(r, 400, "invalid_field", "tasks must be an array of 1 to %d tasks",
                         MAX_BATCH);
        return;
    }
    struct batch *bt = xcalloc(1, sizeof *bt);
    bt->n = n;
    bt->errors = xcalloc(n, sizeof *bt->errors);
    struct task_body *bodies = xcalloc(n, sizeof *bodies);
    const struct cp_task_view **views = xcalloc(n, sizeof *views);
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        struct field_error *e = &bt->errors[i];
        if (task_body_parse(r->core->cfg, json_object_array_get_idx(tasks, i), NULL, &bodies[i],
                            e) < 0)
            continue;
        const char *strategy = bodies[i].view.strategy;
        if (strategy && !core_strategy(r->core, strategy)) {
            e->code = "invalid_field";
            snprintf(e->msg, sizeof e->msg, "strategy '%.128s' is not a loaded selection plugin",
                     strategy);
            task_body_free(&bodies[i]);
            continue;
        }
        views[valid++] = &bodies[i].view;
    }
    r->ctx = bt;
    if (valid == 0)
        reply_batch(r, bt, NULL);
    else /* the callback may run (and reply, freeing r) before this returns */
        ops_task_submit_batch(r->core, &r->call, views, valid, on_batch, r);
    /* bt may be gone now (replied); the bodies are this function's (freeing one twice or one
     * that failed to parse is harmless). */
    for (size_t i = 0; i < n; i++)
        task_body_free(&bodies[i]);
    free(bodies);
    free(views);
}
