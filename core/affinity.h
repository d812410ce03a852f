/* affinity.h — prompt-cache affinity (docs/fleet.md): a task's affinity_key and TTL, which
 * travel with the task as members of its metadata ("affinity_key", "affinity_ttl_seconds"), and
 * the store-backed key -> agent memory (storage affinity_get / affinity_set), written when a
 * task with a key completes and read when cpd chooses among held claimers for such a task. */
#ifndef CORE_AFFINITY_H
#define CORE_AFFINITY_H

#include <stdint.h>

#include <cp/storage.h>

struct cp_core;

/* 1 when s is a valid affinity key: 1-128 bytes of [A-Za-z0-9._:@/-]. */
int affinity_key_valid(const char *s);

/* The task's key and TTL from its metadata (a JSON object's text): 1 with key (NUL-terminated,
 * at most CP_AFFINITY_KEY_MAX bytes) and *ttl_ms (0 when the metadata gives none); 0 when the
 * metadata has no valid affinity_key. Cheap when the text does not mention it. */
int affinity_from_metadata(const char *metadata_json, char key[CP_AFFINITY_KEY_MAX + 1],
                           int64_t *ttl_ms);

/* metadata_json (an object's text) with affinity_key = key and affinity_ttl_seconds = ttl_s
 * set; malloc'd (x-alloc), or NULL when metadata_json is not an object. */
char *affinity_metadata_with(const char *metadata_json, const char *key, double ttl_s);

/* Task t (just completed by agent_id) had an affinity key: remember agent_id for it in the
 * store, for the task's TTL (the configured default when it has none). Fire and forget. */
void affinity_remember(struct cp_core *core, const struct cp_task_view *t, const char *agent_id);

/* A task about to be submitted with strategy `strategy` (NULL: the default) and this metadata:
 * how long the store should hold it for its warm agent (docs/fleet.md, "Holding the turn"),
 * with its key in key; 0 when it is not to be held (no key, a strategy other than `affinity`,
 * tasks.affinity_hold_seconds 0, or a store without the affinity memory). */
int64_t affinity_hold_ms(struct cp_core *core, const char *strategy, const char *metadata_json,
                         char key[CP_AFFINITY_KEY_MAX + 1]);

/* 1 when the store keeps the key -> agent memory. */
int affinity_supported(const struct cp_core *core);

#endif
