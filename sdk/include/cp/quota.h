/* cp/quota.h — provider quotas (since ABI 2.4): the limits a provider puts on a fleet's calls
 * (requests and tokens per minute, calls in flight), kept by the storage backend so that every
 * process sharing it counts the same, and reserved by the claim itself (docs/fleet.md).
 * Included by cp/storage.h. */
#ifndef CP_QUOTA_H
#define CP_QUOTA_H

#include <stdint.h>
#include <string.h>

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whom a quota covers: a provider, optionally one model and/or one API key (key_id, a name the
 * operator gives a key, never the key). NULL model/key_id: any. Also the shape of an agent's
 * quota_scopes (what it declares it calls). */
struct cp_quota_scope {
    const char *provider;
    const char *model;
    const char *key_id;
};

/* The window of rpm/tpm: the last 60 whole seconds and the current one (61 one-second buckets),
 * so a limit is never exceeded over any sliding 60 s (docs/fleet.md). */
#define CP_QUOTA_WINDOW_S 61

/* A quota's definition (host-filled, quota_put) and, in answers, its live state. The host reads
 * no member past `size`. */
struct cp_quota_view {
    uint32_t size;
    const char *id;
    struct cp_quota_scope scope;
    uint64_t rpm, tpm;      /* per minute; 0: no limit */
    uint32_t max_in_flight; /* 0: no limit */
    /* live state (ignored by quota_put) */
    uint64_t requests_used;     /* claims in the window */
    uint64_t tokens_used;       /* reserved, then settled to the reported usage */
    uint32_t in_flight;         /* tasks held under it now */
    uint32_t concurrency_limit; /* AIMD after a 429 without a retry time; 0: max_in_flight */
    int64_t paused_until_ms;    /* a 429 with a retry time: no claim before; 0: not paused */
    int64_t next_room_ms;       /* when the window's oldest use leaves it; 0: nothing to leave */
    uint64_t rate_limited;      /* 429s reported under it */
};

/* 1 when a quota of scope q covers an agent that calls (provider, model) and declares the
 * n scopes `scopes` (its quota_scopes): its provider and model match a quota without key_id,
 * or one of its scopes matches (provider equal, and model / key_id equal where the quota names
 * them). Written once; Redis' lua/quota.lua mirrors it. */
static inline int cp_quota_scope_eq(const char *want, const char *have)
{
    return !want || (have && strcmp(want, have) == 0);
}
static inline int cp_quota_covers(const struct cp_quota_scope *q, const char *provider,
                                  const char *model, const struct cp_quota_scope *scopes,
                                  uint32_t n)
{
    if (!q->provider) return 0;
    if (!q->key_id && provider && strcmp(q->provider, provider) == 0 &&
        cp_quota_scope_eq(q->model, model))
        return 1;
    for (uint32_t i = 0; i < n; i++)
        if (scopes[i].provider && strcmp(q->provider, scopes[i].provider) == 0 &&
            cp_quota_scope_eq(q->model, scopes[i].model) &&
            cp_quota_scope_eq(q->key_id, scopes[i].key_id))
            return 1;
    return 0;
}

/* The tokens a claim reserves for a task: its declared input plus max_output. */
static inline int64_t cp_quota_task_tokens(int64_t est_input, int64_t est_output)
{
    return (est_input > 0 ? est_input : 0) + (est_output > 0 ? est_output : 0);
}

#ifdef __cplusplus
}
#endif
#endif
