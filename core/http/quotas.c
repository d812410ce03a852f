/* quotas.c — provider quotas over HTTP (docs/fleet.md): POST /quotas (define or replace; admin),
 * GET /quotas and /quotas/:id (their live headroom; reader), DELETE /quotas/:id (admin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../xalloc.h"
#include "render.h"
#include "routes.h"
#include "validate.h"

#define MAX_RATE 1000000000000.0 /* per minute */

static void out_limit(struct evbuffer *b, const char *name, uint64_t v)
{
    evbuffer_add_printf(b, ",\"%s\":", name);
    if (v)
        evbuffer_add_printf(b, "%llu", (unsigned long long)v);
    else
        render_literal(b, "null");
}

void render_quota(struct evbuffer *b, const struct cp_quota_view *q, int64_t now)
{
    render_literal(b, "{\"id\":");
    render_string(b, q->id);
    render_literal(b, ",\"scope\":{\"provider\":");
    render_string(b, q->scope.provider);
    render_literal(b, ",\"model\":");
    render_string(b, q->scope.model);
    render_literal(b, ",\"key_id\":");
    render_string(b, q->scope.key_id);
    render_literal(b, "}");
    out_limit(b, "rpm", q->rpm);
    out_limit(b, "tpm", q->tpm);
    out_limit(b, "max_in_flight", q->max_in_flight);
    evbuffer_add_printf(b, ",\"window_seconds\":60,\"requests_used\":%llu,\"tokens_used\":%llu",
                        (unsigned long long)q->requests_used, (unsigned long long)q->tokens_used);
    render_literal(b, ",\"requests_left\":");
    if (q->rpm)
        evbuffer_add_printf(b, "%lld", (long long)q->rpm - (long long)q->requests_used);
    else
        render_literal(b, "null");
    render_literal(b, ",\"tokens_left\":");
    if (q->tpm)
        evbuffer_add_printf(b, "%lld", (long long)q->tpm - (long long)q->tokens_used);
    else
        render_literal(b, "null");
    uint32_t limit = q->concurrency_limit ? q->concurrency_limit : q->max_in_flight;
    evbuffer_add_printf(b, ",\"in_flight\":%u,\"concurrency_limit\":", (unsigned)q->in_flight);
    if (limit)
        evbuffer_add_printf(b, "%u", (unsigned)limit);
    else
        render_literal(b, "null");
    render_literal(b, ",\"paused_until\":");
    render_time(b, q->paused_until_ms > now ? q->paused_until_ms : 0);
    render_literal(b, ",\"next_room_at\":");
    render_time(b, q->next_room_ms);
    evbuffer_add_printf(b, ",\"rate_limited\":%llu}", (unsigned long long)q->rate_limited);
}

static void on_put(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "quota");
        return;
    }
    if (res->n_quotas < 1) {
        http_reply_error(r, 500, "internal", "the storage backend answered no quota");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_quota(b, res->quotas[0], clock_now_ms());
    http_reply_buffer(r, res->created ? 201 : 200, b);
}

