/* redis_record.c — a record as stored (layout 4, rec_text() in lua/common.lua) turned into the
 * row of values redis_reply.c decodes:
 *
 *   "<n>\0<field 1>\0<field 2>\0...<field n>\0"
 *
 * n fields in the order of rs_agent_fields / rs_task_fields (then the scripts' own fields,
 * skipped here), each followed by a zero byte; a field that is absent is the single byte 0x01.
 * The row has RS_AGENT_FIELDS / RS_TASK_FIELDS values: nil for absent fields and for those a
 * shorter record does not have.
 *
 * The text comes from Redis: hostile. Anything but exactly n zero-terminated fields after a
 * decimal n (1..RS_RECORD_MAX_FIELDS) is malformed, and nothing of it is used. The values point
 * into the text (which the caller's redisReply keeps alive); the row's array and values live in
 * the arena.
 */
#include <string.h>

#include "redis_int.h"

enum { RS_RECORD_MAX_FIELDS = 64, ABSENT = 0x01 };

int rs_record_row(const char *text, size_t len, int is_agent, struct rs_arena *arena,
                  redisReply *row)
{
    static const redisReply nil = {.type = REDIS_REPLY_NIL};
    size_t want = is_agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    const char *p = text, *end = text + len;
    size_t n = 0, digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && digits < 3) {
        n = n * 10 + (size_t)(*p++ - '0');
        digits++;
    }
    if (!digits || p >= end || *p++ != '\0' || n < 1 || n > RS_RECORD_MAX_FIELDS)
        return RS_RECORD_MALFORMED;
    redisReply **v = rs_arena_alloc(arena, want * sizeof *v);
    redisReply *vals = rs_arena_alloc(arena, want * sizeof *vals);
    if (!v || !vals) return RS_RECORD_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
        if (!z) return RS_RECORD_MALFORMED; /* fewer fields than it says */
        if (i < want) {
            if (z - p == 1 && *p == ABSENT)
                v[i] = (redisReply *)&nil;
            else {
                vals[i] = (redisReply){
                    .type = REDIS_REPLY_STRING, .str = (char *)p, .len = (size_t)(z - p)};
                v[i] = &vals[i];
            }
        }
        p = z + 1;
    }
    if (p != end) return RS_RECORD_MALFORMED; /* more than it says */
    for (size_t i = n; i < want; i++)
        v[i] = (redisReply *)&nil;
    *row = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = want, .element = v};
    return 0;
}
