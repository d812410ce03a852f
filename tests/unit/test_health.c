/* test_health.c — the health monitor (core/health.c, core/health_probe.c) against an in-test
 * store and an in-test probe plugin on a real event loop: probe validation messages, probe
 * results written through the thresholds (failed / back to ready), no overlapping probes, the
 * overrun watchdog, untrack cancelling, task outcomes opening a circuit and the tick turning it
 * half_open, per-agent serialisation with an asynchronous store, orphaned ops at free, and an
 * agent that disappeared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>

#include <cp/probe.h>
#include <cp/storage.h>

#include "clock.h"
#include "core.h"
#include "health.h"
#include "metrics.h"

/* ---- an in-test store: agents with health, optionally answering later ------------------ */

#define MAX_AGENTS 4
#define MAX_DEFERRED 16

struct fake_agent {
    char id[32];
    int32_t status;
    struct cp_health_view health;
    char error[256];
    const char *probe_json;
    int present;
};

struct deferred {
    cp_storage_cb cb;
    void *cookie;
    int is_get;
    int idx;
};

static struct fake_store {
    struct fake_agent agents[MAX_AGENTS];
    int async; /* 1: callbacks wait in `deferred` until flush */
    int down;  /* 1: every op answers CP_ERR_UNAVAILABLE */
    struct deferred deferred[MAX_DEFERRED];
    int n_deferred;
    int gets, sets;
    int max_gets_in_flight, gets_in_flight;
} store;

static int find_agent(const char *id)
{
    for (int i = 0; i < MAX_AGENTS; i++)
        if (store.agents[i].present && strcmp(store.agents[i].id, id) == 0) return i;
    return -1;
}

static void answer(cp_storage_cb cb, void *cookie, int is_get, int idx)
{
    struct cp_result res = {0};
    struct cp_agent_view v = {0};
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

/* Answer the oldest deferred op (which may defer new ones). */
static int flush_one(void)
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

static struct fake_agent *add_agent(const char *id)
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

/* ---- an in-test probe plugin: the test decides when and how each check ends ------------- */

static struct fake_probe {
    int starts, cancels, validates;
    cp_probe_done_cb done;
    void *cookie;
    int in_flight;
    int fail_start;
    char last_agent[32];
    char last_url[64], last_retries[16];
    uint64_t last_timeout_ms;
} fp;

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

static void fp_cancel(void *state, void *handle)
{
    (void)state;
    assert_ptr_equal(handle, &fp);
    fp.cancels++;
    fp.in_flight = 0;
}

static const struct cp_probe_ops fake_probe_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .validate = fp_validate,
    .start = fp_start,
    .cancel = fp_cancel,
};
static const struct cp_plugin_descriptor fake_desc = {
    CP_ABI_MAJOR, CP_ABI_MINOR, CP_BUILD_SIGNATURE, CP_PLUGIN_PROBE, "fake", "1", &fake_probe_ops};

/* ---- fixture --------------------------------------------------------------------------- */

#define T0 1800000000000LL

static struct cp_config cfg;
static struct plugin fake_plugin;
static struct cp_core core;
static struct health_monitor *hm;

static int setup(void **s)
{
    (void)s;
    memset(&store, 0, sizeof store);
    memset(&fp, 0, sizeof fp);
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
    hm = health_new(&core);
    assert_non_null(hm);
    core.health = hm;
    return 0;
}

static int teardown(void **s)
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

/* Run the loop until `cond` holds, at most `ms` of real time. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        struct timeval tv_ = {0, 20000};                                                           \
        for (int i_ = 0; i_ < (ms) / 20 && !(cond); i_++) {                                        \
            event_base_loopexit(core.base, &tv_);                                                  \
            event_base_dispatch(core.base);                                                        \
        }                                                                                          \
    } while (0)

static void track(const char *id, const char *probe_json)
{
    struct cp_agent_view v = {0};
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

/* Finish the in-flight check. */
static void finish(int ok, double latency_ms, const char *error)
{
    assert_true(fp.in_flight);
    fp.in_flight = 0;
    fp.done(fp.cookie, ok, latency_ms, error);
}

