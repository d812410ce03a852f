/* claims_held.c — held claimers (their agent snapshot, their end) and the held set: held claimers
 * grouped by capability set, so that offering a task costs one subset test per distinct set; each
 * group keeps its claimers oldest first and, beside, sorted by agent_id, so that the candidates for
 * a task (at most 64, in agent_id order) are a merge, not a sort. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "claims_internal.h"
#include "log.h"
#include "xalloc.h"

#define MAX_MERGE 8 /* groups merged in order; more matching groups: collect, then sort */

char **claims_strs_copy(const char *const *src, uint32_t n)
{
    char **out = xcalloc(n ? n : 1, sizeof *out);
    for (uint32_t i = 0; i < n; i++)
        out[i] = xstrdup(src[i]);
    return out;
}

void claims_strs_free(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static char *join(char *const *v, uint32_t n)
{
    size_t len = 1;
    for (uint32_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = xmalloc(len), *p = s;
    *p = '\0';
    for (uint32_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", v[i]);
    return s;
}

/* ---- the held set ---- */

static int claimer_cmp(const struct claimer *x, const struct claimer *y)
{
    int d = strcmp(x->agent_id, y->agent_id);
    if (d) return d;
    return x->hold_seq < y->hold_seq ? -1 : x->hold_seq > y->hold_seq;
}

/* The first place in g->by_id whose claimer is not below c. */
static size_t group_lower(const struct held_group *g, const struct claimer *c)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (claimer_cmp(g->by_id[mid], c) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void claims_held_add(struct claims *s, struct claimer *c)
{
    char *key = join(c->caps, c->n_caps);
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    if (strcmp(g->key, key) == 0) break;
    if (!g) {
        g = xcalloc(1, sizeof *g);
        g->key = key;
        g->caps = claims_strs_copy((const char *const *)c->caps, c->n_caps);
        g->n_caps = c->n_caps;
        TAILQ_INIT(&g->claimers);
        TAILQ_INSERT_TAIL(&s->groups, g, link);
    } else {
        free(key);
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        g->by_id = xrealloc(g->by_id, cap * sizeof *g->by_id);
        g->cap = cap;
    }
    c->state = CLAIMER_HELD;
    c->group = g;
    c->hold_seq = ++s->next_hold;
    size_t at = group_lower(g, c);
    memmove(g->by_id + at + 1, g->by_id + at, (g->n - at) * sizeof *g->by_id);
    g->by_id[at] = c;
    g->n++;
    TAILQ_INSERT_TAIL(&g->claimers, c, link);
    s->n_held++;
    if (c->blocked) s->n_blocked++;
}

void claims_held_remove(struct claims *s, struct claimer *c)
{
    struct held_group *g = c->group;
    size_t at = group_lower(g, c);
    if (at >= g->n || g->by_id[at] != c) { /* never: by_id is kept sorted; stay consistent */
        log_error("held claims: %s out of order", c->agent_id);
        at = 0;
        while (at < g->n && g->by_id[at] != c)
            at++;
    }
    if (at < g->n) {
        memmove(g->by_id + at, g->by_id + at + 1, (g->n - at - 1) * sizeof *g->by_id);
        g->n--;
    }
    TAILQ_REMOVE(&g->claimers, c, link);
    c->group = NULL;
    s->n_held--;
    if (c->blocked) s->n_blocked--;
    if (TAILQ_EMPTY(&g->claimers)) {
        TAILQ_REMOVE(&s->groups, g, link);
        claims_strs_free(g->caps, g->n_caps);
        free(g->by_id);
        free(g->key);
        free(g);
    }
}

void claims_held_each_of(struct claims *s, const char *agent_id, void (*fn)(struct claimer *c))
{
    struct claimer key = {.agent_id = (char *)agent_id, .hold_seq = 0}; /* below every hold */
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    {
        for (size_t i = group_lower(g, &key); i < g->n; i++) {
            if (strcmp(g->by_id[i]->agent_id, agent_id) != 0) break;
            fn(g->by_id[i]);
        }
    }
}

void claims_held_each(struct claims *s, void (*fn)(struct claimer *c))
{
    struct held_group *g;
    struct claimer *c;
    TAILQ_FOREACH(g, &s->groups, link)
    TAILQ_FOREACH(c, &g->claimers, link)
    fn(c);
}

static int by_agent_id(const void *a, const void *b)
{
    return claimer_cmp(*(struct claimer *const *)a, *(struct claimer *const *)b);
}

/* The untried claimers of groups gs (at most MAX_CANDIDATES in all), merged in by_id order. */
static size_t merge_sorted(struct held_group *const *gs, size_t ng, uint64_t gen,
                           struct claimer **out)
{
    size_t pos[MAX_MERGE] = {0}, n = 0;
    for (;;) {
        struct claimer *best = NULL;
        size_t bj = 0;
        for (size_t j = 0; j < ng; j++) {
            const struct held_group *g = gs[j];
            while (pos[j] < g->n &&
                   (g->by_id[pos[j]]->tried_gen == gen || g->by_id[pos[j]]->blocked))
                pos[j]++;
            if (pos[j] == g->n) continue;
            if (!best || claimer_cmp(g->by_id[pos[j]], best) < 0) {
                best = g->by_id[pos[j]];
                bj = j;
            }
        }
        if (!best) return n;
        out[n++] = best;
        pos[bj]++;
    }
}

/* More than MAX_CANDIDATES held (or many groups): the oldest untried ones, then sorted. */
static size_t oldest_sorted(struct claims *s, const char *const *req, uint32_t n_req, uint64_t gen,
                            struct claimer **out)
{
    size_t n = 0;
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    {
        if (!cp_caps_subset(req, n_req, (const char *const *)g->caps, g->n_caps)) continue;
        struct claimer *c;
        TAILQ_FOREACH(c, &g->claimers, link)
        {
            if (c->tried_gen == gen || c->blocked) continue;
            out[n++] = c;
            if (n == MAX_CANDIDATES) goto full; /* enough choice; the rest keep waiting */
        }
    }
full:
    qsort(out, n, sizeof *out, by_agent_id);
    return n;
}

size_t claims_held_candidates(struct claims *s, const char *const *req, uint32_t n_req,
                              uint64_t gen, struct claimer **out)
{
    struct held_group *gs[MAX_MERGE];
    size_t ng = 0, total = 0;
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    {
        if (!cp_caps_subset(req, n_req, (const char *const *)g->caps, g->n_caps)) continue;
        if (ng < MAX_MERGE) gs[ng] = g;
        ng++;
        total += g->n;
    }
    if (ng <= MAX_MERGE && total <= MAX_CANDIDATES) return merge_sorted(gs, ng, gen, out);
    return oldest_sorted(s, req, n_req, gen, out);
}

/* c->snap_strs: model, provider and metadata, each NUL-terminated, in one block. */
static char *snap_strings(const struct cp_agent_view *a, const char **model, const char **provider,
                          const char **metadata)
{
    const char *m = a && a->model ? a->model : "", *p = a && a->provider ? a->provider : "",
               *md = a && a->metadata_json ? a->metadata_json : "{}";
    size_t lm = strlen(m) + 1, lp = strlen(p) + 1, lmd = strlen(md) + 1;
    char *block = xmalloc(lm + lp + lmd);
    memcpy(block, m, lm);
    memcpy(block + lm, p, lp);
    memcpy(block + lm + lp, md, lmd);
    *model = block;
    *provider = block + lm;
    *metadata = block + lm + lp;
    return block;
}

void claims_snapshot(struct claimer *c, const struct cp_agent_view *a)
{
    struct cp_agent_view v = {0};
    if (a) {
        v = *a;
        v.health.error = NULL;
    } else {
        v.status = CP_AGENT_READY;
        v.max_concurrent_tasks = 1;
    }
    /* Strings point at our own copies or constants; the source is borrowed. Metadata is kept:
     * strategies match agents to a task by it (e.g. a region). */
    v.size = sizeof v;
    v.agent_id = c->agent_id;
    v.capabilities = (const char *const *)c->caps;
    v.n_capabilities = c->n_caps;
    char *old = c->snap_strs; /* freed after the copy: `a` may be borrowed from anywhere */
    c->snap_strs = snap_strings(a, &v.model, &v.provider, &v.metadata_json);
    free(old);
    v.health_probe_json = NULL;
    v.current_task_id = NULL;
    c->snap = v;
}

void claims_claimer_free(struct claimer *c)
{
    if (c->quota) c->s->n_quota--;
    if (c->timer) event_free(c->timer);
    if (c->recheck) event_free(c->recheck);
    if (c->hold_due) event_free(c->hold_due);
    free(c->snap_strs);
    claims_strs_free(c->caps, c->n_caps);
    free(c->agent_id);
    free(c);
}
