/* scheduler_helpers.h — shared by the test_scheduler*.c files: the operations layer (ops.h) with
 * its held claims, waiters and reaper over the real memory store (memory.so, opened as
 * plugin_dl.h does) and the real least_loaded and round_robin strategies, on a real event loop,
 * with the core's fake clock. No HTTP.
 *
 * A proxy in front of the store can hold back task claims as a remote store does: their whole
 * evaluation (the command still on its way), or only their reply (evaluated, the answer still on
 * its way). That stages the races of held claims deterministically. Every domain event is
 * recorded. Each test gets a fresh fixture from sched_test_setup(). */
#ifndef TEST_SCHEDULER_HELPERS_H
#define TEST_SCHEDULER_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "core.h"
#include "events.h"
#include "ops.h"

#define T0 1800000000000LL /* the fake clock's start (ms) */

extern struct cp_config cfg;
extern struct cp_core core;

int sched_test_setup(void **state);
int sched_test_teardown(void **state);

/* Run the loop until `cond` holds, at most `ms` of real time. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        struct timeval tv_ = {0, 10000};                                                           \
        for (int i_ = 0; i_ < (ms) / 10 && !(cond); i_++) {                                        \
            event_base_loopexit(core.base, &tv_);                                                  \
            event_base_dispatch(core.base);                                                        \
        }                                                                                          \
    } while (0)

/* ---- the store proxy --------------------------------------------------------------------- */

enum px_mode {
    PX_PASS = 0,    /* claims go straight to the store */
    PX_DEFER_CALL,  /* a claim waits, unevaluated, until flushed */
    PX_DEFER_REPLY, /* a claim is evaluated at once; its reply waits until flushed */
    PX_FAIL,        /* a claim is answered CP_ERR_UNAVAILABLE at once, not evaluated (a store
                       whose reply was lost, outcome unknown) */
};
struct proxy {
    enum px_mode claim_mode;
    size_t claims;   /* task_claim calls seen */
    size_t deferred; /* waiting to be flushed */
};
extern struct proxy px;
/* Deliver the oldest held-back claim (evaluating it first under PX_DEFER_CALL). 0 when none. */
int px_flush_one(void);
/* task_claim calls made for this agent. */
size_t px_claims_of(const char *agent_id);

/* ---- recorded domain events ------------------------------------------------------------- */

struct rec_event {
    int kind;
    char agent[64];
    char task[64];
    int32_t old_status, new_status;
    uint32_t attempt;
};
#define MAX_RECORDED 256
extern struct rec_event recorded[MAX_RECORDED];
extern size_t n_recorded;
/* How many events of `kind` concern task `task` (NULL: any) — and agent `agent` (NULL: any). */
int count_events(int kind, const char *task, const char *agent);
/* Index of the first event of `kind` for `task` and `agent` (NULL: any), or -1. */
int event_index(int kind, const char *task, const char *agent);

/* ---- driving ops --------------------------------------------------------------------------- */

/* Register an agent ("a,b" capabilities, sorted) that may hold max_conc tasks. */
void reg_agent(const char *id, const char *caps, uint32_t max_conc);
/* Submit a task needing `req` ("" none); strategy NULL = default. The id goes into id[64]. */
void submit_task(char *id, const char *req, const char *strategy, int64_t timeout_ms,
                 uint32_t max_retries);
/* A transition through ops (START/COMPLETE/FAIL/CANCEL); returns its rc. */
int transition(int kind, const char *task, const char *agent);
/* The same straight on the store, behind ops' back (another process's doing). */
int transition_elsewhere(int kind, const char *task, const char *agent);
/* A heartbeat through ops with a status (CP_AGENT_*, -1: none); an unregistration. */
void heartbeat(const char *agent, int32_t status);
void unregister(const char *agent);

/* A task or an agent as the store has it now. */
struct task_now {
    int32_t status;
    uint32_t attempt, retries;
    char assigned[64];
};
struct task_now task_state(const char *id);
struct agent_now {
    int32_t status;
    uint32_t tasks_in_flight;
    uint32_t circuit_failures;
    int32_t circuit;
};
struct agent_now agent_state(const char *id);

/* One claim through ops, and what became of it. */
struct claim_slot {
    struct ops_call call;
    struct ops_claim in;
    char agent[64];
    char caps_buf[128];
    const char *caps[8];
    int held;     /* hold(1) minus hold(0) so far */
    int holds;    /* hold(1) calls */
    int answered; /* callbacks */
    int rc;
    char task[64]; /* "" when it got none */
    uint32_t attempt;
};
/* caps NULL: the agent's registered ones. */
void claim_start(struct claim_slot *c, const char *agent, const char *caps, uint64_t block_ms);

/* A get through ops, with wait_ms. */
struct get_slot {
    struct ops_call call;
    char task_id[64];
    int held, holds, answered, rc;
    int32_t status;
};
void get_start(struct get_slot *g, const char *task, uint64_t wait_ms);

#endif
