/* cp/client_fleet.h — libcpclient: dispatch for AI fleets (docs/fleet.md): provider quotas,
 * the usage a model call reported, the provider's 429 reported as backoff, and prompt-cache
 * affinity on a submit. Included by cp/client.h, which declares cp_client and CPC_API; include
 * cp/client.h, not this file. */
#ifndef CP_CLIENT_FLEET_H
#define CP_CLIENT_FLEET_H

#ifndef CP_CLIENT_H
#error "include <cp/client.h>, not <cp/client_fleet.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A quota's definition (POST /quotas). Limits 0: none. */
struct cpc_quota_spec {
    const char *id;       /* required */
    const char *provider; /* required */
    const char *model;    /* NULL: any */
    const char *key_id;   /* NULL: any */
    uint64_t rpm, tpm;
    uint32_t max_in_flight;
};

/* A quota with its live state (QuotaJSON). Limits and counts of -1: none / not limited. */
struct cpc_quota {
    char *id, *provider, *model, *key_id; /* model, key_id NULL: any */
    int64_t rpm, tpm, max_in_flight;      /* -1: no limit */
    int64_t requests_used, tokens_used;
    int64_t requests_left, tokens_left; /* -1: no limit */
    int64_t in_flight;
    int64_t concurrency_limit; /* -1: none */
    int64_t paused_until_ms;   /* 0: not paused */
    int64_t rate_limited;      /* 429s reported under it */
};
struct cpc_quota_list {
    struct cpc_quota *quotas;
    size_t n;
    char *json; /* the answer as received */
};
CPC_API void cp_client_quota_list_free(struct cpc_quota_list *l);

/* POST /quotas (admin token): define, or replace keeping its live counts. *out (may be NULL)
 * gets a list of one: the quota after. Errors: CPC_ERR_INVALID, CPC_ERR_FORBIDDEN,
 * CPC_ERR_SERVER with code "not_supported" (a store without quotas). */
CPC_API int cp_client_quota_put(cp_client *c, const struct cpc_quota_spec *q,
                                struct cpc_quota_list **out);
/* GET /quotas: every quota with its live headroom, by id. */
CPC_API int cp_client_quotas(cp_client *c, struct cpc_quota_list **out);
/* GET /quotas/:id: a list of one. Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_quota_get(cp_client *c, const char *quota_id, struct cpc_quota_list **out);
/* DELETE /quotas/:id (admin token). Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_quota_delete(cp_client *c, const char *quota_id);

/* What a model call used (complete/fail "usage"). */
struct cpc_usage {
    uint64_t input_tokens, output_tokens, cached_tokens;
};
/* POST /tasks/:id/complete with usage (settled against the quota reservation of the claim).
 * As cp_client_task_complete() otherwise. */
CPC_API int cp_client_task_complete_usage(cp_client *c, const char *task_id, const char *agent_id,
                                          const char *result_json, double latency_ms,
                                          const struct cpc_usage *usage);
/* POST /tasks/:id/fail with "reason": "rate_limited": the provider answered 429. The task
 * returns to pending with no retry counted; the agent's quotas pause for retry_after_ms (> 0)
 * or halve their concurrency (0). usage may be NULL. As cp_client_task_fail() otherwise. */
CPC_API int cp_client_task_rate_limited(cp_client *c, const char *task_id, const char *agent_id,
                                        const char *error, long retry_after_ms,
                                        const struct cpc_usage *usage);

/* Prompt-cache affinity of one task (zero-initialisable). */
struct cpc_task_affinity {
    const char *key;    /* affinity_key: a conversation or debate id, 1-128 characters of
                           A-Z a-z 0-9 . _ : @ / -; NULL: none */
    double ttl_seconds; /* affinity_ttl_seconds: how long the agent that completes the task
                           stays the key's warm agent; 0: the server's default */
};

/* POST /tasks as cp_client_task_submit_ex() (opt may be NULL), with the task's affinity (aff
 * may be NULL: none). Errors: as cp_client_task_submit_ex(); CPC_ERR_INVALID for a TTL without
 * a key (the server refuses a bad key or TTL with CPC_ERR_INVALID too). */
CPC_API int cp_client_task_submit_affinity(cp_client *c, const struct cpc_task_spec *spec,
                                           const struct cpc_task_options *opt,
                                           const struct cpc_task_affinity *aff, char **task_id,
                                           int *created);

#ifdef __cplusplus
}
#endif
#endif
