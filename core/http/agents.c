/* agents.c — the agent endpoints (docs/api.md) and agent selection (§6): parse, one operation
 * (ops.h), render. */
#include <stdlib.h>
#include <string.h>

#include "../xalloc.h"
#include "agent_pages.h"
#include "identity.h"
#include "render.h"
#include "routes.h"
#include "quota_fields.h"
#include "validate.h"

#define MAX_TEXT 256 /* model, provider */
#define MAX_HINTS 16
#define MAX_HINT_KEY 64
#define MAX_HINT_VALUE 256

static void reply_agent(struct req *r, int status, const struct cp_agent_view *a)
{
    struct evbuffer *b = xevbuffer_new();
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
    if (res->rc < 0)
        http_reply_storage_error(r, res, "agent");
    else
        reply_agent(r, res->created ? 201 : 200, res->agent);
}

/* The "health_probe" member: none (0, *text NULL), taken apart into def with its stored text,
 * or a reply and -1. */
static int get_probe(struct req *r, struct probe_def *def, char **text)
{
    json_object *hp = NULL;
    char err[256];
    *text = NULL;
    if (!json_object_object_get_ex(r->body, "health_probe", &hp) || !hp) return 0;
    if (!json_object_is_type(hp, json_type_object)) {
        http_reply_error(r, 400, "invalid_field", "health_probe must be a JSON object");
        return -1;
    }
    if (http_probe_from_json(hp, def, err, sizeof err) < 0) {
        http_reply_error(r, 400, "invalid_field", "%s", err);
        return -1;
    }
    *text = xstrdup(json_object_to_json_string_ext(hp, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    return 0;
}

void agents_register(struct req *r)
{
    const struct cp_config *cfg = r->core->cfg;
    const char *id, *model, *provider;
    uint32_t max_conc = 1;
    struct strlist caps = {0};
    struct probe_def probe = {0};
    char *metadata = NULL, *probe_text = NULL;
    struct cp_quota_scope scopes[QUOTA_SCOPES_MAX];
    uint32_t n_scopes = 0;
    if (quota_fields_scopes(r, scopes, QUOTA_SCOPES_MAX, &n_scopes) < 0) return;
    if (get_string(r, "agent_id", 1, &id) < 0 || check_identifier(r, "agent_id", id) < 0 ||
        auth_agent(r, id) < 0 || get_text(r, "model", &model) < 0 ||
        get_text(r, "provider", &provider) < 0 ||
        get_uint(r, "max_concurrent_tasks", 1, 100000, &max_conc) < 0 ||
        get_probe(r, &probe, &probe_text) < 0 ||
        get_id_list(r, "capabilities", cfg->max_capabilities, NULL, &caps) < 0 ||
        get_json_text(r, "metadata", 1, "{}", &metadata) < 0)
        goto out;
    struct cp_agent_view in = {
        .size = sizeof(struct cp_agent_view),
        .agent_id = id,
        .capabilities = (const char *const *)caps.items,
        .n_capabilities = caps.n,
        .model = model ? model : "unknown",
        .provider = provider ? provider : "unknown",
        .metadata_json = metadata,
        .health_probe_json = probe_text,
        .max_concurrent_tasks = max_conc,
        .quota_scopes = n_scopes ? scopes : NULL,
        .n_quota_scopes = n_scopes,
    };
    ops_agent_register(r->core, &r->call, &in, probe_text ? &probe : NULL, on_registered, r);
out:
    free(metadata);
    free(probe_text);
    probe_def_clear(&probe);
    strlist_free(&caps);
}

/* ---- list / get ---- */

#define LIST_LIMIT_MAX 100000

static void list_item(struct evbuffer *b, const struct cp_agent_view *a, int first, void *arg)
{
    (void)arg;
    if (!first) evbuffer_add(b, ",", 1);
    render_agent(b, a);
}

/* `next` only in a page (?limit=): a plain list keeps the members it always had. */
static void list_tail(struct evbuffer *b, size_t count, const char *next, void *arg)
{
    evbuffer_add_printf(b, "],\"total\":%zu", count);
    if (arg) {
        render_literal(b, ",\"next\":");
        render_string(b, next);
    }
    evbuffer_add(b, "}", 1);
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
    struct agent_pages pages = {.filter = {.status = -1}, .item = list_item, .tail = list_tail};
    const char *status = http_query(r, "status");
    if (parse_available(r, &pages.usable_only) < 0 ||
        query_page(r, LIST_LIMIT_MAX, &pages.limit, &pages.filter.after) < 0)
        return;
    static const int paged = 1;
    if (pages.limit || pages.filter.after) pages.arg = (void *)&paged;
    if (status && (pages.filter.status =
                       cp_enum_parse(cp_agent_status_names, CP_AGENT_STATUS_COUNT, status)) < 0) {
        http_reply_error(r, 400, "invalid_field",
                         "status must be one of starting, ready, busy, "
                         "draining, offline, failed");
        return;
    }
    struct strlist caps;
    if (query_id_list(r, "capability", r->core->cfg->max_capabilities, &caps) < 0) return;
    pages.filter.capabilities = (const char *const *)caps.items;
    pages.filter.n_capabilities = caps.n;
    struct evbuffer *head = xevbuffer_new();
    render_literal(head, "{\"agents\":[");
    agent_pages_reply(r, head, &pages); /* copies the filter */
    strlist_free(&caps);
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
    ops_agent_get(r->core, r->params[0], on_got, r);
}

/* ---- delete / heartbeat ---- */

static void on_unregistered(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"unregistered\":true}");
    http_reply_buffer(r, 200, b);
}

void agents_delete(struct req *r)
{
    if (check_identifier(r, "agent id", r->params[0]) < 0 || auth_agent(r, r->params[0]) < 0)
        return;
    ops_agent_unregister(r->core, &r->call, r->params[0], on_unregistered, r);
}

static void on_heartbeat(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    /* The hottest reply: one write into the request's own output buffer (no body buffer to
     * make, move and free). Status names are plain ASCII: no escaping to do. */
    char text[96];
    const char *status = cp_agent_status_name(res->agent->status);
    size_t n = strlen(status);
    if (n > sizeof text - 40) n = sizeof text - 40; /* cannot happen: names are short */
    memcpy(text, "{\"acknowledged\":true,\"status\":\"", 31);
    memcpy(text + 31, status, n);
    memcpy(text + 31 + n, "\"}", 2);
    evbuffer_add(evhttp_request_get_output_buffer(r->ev), text, 31 + n + 2);
    http_reply_buffer(r, 200, NULL);
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
    ops_agent_heartbeat(r->core, &r->call, r->params[0], st, on_heartbeat, r);
}

/* ---- drain / undrain (operators) ---- */

static void on_drained(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0)
        http_reply_storage_error(r, res, "agent");
    else
        reply_agent(r, 200, res->agent);
}

