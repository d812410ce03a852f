/* memory_quota.c — provider quotas in the in-memory backend (ABI 2.4, cp/quota.h): the quota
 * records with their sliding windows, the claim's check and reservation (called from the claim
 * itself, so the two are one step), the release and settlement when a task leaves its holder,
 * the 429 pause and the AIMD cut of concurrency.
 *
 * Window: CP_QUOTA_WINDOW_S one-second buckets (the current second and the 60 before it) of
 * requests and tokens with running sums; a bucket is emptied when its second leaves the window.
 * Counting the current second whole keeps every sliding 60 s within the limit. A fleet has a
 * handful of quotas: they are a small array searched by id. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */

#define W CP_QUOTA_WINDOW_S

struct mem_quota {
    char *id;
    struct cp_quota_scope scope; /* strings owned */
    uint64_t rpm, tpm;
    uint32_t max_in_flight;
    int64_t head; /* the newest second accounted: the window is (head - W, head] */
    int64_t req[W], tok[W];
    int64_t req_sum, tok_sum;
    uint32_t in_flight;
    uint32_t limit;   /* the AIMD concurrency limit after a cut, 0: none */
    uint32_t ceiling; /* where a cut's growth ends (the limit is lifted) */
    int64_t paused_until;
    uint64_t rate_limited;
};

static int64_t sec_of(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : 0;
}

static void advance(struct mem_quota *q, int64_t now_sec)
{
    if (now_sec <= q->head) return;
    if (now_sec - q->head >= W) {
        memset(q->req, 0, sizeof q->req);
        memset(q->tok, 0, sizeof q->tok);
        q->req_sum = q->tok_sum = 0;
    } else {
        for (int64_t s = q->head + 1; s <= now_sec; s++) {
            int i = (int)(s % W);
            q->req_sum -= q->req[i];
            q->tok_sum -= q->tok[i];
            q->req[i] = q->tok[i] = 0;
        }
    }
    q->head = now_sec;
}

/* When the oldest use in the window leaves it (ms), or 0 when the window is empty. */
static int64_t next_room(const struct mem_quota *q)
{
    for (int64_t s = q->head - W + 1; s <= q->head; s++) {
        int i = (int)(((s % W) + W) % W);
        if (s >= 0 && (q->req[i] || q->tok[i])) return (s + W) * 1000;
    }
    return 0;
}

static uint32_t cap_of(const struct mem_quota *q)
{
    return q->limit ? q->limit : q->max_in_flight;
}

static struct mem_quota *quota_find(struct mem *m, const char *id, size_t *pos)
{
    for (size_t i = 0; id && i < m->n_quotas; i++) {
        if (strcmp(m->quotas[i]->id, id) == 0) {
            if (pos) *pos = i;
            return m->quotas[i];
        }
    }
    return NULL;
}

static int covers(const struct mem_quota *q, const struct mem_agent *a)
{
    return cp_quota_covers(&q->scope, a->provider ? a->provider->s : NULL, a->model, a->scopes,
                           a->n_scopes);
}

struct cp_quota_scope *mem_scopes_dup(const struct cp_quota_scope *in, uint32_t n, int *ok)
{
    *ok = 1;
    if (!in || n == 0) return NULL;
    size_t len = n * sizeof *in;
    for (uint32_t i = 0; i < n; i++) {
        const char *s[3] = {in[i].provider, in[i].model, in[i].key_id};
        for (int k = 0; k < 3; k++)
            len += s[k] ? strlen(s[k]) + 1 : 0;
    }
    struct cp_quota_scope *out = malloc(len);
    if (!out) {
        *ok = 0;
        return NULL;
    }
    char *p = (char *)(out + n);
    for (uint32_t i = 0; i < n; i++) {
        const char *s[3] = {in[i].provider, in[i].model, in[i].key_id};
        const char *d[3] = {NULL, NULL, NULL};
        for (int k = 0; k < 3; k++) {
            if (!s[k]) continue;
            size_t l = strlen(s[k]) + 1;
            memcpy(p, s[k], l);
            d[k] = p;
            p += l;
        }
        out[i] = (struct cp_quota_scope){d[0], d[1], d[2]};
    }
    return out;
}

