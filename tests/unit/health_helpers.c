/* health_helpers.c — the in-test store, probe plugin and fixture of health_helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include <cp/probe.h>
#include <cp/storage.h>

#include "clock.h"
#include "core.h"
#include "health.h"
#include "health_helpers.h"
#include "http/http.h"
#include "metrics.h"

struct fake_store store;
struct fake_probe fp;
struct hook_log hooks_seen;

static void on_changed(void *arg, const struct cp_agent_view *agent, int32_t health_before,
                       int32_t circuit_before, int32_t status_before)
{
    assert_ptr_equal(arg, &hooks_seen);
    hooks_seen.calls++;
    snprintf(hooks_seen.last_agent, sizeof hooks_seen.last_agent, "%s", agent->agent_id);
    hooks_seen.health_before = health_before;
    hooks_seen.status_before = status_before;
    hooks_seen.circuit_before = circuit_before;
    hooks_seen.circuit_after = agent->health.circuit;
    hooks_seen.health_after = agent->health.status;
    hooks_seen.status_after = agent->status;
}

static int find_agent(const char *id)
{
    for (int i = 0; i < MAX_AGENTS; i++)
        if (store.agents[i].present && strcmp(store.agents[i].id, id) == 0) return i;
    return -1;
}

static void answer(cp_storage_cb cb, void *cookie, int is_get, int idx)
{
    struct cp_result res = {.size = sizeof res};
    struct cp_agent_view v = {.size = sizeof v};
    if (is_get) store.gets_in_flight--;
    if (store.down) {
        res.rc = CP_ERR_UNAVAILABLE;
    } else if (idx < 0 || !store.agents[idx].present) {
        res.rc = CP_ERR_NOT_FOUND;
    } else {
        struct fake_agent *a = &store.agents[idx];
        v.agent_id = a->id;
        v.status = a->status;
        v.health = a->health;
        v.metadata_json = "{}";
        v.health_probe_json = a->probe_json;
        res.agent = &v;
    }
    cb(cookie, &res);
}

static void fs_agent_get(void *st, const char *id, cp_storage_cb cb, void *cookie)
{
    (void)st;
    int idx = find_agent(id);
    store.gets++;
    if (++store.gets_in_flight > store.max_gets_in_flight)
        store.max_gets_in_flight = store.gets_in_flight;
    if (store.async) {
        assert_true(store.n_deferred < MAX_DEFERRED);
        store.deferred[store.n_deferred++] = (struct deferred){cb, cookie, 1, idx};
        return;
    }
    answer(cb, cookie, 1, idx);
}

static void fs_set_health(void *st, const char *id, const struct cp_health_view *h, int32_t status,
                          int32_t expect, cp_storage_cb cb, void *cookie)
{
    (void)st;
    int idx = find_agent(id);
    store.sets++;
    if (idx >= 0 && !store.down) {
        struct fake_agent *a = &store.agents[idx];
        a->health = *h;
        snprintf(a->error, sizeof a->error, "%s", h->error ? h->error : "");
        a->health.error = h->error ? a->error : NULL;
        if (status >= 0 && (expect < 0 || a->status == expect)) a->status = status;
    }
    if (store.async) {
        assert_true(store.n_deferred < MAX_DEFERRED);
        store.deferred[store.n_deferred++] = (struct deferred){cb, cookie, 0, idx};
        return;
    }
    answer(cb, cookie, 0, idx);
}

int flush_one(void)
{
    if (store.n_deferred == 0) return 0;
    struct deferred d = store.deferred[0];
    memmove(store.deferred, store.deferred + 1, (size_t)--store.n_deferred * sizeof d);
    answer(d.cb, d.cookie, d.is_get, d.idx);
    return 1;
}

static struct cp_storage_ops fake_store_ops = {
    .version = CP_STORAGE_OPS_VERSION,
    .agent_get = fs_agent_get,
    .agent_set_health = fs_set_health,
};

struct fake_agent *add_agent(const char *id)
{
    for (int i = 0; i < MAX_AGENTS; i++) {
        struct fake_agent *a = &store.agents[i];
        if (a->present) continue;
        memset(a, 0, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s", id);
        a->present = 1;
        a->status = CP_AGENT_READY;
        a->health.status = CP_HEALTH_UNKNOWN;
        a->health.latency_ms = -1;
        return a;
    }
    fail();
    return NULL;
}

static int fp_validate(void *state, const struct cp_probe_spec *spec, struct cp_err *err)
{
    (void)state;
    fp.validates++;
    fp.last_timeout_ms = spec->timeout_ms;
    const char *r = cp_probe_spec_get(spec, "retries");
    snprintf(fp.last_retries, sizeof fp.last_retries, "%s", r ? r : "");
    if (!cp_probe_spec_get(spec, "url")) {
        snprintf(err->msg, sizeof err->msg, "health_probe.url is required");
        return CP_ERR_INVALID;
    }
    return 0;
}

static int fp_start(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done,
                    void *cookie, void **handle, struct cp_err *err)
{
    (void)state;
    assert_false(fp.in_flight); /* the monitor never overlaps one agent's probes */
    fp.starts++;
    snprintf(fp.last_agent, sizeof fp.last_agent, "%s", spec->agent_id);
    snprintf(fp.last_url, sizeof fp.last_url, "%s", cp_probe_spec_get(spec, "url"));
    fp.last_timeout_ms = spec->timeout_ms;
    if (fp.fail_start) {
        snprintf(err->msg, sizeof err->msg, "cannot connect");
        return CP_ERR_INVALID;
    }
    fp.done = done;
    fp.cookie = cookie;
    fp.in_flight = 1;
    *handle = &fp;
    return 0;
}

