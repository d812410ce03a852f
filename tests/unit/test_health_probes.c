/* test_health_probes.c — the health monitor's probing (core/health.c, core/health_probe.c) with
 * an in-test store and probe plugin on a real event loop: probe validation messages, results
 * written through the thresholds (failed / back to ready), no overlapping probes, the host's
 * deadline for a probe that never reports, start errors, untrack and re-track cancelling, and an
 * agent that disappeared or lost its probe. */
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

#include "clock.h"
#include "health.h"
#include "health_helpers.h"
#include "http/http.h"
#include "metrics.h"

/* What registration does with a "health_probe" object: the HTTP layer takes the JSON apart
 * (its shape), the monitor checks the definition (what this server can run). */
static int validate(const char *json, char *err, size_t len)
{
    struct json_object *o = json_tokener_parse(json);
    struct probe_def def;
    err[0] = '\0';
    int rc = http_probe_from_json(o, &def, err, len);
    if (rc == 0) rc = health_check_probe(hm, &def, err, len);
    probe_def_clear(&def);
    json_object_put(o);
    return rc;
}

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
    /* every write was reported to the owner, the last one with the state it changed from */
    assert_int_equal(hooks_seen.calls, 3);
    assert_string_equal(hooks_seen.last_agent, "a1");
    assert_int_equal(hooks_seen.health_before, CP_HEALTH_DEGRADED);
    assert_int_equal(hooks_seen.health_after, CP_HEALTH_UNHEALTHY);
    assert_int_equal(hooks_seen.status_before, CP_AGENT_READY);
    assert_int_equal(hooks_seen.status_after, CP_AGENT_FAILED);

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

static void test_no_overlap_and_deadline(void **s)
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
    /* timeout_seconds (1 s, real time) later the host ends it: released, counted as a failure */
    RUN_UNTIL(fp.cancels == 1, 3000);
    assert_int_equal(fp.cancels, 1);
    assert_int_equal(a->health.status, CP_HEALTH_DEGRADED);
    assert_string_equal(a->error, "timed out after 1000 ms");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate_probe, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_probe_thresholds_failed_and_ready, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_failed_status_not_forced_over_offline,
                                        health_test_setup, health_test_teardown),
        cmocka_unit_test_setup_teardown(test_no_overlap_and_deadline, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_start_error_counts_as_failure, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_untrack_cancels_in_flight, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_retrack_restarts_probe, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_agent_gone_stops_probe, health_test_setup,
                                        health_test_teardown),
        cmocka_unit_test_setup_teardown(test_record_without_probe_stops_probe, health_test_setup,
                                        health_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
