/* memory_names.c — interning for the in-memory backend: reference-counted names (agent ids,
 * capabilities, providers, task types) that also carry their stats counts, and the distinct
 * required-capability sets each owning one pending queue.
 *
 * A million tasks of one type and capability set then share one copy of each string. Frees go
 * through mem_free_later(): a result handed to a callback may still point at a name. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static int name_eq(const void *item, const void *key)
{
    return strcmp(((const struct mem_name *)item)->s, key) == 0;
}

static uint32_t name_hash(const struct mem *m, const char *s)
{
    return (uint32_t)mem_hash64(m->seed, s, strlen(s));
}

struct mem_name *mem_name_find(struct mem *m, const struct mem_names *t, const char *s)
{
    return mem_hash_get(&t->h, name_hash(m, s), name_eq, s);
}

struct mem_name *mem_name_get(struct mem *m, struct mem_names *t, const char *s)
{
    uint32_t hash = name_hash(m, s);
    struct mem_name *n = mem_hash_get(&t->h, hash, name_eq, s);
    if (n) {
        n->refs++;
        return n;
    }
    size_t len = strlen(s);
    n = calloc(1, sizeof *n + len + 1);
    if (!n) return NULL;
    memcpy(n->s, s, len + 1);
    n->hash = hash;
    n->refs = 1;
    if (mem_hash_put(&t->h, hash, n) != 0) {
        free(n);
        return NULL;
    }
    return n;
}

void mem_name_put(struct mem *m, struct mem_names *t, struct mem_name *n)
{
    if (!n || --n->refs > 0) return;
    mem_hash_del(&t->h, n->hash, n);
    /* No agent has this capability any more, so its ordered set is empty (the nodes belong to
     * the agents) and nothing outside the store ever points at it. */
    free(n->agents);
    n->agents = NULL;
    mem_free_later(m, n);
}

static int count_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cp_count *)a)->name, ((const struct cp_count *)b)->name);
}

struct cp_count *mem_names_counts(const struct mem_names *t, size_t *n)
{
    /* Visits the distinct names, never the records. */
    size_t k = 0;
    for (size_t i = 0; i < t->h.cap; i++) {
        const struct mem_name *nm = t->h.items[i];
        if (nm && nm->count > 0) k++;
    }
    *n = k;
    if (k == 0) return NULL;
    struct cp_count *out = malloc(k * sizeof *out);
    if (!out) {
        *n = SIZE_MAX;
        return NULL;
    }
    k = 0;
    for (size_t i = 0; i < t->h.cap; i++) {
        const struct mem_name *nm = t->h.items[i];
        if (nm && nm->count > 0) out[k++] = (struct cp_count){nm->s, nm->count};
    }
    qsort(out, k, sizeof *out, count_cmp);
    return out;
}

void mem_names_free(struct mem *m, struct mem_names *t)
{
    (void)m;
    for (size_t i = 0; i < t->h.cap; i++) {
        struct mem_name *nm = t->h.items[i];
        if (nm) free(nm->agents);
        free(nm);
    }
    mem_hash_free(&t->h);
}

/* ---- capability sets ---------------------------------------------------------------------- */

struct caps_key {
    const char *const *caps;
    uint32_t n;
    const struct mem_tenant *tenant;
};

static int capset_eq(const void *item, const void *key)
{
    const struct mem_capset *cs = item;
    const struct caps_key *k = key;
    if (cs->n != k->n || cs->tenant != k->tenant) return 0;
    for (uint32_t i = 0; i < k->n; i++)
        if (strcmp(cs->caps[i], k->caps[i]) != 0) return 0;
    return 1;
}

static uint32_t capset_hash(const struct mem *m, const char *const *caps, uint32_t n,
                            const struct mem_tenant *tn)
{
    uint64_t h = mem_hash64(m->seed ^ n, tn->id, strlen(tn->id) + 1);
    for (uint32_t i = 0; i < n; i++)
        h = mem_hash64(h, caps[i], strlen(caps[i]) + 1); /* the NUL separates the strings */
    return (uint32_t)h;
}

struct mem_capset *mem_capset_get(struct mem *m, const char *const *caps, uint32_t n,
                                  struct mem_tenant *tn)
{
    uint32_t hash = capset_hash(m, caps, n, tn);
    struct caps_key key = {caps, n, tn};
    struct mem_capset *cs = mem_hash_get(&m->capsets, hash, capset_eq, &key);
    if (cs) {
        cs->refs++;
        return cs;
    }
    size_t bytes = sizeof *cs + (size_t)n * sizeof(char *);
    for (uint32_t i = 0; i < n; i++)
        bytes += strlen(caps[i]) + 1;
    cs = calloc(1, bytes);
    if (!cs) return NULL;
    char *p = (char *)(cs->caps + n);
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(caps[i]) + 1;
        memcpy(p, caps[i], len);
        cs->caps[i] = p;
        p += len;
    }
    cs->n = n;
    cs->hash = hash;
    cs->refs = 1;
    cs->tenant = tn;
    if (mem_hash_put(&m->capsets, hash, cs) != 0) {
        free(cs);
        return NULL;
    }
    tn->refs++;
    return cs;
}

void mem_capset_put(struct mem *m, struct mem_capset *cs)
{
    if (!cs || --cs->refs > 0) return;
    /* No task refers to it, so none is pending in it and it is off the active list. */
    mem_hash_del(&m->capsets, cs->hash, cs);
    mem_tenant_put(m, cs->tenant);
    mem_free_later(m, cs);
}
