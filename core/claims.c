/* claims.c — held claims (long poll) and the wake-ups that hand them new tasks.
 *
 * A held claim is a claimer that found nothing; the held set is claims_held.c. When a task
 * becomes pending, up to 64 held claimers whose capabilities cover it (oldest first) are the
 * candidates, in agent_id order; the task's strategy picks one, which then claims through the
 * store like any claim — the store stays the only arbiter, so nothing is handed out twice.
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
 * makes the matching claims in flight claim once more, and moves pending_seq for the claims ops
 * has in flight (claims_hold re-checks). A wake-up that placed its task, or saw it gone, leaves
 * them alone.
 *
 * An agent that may not claim now but only lacks room (at its limit, busy, starting:
 * claims_agent_may_wait) is held "blocked": never offered a task, it claims again when
 * claims_room() says its agent may have room (a task of it ended, its status changed), or is
 * answered at block_ms. A claim in flight when that happened sees it through room_seq and a
 * small ring of the last agents that got room, and claims once more. A wake-up or re-check
 * claim that fails in the store leaves its claimer held for the rest of its block_ms: the store
 * may be back in a moment, and answering null at once would make the agent poll in a loop.
 *
 * What follows a claim — metrics, events, releasing a task whose claimer has gone — is the
 * owner's (ops): claims reports it through its hooks.
 */
#include "claims_internal.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "affinity.h"
#include "clock.h"
#include "core.h"
#include "log.h"
#include "quota.h"
#include "selection.h"
#include "xalloc.h"

/* One wake-up, shared by the claims it starts; `gen` marks the claimers already tried. */
struct wake {
    struct claims *s;
    int refs;
    uint64_t gen;
    char *task_id; /* NULL: a re-check of one claimer, no task to place */
    char **req;
    uint32_t n_req;
    char *strategy;
    /* What strategies see of the task (task_id, req and these), once known: `type` non-NULL. */
    char *type;
    char *metadata;
    int32_t priority;
    uint64_t payload_bytes;
    int po_known; /* the task's pass-over below is known (else an empty claim proves nothing) */
    char *po_agent;
    int64_t po_until;
    /* Prompt-cache affinity: the task's key (from its metadata), and the agent the store
     * remembers for it, asked once per wake-up before the first choice (aff_state). */
    char *aff_key;
    int64_t aff_ttl_ms;
    char *aff_agent;
    int aff_state; /* 0: not asked yet, 1: asking, 2: known (aff_agent, maybe NULL) */
    int warm_only; /* a claim skipped it (an affinity hold): only its warm agent's claim next */
};

int claims_idle(const struct claims *s)
{
    return s->n_held == 0 && TAILQ_EMPTY(&s->claiming);
}

uint64_t claims_pending_seq(const struct claims *s)
{
    return s->pending_seq;
}

uint64_t claims_room_seq(const struct claims *s)
{
    return s->room_seq;
}

uint64_t claims_quota_seq(const struct claims *s)
{
    return s->quota_seq;
}

int claims_agent_may_wait(const struct cp_agent_view *a, int64_t now_ms)
{
    if (a->status != CP_AGENT_STARTING && a->status != CP_AGENT_READY && a->status != CP_AGENT_BUSY)
        return 0;
    return a->health.circuit != CP_CIRCUIT_OPEN || a->health.retry_at_ms <= now_ms;
}

static uint64_t agent_hash(const char *id) /* FNV-1a; 0 is kept for "no entry" */
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h ? h : 1;
}

/* Did agent_id get room since room_seq was `seen`? (When the ring has been overrun, maybe.) */
static int room_since(const struct claims *s, const char *agent_id, uint64_t seen)
{
    if (s->room_seq == seen) return 0;
    if (s->room_seq - seen >= ROOM_RING) return 1;
    uint64_t h = agent_hash(agent_id);
    for (uint64_t i = seen + 1; i <= s->room_seq; i++)
        if (s->room_ring[i % ROOM_RING] == h) return 1;
    return 0;
}

