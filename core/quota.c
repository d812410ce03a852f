/* quota.c — the host's side of provider quotas (quota.h). The store keeps and enforces the
 * quotas; here: the configured ones put in at start-up, a copy of their last state (refreshed
 * once a second while any exists, and after every change this process makes) for strategies,
 * /metrics and the pause/resume events, and the wake-ups of claims held by a quota. Wake-ups
 * never poll: a one-shot timer at the moment the store named, or a task leaving its holder. */
#include "quota.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <cp/time.h>

#include "claims.h"
#include "clock.h"
#include "core.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "xalloc.h"

#define REFRESH_MS 1000

struct quota_copy {
    char *id, *provider, *model, *key_id;
    struct cp_quota_view v; /* strings point at the members above */
};

struct quotas {
    struct cp_core *core;
    struct quota_copy *list;
    size_t n;
    struct event *refresh; /* the copy's refresh while quotas exist */
    struct event *wake;    /* claims held by a quota: when room returns by the clock */
    int64_t wake_at;       /* 0: not armed */
    int64_t seen_at;       /* when the copy was read */
    int refreshing, started, stopped;
    uint64_t rate_limited; /* 429s reported to this process */
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void copies_free(struct quota_copy *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].id), free(v[i].provider), free(v[i].model), free(v[i].key_id);
    free(v);
}

static const struct quota_copy *find(const struct quotas *qs, const char *id)
{
    for (size_t i = 0; i < qs->n; i++)
        if (strcmp(qs->list[i].id, id) == 0) return &qs->list[i];
    return NULL;
}

static void emit(struct quotas *qs, int kind, const struct cp_quota_view *q, const char *agent_id)
{
    struct cp_core *core = qs->core;
    if (!events_active(core->events)) return;
    struct domain_event e = {.kind = kind,
                             .at_ms = clock_now_ms(),
                             .agent_id = agent_id,
                             .old_status = -1,
                             .new_status = -1,
                             .old_circuit = -1,
                             .new_circuit = -1,
                             .priority = -1,
                             .quota_id = q->id,
                             .quota_until_ms = q->paused_until_ms,
                             .quota_limit = q->concurrency_limit};
    events_emit(core->events, &e);
}

void quotas_seen(struct quotas *qs, const struct cp_result *res)
{
    if (res->rc < 0) return;
    int64_t now = clock_now_ms();
    struct quota_copy *v = res->n_quotas ? xcalloc(res->n_quotas, sizeof *v) : NULL;
    for (size_t i = 0; i < res->n_quotas; i++) {
        const struct cp_quota_view *q = res->quotas[i];
        v[i].id = xstrdup(q->id ? q->id : "");
        v[i].provider = dup_or_null(q->scope.provider);
        v[i].model = dup_or_null(q->scope.model);
        v[i].key_id = dup_or_null(q->scope.key_id);
        memset(&v[i].v, 0, sizeof v[i].v);
        memcpy(&v[i].v, q, q->size < sizeof v[i].v ? q->size : sizeof v[i].v);
        v[i].v.size = sizeof v[i].v;
        v[i].v.id = v[i].id;
        v[i].v.scope = (struct cp_quota_scope){v[i].provider, v[i].model, v[i].key_id};
        /* what changed since the last look: a pause begun or ended, a concurrency cut */
        const struct quota_copy *old = find(qs, v[i].id);
        int64_t was = old ? old->v.paused_until_ms : 0;
        if (q->paused_until_ms > now && q->paused_until_ms > was)
            emit(qs, EVT_QUOTA_PAUSED, &v[i].v, NULL);
        else if (was > qs->seen_at && q->paused_until_ms <= now) /* paused at the last look */
            emit(qs, EVT_QUOTA_RESUMED, &v[i].v, NULL);
        if (old && q->concurrency_limit != old->v.concurrency_limit)
            emit(qs, EVT_QUOTA_CONCURRENCY, &v[i].v, NULL);
    }
    copies_free(qs->list, qs->n);
    qs->seen_at = now;
    qs->list = v;
    qs->n = res->n_quotas;
    if (qs->n && !qs->stopped && qs->refresh && !evtimer_pending(qs->refresh, NULL)) {
        struct timeval tv = cp_ms_to_timeval(REFRESH_MS);
        evtimer_add(qs->refresh, &tv);
    }
}

