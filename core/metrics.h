/* metrics.h — process-wide counters and histograms for GET /metrics (Prometheus text format).
 * Cheap enough for the hot path: fixed buckets, small hash maps keyed by label, no allocation
 * once a label has been seen. Single-threaded (the event loop). */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <cp/storage.h>

struct evbuffer;

enum metrics_task_event {
    MET_TASK_SUBMITTED = 0,
    MET_TASK_COMPLETED,
    MET_TASK_FAILED,
    MET_TASK_TIMEOUT,
    MET_TASK_EVENT_COUNT
};

void metrics_task_event(const char *task_type, int event); /* enum metrics_task_event */
void metrics_claim_wait(double seconds); /* from claim request arrival to task handed out */
/* `route` must be a string that lives as long as the process and never changes (a route
 * pattern or a literal): its address is memoised. */
void metrics_http_request(const char *route, int status, double seconds);
void metrics_probe_result(const char *probe_type, int ok, double latency_seconds);
/* Render everything, with agents/tasks by status and circuit states from `stats`. */
void metrics_render(struct evbuffer *out, const struct cp_stats_view *stats);
/* cp_storage_up and, when the store reports them (st != NULL), its connection counters. */
void metrics_render_storage(struct evbuffer *out, int up, const struct cp_storage_status *st);
/* A task with an affinity_key was placed among held claimers: on its warm agent
 * (METRICS_AFFINITY_WARM), on another while one was remembered (_OTHER), or with none
 * remembered (_COLD). cp_affinity_placements_total{result=...}. */
enum metrics_affinity { METRICS_AFFINITY_WARM = 0, METRICS_AFFINITY_OTHER, METRICS_AFFINITY_COLD };
void metrics_affinity_placed(int result);
/* A task submitted here was held for its warm agent (cp_affinity_holds_total). */
void metrics_affinity_held(void);
void metrics_reset(void); /* tests */

#endif
