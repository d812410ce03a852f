/* claims.c — held claims (long poll) and the wake-ups that hand them new tasks.
 *
 * A held claim is a claimer that found nothing. Held claims are grouped by capability set, so
 * offering a task costs one subset test per distinct set, not one per claimer. When a task
 * becomes pending, up to 64 held claimers whose capabilities cover it (oldest first) are the
 * candidates, in agent_id order (each group also keeps its claimers sorted, so that order costs
 * no sort while the candidates are at most 64); the task's strategy picks one, which then claims
 * through the store like any claim — the store stays the only arbiter, so nothing is handed out
 * twice.
 *
 * A wake-up ends as soon as its task is placed. It tries another candidate only when the task
 * may still be pending: the chosen claimer got a different task, could not claim at all, or got
 * nothing while passed over for the task (or with its pass-over unknown: then the store is asked
 * first). An empty claim by a claimer that could claim and is not passed over proves the task
 * gone: that claim was sent after the task became pending. Each claimer is tried once per
 * wake-up.
 *
 * Claims in flight (not held, so not offered) may have been evaluated before the task became
 * pending. Such a claimer comes back empty either while the wake-up still runs — it is held again
 * and is a candidate of the wake-up's next step — or after the wake-up ended. The latter matters
 * only when the wake-up ended without placing its task (no candidate left): then claims_missed()
 * makes the matching claims in flight claim once more, and moves pending_seq for the claims the
 * HTTP layer has in flight (sched_hold_claim re-checks). A wake-up that placed its task, or saw
 * it gone, leaves them alone.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "metrics.h"
#include "scheduler_internal.h"
#include "selection.h"

#define MAX_CANDIDATES 64
#define MAX_MERGE 8 /* groups merged in order; more matching groups: collect, then sort */

enum { CLAIMER_HELD = 1, CLAIMER_CLAIMING };

/* One wake-up, shared by the claims it starts; `gen` marks the claimers already tried. */
struct wake {
    struct scheduler *s;
    int refs;
    uint64_t gen;
    char *task_id; /* NULL: a re-check of one claimer, no task to place */
    char **req;
    uint32_t n_req;
    char *strategy;
    int po_known; /* the task's pass-over below is known (else an empty claim proves nothing) */
    char *po_agent;
    int64_t po_until;
};

/* The held claimers with one capability set. */
struct held_group {
    TAILQ_ENTRY(held_group) link;
    char *key; /* the set as "a,b" */
    char **caps;
    uint32_t n_caps;
    TAILQ_HEAD(, claimer) claimers; /* oldest first */
    struct claimer **by_id;         /* the same, by (agent_id, hold order) */
    size_t n, cap;
};

struct claimer {
    TAILQ_ENTRY(claimer) link; /* in group->claimers while HELD, s->claiming while CLAIMING */
    struct scheduler *s;
    struct held_group *group; /* while HELD */
    int state;
    int expired, gone;
    char *agent_id;
    char **caps;
    uint32_t n_caps;
    struct cp_agent_view snap; /* the agent as last seen, for strategies */
    struct event *timer;
    struct event *recheck; /* one-shot (see sched_hold_claim) */
    claim_deliver_cb cb;
    void *cookie;
    int64_t arrived_ms;
    int64_t claim_ms;  /* now_ms of its last store claim (the pass-over test) */
    uint64_t hold_seq; /* order of its last hold: ties in by_id */
    uint64_t tried_gen;
    int missed;        /* a wake-up ended unplaced while its claim was in flight */
    struct wake *wake; /* while CLAIMING */
};

static char **copy_strs(const char *const *src, uint32_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (uint32_t i = 0; i < n; i++)
        out[i] = strdup(src[i]);
    return out;
}

static void free_strs(char **v, uint32_t n)
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
    char *s = malloc(len), *p = s;
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

static void held_add(struct scheduler *s, struct claimer *c)
{
    char *key = join(c->caps, c->n_caps);
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    if (strcmp(g->key, key) == 0) break;
    if (!g) {
        g = calloc(1, sizeof *g);
        g->key = key;
        g->caps = copy_strs((const char *const *)c->caps, c->n_caps);
        g->n_caps = c->n_caps;
        TAILQ_INIT(&g->claimers);
        TAILQ_INSERT_TAIL(&s->groups, g, link);
    } else {
        free(key);
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        struct claimer **by_id = realloc(g->by_id, cap * sizeof *by_id);
        if (!by_id) {
            log_error("held claims: out of memory");
            abort();
        }
        g->by_id = by_id;
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
}

static void held_remove(struct scheduler *s, struct claimer *c)
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
    if (TAILQ_EMPTY(&g->claimers)) {
        TAILQ_REMOVE(&s->groups, g, link);
        free_strs(g->caps, g->n_caps);
        free(g->by_id);
        free(g->key);
        free(g);
    }
}

