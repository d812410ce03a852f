/* system.c — /health, /health/:agent_id, /stats and /metrics (CONTRACT §5). */
#include <string.h>

#include "../health.h"
#include "../metrics.h"
#include "../scheduler.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

/* The store's connection state (ops version 2 status()); 0 when it has none. Strings are made
 * safe to render whatever the plugin left in them. */
static int storage_status(struct cp_core *core, struct cp_storage_status *st)
{
    memset(st, 0, sizeof *st);
    if (core->store->version < 2 || !core->store->status) return 0;
    st->size = sizeof *st;
    core->store->status(core->st, st);
    st->mode[sizeof st->mode - 1] = '\0';
    st->address[sizeof st->address - 1] = '\0';
    return 1;
}

/* "storage": which backend serves, whether cpd fell back to memory at start-up, and (when the
 * store tells) its mode and the server it uses now. */
static void render_storage(struct evbuffer *b, struct cp_core *core)
{
    int up = !core->store->is_available || core->store->is_available(core->st);
    evbuffer_add_printf(b, "\"storage\":{\"backend\":");
    render_string(b, core->storage_plugin ? core->storage_plugin->desc->name : "closed");
    evbuffer_add_printf(b, ",\"available\":%s,\"fallback\":%s,\"fallback_reason\":",
                        up ? "true" : "false", core->storage_fallback ? "true" : "false");
    render_string(b, core->storage_fallback_reason);
    struct cp_storage_status st;
    if (storage_status(core, &st)) {
        evbuffer_add_printf(b, ",\"mode\":");
        render_string(b, st.mode[0] ? st.mode : NULL);
        evbuffer_add_printf(b, ",\"address\":");
        render_string(b, st.address[0] ? st.address : NULL);
    }
    evbuffer_add(b, "}", 1);
}

static void on_health_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agents");
        return;
    }
    uint64_t degraded = 0, unhealthy = 0;
    for (size_t i = 0; i < res->n_agents; i++) {
        degraded += res->agents[i]->health.status == CP_HEALTH_DEGRADED;
        unhealthy += res->agents[i]->health.status == CP_HEALTH_UNHEALTHY;
    }
    int status = health_system_status(res->n_agents, degraded, unhealthy);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"status\":\"%s\",", cp_health_name(status));
    render_storage(b, r->core);
    evbuffer_add_printf(b, ",\"agents\":{");
    for (size_t i = 0; i < res->n_agents; i++) {
        if (i) evbuffer_add(b, ",", 1);
        render_string(b, res->agents[i]->agent_id);
        evbuffer_add(b, ":", 1);
        render_health(b, res->agents[i]);
    }
    evbuffer_add(b, "}}", 2);
    http_reply_buffer(r, 200, b);
}

void system_health(struct req *r)
{
    struct cp_agent_filter f = {NULL, 0, -1};
    CORE_STORE(r->core, agent_list, &f, on_health_listed, r);
}

static void on_agent_health(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "agent");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    render_health(b, res->agent);
    http_reply_buffer(r, 200, b);
}

void system_agent_health(struct req *r)
{
    if (check_identifier(r, "agent id", r->params[0]) < 0) return;
    CORE_STORE(r->core, agent_get, r->params[0], on_agent_health, r);
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

static void on_stats(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "stats");
        return;
    }
    const struct cp_stats_view *s = res->stats;
    struct evbuffer *b = evbuffer_new();
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
                        (unsigned long long)s->tasks_total, sched_held_count(r->core->sched));
    render_enum_counts(b, cp_task_status_names, ts, CP_TASK_STATUS_COUNT);
    evbuffer_add_printf(b, ",\"by_priority\":");
    render_enum_counts(b, cp_priority_names, s->tasks_by_priority, CP_PRIORITY_COUNT);
    evbuffer_add_printf(b, ",\"by_type\":");
    render_counts(b, s->tasks_by_type, s->n_tasks_by_type);
    const uint64_t *h = s->agents_by_health;
    int sys = health_system_status(s->agents_total, h[CP_HEALTH_DEGRADED], h[CP_HEALTH_UNHEALTHY]);
    evbuffer_add_printf(
        b,
        "},\"health\":{\"system_health\":\"%s\",\"healthy_count\":%llu,"
        "\"degraded_count\":%llu,\"unhealthy_count\":%llu,"
        "\"unknown_count\":%llu,\"circuits_open\":%llu},",
        cp_health_name(sys), (unsigned long long)h[CP_HEALTH_HEALTHY],
        (unsigned long long)h[CP_HEALTH_DEGRADED], (unsigned long long)h[CP_HEALTH_UNHEALTHY],
        (unsigned long long)h[CP_HEALTH_UNKNOWN], (unsigned long long)s->circuits_open);
    render_storage(b, r->core);
    evbuffer_add(b, "}", 1);
    http_reply_buffer(r, 200, b);
}

void system_stats(struct req *r)
{
    CORE_STORE(r->core, stats, on_stats, r);
}

static void on_metrics_stats(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    struct evbuffer *b = evbuffer_new();
    metrics_render(b, res->rc == 0 ? res->stats : NULL);
    struct cp_core *core = r->core;
    struct cp_storage_status st;
    int have = storage_status(core, &st);
    int up = !core->store->is_available || core->store->is_available(core->st);
    metrics_render_storage(b, up, have ? &st : NULL);
    http_reply_typed(r, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}

void system_metrics(struct req *r)
{
    CORE_STORE(r->core, stats, on_metrics_stats, r);
}
