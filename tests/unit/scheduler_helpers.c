/* scheduler_helpers.c — the fixture of scheduler_helpers.h: real plugins, the store proxy, the
 * event recorder and the ops drivers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cp/selection.h>
#include <cp/storage.h>

#include "clock.h"
#include "config.h"
#include "http/http.h"
#include "metrics.h"
#include "plugin_dl.h"
#include "plugin_loader.h"
#include "scheduler_helpers.h"

struct cp_config cfg;
struct cp_core core;
struct proxy px;
struct rec_event recorded[MAX_RECORDED];
size_t n_recorded;

/* ---- plugins ------------------------------------------------------------------------------ */

#define N_PLUGINS 3
static const char *const plugin_names[N_PLUGINS] = {"memory", "least_loaded", "round_robin"};
static const uint32_t plugin_kinds[N_PLUGINS] = {CP_PLUGIN_STORAGE, CP_PLUGIN_SELECTION,
                                                 CP_PLUGIN_SELECTION};
static struct plugin plugins[N_PLUGINS];
static const struct cp_storage_ops *mem; /* the real store under the proxy */
static struct cp_storage_ops proxy_ops;

static void plugins_open(void)
{
    memset(plugins, 0, sizeof plugins);
    for (int i = 0; i < N_PLUGINS; i++) {
        struct plugin *p = &plugins[i];
        p->desc = dl_open_plugin(plugin_names[i], plugin_kinds[i], &p->dl);
        p->ops = p->desc->ops;
        struct cp_err err = {{0}};
        /* Every ops table starts with CP_OPS_HEADER: version, create, destroy. */
        const struct cp_selection_ops *any = p->ops;
        assert_int_equal(any->create(&dl_host, &p->state, &err), 0);
        core.plugins.items[core.plugins.n++] = p;
    }
}

static void plugins_close(void)
{
    for (int i = N_PLUGINS - 1; i >= 0; i--) {
        const struct cp_selection_ops *any = plugins[i].ops;
        any->destroy(plugins[i].state);
        dlclose(plugins[i].dl);
    }
}

/* ---- the proxy: held-back claims ---------------------------------------------------------- */

/* A result kept past its callback: the views copied with their strings. */
struct saved {
    struct cp_result res;
    struct cp_agent_view agent;
    struct cp_task_view task;
    char *strs[64];
    int n_strs;
    const char *caps[64];
    const char *req[64];
};

static const char *keep(struct saved *s, const char *v)
{
    if (!v) return NULL;
    assert_true(s->n_strs < 64);
    return s->strs[s->n_strs++] = strdup(v);
}

static void save_result(struct saved *s, const struct cp_result *res)
{
    memset(s, 0, sizeof *s);
    s->res.size = sizeof s->res;
    s->res.rc = res->rc;
    s->res.quota_held = res->quota_held; /* provider quotas: held back, and until when */
    s->res.next_due_ms = res->next_due_ms;
    s->res.message = keep(s, res->message);
    if (res->agent) {
        const struct cp_agent_view *a = res->agent;
        s->agent = *a;
        s->agent.agent_id = keep(s, a->agent_id);
        s->agent.model = keep(s, a->model);
        s->agent.provider = keep(s, a->provider);
        s->agent.metadata_json = keep(s, a->metadata_json);
        s->agent.health_probe_json = keep(s, a->health_probe_json);
        s->agent.current_task_id = keep(s, a->current_task_id);
        s->agent.health.error = keep(s, a->health.error);
        assert_true(a->n_capabilities <= 16);
        for (uint32_t i = 0; i < a->n_capabilities; i++)
            s->caps[i] = keep(s, a->capabilities[i]);
        s->agent.capabilities = s->caps;
        s->res.agent = &s->agent;
    }
    if (res->task) {
        const struct cp_task_view *t = res->task;
        s->task = *t;
        s->task.id = keep(s, t->id);
        s->task.task_type = keep(s, t->task_type);
        s->task.payload_json = keep(s, t->payload_json);
        s->task.assigned_agent = keep(s, t->assigned_agent);
        s->task.result_json = keep(s, t->result_json);
        s->task.error = keep(s, t->error);
        s->task.metadata_json = keep(s, t->metadata_json);
        s->task.strategy = keep(s, t->strategy);
        s->task.passed_over_agent = keep(s, t->passed_over_agent);
        assert_true(t->n_required <= 16);
        for (uint32_t i = 0; i < t->n_required; i++)
            s->req[i] = keep(s, t->required_capabilities[i]);
        s->task.required_capabilities = s->req;
        s->res.task = &s->task;
    }
}

