/* redis_agent_cache.h — the agent cache's store (redis_agent_cache.c): copies of agent records
 * by id and in agent_id order. Pure; redis_cache.c decides what goes in and when it is used. */
#ifndef CP_REDIS_AGENT_CACHE_H
#define CP_REDIS_AGENT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cp/storage.h"

struct rs_acache_entry {
    struct rs_acache_entry *next; /* hash chain */
    uint64_t hash;
    uint64_t gen;           /* the load (or later read) that wrote it last */
    struct cp_agent_view v; /* its strings point into blob */
    char *blob;             /* owned */
    size_t blob_bytes;
};

/* One capability's agents, by agent_id: a list asking for capabilities walks the shortest. */
struct rs_acache_cap {
    struct rs_acache_cap *next; /* hash chain */
    uint64_t hash;
    char *name; /* owned */
    struct rs_acache_entry **v;
    size_t n, cap;
};

struct rs_acache {
    struct rs_acache_entry **buckets; /* power of two */
    size_t n_buckets;
    struct rs_acache_entry **sorted; /* by agent_id */
    size_t n, cap_sorted;
    struct rs_acache_cap **cap_buckets; /* power of two; a capability's list goes when empty */
    size_t n_cap_buckets, n_caps;
    size_t bytes; /* held by the entries, their blobs and the tables */
};

/* Adds or replaces the copy of v (copied whole), marked `gen`. 0, or -1 (out of memory, or no
 * id): then the store is as it was. */
int rs_acache_put(struct rs_acache *c, const struct cp_agent_view *v, uint64_t gen);
int rs_acache_del(struct rs_acache *c, const char *id); /* 1 removed, 0 not there */
struct cp_agent_view *rs_acache_get(struct rs_acache *c, const char *id);
/* Removes every entry marked before gen (agents a full load no longer found): how many. */
size_t rs_acache_sweep(struct rs_acache *c, uint64_t gen);
void rs_acache_clear(struct rs_acache *c);
/* Answers cb with the agents matching f (status, health_mask, after, capabilities; limit is the
 * caller's business) in agent_id order: 0, or CP_ERR_NOMEM (cb not called). */
int rs_acache_list(const struct rs_acache *c, const struct cp_agent_filter *f, cp_storage_cb cb,
                   void *cookie);

/* redis_cache_own.c: the last task changes this process made (from its replies), so that their
 * feed messages need no re-read. A hash collision can only skip one re-read: 64-bit hashes. */
#define RS_OWN_SLOTS 256
struct rs_own {
    uint64_t slot[RS_OWN_SLOTS]; /* 0: free */
    size_t next;
};
void rs_own_add(struct rs_own *o, const char *task_id, uint32_t attempt, int32_t status);
/* 1 (and forgotten) when this change is one of ours. */
int rs_own_take(struct rs_own *o, const char *task_id, uint32_t attempt, int32_t status);

#endif