size_t claims_held_count(const struct claims *s)
{
    return s->n_held;
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

static void claimer_free(struct claimer *c)
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

/* Answer the claim (res NULL: no task) and forget it. */
static void deliver(struct claimer *c, const struct cp_result *res)
{
    struct cp_result none = {.size = sizeof none};
    claims_deliver_cb cb = c->cb;
    void *cookie = c->cookie;
    if (c->state == CLAIMER_HELD) claims_held_remove(c->s, c);
    claimer_free(c);
    cb(cookie, res ? res : &none);
}

/* ---- wake-ups ---- */

static struct wake *wake_new(struct claims *s, const char *task_id, const char *const *req,
                             uint32_t n_req, const char *strategy)
{
    struct wake *w = xcalloc(1, sizeof *w);
    w->s = s;
    w->refs = 1;
    w->gen = ++s->next_gen;
    w->task_id = task_id ? xstrdup(task_id) : NULL;
    w->req = claims_strs_copy(req, n_req);
    w->n_req = n_req;
    w->strategy = strategy ? xstrdup(strategy) : NULL;
    return w;
}

/* What the store said of the task as it became (or still is) pending: its pass-over, and what
 * strategies see of it. */
static void wake_set_task(struct wake *w, const struct cp_task_view *t)
{
    free(w->po_agent);
    w->po_known = 1;
    w->po_agent = t->passed_over_agent ? xstrdup(t->passed_over_agent) : NULL;
    w->po_until = t->passed_over_until_ms;
    if (w->type) return; /* the rest does not change while pending */
    w->type = xstrdup(t->task_type ? t->task_type : "");
    w->metadata = xstrdup(t->metadata_json ? t->metadata_json : "{}");
    w->priority = t->priority;
    w->payload_bytes = t->payload_json ? strlen(t->payload_json) : 0;
    char key[CP_AFFINITY_KEY_MAX + 1];
    if (affinity_from_metadata(w->metadata, key, &w->aff_ttl_ms)) w->aff_key = xstrdup(key);
}

static void wake_unref(struct wake *w)
{
    if (--w->refs > 0) return;
    free(w->task_id);
    claims_strs_free(w->req, w->n_req);
    free(w->strategy);
    free(w->type);
    free(w->metadata);
    free(w->po_agent);
    free(w->aff_key);
    free(w->aff_agent);
    free(w);
}

void claims_missed(struct claims *s, const char *const *req, uint32_t n_req)
{
    s->pending_seq++;
    struct claimer *c;
    TAILQ_FOREACH(c, &s->claiming, link)
    if (!c->missed && cp_caps_subset(req, n_req, (const char *const *)c->caps, c->n_caps))
        c->missed = 1;
}

static void wake_run(struct claims *s, struct wake *w);

static void on_trigger_checked(void *cookie, const struct cp_result *res)
{
    struct wake *w = cookie;
    if (res->rc < 0) {
        claims_missed(w->s, (const char *const *)w->req, w->n_req); /* unknown: re-check */
    } else if (res->task && res->task->status == CP_TASK_PENDING) {
        wake_set_task(w, res->task);
        wake_run(w->s, w);
    }
    wake_unref(w);
}

/* The task may still be pending: ask the store before trying the next candidate. */
static void wake_continue_if_pending(struct claims *s, struct wake *w)
{
    w->refs++;
    CORE_STORE(s->core, task_get, w->task_id, on_trigger_checked, w);
}

enum { STEP_DONE, STEP_RUN, STEP_CHECK, STEP_WARM };

/* What claimer c's result says about w's task: placed or gone (DONE), surely not looked at or
 * passed by (RUN: next candidate), or unknown (CHECK: ask the store). */
static int wake_step_after(const struct wake *w, const struct claimer *c,
                           const struct cp_result *res)
{
    if (!w->task_id) return STEP_DONE;
    if (res->rc < 0) return STEP_CHECK;
    if (!res->task &&
        res->size >= offsetof(struct cp_result, quota_held) + sizeof res->quota_held &&
        res->quota_held)
        return STEP_RUN; /* a quota held it back: the task is left for agents under others */
    if (res->task) return strcmp(res->task->id, w->task_id) == 0 ? STEP_DONE : STEP_RUN;
    if (res->rc == 0 && claims_hold_due(res) > 0 && w->aff_key && !w->warm_only)
        return STEP_WARM; /* it skipped a task held for another agent: maybe this one */
    if (!res->agent) return STEP_CHECK;
    if (!cp_agent_may_claim(res->agent, c->claim_ms)) return STEP_RUN; /* it did not look */
    if (!w->po_known) return STEP_CHECK;
    if (w->po_agent && strcmp(w->po_agent, c->agent_id) == 0 && c->claim_ms < w->po_until)
        return STEP_CHECK; /* passed over: the task may well be pending still */
    return STEP_DONE;      /* it looked after the task became pending: someone has it */
}

static void wake_step(struct claims *s, struct wake *w, int step)
{
    if (step == STEP_WARM) w->warm_only = 1;
    if (step == STEP_RUN || step == STEP_WARM)
        wake_run(s, w);
    else if (step == STEP_CHECK)
        wake_continue_if_pending(s, w);
}

static void on_wake_claim(void *cookie, const struct cp_result *res);
static void recheck_soon(struct claimer *c);
static int quota_held_of(const struct cp_result *res);

/* Send the store claim for claimer c on behalf of wake w (c is out of the held set). */
static void claim_for(struct claims *s, struct claimer *c, struct wake *w)
{
    c->state = CLAIMER_CLAIMING;
    c->wake = w;
    w->refs++;
    c->missed = 0;
    if (c->quota) { /* this claim tells afresh */
        c->quota = 0;
        s->n_quota--;
    }
    c->room_seen = s->room_seq;
    c->quota_seen = s->quota_seq;
    c->claim_ms = clock_now_ms();
    TAILQ_INSERT_TAIL(&s->claiming, c, link);
    struct cp_claim claim = {c->agent_id, (const char *const *)c->caps, c->n_caps, c->claim_ms,
                             s->core->cfg->tenant_aging_ms};
    CORE_STORE(s->core, task_claim, &claim, on_wake_claim, c);
}

static void on_wake_claim(void *cookie, const struct cp_result *res)
{
    struct claimer *c = cookie;
    struct claims *s = c->s;
    struct wake *w = c->wake;
    c->wake = NULL;
    TAILQ_REMOVE(&s->claiming, c, link);
    const struct cp_task_view *got = res->rc == 0 ? res->task : NULL;
    int step = wake_step_after(w, c, res);
    if (c->gone) {
        if (got) { /* the owner releases it, which wakes for it again */
            s->hooks.claimed(s->hooks.arg, res, -1);
            s->hooks.release(s->hooks.arg, got->id, c->agent_id, got->attempt);
        }
        claimer_free(c);
    } else if (got) {
        s->hooks.claimed(s->hooks.arg, res, clock_now_ms() - c->arrived_ms);
        deliver(c, res);
    } else {
        c->tried_gen = w->gen;
        int64_t now = clock_now_ms();
        /* The store could not say: keep waiting (its answer may come back in a moment; a
         * claim it may have made is released by the store itself, see storage.h). */
        int store_error = res->rc == CP_ERR_UNAVAILABLE || res->rc == CP_ERR_NOMEM;
        if (store_error)
            log_debug("held claim of %s: storage error %d; still held", c->agent_id, res->rc);
        if (res->agent) claimer_snapshot(c, res->agent);
        int may_claim = res->agent && cp_agent_may_claim(res->agent, now);
        if (c->expired || (res->rc < 0 && !store_error) ||
            (res->rc == 0 && !may_claim &&
             !(res->agent && claims_agent_may_wait(res->agent, now)))) {
            deliver(c, NULL);
        } else if (store_error) {
            claims_held_add(s, c);
        } else if (!may_claim) { /* held for room */
            c->blocked = 1;
            claims_held_add(s, c);
            if (room_since(s, c->agent_id, c->room_seen)) recheck_soon(c);
        } else if (c->missed) {
            /* A wake-up ended unplaced while this claim was in flight: its task may be pending
             * unseen by this claim. Claim again (this claim carries w's next step). */
            claim_for(s, c, w);
            wake_unref(w);
            return;
        } else {
            c->blocked = 0;
            claims_held_add(s, c);
            if (quota_held_of(res)) {
                claims_mark_quota(s, c);
                quotas_claim_held(s->core->quotas, res->next_due_ms);
            } else if (res->rc == 0 && claims_hold_due(res) > 0) {
                claims_recheck_at(s, c, res->next_due_ms);
            }
        }
    }
    wake_step(s, w, step);
    wake_unref(w);
}

static void on_affinity_known(void *cookie, const struct cp_result *res)
{
    struct wake *w = cookie;
    w->aff_state = 2;
    if (res->rc == 0 && res->affinity_agent) w->aff_agent = xstrdup(res->affinity_agent);
    wake_run(w->s, w); /* a store error: placed without it, as if nothing were remembered */
    wake_unref(w);
}

static void wake_run(struct claims *s, struct wake *w)
{
    struct claimer *cands[MAX_CANDIDATES];
    size_t n = claims_held_candidates(s, (const char *const *)w->req, w->n_req, w->gen, cands);
    if (n == 0) {
        claims_missed(s, (const char *const *)w->req, w->n_req); /* ends unplaced */
        return;
    }
    /* A task with an affinity key and a choice to make: ask the store which agent completed
     * the key last (any process may have written it), then choose. Once per wake-up. */
    if (n > 1 && w->aff_key && w->aff_state == 0 && affinity_supported(s->core)) {
        w->aff_state = 1;
        w->refs++;
        CORE_STORE(s->core, affinity_get, w->aff_key, clock_now_ms(), on_affinity_known, w);
        return;
    }
    if (w->aff_state == 1) return; /* a step while the answer is awaited: it runs the choice */
    if (w->warm_only) {
        if (w->aff_state == 0 && affinity_supported(s->core)) {
            w->aff_state = 1;
            w->refs++;
            CORE_STORE(s->core, affinity_get, w->aff_key, clock_now_ms(), on_affinity_known, w);
            return;
        }
        /* Held for the warm agent: its claim here, else (another process, in flight) claims
         * in flight claim again; the claimer that skipped it re-claims when the hold ends. */
        for (size_t i = 0; w->aff_agent && i < n; i++)
            if (strcmp(cands[i]->agent_id, w->aff_agent) == 0) {
                claims_held_remove(s, cands[i]);
                claim_for(s, cands[i], w);
                return;
            }
        claims_missed(s, (const char *const *)w->req, w->n_req);
        return;
    }
    const struct cp_agent_view *views[MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++)
        views[i] = &cands[i]->snap;
    struct cp_selection_task task = {
        .id = w->task_id,
        .task_type = w->type,
        .required_capabilities = (const char *const *)w->req,
        .n_required = w->n_req,
        .priority = w->priority,
        .metadata_json = w->metadata,
        .payload_bytes = w->payload_bytes,
        .affinity_key = w->aff_key,
        .affinity_ttl_ms = w->aff_key ? w->aff_ttl_ms : 0,
    };
    size_t idx = selection_pick(s->core, core_strategy(s->core, w->strategy), views, n,
                                (const char *const *)w->req, w->n_req,
                                w->task_id && w->type ? &task : NULL, NULL, w->aff_agent);
    struct claimer *c = cands[idx];
    claims_held_remove(s, c);
    claim_for(s, c, w);
}

void claims_wake(struct claims *s, const char *task_id, const char *const *req, uint32_t n_req,
                 const char *strategy, const struct cp_task_view *t)
{
    if (s->n_held == 0) {
        claims_missed(s, req, n_req);
        return;
    }
    struct wake *w = wake_new(s, task_id, req, n_req, strategy);
    if (t) wake_set_task(w, t);
    wake_run(s, w);
    wake_unref(w);
}

/* ---- held claims ---- */

/* Claim again for one held claimer, outside any wake-up (no task to place, no continuation).
 * Runs from the loop, never inside claims_hold, so the caller is never answered early. */
static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct claimer *c = arg;
    struct claims *s = c->s;
    if (c->state != CLAIMER_HELD) return;
    struct wake *w = wake_new(s, NULL, NULL, 0, NULL);
    claims_held_remove(s, c);
    claim_for(s, c, w);
    wake_unref(w);
}

