/* agents.c — the agent endpoints (docs/api.md): register, heartbeat, unregister, get, list,
 * select. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int nomem(cp_client *c)
{
    return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
}

/* "/agents/<escaped id><suffix>" into b. */
static int agent_path(cp_client *c, struct cpc_buf *b, const char *agent_id, const char *suffix)
{
    int err = cpc_require(c, "agent_id", agent_id);
    if (err) return err;
    cpc_buf_add(b, "/agents/");
    cpc_buf_add_escaped(b, agent_id);
    cpc_buf_add(b, suffix);
    if (b->failed) {
        cpc_buf_free(b);
        return nomem(c);
    }
    return CPC_OK;
}

/* Decodes o into a new struct cpc_agent at *out (when out is given); consumes o. */
static int give_agent(cp_client *c, struct json_object *o, struct cpc_agent **out)
{
    int err = CPC_OK;
    if (out) {
        struct cpc_agent *a = malloc(sizeof *a);
        if (!a) {
            err = nomem(c);
        } else if ((err = cpc_decode_agent(c, o, a)) != CPC_OK) {
            free(a);
        } else {
            *out = a;
        }
    }
    json_object_put(o);
    return err;
}

static int parse_optional(cp_client *c, const char *what, const char *text,
                          struct json_object **out)
{
    *out = NULL;
    return text ? cpc_parse_arg(c, what, text, out) : CPC_OK;
}

