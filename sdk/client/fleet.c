/* fleet.c — provider quotas (POST/GET/DELETE /quotas) and the usage / 429 members of complete
 * and fail (cp/client_fleet.h, docs/fleet.md). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int nomem(cp_client *c)
{
    return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
}

static void quota_clear(struct cpc_quota *q)
{
    free(q->id), free(q->provider), free(q->model), free(q->key_id);
}

void cp_client_quota_list_free(struct cpc_quota_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        quota_clear(&l->quotas[i]);
    free(l->quotas);
    free(l->json);
    free(l);
}

static int decode_quota(cp_client *c, struct json_object *o, struct cpc_quota *q)
{
    memset(q, 0, sizeof *q);
    struct json_object *scope = NULL;
    if (!json_object_is_type(o, json_type_object) || !cpc_get_str(o, "id") ||
        !json_object_object_get_ex(o, "scope", &scope) || !cpc_get_str(scope, "provider"))
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "a quota without id and scope.provider");
    int bad = 0;
    q->id = cpc_strdup(cpc_get_str(o, "id"), &bad);
    q->provider = cpc_strdup(cpc_get_str(scope, "provider"), &bad);
    q->model = cpc_strdup(cpc_get_str(scope, "model"), &bad);
    q->key_id = cpc_strdup(cpc_get_str(scope, "key_id"), &bad);
    if (bad) {
        quota_clear(q);
        return nomem(c);
    }
    q->rpm = cpc_get_i64(o, "rpm", -1);
    q->tpm = cpc_get_i64(o, "tpm", -1);
    q->max_in_flight = cpc_get_i64(o, "max_in_flight", -1);
    q->requests_used = cpc_get_i64(o, "requests_used", 0);
    q->tokens_used = cpc_get_i64(o, "tokens_used", 0);
    q->requests_left = cpc_get_i64(o, "requests_left", -1);
    q->tokens_left = cpc_get_i64(o, "tokens_left", -1);
    q->in_flight = cpc_get_i64(o, "in_flight", 0);
    q->concurrency_limit = cpc_get_i64(o, "concurrency_limit", -1);
    q->paused_until_ms = cpc_parse_time(cpc_get_str(o, "paused_until"));
    q->rate_limited = cpc_get_i64(o, "rate_limited", 0);
    return CPC_OK;
}

/* A list from an array of quotas, or from one quota (arr NULL); consumes resp. */
static int make_list(cp_client *c, struct json_object *resp, struct json_object *arr,
                     struct cpc_quota_list **out)
{
    size_t n = arr ? json_object_array_length(arr) : 1;
    struct cpc_quota_list *l = calloc(1, sizeof *l);
    if (l) l->quotas = calloc(n ? n : 1, sizeof *l->quotas);
    if (l && l->quotas) l->json = strdup(cpc_json_text(resp));
    if (!l || !l->quotas || !l->json) {
        cp_client_quota_list_free(l);
        json_object_put(resp);
        return nomem(c);
    }
    for (size_t i = 0; i < n; i++) {
        int err = decode_quota(c, arr ? json_object_array_get_idx(arr, i) : resp, &l->quotas[i]);
        if (err) {
            cp_client_quota_list_free(l);
            json_object_put(resp);
            return err;
        }
        l->n++;
    }
    json_object_put(resp);
    *out = l;
    return CPC_OK;
}

