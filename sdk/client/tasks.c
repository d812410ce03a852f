/* tasks.c — the task endpoints (docs/api.md): get, wait (GET with wait_ms in a loop), claim
 * (long poll), start, complete, fail, cancel, list. Submitting is submit.c; the lease and the
 * operator's calls are tasks_admin.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cp/time.h>

#include "internal.h"

static int nomem(cp_client *c)
{
    return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
}

static int64_t now_ms(void)
{
    return cp_monotonic_us() / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* "/tasks/<escaped id><suffix>" into b. */
static int task_path(cp_client *c, struct cpc_buf *b, const char *task_id, const char *suffix)
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

/* Decodes o (borrowed) into a new struct cpc_task at *out. */
static int new_task(cp_client *c, struct json_object *o, struct cpc_task **out)
{
    struct cpc_task *t = malloc(sizeof *t);
    if (!t) return nomem(c);
    int err = cpc_decode_task(c, o, t);
    if (err) {
        free(t);
        return err;
    }
    *out = t;
    return CPC_OK;
}

/* GET /tasks/:id, with wait_ms when > 0. */
static int get_task(cp_client *c, const char *task_id, long wait_ms, struct cpc_task **out)
{
    struct cpc_buf path = {0};
    int err = task_path(c, &path, task_id, "");
    if (err) return err;
    if (wait_ms > 0) cpc_buf_addf(&path, "?wait_ms=%ld", wait_ms);
    if (path.failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp;
    long timeout = wait_ms > 0 ? wait_ms + c->margin_ms : c->timeout_ms;
    err = cpc_http(c, "GET", path.s, NULL, timeout, wait_ms > 0, &resp, NULL);
    cpc_buf_free(&path);
    if (err) return err;
    err = new_task(c, resp, out);
    json_object_put(resp);
    return err;
}

int cp_client_task_get(cp_client *c, const char *task_id, struct cpc_task **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    return get_task(c, task_id, 0, out);
}

int cp_client_task_wait(cp_client *c, const char *task_id, long timeout_ms, struct cpc_task **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : INT64_MAX;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left < 0) left = 0;
        long wait = left > CPC_MAX_BLOCK_MS ? CPC_MAX_BLOCK_MS : (long)left;
        struct cpc_task *t = NULL;
        int64_t asked = now_ms();
        int err = get_task(c, task_id, wait, &t);
        if (err) {
            if (err != CPC_ERR_TIMEOUT) { /* on a timeout *out keeps the last task seen */
                cp_client_task_free(*out);
                *out = NULL;
            }
            return err;
        }
        cp_client_task_free(*out);
        *out = t;
        if (cp_task_status_is_terminal(t->status)) return CPC_OK;
        if (now_ms() >= deadline)
            return cpc_set_error(c, CPC_ERR_TIMEOUT, "task %s is still %s", task_id,
                                 cp_task_status_name(t->status));
        /* A server that answers before wait_ms without a terminal task (it should not) must
         * not turn this loop into a busy poll. */
        int64_t took = now_ms() - asked;
        if (took < wait / 2) {
            long pause = (long)(deadline - now_ms());
            sleep_ms(pause < 200 ? (pause > 0 ? pause : 0) : 200);
        }
    }
}

int cp_client_task_claim(cp_client *c, const char *agent_id, const char *const *capabilities,
                         size_t n_capabilities, long block_ms, struct cpc_task **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    int err = cpc_require(c, "agent_id", agent_id);
    if (!err && capabilities)
        err = cpc_check_strings(c, "capabilities", capabilities, n_capabilities);
    if (err) return err;
    if (block_ms < 0 || block_ms > CPC_MAX_BLOCK_MS)
        return cpc_set_error(c, CPC_ERR_INVALID, "block_ms must be 0..%d", CPC_MAX_BLOCK_MS);
    int failed = 0;
    struct json_object *body = json_object_new_object();
    cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    if (capabilities)
        cpc_add(body, "capabilities", cpc_string_array(capabilities, n_capabilities), &failed);
    cpc_add(body, "block_ms", json_object_new_int64(block_ms), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    struct json_object *resp, *task;
    long timeout = block_ms > 0 ? block_ms + c->margin_ms : c->timeout_ms;
    if ((err = cpc_post(c, "/tasks/claim", body, timeout, block_ms > 0, &resp))) return err;
    if (!json_object_object_get_ex(resp, "task", &task))
        err = cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without \"task\"");
    else if (task)
        err = new_task(c, task, out);
    json_object_put(resp);
    return err;
}

