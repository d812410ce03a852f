/* core.h — the control plane's shared state: configuration, event loop, plugins, storage, and
 * the modules that decide (claims, scheduler, health, the reaper, event subscribers; ops.h
 * creates and wires them). One per cpd process; single-threaded. */
#ifndef CORE_CORE_H
#define CORE_CORE_H

#include <cp/storage.h>

#include "config.h"
#include "plugin_loader.h"

struct event_base;
struct claims;
struct scheduler;
struct health_monitor;
struct reaper;
struct events;
struct ops_feed;
struct http_server;
struct agent_stats;

struct cp_core {
    struct cp_config *cfg;
    struct event_base *base;
    struct plugin_set plugins;

    struct plugin *storage_plugin;
    const struct cp_storage_ops *store; /* storage_plugin's ops */
    void *st;                           /* storage_plugin's state */
    int storage_fallback;               /* 1: the configured store was unreachable; on memory */
    char *storage_fallback_reason;

    struct claims *claims;
    struct scheduler *sched;
    struct health_monitor *health;
    struct reaper *reaper;
    struct events *events; /* domain event subscribers */
    struct ops_feed *feed; /* the event stream's numbered changes (ops_feed.c) */
    struct http_server *http;
    struct quotas *quotas;           /* provider quotas, the host's side (quota.c) */
    struct agent_stats *agent_stats; /* recent latency/errors per agent, for strategies */
};

/* Call a storage op on the core's store. Front ends use ops.h instead; this is for ops and for
 * the store's own mechanics below it (held claims, the health monitor's reads and writes). */
#define CORE_STORE(core, op, ...) ((core)->store->op((core)->st, __VA_ARGS__))

/* The selection plugin named `name` (NULL = the configured default), or NULL. */
struct plugin *core_strategy(struct cp_core *core, const char *name);

#endif
