/* tasks.c — the task endpoints (CONTRACT §4): parse and validate, one store operation, reply
 * from its callback; long polls are held through the scheduler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../clock.h"
#include "../health.h"
#include "../metrics.h"
#include "../scheduler.h"
#include "../selection.h"
#include "auth.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

#define MAX_WAIT_MS 60000

/* 96 random bits per id. The bytes come from getrandom() in blocks of 4 KiB: one system call
 * per 341 tasks instead of one per task. */
static void new_task_id(char out[30])
{
    static unsigned char pool[4096];
    static size_t left;
    static const char hex[] = "0123456789abcdef";
    if (left < 12) {
        if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) {
            for (size_t i = 0; i < sizeof pool; i++)
                pool[i] = (unsigned char)random();
        }
        left = sizeof pool;
    }
    const unsigned char *rnd = pool + sizeof pool - left;
    left -= 12;
    memcpy(out, "task_", 5);
    for (int i = 0; i < 12; i++) {
        out[5 + 2 * i] = hex[rnd[i] >> 4];
        out[6 + 2 * i] = hex[rnd[i] & 15];
    }
    out[29] = '\0';
}

static int parse_priority(struct req *r, int32_t *out)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(r->body, "priority", &v) || !v) return 0;
    if (json_object_is_type(v, json_type_int)) {
        int64_t p = json_object_get_int64(v);
        if (p >= 0 && p < CP_PRIORITY_COUNT) {
            *out = (int32_t)p;
            return 0;
        }
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        int p = cp_enum_parse(cp_priority_names, CP_PRIORITY_COUNT, s);
        if (p < 0 && strcmp(s, "urgent") == 0) p = CP_PRIORITY_CRITICAL;
        if (p >= 0) {
            *out = p;
            return 0;
        }
    }
    http_reply_error(r, 400, "invalid_field",
                     "priority must be critical, high, normal, low (or urgent, or 0-3)");
    return -1;
}

/* ---- submit ---- */

static void on_submitted(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    metrics_task_event(res->task->task_type, MET_TASK_SUBMITTED);
    /* Rendered before the task is handed on: a held claim may take (and change) it at once. */
    struct evbuffer *b = evbuffer_new();
    render_literal(b, "{\"task_id\":");
    render_string(b, res->task->id);
    evbuffer_add(b, "}", 1);
    sched_task_changed(r->core->sched, res->task);
    http_reply_buffer(r, 201, b);
}

void tasks_submit(struct req *r)
{
    const struct cp_config *cfg = r->core->cfg;
    const char *type, *strategy;
    struct strlist caps = {0};
    char *payload = NULL, *metadata = NULL;
    int32_t priority = CP_PRIORITY_NORMAL;
    double timeout_s = (double)cfg->task_timeout_ms / 1000.0;
    uint32_t max_retries = cfg->max_task_retries;
    if (get_string(r, "task_type", 1, &type) < 0 || check_identifier(r, "task_type", type) < 0 ||
        get_string(r, "strategy", 0, &strategy) < 0 || parse_priority(r, &priority) < 0 ||
        get_number(r, "timeout_seconds", 0.001, 31536000, &timeout_s) < 0 ||
        get_uint(r, "max_retries", 0, 1000, &max_retries) < 0)
        return;
    if (strategy && !core_strategy(r->core, strategy)) {
        http_reply_error(r, 400, "invalid_field",
                         "strategy '%.128s' is not a loaded selection "
                         "plugin",
                         strategy);
        return;
    }
    if (get_id_list(r, "required_capabilities", cfg->max_required_caps, NULL, &caps) < 0) return;
    if (get_json_text(r, "payload", 0, "{}", &payload) < 0 ||
        get_json_text(r, "metadata", 1, "{}", &metadata) < 0) {
        free(payload);
        strlist_free(&caps);
        return;
    }
    char id[32];
    new_task_id(id);
    int64_t now = clock_now_ms();
    struct cp_task_view t = {
        .id = id,
        .task_type = type,
        .payload_json = payload,
        .required_capabilities = (const char *const *)caps.items,
        .n_required = caps.n,
        .status = CP_TASK_PENDING,
        .priority = priority,
        .created_at_ms = now,
        .pending_since_ms = now,
        .timeout_ms = (int64_t)(timeout_s * 1000.0 + 0.5),
        .max_retries = max_retries,
        .metadata_json = metadata,
        .strategy = strategy,
    };
    if (t.timeout_ms < 1) t.timeout_ms = 1;
    CORE_STORE(r->core, task_submit, &t, on_submitted, r);
    free(payload);
    free(metadata);
    strlist_free(&caps);
}