static void on_listed(void *cookie, const struct cp_result *res)
{
    struct quotas *qs = cookie;
    qs->refreshing = 0;
    quotas_seen(qs, res);
}

static void refresh_now(struct quotas *qs)
{
    struct cp_core *core = qs->core;
    if (qs->refreshing || qs->stopped || !core->store->quota_list) return;
    qs->refreshing = 1;
    CORE_STORE(core, quota_list, clock_now_ms(), on_listed, qs);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    refresh_now(arg);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct quotas *qs = arg;
    qs->wake_at = 0;
    quotas_room(qs);
    refresh_now(qs); /* a pause that ended: resumed */
}

void quotas_claim_held(struct quotas *qs, int64_t due_ms)
{
    if (!qs || due_ms <= 0 || qs->stopped) return;
    if (qs->wake_at && qs->wake_at <= due_ms) return; /* an earlier wake-up rechecks anyway */
    int64_t now = clock_now_ms();
    struct timeval tv = cp_ms_to_timeval(due_ms > now ? (uint64_t)(due_ms - now) : 0);
    evtimer_add(qs->wake, &tv);
    qs->wake_at = due_ms;
}

void quotas_room(struct quotas *qs)
{
    if (qs && qs->core->claims) claims_quota_room(qs->core->claims);
}

void quotas_rate_limited(struct quotas *qs, const struct cp_task_view *t, const char *agent_id,
                         int64_t retry_after_ms)
{
    (void)t, (void)agent_id;
    qs->rate_limited++;
    /* the store applied it to the agent's quotas: re-read them (the events come from the
     * difference, quotas_seen), and wake held claims when the pause ends */
    if (retry_after_ms > 0) quotas_claim_held(qs, clock_now_ms() + retry_after_ms);
    refresh_now(qs);
}

int quota_headroom_for_agent(const struct cp_core *core, const struct cp_agent_view *a,
                             int64_t *requests_left, int64_t *tokens_left)
{
    const struct quotas *qs = core ? core->quotas : NULL; /* NULL core: strategies' unit tests */
    int64_t req = -1, tok = -1;
    int n = 0;
    for (size_t i = 0; qs && a && i < qs->n; i++) {
        const struct cp_quota_view *q = &qs->list[i].v;
        const struct cp_quota_scope *sc = NULL;
        uint32_t nsc = 0;
        if (a->size >= offsetof(struct cp_agent_view, n_quota_scopes) + sizeof a->n_quota_scopes)
            sc = a->quota_scopes, nsc = a->n_quota_scopes;
        if (!cp_quota_covers(&q->scope, a->provider, a->model, sc, nsc)) continue;
        n++;
        if (q->rpm) {
            int64_t left = (int64_t)q->rpm - (int64_t)q->requests_used;
            if (left < 0) left = 0;
            if (req < 0 || left < req) req = left;
        }
        if (q->tpm) {
            int64_t left = (int64_t)q->tpm - (int64_t)q->tokens_used;
            if (left < 0) left = 0;
            if (tok < 0 || left < tok) tok = left;
        }
    }
    if (requests_left) *requests_left = req;
    if (tokens_left) *tokens_left = tok;
    return n;
}

/* ---- start-up: the configured quotas ------------------------------------------------------ */

static void on_put(void *cookie, const struct cp_result *res)
{
    struct quotas *qs = cookie;
    if (res->rc < 0)
        log_warn("quotas: a configured quota could not be stored (storage error %d: %s)", res->rc,
                 res->message ? res->message : "");
    refresh_now(qs);
}

