/* agent.h — the example agent's shared state: its identity, what it reports to the control
 * plane, and the flags the signal handler sets. Shared by main.c (the work loop), heartbeat.c
 * (the liveness thread) and handler.c (the toy work). */
#ifndef EXAMPLE_AGENT_H
#define EXAMPLE_AGENT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>

#include "cp/client.h"

#define AGENT_MAX_CAPS 16

struct agent {
    /* configuration, fixed after start-up */
    const char *url;
    const char *token;
    const char *id;
    const char *caps[AGENT_MAX_CAPS];
    size_t n_caps;
    long block_ms;     /* long-poll length of each claim */
    long heartbeat_ms; /* < HEARTBEAT_TIMEOUT / 2 */

    /* No status of its own while working: the server makes the agent busy when it holds
     * max_concurrent_tasks and ready when a task ends. A "busy" reported by the agent would
     * stick until it reported "ready" again (docs/api.md), and its claims would get nothing
     * meanwhile. The heartbeat reports draining once stop is set, else only liveness. */

    atomic_int stop;    /* SIGTERM/SIGINT: drain, finish the current task, leave */
    atomic_int hb_quit; /* tells the heartbeat thread to end */
    sem_t wake;         /* wakes the heartbeat thread at once (sem_post is signal-safe) */
    cp_client *work;    /* the work loop's client, interrupted by the signal handler */
};

/* Registers (or re-registers) the agent; logs and returns the client error. */
int agent_register(struct agent *a, cp_client *c);

/* The heartbeat thread: its own client, one heartbeat every heartbeat_ms (and at once when
 * woken), "draining" once stop is set, re-registration if the server forgot the agent. */
void *heartbeat_main(void *arg);

/* The toy handler. payload: {"text": "abc"} -> result {"reversed": "cba"};
 * {"fail": true|"why"} fails; {"sleep_ms": N} works N ms first (at most 60000).
 * Returns 0 with *result (JSON text, free()) or -1 with *error (free()). */
int handle_task(const char *task_type, const char *payload_json, char **result, char **error);

/* One log line on stderr, prefixed with the time and the agent id. */
void agent_log(const struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
