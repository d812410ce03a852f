/* redis_quota.c — provider quotas in the Redis backend (ABI 2.4, cp/quota.h, docs/fleet.md):
 * the ops quota_put, quota_delete, quota_list over lua/quota_*.lua, the decoding of their
 * quotas and of a claim held by a quota (the 17th member of a script reply, rs_reply_parse()),
 * and an agent's quota_scopes as stored (the agent field qsc). The check and the reservation
 * happen inside the claim script and the release inside the scripts a task leaves its holder
 * by (lua/quota.lua), so they are atomic across every process sharing the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

void rs_quota_put(void *st, const struct cp_quota_view *q, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    if (!q || !q->id || !q->id[0] || !q->scope.provider || !q->scope.provider[0]) {
        rs_fail(cb, cookie, CP_ERR_INVALID, "a quota needs id and scope.provider");
        return;
    }
    struct rs_args a;
    rs_args_begin(&a, rs, RS_QUOTA_PUT);
    args_str(&a, q->id);
    args_str(&a, q->scope.provider);
    args_opt(&a, q->scope.model);
    args_opt(&a, q->scope.key_id);
    args_i64(&a, q->rpm > INT64_MAX ? INT64_MAX : (int64_t)q->rpm);
    args_i64(&a, q->tpm > INT64_MAX ? INT64_MAX : (int64_t)q->tpm);
    args_i64(&a, q->max_in_flight);
    rs_op_start(rs, RS_QUOTA_PUT, &a, cb, cookie);
}

void rs_quota_delete(void *st, const char *quota_id, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    if (!quota_id || !quota_id[0]) {
        rs_fail(cb, cookie, CP_ERR_NOT_FOUND, "quota not found");
        return;
    }
    struct rs_args a;
    rs_args_begin(&a, rs, RS_QUOTA_DELETE);
    args_str(&a, quota_id);
    rs_op_start(rs, RS_QUOTA_DELETE, &a, cb, cookie);
}

void rs_quota_list(void *st, int64_t now_ms, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    struct rs_args a;
    rs_args_begin(&a, rs, RS_QUOTA_LIST);
    args_i64(&a, now_ms);
    rs_op_start(rs, RS_QUOTA_LIST, &a, cb, cookie);
}

/* ---- agents' quota_scopes: lp(provider) lp(model) lp(key_id) per scope ("" for none) ------ */

void rs_args_scopes(struct rs_args *a, const struct cp_agent_view *in)
{
    const struct cp_quota_scope *sc = NULL;
    uint32_t n = 0;
    if (in->size >= offsetof(struct cp_agent_view, n_quota_scopes) + sizeof in->n_quota_scopes)
        sc = in->quota_scopes, n = in->n_quota_scopes;
    size_t len = 0;
    for (uint32_t i = 0; sc && i < n; i++) {
        const char *s[3] = {sc[i].provider, sc[i].model, sc[i].key_id};
        for (int k = 0; k < 3; k++)
            len += 21 + (s[k] ? strlen(s[k]) : 0);
    }
    if (!sc || !n) {
        args_str(a, "");
        return;
    }
    char *buf = args_own(a, len + 1); /* freed with the vector (args_add borrows) */
    if (!buf) return;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *s[3] = {sc[i].provider, sc[i].model, sc[i].key_id};
        for (int k = 0; k < 3; k++) {
            size_t l = s[k] ? strlen(s[k]) : 0;
            off += (size_t)snprintf(buf + off, len + 1 - off, "%zu:", l);
            if (l) memcpy(buf + off, s[k], l);
            off += l;
        }
    }
    args_add(a, buf, off);
}

/* The lp string at *p before end (NULL: malformed); a NUL-terminated copy in the arena. */
static char *lp_copy(const char **p, const char *end, struct rs_arena *arena, int *bad)
{
    const char *s = *p;
    size_t n = 0, digits = 0;
    while (s < end && *s >= '0' && *s <= '9' && digits < 10) {
        n = n * 10 + (size_t)(*s++ - '0');
        digits++;
    }
    if (digits == 0 || s >= end || *s != ':' || (size_t)(end - s - 1) < n) {
        *bad = 1;
        return NULL;
    }
    char *c = rs_arena_alloc(arena, n + 1);
    if (!c) return NULL;
    memcpy(c, s + 1, n);
    c[n] = '\0';
    *p = s + 1 + n;
    return c;
}

