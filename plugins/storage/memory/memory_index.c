/* memory_index.c — the in-memory backend's indexes: pending bands per capability set (the
 * claim path), the min-heaps of deadlines (claimed tasks by deadline, waiting tasks by
 * not_before), and the lists ordered by deadline (agents by last_heartbeat, terminal tasks by
 * completed_at) plus every task by created_at.
 *
 * Lists are kept sorted by inserting from the end the key normally lands at: time only grows
 * in practice, so each insert is O(1); a clock stepping back costs a short walk, never a wrong
 * order. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

int mem_deadline_passed(int64_t base, int64_t delta, int64_t now)
{
    int64_t at;
    if (delta < 0) return 0;
    if (__builtin_add_overflow(base, delta, &at)) return 0;
    return at <= now;
}

/* ---- pending bands -------------------------------------------------------------------------- */

/* (pending_since, seq) of a before b. */
static int pending_before(const struct mem_task *a, const struct mem_task *b)
{
    if (a->pending_since != b->pending_since) return a->pending_since < b->pending_since;
    return a->seq < b->seq;
}

static void band_link_after(struct mem_band *b, struct mem_task *after, struct mem_task *t)
{
    t->prev = after;
    t->next = after ? after->next : b->head;
    if (t->next)
        t->next->prev = t;
    else
        b->tail = t;
    if (after)
        after->next = t;
    else
        b->head = t;
}

void mem_pending_insert(struct mem *m, struct mem_task *t, int front)
{
    struct mem_capset *cs = t->caps;
    struct mem_band *b = &cs->bands[t->priority];
    struct mem_task *after;
    if (front) {
        struct mem_task *cur = b->head;
        after = NULL;
        while (cur && pending_before(cur, t)) {
            after = cur;
            cur = cur->next;
        }
    } else {
        t->seq = ++m->seq;
        after = b->tail;
        while (after && after->pending_since > t->pending_since)
            after = after->prev;
    }
    band_link_after(b, after, t);
    mem_tenant_waiting(m, cs->tenant, t->priority, 1);
    if (cs->n_pending++ == 0) {
        cs->prev = NULL;
        cs->next = m->active;
        if (m->active) m->active->prev = cs;
        m->active = cs;
    }
}

void mem_pending_enqueue(struct mem *m, struct mem_task *t, int64_t now)
{
    if (t->not_before > now && m->waiting.n < m->waiting.cap) {
        t->waiting = 1;
        t->pending_since = t->not_before;
        mem_theap_push(&m->waiting, t);
        return;
    }
    t->waiting = 0;
    mem_pending_insert(m, t, 0);
}

void mem_pending_remove(struct mem *m, struct mem_task *t)
{
    mem_hold_drop(m, t); /* an affinity hold ends when its task leaves pending */
    if (t->waiting) {
        mem_theap_remove(&m->waiting, t);
        t->waiting = 0;
        return;
    }
    struct mem_capset *cs = t->caps;
    struct mem_band *b = &cs->bands[t->priority];
    if (t->prev)
        t->prev->next = t->next;
    else
        b->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        b->tail = t->prev;
    t->prev = t->next = NULL;
    mem_tenant_waiting(m, cs->tenant, t->priority, -1);
    if (--cs->n_pending == 0) {
        if (cs->prev)
            cs->prev->next = cs->next;
        else
            m->active = cs->next;
        if (cs->next) cs->next->prev = cs->prev;
        cs->prev = cs->next = NULL;
    }
}

static int passed_over(const struct mem_task *t, const struct mem_name *agent, int64_t now)
{
    return agent && t->passed_over == agent && now < t->passed_over_until;
}

struct mem_task *mem_pending_best(struct mem *m, const char *const *have, uint32_t n_have,
                                  const struct mem_name *agent, int64_t now, int64_t aging_ms)
{
    /* Visit only the (set, tenant) queues with pending tasks, skipping tenants at their
     * max_in_flight; within a matching queue look at band heads from the most urgent band
     * down to the best band found so far (one further with aging: an aged head counts one
     * band up). Tasks passed over for this agent are stepped over (they are few: only its own
     * recent failures). Among heads of the same effective band, memory_tenants.c decides. */
    struct mem_task *best = NULL;
    int best_band = CP_PRIORITY_COUNT - 1, reach = aging_ms > 0 ? 1 : 0;
    for (struct mem_capset *cs = m->active; cs; cs = cs->next) {
        if (cs->n > n_have || !cp_caps_subset(cs->caps, cs->n, have, n_have)) continue;
        if (mem_tenant_full(cs->tenant)) continue;
        for (int p = 0; p < CP_PRIORITY_COUNT && p <= best_band + reach; p++) {
            struct mem_task *t = cs->bands[p].head;
            while (t && (passed_over(t, agent, now) || mem_hold_skips(m, t, agent, now)))
                t = t->next;
            if (!t) continue;
            int band = p;
            if (reach && p > 0 && mem_deadline_passed(t->pending_since, aging_ms, now)) band--;
            if (!best || mem_tenant_before(t, band, best, best_band)) {
                best = t;
                best_band = band;
            }
        }
    }
    if (best) best->charged_band = (uint8_t)best_band; /* where its claim would be charged */
    return best;
}

/* ---- min-heaps of tasks by a deadline ------------------------------------------------------ */

