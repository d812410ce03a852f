/* system.c — /health, /health/:agent_id, /stats and /metrics (docs/api.md): one read through
 * ops each, rendered. */
#include <stdlib.h>
#include <string.h>

#include "../quota.h"
#include "../metrics.h"
#include "../xalloc.h"
#include "agent_pages.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

/* "storage": which backend serves, whether cpd fell back to memory at start-up, and (when the
 * store tells) its mode and the server it uses now. */
static void render_storage(struct evbuffer *b, struct cp_core *core)
{
    struct ops_storage st;
    ops_storage_status(core, &st);
    evbuffer_add_printf(b, "\"storage\":{\"backend\":");
    render_string(b, st.backend);
    evbuffer_add_printf(b, ",\"available\":%s,\"fallback\":%s,\"fallback_reason\":",
                        st.available ? "true" : "false", st.fallback ? "true" : "false");
    render_string(b, st.fallback_reason);
    if (st.has_conn) {
        evbuffer_add_printf(b, ",\"mode\":");
        render_string(b, st.conn.mode[0] ? st.conn.mode : NULL);
        evbuffer_add_printf(b, ",\"address\":");
        render_string(b, st.conn.address[0] ? st.conn.address : NULL);
    }
    evbuffer_add(b, "}", 1);
}

/* ---- /health ---- */

/* Up to this many agents, GET /health answers the full per-agent map by default (what it always
 * did); a larger fleet gets the summary unless ?agents=all asks for the map. */
#define HEALTH_FULL_MAX 1000
#define HEALTH_UNWELL_DEFAULT 100 /* agents the summary lists by default */
#define HEALTH_LIMIT_MAX 100000

enum health_form { FORM_AUTO, FORM_SUMMARY, FORM_FULL };

struct health_req {
    enum health_form form;
    uint32_t limit;
    const char *after; /* borrowed from the query */
};

static void health_item(struct evbuffer *b, const struct cp_agent_view *a, int first, void *arg)
{
    (void)arg;
    if (!first) evbuffer_add(b, ",", 1);
    render_string(b, a->agent_id);
    evbuffer_add(b, ":", 1);
    render_health(b, a);
}

static void health_tail(struct evbuffer *b, size_t count, const char *next, void *arg)
{
    (void)count, (void)arg;
    render_literal(b, "},\"next\":");
    render_string(b, next);
    evbuffer_add(b, "}", 1);
}

/* "summary": the fleet's counts, from the store's counters (no agent is read). */
static void render_summary(struct evbuffer *b, const struct cp_stats_view *s)
{
    const uint64_t *h = s->agents_by_health;
    evbuffer_add_printf(
        b,
        "\"summary\":{\"agents\":%llu,\"by_health\":{\"healthy\":%llu,"
        "\"degraded\":%llu,\"unhealthy\":%llu,\"unknown\":%llu},\"by_status\":",
        (unsigned long long)s->agents_total, (unsigned long long)h[CP_HEALTH_HEALTHY],
        (unsigned long long)h[CP_HEALTH_DEGRADED], (unsigned long long)h[CP_HEALTH_UNHEALTHY],
        (unsigned long long)h[CP_HEALTH_UNKNOWN]);
    evbuffer_add(b, "{", 1);
    for (int i = 0; i < CP_AGENT_STATUS_COUNT; i++)
        evbuffer_add_printf(b, "%s\"%s\":%llu", i ? "," : "", cp_agent_status_names[i],
                            (unsigned long long)s->agents_by_status[i]);
    evbuffer_add_printf(b, "},\"circuits_open\":%llu}", (unsigned long long)s->circuits_open);
}

/* The counters decide the system's status and, for ?agents=auto, the form; then the agents of
 * the form are listed a store page at a time (agent_pages.c). */