/* A quota that blocks any claim now (before the task's tokens are known). */
static int blocks(struct mem_quota *q, int64_t now, int64_t *due)
{
    advance(q, sec_of(now));
    if (q->paused_until > now) {
        *due = q->paused_until;
        return 1;
    }
    uint32_t cap = cap_of(q);
    if (cap && q->in_flight >= cap) return 1; /* room comes back with a task leaving */
    if (q->rpm && (uint64_t)q->req_sum + 1 > q->rpm) {
        *due = next_room(q);
        return 1;
    }
    return 0;
}

int mem_quota_blocked(struct mem *m, const struct mem_agent *a, int64_t now, int64_t *due)
{
    int held = 0;
    int64_t d = 0;
    *due = 0;
    for (size_t i = 0; i < m->n_quotas; i++) {
        struct mem_quota *q = m->quotas[i];
        int64_t qd = 0;
        if (covers(q, a) && blocks(q, now, &qd)) {
            /* room needs every blocking quota: the latest of their times (one that waits for
             * a task to leave is rechecked when one does) */
            if (qd > d) d = qd;
            held = 1;
        }
    }
    *due = d;
    return held;
}

static int64_t task_tokens(const struct mem_task *t)
{
    return t->ext ? cp_quota_task_tokens(t->ext->est_in, t->ext->est_out) : 0;
}

int mem_quota_check(struct mem *m, const struct mem_agent *a, const struct mem_task *t, int64_t now,
                    int64_t *due)
{
    *due = 0;
    if (!t) return 0;
    int64_t need = task_tokens(t), d = 0;
    int held = 0;
    for (size_t i = 0; i < m->n_quotas; i++) {
        struct mem_quota *q = m->quotas[i];
        if (!q->tpm || !covers(q, a)) continue;
        advance(q, sec_of(now));
        /* a task larger than the whole tpm fits an empty window only (else it never would) */
        int fits = (uint64_t)(q->tok_sum + need) <= q->tpm || q->tok_sum == 0;
        if (!fits) {
            if (next_room(q) > d) d = next_room(q);
            held = 1;
        }
    }
    *due = d;
    return held;
}

void mem_quota_reserve(struct mem *m, const struct mem_agent *a, struct mem_task *t, int64_t now)
{
    int64_t need = task_tokens(t), sec = sec_of(now);
    size_t len = 0;
    for (size_t i = 0; i < m->n_quotas; i++)
        if (covers(m->quotas[i], a)) len += strlen(m->quotas[i]->id) + 1;
    if (t->ext) { /* a new attempt: its usage is reported afresh */
        t->ext->usage_set = 0;
        free(t->ext->qids);
        t->ext->qids = NULL;
        t->ext->qids_len = 0;
    }
    if (!len) return;
    struct mem_task_ext *x = mem_task_ext(t);
    char *ids = x ? malloc(len) : NULL;
    if (!ids) return; /* out of memory: the claim goes on unreserved (best effort) */
    size_t off = 0;
    for (size_t i = 0; i < m->n_quotas; i++) {
        struct mem_quota *q = m->quotas[i];
        if (!covers(q, a)) continue;
        advance(q, sec);
        int b = (int)(sec % W);
        q->req[b]++, q->req_sum++;
        q->tok[b] += need, q->tok_sum += need;
        q->in_flight++;
        size_t l = strlen(q->id) + 1;
        memcpy(ids + off, q->id, l);
        off += l;
    }
    x->qids = ids;
    x->qids_len = len;
    x->q_tokens = need;
    x->q_sec = sec;
}