int cp_client_quota_put(cp_client *c, const struct cpc_quota_spec *q, struct cpc_quota_list **out)
{
    cpc_reset_error(c);
    if (out) *out = NULL;
    if (!q) return cpc_set_error(c, CPC_ERR_INVALID, "the quota is NULL");
    int err = cpc_require(c, "id", q->id);
    if (!err) err = cpc_require(c, "provider", q->provider);
    if (err) return err;
    int failed = 0;
    struct json_object *body = json_object_new_object(), *scope = json_object_new_object();
    cpc_add(body, "id", json_object_new_string(q->id), &failed);
    cpc_add(scope, "provider", json_object_new_string(q->provider), &failed);
    if (q->model) cpc_add(scope, "model", json_object_new_string(q->model), &failed);
    if (q->key_id) cpc_add(scope, "key_id", json_object_new_string(q->key_id), &failed);
    cpc_add(body, "scope", scope, &failed);
    if (q->rpm) cpc_add(body, "rpm", json_object_new_int64((int64_t)q->rpm), &failed);
    if (q->tpm) cpc_add(body, "tpm", json_object_new_int64((int64_t)q->tpm), &failed);
    if (q->max_in_flight)
        cpc_add(body, "max_in_flight", json_object_new_int64(q->max_in_flight), &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    struct json_object *resp = NULL;
    err = cpc_post(c, "/quotas", body, c->timeout_ms, 0, &resp);
    if (err) return err;
    if (!out) {
        json_object_put(resp);
        return CPC_OK;
    }
    return make_list(c, resp, NULL, out);
}

int cp_client_quotas(cp_client *c, struct cpc_quota_list **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct json_object *resp = NULL, *arr = NULL;
    int err = cpc_http(c, "GET", "/quotas", NULL, c->timeout_ms, 0, &resp, NULL);
    if (err) return err;
    if (!json_object_object_get_ex(resp, "quotas", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "no \"quotas\" array in the answer");
    }
    return make_list(c, resp, arr, out);
}

static int quota_path(cp_client *c, struct cpc_buf *b, const char *id)
{
    int err = cpc_require(c, "quota_id", id);
    if (err) return err;
    cpc_buf_add(b, "/quotas/");
    cpc_buf_add_escaped(b, id);
    if (b->failed) {
        cpc_buf_free(b);
        return nomem(c);
    }
    return CPC_OK;
}

int cp_client_quota_get(cp_client *c, const char *quota_id, struct cpc_quota_list **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct cpc_buf path = {0};
    int err = quota_path(c, &path, quota_id);
    if (err) return err;
    struct json_object *resp = NULL;
    err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    if (err) return err;
    return make_list(c, resp, NULL, out);
}

int cp_client_quota_delete(cp_client *c, const char *quota_id)
{
    cpc_reset_error(c);
    struct cpc_buf path = {0};
    int err = quota_path(c, &path, quota_id);
    if (err) return err;
    struct json_object *resp = NULL;
    err = cpc_http(c, "DELETE", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    json_object_put(resp);
    return err;
}

static void add_usage(struct json_object *body, const struct cpc_usage *u, int *failed)
{
    if (!u) return;
    struct json_object *o = json_object_new_object();
    cpc_add(o, "input_tokens", json_object_new_int64((int64_t)u->input_tokens), failed);
    cpc_add(o, "output_tokens", json_object_new_int64((int64_t)u->output_tokens), failed);
    cpc_add(o, "cached_tokens", json_object_new_int64((int64_t)u->cached_tokens), failed);
    cpc_add(body, "usage", o, failed);
}

/* POST /tasks/:id/<action> with body (consumed). */
static int post_task(cp_client *c, const char *task_id, const char *action,
                     struct json_object *body)
{
    int err = cpc_require(c, "task_id", task_id);
    if (err) {
        json_object_put(body);
        return err;
    }
    struct cpc_buf path = {0};
    cpc_buf_add(&path, "/tasks/");
    cpc_buf_add_escaped(&path, task_id);
    cpc_buf_add(&path, action);
    if (path.failed) {
        cpc_buf_free(&path);
        json_object_put(body);
        return nomem(c);
    }
    struct json_object *resp = NULL;
    err = cpc_post(c, path.s, body, c->timeout_ms, 0, &resp);
    cpc_buf_free(&path);
    json_object_put(resp);
    return err;
}

/* Also cp_client_task_complete() (usage NULL: no "usage" member). */
int cp_client_task_complete_usage(cp_client *c, const char *task_id, const char *agent_id,
                                  const char *result_json, double latency_ms,
                                  const struct cpc_usage *usage)
{
    cpc_reset_error(c);
    struct json_object *result = NULL;
    int err = result_json ? cpc_parse_arg(c, "result_json", result_json, &result) : CPC_OK;
    if (err) return err;
    int failed = 0;
    struct json_object *body = json_object_new_object();
    cpc_add_json(body, "result", result, &failed);
    if (agent_id) cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    if (latency_ms >= 0) cpc_add(body, "latency_ms", json_object_new_double(latency_ms), &failed);
    add_usage(body, usage, &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    return post_task(c, task_id, "/complete", body);
}

int cp_client_task_rate_limited(cp_client *c, const char *task_id, const char *agent_id,
                                const char *error, long retry_after_ms,
                                const struct cpc_usage *usage)
{
    cpc_reset_error(c);
    if (retry_after_ms < 0) return cpc_set_error(c, CPC_ERR_INVALID, "retry_after_ms < 0");
    int failed = 0;
    struct json_object *body = json_object_new_object();
    cpc_add(body, "error", json_object_new_string(error ? error : "rate limited"), &failed);
    cpc_add(body, "reason", json_object_new_string("rate_limited"), &failed);
    if (retry_after_ms > 0)
        cpc_add(body, "retry_after_ms", json_object_new_int64(retry_after_ms), &failed);
    if (agent_id) cpc_add(body, "agent_id", json_object_new_string(agent_id), &failed);
    add_usage(body, usage, &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    return post_task(c, task_id, "/fail", body);
}
