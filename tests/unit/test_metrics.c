/* test_metrics.c — the Prometheus text rendered by core/metrics.c: HELP/TYPE lines, gauges from
 * stats, cumulative histogram buckets with +Inf/_sum/_count, label escaping, the cap on distinct
 * task types, and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "metrics.h"

static char *render(const struct cp_stats_view *st)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    metrics_render(b, st);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

/* The whole line `line` occurs in text (not only as a prefix of a longer line). */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

static size_t count_prefix(const char *text, const char *prefix)
{
    size_t c = 0, n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, n) == 0) c++;
    return c;
}

static int reset(void **s)
{
    (void)s;
    metrics_reset();
    return 0;
}

static void test_gauges_from_stats(void **s)
{
    (void)s;
    struct cp_stats_view st = {.size = sizeof st};
    st.agents_total = 9;
    st.agents_available = 4;
    for (int i = 0; i < CP_AGENT_STATUS_COUNT; i++)
        st.agents_by_status[i] = (uint64_t)i + 10;
    for (int i = 0; i < CP_TASK_STATUS_COUNT; i++)
        st.tasks_by_status[i] = (uint64_t)i * 100;
    st.agents_by_health[CP_HEALTH_HEALTHY] = 5;
    st.agents_by_health[CP_HEALTH_UNHEALTHY] = 2;
    st.circuits_open = 3;
    char *t = render(&st);

    assert_true(has_line(t, "# HELP cp_agents Registered agents by status."));
    assert_true(has_line(t, "# TYPE cp_agents gauge"));
    assert_true(has_line(t, "cp_agents{status=\"starting\"} 10"));
    assert_true(has_line(t, "cp_agents{status=\"ready\"} 11"));
    assert_true(has_line(t, "cp_agents{status=\"failed\"} 15"));
    assert_int_equal(count_prefix(t, "cp_agents{"), CP_AGENT_STATUS_COUNT);
    assert_true(has_line(t, "# TYPE cp_tasks gauge"));
    assert_true(has_line(t, "cp_tasks{status=\"pending\"} 0"));
    assert_true(has_line(t, "cp_tasks{status=\"timeout\"} 600"));
    assert_int_equal(count_prefix(t, "cp_tasks{"), CP_TASK_STATUS_COUNT);
    assert_true(has_line(t, "cp_agents_available 4"));
    assert_true(has_line(t, "cp_agents_by_health{health=\"healthy\"} 5"));
    assert_true(has_line(t, "cp_agents_by_health{health=\"unhealthy\"} 2"));
    assert_true(has_line(t, "cp_agents_by_health{health=\"unknown\"} 0"));
    assert_int_equal(count_prefix(t, "cp_agents_by_health{"), 4);
    assert_true(has_line(t, "# TYPE cp_circuits_open gauge"));
    assert_true(has_line(t, "cp_circuits_open 3"));
    /* every family has its HELP and TYPE even before anything was observed */
    const char *families[] = {"cp_tasks_submitted_total", "cp_tasks_completed_total",
                              "cp_tasks_failed_total",    "cp_tasks_timeout_total",
                              "cp_claim_wait_seconds",    "cp_http_request_duration_seconds",
                              "cp_probe_results_total",   "cp_probe_duration_seconds"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP %s ", families[i]);
        snprintf(type, sizeof type, "# TYPE %s ", families[i]);
        assert_int_equal(count_prefix(t, help), 1);
        assert_int_equal(count_prefix(t, type), 1);
    }
    free(t);
}

static void test_no_stats_renders_process_metrics_only(void **s)
{
    (void)s;
    metrics_claim_wait(0.01);
    char *t = render(NULL);
    assert_int_equal(count_prefix(t, "cp_agents"), 0);
    assert_int_equal(count_prefix(t, "cp_tasks{"), 0);
    assert_true(has_line(t, "cp_claim_wait_seconds_count 1"));
    free(t);
}

