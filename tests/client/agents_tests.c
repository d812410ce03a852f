/* agents_tests.c — libcpclient against a real cpd: the agent, health, stats and raw-request
 * calls (CONTRACT §3, §5). Run by test_client.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_test.h"

/* ---- agents ---------------------------------------------------------------------------- */

void test_register(void **state)
{
    (void)state;
    const char *caps[] = {"debate", "code"};
    const char *id = uid("reg");
    struct cpc_agent_spec s = {.agent_id = id,
                               .capabilities = caps,
                               .n_capabilities = 2,
                               .model = "claude-3-opus",
                               .provider = "anthropic",
                               .metadata_json = "{\"version\": \"3.5\", \"n\": [1, 2]}",
                               .max_concurrent_tasks = 3};
    struct cpc_agent *a = NULL;
    int created = -1;
    int64_t before = wall_ms();
    ASSERT_OK(cp_client_agent_register(C, &s, &a, &created));
    assert_int_equal(created, 1);
    assert_int_equal(cp_client_last_status(C), 201);
    assert_string_equal(cp_client_last_message(C), "");
    assert_string_equal(a->agent_id, id);
    assert_int_equal(a->n_capabilities, 2);
    int has_code = !strcmp(a->capabilities[0], "code") || !strcmp(a->capabilities[1], "code");
    assert_true(has_code);
    assert_int_equal(a->status, CP_AGENT_READY);
    assert_string_equal(a->model, "claude-3-opus");
    assert_string_equal(a->provider, "anthropic");
    assert_non_null(strstr(a->metadata_json, "\"version\":\"3.5\""));
    assert_int_equal(a->max_concurrent_tasks, 3);
    assert_int_equal(a->tasks_in_flight, 0);
    assert_null(a->current_task_id);
    assert_null(a->health_probe_json);
    assert_int_equal(a->health, CP_HEALTH_HEALTHY);
    assert_int_equal(a->circuit, CP_CIRCUIT_CLOSED);
    assert_true(a->registered_at_ms >= before - 5000 && a->registered_at_ms <= wall_ms() + 5000);
    assert_true(a->last_heartbeat_ms >= a->registered_at_ms);
    assert_non_null(strstr(a->json, "\"agent_id\""));
    cp_client_agent_free(a);

    /* Re-registration: 200, fields replaced. */
    s.model = "gpt-4";
    s.n_capabilities = 1;
    ASSERT_OK(cp_client_agent_register(C, &s, &a, &created));
    assert_int_equal(created, 0);
    assert_int_equal(cp_client_last_status(C), 200);
    assert_string_equal(a->model, "gpt-4");
    assert_int_equal(a->n_capabilities, 1);
    cp_client_agent_free(a);

    /* Defaults: model/provider unknown, max 1. */
    s = (struct cpc_agent_spec){.agent_id = uid("reg")};
    ASSERT_OK(cp_client_agent_register(C, &s, &a, NULL));
    assert_string_equal(a->model, "unknown");
    assert_string_equal(a->metadata_json, "{}");
    assert_int_equal(a->max_concurrent_tasks, 1);
    assert_int_equal(a->n_capabilities, 0);
    cp_client_agent_free(a);
}

void test_register_errors(void **state)
{
    (void)state;
    struct cpc_agent *a = (struct cpc_agent *)1;
    struct cpc_agent_spec s = {0};
    /* Refused before sending: status 0, no code. */
    assert_int_equal(cp_client_agent_register(C, &s, &a, NULL), CPC_ERR_INVALID);
    assert_null(a);
    assert_int_equal(cp_client_last_status(C), 0);
    assert_non_null(strstr(cp_client_last_message(C), "agent_id"));
    s.agent_id = uid("bad");
    s.metadata_json = "{\"a\": ";
    assert_int_equal(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_INVALID);
    assert_non_null(strstr(cp_client_last_message(C), "metadata_json"));
    s.metadata_json = "{} x";
    assert_int_equal(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_INVALID);
    s.metadata_json = NULL;
    const char *caps[] = {"ok", NULL};
    s.capabilities = caps;
    s.n_capabilities = 2;
    assert_int_equal(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_INVALID);
    s.n_capabilities = 0;
    /* Refused by the server: 400 with its code and sentence. */
    s.agent_id = "has space";
    expect_error(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_INVALID, 400,
                 "invalid_field");
    assert_non_null(strstr(cp_client_last_message(C), "agent_id"));
    s.agent_id = uid("bad");
    s.metadata_json = "[1]";
    expect_error(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_INVALID, 400, NULL);
    s.metadata_json = NULL;
    s.health_probe_json = "{\"type\": \"no-such-probe\"}";
    expect_error(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_INVALID, 400, NULL);
}

