/* redis_agent_cache.c — the agent cache's store (redis_cache.c keeps it current): a copy of
 * each agent record, found by id through a hash table and listed in agent_id order from a
 * sorted array, with agent_list's filters. Pure: no Redis, no host (tests/
 * test_redis_agent_cache.c).
 *
 * Entries stay where they are when their record is replaced (only the copy of the strings, the
 * blob, is swapped), so the sorted array changes only when an agent comes or goes: a binary
 * search and one memmove of pointers (0.8 MB at 100,000 agents, well under a millisecond).
 * Agents arrive in agent_id order while the cache is loaded page by page, so a load appends.
 * Memory is counted as it is allocated (rs_acache.bytes, docs/redis.md). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "redis_agent_cache.h"

#define MIN_BUCKETS 64

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies s into *at (advancing it); NULL stays NULL. */
static const char *put_str(char **at, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = *at;
    memcpy(d, s, n);
    *at += n;
    return d;
}

/* One allocation holding the capability pointers then every string of `in`; `out` is `in`
 * with its pointers moved there. NULL when out of memory. */
static char *copy_view(const struct cp_agent_view *in, struct cp_agent_view *out, size_t *bytes)
{
    size_t caps = (size_t)in->n_capabilities * sizeof(char *);
    size_t n = caps + str_size(in->agent_id) + str_size(in->model) + str_size(in->provider) +
               str_size(in->metadata_json) + str_size(in->health_probe_json) +
               str_size(in->current_task_id) + str_size(in->health.error);
    for (uint32_t i = 0; i < in->n_capabilities; i++)
        n += str_size(in->capabilities[i]);
    /* quota_scopes (2.4): the array after the capability pointers, then their strings */
    uint32_t nsc =
        in->size >= offsetof(struct cp_agent_view, n_quota_scopes) + sizeof in->n_quota_scopes &&
                in->quota_scopes
            ? in->n_quota_scopes
            : 0;
    size_t scopes = (size_t)nsc * sizeof(struct cp_quota_scope);
    n += scopes;
    for (uint32_t i = 0; i < nsc; i++)
        n += str_size(in->quota_scopes[i].provider) + str_size(in->quota_scopes[i].model) +
             str_size(in->quota_scopes[i].key_id);
    char *blob = malloc(n ? n : 1);
    if (!blob) return NULL;
    memset(out, 0, sizeof *out);
    memcpy(out, in, in->size < sizeof *out ? in->size : sizeof *out);
    out->size = sizeof *out;
    const char **cv = (const char **)(void *)blob;
    struct cp_quota_scope *sv = (struct cp_quota_scope *)(void *)(blob + caps);
    char *at = blob + caps + scopes;
    for (uint32_t i = 0; i < in->n_capabilities; i++)
        cv[i] = put_str(&at, in->capabilities[i]);
    for (uint32_t i = 0; i < nsc; i++)
        sv[i] = (struct cp_quota_scope){put_str(&at, in->quota_scopes[i].provider),
                                        put_str(&at, in->quota_scopes[i].model),
                                        put_str(&at, in->quota_scopes[i].key_id)};
    out->quota_scopes = nsc ? sv : NULL;
    out->n_quota_scopes = nsc;
    out->capabilities = in->n_capabilities ? cv : NULL;
    out->agent_id = put_str(&at, in->agent_id);
    out->model = put_str(&at, in->model);
    out->provider = put_str(&at, in->provider);
    out->metadata_json = put_str(&at, in->metadata_json);
    out->health_probe_json = put_str(&at, in->health_probe_json);
    out->current_task_id = put_str(&at, in->current_task_id);
    out->health.error = put_str(&at, in->health.error);
    *bytes = n;
    return blob;
}

static struct rs_acache_entry *find(const struct rs_acache *c, const char *id, uint64_t h)
{
    if (!c->n_buckets) return NULL;
    for (struct rs_acache_entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->v.agent_id, id) == 0) return e;
    return NULL;
}