/* ---- list / get ---- */

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "tasks");
        return;
    }
    struct evbuffer *b = evbuffer_new();
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
    CORE_STORE(r->core, task_list, &f, on_listed, r);
}

static void reply_task(struct req *r, const struct cp_task_view *t)
{
    struct evbuffer *b = evbuffer_new();
    render_task(b, t);
    http_reply_buffer(r, 200, b);
}

static void on_got_final(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0)
        http_reply_storage_error(r, res, "task");
    else
        reply_task(r, res->task);
}

static void on_wait_over(void *cookie)
{
    struct req *r = cookie;
    r->ctx = NULL;
    http_unhold(r);
    CORE_STORE(r->core, task_get, r->params[0], on_got_final, r);
}

static void on_wait_gone(struct req *r)
{
    sched_cancel_wait(r->core->sched, r->ctx);
    r->ctx = NULL;
    http_reply_buffer(r, 200, NULL); /* frees only: the client is gone */
}

static void on_got(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    uint64_t wait_ms = (uint64_t)(uintptr_t)r->ctx;
    r->ctx = NULL;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    if (wait_ms == 0 || cp_task_status_is_terminal(res->task->status)) {
        reply_task(r, res->task);
        return;
    }
    r->ctx = sched_wait_task(r->core->sched, res->task->id, wait_ms, on_wait_over, r);
    http_hold(r, on_wait_gone);
}

void tasks_get(struct req *r)
{
    uint64_t wait_ms;
    if (query_uint(r, "wait_ms", 0, MAX_WAIT_MS, 0, &wait_ms) < 0) return;
    r->ctx = (void *)(uintptr_t)wait_ms;
    CORE_STORE(r->core, task_get, r->params[0], on_got, r);
}

/* ---- claim ---- */

struct handoff {
    char task_id[64];
    char agent_id[ID_MAX + 1];
    uint32_t attempt;
    uint64_t block_ms;
    int64_t arrived_ms;
    struct claimer *claimer;
    struct strlist caps; /* the claim's own capabilities, when it gave them */
    int has_caps;
    uint64_t seen_seq; /* sched_pending_seq() when the claim was sent */
};

static void handoff_free(struct req *r)
{
    struct handoff *h = r->ctx;
    if (h) strlist_free(&h->caps);
    free(h);
    r->ctx = NULL;
}

static void on_claim_written(struct req *r, int written)
{
    struct handoff *h = r->ctx;
    if (!written) sched_release(r->core->sched, h->task_id, h->agent_id, h->attempt);
    handoff_free(r);
}