void test_register_probe(void **state)
{
    (void)state;
    const char *id = uid("probe");
    char probe[160];
    snprintf(probe, sizeof probe,
             "{\"type\": \"tcp\", \"address\": \"127.0.0.1:%s\", \"interval_seconds\": 60}",
             dead_port ? dead_port : "1");
    struct cpc_agent_spec s = {.agent_id = id, .health_probe_json = probe};
    struct cpc_agent *a = NULL;
    ASSERT_OK(cp_client_agent_register(C, &s, &a, NULL));
    assert_non_null(a->health_probe_json);
    assert_non_null(strstr(a->health_probe_json, "tcp"));
    cp_client_agent_free(a);
    struct cpc_health *h = NULL;
    ASSERT_OK(cp_client_agent_health(C, id, &h));
    assert_string_equal(h->agent_id, id);
    assert_non_null(h->probe);
    assert_string_equal(h->probe, "tcp");
    assert_true(h->status >= 0);
    assert_int_equal(h->circuit, CP_CIRCUIT_CLOSED);
    cp_client_health_free(h);
    ASSERT_OK(cp_client_agent_unregister(C, id));
}

void test_heartbeat(void **state)
{
    (void)state;
    const char *id = uid("hb");
    register_agent(id, NULL, 0);
    int st = -2;
    ASSERT_OK(cp_client_agent_heartbeat(C, id, -1, &st));
    assert_int_equal(st, CP_AGENT_READY);
    ASSERT_OK(cp_client_agent_heartbeat(C, id, CP_AGENT_BUSY, &st));
    assert_int_equal(st, CP_AGENT_BUSY);
    struct cpc_agent *a = NULL;
    ASSERT_OK(cp_client_agent_get(C, id, &a));
    assert_int_equal(a->status, CP_AGENT_BUSY);
    cp_client_agent_free(a);
    ASSERT_OK(cp_client_agent_heartbeat(C, id, CP_AGENT_DRAINING, NULL));
    ASSERT_OK(cp_client_agent_heartbeat(C, id, CP_AGENT_READY, &st));
    assert_int_equal(st, CP_AGENT_READY);
    expect_error(cp_client_agent_heartbeat(C, id, CP_AGENT_OFFLINE, &st), CPC_ERR_INVALID, 400,
                 "invalid_field");
    assert_int_equal(st, -1);
    assert_int_equal(cp_client_agent_heartbeat(C, id, 42, NULL), CPC_ERR_INVALID);
    expect_error(cp_client_agent_heartbeat(C, uid("nobody"), -1, NULL), CPC_ERR_NOT_FOUND, 404,
                 "not_found");
    assert_int_equal(cp_client_agent_heartbeat(C, NULL, -1, NULL), CPC_ERR_INVALID);
}

void test_get_unregister(void **state)
{
    (void)state;
    /* Identifiers may hold '/', ':' and '@': they travel percent-encoded. */
    char id[96];
    snprintf(id, sizeof id, "team/%s:v1@eu", uid("odd"));
    register_agent(id, NULL, 0);
    struct cpc_agent *a = NULL;
    ASSERT_OK(cp_client_agent_get(C, id, &a));
    assert_string_equal(a->agent_id, id);
    cp_client_agent_free(a);
    ASSERT_OK(cp_client_agent_unregister(C, id));
    expect_error(cp_client_agent_get(C, id, &a), CPC_ERR_NOT_FOUND, 404, "not_found");
    assert_null(a);
    expect_error(cp_client_agent_unregister(C, id), CPC_ERR_NOT_FOUND, 404, "not_found");
}

static int list_has(const struct cpc_agent_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->agents[i].agent_id, id) == 0) return 1;
    return 0;
}

