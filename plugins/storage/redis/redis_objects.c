/* redis_objects.c — hiredis reply objects in one allocation each, installed on cpd's async
 * connections. hiredis' own functions make a string two allocations (object + bytes) and an
 * array two (object + element vector); an agent list of 1,000 agents is ~57,000 objects, and
 * those allocations (with the malloc_consolidate they trigger) were most of cpd's CPU for
 * GET /agents/select on Redis. The objects keep hiredis' struct redisReply layout, so every
 * reader (ours and hiredis' pub/sub dispatch) sees the same thing; hiredis frees them through
 * freeObject. tests/test_redis_objects.c parses replies with both sets of functions. */
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

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
    redisReply *r = malloc(sizeof(*r) + len + 1);
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
    redisReply *r = calloc(1, sizeof(*r) + n * sizeof(redisReply *));
    if (!r) return NULL;
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = n ? (redisReply **)(r + 1) : NULL;
    return attach(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->type = REDIS_REPLY_INTEGER;
    r->integer = value;
    return attach(task, r);
}

static void *create_nil(const redisReadTask *task)
{
    redisReply *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
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

static void free_object(void *obj)
{
    redisReply *r = obj;
    if (!r) return;
    if (r == kept) {
        kept = NULL;
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            free_object(r->element[i]); /* NULL where a failed parse stopped */
    free(r);
}

redisReplyObjectFunctions rs_reply_objects = {create_string, create_array, create_integer,
                                              create_nil, free_object};

void rs_reply_release(redisReply *reply)
{
    free_object(reply);
}
