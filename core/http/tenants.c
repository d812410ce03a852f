/* tenants.c — /api/control-plane/tenants: fair share between tenants (docs/api.md "Tenants").
 * GET lists every tenant the store knows (configured, or having tasks) with what it has now;
 * PUT /tenants/:id sets a tenant's weight and max_in_flight; DELETE /tenants/:id puts it back
 * to weight 1 without a limit. Also the `by_tenant` member of /stats (system.c calls
 * tenants_render_map). */
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "routes.h"
#include "validate.h"

static void render_tenant(struct evbuffer *b, const struct cp_tenant_view *t, int with_id)
{
    render_literal(b, "{");
    if (with_id) {
        render_literal(b, "\"id\":");
        render_string(b, t->id);
        render_literal(b, ",");
    }
    evbuffer_add_printf(b,
                        "\"weight\":%u,\"max_in_flight\":%u,\"configured\":%s,\"waiting\":%llu,"
                        "\"in_flight\":%llu,\"tokens_served\":%llu}",
                        (unsigned)t->weight, (unsigned)t->max_in_flight,
                        t->configured ? "true" : "false", (unsigned long long)t->waiting,
                        (unsigned long long)t->in_flight, (unsigned long long)t->tokens_served);
}

void tenants_render_map(struct evbuffer *b, const struct cp_result *res)
{
    render_literal(b, "{");
    for (size_t i = 0; res && res->rc == 0 && i < res->n_tenants; i++) {
        if (i) render_literal(b, ",");
        render_string(b, res->tenants[i]->id);
        render_literal(b, ":");
        render_tenant(b, res->tenants[i], 0);
    }
    render_literal(b, "}");
}

static void reply_one(struct req *r, int status, const struct cp_result *res)
{
    if (res->n_tenants < 1) {
        http_reply_error(r, 500, "internal_error", "the store answered no tenant");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_tenant(b, res->tenants[0], 1);
    http_reply_buffer(r, status, b);
}

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "tenant");
        return;
    }
    const char *only = r->params[0];
    if (only) { /* GET /tenants/:id: one of the list (tenants are few) */
        for (size_t i = 0; i < res->n_tenants; i++) {
            if (strcmp(res->tenants[i]->id, only) == 0) {
                struct evbuffer *b = xevbuffer_new();
                render_tenant(b, res->tenants[i], 1);
                http_reply_buffer(r, 200, b);
                return;
            }
        }
        http_reply_error(r, 404, "not_found", "tenant not found");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"tenants\":[");
    for (size_t i = 0; i < res->n_tenants; i++) {
        if (i) render_literal(b, ",");
        render_tenant(b, res->tenants[i], 1);
    }
    evbuffer_add_printf(b, "],\"total\":%zu,\"aging_seconds\":", res->n_tenants);
    int64_t aging = r->core->cfg->tenant_aging_ms;
    if (aging > 0)
        evbuffer_add_printf(b, "%g}", (double)aging / 1000.0);
    else
        render_literal(b, "null}");
    http_reply_buffer(r, 200, b);
}

void tenants_list(struct req *r)
{
    ops_tenant_list(r->core, on_listed, r);
}

void tenants_get(struct req *r)
{
    if (check_identifier(r, "tenant id", r->params[0]) < 0) return;
    ops_tenant_list(r->core, on_listed, r);
}

static void on_put(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0)
        http_reply_storage_error(r, res, "tenant");
    else
        reply_one(r, 200, res);
}

void tenants_put(struct req *r)
{
    if (check_identifier(r, "tenant id", r->params[0]) < 0) return;
    json_object_object_foreach(r->body, k, v)
    {
        (void)v;
        if (strcmp(k, "weight") != 0 && strcmp(k, "max_in_flight") != 0) {
            http_reply_error(r, 400, "invalid_field",
                             "unknown member '%.64s'; a tenant has weight and max_in_flight", k);
            return;
        }
    }
    struct cp_tenant_view t = {.size = sizeof t, .id = r->params[0], .weight = 1};
    if (get_uint(r, "weight", 1, 1000000, &t.weight) < 0 ||
        get_uint(r, "max_in_flight", 0, 1000000000, &t.max_in_flight) < 0)
        return;
    ops_tenant_put(r->core, &t, on_put, r);
}

void tenants_delete(struct req *r)
{
    if (check_identifier(r, "tenant id", r->params[0]) < 0) return;
    ops_tenant_delete(r->core, r->params[0], on_put, r);
}
