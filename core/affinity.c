/* affinity.c — prompt-cache affinity's task fields and store-backed memory (affinity.h).
 *
 * Why in the store: several cpd processes may share one Redis, and the turn after a completion
 * may be submitted to, and placed by, any of them; a per-process map would send every other
 * process's turns to a cold agent. The store keeps one entry per key with its TTL (Redis: a
 * string key with PX; memory: a bounded table), written after a completion — last writer wins,
 * which is the agent that completed the key last. */
#include "affinity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "plugin_loader.h"
#include "selection.h"
#include "xalloc.h"

int affinity_key_valid(const char *s)
{
    if (!s || !*s) return 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        unsigned char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
        if (!ok || n >= CP_AFFINITY_KEY_MAX) return 0;
    }
    return 1;
}

int affinity_from_metadata(const char *metadata_json, char key[CP_AFFINITY_KEY_MAX + 1],
                           int64_t *ttl_ms)
{
    *ttl_ms = 0;
    key[0] = '\0';
    if (!metadata_json || !strstr(metadata_json, "\"affinity_key\"")) return 0;
    json_object *o = json_tokener_parse(metadata_json);
    json_object *k = NULL, *ttl = NULL;
    int found = 0;
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "affinity_key", &k) &&
        json_object_is_type(k, json_type_string)) {
        const char *s = json_object_get_string(k);
        if ((size_t)json_object_get_string_len(k) == strlen(s) && affinity_key_valid(s)) {
            strcpy(key, s); /* at most CP_AFFINITY_KEY_MAX bytes: checked above */
            found = 1;
            if (json_object_object_get_ex(o, "affinity_ttl_seconds", &ttl) &&
                (json_object_is_type(ttl, json_type_int) ||
                 json_object_is_type(ttl, json_type_double))) {
                double v = json_object_get_double(ttl);
                if (v > 0 && v <= 31536000.0) *ttl_ms = (int64_t)(v * 1000.0 + 0.5);
            }
        }
    }
    json_object_put(o);
    return found;
}

char *affinity_metadata_with(const char *metadata_json, const char *key, double ttl_s)
{
    json_object *o = json_tokener_parse(metadata_json ? metadata_json : "{}");
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    json_object_object_add(o, "affinity_key", json_object_new_string(key));
    if (ttl_s == (double)(int64_t)ttl_s)
        json_object_object_add(o, "affinity_ttl_seconds", json_object_new_int64((int64_t)ttl_s));
    else
        json_object_object_add(o, "affinity_ttl_seconds", json_object_new_double(ttl_s));
    char *out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

int64_t affinity_hold_ms(struct cp_core *core, const char *strategy, const char *metadata_json,
                         char key[CP_AFFINITY_KEY_MAX + 1])
{
    int64_t ttl_ms;
    if (core->cfg->affinity_hold_ms <= 0 || !affinity_supported(core)) return 0;
    if (!affinity_from_metadata(metadata_json, key, &ttl_ms)) return 0;
    /* Only for the `affinity` strategy: other strategies make no promise about warm agents. */
    struct plugin *p = core_strategy(core, strategy);
    if (!p || strcmp(p->desc->name, "affinity") != 0) return 0;
    return core->cfg->affinity_hold_ms;
}

int affinity_supported(const struct cp_core *core)
{
    return core->store && core->store->version >= 4 && core->store->affinity_get &&
           core->store->affinity_set;
}

static void on_remembered(void *cookie, const struct cp_result *res)
{
    (void)cookie;
    if (res->rc < 0)
        log_debug("affinity: could not remember an agent (storage error %d: %s)", res->rc,
                  res->message ? res->message : "");
}

void affinity_remember(struct cp_core *core, const struct cp_task_view *t, const char *agent_id)
{
    char key[CP_AFFINITY_KEY_MAX + 1];
    int64_t ttl_ms;
    if (!t || !agent_id || !*agent_id || !affinity_supported(core)) return;
    if (!affinity_from_metadata(t->metadata_json, key, &ttl_ms)) return;
    if (ttl_ms <= 0) ttl_ms = core->cfg->affinity_ttl_ms;
    if (ttl_ms > core->cfg->affinity_max_ttl_ms) ttl_ms = core->cfg->affinity_max_ttl_ms;
    if (ttl_ms <= 0) return;
    struct cp_affinity a = {
        .key = key, .agent_id = agent_id, .ttl_ms = ttl_ms, .now_ms = clock_now_ms()};
    CORE_STORE(core, affinity_set, &a, on_remembered, NULL);
}
