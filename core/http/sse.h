/* sse.h — the event stream's hub (sse.c): the changes of ops_feed rendered once each as
 * Server-Sent Events, the recent ones kept for Last-Event-ID, and handed to every reader whose
 * filters they pass. One per HTTP server. */
#ifndef CORE_HTTP_SSE_H
#define CORE_HTTP_SSE_H

#include <stdint.h>

#include "http.h"

/* The stream's event names (the original dashboard's), one bit each in sse_filter.types. */
enum sse_type {
    SSE_AGENT_REGISTERED = 0,
    SSE_AGENT_UNREGISTERED,
    SSE_AGENT_STATUS_CHANGED,
    SSE_TASK_SUBMITTED,
    SSE_TASK_CLAIMED,
    SSE_TASK_STARTED,
    SSE_TASK_COMPLETED,
    SSE_TASK_FAILED,
    SSE_TASK_REQUEUED,
    SSE_TASK_TIMEOUT,
    SSE_TASK_CANCELLED,
    SSE_HEALTH_UPDATE,
    SSE_TASK_EXTENDED, /* beyond the original dashboard's names: the task features' changes */
    SSE_TASK_RETRIED,
    SSE_TASK_DUE,
    SSE_QUOTA_PAUSED, /* provider quotas (docs/fleet.md) */
    SSE_QUOTA_RESUMED,
    SSE_QUOTA_CONCURRENCY,
    SSE_TYPE_COUNT
};
#define SSE_ALL_TYPES ((1u << SSE_TYPE_COUNT) - 1)

const char *sse_type_name(int type);
int sse_type_from_name(const char *name, size_t len); /* -1 when unknown */

/* What a reader wants: an event passes when its type is in `types` and it has the task_type /
 * agent_id asked for (an event without one does not pass that filter). Strings owned. */
struct sse_filter {
    uint32_t types;
    char *task_type;
    char *agent_id;
};

struct sse_hub;
struct sse_hub *sse_hub_new(struct cp_core *core);
void sse_hub_free(struct sse_hub *hub); /* after every stream's connection is closed */

/* Start streaming to r (whose filter the hub takes): the head, the events after last_id that
 * are still kept (has_last_id), then every new one. An id older than what is kept, or one this
 * process has not seen, gets a `resync` event first. */
void sse_hub_attach(struct sse_hub *hub, struct req *r, struct sse_filter *f, int has_last_id,
                    uint64_t last_id);

/* Readers now (for tests and /stats-like reporting). */
size_t sse_hub_readers(const struct sse_hub *hub);

#endif