void test_list(void **state)
{
    (void)state;
    char cap1[64], cap2[64], a1[64], a2[64], a3[64];
    snprintf(cap1, sizeof cap1, "%s", uid("cap"));
    snprintf(cap2, sizeof cap2, "%s", uid("cap"));
    snprintf(a1, sizeof a1, "%s", uid("l"));
    snprintf(a2, sizeof a2, "%s", uid("l"));
    snprintf(a3, sizeof a3, "%s", uid("l"));
    const char *both[] = {cap1, cap2}, *one[] = {cap1};
    register_agent(a1, both, 2);
    register_agent(a2, one, 1);
    register_agent(a3, both, 2);
    ASSERT_OK(cp_client_agent_heartbeat(C, a3, CP_AGENT_DRAINING, NULL));

    struct cpc_agent_list *l = NULL;
    struct cpc_agent_query q = {.capabilities = one, .n_capabilities = 1};
    ASSERT_OK(cp_client_agent_list(C, &q, &l));
    assert_int_equal(l->n, 2); /* a3 is draining: not available */
    assert_int_equal(l->total, 2);
    assert_true(list_has(l, a1) && list_has(l, a2));
    assert_non_null(strstr(l->json, "\"agents\""));
    cp_client_agent_list_free(l);

    q = (struct cpc_agent_query){.capabilities = both, .n_capabilities = 2};
    ASSERT_OK(cp_client_agent_list(C, &q, &l));
    assert_int_equal(l->n, 1);
    assert_string_equal(l->agents[0].agent_id, a1);
    cp_client_agent_list_free(l);

    q.all = 1;
    ASSERT_OK(cp_client_agent_list(C, &q, &l));
    assert_int_equal(l->n, 2);
    assert_true(list_has(l, a1) && list_has(l, a3));
    cp_client_agent_list_free(l);

    q.status = "draining";
    ASSERT_OK(cp_client_agent_list(C, &q, &l));
    assert_int_equal(l->n, 1);
    assert_string_equal(l->agents[0].agent_id, a3);
    cp_client_agent_list_free(l);

    ASSERT_OK(cp_client_agent_list(C, NULL, &l));
    assert_true(list_has(l, a1) && !list_has(l, a3));
    cp_client_agent_list_free(l);

    q.status = "sleepy";
    expect_error(cp_client_agent_list(C, &q, &l), CPC_ERR_INVALID, 400, NULL);
    assert_null(l);
}

/* More agents than a page: cp_client_agent_list follows "next" to the end; one page at a time
 * with cp_client_agent_page. */
void test_list_pages(void **state)
{
    (void)state;
    enum { N = CPC_AGENT_PAGE + 20 };
    char cap[64], prefix[64];
    snprintf(cap, sizeof cap, "%s", uid("pcap"));
    snprintf(prefix, sizeof prefix, "%s", uid("pg"));
    const char *caps[] = {cap};
    for (int i = 0; i < N; i++) {
        char id[96];
        snprintf(id, sizeof id, "%s-%04d", prefix, i);
        register_agent(id, caps, 1);
    }
    struct cpc_agent_query q = {.capabilities = caps, .n_capabilities = 1, .all = 1};
    struct cpc_agent_list *l = NULL;
    ASSERT_OK(cp_client_agent_list(C, &q, &l));
    assert_int_equal(l->n, N);
    assert_int_equal(l->total, N);
    assert_null(l->next);
    for (size_t i = 1; i < l->n; i++)
        assert_true(strcmp(l->agents[i - 1].agent_id, l->agents[i].agent_id) < 0);
    assert_non_null(strstr(l->json, "\"next\":null"));
    cp_client_agent_list_free(l);

    size_t seen = 0, pages = 0;
    char after[96] = "";
    do {
        ASSERT_OK(cp_client_agent_page(C, &q, 200, *after ? after : NULL, &l));
        assert_true(l->n <= 200);
        for (size_t i = 0; i < l->n; i++) {
            char want[96];
            snprintf(want, sizeof want, "%s-%04zu", prefix, seen + i);
            assert_string_equal(l->agents[i].agent_id, want);
        }
        seen += l->n;
        pages++;
        snprintf(after, sizeof after, "%s", l->next ? l->next : "");
        cp_client_agent_list_free(l);
    } while (*after);
    assert_int_equal(seen, N);
    assert_int_equal(pages, 3);
    expect_error(cp_client_agent_page(C, &q, 0, NULL, &l), CPC_ERR_INVALID, 0, NULL);
    expect_error(cp_client_agent_page(C, &q, 100001, NULL, &l), CPC_ERR_INVALID, 400, NULL);
    assert_null(l);
}