/* Claim again for held claimer c from the loop (never inside the caller's call). */
static void recheck_soon(struct claimer *c)
{
    static const struct timeval now = {0, 0};
    if (!c->recheck) c->recheck = xevtimer_new(c->s->core->base, on_recheck, c);
    evtimer_add(c->recheck, &now);
}

void claims_recheck_at(struct claims *s, struct claimer *c, int64_t due_ms)
{
    if (!c || c->state != CLAIMER_HELD) return;
    if (!c->hold_due) c->hold_due = xevtimer_new(s->core->base, on_recheck, c);
    int64_t wait = due_ms - clock_now_ms();
    struct timeval tv = cp_ms_to_timeval(wait > 0 ? wait + 1 : 0); /* just past the end */
    evtimer_add(c->hold_due, &tv);
}

static void recheck_blocked(struct claimer *c)
{
    if (c->blocked) recheck_soon(c);
}

static int quota_held_of(const struct cp_result *res)
{
    return res->size >= offsetof(struct cp_result, quota_held) + sizeof res->quota_held &&
           res->quota_held;
}

void claims_mark_quota(struct claims *s, struct claimer *c)
{
    /* room came back while its claim was in flight: that claim may have been too early */
    if (c->quota_seen != s->quota_seq) recheck_soon(c);
    if (c->quota) return;
    c->quota = 1;
    s->n_quota++;
}