static void reply_claim(struct req *r, const struct cp_task_view *t)
{
    struct handoff *h = r->ctx;
    struct evbuffer *b = evbuffer_new();
    render_literal(b, "{\"task\":");
    if (t) {
        render_task(b, t);
        snprintf(h->task_id, sizeof h->task_id, "%s", t->id);
        h->attempt = t->attempt;
        r->on_written = on_claim_written; /* a reply that never arrives releases the task */
    } else {
        evbuffer_add(b, "null", 4);
        handoff_free(r);
    }
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

static void on_held_delivered(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    http_unhold(r);
    if (res->rc < 0) {
        handoff_free(r);
        http_reply_storage_error(r, res, "claim");
        return;
    }
    reply_claim(r, res->task);
}

static void on_claim_gone(struct req *r)
{
    struct handoff *h = r->ctx;
    sched_cancel_claim(r->core->sched, h->claimer);
    handoff_free(r);
    http_reply_buffer(r, 200, NULL); /* frees only */
}

static void on_claimed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct handoff *h = r->ctx;
    if (res->rc < 0) {
        handoff_free(r);
        http_reply_storage_error(r, res, res->rc == CP_ERR_NOT_FOUND ? "agent" : "claim");
        return;
    }
    if (res->task) metrics_claim_wait(0);
    if (res->task || h->block_ms == 0 || !res->agent ||
        !sched_agent_may_claim(res->agent, clock_now_ms())) {
        reply_claim(r, res->task);
        return;
    }
    /* Nothing now: hold the claim with its capabilities (default: the agent's own). */
    const char *const *caps =
        h->has_caps ? (const char *const *)h->caps.items : res->agent->capabilities;
    uint32_t n = h->has_caps ? h->caps.n : res->agent->n_capabilities;
    /* Watch the connection first: a store may answer the held claim before this returns. */
    http_hold(r, on_claim_gone);
    h->claimer = sched_hold_claim(r->core->sched, h->agent_id, caps, n, res->agent, h->block_ms,
                                  h->arrived_ms, h->seen_seq, on_held_delivered, r);
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
    /* The handoff lives in r->ctx until the claim is answered (handoff_free). */
    struct handoff *h = calloc(1, sizeof *h);
    snprintf(h->agent_id, sizeof h->agent_id, "%s", agent_id);
    h->block_ms = (uint64_t)block;
    h->arrived_ms = clock_now_ms();
    h->caps = caps;
    h->has_caps = has_caps;
    h->seen_seq = sched_pending_seq(r->core->sched);
    r->ctx = h;
    struct cp_claim c = {agent_id, has_caps ? (const char *const *)caps.items : NULL, caps.n,
                         h->arrived_ms};
    CORE_STORE(r->core, task_claim, &c, on_claimed, r);
}

/* ---- transitions ---- */

static void on_transitioned(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    int kind = (int)(intptr_t)r->ctx;
    r->ctx = NULL;
    const char *who = NULL;
    if (res->rc == CP_ERR_CONFLICT && res->task) {
        const struct cp_task_view *t = res->task;
        json_object *v = NULL;
        if (json_object_object_get_ex(r->body, "agent_id", &v) && v)
            who = json_object_get_string(v);
        if (who && (t->status == CP_TASK_CLAIMED || t->status == CP_TASK_RUNNING) &&
            (!t->assigned_agent || strcmp(t->assigned_agent, who) != 0))
            http_reply_error(r, 409, "conflict", "task %s is %s by agent %s, not %s", t->id,
                             cp_task_status_name(t->status),
                             t->assigned_agent ? t->assigned_agent : "(none)", who);
        else
            http_reply_error(r, 409, "conflict", "task %s is %s", t->id,
                             cp_task_status_name(t->status));
        return;
    }
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "task");
        return;
    }
    const struct cp_task_view *t = res->task;
    struct health_monitor *hm = r->core->health;
    if (kind == CP_TR_COMPLETE || kind == CP_TR_FAIL) {
        metrics_task_event(t->task_type,
                           kind == CP_TR_COMPLETE ? MET_TASK_COMPLETED : MET_TASK_FAILED);
        if (hm && res->agent) health_task_outcome_seen(hm, res->agent, kind == CP_TR_COMPLETE);
    }
    struct evbuffer *b = evbuffer_new();
    switch (kind) {
    case CP_TR_START:
        render_literal(b, "{\"started\":true}");
        break;
    case CP_TR_COMPLETE:
        render_literal(b, "{\"completed\":true}");
        break;
    case CP_TR_CANCEL:
        render_literal(b, "{\"cancelled\":true}");
        break;
    case CP_TR_FAIL:
        evbuffer_add_printf(b, "{\"failed\":true,\"status\":\"%s\",\"retries\":%u}",
                            cp_task_status_name(t->status), (unsigned)t->retries);
        break;
    }
    sched_task_changed(r->core->sched, t);
    http_reply_buffer(r, 200, b);
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
    if (kind == CP_TR_COMPLETE && get_json_text(r, "result", 0, NULL, &result) < 0) return;
    struct cp_transition tr = {.kind = kind,
                               .task_id = r->params[0],
                               .agent_id = agent_id,
                               .result_json = result,
                               .error = error ? error : "Unknown error",
                               .latency_ms = latency,
                               .requeue = requeue,
                               .pass_over_ms = r->core->cfg->pass_over_ms,
                               .now_ms = clock_now_ms()};
    r->ctx = (void *)(intptr_t)kind;
    CORE_STORE(r->core, task_transition, &tr, on_transitioned, r);
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