void test_select(void **state)
{
    (void)state;
    char cap[64], a1[64], a2[64];
    snprintf(cap, sizeof cap, "%s", uid("scap"));
    snprintf(a1, sizeof a1, "%s", uid("s1"));
    snprintf(a2, sizeof a2, "%s", uid("s2"));
    const char *caps[] = {cap};
    register_agent(a1, caps, 1);
    register_agent(a2, caps, 1);

    struct cpc_agent *a = NULL;
    struct cpc_select_query q = {
        .capabilities = caps, .n_capabilities = 1, .strategy = "round_robin"};
    ASSERT_OK(cp_client_agent_select(C, &q, &a));
    char first[64];
    snprintf(first, sizeof first, "%s", a->agent_id);
    cp_client_agent_free(a);
    ASSERT_OK(cp_client_agent_select(C, &q, &a));
    assert_string_not_equal(a->agent_id, first); /* round robin over two: the other one */
    cp_client_agent_free(a);

    const char *ex[] = {a1};
    q = (struct cpc_select_query){
        .capabilities = caps, .n_capabilities = 1, .exclude = ex, .n_exclude = 1};
    ASSERT_OK(cp_client_agent_select(C, &q, &a));
    assert_string_equal(a->agent_id, a2);
    cp_client_agent_free(a);

    const char *ex2[] = {a1, a2};
    q.exclude = ex2;
    q.n_exclude = 2;
    expect_error(cp_client_agent_select(C, &q, &a), CPC_ERR_NOT_FOUND, 404, "no_agent");
    assert_null(a);
    q.n_exclude = 0;
    q.strategy = "no_such_strategy";
    expect_error(cp_client_agent_select(C, &q, &a), CPC_ERR_INVALID, 400, NULL);
}

/* ---- health and stats ------------------------------------------------------------------ */

void test_health(void **state)
{
    (void)state;
    const char *agent = uid("h");
    register_agent(agent, NULL, 0);
    struct cpc_system_health *sh = NULL;
    ASSERT_OK(cp_client_health(C, &sh));
    assert_true(sh->status >= 0);
    int found = 0;
    for (size_t i = 0; i < sh->n_agents; i++) {
        if (i) assert_true(strcmp(sh->agents[i - 1].agent_id, sh->agents[i].agent_id) < 0);
        if (strcmp(sh->agents[i].agent_id, agent) == 0) {
            found = 1;
            assert_int_equal(sh->agents[i].status, CP_HEALTH_HEALTHY);
            assert_null(sh->agents[i].probe);
            assert_int_equal(sh->agents[i].circuit, CP_CIRCUIT_CLOSED);
        }
    }
    assert_true(found);
    assert_non_null(strstr(sh->json, "\"agents\""));
    cp_client_system_health_free(sh);

    struct cpc_health *h = NULL;
    ASSERT_OK(cp_client_agent_health(C, agent, &h));
    assert_string_equal(h->agent_id, agent);
    assert_int_equal(h->status, CP_HEALTH_HEALTHY);
    assert_int_equal(h->consecutive_failures, 0);
    assert_int_equal(h->circuit_failures, 0);
    assert_int_equal(h->circuit_opened_at_ms, 0);
    cp_client_health_free(h);
    expect_error(cp_client_agent_health(C, uid("none"), &h), CPC_ERR_NOT_FOUND, 404, NULL);
    assert_null(h);
}

/* The forms of GET /health: the summary's counts, the full map a page at a time, and
 * cp_client_health_all over several pages (test_list_pages left more than one page). */
void test_health_forms(void **state)
{
    (void)state;
    struct cpc_system_health *sh = NULL, *all = NULL;
    struct cpc_health_query q = {.agents = "summary"};
    ASSERT_OK(cp_client_health_query(C, &q, &sh));
    assert_int_equal(sh->full, 0);
    assert_true(sh->agents_total > CPC_AGENT_PAGE);
    assert_int_equal(sh->by_health[CP_HEALTH_HEALTHY] + sh->by_health[CP_HEALTH_DEGRADED] +
                         sh->by_health[CP_HEALTH_UNHEALTHY] + sh->by_health[CP_HEALTH_UNKNOWN],
                     sh->agents_total);
    assert_int_equal(sh->n_agents,
                     sh->by_health[CP_HEALTH_DEGRADED] + sh->by_health[CP_HEALTH_UNHEALTHY]);
    assert_non_null(strstr(sh->json, "\"unhealthy_agents\""));
    uint64_t total = sh->agents_total;
    cp_client_system_health_free(sh);

    q = (struct cpc_health_query){.agents = "all", .limit = 3};
    ASSERT_OK(cp_client_health_query(C, &q, &sh));
    assert_int_equal(sh->full, 1);
    assert_int_equal(sh->n_agents, 3);
    assert_non_null(sh->next);
    assert_string_equal(sh->next, sh->agents[2].agent_id);
    q.after = sh->next;
    struct cpc_system_health *second = NULL;
    ASSERT_OK(cp_client_health_query(C, &q, &second));
    assert_true(strcmp(second->agents[0].agent_id, sh->agents[2].agent_id) > 0);
    cp_client_system_health_free(second);
    cp_client_system_health_free(sh);

    ASSERT_OK(cp_client_health_all(C, &all));
    assert_int_equal(all->full, 1);
    assert_true(all->n_agents >= total); /* others may have registered meanwhile */
    assert_null(all->next);
    for (size_t i = 1; i < all->n_agents; i++)
        assert_true(strcmp(all->agents[i - 1].agent_id, all->agents[i].agent_id) < 0);
    cp_client_system_health_free(all);

    q = (struct cpc_health_query){.agents = "everything"};
    expect_error(cp_client_health_query(C, &q, &sh), CPC_ERR_INVALID, 400, "invalid_field");
    assert_null(sh);
}