static void saved_free(struct saved *s)
{
    for (int i = 0; i < s->n_strs; i++)
        free(s->strs[i]);
}

#define MAX_HELD_BACK 16
struct held_back {
    enum px_mode mode;
    cp_storage_cb cb;
    void *cookie;
    /* PX_DEFER_CALL: the claim to evaluate */
    char agent[64];
    const char *caps[16];
    char caps_buf[16][64];
    uint32_t n_caps;
    int has_caps;
    int64_t now_ms;
    /* PX_DEFER_REPLY: its result */
    struct saved saved;
};
static struct held_back queue[MAX_HELD_BACK];

static struct {
    char agent[64];
    size_t n;
} claims_by[32];

static void count_claim(const char *agent)
{
    px.claims++;
    for (size_t i = 0; i < 32; i++) {
        if (claims_by[i].agent[0] && strcmp(claims_by[i].agent, agent) != 0) continue;
        snprintf(claims_by[i].agent, sizeof claims_by[i].agent, "%s", agent);
        claims_by[i].n++;
        return;
    }
    fail_msg("too many claiming agents");
}

size_t px_claims_of(const char *agent_id)
{
    for (size_t i = 0; i < 32; i++)
        if (strcmp(claims_by[i].agent, agent_id) == 0) return claims_by[i].n;
    return 0;
}

static struct held_back *enqueue(enum px_mode mode, cp_storage_cb cb, void *cookie)
{
    assert_true(px.deferred < MAX_HELD_BACK);
    struct held_back *h = &queue[px.deferred++];
    memset(h, 0, sizeof *h);
    h->mode = mode;
    h->cb = cb;
    h->cookie = cookie;
    return h;
}

static void on_evaluated(void *cookie, const struct cp_result *res)
{
    save_result(&((struct held_back *)cookie)->saved, res);
}

static void px_task_claim(void *st, const struct cp_claim *c, cp_storage_cb cb, void *cookie)
{
    count_claim(c->agent_id);
    if (px.claim_mode == PX_PASS) {
        mem->task_claim(st, c, cb, cookie);
        return;
    }
    if (px.claim_mode == PX_FAIL) {
        struct cp_result res = {.size = sizeof res,
                                .rc = CP_ERR_UNAVAILABLE,
                                .message = "reply lost",
                                .outcome = CP_OUTCOME_UNKNOWN};
        cb(cookie, &res);
        return;
    }
    struct held_back *h = enqueue(px.claim_mode, cb, cookie);
    if (px.claim_mode == PX_DEFER_REPLY) {
        mem->task_claim(st, c, on_evaluated, h);
        return;
    }
    snprintf(h->agent, sizeof h->agent, "%s", c->agent_id);
    h->has_caps = c->capabilities != NULL;
    h->n_caps = c->n_capabilities;
    assert_true(h->n_caps <= 16);
    for (uint32_t i = 0; i < h->n_caps; i++) {
        snprintf(h->caps_buf[i], sizeof h->caps_buf[i], "%s", c->capabilities[i]);
        h->caps[i] = h->caps_buf[i];
    }
    h->now_ms = c->now_ms;
}

int px_flush_one(void)
{
    if (px.deferred == 0) return 0;
    struct held_back h = queue[0];
    memmove(queue, queue + 1, --px.deferred * sizeof queue[0]);
    if (h.mode == PX_DEFER_REPLY) {
        h.cb(h.cookie, &h.saved.res);
        saved_free(&h.saved);
        return 1;
    }
    struct cp_claim c = {.agent_id = h.agent,
                         .capabilities = h.has_caps ? h.caps : NULL,
                         .n_capabilities = h.n_caps,
                         .now_ms = h.now_ms};
    mem->task_claim(core.st, &c, h.cb, h.cookie);
    return 1;
}

/* ---- events --------------------------------------------------------------------------------- */

static void record(void *arg, const struct domain_event *e)
{
    assert_ptr_equal(arg, recorded);
    assert_true(n_recorded < MAX_RECORDED);
    struct rec_event *r = &recorded[n_recorded++];
    r->kind = e->kind;
    snprintf(r->agent, sizeof r->agent, "%s", e->agent_id ? e->agent_id : "");
    snprintf(r->task, sizeof r->task, "%s", e->task_id ? e->task_id : "");
    r->old_status = e->old_status;
    r->new_status = e->new_status;
    r->attempt = e->attempt;
}