int cp_client_agent_register(cp_client *c, const struct cpc_agent_spec *spec,
                             struct cpc_agent **out, int *created)
{
    cpc_reset_error(c);
    if (out) *out = NULL;
    if (created) *created = 0;
    if (!spec) return cpc_set_error(c, CPC_ERR_INVALID, "no agent spec");
    int err = cpc_require(c, "agent_id", spec->agent_id);
    if (!err) err = cpc_check_strings(c, "capabilities", spec->capabilities, spec->n_capabilities);
    if (err) return err;
    struct json_object *meta = NULL, *probe = NULL;
    if ((err = parse_optional(c, "metadata_json", spec->metadata_json, &meta))) return err;
    if ((err = parse_optional(c, "health_probe_json", spec->health_probe_json, &probe))) {
        json_object_put(meta);
        return err;
    }
    int failed = 0;
    struct json_object *body = json_object_new_object();
    cpc_add(body, "agent_id", json_object_new_string(spec->agent_id), &failed);
    cpc_add(body, "capabilities", cpc_string_array(spec->capabilities, spec->n_capabilities),
            &failed);
    if (spec->model) cpc_add(body, "model", json_object_new_string(spec->model), &failed);
    if (spec->provider) cpc_add(body, "provider", json_object_new_string(spec->provider), &failed);
    if (spec->metadata_json) cpc_add_json(body, "metadata", meta, &failed);
    if (spec->max_concurrent_tasks)
        cpc_add(body, "max_concurrent_tasks",
                json_object_new_int64((int64_t)spec->max_concurrent_tasks), &failed);
    if (spec->health_probe_json) cpc_add_json(body, "health_probe", probe, &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    struct json_object *resp;
    if ((err = cpc_post(c, "/agents", body, c->timeout_ms, 0, &resp))) return err;
    if (created) *created = c->last_status == 201;
    return give_agent(c, resp, out);
}

int cp_client_agent_heartbeat(cp_client *c, const char *agent_id, int status, int *status_out)
{
    cpc_reset_error(c);
    if (status_out) *status_out = -1;
    if (status < -1 || status >= CP_AGENT_STATUS_COUNT)
        return cpc_set_error(c, CPC_ERR_INVALID, "status %d is not an agent status", status);
    struct cpc_buf path = {0};
    int err = agent_path(c, &path, agent_id, "/heartbeat");
    if (err) return err;
    int failed = 0;
    struct json_object *body = json_object_new_object();
    if (status >= 0)
        cpc_add(body, "status", json_object_new_string(cp_agent_status_name(status)), &failed);
    if (failed) {
        json_object_put(body);
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp;
    err = cpc_post(c, path.s, body, c->timeout_ms, 0, &resp);
    cpc_buf_free(&path);
    if (err) return err;
    if (status_out)
        *status_out = cp_enum_parse(cp_agent_status_names, CP_AGENT_STATUS_COUNT,
                                    cpc_get_str(resp, "status"));
    json_object_put(resp);
    return CPC_OK;
}

int cp_client_agent_unregister(cp_client *c, const char *agent_id)
{
    cpc_reset_error(c);
    struct cpc_buf path = {0};
    int err = agent_path(c, &path, agent_id, "");
    if (err) return err;
    err = cpc_http(c, "DELETE", path.s, NULL, c->timeout_ms, 0, NULL, NULL);
    cpc_buf_free(&path);
    return err;
}

/* POST /agents/:id/drain or /undrain. */
static int drain(cp_client *c, const char *agent_id, const char *suffix, struct cpc_agent **out)
{
    cpc_reset_error(c);
    if (out) *out = NULL;
    struct cpc_buf path = {0};
    int err = agent_path(c, &path, agent_id, suffix);
    if (err) return err;
    struct json_object *resp;
    err = cpc_http(c, "POST", path.s, "{}", c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    return err ? err : give_agent(c, resp, out);
}

int cp_client_agent_drain(cp_client *c, const char *agent_id, struct cpc_agent **out)
{
    return drain(c, agent_id, "/drain", out);
}

int cp_client_agent_undrain(cp_client *c, const char *agent_id, struct cpc_agent **out)
{
    return drain(c, agent_id, "/undrain", out);
}

int cp_client_agent_get(cp_client *c, const char *agent_id, struct cpc_agent **out)
{
    cpc_reset_error(c);
    if (out) *out = NULL;
    struct cpc_buf path = {0};
    int err = agent_path(c, &path, agent_id, "");
    if (err) return err;
    struct json_object *resp;
    err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    return err ? err : give_agent(c, resp, out);
}

static int decode_list(cp_client *c, struct json_object *resp, struct cpc_agent_list **out)
{
    struct json_object *arr;
    if (!json_object_object_get_ex(resp, "agents", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without an \"agents\" array");
    struct cpc_agent_list *l = calloc(1, sizeof *l);
    size_t n = json_object_array_length(arr);
    const char *next = cpc_get_str(resp, "next");
    if (!l || !(l->agents = calloc(n ? n : 1, sizeof *l->agents)) ||
        !(l->json = strdup(cpc_json_text(resp))) || (next && !(l->next = strdup(next)))) {
        cp_client_agent_list_free(l);
        return nomem(c);
    }
    l->total = (uint64_t)cpc_get_i64(resp, "total", (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        int err = cpc_decode_agent(c, json_object_array_get_idx(arr, i), &l->agents[i]);
        if (err) {
            cp_client_agent_list_free(l);
            return err;
        }
        l->n++;
    }
    *out = l;
    return CPC_OK;
}

static void add_capabilities(struct cpc_buf *b, const char *const *caps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cpc_buf_add_param(b, "capability", caps[i]);
}

/* One GET /agents; limit 0: no limit asked. */
static int list_request(cp_client *c, const struct cpc_agent_query *q, uint32_t limit,
                        const char *after, struct json_object **resp)
{
    struct cpc_buf path = {0};
    char n[16];
    cpc_buf_add(&path, "/agents");
    add_capabilities(&path, q->capabilities, q->n_capabilities);
    if (q->all) cpc_buf_add_param(&path, "available", "false");
    if (q->status) cpc_buf_add_param(&path, "status", q->status);
    if (limit) {
        snprintf(n, sizeof n, "%u", limit);
        cpc_buf_add_param(&path, "limit", n);
    }
    if (after) cpc_buf_add_param(&path, "after", after);
    if (path.failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    int err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, resp, NULL);
    cpc_buf_free(&path);
    return err;
}

static int check_query(cp_client *c, const struct cpc_agent_query **q, void *out)
{
    static const struct cpc_agent_query none = {0};
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    if (!*q) *q = &none;
    return cpc_check_strings(c, "capabilities", (*q)->capabilities, (*q)->n_capabilities);
}

int cp_client_agent_page(cp_client *c, const struct cpc_agent_query *q, uint32_t limit,
                         const char *after, struct cpc_agent_list **out)
{
    int err = check_query(c, &q, out);
    if (out) *out = NULL;
    if (err) return err;
    if (limit == 0) return cpc_set_error(c, CPC_ERR_INVALID, "limit must be at least 1");
    struct json_object *resp;
    if ((err = list_request(c, q, limit, after, &resp))) return err;
    err = decode_list(c, resp, out);
    json_object_put(resp);
    return err;
}

/* The pages' agents collect in one array; the server's "next" must move forward (a server
 * that repeats itself would otherwise loop forever). */
int cp_client_agent_list(cp_client *c, const struct cpc_agent_query *q, struct cpc_agent_list **out)
{
    int err = check_query(c, &q, out);
    if (out) *out = NULL;
    if (err) return err;
    struct json_object *all = json_object_new_array(), *resp = NULL, *arr;
    char *after = NULL;
    if (!all) return nomem(c);
    for (;;) {
        if ((err = list_request(c, q, CPC_AGENT_PAGE, after, &resp))) break;
        if (!json_object_object_get_ex(resp, "agents", &arr) ||
            !json_object_is_type(arr, json_type_array)) {
            err = cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without an \"agents\" array");
            break;
        }
        for (size_t i = 0; i < json_object_array_length(arr); i++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(arr, i)));
        const char *next = cpc_get_str(resp, "next");
        if (!next) break; /* the last page, or a server without pages (everything at once) */
        if (after && strcmp(next, after) <= 0) {
            err = cpc_set_error(c, CPC_ERR_PROTOCOL, "the server's next does not move forward");
            break;
        }
        free(after);
        if (!(after = strdup(next))) {
            err = nomem(c);
            break;
        }
        json_object_put(resp);
        resp = NULL;
    }
    free(after);
    if (resp) json_object_put(resp);
    if (err) {
        json_object_put(all);
        return err;
    }
    struct json_object *whole = json_object_new_object();
    if (!whole) {
        json_object_put(all);
        return nomem(c);
    }
    size_t n = json_object_array_length(all);
    json_object_object_add(whole, "agents", all);
    json_object_object_add(whole, "total", json_object_new_int64((int64_t)n));
    json_object_object_add(whole, "next", NULL);
    err = decode_list(c, whole, out);
    json_object_put(whole);
    return err;
}

int cp_client_agent_select(cp_client *c, const struct cpc_select_query *q, struct cpc_agent **out)
{
    static const struct cpc_select_query none = {0};
    cpc_reset_error(c);
    if (out) *out = NULL;
    if (!q) q = &none;
    int err = cpc_check_strings(c, "capabilities", q->capabilities, q->n_capabilities);
    if (!err) err = cpc_check_strings(c, "exclude", q->exclude, q->n_exclude);
    if (!err) err = cpc_check_strings(c, "hint_keys", q->hint_keys, q->n_hints);
    if (!err) err = cpc_check_strings(c, "hint_values", q->hint_values, q->n_hints);
    if (err) return err;
    struct cpc_buf path = {0}, ex = {0};
    cpc_buf_add(&path, "/agents/select");
    add_capabilities(&path, q->capabilities, q->n_capabilities);
    if (q->strategy) cpc_buf_add_param(&path, "strategy", q->strategy);
    for (size_t i = 0; i < q->n_exclude; i++) {
        if (i) cpc_buf_add(&ex, ",");
        cpc_buf_add(&ex, q->exclude[i]);
    }
    if (q->n_exclude) cpc_buf_add_param(&path, "exclude", ex.failed ? "" : ex.s);
    for (size_t i = 0; i < q->n_hints; i++) { /* hint.<key>=<value>, both escaped */
        cpc_buf_add(&path, strchr(path.s ? path.s : "", '?') ? "&hint." : "?hint.");
        cpc_buf_add_escaped(&path, q->hint_keys[i]);
        cpc_buf_add(&path, "=");
        cpc_buf_add_escaped(&path, q->hint_values[i]);
    }
    int failed = path.failed || ex.failed;
    cpc_buf_free(&ex);
    if (failed) {
        cpc_buf_free(&path);
        return nomem(c);
    }
    struct json_object *resp;
    err = cpc_http(c, "GET", path.s, NULL, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    return err ? err : give_agent(c, resp, out);
}