static void on_health_stats(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct health_req *h = r->ctx;
    r->ctx = NULL;
    if (res->rc < 0) {
        free(h);
        http_reply_storage_error(r, res, "agents");
        return;
    }
    const struct cp_stats_view *s = res->stats;
    const uint64_t *by = s->agents_by_health;
    int status =
        ops_system_health(s->agents_total, by[CP_HEALTH_DEGRADED], by[CP_HEALTH_UNHEALTHY]);
    int full = h->form == FORM_FULL || (h->form == FORM_AUTO && s->agents_total <= HEALTH_FULL_MAX);
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add_printf(b, "{\"status\":\"%s\",", cp_health_name(status));
    render_storage(b, r->core);
    evbuffer_add_printf(b, ",\"form\":\"%s\",", full ? "full" : "summary");
    render_summary(b, s);
    struct agent_pages pages = {.filter = {.status = -1, .after = h->after},
                                .limit = h->limit,
                                .item = health_item,
                                .tail = health_tail};
    if (full) {
        render_literal(b, ",\"agents\":{");
    } else {
        render_literal(b, ",\"unhealthy_agents\":{");
        pages.filter.health_mask = (1u << CP_HEALTH_DEGRADED) | (1u << CP_HEALTH_UNHEALTHY);
        if (!pages.limit) pages.limit = HEALTH_UNWELL_DEFAULT;
        if (by[CP_HEALTH_DEGRADED] + by[CP_HEALTH_UNHEALTHY] == 0) {
            /* A well fleet: nothing to list, and a store without an index of the unwell
             * (memory) would walk every agent to find that out. */
            free(h);
            health_tail(b, 0, NULL, NULL);
            http_reply_buffer(r, 200, b);
            return;
        }
    }
    free(h);
    agent_pages_reply(r, b, &pages);
}

void system_health(struct req *r)
{
    struct health_req h = {FORM_AUTO, 0, NULL};
    const char *form = http_query(r, "agents");
    if (form && strcmp(form, "all") == 0)
        h.form = FORM_FULL;
    else if (form && strcmp(form, "summary") == 0)
        h.form = FORM_SUMMARY;
    else if (form && strcmp(form, "auto") != 0) {
        http_reply_error(r, 400, "invalid_field", "agents must be auto, summary or all");
        return;
    }
    if (query_page(r, HEALTH_LIMIT_MAX, &h.limit, &h.after) < 0) return;
    struct health_req *keep = xmalloc(sizeof *keep);
    *keep = h;
    r->ctx = keep;
    ops_stats(r->core, on_health_stats, r);
}

static void on_agent_health(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_health(b, res->agent);
    http_reply_buffer(r, 200, b);
}

void system_agent_health(struct req *r)
{
    if (check_identifier(r, "agent id", r->params[0]) < 0) return;
    ops_agent_get(r->core, r->params[0], on_agent_health, r);
}

static void render_counts(struct evbuffer *b, const struct cp_count *c, size_t n)
{
    evbuffer_add(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) evbuffer_add(b, ",", 1);
        render_string(b, c[i].name);
        evbuffer_add_printf(b, ":%llu", (unsigned long long)c[i].count);
    }
    evbuffer_add(b, "}", 1);
}

static void render_enum_counts(struct evbuffer *b, const char *const *names, const uint64_t *v,
                               int n)
{
    evbuffer_add(b, "{", 1);
    for (int i = 0; i < n; i++)
        evbuffer_add_printf(b, "%s\"%s\":%llu", i ? "," : "", names[i], (unsigned long long)v[i]);
    evbuffer_add(b, "}", 1);
}

