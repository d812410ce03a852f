/* agent_stats.h — what selection strategies see of each candidate besides its record (struct
 * cp_candidate_stats, ABI 2.4): a small window of each agent's recent finished tasks (latency
 * and outcome) as this process saw them end, for the p95 latency and the error rate; and the
 * quota headroom (filled where the quota module is wired in, see agent_stats_fill). Bounded:
 * at most AGENT_STATS_WINDOW tasks per agent and AGENT_STATS_MAX_AGENTS agents (the agent
 * heard from least recently is forgotten first). */
#ifndef CORE_AGENT_STATS_H
#define CORE_AGENT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include <cp/selection.h>
#include <cp/types.h>

#define AGENT_STATS_WINDOW 64
#define AGENT_STATS_MAX_AGENTS 8192

struct cp_core;
struct agent_stats;

struct agent_stats *agent_stats_new(void);
void agent_stats_free(struct agent_stats *s);

/* A task of agent_id ended: latency_ms (< 0: unknown, counts for the error rate only), failed
 * 1 for a failure report. */
void agent_stats_record(struct agent_stats *s, const char *agent_id, double latency_ms, int failed);

/* out = what is known of agent a (out->size set): the window's p95 and error rate (-1 when
 * empty), the quota headroom (-1 until the quota module says). s may be NULL (nothing known). */
void agent_stats_fill(struct cp_core *core, const struct agent_stats *s,
                      const struct cp_agent_view *a, struct cp_candidate_stats *out);

#endif
