/* conformance.h — the storage conformance suite's harness: one fresh backend instance per test,
 * each op run to completion on a real event loop, and its result deep-copied so async backends
 * (whose results are borrowed only during the callback) are checked the same way as memory.
 *
 * Every helper returns a copy owned by the current test (freed in its teardown). The op_*()
 * wrappers only run the op; the short helpers (reg, submit, claim, ...) also assert rc == 0. */
#ifndef CONFORMANCE_H
#define CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <cp/storage.h>

/* A fixed, realistic epoch for explicit now_ms values: 2023-11-14T22:13:20Z. */
#define T0 ((int64_t)1700000000000)

/* ---- harness (harness.c) ------------------------------------------------------------------ */

/* Command-line configuration, set once by main(). */
void cx_configure(const char *plugin_path, char **options, int n_options);
/* cmocka setup/teardown: a fresh, empty instance per test; teardown checks the stats counters
 * against a recount from the list ops, that each callback ran exactly once, and unloads. */
int cx_setup(void **state);
int cx_teardown(void **state);
void cx_finish(void); /* frees the event loop at exit */

void *cx_alloc(size_t n); /* zeroed, freed at teardown */
char *cx_strdup(const char *s);
/* harness_copy.c: a deep copy of a lent result (per-test memory), and what is wrong with the
 * sizes it declares (NULL: nothing). */
struct cp_result *cx_copy_result(const struct cp_result *r);
const char *cx_bad_sizes(const struct cp_result *r);
/* "a,b,c" -> sorted array (NULL for ""); *n set. */
const char *const *cx_caps(const char *csv, uint32_t *n);
/* A task id made from a number: "task_" + 24 hex digits. */
const char *tid(unsigned n);

/* ---- raw ops: run to completion, return the copied result (never NULL) -------------------- */

const struct cp_result *op_register(const struct cp_agent_view *in, int64_t now);
const struct cp_result *op_agent_get(const char *id);
const struct cp_result *op_agent_list(const char *caps_csv, int32_t status);
/* agent_list with the paging members (ABI 2.4): after (NULL: from the start), limit (0: all),
 * health_mask (0: any). */
const struct cp_result *op_agent_page(const char *caps_csv, int32_t status, const char *after,
                                      uint32_t limit, uint32_t health_mask);
/* Pages of 1..3 (and health masks) list exactly what the whole list holds, in order. */
void check_agent_pages(const char *caps_csv, int32_t status);
const struct cp_result *op_heartbeat(const char *id, int32_t status, int64_t now);
const struct cp_result *op_unregister(const char *id, int64_t now);
const struct cp_result *op_set_health(const char *id, const struct cp_health_view *h,
                                      int32_t status, int32_t expect_status);
const struct cp_result *op_submit(const struct cp_task_view *t);
const struct cp_result *op_task_get(const char *id);
const struct cp_result *op_task_list(int32_t status, const char *type, uint32_t limit);
/* caps_csv NULL: the agent's registered capabilities. */
const struct cp_result *op_claim(const char *agent, const char *caps_csv, int64_t now);
const struct cp_result *op_transition(const struct cp_transition *tr);
const struct cp_result *op_reap(const struct cp_reap *r);
const struct cp_result *op_stats(void);
/* The 2.4 operations: cx_has_v4() is 1 when the backend has all of them (a backend built for an
 * older minor has none: its tests of them are skipped as "not supported"). */