static void on_stats_tenants(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct evbuffer *b = r->ctx;
    r->ctx = NULL;
    tenants_render_map(b, res->rc == 0 ? res : NULL);
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

static void on_stats(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "stats");
        return;
    }
    const struct cp_stats_view *s = res->stats;
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add_printf(b,
                        "{\"registry\":{\"total_agents\":%llu,\"available_agents\":%llu,"
                        "\"by_status\":",
                        (unsigned long long)s->agents_total,
                        (unsigned long long)s->agents_available);
    render_enum_counts(b, cp_agent_status_names, s->agents_by_status, CP_AGENT_STATUS_COUNT);
    evbuffer_add_printf(b, ",\"by_capability\":");
    render_counts(b, s->agents_by_capability, s->n_agents_by_capability);
    evbuffer_add_printf(b, ",\"by_provider\":");
    render_counts(b, s->agents_by_provider, s->n_agents_by_provider);
    const uint64_t *ts = s->tasks_by_status;
    evbuffer_add_printf(b,
                        "},\"scheduler\":{\"pending_tasks\":%llu,\"running_tasks\":%llu,"
                        "\"total\":%llu,\"held_claims\":%zu,\"by_status\":",
                        (unsigned long long)ts[CP_TASK_PENDING],
                        (unsigned long long)(ts[CP_TASK_CLAIMED] + ts[CP_TASK_RUNNING]),
                        (unsigned long long)s->tasks_total, ops_held_claims(r->core));
    render_enum_counts(b, cp_task_status_names, ts, CP_TASK_STATUS_COUNT);
    evbuffer_add_printf(b, ",\"by_priority\":");
    render_enum_counts(b, cp_priority_names, s->tasks_by_priority, CP_PRIORITY_COUNT);
    evbuffer_add_printf(b, ",\"by_type\":");
    render_counts(b, s->tasks_by_type, s->n_tasks_by_type);
    const uint64_t *h = s->agents_by_health;
    int sys = ops_system_health(s->agents_total, h[CP_HEALTH_DEGRADED], h[CP_HEALTH_UNHEALTHY]);
    evbuffer_add_printf(
        b,
        "},\"health\":{\"system_health\":\"%s\",\"healthy_count\":%llu,"
        "\"degraded_count\":%llu,\"unhealthy_count\":%llu,"
        "\"unknown_count\":%llu,\"circuits_open\":%llu},",
        cp_health_name(sys), (unsigned long long)h[CP_HEALTH_HEALTHY],
        (unsigned long long)h[CP_HEALTH_DEGRADED], (unsigned long long)h[CP_HEALTH_UNHEALTHY],
        (unsigned long long)h[CP_HEALTH_UNKNOWN], (unsigned long long)s->circuits_open);
    render_storage(b, r->core);
    /* provider quotas: 429s reported to this process (each returned its task to pending
     * without a retry counted; docs/fleet.md) */
    evbuffer_add_printf(b, ",\"quotas\":{\"rate_limited\":%llu}",
                        (unsigned long long)quotas_rate_limited_total(r->core->quotas));
    /* by_tenant: the store's tenant list ({} from a store without tenants). */
    render_literal(b, ",\"by_tenant\":");
    r->ctx = b;
    ops_tenant_list(r->core, on_stats_tenants, r);
}

void system_stats(struct req *r)
{
    ops_stats(r->core, on_stats, r);
}

static void on_metrics_quotas(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct evbuffer *b = r->ctx;
    r->ctx = NULL;
    quotas_seen(r->core->quotas, res); /* the gauges as of now */
    quotas_render_metrics(r->core->quotas, b);
    http_reply_typed(r, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}

static void on_metrics_stats(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct evbuffer *b = xevbuffer_new();
    metrics_render(b, res->rc == 0 ? res->stats : NULL);
    struct cp_core *core = r->core;
    struct ops_storage st;
    ops_storage_status(core, &st);
    metrics_render_storage(b, st.available, st.has_conn ? &st.conn : NULL);
    if (ops_quotas_supported(core)) { /* provider quotas: read their state now */
        r->ctx = b;
        ops_quota_list(core, on_metrics_quotas, r);
        return;
    }
    http_reply_typed(r, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}

void system_metrics(struct req *r)
{
    ops_stats(r->core, on_metrics_stats, r);
}

/* ---- /plugins ---- */

static const char *kind_name(int kind)
{
    return kind == CP_PLUGIN_STORAGE     ? "storage"
           : kind == CP_PLUGIN_SELECTION ? "selection"
           : kind == CP_PLUGIN_PROBE     ? "probe"
                                         : "unknown";
}

/* Option values are never shown: they may be secrets (a Redis URL with a password). */
void system_plugins(struct req *r)
{
    struct ops_plugin list[3 * CFG_MAX_PLUGINS + 1];
    size_t n = ops_plugins(r->core, list, sizeof list / sizeof *list);
    if (n > sizeof list / sizeof *list) n = sizeof list / sizeof *list;
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"plugins\":[");
    for (size_t i = 0; i < n; i++) {
        const struct ops_plugin *p = &list[i];
        evbuffer_add_printf(b, "%s{\"kind\":\"%s\",\"name\":", i ? "," : "", kind_name(p->kind));
        render_string(b, p->name);
        render_literal(b, ",\"version\":");
        render_string(b, p->version);
        evbuffer_add_printf(b, ",\"abi_version\":\"%u.%u\",\"path\":", (unsigned)p->abi_major,
                            (unsigned)p->abi_minor);
        render_string(b, p->path);
        render_literal(b, ",\"options\":[");
        for (size_t j = 0; j < p->n_options; j++) {
            if (j) evbuffer_add(b, ",", 1);
            render_string(b, p->options[j].key);
        }
        evbuffer_add_printf(b, "],\"default\":%s}", p->is_default ? "true" : "false");
    }
    evbuffer_add_printf(b, "],\"total\":%zu}", n);
    http_reply_buffer(r, 200, b);
}