int count_events(int kind, const char *task, const char *agent)
{
    int n = 0;
    for (size_t i = 0; i < n_recorded; i++)
        n += recorded[i].kind == kind && (!task || strcmp(recorded[i].task, task) == 0) &&
             (!agent || strcmp(recorded[i].agent, agent) == 0);
    return n;
}

int event_index(int kind, const char *task, const char *agent)
{
    for (size_t i = 0; i < n_recorded; i++)
        if (recorded[i].kind == kind && (!task || strcmp(recorded[i].task, task) == 0) &&
            (!agent || strcmp(recorded[i].agent, agent) == 0))
            return (int)i;
    return -1;
}

/* ---- fixture ------------------------------------------------------------------------------- */

int sched_test_setup(void **state)
{
    (void)state;
    memset(&core, 0, sizeof core);
    memset(&px, 0, sizeof px);
    memset(claims_by, 0, sizeof claims_by);
    n_recorded = 0;
    config_defaults(&cfg);
    cfg.pass_over_ms = 30000;
    core.cfg = &cfg;
    core.base = event_base_new();
    assert_non_null(core.base);
    dl_base = core.base;
    clock_set_fake(T0);
    metrics_reset();
    plugins_open();
    mem = plugins[0].ops;
    proxy_ops = *mem;
    proxy_ops.task_claim = px_task_claim;
    core.storage_plugin = &plugins[0];
    core.store = &proxy_ops;
    core.st = plugins[0].state;
    ops_open(&core, http_probe_decode);
    events_subscribe(core.events, record, recorded);
    return 0;
}

int sched_test_teardown(void **state)
{
    (void)state;
    ops_drain(&core);
    px.claim_mode = PX_PASS;
    while (px_flush_one()) {
    }
    plugins_close();
    ops_close(&core);
    event_base_free(core.base);
    dl_base = NULL;
    config_free(&cfg);
    clock_set_fake(0);
    metrics_reset();
    return 0;
}

/* ---- drivers -------------------------------------------------------------------------------- */

/* "a,b" into list (pointers into buf). */
static uint32_t split_caps(const char *csv, char *buf, size_t len, const char **list, size_t max)
{
    uint32_t n = 0;
    snprintf(buf, len, "%s", csv);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        assert_true(n < max);
        list[n++] = t;
    }
    return n;
}

static void expect_ok(void *cookie, const struct cp_result *res)
{
    if (res->rc != 0) fail_msg("ops: rc %d (%s)", res->rc, res->message ? res->message : "");
    if (cookie && res->task) snprintf(cookie, 64, "%s", res->task->id);
}

void reg_agent(const char *id, const char *caps, uint32_t max_conc)
{
    char buf[256];
    const char *list[16];
    struct ops_call call;
    uint32_t n = split_caps(caps, buf, sizeof buf, list, 16);
    struct cp_agent_view in = {.agent_id = id,
                               .capabilities = list,
                               .n_capabilities = n,
                               .model = "m",
                               .provider = "p",
                               .metadata_json = "{}",
                               .max_concurrent_tasks = max_conc};
    ops_agent_register(&core, &call, &in, NULL, expect_ok, NULL);
}

void submit_task(char *id, const char *req, const char *strategy, int64_t timeout_ms,
                 uint32_t max_retries)
{
    char buf[256];
    const char *list[16];
    struct ops_call call;
    uint32_t n = split_caps(req, buf, sizeof buf, list, 16);
    struct cp_task_view in = {.task_type = "t",
                              .payload_json = "{}",
                              .required_capabilities = list,
                              .n_required = n,
                              .priority = CP_PRIORITY_NORMAL,
                              .timeout_ms = timeout_ms,
                              .max_retries = max_retries,
                              .metadata_json = "{}",
                              .strategy = strategy};
    id[0] = '\0';
    ops_task_submit(&core, &call, &in, expect_ok, id);
    assert_true(id[0] != '\0'); /* the memory store answers at once */
}

static void on_rc(void *cookie, const struct cp_result *res)
{
    *(int *)cookie = res->rc;
}

