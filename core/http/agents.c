/* agents.c — the agent endpoints (CONTRACT §3) and agent selection (§6). */
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../health.h"
#include "../scheduler.h"
#include "../selection.h"
#include "auth.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

#define MAX_TEXT 256 /* model, provider */

static void reply_agent(struct req *r, int status, const struct cp_agent_view *a)
{
    struct evbuffer *b = evbuffer_new();
    render_agent(b, a);
    http_reply_buffer(r, status, b);
}

static int get_text(struct req *r, const char *key, const char **out)
{
    if (get_string(r, key, 0, out) < 0) return -1;
    if (*out && (strlen(*out) == 0 || strlen(*out) > MAX_TEXT)) {
        http_reply_error(r, 400, "invalid_field", "%s must be 1-%d characters", key, MAX_TEXT);
        return -1;
    }
    return 0;
}

/* ---- register ---- */

static void on_registered(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    if (r->core->health) health_track(r->core->health, res->agent);
    reply_agent(r, res->created ? 201 : 200, res->agent);
}

void agents_register(struct req *r)
{
    const struct cp_config *cfg = r->core->cfg;
    const char *id, *model, *provider;
    uint32_t max_conc = 1;
    struct strlist caps;
    char *metadata = NULL, *probe = NULL;
    if (get_string(r, "agent_id", 1, &id) < 0 || check_identifier(r, "agent_id", id) < 0 ||
        auth_agent(r, id) < 0 || get_text(r, "model", &model) < 0 ||
        get_text(r, "provider", &provider) < 0 ||
        get_uint(r, "max_concurrent_tasks", 1, 100000, &max_conc) < 0)
        return;
    json_object *hp = NULL;
    if (json_object_object_get_ex(r->body, "health_probe", &hp) && hp) {
        char err[256];
        if (!json_object_is_type(hp, json_type_object)) {
            http_reply_error(r, 400, "invalid_field", "health_probe must be a JSON object");
            return;
        }
        if (!r->core->health || health_validate_probe(r->core->health, hp, err, sizeof err) < 0) {
            http_reply_error(r, 400, "invalid_field", "%s",
                             r->core->health ? err : "health probes are not available");
            return;
        }
        probe = strdup(json_object_to_json_string_ext(hp, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    if (get_id_list(r, "capabilities", cfg->max_capabilities, NULL, &caps) < 0) {
        free(probe);
        return;
    }
    if (get_json_text(r, "metadata", 1, "{}", &metadata) < 0) {
        free(probe);
        strlist_free(&caps);
        return;
    }
    struct cp_agent_view in = {
        .agent_id = id,
        .capabilities = (const char *const *)caps.items,
        .n_capabilities = caps.n,
        .model = model ? model : "unknown",
        .provider = provider ? provider : "unknown",
        .metadata_json = metadata,
        .health_probe_json = probe,
        .max_concurrent_tasks = max_conc,
    };
    CORE_STORE(r->core, agent_register, &in, clock_now_ms(), on_registered, r);
    free(metadata);
    free(probe);
    strlist_free(&caps);
}

/* ---- list / get ---- */

struct list_ctx {
    int available; /* 1: only agents that could take work now */
    struct strlist exclude;
    const char *strategy; /* select only */
    struct plugin *plugin;
    struct strlist caps;
};

static int usable(const struct cp_agent_view *a, int64_t now)
{
    if (a->status == CP_AGENT_OFFLINE) return 0;
    if (a->status == CP_AGENT_READY || a->status == CP_AGENT_BUSY) {
        int open = a->health.circuit == CP_CIRCUIT_OPEN && a->health.retry_at_ms > now;
        return !open &&
               (a->status == CP_AGENT_READY || a->tasks_in_flight < a->max_concurrent_tasks);
    }
    return 0;
}

static void list_ctx_free(struct req *r)
{
    struct list_ctx *c = r->ctx;
    strlist_free(&c->exclude);
    strlist_free(&c->caps);
    free(c);
    r->ctx = NULL;
}

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct list_ctx *c = r->ctx;
    if (res->rc < 0) {
        list_ctx_free(r);
        http_reply_storage_error(r, res, "agents");
        return;
    }
    int64_t now = clock_now_ms();
    size_t total = 0;
    struct evbuffer *b = evbuffer_new();
    render_literal(b, "{\"agents\":[");
    for (size_t i = 0; i < res->n_agents; i++) {
        if (c->available && !usable(res->agents[i], now)) continue;
        if (total++) evbuffer_add(b, ",", 1);
        render_agent(b, res->agents[i]);
    }
    evbuffer_add_printf(b, "],\"total\":%zu}", total);
    list_ctx_free(r);
    http_reply_buffer(r, 200, b);
}

static int parse_available(struct req *r, int *out)
{
    const char *s = http_query(r, "available");
    *out = 1;
    if (!s || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) return 0;
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    http_reply_error(r, 400, "invalid_field", "available must be true or false");
    return -1;
}

void agents_list(struct req *r)
{
    struct cp_agent_filter f = {NULL, 0, -1};
    int available;
    struct strlist caps;
    const char *status = http_query(r, "status");
    if (parse_available(r, &available) < 0) return;
    if (status &&
        (f.status = cp_enum_parse(cp_agent_status_names, CP_AGENT_STATUS_COUNT, status)) < 0) {
        http_reply_error(r, 400, "invalid_field",
                         "status must be one of starting, ready, busy, "
                         "draining, offline, failed");
        return;
    }
    if (query_id_list(r, "capability", r->core->cfg->max_capabilities, &caps) < 0) return;
    struct list_ctx *c = calloc(1, sizeof *c);
    c->available = available;
    c->caps = caps;
    r->ctx = c;
    f.capabilities = (const char *const *)caps.items;
    f.n_capabilities = caps.n;
    CORE_STORE(r->core, agent_list, &f, on_listed, r);
}

static void on_got(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0)
        http_reply_storage_error(r, res, "agent");
    else
        reply_agent(r, 200, res->agent);
}

void agents_get(struct req *r)
{
    if (check_identifier(r, "agent id", r->params[0]) < 0) return;
    CORE_STORE(r->core, agent_get, r->params[0], on_got, r);
}

/* ---- delete / heartbeat ---- */

static void on_unregistered(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    if (r->core->health) health_untrack(r->core->health, r->params[0]);
    sched_handle_events(r->core->sched, res->events, res->n_events);
    struct evbuffer *b = evbuffer_new();
    render_literal(b, "{\"unregistered\":true}");
    http_reply_buffer(r, 200, b);
}

void agents_delete(struct req *r)
{
    if (check_identifier(r, "agent id", r->params[0]) < 0 || auth_agent(r, r->params[0]) < 0)
        return;
    CORE_STORE(r->core, agent_unregister, r->params[0], clock_now_ms(), on_unregistered, r);
}

static void on_heartbeat(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    render_literal(b, "{\"acknowledged\":true,\"status\":");
    render_string(b, cp_agent_status_name(res->agent->status));
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

void agents_heartbeat(struct req *r)
{
    const char *status;
    int32_t st = -1;
    if (check_identifier(r, "agent id", r->params[0]) < 0 || auth_agent(r, r->params[0]) < 0 ||
        get_string(r, "status", 0, &status) < 0)
        return;
    if (status) {
        st = cp_enum_parse(cp_agent_status_names, CP_AGENT_STATUS_COUNT, status);
        if (st == CP_AGENT_OFFLINE) {
            http_reply_error(r, 400, "invalid_field",
                             "status offline is set by the server, not reported by agents");
            return;
        }
        if (st < 0) {
            http_reply_error(r, 400, "invalid_field",
                             "status must be one of starting, ready, busy, draining, failed");
            return;
        }
    }
    CORE_STORE(r->core, agent_heartbeat, r->params[0], st, clock_now_ms(), on_heartbeat, r);
}

/* ---- select ---- */

static int excluded(const struct strlist *ex, const char *id)
{
    for (uint32_t i = 0; i < ex->n; i++)
        if (strcmp(ex->items[i], id) == 0) return 1;
    return 0;
}

static void on_select_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct list_ctx *c = r->ctx;
    if (res->rc < 0) {
        list_ctx_free(r);
        http_reply_storage_error(r, res, "agents");
        return;
    }
    int64_t now = clock_now_ms();
    const struct cp_agent_view **cands = calloc(res->n_agents + 1, sizeof *cands);
    size_t n = 0;
    for (size_t i = 0; i < res->n_agents; i++)
        if (usable(res->agents[i], now) && !excluded(&c->exclude, res->agents[i]->agent_id))
            cands[n++] = res->agents[i];
    if (n == 0) {
        free(cands);
        list_ctx_free(r);
        http_reply_error(r, 404, "no_agent", "no available agent has every required capability");
        return;
    }
    size_t idx = selection_pick(r->core, c->plugin, cands, n, (const char *const *)c->caps.items,
                                c->caps.n, NULL);
    const struct cp_agent_view *chosen = cands[idx];
    free(cands);
    list_ctx_free(r);
    reply_agent(r, 200, chosen);
}

void agents_select(struct req *r)
{
    struct strlist caps, exclude;
    const char *strategy = http_query(r, "strategy");
    struct plugin *plugin = core_strategy(r->core, strategy);
    if (!plugin) {
        http_reply_error(r, 400, "invalid_field", "unknown strategy '%.128s'",
                         strategy ? strategy : "");
        return;
    }
    if (query_id_list(r, "capability", r->core->cfg->max_capabilities, &caps) < 0) return;
    if (query_id_list(r, "exclude", 10000, &exclude) < 0) {
        strlist_free(&caps);
        return;
    }
    struct list_ctx *c = calloc(1, sizeof *c);
    c->caps = caps;
    c->exclude = exclude;
    c->plugin = plugin;
    r->ctx = c;
    struct cp_agent_filter f = {(const char *const *)caps.items, caps.n, -1};
    CORE_STORE(r->core, agent_list, &f, on_select_listed, r);
}