static void fp_release(void *state, void *handle)
{
    (void)state;
    assert_ptr_equal(handle, &fp);
    fp.releases++;
    if (fp.in_flight) fp.cancels++;
    fp.in_flight = 0;
}

static const struct cp_probe_ops fake_probe_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .validate = fp_validate,
    .start = fp_start,
    .release = fp_release,
};
static const struct cp_plugin_descriptor fake_desc = {
    CP_ABI_MAJOR, CP_ABI_MINOR, CP_BUILD_SIGNATURE, CP_PLUGIN_PROBE, "fake", "1", &fake_probe_ops};

struct cp_config cfg;
static struct plugin fake_plugin;
struct cp_core core;
struct health_monitor *hm;

int health_test_setup(void **s)
{
    (void)s;
    memset(&store, 0, sizeof store);
    memset(&fp, 0, sizeof fp);
    memset(&hooks_seen, 0, sizeof hooks_seen);
    memset(&cfg, 0, sizeof cfg);
    memset(&core, 0, sizeof core);
    cfg.probe_interval_ms = 30000;
    cfg.probe_timeout_ms = 10000;
    cfg.unhealthy_threshold = 3;
    cfg.recovery_threshold = 2;
    cfg.slow_probe_ms = 5000;
    cfg.failure_threshold = 5;
    cfg.cooldown_ms = 30000;
    cfg.max_cooldown_ms = 300000;
    fake_plugin = (struct plugin){.desc = &fake_desc, .ops = &fake_probe_ops};
    core.cfg = &cfg;
    core.base = event_base_new();
    assert_non_null(core.base);
    core.plugins.items[0] = &fake_plugin;
    core.plugins.n = 1;
    core.store = &fake_store_ops;
    clock_set_fake(T0);
    metrics_reset();
    const struct health_hooks hooks = {&hooks_seen, on_changed};
    hm = health_new(&core, &hooks, http_probe_decode);
    assert_non_null(hm);
    core.health = hm;
    return 0;
}

int health_test_teardown(void **s)
{
    (void)s;
    health_free(hm);
    while (flush_one()) {
    }
    event_base_free(core.base);
    clock_set_fake(0);
    metrics_reset();
    return 0;
}

void track(const char *id, const char *probe_json)
{
    struct cp_agent_view v = {.size = sizeof v};
    int idx = find_agent(id);
    v.agent_id = id;
    v.metadata_json = "{}";
    v.health_probe_json = probe_json;
    if (idx >= 0) {
        v.health = store.agents[idx].health;
        store.agents[idx].probe_json = probe_json; /* string literals: they outlive the test */
    }
    health_track(hm, &v);
}

void finish(int ok, double latency_ms, const char *error)
{
    assert_true(fp.in_flight);
    fp.in_flight = 0;
    int releases = fp.releases;
    fp.done(fp.cookie, ok, latency_ms, error);
    RUN_UNTIL(fp.releases > releases, 2000);
    assert_int_equal(fp.releases, releases + 1);
}