void quotas_start(struct quotas *qs)
{
    struct cp_core *core = qs->core;
    const struct cp_config *cfg = core->cfg;
    qs->started = 1;
    if (!core->store->quota_put) {
        if (cfg->n_quotas)
            log_warn("quotas: the storage backend does not support provider quotas; the %zu "
                     "configured quotas are not enforced",
                     cfg->n_quotas);
        return;
    }
    for (size_t i = 0; i < cfg->n_quotas; i++) {
        const struct cfg_quota *c = &cfg->quotas[i];
        struct cp_quota_view v = {.size = sizeof v,
                                  .id = c->id,
                                  .scope = {c->provider, c->model, c->key_id},
                                  .rpm = c->rpm,
                                  .tpm = c->tpm,
                                  .max_in_flight = c->max_in_flight};
        CORE_STORE(core, quota_put, &v, on_put, qs);
    }
    refresh_now(qs);
}

void quotas_stop(struct quotas *qs)
{
    if (!qs) return;
    qs->stopped = 1;
    evtimer_del(qs->refresh);
    evtimer_del(qs->wake);
}

struct quotas *quotas_new(struct cp_core *core)
{
    struct quotas *qs = xcalloc(1, sizeof *qs);
    qs->core = core;
    qs->refresh = xevtimer_new(core->base, on_refresh, qs);
    qs->wake = xevtimer_new(core->base, on_wake, qs);
    return qs;
}

void quotas_free(struct quotas *qs)
{
    if (!qs) return;
    event_free(qs->refresh);
    event_free(qs->wake);
    copies_free(qs->list, qs->n);
    free(qs);
}

uint64_t quotas_rate_limited_total(const struct quotas *qs)
{
    return qs ? qs->rate_limited : 0;
}

static void gauge(struct evbuffer *out, const char *name, const char *help, const struct quotas *qs,
                  int64_t (*value)(const struct cp_quota_view *q, int64_t now))
{
    int64_t now = clock_now_ms();
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < qs->n; i++)
        evbuffer_add_printf(out, "%s{quota=\"%s\"} %" PRId64 "\n", name, qs->list[i].id,
                            value(&qs->list[i].v, now));
}

static int64_t v_req_left(const struct cp_quota_view *q, int64_t now)
{
    (void)now;
    return q->rpm ? (int64_t)q->rpm - (int64_t)q->requests_used : -1;
}
static int64_t v_tok_left(const struct cp_quota_view *q, int64_t now)
{
    (void)now;
    return q->tpm ? (int64_t)q->tpm - (int64_t)q->tokens_used : -1;
}
static int64_t v_in_flight(const struct cp_quota_view *q, int64_t now)
{
    (void)now;
    return q->in_flight;
}
static int64_t v_limit(const struct cp_quota_view *q, int64_t now)
{
    (void)now;
    return q->concurrency_limit ? q->concurrency_limit : q->max_in_flight;
}
static int64_t v_paused(const struct cp_quota_view *q, int64_t now)
{
    return q->paused_until_ms > now;
}
static int64_t v_429(const struct cp_quota_view *q, int64_t now)
{
    (void)now;
    return (int64_t)q->rate_limited;
}

void quotas_render_metrics(const struct quotas *qs, struct evbuffer *out)
{
    if (!qs || !qs->n) return;
    /* quota ids are identifiers (A-Z a-z 0-9 . _ : @ / -): nothing to escape in a label */
    gauge(out, "cp_quota_requests_left", "Requests left in the quota's window (-1: no rpm).", qs,
          v_req_left);
    gauge(out, "cp_quota_tokens_left", "Tokens left in the quota's window (-1: no tpm).", qs,
          v_tok_left);
    gauge(out, "cp_quota_in_flight", "Tasks held under the quota.", qs, v_in_flight);
    gauge(out, "cp_quota_concurrency_limit",
          "The quota's concurrency limit now (after an AIMD cut; 0: none).", qs, v_limit);
    gauge(out, "cp_quota_paused", "1 while a 429's retry time pauses the quota.", qs, v_paused);
    gauge(out, "cp_quota_rate_limited", "429s reported under the quota.", qs, v_429);
}