static void drain(struct req *r, int on)
{
    if (check_identifier(r, "agent id", r->params[0]) < 0) return;
    ops_agent_drain(r->core, &r->call, r->params[0], on, on_drained, r);
}

void agents_drain(struct req *r)
{
    drain(r, 1);
}

void agents_undrain(struct req *r)
{
    drain(r, 0);
}

/* ---- select ---- */

struct select_ctx {
    struct ops_select sel;
    struct strlist caps, exclude;
    json_object *hints; /* owns sel.hints_json's text */
};

static void select_ctx_free(struct req *r)
{
    struct select_ctx *c = r->ctx;
    strlist_free(&c->caps);
    strlist_free(&c->exclude);
    if (c->hints) json_object_put(c->hints);
    free(c);
    r->ctx = NULL;
}

static int hint_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > MAX_HINT_KEY) return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '-' || *k == '.'))
            return 0;
    return 1;
}

/* The hint.<key>=<value> parameters as one JSON object of strings for the strategy (query
 * values are UTF-8 already: the request layer checked them). *out NULL when there are none. */
static int query_hints(struct req *r, json_object **out)
{
    struct evkeyval *kv;
    size_t n = 0;
    *out = NULL;
    TAILQ_FOREACH(kv, &r->query, next)
    {
        if (strncmp(kv->key, "hint.", 5) != 0) continue;
        const char *k = kv->key + 5;
        size_t vlen = strlen(kv->value);
        const char *why = NULL;
        if (!hint_key_ok(k))
            why = "a hint's name must be 1-64 letters, digits, '_', '-' or '.' (hint.region=eu)";
        else if (vlen == 0 || vlen > MAX_HINT_VALUE)
            why = "a hint's value must be 1-256 bytes";
        else if (++n > MAX_HINTS)
            why = "at most 16 hint.<key> parameters";
        else if (*out && json_object_object_get_ex(*out, k, NULL))
            why = "a hint is given twice";
        if (why) {
            if (*out) json_object_put(*out);
            *out = NULL;
            http_reply_error(r, 400, "invalid_field", "%.70s: %s", kv->key, why);
            return -1;
        }
        if (!*out) *out = xjson_object();
        json_object_object_add(*out, k, xjson_string(kv->value));
    }
    return 0;
}

static void on_selected(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    select_ctx_free(r);
    if (res->rc < 0)
        http_reply_storage_error(r, res, "agents");
    else if (!res->agent)
        http_reply_error(r, 404, "no_agent", "no available agent has every required capability");
    else
        reply_agent(r, 200, res->agent);
}

void agents_select(struct req *r)
{
    struct select_ctx *c = xcalloc(1, sizeof *c); /* the selection's, until the reply */
    r->ctx = c;
    if (query_id_list(r, "capability", r->core->cfg->max_capabilities, &c->caps) < 0 ||
        query_id_list(r, "exclude", 10000, &c->exclude) < 0 || query_hints(r, &c->hints) < 0) {
        /* replied already (the req is gone): free the context only */
        strlist_free(&c->caps);
        strlist_free(&c->exclude);
        free(c);
        return;
    }
    c->sel = (struct ops_select){
        .capabilities = (const char *const *)c->caps.items,
        .n_capabilities = c->caps.n,
        .exclude = (const char *const *)c->exclude.items,
        .n_exclude = c->exclude.n,
        .strategy = http_query(r, "strategy"),
        .hints_json = c->hints
                          ? json_object_to_json_string_ext(
                                c->hints, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL,
    };
    ops_agent_select(r->core, &r->call, &c->sel, on_selected, r);
}
