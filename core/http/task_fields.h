/* task_fields.h — a task as POST /tasks (or an item of POST /tasks/batch) describes it, parsed
 * and checked without replying (task_fields.c). */
#ifndef CORE_HTTP_TASK_FIELDS_H
#define CORE_HTTP_TASK_FIELDS_H

#include <stdint.h>

#include "http.h"
#include "validate.h"

/* The first problem found: code ("missing_field", "invalid_field") and a sentence naming the
 * member (a 400 for a submit; the item's error in a batch). */
struct field_error {
    const char *code;
    char msg[300];
};

/* What ops_task_submit() takes, with what it points to. Strings from the JSON object (task_type,
 * strategy, the key) are borrowed from it: it must outlive the view. */
struct task_body {
    struct cp_task_view view;
    struct strlist caps;
    char *payload, *metadata;
};

/* Parse obj (a task as POST /tasks takes it) with the config's defaults. header_key: the
 * request's Idempotency-Key header, or NULL. 0, or -1 with *e set (nothing to free). */
int task_body_parse(const struct cp_config *cfg, json_object *obj, const char *header_key,
                    struct task_body *b, struct field_error *e);
void task_body_free(struct task_body *b);

/* An RFC 3339 / ISO 8601 time ("2026-11-28T18:06:34.123Z", "...+02:00") in ms since the
 * epoch. 0, or -1 when malformed. */
int task_time_parse(const char *s, int64_t *out_ms);

#endif
