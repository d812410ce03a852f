/* cp/client_fleet.h — libcpclient: what a fleet of AI agents adds to a submit (docs/fleet.md):
 * prompt-cache affinity. Included by cp/client.h, which declares cp_client and CPC_API; include
 * cp/client.h, not this file. */
#ifndef CP_CLIENT_FLEET_H
#define CP_CLIENT_FLEET_H

#ifndef CP_CLIENT_H
#error "include <cp/client.h>, not <cp/client_fleet.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

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