static int validate(const char *json, char *err, size_t len)
{
    struct json_object *o = json_tokener_parse(json);
    err[0] = '\0';
    int rc = health_validate_probe(hm, o, err, len);
    json_object_put(o);
    return rc;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_validate_probe(void **s)
{
    (void)s;
    char err[256];
    assert_int_equal(validate("[1]", err, sizeof err), -1);
    assert_non_null(strstr(err, "health_probe must be an object"));
    assert_int_equal(validate("{\"url\": \"x\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "health_probe.type is required"));
    assert_int_equal(validate("{\"type\": 3}", err, sizeof err), -1);
    assert_non_null(strstr(err, "health_probe.type must be a string"));
    assert_int_equal(validate("{\"type\": \"smtp\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "\"smtp\" is not a loaded probe plugin (loaded: fake)"));
    assert_int_equal(validate("{\"type\": \"exec\", \"command\": \"id\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "disabled by the server's config"));
    cfg.exec_probe_enabled = 1; /* enabled, but no exec plugin loaded */
    assert_int_equal(validate("{\"type\": \"exec\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a loaded probe plugin"));

    const char *bad[] = {"0", "-1", "\"5\"", "true", "1e9", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[128];
        snprintf(json, sizeof json,
                 "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": %s}", bad[i]);
        assert_int_equal(validate(json, err, sizeof err), -1);
        assert_non_null(strstr(err, "health_probe.interval_seconds"));
        snprintf(json, sizeof json, "{\"type\": \"fake\", \"url\": \"u\", \"timeout_seconds\": %s}",
                 bad[i]);
        assert_int_equal(validate(json, err, sizeof err), -1);
        assert_non_null(strstr(err, "health_probe.timeout_seconds"));
    }
    /* the plugin's own validate() is consulted and its message passed on */
    assert_int_equal(validate("{\"type\": \"fake\"}", err, sizeof err), -1);
    assert_string_equal(err, "health_probe.url is required");
    /* valid; non-string members reach the plugin as JSON text; timeout in ms */
    assert_int_equal(validate("{\"type\": \"fake\", \"url\": \"u\", \"retries\": [1,2], "
                              "\"timeout_seconds\": 2.5, \"interval_seconds\": null}",
                              err, sizeof err),
                     0);
    assert_string_equal(fp.last_retries, "[1,2]");
    assert_int_equal(fp.last_timeout_ms, 2500);
    assert_int_equal(validate("{\"type\": \"fake\", \"url\": \"u\"}", err, sizeof err), 0);
    assert_int_equal(fp.last_timeout_ms, 10000); /* probes.timeout_seconds */
}

static void test_probe_thresholds_failed_and_ready(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("a1");
    track("a1", "{\"type\": \"fake\", \"url\": \"http://x\", \"interval_seconds\": 0.1}");
    RUN_UNTIL(fp.starts == 1, 2000);
    assert_int_equal(fp.starts, 1);
    assert_string_equal(fp.last_agent, "a1");
    assert_string_equal(fp.last_url, "http://x");

    finish(0, 12, "connection refused");
    assert_int_equal(a->health.status, CP_HEALTH_DEGRADED);
    assert_string_equal(a->error, "connection refused");
    assert_int_equal(a->health.last_check_ms, T0);
    assert_int_equal(a->status, CP_AGENT_READY);
    for (int i = 2; i <= 3; i++) {
        RUN_UNTIL(fp.starts == i, 2000);
        finish(0, 12, NULL);
    }
    assert_int_equal(a->health.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(a->health.consecutive_failures, 3);
    assert_string_equal(a->error, "probe failed");
    assert_int_equal(a->status, CP_AGENT_FAILED);

    RUN_UNTIL(fp.starts == 4, 2000);
    finish(1, 3, NULL);
    assert_int_equal(a->health.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(a->status, CP_AGENT_FAILED);
    RUN_UNTIL(fp.starts == 5, 2000);
    finish(1, 3, NULL);
    assert_int_equal(a->health.status, CP_HEALTH_HEALTHY);
    assert_null(a->health.error);
    assert_int_equal(a->status, CP_AGENT_READY);

    struct evbuffer *b = evbuffer_new();
    metrics_render(b, NULL);
    evbuffer_add(b, "", 1);
    const char *text = (const char *)evbuffer_pullup(b, -1);
    assert_non_null(strstr(text, "cp_probe_results_total{type=\"fake\",result=\"fail\"} 3\n"));
    assert_non_null(strstr(text, "cp_probe_results_total{type=\"fake\",result=\"pass\"} 2\n"));
    evbuffer_free(b);
}

static void test_failed_status_not_forced_over_offline(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("off");
    a->status = CP_AGENT_OFFLINE;
    track("off", "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": 0.1}");
    for (int i = 1; i <= 3; i++) {
        RUN_UNTIL(fp.starts == i, 2000);
        finish(0, 1, "down");
    }
    assert_int_equal(a->health.status, CP_HEALTH_UNHEALTHY);
    assert_int_equal(a->status, CP_AGENT_OFFLINE);
}

static void test_no_overlap_and_watchdog(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("slow");
    track(
        "slow",
        "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": 0.1, \"timeout_seconds\": 1}");
    RUN_UNTIL(fp.starts == 1, 2000);
    /* several intervals pass with the check still running: no second start */
    RUN_UNTIL(0, 350);
    assert_int_equal(fp.starts, 1);
    assert_int_equal(fp.cancels, 0);
    /* past timeout + grace (by the core's clock): cancelled, counted as a failure */
    clock_advance_fake(2500);
    RUN_UNTIL(fp.cancels == 1, 2000);
    assert_int_equal(fp.cancels, 1);
    assert_int_equal(a->health.status, CP_HEALTH_DEGRADED);
    assert_non_null(strstr(a->error, "did not report within its timeout"));
    RUN_UNTIL(fp.starts == 2, 2000);
    assert_int_equal(fp.starts, 2);
}

static void test_start_error_counts_as_failure(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("nostart");
    fp.fail_start = 1;
    track("nostart", "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": 0.1}");
    RUN_UNTIL(a->health.consecutive_failures == 2, 2000);
    assert_int_equal(a->health.consecutive_failures, 2);
    assert_string_equal(a->error, "cannot connect");
}

static void test_untrack_cancels_in_flight(void **s)
{
    (void)s;
    add_agent("u1");
    track("u1", "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": 0.1}");
    RUN_UNTIL(fp.starts == 1, 2000);
    health_untrack(hm, "u1");
    assert_int_equal(fp.cancels, 1);
    RUN_UNTIL(0, 300);
    assert_int_equal(fp.starts, 1);
    /* re-tracking without a probe, and untracking unknown ids, are harmless */
    track("u1", NULL);
    health_untrack(hm, "nobody");
    RUN_UNTIL(0, 200);
    assert_int_equal(fp.starts, 1);
}

static void test_retrack_restarts_probe(void **s)
{
    (void)s;
    add_agent("r1");
    track("r1", "{\"type\": \"fake\", \"url\": \"first\", \"interval_seconds\": 0.1}");
    RUN_UNTIL(fp.starts == 1, 2000);
    track("r1", "{\"type\": \"fake\", \"url\": \"second\", \"interval_seconds\": 0.1}");
    assert_int_equal(fp.cancels, 1);
    RUN_UNTIL(fp.starts == 2, 2000);
    assert_string_equal(fp.last_url, "second");
}

static void test_agent_gone_stops_probe(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("gone");
    track("gone", "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": 0.1}");
    RUN_UNTIL(fp.starts == 1, 2000);
    a->present = 0;
    finish(1, 1, NULL);
    RUN_UNTIL(0, 350);
    assert_int_equal(fp.starts, 1);
}

static void test_record_without_probe_stops_probe(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("np");
    track("np", "{\"type\": \"fake\", \"url\": \"u\", \"interval_seconds\": 0.1}");
    RUN_UNTIL(fp.starts == 1, 2000);
    a->probe_json = NULL; /* re-registered without a probe, through another process */
    int sets = store.sets;
    finish(0, 1, "x");
    assert_int_equal(store.sets, sets); /* the result is not written */
    assert_int_equal(a->health.status, CP_HEALTH_UNKNOWN);
    RUN_UNTIL(0, 350);
    assert_int_equal(fp.starts, 1);
}

static void test_task_outcomes_open_circuit_and_tick_half_opens(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("t1");
    health_task_outcome(hm, "t1", 0);
    health_task_outcome(hm, "t1", 0);
    health_task_outcome(hm, "t1", 1);
    assert_int_equal(a->health.circuit_failures, 0);
    int sets = store.sets;
    health_task_outcome(hm, "t1", 1); /* nothing changes: nothing written */
    assert_int_equal(store.sets, sets);
    for (int i = 0; i < 5; i++)
        health_task_outcome(hm, "t1", 0);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_OPEN);
    assert_int_equal(a->health.retry_at_ms, T0 + 30000);
    /* an outcome for an agent that does not exist is dropped quietly */
    health_task_outcome(hm, "nobody", 0);

    RUN_UNTIL(0, 1300);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_OPEN); /* retry_at not reached */
    clock_advance_fake(30000);
    RUN_UNTIL(a->health.circuit == CP_CIRCUIT_HALF_OPEN, 2500);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_HALF_OPEN);
    health_task_outcome(hm, "t1", 1);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_CLOSED);
}

static void test_tracking_an_open_circuit_from_storage(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("restored");
    a->health.circuit = CP_CIRCUIT_OPEN;
    a->health.retry_at_ms = T0 - 1;
    track("restored", NULL); /* e.g. after a restart */
    RUN_UNTIL(a->health.circuit == CP_CIRCUIT_HALF_OPEN, 2500);
    assert_int_equal(a->health.circuit, CP_CIRCUIT_HALF_OPEN);
}

static void test_async_store_serialises_per_agent(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("q");
    store.async = 1;
    for (int i = 0; i < 4; i++)
        health_task_outcome(hm, "q", 0);
    assert_int_equal(store.gets, 1); /* one read-modify-write at a time */
    while (flush_one()) {
    }
    assert_int_equal(store.max_gets_in_flight, 1);
    assert_int_equal(store.gets, 4);
    assert_int_equal(a->health.circuit_failures, 4); /* no lost update */
}

static void test_unavailable_store_drops_queue_and_recovers(void **s)
{
    (void)s;
    struct fake_agent *a = add_agent("down");
    store.async = 1;
    store.down = 1;
    for (int i = 0; i < 3; i++)
        health_task_outcome(hm, "down", 0);
    while (flush_one()) {
    }
    assert_int_equal(store.gets, 1);
    store.down = 0;
    health_task_outcome(hm, "down", 0);
    while (flush_one()) {
    }
    assert_int_equal(a->health.circuit_failures, 1);
}

static void test_free_with_ops_in_flight(void **s)
{
    (void)s;
    add_agent("f");
    store.async = 1;
    health_task_outcome(hm, "f", 0);
    health_task_outcome(hm, "f", 0);
    health_free(hm); /* one op is in the store, one queued */
    hm = NULL;
    assert_int_equal(store.n_deferred, 1);
    while (flush_one()) { /* the orphaned op frees itself; no new op is issued */
    }
    assert_int_equal(store.gets, 1);
    assert_int_equal(store.sets, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_thresholds_failed_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_status_not_forced_over_offline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_overlap_and_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_error_counts_as_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrack_cancels_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retrack_restarts_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_gone_stops_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_without_probe_stops_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_outcomes_open_circuit_and_tick_half_opens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tracking_an_open_circuit_from_storage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_store_serialises_per_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_store_drops_queue_and_recovers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_with_ops_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
