/* health_helpers.h — shared by the test_health_*.c files (not test_health_rules.c): an in-test
 * store and an in-test probe plugin under a real health monitor on a real event loop. Linked in
 * as health_helpers.c. Each test gets a fresh fixture from health_test_setup(). */
#ifndef TEST_HEALTH_HELPERS_H
#define TEST_HEALTH_HELPERS_H

#include <stdint.h>

#include <event2/event.h>

#include <cp/probe.h>
#include <cp/storage.h>

#include "core.h"
#include "health.h"

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

/* The store: agents with health, answering at once or (async) only when flushed. */
struct fake_store {
    struct fake_agent agents[MAX_AGENTS];
    int async; /* 1: callbacks wait in `deferred` until flush */
    int down;  /* 1: every op answers CP_ERR_UNAVAILABLE */
    struct deferred deferred[MAX_DEFERRED];
    int n_deferred;
    int gets, sets;
    int max_gets_in_flight, gets_in_flight;
};
extern struct fake_store store;

/* Answer the oldest deferred op (which may defer new ones); 0 when none is left. */
int flush_one(void);

/* A present, ready agent with unknown health; fails the test when the store is full. */
struct fake_agent *add_agent(const char *id);

/* ---- an in-test probe plugin ("fake"): the test decides when and how each check ends ---- */

struct fake_probe {
    int starts, validates;
    int releases; /* every check the host ended */
    int cancels;  /* those ended before the probe reported */
    cp_probe_done_cb done;
    void *cookie;
    int in_flight;
    int fail_start;
    char last_agent[32];
    char last_url[64], last_retries[16];
    uint64_t last_timeout_ms;
};
extern struct fake_probe fp;

/* ---- the monitor's hooks: what it reported writing ------------------------------------- */

struct hook_log {
    int calls;
    char last_agent[32];
    int32_t health_before, status_before; /* as reported for the last write */
    int32_t circuit_before, circuit_after;
    int32_t health_after, status_after; /* the agent's as returned by the write */
};
extern struct hook_log hooks_seen;

/* ---- fixture --------------------------------------------------------------------------- */

/* The fake clock's start (ms). */
#define T0 1800000000000LL

extern struct cp_config cfg;
extern struct cp_core core;
extern struct health_monitor *hm; /* NULL once a test has freed it itself */

int health_test_setup(void **s);
int health_test_teardown(void **s);

/* Run the loop until `cond` holds, at most `ms` of real time. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        struct timeval tv_ = {0, 20000};                                                           \
        for (int i_ = 0; i_ < (ms) / 20 && !(cond); i_++) {                                        \
            event_base_loopexit(core.base, &tv_);                                                  \
            event_base_dispatch(core.base);                                                        \
        }                                                                                          \
    } while (0)

/* Tracks agent `id` with this probe JSON (a literal: it must outlive the test), or none. */
void track(const char *id, const char *probe_json);

/* Finish the in-flight check (done()), then run the loop until the host delivered it. */
void finish(int ok, double latency_ms, const char *error);

#endif