/* The position of id in v[0..n) (sorted by agent_id), or where it would go (*found says). */
static size_t pos_in(struct rs_acache_entry *const *v, size_t n, const char *id, int *found)
{
    size_t lo = 0, hi = n;
    *found = 0;
    if (hi && strcmp(v[hi - 1]->v.agent_id, id) < 0) return hi; /* appends: loads */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(v[mid]->v.agent_id, id);
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t sorted_pos(const struct rs_acache *c, const char *id, int *found)
{
    return pos_in(c->sorted, c->n, id, found);
}

/* ---- capability lists ------------------------------------------------------------------ */

static struct rs_acache_cap *cap_find(const struct rs_acache *c, const char *name, uint64_t h)
{
    if (!c->n_cap_buckets) return NULL;
    for (struct rs_acache_cap *k = c->cap_buckets[h & (c->n_cap_buckets - 1)]; k; k = k->next)
        if (k->hash == h && strcmp(k->name, name) == 0) return k;
    return NULL;
}

/* The list of capability `name`, made when missing; NULL when out of memory. */
static struct rs_acache_cap *cap_get(struct rs_acache *c, const char *name)
{
    uint64_t h = hash_id(name);
    struct rs_acache_cap *k = cap_find(c, name, h);
    if (k) return k;
    if (c->n_caps + 1 > c->n_cap_buckets) {
        size_t nb = c->n_cap_buckets ? c->n_cap_buckets * 2 : MIN_BUCKETS;
        struct rs_acache_cap **b = calloc(nb, sizeof *b);
        if (!b) return NULL;
        for (size_t i = 0; i < c->n_cap_buckets; i++)
            for (struct rs_acache_cap *x = c->cap_buckets[i], *next; x; x = next) {
                next = x->next;
                x->next = b[x->hash & (nb - 1)];
                b[x->hash & (nb - 1)] = x;
            }
        c->bytes += (nb - c->n_cap_buckets) * sizeof *b;
        free(c->cap_buckets);
        c->cap_buckets = b;
        c->n_cap_buckets = nb;
    }
    if (!(k = calloc(1, sizeof *k)) || !(k->name = strdup(name))) {
        free(k);
        return NULL;
    }
    k->hash = h;
    k->next = c->cap_buckets[h & (c->n_cap_buckets - 1)];
    c->cap_buckets[h & (c->n_cap_buckets - 1)] = k;
    c->n_caps++;
    c->bytes += sizeof *k + strlen(name) + 1;
    return k;
}

static void cap_drop(struct rs_acache *c, struct rs_acache_cap *k)
{
    struct rs_acache_cap **p = &c->cap_buckets[k->hash & (c->n_cap_buckets - 1)];
    while (*p != k)
        p = &(*p)->next;
    *p = k->next;
    c->bytes -= sizeof *k + strlen(k->name) + 1 + k->cap * sizeof *k->v;
    c->n_caps--;
    free(k->name);
    free(k->v);
    free(k);
}

/* e into the lists of its capabilities: 0, or -1 (out of memory: in some of them). */
static int caps_link(struct rs_acache *c, struct rs_acache_entry *e)
{
    for (uint32_t i = 0; i < e->v.n_capabilities; i++) {
        struct rs_acache_cap *k = cap_get(c, e->v.capabilities[i]);
        if (!k) return -1;
        int found;
        size_t pos = pos_in(k->v, k->n, e->v.agent_id, &found);
        if (found) continue;
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 4;
            struct rs_acache_entry **v = realloc(k->v, cap * sizeof *v);
            if (!v) return -1;
            c->bytes += (cap - k->cap) * sizeof *v;
            k->v = v;
            k->cap = cap;
        }
        memmove(k->v + pos + 1, k->v + pos, (k->n - pos) * sizeof *k->v);
        k->v[pos] = e;
        k->n++;
    }
    return 0;
}

