/* bulk.h — send N independent requests as fast as K connections allow (agent registration
 * before a run, and the fill scenario). Runs its own loop to completion. */
#ifndef CPB_BULK_H
#define CPB_BULK_H

#include <stdint.h>

#include "args.h"
#include "client.h"

/* Write request i: its path into `path` and its body into `body` (capacity `cap`); return the
 * body length. */
typedef size_t (*bulk_make_fn)(const struct args *a, uint64_t i, char *path, size_t pathcap,
                               char *body, size_t cap);

struct bulk_result {
    uint64_t ok, failed;
    double seconds;
    char first_error[256];
};

/* POST n requests over `conns` connections, stopping early after `max_seconds` or too many
 * failures. Returns 0 when all n succeeded, else -1 (result says how far it got and why). */
int bulk_post(struct event_base *base, const struct args *a, int conns, uint64_t n,
              bulk_make_fn make, double max_seconds, struct bulk_result *out);

/* The registration of agents <prefix>-0 .. a->agents-1 (status 200 or 201). */
int bulk_register_agents(struct event_base *base, const struct args *a, struct bulk_result *out);

size_t bulk_make_agent(const struct args *a, uint64_t i, char *path, size_t pathcap, char *body,
                       size_t cap);
size_t bulk_make_task(const struct args *a, uint64_t i, char *path, size_t pathcap, char *body,
                      size_t cap);
/* Request i of a fill with --batch: POST /tasks/batch of a->batch tasks (fewer for the last). */
size_t bulk_make_task_batch(const struct args *a, uint64_t i, char *path, size_t pathcap,
                            char *body, size_t cap);

#endif