int transition(int kind, const char *task, const char *agent)
{
    struct ops_call call;
    int rc = 1;
    struct cp_transition tr = {.kind = kind,
                               .task_id = task,
                               .agent_id = agent,
                               .error = "failed",
                               .latency_ms = -1,
                               .requeue = 1};
    ops_task_transition(&core, &call, &tr, on_rc, &rc);
    assert_int_not_equal(rc, 1);
    return rc;
}

int transition_elsewhere(int kind, const char *task, const char *agent)
{
    int rc = 1;
    struct cp_transition tr = {.kind = kind,
                               .task_id = task,
                               .agent_id = agent,
                               .latency_ms = -1,
                               .now_ms = clock_now_ms()};
    mem->task_transition(core.st, &tr, on_rc, &rc);
    assert_int_not_equal(rc, 1);
    return rc;
}

void heartbeat(const char *agent, int32_t status)
{
    struct ops_call call;
    int rc = 1;
    ops_agent_heartbeat(&core, &call, agent, status, on_rc, &rc);
    assert_int_equal(rc, 0);
}

void unregister(const char *agent)
{
    struct ops_call call;
    int rc = 1;
    ops_agent_unregister(&core, &call, agent, on_rc, &rc);
    assert_int_equal(rc, 0);
}

static void on_task(void *cookie, const struct cp_result *res)
{
    struct task_now *t = cookie;
    assert_int_equal(res->rc, 0);
    t->status = res->task->status;
    t->attempt = res->task->attempt;
    t->retries = res->task->retries;
    snprintf(t->assigned, sizeof t->assigned, "%s",
             res->task->assigned_agent ? res->task->assigned_agent : "");
}

struct task_now task_state(const char *id)
{
    struct task_now t = {.status = -1};
    ops_task_get(&core, NULL, id, 0, NULL, on_task, &t);
    assert_int_not_equal(t.status, -1);
    return t;
}

static void on_agent(void *cookie, const struct cp_result *res)
{
    struct agent_now *a = cookie;
    assert_int_equal(res->rc, 0);
    a->status = res->agent->status;
    a->tasks_in_flight = res->agent->tasks_in_flight;
    a->circuit_failures = res->agent->health.circuit_failures;
    a->circuit = res->agent->health.circuit;
}

struct agent_now agent_state(const char *id)
{
    struct agent_now a = {.status = -1};
    ops_agent_get(&core, id, on_agent, &a);
    assert_int_not_equal(a.status, -1);
    return a;
}

static void on_claim_hold(void *cookie, int held)
{
    struct claim_slot *c = cookie;
    c->held += held ? 1 : -1;
    c->holds += held;
    assert_in_range(c->held, 0, 1);
}

static void on_claimed(void *cookie, const struct cp_result *res)
{
    struct claim_slot *c = cookie;
    assert_int_equal(c->held, 0); /* the hold ended before the answer */
    c->answered++;
    c->rc = res->rc;
    c->task[0] = '\0';
    if (res->rc == 0 && res->task) {
        snprintf(c->task, sizeof c->task, "%s", res->task->id);
        c->attempt = res->task->attempt;
        assert_string_equal(res->task->assigned_agent, c->agent);
    }
}

void claim_start(struct claim_slot *c, const char *agent, const char *caps, uint64_t block_ms)
{
    memset(c, 0, sizeof *c);
    snprintf(c->agent, sizeof c->agent, "%s", agent);
    uint32_t n = caps ? split_caps(caps, c->caps_buf, sizeof c->caps_buf, c->caps, 8) : 0;
    c->in = (struct ops_claim){c->agent, caps ? c->caps : NULL, n, block_ms};
    ops_task_claim(&core, &c->call, &c->in, on_claim_hold, on_claimed, c);
}

static void on_get_hold(void *cookie, int held)
{
    struct get_slot *g = cookie;
    g->held += held ? 1 : -1;
    g->holds += held;
}

static void on_get(void *cookie, const struct cp_result *res)
{
    struct get_slot *g = cookie;
    assert_int_equal(g->held, 0);
    g->answered++;
    g->rc = res->rc;
    g->status = res->rc == 0 ? res->task->status : -1;
}

void get_start(struct get_slot *g, const char *task, uint64_t wait_ms)
{
    memset(g, 0, sizeof *g);
    snprintf(g->task_id, sizeof g->task_id, "%s", task);
    ops_task_get(&core, &g->call, g->task_id, wait_ms, on_get_hold, on_get, g);
}