/* POST /tasks/:id/<action> with body; *resp (may be NULL) gets the answer. */
static int task_action(cp_client *c, const char *task_id, const char *action,
                       struct json_object *body, struct json_object **resp)
{
    struct cpc_buf path = {0};
    int err = task_path(c, &path, task_id, action);
    if (err) {
        json_object_put(body);
        return err;
    }
    struct json_object *r = NULL;
    err = cpc_post(c, path.s, body, c->timeout_ms, 0, &r);
    cpc_buf_free(&path);
    if (resp && !err)
        *resp = r;
    else
        json_object_put(r);
    return err;
}

int cp_client_task_start(cp_client *c, const char *task_id, const char *agent_id)
{
    cpc_reset_error(c);
    int failed = 0;
    struct json_object *body = json_object_new_object();
    if (agent_id) cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    return task_action(c, task_id, "/start", body, NULL);
}

/* The one implementation is cp_client_task_complete_usage() (fleet.c): without usage. */
int cp_client_task_complete(cp_client *c, const char *task_id, const char *agent_id,
                            const char *result_json, double latency_ms)
{
    return cp_client_task_complete_usage(c, task_id, agent_id, result_json, latency_ms, NULL);
}

int cp_client_task_fail(cp_client *c, const char *task_id, const char *agent_id, const char *error,
                        double latency_ms, int requeue, struct cpc_fail_result *out)
{
    cpc_reset_error(c);
    if (out) {
        out->status = -1;
        out->retries = 0;
    }
    int failed = 0;
    struct json_object *body = json_object_new_object();
    if (error) cpc_add(body, "error", json_object_new_string(error), &failed);
    if (agent_id) cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    if (latency_ms >= 0) cpc_add(body, "latency_ms", json_object_new_double(latency_ms), &failed);
    cpc_add(body, "requeue", json_object_new_boolean(requeue != 0), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    struct json_object *resp = NULL;
    int err = task_action(c, task_id, "/fail", body, &resp);
    if (err) return err;
    if (out) {
        out->status =
            cp_enum_parse(cp_task_status_names, CP_TASK_STATUS_COUNT, cpc_get_str(resp, "status"));
        int64_t r = cpc_get_i64(resp, "retries", 0);
        out->retries = r > 0 ? (uint32_t)r : 0;
    }
    json_object_put(resp);
    return CPC_OK;
}

/* The body's "next" member and the request for complete/fail with next: *out gets the claimed
 * task (NULL: none), *resp (may be NULL) the answer. Takes body. */
static int with_next(cp_client *c, const char *task_id, const char *action, const char *agent_id,
                     struct json_object *body, const struct cpc_next *next,
                     struct json_object **resp, struct cpc_task **out)
{
    static const struct cpc_next dflt = {0};
    if (!next) next = &dflt;
    int err = cpc_require(c, "agent_id", agent_id);
    if (!err && next->capabilities)
        err = cpc_check_strings(c, "next.capabilities", next->capabilities, next->n_capabilities);
    if (!err && (next->block_ms < 0 || next->block_ms > CPC_MAX_BLOCK_MS))
        err = cpc_set_error(c, CPC_ERR_INVALID, "next.block_ms must be 0..%d", CPC_MAX_BLOCK_MS);
    if (err) {
        json_object_put(body);
        return err;
    }
    int failed = 0;
    struct json_object *n = json_object_new_object();
    if (next->capabilities)
        cpc_add(n, "capabilities", cpc_string_array(next->capabilities, next->n_capabilities),
                &failed);
    cpc_add(n, "block_ms", json_object_new_int64(next->block_ms), &failed);
    cpc_add(body, "next", n, &failed);
    cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    struct cpc_buf path = {0};
    if ((err = task_path(c, &path, task_id, action))) {
        json_object_put(body);
        return err;
    }
    struct json_object *r = NULL, *task;
    long timeout = next->block_ms > 0 ? next->block_ms + c->margin_ms : c->timeout_ms;
    err = cpc_post(c, path.s, body, timeout, next->block_ms > 0, &r);
    cpc_buf_free(&path);
    if (err) return err;
    /* No "next" at all: a server older than next completed and claimed nothing. */
    if (json_object_object_get_ex(r, "next", &task) && task) err = new_task(c, task, out);
    if (resp && !err)
        *resp = r;
    else
        json_object_put(r);
    return err;
}

int cp_client_task_complete_next(cp_client *c, const char *task_id, const char *agent_id,
                                 const char *result_json, double latency_ms,
                                 const struct cpc_next *next, struct cpc_task **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct json_object *result = NULL;
    int err = result_json ? cpc_parse_arg(c, "result_json", result_json, &result) : CPC_OK;
    if (err) return err;
    int failed = 0;
    struct json_object *body = json_object_new_object();
    cpc_add_json(body, "result", result, &failed);
    if (latency_ms >= 0) cpc_add(body, "latency_ms", json_object_new_double(latency_ms), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    return with_next(c, task_id, "/complete", agent_id, body, next, NULL, out);
}

int cp_client_task_fail_next(cp_client *c, const char *task_id, const char *agent_id,
                             const char *error, double latency_ms, int requeue,
                             const struct cpc_next *next, struct cpc_fail_result *fail_out,
                             struct cpc_task **out)
{
    cpc_reset_error(c);
    if (fail_out) {
        fail_out->status = -1;
        fail_out->retries = 0;
    }
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    int failed = 0;
    struct json_object *body = json_object_new_object();
    if (error) cpc_add(body, "error", json_object_new_string(error), &failed);
    if (latency_ms >= 0) cpc_add(body, "latency_ms", json_object_new_double(latency_ms), &failed);
    cpc_add(body, "requeue", json_object_new_boolean(requeue != 0), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    struct json_object *resp = NULL;
    int err = with_next(c, task_id, "/fail", agent_id, body, next, &resp, out);
    if (err) return err;
    if (fail_out) {
        fail_out->status =
            cp_enum_parse(cp_task_status_names, CP_TASK_STATUS_COUNT, cpc_get_str(resp, "status"));
        int64_t r = cpc_get_i64(resp, "retries", 0);
        fail_out->retries = r > 0 ? (uint32_t)r : 0;
    }
    json_object_put(resp);
    return CPC_OK;
}

int cp_client_task_cancel(cp_client *c, const char *task_id)
{
    cpc_reset_error(c);
    return task_action(c, task_id, "/cancel", json_object_new_object(), NULL);
}

int cp_client_task_list(cp_client *c, const struct cpc_task_query *q, struct cpc_task_list **out)
{
    static const struct cpc_task_query none = {0};
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!q) q = &none;
    struct cpc_buf path = {0};
    cpc_buf_add(&path, "/tasks");
    if (q->status) cpc_buf_add_param(&path, "status", q->status);
    if (q->task_type) cpc_buf_add_param(&path, "task_type", q->task_type);
    if (q->limit) {
        char n[16];
        snprintf(n, sizeof n, "%u", q->limit);
        cpc_buf_add_param(&path, "limit", n);
    }
    if (path.failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp, *arr;
    int err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    if (err) return err;
    if (!json_object_object_get_ex(resp, "tasks", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without a \"tasks\" array");
    }
    size_t n = json_object_array_length(arr);
    struct cpc_task_list *l = calloc(1, sizeof *l);
    if (!l || !(l->tasks = calloc(n ? n : 1, sizeof *l->tasks)) ||
        !(l->json = strdup(cpc_json_text(resp)))) {
        cp_client_task_list_free(l);
        json_object_put(resp);
        return nomem(c);
    }
    l->total = (uint64_t)cpc_get_i64(resp, "total", (int64_t)n);
    for (size_t i = 0; i < n && !err; i++) {
        err = cpc_decode_task(c, json_object_array_get_idx(arr, i), &l->tasks[i]);
        if (!err) l->n++;
    }
    json_object_put(resp);
    if (err) {
        cp_client_task_list_free(l);
        return err;
    }
    *out = l;
    return CPC_OK;
}
