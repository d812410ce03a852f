/* redis_tenants.c — the tenant ops of the Redis backend (ABI 2.4, cp/storage.h "Tenants"):
 * tenant_put, tenant_delete, tenant_list over lua/tenant_*.lua, and the decoding of their
 * tenants (the 16th member of a script reply, rs_reply_parse()). The sharing itself happens
 * inside the claim script (lua/tenant.lua, task_claim.lua). */
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

void rs_tenant_put(void *st, const struct cp_tenant_view *t, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    if (!t || !t->id || !t->id[0]) {
        rs_fail(cb, cookie, CP_ERR_INVALID, "tenant id is required");
        return;
    }
    struct rs_args a;
    rs_args_begin(&a, rs, RS_TENANT_PUT);
    args_str(&a, t->id);
    args_i64(&a, t->weight ? t->weight : 1);
    args_i64(&a, t->max_in_flight);
    rs_op_start(rs, RS_TENANT_PUT, &a, cb, cookie);
}

void rs_tenant_delete(void *st, const char *tenant_id, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    if (!tenant_id || !tenant_id[0]) {
        rs_fail(cb, cookie, CP_ERR_NOT_FOUND, "tenant not found");
        return;
    }
    struct rs_args a;
    rs_args_begin(&a, rs, RS_TENANT_DELETE);
    args_str(&a, tenant_id);
    rs_op_start(rs, RS_TENANT_DELETE, &a, cb, cookie);
}

void rs_tenant_list(void *st, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    struct rs_args a;
    rs_args_begin(&a, rs, RS_TENANT_LIST);
    rs_op_start(rs, RS_TENANT_LIST, &a, cb, cookie);
}

/* Tenant entries are Lua numbers (RESP integers) and the id (TN.entry() in lua/tenant.lua). */
static uint64_t entry_u64(const redisReply *r, int *bad)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
        *bad = 1;
        return 0;
    }
    return (uint64_t)r->integer;
}

int rs_reply_tenants(const redisReply *r, struct rs_arena *arena,
                     const struct cp_tenant_view *const **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->type != REDIS_REPLY_ARRAY) return CP_ERR_UNAVAILABLE;
    if (!r->elements) return 0;
    struct cp_tenant_view *v = rs_arena_alloc(arena, r->elements * sizeof *v);
    const struct cp_tenant_view **p = rs_arena_alloc(arena, r->elements * sizeof *p);
    if (!v || !p) return CP_ERR_NOMEM;
    int bad = 0;
    for (size_t i = 0; i < r->elements && !bad; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 7 ||
            e->element[0]->type != REDIS_REPLY_STRING) {
            bad = 1;
            break;
        }
        memset(&v[i], 0, sizeof v[i]);
        v[i].size = sizeof v[i];
        v[i].id = e->element[0]->str;
        uint64_t w = entry_u64(e->element[1], &bad), m = entry_u64(e->element[2], &bad);
        v[i].weight = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
        v[i].max_in_flight = m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
        v[i].configured = entry_u64(e->element[3], &bad) != 0;
        v[i].waiting = entry_u64(e->element[4], &bad);
        v[i].in_flight = entry_u64(e->element[5], &bad);
        v[i].tokens_served = entry_u64(e->element[6], &bad);
        p[i] = &v[i];
    }
    if (bad) return CP_ERR_UNAVAILABLE;
    *out = p;
    *n = r->elements;
    return 0;
}
