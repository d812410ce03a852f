/* memory_hash.c — the in-memory backend's hash table: open addressing with linear probing and
 * backward-shift deletion, storing record pointers and their hashes (12 bytes a slot).
 *
 * Keys are compared through the caller's eq function, so one table type serves agents and tasks
 * (by id), names (by string) and capability sets (by string array). The hash is seeded per
 * store instance so that client-chosen ids cannot be precomputed to collide. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

#define MIN_CAP 16

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* A seeded multiply-rotate hash over 8-byte words (murmur-style finaliser). */
uint64_t mem_hash64(uint64_t seed, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    while (len >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        k *= 0x87c37b91114253d5ULL;
        k = rotl(k, 31);
        k *= 0x4cf5ad432745937fULL;
        h ^= k;
        h = rotl(h, 27) * 5 + 0x52dce729;
        p += 8;
        len -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < len; i++)
        k |= (uint64_t)p[i] << (8 * i);
    k *= 0x87c37b91114253d5ULL;
    k = rotl(k, 31);
    k *= 0x4cf5ad432745937fULL;
    h ^= k;
    return fmix64(h);
}

void *mem_hash_get(const struct mem_hash *h, uint32_t hash, mem_eq_fn eq, const void *key)
{
    if (h->cap == 0) return NULL;
    size_t mask = h->cap - 1;
    for (size_t i = hash & mask; h->items[i]; i = (i + 1) & mask)
        if (h->hashes[i] == hash && eq(h->items[i], key)) return h->items[i];
    return NULL;
}

static void place(void **items, uint32_t *hashes, size_t mask, uint32_t hash, void *item)
{
    size_t i = hash & mask;
    while (items[i])
        i = (i + 1) & mask;
    items[i] = item;
    hashes[i] = hash;
}

static int resize(struct mem_hash *h, size_t cap)
{
    void **items = calloc(cap, sizeof *items);
    uint32_t *hashes = malloc(cap * sizeof *hashes);
    if (!items || !hashes) {
        free(items);
        free(hashes);
        return CP_ERR_NOMEM;
    }
    for (size_t i = 0; i < h->cap; i++)
        if (h->items[i]) place(items, hashes, cap - 1, h->hashes[i], h->items[i]);
    free(h->items);
    free(h->hashes);
    h->items = items;
    h->hashes = hashes;
    h->cap = cap;
    return 0;
}

int mem_hash_put(struct mem_hash *h, uint32_t hash, void *item)
{
    /* Grow at 3/4 full: probes stay short and a slot costs 12 bytes. */
    if ((h->n + 1) * 4 > h->cap * 3) {
        size_t cap = h->cap ? h->cap * 2 : MIN_CAP;
        if (cap < h->cap || resize(h, cap) != 0) return CP_ERR_NOMEM;
    }
    place(h->items, h->hashes, h->cap - 1, hash, item);
    h->n++;
    return 0;
}

void mem_hash_del(struct mem_hash *h, uint32_t hash, const void *item)
{
    if (h->cap == 0) return;
    size_t mask = h->cap - 1, i = hash & mask;
    while (h->items[i] && h->items[i] != item)
        i = (i + 1) & mask;
    if (!h->items[i]) return;
    /* Backward shift: pull later members of the probe run into the hole when the hole lies
     * between their home slot and where they sit. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!h->items[j]) break;
        size_t home = h->hashes[j] & mask;
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        h->items[i] = h->items[j];
        h->hashes[i] = h->hashes[j];
        i = j;
    }
    h->items[i] = NULL;
    h->n--;
    /* Shrink at 1/16 full (growth is at 3/4, so no flapping); failure just keeps the table. */
    if (h->cap > 1024 && h->n * 16 < h->cap) (void)resize(h, h->cap / 4);
}

void mem_hash_free(struct mem_hash *h)
{
    free(h->items);
    free(h->hashes);
    memset(h, 0, sizeof *h);
}