int claims_idle(const struct scheduler *s)
{
    return s->n_held == 0 && TAILQ_EMPTY(&s->claiming);
}

uint64_t sched_pending_seq(const struct scheduler *s)
{
    return s->pending_seq;
}

size_t sched_held_count(const struct scheduler *s)
{
    return s->n_held;
}

static void claimer_snapshot(struct claimer *c, const struct cp_agent_view *a)
{
    struct cp_agent_view v = {0};
    if (a) {
        v = *a;
        v.health.error = NULL;
    } else {
        v.status = CP_AGENT_READY;
        v.max_concurrent_tasks = 1;
    }
    /* Strings point at our own copies or constants; the source is borrowed. */
    v.size = sizeof v;
    v.agent_id = c->agent_id;
    v.capabilities = (const char *const *)c->caps;
    v.n_capabilities = c->n_caps;
    v.model = v.provider = "";
    v.metadata_json = "{}";
    v.health_probe_json = NULL;
    v.current_task_id = NULL;
    c->snap = v;
}

static void claimer_free(struct claimer *c)
{
    if (c->timer) event_free(c->timer);
    if (c->recheck) event_free(c->recheck);
    free_strs(c->caps, c->n_caps);
    free(c->agent_id);
    free(c);
}

/* Answer the claim (res NULL: no task) and forget it. */
static void deliver(struct claimer *c, const struct cp_result *res)
{
    struct cp_result none = {.size = sizeof none};
    claim_deliver_cb cb = c->cb;
    void *cookie = c->cookie;
    if (c->state == CLAIMER_HELD) held_remove(c->s, c);
    claimer_free(c);
    cb(cookie, res ? res : &none);
}

/* ---- wake-ups ---- */

static struct wake *wake_new(struct scheduler *s, const char *task_id, const char *const *req,
                             uint32_t n_req, const char *strategy)
{
    struct wake *w = calloc(1, sizeof *w);
    w->s = s;
    w->refs = 1;
    w->gen = ++s->next_gen;
    w->task_id = task_id ? strdup(task_id) : NULL;
    w->req = copy_strs(req, n_req);
    w->n_req = n_req;
    w->strategy = strategy ? strdup(strategy) : NULL;
    return w;
}

static void wake_set_pass_over(struct wake *w, const struct cp_task_view *t)
{
    free(w->po_agent);
    w->po_known = 1;
    w->po_agent = t->passed_over_agent ? strdup(t->passed_over_agent) : NULL;
    w->po_until = t->passed_over_until_ms;
}

static void wake_unref(struct wake *w)
{
    if (--w->refs > 0) return;
    free(w->task_id);
    free_strs(w->req, w->n_req);
    free(w->strategy);
    free(w->po_agent);
    free(w);
}

void claims_missed(struct scheduler *s, const char *const *req, uint32_t n_req)
{
    s->pending_seq++;
    struct claimer *c;
    TAILQ_FOREACH(c, &s->claiming, link)
    if (!c->missed && cp_caps_subset(req, n_req, (const char *const *)c->caps, c->n_caps))
        c->missed = 1;
}

static void wake_run(struct scheduler *s, struct wake *w);

static void on_trigger_checked(void *cookie, const struct cp_result *res)
{
    struct wake *w = cookie;
    if (res->rc < 0) {
        claims_missed(w->s, (const char *const *)w->req, w->n_req); /* unknown: re-check */
    } else if (res->task && res->task->status == CP_TASK_PENDING) {
        wake_set_pass_over(w, res->task);
        wake_run(w->s, w);
    }
    wake_unref(w);
}

/* The task may still be pending: ask the store before trying the next candidate. */
static void wake_continue_if_pending(struct scheduler *s, struct wake *w)
{
    w->refs++;
    CORE_STORE(s->core, task_get, w->task_id, on_trigger_checked, w);
}

enum { STEP_DONE, STEP_RUN, STEP_CHECK };

/* What claimer c's result says about w's task: placed or gone (DONE), surely not looked at or
 * passed by (RUN: next candidate), or unknown (CHECK: ask the store). */