static void caps_unlink(struct rs_acache *c, struct rs_acache_entry *e)
{
    for (uint32_t i = 0; i < e->v.n_capabilities; i++) {
        struct rs_acache_cap *k = cap_find(c, e->v.capabilities[i], hash_id(e->v.capabilities[i]));
        if (!k) continue;
        int found;
        size_t pos = pos_in(k->v, k->n, e->v.agent_id, &found);
        if (found && k->v[pos] == e) {
            memmove(k->v + pos, k->v + pos + 1, (k->n - pos - 1) * sizeof *k->v);
            k->n--;
        }
        if (!k->n) cap_drop(c, k);
    }
}

static int same_caps(const struct cp_agent_view *a, const struct cp_agent_view *b)
{
    if (a->n_capabilities != b->n_capabilities) return 0;
    for (uint32_t i = 0; i < a->n_capabilities; i++)
        if (strcmp(a->capabilities[i], b->capabilities[i]) != 0) return 0;
    return 1;
}

/* Room for one more entry: the buckets doubled at load factor 1, the sorted array grown. */
static int reserve(struct rs_acache *c)
{
    if (c->n + 1 > c->cap_sorted) {
        size_t cap = c->cap_sorted ? c->cap_sorted * 2 : MIN_BUCKETS;
        struct rs_acache_entry **s = realloc(c->sorted, cap * sizeof *s);
        if (!s) return -1;
        c->bytes += (cap - c->cap_sorted) * sizeof *s;
        c->sorted = s;
        c->cap_sorted = cap;
    }
    if (c->n + 1 <= c->n_buckets) return 0;
    size_t nb = c->n_buckets ? c->n_buckets * 2 : MIN_BUCKETS;
    struct rs_acache_entry **b = calloc(nb, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct rs_acache_entry *e = c->buckets[i];
        while (e) {
            struct rs_acache_entry *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    c->bytes += (nb - c->n_buckets) * sizeof *b;
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = nb;
    return 0;
}

int rs_acache_put(struct rs_acache *c, const struct cp_agent_view *v, uint64_t gen)
{
    if (!v || !v->agent_id) return -1;
    uint64_t h = hash_id(v->agent_id);
    struct rs_acache_entry *e = find(c, v->agent_id, h);
    struct cp_agent_view copy;
    size_t blob_bytes = 0;
    char *blob = copy_view(v, &copy, &blob_bytes);
    if (!blob) return -1;
    if (e) { /* in place: the sorted array keeps pointing at e */
        int moved = !same_caps(&e->v, &copy);
        if (moved) caps_unlink(c, e); /* while its old strings are still there */
        free(e->blob);
        c->bytes -= e->blob_bytes;
        e->blob = blob;
        e->blob_bytes = blob_bytes;
        e->v = copy;
        e->gen = gen;
        c->bytes += blob_bytes;
        if (moved && caps_link(c, e) < 0) {
            rs_acache_del(c, copy.agent_id); /* not half-indexed: gone, read again later */
            return -1;
        }
        return 0;
    }
    if (reserve(c) < 0 || !(e = calloc(1, sizeof *e))) {
        free(blob);
        return -1;
    }
    e->hash = h;
    e->gen = gen;
    e->blob = blob;
    e->blob_bytes = blob_bytes;
    e->v = copy;
    e->next = c->buckets[h & (c->n_buckets - 1)];
    c->buckets[h & (c->n_buckets - 1)] = e;
    int found;
    size_t pos = sorted_pos(c, e->v.agent_id, &found);
    memmove(c->sorted + pos + 1, c->sorted + pos, (c->n - pos) * sizeof *c->sorted);
    c->sorted[pos] = e;
    c->n++;
    c->bytes += sizeof *e + blob_bytes;
    if (caps_link(c, e) < 0) {
        rs_acache_del(c, e->v.agent_id);
        return -1;
    }
    return 0;
}

/* Out of the hash table and freed (the sorted array and capability lists are the caller's). */
static void entry_remove(struct rs_acache *c, struct rs_acache_entry *e)
{
    struct rs_acache_entry **p = &c->buckets[e->hash & (c->n_buckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    c->bytes -= sizeof *e + e->blob_bytes;
    free(e->blob);
    free(e);
}

int rs_acache_del(struct rs_acache *c, const char *id)
{
    struct rs_acache_entry *e = id ? find(c, id, hash_id(id)) : NULL;
    if (!e) return 0;
    int found;
    size_t pos = sorted_pos(c, id, &found);
    if (found) {
        memmove(c->sorted + pos, c->sorted + pos + 1, (c->n - pos - 1) * sizeof *c->sorted);
        c->n--;
    }
    caps_unlink(c, e);
    entry_remove(c, e);
    return 1;
}

struct cp_agent_view *rs_acache_get(struct rs_acache *c, const char *id)
{
    struct rs_acache_entry *e = id ? find(c, id, hash_id(id)) : NULL;
    return e ? &e->v : NULL;
}

size_t rs_acache_sweep(struct rs_acache *c, uint64_t gen)
{
    /* The capability lists first, in one pass each (a mass sweep — a restarted, empty Redis —
     * must not cost a memmove per agent). */
    for (size_t b = 0; b < c->n_cap_buckets; b++)
        for (struct rs_acache_cap *x = c->cap_buckets[b], *next; x; x = next) {
            next = x->next;
            size_t k = 0;
            for (size_t i = 0; i < x->n; i++)
                if (x->v[i]->gen >= gen) x->v[k++] = x->v[i];
            x->n = k;
            if (!k) cap_drop(c, x);
        }
    size_t k = 0, gone = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct rs_acache_entry *e = c->sorted[i];
        if (e->gen < gen) {
            entry_remove(c, e);
            gone++;
        } else {
            c->sorted[k++] = e;
        }
    }
    c->n = k;
    return gone;
}

void rs_acache_clear(struct rs_acache *c)
{
    for (size_t b = 0; b < c->n_cap_buckets; b++)
        for (struct rs_acache_cap *x = c->cap_buckets[b], *next; x; x = next) {
            next = x->next;
            free(x->name);
            free(x->v);
            free(x);
        }
    free(c->cap_buckets);
    for (size_t i = 0; i < c->n; i++) {
        free(c->sorted[i]->blob);
        free(c->sorted[i]);
    }
    free(c->sorted);
    free(c->buckets);
    memset(c, 0, sizeof *c);
}

static int health_in(uint32_t mask, int32_t h)
{
    return !mask || (h >= 0 && h < 32 && (mask & (1u << h)));
}

int rs_acache_list(const struct rs_acache *c, const struct cp_agent_filter *f, cp_storage_cb cb,
                   void *cookie)
{
    const char *const *need = f ? f->capabilities : NULL;
    uint32_t n_need = f ? f->n_capabilities : 0;
    int32_t status = f ? f->status : -1;
    uint32_t mask = f ? f->health_mask : 0;
    const char *after = f ? f->after : NULL;
    /* The shortest list that holds every match: a required capability's, or all agents. */
    struct rs_acache_entry *const *from = c->sorted;
    size_t n = c->n;
    for (uint32_t i = 0; i < n_need; i++) {
        const struct rs_acache_cap *k = cap_find(c, need[i], hash_id(need[i]));
        if (!k) {
            n = 0; /* nobody has it */
            break;
        }
        if (k->n < n) from = k->v, n = k->n;
    }
    const struct cp_agent_view **out = malloc((n ? n : 1) * sizeof *out);
    if (!out) return CP_ERR_NOMEM;
    size_t k = 0;
    int found;
    for (size_t i = after ? pos_in(from, n, after, &found) + (size_t)found : 0; i < n; i++) {
        const struct cp_agent_view *a = &from[i]->v;
        if (status >= 0 && a->status != status) continue;
        if (!health_in(mask, a->health.status)) continue;
        if (n_need && !cp_caps_subset(need, n_need, a->capabilities, a->n_capabilities)) continue;
        out[k++] = a;
    }
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.agents = out;
    res.n_agents = k;
    res.total = k;
    cb(cookie, &res);
    free(out);
    return 0;
}