/* Call fn on each quota t's claim reserved on that still exists. */
static void each_reserved(struct mem *m, const struct mem_task *t,
                          void (*fn)(struct mem_quota *q, const struct mem_task *t, void *arg),
                          void *arg)
{
    if (!t->ext || !t->ext->qids) return;
    for (size_t off = 0; off < t->ext->qids_len;) {
        const char *id = t->ext->qids + off;
        struct mem_quota *q = quota_find(m, id, NULL);
        if (q) fn(q, t, arg);
        off += strlen(id) + 1;
    }
}

static void release_one(struct mem_quota *q, const struct mem_task *t, void *arg)
{
    (void)arg;
    const struct mem_task_ext *x = t->ext;
    if (q->in_flight) q->in_flight--;
    if (!x->usage_set) return;
    /* settle: the reservation's bucket, while still in the window, holds the real use */
    if (x->q_sec > q->head - W && x->q_sec <= q->head) {
        int b = (int)(x->q_sec % W);
        int64_t delta = x->usage_in + x->usage_out - x->q_tokens;
        if (q->tok[b] + delta < 0) delta = -q->tok[b];
        q->tok[b] += delta, q->tok_sum += delta;
    }
}

void mem_quota_release(struct mem *m, struct mem_task *t)
{
    if (!t->ext || !t->ext->qids) return;
    each_reserved(m, t, release_one, NULL);
    /* the ids stay until the next claim: a 429 reported with this release still finds them;
     * q_sec = -W marks the reservation settled */
    t->ext->q_sec = -W;
}

static void grow_one(struct mem_quota *q, const struct mem_task *t, void *arg)
{
    (void)t, (void)arg;
    if (!q->limit) return;
    if (++q->limit >= q->ceiling) q->limit = 0; /* back where it was: the cut ends */
}

void mem_quota_success(struct mem *m, const struct mem_task *t)
{
    each_reserved(m, t, grow_one, NULL);
}

struct limited {
    int64_t until;
    int took;
};

static void limit_one(struct mem_quota *q, const struct mem_task *t, void *arg)
{
    (void)t;
    struct limited *l = arg;
    q->rate_limited++;
    l->took = 1;
    if (l->until) {
        if (l->until > q->paused_until) q->paused_until = l->until;
        return;
    }
    /* no retry time: half the concurrency it had (its cap, else what it had in flight before
     * this task left), grown back one per completion (mem_quota_success) */
    uint32_t had = cap_of(q) ? cap_of(q) : q->in_flight + 1;
    if (!q->limit) q->ceiling = q->max_in_flight ? q->max_in_flight : had;
    q->limit = had / 2 ? had / 2 : 1;
    if (q->limit >= q->ceiling) q->limit = 0;
}

int mem_quota_rate_limited(struct mem *m, struct mem_task *t, int64_t retry_after_ms, int64_t now)
{
    struct limited l = {retry_after_ms > 0 ? now + retry_after_ms : 0, 0};
    each_reserved(m, t, limit_one, &l);
    return l.took;
}

/* ---- the ops --------------------------------------------------------------------------------- */

static void quota_free(struct mem_quota *q)
{
    if (!q) return;
    free(q->id);
    free((char *)q->scope.provider);
    free((char *)q->scope.model);
    free((char *)q->scope.key_id);
    free(q);
}

void mem_quotas_free(struct mem *m)
{
    for (size_t i = 0; i < m->n_quotas; i++)
        quota_free(m->quotas[i]);
    free(m->quotas);
    m->quotas = NULL;
    m->n_quotas = m->cap_quotas = 0;
}

static void view_of(const struct mem_quota *q, struct cp_quota_view *v)
{
    memset(v, 0, sizeof *v);
    v->size = sizeof *v;
    v->id = q->id;
    v->scope = q->scope;
    v->rpm = q->rpm;
    v->tpm = q->tpm;
    v->max_in_flight = q->max_in_flight;
    v->requests_used = (uint64_t)(q->req_sum > 0 ? q->req_sum : 0);
    v->tokens_used = (uint64_t)(q->tok_sum > 0 ? q->tok_sum : 0);
    v->in_flight = q->in_flight;
    v->concurrency_limit = q->limit;
    v->paused_until_ms = q->paused_until;
    v->next_room_ms = next_room(q);
    v->rate_limited = q->rate_limited;
}