int64_t mem_task_deadline(const struct mem_task *t)
{
    return t->deadline;
}

static int64_t key_of(const struct mem_theap *h, const struct mem_task *t)
{
    return h->by_not_before ? t->not_before : t->deadline;
}

int mem_theap_reserve(struct mem_theap *h)
{
    if (h->n < h->cap) return 0;
    size_t cap = h->cap ? h->cap * 2 : 64;
    struct mem_task **v = realloc(h->v, cap * sizeof *v);
    if (!v) return CP_ERR_NOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

static void heap_set(struct mem_theap *h, size_t i, struct mem_task *t)
{
    h->v[i] = t;
    t->heap_idx = (uint32_t)i;
}

static void sift_up(struct mem_theap *h, size_t i)
{
    struct mem_task *t = h->v[i];
    int64_t d = key_of(h, t);
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (key_of(h, h->v[parent]) <= d) break;
        heap_set(h, i, h->v[parent]);
        i = parent;
    }
    heap_set(h, i, t);
}

static void sift_down(struct mem_theap *h, size_t i)
{
    struct mem_task *t = h->v[i];
    int64_t d = key_of(h, t);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && key_of(h, h->v[c + 1]) < key_of(h, h->v[c])) c++;
        if (key_of(h, h->v[c]) >= d) break;
        heap_set(h, i, h->v[c]);
        i = c;
    }
    heap_set(h, i, t);
}

void mem_theap_push(struct mem_theap *h, struct mem_task *t)
{
    /* A claimed task without a deadline never times out: it stays off mem.timeouts. The caller
     * ran mem_theap_reserve() first. */
    if ((!h->by_not_before && t->deadline <= 0) || h->n >= h->cap) return;
    h->v[h->n] = t;
    t->heap_idx = (uint32_t)h->n;
    h->n++;
    sift_up(h, t->heap_idx);
}

static int in_heap(const struct mem_theap *h, const struct mem_task *t)
{
    size_t i = t->heap_idx;
    return i != MEM_NO_HEAP && i < h->n && h->v[i] == t;
}

void mem_theap_remove(struct mem_theap *h, struct mem_task *t)
{
    if (!in_heap(h, t)) return;
    size_t i = t->heap_idx;
    t->heap_idx = MEM_NO_HEAP;
    struct mem_task *last = h->v[--h->n];
    if (i == h->n) return;
    heap_set(h, i, last);
    sift_up(h, i);
    sift_down(h, last->heap_idx);
}

void mem_theap_update(struct mem_theap *h, struct mem_task *t)
{
    if (!in_heap(h, t)) return;
    sift_up(h, t->heap_idx);
    sift_down(h, t->heap_idx);
}

struct mem_task *mem_theap_top(const struct mem_theap *h)
{
    return h->n ? h->v[0] : NULL;
}

void mem_theap_free(struct mem_theap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

/* ---- terminal tasks by completed_at, every task by created_at ------------------------------ */

void mem_done_insert(struct mem *m, struct mem_task *t)
{
    struct mem_task *after = m->done_tail;
    while (after && after->completed_at > t->completed_at)
        after = after->prev;
    t->prev = after;
    t->next = after ? after->next : m->done_head;
    if (t->next)
        t->next->prev = t;
    else
        m->done_tail = t;
    if (after)
        after->next = t;
    else
        m->done_head = t;
}

void mem_done_remove(struct mem *m, struct mem_task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        m->done_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        m->done_tail = t->prev;
    t->prev = t->next = NULL;
}

void mem_all_insert(struct mem *m, struct mem_task *t)
{
    struct mem_task *after = m->all_tail;
    while (after && after->created_at > t->created_at)
        after = after->cprev;
    t->cprev = after;
    t->cnext = after ? after->cnext : m->all_head;
    if (t->cnext)
        t->cnext->cprev = t;
    else
        m->all_tail = t;
    if (after)
        after->cnext = t;
    else
        m->all_head = t;
}

void mem_all_remove(struct mem *m, struct mem_task *t)
{
    if (t->cprev)
        t->cprev->cnext = t->cnext;
    else
        m->all_head = t->cnext;
    if (t->cnext)
        t->cnext->cprev = t->cprev;
    else
        m->all_tail = t->cprev;
    t->cprev = t->cnext = NULL;
}

/* ---- agents by last_heartbeat --------------------------------------------------------------- */

static struct mem_agent_list *list_of(struct mem *m, const struct mem_agent *a)
{
    return a->status == CP_AGENT_OFFLINE ? &m->offline : &m->live;
}

void mem_agent_link(struct mem *m, struct mem_agent *a)
{
    struct mem_agent_list *l = list_of(m, a);
    struct mem_agent *after = l->tail;
    while (after && after->last_heartbeat > a->last_heartbeat)
        after = after->prev;
    a->prev = after;
    a->next = after ? after->next : l->head;
    if (a->next)
        a->next->prev = a;
    else
        l->tail = a;
    if (after)
        after->next = a;
    else
        l->head = a;
}

void mem_agent_unlink(struct mem *m, struct mem_agent *a)
{
    struct mem_agent_list *l = list_of(m, a);
    if (a->prev)
        a->prev->next = a->next;
    else
        l->head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        l->tail = a->prev;
    a->prev = a->next = NULL;
}