int rs_reply_scopes(const redisReply *r, struct rs_arena *arena, struct cp_agent_view *a)
{
    a->quota_scopes = NULL;
    a->n_quota_scopes = 0;
    if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_STRING && r->len == 0)) return 0;
    if (r->type != REDIS_REPLY_STRING) return CP_ERR_UNAVAILABLE;
    /* each scope takes at least 6 bytes ("0:0:0:"): a bound on how many there can be */
    size_t max = r->len / 6 + 1;
    struct cp_quota_scope *v = rs_arena_alloc(arena, max * sizeof *v);
    if (!v) return CP_ERR_NOMEM;
    const char *p = r->str, *end = r->str + r->len;
    uint32_t n = 0;
    int bad = 0;
    while (p < end && n < max && !bad) {
        char *f[3];
        for (int k = 0; k < 3; k++) {
            f[k] = lp_copy(&p, end, arena, &bad);
            if (!f[k] && !bad) return CP_ERR_NOMEM;
            if (bad) break;
        }
        if (bad) break;
        v[n++] = (struct cp_quota_scope){f[0], f[1][0] ? f[1] : NULL, f[2][0] ? f[2] : NULL};
    }
    if (bad || p != end) return CP_ERR_UNAVAILABLE;
    a->quota_scopes = v;
    a->n_quota_scopes = n;
    return 0;
}

/* ---- quotas in a reply: {quota_held, {entry...}} (QT.entry() in lua/quota.lua) -------------- */

static int entry_i64(const redisReply *r, int64_t *out)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) return -1;
    *out = r->integer;
    return 0;
}

static const char *entry_str(const redisReply *r, int *bad)
{
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (r->type != REDIS_REPLY_STRING) {
        *bad = 1;
        return NULL;
    }
    return r->str;
}

int rs_reply_quotas(const redisReply *r, struct rs_arena *arena, struct cp_result *res)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_ARRAY)
        return CP_ERR_UNAVAILABLE;
    res->quota_held = r->element[0]->integer != 0;
    const redisReply *l = r->element[1];
    if (!l->elements) return 0;
    struct cp_quota_view *v = rs_arena_alloc(arena, l->elements * sizeof *v);
    const struct cp_quota_view **p = rs_arena_alloc(arena, l->elements * sizeof *p);
    if (!v || !p) return CP_ERR_NOMEM;
    int bad = 0;
    for (size_t i = 0; i < l->elements && !bad; i++) {
        const redisReply *e = l->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 14 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_STRING)
            return CP_ERR_UNAVAILABLE;
        memset(&v[i], 0, sizeof v[i]);
        v[i].size = sizeof v[i];
        v[i].id = e->element[0]->str;
        v[i].scope.provider = e->element[1]->str;
        v[i].scope.model = entry_str(e->element[2], &bad);
        v[i].scope.key_id = entry_str(e->element[3], &bad);
        int64_t n[10];
        for (int k = 0; k < 10 && !bad; k++)
            if (entry_i64(e->element[4 + k], &n[k]) < 0) bad = 1;
        if (bad) break;
        v[i].rpm = (uint64_t)n[0];
        v[i].tpm = (uint64_t)n[1];
        v[i].max_in_flight = n[2] > UINT32_MAX ? UINT32_MAX : (uint32_t)n[2];
        v[i].requests_used = (uint64_t)n[3];
        v[i].tokens_used = (uint64_t)n[4];
        v[i].in_flight = n[5] > UINT32_MAX ? UINT32_MAX : (uint32_t)n[5];
        v[i].concurrency_limit = n[6] > UINT32_MAX ? UINT32_MAX : (uint32_t)n[6];
        v[i].paused_until_ms = n[7];
        v[i].next_room_ms = n[8];
        v[i].rate_limited = (uint64_t)n[9];
        p[i] = &v[i];
    }
    if (bad) return CP_ERR_UNAVAILABLE;
    res->quotas = p;
    res->n_quotas = l->elements;
    return 0;
}
