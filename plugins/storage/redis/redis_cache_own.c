/* redis_cache_own.c — the task changes this process made itself, as the agent cache
 * (redis_cache.c) learnt them from its own replies: the feed's message of such a change needs no
 * re-read of its agent (the reply's agent is in the cache already). Pure, bounded: the last
 * RS_OWN_SLOTS changes, matched on (task id, attempt, task status after the change). A change
 * missing here — pushed out, or its message came before its reply — is only read once more; a
 * change of another process never matches one of ours, since two changes of one task and
 * attempt never leave it in the same status (a claim ends in claimed, the end of an attempt in
 * a status it does not leave within that attempt). */
#include <string.h>

#include "redis_agent_cache.h"

static uint64_t own_hash(const char *task_id, uint32_t attempt, int32_t status)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)task_id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = (h ^ attempt) * 1099511628211ull;
    return (h ^ (uint32_t)status) * 1099511628211ull;
}

void rs_own_add(struct rs_own *o, const char *task_id, uint32_t attempt, int32_t status)
{
    if (!task_id) return;
    o->slot[o->next++ % RS_OWN_SLOTS] = own_hash(task_id, attempt, status) | 1;
}

int rs_own_take(struct rs_own *o, const char *task_id, uint32_t attempt, int32_t status)
{
    if (!task_id) return 0;
    uint64_t h = own_hash(task_id, attempt, status) | 1; /* 0 marks a free slot */
    for (size_t i = 0; i < RS_OWN_SLOTS; i++)
        if (o->slot[i] == h) {
            o->slot[i] = 0;
            return 1;
        }
    return 0;
}