static void reply_quotas(cp_storage_cb cb, void *cookie, struct mem_quota *const *qs, size_t n,
                         int created)
{
    struct cp_quota_view *views = n ? calloc(n, sizeof *views) : NULL;
    const struct cp_quota_view **ptrs = n ? calloc(n, sizeof *ptrs) : NULL;
    if (n && (!views || !ptrs)) {
        free(views);
        free(ptrs);
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        view_of(qs[i], &views[i]);
        ptrs[i] = &views[i];
    }
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.created = created;
    res.quotas = ptrs;
    res.n_quotas = n;
    res.total = n;
    cb(cookie, &res);
    free(views);
    free(ptrs);
}

static char *dup_or_null(const char *s, int *ok)
{
    if (!s) return NULL;
    char *d = mem_strdup(s);
    if (!d) *ok = 0;
    return d;
}

void mem_op_quota_put(void *st, const struct cp_quota_view *in, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    if (!in || !in->id || !in->id[0] || !in->scope.provider || !in->scope.provider[0]) {
        mem_reply_err(cb, cookie, CP_ERR_INVALID, "a quota needs id and scope.provider");
        mem_leave(m);
        return;
    }
    int ok = 1;
    struct cp_quota_scope sc = {dup_or_null(in->scope.provider, &ok),
                                dup_or_null(in->scope.model, &ok),
                                dup_or_null(in->scope.key_id, &ok)};
    struct mem_quota *q = quota_find(m, in->id, NULL);
    int created = !q;
    if (ok && created) {
        if (m->n_quotas == m->cap_quotas) {
            size_t cap = m->cap_quotas ? m->cap_quotas * 2 : 4;
            struct mem_quota **v = realloc(m->quotas, cap * sizeof *v);
            if (v) m->quotas = v, m->cap_quotas = cap;
        }
        q = m->n_quotas < m->cap_quotas ? calloc(1, sizeof *q) : NULL;
        if (q && !(q->id = mem_strdup(in->id))) {
            free(q);
            q = NULL;
        }
        if (q) m->quotas[m->n_quotas++] = q;
    }
    if (!ok || !q) {
        free((char *)sc.provider), free((char *)sc.model), free((char *)sc.key_id);
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
        mem_leave(m);
        return;
    }
    /* views of an earlier answer are gone by now (answers are copied by the caller) */
    free((char *)q->scope.provider), free((char *)q->scope.model), free((char *)q->scope.key_id);
    q->scope = sc;
    q->rpm = in->rpm;
    q->tpm = in->tpm;
    q->max_in_flight = in->max_in_flight;
    if (q->limit && q->max_in_flight && q->limit >= q->max_in_flight) q->limit = 0;
    reply_quotas(cb, cookie, &q, 1, created);
    mem_leave(m);
}

void mem_op_quota_delete(void *st, const char *quota_id, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    size_t pos;
    struct mem_quota *q = quota_find(m, quota_id, &pos);
    if (!q) {
        mem_reply_err(cb, cookie, CP_ERR_NOT_FOUND, "quota not found");
    } else {
        memmove(m->quotas + pos, m->quotas + pos + 1, (m->n_quotas - pos - 1) * sizeof *m->quotas);
        m->n_quotas--;
        quota_free(q);
        struct cp_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        cb(cookie, &res);
    }
    mem_leave(m);
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(struct mem_quota *const *)a)->id, (*(struct mem_quota *const *)b)->id);
}

void mem_op_quota_list(void *st, int64_t now_ms, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    for (size_t i = 0; i < m->n_quotas; i++)
        advance(m->quotas[i], sec_of(now_ms));
    if (m->n_quotas > 1) qsort(m->quotas, m->n_quotas, sizeof *m->quotas, by_id);
    reply_quotas(cb, cookie, m->quotas, m->n_quotas, 0);
    mem_leave(m);
}

#endif