static void recheck_quota(struct claimer *c)
{
    if (c->quota) recheck_soon(c);
}

void claims_quota_room(struct claims *s)
{
    s->quota_seq++;
    if (s->n_quota) claims_held_each(s, recheck_quota);
}

void claims_room(struct claims *s, const char *agent_id, const struct cp_agent_view *after)
{
    int64_t now = clock_now_ms();
    /* Still only waiting (a busy agent's heartbeat): nothing for its claims to try. */
    if (after && !cp_agent_may_claim(after, now) && claims_agent_may_wait(after, now)) return;
    s->room_seq++;
    s->room_ring[s->room_seq % ROOM_RING] = agent_hash(agent_id);
    if (s->n_blocked) claims_held_each_of(s, agent_id, recheck_blocked);
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

struct claimer *claims_hold(struct claims *s, const char *agent_id, const char *const *caps,
                            uint32_t n_caps, const struct cp_agent_view *agent, uint64_t block_ms,
                            int64_t arrived_ms, struct claims_seen seen, claims_deliver_cb cb,
                            void *cookie)
{
    struct claimer *c = xcalloc(1, sizeof *c);
    c->s = s;
    c->agent_id = xstrdup(agent_id);
    c->caps = claims_strs_copy(caps, n_caps);
    c->n_caps = n_caps;
    c->cb = cb;
    c->cookie = cookie;
    c->arrived_ms = arrived_ms;
    claimer_snapshot(c, agent);
    c->timer = xevtimer_new(s->core->base, on_claim_timer, c);
    struct timeval tv = cp_ms_to_timeval(block_ms);
    evtimer_add(c->timer, &tv);
    c->blocked = agent && !cp_agent_may_claim(agent, clock_now_ms());
    c->quota_seen = seen.quota;
    claims_held_add(s, c);
    /* A wake-up ended without placing its task between the claim being sent and now (the claim
     * may have been evaluated before that task was pending, and it was not held to be offered
     * it; with a shared store another process's notification can even be read before the
     * claim's reply: two connections), or — held for room — its agent got room meanwhile:
     * claim once more from the loop, so that task (or room) is not left waiting. */
    if (c->blocked ? room_since(s, agent_id, seen.room) : seen.pending != s->pending_seq)
        recheck_soon(c);
    return c;
}

void claims_cancel(struct claims *s, struct claimer *c)
{
    if (c->state == CLAIMER_CLAIMING) {
        c->gone = 1; /* freed, and its task released, when the claim lands */
        return;
    }
    claims_held_remove(s, c);
    claimer_free(c);
}

void claims_drain(struct claims *s)
{
    struct held_group *g;
    while ((g = TAILQ_FIRST(&s->groups)))
        deliver(TAILQ_FIRST(&g->claimers), NULL);
}

struct claims *claims_new(struct cp_core *core, const struct claims_hooks *hooks)
{
    struct claims *s = xcalloc(1, sizeof *s);
    s->core = core;
    s->hooks = *hooks;
    TAILQ_INIT(&s->groups);
    TAILQ_INIT(&s->claiming);
    return s;
}

void claims_free(struct claims *s)
{
    if (!s) return;
    claims_drain(s);
    free(s);
}