static void test_histogram_buckets_are_cumulative(void **s)
{
    (void)s;
    const double obs[] = {0.0003, 0.0005, 0.002, 0.002, 0.7, 100, -1};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        metrics_claim_wait(obs[i]);
    char *t = render(NULL);
    assert_true(has_line(t, "# TYPE cp_claim_wait_seconds histogram"));
    /* -1 is clamped to 0; 0.0005 is on the bound, so inside the first bucket */
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"0.0005\"} 3"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"0.001\"} 3"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"0.0025\"} 5"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"0.5\"} 5"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"1\"} 6"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"60\"} 6"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"+Inf\"} 7"));
    assert_true(has_line(t, "cp_claim_wait_seconds_count 7"));
    assert_int_equal(count_prefix(t, "cp_claim_wait_seconds_bucket{"), 17);
    const char *sum = strstr(t, "\ncp_claim_wait_seconds_sum ");
    assert_non_null(sum);
    double v = strtod(sum + strlen("\ncp_claim_wait_seconds_sum "), NULL);
    assert_true(v > 100.7047 && v < 100.7049);
    free(t);
}

static void test_task_counters_by_type(void **s)
{
    (void)s;
    metrics_task_event("debate", MET_TASK_SUBMITTED);
    metrics_task_event("debate", MET_TASK_SUBMITTED);
    metrics_task_event("debate", MET_TASK_COMPLETED);
    metrics_task_event("code", MET_TASK_SUBMITTED);
    metrics_task_event("code", MET_TASK_FAILED);
    metrics_task_event("code", MET_TASK_TIMEOUT);
    metrics_task_event("code", MET_TASK_EVENT_COUNT); /* out of range: ignored */
    metrics_task_event("code", -1);
    char *t = render(NULL);
    assert_true(has_line(t, "# TYPE cp_tasks_submitted_total counter"));
    assert_true(has_line(t, "cp_tasks_submitted_total{task_type=\"debate\"} 2"));
    assert_true(has_line(t, "cp_tasks_submitted_total{task_type=\"code\"} 1"));
    assert_true(has_line(t, "cp_tasks_completed_total{task_type=\"debate\"} 1"));
    assert_true(has_line(t, "cp_tasks_completed_total{task_type=\"code\"} 0"));
    assert_true(has_line(t, "cp_tasks_failed_total{task_type=\"code\"} 1"));
    assert_true(has_line(t, "cp_tasks_timeout_total{task_type=\"code\"} 1"));
    assert_true(has_line(t, "cp_tasks_timeout_total{task_type=\"debate\"} 0"));
    free(t);
}

static void test_label_escaping(void **s)
{
    (void)s;
    metrics_task_event("a\"b\\c\nd", MET_TASK_SUBMITTED);
    metrics_http_request("/x/\"q\"\\\n", 404, 0.001);
    metrics_probe_result("we\"ird", 0, 0.2);
    char *t = render(NULL);
    assert_true(has_line(t, "cp_tasks_submitted_total{task_type=\"a\\\"b\\\\c\\nd\"} 1"));
    assert_true(has_line(t, "cp_http_request_duration_seconds_count{route=\"/x/\\\"q\\\"\\\\\\n\","
                            "status=\"404\"} 1"));
    assert_true(has_line(t, "cp_probe_results_total{type=\"we\\\"ird\",result=\"fail\"} 1"));
    /* no raw newline ever lands inside a sample line */
    for (const char *p = t; *p; p++)
        assert_false(p[0] == '\n' && p[1] == 'd');
    free(t);
}

static void test_http_and_probe_histograms(void **s)
{
    (void)s;
    const char *route = "/api/control-plane/agents/:id";
    metrics_http_request(route, 200, 0.003);
    metrics_http_request(route, 200, 0.2);
    metrics_http_request(route, 404, 0.0001);
    metrics_http_request(NULL, 404, 0.0001);
    metrics_probe_result("http", 1, 0.004);
    metrics_probe_result("http", 1, 0.004);
    metrics_probe_result("http", 0, 10);
    char *t = render(NULL);
    assert_true(has_line(t, "cp_http_request_duration_seconds_bucket{route=\"/api/control-plane/"
                            "agents/:id\",status=\"200\",le=\"0.005\"} 1"));
    assert_true(has_line(t, "cp_http_request_duration_seconds_bucket{route=\"/api/control-plane/"
                            "agents/:id\",status=\"200\",le=\"+Inf\"} 2"));
    assert_true(has_line(t, "cp_http_request_duration_seconds_count{route=\"/api/control-plane/"
                            "agents/:id\",status=\"404\"} 1"));
    assert_true(has_line(t, "cp_http_request_duration_seconds_count{route=\"unmatched\","
                            "status=\"404\"} 1"));
    assert_true(has_line(t, "cp_probe_results_total{type=\"http\",result=\"pass\"} 2"));
    assert_true(has_line(t, "cp_probe_results_total{type=\"http\",result=\"fail\"} 1"));
    assert_true(has_line(t, "cp_probe_duration_seconds_bucket{type=\"http\",le=\"0.005\"} 2"));
    assert_true(has_line(t, "cp_probe_duration_seconds_bucket{type=\"http\",le=\"5\"} 2"));
    assert_true(has_line(t, "cp_probe_duration_seconds_bucket{type=\"http\",le=\"10\"} 3"));
    assert_true(has_line(t, "cp_probe_duration_seconds_count{type=\"http\"} 3"));
    assert_true(has_line(t, "# TYPE cp_probe_duration_seconds histogram"));
    free(t);
}

