/* test_client.c — libcpclient against a real cpd (started by tests/e2e/only_client.py).
 *
 *   test_client api  URL              every call of cp/client.h, auth off
 *   test_client auth URL ADMIN READER tokens: 401/403, bearer token, 413
 *   test_client lossy URL             a cpd behind lossyproxy.py: retried submits
 *   test_client fake URL DEADPORT     a fake server (non-JSON, 500, slow) and a closed port
 *
 * Each test builds on a fresh server's state only through ids it made itself (unique per
 * test), so their order does not matter except where the stats test compares before/after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cp/time.h>

#include "client_test.h"

const char *url, *dead_port;
cp_client *C;
static const char *admin_token, *reader_token;

int64_t mono_ms(void)
{
    return cp_monotonic_us() / 1000;
}

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *uid(const char *prefix)
{
    static char bufs[8][96];
    static unsigned n;
    char *b = bufs[n % 8];
    snprintf(b, sizeof bufs[0], "%s-%d-%u", prefix, (int)getpid(), ++n);
    return b;
}

void expect_error(int rc, int want, int status, const char *code)
{
    if (rc != want)
        fail_msg("expected %s, got %s: %s", cp_client_strerror(want), cp_client_strerror(rc),
                 cp_client_last_message(C));
    assert_int_equal(cp_client_last_status(C), status);
    if (code) assert_string_equal(cp_client_last_code(C), code);
    assert_true(strlen(cp_client_last_message(C)) > 0);
}

void register_agent(const char *id, const char *const *caps, size_t n)
{
    struct cpc_agent_spec s = {.agent_id = id, .capabilities = caps, .n_capabilities = n};
    ASSERT_OK(cp_client_agent_register(C, &s, NULL, NULL));
}

char *submit(const char *type, const char *const *caps, size_t n, const char *payload)
{
    struct cpc_task_spec s = {
        .task_type = type, .required_capabilities = caps, .n_required = n, .payload_json = payload};
    char *id = NULL;
    ASSERT_OK(cp_client_task_submit(C, &s, &id));
    assert_non_null(id);
    assert_int_equal(strlen(id), 29);
    assert_memory_equal(id, "task_", 5);
    return id;
}

static int open_client(void **state)
{
    (void)state;
    struct cpc_options o = {.url = url, .timeout_ms = 10000};
    return cp_client_open(&C, &o) == CPC_OK ? 0 : -1;
}

static int close_client(void **state)
{
    (void)state;
    cp_client_free(C);
    C = NULL;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void test_open(void **state)
{
    (void)state;
    cp_client *c = NULL;
    struct cpc_options bad = {.url = "ftp://x"};
    assert_int_equal(cp_client_open(&c, &bad), CPC_ERR_INVALID);
    assert_null(c);
    struct cpc_options neg = {.url = url, .timeout_ms = -1};
    assert_int_equal(cp_client_open(&c, &neg), CPC_ERR_INVALID);
    c = cp_client_new("http://127.0.0.1:1/", NULL);
    assert_non_null(c);
    assert_string_equal(cp_client_url(c), "http://127.0.0.1:1/api/control-plane");
    cp_client_free(c);
    c = cp_client_new("http://127.0.0.1:1/api/control-plane/", "tok");
    assert_string_equal(cp_client_url(c), "http://127.0.0.1:1/api/control-plane");
    assert_int_equal(cp_client_set_token(c, "bad\ntoken"), CPC_ERR_INVALID);
    assert_int_equal(cp_client_set_timeout(c, -5), CPC_ERR_INVALID);
    cp_client_free(c);
    cp_client_free(NULL);
    assert_string_equal(cp_client_strerror(CPC_ERR_NOT_FOUND), "not found");
    assert_string_equal(cp_client_strerror(12345), "unknown error");
}

/* ---- auth (a cpd with an admin and a reader token, 64 KiB body limit) ------------------- */

static void test_auth(void **state)
{
    (void)state;
    cp_client_set_token(C, NULL);
    struct cpc_agent_list *l = NULL;
    expect_error(cp_client_agent_list(C, NULL, &l), CPC_ERR_UNAUTHORIZED, 401, "unauthorized");
    cp_client_set_token(C, "wrong-token");
    expect_error(cp_client_agent_list(C, NULL, &l), CPC_ERR_UNAUTHORIZED, 401, "unauthorized");
    /* /health answers without a token. */
    cp_client_set_token(C, NULL);
    struct cpc_system_health *sh = NULL;
    ASSERT_OK(cp_client_health(C, &sh));
    cp_client_system_health_free(sh);

    ASSERT_OK(cp_client_set_token(C, reader_token));
    ASSERT_OK(cp_client_agent_list(C, NULL, &l));
    cp_client_agent_list_free(l);
    struct cpc_agent_spec s = {.agent_id = uid("auth")};
    expect_error(cp_client_agent_register(C, &s, NULL, NULL), CPC_ERR_FORBIDDEN, 403, "forbidden");

    ASSERT_OK(cp_client_set_token(C, admin_token));
    ASSERT_OK(cp_client_agent_register(C, &s, NULL, NULL));
    /* Draining is the admin's: a reader may not. */
    ASSERT_OK(cp_client_set_token(C, reader_token));
    expect_error(cp_client_agent_drain(C, s.agent_id, NULL), CPC_ERR_FORBIDDEN, 403, "forbidden");
    ASSERT_OK(cp_client_set_token(C, admin_token));
    ASSERT_OK(cp_client_agent_drain(C, s.agent_id, NULL));

    /* 413: a payload over limits.max_body_bytes. */
    size_t n = 100 * 1024;
    char *big = malloc(n + 3);
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'x', n);
    big[n + 1] = '"';
    big[n + 2] = '\0';
    struct cpc_task_spec ts = {.task_type = "big", .payload_json = big};
    char *id = NULL;
    expect_error(cp_client_task_submit(C, &ts, &id), CPC_ERR_TOO_LARGE, 413, "payload_too_large");
    free(big);
    ASSERT_OK(cp_client_agent_unregister(C, s.agent_id));
}

