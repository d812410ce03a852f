/* memory_tenants.c — fair share between tenants in the in-memory backend (ABI 2.4, the tenants
 * paragraph of cp/storage.h): the tenant records, what a claim charges them, how the claim
 * compares two candidates, and the tenant_put / tenant_delete / tenant_list ops.
 *
 * Each pending queue (struct mem_capset) belongs to one tenant: the capability set and the
 * tenant together are its key, so a claim sees at most one head per (set, band, tenant) and
 * picks among them by band, then by the tenants' service in that band, then by tenant id (a tie
 * between tenants: Redis's claim index keeps that order), then by age. Service is
 * the tokens a tenant was charged in a band divided by its weight: serving the least-served
 * tenant first gives each tenant with waiting work a share of the band's tokens proportional
 * to its weight (deficit round robin's long-run share, without a round pointer to keep). It is
 * kept per band because shares are per band: one counter for all bands made a tenant's
 * high-priority tokens (chat turns) shrink its share of the normal band (the fleet benchmark
 * measured b at 15-21 % of normal against a weight of 25 %). A claim is charged in the band it
 * was chosen in (one up when aged: t->charged_band) and its usage corrects that same band. A
 * tenant that had nothing waiting in a band starts again there at the service being served now
 * (mem.vtime[band]), so idle time banks no credit.
 *
 * Ownership: a tenant record lives while a capset points at it (one reference each) or while
 * it is configured (one more). Its id string may be in a result being delivered, so a record
 * is freed through mem_free_later(). */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static int tenant_eq(const void *item, const void *key)
{
    return strcmp(((const struct mem_tenant *)item)->id, key) == 0;
}

static uint32_t tenant_hash(const struct mem *m, const char *id)
{
    return (uint32_t)mem_hash64(m->seed ^ 0x7e4a11u, id, strlen(id));
}

static struct mem_tenant *tenant_find(struct mem *m, const char *id)
{
    return mem_hash_get(&m->tenants, tenant_hash(m, id), tenant_eq, id);
}

struct mem_tenant *mem_tenant_get(struct mem *m, const char *id)
{
    if (!id || !id[0]) id = MEM_TENANT_DEFAULT;
    struct mem_tenant *tn = tenant_find(m, id);
    if (tn) {
        tn->refs++;
        return tn;
    }
    size_t len = strlen(id);
    tn = calloc(1, sizeof *tn + len + 1);
    if (!tn) return NULL;
    memcpy(tn->id, id, len + 1);
    tn->hash = tenant_hash(m, id);
    tn->weight = 1;
    tn->refs = 1;
    if (mem_hash_put(&m->tenants, tn->hash, tn) != 0) {
        free(tn);
        return NULL;
    }
    return tn;
}

void mem_tenant_put(struct mem *m, struct mem_tenant *tn)
{
    if (!tn || --tn->refs > 0) return;
    mem_hash_del(&m->tenants, tn->hash, tn);
    mem_free_later(m, tn);
}

void mem_tenants_free(struct mem *m)
{
    for (size_t i = 0; i < m->tenants.cap; i++)
        free(m->tenants.items[i]);
    mem_hash_free(&m->tenants);
}

void mem_tenant_waiting(struct mem *m, struct mem_tenant *tn, int band, int sign)
{
    if (band < 0 || band >= CP_PRIORITY_COUNT) return;
    if (sign > 0) {
        tn->waiting++;
        /* Back from idle in this band: no credit for the time it had nothing waiting there. */
        if (tn->waiting_in[band]++ == 0 && tn->service[band] < m->vtime[band])
            tn->service[band] = m->vtime[band];
    } else {
        if (tn->waiting > 0) tn->waiting--;
        if (tn->waiting_in[band] > 0) tn->waiting_in[band]--;
    }
}

int mem_tenant_full(const struct mem_tenant *tn)
{
    return tn->max_in_flight > 0 && tn->in_flight >= tn->max_in_flight;
}

/* What a claim of t costs its tenant: its estimated tokens (est_tokens.input +
 * est_tokens.max_output), or 1 for a task that declares none. */
static uint64_t task_cost(const struct mem_task *t)
{
#if CP_ABI_TARGET_MINOR >= 4
    const struct mem_task_ext *x = t->ext;
    if (x && x->est_in + x->est_out > 0) return (uint64_t)(x->est_in + x->est_out);
#else
    (void)t;
#endif
    return 1;
}

static int charged_band(const struct mem_task *t)
{
    return t->charged_band < CP_PRIORITY_COUNT ? t->charged_band : t->priority;
}

