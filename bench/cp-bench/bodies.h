/* bodies.h — the request bodies and paths cp-bench sends (agent registration, task submission,
 * claim, complete), written into caller buffers without allocation. */
#ifndef CPB_BODIES_H
#define CPB_BODIES_H

#include <stddef.h>
#include <stdint.h>

#include "args.h"

#define API "/api/control-plane"

/* Room a task body needs beyond the payload padding. */
#define BODY_SLACK 512

/* Each returns the length written (always < cap; cap must be >= BODY_SLACK + payload_bytes for
 * task_body). */
size_t agent_id(const struct args *a, uint64_t i, char *out, size_t cap);
size_t agent_body(const struct args *a, uint64_t i, char *out, size_t cap);
/* A task requiring --capability whose payload is about --payload-bytes long and carries
 * "sent_us": the monotonic send time, read back by whoever receives it. */
size_t task_body(const struct args *a, int64_t sent_us, char *out, size_t cap);
size_t claim_body(const struct args *a, uint64_t agent, uint32_t block_ms, char *out, size_t cap);
size_t complete_body(const struct args *a, uint64_t agent, char *out, size_t cap);

/* From a claim reply: copy the task id into out (NUL-terminated) and return 1; 0 when the reply
 * holds {"task": null}; -1 when it holds neither. *sent_us gets the payload stamp or -1. */
int claim_reply(const char *body, size_t len, char *out, size_t cap, int64_t *sent_us);
/* The same for the task under `key` ("next" of a complete with next). */
int task_reply(const char *body, size_t len, const char *key, char *out, size_t cap,
               int64_t *sent_us);

#endif