/* ---- a fake server and a closed port ---------------------------------------------------- */

static void test_fake(void **state)
{
    (void)state;
    struct cpc_agent *a = (struct cpc_agent *)1;
    /* 200 with a body that is not JSON. */
    assert_int_equal(cp_client_agent_get(C, "notjson", &a), CPC_ERR_PROTOCOL);
    assert_null(a);
    assert_int_equal(cp_client_last_status(C), 200);
    /* 200 with JSON that is not an agent. */
    assert_int_equal(cp_client_agent_get(C, "notagent", &a), CPC_ERR_PROTOCOL);
    /* 500 with a text body: the message carries the status. */
    expect_error(cp_client_agent_get(C, "e500", &a), CPC_ERR_SERVER, 500, "");
    assert_non_null(strstr(cp_client_last_message(C), "HTTP 500"));
    /* 503 with the contract's error body, and whether the request took effect. */
    expect_error(cp_client_agent_get(C, "e503", &a), CPC_ERR_UNAVAILABLE, 503,
                 "storage_unavailable");
    assert_int_equal(cp_client_last_applied(C), CPC_APPLIED_NO);
    expect_error(cp_client_agent_get(C, "e503u", &a), CPC_ERR_UNAVAILABLE, 503,
                 "storage_unavailable");
    assert_int_equal(cp_client_last_applied(C), CPC_APPLIED_UNKNOWN);
    expect_error(cp_client_agent_get(C, "e500", &a), CPC_ERR_SERVER, 500, "");
    assert_int_equal(cp_client_last_applied(C), CPC_APPLIED_NOT_SAID);
    /* An answer slower than the call's timeout. */
    cp_client_set_timeout(C, 300);
    int64_t t0 = mono_ms();
    assert_int_equal(cp_client_agent_get(C, "slow", &a), CPC_ERR_TIMEOUT);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(cp_client_last_status(C), 0);
    cp_client_set_timeout(C, 0);
    /* Long polls get block_ms + the margin: the same slow answer arrives in time. */
    struct cpc_options o = {.url = url, .timeout_ms = 300, .long_poll_margin_ms = 3000};
    cp_client *lp = NULL;
    assert_int_equal(cp_client_open(&lp, &o), CPC_OK);
    struct cpc_task *t = NULL;
    assert_int_equal(cp_client_task_claim(lp, "slow", NULL, 0, 500, &t), CPC_OK);
    assert_null(t);
    cp_client_free(lp);

    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%s", dead_port);
    cp_client *c = cp_client_new(dead, NULL);
    assert_non_null(c);
    struct cpc_stats *st = NULL;
    assert_int_equal(cp_client_stats(c, &st), CPC_ERR_TRANSPORT);
    assert_null(st);
    assert_int_equal(cp_client_last_status(c), 0);
    assert_string_equal(cp_client_last_code(c), "");
    assert_non_null(strstr(cp_client_last_message(c), "127.0.0.1"));
    cp_client_free(c);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s api|auth|fake|lossy URL [ADMIN READER | DEADPORT]\n", argv[0]);
        return 2;
    }
    url = argv[2];
    const struct CMUnitTest api[] = {
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_register_errors),
        cmocka_unit_test(test_register_probe),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_get_unregister),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_submit_get),
        cmocka_unit_test(test_submit_errors),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_complete_next),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_claim_errors),
        cmocka_unit_test(test_claim_long_poll),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_task_list),
        cmocka_unit_test(test_submit_options),
        cmocka_unit_test(test_submit_affinity),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_lease_attempts_retry_purge),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_health_forms),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_raw_request),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_interrupt),
        cmocka_unit_test(test_plugins),
        cmocka_unit_test(test_select_hints),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_fleet),
        cmocka_unit_test(test_tenants),
    };
    const struct CMUnitTest auth[] = {cmocka_unit_test(test_auth)};
    const struct CMUnitTest fake[] = {cmocka_unit_test(test_fake),
                                      cmocka_unit_test(test_events_fake)};
    const struct CMUnitTest lossy[] = {cmocka_unit_test(test_lossy_submit)};
    if (strcmp(argv[1], "api") == 0) {
        dead_port = argc > 3 ? argv[3] : NULL;
        return cmocka_run_group_tests_name("client_api", api, open_client, close_client);
    }
    if (strcmp(argv[1], "auth") == 0 && argc == 5) {
        admin_token = argv[3];
        reader_token = argv[4];
        return cmocka_run_group_tests_name("client_auth", auth, open_client, close_client);
    }
    if (strcmp(argv[1], "lossy") == 0) {
        return cmocka_run_group_tests_name("client_lossy", lossy, open_client, close_client);
    }
    if (strcmp(argv[1], "fake") == 0 && argc == 4) {
        dead_port = argv[3];
        return cmocka_run_group_tests_name("client_fake", fake, open_client, close_client);
    }
    fprintf(stderr, "%s: bad arguments\n", argv[0]);
    return 2;
}