static int wake_step_after(const struct wake *w, const struct claimer *c,
                           const struct cp_result *res)
{
    if (!w->task_id) return STEP_DONE;
    if (res->rc < 0) return STEP_CHECK;
    if (res->task) return strcmp(res->task->id, w->task_id) == 0 ? STEP_DONE : STEP_RUN;
    if (!res->agent) return STEP_CHECK;
    if (!cp_agent_may_claim(res->agent, c->claim_ms)) return STEP_RUN; /* it did not look */
    if (!w->po_known) return STEP_CHECK;
    if (w->po_agent && strcmp(w->po_agent, c->agent_id) == 0 && c->claim_ms < w->po_until)
        return STEP_CHECK; /* passed over: the task may well be pending still */
    return STEP_DONE;      /* it looked after the task became pending: someone has it */
}

static void wake_step(struct scheduler *s, struct wake *w, int step)
{
    if (step == STEP_RUN)
        wake_run(s, w);
    else if (step == STEP_CHECK)
        wake_continue_if_pending(s, w);
}

static void on_wake_claim(void *cookie, const struct cp_result *res);

/* Send the store claim for claimer c on behalf of wake w (c is out of the held set). */
static void claim_for(struct scheduler *s, struct claimer *c, struct wake *w)
{
    c->state = CLAIMER_CLAIMING;
    c->wake = w;
    w->refs++;
    c->missed = 0;
    c->claim_ms = clock_now_ms();
    TAILQ_INSERT_TAIL(&s->claiming, c, link);
    struct cp_claim claim = {c->agent_id, (const char *const *)c->caps, c->n_caps, c->claim_ms};
    CORE_STORE(s->core, task_claim, &claim, on_wake_claim, c);
}

static void on_wake_claim(void *cookie, const struct cp_result *res)
{
    struct claimer *c = cookie;
    struct scheduler *s = c->s;
    struct wake *w = c->wake;
    c->wake = NULL;
    TAILQ_REMOVE(&s->claiming, c, link);
    const struct cp_task_view *got = res->rc == 0 ? res->task : NULL;
    int step = wake_step_after(w, c, res);
    if (c->gone) {
        if (got) sched_release(s, got->id, c->agent_id, got->attempt); /* wakes for it again */
        claimer_free(c);
    } else if (got) {
        metrics_claim_wait((double)(clock_now_ms() - c->arrived_ms) / 1000.0);
        deliver(c, res);
    } else {
        c->tried_gen = w->gen;
        if (res->rc < 0) log_warn("held claim of %s: storage error %d", c->agent_id, res->rc);
        if (res->agent) claimer_snapshot(c, res->agent);
        if (c->expired || res->rc < 0 ||
            (res->agent && !cp_agent_may_claim(res->agent, clock_now_ms()))) {
            deliver(c, NULL);
        } else if (c->missed) {
            /* A wake-up ended unplaced while this claim was in flight: its task may be pending
             * unseen by this claim. Claim again (this claim carries w's next step). */
            claim_for(s, c, w);
            wake_unref(w);
            return;
        } else {
            held_add(s, c);
        }
    }
    wake_step(s, w, step);
    wake_unref(w);
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
            while (pos[j] < g->n && g->by_id[pos[j]]->tried_gen == gen)
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
static size_t oldest_sorted(struct scheduler *s, const struct wake *w, struct claimer **out)
{
    size_t n = 0;
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    {
        if (!cp_caps_subset((const char *const *)w->req, w->n_req, (const char *const *)g->caps,
                            g->n_caps))
            continue;
        struct claimer *c;
        TAILQ_FOREACH(c, &g->claimers, link)
        {
            if (c->tried_gen == w->gen) continue;
            out[n++] = c;
            if (n == MAX_CANDIDATES) goto full; /* enough choice; the rest keep waiting */
        }
    }
full:
    qsort(out, n, sizeof *out, by_agent_id);
    return n;
}

static void wake_run(struct scheduler *s, struct wake *w)
{
    struct claimer *cands[MAX_CANDIDATES];
    struct held_group *gs[MAX_MERGE];
    size_t n, ng = 0, total = 0;
    struct held_group *g;
    TAILQ_FOREACH(g, &s->groups, link)
    {
        if (!cp_caps_subset((const char *const *)w->req, w->n_req, (const char *const *)g->caps,
                            g->n_caps))
            continue;
        if (ng < MAX_MERGE) gs[ng] = g;
        ng++;
        total += g->n;
    }
    /* Strategies expect candidates sorted by agent_id. */
    if (ng <= MAX_MERGE && total <= MAX_CANDIDATES)
        n = merge_sorted(gs, ng, w->gen, cands);
    else
        n = oldest_sorted(s, w, cands);
    if (n == 0) {
        claims_missed(s, (const char *const *)w->req, w->n_req); /* ends unplaced */
        return;
    }
    const struct cp_agent_view *views[MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++)
        views[i] = &cands[i]->snap;
    size_t idx = selection_pick(s->core, core_strategy(s->core, w->strategy), views, n,
                                (const char *const *)w->req, w->n_req, w->task_id);
    struct claimer *c = cands[idx];
    held_remove(s, c);
    claim_for(s, c, w);
}

void claims_wake(struct scheduler *s, const char *task_id, const char *const *req, uint32_t n_req,
                 const char *strategy, const struct cp_task_view *t)
{
    if (s->n_held == 0) {
        claims_missed(s, req, n_req);
        return;
    }
    struct wake *w = wake_new(s, task_id, req, n_req, strategy);
    if (t) wake_set_pass_over(w, t);
    wake_run(s, w);
    wake_unref(w);
}

/* ---- held claims ---- */

/* Claim again for one held claimer, outside any wake-up (no task to place, no continuation).
 * Runs from the loop, never inside sched_hold_claim, so the caller is never answered early. */
static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct claimer *c = arg;
    struct scheduler *s = c->s;
    if (c->state != CLAIMER_HELD) return;
    struct wake *w = wake_new(s, NULL, NULL, 0, NULL);
    held_remove(s, c);
    claim_for(s, c, w);
    wake_unref(w);
}

