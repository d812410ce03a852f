/* quota.h — the host's side of provider quotas (docs/fleet.md): the quotas are kept and
 * enforced by the store (cp/quota.h); the host puts the configured ones in at start-up, keeps a
 * recent copy of their state for readers that cannot wait (selection strategies, /metrics),
 * tells the event stream when a quota pauses and resumes, and wakes claims held back by a
 * quota when room returns: at the moment the store named (a window rolling over, a pause
 * ending) or when a task leaves its holder. */
#ifndef CORE_QUOTA_H
#define CORE_QUOTA_H

#include <stdint.h>

#include <event2/buffer.h>

#include <cp/storage.h>

struct cp_core;
struct quotas;

struct quotas *quotas_new(struct cp_core *core);
void quotas_free(struct quotas *qs);
/* Put the configured quotas (cfg->quotas) into the store; start following their state. */
void quotas_start(struct quotas *qs);
void quotas_stop(struct quotas *qs);

/* An agent's quota headroom for selection strategies: the requests and tokens still free in
 * the window, the least over the quotas that cover it (cp_quota_covers), from the copy last
 * read from the store (at most about a second old while quotas exist). -1 in either: no quota
 * limits it (no quota covers it, or none of its quotas has rpm / tpm). Returns how many
 * quotas cover the agent. */
int quota_headroom_for_agent(const struct cp_core *core, const struct cp_agent_view *agent,
                             int64_t *requests_left, int64_t *tokens_left);

/* A claim came back held by a quota (cp_result.quota_held): room returns at due_ms (0: when a
 * task leaves its holder). Arms the wake-up. */
void quotas_claim_held(struct quotas *qs, int64_t due_ms);
/* A task left its holder (or a quota changed): claims held by a quota try again. */
void quotas_room(struct quotas *qs);
/* A FAIL with rate_limited was applied (the task `t`, reported by `agent_id`). */
void quotas_rate_limited(struct quotas *qs, const struct cp_task_view *t, const char *agent_id,
                         int64_t retry_after_ms);
/* The state was read (quota_list): keep it, and report what changed. */
void quotas_seen(struct quotas *qs, const struct cp_result *res);

/* cp_quota_* gauges of the last state read, in Prometheus text. */
void quotas_render_metrics(const struct quotas *qs, struct evbuffer *out);
/* Counters for /stats: 429s reported, and tasks returned to pending by them. */
uint64_t quotas_rate_limited_total(const struct quotas *qs);

#endif
