/* evalloc.c — libevent's allocations served from per-size free lists.
 *
 * evhttp allocates and frees ~40 small blocks per request (the request, its URI and header
 * lists, every header's struct, name and value, buffers and their callbacks); through glibc's
 * malloc and free they were ~12 % of a heartbeat's instructions. A freed block of up to
 * MAX_BLOCK bytes is kept on the free list of its size (16-byte steps, at most KEEP blocks per
 * size; beyond that it goes back to malloc), and the next allocation of that size pops it: a few
 * instructions instead of malloc's and free's bins. Every block starts with a 16-byte header
 * holding its size step (0: a large block from malloc, with its size), so a block is always
 * returned to the right list and realloc knows what it holds. Memory kept is bounded by
 * KEEP × (the sum of the steps): ~8.6 MiB at most, usually far less.
 *
 * Ownership: only libevent gets these functions (event_set_mem_functions); what libevent
 * returns for the caller to free (evhttp_decode_uri, evbuffer_readln, ...) would have to be
 * freed through it — cpd uses none of those. */
#include "evalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define STEP 16
#define MAX_BLOCK 512 /* header included */
#define STEPS (MAX_BLOCK / STEP + 1)
#define KEEP 1024

struct block {
    size_t step; /* size in STEPs, header included; 0: from malloc directly */
    size_t size; /* the size asked for (large blocks) */
};
_Static_assert(sizeof(struct block) == 16, "the header keeps blocks 16-byte aligned");

struct free_block {
    struct block head;
    struct free_block *next;
};

static struct free_block *lists[STEPS];
static unsigned kept[STEPS];

void *evalloc_malloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct block)) return NULL;
    size_t need = size + sizeof(struct block);
    struct block *b;
    if (need <= MAX_BLOCK) {
        size_t step = (need + STEP - 1) / STEP;
        struct free_block *f = lists[step];
        if (f) {
            lists[step] = f->next;
            kept[step]--;
            b = &f->head;
        } else if (!(b = malloc(step * STEP))) {
            return NULL;
        }
        b->step = step;
        b->size = size;
        return b + 1;
    }
    if (!(b = malloc(need))) return NULL;
    b->step = 0;
    b->size = size;
    return b + 1;
}

void evalloc_free(void *p)
{
    if (!p) return;
    struct block *b = (struct block *)p - 1;
    size_t step = b->step;
    if (step && kept[step] < KEEP) {
        struct free_block *f = (struct free_block *)b;
        f->next = lists[step];
        lists[step] = f;
        kept[step]++;
        return;
    }
    free(b);
}

void *evalloc_realloc(void *p, size_t size)
{
    if (!p) return evalloc_malloc(size);
    if (size == 0) { /* as glibc's realloc */
        evalloc_free(p);
        return NULL;
    }
    struct block *b = (struct block *)p - 1;
    if (b->step && size <= b->step * STEP - sizeof(struct block)) {
        b->size = size;
        return p;
    }
    void *q = evalloc_malloc(size);
    if (!q) return NULL; /* p stays valid, as realloc leaves it */
    memcpy(q, p, b->size < size ? b->size : size);
    evalloc_free(p);
    return q;
}

#if defined(__SANITIZE_ADDRESS__)
#define CP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CP_ASAN 1
#endif
#endif

void evalloc_install(void)
{
#ifndef CP_ASAN
    event_set_mem_functions(evalloc_malloc, evalloc_realloc, evalloc_free);
#endif
}
