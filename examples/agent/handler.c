/* handler.c — the example agent's toy work: reverse the "text" of a payload (by UTF-8 code
 * point), fail on request, optionally take some time. Real agents call their model here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "agent.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Reverses s by code point; invalid UTF-8 bytes count as one character each. */
static char *reverse_utf8(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t w = n;
    out[n] = '\0';
    for (size_t i = 0; i < n;) {
        size_t len = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xf0)
            len = 4;
        else if (c >= 0xe0)
            len = 3;
        else if (c >= 0xc0)
            len = 2;
        if (i + len > n) len = 1;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) len = 1;
        w -= len;
        memcpy(out + w, s + i, len);
        i += len;
    }
    return out;
}

int handle_task(const char *task_type, const char *payload_json, char **result, char **error)
{
    (void)task_type;
    *result = *error = NULL;
    struct json_object *p = json_tokener_parse(payload_json);
    struct json_object *v;
    if (p && json_object_object_get_ex(p, "sleep_ms", &v)) {
        long ms = (long)json_object_get_int64(v);
        if (ms > 60000) ms = 60000;
        if (ms > 0) {
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0) {
            }
        }
    }
    if (p && json_object_object_get_ex(p, "fail", &v) && json_object_get_boolean(v)) {
        *error = dup_or_null(json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                      : "asked to fail");
        json_object_put(p);
        return -1;
    }
    const char *text = NULL;
    if (p && json_object_object_get_ex(p, "text", &v) && json_object_is_type(v, json_type_string))
        text = json_object_get_string(v);
    if (!text) {
        *error = strdup("payload has no \"text\" string to reverse");
        json_object_put(p);
        return -1;
    }
    char *rev = reverse_utf8(text);
    struct json_object *r = json_object_new_object();
    if (rev && r) json_object_object_add(r, "reversed", json_object_new_string(rev));
    *result =
        r && rev ? dup_or_null(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN)) : NULL;
    free(rev);
    json_object_put(r);
    json_object_put(p);
    if (!*result) {
        *error = strdup("out of memory");
        return -1;
    }
    return 0;
}
