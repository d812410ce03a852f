/* probe_json.c — an agent's "health_probe" object in JSON, taken apart into a probe definition
 * (probe_def.h) for the health monitor: at registration from the request body, later from the
 * text the store keeps (http_probe_decode, which main hands to the monitor). Only the object's
 * shape is checked here; whether this server can run it is the monitor's to say. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../xalloc.h"
#include "http.h"

#define MAX_PROBE_SECONDS 86400 /* for interval_seconds / timeout_seconds */

static int probe_seconds(json_object *obj, const char *key, int64_t *out, char *err, size_t errlen)
{
    json_object *v = NULL;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v) || !v) return 0; /* absent or null: default */
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
        snprintf(err, errlen, "health_probe.%s must be a number of seconds", key);
        return -1;
    }
    double d = json_object_get_double(v);
    if (!isfinite(d) || d <= 0 || d > MAX_PROBE_SECONDS) {
        snprintf(err, errlen, "health_probe.%s must be greater than 0 and at most %d seconds", key,
                 MAX_PROBE_SECONDS);
        return -1;
    }
    *out = (int64_t)llround(d * 1000.0);
    if (*out < 1) *out = 1;
    return 0;
}

int http_probe_from_json(json_object *obj, struct probe_def *out, char *err, size_t errlen)
{
    json_object *t = NULL;
    *out = (struct probe_def){0};
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        snprintf(err, errlen, "health_probe must be an object with a \"type\"");
        return -1;
    }
    if (!json_object_object_get_ex(obj, "type", &t) || !t) {
        snprintf(err, errlen, "health_probe.type is required (the name of a probe plugin)");
        return -1;
    }
    if (!json_object_is_type(t, json_type_string)) {
        snprintf(err, errlen, "health_probe.type must be a string");
        return -1;
    }
    if (probe_seconds(obj, "interval_seconds", &out->interval_ms, err, errlen) < 0 ||
        probe_seconds(obj, "timeout_seconds", &out->timeout_ms, err, errlen) < 0)
        return -1;
    out->type = xstrdup(json_object_get_string(t));
    size_t n = (size_t)json_object_object_length(obj);
    out->items = xcalloc(n ? n : 1, sizeof *out->items);
    json_object_object_foreach(obj, key, val)
    {
        const char *text = json_object_is_type(val, json_type_string)
                               ? json_object_get_string(val)
                               : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
        out->items[out->n_items].key = xstrdup(key);
        out->items[out->n_items].value = xstrdup(text);
        out->n_items++;
    }
    return 0;
}

int http_probe_decode(const char *text, struct probe_def *out, char *err, size_t errlen)
{
    json_object *obj = json_tokener_parse(text);
    int rc = http_probe_from_json(obj, out, err, errlen);
    json_object_put(obj);
    if (rc < 0) probe_def_clear(out);
    return rc;
}
