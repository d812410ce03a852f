/* tasks_next.c — "next" on POST /tasks/:id/complete and /fail: the completion (or failure) and
 * the claim of the agent's next task in one request (ops_task_complete_next). The reply is the
 * transition's usual body plus "next": the claimed task, or null (nothing to claim within
 * next.block_ms, or the claim failed: then "next_error" says why; the completion stands). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../xalloc.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

#define MAX_WAIT_MS 60000

struct next_ctx {
    struct claim_ctx claim; /* first: r->ctx is freed through it (tasks_on_hold) */
    char agent_id[160];
    struct evbuffer *head; /* the transition's body, without its closing brace */
    int kind;              /* CP_TR_COMPLETE or CP_TR_FAIL */
};

void tasks_next_free(struct next_ctx *n)
{
    strlist_free(&n->claim.caps);
    if (n->head) evbuffer_free(n->head);
    free(n);
}

static void next_ctx_free(struct claim_ctx *c)
{
    tasks_next_free((struct next_ctx *)c);
}

/* "next": {"block_ms": N, "capabilities": [...]} read through the usual validators, under the
 * names next.block_ms and next.capabilities (r->body is swapped for the call). */
int tasks_next_parse(struct req *r, const char *agent_id, struct next_ctx **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(r->body, "next", &v) || !v ||
        json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_object)) {
        http_reply_error(r, 400, "invalid_field",
                         "next must be an object {\"block_ms\": N, \"capabilities\": [...]}");
        return -1;
    }
    if (!agent_id) {
        http_reply_error(r, 400, "missing_field",
                         "agent_id is required with next: the agent that claims the next task");
        return -1;
    }
    json_object *named = xjson_object();
    json_object_object_foreach(v, k, val)
    {
        if (strcmp(k, "block_ms") == 0) {
            json_object_object_add(named, "next.block_ms", json_object_get(val));
        } else if (strcmp(k, "capabilities") == 0) {
            json_object_object_add(named, "next.capabilities", json_object_get(val));
        } else {
            json_object_put(named);
            http_reply_error(r, 400, "invalid_field",
                             "next.%.40s is not known; expected block_ms and capabilities", k);
            return -1;
        }
    }
    /* A validator that refuses replies, which frees r and with it r->body (named, now): the
     * request's own body is then ours to free. */
    json_object *body = r->body;
    r->body = named;
    double block = 0;
    struct strlist caps;
    int has_caps = 0;
    if (get_number(r, "next.block_ms", 0, MAX_WAIT_MS, &block) < 0 ||
        get_id_list(r, "next.capabilities", r->core->cfg->max_capabilities, &has_caps, &caps) < 0) {
        json_object_put(body);
        return -1;
    }
    r->body = body;
    json_object_put(named);
    struct next_ctx *n = xcalloc(1, sizeof *n);
    snprintf(n->agent_id, sizeof n->agent_id, "%s", agent_id);
    n->claim.free = next_ctx_free;
    n->claim.caps = caps;
    n->claim.in = (struct ops_claim){n->agent_id, has_caps ? (const char *const *)caps.items : NULL,
                                     caps.n, (uint64_t)block};
    *out = n;
    return 1;
}

/* The transition's answer: an error ends the request as without next; else its body is kept
 * until the claim answers. */
static void on_done(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct next_ctx *n = r->ctx;
    if (res->rc < 0) {
        tasks_next_free(n);
        r->ctx = NULL;
        tasks_reply_transition(r, CP_TR_COMPLETE, res); /* errors are rendered alike */
        return;
    }
    n->head = xevbuffer_new();
    tasks_render_transition(n->head, n->kind, res->task);
}

static void on_claimed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct next_ctx *n = r->ctx;
    struct evbuffer *b = n->head;
    n->head = NULL;
    render_literal(b, ",\"next\":");
    if (res->rc == 0 && res->task) {
        render_task(b, res->task);
        tasks_claim_pending(r, res->task); /* n is freed once the reply is written */
    } else {
        evbuffer_add(b, "null", 4);
        if (res->rc < 0) { /* the completion stands; the claim's error is told beside it */
            render_literal(b, ",\"next_error\":{\"error\":");
            render_string(b, res->message ? res->message : "claim failed");
            render_literal(b, ",\"code\":");
            render_string(b, res->rc == CP_ERR_NOT_FOUND ? "not_found"
                             : res->rc == CP_ERR_INVALID ? "invalid_field"
                                                         : "storage_unavailable");
            evbuffer_add(b, "}", 1);
        }
        tasks_next_free(n);
        r->ctx = NULL;
    }
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

void tasks_next_run(struct req *r, struct next_ctx *n, const struct cp_transition *tr)
{
    r->ctx = n;
    n->kind = tr->kind;
    ops_task_complete_next(r->core, &r->call, tr, &n->claim.in, on_done, tasks_on_hold, on_claimed,
                           r);
}
