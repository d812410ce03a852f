/* redis_objects.c — hiredis reply objects allocated from one arena per reply, installed on
 * cpd's async connections. hiredis' own functions make a string two allocations (object +
 * bytes) and an array two (object + element vector); an agent list of 1,000 agents is ~57,000
 * objects, and a heartbeat's reply ~45: their allocations and frees (with the
 * malloc_consolidate they trigger) were most of cpd's CPU for GET /agents/select on Redis and
 * a sixth of a heartbeat's. Here the top-level object carries an arena (a few chunks, growing
 * geometrically) that every object nested in it is carved from, and freeing the top-level
 * object frees the chunks. hiredis frees only top-level objects (after a callback, and the
 * half-built reply of a protocol error), as do cpd's own readers. The objects keep hiredis'
 * struct redisReply layout, so every reader (ours and hiredis' pub/sub dispatch) sees the same
 * thing. tests/test_redis_objects.c parses replies with both sets of functions. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define FIRST_CHUNK 2048 /* after the top-level array: a heartbeat's reply fits */
#define MAX_CHUNK 65536  /* chunks double up to this (larger objects get their own) */

struct chunk {
    struct chunk *next;
};

/* In front of every top-level object. */
struct arena {
    struct chunk *chunks; /* more chunks, newest first */
    char *next;           /* free space of the newest chunk */
    size_t left, last_size;
};

#define ALIGN_UP(n) (((n) + alignof(redisReply) - 1) & ~(alignof(redisReply) - 1))
#define ARENA_HEAD ALIGN_UP(sizeof(struct arena))

static struct arena *arena_of(redisReply *top)
{
    return (struct arena *)((char *)top - ARENA_HEAD);
}

/* The top-level object of the reply task belongs to (its task's obj is set before any nested
 * object is made). */
static redisReply *top_of(const redisReadTask *task)
{
    while (task->parent)
        task = task->parent;
    return task->obj;
}

/* size bytes for an object of task's reply: the top-level object (with its arena and, for an
 * array, room for what it holds) or one carved from its arena. */
static void *obj_alloc(const redisReadTask *task, size_t size, size_t room)
{
    size = ALIGN_UP(size);
    if (!task->parent) {
        char *p = malloc(ARENA_HEAD + size + room);
        if (!p) return NULL;
        struct arena *a = (struct arena *)p;
        a->chunks = NULL;
        a->next = p + ARENA_HEAD + size;
        a->left = room;
        a->last_size = room;
        return p + ARENA_HEAD;
    }
    redisReply *top = top_of(task);
    if (!top) return NULL;
    struct arena *a = arena_of(top);
    if (a->left < size) {
        size_t want = a->last_size * 2;
        if (want < FIRST_CHUNK) want = FIRST_CHUNK;
        if (want > MAX_CHUNK) want = MAX_CHUNK;
        if (want < size) want = size;
        struct chunk *c = malloc(ALIGN_UP(sizeof(*c)) + want);
        if (!c) return NULL;
        c->next = a->chunks;
        a->chunks = c;
        a->next = (char *)c + ALIGN_UP(sizeof(*c));
        a->left = want;
        a->last_size = want;
    }
    void *p = a->next;
    a->next += size;
    a->left -= size;
    return p;
}

static void *attach(const redisReadTask *task, redisReply *r)
{
    if (r && task->parent) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = obj_alloc(task, sizeof(*r) + len + 1, 0);
    if (!r) return NULL;
    memset(r, 0, sizeof(*r));
    r->type = task->type;
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return attach(task, r);
}

static void *create_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t)elements : 0;
    size_t size = sizeof(redisReply) + n * sizeof(redisReply *);
    redisReply *r = obj_alloc(task, size, n ? FIRST_CHUNK : 0);
    if (!r) return NULL;
    memset(r, 0, size);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = n ? (redisReply **)(r + 1) : NULL;
    return attach(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = obj_alloc(task, sizeof(*r), 0);
    if (!r) return NULL;
    memset(r, 0, sizeof(*r));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = value;
    return attach(task, r);
}

static void *create_nil(const redisReadTask *task)
{
    redisReply *r = obj_alloc(task, sizeof(*r), 0);
    if (!r) return NULL;
    memset(r, 0, sizeof(*r));
    r->type = REDIS_REPLY_NIL;
    return attach(task, r);
}

/* The reply a callback asked to keep: hiredis' freeObject right after that callback skips it
 * (hiredis 0.14 frees every reply when its callback returns; 1.x has REDIS_NO_AUTO_FREE). */
static const redisReply *kept;

void rs_reply_keep(redisReply *reply)
{
    kept = reply;
}

/* Frees a top-level object with everything in it (the only objects ever freed). */
static void free_object(void *obj)
{
    redisReply *r = obj;
    if (!r) return;
    if (r == kept) {
        kept = NULL;
        return;
    }
    struct arena *a = arena_of(r);
    for (struct chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

redisReplyObjectFunctions rs_reply_objects = {create_string, create_array, create_integer,
                                              create_nil, free_object};

void rs_reply_release(redisReply *reply)
{
    free_object(reply);
}
