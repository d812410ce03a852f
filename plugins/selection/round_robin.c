/* round_robin.c — selection strategy: cycle through the candidates by agent_id (docs/api.md).
 *
 * One cursor per capability set (ctx->capability_key) remembers the agent_id chosen last; the
 * next pick is the first candidate whose id sorts after it, wrapping to the smallest. Keeping an
 * id rather than an index means N calls over N agents return each exactly once even when the
 * list changes between calls (an agent joins, leaves or is busy for one call). At most
 * RR_MAX_KEYS cursors are kept, the least recently used forgotten beyond that. Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include <cp/selection.h>

#define RR_MAX_KEYS 4096
#define RR_BUCKETS 8192 /* power of two */

struct rr_link {
    struct rr_link *older, *newer; /* LRU ring through a sentinel: no empty-list branches */
};

struct rr_cursor {
    struct rr_link lru;      /* first member: a link is its cursor */
    struct rr_cursor *hnext; /* hash-bucket chain */
    char *last_id;           /* owned copy of the id chosen last */
    char key[];
};

struct rr_state {
    struct rr_cursor *buckets[RR_BUCKETS];
    struct rr_link lru; /* lru.newer is the oldest cursor, lru.older the newest */
    size_t n;
};

static size_t rr_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h & (RR_BUCKETS - 1));
}

static void rr_unlink(struct rr_link *l)
{
    l->older->newer = l->newer;
    l->newer->older = l->older;
}

/* Links c (unlinked) at the most recently used end. */
static void rr_link_newest(struct rr_state *st, struct rr_cursor *c)
{
    struct rr_link *l = &c->lru;
    l->older = st->lru.older;
    l->newer = &st->lru;
    st->lru.older->newer = l;
    st->lru.older = l;
}

static void rr_evict_oldest(struct rr_state *st)
{
    struct rr_cursor *c = (struct rr_cursor *)st->lru.newer;
    struct rr_cursor **pp = &st->buckets[rr_hash(c->key)];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    rr_unlink(&c->lru);
    free(c->last_id);
    free(c);
    st->n--;
}

/* The cursor for `key`, made most recently used; created when absent. NULL only on ENOMEM. */
static struct rr_cursor *rr_cursor_get(struct rr_state *st, const char *key)
{
    size_t b = rr_hash(key);
    for (struct rr_cursor *c = st->buckets[b]; c; c = c->hnext) {
        if (strcmp(c->key, key) != 0) continue;
        rr_unlink(&c->lru);
        rr_link_newest(st, c);
        return c;
    }
    size_t len = strlen(key);
    struct rr_cursor *c = calloc(1, sizeof(*c) + len + 1);
    if (!c) return NULL;
    memcpy(c->key, key, len + 1);
    if (st->n >= RR_MAX_KEYS) rr_evict_oldest(st);
    c->hnext = st->buckets[b];
    st->buckets[b] = c;
    rr_link_newest(st, c);
    st->n++;
    return c;
}

static int rr_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    (void)host;
    struct rr_state *st = calloc(1, sizeof(*st));
    if (!st) {
        strcpy(err->msg, "round_robin: out of memory");
        return CP_ERR_NOMEM;
    }
    st->lru.older = st->lru.newer = &st->lru;
    *state = st;
    return 0;
}

static void rr_destroy(void *state)
{
    struct rr_state *st = state;
    if (!st) return;
    while (st->n)
        rr_evict_oldest(st);
    free(st);
}

static int rr_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                     const struct cp_selection_ctx *ctx)
{
    struct rr_state *st = state;
    if (!st || !candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    const char *key = ctx && ctx->capability_key ? ctx->capability_key : "";
    struct rr_cursor *c = rr_cursor_get(st, key);

    /* Does not rely on the list being sorted: smallest id after the cursor, else smallest. */
    size_t first = 0, next = n;
    for (size_t i = 0; i < n; i++) {
        const char *id = candidates[i]->agent_id;
        if (strcmp(id, candidates[first]->agent_id) < 0) first = i;
        if (c && c->last_id && strcmp(id, c->last_id) > 0 &&
            (next == n || strcmp(id, candidates[next]->agent_id) < 0))
            next = i;
    }
    size_t pick = next < n ? next : first;

    /* Out of memory only costs fairness (the cursor stays), never the answer. */
    char *copy = c ? strdup(candidates[pick]->agent_id) : NULL;
    if (copy) {
        free(c->last_id);
        c->last_id = copy;
    }
    return (int)pick;
}

static const struct cp_selection_ops rr_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = rr_create,
    .destroy = rr_destroy,
    .select = rr_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "round_robin", "1.0", &rr_ops);
