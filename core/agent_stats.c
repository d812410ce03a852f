/* agent_stats.c — per-agent windows of recent finished tasks (agent_stats.h): a hash table of
 * agents (chained, FNV-1a), each with a ring of its last AGENT_STATS_WINDOW latencies and
 * outcomes. Fed by ops when this process sees a completion or a failure; read when a strategy
 * is called. Only this process's view: tasks that other cpd processes on the same store see
 * end are not in it (docs/fleet.md, "What strategies can see"). */
#include "agent_stats.h"

#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "quota.h"
#include "xalloc.h"

#define BUCKETS 1024 /* a power of two */

struct agent_window {
    struct agent_window *next;         /* in its bucket */
    uint64_t touched;                  /* the table's clock at the last record (eviction order) */
    float latency[AGENT_STATS_WINDOW]; /* < 0: unknown */
    unsigned char failed[AGENT_STATS_WINDOW];
    uint32_t n, at; /* filled entries, next slot */
    /* The window's known latencies in ascending order, kept by every record with one binary
     * search and one memmove each way (sorting the window on every completion cost ~12k
     * instructions a task), so that the p95 is one index. */
    float sorted[AGENT_STATS_WINDOW];
    uint32_t n_sorted;
    /* Kept up to date by every record, so that a selection (which may offer the whole fleet,
     * GET /agents/select) reads them without sorting. */
    double p95;
    uint32_t n_failed;
    char id[];
};

struct agent_stats {
    struct agent_window *buckets[BUCKETS];
    size_t n;
    uint64_t clock;
};

static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

struct agent_stats *agent_stats_new(void)
{
    return xcalloc(1, sizeof(struct agent_stats));
}

void agent_stats_free(struct agent_stats *s)
{
    if (!s) return;
    for (size_t b = 0; b < BUCKETS; b++) {
        struct agent_window *w = s->buckets[b];
        while (w) {
            struct agent_window *next = w->next;
            free(w);
            w = next;
        }
    }
    free(s);
}

static struct agent_window *find(const struct agent_stats *s, const char *id)
{
    struct agent_window *w = s->buckets[id_hash(id) & (BUCKETS - 1)];
    while (w && strcmp(w->id, id) != 0)
        w = w->next;
    return w;
}

/* Full: forget the agent recorded least recently (a scan, once per new agent past the cap). */
static void evict_oldest(struct agent_stats *s)
{
    struct agent_window **victim = NULL;
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct agent_window **pp = &s->buckets[b]; *pp; pp = &(*pp)->next)
            if (!victim || (*pp)->touched < (*victim)->touched) victim = pp;
    if (!victim) return;
    struct agent_window *w = *victim;
    *victim = w->next;
    free(w);
    s->n--;
}

/* The first index in v[0..n) whose value is not below x. */
static uint32_t lower_bound(const float *v, uint32_t n, float x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sorted_remove(struct agent_window *w, float x)
{
    uint32_t i = lower_bound(w->sorted, w->n_sorted, x);
    if (i >= w->n_sorted || w->sorted[i] != x) return; /* not there: nothing was added for it */
    memmove(&w->sorted[i], &w->sorted[i + 1], (w->n_sorted - i - 1) * sizeof *w->sorted);
    w->n_sorted--;
}

static void sorted_insert(struct agent_window *w, float x)
{
    if (w->n_sorted >= AGENT_STATS_WINDOW) return; /* cannot happen: one entry per slot */
    uint32_t i = lower_bound(w->sorted, w->n_sorted, x);
    memmove(&w->sorted[i + 1], &w->sorted[i], (w->n_sorted - i) * sizeof *w->sorted);
    w->sorted[i] = x;
    w->n_sorted++;
}

/* The nearest-rank 95th percentile of the known latencies in w, or -1. */
static double p95(const struct agent_window *w)
{
    uint32_t k = w->n_sorted;
    if (k == 0) return -1;
    uint32_t rank = (uint32_t)((95u * k + 99u) / 100u); /* ceil(0.95 k), 1-based */
    return w->sorted[rank ? rank - 1 : 0];
}

void agent_stats_record(struct agent_stats *s, const char *agent_id, double latency_ms, int failed)
{
    if (!s || !agent_id || !*agent_id) return;
    struct agent_window *w = find(s, agent_id);
    if (!w) {
        if (s->n >= AGENT_STATS_MAX_AGENTS) evict_oldest(s);
        size_t len = strlen(agent_id);
        w = xcalloc(1, sizeof *w + len + 1);
        memcpy(w->id, agent_id, len + 1);
        uint32_t b = id_hash(agent_id) & (BUCKETS - 1);
        w->next = s->buckets[b];
        s->buckets[b] = w;
        s->n++;
    }
    w->touched = ++s->clock;
    if (w->n == AGENT_STATS_WINDOW) { /* the oldest entry leaves the window */
        if (w->latency[w->at] >= 0) sorted_remove(w, w->latency[w->at]);
        w->n_failed -= w->failed[w->at];
    } else {
        w->n++;
    }
    float latency = latency_ms >= 0 ? (float)latency_ms : -1.0f; /* NaN: unknown */
    w->latency[w->at] = latency;
    w->failed[w->at] = failed ? 1 : 0;
    w->n_failed += w->failed[w->at];
    if (latency >= 0) sorted_insert(w, latency);
    w->at = (w->at + 1) % AGENT_STATS_WINDOW;
    w->p95 = p95(w);
}

void agent_stats_fill(struct cp_core *core, const struct agent_stats *s,
                      const struct cp_agent_view *a, struct cp_candidate_stats *out)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->latency_p95_ms = -1;
    out->error_rate = -1;
    /* the tightest provider quota the agent is under (-1: none limits it; quota.c) */
    quota_headroom_for_agent(core, a, &out->quota_requests_left, &out->quota_tokens_left);
    const struct agent_window *w = s && a && a->agent_id ? find(s, a->agent_id) : NULL;
    if (!w || w->n == 0) return;
    out->recent_tasks = w->n;
    out->error_rate = (double)w->n_failed / (double)w->n;
    out->latency_p95_ms = w->p95;
}
