/* memory_affinity.c — prompt-cache affinity's key -> agent memory (storage.h affinity_get /
 * affinity_set, since 2.4): a hash by key plus a list in the order entries were last set, so
 * the memory stays bounded (MEM_AFFINITY_MAX entries: the least recently set one goes first)
 * and expired entries leave as they are met (on get, and from the head of the list on set). */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

#if CP_ABI_TARGET_MINOR >= 4 /* memory_minor0.so (the 2.0 fixture) has no affinity */

#define MEM_AFFINITY_MAX 100000

struct aff_entry {
    struct aff_entry *prev, *next; /* by last set, oldest first */
    uint32_t hash;
    int64_t expires_ms;
    char *agent_id;
    char key[]; /* NUL-terminated */
};

struct mem_affinity {
    struct mem_hash by_key;
    struct aff_entry *head, *tail;
    size_t n;
};

static int aff_eq(const void *item, const void *key)
{
    return strcmp(((const struct aff_entry *)item)->key, key) == 0;
}

static uint32_t aff_hash(const struct mem *m, const char *key)
{
    return (uint32_t)mem_hash64(m->seed ^ 0xaff1u, key, strlen(key));
}

static void unlink_entry(struct mem_affinity *a, struct aff_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        a->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        a->tail = e->prev;
    e->prev = e->next = NULL;
}

static void append_entry(struct mem_affinity *a, struct aff_entry *e)
{
    e->prev = a->tail;
    e->next = NULL;
    if (a->tail)
        a->tail->next = e;
    else
        a->head = e;
    a->tail = e;
}

static void drop_entry(struct mem_affinity *a, struct aff_entry *e)
{
    mem_hash_del(&a->by_key, e->hash, e);
    unlink_entry(a, e);
    a->n--;
    free(e->agent_id);
    free(e);
}

void mem_affinity_free(struct mem *m)
{
    struct mem_affinity *a = m->affinity;
    if (!a) return;
    while (a->head)
        drop_entry(a, a->head);
    mem_hash_free(&a->by_key);
    free(a);
    m->affinity = NULL;
}

const char *mem_affinity_agent(struct mem *m, const char *key, int64_t now)
{
    struct mem_affinity *a = m->affinity;
    struct aff_entry *e = a && key ? mem_hash_get(&a->by_key, aff_hash(m, key), aff_eq, key) : NULL;
    return e && e->expires_ms > now ? e->agent_id : NULL;
}

void mem_op_affinity_get(void *st, const char *key, int64_t now_ms, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    if (!key || !*key) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "affinity key is required");
        return;
    }
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    struct mem_affinity *a = m->affinity;
    struct aff_entry *e = a ? mem_hash_get(&a->by_key, aff_hash(m, key), aff_eq, key) : NULL;
    if (e && e->expires_ms <= now_ms) {
        drop_entry(a, e);
        e = NULL;
    }
    res.affinity_agent = e ? e->agent_id : NULL; /* borrowed until cb returns */
    cb(cookie, &res);
}

void mem_op_affinity_set(void *st, const struct cp_affinity *in, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    if (!in || !in->key || !*in->key || !in->agent_id || !*in->agent_id || in->ttl_ms <= 0) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "affinity key, agent and ttl are required");
        return;
    }
    if (!m->affinity && !(m->affinity = calloc(1, sizeof *m->affinity))) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
        return;
    }
    struct mem_affinity *a = m->affinity;
    uint32_t h = aff_hash(m, in->key);
    struct aff_entry *e = mem_hash_get(&a->by_key, h, aff_eq, in->key);
    if (e) drop_entry(a, e); /* replaced: also moves to the end of the order */
    while (a->head && (a->n >= MEM_AFFINITY_MAX || a->head->expires_ms <= in->now_ms))
        drop_entry(a, a->head);
    size_t klen = strlen(in->key);
    e = calloc(1, sizeof *e + klen + 1);
    char *agent = strdup(in->agent_id);
    if (!e || !agent || mem_hash_put(&a->by_key, h, e) != 0) {
        free(e);
        free(agent);
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
        return;
    }
    memcpy(e->key, in->key, klen + 1);
    e->hash = h;
    e->agent_id = agent;
    e->expires_ms = in->now_ms + in->ttl_ms;
    append_entry(a, e);
    a->n++;
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.affinity_agent = e->agent_id;
    cb(cookie, &res);
}

#else
void mem_affinity_free(struct mem *m)
{
    (void)m;
}
const char *mem_affinity_agent(struct mem *m, const char *key, int64_t now)
{
    (void)m, (void)key, (void)now;
    return NULL;
}
#endif