int cx_has_v4(void);
const struct cp_result *op_extend(const struct cp_extend *x);
const struct cp_result *op_retry(const char *id, int64_t now);
const struct cp_result *op_purge(const struct cp_purge *p);
const struct cp_result *op_submit_batch(const struct cp_task_view *const *tasks, size_t n);
/* Skips the current test unless the backend speaks 2.4 (see cx_has_v4). */
#define REQUIRE_V4()                                                                               \
    do {                                                                                           \
        if (!cx_has_v4()) {                                                                        \
            print_message("not supported by this backend (ABI 2.%u)\n", cx_backend_minor());       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)
/* agent_drain (since ABI 2.4); only when cx_has_drain(). */
const struct cp_result *op_drain(const char *id, int drain, int64_t now);
/* 1 when the backend has agent_drain (ops version 4 or later and the op set). */
int cx_has_drain(void);

/* task_complete_next (since ABI 2.4, optional: NULL means the host makes the two calls); only
 * when cx_has_complete_next(). */
const struct cp_result *op_complete_next(const struct cp_transition *tr,
                                         const struct cp_claim *next);
int cx_has_complete_next(void);
/* Provider quotas (since ABI 2.4, optional); only when cx_has_quotas(). */
int cx_has_quotas(void);
const struct cp_result *op_quota_put(const struct cp_quota_view *q);
const struct cp_result *op_quota_delete(const char *id);
const struct cp_result *op_quota_list(int64_t now);

/* Tenants (since ABI 2.4, optional: all three ops or none); only when cx_has_tenants(). */
int cx_has_tenants(void);
const struct cp_result *op_tenant_put(const char *id, uint32_t weight, uint32_t max_in_flight);
const struct cp_result *op_tenant_delete(const char *id);
const struct cp_result *op_tenant_list(void);
/* A claim with cp_claim.aging_ms set. */
const struct cp_result *op_claim_aging(const char *agent, int64_t now, int64_t aging_ms);

/* affinity_get / affinity_set (since ABI 2.4, optional: NULL means nothing is remembered); only
 * when cx_has_affinity(). */
const struct cp_result *op_affinity_get(const char *key, int64_t now);
const struct cp_result *op_affinity_set(const struct cp_affinity *a);
int cx_has_affinity(void);

/* ---- asserting shorthands ------------------------------------------------------------------ */

/* An agent input with defaults (model "m1", provider "p1", metadata {}, no probe). */
struct cp_agent_view agent_in(const char *id, const char *caps_csv, uint32_t max);
/* Register; asserts rc 0 and returns the stored agent. */
const struct cp_agent_view *reg(const char *id, const char *caps_csv, uint32_t max, int64_t now);
const struct cp_agent_view *agent(const char *id); /* asserts found */

/* A task input with defaults (payload {"n":1}, normal priority, timeout 300 s, 3 retries). */
struct cp_task_view task_in(const char *id, const char *caps_csv, int priority, int64_t created);
const struct cp_task_view *submit(const char *id, const char *caps_csv, int priority,
                                  int64_t created);
const struct cp_task_view *task(const char *id); /* asserts found */
/* Claim; asserts rc 0; returns the claimed task or NULL. */
const struct cp_task_view *claim(const char *agent, int64_t now);
/* Claim that must get a task; returns its id. */
const char *claim_id(const char *agent, int64_t now);
/* Transition with everything else defaulted (latency measured, requeue, 30 s pass-over);
 * returns the whole result (rc not asserted). */
const struct cp_result *tr_do(int kind, const char *task_id, const char *agent_id, int64_t now);
/* Same, asserting rc 0. */
const struct cp_result *tr_ok(int kind, const char *task_id, const char *agent_id, int64_t now);
const struct cp_result *reap(int64_t now, int64_t hb_timeout, int remove_stale, int64_t retention);
const struct cp_stats_view *stats(void);

/* Count of `name` in a stats map (0 when absent). */
uint64_t count_of(const struct cp_count *v, size_t n, const char *name);
/* Events of `kind` in a result (and the first one in *first when non-NULL). */
size_t events_of(const struct cp_result *r, int kind, const struct cp_event **first);
/* The event of `kind` about task `task_id`, or NULL. */
const struct cp_event *event_for_task(const struct cp_result *r, int kind, const char *task_id);
/* The ABI minor the backend was built for (its descriptor's abi_minor). */
uint32_t cx_backend_minor(void);
/* e->strategy is `want` (NULL: none) — from a backend of ABI minor 1 on, where events carry it;
 * from an older backend the host reads it as NULL. */
void assert_event_strategy(const struct cp_event *e, const char *want);

#define assert_str(a, b) assert_string_equal((a), (b))
#define assert_null_str(a) assert_null((a))
/* rc check with the backend's message on failure. */
#define assert_rc(res, want)                                                                       \
    do {                                                                                           \
        const struct cp_result *r_ = (res);                                                        \
        if (r_->rc != (want))                                                                      \
            print_error("rc %d (want %d): %s\n", r_->rc, (want),                                   \
                        r_->message ? r_->message : "(no message)");                               \
        assert_int_equal(r_->rc, (want));                                                          \
    } while (0)

/* ---- the test groups (one file each) ---------------------------------------------------- */

extern const struct CMUnitTest conformance_agent_tests[];
extern const size_t conformance_agent_count;
extern const struct CMUnitTest conformance_task_tests[];
extern const size_t conformance_task_count;
extern const struct CMUnitTest conformance_claim_tests[];
extern const size_t conformance_claim_count;
extern const struct CMUnitTest conformance_transition_tests[];
extern const size_t conformance_transition_count;
extern const struct CMUnitTest conformance_reap_tests[];
extern const size_t conformance_reap_count;
extern const struct CMUnitTest conformance_stats_tests[];
extern const size_t conformance_stats_count;
extern const struct CMUnitTest conformance_random_tests[];
extern const size_t conformance_random_count;
extern const struct CMUnitTest conformance_before_tests[];
extern const size_t conformance_before_count;
extern const struct CMUnitTest conformance_lease_tests[];
extern const size_t conformance_lease_count;
extern const struct CMUnitTest conformance_admin_tests[];
extern const size_t conformance_admin_count;
extern const struct CMUnitTest conformance_status_tests[];
extern const size_t conformance_status_count;
extern const struct CMUnitTest conformance_next_tests[];
extern const size_t conformance_next_count;
extern const struct CMUnitTest conformance_quota_tests[];
extern const size_t conformance_quota_count;
extern const struct CMUnitTest conformance_tenant_tests[];
extern const size_t conformance_tenant_count;
extern const struct CMUnitTest conformance_affinity_tests[];
extern const size_t conformance_affinity_count;

#define CX_TEST(fn) cmocka_unit_test_setup_teardown(fn, cx_setup, cx_teardown)

#endif