void test_stats(void **state)
{
    (void)state;
    struct cpc_stats *before = NULL, *after = NULL;
    ASSERT_OK(cp_client_stats(C, &before));
    char cap[64], type[64], prov[64];
    snprintf(cap, sizeof cap, "%s", uid("stc"));
    snprintf(type, sizeof type, "%s", uid("stt"));
    snprintf(prov, sizeof prov, "%s", uid("stp"));
    const char *caps[] = {cap};
    struct cpc_agent_spec s = {
        .agent_id = uid("st"), .capabilities = caps, .n_capabilities = 1, .provider = prov};
    ASSERT_OK(cp_client_agent_register(C, &s, NULL, NULL));
    struct cpc_task_spec ts = {.task_type = type, .priority = "low"};
    char *id = NULL;
    ASSERT_OK(cp_client_task_submit(C, &ts, &id));
    ASSERT_OK(cp_client_stats(C, &after));
    assert_int_equal(after->total_agents, before->total_agents + 1);
    assert_int_equal(after->available_agents, before->available_agents + 1);
    assert_int_equal(after->agents_by_status[CP_AGENT_READY],
                     before->agents_by_status[CP_AGENT_READY] + 1);
    assert_int_equal(after->pending_tasks, before->pending_tasks + 1);
    assert_int_equal(after->total_tasks, before->total_tasks + 1);
    assert_int_equal(after->tasks_by_status[CP_TASK_PENDING],
                     before->tasks_by_status[CP_TASK_PENDING] + 1);
    assert_int_equal(after->tasks_by_priority[CP_PRIORITY_LOW],
                     before->tasks_by_priority[CP_PRIORITY_LOW] + 1);
    int cap_ok = 0, type_ok = 0, prov_ok = 0;
    for (size_t i = 0; i < after->n_agents_by_capability; i++)
        if (!strcmp(after->agents_by_capability[i].name, cap))
            cap_ok = after->agents_by_capability[i].count == 1;
    for (size_t i = 0; i < after->n_tasks_by_type; i++)
        if (!strcmp(after->tasks_by_type[i].name, type))
            type_ok = after->tasks_by_type[i].count == 1;
    for (size_t i = 0; i < after->n_agents_by_provider; i++)
        if (!strcmp(after->agents_by_provider[i].name, prov))
            prov_ok = after->agents_by_provider[i].count == 1;
    assert_true(cap_ok && type_ok && prov_ok);
    assert_true(after->system_health >= 0);
    assert_true(after->healthy_count >= 1);
    assert_non_null(strstr(after->json, "\"scheduler\""));
    cp_client_stats_free(before);
    cp_client_stats_free(after);
    ASSERT_OK(cp_client_task_cancel(C, id));
    free(id);
}

void test_raw_request(void **state)
{
    (void)state;
    char *body = NULL;
    ASSERT_OK(cp_client_request(C, "GET", "/stats", NULL, 0, &body));
    assert_non_null(strstr(body, "\"registry\""));
    free(body);
    const char *id = uid("raw");
    char json[128], path[128];
    snprintf(json, sizeof json, "{\"agent_id\": \"%s\"}", id);
    ASSERT_OK(cp_client_request(C, "POST", "/agents", json, 0, NULL));
    assert_int_equal(cp_client_last_status(C), 201);
    snprintf(path, sizeof path, "/agents/%s", id);
    ASSERT_OK(cp_client_request(C, "DELETE", path, NULL, 0, &body));
    assert_non_null(strstr(body, "unregistered"));
    free(body);
    expect_error(cp_client_request(C, "DELETE", "/stats", NULL, 0, &body), CPC_ERR_METHOD, 405,
                 "method_not_allowed");
    assert_null(body);
    expect_error(cp_client_request(C, "GET", "/no/such/route", NULL, 0, NULL), CPC_ERR_NOT_FOUND,
                 404, "not_found");
    expect_error(cp_client_request(C, "POST", "/agents", "{not json", 0, NULL), CPC_ERR_INVALID,
                 400, "invalid_json");
    assert_int_equal(cp_client_request(C, "GET", "stats", NULL, 0, NULL), CPC_ERR_INVALID);
}
