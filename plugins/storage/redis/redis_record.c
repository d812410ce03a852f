/* redis_record.c — a record as stored (layout 4: one JSON object of string fields per agent or
 * task, rec_enc() in lua/common.lua) turned into the row of values redis_reply.c decodes: one
 * value per field of rs_agent_fields / rs_task_fields, in that order, a field the record lacks
 * nil. Fields the row does not name (the scripts' own: queue places, claim token...) are
 * skipped.
 *
 * The text comes from Redis: hostile. It is parsed by json-c with the length given (no NUL
 * needed), depth-limited; anything but an object of strings (numbers and null are accepted:
 * a number as its text, null as nil) is malformed. Values are copied into the arena, so the
 * row outlives the json-c objects, which are freed here.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

/* Field names sorted, with their place in the row: built once per list (the plugin runs on
 * one event loop thread; test_redis_fields checks the lists). */
struct field_pos {
    const char *name;
    int pos;
};
static struct field_pos agent_sorted[RS_AGENT_FIELDS], task_sorted[RS_TASK_FIELDS];

static int cmp_field(const void *x, const void *y)
{
    return strcmp(((const struct field_pos *)x)->name, ((const struct field_pos *)y)->name);
}

static const struct field_pos *sorted(int is_agent)
{
    struct field_pos *v = is_agent ? agent_sorted : task_sorted;
    int n = is_agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    if (!v[0].name) {
        for (int i = 0; i < n; i++)
            v[i] = (struct field_pos){is_agent ? rs_agent_fields[i] : rs_task_fields[i], i};
        qsort(v, (size_t)n, sizeof v[0], cmp_field);
    }
    return v;
}

static redisReply *value(struct rs_arena *arena, json_object *o)
{
    static const redisReply nil = {.type = REDIS_REPLY_NIL};
    if (!o) return (redisReply *)&nil;
    json_type t = json_object_get_type(o);
    if (t != json_type_string && t != json_type_int && t != json_type_double) return NULL;
    const char *s = json_object_get_string(o);
    size_t len = t == json_type_string ? (size_t)json_object_get_string_len(o) : strlen(s);
    redisReply *r = rs_arena_alloc(arena, sizeof *r);
    char *copy = rs_arena_alloc(arena, len + 1);
    if (!r || !copy) return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    r->type = REDIS_REPLY_STRING;
    r->str = copy;
    r->len = len;
    return r;
}

int rs_record_row(const char *text, size_t len, int is_agent, struct rs_arena *arena,
                  redisReply *row)
{
    int n = is_agent ? RS_AGENT_FIELDS : RS_TASK_FIELDS;
    const struct field_pos *names = sorted(is_agent);
    if (len > INT32_MAX) return RS_RECORD_MALFORMED;
    json_tokener *tok = json_tokener_new_ex(4);
    if (!tok) return RS_RECORD_NOMEM;
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    int rc = RS_RECORD_MALFORMED;
    /* the whole text, one object: nothing left over, nothing cut short */
    if (obj && json_tokener_get_error(tok) == json_tokener_success &&
        (size_t)json_tokener_get_parse_end(tok) == len &&
        json_object_get_type(obj) == json_type_object) {
        redisReply **v = rs_arena_alloc(arena, (size_t)n * sizeof *v);
        rc = v ? 0 : RS_RECORD_NOMEM;
        for (int i = 0; v && i < n; i++)
            v[i] = value(arena, NULL);
        json_object_object_foreach(obj, key, val)
        {
            if (rc) break;
            struct field_pos k = {key, 0};
            const struct field_pos *f = bsearch(&k, names, (size_t)n, sizeof *names, cmp_field);
            if (!f || json_object_get_type(val) == json_type_null) continue;
            if (!(v[f->pos] = value(arena, val)))
                rc = (json_object_get_type(val) == json_type_string ||
                      json_object_get_type(val) == json_type_int ||
                      json_object_get_type(val) == json_type_double)
                         ? RS_RECORD_NOMEM
                         : RS_RECORD_MALFORMED;
        }
        if (!rc)
            *row = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = (size_t)n, .element = v};
    }
    json_object_put(obj);
    json_tokener_free(tok);
    return rc;
}
