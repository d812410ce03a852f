/* rank.h — the orders the built-in strategies share (header-only, static inline): least_loaded's
 * and headroom's. Each returns <0 when a ranks before b, >0 when after, 0 when equal on every
 * key; ties end in agent_id order, so every choice is deterministic. */
#ifndef CP_SELECTION_RANK_H
#define CP_SELECTION_RANK_H

#include <string.h>

#include <cp/selection.h>

/* least_loaded: fewest tasks_in_flight; fewest tasks_completed; least recently assigned (0,
 * never, first); agent_id. */
static inline int rank_least_loaded(const struct cp_agent_view *a, const struct cp_agent_view *b)
{
    if (a->tasks_in_flight != b->tasks_in_flight)
        return a->tasks_in_flight < b->tasks_in_flight ? -1 : 1;
    if (a->tasks_completed != b->tasks_completed)
        return a->tasks_completed < b->tasks_completed ? -1 : 1;
    if (a->last_assigned_ms != b->last_assigned_ms) {
        /* 0 means never assigned: older than any real time, also a (bogus) negative one. */
        if (a->last_assigned_ms == 0) return -1;
        if (b->last_assigned_ms == 0) return 1;
        return a->last_assigned_ms < b->last_assigned_ms ? -1 : 1;
    }
    const char *ia = a->agent_id ? a->agent_id : "";
    const char *ib = b->agent_id ? b->agent_id : "";
    return strcmp(ia, ib);
}

/* A quota headroom for ranking: -1 (no quota applies) is unlimited room. */
static inline int rank_room_cmp(int64_t a, int64_t b)
{
    if (a == b) return 0;
    if (a < 0) return -1;
    if (b < 0) return 1;
    return a > b ? -1 : 1;
}

/* headroom: the candidate with the most room.
 *   1. quota headroom: more tokens left, then more requests left (-1, no quota: unlimited);
 *   2. more free task slots (max_concurrent_tasks - tasks_in_flight);
 *   3. lower recent p95 latency (unknown after known);
 *   4. lower recent error rate (unknown after known);
 *   5. least_loaded's order.
 * sa / sb: the candidates' stats, or NULL (a host older than 2.4: keys 1, 3 and 4 tie). */
static inline int rank_headroom(const struct cp_agent_view *a, const struct cp_candidate_stats *sa,
                                const struct cp_agent_view *b, const struct cp_candidate_stats *sb)
{
    int d;
    if (sa && sb) {
        if ((d = rank_room_cmp(sa->quota_tokens_left, sb->quota_tokens_left))) return d;
        if ((d = rank_room_cmp(sa->quota_requests_left, sb->quota_requests_left))) return d;
    }
    int64_t fa = (int64_t)a->max_concurrent_tasks - (int64_t)a->tasks_in_flight;
    int64_t fb = (int64_t)b->max_concurrent_tasks - (int64_t)b->tasks_in_flight;
    if (fa != fb) return fa > fb ? -1 : 1;
    if (sa && sb) {
        double pa = sa->latency_p95_ms, pb = sb->latency_p95_ms;
        if ((pa >= 0) != (pb >= 0)) return pa >= 0 ? -1 : 1;
        if (pa >= 0 && pa != pb) return pa < pb ? -1 : 1;
        double ea = sa->error_rate, eb = sb->error_rate;
        if ((ea >= 0) != (eb >= 0)) return ea >= 0 ? -1 : 1;
        if (ea >= 0 && ea != eb) return ea < eb ? -1 : 1;
    }
    return rank_least_loaded(a, b);
}

/* ctx->stats[i], when the host filled them (2.4 and later), else NULL. */
static inline const struct cp_candidate_stats *rank_stats(const struct cp_selection_ctx *ctx,
                                                          size_t i)
{
    if (!ctx || !ctx->stats || !ctx->stats[i]) return NULL;
    return ctx->stats[i]->size >= sizeof(struct cp_candidate_stats) ? ctx->stats[i] : NULL;
}

/* The index of the best candidate by headroom. */
static inline size_t rank_best_headroom(const struct cp_agent_view *const *c, size_t n,
                                        const struct cp_selection_ctx *ctx)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (rank_headroom(c[i], rank_stats(ctx, i), c[best], rank_stats(ctx, best)) < 0) best = i;
    return best;
}

static inline size_t rank_best_least_loaded(const struct cp_agent_view *const *c, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (rank_least_loaded(c[i], c[best]) < 0) best = i;
    return best;
}

#endif