void mem_tenant_settle(struct mem_task *t, int64_t used)
{
    struct mem_tenant *tn = t->caps->tenant;
    double delta = (double)(used < 0 ? 0 : used) - (double)task_cost(t);
    tn->service[charged_band(t)] += delta / (double)(tn->weight ? tn->weight : 1);
    if (delta < 0 && (uint64_t)-delta > tn->tokens_served)
        tn->tokens_served = 0;
    else
        tn->tokens_served = (uint64_t)((double)tn->tokens_served + delta);
}

void mem_tenant_claimed(struct mem *m, struct mem_task *t)
{
    struct mem_tenant *tn = t->caps->tenant;
    int band = charged_band(t);
    uint64_t cost = task_cost(t);
    /* The service being served now: the least-served tenant's, the one claimed (not a running
     * maximum: settled usage may lower it, and a tenant back from idle must not start above
     * the tenants that kept work waiting). */
    m->vtime[band] = tn->service[band];
    tn->service[band] += (double)cost / (double)(tn->weight ? tn->weight : 1);
    tn->tokens_served += cost;
    tn->in_flight++;
}

void mem_tenant_released(struct mem_task *t)
{
    struct mem_tenant *tn = t->caps->tenant;
    if (tn->in_flight > 0) tn->in_flight--;
}

int mem_tenant_before(const struct mem_task *a, int band_a, const struct mem_task *b, int band_b)
{
    if (band_a != band_b) return band_a < band_b;
    const struct mem_tenant *ta = a->caps->tenant, *tb = b->caps->tenant;
    if (ta != tb) { /* equal service: by tenant id (the order Redis's claim index keeps) */
        if (ta->service[band_a] != tb->service[band_b])
            return ta->service[band_a] < tb->service[band_b];
        return strcmp(ta->id, tb->id) < 0;
    }
    if (a->pending_since != b->pending_since) return a->pending_since < b->pending_since;
    return a->seq < b->seq;
}

#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */

static void tenant_view(const struct mem_tenant *tn, struct cp_tenant_view *v)
{
    memset(v, 0, sizeof *v);
    v->size = sizeof *v;
    v->id = tn->id;
    v->weight = tn->weight;
    v->max_in_flight = tn->max_in_flight;
    v->configured = tn->configured;
    v->waiting = tn->waiting;
    v->in_flight = tn->in_flight;
    v->tokens_served = tn->tokens_served;
}

static void reply_one(cp_storage_cb cb, void *cookie, const struct mem_tenant *tn)
{
    struct cp_tenant_view v;
    tenant_view(tn, &v);
    const struct cp_tenant_view *ptr = &v;
    struct cp_result res = {.size = sizeof res, .tenants = &ptr, .n_tenants = 1};
    cb(cookie, &res);
}

void mem_op_tenant_put(void *st, const struct cp_tenant_view *in, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    if (!in || !in->id || !in->id[0]) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "tenant id is required");
    } else {
        struct mem_tenant *tn = tenant_find(m, in->id);
        if (!tn || !tn->configured) tn = mem_tenant_get(m, in->id); /* the configured ref */
        if (!tn) {
            mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
        } else {
            tn->configured = 1;
            tn->weight = in->weight ? in->weight : 1;
            tn->max_in_flight = in->max_in_flight;
            reply_one(cb, cookie, tn);
        }
    }
    mem_leave(m);
}

void mem_op_tenant_delete(void *st, const char *id, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    struct mem_tenant *tn = id ? tenant_find(m, id) : NULL;
    if (!tn || !tn->configured) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "tenant not found");
    } else {
        tn->configured = 0;
        tn->weight = 1;
        tn->max_in_flight = 0;
        reply_one(cb, cookie, tn);
        mem_tenant_put(m, tn);
    }
    mem_leave(m);
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const struct cp_tenant_view *const *)a)->id,
                  (*(const struct cp_tenant_view *const *)b)->id);
}

void mem_op_tenant_list(void *st, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    size_t n = m->tenants.n;
    struct cp_tenant_view *views = calloc(n ? n : 1, sizeof *views);
    const struct cp_tenant_view **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!views || !ptrs) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        size_t k = 0;
        for (size_t i = 0; i < m->tenants.cap && k < n; i++) {
            const struct mem_tenant *tn = m->tenants.items[i];
            if (!tn) continue;
            tenant_view(tn, &views[k]);
            ptrs[k] = &views[k];
            k++;
        }
        qsort(ptrs, k, sizeof *ptrs, by_id);
        struct cp_result res = {.size = sizeof res, .tenants = ptrs, .n_tenants = k};
        cb(cookie, &res);
    }
    free(views);
    free(ptrs);
    mem_leave(m);
}

#endif