static void on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct claimer *c = arg;
    if (c->state == CLAIMER_CLAIMING) {
        c->expired = 1; /* answered when its claim lands */
        return;
    }
    deliver(c, NULL);
}

struct claimer *sched_hold_claim(struct scheduler *s, const char *agent_id, const char *const *caps,
                                 uint32_t n_caps, const struct cp_agent_view *agent,
                                 uint64_t block_ms, int64_t arrived_ms, uint64_t seen_seq,
                                 claim_deliver_cb cb, void *cookie)
{
    struct claimer *c = calloc(1, sizeof *c);
    c->s = s;
    c->agent_id = strdup(agent_id);
    c->caps = copy_strs(caps, n_caps);
    c->n_caps = n_caps;
    c->cb = cb;
    c->cookie = cookie;
    c->arrived_ms = arrived_ms;
    claimer_snapshot(c, agent);
    c->timer = evtimer_new(s->core->base, on_claim_timer, c);
    struct timeval tv = cp_ms_to_timeval(block_ms);
    evtimer_add(c->timer, &tv);
    held_add(s, c);
    /* A wake-up ended without placing its task between the claim being sent and now (the claim
     * may have been evaluated before that task was pending, and it was not held to be offered
     * it; with a shared store another process's notification can even be read before the
     * claim's reply: two connections): claim once more from the loop, so that task is not left
     * waiting for the next one. */
    if (seen_seq != s->pending_seq) {
        static const struct timeval now = {0, 0};
        c->recheck = evtimer_new(s->core->base, on_recheck, c);
        evtimer_add(c->recheck, &now);
    }
    return c;
}

void sched_cancel_claim(struct scheduler *s, struct claimer *c)
{
    if (c->state == CLAIMER_CLAIMING) {
        c->gone = 1; /* freed, and its task released, when the claim lands */
        return;
    }
    held_remove(s, c);
    claimer_free(c);
}

void claims_drain(struct scheduler *s)
{
    struct held_group *g;
    while ((g = TAILQ_FIRST(&s->groups)))
        deliver(TAILQ_FIRST(&g->claimers), NULL);
}

/* ---- release ---- */

static void on_released(void *cookie, const struct cp_result *res)
{
    struct scheduler *s = cookie;
    if (res->rc == 0 && res->task) {
        log_info("task %s released: its claimer disconnected before the reply", res->task->id);
        sched_task_changed(s, res->task);
    }
}

void sched_release(struct scheduler *s, const char *task_id, const char *agent_id, uint32_t attempt)
{
    struct cp_transition tr = {.kind = CP_TR_RELEASE,
                               .task_id = task_id,
                               .agent_id = agent_id,
                               .latency_ms = -1,
                               .expect_attempt = attempt,
                               .now_ms = clock_now_ms()};
    CORE_STORE(s->core, task_transition, &tr, on_released, s);
}
