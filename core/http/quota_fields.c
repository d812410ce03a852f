/* quota_fields.c — the provider-quota members of a complete or fail body: `usage`
 * {"input_tokens", "output_tokens", "cached_tokens"} and, for fail, `reason` ("rate_limited":
 * the provider answered 429) with `retry_after_ms`. Replies 400 like validate.c's getters. */
#include <string.h>

#include "quota_fields.h"

#define MAX_USAGE_TOKENS 1000000000LL
#define MAX_RETRY_AFTER_MS 86400000LL /* a day */

static int tokens_of(struct req *r, json_object *obj, const char *key, int64_t *out)
{
    json_object *v = NULL;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v) || !v || json_object_is_type(v, json_type_null))
        return 0;
    int64_t n = json_object_get_int64(v);
    if (!json_object_is_type(v, json_type_int) || n < 0 || n > MAX_USAGE_TOKENS) {
        http_reply_error(r, 400, "invalid_field",
                         "usage.%s must be an integer from 0 to 1000000000", key);
        return -1;
    }
    *out = n;
    return 0;
}

int quota_fields_usage(struct req *r, struct cp_transition *tr)
{
    json_object *u = NULL;
    if (!json_object_object_get_ex(r->body, "usage", &u) || !u ||
        json_object_is_type(u, json_type_null))
        return 0;
    if (!json_object_is_type(u, json_type_object)) {
        http_reply_error(r, 400, "invalid_field",
                         "usage must be an object {\"input_tokens\", \"output_tokens\", "
                         "\"cached_tokens\"}");
        return -1;
    }
    json_object_object_foreach(u, k, val)
    {
        (void)val;
        if (strcmp(k, "input_tokens") && strcmp(k, "output_tokens") && strcmp(k, "cached_tokens")) {
            http_reply_error(r, 400, "invalid_field",
                             "usage.%.40s is not known; expected input_tokens, output_tokens, "
                             "cached_tokens",
                             k);
            return -1;
        }
    }
    if (tokens_of(r, u, "input_tokens", &tr->usage_input_tokens) < 0 ||
        tokens_of(r, u, "output_tokens", &tr->usage_output_tokens) < 0 ||
        tokens_of(r, u, "cached_tokens", &tr->usage_cached_tokens) < 0)
        return -1;
    tr->usage_set = 1;
    return 0;
}

int quota_fields_rate_limited(struct req *r, struct cp_transition *tr)
{
    const char *reason = NULL;
    double after = -1;
    if (get_string(r, "reason", 0, &reason) < 0 ||
        get_number(r, "retry_after_ms", 0, (double)MAX_RETRY_AFTER_MS, &after) < 0)
        return -1;
    if (reason && strcmp(reason, "rate_limited") != 0 && strcmp(reason, "error") != 0) {
        http_reply_error(r, 400, "invalid_field", "reason must be rate_limited or error");
        return -1;
    }
    int limited = reason && strcmp(reason, "rate_limited") == 0;
    if (!limited && after >= 0) {
        http_reply_error(r, 400, "invalid_field",
                         "retry_after_ms goes with \"reason\": \"rate_limited\"");
        return -1;
    }
    tr->rate_limited = limited;
    tr->retry_after_ms = limited && after > 0 ? (int64_t)(after + 0.5) : 0;
    return 0;
}