/* A limit: absent or null = none, else an integer in [1, max]. */
static int get_limit(struct req *r, const char *key, double max, uint64_t *out)
{
    double v = 0;
    json_object *m = NULL;
    *out = 0;
    if (json_object_object_get_ex(r->body, key, &m) && m &&
        !json_object_is_type(m, json_type_null) && !json_object_is_type(m, json_type_int)) {
        http_reply_error(r, 400, "invalid_field", "%s must be a whole number (or null: no limit)",
                         key);
        return -1;
    }
    if (get_number(r, key, 1, max, &v) < 0) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int scope_member(struct req *r, json_object *scope, const char *key, int required,
                        const char **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(scope, key, &v) || !v ||
        json_object_is_type(v, json_type_null)) {
        if (!required) return 0;
        http_reply_error(r, 400, "missing_field", "scope.%s is required", key);
        return -1;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (!s || !valid_identifier(s)) {
        http_reply_error(r, 400, "invalid_field",
                         "scope.%s must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", key);
        return -1;
    }
    *out = s;
    return 0;
}

void quotas_put(struct req *r)
{
    const char *id = NULL;
    json_object *scope = NULL;
    struct cp_quota_view q = {.size = sizeof q};
    uint64_t mif = 0;
    if (get_string(r, "id", 1, &id) < 0 || check_identifier(r, "id", id) < 0) return;
    json_object_object_foreach(r->body, k, val)
    {
        (void)val;
        if (strcmp(k, "id") && strcmp(k, "scope") && strcmp(k, "rpm") && strcmp(k, "tpm") &&
            strcmp(k, "max_in_flight")) {
            http_reply_error(r, 400, "invalid_field",
                             "%.40s is not known; a quota has id, scope, rpm, tpm, max_in_flight",
                             k);
            return;
        }
    }
    if (!json_object_object_get_ex(r->body, "scope", &scope) || !scope ||
        json_object_is_type(scope, json_type_null)) {
        http_reply_error(r, 400, "missing_field", "scope is required");
        return;
    }
    if (!json_object_is_type(scope, json_type_object)) {
        http_reply_error(r, 400, "invalid_field",
                         "scope must be an object {\"provider\", \"model\", \"key_id\"}");
        return;
    }
    json_object_object_foreach(scope, sk, sv)
    {
        (void)sv;
        if (strcmp(sk, "provider") && strcmp(sk, "model") && strcmp(sk, "key_id")) {
            http_reply_error(r, 400, "invalid_field",
                             "scope.%.40s is not known; expected provider, model, key_id", sk);
            return;
        }
    }
    if (scope_member(r, scope, "provider", 1, &q.scope.provider) < 0 ||
        scope_member(r, scope, "model", 0, &q.scope.model) < 0 ||
        scope_member(r, scope, "key_id", 0, &q.scope.key_id) < 0 ||
        get_limit(r, "rpm", MAX_RATE, &q.rpm) < 0 || get_limit(r, "tpm", MAX_RATE, &q.tpm) < 0 ||
        get_limit(r, "max_in_flight", 4294967295.0, &mif) < 0)
        return;
    q.id = id;
    q.max_in_flight = (uint32_t)mif;
    ops_quota_put(r->core, &r->call, &q, on_put, r);
}

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "quotas");
        return;
    }
    int64_t now = clock_now_ms();
    const char *one = r->params[0];
    struct evbuffer *b = xevbuffer_new();
    if (one) {
        for (size_t i = 0; i < res->n_quotas; i++) {
            if (strcmp(res->quotas[i]->id, one) != 0) continue;
            render_quota(b, res->quotas[i], now);
            http_reply_buffer(r, 200, b);
            return;
        }
        evbuffer_free(b);
        http_reply_error(r, 404, "not_found", "quota %s not found", one);
        return;
    }
    render_literal(b, "{\"quotas\":[");
    for (size_t i = 0; i < res->n_quotas; i++) {
        if (i) render_literal(b, ",");
        render_quota(b, res->quotas[i], now);
    }
    evbuffer_add_printf(b, "],\"total\":%zu}", res->n_quotas);
    http_reply_buffer(r, 200, b);
}

void quotas_list(struct req *r)
{
    ops_quota_list(r->core, on_listed, r);
}

void quotas_get(struct req *r)
{
    if (check_identifier(r, "quota id", r->params[0]) < 0) return;
    ops_quota_list(r->core, on_listed, r);
}

static void on_deleted(void *cookie, const struct cp_result *res)
{
    struct req *r = cookie;
    if (res->rc < 0) {
        http_reply_storage_error(r, res, "quota");
        return;
    }
    struct evbuffer *b = xevbuffer_new();
    render_literal(b, "{\"deleted\":true}");
    http_reply_buffer(r, 200, b);
}

void quotas_delete(struct req *r)
{
    if (check_identifier(r, "quota id", r->params[0]) < 0) return;
    ops_quota_delete(r->core, &r->call, r->params[0], on_deleted, r);
}
