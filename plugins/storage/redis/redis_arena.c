/* redis_arena.c — the per-reply arena: the views and pointer arrays a parsed reply points at
 * (redis_reply.c) are carved from blocks of 8 KB or more, all freed at once after the callback.
 * Each allocation is zeroed and max_align_t-aligned. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

struct rs_arena_block {
    struct rs_arena_block *next;
    size_t used, size;
    max_align_t data[];
};

void *rs_arena_alloc(struct rs_arena *a, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct rs_arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > 8192 ? size : 8192;
        b = malloc(sizeof(*b) + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->size = cap;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

void rs_arena_free(struct rs_arena *a)
{
    while (a->head) {
        struct rs_arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}
