/* client_test.h — what the libcpclient test files share: the client under test, the server's
 * URL, unique ids and assertion helpers (defined in test_client.c). */
#ifndef CLIENT_TEST_H
#define CLIENT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cp/client.h"

extern const char *url;       /* the server under test */
extern const char *dead_port; /* a loopback port nothing listens on, or NULL */
extern cp_client *C;          /* the group's client */

int64_t mono_ms(void);
int64_t wall_ms(void);
/* A fresh identifier: prefix-<pid>-<n>; one of 8 rotating buffers. */
const char *uid(const char *prefix);
/* Asserts rc == want, the HTTP status, the server's code (when given) and a non-empty message. */
void expect_error(int rc, int want, int status, const char *code);
void register_agent(const char *id, const char *const *caps, size_t n);
/* Submits a task and checks the id's shape; free() the id. */
char *submit(const char *type, const char *const *caps, size_t n, const char *payload);

#define ASSERT_OK(call)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != CPC_OK)                                                                         \
            fail_msg("%s -> %s (%d): %s [%s]", #call, cp_client_strerror(rc_),                     \
                     cp_client_last_status(C), cp_client_last_message(C), cp_client_last_code(C)); \
    } while (0)

void test_register(void **state);
void test_register_errors(void **state);
void test_register_probe(void **state);
void test_heartbeat(void **state);
void test_get_unregister(void **state);
void test_list(void **state);
void test_list_pages(void **state);
void test_select(void **state);
void test_health(void **state);
void test_health_forms(void **state);
void test_stats(void **state);
void test_raw_request(void **state);
void test_submit_get(void **state);
void test_submit_errors(void **state);
void test_lifecycle(void **state);
void test_fail(void **state);
void test_complete_next(void **state);
void test_cancel(void **state);
void test_claim_errors(void **state);
void test_claim_long_poll(void **state);
void test_interrupt(void **state);
void test_wait(void **state);
void test_task_list(void **state);
void test_events(void **state);
void test_events_interrupt(void **state);
void test_events_fake(void **state);
void test_submit_options(void **state);
void test_submit_affinity(void **state);
void test_batch(void **state);
void test_lease_attempts_retry_purge(void **state);
void test_lossy_submit(void **state);
void test_plugins(void **state);
void test_select_hints(void **state);
void test_tenants(void **state);
void test_drain(void **state);
void test_fleet(void **state); /* fleet_tests.c */

#endif