static void test_task_type_cap_folds_into_other(void **s)
{
    (void)s;
    char name[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof name, "type-%d", i);
        metrics_task_event(name, MET_TASK_SUBMITTED);
    }
    metrics_task_event("type-0", MET_TASK_SUBMITTED); /* an early one still has its own series */
    char *t = render(NULL);
    assert_int_equal(count_prefix(t, "cp_tasks_submitted_total{"), 1001);
    assert_true(has_line(t, "cp_tasks_submitted_total{task_type=\"type-0\"} 2"));
    assert_true(has_line(t, "cp_tasks_submitted_total{task_type=\"type-999\"} 1"));
    assert_false(has_line(t, "cp_tasks_submitted_total{task_type=\"type-1000\"} 1"));
    assert_true(has_line(t, "cp_tasks_submitted_total{task_type=\"other\"} 500"));
    free(t);
}

static void test_reset_clears_everything(void **s)
{
    (void)s;
    metrics_task_event("debate", MET_TASK_SUBMITTED);
    metrics_claim_wait(1);
    metrics_probe_result("tcp", 1, 0.001);
    metrics_reset();
    char *t = render(NULL);
    assert_int_equal(count_prefix(t, "cp_tasks_submitted_total{"), 0);
    assert_int_equal(count_prefix(t, "cp_probe_results_total{"), 0);
    assert_true(has_line(t, "cp_claim_wait_seconds_count 0"));
    assert_true(has_line(t, "cp_claim_wait_seconds_bucket{le=\"+Inf\"} 0"));
    free(t);
}

static char *render_storage(int up, const struct cp_storage_status *st)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    metrics_render_storage(b, up, st);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

/* cp_storage_up always; the counters only as far as the store's status struct reaches. */
static void test_storage_state(void **s)
{
    (void)s;
    char *t = render_storage(0, NULL);
    assert_true(has_line(t, "# TYPE cp_storage_up gauge"));
    assert_true(has_line(t, "cp_storage_up 0"));
    assert_null(strstr(t, "cp_storage_reconnects_total"));
    free(t);
    struct cp_storage_status st = {.size = sizeof st,
                                   .reconnects = 3,
                                   .failovers = 2,
                                   .redirects = 7,
                                   .unconfirmed_writes = 11};
    t = render_storage(1, &st);
    assert_true(has_line(t, "cp_storage_up 1"));
    assert_true(has_line(t, "# TYPE cp_storage_reconnects_total counter"));
    assert_true(has_line(t, "cp_storage_reconnects_total 3"));
    assert_true(has_line(t, "cp_storage_failovers_total 2"));
    assert_true(has_line(t, "cp_storage_redirects_total 7"));
    assert_true(has_line(t, "cp_storage_unconfirmed_writes_total 11"));
    free(t);
    /* A store that filled less (an older, shorter struct): the missing counters are left out. */
    st.size = offsetof(struct cp_storage_status, redirects);
    t = render_storage(1, &st);
    assert_true(has_line(t, "cp_storage_failovers_total 2"));
    assert_null(strstr(t, "cp_storage_redirects_total"));
    assert_null(strstr(t, "cp_storage_unconfirmed_writes_total"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_gauges_from_stats, reset),
        cmocka_unit_test_setup(test_no_stats_renders_process_metrics_only, reset),
        cmocka_unit_test_setup(test_histogram_buckets_are_cumulative, reset),
        cmocka_unit_test_setup(test_task_counters_by_type, reset),
        cmocka_unit_test_setup(test_label_escaping, reset),
        cmocka_unit_test_setup(test_http_and_probe_histograms, reset),
        cmocka_unit_test_setup(test_task_type_cap_folds_into_other, reset),
        cmocka_unit_test_setup(test_reset_clears_everything, reset),
        cmocka_unit_test_setup(test_storage_state, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
